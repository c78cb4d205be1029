#include "controller/kube/kubeconfig.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::IsOk;
using ::registrar::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Files a kubeconfig may name, for ResolveKubeconfig without a file system.
class FakeFiles {
 public:
  void Add(const std::string& path, const std::string& contents) { files_[path] = contents; }
  ReadFileFn Reader() {
    return [this](const std::string& path) -> absl::StatusOr<std::string> {
      reads_.push_back(path);
      auto it = files_.find(path);
      if (it == files_.end()) {
        return absl::NotFoundError("cannot read " + path + ": No such file or directory");
      }
      return it->second;
    };
  }
  const std::vector<std::string>& reads() const { return reads_; }

 private:
  std::map<std::string, std::string> files_;
  std::vector<std::string> reads_;
};

absl::StatusOr<ClusterConfig> Resolve(const std::string& text, const std::string& context = "",
                                      FakeFiles* files = nullptr) {
  FakeFiles none;
  absl::StatusOr<Kubeconfig> config = ParseKubeconfig(text, "/k/config");
  if (!config.ok()) {
    return config.status();
  }
  return ResolveKubeconfig(*config, context, (files != nullptr ? files : &none)->Reader());
}

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

constexpr char kMinimal[] = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://api.example:6443/
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
users:
- name: u1
  user: {token: t0k3n}
preferences: {colors: true}
)";

TEST(ParseKubeconfig, ReadsTheCurrentContextClusterAndUser) {
  absl::StatusOr<ClusterConfig> c = Resolve(kMinimal);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://api.example:6443");
  EXPECT_EQ(c->token, "t0k3n");
  EXPECT_EQ(c->default_namespace, "team-a");
  EXPECT_EQ(c->origin, "kubeconfig /k/config, context dev");
  EXPECT_TRUE(c->ca_pem.empty());
  EXPECT_FALSE(c->exec.has_value());
}

TEST(ParseKubeconfig, ReadsEveryClusterAndUserFieldInline) {
  const std::string text = R"(
current-context: all
clusters:
- name: c
  cluster:
    server: https://10.0.0.1:443
    tls-server-name: kubernetes.default
    certificate-authority-data: )" + B64("CA PEM") + R"(
contexts:
- name: all
  context: {cluster: c, user: u}
users:
- name: u
  user:
    client-certificate-data: )" + B64("CERT PEM") + R"(
    client-key-data: )" + B64("KEY PEM") + R"(
    token: abc
)";
  absl::StatusOr<ClusterConfig> c = Resolve(text);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://10.0.0.1:443");
  EXPECT_EQ(c->tls_server_name, "kubernetes.default");
  EXPECT_EQ(c->ca_pem, "CA PEM");
  EXPECT_EQ(c->client_cert_pem, "CERT PEM");
  EXPECT_EQ(c->client_key_pem, "KEY PEM");
  EXPECT_EQ(c->token, "abc");
  EXPECT_EQ(c->default_namespace, "default");  // kubectl's when the context names none
  EXPECT_FALSE(c->insecure_skip_tls_verify);
}

TEST(ParseKubeconfig, ReadsNamedFilesRelativeToTheKubeconfigFolder) {
  const std::string text = R"(
current-context: x
clusters:
- name: c
  cluster: {server: https://h, certificate-authority: ca.crt}
contexts:
- name: x
  context: {cluster: c, user: u}
users:
- name: u
  user: {client-certificate: ../pki/u.crt, client-key: /abs/u.key, tokenFile: tok}
)";
  FakeFiles files;
  files.Add("/k/ca.crt", "CA");
  files.Add("/pki/u.crt", "CERT");
  files.Add("/abs/u.key", "KEY");
  files.Add("/k/tok", "file-token\n");
  absl::StatusOr<ClusterConfig> c = Resolve(text, "", &files);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->client_cert_pem, "CERT");
  EXPECT_EQ(c->client_key_pem, "KEY");
  EXPECT_EQ(c->token_file, "/k/tok");  // kept as a path: it rotates
  EXPECT_TRUE(c->token.empty());
  EXPECT_THAT(files.reads(), ElementsAre("/k/ca.crt", "/pki/u.crt", "/abs/u.key", "/k/tok"));
}

