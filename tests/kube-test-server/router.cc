#include "tests/kube-test-server/router.h"

#include <chrono>

#include "absl/strings/str_split.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

constexpr const char* kAggregatedType =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// Logs the request once its status is known (for streams: when the stream starts).
class LoggingWriter : public ResponseWriter {
 public:
  LoggingWriter(ResponseWriter& inner, TestControls& controls, const HttpRequest& req)
      : inner_(inner), controls_(controls), req_(req), start_(std::chrono::steady_clock::now()) {}

  bool Send(int status, const std::string& content_type, const std::string& body,
            const HttpHeaders& extra) override {
    Log(status);
    return inner_.Send(status, content_type, body, extra);
  }
  bool BeginStream(int status, const std::string& content_type) override {
    Log(status);
    return inner_.BeginStream(status, content_type);
  }
  bool WriteChunk(const std::string& data) override { return inner_.WriteChunk(data); }
  void EndStream() override { inner_.EndStream(); }
  bool PeerClosed() override { return inner_.PeerClosed(); }
  void Abort() override { inner_.Abort(); }
  int status() const override { return inner_.status(); }

 private:
  void Log(int status) {
    if (logged_) return;
    logged_ = true;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
                    .count();
    controls_.LogRequest(req_, status, ms);
  }

  ResponseWriter& inner_;
  TestControls& controls_;
  const HttpRequest& req_;
  std::chrono::steady_clock::time_point start_;
  bool logged_ = false;
};

void SendJson(ResponseWriter& out, int code, const json& body,
              const std::string& content_type = "application/json") {
  out.Send(code, content_type, body.dump());
}

void SendNotFound(ResponseWriter& out) {
  ApiError e{.code = 404, .reason = "NotFound",
             .message = "the server could not find the requested resource"};
  SendJson(out, 404, e.ToStatusJson());
}

}  // namespace

void Router::Handle(const HttpRequest& req, ResponseWriter& out) {
  if (req.path.rfind("/_test/", 0) == 0) {
    controls_.Handle(req, out);
    return;
  }
  LoggingWriter logged(out, controls_, req);
  if (auto injected = controls_.TakeInjection(req)) {
    HttpHeaders headers;
    if (injected->retry_after_seconds > 0) {
      headers.push_back({"Retry-After", std::to_string(injected->retry_after_seconds)});
    }
    logged.Send(injected->code, "application/json", injected->ToStatusJson().dump(), headers);
    return;
  }
  Route(req, logged);
}

void Router::Route(const HttpRequest& req, ResponseWriter& out) {
  const std::string& p = req.path;
  std::vector<std::string> segs = absl::StrSplit(p, '/', absl::SkipEmpty());
  bool aggregated = req.Header("accept").find("as=APIGroupDiscoveryList") != std::string::npos;

  if (p == "/version") {
    std::string minor = std::to_string(version_minor_);
    SendJson(out, 200,
             {{"major", "1"}, {"minor", minor}, {"gitVersion", "v1." + minor + ".0"},
              {"gitCommit", "kube-test-server"}, {"gitTreeState", "clean"},
              {"buildDate", "2026-01-01T00:00:00Z"}, {"goVersion", "go1.24"},
              {"compiler", "gc"}, {"platform", "linux/amd64"}});
    return;
  }
  if (p == "/healthz" || p == "/readyz" || p == "/livez") {
    out.Send(200, "text/plain", "ok");
    return;
  }
  if (segs.empty()) {
    SendJson(out, 200, {{"paths", {"/api", "/api/v1", "/apis", "/openapi/v3", "/version"}}});
    return;
  }
  if (segs[0] == "openapi") {
    if (segs.size() == 2 && segs[1] == "v3") {
      SendJson(out, 200, registry_.OpenApiRoot());
      return;
    }
    if (segs.size() >= 3 && segs[1] == "v3") {
      std::optional<json> doc;
      if (segs[2] == "api" && segs.size() == 4) doc = registry_.OpenApiGroupVersion("", segs[3]);
      if (segs[2] == "apis" && segs.size() == 5) {
        doc = registry_.OpenApiGroupVersion(segs[3], segs[4]);
      }
      if (doc) {
        SendJson(out, 200, *doc);
        return;
      }
    }
    SendNotFound(out);
    return;
  }
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      if (aggregated) {
        SendJson(out, 200, registry_.AggregatedDiscovery(true), kAggregatedType);
      } else {
        SendJson(out, 200, registry_.ApiVersions());
      }
      return;
    }
    if (segs.size() == 2) {
      auto list = registry_.ResourceList("", segs[1]);
      if (list) {
        SendJson(out, 200, *list);
      } else {
        SendNotFound(out);
      }
      return;
    }
    ServeResource(req, "", segs[1], {segs.begin() + 2, segs.end()}, out);
    return;
  }
  if (segs[0] == "apis") {
    if (segs.size() == 1) {
      if (aggregated) {
        SendJson(out, 200, registry_.AggregatedDiscovery(false), kAggregatedType);
      } else {
        SendJson(out, 200, registry_.GroupList());
      }
      return;
    }
    if (segs.size() == 2) {
      for (const json& g : registry_.GroupList()["groups"]) {
        if (g["name"] == segs[1]) {
          json group = g;
          group["kind"] = "APIGroup";
          group["apiVersion"] = "v1";
          SendJson(out, 200, group);
          return;
        }
      }
      SendNotFound(out);
      return;
    }
    if (segs.size() == 3) {
      auto list = registry_.ResourceList(segs[1], segs[2]);
      if (list) {
        SendJson(out, 200, *list);
      } else {
        SendNotFound(out);
      }
      return;
    }
    ServeResource(req, segs[1], segs[2], {segs.begin() + 3, segs.end()}, out);
    return;
  }
  SendNotFound(out);
}

void Router::ServeResource(const HttpRequest& req, const std::string& group,
                           const std::string& version, const std::vector<std::string>& segs,
                           ResponseWriter& out) {
  std::vector<std::string> rest = segs;
  bool watch_path = false;
  if (!rest.empty() && rest[0] == "watch") {  // deprecated /watch/ form
    watch_path = true;
    rest.erase(rest.begin());
  }
  std::string ns;
  if (rest.size() >= 3 && rest[0] == "namespaces" && rest[2] != "status" &&
      rest[2] != "finalize") {
    ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) {
    SendNotFound(out);
    return;
  }
  auto type = registry_.Find(group, version, rest[0]);
  if (!type || (!type->namespaced && !ns.empty())) {
    SendNotFound(out);
    return;
  }
  ApiTarget target{*type, ns, rest.size() > 1 ? rest[1] : "", rest.size() > 2 ? rest[2] : ""};
  if (type->namespaced && ns.empty() && !target.name.empty()) {
    SendNotFound(out);  // a namespaced object needs its namespace in the URL
    return;
  }
  if (type->namespaced && ns.empty() && req.method != "GET") {
    ApiError e = MethodNotAllowed(req.method + " on all namespaces is not allowed; name a namespace");
    SendJson(out, 405, e.ToStatusJson());
    return;
  }
  if (watch_path) {
    HttpRequest copy = req;
    copy.query.emplace("watch", "true");
    api_.Handle(copy, target, out);
    return;
  }
  api_.Handle(req, target, out);
}

}  // namespace registrar::kts
