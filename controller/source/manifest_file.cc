#include "controller/source/manifest_file.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/common/yaml_json.h"
#include "controller/registration/decode.h"
#include "controller/registration/field_errors.h"
#include "controller/registration/validation.h"
#include "spdlog/spdlog.h"

namespace registrar::source {

namespace {

using registration::FieldError;

std::string StringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<std::vector<ManifestDocument>> ParseManifestFile(
    std::string_view path, std::string_view text) {
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("binary content (NUL byte at offset ", nul, ")"));
  }
  // Checks UTF-8 too: "line L, column C: not UTF-8 text (invalid byte at offset N)".
  absl::StatusOr<std::vector<YamlDocument>> loaded = LoadYamlDocuments(text);
  if (!loaded.ok()) {
    return loaded.status();
  }
  std::vector<ManifestDocument> documents;
  std::vector<std::string> problems;
  int index = 0;
  for (YamlDocument& yaml : *loaded) {
    ++index;
    std::string where = absl::StrCat("document ", index, " (line ", yaml.line, ")");
    if (!yaml.object.is_object()) {
      problems.push_back(absl::StrCat(where,
                                      ": not a mapping; a manifest document must be a "
                                      "YAML mapping or a JSON object"));
      continue;
    }
    std::string api_version = StringField(yaml.object, "apiVersion");
    std::string kind = StringField(yaml.object, "kind");
    if (api_version.empty() || kind.empty()) {
      problems.push_back(absl::StrCat(where, ": apiVersion and kind are required (expected ",
                                      registration::kApiVersion, ", ", registration::kKind, ")"));
      continue;
    }
    bool our_group = absl::StartsWith(api_version, absl::StrCat(registration::kGroup, "/"));
    if (kind != registration::kKind || !our_group) {
      spdlog::debug("{}: {} skipped: kind {} ({}) is not a {}", path, where, kind, api_version,
                    registration::kKind);
      continue;
    }
    std::vector<FieldError> errors;
    absl::StatusOr<registration::ServiceRegistration> parsed =
        registration::ParseJson(yaml.object, &errors);
    if (parsed.ok()) {
      if (parsed->metadata.namespace_.empty()) {
        parsed->metadata.namespace_ = "default";
      }
      // Without the owner prefix: a key overlapping it is refused by the reconciler for that
      // registration alone (Failed/InvalidSpec), not for the whole file.
      errors = registration::Validate(*parsed, registration::SourceMode::kManifests, "");
    } else if (errors.empty()) {
      errors.push_back({.path = "", .message = std::string(parsed.status().message())});
    }
    if (!errors.empty()) {
      registration::AttachLines(yaml.lines, errors);
      problems.push_back(absl::StrCat(where, ": ", registration::FormatErrors(errors)));
      continue;
    }
    parsed->metadata.uid = absl::StrCat(kManifestUidPrefix, parsed->Identity());
    documents.push_back({.object = *std::move(parsed), .index = index, .line = yaml.line});
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
  }
  return documents;
}

}  // namespace registrar::source
