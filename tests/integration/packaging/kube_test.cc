// The chart and deploy/ applied to the real kube-apiserver (one control plane for the binary,
// KubeControlPlane::Shared): `helm install` / `helm upgrade` / `helm uninstall`, `kubectl apply -k
// deploy/` and the namespaced overlay. Every object must be accepted (there is no kubelet, so a
// Deployment is accepted and never runs), and `kubectl auth can-i --as` the ServiceAccount says
// yes to each verb the controller needs and no to what it must not have.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/packaging/packaging_harness.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {
namespace {

using ::testing::HasSubstr;

// (verb, resource, subresource) the controller needs.
struct Access {
  std::string verb;
  std::string resource;
  std::string subresource;
};

const std::vector<Access>& Needed() {
  static const auto* needed = new std::vector<Access>{
      {"get", "serviceregistrations.registrar.dev", ""},
      {"list", "serviceregistrations.registrar.dev", ""},
      {"watch", "serviceregistrations.registrar.dev", ""},
      {"patch", "serviceregistrations.registrar.dev", ""},
      {"update", "serviceregistrations.registrar.dev", ""},
      {"get", "serviceregistrations.registrar.dev", "status"},
      {"patch", "serviceregistrations.registrar.dev", "status"},
      {"update", "serviceregistrations.registrar.dev", "status"},
      {"update", "serviceregistrations.registrar.dev", "finalizers"},
      {"create", "events", ""},
      {"patch", "events", ""},
      {"get", "secrets", ""},
  };
  return *needed;
}

const std::vector<Access>& Forbidden() {
  static const auto* forbidden = new std::vector<Access>{
      {"list", "secrets", ""},
      {"watch", "secrets", ""},
      {"get", "pods", ""},
      {"list", "pods", ""},
      {"create", "pods", ""},
      {"delete", "pods", ""},
      {"delete", "serviceregistrations.registrar.dev", ""},
      {"create", "serviceregistrations.registrar.dev", ""},
      {"get", "namespaces", ""},
      {"list", "configmaps", ""},
  };
  return *forbidden;
}

// The words of a shell command line: split at blanks, '...' quoted (the README's quoting).
std::vector<std::string> ShellWords(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool any = false;
  for (char c : line) {
    if (c == '\'') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (any) {
        words.push_back(word);
      }
      word.clear();
      any = false;
    } else {
      word.push_back(c);
      any = true;
    }
  }
  if (any) {
    words.push_back(word);
  }
  return words;
}

// The command lines of the first ```sh block after "## Install in Kubernetes" in README.md.
std::vector<std::string> ReadmeInstallCommands() {
  const std::string readme = ReadText(SourcePath("README.md"));
  std::vector<std::string> commands;
  const size_t section = readme.find("## Install in Kubernetes");
  if (section == std::string::npos) {
    return commands;
  }
  const size_t begin = readme.find("```sh\n", section);
  const size_t end = readme.find("```\n", begin + 6);
  if (begin == std::string::npos || end == std::string::npos) {
    return commands;
  }
  for (absl::string_view line :
       absl::StrSplit(readme.substr(begin + 6, end - begin - 6), '\n', absl::SkipEmpty())) {
    commands.emplace_back(line);
  }
  return commands;
}

class PackagingKubeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto plane = KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
  }
  void SetUp() override {
    auto plane = KubeControlPlane::Shared();
    ASSERT_TRUE(plane.ok()) << plane.status();
    plane_ = *plane;
  }

  // helm with the admin kubeconfig and its caches in the test's temp dir.
  CommandOutput Helm(std::vector<std::string> args) {
    args.insert(args.end(), {"--kubeconfig", plane_->admin_kubeconfig()});
    auto out = RunCommand(
        HelmPath(), args,
        {"HELM_CACHE_HOME=" + (home_ / "cache"), "HELM_CONFIG_HOME=" + (home_ / "config"),
         "HELM_DATA_HOME=" + (home_ / "data")});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : CommandOutput{};
  }

  // `kubectl auth can-i` as the ServiceAccount: "yes" or "no" (anything else fails the test).
  std::string CanI(const std::string& sa_ns, const std::string& sa, const Access& access,
                   const std::string& ns) {
    std::vector<std::string> args = {
        "auth",          "can-i", access.verb,
        access.resource, "--as",  absl::StrCat("system:serviceaccount:", sa_ns, ":", sa)};
    if (!access.subresource.empty()) {
      args.push_back("--subresource=" + access.subresource);
    }
    if (ns.empty()) {
      args.push_back("--all-namespaces");
    } else {
      args.insert(args.end(), {"-n", ns});
    }
    auto out = plane_->RunKubectl(args);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripAsciiWhitespace(out->out)) : "";
  }

  // Yes for every needed verb in `ns` ("" = all namespaces), no for every forbidden one.
  void ExpectLeastPrivilege(const std::string& sa_ns, const std::string& sa,
                            const std::string& ns) {
    for (const Access& access : Needed()) {
      EXPECT_EQ(CanI(sa_ns, sa, access, ns), "yes")
          << access.verb << " " << access.resource << "/" << access.subresource << " in " << ns;
    }
    for (const Access& access : Forbidden()) {
      EXPECT_EQ(CanI(sa_ns, sa, access, ns), "no")
          << access.verb << " " << access.resource << " in " << ns;
    }
  }

  bool Exists(const std::vector<std::string>& what) {
    auto out = plane_->RunKubectl(what);
    EXPECT_TRUE(out.ok()) << out.status();
    if (out.ok() && out->exit_code != 0) {
      EXPECT_THAT(out->err, HasSubstr("NotFound"));
    }
    return out.ok() && out->exit_code == 0;
  }

  std::string Jsonpath(const std::vector<std::string>& what, const std::string& path) {
    std::vector<std::string> args = what;
    args.push_back("-o=jsonpath=" + path);
    auto out = plane_->Kubectl(args);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }

  KubeControlPlane* plane_ = nullptr;
  TempDir home_{"er-helm-home"};
};

TEST_F(PackagingKubeTest, HelmInstallUpgradeUninstall) {
  auto ns = plane_->CreateNamespace("helm");
  ASSERT_TRUE(ns.ok()) << ns.status();
  const std::string chart = ChartDir();
  CommandOutput install =
      Helm({"install", "reg", chart, "-n", *ns, "--set", "etcd.endpoints={127.0.0.1:2379}"});
  ASSERT_EQ(install.exit_code, 0) << install.err;
  EXPECT_THAT(install.out, HasSubstr("Check that it works"));
  EXPECT_THAT(install.out, HasSubstr("Owner id: helm-" + *ns + "-reg"));
  EXPECT_TRUE(Exists({"get", "crd", "serviceregistrations.registrar.dev"}));
  for (const char* kind : {"deployment", "serviceaccount", "service"}) {
    EXPECT_TRUE(Exists(
        {"get", kind, "-n", *ns,
         std::string(kind) == "service" ? "reg-etcd-registrar-metrics" : "reg-etcd-registrar"}))
        << kind;
  }
  EXPECT_TRUE(Exists({"get", "clusterrole", "reg-etcd-registrar"}));
  EXPECT_TRUE(Exists({"get", "clusterrolebinding", "reg-etcd-registrar"}));
  ExpectLeastPrivilege(*ns, "reg-etcd-registrar", "");

  // Upgrade to a namespaced install: the ClusterRole goes, a Role in the namespace comes; the
  // owner id stays (it is per release).
  CommandOutput upgrade =
      Helm({"upgrade", "reg", chart, "-n", *ns, "--set", "etcd.endpoints={127.0.0.1:2379}", "--set",
            "watch.namespace=" + *ns, "--set", "logLevel=debug"});
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.err;
  EXPECT_FALSE(Exists({"get", "clusterrole", "reg-etcd-registrar"}));
  EXPECT_TRUE(Exists({"get", "role", "reg-etcd-registrar", "-n", *ns}));
  const std::string args = Jsonpath({"get", "deployment", "reg-etcd-registrar", "-n", *ns},
                                    "{.spec.template.spec.containers[0].args}");
  EXPECT_THAT(args, HasSubstr("--namespace=" + *ns));
  EXPECT_THAT(args, HasSubstr("--log-level=debug"));
  EXPECT_THAT(args, HasSubstr("--owner-id=helm-" + *ns + "-reg"));
  ExpectLeastPrivilege(*ns, "reg-etcd-registrar", *ns);
  for (const Access& access : Needed()) {
    EXPECT_EQ(CanI(*ns, "reg-etcd-registrar", access, "default"), "no")
        << access.verb << " " << access.resource << " outside the watched namespace";
  }

  CommandOutput uninstall = Helm({"uninstall", "reg", "-n", *ns});
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.err;
  EXPECT_FALSE(Exists({"get", "deployment", "reg-etcd-registrar", "-n", *ns}));
  EXPECT_FALSE(Exists({"get", "serviceaccount", "reg-etcd-registrar", "-n", *ns}));
  EXPECT_FALSE(Exists({"get", "role", "reg-etcd-registrar", "-n", *ns}));
  // Helm leaves the CRD of crds/ in place (and so every ServiceRegistration).
  EXPECT_TRUE(Exists({"get", "crd", "serviceregistrations.registrar.dev"}));
}

