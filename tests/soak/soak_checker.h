// File: tests/soak/soak_checker.h
//
// The fault soak's judge as a pure function: what the manifests ask for (the desired set)
// against what etcd holds (every key and every lease, read by etcdctl) and what the controller
// says (/registrations) → the list of violations; empty means the state is right.
//
// Flow: the soak (tests/soak/fault_soak.cc) takes a Snapshot after each fault, calls Check, and
// polls until the list is empty or the step's deadline passes (then prints the list).
// What "right" is (DESIGN.md §2):
//   - each desired registration that is not paused has exactly one key under `<key>/`, named
//     `<key>/<id>` (id >= 1) or `<key>/<its lease in decimal>`, holding the value, on a lease
//     etcd still knows; a paused or undesired registration has none (kMissing, kDuplicate,
//     kWrongValue, kWrongFullKey, kNoLease, kStray);
//   - each such key has its ownership record `<owner_prefix><owner_id>/<full key>` on the same
//     lease whose JSON names the registration and the value; no other record exists under the
//     owner's prefix (kBadRecord, kOrphanRecord);
//   - every lease etcd holds carries a key or a record seen in the snapshot (kOrphanLease);
//   - when the controller's view is given: each desired registration is listed once, Registered
//     with the key and lease etcd has (Paused when paused), and nothing else is listed
//     (kView).
// Cost: O((keys + leases + registrations) log n). Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace registrar::soak {

struct DesiredRegistration {
  std::string ns;
  std::string name;
  std::string key;  // spec.key
  std::string value;
  int64_t id = 0;  // 0: the full key ends in the lease id
  bool paused = false;
};

struct Kv {
  std::string key;
  std::string value;
  int64_t lease = 0;
};

// One entry of the controller's /registrations.
struct ViewEntry {
  std::string ns;
  std::string name;
  std::string phase;
  std::string full_key;
  int64_t lease = 0;
};

struct Snapshot {
  std::vector<Kv> kvs;                         // the whole keyspace
  std::vector<int64_t> leases;                 // every lease etcd holds
  std::optional<std::vector<ViewEntry>> view;  // nullopt: not checked
};

struct CheckOptions {
  std::string owner_prefix = "/etcd-registrar/owners/";
  std::string owner_id;
};

enum class ViolationKind {
  kMissing,
  kDuplicate,
  kWrongValue,
  kWrongFullKey,
  kNoLease,
  kStray,
  kBadRecord,
  kOrphanRecord,
  kOrphanLease,
  kView,
};

struct Violation {
  ViolationKind kind;
  std::string subject;  // a registration "ns/name", a key or a lease (hex)
  std::string detail;
};

std::vector<Violation> Check(const std::vector<DesiredRegistration>& desired,
                             const Snapshot& snapshot, const CheckOptions& options);

std::string ViolationName(ViolationKind kind);
// "<kind> <subject>: <detail>".
std::string Describe(const Violation& violation);
// At most `max` violations, one per line, then "... and N more".
std::string Summarize(const std::vector<Violation>& violations, size_t max = 10);

}  // namespace registrar::soak
