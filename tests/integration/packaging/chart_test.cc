// The chart and deploy/ as rendered, without an API server: `helm lint --strict`, `helm template`
// with default and non-default values, `kubectl kustomize` of deploy/ and deploy/namespaced; the
// objects parsed and checked (RBAC rules exactly, probes, security context), and the container
// args run through `etcd-registrar check-config`. Plus the copies that must not drift: the CRD in
// crds/, helm/etcd-registrar/crds/ and deploy/crds/; appVersion and the image tags vs the project
// version in CMakeLists.txt.
#include <fstream>
#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/packaging/packaging_harness.h"
#include "tests/testing/temp_dir.h"

namespace registrar::testing {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kEndpoints[] = "etcd.endpoints={etcd-0.etcd:2379,etcd-1.etcd:2379}";

std::string ProjectVersion() {
  std::smatch match;
  const std::string cmake = ReadText(SourcePath("CMakeLists.txt"));
  if (!std::regex_search(cmake, match, std::regex(R"(project\([^)]*VERSION ([0-9.]+))"))) {
    return "";
  }
  return match[1];
}

std::string Base64Decode(const std::string& in) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(in, &out)) << in;
  return out;
}

std::vector<std::string> Strings(const json& array) {
  std::vector<std::string> out;
  for (const json& item : array) {
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The controller container of a Deployment.
json Container(const json& deployment) {
  return deployment["spec"]["template"]["spec"]["containers"][0];
}

// What every Deployment of ours must have, whichever way it was made.
void ExpectHardenedDeployment(const json& deployment) {
  SCOPED_TRACE(deployment["metadata"].dump());
  const json& pod = deployment["spec"]["template"]["spec"];
  EXPECT_EQ(deployment["spec"]["replicas"], 1);
  EXPECT_EQ(deployment["spec"]["strategy"]["type"], "Recreate");
  EXPECT_EQ(pod["automountServiceAccountToken"], true);
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_TRUE(pod["securityContext"]["runAsUser"].is_number_integer());
  EXPECT_GT(pod["securityContext"]["runAsUser"].get<int>(), 0);
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  const json c = Container(deployment);
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"], "http");
  EXPECT_EQ(c["ports"][0]["name"], "http");
  EXPECT_TRUE(c["resources"]["requests"].contains("memory"));
  EXPECT_TRUE(c["resources"]["limits"].contains("memory"));
  bool owner_id = false;
  bool http_addr = false;
  for (const std::string& arg : Strings(c["args"])) {
    owner_id = owner_id || (arg.rfind("--owner-id=", 0) == 0 && arg.size() > 11);
    http_addr = http_addr || arg == absl::StrCat("--http-addr=0.0.0.0:",
                                                 c["ports"][0]["containerPort"].get<int>());
  }
  EXPECT_TRUE(owner_id) << c["args"].dump();
  EXPECT_TRUE(http_addr) << "probes reach the pod's IP, not 127.0.0.1: " << c["args"].dump();
}

TEST(PackagingCopies, CrdCopiesAreIdentical) {
  const std::string crd = ReadText(SourcePath("crds/serviceregistrations.yaml"));
  ASSERT_FALSE(crd.empty());
  EXPECT_EQ(ReadText(SourcePath("helm/etcd-registrar/crds/serviceregistrations.yaml")), crd)
      << "cp crds/serviceregistrations.yaml helm/etcd-registrar/crds/";
  EXPECT_EQ(ReadText(SourcePath("deploy/crds/serviceregistrations.yaml")), crd)
      << "cp crds/serviceregistrations.yaml deploy/crds/";
}

TEST(PackagingCopies, VersionsMatchTheProject) {
  const std::string version = ProjectVersion();
  ASSERT_FALSE(version.empty());
  auto chart = ParseObjects(ReadText(ChartDir() + "/Chart.yaml"));
  ASSERT_TRUE(chart.ok()) << chart.status();
  ASSERT_EQ(chart->size(), 1u);
  EXPECT_EQ((*chart)[0]["appVersion"], version) << "helm/etcd-registrar/Chart.yaml";
  for (const char* dir : {"deploy", "deploy/namespaced"}) {
    auto kustomization = ParseObjects(ReadText(SourcePath(dir) + "/kustomization.yaml"));
    ASSERT_TRUE(kustomization.ok()) << kustomization.status();
    EXPECT_EQ((*kustomization)[0]["images"][0]["newTag"], version) << dir;
  }
}

TEST(Chart, LintStrict) {
  auto lint = RunCommand(HelmPath(), {"lint", "--strict", ChartDir(), "--set", kEndpoints});
  ASSERT_TRUE(lint.ok()) << lint.status();
  EXPECT_EQ(lint->exit_code, 0) << lint->out << lint->err;
  EXPECT_THAT(lint->out, HasSubstr("0 chart(s) failed"));
  // Without the one required value, lint says which.
  auto bare = RunCommand(HelmPath(), {"lint", "--strict", ChartDir()});
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_NE(bare->exit_code, 0);
  EXPECT_THAT(bare->out + bare->err, HasSubstr("/etcd/endpoints"));
}

TEST(Chart, DefaultValues) {
  auto objects = RenderChart("etcd-registrar", "registrar", {"--set", kEndpoints});
  ASSERT_TRUE(objects.ok()) << objects.status();
  std::vector<std::string> kinds;
  for (const json& object : *objects) {
    kinds.push_back(object["kind"]);
  }
  EXPECT_THAT(kinds,
              ::testing::UnorderedElementsAre("ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                              "Service", "Deployment"));
  // The names other tools rely on (the image test runs as this ServiceAccount).
  ASSERT_EQ(OfKind(*objects, "ServiceAccount", "etcd-registrar").size(), 1u);
  ASSERT_EQ(OfKind(*objects, "Service", "etcd-registrar-metrics").size(), 1u);
  auto role = OfKind(*objects, "ClusterRole", "etcd-registrar");
  ASSERT_EQ(role.size(), 1u);
  EXPECT_THAT(RuleLines(role[0]), ElementsAreArray(ExpectedRuleLines()));
  auto binding = OfKind(*objects, "ClusterRoleBinding", "etcd-registrar");
  ASSERT_EQ(binding.size(), 1u);
  EXPECT_EQ(binding[0]["subjects"][0]["name"], "etcd-registrar");
  EXPECT_EQ(binding[0]["subjects"][0]["namespace"], "registrar");
  auto deployment = OfKind(*objects, "Deployment", "etcd-registrar");
  ASSERT_EQ(deployment.size(), 1u);
  ExpectHardenedDeployment(deployment[0]);
  EXPECT_EQ(deployment[0]["spec"]["template"]["spec"]["serviceAccountName"], "etcd-registrar");
  EXPECT_EQ(Container(deployment[0])["image"], "etcd-registrar:" + ProjectVersion());
  const std::vector<std::string> args = Strings(Container(deployment[0])["args"]);
  EXPECT_THAT(args, ::testing::Contains("--owner-id=helm-registrar-etcd-registrar"));
  EXPECT_THAT(args, ::testing::Contains("--etcd-endpoints=etcd-0.etcd:2379,etcd-1.etcd:2379"));

  TempDir root("er-chart-default");
  auto checked = CheckConfigArgs(args, {}, {}, root.path());
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->exit_code, 0) << absl::StrJoin(args, " ") << "\n" << checked->err;
  EXPECT_THAT(checked->out, HasSubstr("owner id: helm-registrar-etcd-registrar"));
}

TEST(Chart, NonDefaultValues) {
  TempDir values_dir("er-chart-values");
  const std::string values = values_dir / "values.yaml";
  std::ofstream(values) << R"yaml(
ownerId: prod-eu-1
etcd:
  endpoints: ["etcd.example:2379"]
  auth: {existingSecret: etcd-auth, usernameKey: user, passwordKey: pass}
  tls: {existingSecret: etcd-tls}
policy:
  rules:
    - namespaces: [team-a]
      keys: ["a.*"]
      endpoints: ["other-etcd:2379"]
watch: {namespace: team-a, selector: "tier in (rpc,api)"}
logLevel: debug
logFormat: text
extraArgs: ["--workers=8", "--resync-period=5m"]
image: {repository: registry.example/etcd-registrar, tag: "9.9.9"}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
podDisruptionBudget: {enabled: true}
serviceMonitor: {enabled: true, labels: {release: prom}}
service: {port: 9090}
)yaml";
  auto objects = RenderChart("reg", "ops", {"-f", values});
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_TRUE(OfKind(*objects, "ClusterRole").empty());
  EXPECT_TRUE(OfKind(*objects, "ClusterRoleBinding").empty());
  auto role = OfKind(*objects, "Role", "reg-etcd-registrar");
  ASSERT_EQ(role.size(), 1u);
  EXPECT_EQ(role[0]["metadata"]["namespace"], "team-a");
  EXPECT_THAT(RuleLines(role[0]), ElementsAreArray(ExpectedRuleLines()));
  auto binding = OfKind(*objects, "RoleBinding", "reg-etcd-registrar");
  ASSERT_EQ(binding.size(), 1u);
  EXPECT_EQ(binding[0]["metadata"]["namespace"], "team-a");
  EXPECT_EQ(binding[0]["subjects"][0]["namespace"], "ops");
  EXPECT_EQ(OfKind(*objects, "PodDisruptionBudget").size(), 1u);
  auto monitor = OfKind(*objects, "ServiceMonitor");
  ASSERT_EQ(monitor.size(), 1u);
  EXPECT_EQ(monitor[0]["metadata"]["labels"]["release"], "prom");
  auto config_map = OfKind(*objects, "ConfigMap", "reg-etcd-registrar-policy");
  ASSERT_EQ(config_map.size(), 1u);
  auto deployment = OfKind(*objects, "Deployment", "reg-etcd-registrar");
  ASSERT_EQ(deployment.size(), 1u);
  ExpectHardenedDeployment(deployment[0]);
  const json pod = deployment[0]["spec"]["template"]["spec"];
  EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/os"], "linux");
  EXPECT_EQ(pod["tolerations"][0]["key"], "dedicated");
  EXPECT_EQ(Container(deployment[0])["image"], "registry.example/etcd-registrar:9.9.9");
  EXPECT_EQ(Container(deployment[0])["env"][0]["valueFrom"]["secretKeyRef"]["key"], "user");
  const std::vector<std::string> args = Strings(Container(deployment[0])["args"]);
  EXPECT_THAT(args, ::testing::IsSupersetOf({"--owner-id=prod-eu-1", "--namespace=team-a",
                                             "--selector=tier in (rpc,api)", "--log-level=debug",
                                             "--workers=8", "--http-addr=0.0.0.0:9090"}));

  // The files the pod would see at its mount paths: the policy from the ConfigMap, the password
  // and TLS files from the Secrets.
  TempDir root("er-chart-nondefault");
  const std::map<std::string, std::string> files = {
      {"/etc/etcd-registrar/policy/policy.yaml",
       config_map[0]["data"]["policy.yaml"].get<std::string>()},
      {"/etc/etcd-registrar/etcd-auth/password", "secret\n"},
      {"/etc/etcd-registrar/etcd-tls/ca.crt", "ca"},
      {"/etc/etcd-registrar/etcd-tls/tls.crt", "cert"},
      {"/etc/etcd-registrar/etcd-tls/tls.key", "key"},
  };
  auto checked = CheckConfigArgs(args, files, {{"ETCD_USERNAME", "registrar"}}, root.path());
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->exit_code, 0) << absl::StrJoin(args, " ") << "\n" << checked->err;
  EXPECT_THAT(checked->out, HasSubstr("(1 rules)"));
  EXPECT_THAT(checked->out, HasSubstr("(TLS), user registrar"));
  // Every mounted file the args name is one the Deployment mounts.
  for (const auto& mount : Container(deployment[0])["volumeMounts"]) {
    EXPECT_THAT(absl::StrJoin(args, " "), HasSubstr(mount["mountPath"].get<std::string>()));
  }
}

TEST(Chart, SchemaRejectsBadValues) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"replicaCount=2", "/replicaCount"},
      {"logLevel=loud", "/logLevel"},
      {"ownerId=a/b", "/ownerId"},
      {"etcd.endpoints={nohost}", "/etcd/endpoints/0"},
      {"extraArgs={workers}", "/extraArgs/0"},
      {"no.such=1", "no"},
      // A TLS Secret that would pass no TLS flag (plain TCP): refused.
      {"etcd.tls.existingSecret=s,etcd.tls.caKey=,etcd.tls.certKey=", "etcd.tls"},
  };
  for (const auto& [set, needle] : bad) {
    auto out =
        RunCommand(HelmPath(), {"template", "x", ChartDir(), "--set", kEndpoints, "--set", set});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_NE(out->exit_code, 0) << set;
    EXPECT_THAT(out->err, HasSubstr(needle)) << set;
  }
}

