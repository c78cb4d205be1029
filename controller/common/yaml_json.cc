#include "controller/common/yaml_json.h"

#include <algorithm>
#include <exception>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "re2/re2.h"
#include "yaml-cpp/eventhandler.h"
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
  if (s.empty()) {
    return nullptr;
  }
  // Every pattern below starts with one of these (null ~/n/N, true t/T, false f/F, a sign, a
  // digit or '.'): any other first character is a string without trying them (most names).
  if (std::string_view("~nNtTfF+-.0123456789").find(s[0]) == std::string_view::npos) {
    return s;
  }
  if (re2::RE2::FullMatch(s, kNull)) {
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

// yaml-cpp 0.7 cannot place some tokens at the top of a document: a ',' outside [...] or {...}
// ("a: [b],", "--- ,", a lone ","). SingleDocParser::HandleNode reports an empty node without
// consuming the token, so Parser::HandleNextDocument starts the next document on the same token,
// forever: YAML::LoadAll keeps one empty Node per round and grows without bound (~150 MB/s;
// upstream jbeder/yaml-cpp#1040, fixed after 0.8 by stopping LoadAll at such a document).
// This pass runs the same parser with a handler that keeps nothing and stops when a document
// took no token: it starts where the previous one started and that one was a lone empty node.
// A legitimate document takes at least one token, and every document after the first needs a
// "---" or "..." marker, so more documents than bytes is impossible too (the backstop).
class ProgressCheck : public YAML::EventHandler {
 public:
  struct Stuck {
    YAML::Mark mark;
  };
  explicit ProgressCheck(size_t max_documents) : max_documents_(max_documents) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > max_documents_ || (documents_ > 1 && only_null_ && Same(mark, start_))) {
      throw Stuck{mark};
    }
    start_ = mark;
    events_ = 0;
    only_null_ = true;
  }
  void OnDocumentEnd() override { only_null_ = only_null_ && events_ == 1; }
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { ++events_; }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Other(); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Other();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Other();
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Other();
  }
  void OnMapEnd() override {}

 private:
  static bool Same(const YAML::Mark& a, const YAML::Mark& b) {
    return a.pos == b.pos && a.line == b.line && a.column == b.column;
  }
  void Other() {
    ++events_;
    only_null_ = false;
  }

  const size_t max_documents_;
  size_t documents_ = 0;
  YAML::Mark start_ = YAML::Mark::null_mark();
  size_t events_ = 0;
  bool only_null_ = false;
};

// Runs ProgressCheck over `text`; a yaml-cpp syntax error is left for LoadAll to report.
absl::Status CheckParserProgress(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  ProgressCheck check(text.size() + 1);
  try {
    while (parser.HandleNextDocument(check)) {
    }
  } catch (const ProgressCheck::Stuck& stuck) {
    const auto pos = static_cast<size_t>(stuck.mark.pos);
    std::string what = pos < text.size() && text[pos] == ','
                           ? "',' outside [...] or {...}"
                           : "text the YAML parser cannot read past";
    return absl::InvalidArgumentError(
        absl::StrCat(At(stuck.mark), "unexpected ", what,
                     " (yaml-cpp would start empty documents here forever)"));
  } catch (const YAML::Exception&) {
    // LoadAll reports it, with the same position.
  }
  return absl::OkStatus();
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
  // Every text, block style too: "'a' b\n? " loops without any flow indicator.
  if (absl::Status progress = CheckParserProgress(text); !progress.ok()) {
    return progress;
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
