// File: controller/etcd/revision_tracker.h
//
// Notices when etcd's revision goes backwards, the sign that etcd lost its data (restarted with
// an empty data dir) or that the endpoints now point at another cluster.
//
// Flow: before sending a request (or when opening a stream) the caller takes a Floor, the highest
// revision seen so far; when the response arrives it calls Observe(floor, header.revision).
// etcd is linearizable, so a response to a request sent after revision R was seen can never carry
// a revision below R on the same cluster; only such a response counts as a regression. Comparing
// against the floor (and not the current maximum) keeps reordered concurrent responses from
// counting. After a regression the maximum restarts from the new, lower revision (a new epoch);
// responses to requests sent in an older epoch neither count nor raise the maximum, so one data
// loss counts once. Zero revisions (responses without a header) are ignored.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace registrar::etcd {

class RevisionTracker {
 public:
  struct Floor {
    int64_t revision = 0;
    uint64_t epoch = 0;
  };

  Floor Begin() const;
  // Records a response revision; for a stream, `floor` moves up with every response.
  void Observe(Floor& floor, int64_t revision);
  int64_t max_revision() const;
  int64_t regressions() const;

 private:
  mutable absl::Mutex mu_;
  int64_t max_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t regressions_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace registrar::etcd
