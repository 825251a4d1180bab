-- Argo CD health of a plumbline InfrastructureStandard.
-- Progressing until the operator has evaluated this generation; Degraded when
-- the spec is invalid (its successor too) or the admission policy it asks for
-- was refused; otherwise Healthy, also when it needs review or its review is
-- due, and while it is deprecated or retired: those are the platform team's
-- to decide, not a failed sync (Degraded would mark every application that
-- syncs the standard as broken). The message says which.
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
local enforced = condition("Enforced")
if enforced ~= nil and enforced.status == "False" and enforced.reason == "PolicyRefused" then
  hs.status = "Degraded"
  hs.message = enforced.message
  return hs
end
hs.status = "Healthy"
if ready ~= nil and ready.reason == "Retired" then
  hs.message = "Retired: " .. ready.message
  return hs
end
hs.message = (obj.status.matched or 0) .. " matched: " .. (obj.status.compliant or 0) .. " compliant, "
  .. (obj.status.deviating or 0) .. " deviating, " .. (obj.status.excepted or 0) .. " excepted"
local m = obj.status.migration
if m ~= nil then
  local to = ""
  if m.supersededBy ~= nil then
    to = " to " .. m.supersededBy
  end
  local sunset = ""
  if m.sunset ~= nil then
    if m.sunsetPassed then
      sunset = ", sunset " .. m.sunset .. " passed"
    else
      sunset = ", sunset " .. m.sunset
    end
  end
  hs.message = hs.message .. "; deprecated: " .. (m.migrated or 0) .. " of " .. (m.matched or 0)
    .. " migrated" .. to .. sunset
end
local review = condition("ReviewRequired")
if review ~= nil and review.status == "True" then
  local what = "Review required: "
  if review.reason == "ReviewDue" or review.reason == "PeriodicReviewDue" then
    what = "Review due: "
  end
  hs.message = what .. review.message .. " (" .. hs.message .. ")"
end
return hs
