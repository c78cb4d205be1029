#include "controller/common/yaml_json.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar {
namespace {

using nlohmann::json;
using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;

// The value of `v` in the one-document text "v: <scalar>".
json Scalar(const std::string& scalar) {
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments("v: " + scalar + "\n");
  EXPECT_THAT(docs, IsOk()) << scalar;
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << scalar;
    return json("<failed>");
  }
  return (*docs)[0].object.at("v");
}

struct ScalarCase {
  std::string yaml;
  json want;
};

// YAML 1.2 core schema: https://yaml.org/spec/1.2.2/#1032-tag-resolution, as JSON types.
TEST(LoadYamlDocuments, ResolvesScalarsByTheYaml12CoreSchema) {
  const ScalarCase cases[] = {
      // Booleans: only true/false (three spellings each). YAML 1.1's yes/no/on/off/y/n are text.
      {"true", true},
      {"True", true},
      {"TRUE", true},
      {"false", false},
      {"False", false},
      {"FALSE", false},
      {"yes", "yes"},
      {"no", "no"},
      {"on", "on"},
      {"off", "off"},
      {"Yes", "Yes"},
      {"NO", "NO"},
      {"y", "y"},
      {"n", "n"},
      {"tRUE", "tRUE"},
      // Null.
      {"~", nullptr},
      {"null", nullptr},
      {"Null", nullptr},
      {"NULL", nullptr},
      {"", nullptr},
      {"nil", "nil"},
      // Integers: decimal, 0x hex, 0o octal. A leading 0 is still decimal in 1.2.
      {"10", 10},
      {"-3", -3},
      {"+7", 7},
      {"0", 0},
      {"010", 10},
      {"0x1F", 31},
      {"0o17", 15},
      {"0b101", "0b101"},
      {"1_000", "1_000"},
      {"9223372036854775807", 9223372036854775807},
      {"9223372036854775808", "9223372036854775808"},  // out of int64: text
      // Floats.
      {"1.5", 1.5},
      {".5", 0.5},
      {"-2.", -2.0},
      {"1e3", 1000.0},
      {"6.02E+23", 6.02e23},
      {".inf", ".inf"},
      {"1.2.3", "1.2.3"},
      // Quoted and tagged scalars are always text.
      {"'10'", "10"},
      {"\"true\"", "true"},
      {"''", ""},
      {"!!str 10", "10"},
      {"! 10", "10"},
      {"'~'", "~"},
      // Text.
      {"10.0.0.12:8081", "10.0.0.12:8081"},
      {"user.rpc", "user.rpc"},
      {"1:30", "1:30"},
  };
  for (const ScalarCase& c : cases) {
    EXPECT_EQ(Scalar(c.yaml), c.want) << "v: " << c.yaml;
  }
}

TEST(LoadYamlDocuments, EscapesGiveUtf8) {
  // yaml-cpp 0.7 writes \N and \_ as the bytes 0x85 and 0xA0, which are not UTF-8: the strings
  // could not be dumped as JSON (nlohmann throws type_error 316; seen failing before the fix).
  absl::StatusOr<std::vector<YamlDocument>> docs =
      LoadYamlDocuments("v: \"a\\N b\\_c \\x41 \\u00e9\"\n\"k\\N\": [\"\\_\"]\n");
  ASSERT_THAT(docs, IsOk());
  ASSERT_EQ(docs->size(), 1u);
  const json& doc = (*docs)[0].object;
  EXPECT_EQ(doc.at("v"), "a\u0085 b\u00a0c A \u00e9");
  EXPECT_EQ(doc.at("k\u0085"), json::array({"\u00a0"}));
  EXPECT_NO_THROW((void)doc.dump());
}

TEST(LoadYamlDocuments, HugePlainScalarsStayStrings) {
  const std::string digits(10 * 1024 * 1024, '7');
  EXPECT_EQ(Scalar(digits), digits);
  EXPECT_EQ(Scalar(std::string(256, '7')).type(), json::value_t::string);  // over int64 anyway
  EXPECT_EQ(Scalar(std::string(257, '1') + ".5"), std::string(257, '1') + ".5");
}

TEST(LoadYamlDocuments, SplitsDocumentsAndSkipsEmptyOnes) {
  absl::StatusOr<std::vector<YamlDocument>> docs =
      LoadYamlDocuments("a: 1\n---\n---\n# only a comment\n---\nb: [x, 'y']\nc: ~\n");
  ASSERT_THAT(docs, IsOk());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].object, json({{"a", 1}}));
  EXPECT_EQ((*docs)[1].object, json({{"b", {"x", "y"}}, {"c", nullptr}}));
  EXPECT_EQ((*docs)[1].line, 6);
  EXPECT_EQ((*docs)[1].lines.at("b[1]"), 6);
  EXPECT_EQ((*docs)[1].lines.at("c"), 7);
  EXPECT_TRUE(LoadYamlDocuments("")->empty());
  EXPECT_TRUE(LoadYamlDocuments("# nothing\n---\n")->empty());
}

