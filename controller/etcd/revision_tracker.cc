#include "controller/etcd/revision_tracker.h"

#include <algorithm>

namespace registrar::etcd {

RevisionTracker::Floor RevisionTracker::Begin() const {
  absl::MutexLock lock(&mu_);
  return Floor{max_, epoch_};
}

void RevisionTracker::Observe(Floor& floor, int64_t revision) {
  if (revision <= 0) {
    return;
  }
  absl::MutexLock lock(&mu_);
  if (floor.epoch != epoch_) {
    floor = Floor{revision, epoch_};
    return;
  }
  if (revision < floor.revision) {
    ++regressions_;
    ++epoch_;
    max_ = revision;
    floor = Floor{revision, epoch_};
    return;
  }
  max_ = std::max(max_, revision);
  floor.revision = revision;
}

int64_t RevisionTracker::max_revision() const {
  absl::MutexLock lock(&mu_);
  return max_;
}

int64_t RevisionTracker::regressions() const {
  absl::MutexLock lock(&mu_);
  return regressions_;
}

}  // namespace registrar::etcd
