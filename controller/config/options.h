// File: controller/config/options.h
//
// The command line of `etcd-registrar` (DESIGN.md §3): the controller (default command) and
// `etcd-registrar publish`, parsed with CLI11, optionally merged with a YAML `--config FILE`.
//
// Flow: ParseCommandLine(argc, argv) -> Command. When argv[1] is `publish` the publish options are
// parsed, otherwise the controller's. `--config FILE` holds the same settings as YAML keys named
// exactly like the long flags without the dashes (`etcd-endpoints: [a:2379, b:2379]`); a flag on
// the command line wins over the file; an unknown key is an error naming the key, file and line.
// The file is read by common/yaml_json.h, like manifests (YAML 1.2 scalars): a flag setting
// (`dry-run`, `etcd-insecure-skip-verify`) takes `true`/`false` only (`yes`/`on` are strings and
// an error); numbers are passed on in decimal (`0x10` is 16: quote text that looks like a number).
// `--help` / `--version` produce Command::Kind::kExit with the text to print (exit code 0).
// Every error is kInvalidArgument with a one-line message naming the flag (or key and file) and
// why; the caller prints it and exits with code 2. The etcd password is read from
// --etcd-password-file here (trailing newlines stripped) and never appears in a message.
//
// This header knows nothing of etcd client types: it carries strings and numbers only.
// Thread-safety: plain data and a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace registrar::config {

// The `--etcd-*` flags, shared by the controller and `publish`.
struct EtcdOptions {
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};  // host:port each
  std::string username;
  std::string password_file;
  std::string password;  // the content of password_file; never log it
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure_skip_verify = false;
};

// The controller's settings (the default command).
struct Options {
  std::string kubeconfig;
  std::string context;           // --context: a kubeconfig context other than current-context
  double kube_api_qps = 50;      // client-side rate limit of API requests (token bucket)
  int kube_api_burst = 100;      // its burst
  int64_t resync_seconds = 600;  // --resync-period: every object re-queued this often (0: never)
  std::string manifests;         // a directory; set = manifest-folder mode
  std::string watch_namespace;   // --namespace; empty = all namespaces
  std::string selector;          // label selector
  int workers = 4;
  EtcdOptions etcd;
  std::string owner_prefix = "/etcd-registrar/owners/";
  std::string owner_id;  // empty: the caller picks one (local-<machine-id> with --manifests)
  std::string policy;    // a policy file (policy.h); empty = the default policy
  bool dry_run = false;
  std::string http_addr = "127.0.0.1:8080";
  std::string log_level = "info";   // trace|debug|info|warn|error|critical|off
  std::string log_format = "text";  // text|json
};

// The lease TTL range of a registration (spec.ttlSeconds and publish --ttl).
inline constexpr int64_t kMinTtlSeconds = 5;
inline constexpr int64_t kMaxTtlSeconds = 3600;

// `etcd-registrar publish --key K --value V [--id N] [--ttl S] [etcd flags]`.
// The key and value rules are the controller's (registration/validation.h), checked by RunPublish.
struct PublishOptions {
  EtcdOptions etcd;
  std::string key;
  std::string value;
  int64_t id = 0;            // 0 = unset (go-zero's key/leaseID form); >= 1 when given
  int64_t ttl_seconds = 10;  // kMinTtlSeconds..kMaxTtlSeconds
  std::string log_level = "info";
  std::string log_format = "text";
};

struct Command {
  enum class Kind { kController, kPublish, kExit };
  Kind kind = Kind::kController;
  Options controller;      // set when kind == kController
  PublishOptions publish;  // set when kind == kPublish
  std::string output;      // kExit: the help or version text to print on stdout, then exit 0
};

// Parses the command line (and --config FILE). Errors: kInvalidArgument with a one-line message.
absl::StatusOr<Command> ParseCommandLine(int argc, const char* const* argv);

// The version of this build (CMake PROJECT_VERSION).
const char* Version();

}  // namespace registrar::config
