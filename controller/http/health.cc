#include "controller/http/health.h"

#include "absl/strings/str_cat.h"

namespace registrar::http {

void HealthChecks::Add(std::string name, Checker checker) {
  absl::MutexLock lock(&mu_);
  checks_.emplace_back(std::move(name), std::move(checker));
}

Response HealthChecks::Serve() const {
  std::vector<std::pair<std::string, Checker>> checks;
  {
    absl::MutexLock lock(&mu_);
    checks = checks_;
  }
  std::string report;
  bool healthy = true;
  for (const auto& [name, check] : checks) {
    const absl::Status status = check();
    if (status.ok()) {
      absl::StrAppend(&report, "[+]", name, " ok\n");
    } else {
      healthy = false;
      absl::StrAppend(&report, "[-]", name, " failed: ", status.message(), "\n");
    }
  }
  if (healthy) {
    return Response{.status = 200, .body = "ok"};
  }
  absl::StrAppend(&report, endpoint_, " check failed\n");
  return Response{.status = 503, .body = std::move(report)};
}

}  // namespace registrar::http
