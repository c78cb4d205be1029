// Real kubectl against the real kube-apiserver 1.34 (one control plane, a namespace per kubectl
// version): kubectl 1.34 (${ER_SOURCE_DIR}/.tools/kubectl-v34/kubectl,
// installed by scripts/install-tools.sh) and the image's /usr/lib/google-cloud-sdk/bin/kubectl.1.32.
// A missing binary fails the test with a message; it is never skipped.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/integration/kube/kube_api_harness.h"
#include "tests/testing/temp_dir.h"

namespace registrar::kube_testing {
namespace {

using json = nlohmann::json;
using registrar::testing::ChildProcess;
using std::chrono::seconds;

struct Result {
  int rc = -1;
  std::string out;
  std::string err;
};

std::string Kubectl134() {
  const char* src = std::getenv("ER_SOURCE_DIR");
  return std::string(src ? src : ".") + "/.tools/kubectl-v34/kubectl";
}

class KubectlTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    binary_ = GetParam() == "1.34" ? Kubectl134() : "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";
    struct stat st;
    ASSERT_TRUE(stat(binary_.c_str(), &st) == 0 && (st.st_mode & S_IXUSR))
        << "kubectl " << GetParam() << " is missing at " << binary_
        << (GetParam() == "1.34" ? " (run scripts/install-tools.sh, which `make test` does)" : "");
    server_ = Backend::Start();
    ASSERT_NE(server_, nullptr);
    // One real control plane serves both kubectl versions: each gets its own namespace.
    ns_ = GetParam() == "1.34" ? "kubectl134" : "kubectl132";
    ASSERT_TRUE(CreateNamespace(server_->http(), ns_));
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
  }

