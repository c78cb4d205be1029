#include "controller/source/manifest_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controller/common/thread_name.h"
#include "spdlog/spdlog.h"

namespace registrar::source {

namespace {

bool IsManifestName(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  return absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml") ||
         absl::EndsWith(lower, ".json");
}

int64_t Nanos(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }

// Reads at most `limit` + 1 bytes of `path`; fails with the reason as message.
absl::StatusOr<std::string> ReadLimited(const std::string& path, int64_t limit) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot open: ", std::strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError("not a regular file");
  }
  std::string text;
  char buffer[64 * 1024];
  while (static_cast<int64_t>(text.size()) <= limit) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int error = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("cannot read: ", std::strerror(error)));
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

// Documents read between two publications during the first scan.
constexpr size_t kFirstLoadBatch = 500;

std::string TooLarge(int64_t size, int64_t limit) {
  return absl::StrCat(size, " bytes, over the ", limit, "-byte limit for a manifest file");
}

}  // namespace

absl::StatusOr<std::unique_ptr<ManifestSource>> ManifestSource::Create(
    ManifestSourceOptions options, Clock& clock) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("manifest folder: no path given");
  }
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<InotifyWatcher> watcher;
  if (options.use_inotify) {
    absl::StatusOr<std::unique_ptr<InotifyWatcher>> created = InotifyWatcher::Create();
    if (created.ok()) {
      watcher = *std::move(created);
    } else {
      spdlog::warn("manifest folder {}: {}; polling every {} ms instead", options.dir,
                   std::string(created.status().message()), options.poll_interval.count());
    }
  }
  return std::unique_ptr<ManifestSource>(
      new ManifestSource(std::move(options), clock, wake_fd, std::move(watcher)));
}

ManifestSource::ManifestSource(ManifestSourceOptions options, Clock& clock, int wake_fd,
                               std::unique_ptr<InotifyWatcher> watcher)
    : options_(std::move(options)), clock_(clock), wake_fd_(wake_fd), watcher_(std::move(watcher)) {}

ManifestSource::~ManifestSource() {
  Stop();
  close(wake_fd_);
}

void ManifestSource::Start(ChangeHandler handler) {
  handler_ = std::move(handler);
  clock_.Watch(&clock_waker_);
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void ManifestSource::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  thread_.request_stop();
  WakeThread();
  thread_.join();
  clock_.Unwatch(&clock_waker_);
}

void ManifestSource::WakeThread() {
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;  // a full eventfd counter already means "wake up"
}

bool ManifestSource::watching() const {
  absl::MutexLock lock(&mu_);
  return watcher_ != nullptr && watches_complete_;
}

std::map<std::string, std::string> ManifestSource::errors() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::string> errors = dir_errors_;
  for (const auto& [path, state] : files_) {
    if (!state.error.empty()) {
      errors[path] = state.error;
    }
  }
  for (const auto& [path, message] : duplicate_errors_) {
    std::string& entry = errors[path];
    entry = entry.empty() ? message : absl::StrCat(entry, "; ", message);
  }
  return errors;
}

void ManifestSource::Run(std::stop_token stop) {
  SetCurrentThreadName("manifests");
  while (!stop.stop_requested()) {
    Step();
    Clock::Duration wait;
    int inotify_fd = -1;
    {
      absl::MutexLock lock(&mu_);
      wait = NextDeadline() - clock_.Now();
      inotify_fd = watcher_ != nullptr ? watcher_->fd() : -1;
    }
    auto timeout = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd, POLLIN, 0}};
    // Until the deadline: nothing else but a file event, Stop() or a FakeClock advanced
    // (clock_waker_) wakes an idle source.
    poll(fds, inotify_fd >= 0 ? 2 : 1,
         static_cast<int>(std::clamp<int64_t>(timeout, 0, std::numeric_limits<int>::max())));
  }
}

Clock::TimePoint ManifestSource::NextDeadline() const {
  if (!last_scan_) {
    return TimePoint{};
  }
  bool inotify_covers = watcher_ != nullptr && watches_complete_;
  TimePoint due =
      *last_scan_ + (inotify_covers ? options_.resync_interval : options_.poll_interval);
  if (scan_due_) {
    due = std::min(due, *scan_due_);
  }
  for (const auto& [identity, since] : leaving_) {
    due = std::min(due, since + options_.debounce);
  }
  return due;
}

void ManifestSource::MarkDirty(TimePoint now) {
  if (!first_dirty_) {
    first_dirty_ = now;
  }
  scan_due_ = std::min(now + options_.debounce, *first_dirty_ + 3 * options_.debounce);
}