TEST(LoadYamlDocuments, KeepsTheLineOfEveryFieldAndItem) {
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(
      "# header\n"          // 1
      "\n"                  // 2
      "spec:\n"             // 3
      "  key: user.rpc\n"   // 4
      "  etcd:\n"           // 5
      "    endpoints:\n"    // 6
      "      - a:1\n"       // 7
      "\n"                  // 8
      "      - b:2\n"       // 9
      "  flow: {x: 1,\n"    // 10
      "    y: [p, q]}\n");  // 11
  ASSERT_THAT(docs, IsOk());
  ASSERT_EQ(docs->size(), 1u);
  const LineMap want = {{"", 3},
                        {"spec", 3},
                        {"spec.key", 4},
                        {"spec.etcd", 5},
                        {"spec.etcd.endpoints", 6},
                        {"spec.etcd.endpoints[0]", 7},
                        {"spec.etcd.endpoints[1]", 9},
                        {"spec.flow", 10},
                        {"spec.flow.x", 10},
                        {"spec.flow.y", 11},
                        {"spec.flow.y[0]", 11},
                        {"spec.flow.y[1]", 11}};
  EXPECT_EQ((*docs)[0].lines, want);
  EXPECT_EQ((*docs)[0].line, 3);
}

struct ErrorCase {
  std::string yaml;
  std::string message;  // a substring
};

TEST(LoadYamlDocuments, ErrorsNameLineAndColumn) {
  const ErrorCase cases[] = {
      {"a: 1\nb: [unclosed\n", "line "},
      {"spec:\n  key: a\n  key: b\n", "line 3, column 3: duplicate key \"key\""},
      {"? [a, b]\n: c\n", "line 1, column 3: mapping keys must be strings"},
      {"value: ok\nraw: a\xc3\x28\n",
       "line 2, column 7: not UTF-8 text (invalid byte at offset 16)"},
      {"\xff\xfe garbage\n", "line 1, column 1: not UTF-8 text (invalid byte at offset 0)"},
      {"v: \"\\ud800\"\n", "line 1, column 11: invalid unicode"},  // a lone surrogate escape
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(c.yaml);
    ASSERT_THAT(docs, StatusIs(absl::StatusCode::kInvalidArgument)) << c.yaml;
    EXPECT_THAT(std::string(docs.status().message()), HasSubstr(c.message)) << c.yaml;
  }
}

#if defined(__SANITIZE_ADDRESS__)
#define ER_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ER_TEST_ASAN 1
#endif
#endif

// LoadYamlDocuments(text) in a child process held to 3 s (and 1 GiB of address space when not
// under ASan, whose shadow memory needs more): a loader that runs away fails the test instead of
// eating the machine. Returns the child's error message, "OK", or why the child did not finish.
std::string LoadInBoundedChild(const std::string& text) {
  int fds[2];
  if (pipe(fds) != 0) {
    return "pipe failed";
  }
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(3);
#ifndef ER_TEST_ASAN
    const rlimit limit{1L << 30, 1L << 30};
    setrlimit(RLIMIT_AS, &limit);
#endif
    try {  // nothing may reach gtest's handler here, or the child would go on with the suite
      absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(text);
      const std::string out = docs.ok() ? "OK" : std::string(docs.status().message());
      const ssize_t unused = write(fds[1], out.data(), out.size());
      (void)unused;
      _exit(0);
    } catch (...) {
      _exit(3);  // std::bad_alloc at the address-space limit
    }
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    out.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status))
                               : "child exited " + std::to_string(WEXITSTATUS(status));
  }
  return out;
}

