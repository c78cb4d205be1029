#include "controller/source/inotify_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace registrar::source {

namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                           IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

absl::StatusOr<std::unique_ptr<InotifyWatcher>> InotifyWatcher::Create() {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("inotify_init1: ", std::strerror(errno)));
  }
  return std::unique_ptr<InotifyWatcher>(new InotifyWatcher(fd));
}

InotifyWatcher::~InotifyWatcher() { close(fd_); }

absl::StatusOr<bool> InotifyWatcher::WatchExactly(const std::vector<std::string>& dirs) {
  bool added = false;
  bool exhausted = false;
  std::set<int> wanted;
  for (const std::string& dir : dirs) {
    int wd = inotify_add_watch(fd_, dir.c_str(), kMask);
    if (wd < 0) {
      if (errno == ENOSPC || errno == ENOMEM) {
        exhausted = true;
      }
      continue;
    }
    wanted.insert(wd);
    auto [it, inserted] = watches_.insert_or_assign(wd, dir);
    added = added || inserted;
  }
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (wanted.count(it->first) == 0) {
      inotify_rm_watch(fd_, it->first);
      it = watches_.erase(it);
    } else {
      ++it;
    }
  }
  if (exhausted) {
    return absl::ResourceExhaustedError(
        "inotify watch limit reached (see /proc/sys/fs/inotify/max_user_watches)");
  }
  return added;
}

bool InotifyWatcher::Drain(std::set<std::string>* written) {
  alignas(inotify_event) char buffer[16 * 1024];
  bool any = false;
  while (true) {
    ssize_t n = read(fd_, buffer, sizeof(buffer));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return any;
    }
    any = true;
    for (ssize_t offset = 0; offset < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
      auto watch = watches_.find(event->wd);
      if ((event->mask & IN_IGNORED) != 0 && watch != watches_.end()) {
        watches_.erase(watch);
      } else if (event->len > 0 && watch != watches_.end() &&
                 (event->mask & (IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) != 0) {
        written->insert((std::filesystem::path(watch->second) / event->name).string());
      }
      offset += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
}

}  // namespace registrar::source
