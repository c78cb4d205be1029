#include "controller/source/manifest_file.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/registration/parse.h"
#include "controller/registration/validation.h"
#include "spdlog/spdlog.h"

namespace registrar::source {

namespace {

using registration::FieldError;

// Offset of the first byte that breaks UTF-8, or npos.
size_t InvalidUtf8Offset(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (length == 0 || i + length > text.size()) {
      return i;
    }
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) {
        return i;
      }
    }
    i += length;
  }
  return std::string_view::npos;
}

std::string StringField(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<std::vector<ManifestDocument>> ParseManifestFile(std::string_view path,
                                                                std::string_view text,
                                                                std::string_view owner_prefix) {
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("binary content (NUL byte at offset ", nul, ")"));
  }
  if (size_t bad = InvalidUtf8Offset(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("not UTF-8 text (invalid byte at offset ", bad, ")"));
  }
  absl::StatusOr<std::vector<registration::YamlDocument>> loaded =
      registration::LoadYamlDocuments(text);
  if (!loaded.ok()) {
    return loaded.status();
  }
  std::vector<ManifestDocument> documents;
  std::vector<std::string> problems;
  int index = 0;
  for (registration::YamlDocument& yaml : *loaded) {
    ++index;
    std::string where = absl::StrCat("document ", index, " (line ", yaml.line, ")");
    if (!yaml.object.is_object()) {
      problems.push_back(absl::StrCat(where, ": not a mapping; a manifest document must be a "
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
      errors = registration::Validate(*parsed, registration::SourceMode::kManifests, owner_prefix);
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
