#include "controller/kube/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#include "controller/common/status.h"
#include "controller/kube/kubeconfig.h"

namespace registrar::kube {

namespace {

constexpr size_t kMaxFileBytes = 16 << 20;

// The whole file; kNotFound when it does not exist, else kInvalidArgument; the message is
// "cannot read P: <strerror>".
absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  auto fail = [&path](int error) -> absl::Status {
    std::string message = absl::StrCat("cannot read ", path, ": ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  };
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(errno);
  }
  std::string data;
  char buffer[16384];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int error = errno;
      close(fd);
      return fail(error);
    }
    if (n == 0) {
      break;
    }
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > kMaxFileBytes) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", path, ": larger than ", kMaxFileBytes, " bytes"));
    }
  }
  close(fd);
  return data;
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string Absolute(const std::string& path) {
  std::error_code ignored;
  std::filesystem::path abs = std::filesystem::absolute(path, ignored);
  return abs.empty() ? path : abs.lexically_normal().string();
}

}  // namespace

absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                             const std::string& context) {
  std::vector<Kubeconfig> configs;
  std::vector<std::string> missing;
  std::set<std::string> seen;
  for (const std::string& given : paths) {
    if (given.empty()) {
      continue;
    }
    const std::string path = Absolute(given);
    if (!seen.insert(path).second) {
      continue;
    }
    absl::StatusOr<std::string> text = ReadWholeFile(path);
    if (absl::IsNotFound(text.status())) {
      missing.push_back(path);  // kubectl skips the missing files of a $KUBECONFIG list
      continue;
    }
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", path, ": ", text.status().message()));
    }
    ASSIGN_OR_RETURN(Kubeconfig config, ParseKubeconfig(*text, path));
    configs.push_back(std::move(config));
  }
  if (configs.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no kubeconfig: ", missing.empty() ? "no file given" : absl::StrJoin(missing, ", "),
        missing.size() == 1 ? " does not exist" : missing.empty() ? "" : " do not exist"));
  }
  return ResolveKubeconfig(MergeKubeconfigs(std::move(configs)), context, ReadWholeFile);
}

absl::StatusOr<ClusterConfig> LoadInCluster(std::string_view dir) {
  const std::string host = Getenv("KUBERNETES_SERVICE_HOST");
  const std::string port = Getenv("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return absl::NotFoundError(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  const std::filesystem::path base(dir);
  ClusterConfig out;
  out.origin = "in-cluster";
  out.token_file = (base / "token").string();
  absl::StatusOr<std::string> token = ReadWholeFile(out.token_file);
  if (absl::IsNotFound(token.status())) {
    return absl::NotFoundError(
        absl::StrCat("not in a cluster: the service-account token ", out.token_file,
                     " does not exist"));
  }
  if (!token.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("in-cluster: ", token.status().message()));
  }
  // client-go goes on with the system's roots when ca.crt is missing; so do we.
  absl::StatusOr<std::string> ca = ReadWholeFile((base / "ca.crt").string());
  if (ca.ok()) {
    out.ca_pem = *std::move(ca);
  } else if (!absl::IsNotFound(ca.status())) {
    return absl::InvalidArgumentError(absl::StrCat("in-cluster: ", ca.status().message()));
  }
  absl::StatusOr<std::string> ns = ReadWholeFile((base / "namespace").string());
  if (ns.ok()) {
    out.default_namespace = std::string(absl::StripAsciiWhitespace(*ns));
  } else if (!absl::IsNotFound(ns.status())) {
    return absl::InvalidArgumentError(absl::StrCat("in-cluster: ", ns.status().message()));
  }
  if (out.default_namespace.empty()) {
    out.default_namespace = "default";
  }
  const bool ipv6 = host.find(':') != std::string::npos;
  out.server = absl::StrCat("https://", ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port);
  return out;
}

absl::StatusOr<ClusterConfig> LoadClusterConfig(const LoadOptions& options) {
  // DESIGN §3's order: in-cluster, then $KUBECONFIG, then ~/.kube/config; but a flag is an
  // explicit choice and wins: --kubeconfig first, and --context (which names a kubeconfig
  // context) skips in-cluster.
  if (!options.kubeconfig.empty()) {
    absl::StatusOr<ClusterConfig> config = LoadKubeconfig({options.kubeconfig}, options.context);
    if (absl::IsNotFound(config.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--kubeconfig ", options.kubeconfig, ": ", config.status().message()));
    }
    return config;
  }
  std::vector<std::string> looked{"--kubeconfig: not given"};
  if (options.context.empty()) {
    std::string dir = Getenv(kInClusterDirEnv);
    if (dir.empty()) {
      dir = kInClusterDir;
    }
    absl::StatusOr<ClusterConfig> config = LoadInCluster(dir);
    if (!absl::IsNotFound(config.status())) {
      return config;
    }
    looked.push_back(absl::StrCat("in-cluster: ", config.status().message()));
  } else {
    looked.push_back("in-cluster: skipped (--context names a kubeconfig context)");
  }
  const std::string env_list = Getenv("KUBECONFIG");
  if (!env_list.empty()) {
    std::vector<std::string> paths = absl::StrSplit(env_list, ':', absl::SkipEmpty());
    absl::StatusOr<ClusterConfig> config = LoadKubeconfig(paths, options.context);
    if (!absl::IsNotFound(config.status())) {
      return config;
    }
    looked.push_back(absl::StrCat("$KUBECONFIG: ", config.status().message()));
  } else {
    looked.push_back("$KUBECONFIG: not set");
  }
  if (env_list.empty()) {
    const std::string home = Getenv("HOME");
    if (!home.empty()) {
      const std::string path = (std::filesystem::path(home) / ".kube" / "config").string();
      absl::StatusOr<ClusterConfig> config = LoadKubeconfig({path}, options.context);
      if (!absl::IsNotFound(config.status())) {
        return config;
      }
      looked.push_back(absl::StrCat("~/.kube/config: ", config.status().message()));
    } else {
      looked.push_back("~/.kube/config: $HOME is not set");
    }
  } else {
    looked.push_back("~/.kube/config: not read ($KUBECONFIG is set, as kubectl does)");
  }
  return absl::NotFoundError(absl::StrCat("no Kubernetes API configuration found; looked at: ",
                                          absl::StrJoin(looked, "; ")));
}

}  // namespace registrar::kube
