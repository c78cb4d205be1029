#include "controller/config/options.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "CLI/CLI.hpp"
#include "controller/common/status.h"
#include "controller/common/yaml_json.h"

#ifndef ER_VERSION
#error "ER_VERSION must be defined by controller/config/CMakeLists.txt"
#endif

namespace registrar::config {

namespace {

const std::set<std::string> kLogLevels = {"trace", "debug",    "info", "warn",
                                          "error", "critical", "off"};
const std::set<std::string> kLogFormats = {"text", "json"};

// "" when `s` is host:port with a port in 1..65535 (IPv6 hosts in brackets), else why not.
std::string HostPortProblem(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::StrCat("\"", s, "\" is not host:port");
  }
  const std::string host = s.substr(0, colon);
  const std::string port = s.substr(colon + 1);
  if (host.find(':') != std::string::npos && !(host.front() == '[' && host.back() == ']')) {
    return absl::StrCat("\"", s, "\": an IPv6 host must be in brackets, e.g. [::1]:2379");
  }
  int port_number = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return absl::StrCat("\"", s, "\": the port must be a number in 1..65535");
  }
  return "";
}

const CLI::Validator kHostPort(HostPortProblem, "HOST:PORT", "HostPort");

// "" when `id` (empty: not given) can name the folder of ownership records
// <owner-prefix><owner-id>/<full key>, else why not: a "/" would make two owner ids' records
// share paths (owner "a" with key "b/c.rpc" and owner "a/b" with key "c.rpc").
std::string OwnerIdProblem(const std::string& id) {
  if (id.find('/') != std::string::npos) {
    return absl::StrCat(
        "must not contain \"/\" (records live under <owner-prefix><owner-id>/"
        "<full key>, so it would be ambiguous), got \"",
        id, "\"");
  }
  for (unsigned char c : id) {
    if (c <= 0x20 || c == 0x7f) {
      return absl::StrCat("must not contain whitespace or control characters, got \"", id, "\"");
    }
  }
  return "";
}

// Reads `--config FILE` with common/yaml_json.h (YAML 1.2 scalars, like manifests and the policy
// file): one key per long flag (without dashes), a scalar or a list of scalars. Records where each
// key was found, so that errors CLI11 raises while applying a value can name the file and line.
struct ConfigKeys {
  std::string file;
  std::vector<std::pair<std::string, int>> lines;  // key, line
  // A flag (a boolean setting) given something else than true/false: reported after parsing,
  // unless the flag is on the command line (a flag wins over the file, even a broken value).
  struct BadFlag {
    std::string name;
    std::string message;
  };
  std::vector<BadFlag> bad_flags;
};

// A scalar as the text CLI11 parses: strings as written, numbers in decimal, true/false.
std::optional<std::string> ScalarText(const nlohmann::json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  if (value.is_number()) {
    return value.dump();
  }
  return std::nullopt;
}

class YamlConfig final : public CLI::Config {
 public:
  YamlConfig(const CLI::App& app, ConfigKeys& keys) : app_(app), keys_(keys) {}

  std::string to_config(const CLI::App* /*app*/, bool /*default_also*/, bool /*write_description*/,
                        std::string /*prefix*/) const override {
    return "";
  }

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string file = app_.get_config_ptr()->as<std::string>();
    keys_.file = file;
    std::stringstream text;
    text << input.rdbuf();
    absl::StatusOr<std::vector<YamlDocument>> documents = LoadYamlDocuments(text.str());
    if (!documents.ok()) {
      const std::string message(documents.status().message());
      throw CLI::ConfigError(absl::StrCat(
          "--config ", file, absl::StartsWith(message, "line ") ? " " : ": ", message));
    }
    std::vector<CLI::ConfigItem> items;
    if (documents->empty()) {
      return items;
    }
    if (documents->size() > 1) {
      throw CLI::ConfigError(absl::StrCat("--config ", file, " line ", (*documents)[1].line,
                                          ": one YAML document expected, found more"));
    }
    const YamlDocument& document = documents->front();
    if (!document.object.is_object()) {
      throw CLI::ConfigError(absl::StrCat("--config ", file, " line ", document.line,
                                          ": expected a map of settings (flag names as keys)"));
    }
    // In file order, so the first problem reported is the first in the file.
    std::vector<std::pair<int, std::string>> keys;
    for (const auto& entry : document.object.items()) {
      keys.emplace_back(document.lines.at(entry.key()), entry.key());
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& [line, name] : keys) {
      const nlohmann::json& value = document.object.at(name);
      const std::string where = absl::StrCat("--config ", file, " line ", line, ": ");
      const CLI::Option* option = app_.get_option_no_throw("--" + name);
      if (option == nullptr || !option->get_configurable() || name == "help" || name == "version") {
        throw CLI::ConfigError(absl::StrCat(where, "unknown key \"", name, "\""));
      }
      keys_.lines.emplace_back(name, line);
      CLI::ConfigItem item;
      item.name = name;
      if (option->get_expected_max() == 0) {  // a flag: --dry-run, --etcd-insecure-skip-verify
        if (!value.is_boolean()) {
          keys_.bad_flags.push_back(
              {name, absl::StrCat(where, "key \"", name, "\" ", BooleanExpected(value))});
          continue;
        }
        item.inputs.push_back(value.get<bool>() ? "true" : "false");
      } else if (std::optional<std::string> scalar = ScalarText(value)) {
        item.inputs.push_back(*std::move(scalar));
      } else if (value.is_array()) {
        for (const auto& element : value) {
          std::optional<std::string> element_text = ScalarText(element);
          if (!element_text) {
            throw CLI::ConfigError(
                absl::StrCat(where, "key \"", name, "\": list elements must be plain values"));
          }
          item.inputs.push_back(*std::move(element_text));
        }
      } else {
        throw CLI::ConfigError(
            absl::StrCat(where, "key \"", name, "\" needs a value (a plain value or a list)"));
      }
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  const CLI::App& app_;
  ConfigKeys& keys_;
};

// "--config FILE line N: " when `message` is about a flag whose value came from the config file
// (named there and not given on the command line), else "".
std::string ConfigContext(const std::string& message, const ConfigKeys& keys, int argc,
                          const char* const* argv) {
  for (const auto& [key, line] : keys.lines) {
    const std::string flag = "--" + key;
    const size_t at = message.find(flag);
    const size_t end = at + flag.size();
    if (at == std::string::npos ||
        (end < message.size() && (absl::ascii_isalnum(message[end]) || message[end] == '-'))) {
      continue;
    }
    bool on_command_line = false;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      on_command_line |= arg == flag || arg.rfind(flag + "=", 0) == 0;
    }
    if (!on_command_line) {
      return absl::StrCat("--config ", keys.file, " line ", line, ": ");
    }
  }
  return "";
}

// `status` with "--config FILE line N: " in front when it is about a value from the file.
absl::Status WithConfigContext(const absl::Status& status, const ConfigKeys& keys, int argc,
                               const char* const* argv) {
  const std::string message(status.message());
  if (status.ok() || message.rfind("--config ", 0) == 0) {
    return status;
  }
  return absl::InvalidArgumentError(ConfigContext(message, keys, argc, argv) + message);
}

void SetUpApp(CLI::App& app, ConfigKeys& keys) {
  app.set_config("--config", "", "YAML file with settings named like the long flags; a flag wins");
  app.config_formatter(std::make_shared<YamlConfig>(app, keys));
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("--version", Version(), "Print the version and exit");
  app.get_formatter()->column_width(36);
}

void AddEtcdFlags(CLI::App& app, EtcdOptions& etcd) {
  app.add_option("--etcd-endpoints", etcd.endpoints, "etcd endpoints, host:port, comma-separated")
      ->delimiter(',')
      ->check(kHostPort)
      ->capture_default_str();
  app.add_option("--etcd-username", etcd.username, "etcd user (needs --etcd-password-file)");
  app.add_option("--etcd-password-file", etcd.password_file,
                 "File holding the etcd password (trailing newline ignored)")
      ->check(CLI::ExistingFile);
  app.add_option("--etcd-ca", etcd.ca_file, "CA bundle (PEM) to verify etcd's certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--etcd-cert", etcd.cert_file, "Client certificate (PEM) for etcd mTLS")
      ->check(CLI::ExistingFile);
  app.add_option("--etcd-key", etcd.key_file, "Client private key (PEM) for etcd mTLS")
      ->check(CLI::ExistingFile);
  app.add_flag("--etcd-insecure-skip-verify", etcd.insecure_skip_verify,
               "Do not verify etcd's TLS certificate (testing only)");
}

void AddLogFlags(CLI::App& app, std::string& level, std::string& format) {
  app.add_option("--log-level", level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember(kLogLevels))
      ->capture_default_str();
  app.add_option("--log-format", format, "text or json (one JSON object per line)")
      ->check(CLI::IsMember(kLogFormats))
      ->capture_default_str();
}

// "600", "600s", "10m", "1h" -> seconds; a negative or unknown unit is an error.
absl::StatusOr<int64_t> ParseSeconds(const std::string& text) {
  int64_t value = 0;
  size_t used = 0;
  while (used < text.size() && text[used] >= '0' && text[used] <= '9') {
    if (value > (int64_t{1} << 40)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is too long"));
    }
    value = value * 10 + (text[used] - '0');
    ++used;
  }
  std::string unit = text.substr(used);
  if (used == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a duration (e.g. 600, 600s, 10m, 1h)"));
  }
  if (unit.empty() || unit == "s") {
    return value;
  }
  if (unit == "m") {
    return value * 60;
  }
  if (unit == "h") {
    return value * 3600;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\": unknown unit \"", unit, "\" (use s, m or h)"));
}

absl::Status FinishEtcd(EtcdOptions& etcd) {
  if (etcd.endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd-endpoints: at least one endpoint is needed");
  }
  if (etcd.cert_file.empty() != etcd.key_file.empty()) {
    return absl::InvalidArgumentError("--etcd-cert and --etcd-key must be given together");
  }
  if (etcd.username.empty() != etcd.password_file.empty()) {
    return absl::InvalidArgumentError(
        "--etcd-username and --etcd-password-file must be given together");
  }
  if (etcd.password_file.empty()) {
    return absl::OkStatus();
  }
  std::ifstream in(etcd.password_file, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("--etcd-password-file: cannot read ",
                                                   etcd.password_file, ": ", std::strerror(errno)));
  }
  std::string password = content.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--etcd-password-file: ", etcd.password_file, " is empty"));
  }
  etcd.password = std::move(password);
  return absl::OkStatus();
}

// Runs the parser; help/version become kExit, failures one-line kInvalidArgument errors.
absl::StatusOr<bool> Parse(CLI::App& app, const ConfigKeys& keys, int argc, const char* const* argv,
                           Command& command) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      std::ostringstream out;
      std::ostringstream err;
      app.exit(e, out, err);
      command.kind = Command::Kind::kExit;
      command.output = out.str();
      return false;
    }
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    return WithConfigContext(absl::InvalidArgumentError(message), keys, argc, argv);
  }
  for (const ConfigKeys::BadFlag& bad : keys.bad_flags) {
    if (app.get_option("--" + bad.name)->count() == 0) {
      return absl::InvalidArgumentError(bad.message);
    }
  }
  return true;
}

