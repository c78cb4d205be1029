#include "tests/kube-test-server/selectors.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

std::string Trim(absl::string_view s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitTerms(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(Trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!Trim(cur).empty() || !out.empty()) out.push_back(Trim(cur));
  return out;
}

const json* Path(const json& obj, std::initializer_list<const char*> keys) {
  const json* cur = &obj;
  for (const char* k : keys) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

std::string FieldValue(const json& obj, const std::string& field) {
  std::vector<std::string> parts = absl::StrSplit(field, '.');
  const json* cur = &obj;
  for (const std::string& p : parts) {
    if (!cur->is_object() || !cur->contains(p)) return "";
    cur = &(*cur)[p];
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

bool FieldSupported(const std::string& field, const std::string& kind) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  if (kind == "Event") {
    static const char* kEventFields[] = {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "type", "source", "reportingComponent"};
    return std::find(std::begin(kEventFields), std::end(kEventFields), field) !=
           std::end(kEventFields);
  }
  if (kind == "Secret") return field == "type";
  if (kind == "Namespace") return field == "status.phase";
  return false;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector sel;
  if (Trim(text).empty()) return sel;
  for (const std::string& term : SplitTerms(text)) {
    if (term.empty()) return absl::InvalidArgumentError("unable to parse requirement: empty term in \"" + text + "\"");
    Req r;
    size_t pos;
    if (term[0] == '!') {
      r.key = Trim(term.substr(1));
      r.op = Op::kNotExists;
    } else if ((pos = term.find("!=")) != std::string::npos) {
      r.key = Trim(term.substr(0, pos));
      r.op = Op::kNotEq;
      r.values = {Trim(term.substr(pos + 2))};
    } else if ((pos = term.find("==")) != std::string::npos) {
      r.key = Trim(term.substr(0, pos));
      r.op = Op::kEq;
      r.values = {Trim(term.substr(pos + 2))};
    } else if ((pos = term.find('=')) != std::string::npos) {
      r.key = Trim(term.substr(0, pos));
      r.op = Op::kEq;
      r.values = {Trim(term.substr(pos + 1))};
    } else if (term.find('(') != std::string::npos) {
      size_t open = term.find('(');
      size_t close = term.rfind(')');
      if (close == std::string::npos || close < open) {
        return absl::InvalidArgumentError("unable to parse requirement: missing ')' in \"" + term + "\"");
      }
      std::vector<std::string> head = absl::StrSplit(Trim(term.substr(0, open)), ' ', absl::SkipEmpty());
      if (head.size() != 2 || (head[1] != "in" && head[1] != "notin")) {
        return absl::InvalidArgumentError("unable to parse requirement: expected \"key in (...)\" or \"key notin (...)\", got \"" + term + "\"");
      }
      r.key = head[0];
      r.op = head[1] == "in" ? Op::kIn : Op::kNotIn;
      for (absl::string_view v : absl::StrSplit(term.substr(open + 1, close - open - 1), ',')) {
        r.values.push_back(Trim(v));
      }
    } else {
      r.key = term;
      r.op = Op::kExists;
    }
    if (r.key.empty() || r.key.find(' ') != std::string::npos) {
      return absl::InvalidArgumentError("unable to parse requirement: invalid label key \"" + r.key + "\" in \"" + term + "\"");
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool LabelSelector::Matches(const json& object) const {
  const json* labels = Path(object, {"metadata", "labels"});
  for (const Req& r : reqs_) {
    bool has = labels && labels->is_object() && labels->contains(r.key);
    std::string v = has && (*labels)[r.key].is_string() ? (*labels)[r.key].get<std::string>() : "";
    bool in = has && std::find(r.values.begin(), r.values.end(), v) != r.values.end();
    switch (r.op) {
      case Op::kEq:
      case Op::kIn:
        if (!in) return false;
        break;
      case Op::kNotEq:
      case Op::kNotIn:
        if (in) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(const std::string& text,
                                                   const std::string& kind) {
  FieldSelector sel;
  if (Trim(text).empty()) return sel;
  for (const std::string& term : SplitTerms(text)) {
    Req r;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      r.field = Trim(term.substr(0, pos));
      r.equal = false;
      r.value = Trim(term.substr(pos + 2));
    } else if ((pos = term.find("==")) != std::string::npos) {
      r.field = Trim(term.substr(0, pos));
      r.equal = true;
      r.value = Trim(term.substr(pos + 2));
    } else if ((pos = term.find('=')) != std::string::npos) {
      r.field = Trim(term.substr(0, pos));
      r.equal = true;
      r.value = Trim(term.substr(pos + 1));
    } else {
      return absl::InvalidArgumentError("invalid selector: '" + text +
                                        "'; can't understand '" + term + "'");
    }
    if (!FieldSupported(r.field, kind)) {
      return absl::InvalidArgumentError("field label not supported: " + r.field);
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::Matches(const json& object) const {
  for (const Req& r : reqs_) {
    std::string field = r.field == "source" ? "source.component" : r.field;
    bool eq = FieldValue(object, field) == r.value;
    if (eq != r.equal) return false;
  }
  return true;
}

std::string FieldSelector::RequiredValue(const std::string& field) const {
  for (const Req& r : reqs_) {
    if (r.field == field && r.equal) return r.value;
  }
  return "";
}

}  // namespace registrar::kts
