// File: controller/registration/orphan_rule.h
//
// Which adopted ownership records are orphans once the first listing is complete (DESIGN §2:
// "nothing is revoked because a list failed or was partial, and with --namespace/--selector an
// object missing from the list is an orphan only if a GET says it is gone (404) or has another
// UID").
//
// Flow: after the first complete list the controller takes the engine's adopted records that no
// listed object claims yet, asks KnownIds which ids to keep, and passes them to
// Engine::MarkComplete; the engine revokes the records of every other id.
//   - Unscoped (all namespaces, no selector): the list is the whole truth; a record whose id was
//     not listed is an orphan. (A listed id whose UID differs from the record's is the engine's
//     case: the record does not match and is revoked when the new object registers.)
//   - Scoped: a record whose id was not listed is looked up (a GET): same UID -> kept (it is
//     outside our scope, e.g. another install's selector); not found or another UID -> orphan;
//     the lookup failed -> kept (never revoke on a failed read; a restart looks again).
// Pure rule over an injected lookup: thread-compatible; `lookup` runs on the caller's thread,
// once per unlisted record (cost: one GET each, scoped mode only).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace registrar::registration {

struct UnclaimedRecord {
  std::string id;   // "namespace/name"
  std::string uid;  // the UID written in the record
};

enum class Lookup { kSameUid, kOtherUid, kNotFound, kFailed };

// `listed`: ids of the first complete listing. Returns `listed` plus the unlisted ids to keep.
std::vector<std::string> KnownIds(std::vector<std::string> listed,
                                  const std::vector<UnclaimedRecord>& unclaimed, bool scoped,
                                  const std::function<Lookup(const UnclaimedRecord&)>& lookup);

}  // namespace registrar::registration
