-- Argo CD health of a plumbline ServiceOwnership.
-- Progressing until the operator has evaluated this generation; Degraded when
-- the spec is invalid, when it claims workloads another ServiceOwnership
-- claims too, or when it is incomplete (its own manifest lacks what the
-- platform requires: the team fixes it in the same repository); otherwise
-- Healthy.
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
local conflicts = obj.status.conflicts
if conflicts ~= nil and conflicts.items ~= nil and #conflicts.items > 0 then
  local n = #conflicts.items + (conflicts.omitted or 0)
  local first = conflicts.items[1]
  hs.status = "Degraded"
  local noun = "workloads are"
  if n == 1 then
    noun = "workload is"
  end
  hs.message = n .. " " .. noun .. " claimed by another ServiceOwnership too, e.g. " .. first.workload.kind
    .. " " .. first.workload.name .. " (also " .. table.concat(first.others, ", ") .. ")"
  return hs
end
local complete = condition("Complete")
if complete ~= nil and complete.status == "False" then
  hs.status = "Degraded"
  hs.message = "Incomplete: " .. complete.message
  return hs
end
hs.status = "Healthy"
hs.message = "Owns " .. (obj.status.matched or 0) .. " workloads"
return hs
