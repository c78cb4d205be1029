#include "controller/etcd/server_version.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace registrar::etcd {
namespace {

TEST(ParseServerVersion, ReadsWhatEtcdReports) {
  struct Case {
    std::string text;
    std::optional<std::string> want;  // ToString(), nullopt: not readable
  };
  const Case cases[] = {
      {"3.4.23", "3.4.23"},         // Debian's
      {"3.5.35", "3.5.35"},         // .tools/etcd-3.5
      {"3.6.16", "3.6.16"},         // .tools/etcd-3.6
      {"3.6.0-alpha.0", "3.6.0"},   // a pre-release
      {"3.4.23+debian", "3.4.23"},  // a distribution's suffix
      {"3.5", "3.5.0"},             // no patch
      {"3.5.", "3.5.0"},            // a dot and nothing after it
      {"", std::nullopt},
      {"3", std::nullopt},
      {"v3.5.1", std::nullopt},
      {"three.five", std::nullopt},
      {"3.x.1", std::nullopt},
      {"99999999999.1.1", std::nullopt},  // overflow
  };
  for (const Case& c : cases) {
    std::optional<ServerVersion> got = ParseServerVersion(c.text);
    ASSERT_EQ(got.has_value(), c.want.has_value()) << "'" << c.text << "'";
    if (got) {
      EXPECT_EQ(got->ToString(), *c.want) << "'" << c.text << "'";
    }
  }
}

TEST(SettleWritesHelp, OnlyUpTo34AndWhenUnknown) {
  struct Case {
    std::optional<ServerVersion> version;
    bool want;
  };
  const Case cases[] = {
      {std::nullopt, true},  // not answered yet / unreadable: keep them
      {ServerVersion{3, 3, 27}, true},
      {ServerVersion{3, 4, 23}, true},
      {ServerVersion{3, 5, 0}, false},
      {ServerVersion{3, 5, 35}, false},
      {ServerVersion{3, 6, 16}, false},
      {ServerVersion{4, 0, 0}, false},
      {ServerVersion{2, 9, 0}, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SettleWritesHelp(c.version), c.want)
        << (c.version ? c.version->ToString() : std::string("unknown"));
  }
}

}  // namespace
}  // namespace registrar::etcd
