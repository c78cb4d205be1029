// The manifest loader: the input is one manifest file (YAML or JSON, one or more documents)
// through source::ParseManifestFile (UTF-8 and NUL checks, LoadYamlDocuments, ParseJson,
// manifest-mode validation); each registration it accepts is encoded (ToJson) and decoded again.
// When the input is also a JSON text, registration::ParseJson reads it as the Kubernetes side
// would (JSON number types: unsigned, float).
// Invariants: an error has a message; an accepted registration has a name, a namespace, a key and
// the manifest uid, and survives ToJson -> ParseJson unchanged; ParseJson never throws and fails
// only with field errors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controller/registration/decode.h"
#include "controller/registration/encode.h"
#include "controller/source/manifest_file.h"
#include "spdlog/spdlog.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace reg = registrar::registration;

void CheckRoundTrip(const reg::ServiceRegistration& r) {
  std::vector<reg::FieldError> errors;
  absl::StatusOr<reg::ServiceRegistration> again = reg::ParseJson(reg::ToJson(r), &errors);
  FUZZ_CHECK(again.ok(), std::string(again.status().message()).c_str());
  FUZZ_CHECK(again->spec == r.spec, reg::ToJson(r).dump().c_str());
  FUZZ_CHECK(again->metadata.name == r.metadata.name, r.metadata.name.c_str());
  FUZZ_CHECK(again->metadata.namespace_ == r.metadata.namespace_, r.metadata.namespace_.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<registrar::source::ManifestDocument>> docs =
      registrar::source::ParseManifestFile("/fuzz/manifests/m.yaml", text);
  if (!docs.ok()) {
    FUZZ_CHECK(docs.status().code() == absl::StatusCode::kInvalidArgument,
               std::string(docs.status().message()).c_str());
    FUZZ_CHECK(!docs.status().message().empty(), "an error without a message");
  } else {
    int last_index = 0;
    for (const registrar::source::ManifestDocument& d : *docs) {
      const reg::ServiceRegistration& r = d.object;
      FUZZ_CHECK(d.index > last_index && d.line >= 1, "document index or line");
      last_index = d.index;
      FUZZ_CHECK(!r.metadata.name.empty() && !r.metadata.namespace_.empty(), "no name/namespace");
      FUZZ_CHECK(!r.spec.key.empty(), "an accepted registration without a key");
      FUZZ_CHECK(r.metadata.uid == std::string(registrar::source::kManifestUidPrefix) +
                                       r.metadata.namespace_ + "/" + r.metadata.name,
                 r.metadata.uid.c_str());
      CheckRoundTrip(r);
    }
  }
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_discarded()) {
    std::vector<reg::FieldError> errors;
    absl::StatusOr<reg::ServiceRegistration> r = reg::ParseJson(json, &errors);
    FUZZ_CHECK(r.ok() || !errors.empty(), "a decode error without field errors");
  }
  return 0;
}
