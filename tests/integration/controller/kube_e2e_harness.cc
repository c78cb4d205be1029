#include "tests/integration/controller/kube_e2e_harness.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

constexpr auto kObjectPoll = std::chrono::milliseconds(100);
constexpr auto kEtcdPoll = std::chrono::milliseconds(50);

}  // namespace

KubeControlPlane* KubeE2eTest::plane_ = nullptr;

std::string Sreg(const std::string& name, const std::string& ns, const std::string& spec,
                 const std::string& metadata) {
  return absl::StrCat("apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\n",
                      "metadata:\n  name: ", name, "\n  namespace: ", ns, "\n", metadata,
                      "spec:\n", spec);
}

nlohmann::json Condition(const nlohmann::json& object, const std::string& type) {
  const nlohmann::json* conditions = nullptr;
  if (object.contains("status") && object["status"].contains("conditions")) {
    conditions = &object["status"]["conditions"];
  }
  if (conditions == nullptr || !conditions->is_array()) {
    return nlohmann::json::object();
  }
  for (const nlohmann::json& c : *conditions) {
    if (c.is_object() && c.value("type", "") == type) {
      return c;
    }
  }
  return nlohmann::json::object();
}

bool IsReady(const nlohmann::json& object) {
  const nlohmann::json status = object.value("status", nlohmann::json::object());
  const nlohmann::json ready = Condition(object, "Ready");
  return status.value("phase", "") == "Registered" && ready.value("status", "") == "True" &&
         status.value("observedGeneration", int64_t{-1}) ==
             object["metadata"].value("generation", int64_t{0});
}

int64_t LeaseOf(const nlohmann::json& object) {
  int64_t lease = 0;
  if (object.contains("status") && object["status"].contains("leaseID") &&
      object["status"]["leaseID"].is_string()) {
    if (!absl::SimpleAtoi(object["status"]["leaseID"].get<std::string>(), &lease)) {
      return 0;
    }
  }
  return lease;
}

void KubeE2eTest::SetUpTestSuite() {
  auto plane = KubeControlPlane::Shared();
  ASSERT_THAT(plane, IsOk());
  plane_ = *plane;
  auto applied = plane_->Kubectl({"apply", "-f", SourcePath("crds/serviceregistrations.yaml")});
  ASSERT_THAT(applied, IsOk());
  ASSERT_THAT(plane_->Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                               "crd/serviceregistrations.registrar.dev"}),
              IsOk());
}

void KubeE2eTest::SetUp() {
  ASSERT_NE(plane_, nullptr) << "the control plane did not start (see SetUpTestSuite)";
  auto etcd = EtcdProcess::Start(etcd_options());
  ASSERT_THAT(etcd, IsOk());
  etcd_ = *std::move(etcd);
  tmp_ = std::make_unique<TempDir>("er-kube-e2e");
  ASSERT_FALSE(tmp_->path().empty());
  auto ns = plane_->CreateNamespace("kc");
  ASSERT_THAT(ns, IsOk());
  ns_ = *ns;
}