// README.md's install section, as written: three commands. The first two run here as they are
// (the chart path made absolute, the admin kubeconfig added); the third waits for a rollout,
// which needs a kubelet, so only its form is checked. Runs before the deploy/ test, which uses
// the same names (ClusterRole etcd-registrar), and uninstalls at the end.
TEST_F(PackagingKubeTest, ReadmeInstallCommands) {
  const std::vector<std::string> commands = ReadmeInstallCommands();
  ASSERT_EQ(commands.size(), 3u) << "README.md: the install section is three commands";
  const std::vector<std::string> create = ShellWords(commands[0]);
  ASSERT_GE(create.size(), 2u);
  ASSERT_EQ(create[0], "kubectl") << commands[0];
  auto created = plane_->Kubectl(std::vector<std::string>(create.begin() + 1, create.end()));
  ASSERT_TRUE(created.ok()) << created.status();

  std::vector<std::string> install = ShellWords(commands[1]);
  ASSERT_EQ(install[0], "helm") << commands[1];
  install.erase(install.begin());
  auto chart = std::find(install.begin(), install.end(), "helm/etcd-registrar");
  ASSERT_NE(chart, install.end()) << commands[1];
  *chart = ChartDir();
  CommandOutput installed = Helm(install);
  ASSERT_EQ(installed.exit_code, 0) << commands[1] << "\n" << installed.err;
  EXPECT_TRUE(Exists({"get", "deployment", "etcd-registrar", "-n", "etcd-registrar"}));
  EXPECT_TRUE(Exists({"get", "serviceaccount", "etcd-registrar", "-n", "etcd-registrar"}));

  const std::vector<std::string> rollout = ShellWords(commands[2]);
  EXPECT_THAT(rollout, ::testing::ElementsAre("kubectl", "-n", "etcd-registrar", "rollout",
                                              "status", "deployment/etcd-registrar"));

  CommandOutput uninstall = Helm({"uninstall", "etcd-registrar", "-n", "etcd-registrar"});
  ASSERT_EQ(uninstall.exit_code, 0) << uninstall.err;
  EXPECT_FALSE(Exists({"get", "clusterrole", "etcd-registrar"}));
}

TEST_F(PackagingKubeTest, KubectlApplyDeploy) {
  auto applied = plane_->Kubectl({"apply", "-k", SourcePath("deploy")});
  ASSERT_TRUE(applied.ok()) << applied.status();
  for (const char* object :
       {"namespace/etcd-registrar",
        "customresourcedefinition.apiextensions.k8s.io/"
        "serviceregistrations.registrar.dev",
        "serviceaccount/etcd-registrar", "clusterrole.rbac.authorization.k8s.io/etcd-registrar",
        "clusterrolebinding.rbac.authorization.k8s.io/etcd-registrar",
        "secret/etcd-registrar-etcd-", "service/etcd-registrar-metrics",
        "deployment.apps/etcd-registrar"}) {
    EXPECT_THAT(*applied, HasSubstr(object));
  }
  EXPECT_THAT(*applied, ::testing::Not(HasSubstr("owner-id")));
  EXPECT_TRUE(Exists({"get", "deployment", "etcd-registrar", "-n", "etcd-registrar"}));
  ExpectLeastPrivilege("etcd-registrar", "etcd-registrar", "");
  // Applying again changes nothing (what a GitOps tool does every few minutes). kubectl 1.34
  // reports a Secret as "configured" on every apply, even one with the same data, so Secrets
  // are left out of this check; the Deployment above all must stay unchanged (no rollout).
  auto again = plane_->Kubectl({"apply", "-k", SourcePath("deploy")});
  ASSERT_TRUE(again.ok()) << again.status();
  for (absl::string_view line : absl::StrSplit(*again, '\n', absl::SkipEmpty())) {
    if (!absl::StartsWith(line, "secret/")) {
      EXPECT_TRUE(absl::EndsWith(line, " unchanged")) << line;
    }
  }
  EXPECT_THAT(*again, HasSubstr("deployment.apps/etcd-registrar unchanged"));
}

