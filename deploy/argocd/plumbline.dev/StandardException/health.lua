-- Argo CD health of a plumbline StandardException.
-- Progressing until the operator has evaluated this generation, and while the
-- exception awaits approval; Healthy while it is in effect (also when it
-- expires soon or covers nothing any more: both are in its message);
-- Degraded when it is invalid, or has expired (its deviations are open again:
-- renew it or remove it from the repository).
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
local function message(t)
  local c = condition(t)
  if c ~= nil and c.message ~= nil then
    return c.message
  end
  return ""
end
local generation = obj.metadata.generation or 0
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation
    or obj.status.state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for plumbline to evaluate generation " .. generation
  return hs
end
local state = obj.status.state
if state == "Pending" then
  hs.status = "Progressing"
  hs.message = "Awaiting approval: " .. message("Active")
elseif state == "Invalid" then
  hs.status = "Degraded"
  hs.message = "Invalid: " .. message("Ready")
elseif state == "Expired" then
  hs.status = "Degraded"
  hs.message = "Expired: " .. message("Active")
elseif state == "Stale" then
  hs.status = "Healthy"
  hs.message = "Stale: " .. message("Stale")
else
  hs.status = "Healthy"
  local soon = condition("ExpiringSoon")
  if soon ~= nil and soon.status == "True" then
    hs.message = "Expiring soon: " .. soon.message
  else
    hs.message = "Active: " .. message("Active")
  end
end
return hs
