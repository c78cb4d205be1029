// File: bench/bench_common.h
//
// What the benchmarks share: the raw baseline (plain LeaseGrant + Put through the client library,
// no engine logic: what a go-zero server does for itself), revoking every lease between phases,
// and reading another process's CPU and memory from /proc.
//
// Flow: a bench starts its etcd (tests/fixtures/etcd_process.h), runs RawBaseline for the figure
// to compare with, RevokeAll before the next phase, and samples ProcessCpuSeconds / ProcessMemory
// around a hold.
// Thread-safety: every function may be called from any thread; RawBaseline and RevokeAll block
// until done. Ownership: the client is borrowed.
#pragma once

#include <sys/types.h>

#include <string>

#include "controller/etcd/client.h"

namespace registrar::bench {

// n x (LeaseGrant TTL 10 + Put "raw.rpc/<lease>" on that lease), `in_flight` at a time; the wall
// seconds. Failures are printed and counted as done.
double RawBaseline(etcd::Client& client, int n, int in_flight);

// Revokes every lease in etcd, 256 at a time, until etcd lists none (at most 60 s).
void RevokeAll(etcd::Client& client);

// CPU seconds (user + system) of `pid` from /proc/<pid>/stat; -1 when unreadable.
double ProcessCpuSeconds(pid_t pid);
// CPU seconds of this process (getrusage).
double SelfCpuSeconds();

// VmRSS, VmHWM, RssAnon (heap, stacks) and RssFile (mapped code and data of the binary and its
// libraries) of `pid` ("self" for 0) from /proc/<pid>/status, in KiB; -1 when unreadable.
struct Memory {
  long rss_kib = -1;
  long hwm_kib = -1;
  long anon_kib = -1;
  long file_kib = -1;
};
Memory ProcessMemory(pid_t pid);

// /proc/loadavg's first three fields.
std::string LoadAverage();

}  // namespace registrar::bench