TEST(LoadYamlDocuments, RefusesTokensYamlCppWouldLoopOn) {
  // Found by fuzz_kubeconfig (tests/fuzz/known/yaml-cpp-loadall-oom, 56 bytes): yaml-cpp 0.7
  // cannot place a ',' outside [...] or {...} and LoadAll adds empty documents forever (~150 MB/s).
  const ErrorCase cases[] = {
      {",", "line 1, column 1: unexpected ',' outside [...] or {...}"},
      {"\n,,,,,,,,,,,,eClusterInfo'anedmdet\x01-\x1anamuser\x04\nodcerrify\n",
       "line 2, column 1: unexpected ',' outside [...] or {...}"},
      {"[b, c],\n", "line 1, column 7: unexpected ','"},
      {"{a: b},\n", "line 1, column 7: unexpected ','"},
      {"--- ,\n", "line 1, column 5: unexpected ','"},
      {"a: 1\n---\n!!str ,\n", "line 3, column 7: unexpected ','"},
      {"&x ,", "line 1, column 4: unexpected ','"},
      // Block style only, no ',' at all (found by a random block-only search, issue 13: the
      // check must run on every text, not only on text with a flow indicator).
      {"'>-?.'<- >\n? ", "line 2, column 1: unexpected text the YAML parser cannot read past"},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_THAT(LoadInBoundedChild(c.yaml), HasSubstr(c.message)) << c.yaml;
  }
  // Commas where YAML allows them, and empty documents, still load.
  EXPECT_EQ(LoadInBoundedChild("a: [b, c]\nd: {e: f, g: h}\ni: j, k\n"), "OK");
  EXPECT_EQ(LoadInBoundedChild("---\n---\n...\n---\na: 1\n...\n"), "OK");
}

struct Utf8Case {
  std::string_view text;
  size_t want;  // npos: valid
};

TEST(InvalidUtf8Offset, FollowsRfc3629) {
  constexpr size_t kValid = std::string_view::npos;
  const Utf8Case cases[] = {
      {"", kValid},
      {"plain ascii", kValid},
      {"caf\xc3\xa9", kValid},       // U+00E9
      {"\xe2\x82\xac", kValid},      // U+20AC
      {"\xf0\x9f\x98\x80", kValid},  // U+1F600
      {"\xf4\x8f\xbf\xbf", kValid},  // U+10FFFF, the last code point
      {"\xed\x9f\xbf", kValid},      // U+D7FF, just below the surrogates
      {"ab\xff", 2},                 // never valid
      {"a\xc3\x28", 1},              // bad continuation
      {"a\xc3", 1},                  // truncated
      {"\xe2\x82", 0},               // truncated
      {"x\xc0\xaf", 1},              // overlong '/'
      {"\xc1\xbf", 0},               // overlong
      {"\xe0\x80\xaf", 0},           // overlong, 3 bytes
      {"\xf0\x80\x80\xaf", 0},       // overlong, 4 bytes
      {"ok\xed\xa0\x80", 2},         // U+D800, a surrogate
      {"\xf4\x90\x80\x80", 0},       // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},
      {"\x80", 0},             // lone continuation byte
      {"caf\xc3\xa9\xe9", 5},  // Latin-1 after valid UTF-8
  };
  for (const Utf8Case& c : cases) {
    EXPECT_EQ(InvalidUtf8Offset(c.text), c.want) << ::testing::PrintToString(std::string(c.text));
  }
}

TEST(JsonPath, ChildAndIndex) {
  EXPECT_EQ(JsonPathChild("", "spec"), "spec");
  EXPECT_EQ(JsonPathChild("spec", "key"), "spec.key");
  EXPECT_EQ(JsonPathIndex("spec.etcd.endpoints", 1), "spec.etcd.endpoints[1]");
  EXPECT_EQ(JsonPathChild(JsonPathIndex("a", 0), "b"), "a[0].b");
}

TEST(NearestLine, FallsBackToTheNearestWrittenAncestor) {
  const LineMap lines = {
      {"", 1}, {"spec", 3}, {"spec.etcd", 5}, {"spec.etcd.endpoints[0]", 6}, {"metadata", 0}};
  EXPECT_EQ(NearestLine(lines, "spec.etcd.endpoints[0]"), 6);
  EXPECT_EQ(NearestLine(lines, "spec.etcd.endpoints[1]"), 5);
  EXPECT_EQ(NearestLine(lines, "spec.key"), 3);
  EXPECT_EQ(NearestLine(lines, "metadata.name"), 1);  // 0 is unknown: up to the document
  EXPECT_EQ(NearestLine(lines, ""), 1);
  EXPECT_EQ(NearestLine({}, "spec.key"), 0);
}

TEST(LoadYamlDocuments, RefusesAliasesThatExpandBeyondTheBudget) {
  // Found by fuzz_kubeconfig: 330 bytes of nested aliases expanded to 10^7 values (minutes of
  // work and gigabytes). Seven levels of ten here: refused at once.
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 7; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) {
      text += (k == 0 ? "" : ", ") + prev;
    }
    text += "]\n";
  }
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(text);
  EXPECT_THAT(docs, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(docs.status().message()),
              HasSubstr("too many values after expanding aliases"));
  // Aliases used with measure still work.
  docs = LoadYamlDocuments("base: &b {ttl: 10, zone: a}\none: *b\ntwo: *b\n");
  ASSERT_THAT(docs, IsOk());
  EXPECT_EQ((*docs)[0].object["two"]["ttl"], 10);
}

