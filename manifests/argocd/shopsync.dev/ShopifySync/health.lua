-- Argo CD health of a shopsync.dev ShopifySync, from its kstatus conditions (Lua 5.1 compatible).
local hs = {}
local function text(c)
  if c.message ~= nil and c.message ~= "" then return c.message end
  return c.reason or ""
end
local suspended = obj.spec ~= nil and obj.spec.suspend == true
if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  if suspended then
    hs.status = "Suspended"
    hs.message = "Suspended"
    return hs
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the controller"
  return hs
end
local gen = obj.metadata.generation
local og = obj.status.observedGeneration
if gen ~= nil and og ~= nil and og < gen then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. string.format("%d", gen)
  return hs
end
local by = {}
for _, c in ipairs(obj.status.conditions) do
  by[c.type] = c
end
if by.Stalled ~= nil and by.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(by.Stalled)
  return hs
end
if suspended then
  hs.status = "Suspended"
  hs.message = "Suspended"
  return hs
end
if by.Reconciling ~= nil and by.Reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(by.Reconciling)
  return hs
end
local ready = by.Ready
if ready ~= nil and gen ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < gen then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. string.format("%d", gen)
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready)
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
