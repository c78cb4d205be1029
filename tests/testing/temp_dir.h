// File: tests/testing/temp_dir.h
//
// A temporary folder owned by a test: created fresh under the system temp folder (TMPDIR or
// /tmp) and removed with everything in it when the object goes away, also when the test fails.
//
// Flow: `TempDir dir("er-source"); WriteFile(dir / "a.yaml", ...);`. With ER_KEEP_TEST_TMP set in
// the environment the folder is kept (and its path printed) for a look after a failure.
// The folder gets mode 0755,
// so a child process running as another user (setpriv) can read it. Removal first gives the
// owner every permission back on each folder, so a test that chmod-ed a folder to 000 still
// leaves nothing behind.
//
// MakeTempDir() is the same without gtest and without removal, for fixtures that report errors
// as a Status and remove their folder themselves (EtcdProcess, ChildProcess).
//
// Thread-safety: none; one test thread owns a TempDir. Not copyable, not movable (the path is
// the object's identity). MakeTempDir is safe from any thread.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace registrar::testing {

// Creates a fresh folder <temp>/<prefix>-XXXXXX (mode 0700, mkdtemp's) and returns its path.
inline absl::StatusOr<std::string> MakeTempDir(std::string_view prefix) {
  std::error_code error;
  std::filesystem::path temp = std::filesystem::temp_directory_path(error);
  if (error) {
    temp = "/tmp";
  }
  std::string templ = (temp / (std::string(prefix) + "-XXXXXX")).string();
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp(", templ, "): ", std::strerror(errno)));
  }
  return templ;
}

class TempDir {
 public:
  // `prefix` names the folder (<prefix>-XXXXXX) so a leftover one tells which test made it.
  // A failure to create it fails the test (ADD_FAILURE) and leaves path() empty.
  explicit TempDir(std::string_view prefix = "er-test") {
    absl::StatusOr<std::string> made = MakeTempDir(prefix);
    if (!made.ok()) {
      ADD_FAILURE() << made.status().message();
      return;
    }
    path_ = *std::move(made);
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    if (path_.empty()) {
      return;
    }
    if (std::getenv("ER_KEEP_TEST_TMP") != nullptr) {
      std::cerr << "ER_KEEP_TEST_TMP: kept " << path_ << std::endl;
      return;
    }
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ignored);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
      if (it->is_directory(ignored) && !it->is_symlink(ignored)) {
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ignored);
      }
    }
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative.
  std::string operator/(std::string_view relative) const {
    return (std::filesystem::path(path_) / relative).string();
  }

 private:
  std::string path_;
};

}  // namespace registrar::testing
