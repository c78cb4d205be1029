// The config and policy loaders (controller/config): the input is read as a `--policy` file
// (ParsePolicy; an accepted policy then decides a few registrations with DecidePolicy, globs
// against namespaces, keys and endpoints taken from its own rules) and as a `--config` file
// (written to an in-memory file, memfd_create(2), named /proc/self/fd/N: no disk I/O per input;
// then ParseCommandLine for the controller and for `publish`). A file the loader refuses as a
// whole (not YAML, several documents, not a map) or that is empty reads the same for every
// command line, so it is given to the first only (which must refuse it); the three CLI11 command
// lines cost about 4 ms each under ASan and were most of the time per input.
// Inputs naming /dev, /proc or /sys are not given to the config loader: a `*-file:` key would
// make it open that path (and read /dev/zero forever); other paths are harmless to read.
// Invariants: every error names its file ("--config <file>", "<policy file>"); an accepted
// policy has namespaces and keys in every rule; DecidePolicy explains every refusal.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"

#include "controller/common/yaml_json.h"
#include "controller/config/options.h"
#include "controller/config/policy.h"
#include "controller/registration/policy_rules.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

int config_fd = -1;       // an in-memory file, rewritten for every input
std::string config_path;  // /proc/self/fd/<config_fd>: the loader opens it by name

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
  FUZZ_CHECK(ftruncate(config_fd, 0) == 0, "ftruncate");
  FUZZ_CHECK(pwrite(config_fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()),
             "short write");
  const std::vector<std::vector<const char*>> command_lines = {
      {"etcd-registrar", "--config", config_path.c_str()},
      {"etcd-registrar", "--manifests", "/fuzz/m", "--config", config_path.c_str(), "--workers",
       "2"},
      {"etcd-registrar", "publish", "--key", "k", "--value", "v", "--config", config_path.c_str()},
  };
  // What the config loader reads before any key: the same for every command line.
  absl::StatusOr<std::vector<registrar::YamlDocument>> documents =
      registrar::LoadYamlDocuments(text);
  const bool empty = documents.ok() && documents->empty();
  const bool refused_whole = !documents.ok() || documents->size() > 1 ||
                             (documents->size() == 1 && !documents->front().object.is_object());
  const size_t lines = empty || refused_whole ? 1 : command_lines.size();
  for (size_t i = 0; i < lines; ++i) {
    const std::vector<const char*>& argv = command_lines[i];
    absl::StatusOr<registrar::config::Command> command =
        registrar::config::ParseCommandLine(static_cast<int>(argv.size()), argv.data());
    if (!command.ok()) {
      FUZZ_CHECK(command.status().code() == absl::StatusCode::kInvalidArgument,
                 std::string(command.status().message()).c_str());
      FUZZ_CHECK(!command.status().message().empty(), "an error without a message");
      FUZZ_CHECK(!refused_whole || absl::StrContains(command.status().message(), config_path),
                 "a file refused as a whole without its name");
    } else if (refused_whole) {
      FUZZ_CHECK(false, "a config file the loader refuses was accepted");
    } else if (command->kind == registrar::config::Command::Kind::kController) {
      FUZZ_CHECK(command->controller.workers >= 1, "workers below 1 accepted");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  config_fd = memfd_create("fuzz_config", 0);
  FUZZ_CHECK(config_fd >= 0, "memfd_create");
  config_path = "/proc/self/fd/" + std::to_string(config_fd);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  CheckPolicy(text);
  CheckConfig(text);
  return 0;
}