TEST_F(PackagingKubeTest, KubectlApplyNamespacedOverlay) {
  // deploy/namespaced in a namespace of its own, as its comment says to do: an overlay that
  // only sets `namespace`.
  TempDir overlay("er-namespaced-overlay");
  const std::string ns = absl::StrCat("pkg-ns-", ::getpid());
  const std::string base = std::filesystem::relative(
      SourcePath("deploy/namespaced"), std::filesystem::weakly_canonical(overlay.path()));
  std::ofstream(overlay / "kustomization.yaml")
      << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " << ns
      << "\nresources:\n  - " << base << "\n";
  auto applied = plane_->Kubectl({"apply", "-k", overlay.path()});
  ASSERT_TRUE(applied.ok()) << applied.status();
  for (const std::string& object :
       {"namespace/" + ns, std::string("serviceaccount/etcd-registrar"),
        std::string("role.rbac.authorization.k8s.io/etcd-registrar"),
        std::string("rolebinding.rbac.authorization.k8s.io/etcd-registrar"),
        std::string("deployment.apps/etcd-registrar")}) {
    EXPECT_THAT(*applied, HasSubstr(object));
  }
  EXPECT_THAT(*applied, ::testing::Not(HasSubstr("clusterrole")));
  EXPECT_EQ(Jsonpath({"get", "deployment", "etcd-registrar", "-n", ns},
                     "{.spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath}"),
            "metadata.namespace");
  ExpectLeastPrivilege(ns, "etcd-registrar", ns);
  for (const Access& access : Needed()) {
    EXPECT_EQ(CanI(ns, "etcd-registrar", access, "default"), "no")
        << access.verb << " " << access.resource << " outside its namespace";
  }
}

// docs/install.md, "Uninstall", when the controller is already gone: a deleted
// ServiceRegistration stays on the finalizer registrar.dev/revoke until the documented patch
// removes it, and then it is gone.
TEST_F(PackagingKubeTest, FinalizerPatchFromTheDocsReleasesAnObject) {
  ASSERT_TRUE(plane_->Kubectl({"apply", "-f", SourcePath("crds/serviceregistrations.yaml")}).ok());
  ASSERT_TRUE(plane_
                  ->Kubectl({"wait", "--for=condition=Established", "--timeout=60s",
                             "crd/serviceregistrations.registrar.dev"})
                  .ok());
  auto ns = plane_->CreateNamespace("orphan");
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_TRUE(plane_
                  ->Apply(absl::StrCat("apiVersion: registrar.dev/v1alpha1\n"
                                       "kind: ServiceRegistration\n"
                                       "metadata:\n  name: left\n  namespace: ",
                                       *ns,
                                       "\n  finalizers: [registrar.dev/revoke]\n"
                                       "spec:\n  key: left.rpc\n  value: 10.0.0.1:8080\n"))
                  .ok());
  ASSERT_TRUE(
      plane_->Kubectl({"delete", "serviceregistration", "left", "-n", *ns, "--wait=false"}).ok());
  EXPECT_NE(
      Jsonpath({"get", "serviceregistration", "left", "-n", *ns}, "{.metadata.deletionTimestamp}"),
      "");
  const std::string docs = ReadText(SourcePath("docs/install.md"));
  const std::string patch = R"([{"op":"remove","path":"/metadata/finalizers/0"}])";
  ASSERT_THAT(docs, HasSubstr(patch)) << "docs/install.md no longer shows this patch";
  ASSERT_TRUE(plane_
                  ->Kubectl({"patch", "serviceregistration", "left", "-n", *ns, "--type", "json",
                             "-p", patch})
                  .ok());
  EXPECT_FALSE(Exists({"get", "serviceregistration", "left", "-n", *ns}));
}

}  // namespace
}  // namespace registrar::testing