TEST(ParseKubeconfig, InsecureSkipTlsVerifyWithoutScheme) {
  absl::StatusOr<ClusterConfig> c = Resolve(R"(
current-context: x
clusters: [{name: c, cluster: {server: "127.0.0.1:6443", insecure-skip-tls-verify: true}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");  // a TLS setting: https, as client-go
  EXPECT_TRUE(c->token.empty());                   // a context without a user is allowed
}

TEST(ParseKubeconfig, ReadsExecPlugins) {
  absl::StatusOr<ClusterConfig> c = Resolve(R"(
current-context: eks
clusters: [{name: c, cluster: {server: https://eks}}]
contexts: [{name: eks, context: {cluster: c, user: aws}}]
users:
- name: aws
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, prod]
      env: [{name: AWS_PROFILE, value: prod}, {name: EMPTY, value: null}]
      interactiveMode: IfAvailable
      provideClusterInfo: true
      installHint: "apt-get install awscli"
)");
  ASSERT_THAT(c, IsOk());
  ASSERT_TRUE(c->exec.has_value());
  const ExecConfig& e = *c->exec;
  EXPECT_EQ(e.api_version, "client.authentication.k8s.io/v1beta1");
  EXPECT_EQ(e.command, "aws");  // a name: looked up in PATH
  EXPECT_THAT(e.args, ElementsAre("eks", "get-token", "--cluster-name", "prod"));
  EXPECT_THAT(e.env, ElementsAre(Pair("AWS_PROFILE", "prod"), Pair("EMPTY", "")));
  EXPECT_EQ(e.interactive_mode, "IfAvailable");
  EXPECT_TRUE(e.provide_cluster_info);
  EXPECT_EQ(e.install_hint, "apt-get install awscli");
  EXPECT_EQ(e.origin, "kubeconfig /k/config, user aws");
}

TEST(ParseKubeconfig, AnExecCommandWithASlashIsRelativeToTheKubeconfig) {
  absl::StatusOr<ClusterConfig> c = Resolve(R"(
current-context: x
clusters: [{name: c, cluster: {server: https://h}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/plugin}}}]
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->exec->command, "/k/bin/plugin");
}

TEST(ParseKubeconfig, ContextFlagSelectsAnotherContext) {
  const char* text = R"(
current-context: a
clusters: [{name: ca, cluster: {server: https://a}}, {name: cb, cluster: {server: https://b}}]
contexts: [{name: a, context: {cluster: ca}}, {name: b, context: {cluster: cb, namespace: nb}}]
)";
  absl::StatusOr<ClusterConfig> a = Resolve(text);
  absl::StatusOr<ClusterConfig> b = Resolve(text, "b");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->server, "https://a");
  EXPECT_EQ(b->server, "https://b");
  EXPECT_EQ(b->default_namespace, "nb");
  EXPECT_EQ(b->origin, "kubeconfig /k/config, context b");
}

TEST(ParseKubeconfig, AnEmptyFileIsAnEmptyConfig) {
  absl::StatusOr<Kubeconfig> c = ParseKubeconfig("", "/k/config");
  ASSERT_THAT(c, IsOk());
  EXPECT_TRUE(c->contexts.empty());
  EXPECT_THAT(ResolveKubeconfig(*c, "", FakeFiles().Reader()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MergeKubeconfigs, TheFirstFileToSetAnEntryOrCurrentContextWins) {
  absl::StatusOr<Kubeconfig> first = ParseKubeconfig(R"(
clusters: [{name: shared, cluster: {server: https://first}}]
users: [{name: u, user: {token: first-token}}]
)", "/one/config");
  absl::StatusOr<Kubeconfig> second = ParseKubeconfig(R"(
current-context: ctx
clusters:
- {name: shared, cluster: {server: https://second, insecure-skip-tls-verify: true}}
- {name: only-second, cluster: {server: https://only}}
users: [{name: u, user: {token: second-token, tokenFile: t}}]
contexts: [{name: ctx, context: {cluster: shared, user: u}}]
)", "/two/config");
  absl::StatusOr<Kubeconfig> third = ParseKubeconfig(R"(
current-context: other
contexts: [{name: ctx, context: {cluster: only-second}}, {name: other, context: {cluster: x}}]
)", "/three/config");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(third, IsOk());
  Kubeconfig merged = MergeKubeconfigs({*first, *second, *third});
  EXPECT_THAT(merged.files, ElementsAre("/one/config", "/two/config", "/three/config"));
  EXPECT_EQ(merged.current_context, "ctx");  // the first file sets none; the second does
  EXPECT_EQ(merged.clusters.size(), 2u);
  EXPECT_EQ(merged.contexts.size(), 2u);
  absl::StatusOr<ClusterConfig> c = ResolveKubeconfig(merged, "", FakeFiles().Reader());
  ASSERT_THAT(c, IsOk());
  // Whole entries win, never field by field: the first "shared" has no insecure flag.
  EXPECT_EQ(c->server, "https://first");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_EQ(c->token, "first-token");
  EXPECT_TRUE(c->token_file.empty());
  EXPECT_EQ(c->origin, "kubeconfig /two/config, context ctx");
}

struct ErrorCase {
  std::string name;
  std::string text;
  std::string context;
  std::string want;  // a substring of the message
};

TEST(ParseKubeconfig, ErrorsNameTheFileAndTheField) {
  const std::string ctx = R"(
current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: https://h}}]
)";
  const ErrorCase cases[] = {
      {"yaml syntax", "clusters: [", "", "kubeconfig /k/config: line "},
      {"not a mapping", "- a\n- b\n", "", "kubeconfig /k/config: line 1: must be a mapping"},
      {"two documents", "a: 1\n---\nb: 2\n", "", "more than one YAML document"},
      {"clusters not a list", "clusters: {a: 1}\n", "",
       "kubeconfig /k/config: line 1: clusters: must be of type array, got object"},
      {"entry without name", "users: [{user: {token: x}}]\n", "", "users[0]: name: must be set"},
      {"duplicate name", "users: [{name: a}, {name: a}]\n", "",
       "users[1] \"a\": duplicate name"},
      {"server type", "clusters: [{name: c, cluster: {server: 5}}]\n", "",
       "clusters[0] \"c\": server: must be of type string, got integer"},
      {"insecure not a boolean",
       "clusters: [{name: c, cluster: {server: h, insecure-skip-tls-verify: yes}}]\n", "",
       "clusters[0] \"c\": insecure-skip-tls-verify: must be true or false"},
      {"bad base64", "users: [{name: bob, user: {client-key-data: \"!!not base64!!\"}}]\n", "",
       "kubeconfig /k/config: line 1: users[0] \"bob\": client-key-data: is not valid base64"},
      {"exec args type", "users: [{name: u, user: {exec: {command: x, args: [1]}}}]\n", "",
       "users[0] \"u\": exec: args[0]: must be of type string, got integer"},
      {"exec env without name", "users: [{name: u, user: {exec: {env: [{value: v}]}}}]\n", "",
       "users[0] \"u\": exec: env[0]: name: must be set"},
      {"no current context", "contexts: [{name: a, context: {cluster: c}}]\n", "",
       "kubeconfig /k/config: current-context is not set; set it (kubectl config use-context "
       "NAME) or pass --context (known: \"a\")"},
      {"current context missing", "current-context: gone\n", "",
       "kubeconfig /k/config: current-context \"gone\" not found (there are none)"},
      {"--context missing", ctx, "nope", "context \"nope\" not found (known: \"x\")"},
      {"cluster missing", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
       "", "kubeconfig /k/config: contexts[0] \"x\": cluster \"c\" not found in kubeconfig"},
      {"user missing", ctx, "", "contexts[0] \"x\": user \"u\" not found"},
      {"no server", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                    "clusters: [{name: c, cluster: {}}]\n",
       "", "clusters[0] \"c\": server: must be set"},
      {"bad scheme", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                     "clusters: [{name: c, cluster: {server: \"unix:///x\"}}]\n",
       "", "clusters[0] \"c\": server: scheme \"unix\" is not supported"},
      {"proxy-url", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                    "clusters: [{name: c, cluster: {server: https://h, proxy-url: "
                    "\"socks5://p:1080\"}}]\n",
       "", "kubeconfig /k/config: clusters[0] \"c\": proxy-url: proxies are not supported"},
      {"auth-provider", ctx + "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n", "",
       "users[0] \"u\": auth-provider: auth provider \"gcp\" is not supported (kubectl dropped "
       "the built-in providers too); use an exec credential plugin"},
      {"basic auth", ctx + "users: [{name: u, user: {username: a, password: b}}]\n", "",
       "users[0] \"u\": username: basic authentication is not supported"},
      {"impersonation", ctx + "users: [{name: u, user: {token: t, as: admin}}]\n", "",
       "users[0] \"u\": as: impersonation is not supported"},
      {"key without cert", ctx + "users: [{name: u, user: {client-key-data: " + B64("k") + "}}]\n",
       "", "users[0] \"u\": client-key is set without client-certificate"},
      {"file and data", ctx + "users: [{name: u, user: {client-certificate: a, "
                              "client-certificate-data: " + B64("c") + ", client-key-data: " +
                              B64("k") + "}}]\n",
       "", "client-certificate and client-certificate-data are both set"},
      {"unreadable key", ctx + "users: [{name: u, user: {client-certificate-data: " + B64("c") +
                             ", client-key: key.pem}}]\n",
       "", "kubeconfig /k/config: users[0] \"u\": client-key: cannot read /k/key.pem: No such "
           "file or directory"},
      {"unreadable tokenFile", ctx + "users: [{name: u, user: {tokenFile: /t}}]\n", "",
       "users[0] \"u\": tokenFile: cannot read /t"},
      {"exec and token", ctx + "users: [{name: u, user: {token: t, exec: {apiVersion: "
                               "client.authentication.k8s.io/v1, command: x}}}]\n",
       "", "users[0] \"u\": exec and token are both set"},
      {"exec apiVersion", ctx + "users: [{name: u, user: {exec: {apiVersion: "
                                "client.authentication.k8s.io/v1alpha1, command: x}}}]\n",
       "", "exec: apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported"},
      {"exec without command", ctx + "users: [{name: u, user: {exec: {apiVersion: "
                                     "client.authentication.k8s.io/v1}}}]\n",
       "", "users[0] \"u\": exec: command: must be set"},
      {"exec interactive", ctx + "users: [{name: u, user: {exec: {apiVersion: "
                                 "client.authentication.k8s.io/v1, command: x, "
                                 "interactiveMode: Always}}}]\n",
       "", "exec: interactiveMode: Always needs a terminal"},
      {"insecure with ca", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
                           "clusters: [{name: c, cluster: {server: https://h, "
                           "insecure-skip-tls-verify: true, certificate-authority-data: " +
                               B64("ca") + "}}]\n",
       "", "insecure-skip-tls-verify and a certificate authority are both set"},
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<ClusterConfig> got = Resolve(c.text, c.context);
    EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument)) << c.name;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.want)) << c.name;
  }
}

TEST(ParseKubeconfig, UnsupportedFeaturesOfUnusedEntriesDoNoHarm) {
  absl::StatusOr<ClusterConfig> c = Resolve(R"(
current-context: good
clusters:
- {name: c, cluster: {server: https://h}}
- {name: proxied, cluster: {server: https://p, proxy-url: "http://proxy:3128"}}
contexts:
- {name: good, context: {cluster: c, user: ok}}
- {name: old-gke, context: {cluster: proxied, user: gcp}}
users:
- {name: ok, user: {token: t}}
- {name: gcp, user: {auth-provider: {name: gcp}}}
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->token, "t");
}

TEST(NormalizeServer, FollowsClientGo) {
  EXPECT_EQ(*NormalizeServer("https://h:1/", false), "https://h:1");
  EXPECT_EQ(*NormalizeServer("https://h/prefix/path//", false), "https://h/prefix/path");
  EXPECT_EQ(*NormalizeServer("h:8080", false), "http://h:8080");
  EXPECT_EQ(*NormalizeServer("h:6443", true), "https://h:6443");
  EXPECT_EQ(*NormalizeServer("http://[::1]:8080", true), "http://[::1]:8080");
  EXPECT_THAT(NormalizeServer("", true), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NormalizeServer("https://", true), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(NormalizeServer("ftp://h", true), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace registrar::kube
