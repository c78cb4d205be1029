// The manifest source on its own thread with the real clock: inotify and polling latency, the
// change handler, Start/Stop. Short real waits with deadlines; each test well under 3 s.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/common/clock.h"
#include "controller/source/manifest_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"
#include "tests/unit/source/test_files.h"

namespace registrar::source {
namespace {

using ::registrar::source::testing::Manifest;
using ::registrar::source::testing::TempDir;
using ::registrar::source::testing::WriteFile;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

// Records every handler call.
class Recorder {
 public:
  Source::ChangeHandler Handler() {
    return [this](const std::vector<std::string>& identities) {
      absl::MutexLock lock(&mu_);
      calls_.push_back(identities);
    };
  }
  std::vector<std::vector<std::string>> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::vector<std::string>> calls_ ABSL_GUARDED_BY(mu_);
};

// How long `condition` took to hold; fails the test (and returns the timeout) when it did not
// hold within `timeout`.
std::chrono::milliseconds TimeUntil(const std::function<bool()>& condition,
                                    std::chrono::milliseconds timeout = 1500ms) {
  const auto start = std::chrono::steady_clock::now();
  if (!registrar::testing::WaitFor(condition, timeout)) {
    ADD_FAILURE() << "condition not met within " << timeout.count() << " ms";
    return timeout;
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

class ManifestSourceLiveTest : public ::testing::TestWithParam<bool> {
 protected:
  void Start() {
    ManifestSourceOptions options;
    options.dir = dir_.path();
    options.use_inotify = GetParam();
    auto created = ManifestSource::Create(options, RealClock::Get());
    ASSERT_THAT(created, registrar::testing::IsOk());
    source_ = *std::move(created);
    source_->Start(recorder_.Handler());
  }
  std::string Value(const std::string& identity) const {
    ObjectPtr object = source_->store().Get(identity);
    return object == nullptr ? "<absent>" : object->spec.value.value_or("");
  }

  TempDir dir_;
  Recorder recorder_;
  std::unique_ptr<ManifestSource> source_;
};

INSTANTIATE_TEST_SUITE_P(Watching, ManifestSourceLiveTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Inotify" : "Polling"; });

TEST_P(ManifestSourceLiveTest, ChangesArriveWithinASecond) {
  Start();
  ASSERT_TRUE(registrar::testing::WaitFor([&] { return source_->synced(); }, 1500ms));
  EXPECT_EQ(source_->watching(), GetParam());
  // Synced with nothing in the folder: the handler still hears about it, with no identities.
  EXPECT_THAT(recorder_.calls(), ElementsAre(IsEmpty()));

  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:80"));
  EXPECT_LT(TimeUntil([&] { return Value("default/x") == "10.0.0.1:80"; }), 1000ms);
  WriteFile(dir_ / "a.yaml", Manifest("x", "10.0.0.1:8080"));
  EXPECT_LT(TimeUntil([&] { return Value("default/x") == "10.0.0.1:8080"; }), 1000ms);
  std::filesystem::remove(dir_ / "a.yaml");
  EXPECT_LT(TimeUntil([&] { return Value("default/x") == "<absent>"; }), 1000ms);

  source_->Stop();
  EXPECT_THAT(recorder_.calls(), ElementsAre(IsEmpty(), ElementsAre("default/x"),
                                             ElementsAre("default/x"), ElementsAre("default/x")));
}

TEST_P(ManifestSourceLiveTest, HandlerSeesTheInitialListingOnceSynced) {
  WriteFile(dir_ / "a.yaml", Manifest("x", "v:1") + "---\n" + Manifest("y", "v:2"));
  Start();
  ASSERT_TRUE(registrar::testing::WaitFor([&] { return !recorder_.calls().empty(); }, 1500ms));
  ASSERT_TRUE(source_->synced());
  EXPECT_THAT(recorder_.calls(), Contains(ElementsAre("default/x", "default/y")));
  EXPECT_EQ(source_->store().size(), 2u);
}

TEST_P(ManifestSourceLiveTest, MissingFolderBecomesSyncedOnceCreated) {
  TempDir parent;
  ManifestSourceOptions options;
  options.dir = parent / "manifests";
  options.use_inotify = GetParam();
  auto created = ManifestSource::Create(options, RealClock::Get());
  ASSERT_THAT(created, registrar::testing::IsOk());
  source_ = *std::move(created);
  source_->Start(recorder_.Handler());
  // Two scans that found no folder: the source has looked, and still waits.
  ASSERT_TRUE(registrar::testing::WaitFor(
      [&] { return source_->scans() >= 2 && source_->errors().count(options.dir) == 1; }, 3s))
      << "scans: " << source_->scans();
  EXPECT_FALSE(source_->synced());
  EXPECT_THAT(recorder_.calls(), IsEmpty());

  WriteFile(parent / "manifests/a.yaml", Manifest("x", "v:1"));
  EXPECT_LT(TimeUntil([&] { return source_->synced(); }), 1000ms);
  EXPECT_EQ(Value("default/x"), "v:1");
}

TEST_P(ManifestSourceLiveTest, StopIsPromptAndIdempotent) {
  Start();
  ASSERT_TRUE(registrar::testing::WaitFor([&] { return source_->synced(); }, 1500ms));
  auto start = std::chrono::steady_clock::now();
  source_->Stop();
  source_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
}

}  // namespace
}  // namespace registrar::source
