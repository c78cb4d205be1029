// The controller's exit in Kubernetes mode: the binary against the real kube-apiserver (its
// HTTPS client, so cpprestsdk's thread pool and OpenSSL's per-thread state on the pool's threads),
// one registration Ready, then SIGTERM. It must exit 0 within the stop budget, leave the
// registration in etcd (a SIGTERM does not revoke; the next controller adopts), and, in the
// sanitizer build (`make sanitize-run`), exit without a LeakSanitizer report: LSan makes the exit
// code non-zero and writes build-clang/sanitizer-reports/<test>.etcd-registrar.<pid>.
// Before the fix (3 December 2026) the instrumented binary reported OpenSSL's per-thread state of
// the pool's threads at exit (docs/testing.md, "The sanitizer build").
#include <chrono>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/controller/kube_e2e_harness.h"
#include "tests/testing/status_matchers.h"

namespace registrar::testing {
namespace {

using std::chrono::seconds;

class KubeExitTest : public KubeE2eTest {};

TEST_F(KubeExitTest, SigtermExitsZeroWithoutLeaksAndKeepsTheRegistration) {
  const std::string key = ns() + ".rpc";
  ASSERT_THAT(Apply(Sreg("exit-test-registration", ns(),
                         absl::StrCat("  key: ", key, "\n  value: \"10.0.0.1:8080\"\n"))),
              IsOk());
  auto controller = StartController(KubeArgs());
  ASSERT_NE(controller, nullptr);
  ASSERT_THAT(controller->WaitReady(seconds(60)), IsOk());
  ASSERT_THAT(WaitForObject("exit-test-registration", IsReady, seconds(30)), IsOk())
      << controller->Describe();
  auto registered = WaitForKey(key + "/", seconds(30));
  ASSERT_THAT(registered, IsOk()) << controller->Describe();

  auto code = controller->Terminate(seconds(30));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0) << "a sanitizer report at exit makes the code non-zero (see "
                         "build-clang/sanitizer-reports/)\n"
                      << controller->Describe();
  EXPECT_TRUE(controller->LogContains("stopping")) << controller->Describe();
  // Not revoked: the key is still there on its lease.
  auto kept = WaitForKey(key + "/", seconds(1));
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(kept->lease, registered->lease);
}

}  // namespace
}  // namespace registrar::testing
