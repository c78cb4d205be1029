#include "tests/kube-test-server/schema_check.h"

#include <map>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "tests/schema/openapi_validator.h"

namespace registrar::kts {
namespace {

// Compiled schemas by their JSON text (CRDs change rarely; patterns are costly to compile).
std::shared_ptr<const schema::CrdSchema> Compiled(const nlohmann::json& openapi) {
  static absl::Mutex mu;
  static auto* cache = new std::map<std::string, std::shared_ptr<const schema::CrdSchema>>();
  std::string key = openapi.dump();
  absl::MutexLock lock(&mu);
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  auto compiled = schema::CrdSchema::FromSchema(openapi);
  std::shared_ptr<const schema::CrdSchema> ptr;
  if (compiled.ok()) ptr = std::make_shared<const schema::CrdSchema>(std::move(*compiled));
  (*cache)[key] = ptr;
  return ptr;
}

}  // namespace

SchemaResult CheckAgainstSchema(const ResourceType& type, nlohmann::json& object) {
  SchemaResult result;
  if (!type.custom || type.schema.is_null()) return result;
  auto compiled = Compiled(type.schema);
  if (!compiled) {
    result.causes.push_back({"FieldValueInvalid",
                             "the CustomResourceDefinition's openAPIV3Schema cannot be compiled",
                             "spec"});
    return result;
  }
  result.unknown_fields = compiled->UnknownFields(object);
  compiled->Prune(object);
  compiled->ApplyDefaults(object);
  for (const schema::Cause& c : compiled->Validate(object)) {
    result.causes.push_back({c.reason, c.message, c.field});
  }
  return result;
}

}  // namespace registrar::kts
