// Drives ManifestSource::Step() with a FakeClock: deterministic, no sleeps. Kernel inotify events
// are queued synchronously by the writes, so the inotify path is deterministic too.
#include "controller/source/manifest_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/unit/source/test_files.h"

namespace registrar::source {
namespace {

using ::registrar::source::testing::Manifest;
using ::registrar::source::testing::ReplaceFile;
using ::registrar::source::testing::TempDir;
using ::registrar::source::testing::WriteFile;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

class ManifestSourceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    previous_logger_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    source_.reset();
    spdlog::set_default_logger(previous_logger_);
  }

  bool inotify() const { return GetParam(); }

  void Make(const std::string& dir = "") {
    ManifestSourceOptions options;
    options.dir = dir.empty() ? dir_.path() : dir;
    options.use_inotify = inotify();
    auto created = ManifestSource::Create(options, clock_);
    ASSERT_THAT(created, registrar::testing::IsOk());
    source_ = *std::move(created);
  }

  // Runs the source for `duration` of fake time in 50 ms turns. Returns every change reported, in
  // order; records the tracked identities that were ever absent from the store meanwhile.
  std::vector<std::string> Run(std::chrono::milliseconds duration = 2s) {
    std::vector<std::string> all;
    for (auto t = 0ms; t <= duration; t += 50ms) {
      std::vector<std::string> changed = source_->Step();
      all.insert(all.end(), changed.begin(), changed.end());
      for (const std::string& identity : tracked_) {
        if (source_->store().Get(identity) == nullptr) {
          ever_absent_.insert(identity);
        }
      }
      clock_.Advance(50ms);
    }
    return all;
  }

  // Runs until the source has scanned the folder once more (the state on disk now is seen).
  std::vector<std::string> RunUntilScan() {
    int64_t scans = source_->scans();
    std::vector<std::string> all;
    for (int i = 0; i < 40 && source_->scans() == scans; ++i) {
      auto changed = Run(0ms);
      all.insert(all.end(), changed.begin(), changed.end());
    }
    EXPECT_GT(source_->scans(), scans);
    return all;
  }

  std::optional<std::string> Value(const std::string& identity) const {
    ObjectPtr object = source_->store().Get(identity);
    if (object == nullptr) {
      return std::nullopt;
    }
    return object->spec.value.value_or("");
  }

  // How many log lines mention `text`.
  int LogLines(const std::string& text) const {
    std::istringstream lines(log_.str());
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
      count += line.find(text) != std::string::npos ? 1 : 0;
    }
    return count;
  }

  TempDir dir_;
  registrar::testing::FakeClock clock_;
  std::unique_ptr<ManifestSource> source_;
  std::set<std::string> tracked_;
  std::set<std::string> ever_absent_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

INSTANTIATE_TEST_SUITE_P(Watching, ManifestSourceTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Inotify" : "Polling"; });

TEST_P(ManifestSourceTest, LifecycleThroughFiles) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  Make();
  EXPECT_FALSE(source_->synced());
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_TRUE(source_->synced());
  EXPECT_EQ(source_->watching(), inotify());
  ObjectPtr first = source_->store().Get("default/x");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->spec.key, "user.rpc");
  EXPECT_EQ(first->spec.value, "10.0.0.1:80");
  EXPECT_EQ(first->metadata.uid, "manifest:default/x");
  EXPECT_EQ(first->metadata.generation, 1);

  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.22:80"));
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "10.0.0.22:80");
  EXPECT_EQ(source_->store().Get("default/x")->metadata.generation, 2);

  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.22:80", "order.rpc"));
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(source_->store().Get("default/x")->spec.key, "order.rpc");
  EXPECT_EQ(source_->store().Get("default/x")->metadata.generation, 3);

  std::filesystem::remove(dir_ / "a.yaml");
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(source_->store().Get("default/x"), nullptr);
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, UnchangedContentKeepsTheObject) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  Make();
  Run();
  ObjectPtr before = source_->store().Get("default/x");
  ReplaceFile(dir_ / "a.yaml", "# same object, new comment\n" + Manifest("x", "10.0.0.1:80"));
  EXPECT_THAT(Run(), IsEmpty());
  EXPECT_EQ(source_->store().Get("default/x"), before);
  EXPECT_EQ(source_->files_read(), 2);
}

