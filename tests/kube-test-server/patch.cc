#include "tests/kube-test-server/patch.h"

namespace registrar::kts {

using json = nlohmann::json;

PatchType PatchTypeFromContentType(const std::string& content_type) {
  std::string ct = content_type.substr(0, content_type.find(';'));
  if (ct == "application/merge-patch+json") return PatchType::kMerge;
  if (ct == "application/json-patch+json") return PatchType::kJson;
  if (ct == "application/strategic-merge-patch+json") return PatchType::kStrategic;
  if (ct == "application/apply-patch+yaml") return PatchType::kApply;
  return PatchType::kUnsupported;
}

absl::StatusOr<json> ApplyPatch(PatchType type, const json& target, const std::string& body) {
  json patch = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (patch.is_discarded()) {
    return absl::InvalidArgumentError("the body of the request is not valid JSON");
  }
  if (type == PatchType::kJson) {
    if (!patch.is_array()) {
      return absl::InvalidArgumentError(
          "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
    }
    try {
      return target.patch(patch);
    } catch (const json::exception& e) {
      return absl::FailedPreconditionError(e.what());
    }
  }
  if (!patch.is_object()) {
    return absl::InvalidArgumentError("the body of the patch must be a JSON object");
  }
  json result = target;
  result.merge_patch(patch);
  return result;
}

}  // namespace registrar::kts
