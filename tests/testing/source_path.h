// Where the tests find the source tree: ${ER_SOURCE_DIR} (set by ctest), "." when unset. Shared
// by the Kubernetes-mode, packaging and image test harnesses. Header-only, no state.
#pragma once

#include <cstdlib>
#include <string>

namespace registrar::testing {

// ${ER_SOURCE_DIR}/relative.
inline std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  return std::string(dir == nullptr ? "." : dir) + "/" + relative;
}

}  // namespace registrar::testing