TEST_P(ManifestSourceTest, RescanThatFindsNothingNewDoesNotRebuildTheStore) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80") + "---\n" + Manifest("y", "10.0.0.2:80"));
  Make();
  Run();
  ASSERT_TRUE(source_->synced());
  ObjectPtr x = source_->store().Get("default/x");
  const int64_t scans = source_->scans();
  const int64_t publishes = source_->publishes();
  // Two safety rescans (every 30 s; every 500 ms when polling): nothing on disk changed.
  EXPECT_THAT(Run(65s), IsEmpty());
  EXPECT_GE(source_->scans(), scans + 2);
  EXPECT_EQ(source_->publishes(), publishes);
  EXPECT_EQ(source_->store().Get("default/x"), x);

  // A change is published as before, and so is a removal after its debounce.
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.9:80"));
  EXPECT_THAT(Run(), UnorderedElementsAre("default/x", "default/y"));
  EXPECT_EQ(Value("default/x"), "10.0.0.9:80");
  EXPECT_EQ(source_->store().Get("default/y"), nullptr);
  EXPECT_GT(source_->publishes(), publishes);
}

TEST_P(ManifestSourceTest, FirstScanPublishesAsItReads) {
  // 3 files of 300: the first scan hands over what it has read every 500 documents, before it
  // completes (synced() still false), so the engine starts registering early.
  for (int f = 0; f < 3; ++f) {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      text += "---\n" + Manifest("r" + std::to_string(f * 300 + i), "10.0.0.1:80");
    }
    WriteFile(dir_ / ("f" + std::to_string(f) + ".yaml"), text);
  }
  Make();
  std::mutex mu;
  std::vector<std::pair<size_t, bool>> calls;  // (identities, synced) per handler call
  std::set<std::string> seen;
  bool early_ones_in_store = true;
  source_->Start([&](const std::vector<std::string>& identities) {
    std::lock_guard<std::mutex> lock(mu);
    calls.emplace_back(identities.size(), source_->synced());
    for (const std::string& identity : identities) {
      seen.insert(identity);
      early_ones_in_store = early_ones_in_store && source_->store().Get(identity) != nullptr;
    }
  });
  for (int i = 0; i < 400 && !source_->synced(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  source_->Stop();
  ASSERT_TRUE(source_->synced());
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls.front(), std::make_pair(size_t{600}, false));  // two files: 600 >= 500
  EXPECT_EQ(calls.back(), std::make_pair(size_t{300}, true));
  EXPECT_EQ(seen.size(), 900u);
  EXPECT_TRUE(early_ones_in_store);
  EXPECT_EQ(source_->store().Get("default/r0")->metadata.generation, 1);
}

TEST_P(ManifestSourceTest, RecursiveMultiDocumentOtherKindsAndNamespaceDefault) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "v:1") +
                                 "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" +
                                 Manifest("y", "v:2", "k", "shop"));
  WriteFile(dir_ / "sub/deeper/b.yml", Manifest("z", "v:3"));
  WriteFile(dir_ / "sub/c.JSON",
            R"({"apiVersion": "registrar.dev/v1alpha1", "kind": "ServiceRegistration",
                "metadata": {"name": "j", "namespace": "shop"}, "spec": {"key": "k", "value": "v:4"}})");
  WriteFile(dir_ / "notes.txt", Manifest("ignored-txt", "v:5"));
  WriteFile(dir_ / ".hidden.yaml", Manifest("ignored-hidden", "v:6"));
  Make();
  EXPECT_THAT(Run(), ElementsAre("default/x", "default/z", "shop/j", "shop/y"));
  EXPECT_EQ(Value("shop/y"), "v:2");
  EXPECT_EQ(Value("default/z"), "v:3");
  EXPECT_EQ(Value("shop/j"), "v:4");
  EXPECT_EQ(source_->store().size(), 4u);
  EXPECT_THAT(source_->errors(), IsEmpty());
  EXPECT_GE(LogLines("kind Service (v1) is not a ServiceRegistration"), 1);
}

TEST_P(ManifestSourceTest, NewSubfolderIsPickedUp) {
  Make();
  Run();
  EXPECT_TRUE(source_->synced());
  WriteFile(dir_ / "new/deeper/a.yaml", Manifest("x", "v:1"));
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  WriteFile(dir_ / "new/deeper/a.yaml", Manifest("x", "v:22"));
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "v:22");
}

