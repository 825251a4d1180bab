-- Argo CD health of a plumbline StandardReview.
-- A review is a record: Healthy once the operator has recorded it, whether it
-- is its standard's current review or a later one supersedes it; Progressing
-- until then, and while the standard it names does not exist (it may arrive
-- in the same sync; the review takes effect when it does).
local hs = {}
local function condition(t)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == t then
        return c
      end
    end
  end
  return nil
end
local generation = obj.metadata.generation or 0
local ready = condition("Ready")
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation
    or ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for plumbline to record the review"
  return hs
end
if ready.status == "False" then
  hs.status = "Progressing"
  hs.message = ready.reason .. ": " .. ready.message
  return hs
end
hs.status = "Healthy"
local what = "Superseded review"
if obj.status.current then
  what = "Current review"
end
hs.message = what .. " of " .. obj.spec.standard .. ": " .. obj.spec.outcome .. " by " .. obj.spec.reviewedBy
return hs
