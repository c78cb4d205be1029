// File: controller/source/store.h
//
// The desired ServiceRegistrations of a source, by identity ("namespace/name"): a read-mostly cache
// in the style of kube-rs' reflector Store. Objects are immutable shared snapshots
// (shared_ptr<const>), so a reader keeps a consistent object while the source replaces it.
//
// Flow: the source (the single writer) builds the whole desired map and calls Replace(); Replace
// reports the identities whose object pointer appeared, changed or disappeared. A source that
// learns of one object at a time (a watch event) calls Set() for it instead. A writer keeps the
// same pointer for an unchanged object, so "changed" means "a new desired state to reconcile".
// Readers (reconciler workers, HTTP) call Get()/List() at any time; the store may be a moment stale
// relative to the files, as any cache is: a reconciler re-reads on the next change notification.
//
// Thread-safety: every method is safe for concurrent use.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/registration/types.h"

namespace registrar::source {

using ObjectPtr = std::shared_ptr<const registration::ServiceRegistration>;

class Store {
 public:
  // The object with this identity, or nullptr when there is none.
  ObjectPtr Get(std::string_view identity) const;

  // All objects, sorted by identity.
  std::vector<ObjectPtr> List() const;

  size_t size() const;

  // Makes the contents exactly `objects` (identity -> object). Returns the identities, sorted, that
  // were added, removed, or now map to a different pointer.
  // REQUIRES: every key equals its object's Identity(); no null pointers.
  std::vector<std::string> Replace(std::map<std::string, ObjectPtr> objects);

  // Makes `identity` map to `object` (nullptr: removes it), leaving the others alone; O(log n).
  // Returns whether that changed anything (the entry appeared, went, or has another pointer).
  // REQUIRES: a non-null object's Identity() equals `identity`.
  bool Set(const std::string& identity, ObjectPtr object);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, ObjectPtr, std::less<>> objects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace registrar::source
