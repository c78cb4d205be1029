// The container image (Dockerfile, `make image`) run as Kubernetes would run its pod: podman with
// the image's own non-root user, a read-only root filesystem without podman's extra tmpfs mounts,
// no capabilities, host network (a pod's network namespace here is the host's loopback), the token
// of the Helm chart's ServiceAccount, bound by its ClusterRole (TokenRequest), the CA and namespace files mounted at
// /var/run/secrets/kubernetes.io/serviceaccount and KUBERNETES_SERVICE_HOST/PORT pointing at the
// real kube-apiserver of the shared control plane. A ServiceRegistration applied with kubectl
// must become Ready and land in a real etcd; `podman stop` (SIGTERM) must end the container
// within 30 s without revoking (DESIGN.md: controller shutdown does not revoke).
//
// The image is built by the ctest fixture test `image_build` (scripts/image.sh build) before this
// one runs; ER_IMAGE names it and CONTAINERS_CONF points at packaging/containers.conf
// (tests/integration/image/CMakeLists.txt). Containers are removed by ID, also on failure.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/common/status.h"
#include "nlohmann/json.hpp"
#include "tests/integration/controller/kube_e2e_harness.h"
#include "tests/integration/packaging/packaging_harness.h"
#include "tests/testing/ports.h"
#include "tests/testing/raw_http.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

constexpr char kPodman[] = "/usr/bin/podman";
constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";
constexpr char kNonRootUser[] = "65532:65532";
constexpr auto kStartup = seconds(90);  // a container start plus a control plane on busy cores
constexpr auto kSettle = seconds(30);
constexpr int kTtl = 60;  // long enough that "not revoked" cannot be confused with "expired"
constexpr double kMaxImageBytes = 150e6;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string Image() { return Env("ER_IMAGE"); }

// podman with `args`; the error carries the command and its stderr.
absl::StatusOr<std::string> Podman(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(CommandOutput out, RunCommand(kPodman, args));
  if (out.exit_code != 0) {
    return absl::InternalError(absl::StrCat("podman ", absl::StrJoin(args, " "), " exited ",
                                            out.exit_code, ": ", out.err));
  }
  return out.out;
}

// The podman container of a test: removed when the object goes, by its unique name until
// `podman run` printed the ID (a run that fails after creating the container leaves it named).
class Container {
 public:
  explicit Container(std::string name) : id_(std::move(name)) {}
  void set_id(std::string id) { id_ = std::move(id); }
  ~Container() { (void)RunCommand(kPodman, {"rm", "--force", "--time", "0", id_}); }
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& id() const { return id_; }
  std::string Logs() const {
    auto out = RunCommand(kPodman, {"logs", id_});
    return out.ok() ? absl::StrCat("--- podman logs ", id_, "\n", out->out, out->err)
                    : out.status().ToString();
  }
  absl::StatusOr<json> Inspect() const {
    ASSIGN_OR_RETURN(std::string out, Podman({"container", "inspect", id_}));
    json parsed = json::parse(out, nullptr, false);
    if (!parsed.is_array() || parsed.empty()) {
      return absl::InternalError("podman container inspect: not a JSON array: " + out);
    }
    return parsed[0];
  }

 private:
  std::string id_;
};

// The HTTP status of GET `path` on 127.0.0.1:`port` (0: no answer).
int HttpStatus(int port, const std::string& path) {
  RawConnection c(port);
  if (!c.connected() ||
      !c.Send(absl::StrCat("GET ", path,
                           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))) {
    return 0;
  }
  return c.ReadReply(seconds(5)).status;
}

