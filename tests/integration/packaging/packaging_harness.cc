// tests/integration/packaging/packaging_harness.h.
#include "tests/integration/packaging/packaging_harness.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

#include "controller/common/status.h"
#include "controller/common/yaml_json.h"

namespace registrar::testing {

namespace {

constexpr char kMountRoot[] = "/etc/etcd-registrar/";

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : value;
}

absl::StatusOr<std::vector<nlohmann::json>> RenderWith(const std::string& binary,
                                                       const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(CommandOutput out, RunCommand(binary, args));
  if (out.exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(binary, " exited ", out.exit_code, ": ", out.err));
  }
  return ParseObjects(out.out);
}

}  // namespace

std::string RegistrarPath() { return EnvOr("ER_BINARY_DIR", ".") + "/etcd-registrar"; }
std::string HelmPath() { return SourcePath(".tools/kubectl-v34/helm"); }
std::string Kubectl134Path() { return SourcePath(".tools/kubectl-v34/kubectl"); }
std::string ChartDir() { return SourcePath("helm/etcd-registrar"); }

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::StatusOr<std::vector<nlohmann::json>> ParseObjects(const std::string& yaml) {
  ASSIGN_OR_RETURN(std::vector<YamlDocument> documents, LoadYamlDocuments(yaml));
  std::vector<nlohmann::json> objects;
  for (YamlDocument& document : documents) {
    if (document.object.is_object()) {
      objects.push_back(std::move(document.object));
    }
  }
  return objects;
}

absl::StatusOr<std::vector<nlohmann::json>> RenderChart(const std::string& release,
                                                        const std::string& ns,
                                                        const std::vector<std::string>& args) {
  std::vector<std::string> full = {"template", release, ChartDir(), "--namespace", ns};
  full.insert(full.end(), args.begin(), args.end());
  return RenderWith(HelmPath(), full);
}

absl::StatusOr<std::vector<nlohmann::json>> RenderKustomization(const std::string& dir) {
  return RenderWith(Kubectl134Path(), {"kustomize", dir});
}

std::vector<nlohmann::json> OfKind(const std::vector<nlohmann::json>& objects,
                                   const std::string& kind, const std::string& name) {
  std::vector<nlohmann::json> found;
  for (const nlohmann::json& object : objects) {
    if (object.value("kind", "") == kind &&
        (name.empty() || object["metadata"].value("name", "") == name)) {
      found.push_back(object);
    }
  }
  return found;
}

std::vector<std::string> RuleLines(const nlohmann::json& role) {
  std::vector<std::string> lines;
  for (const nlohmann::json& rule : role.value("rules", nlohmann::json::array())) {
    for (const nlohmann::json& group : rule.value("apiGroups", nlohmann::json::array())) {
      for (const nlohmann::json& resource : rule.value("resources", nlohmann::json::array())) {
        for (const nlohmann::json& verb : rule.value("verbs", nlohmann::json::array())) {
          std::string line =
              absl::StrCat(group.get<std::string>(), "/", resource.get<std::string>(), ": ",
                           verb.get<std::string>());
          if (rule.contains("resourceNames")) {
            absl::StrAppend(&line, " ", rule["resourceNames"].dump());
          }
          lines.push_back(std::move(line));
        }
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::vector<std::string> ExpectedRuleLines() {
  std::vector<std::string> lines = {
      "registrar.dev/serviceregistrations: get",
      "registrar.dev/serviceregistrations: list",
      "registrar.dev/serviceregistrations: watch",
      "registrar.dev/serviceregistrations: patch",
      "registrar.dev/serviceregistrations: update",
      "registrar.dev/serviceregistrations/status: get",
      "registrar.dev/serviceregistrations/status: patch",
      "registrar.dev/serviceregistrations/status: update",
      "registrar.dev/serviceregistrations/finalizers: update",
      "/events: create",
      "/events: patch",
      "/secrets: get",
  };
  std::sort(lines.begin(), lines.end());
  return lines;
}

absl::StatusOr<CommandOutput> CheckConfigArgs(const std::vector<std::string>& args,
                                              const std::map<std::string, std::string>& files,
                                              const std::map<std::string, std::string>& env,
                                              const std::string& root) {
  const std::string prefix = root + "/";
  for (const auto& [path, content] : files) {
    if (path.rfind(kMountRoot, 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is not under ", kMountRoot));
    }
    std::string local = prefix + path.substr(sizeof(kMountRoot) - 1);
    std::filesystem::create_directories(std::filesystem::path(local).parent_path());
    std::ofstream(local) << absl::StrReplaceAll(content, {{kMountRoot, prefix}});
  }
  std::vector<std::pair<std::string, std::string>> replacements = {{kMountRoot, prefix}};
  for (const auto& [name, value] : env) {
    replacements.emplace_back(absl::StrCat("$(", name, ")"), value);
  }
  std::vector<std::string> full = {"check-config"};
  for (const std::string& arg : args) {
    full.push_back(absl::StrReplaceAll(arg, replacements));
  }
  return RunCommand(RegistrarPath(), full);
}

}  // namespace registrar::testing
