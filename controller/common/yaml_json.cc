#include "controller/common/yaml_json.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "controller/common/yaml_json_builder.h"
#include "re2/re2.h"

namespace registrar {
namespace {

using nlohmann::json;

// Line and column (1-based) of byte `offset` of `text`.
std::string PositionOf(std::string_view text, size_t offset) {
  std::string_view before = text.substr(0, offset);
  size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  size_t line_start = before.rfind('\n');
  size_t column = line_start == std::string_view::npos ? offset + 1 : offset - line_start;
  return absl::StrCat("line ", line, ", column ", column, ": ");
}

}  // namespace

std::string JsonPathChild(std::string_view parent, std::string_view key) {
  // absl here is built with its own string_view, so std::string_view goes through std::string.
  return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
}

std::string JsonPathIndex(std::string_view parent, size_t i) {
  return absl::StrCat(std::string(parent), "[", i, "]");
}

int NearestLine(const LineMap& lines, std::string_view path) {
  std::string at(path);
  while (true) {
    auto it = lines.find(at);
    if (it != lines.end() && it->second > 0) {
      return it->second;
    }
    if (at.empty()) {
      return 0;
    }
    size_t cut = at.find_last_of(".[");
    at.resize(cut == std::string::npos ? 0 : cut);
  }
}

size_t InvalidUtf8Offset(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Length of the sequence and the range its second byte must fall in (RFC 3629 §4), which
    // excludes overlong forms, surrogates (ED A0..BF) and code points above U+10FFFF.
    size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      low = c == 0xe0 ? 0xa0 : 0x80;
      high = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      low = c == 0xf0 ? 0x90 : 0x80;
      high = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      return i;
    }
    if (i + length > text.size()) {
      return i;
    }
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) {
      return i;
    }
    for (size_t k = 2; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) {
        return i;
      }
    }
    i += length;
  }
  return std::string_view::npos;
}

absl::StatusOr<std::vector<YamlDocument>> LoadYamlDocuments(std::string_view text) {
  if (size_t bad = InvalidUtf8Offset(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(PositionOf(text, bad), "not UTF-8 text (invalid byte at offset ", bad, ")"));
  }
  return yaml_json_internal::ParseYamlToJson(text);
}

const char* JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    default:
      return "object";
  }
}

std::string BooleanExpected(const json& value) {
  static const re2::RE2 kYaml11Bool("y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF");
  std::string out = absl::StrCat("must be true or false, got ", JsonTypeName(value));
  if (value.is_number() ||
      (value.is_string() && value.get_ref<const std::string&>().size() <= 64)) {
    absl::StrAppend(&out, " ", value.dump());
  }
  if (value.is_string() && re2::RE2::FullMatch(value.get<std::string>(), kYaml11Bool)) {
    absl::StrAppend(&out, " (YAML 1.2 reads yes/no/on/off as strings)");
  }
  return out;
}

}  // namespace registrar
