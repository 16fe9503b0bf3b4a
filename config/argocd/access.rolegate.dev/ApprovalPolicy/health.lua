-- Argo CD health check for access.rolegate.dev/ApprovalPolicy (rolegate).
-- Ready is False, with a reason, when the policy is unusable (for example a
-- role in its catalog does not exist). Uses only Lua's base library:
-- argocd-cm scripts run without the string library unless useOpenLibs is set.
hs = {}

local function findCondition(conditions, conditionType)
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function describe(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.reason .. ": " .. condition.message
  end
  return condition.reason
end

local generation = obj.metadata.generation
local ready = nil
if obj.status ~= nil and obj.status.conditions ~= nil and
    (generation == nil or obj.status.observedGeneration == generation) then
  ready = findCondition(obj.status.conditions, "Ready")
end
if ready == nil or ready.reason == nil or
    (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rolegate to check the policy"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs
