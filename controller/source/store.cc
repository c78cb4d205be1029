#include "controller/source/store.h"

#include <utility>

namespace registrar::source {

ObjectPtr Store::Get(std::string_view identity) const {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(identity);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<ObjectPtr> list;
  list.reserve(objects_.size());
  for (const auto& [identity, object] : objects_) {
    list.push_back(object);
  }
  return list;
}

size_t Store::size() const {
  absl::MutexLock lock(&mu_);
  return objects_.size();
}

std::vector<std::string> Store::Replace(std::map<std::string, ObjectPtr> objects) {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> changed;
  auto old_it = objects_.begin();
  auto new_it = objects.begin();
  while (old_it != objects_.end() || new_it != objects.end()) {
    if (new_it == objects.end() || (old_it != objects_.end() && old_it->first < new_it->first)) {
      changed.push_back(old_it->first);
      ++old_it;
    } else if (old_it == objects_.end() || new_it->first < old_it->first) {
      changed.push_back(new_it->first);
      ++new_it;
    } else {
      if (old_it->second != new_it->second) {
        changed.push_back(new_it->first);
      }
      ++old_it;
      ++new_it;
    }
  }
  objects_ = std::map<std::string, ObjectPtr, std::less<>>(std::make_move_iterator(objects.begin()),
                                                           std::make_move_iterator(objects.end()));
  return changed;
}

bool Store::Set(const std::string& identity, ObjectPtr object) {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(identity);
  if (object == nullptr) {
    if (it == objects_.end()) {
      return false;
    }
    objects_.erase(it);
    return true;
  }
  if (it == objects_.end()) {
    objects_.emplace(identity, std::move(object));
    return true;
  }
  if (it->second == object) {
    return false;
  }
  it->second = std::move(object);
  return true;
}

}  // namespace registrar::source
