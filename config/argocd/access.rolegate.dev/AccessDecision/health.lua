-- Argo CD health check for access.rolegate.dev/AccessDecision (rolegate).
-- The Counted condition tells whether the decision took effect on its
-- request and, if not, why. Uses only Lua's base library: argocd-cm scripts
-- run without the string library unless useOpenLibs is set.
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
local counted = nil
if obj.status ~= nil and obj.status.conditions ~= nil and
    (generation == nil or obj.status.observedGeneration == generation) then
  counted = findCondition(obj.status.conditions, "Counted")
end
if counted == nil or counted.reason == nil or
    (generation ~= nil and counted.observedGeneration ~= nil and counted.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rolegate to process the decision"
  return hs
end

if counted.status == "True" then
  hs.status = "Healthy"
elseif counted.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = describe(counted)
return hs
