-- Argo CD health of a plumbline ComplianceReport. Reports are written by the
-- operator and owned by their workload, so Argo CD shows them under it in the
-- resource tree; they are not in Git, so they never count towards an
-- Application's health (Argo CD aggregates only the resources it manages).
-- Degraded when the workload deviates from a standard, is past a patch
-- deadline, or has no owner; Healthy when it complies (or is excepted).
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
local compliant = condition("Compliant")
if compliant == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for plumbline to evaluate the workload"
  return hs
end
local problems = {}
if compliant.status == "False" then
  table.insert(problems, compliant.message)
end
local patch = condition("PatchCurrent")
if patch ~= nil and patch.reason == "Overdue" then
  table.insert(problems, "Patch overdue: " .. patch.message)
end
local owned = condition("Owned")
if owned ~= nil and owned.status == "False" then
  table.insert(problems, owned.reason .. ": " .. owned.message)
end
if #problems > 0 then
  hs.status = "Degraded"
  hs.message = table.concat(problems, "; ")
  return hs
end
hs.status = "Healthy"
hs.message = compliant.message
if patch ~= nil and patch.status == "False" then
  hs.message = hs.message .. "; patch " .. patch.reason .. ": " .. patch.message
end
return hs
