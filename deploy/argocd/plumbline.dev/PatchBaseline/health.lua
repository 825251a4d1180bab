-- Argo CD health of a plumbline PatchBaseline.
-- Progressing until the operator has evaluated this generation; Degraded when
-- the spec is invalid; otherwise Healthy, with overdue workloads in the
-- message (they are the workloads' drift, not the baseline's failure).
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
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for plumbline to evaluate generation " .. generation
  return hs
end
local ready = condition("Ready")
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
  return hs
end
hs.status = "Healthy"
local overdue = condition("Overdue")
if overdue ~= nil and overdue.status == "True" then
  hs.message = "Workloads overdue: " .. overdue.message
else
  local t = obj.status.totals or {}
  hs.message = (t.current or 0) .. " current, " .. (t.behind or 0) .. " behind, " .. (t.overdue or 0)
    .. " overdue, " .. (t.excepted or 0) .. " excepted, " .. (t.unknown or 0) .. " unknown"
end
return hs