std::vector<std::string> ManifestSource::Step() {
  std::vector<std::string> changed;
  std::vector<std::string> published_early;  // first scan: published before its end
  bool became_synced = false;
  {
    absl::MutexLock lock(&mu_);
    TimePoint now = clock_.Now();
    std::set<std::string> written;
    if (watcher_ != nullptr && watcher_->Drain(&written)) {
      MarkDirty(now);
    }
    for (const std::string& path : written) {
      if (auto it = files_.find(path); it != files_.end()) {
        it->second.signature.reset();  // same size within one mtime tick: re-read anyway
      }
    }
    if (now < NextDeadline()) {
      return changed;
    }
    Scan scan = Walk();
    scans_.fetch_add(1);
    last_scan_ = now;
    scan_due_.reset();
    first_dirty_.reset();
    bool complete = scan.dir_errors.empty();
    for (const auto& [dir, error] : scan.dir_errors) {
      if (dir_errors_[dir] != error) {
        spdlog::warn("manifest folder {}: {}; nothing under it is removed until it can be read",
                     dir, error);
      }
    }
    dir_errors_ = std::move(scan.dir_errors);

    // Until the first complete scan, what has been read since the last publication is added to
    // the store every kFirstLoadBatch documents (PublishNew), so registering starts while later
    // files are still parsed.
    const bool first_load = !synced_.load();
    size_t unpublished = 0;
    std::vector<std::string> fresh;  // paths read since the last early publication
    for (const auto& [path, found] : scan.files) {
      Apply(path, found);
      if (!first_load) {
        continue;
      }
      fresh.push_back(path);
      if (auto it = files_.find(path); it != files_.end()) {
        unpublished += it->second.documents.size();
      }
      if (unpublished >= kFirstLoadBatch) {
        unpublished = 0;
        std::vector<std::string> partial = PublishNew(fresh);
        fresh.clear();
        if (handler_ && !partial.empty()) {
          handler_(partial);  // under mu_: the handler never calls back into this source
        }
        published_early.insert(published_early.end(), partial.begin(), partial.end());
      }
    }
    for (auto it = files_.begin(); complete && it != files_.end();) {
      if (scan.files.count(it->first) == 0) {
        publish_due_ = publish_due_ || !it->second.documents.empty();
        it = files_.erase(it);
      } else {
        ++it;
      }
    }

    if (watcher_ != nullptr) {
      absl::StatusOr<bool> added = watcher_->WatchExactly(scan.dirs);
      watches_complete_ = added.ok() && complete;
      if (!added.ok() && !watch_limit_reached_) {
        spdlog::warn("manifest folder {}: {}; polling every {} ms", options_.dir,
                     std::string(added.status().message()), options_.poll_interval.count());
      }
      watch_limit_reached_ = !added.ok();
      if (added.ok() && *added) {
        MarkDirty(now);  // files written in a new folder before its watch existed
      }
    }

    if (publish_due_ || !leaving_.empty() || !synced_.load()) {
      changed = Publish(now);
      publish_due_ = false;
      publishes_.fetch_add(1);
    }
    if (complete && !synced_.load()) {
      synced_.store(true);
      became_synced = true;
      spdlog::info("manifest folder {}: synced, {} registrations", options_.dir, store_.size());
    }
  }
  if (handler_ && (became_synced || !changed.empty())) {
    handler_(changed);
  }
  if (!published_early.empty()) {
    changed.insert(changed.end(), published_early.begin(), published_early.end());
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  }
  return changed;
}

ManifestSource::Scan ManifestSource::Walk() const {
  Scan scan;
  struct stat st {};
  if (stat(options_.dir.c_str(), &st) != 0) {
    scan.dir_errors[options_.dir] = absl::StrCat("cannot read the folder: ", std::strerror(errno));
    return scan;
  }
  if (!S_ISDIR(st.st_mode)) {
    scan.dir_errors[options_.dir] = "not a folder";
    return scan;
  }
  std::map<std::pair<uint64_t, uint64_t>, bool> visited;
  visited[{st.st_dev, st.st_ino}] = true;
  WalkDir(options_.dir, visited, scan);
  return scan;
}

void ManifestSource::WalkDir(const std::string& dir,
                             std::map<std::pair<uint64_t, uint64_t>, bool>& visited,
                             Scan& scan) const {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) {
    scan.dir_errors[dir] = absl::StrCat("cannot read the folder: ", error.message());
    return;
  }
  scan.dirs.push_back(dir);
  std::vector<std::string> subdirs;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') {
      continue;
    }
    std::string path = it->path().string();
    bool manifest = IsManifestName(name);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      if (manifest && errno != ENOENT) {  // ENOENT: gone meanwhile, or a dangling symlink
        scan.files[path].error = absl::StrCat("cannot read: ", std::strerror(errno));
      }
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (visited.try_emplace({st.st_dev, st.st_ino}, true).second) {
        subdirs.push_back(path);
      }
    } else if (manifest && S_ISREG(st.st_mode)) {
      scan.files[path].signature = Signature{.device = st.st_dev,
                                             .inode = st.st_ino,
                                             .size = st.st_size,
                                             .mtime_ns = Nanos(st.st_mtim),
                                             .ctime_ns = Nanos(st.st_ctim)};
    } else if (manifest) {
      scan.files[path].error = "not a regular file";
    }
  }
  if (error) {
    scan.dir_errors[dir] = absl::StrCat("cannot list the folder: ", error.message());
  }
  for (const std::string& subdir : subdirs) {
    WalkDir(subdir, visited, scan);
  }
}