TEST_P(ManifestSourceTest, DuplicatesFirstInPathAndDocumentOrderWins) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "from-a:1") + "---\n" + Manifest("x", "from-a:2"));
  WriteFile(dir_ / "b.yaml", Manifest("x", "from-b:1") + "---\n" + Manifest("y", "from-b:2"));
  Make();
  Run();
  EXPECT_EQ(Value("default/x"), "from-a:1");
  EXPECT_EQ(Value("default/y"), "from-b:2");
  auto errors = source_->errors();
  EXPECT_THAT(errors[dir_ / "a.yaml"],
              HasSubstr("document 2 (line 9): default/x is already declared by " +
                        (dir_ / "a.yaml") + " document 1; this one is ignored"));
  EXPECT_THAT(errors[dir_ / "b.yaml"], HasSubstr("default/x is already declared by"));
  EXPECT_EQ(LogLines("is already declared by"), 2);

  Run();
  EXPECT_EQ(LogLines("is already declared by"), 2);  // not repeated while nothing changes

  std::filesystem::remove(dir_ / "a.yaml");
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "from-b:1");
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, FirstScanEarlyPublicationsKeepTheFirstDeclaration) {
  // 500 documents per early publication (PublishNew adds only identities the store lacks): the
  // duplicates in b.yaml and c.yaml come in the second batch, and x stays a.yaml's.
  auto many = [](const std::string& prefix, int n) {
    std::string text;
    for (int i = 0; i < n; ++i) {
      text += "---\n" + Manifest(prefix + std::to_string(i), "10.0.0.1:80");
    }
    return text;
  };
  WriteFile(dir_ / "a.yaml", Manifest("x", "from-a:1") + many("a", 499));
  WriteFile(dir_ / "b.yaml", Manifest("x", "from-b:1") + "---\n" + Manifest("y", "from-b:2"));
  WriteFile(dir_ / "c.yaml", many("c", 499) + "---\n" + Manifest("x", "from-c:1"));
  Make();
  EXPECT_EQ(Run().size(), 1000u);
  EXPECT_TRUE(source_->synced());
  EXPECT_EQ(source_->store().size(), 1000u);
  EXPECT_EQ(Value("default/x"), "from-a:1");
  EXPECT_EQ(Value("default/y"), "from-b:2");
  auto errors = source_->errors();
  EXPECT_THAT(errors[dir_ / "b.yaml"], HasSubstr("default/x is already declared by"));
  EXPECT_THAT(errors[dir_ / "c.yaml"], HasSubstr("default/x is already declared by"));
}

struct BadFile {
  std::string name;
  std::string content;
  std::string error;
  int reads;  // how many reads the bad version costs
};

class BadFileTest : public ManifestSourceTest {};

std::vector<BadFile> BadFiles() {
  return {
      {"SyntaxError", Manifest("bad", "v:1") + "  x: [unclosed\n", "line ", 1},
      {"WrongType", Manifest("bad", "v:1") + "  ttlSeconds: ten\n",
       "spec.ttlSeconds (line 8): ", 1},
      {"MissingKey",
       "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: bad}\n"
       "spec: {value: \"v:1\"}\n",
       "spec.key", 1},
      {"TenMegabytes", std::string(10 << 20, '#'), "10485760 bytes, over the 1048576-byte limit",
       0},
      {"BinaryGarbage",
       std::string("\x7f"
                   "ELF\x02\x01\x01\x00\xff\xfe\x00\x01",
                   12),
       "binary content", 1},
      {"NotUtf8", "\xff\xfe\xfd garbage\n", "not UTF-8 text", 1},
      {"EtcdInManifestMode", Manifest("bad", "v:1") + "  etcd: {endpoints: [\"e:2379\"]}\n",
       "spec.etcd (line 8): not supported with --manifests", 1},
      {"ValueFromInManifestMode",
       "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata: {name: bad}\n"
       "spec:\n  key: k\n  valueFrom: {serviceRef: {name: s, port: \"80\"}}\n",
       "publishing a Service's endpoints needs a cluster", 1},
  };
}

