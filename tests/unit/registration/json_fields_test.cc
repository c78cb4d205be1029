#include "controller/registration/json_fields.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace registrar::registration {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct IntegerCase {
  json value;
  std::optional<int64_t> want;  // nullopt: not an integer
};

TEST(JsonInteger, FollowsTheApiServer) {
  const IntegerCase cases[] = {
      {json(10), 10},
      {json(-3), -3},
      {json(std::numeric_limits<int64_t>::max()), std::numeric_limits<int64_t>::max()},
      {json(std::numeric_limits<uint64_t>::max()), std::nullopt},  // above int64
      {json(30.0), 30},                                            // integral float
      {json(-8.0e15), -8000000000000000},
      {json(30.5), std::nullopt},
      {json(1.0e16), std::nullopt},  // beyond exact doubles
      {json("10"), std::nullopt},
      {json(true), std::nullopt},
      {json(nullptr), std::nullopt},
  };
  for (const IntegerCase& c : cases) {
    int64_t out = 0;
    bool ok = JsonInteger(c.value, out);
    EXPECT_EQ(ok, c.want.has_value()) << c.value.dump();
    if (ok && c.want) {
      EXPECT_EQ(out, *c.want) << c.value.dump();
    }
  }
}

// One read of field "f" of {"f": value}: the errors it records (as "path: message").
struct ReadCase {
  const char* reader;
  json value;
  std::vector<std::string> errors;
};

std::vector<std::string> Read(const ReadCase& c) {
  json object = {{"f", c.value}};
  std::vector<FieldError> errors;
  JsonFields fields(object, "spec", errors);
  const std::string reader = c.reader;
  if (reader == "String") {
    std::string out;
    fields.String("f", out);
  } else if (reader == "StringOrInt") {
    std::string out;
    fields.StringOrInt("f", out);
  } else if (reader == "Int") {
    int64_t out = 0;
    fields.Int("f", out);
  } else if (reader == "Bool") {
    bool out = false;
    fields.Bool("f", out);
  } else if (reader == "StringMap") {
    std::map<std::string, std::string> out;
    fields.StringMap("f", out);
  } else if (reader == "StringList") {
    std::vector<std::string> out;
    fields.StringList("f", out);
  } else if (reader == "Object") {
    fields.Object("f");
  }
  std::vector<std::string> out;
  for (const FieldError& e : errors) {
    out.push_back(e.path + ": " + e.message);
  }
  return out;
}

TEST(JsonFields, TypeErrorsNameThePathAndBothTypes) {
  const ReadCase cases[] = {
      {"String", "x", {}},
      {"String", 5, {"spec.f: must be of type string, got integer"}},
      {"String", nullptr, {}},  // null is absent
      {"StringOrInt", "http", {}},
      {"StringOrInt", 8080, {}},
      {"StringOrInt", 1.5, {"spec.f: must be of type string or integer, got number"}},
      {"Int", 7, {}},
      {"Int", 7.0, {}},
      {"Int", "7", {"spec.f: must be of type integer, got string"}},
      {"Int", 7.5, {"spec.f: must be an integer in the int64 range, got 7.5"}},
      {"Bool", true, {}},
      {"Bool", "yes", {"spec.f: must be of type boolean, got string"}},
      {"Bool", 1, {"spec.f: must be of type boolean, got integer"}},
      {"StringMap", {{"a", "b"}}, {}},
      {"StringMap", {{"a", 1}, {"b", "c"}}, {"spec.f.a: must be of type string, got integer"}},
      {"StringMap", json::array(), {"spec.f: must be of type object, got array"}},
      {"StringList", {"a", "b"}, {}},
      {"StringList",
       {"a", 2, {1}},
       {"spec.f[1]: must be of type string, got integer",
        "spec.f[2]: must be of type string, got array"}},
      {"StringList", "a", {"spec.f: must be of type array, got string"}},
      {"Object", json::object(), {}},
      {"Object", false, {"spec.f: must be of type object, got boolean"}},
  };
  for (const ReadCase& c : cases) {
    EXPECT_EQ(Read(c), c.errors) << c.reader << " " << c.value.dump();
  }
}

TEST(JsonFields, ReadsValuesAndKeepsDefaultsOnErrors) {
  json object = json::parse(R"({"s": "x", "port": 8080, "n": 30.0, "b": true,
      "m": {"a": "b"}, "l": ["p", "q"], "bad": "no"})");
  std::vector<FieldError> errors;
  JsonFields f(object, "", errors);
  std::string s;
  EXPECT_TRUE(f.String("s", s));
  EXPECT_EQ(s, "x");
  std::optional<std::string> absent;
  f.OptionalString("missing", absent);
  EXPECT_FALSE(absent.has_value());
  std::string port;
  f.StringOrInt("port", port);
  EXPECT_EQ(port, "8080");
  int64_t n = 0;
  f.Int("n", n);
  EXPECT_EQ(n, 30);
  bool b = false;
  f.Bool("b", b);
  EXPECT_TRUE(b);
  std::map<std::string, std::string> m;
  f.StringMap("m", m);
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"a", "b"}}));
  std::vector<std::string> l;
  f.StringList("l", l);
  EXPECT_THAT(l, ElementsAre("p", "q"));
  EXPECT_THAT(errors, IsEmpty());

  bool keep = true;
  f.Bool("bad", keep);
  EXPECT_TRUE(keep);  // the default survives a wrong type
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "bad");
}

TEST(JsonFields, RejectUnknownNamesEachExtraField) {
  json object = {{"key", 1}, {"weight", 2}, {"colour", 3}};
  std::vector<FieldError> errors;
  JsonFields f(object, "spec", errors);
  f.RejectUnknown({"key"});
  EXPECT_THAT(errors, ElementsAre(FieldError{"spec.colour", "unknown field"},
                                  FieldError{"spec.weight", "unknown field"}));
}

TEST(JsonFields, NestedReadersExtendThePathAndShareTheErrors) {
  json object = json::parse(R"({"etcd": {"tls": {"name": 5}}, "items": [{"a": 1}, 2]})");
  std::vector<FieldError> errors;
  JsonFields root(object, "spec", errors);
  std::optional<JsonFields> etcd = root.Object("etcd");
  ASSERT_TRUE(etcd.has_value());
  std::optional<JsonFields> tls = etcd->Object("tls");
  ASSERT_TRUE(tls.has_value());
  EXPECT_EQ(tls->path(), "spec.etcd.tls");
  std::string name;
  EXPECT_FALSE(tls->String("name", name));
  std::vector<std::string> seen;
  root.Array("items", [&](const json& item, const std::string& path) {
    seen.push_back(path + "=" + item.dump());
  });
  EXPECT_THAT(seen, ElementsAre("spec.items[0]={\"a\":1}", "spec.items[1]=2"));
  EXPECT_THAT(errors,
              ElementsAre(FieldError{"spec.etcd.tls.name", "must be of type string, got integer"}));
}

}  // namespace
}  // namespace registrar::registration
