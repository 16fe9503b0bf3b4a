-- Argo CD health check for access.rolegate.dev/AccessRequest (rolegate).
-- The lifecycle state of a request is the reason of its Ready condition
-- (docs/lifecycle.md). Uses only Lua's base library: argocd-cm scripts run
-- without the string library unless useOpenLibs is set.
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

-- Acting on the latest generation failed: status.observedGeneration stays
-- behind until a retry succeeds, but Ready (at this generation) says what
-- failed, and that is not progress.
local failures = { BindingFailed = true, RevocationFailed = true, ReadFailed = true }
if obj.status ~= nil and obj.status.conditions ~= nil then
  local current = findCondition(obj.status.conditions, "Ready")
  if current ~= nil and current.reason ~= nil and failures[current.reason] and
      (generation == nil or current.observedGeneration == nil or current.observedGeneration == generation) then
    hs.status = "Degraded"
    hs.message = describe(current)
    return hs
  end
end

if obj.status == nil or obj.status.conditions == nil or
    (generation ~= nil and obj.status.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rolegate to process the request"
  return hs
end

local ready = findCondition(obj.status.conditions, "Ready")
if ready == nil or ready.reason == nil or
    (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rolegate to process the request"
  return hs
end

-- Waiting for people: the Approved condition says who decides and when the
-- request escalates.
if ready.reason == "PendingApproval" then
  local approved = findCondition(obj.status.conditions, "Approved")
  hs.status = "Suspended"
  if approved ~= nil and approved.reason == "PendingApproval" then
    hs.message = describe(approved)
  else
    hs.message = describe(ready)
  end
  return hs
end

-- Approved, waiting for its spec.startTime.
if ready.reason == "Scheduled" then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

-- Granted (or extending a grant), or ended normally (closed).
if ready.reason == "Granted" or ready.reason == "Extended" or ready.reason == "Expired" or ready.reason == "Revoked" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Cannot make progress without a change by a person (rolegate also sets
-- Stalled=True for these).
if ready.reason == "Denied" or ready.reason == "TimedOut" or ready.reason == "Invalid" or
    ready.reason == "BindingConflict" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

-- A reason this script does not know yet: trust Stalled, then Ready's status.
local stalled = findCondition(obj.status.conditions, "Stalled")
if (stalled ~= nil and stalled.status == "True") or ready.status == "False" then
  hs.status = "Degraded"
elseif ready.status == "True" then
  hs.status = "Healthy"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs
