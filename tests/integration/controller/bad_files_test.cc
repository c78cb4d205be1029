// Bad manifest files of every kind (issue 4, DESIGN.md §3): each is reported with its file (and
// line where there is one) on /registrations' sourceErrors and in the log, never registers
// anything, and leaves a good file next to it registered and untouched (same lease, not a single
// write or DELETE of its key). A good file that turns bad keeps its last good registration; one
// that turns into an alias bomb too, with the controller's memory bounded.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/controller_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;

constexpr auto kSoon = std::chrono::seconds(5);

// The peak resident set (VmHWM) of process `pid` in KiB; -1 when it cannot be read.
int64_t PeakRssKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmHWM:")) {
      std::istringstream fields(line.substr(6));
      int64_t kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

class BadFilesTest : public ControllerTest {
 protected:
  // Writes good.yaml, starts the controller and waits for good.rpc to be registered.
  void StartWithGoodFile() {
    Write("good.yaml", Manifest({.name = "good", .key = "good.rpc", .value = "10.0.0.1:8080"}));
    controller_ = StartController();
    ASSERT_NE(controller_, nullptr);
    auto good = WaitForKey("good.rpc/", kSoon);
    ASSERT_THAT(good, IsOk()) << controller_->Describe();
    good_ = *good;
    ASSERT_THAT(WaitForRegistration("default", "good", "Registered", kSoon), IsOk());
    recorder_ = Record();
    ASSERT_NE(recorder_, nullptr);
  }

  // Waits until sourceErrors names `relative`; returns its message.
  std::string WaitForSourceError(const std::string& relative) {
    const std::string path = PathOf(relative);
    std::string message;
    absl::Status waited = WaitUntil(
        [&](std::string* why) {
          auto doc = Registrations();
          if (!doc.ok()) {
            *why = std::string(doc.status().message());
            return false;
          }
          *why = (*doc)["sourceErrors"].dump();
          if (!(*doc)["sourceErrors"].contains(path)) {
            return false;
          }
          message = (*doc)["sourceErrors"][path].get<std::string>();
          std::cout << "[reported] " << relative << ": " << message.substr(0, 300) << std::endl;
          return true;
        },
        kSoon);
    EXPECT_THAT(waited, IsOk()) << "no sourceErrors entry for " << path << "\n"
                                << controller_->Describe();
    return message;
  }

  // The controller logged a line naming the file.
  void ExpectLogged(const std::string& relative, const std::string& needle) {
    const std::string path = PathOf(relative);
    auto line = controller_->WaitForOutputMatching(
        std::regex(".*" + std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                   ".*" + needle + ".*"),
        kSoon);
    EXPECT_THAT(line, IsOk()) << "no log line naming " << path << " with '" << needle << "'";
  }

  // good.rpc is still registered on its lease and nobody wrote or deleted it.
  // The one key under `prefix` is still `before`'s (same key, same lease) with `value`, and no
  // key was deleted: a broken file kept its last good registration.
  void ExpectKeptOnItsLease(const std::string& prefix, const StoredKv& before,
                            const std::string& value) {
    auto now = GetAll(prefix);
    ASSERT_THAT(now, IsOk());
    ASSERT_EQ(now->size(), 1u) << controller_->Describe();
    EXPECT_EQ(now->front().key, before.key);
    EXPECT_EQ(now->front().lease, before.lease);
    EXPECT_EQ(now->front().value, value);
    EXPECT_EQ(recorder_->CountDeletes(), 0) << DescribeEvents(*recorder_);
  }
  void ExpectGoodUntouched() {
    auto now = GetAll("good.rpc/");
    ASSERT_THAT(now, IsOk());
    ASSERT_EQ(now->size(), 1u);
    EXPECT_EQ(now->front().key, good_.key);
    EXPECT_EQ(now->front().lease, good_.lease);
    EXPECT_EQ(now->front().mod_revision, good_.mod_revision);
    EXPECT_TRUE(EventsUnder(*recorder_, "good.rpc/", WatchEvent::Type::kPut).empty() &&
                EventsUnder(*recorder_, "good.rpc/", WatchEvent::Type::kDelete).empty())
        << DescribeEvents(*recorder_, "good.rpc/");
    auto r = Registrations();
    ASSERT_THAT(r, IsOk());
    auto good = Find(*r, "default", "good");
    ASSERT_TRUE(good.has_value());
    EXPECT_EQ((*good)["phase"], "Registered");
    EXPECT_EQ((*good)["leaseID"], std::to_string(good_.lease));
  }

  std::unique_ptr<ChildProcess> controller_;
  std::unique_ptr<EtcdWatchRecorder> recorder_;
  StoredKv good_;
};

TEST_F(BadFilesTest, EveryKindOfBadFileIsReportedAndTheGoodOneStays) {
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());

  // YAML syntax error: file and line.
  Write("syntax.yaml",
        "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
        "  name: syntax\nspec:\n  key: [syntax.rpc\n  value: 10.0.0.2:1\n");
  std::string error = WaitForSourceError("syntax.yaml");
  EXPECT_THAT(error, HasSubstr("line "));
  ExpectLogged("syntax.yaml", "line");

  // Wrong types.
  Write("types.yaml",
        "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
        "  name: types\nspec:\n  key: types.rpc\n  value: 10.0.0.3:1\n  ttlSeconds: five\n"
        "  paused: maybe\n");
  error = WaitForSourceError("types.yaml");
  EXPECT_THAT(error, HasSubstr("spec.ttlSeconds"));
  EXPECT_THAT(error, HasSubstr("line 8"));
  ExpectLogged("types.yaml", "spec.ttlSeconds");

  // Missing key.
  Write("nokey.yaml",
        "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
        "  name: nokey\nspec:\n  value: 10.0.0.4:1\n");
  error = WaitForSourceError("nokey.yaml");
  EXPECT_THAT(error, HasSubstr("spec.key"));
  EXPECT_THAT(error, HasSubstr("line "));

  // A 10 MB file (a valid manifest followed by a huge comment).
  {
    std::ofstream out(PathOf(".big.yaml.tmp"), std::ios::binary);
    out << Manifest({.name = "big", .key = "big.rpc", .value = "10.0.0.5:1"});
    out << "# " << std::string(10 * 1024 * 1024, 'x') << "\n";
  }
  std::filesystem::rename(PathOf(".big.yaml.tmp"), PathOf("big.yaml"));
  error = WaitForSourceError("big.yaml");
  EXPECT_THAT(error, HasSubstr("limit"));

  // Binary garbage.
  {
    std::string garbage(4096, '\0');
    std::mt19937 random(42);
    for (char& c : garbage) {
      c = static_cast<char>(random() & 0xff);
    }
    Write("garbage.yaml", garbage);
  }
  error = WaitForSourceError("garbage.yaml");
  EXPECT_FALSE(error.empty());

  // spec.etcd and valueFrom need a cluster: rejected, saying why.
  Write("etcd.yaml", Manifest({.name = "with-etcd", .key = "etcd.rpc", .value = "10.0.0.6:1"}) +
                         "  etcd:\n    endpoints: [\"etcd-0.etcd:2379\"]\n");
  error = WaitForSourceError("etcd.yaml");
  EXPECT_THAT(error, HasSubstr("spec.etcd"));
  EXPECT_THAT(error, HasSubstr("--manifests"));
  Write("valuefrom.yaml",
        "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
        "  name: from-service\nspec:\n  key: vf.rpc\n"
        "  valueFrom:\n    serviceRef: {name: user, port: grpc}\n");
  error = WaitForSourceError("valuefrom.yaml");
  EXPECT_THAT(error, HasSubstr("spec.valueFrom"));
  EXPECT_THAT(error, HasSubstr("cluster"));

  // None of them registered anything; the good one was not touched.
  auto all = GetAll("");
  ASSERT_THAT(all, IsOk());
  for (const StoredKv& kv : *all) {
    EXPECT_TRUE(absl::StartsWith(kv.key, "good.rpc/") ||
                absl::StartsWith(kv.key, RecordKey("good.rpc/")))
        << "unexpected key " << kv.key;
  }
  auto doc = Registrations();
  ASSERT_THAT(doc, IsOk());
  for (const char* name : {"syntax", "types", "nokey", "big", "with-etcd", "from-service"}) {
    auto r = Find(*doc, "default", name);
    EXPECT_TRUE(!r.has_value() || (*r)["phase"] != "Registered") << name;
  }
  ExpectGoodUntouched();
  EXPECT_TRUE(controller_->Running());
}

// Issue 12 item 6: a document whose key overlaps the owner prefix made the whole file fail, so
// the file's other, valid document was never registered. Now that document alone is refused.
TEST_F(BadFilesTest, KeyUnderTheOwnerPrefixRefusesOnlyItsDocument) {
  Write("mixed.yaml",
        Manifest({.name = "fine", .key = "fine.rpc", .value = "10.0.0.5:1"}) + "---\n" +
            Manifest(
                {.name = "sneaky", .key = "/etcd-registrar/owners/e2e-owner/x", .value = "v:1"}));
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());
  auto fine = WaitForKey("fine.rpc/", kSoon);
  ASSERT_THAT(fine, IsOk()) << controller_->Describe();
  EXPECT_EQ(fine->value, "10.0.0.5:1");
  auto sneaky = WaitForRegistration("default", "sneaky", "Failed", kSoon);
  ASSERT_THAT(sneaky, IsOk()) << controller_->Describe();
  EXPECT_EQ((*sneaky)["reason"], "InvalidSpec");
  EXPECT_THAT((*sneaky)["lastError"].get<std::string>(), HasSubstr("owner prefix"));
  ExpectGoodUntouched();
}

TEST_F(BadFilesTest, DuplicatesFirstInSortedPathAndDocumentOrderWins) {
  // b.yaml sorts after a.yaml; within multi.yaml, document 1 comes first.
  Write("b.yaml", Manifest({.name = "dup", .key = "dup.rpc", .value = "from-b:1"}));
  Write("a.yaml", Manifest({.name = "dup", .key = "dup.rpc", .value = "from-a:1"}));
  Write("multi.yaml", Manifest({.name = "twin", .key = "twin.rpc", .value = "first:1"}) + "---\n" +
                          Manifest({.name = "twin", .key = "twin.rpc", .value = "second:1"}));
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());
  auto dup = WaitForKey("dup.rpc/", kSoon);
  ASSERT_THAT(dup, IsOk()) << controller_->Describe();
  EXPECT_EQ(dup->value, "from-a:1");
  auto twin = WaitForKey("twin.rpc/", kSoon);
  ASSERT_THAT(twin, IsOk()) << controller_->Describe();
  EXPECT_EQ(twin->value, "first:1");
  std::string error = WaitForSourceError("b.yaml");
  EXPECT_THAT(error, HasSubstr("default/dup"));
  EXPECT_THAT(error, HasSubstr(PathOf("a.yaml")));
  error = WaitForSourceError("multi.yaml");
  EXPECT_THAT(error, HasSubstr("document 2"));
  EXPECT_THAT(error, HasSubstr("default/twin"));
  ExpectLogged("b.yaml", "default/dup");
  ExpectGoodUntouched();
}

TEST_F(BadFilesTest, TruncatedThenRewrittenFileKeepsItsRegistration) {
  Write("saved.yaml", Manifest({.name = "saved", .key = "saved.rpc", .value = "10.0.0.7:1"}));
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());
  auto saved = WaitForKey("saved.rpc/", kSoon);
  ASSERT_THAT(saved, IsOk()) << controller_->Describe();
  ASSERT_THAT(WaitForRegistration("default", "saved", "Registered", kSoon), IsOk());

  // Truncate, let a moment pass with the file empty, then write the content again.
  WriteInPlace("saved.yaml", Manifest({.name = "saved", .key = "saved.rpc", .value = "10.0.0.7:1"}),
               std::chrono::milliseconds(100));
  // A second save that changes the value, the same way.
  WriteInPlace("saved.yaml", Manifest({.name = "saved", .key = "saved.rpc", .value = "10.0.0.8:1"}),
               std::chrono::milliseconds(100));
  auto rewritten =
      WaitForKey("saved.rpc/", kSoon, [](const StoredKv& kv) { return kv.value == "10.0.0.8:1"; });
  ASSERT_THAT(rewritten, IsOk()) << controller_->Describe();
  EXPECT_EQ(rewritten->lease, saved->lease);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a late revoke would show by now
  EXPECT_EQ(recorder_->CountDeletes(), 0) << DescribeEvents(*recorder_);
  EXPECT_THAT(GetAll("saved.rpc/").value_or(std::vector<StoredKv>{}), ::testing::SizeIs(1));
  ExpectGoodUntouched();
}

