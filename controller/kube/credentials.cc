#include "controller/kube/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

#include "controller/kube/exec_credential.h"

namespace registrar::kube {

namespace {

constexpr size_t kMaxTokenBytes = 1 << 20;

class StaticCredentials final : public Credentials {
 public:
  explicit StaticCredentials(std::string token) : token_(std::move(token)) {}
  absl::StatusOr<std::string> Token() override { return token_; }
  void Invalidate() override {}

 private:
  const std::string token_;
};

// What stat() tells about a file; a change of any part means "read it again".
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

class FileTokenCredentials final : public Credentials {
 public:
  explicit FileTokenCredentials(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::string> Token() override {
    absl::MutexLock lock(&mu_);
    struct stat st;
    if (stat(path_.c_str(), &st) != 0) {
      return Fallback(absl::StrCat("cannot read ", path_, ": ", std::strerror(errno)));
    }
    const FileStamp stamp{st.st_dev, st.st_ino, st.st_size,
                          int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
    if (has_token_ && stamp == stamp_) {
      return token_;
    }
    absl::StatusOr<std::string> token = Read();
    if (!token.ok()) {
      return Fallback(std::string(token.status().message()));
    }
    if (has_token_ && *token != token_) {
      spdlog::info("token file {} changed; using the new token", path_);
    }
    token_ = *std::move(token);
    stamp_ = stamp;
    has_token_ = true;
    return token_;
  }

  void Invalidate() override {
    absl::MutexLock lock(&mu_);
    stamp_ = FileStamp{};  // read again on the next call, changed or not
  }

 private:
  absl::StatusOr<std::string> Read() const {
    const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return absl::UnavailableError(absl::StrCat("cannot read ", path_, ": ", std::strerror(errno)));
    }
    std::string data;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) {
        data.append(buffer, static_cast<size_t>(n));
      }
      if (data.size() > kMaxTokenBytes) {
        close(fd);
        return absl::UnavailableError(absl::StrCat("token file ", path_, " is over 1 MiB"));
      }
    }
    const int error = errno;
    close(fd);
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("cannot read ", path_, ": ", std::strerror(error)));
    }
    std::string token(absl::StripAsciiWhitespace(data));
    if (token.empty()) {
      return absl::UnavailableError(absl::StrCat("token file ", path_, " is empty"));
    }
    return token;
  }

  // A failed re-read keeps the last good token (client-go does the same): the kubelet replaces
  // the file atomically, so a failure is usually a moment between two files.
  absl::StatusOr<std::string> Fallback(const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (has_token_) {
      spdlog::warn("token file: {}; keeping the last token read", message);
      return token_;
    }
    return absl::UnavailableError(message);
  }

  const std::string path_;
  absl::Mutex mu_;
  bool has_token_ ABSL_GUARDED_BY(mu_) = false;
  std::string token_ ABSL_GUARDED_BY(mu_);
  FileStamp stamp_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Credentials> NewCredentials(const ClusterConfig& config, Clock& clock) {
  if (config.exec) {
    return NewExecCredentials(*config.exec, config, clock, kExecPluginTimeout);
  }
  if (!config.token_file.empty()) {
    return std::make_unique<FileTokenCredentials>(config.token_file);  // wins over token
  }
  return std::make_unique<StaticCredentials>(config.token);
}

}  // namespace registrar::kube