// deploy/ and deploy/namespaced: the same hardening, RBAC exactly the needed rules and nothing on
// Namespaces, and the args (with the etcd settings Secret's config.yaml) accepted by check-config.
TEST(Deploy, KustomizationsRender) {
  for (const char* dir : {"deploy", "deploy/namespaced"}) {
    SCOPED_TRACE(dir);
    const bool namespaced = std::string(dir) == "deploy/namespaced";
    auto objects = RenderKustomization(SourcePath(dir));
    ASSERT_TRUE(objects.ok()) << objects.status();
    EXPECT_EQ(OfKind(*objects, "Namespace", "etcd-registrar").size(), 1u);
    EXPECT_EQ(OfKind(*objects, "CustomResourceDefinition").size(), 1u);
    EXPECT_EQ(OfKind(*objects, "ServiceAccount", "etcd-registrar").size(), 1u);
    EXPECT_EQ(OfKind(*objects, "Service", "etcd-registrar-metrics").size(), 1u);
    auto roles = OfKind(*objects, namespaced ? "Role" : "ClusterRole");
    ASSERT_EQ(roles.size(), 1u) << "no owner-id ClusterRole: --owner-id is set";
    EXPECT_THAT(RuleLines(roles[0]), ElementsAreArray(ExpectedRuleLines()));
    EXPECT_TRUE(OfKind(*objects, namespaced ? "ClusterRole" : "Role").empty());
    EXPECT_EQ(OfKind(*objects, namespaced ? "RoleBinding" : "ClusterRoleBinding").size(), 1u);
    // The Secret from base/etcd-config.yaml (secretGenerator: a hash suffix, base64 data), and
    // the Deployment mounts exactly that one.
    auto secret = OfKind(*objects, "Secret");
    ASSERT_EQ(secret.size(), 1u);
    const std::string secret_name = secret[0]["metadata"]["name"];
    EXPECT_EQ(secret_name.rfind("etcd-registrar-etcd-", 0), 0u) << secret_name;
    auto deployment = OfKind(*objects, "Deployment", "etcd-registrar");
    ASSERT_EQ(deployment.size(), 1u);
    ExpectHardenedDeployment(deployment[0]);
    EXPECT_EQ(Container(deployment[0])["image"], "etcd-registrar:" + ProjectVersion());
    EXPECT_EQ(deployment[0]["metadata"]["namespace"], "etcd-registrar");
    EXPECT_EQ(deployment[0]["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
              secret_name);

    const std::vector<std::string> args = Strings(Container(deployment[0])["args"]);
    TempDir root("er-deploy");
    auto checked =
        CheckConfigArgs(args,
                        {{"/etc/etcd-registrar/etcd/config.yaml",
                          Base64Decode(secret[0]["data"]["config.yaml"].get<std::string>())}},
                        {{"POD_NAMESPACE", "etcd-registrar"}}, root.path());
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_EQ(checked->exit_code, 0) << absl::StrJoin(args, " ") << "\n" << checked->err;
    EXPECT_THAT(checked->out,
                HasSubstr(namespaced ? "namespace etcd-registrar" : "all namespaces"));
  }
}

// The chart with default values and deploy/ make the same pod: security contexts, probes,
// resources and strategy are equal field for field (the args differ: owner id, etcd settings).
TEST(ChartAndDeploy, RenderTheSamePod) {
  auto chart = RenderChart("etcd-registrar", "etcd-registrar", {"--set", kEndpoints});
  ASSERT_TRUE(chart.ok()) << chart.status();
  auto deploy = RenderKustomization(SourcePath("deploy"));
  ASSERT_TRUE(deploy.ok()) << deploy.status();
  auto from_chart = OfKind(*chart, "Deployment", "etcd-registrar");
  auto from_deploy = OfKind(*deploy, "Deployment", "etcd-registrar");
  ASSERT_EQ(from_chart.size(), 1u);
  ASSERT_EQ(from_deploy.size(), 1u);
  const json& a = from_chart[0];
  const json& b = from_deploy[0];
  EXPECT_EQ(a["spec"]["strategy"], b["spec"]["strategy"]);
  EXPECT_EQ(a["spec"]["template"]["spec"]["securityContext"],
            b["spec"]["template"]["spec"]["securityContext"]);
  EXPECT_EQ(a["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            b["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]);
  for (const char* field :
       {"securityContext", "livenessProbe", "readinessProbe", "resources", "ports"}) {
    EXPECT_EQ(Container(a)[field], Container(b)[field]) << field;
  }
  EXPECT_EQ(Container(a)["image"], Container(b)["image"]);
  EXPECT_THAT(RuleLines(OfKind(*chart, "ClusterRole")[0]),
              ElementsAreArray(RuleLines(OfKind(*deploy, "ClusterRole")[0])));
}

}  // namespace
}  // namespace registrar::testing