TEST_F(BadFilesTest, BadEditOfAGoodFileKeepsItsLastGoodRegistration) {
  Write("edit.yaml", Manifest({.name = "edit", .key = "edit.rpc", .value = "10.0.0.9:1"}));
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());
  auto before = WaitForKey("edit.rpc/", kSoon);
  ASSERT_THAT(before, IsOk()) << controller_->Describe();

  // A broken edit: the value changes but the YAML is broken on line 7.
  Write("edit.yaml",
        "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
        "  name: edit\nspec:\n  key: edit.rpc\n  value: [10.0.0.10:1\n");
  std::string error = WaitForSourceError("edit.yaml");
  EXPECT_THAT(error, HasSubstr("line "));
  ExpectLogged("edit.yaml", "line");
  // An invalid (but well-formed) edit: ttlSeconds out of range.
  Write("edit.yaml",
        Manifest({.name = "edit", .key = "edit.rpc", .value = "10.0.0.11:1", .ttl = 1}));
  ASSERT_THAT(WaitUntil(
                  [&](std::string* why) {
                    auto doc = Registrations();
                    *why = doc.ok() ? (*doc)["sourceErrors"].dump() : "";
                    return doc.ok() && (*doc)["sourceErrors"].contains(PathOf("edit.yaml")) &&
                           absl::StrContains(
                               (*doc)["sourceErrors"][PathOf("edit.yaml")].get<std::string>(),
                               "spec.ttlSeconds");
                  },
                  kSoon),
              IsOk());
  // Past one TTL: still the last good registration, kept alive on its lease.
  std::this_thread::sleep_for(std::chrono::milliseconds(kTtl * 1000 + 500));
  ExpectKeptOnItsLease("edit.rpc/", *before, "10.0.0.9:1");

  // Fixed: the error goes away and the new value is published on the same lease.
  Write("edit.yaml", Manifest({.name = "edit", .key = "edit.rpc", .value = "10.0.0.12:1"}));
  auto fixed =
      WaitForKey("edit.rpc/", kSoon, [](const StoredKv& kv) { return kv.value == "10.0.0.12:1"; });
  ASSERT_THAT(fixed, IsOk()) << controller_->Describe();
  EXPECT_EQ(fixed->lease, before->lease);
  auto doc = Registrations();
  ASSERT_THAT(doc, IsOk());
  EXPECT_FALSE((*doc)["sourceErrors"].contains(PathOf("edit.yaml"))) << doc->dump();
  ExpectGoodUntouched();
}

// A "billion laughs" alias bomb in the watched folder: nine levels of ten aliases, 10^9 values
// once expanded, in about 700 bytes. The YAML loader's alias budget (common/yaml_json.h, unit
// tested in yaml_json_test) refuses it at once; here, through the controller: the error names the
// file and the reason on /registrations and in the log, the file's last good registration and the
// other files' registrations stay in etcd untouched, a file written after it is registered (the
// controller keeps serving), and the controller's peak memory grows by less than 64 MiB.
TEST_F(BadFilesTest, AliasBombIsRefusedNamingTheFileAndTheRestIsServed) {
  const auto laughs = [](const std::string& value) {
    return Manifest({.name = "laughs", .key = "laughs.rpc", .value = value});
  };
  Write("laughs.yaml", laughs("10.0.0.20:1"));
  ASSERT_NO_FATAL_FAILURE(StartWithGoodFile());
  auto before = WaitForKey("laughs.rpc/", kSoon);
  ASSERT_THAT(before, IsOk()) << controller_->Describe();
  const int64_t peak_before = PeakRssKib(controller_->pid());
  ASSERT_GT(peak_before, 0);

  std::string bomb =
      "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n"
      "  name: laughs\n  annotations:\n    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, "
      "lol]\n";
  for (int level = 1; level < 9; ++level) {
    absl::StrAppend(&bomb, "    l", level, ": &l", level, " [");
    for (int i = 0; i < 10; ++i) {
      absl::StrAppend(&bomb, i == 0 ? "" : ", ", "*l", level - 1);
    }
    absl::StrAppend(&bomb, "]\n");
  }
  absl::StrAppend(&bomb, "spec:\n  key: laughs.rpc\n  value: 10.0.0.21:1\n");
  Write("laughs.yaml", bomb);
  const std::string error = WaitForSourceError("laughs.yaml");
  EXPECT_THAT(error, HasSubstr("too many values after expanding aliases"));
  ExpectLogged("laughs.yaml", "aliases");

  // Still served: a new file is registered, the bomb's last good registration and good.rpc stay.
  Write("after.yaml", Manifest({.name = "after", .key = "after.rpc", .value = "10.0.0.22:1"}));
  ASSERT_THAT(WaitForKey("after.rpc/", kSoon), IsOk()) << controller_->Describe();
  ExpectKeptOnItsLease("laughs.rpc/", *before, "10.0.0.20:1");
  ExpectGoodUntouched();
  EXPECT_TRUE(controller_->Running());

  const int64_t peak_after = PeakRssKib(controller_->pid());
  std::cout << "[peak RSS] " << peak_before << " KiB before the bomb, " << peak_after
            << " KiB after" << std::endl;
  EXPECT_LT(peak_after - peak_before, 64 * 1024)
      << "peak RSS " << peak_before << " KiB -> " << peak_after << " KiB";
}

}  // namespace
}  // namespace registrar::testing
