// File: controller/etcd/dry_run_client.h
//
// `--dry-run` as a decorator of `Client`: every write (Put, DeleteRange, Txn, Compact,
// LeaseGrant, LeaseRevoke) is logged and refused with kFailedPrecondition "dry run: nothing
// written" (IsDryRun() tells it apart); reads go to the wrapped client, or, without one (no
// connection at all), are answered as by an empty etcd that is not reachable: Range returns no
// keys, Status fails with kUnavailable. Keep-alive and watch streams open and stay silent.
//
// Flow: callbacks of refused writes and of answered-here reads run on the calling thread, before
// the call returns (the engine posts every answer to its own thread, so that is safe for it).
// Thread-safety: as the wrapped client; without one, every method is safe from any thread.
// Ownership: owns the wrapped client.
#pragma once

#include "controller/etcd/client.h"

namespace registrar::etcd {

// The message of every refused write.
inline constexpr char kDryRunMessage[] = "dry run: nothing written";

// True for the status a dry-run client refuses a write with.
bool IsDryRun(const absl::Status& status);

// `inner` may be null: nothing is connected then.
ClientPtr NewDryRunClient(ClientPtr inner);

}  // namespace registrar::etcd
