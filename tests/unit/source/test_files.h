// File: tests/unit/source/test_files.h
//
// Helpers for the manifest-source tests: a temporary folder removed at the end of the test, file
// writes the way editors and kubelet do them, and manifest text.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace registrar::source::testing {

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "er-source-XXXXXX").string();
    char* made = mkdtemp(templ.data());
    EXPECT_NE(made, nullptr);
    path_ = templ;
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& relative) const {
    return (std::filesystem::path(path_) / relative).string();
  }

 private:
  std::string path_;
};

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
