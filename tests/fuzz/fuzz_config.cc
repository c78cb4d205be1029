// The config and policy loaders (controller/config): the input is read as a `--policy` file
// (ParsePolicy; an accepted policy then decides a few registrations with DecidePolicy, globs
// against namespaces, keys and endpoints taken from its own rules) and as a `--config` file
// (written to a private temporary file, then ParseCommandLine for the controller and for
// `publish`).
// Inputs naming /dev, /proc or /sys are not given to the config loader: a `*-file:` key would
// make it open that path (and read /dev/zero forever); other paths are harmless to read.
// Invariants: every error names its file ("--config <file>", "<policy file>"); an accepted
// policy has namespaces and keys in every rule; DecidePolicy explains every refusal.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "controller/config/options.h"
#include "controller/config/policy.h"
#include "controller/registration/policy_rules.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

std::string config_path;  // a private temporary file, rewritten for every input

void CheckPolicy(const std::string& text) {
  const std::string source = "/fuzz/policy.yaml";
  absl::StatusOr<registrar::config::Policy> policy = registrar::config::ParsePolicy(text, source);
  if (!policy.ok()) {
    FUZZ_CHECK(policy.status().message().substr(0, source.size()) == source,
               std::string(policy.status().message()).c_str());
    return;
  }
  FUZZ_CHECK(policy->from_file(), "a parsed policy not from a file");
  std::vector<std::string> names = {"default", "payments", ""};
  for (const registrar::config::PolicyRule& rule : policy->rules()) {
    FUZZ_CHECK(!rule.source.empty(), "a rule without its source");
    for (const auto* list : {&rule.namespaces, &rule.keys, &rule.endpoints}) {
      for (const std::string& glob : *list) {
        if (names.size() < 12) {
          names.push_back(glob);
        }
      }
    }
  }
  for (const std::string& ns : names) {
    for (const std::string& key : names) {
      for (bool insecure : {false, true}) {
        registrar::registration::PolicyDecision d = registrar::registration::DecidePolicy(
            *policy, ns, key, insecure ? names : std::vector<std::string>{}, insecure);
        FUZZ_CHECK(d.allowed || (!d.reason.empty() && !d.message.empty()),
                   "a refusal without reason or message");
      }
    }
  }
}

void CheckConfig(std::string_view text) {
  for (std::string_view dangerous : {"/dev", "/proc", "/sys"}) {
    if (text.find(dangerous) != std::string_view::npos) {
      return;
    }
  }
  std::FILE* f = std::fopen(config_path.c_str(), "wb");
  FUZZ_CHECK(f != nullptr, config_path.c_str());
  FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size(), "short write");
  std::fclose(f);
  const std::vector<std::vector<const char*>> command_lines = {
      {"etcd-registrar", "--config", config_path.c_str()},
      {"etcd-registrar", "--manifests", "/fuzz/m", "--config", config_path.c_str(), "--workers",
       "2"},
      {"etcd-registrar", "publish", "--key", "k", "--value", "v", "--config", config_path.c_str()},
  };
  for (const std::vector<const char*>& argv : command_lines) {
    absl::StatusOr<registrar::config::Command> command =
        registrar::config::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
    if (!command.ok()) {
      FUZZ_CHECK(command.status().code() == absl::StatusCode::kInvalidArgument,
                 std::string(command.status().message()).c_str());
      FUZZ_CHECK(!command.status().message().empty(), "an error without a message");
    } else if (command->kind == registrar::config::Command::Kind::kController) {
      FUZZ_CHECK(command->controller.workers >= 1, "workers below 1 accepted");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char path[] = "/tmp/fuzz_config.XXXXXX";
  int fd = mkstemp(path);
  FUZZ_CHECK(fd >= 0, "mkstemp");
  close(fd);
  config_path = path;
  std::atexit([] { std::remove(config_path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  CheckPolicy(text);
  CheckConfig(text);
  return 0;
}
