// File: tests/integration/packaging/packaging_harness.h
//
// What the packaging tests share: the paths of the tools (helm and kubectl 1.34 from
// .tools/kubectl-v34, scripts/install-tools.sh; the binary from ER_BINARY_DIR), rendering a
// chart or a kustomization into parsed objects, picking objects out, and running the container
// args of a rendered Deployment through `etcd-registrar check-config`.
//
// Flow: Render*() runs the tool and splits its YAML with common/yaml_json.h; CheckConfigArgs()
// points every /etc/etcd-registrar/... path of the args at a file under a temp root (written from
// `files`), expands $(VAR) from `env`, and runs the binary.
// Thread-safety: plain functions; one test thread. Ownership: values only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "nlohmann/json.hpp"
#include "tests/fixtures/kube_control_plane.h"
#include "tests/testing/source_path.h"

namespace registrar::testing {

std::string RegistrarPath();                          // ${ER_BINARY_DIR}/etcd-registrar
std::string HelmPath();                               // .tools/kubectl-v34/helm
std::string Kubectl134Path();                         // .tools/kubectl-v34/kubectl
std::string ChartDir();                               // helm/etcd-registrar
std::string ReadText(const std::string& path);        // "" when unreadable

// Splits a multi-document YAML stream into objects (empty documents skipped).
absl::StatusOr<std::vector<nlohmann::json>> ParseObjects(const std::string& yaml);
// `helm template <release> <chart> --namespace <ns> <args>`; an exit code other than 0 is an
// error carrying helm's stderr.
absl::StatusOr<std::vector<nlohmann::json>> RenderChart(const std::string& release,
                                                        const std::string& ns,
                                                        const std::vector<std::string>& args);
// `kubectl kustomize <dir>`.
absl::StatusOr<std::vector<nlohmann::json>> RenderKustomization(const std::string& dir);

// The objects of `kind` (and `name`, when not empty).
std::vector<nlohmann::json> OfKind(const std::vector<nlohmann::json>& objects,
                                   const std::string& kind, const std::string& name = "");

// A (Cluster)Role's rules as sorted "group/resource: verb" lines, one per verb, e.g.
// "registrar.dev/serviceregistrations/status: patch", "/events: create".
std::vector<std::string> RuleLines(const nlohmann::json& role);
// What the controller needs, in RuleLines' form (the list, nothing more).
std::vector<std::string> ExpectedRuleLines();

// Runs `etcd-registrar check-config <args>` with every "/etc/etcd-registrar/<p>" in the args
// replaced by "<root>/<p>", after writing `files` (path under /etc/etcd-registrar/ -> content)
// there, and every "$(NAME)" replaced by env.at(NAME).
absl::StatusOr<CommandOutput> CheckConfigArgs(const std::vector<std::string>& args,
                                              const std::map<std::string, std::string>& files,
                                              const std::map<std::string, std::string>& env,
                                              const std::string& root);

}  // namespace registrar::testing