TEST_P(ManifestSourceTest, BadFilesKeepTheLastGoodStateAndAreReportedOncePerChange) {
  for (const BadFile& bad : BadFiles()) {
    SCOPED_TRACE(bad.name);
    TempDir dir;
    std::string bad_path = dir / "bad.yaml";
    WriteFile(dir / "good.yaml", Manifest("good", "10.0.0.1:80"));
    WriteFile(bad_path, Manifest("bad", "10.0.0.2:80"));
    Make(dir.path());
    Run();
    ASSERT_EQ(Value("default/bad"), "10.0.0.2:80");
    ObjectPtr good = source_->store().Get("default/good");
    int64_t reads = source_->files_read();

    WriteFile(bad_path, bad.content);
    EXPECT_THAT(Run(), IsEmpty());
    EXPECT_EQ(Value("default/bad"), "10.0.0.2:80");
    EXPECT_EQ(source_->store().Get("default/good"), good);
    EXPECT_TRUE(source_->synced());
    auto errors = source_->errors();
    EXPECT_THAT(errors, ElementsAre(Key(bad_path)));
    EXPECT_THAT(errors[bad_path], HasSubstr(bad.error));
    EXPECT_EQ(source_->files_read(), reads + bad.reads);
    EXPECT_EQ(LogLines(bad_path + ": "), 1) << log_.str();
    EXPECT_EQ(LogLines("keeping its last good registrations (1)"), 1);

    Run(3s);  // several polls and rescans: no new report, no re-read
    EXPECT_EQ(LogLines(bad_path + ": "), 1);
    EXPECT_EQ(source_->files_read(), reads + bad.reads);

    WriteFile(bad_path, Manifest("bad", "10.0.0.3:8080"));
    EXPECT_THAT(Run(), ElementsAre("default/bad"));
    EXPECT_EQ(Value("default/bad"), "10.0.0.3:8080");
    EXPECT_THAT(source_->errors(), IsEmpty());
    source_.reset();
    log_.str("");
  }
}

TEST_P(ManifestSourceTest, EachChangeOfABadFileIsReportedAgain) {
  WriteFile(dir_ / "bad.yaml", "key: [\n");
  Make();
  Run();
  EXPECT_TRUE(source_->synced());
  EXPECT_EQ(LogLines(dir_ / "bad.yaml"), 1);
  WriteFile(dir_ / "bad.yaml", "key: [oops\n");
  Run();
  EXPECT_EQ(LogLines(dir_ / "bad.yaml"), 2);
  EXPECT_EQ(source_->store().size(), 0u);
}

TEST_P(ManifestSourceTest, NonRegularFileIsReported) {
  Make();
  Run();
  ASSERT_EQ(mkfifo((dir_ / "pipe.yaml").c_str(), 0644), 0);
  Run();
  EXPECT_THAT(source_->errors()[dir_ / "pipe.yaml"], HasSubstr("not a regular file"));
  EXPECT_EQ(LogLines("not a regular file"), 1);
  EXPECT_EQ(source_->files_read(), 0);
}

TEST_P(ManifestSourceTest, EditorBackupAndRenameSaveNeverRemoves) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  Make();
  Run();
  tracked_ = {"default/x"};
  // vim's default: move the original away, write a new file, delete the backup; slowly, so that
  // scans see each intermediate state.
  std::filesystem::rename(dir_ / "a.yaml", dir_ / "a.yaml~");
  std::vector<std::string> changed = RunUntilScan();
  EXPECT_THAT(source_->store().Get("default/x"), Not(nullptr));
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:8080"));
  std::filesystem::remove(dir_ / "a.yaml~");
  auto more = Run();
  changed.insert(changed.end(), more.begin(), more.end());
  EXPECT_THAT(changed, ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "10.0.0.1:8080");
  EXPECT_THAT(ever_absent_, IsEmpty());

  ReplaceFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:9"));  // write temp, rename over
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "10.0.0.1:9");
  EXPECT_THAT(ever_absent_, IsEmpty());
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, TruncateThenWriteNeverRemoves) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  Make();
  Run();
  tracked_ = {"default/x"};
  WriteFile(dir_ / "a.yaml", "");
  std::vector<std::string> changed = RunUntilScan();  // a scan sees the empty file
  EXPECT_THAT(source_->store().Get("default/x"), Not(nullptr));
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:8080"));
  auto more = Run();
  changed.insert(changed.end(), more.begin(), more.end());
  EXPECT_THAT(changed, ElementsAre("default/x"));
  EXPECT_EQ(Value("default/x"), "10.0.0.1:8080");
  EXPECT_THAT(ever_absent_, IsEmpty());
}