void ManifestSource::Apply(const std::string& path, const Found& found) {
  FileState& state = files_[path];
  if (!found.signature) {
    if (state.error != found.error) {
      spdlog::warn("{}: {}; keeping its last good registrations ({})", path, found.error,
                   state.documents.size());
    }
    state.error = found.error;
    state.signature.reset();
    return;
  }
  const Signature& signature = *found.signature;
  if (state.signature == signature) {
    return;
  }
  state.signature = signature;
  if (signature.size > options_.max_file_bytes) {
    state.error = TooLarge(signature.size, options_.max_file_bytes);
    spdlog::warn("{}: {}; keeping its last good registrations ({})", path, state.error,
                 state.documents.size());
    return;
  }
  Read(path, state);
}

void ManifestSource::Read(const std::string& path, FileState& state) {
  files_read_.fetch_add(1);
  absl::StatusOr<std::string> text = ReadLimited(path, options_.max_file_bytes);
  absl::StatusOr<std::vector<ManifestDocument>> documents =
      !text.ok() ? absl::StatusOr<std::vector<ManifestDocument>>(text.status())
      : static_cast<int64_t>(text->size()) > options_.max_file_bytes
          ? absl::InvalidArgumentError(TooLarge(static_cast<int64_t>(text->size()),
                                                options_.max_file_bytes))
          : ParseManifestFile(path, *text);
  if (!documents.ok()) {
    state.error = std::string(documents.status().message());
    spdlog::warn("{}: {}; keeping its last good registrations ({})", path, state.error,
                 state.documents.size());
    return;
  }
  if (!state.error.empty()) {
    spdlog::info("{}: fixed, {} registrations", path, documents->size());
  }
  state.error.clear();
  publish_due_ = true;
  state.documents.clear();
  state.documents.reserve(documents->size());
  for (ManifestDocument& document : *documents) {
    document.object.metadata.generation = 1;  // a new registration's; Publish keeps the store's
    state.documents.push_back({.object = std::make_shared<const registration::ServiceRegistration>(
                                   std::move(document.object)),
                               .index = document.index,
                               .line = document.line});
  }
}

std::vector<std::string> ManifestSource::PublishNew(const std::vector<std::string>& paths) {
  std::vector<std::string> added;
  for (const std::string& path : paths) {
    auto it = files_.find(path);
    if (it == files_.end()) {
      continue;
    }
    for (const Declared& document : it->second.documents) {
      std::string identity = document.object->Identity();
      if (store_.Get(identity) == nullptr) {  // else declared before, or changed: for Publish
        store_.Set(identity, document.object);
        added.push_back(std::move(identity));
      }
    }
  }
  std::sort(added.begin(), added.end());
  return added;
}

std::vector<std::string> ManifestSource::Publish(TimePoint now) {
  std::map<std::string, ObjectPtr> desired;
  std::map<std::string, std::string> declared_by;  // identity -> "path document N"
  std::map<std::string, std::string> duplicates;   // path -> message
  for (auto& [path, state] : files_) {
    for (Declared& document : state.documents) {
      std::string identity = document.object->Identity();
      auto [first, inserted] =
          declared_by.try_emplace(identity, absl::StrCat(path, " document ", document.index));
      if (!inserted) {
        std::string& message = duplicates[path];
        absl::StrAppend(&message, message.empty() ? "" : "; ", "document ", document.index,
                        " (line ", document.line, "): ", identity, " is already declared by ",
                        first->second, "; this one is ignored");
        continue;
      }
      ObjectPtr old = store_.Get(identity);
      if (old == nullptr || old == document.object) {  // new (generation 1), or published before
        desired.emplace(identity, document.object);
        continue;
      }
      registration::ServiceRegistration object = *document.object;
      object.metadata.generation = old->metadata.generation;
      if (*old == object) {
        document.object = old;
        desired.emplace(identity, std::move(old));
        continue;
      }
      ++object.metadata.generation;
      document.object = std::make_shared<const registration::ServiceRegistration>(std::move(object));
      desired.emplace(identity, document.object);
    }
  }
  for (const auto& [path, message] : duplicates) {
    auto it = duplicate_errors_.find(path);
    if (it == duplicate_errors_.end() || it->second != message) {
      spdlog::warn("{}: {}", path, message);
    }
  }
  duplicate_errors_ = std::move(duplicates);

  std::erase_if(leaving_, [&](const auto& entry) { return desired.count(entry.first) != 0; });
  for (const ObjectPtr& object : store_.List()) {
    std::string identity = object->Identity();
    if (desired.count(identity) != 0) {
      continue;
    }
    auto [since, inserted] = leaving_.try_emplace(identity, now);
    if (now - since->second < options_.debounce) {
      desired.emplace(identity, object);
      continue;
    }
    leaving_.erase(since);
    spdlog::info("{}: no longer declared under {}, removed", identity, options_.dir);
  }
  return store_.Replace(std::move(desired));
}

}  // namespace registrar::source
