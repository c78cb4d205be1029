// File: tests/kube-test-server/router.h
//
// Maps request paths to what serves them: /_test/ controls, /version, /healthz, discovery
// (/api, /apis, /api/v1, /apis/<g>[/<v>], aggregated or legacy by Accept), OpenAPI v3
// (/openapi/v3[/<gv>]), and resource URLs
// (/api[s]/<gv>/[namespaces/<ns>/]<plural>[/<name>[/status]]) handed to the ApiHandler.
// Every non-control request is logged (after error injection, which it may receive instead).
//
// Thread-safety: Handle() is called concurrently from connection threads.
#pragma once

#include <string>

#include "tests/kube-test-server/api_handler.h"
#include "tests/kube-test-server/controls.h"
#include "tests/kube-test-server/http_server.h"
#include "tests/kube-test-server/resource_registry.h"

namespace registrar::kts {

class Router {
 public:
  Router(ResourceRegistry& registry, ApiHandler& api, TestControls& controls, int version_minor)
      : registry_(registry), api_(api), controls_(controls), version_minor_(version_minor) {}

  void Handle(const HttpRequest& req, ResponseWriter& out);

 private:
  void Route(const HttpRequest& req, ResponseWriter& out);
  void ServeResource(const HttpRequest& req, const std::string& group, const std::string& version,
                     const std::vector<std::string>& rest, ResponseWriter& out);

  ResourceRegistry& registry_;
  ApiHandler& api_;
  TestControls& controls_;
  const int version_minor_;
};

}  // namespace registrar::kts