TEST_P(ManifestSourceTest, HalfWrittenMultiDocumentFileNeverRemoves) {
  std::string both = Manifest("x", "v:1") + "---\n" + Manifest("y", "v:2");
  WriteFile(dir_ / "a.yaml", both);
  Make();
  Run();
  tracked_ = {"default/x", "default/y"};
  WriteFile(dir_ / "a.yaml", Manifest("x", "v:1") + "---\n");  // the writer is not done yet
  EXPECT_THAT(RunUntilScan(), IsEmpty());
  WriteFile(dir_ / "a.yaml", both);
  EXPECT_THAT(Run(), IsEmpty());
  EXPECT_THAT(ever_absent_, IsEmpty());
}

TEST_P(ManifestSourceTest, FileThatStaysEmptyOrGoneIsRemovedAfterTheDebounce) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "v:1"));
  WriteFile(dir_ / "b.yaml", Manifest("y", "v:2"));
  Make();
  Run();
  WriteFile(dir_ / "a.yaml", "");
  std::filesystem::remove(dir_ / "b.yaml");
  EXPECT_THAT(RunUntilScan(), IsEmpty());  // seen, but not yet confirmed
  EXPECT_EQ(source_->store().size(), 2u);
  EXPECT_THAT(Run(), ElementsAre("default/x", "default/y"));
  EXPECT_EQ(source_->store().size(), 0u);
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, ConfigMapDataSwapIsOneChangeWithoutDoubleReads) {
  namespace fs = std::filesystem;
  WriteFile(dir_ / "..2026_01_01_00_00_00.1/a.yaml", Manifest("x", "10.0.0.1:80"));
  WriteFile(dir_ / "..2026_01_01_00_00_00.1/b.yaml", Manifest("y", "10.0.0.2:80"));
  fs::create_directory_symlink("..2026_01_01_00_00_00.1", dir_ / "..data");
  fs::create_symlink("..data/a.yaml", dir_ / "a.yaml");
  fs::create_symlink("..data/b.yaml", dir_ / "b.yaml");
  Make();
  EXPECT_THAT(Run(), ElementsAre("default/x", "default/y"));
  EXPECT_EQ(source_->files_read(), 2);
  tracked_ = {"default/x", "default/y"};

  // kubelet's atomic writer: new timestamped folder, `..data_tmp` symlink renamed over `..data`,
  // old folder removed.
  WriteFile(dir_ / "..2026_01_01_00_01_00.2/a.yaml", Manifest("x", "10.0.0.1:8080"));
  WriteFile(dir_ / "..2026_01_01_00_01_00.2/b.yaml", Manifest("y", "10.0.0.2:80"));
  fs::create_directory_symlink("..2026_01_01_00_01_00.2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  fs::remove_all(dir_ / "..2026_01_01_00_00_00.1");
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_EQ(source_->files_read(), 4);  // each visible file once, never through `..data/`
  EXPECT_EQ(Value("default/x"), "10.0.0.1:8080");
  EXPECT_EQ(Value("default/y"), "10.0.0.2:80");
  EXPECT_THAT(ever_absent_, IsEmpty());
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, MissingFolderAtStartIsNotSyncedUntilItAppears) {
  std::string folder = dir_ / "manifests";
  Make(folder);
  EXPECT_THAT(Run(), IsEmpty());
  EXPECT_FALSE(source_->synced());
  EXPECT_THAT(source_->errors()[folder], HasSubstr("cannot read the folder"));
  EXPECT_EQ(LogLines("cannot read the folder"), 1);  // once, not on every retry

  WriteFile(folder + "/a.yaml", Manifest("x", "v:1"));
  EXPECT_THAT(Run(), ElementsAre("default/x"));
  EXPECT_TRUE(source_->synced());
  EXPECT_THAT(source_->errors(), IsEmpty());
}

TEST_P(ManifestSourceTest, FolderLostAfterSyncRemovesNothing) {
  std::string folder = dir_ / "manifests";
  WriteFile(folder + "/a.yaml", Manifest("x", "v:1"));
  Make(folder);
  Run();
  ObjectPtr before = source_->store().Get("default/x");
  std::filesystem::rename(folder, dir_ / "elsewhere");
  EXPECT_THAT(Run(), IsEmpty());
  EXPECT_EQ(source_->store().Get("default/x"), before);
  EXPECT_THAT(source_->errors(), Contains(Key(folder)));
  EXPECT_TRUE(source_->synced());

  std::filesystem::rename(dir_ / "elsewhere", folder);
  EXPECT_THAT(Run(), IsEmpty());
  EXPECT_EQ(source_->store().Get("default/x"), before);
  EXPECT_THAT(source_->errors(), IsEmpty());
}

// inotify names the rewritten file, so a rewrite that keeps size, inode and (within one timestamp
// tick) mtime is still read.
class InotifyOnlyTest : public ManifestSourceTest {};

TEST_P(InotifyOnlyTest, SameSizeRewriteIsRead) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  Make();
  Run();
  for (int i = 2; i <= 5; ++i) {
    // Read the first rewrite right away (as a real scan could), then rewrite again at once, most
    // likely within the same timestamp tick.
    WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.0:80"));
    source_->Step();
    clock_.Advance(300ms);
    source_->Step();
    std::string value = "10.0.0." + std::to_string(i) + ":80";
    WriteFile(dir_ / "a.yaml", Manifest("x", value));
    Run();
    EXPECT_EQ(Value("default/x"), value);
  }
}

