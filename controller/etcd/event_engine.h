// File: controller/etcd/event_engine.h
//
// gRPC's EventEngine for this process: one named thread ("grpc-events") that runs the closures
// gRPC hands to its EventEngine, each at its time, and sleeps until the next one is due.
//
// Why: Debian's gRPC 1.51 still does all its networking, polling and channel timers through its
// iomgr (the etcd-cq, grpc_global_timer and executor threads); its default EventEngine
// (PosixEventEngine) is created for every channel all the same and only runs a few timers (the
// client idle filter's). It costs a thread pool of one thread per core (2 on 2 cores, 32 on 32:
// measured, docs/architecture.md "Threads") plus a timer thread that wakes once a second even
// when no timer is set. This engine replaces it: one thread, no wake-up but a real deadline.
//
// Flow: InstallEventEngine() registers the factory with grpc_event_engine::experimental::
// SetEventEngineFactory once, before gRPC is initialized (ClientImpl::Create calls it first);
// gRPC then creates its engines through it. Run() queues a closure due now, RunAfter() one due
// later (a TimerQueue ordered by time, then by arrival); the thread pops what is due, runs it with
// no lock held (a closure may call Run, RunAfter or Cancel), then sleeps until the next due time or
// until an earlier one is queued. Cancel() removes a closure that has not been taken to run.
// What gRPC 1.51 does not use in iomgr mode is not provided: Connect, CreateListener and DNS
// lookups answer kUnimplemented (asynchronously, on the thread, as the interface asks) and are
// logged once as a warning, so a gRPC that starts using them is noticed at once.
//
// Thread-safety: every method may be called from any thread, also from a closure on the engine's
// own thread. Ownership: gRPC owns each engine (a shared_ptr); the thread shares the engine's
// state, so the last reference may be dropped on the thread itself (it is then detached, not
// joined). Closures still queued when the engine is destroyed are dropped unrun (gRPC cancels its
// timers before; the interface calls anything left undefined behaviour).
#pragma once

#include <cstdint>
#include <memory>
#include <thread>

#include <grpc/event_engine/event_engine.h>

namespace registrar::etcd {

// Makes gRPC create every default EventEngine as a OneThreadEventEngine. Idempotent; call it
// before the first gRPC call of the process (grpc_init), as SetEventEngineFactory asks.
void InstallEventEngine();

class OneThreadEventEngine final : public grpc_event_engine::experimental::EventEngine {
 public:
  OneThreadEventEngine();
  ~OneThreadEventEngine() override;

  bool IsWorkerThread() override;
  std::unique_ptr<DNSResolver> GetDNSResolver(const DNSResolver::ResolverOptions& options) override;
  void Run(Closure* closure) override;
  void Run(absl::AnyInvocable<void()> closure) override;
  TaskHandle RunAfter(Duration when, Closure* closure) override;
  TaskHandle RunAfter(Duration when, absl::AnyInvocable<void()> closure) override;
  bool Cancel(TaskHandle handle) override;

  absl::StatusOr<std::unique_ptr<Listener>> CreateListener(
      Listener::AcceptCallback on_accept, absl::AnyInvocable<void(absl::Status)> on_shutdown,
      const grpc_event_engine::experimental::EndpointConfig& config,
      std::unique_ptr<grpc_event_engine::experimental::MemoryAllocatorFactory> factory) override;
  ConnectionHandle Connect(OnConnectCallback on_connect, const ResolvedAddress& addr,
                           const grpc_event_engine::experimental::EndpointConfig& args,
                           grpc_event_engine::experimental::MemoryAllocator memory_allocator,
                           Duration timeout) override;
  bool CancelConnect(ConnectionHandle handle) override;

  // Closures run so far (tests).
  int64_t ran() const;

  struct State;  // shared with the thread (event_engine.cc)

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;  // runs Loop (event_engine.cc); shares state_
};

}  // namespace registrar::etcd