std::vector<std::string> KubeE2eTest::KubeArgs(const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {"--kubeconfig",     plane_->admin_kubeconfig(),
                                   "--namespace",      ns_,
                                   "--etcd-endpoints", etcd_->endpoint(),
                                   "--owner-id",       owner_id(),
                                   "--log-level",      "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::unique_ptr<ControllerProcess> KubeE2eTest::StartController(
    const std::vector<std::string>& args, const std::vector<std::string>& env, int http_port) {
  auto controller = ControllerProcess::Start(args, env, http_port);
  if (!controller.ok()) {
    ADD_FAILURE() << controller.status();
    return nullptr;
  }
  return *std::move(controller);
}

absl::StatusOr<std::string> KubeE2eTest::Kubectl(const std::vector<std::string>& args) const {
  return plane_->Kubectl(args);
}

absl::Status KubeE2eTest::Apply(const std::string& yaml) const { return plane_->Apply(yaml); }

absl::Status KubeE2eTest::MergePatch(const std::string& name, const std::string& patch) const {
  return Kubectl({"patch", "sreg", name, "-n", ns_, "--type", "merge", "-p", patch}).status();
}

absl::StatusOr<nlohmann::json> KubeE2eTest::Object(const std::string& name) const {
  auto out = plane_->RunKubectl({"get", "sreg", name, "-n", ns_, "-o", "json"});
  if (!out.ok()) {
    return out.status();
  }
  if (out->exit_code != 0) {
    if (absl::StrContains(out->err, "NotFound") || absl::StrContains(out->err, "not found")) {
      return absl::NotFoundError(out->err);
    }
    return absl::UnavailableError(absl::StrCat("kubectl get sreg ", name, ": ", out->err));
  }
  nlohmann::json doc = nlohmann::json::parse(out->out, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::DataLossError(absl::StrCat("kubectl get -o json: not JSON: ", out->out));
  }
  return doc;
}

absl::StatusOr<nlohmann::json> KubeE2eTest::WaitForObject(
    const std::string& name, const std::function<bool(const nlohmann::json&)>& accept,
    Duration timeout) {
  nlohmann::json found;
  std::string last = "not read yet";
  const bool ok = WaitFor(
      [&] {
        absl::StatusOr<nlohmann::json> object = Object(name);
        if (!object.ok()) {
          last = std::string(object.status().message());
          return false;
        }
        last = object->dump();
        if (!accept(*object)) {
          return false;
        }
        found = *std::move(object);
        return true;
      },
      timeout, kObjectPoll);
  if (!ok) {
    return absl::DeadlineExceededError(
        absl::StrCat(ns_, "/", name, " not as expected in time; last seen: ", last));
  }
  return found;
}

absl::Status KubeE2eTest::WaitForObjectGone(const std::string& name, Duration timeout) {
  std::string last;
  const bool gone = WaitFor(
      [&] {
        absl::StatusOr<nlohmann::json> object = Object(name);
        last = object.ok() ? object->dump() : std::string(object.status().message());
        return object.status().code() == absl::StatusCode::kNotFound;
      },
      timeout, kObjectPoll);
  if (!gone) {
    return absl::DeadlineExceededError(absl::StrCat(ns_, "/", name, " still there: ", last));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredKv> KubeE2eTest::WaitForKey(
    const std::string& prefix, Duration timeout,
    const std::function<bool(const StoredKv&)>& accept) {
  StoredKv found;
  std::string last = "not read yet";
  const bool ok = WaitFor(
      [&] {
        absl::StatusOr<std::vector<StoredKv>> kvs = inspect().Get(prefix);
        if (!kvs.ok()) {
          last = std::string(kvs.status().message());
          return false;
        }
        last = Describe(*kvs);
        if (kvs->size() != 1 || (accept && !accept(kvs->front()))) {
          return false;
        }
        found = kvs->front();
        return true;
      },
      timeout, kEtcdPoll);
  if (!ok) {
    return absl::DeadlineExceededError(
        absl::StrCat("no single acceptable key under '", prefix, "' in time; last seen: ", last));
  }
  return found;
}

absl::Status KubeE2eTest::WaitForNoKey(const std::string& prefix, Duration timeout) {
  std::string last;
  const bool ok = WaitFor(
      [&] {
        absl::StatusOr<std::vector<StoredKv>> kvs = inspect().Get(prefix);
        last = kvs.ok() ? Describe(*kvs) : std::string(kvs.status().message());
        return kvs.ok() && kvs->empty();
      },
      timeout, kEtcdPoll);
  if (!ok) {
    return absl::DeadlineExceededError(absl::StrCat("keys still under '", prefix, "': ", last));
  }
  return absl::OkStatus();
}

std::unique_ptr<EtcdWatchRecorder> KubeE2eTest::Record(const std::string& prefix) {
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(*etcd_), prefix);
  if (!recorder.ok()) {
    ADD_FAILURE() << recorder.status();
    return nullptr;
  }
  return *std::move(recorder);
}

}  // namespace registrar::testing
