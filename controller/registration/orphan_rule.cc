#include "controller/registration/orphan_rule.h"

#include <set>

#include "spdlog/spdlog.h"

namespace registrar::registration {

std::vector<std::string> KnownIds(std::vector<std::string> listed,
                                  const std::vector<UnclaimedRecord>& unclaimed, bool scoped,
                                  const std::function<Lookup(const UnclaimedRecord&)>& lookup) {
  if (!scoped) {
    return listed;
  }
  std::set<std::string> seen(listed.begin(), listed.end());
  for (const UnclaimedRecord& record : unclaimed) {
    if (seen.count(record.id) > 0) {
      continue;
    }
    switch (lookup(record)) {
      case Lookup::kSameUid:
        spdlog::info("{}: not in our --namespace/--selector scope but still exists: its record "
                     "is kept", record.id);
        break;
      case Lookup::kFailed:
        spdlog::warn("{}: could not check whether it still exists: its record is kept (a "
                     "restart checks again)", record.id);
        break;
      case Lookup::kOtherUid:
      case Lookup::kNotFound:
        continue;  // an orphan
    }
    seen.insert(record.id);
    listed.push_back(record.id);
  }
  return listed;
}

}  // namespace registrar::registration