  std::vector<std::string> Args(std::vector<std::string> args) const {
    std::vector<std::string> all = server_->KubectlConnectionArgs();
    all.insert(all.end(), {"--cache-dir", dir_ + "/cache", "--namespace", ns_});
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }
  std::unique_ptr<ChildProcess> Start(std::vector<std::string> args) const {
    auto child = ChildProcess::Start(binary_, Args(std::move(args)));
    EXPECT_TRUE(child.ok()) << child.status();
    return child.ok() ? std::move(*child) : nullptr;
  }
  Result Run(std::vector<std::string> args) const {
    auto child = Start(args);
    if (!child) return {};
    auto rc = child->Wait(seconds(30));
    return {rc.value_or(-1), child->Output(), child->Stderr()};
  }
  std::string File(const std::string& name, const std::string& text) const {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string Cr(const std::string& name, const std::string& value, const std::string& extra = "") {
    return File(name + ".yaml", "apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\n"
                                "metadata:\n  name: " + name + "\nspec:\n  key: /services/" + name +
                                    "\n  value: \"" + value + "\"\n" + extra);
  }
  json Get(const std::string& name) const {
    return server_->http()
        .Get("/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations/" + name)
        .json();
  }
  int GetStatus(const std::string& name) const {
    return server_->http()
        .Get("/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations/" + name)
        .status;
  }

  std::string binary_;
  std::unique_ptr<Backend> server_;
  registrar::testing::TempDir temp_{"er-kubectl"};
  std::string dir_;
  std::string ns_;
};

#define EXPECT_OK(r) EXPECT_EQ((r).rc, 0) << "stdout: " << (r).out << "\nstderr: " << (r).err

TEST_P(KubectlTest, MainSequence) {
  const char* src = std::getenv("ER_SOURCE_DIR");
  std::string crd = std::string(src ? src : ".") + "/crds/serviceregistrations.yaml";
  Result r = Run({"apply", "-f", crd});
  EXPECT_OK(r);
  // "created" the first time; the second kubectl version on the same real server sees it there.
  EXPECT_NE(r.out.find("customresourcedefinition.apiextensions.k8s.io/serviceregistrations.registrar.dev"),
            std::string::npos) << r.out;
  EXPECT_OK(Run({"wait", "--for=condition=Established", "--timeout=30s",
                 "crd/serviceregistrations.registrar.dev"}));

  std::string demo = Cr("demo", "10.0.0.1:8080");
  r = Run({"apply", "-f", demo});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("serviceregistration.registrar.dev/demo created"), std::string::npos) << r.out;
  r = Run({"apply", "-f", demo});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("serviceregistration.registrar.dev/demo unchanged"), std::string::npos) << r.out;

  // get shows the CRD's printer columns.
  r = Run({"get", "sreg"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  for (const char* col : {"KEY", "VALUE", "PAUSED", "PHASE", "FULL KEY", "AGE"}) {
    EXPECT_NE(r.out.find(col), std::string::npos) << col << " missing in:\n" << r.out;
  }
  EXPECT_NE(r.out.find("/services/demo"), std::string::npos) << r.out;
  r = Run({"get", "sreg", "demo", "-o", "yaml"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("kind: ServiceRegistration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ttlSeconds: 10"), std::string::npos) << r.out;  // defaulted

  // get -w prints a row for a change.
  auto watch = Start({"get", "sreg", "-w"});
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(watch->WaitForOutput("/services/demo", seconds(10)).ok()) << watch->Describe();
  r = Run({"patch", "sreg", "demo", "--type", "merge", "-p", R"({"spec":{"value":"10.0.0.2:1"}})"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("patched"), std::string::npos);
  EXPECT_TRUE(watch->WaitForOutput("10.0.0.2:1", seconds(10)).ok()) << watch->Describe();
  watch->Kill();
  EXPECT_EQ(Get("demo")["spec"]["value"], "10.0.0.2:1");

  r = Run({"patch", "sreg", "demo", "--type", "json", "-p",
           R"([{"op":"replace","path":"/spec/value","value":"10.0.0.3:1"}])"});
  EXPECT_OK(r);
  EXPECT_EQ(Get("demo")["spec"]["value"], "10.0.0.3:1");
  r = Run({"patch", "sreg", "demo", "-p", R"({"spec":{"paused":true}})"});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("application/strategic-merge-patch+json is not supported"), std::string::npos)
      << r.err;

  r = Run({"label", "sreg", "demo", "app=demo1"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("labeled"), std::string::npos);
  EXPECT_EQ(Get("demo")["metadata"]["labels"]["app"], "demo1");
  r = Run({"get", "sreg", "-l", "app=demo1", "-o", "name"});
  EXPECT_OK(r);
  EXPECT_EQ(r.out, "serviceregistration.registrar.dev/demo\n");

  // wait --for=condition=Ready: met only once status reports the current generation.
  auto wait = Start({"wait", "--for=condition=Ready", "sreg/demo", "--timeout=30s"});
  ASSERT_NE(wait, nullptr);
  int64_t gen = Get("demo")["metadata"]["generation"];
  json stale_status = {{"status", {{"observedGeneration", gen - 1},
                                   {"conditions", {{{"type", "Ready"}, {"status", "True"},
                                                    {"reason", "Registered"}, {"message", "ok"},
                                                    {"observedGeneration", gen - 1},
                                                    {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
  r = Run({"patch", "sreg", "demo", "--subresource", "status", "--type", "merge", "-p",
           stale_status.dump()});
  EXPECT_OK(r);
  EXPECT_FALSE(wait->Wait(std::chrono::milliseconds(1500)).has_value())
      << "wait ended on a stale observedGeneration: " << wait->Describe();
  json ready = stale_status;
  ready["status"]["observedGeneration"] = gen;
  ready["status"]["conditions"][0]["observedGeneration"] = gen;
  r = Run({"patch", "sreg", "demo", "--subresource", "status", "--type", "merge", "-p", ready.dump()});
  EXPECT_OK(r);
  EXPECT_EQ(wait->Wait(seconds(20)), 0) << wait->Describe();
  EXPECT_NE(wait->Output().find("condition met"), std::string::npos) << wait->Describe();

  // describe shows core/v1 events of the object.
  json event = {{"apiVersion", "v1"}, {"kind", "Event"}, {"metadata", {{"name", "demo.1"}}},
                {"involvedObject", {{"kind", "ServiceRegistration"}, {"namespace", ns_},
                                    {"name", "demo"}, {"uid", Get("demo")["metadata"]["uid"]},
                                    {"apiVersion", "registrar.dev/v1alpha1"}}},
                {"reason", "LeaseGranted"}, {"message", "registered under lease 42"},
                {"type", "Normal"}, {"count", 1}, {"source", {{"component", "etcd-registrar"}}},
                {"firstTimestamp", "2026-01-01T00:00:00Z"}, {"lastTimestamp", "2026-01-01T00:00:00Z"}};
  ASSERT_EQ(server_->http().Post("/api/v1/namespaces/" + ns_ + "/events", event).status, 201);
  r = Run({"describe", "sreg", "demo"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("LeaseGranted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("registered under lease 42"), std::string::npos) << r.out;

  // delete with a finalizer pending waits until the finalizer is removed.
  r = Run({"patch", "sreg", "demo", "--type", "merge", "-p",
           R"({"metadata":{"finalizers":["registrar.dev/cleanup"]}})"});
  EXPECT_OK(r);
  auto del = Start({"delete", "sreg", "demo"});
  ASSERT_NE(del, nullptr);
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!Get("demo")["metadata"].contains("deletionTimestamp") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(Get("demo")["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE(del->Wait(std::chrono::milliseconds(1000)).has_value())
      << "delete returned while a finalizer was pending: " << del->Describe();
  r = Run({"patch", "sreg", "demo", "--type", "json", "-p",
           R"([{"op":"remove","path":"/metadata/finalizers"}])"});
  EXPECT_OK(r);
  EXPECT_EQ(del->Wait(seconds(20)), 0) << del->Describe();
  EXPECT_NE(del->Output().find("deleted"), std::string::npos) << del->Describe();
  EXPECT_EQ(GetStatus("demo"), 404);

  // delete without finalizers.
  EXPECT_OK(Run({"apply", "-f", Cr("plain", "1.2.3.4:5")}));
  r = Run({"delete", "sreg", "plain"});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("deleted"), std::string::npos);
  EXPECT_EQ(GetStatus("plain"), 404);

  // apply --server-side creates, then updates.
  std::string ssa = Cr("ssa", "9.9.9.9:9");
  r = Run({"apply", "--server-side", "-f", ssa});
  EXPECT_OK(r);
  EXPECT_NE(r.out.find("serverside-applied"), std::string::npos) << r.out;
  r = Run({"apply", "--server-side", "-f", Cr("ssa", "9.9.9.9:10")});
  EXPECT_OK(r);
  EXPECT_EQ(Get("ssa")["spec"]["value"], "9.9.9.9:10");
  EXPECT_EQ(Get("ssa")["metadata"]["generation"], 2);

  // create twice: AlreadyExists.
  std::string twice = Cr("twice", "1.1.1.1:1");
  EXPECT_OK(Run({"create", "-f", twice}));
  r = Run({"create", "-f", twice});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("AlreadyExists"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("serviceregistrations.registrar.dev \"twice\" already exists"), std::string::npos)
      << r.err;

  // An invalid resource is rejected, naming the field.
  r = Run({"apply", "-f", Cr("bad", "1.1.1.1:1", "  ttlSeconds: 2\n")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("spec.ttlSeconds"), std::string::npos) << r.err;
  EXPECT_EQ(GetStatus("bad"), 404);
  r = Run({"apply", "-f", Cr("unknown", "1.1.1.1:1", "  bogus: 1\n")});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("unknown field \"spec.bogus\""), std::string::npos) << r.err;

}

INSTANTIATE_TEST_SUITE_P(Versions, KubectlTest, ::testing::Values("1.34", "1.32"),
                         [](const auto& info) { return "kubectl_" + std::string(info.param == "1.34" ? "134" : "132"); });

}  // namespace
}  // namespace registrar::kube_testing
