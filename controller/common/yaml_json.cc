#include "controller/common/yaml_json.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace registrar {
namespace {

using nlohmann::json;

// Numbers, booleans and nulls are short; longer plain text (a 10 MB line) is a string.
constexpr size_t kMaxTypedScalar = 256;

// YAML 1.2 core schema resolution of a plain (unquoted, untagged) scalar.
json ResolvePlainScalar(const std::string& s) {
  static const re2::RE2 kNull("~|null|Null|NULL");
  static const re2::RE2 kTrue("true|True|TRUE");
  static const re2::RE2 kFalse("false|False|FALSE");
  static const re2::RE2 kInt("[-+]?[0-9]+");
  static const re2::RE2 kHex("0x[0-9a-fA-F]+");
  static const re2::RE2 kOctal("0o[0-7]+");
  static const re2::RE2 kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (s.size() > kMaxTypedScalar) {
    return s;
  }
  if (s.empty() || re2::RE2::FullMatch(s, kNull)) {
    return nullptr;
  }
  if (re2::RE2::FullMatch(s, kTrue)) {
    return true;
  }
  if (re2::RE2::FullMatch(s, kFalse)) {
    return false;
  }
  try {
    if (re2::RE2::FullMatch(s, kInt)) {
      return static_cast<int64_t>(std::stoll(s, nullptr, 10));
    }
    if (re2::RE2::FullMatch(s, kHex) || re2::RE2::FullMatch(s, kOctal)) {
      return static_cast<int64_t>(std::stoll(s.substr(2), nullptr, s[1] == 'x' ? 16 : 8));
    }
    if (re2::RE2::FullMatch(s, kFloat)) {
      return std::stod(s);
    }
  } catch (const std::exception&) {
    // Out of range for int64/double: keep the text.
  }
  return s;
}

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string At(const YAML::Mark& mark) {
  return mark.is_null() ? ""
                        : absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// Values converted per text: an alias is converted again at every use, so a few hundred bytes of
// nested aliases ("billion laughs") would otherwise expand to billions of values. Without aliases
// a text holds fewer values than bytes, so only alias expansion can reach the budget.
size_t NodeBudget(std::string_view text) { return 10'000 + 2 * text.size(); }

absl::StatusOr<json> Convert(const YAML::Node& node, const std::string& path, LineMap& lines,
                             size_t& budget) {
  if (budget == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(At(node.Mark()), "too many values after expanding aliases (*name); "
                                      "write the values out instead"));
  }
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      // The text is UTF-8 (checked first), and yaml-cpp refuses an escape that is not a Unicode
      // scalar value ("\uD800": "invalid unicode"), so every scalar is UTF-8 too.
      const std::string& text = node.Scalar();
      const std::string& tag = node.Tag();
      if (tag == "!" || tag == "tag:yaml.org,2002:str") {
        return json(text);
      }
      return ResolvePlainScalar(text);
    }
    case YAML::NodeType::Sequence: {
      json array = json::array();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        std::string item_path = JsonPathIndex(path, i++);
        lines[item_path] = LineOf(item);
        absl::StatusOr<json> value = Convert(item, item_path, lines, budget);
        if (!value.ok()) {
          return value.status();
        }
        array.push_back(*std::move(value));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(entry.first.Mark()), "mapping keys must be strings"));
        }
        const std::string& key = entry.first.Scalar();
        if (object.contains(key)) {
          return absl::InvalidArgumentError(
              absl::StrCat(At(entry.first.Mark()), "duplicate key \"", key, "\""));
        }
        std::string child = JsonPathChild(path, key);
        lines[child] = LineOf(entry.first);
        absl::StatusOr<json> value = Convert(entry.second, child, lines, budget);
        if (!value.ok()) {
          return value.status();
        }
        object[key] = *std::move(value);
      }
      return object;
    }
  }
  return json(nullptr);
}

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
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(At(e.mark), e.msg));
  }
  std::vector<YamlDocument> documents;
  size_t budget = NodeBudget(text);
  for (const YAML::Node& node : nodes) {
    if (node.IsNull()) {
      continue;
    }
    YamlDocument doc;
    doc.line = LineOf(node);
    doc.lines[""] = doc.line;
    absl::StatusOr<json> object = Convert(node, "", doc.lines, budget);
    if (!object.ok()) {
      return object.status();
    }
    doc.object = *std::move(object);
    documents.push_back(std::move(doc));
  }
  return documents;
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
