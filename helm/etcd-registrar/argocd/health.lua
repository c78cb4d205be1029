-- Argo CD health check for registrar.dev/ServiceRegistration (docs/install.md, "Argo CD").
-- Reads status.phase and the kstatus conditions the controller writes
-- (controller/registration/conditions.h): a status for an older generation is Progressing.
local hs = {status = "Progressing", message = "Waiting for etcd-registrar"}
if obj.status == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < generation then
  hs.message = "Waiting for etcd-registrar to see generation " .. generation
  return hs
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    end
  end
end
local message = (ready ~= nil and ready.message ~= nil and ready.message ~= "") and ready.message
    or (obj.status.phase or "")
local phase = obj.status.phase
if phase == "Registered" then
  hs.status = "Healthy"
elseif phase == "Paused" then
  hs.status = "Suspended"
elseif phase == "Failed" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = message
return hs