// The image as built: labels, user, entrypoint, size, and the binary's libraries all present.
TEST(Image, IsNonRootWithLabelsAndItsLibraries) {
  ASSERT_FALSE(Image().empty()) << "ER_IMAGE is set by tests/integration/image/CMakeLists.txt";
  auto out = Podman({"image", "inspect", Image()});
  ASSERT_THAT(out, IsOk()) << "the image is built by the ctest test image_build (make image)";
  const json image = json::parse(*out, nullptr, false)[0];
  ASSERT_TRUE(image.is_object()) << *out;
  const json& config = image["Config"];
  EXPECT_EQ(config.value("User", ""), kNonRootUser);
  EXPECT_EQ(config["Entrypoint"], json::array({"/usr/local/bin/etcd-registrar"}));
  const json& labels = config["Labels"];
  const std::string version = Env("ER_PROJECT_VERSION");
  EXPECT_EQ(labels.value("org.opencontainers.image.version", ""), version);
  EXPECT_EQ(labels.value("org.opencontainers.image.licenses", ""), "NOASSERTION");
  EXPECT_TRUE(labels.contains("org.opencontainers.image.source"));
  EXPECT_TRUE(labels.contains("org.opencontainers.image.revision"));
  EXPECT_EQ(Image(), "localhost/etcd-registrar:" + version);
  const double size = image.value("Size", 0.0);
  EXPECT_GT(size, 0);
  EXPECT_LE(size, kMaxImageBytes) << "uncompressed image size";
  RecordProperty("image_bytes", absl::StrCat(static_cast<int64_t>(size)));

  // docker build without --build-arg labels the version of the Dockerfile's default.
  std::ifstream dockerfile(SourcePath("Dockerfile"));
  std::string text((std::istreambuf_iterator<char>(dockerfile)), {});
  EXPECT_THAT(text, ::testing::HasSubstr("\nARG VERSION=" + version + "\n"))
      << "keep the Dockerfile's VERSION default equal to project() in CMakeLists.txt";

  // Every shared library resolves in the runtime stage (a missing one fails before main).
  auto run = RunCommand(kPodman, {"run", "--rm", "--network", "none", Image(), "--version"});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_THAT(run->out, ::testing::HasSubstr(version)) << run->err;
}

class ImagePodTest : public KubeE2eTest {
 protected:
  std::string key() const { return ns() + ".rpc"; }
};

