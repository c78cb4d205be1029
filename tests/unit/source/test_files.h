// File: tests/unit/source/test_files.h
//
// Helpers for the manifest-source tests: file writes the way editors and kubelet do them, and
// manifest text (the temporary folder is tests/testing/temp_dir.h).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/testing/temp_dir.h"

namespace registrar::source::testing {

// A folder removed at the end of the test (tests/testing/temp_dir.h).
using TempDir = ::registrar::testing::TempDir;

// Writes `text` in place (open with O_TRUNC, write, close), creating parent folders.
inline void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  ASSERT_TRUE(out.good()) << path;
}

// Writes `text` to a temporary name in the same folder, then renames it over `path` (atomic save).
inline void ReplaceFile(const std::string& path, const std::string& text) {
  std::string temp = path + ".tmp~";
  WriteFile(temp, text);
  std::filesystem::rename(temp, path);
}

inline std::string Manifest(const std::string& name, const std::string& value,
                            const std::string& key = "user.rpc", const std::string& ns = "") {
  return absl::StrCat("apiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\nmetadata:\n",
                      "  name: ", name, "\n", ns.empty() ? "" : absl::StrCat("  namespace: ", ns, "\n"),
                      "spec:\n  key: ", key, "\n  value: \"", value, "\"\n");
}

}  // namespace registrar::source::testing