INSTANTIATE_TEST_SUITE_P(Watching, InotifyOnlyTest, ::testing::Values(true),
                         [](const auto&) { return "Inotify"; });

// Root ignores file permissions, so these scenarios run in a forked child that gives up root (as
// "nobody", owner of the test folder) when it has it. The child reports the first failed
// expectation through its exit code.
class ManifestSourcePermissionTest : public ManifestSourceTest {
 protected:
  static constexpr uid_t kNobody = 65534;

  void GiveFolderToNobody() {
    if (geteuid() != 0) {
      return;
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
      ASSERT_EQ(chown(entry.path().c_str(), kNobody, kNobody), 0);
    }
    ASSERT_EQ(chown(dir_.path().c_str(), kNobody, kNobody), 0);
  }
  static void DropRoot() {
    if (geteuid() == 0 && (setgid(kNobody) != 0 || setuid(kNobody) != 0)) {
      _exit(10);
    }
  }
};

TEST_P(ManifestSourcePermissionTest, UnreadableFileKeepsTheLastGoodState) {
  std::string bad = dir_ / "bad.yaml";
  WriteFile(dir_ / "good.yaml", Manifest("good", "v:1"));
  WriteFile(bad, Manifest("bad", "v:2"));
  GiveFolderToNobody();
  EXPECT_EXIT(
      {
        DropRoot();
        Make();
        Run();
        if (Value("default/bad") != "v:2") {
          _exit(11);
        }
        chmod(bad.c_str(), 0);
        if (!Run().empty() || Value("default/bad") != "v:2" || Value("default/good") != "v:1") {
          _exit(12);
        }
        if (source_->errors()[bad].find("Permission denied") == std::string::npos) {
          _exit(13);
        }
        Run(3s);
        if (LogLines(bad + ": ") != 1) {
          _exit(14);
        }
        chmod(bad.c_str(), 0644);
        if (!Run().empty() || !source_->errors().empty() || Value("default/bad") != "v:2") {
          _exit(15);
        }
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_P(ManifestSourcePermissionTest, UnreadableFolderAtStartIsNotSyncedUntilFixed) {
  std::string folder = dir_ / "manifests";
  WriteFile(folder + "/a.yaml", Manifest("x", "v:1"));
  GiveFolderToNobody();
  EXPECT_EXIT(
      {
        DropRoot();
        chmod(folder.c_str(), 0);
        Make(folder);
        if (!Run().empty() || source_->synced() || source_->store().size() != 0) {
          _exit(11);
        }
        if (source_->errors()[folder].find("Permission denied") == std::string::npos) {
          _exit(12);
        }
        chmod(folder.c_str(), 0755);
        if (Run() != std::vector<std::string>{"default/x"} || !source_->synced()) {
          _exit(13);
        }
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Watching, ManifestSourcePermissionTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Inotify" : "Polling"; });

}  // namespace
}  // namespace registrar::source
