// File: controller/source/manifest_file.h
//
// The content of one manifest file (YAML, possibly multi-document; JSON is YAML) turned into the
// ServiceRegistrations it declares, checked with the shared validation in manifest mode.
//
// Rules: documents of other kinds are skipped (debug log); a document without apiVersion/kind is an
// error, as for kubectl; an empty namespace becomes "default"; manifest objects have no Kubernetes
// UID, so metadata.uid is derived from the identity: "manifest:<namespace>/<name>" (stable across
// restarts and file moves, which is what the engine's ownership records need). The file is one
// unit: any problem in any document fails the whole file, so a half-edited file never applies
// partly. One exception: a spec.key overlapping the owner prefix is not a broken file but a refused
// registration; that document is returned and the reconciler refuses it alone (Failed,
// InvalidSpec), while the file's other documents apply; the reconciler holds the configured prefix.
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "controller/registration/types.h"

namespace registrar::source {

inline constexpr char kManifestUidPrefix[] = "manifest:";

struct ManifestDocument {
  registration::ServiceRegistration object;
  int index = 0;  // 1-based, among the file's non-empty documents
  int line = 0;   // 1-based line where the document starts
};

// Parses `text`, the content of the file `path` (used only in log lines).
// Returns kInvalidArgument with every problem, each with its line, e.g.
// "line 3, column 5: <yaml syntax error>" or
// "document 2 (line 14): spec.key (line 16): must not be empty", or for binary content
// "binary content (NUL byte at offset 12)" / "not UTF-8 text (invalid byte at offset 7)".
absl::StatusOr<std::vector<ManifestDocument>> ParseManifestFile(std::string_view path,
                                                                std::string_view text);

}  // namespace registrar::source
