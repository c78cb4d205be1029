-- The Argo CD health check (helm/etcd-registrar/argocd/health.lua) on status samples shaped as
-- the controller writes them (controller/registration/status.h, conditions.h), run by Debian's
-- Lua 5.1 as Argo CD runs it: the object in the global `obj`, the result a {status, message}
-- table. Also checks that values-argocd.yaml carries the same script, byte for byte.
-- Usage: lua5.1 argocd_health_test.lua <chart dir>
local chart = assert(arg[1], "usage: lua5.1 argocd_health_test.lua <chart dir>")
local failures, checks = 0, 0

local function read(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  return text
end

local function expect(name, got, want)
  checks = checks + 1
  if got ~= want then
    failures = failures + 1
    io.stderr:write(string.format("FAIL %s: got %s, want %s\n", name, tostring(got), tostring(want)))
  end
end

local script_path = chart .. "/argocd/health.lua"
local script = read(script_path)

local function health(object)
  local chunk = assert(loadstring(script, "health.lua"))
  -- What Argo CD's sandbox offers is a superset of this; the script must need no more.
  setfenv(chunk, {obj = object, ipairs = ipairs, pairs = pairs, tostring = tostring})
  return chunk()
end

local function condition(type_, status, reason, message)
  return {type = type_, status = status, reason = reason, message = message,
          lastTransitionTime = "2026-01-01T00:00:00Z", observedGeneration = 2}
end

local function sample(phase, ready, reconciling, stalled, reason, message, observed)
  return {
    apiVersion = "registrar.dev/v1alpha1", kind = "ServiceRegistration",
    metadata = {name = "user-rpc", namespace = "default", generation = 2},
    spec = {key = "user.rpc", value = "10.0.0.12:8080"},
    status = {
      observedGeneration = observed or 2, phase = phase,
      conditions = {
        condition("Ready", ready, reason, message),
        condition("Reconciling", reconciling, reason, message),
        condition("Stalled", stalled, reason, message),
      },
    },
  }
end

local cases = {
  {"Registered", sample("Registered", "True", "False", "False", "Registered",
                        "user.rpc/7587869871393431563 is live"), "Healthy"},
  {"Pending", sample("Pending", "False", "True", "False", "EtcdUnavailable",
                     "etcd is unreachable; retrying"), "Progressing"},
  {"Failed", sample("Failed", "False", "False", "True", "KeyConflict",
                    "user.rpc/1 is held by another owner"), "Degraded"},
  {"Paused", sample("Paused", "False", "False", "False", "Paused",
                    "spec.paused: lease revoked"), "Suspended"},
  {"Terminating", sample("Terminating", "False", "True", "False", "Revoking", "revoking"),
   "Progressing"},
  {"no status yet", {metadata = {name = "x", generation = 1}, spec = {key = "k"}}, "Progressing"},
  {"status of an older generation", sample("Registered", "True", "False", "False", "Registered",
                                           "live", 1), "Progressing"},
}
for _, case in ipairs(cases) do
  local hs = health(case[2])
  expect(case[1] .. " status", hs.status, case[3])
  expect(case[1] .. " has a message", type(hs.message) == "string" and hs.message ~= "", true)
end
local failed = health(cases[3][2])
expect("Failed message is the Ready condition's", failed.message,
       "user.rpc/1 is held by another owner")

-- values-argocd.yaml: the block scalar under the health key, de-indented, is the script.
local values = read(chart .. "/argocd/values-argocd.yaml")
local key = "resource.customizations.health.registrar.dev_ServiceRegistration: |"
local lines, inside, indent = {}, false, nil
for line in (values .. "\n"):gmatch("([^\n]*)\n") do
  if inside then
    if line == "" then
      table.insert(lines, "")
    else
      indent = indent or line:match("^( *)")
      if line:sub(1, #indent) ~= indent then break end
      table.insert(lines, line:sub(#indent + 1))
    end
  elseif line:find(key, 1, true) then
    inside = true
  end
end
while lines[#lines] == "" do table.remove(lines) end
expect("values-argocd.yaml carries health.lua", table.concat(lines, "\n") .. "\n", script)

print(string.format("%d checks, %d failed", checks, failures))
os.exit(failures == 0 and 0 or 1)
