// File: tests/kube-test-server/selectors.h
//
// Label selectors (`=`, `==`, `!=`, `in (..)`, `notin (..)`, `key`, `!key`) and field selectors
// (`=`, `==`, `!=` on metadata.name, metadata.namespace and per-kind fields such as the core Event
// involvedObject.* selectors kubectl describe uses). Parse errors and unsupported field labels are
// reported with the real API's wording, for a 400 upstream.
//
// Thread-safety: immutable after Parse.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace registrar::kts {

class LabelSelector {
 public:
  static absl::StatusOr<LabelSelector> Parse(const std::string& text);
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return reqs_.empty(); }

 private:
  enum class Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists };
  struct Req {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Req> reqs_;
};

class FieldSelector {
 public:
  // `kind` decides which fields are supported (e.g. "Event" adds involvedObject.*).
  static absl::StatusOr<FieldSelector> Parse(const std::string& text, const std::string& kind);
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return reqs_.empty(); }
  // The value required for `field` by an `=` term, or "" (used to narrow storage reads).
  std::string RequiredValue(const std::string& field) const;

 private:
  struct Req {
    std::string field;
    bool equal;
    std::string value;
  };
  std::vector<Req> reqs_;
};

}  // namespace registrar::kts