TEST(LoadYamlDocuments, AliasesGiveTheAnchoredValueWithItsLines) {
  // Built from parser events since issue 13, these are what the YAML::Node tree gave.
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(
      "base: &b {ttl: 10, zone: [a, b]}\n"  // 1
      "one: *b\n"                           // 2
      "k: &k name\n"                        // 3
      "*k : 2\n"                            // 4: an alias of a scalar is a key
      "list: [*b, &s 7, *s]\n");            // 5
  ASSERT_THAT(docs, IsOk());
  ASSERT_EQ(docs->size(), 1u);
  const YamlDocument& doc = (*docs)[0];
  EXPECT_EQ(doc.object, json::parse(R"({"base": {"ttl": 10, "zone": ["a", "b"]},
      "one": {"ttl": 10, "zone": ["a", "b"]}, "k": "name", "name": 2,
      "list": [{"ttl": 10, "zone": ["a", "b"]}, 7, 7]})"));
  EXPECT_EQ(doc.lines.at("one"), 2);
  EXPECT_EQ(doc.lines.at("one.ttl"), 1);  // where the aliased values are written
  EXPECT_EQ(doc.lines.at("one.zone[1]"), 1);
  EXPECT_EQ(doc.lines.at("name"), 3);  // the anchored key's line
  EXPECT_EQ(doc.lines.at("list[0]"), 1);
  EXPECT_EQ(doc.lines.at("list[0].zone[0]"), 1);
  EXPECT_EQ(doc.lines.at("list[2]"), 5);

  const ErrorCase cases[] = {
      // An alias inside its own anchor: the tree was a cycle, expanded until the budget.
      {"a: &a [x, *a]\n", "too many values after expanding aliases"},
      {"&a {k: *a}\n", "too many values after expanding aliases"},
      // An alias of a collection or a null as a key, at the anchor's position.
      {"a: &m {x: 1}\n*m : 1\n", "line 1, column 4: mapping keys must be strings"},
      {"a: &n ~\n*n : 1\n", "line 1, column 4: mapping keys must be strings"},
      {"&k key: v\n*k : 2\n", "line 1, column 1: duplicate key \"key\""},
      // A syntax error after a key error is the one reported, as when the tree loaded first.
      {"a: 1\na: 2\nb: [unclosed\n", "end of sequence flow not found"},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_THAT(LoadInBoundedChild(c.yaml), HasSubstr(c.message)) << c.yaml;
  }
  // The tree's conversion recursed once per value of the cycle, up to the budget (10 000 + 2 x the
  // text's size): behind a 100 kB comment that overflowed the stack (seen: SIGSEGV in the child
  // before the single-pass builder, issue 13). Now refused at the alias.
  EXPECT_THAT(LoadInBoundedChild("a: &a [*a]\n# " + std::string(100'000, 'p') + "\n"),
              HasSubstr("line 1, column 4: too many values after expanding aliases"));
}

TEST(JsonTypeName, NamesEveryType) {
  EXPECT_STREQ(JsonTypeName(json(nullptr)), "null");
  EXPECT_STREQ(JsonTypeName(json(true)), "boolean");
  EXPECT_STREQ(JsonTypeName(json(-1)), "integer");
  EXPECT_STREQ(JsonTypeName(json(1u)), "integer");
  EXPECT_STREQ(JsonTypeName(json(1.5)), "number");
  EXPECT_STREQ(JsonTypeName(json("x")), "string");
  EXPECT_STREQ(JsonTypeName(json::array()), "array");
  EXPECT_STREQ(JsonTypeName(json::object()), "object");
}

TEST(BooleanExpected, ExplainsYaml11Booleans) {
  EXPECT_EQ(BooleanExpected(json("yes")),
            "must be true or false, got string \"yes\" (YAML 1.2 reads yes/no/on/off as strings)");
  EXPECT_EQ(BooleanExpected(json("Off")),
            "must be true or false, got string \"Off\" (YAML 1.2 reads yes/no/on/off as strings)");
  EXPECT_EQ(BooleanExpected(json("maybe")), "must be true or false, got string \"maybe\"");
  EXPECT_EQ(BooleanExpected(json(1)), "must be true or false, got integer 1");
  EXPECT_EQ(BooleanExpected(json(nullptr)), "must be true or false, got null");
  EXPECT_EQ(BooleanExpected(json(std::string(100, 'x'))), "must be true or false, got string");
}

}  // namespace
}  // namespace registrar
