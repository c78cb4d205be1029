// An exec plugin's stdout -> ParseExecCredential, as v1 and as v1beta1.
// Invariants: a success has a token; an expiration lies within 1970..2200.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/kube/exec_credential.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* version :
       {"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}) {
    absl::StatusOr<registrar::kube::ExecCredential> c =
        registrar::kube::ParseExecCredential(text, version);
    if (!c.ok()) {
      continue;
    }
    FUZZ_CHECK(!c->token.empty(), "success without a token");
    if (c->expiration) {
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(c->expiration->time_since_epoch());
      FUZZ_CHECK(seconds.count() >= 0 && seconds.count() <= 7258118400, "expiration range");
    }
  }
  return 0;
}