TEST_F(ImagePodTest, RunsAsAPodRegistersAndSigtermDoesNotRevoke) {
  ASSERT_FALSE(Image().empty());
  // The chart's own ServiceAccount, ClusterRole and binding, as `helm install` creates them
  // (release named after the namespace: cluster-scoped names stay unique).
  auto rendered = RenderChart(ns(), ns(), {"--set", "etcd.endpoints={" + etcd().endpoint() + "}"});
  ASSERT_THAT(rendered, IsOk());
  nlohmann::json identity = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", nlohmann::json::array()}};
  for (const char* kind : {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}) {
    std::vector<nlohmann::json> objects = OfKind(*rendered, kind);
    ASSERT_EQ(objects.size(), 1u) << kind;
    identity["items"].push_back(objects[0]);
  }
  const std::string service_account = identity["items"][0]["metadata"].value("name", "");
  ASSERT_FALSE(service_account.empty());
  ASSERT_THAT(Apply(identity.dump()), IsOk());
  auto pod = plane().WritePodIdentity(ns(), service_account);
  ASSERT_THAT(pod, IsOk());
  // As the kubelet writes a projected token volume: world-readable files (defaultMode 0644).
  ASSERT_EQ(chmod(pod->dir.c_str(), 0755), 0);
  for (const char* file : {"/token", "/ca.crt", "/namespace"}) {
    ASSERT_EQ(chmod((pod->dir + file).c_str(), 0644), 0) << file;
  }

  const int http_port = PickFreePort();
  const std::string name = "er-image-test-" + ns();
  Container container(name);
  std::vector<std::string> run = {
      "run", "--detach", "--name", name,
      // What deploy/ asks of the pod: runAsNonRoot (the image's numeric USER), read-only root
      // filesystem (and no tmpfs podman would add), all capabilities dropped, no privilege gain.
      "--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL",
      "--security-opt=no-new-privileges", "--network=host", "--volume",
      absl::StrCat(pod->dir, ":", kServiceAccountDir, ":ro")};
  for (const std::string& entry : pod->env) {
    run.insert(run.end(), {"--env", entry});  // KUBERNETES_SERVICE_HOST=127.0.0.1, _PORT
  }
  run.push_back(Image());
  run.insert(run.end(),
             {"--etcd-endpoints", etcd().endpoint(), "--owner-id", owner_id(), "--http-addr",
              absl::StrCat("127.0.0.1:", http_port), "--log-level", "debug"});
  auto id = Podman(run);
  ASSERT_THAT(id, IsOk());
  container.set_id(std::string(absl::StripAsciiWhitespace(*id)));

  auto state = container.Inspect();
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ((*state)["Config"].value("User", ""), kNonRootUser);
  // The process itself runs as 65532 (its /proc status seen from the host).
  const int pid = (*state)["State"].value("Pid", 0);
  ASSERT_GT(pid, 0) << container.Logs();
  std::ifstream status_file(absl::StrCat("/proc/", pid, "/status"));
  std::string proc_status((std::istreambuf_iterator<char>(status_file)), {});
  EXPECT_THAT(proc_status, ::testing::ContainsRegex("\nUid:\t65532\t65532\t65532\t65532\n"));

  ASSERT_TRUE(WaitFor([&] { return HttpStatus(http_port, "/readyz") == 200; }, kStartup))
      << container.Logs();
  ASSERT_THAT(Apply(Sreg("a", ns(),
                         absl::StrCat("  key: ", key(), "\n  value: \"10.0.0.1:8080\"\n",
                                      "  ttlSeconds: ", kTtl, "\n"))),
              IsOk());
  auto object = WaitForObject("a", IsReady, kSettle);
  ASSERT_THAT(object, IsOk()) << container.Logs();
  auto kv = WaitForKey(key() + "/", kSettle);
  ASSERT_THAT(kv, IsOk()) << container.Logs();
  EXPECT_EQ(kv->value, "10.0.0.1:8080");
  EXPECT_EQ(kv->lease, LeaseOf(*object));
  EXPECT_EQ(kv->key, absl::StrCat(key(), "/", kv->lease)) << "go-zero's key: <key>/<lease>";
  auto record = inspect().GetKey(absl::StrCat(kDefaultOwnerPrefixE2e, owner_id(), "/", kv->key));
  ASSERT_THAT(record, IsOk());
  EXPECT_TRUE(record->has_value()) << "the ownership record under --owner-id";

  const auto stop_start = WaitClock::now();
  auto stopped = Podman({"stop", "--time", "30", container.id()});
  const auto stop_took = WaitClock::now() - stop_start;
  ASSERT_THAT(stopped, IsOk());
  EXPECT_LT(stop_took, seconds(30)) << "SIGTERM, not the SIGKILL after 30 s\n" << container.Logs();
  RecordProperty(
      "stop_ms",
      absl::StrCat(std::chrono::duration_cast<std::chrono::milliseconds>(stop_took).count()));
  auto after = container.Inspect();
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ((*after)["State"].value("ExitCode", -1), 0) << container.Logs();

  // Not revoked: the key and its lease outlive the controller (the next one adopts them).
  auto still = inspect().GetKey(kv->key);
  ASSERT_THAT(still, IsOk());
  ASSERT_TRUE(still->has_value()) << container.Logs();
  EXPECT_EQ((*still)->lease, kv->lease);
  auto ttl = inspect().TimeToLive(kv->lease);
  ASSERT_THAT(ttl, IsOk());
  EXPECT_GT(ttl->ttl, 0) << "the lease lives on until its TTL";
  const std::string logs = container.Logs();
  EXPECT_FALSE(absl::StrContains(logs, "forbidden")) << logs;
}

}  // namespace
}  // namespace registrar::testing
