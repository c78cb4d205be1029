#include "controller/common/yaml_json_builder.h"

#include <exception>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "re2/re2.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/parser.h"

namespace registrar::yaml_json_internal {

using nlohmann::json;

namespace {

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

// `scalar` with the bytes 0x85 and 0xA0 that continue no UTF-8 sequence written as UTF-8 (C2 85,
// C2 A0): yaml-cpp 0.7 writes the escapes \N (U+0085) and \_ (U+00A0) as those single bytes, and
// nlohmann::json refuses to dump a string that is not UTF-8. Nothing else can be out of place
// (the text is UTF-8; yaml-cpp writes every other escape as UTF-8); it would become U+FFFD.
std::string Utf8(std::string_view scalar) {
  std::string out;
  out.reserve(scalar.size() + 8);
  while (!scalar.empty()) {
    const size_t bad = InvalidUtf8Offset(scalar);
    if (bad == std::string_view::npos) {
      out.append(scalar);
      break;
    }
    out.append(scalar.substr(0, bad));
    const auto byte = static_cast<unsigned char>(scalar[bad]);
    if (byte == 0x85 || byte == 0xa0) {
      out.push_back('\xc2');
      out.push_back(static_cast<char>(byte));
    } else {
      out.append("\xef\xbf\xbd");
    }
    scalar.remove_prefix(bad + 1);
  }
  return out;
}

int LineOf(const YAML::Mark& mark) { return mark.is_null() ? 0 : mark.line + 1; }

std::string At(const YAML::Mark& mark) {
  return mark.is_null() ? ""
                        : absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": ");
}

// Values converted per text: an alias is converted again at every use, so a few hundred bytes of
// nested aliases ("billion laughs") would otherwise expand to billions of values. Without aliases
// a text holds fewer values than bytes, so only alias expansion can reach the budget.
size_t NodeBudget(std::string_view text) { return 10'000 + 2 * text.size(); }

// Builds each document's JSON straight from yaml-cpp's parser events, with no YAML::Node tree
// in between, and checks in the same pass that the parser makes progress.
//
// Progress: yaml-cpp 0.7 cannot place some tokens at the top of a document: a ',' outside [...]
// or {...} ("a: [b],", "--- ,", a lone ","). SingleDocParser::HandleNode reports an empty node
// without consuming the token, so Parser::HandleNextDocument starts the next document on the same
// token, forever: YAML::LoadAll kept one empty Node per round and grew without bound (~150 MB/s;
// upstream jbeder/yaml-cpp#1040). A document that starts where the previous one started, when
// that one was a lone empty node, took no token: the parse stops there (Stuck). A legitimate
// document takes at least one token, and every document after the first needs a "---" or "..."
// marker, so more documents than bytes is impossible too (the backstop).
//
// Values: what a YAML::Node tree converted in pre-order would give. An alias is the anchored
// value again, counted again against the budget at every use; a mapping key must be a scalar
// (an alias of one counts, at the anchor's position); a duplicate key is an error. The first
// such error stops the building but not the parse, so a later syntax error or Stuck still wins,
// as when the tree was loaded whole before converting.
class JsonBuilder : public YAML::EventHandler {
 public:
  struct Stuck {
    YAML::Mark mark;
  };
  JsonBuilder(size_t max_documents, size_t budget)
      : max_documents_(max_documents), budget_(budget) {}

  std::vector<YamlDocument>& documents() { return documents_; }
  const absl::Status& error() const { return error_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++document_count_ > max_documents_ ||
        (document_count_ > 1 && only_null_ && Same(mark, start_))) {
      throw Stuck{mark};
    }
    start_ = mark;
    events_ = 0;
    only_null_ = true;
    doc_ = YamlDocument();
    has_root_ = false;
    stack_.clear();
    anchors_.clear();
    recording_ = false;
    marks_.clear();
    recorded_lines_.clear();
  }
  void OnDocumentEnd() override {
    only_null_ = only_null_ && events_ == 1;
    if (error_.ok() && has_root_) {
      documents_.push_back(std::move(doc_));
    }
  }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    ++events_;
    if (!error_.ok()) {
      return;
    }
    if (KeyNext()) {
      return Fail(mark, "mapping keys must be strings");
    }
    if (anchor != 0) {
      Anchor(anchor) = {.complete = true, .leaf = nullptr, .mark = mark};
    }
    if (stack_.empty()) {
      return;  // an empty document: skipped
    }
    Leaf(mark, nullptr);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Other();
    if (!error_.ok()) {
      return;
    }
    if (anchor >= anchors_.size()) {  // yaml-cpp refuses an undefined one first
      return Fail(mark, "alias of an unknown anchor");
    }
    const Anchored& anchored = anchors_[anchor];
    if (KeyNext()) {
      if (!anchored.complete || !anchored.scalar) {
        return Fail(anchored.mark, "mapping keys must be strings");
      }
      return Key(anchored.text, anchored.mark);
    }
    if (!anchored.complete) {
      // Its own alias inside it: the tree was a cycle, expanded until the budget ran out at the
      // next round of the values since the anchor, in the same order.
      const size_t period = marks_.size() - anchored.marks_begin;
      const size_t left = budget_ - converted_;
      return Fail(marks_[anchored.marks_begin + left % period], kTooMany);
    }
    if (anchored.object == nullptr && anchored.array == nullptr) {
      return Leaf(anchored.mark, anchored.leaf);
    }
    const size_t values = anchored.marks_end - anchored.marks_begin;
    if (values > budget_ - converted_) {
      return Fail(marks_[anchored.marks_begin + (budget_ - converted_)], kTooMany);
    }
    std::string path;
    json* slot = Place(anchored.mark, &path);
    converted_ += values;
    marks_.reserve(marks_.size() + values);  // recording_: a collection anchor was seen
    for (size_t i = anchored.marks_begin; i < anchored.marks_end; ++i) {
      marks_.push_back(marks_[i]);
    }
    for (size_t i = anchored.lines_begin; i < anchored.lines_end; ++i) {
      Line(path + recorded_lines_[i].first.substr(anchored.path_size), recorded_lines_[i].second);
    }
    if (anchored.object != nullptr) {
      *slot = *anchored.object;
    } else if (anchored.array != nullptr) {
      *slot = *anchored.array;
    } else {
      *slot = anchored.leaf;
    }
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& scalar) override {
    Other();
    if (!error_.ok()) {
      return;
    }
    // The text is UTF-8 (checked first), and yaml-cpp refuses an escape that is not a Unicode
    // scalar value ("\uD800": "invalid unicode"), but writes \N and \_ as single bytes.
    std::string repaired;
    if (scalar.find_first_of("\x85\xa0") != std::string::npos) {
      repaired = Utf8(scalar);
    }
    const std::string& value = repaired.empty() ? scalar : repaired;
    const bool text = tag == "!" || tag == "tag:yaml.org,2002:str";
    if (anchor != 0) {
      Anchor(anchor) = {.complete = true,
                        .scalar = true,
                        .text = value,
                        .leaf = text ? json(value) : ResolvePlainScalar(value),
                        .mark = mark};
    }
    if (KeyNext()) {
      return Key(value, mark);
    }
    Leaf(mark, text ? json(value) : ResolvePlainScalar(value));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(mark, anchor, false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(mark, anchor, true);
  }
  void OnMapEnd() override { Close(); }

 private:
  static constexpr char kTooMany[] =
      "too many values after expanding aliases (*name); write the values out instead";

  struct Frame {
    json* value;  // the array or object being filled, in place
    std::string path;
    YAML::anchor_t anchor;
    bool map;
    bool key_next = true;  // map: the next node is a key
    json* slot = nullptr;  // map: where the current key's value goes
    std::string child;     // map: that value's path
    size_t items = 0;      // sequence: items so far
  };
  // An anchored node, for its aliases. A collection is copied from its place in the document
  // (a map or vector of nlohmann's own, which stays put while the json holding it moves); its
  // values' marks and lines are ranges of marks_ and recorded_lines_.
  struct Anchored {
    bool complete = false;
    bool scalar = false;
    std::string text;  // a scalar's text, for its use as a key
    json leaf;         // a scalar's or null's value
    const json::object_t* object = nullptr;
    const json::array_t* array = nullptr;
    YAML::Mark mark;
    size_t marks_begin = 0, marks_end = 0;
    size_t lines_begin = 0, lines_end = 0;
    size_t path_size = 0;
  };

  static bool Same(const YAML::Mark& a, const YAML::Mark& b) {
    return a.pos == b.pos && a.line == b.line && a.column == b.column;
  }
  void Other() {
    ++events_;
    only_null_ = false;
  }
  void Fail(const YAML::Mark& mark, std::string_view what) {
    error_ = absl::InvalidArgumentError(absl::StrCat(At(mark), std::string(what)));
  }
  bool KeyNext() const { return !stack_.empty() && stack_.back().map && stack_.back().key_next; }

  Anchored& Anchor(YAML::anchor_t anchor) {
    if (anchors_.size() <= anchor) {
      anchors_.resize(anchor + 1);
    }
    return anchors_[anchor];
  }

  void Line(std::string path, int line) {
    if (recording_) {
      recorded_lines_.emplace_back(path, line);
    }
    doc_.lines[std::move(path)] = line;
  }

  void Key(const std::string& key, const YAML::Mark& mark) {
    Frame& map = stack_.back();
    auto [it, inserted] = map.value->emplace(key, nullptr);
    if (!inserted) {
      return Fail(mark, absl::StrCat("duplicate key \"", key, "\""));
    }
    map.slot = &it.value();
    map.child = JsonPathChild(map.path, key);
    Line(map.child, LineOf(mark));
    map.key_next = false;
  }

  // Where the next value goes, and its path; its line is recorded as the tree's parent did.
  json* Place(const YAML::Mark& mark, std::string* path) {
    if (stack_.empty()) {
      has_root_ = true;
      doc_.line = LineOf(mark);
      Line("", doc_.line);
      return &doc_.object;
    }
    Frame& parent = stack_.back();
    if (parent.map) {
      parent.key_next = true;
      *path = std::move(parent.child);
      return parent.slot;
    }
    *path = JsonPathIndex(parent.path, parent.items++);
    Line(*path, LineOf(mark));
    parent.value->push_back(nullptr);
    return &parent.value->back();
  }

  // Counts one value against the budget.
  bool Count(const YAML::Mark& mark) {
    if (converted_ >= budget_) {
      Fail(mark, kTooMany);
      return false;
    }
    ++converted_;
    if (recording_) {
      marks_.push_back(mark);
    }
    return true;
  }

  void Leaf(const YAML::Mark& mark, json value) {
    std::string path;
    json* slot = Place(mark, &path);
    if (Count(mark)) {
      *slot = std::move(value);
    }
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    Other();
    if (!error_.ok()) {
      return;
    }
    if (KeyNext()) {
      return Fail(mark, "mapping keys must be strings");
    }
    if (anchor != 0) {
      recording_ = true;  // from the first collection anchor on: the ranges of its values
      Anchor(anchor) = {.mark = mark, .marks_begin = marks_.size()};
    }
    std::string path;
    json* slot = Place(mark, &path);
    if (!Count(mark)) {
      return;
    }
    *slot = map ? json::object() : json::array();
    if (anchor != 0) {
      anchors_[anchor].lines_begin = recorded_lines_.size();
      anchors_[anchor].path_size = path.size();
    }
    stack_.push_back({.value = slot, .path = std::move(path), .anchor = anchor, .map = map});
  }

  void Close() {
    if (!error_.ok()) {
      return;
    }
    const Frame& frame = stack_.back();
    if (frame.anchor != 0) {
      Anchored& anchored = anchors_[frame.anchor];
      anchored.complete = true;
      anchored.marks_end = marks_.size();
      anchored.lines_end = recorded_lines_.size();
      if (frame.map) {
        anchored.object = &frame.value->get_ref<const json::object_t&>();
      } else {
        anchored.array = &frame.value->get_ref<const json::array_t&>();
      }
    }
    stack_.pop_back();
  }

  const size_t max_documents_;
  const size_t budget_;
  size_t converted_ = 0;  // values counted against budget_, all documents so far
  absl::Status error_;    // the first error; nothing is built after it
  std::vector<YamlDocument> documents_;

  // Progress.
  size_t document_count_ = 0;
  YAML::Mark start_ = YAML::Mark::null_mark();
  size_t events_ = 0;
  bool only_null_ = false;

  // The document being built.
  YamlDocument doc_;
  bool has_root_ = false;
  std::vector<Frame> stack_;
  std::vector<Anchored> anchors_;  // by yaml-cpp's anchor id (1, 2, ... per document)
  bool recording_ = false;         // an anchor was seen: marks_ and recorded_lines_ are kept
  std::vector<YAML::Mark> marks_;  // of each value counted since, in order
  std::vector<std::pair<std::string, int>> recorded_lines_;  // each line written since
};

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> ParseYamlToJson(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  JsonBuilder builder(text.size() + 1, NodeBudget(text));
  try {
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const JsonBuilder::Stuck& stuck) {
    // Every text, block style too: "'a' b\n? " loops without any flow indicator.
    const auto pos = static_cast<size_t>(stuck.mark.pos);
    std::string what = pos < text.size() && text[pos] == ','
                           ? "',' outside [...] or {...}"
                           : "text the YAML parser cannot read past";
    return absl::InvalidArgumentError(
        absl::StrCat(At(stuck.mark), "unexpected ", what,
                     " (yaml-cpp would start empty documents here forever)"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(At(e.mark), e.msg));
  }
  if (!builder.error().ok()) {
    return builder.error();
  }
  return std::move(builder.documents());
}

}  // namespace registrar::yaml_json_internal
