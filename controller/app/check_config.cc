// `etcd-registrar check-config [flags]`: everything a start does with its flags, --config file
// and --policy file before it touches the network, then a summary on stdout and exit 0; the first
// problem on stderr (one line, naming the flag, key or file) and exit 2. Used by users before a
// rollout and by the chart's tests on the rendered container args.
//
// Checked, in the order of RunController: the command line and --config (config/options.h: every
// flag, file existence, the password file, owner id), the log level/format, the policy file
// (config/policy.h). Not checked, as a start does not check them either before it connects: the
// kubeconfig's cluster and credentials, etcd, the label selector's syntax (the API server's), a
// --manifests folder that does not exist yet (waited for).
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/app/app.h"
#include "controller/common/logging.h"
#include "controller/config/options.h"
#include "controller/config/policy.h"

namespace registrar::app {

namespace {

int Reject(const std::string& message) {
  std::cerr << "etcd-registrar check-config: " << message << "\n";
  return 2;
}

}  // namespace

int RunCheckConfig(int argc, const char* const* argv) {
  auto command = config::ParseCommandLine(argc, argv);
  if (!command.ok()) {
    return Reject(std::string(command.status().message()));
  }
  switch (command->kind) {
    case config::Command::Kind::kExit:
      std::cout << command->output;
      if (!command->output.empty() && command->output.back() != '\n') {
        std::cout << "\n";
      }
      return 0;
    case config::Command::Kind::kPublish: {
      const config::PublishOptions& p = command->publish;
      if (auto logging = SetupLogging(p.log_level,
                                      p.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
          !logging.ok()) {
        return Reject(std::string(logging.message()));
      }
      std::cout << "ok: publish " << p.key << " = " << p.value << " on "
                << absl::StrJoin(p.etcd.endpoints, ",") << "\n";
      return 0;
    }
    case config::Command::Kind::kController:
      break;
  }
  const config::Options& o = command->controller;
  if (auto logging =
          SetupLogging(o.log_level, o.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
      !logging.ok()) {
    return Reject(std::string(logging.message()));
  }
  std::string policy = "default (any key, this controller's etcd only)";
  if (!o.policy.empty()) {
    auto loaded = config::LoadPolicy(o.policy);
    if (!loaded.ok()) {
      return Reject(std::string(loaded.status().message()));
    }
    policy = absl::StrCat(o.policy, " (", loaded->rules().size(), " rules)");
  }
  std::string source;
  if (!o.manifests.empty()) {
    source = absl::StrCat("manifests in ", o.manifests);
  } else {
    source = absl::StrCat("Kubernetes, ",
                          o.watch_namespace.empty() ? std::string("all namespaces")
                                                    : "namespace " + o.watch_namespace,
                          o.selector.empty() ? "" : ", selector " + o.selector);
  }
  std::string owner_id = o.owner_id;
  if (owner_id.empty()) {
    owner_id = o.manifests.empty() ? "(unset: k8s-<UID of kube-system>, read at start)"
                                   : "(unset: local-<machine-id>)";
  }
  std::cout << "ok: " << source << "\n"
            << "  etcd: " << absl::StrJoin(o.etcd.endpoints, ",")
            << (o.etcd.ca_file.empty() && o.etcd.cert_file.empty() ? "" : " (TLS)")
            << (o.etcd.username.empty() ? "" : ", user " + o.etcd.username) << "\n"
            << "  owner id: " << owner_id << "\n"
            << "  policy: " << policy << "\n"
            << "  http: " << o.http_addr << "\n";
  return 0;
}

}  // namespace registrar::app
