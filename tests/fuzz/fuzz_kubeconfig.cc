// kubeconfig text -> ParseKubeconfig -> MergeKubeconfigs -> ResolveKubeconfig for the current
// context and the first few named ones, with files answered from memory (no file system).
// Invariants: every error names "kubeconfig <file>"; a resolved server is an http(s) URL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "controller/kube/exec_credential.h"
#include "controller/kube/kubeconfig.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using registrar::kube::ClusterConfig;

void CheckResolved(const absl::StatusOr<ClusterConfig>& c) {
  if (!c.ok()) {
    FUZZ_CHECK(c.status().message().substr(0, 11) == "kubeconfig ",
               std::string(c.status().message()).c_str());
    return;
  }
  FUZZ_CHECK(c->server.rfind("https://", 0) == 0 || c->server.rfind("http://", 0) == 0,
             c->server.c_str());
  FUZZ_CHECK(c->client_cert_pem.empty() == c->client_key_pem.empty(), "cert without key");
  if (c->exec) {
    std::string info = registrar::kube::ExecInfoJson(*c->exec, *c);
    FUZZ_CHECK(!info.empty(), "empty exec info");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<registrar::kube::Kubeconfig> config =
      registrar::kube::ParseKubeconfig(text, "/fuzz/home/config");
  if (!config.ok()) {
    FUZZ_CHECK(config.status().message().substr(0, 30) == "kubeconfig /fuzz/home/config: ",
               std::string(config.status().message()).c_str());
    return 0;
  }
  registrar::kube::Kubeconfig merged = registrar::kube::MergeKubeconfigs({*config, *config});
  FUZZ_CHECK(merged.contexts.size() == config->contexts.size(), "merge changed the contexts");
  registrar::kube::ReadFileFn read_file =
      [](const std::string& path) -> absl::StatusOr<std::string> {
    if (path.size() % 3 == 0) {
      return absl::NotFoundError("cannot read " + path + ": No such file or directory");
    }
    return path.size() % 3 == 1 ? std::string() : std::string("-----BEGIN X-----\n");
  };
  CheckResolved(registrar::kube::ResolveKubeconfig(merged, "", read_file));
  int tried = 0;
  for (const auto& [name, unused] : merged.contexts) {
    if (++tried > 4) {
      break;
    }
    CheckResolved(registrar::kube::ResolveKubeconfig(merged, name, read_file));
  }
  return 0;
}