absl::StatusOr<Command> ParseController(int argc, const char* const* argv) {
  Command command;
  command.kind = Command::Kind::kController;
  Options& o = command.controller;
  CLI::App app("Keeps go-zero service registrations (ServiceRegistration resources) alive in etcd.",
               "etcd-registrar");
  ConfigKeys keys;
  SetUpApp(app, keys);
  app.footer(
      "Commands:\n"
      "  publish    Hold one registration in the foreground, as a go-zero server does\n"
      "             (etcd-registrar publish --help)\n"
      "  check-config [flags]\n"
      "             Check these flags, --config and --policy as a start would; exit 0 or 2");
  auto* kubeconfig = app.add_option("--kubeconfig", o.kubeconfig,
                                    "kubeconfig file (default: in-cluster, $KUBECONFIG, "
                                    "~/.kube/config)")
                         ->check(CLI::ExistingFile);
  app.add_option("--manifests", o.manifests,
                 "Read ServiceRegistrations from the YAML/JSON files under this directory "
                 "instead of Kubernetes (a folder missing at start is waited for: leases of "
                 "this owner are kept alive meanwhile)")
      ->excludes(kubeconfig);
  // Kubernetes-only flags are refused beside --manifests (a user who gives them expects them to
  // apply; silently ignoring them would hide the mistake).
  CLI::Option* manifests = app.get_option("--manifests");
  app.add_option("--context", o.context, "kubeconfig context (default: current-context)")
      ->excludes(manifests);
  app.add_option("--kube-api-qps", o.kube_api_qps,
                 "Kubernetes API requests per second (client-side rate limit; 0: none)")
      ->capture_default_str()
      ->excludes(manifests);
  app.add_option("--kube-api-burst", o.kube_api_burst,
                 "Kubernetes API requests allowed at once above --kube-api-qps")
      ->capture_default_str()
      ->excludes(manifests);
  std::string resync = "10m";
  app.add_option("--resync-period", resync,
                 "Re-queue every ServiceRegistration this often, changed or not "
                 "(e.g. 600, 600s, 10m, 1h; 0 = never)")
      ->capture_default_str();
  app.add_option("--namespace", o.watch_namespace, "Only this namespace (default: all)")
      ->excludes(manifests);
  app.add_option("--selector", o.selector,
                 "Only ServiceRegistrations matching this label selector")
      ->excludes(manifests);
  app.add_option("--workers", o.workers, "Reconcile workers (>= 1)")->capture_default_str();
  AddEtcdFlags(app, o.etcd);
  app.add_option("--owner-prefix", o.owner_prefix, "etcd prefix of the ownership records")
      ->capture_default_str();
  app.add_option("--owner-id", o.owner_id,
                 "This controller's identity in ownership records (default: k8s-<UID of the "
                 "kube-system namespace>; with --manifests: local-<machine-id>)");
  app.add_option("--policy", o.policy,
                 "Policy file: which namespaces may register which keys "
                 "on which etcd endpoints")
      ->check(CLI::ExistingFile);
  app.add_flag("--dry-run", o.dry_run, "Log the etcd operations instead of doing them");
  app.add_option("--http-addr", o.http_addr,
                 "host:port of /healthz, /readyz, /metrics, "
                 "/registrations")
      ->check(kHostPort)
      ->capture_default_str();
  AddLogFlags(app, o.log_level, o.log_format);

  ASSIGN_OR_RETURN(bool parsed, Parse(app, keys, argc, argv, command));
  if (!parsed) {
    return command;
  }
  absl::Status checked = absl::OkStatus();
  absl::StatusOr<int64_t> resync_seconds = ParseSeconds(resync);
  if (resync_seconds.ok()) {
    o.resync_seconds = *resync_seconds;
  }
  if (o.workers < 1) {
    checked =
        absl::InvalidArgumentError(absl::StrCat("--workers: must be at least 1, got ", o.workers));
  } else if (!resync_seconds.ok()) {
    checked = absl::InvalidArgumentError(
        absl::StrCat("--resync-period: ", resync_seconds.status().message()));
  } else if (!(o.kube_api_qps >= 0)) {
    checked = absl::InvalidArgumentError(
        absl::StrCat("--kube-api-qps: must be 0 (no limit) or more, got ", o.kube_api_qps));
  } else if (o.kube_api_burst < 1) {
    checked = absl::InvalidArgumentError(
        absl::StrCat("--kube-api-burst: must be at least 1, got ", o.kube_api_burst));
  } else if (o.owner_prefix.empty()) {
    checked = absl::InvalidArgumentError("--owner-prefix: must not be empty");
  } else if (std::string problem = OwnerIdProblem(o.owner_id); !problem.empty()) {
    checked = absl::InvalidArgumentError(absl::StrCat("--owner-id: ", problem));
  } else {
    checked = FinishEtcd(o.etcd);
  }
  RETURN_IF_ERROR(WithConfigContext(checked, keys, argc, argv));
  return command;
}

absl::StatusOr<Command> ParsePublish(int argc, const char* const* argv) {
  Command command;
  command.kind = Command::Kind::kPublish;
  PublishOptions& o = command.publish;
  CLI::App app(
      "Holds one registration in etcd exactly as an in-process go-zero server does (key, or "
      "key/ID when --id is set, bound to a lease kept alive), until SIGINT/SIGTERM revokes it.",
      "etcd-registrar publish");
  ConfigKeys keys;
  SetUpApp(app, keys);
  app.add_option("--key", o.key, "The go-zero service key, e.g. user.rpc")->required();
  app.add_option("--value", o.value, "The address to publish, e.g. 10.0.0.12:8080")->required();
  // Read as text: CLI11 would clamp an out-of-range number to the largest int64 silently.
  std::string id_text;
  std::string ttl_text = std::to_string(o.ttl_seconds);
  app.add_option("--id", id_text,
                 "Register under key/ID instead of key/<leaseID> (1..9223372036854775807)");
  app.add_option("--ttl", ttl_text, "Lease TTL in seconds (5..3600, as spec.ttlSeconds)")
      ->capture_default_str();
  AddEtcdFlags(app, o.etcd);
  AddLogFlags(app, o.log_level, o.log_format);

  ASSIGN_OR_RETURN(bool parsed, Parse(app, keys, argc, argv, command));
  if (!parsed) {
    return command;
  }
  absl::Status checked = absl::OkStatus();
  const bool id_given = app.get_option("--id")->count() > 0;
  if (o.key.empty()) {
    checked = absl::InvalidArgumentError("--key: must not be empty");
  } else if (o.value.empty()) {
    checked = absl::InvalidArgumentError("--value: must not be empty");
  } else if (id_given && (!absl::SimpleAtoi(id_text, &o.id) || o.id < 1)) {
    checked = absl::InvalidArgumentError(absl::StrCat(
        "--id: must be a whole number from 1 to 9223372036854775807, got \"", id_text, "\""));
  } else if (!absl::SimpleAtoi(ttl_text, &o.ttl_seconds) || o.ttl_seconds < kMinTtlSeconds ||
             o.ttl_seconds > kMaxTtlSeconds) {
    checked = absl::InvalidArgumentError(
        absl::StrCat("--ttl: must be a whole number of seconds from ", kMinTtlSeconds, " to ",
                     kMaxTtlSeconds, " (as spec.ttlSeconds), got \"", ttl_text, "\""));
  } else {
    checked = FinishEtcd(o.etcd);
  }
  RETURN_IF_ERROR(WithConfigContext(checked, keys, argc, argv));
  return command;
}

}  // namespace

const char* Version() { return ER_VERSION; }

absl::StatusOr<Command> ParseCommandLine(int argc, const char* const* argv) {
  if (argc >= 2 && std::string(argv[1]) == "publish") {
    return ParsePublish(argc - 1, argv + 1);
  }
  return ParseController(argc, argv);
}

}  // namespace registrar::config
