#include "controller/etcd/event_engine.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "controller/common/thread_name.h"
#include "controller/common/timer_queue.h"
#include "spdlog/spdlog.h"

namespace registrar::etcd {

using grpc_event_engine::experimental::EndpointConfig;
using grpc_event_engine::experimental::EventEngine;
using grpc_event_engine::experimental::MemoryAllocator;
using grpc_event_engine::experimental::MemoryAllocatorFactory;
using Steady = std::chrono::steady_clock;

struct OneThreadEventEngine::State {
  absl::Mutex mu;
  absl::CondVar cv;
  TimerQueue<uint64_t> queue ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, absl::AnyInvocable<void()>> closures ABSL_GUARDED_BY(mu);
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::atomic<int64_t> ran{0};
};

namespace {

// Beyond this a delay is "never" for this process; it keeps now + delay inside steady_clock.
constexpr EventEngine::Duration kFarFuture = std::chrono::hours(24 * 365 * 10);

thread_local const OneThreadEventEngine::State* current_state = nullptr;

uint64_t Post(OneThreadEventEngine::State& s, EventEngine::Duration delay,
              absl::AnyInvocable<void()> closure) {
  const Steady::time_point due =
      Steady::now() + std::chrono::duration_cast<Steady::duration>(
                          std::clamp(delay, EventEngine::Duration::zero(), kFarFuture));
  absl::MutexLock lock(&s.mu);
  const uint64_t id = s.next_id++;
  s.closures.emplace(id, std::move(closure));
  if (s.queue.Schedule(id, due)) {
    s.cv.Signal();  // the sleeper's deadline moved earlier
  }
  return id;
}

void Loop(std::shared_ptr<OneThreadEventEngine::State> s) {
  SetCurrentThreadName("grpc-events");
  current_state = s.get();
  std::vector<absl::AnyInvocable<void()>> due;
  absl::MutexLock lock(&s->mu);
  while (!s->stopping) {
    const Steady::time_point now = Steady::now();
    while (std::optional<uint64_t> id = s->queue.PopDue(now)) {
      auto it = s->closures.find(*id);
      due.push_back(std::move(it->second));
      s->closures.erase(it);
    }
    if (!due.empty()) {
      s->mu.Unlock();
      for (auto& closure : due) {
        closure();
        s->ran.fetch_add(1, std::memory_order_relaxed);
      }
      due.clear();  // what the closures held goes before the next sleep
      s->mu.Lock();
      continue;
    }
    const std::optional<Steady::time_point> next = s->queue.NextDue();
    if (next) {
      s->cv.WaitWithTimeout(&s->mu, absl::FromChrono(*next - now));
    } else {
      s->cv.Wait(&s->mu);
    }
  }
}

void WarnOnce(std::once_flag& once, const char* what) {
  std::call_once(once, [what] {
    spdlog::warn(
        "gRPC asked its event engine for {}, which this process does not provide (gRPC 1.51 "
        "connects and resolves through its iomgr); answered UNIMPLEMENTED",
        what);
  });
}

std::once_flag connect_once;
std::once_flag listener_once;
std::once_flag dns_once;

// Lookups fail (asynchronously, as the interface asks): gRPC 1.51 resolves through its iomgr.
class UnsupportedResolver final : public EventEngine::DNSResolver {
 public:
  explicit UnsupportedResolver(std::shared_ptr<OneThreadEventEngine::State> state)
      : state_(std::move(state)) {}

  LookupTaskHandle LookupHostname(LookupHostnameCallback on_resolve, absl::string_view name,
                                  absl::string_view /*default_port*/,
                                  EventEngine::Duration /*timeout*/) override {
    return Fail(std::move(on_resolve), "LookupHostname", name);
  }
  LookupTaskHandle LookupSRV(LookupSRVCallback on_resolve, absl::string_view name,
                             EventEngine::Duration /*timeout*/) override {
    return Fail(std::move(on_resolve), "LookupSRV", name);
  }
  LookupTaskHandle LookupTXT(LookupTXTCallback on_resolve, absl::string_view name,
                             EventEngine::Duration /*timeout*/) override {
    return Fail(std::move(on_resolve), "LookupTXT", name);
  }
  bool CancelLookup(LookupTaskHandle /*handle*/) override { return false; }

 private:
  template <typename Callback>
  LookupTaskHandle Fail(Callback on_resolve, const char* what, absl::string_view name) {
    WarnOnce(dns_once, "DNS lookups");
    std::string message = absl::StrCat(what, " ", std::string(name), ": not provided");
    Post(*state_, EventEngine::Duration::zero(),
         [on_resolve = std::move(on_resolve), message = std::move(message)]() mutable {
           on_resolve(absl::UnimplementedError(message));
         });
    return {{0, 0}};
  }

  std::shared_ptr<OneThreadEventEngine::State> state_;
};

}  // namespace

void InstallEventEngine() {
  static std::once_flag once;
  std::call_once(once, [] {
    grpc_event_engine::experimental::SetEventEngineFactory(
        [] { return std::make_unique<OneThreadEventEngine>(); });
  });
}

OneThreadEventEngine::OneThreadEventEngine()
    : state_(std::make_shared<State>()), thread_(Loop, state_) {}

OneThreadEventEngine::~OneThreadEventEngine() {
  {
    absl::MutexLock lock(&state_->mu);
    state_->stopping = true;
    state_->cv.Signal();
  }
  if (current_state == state_.get()) {
    thread_.detach();  // the last reference went on the thread itself: it ends after this closure
  } else {
    thread_.join();
  }
}

bool OneThreadEventEngine::IsWorkerThread() { return current_state == state_.get(); }

std::unique_ptr<EventEngine::DNSResolver> OneThreadEventEngine::GetDNSResolver(
    const DNSResolver::ResolverOptions& /*options*/) {
  return std::make_unique<UnsupportedResolver>(state_);
}

void OneThreadEventEngine::Run(Closure* closure) {
  Post(*state_, Duration::zero(), [closure] { closure->Run(); });
}

void OneThreadEventEngine::Run(absl::AnyInvocable<void()> closure) {
  Post(*state_, Duration::zero(), std::move(closure));
}

EventEngine::TaskHandle OneThreadEventEngine::RunAfter(Duration when, Closure* closure) {
  return RunAfter(when, [closure] { closure->Run(); });
}

EventEngine::TaskHandle OneThreadEventEngine::RunAfter(Duration when,
                                                       absl::AnyInvocable<void()> closure) {
  const uint64_t id = Post(*state_, when, std::move(closure));
  return {{static_cast<intptr_t>(id), reinterpret_cast<intptr_t>(state_.get())}};
}

bool OneThreadEventEngine::Cancel(TaskHandle handle) {
  if (handle.keys[1] != reinterpret_cast<intptr_t>(state_.get())) {
    return false;
  }
  const auto id = static_cast<uint64_t>(handle.keys[0]);
  absl::AnyInvocable<void()> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&state_->mu);
  if (!state_->queue.Cancel(id)) {
    return false;  // taken to run, run, or never known
  }
  auto it = state_->closures.find(id);
  dropped = std::move(it->second);
  state_->closures.erase(it);
  return true;
}

absl::StatusOr<std::unique_ptr<EventEngine::Listener>> OneThreadEventEngine::CreateListener(
    Listener::AcceptCallback /*on_accept*/, absl::AnyInvocable<void(absl::Status)> /*on_shutdown*/,
    const EndpointConfig& /*config*/, std::unique_ptr<MemoryAllocatorFactory> /*factory*/) {
  WarnOnce(listener_once, "a listener");
  return absl::UnimplementedError("event engine listeners are not provided");
}

EventEngine::ConnectionHandle OneThreadEventEngine::Connect(OnConnectCallback on_connect,
                                                            const ResolvedAddress& /*addr*/,
                                                            const EndpointConfig& /*args*/,
                                                            MemoryAllocator /*memory_allocator*/,
                                                            Duration /*timeout*/) {
  WarnOnce(connect_once, "a connection");
  Post(*state_, Duration::zero(), [on_connect = std::move(on_connect)]() mutable {
    on_connect(absl::UnimplementedError("event engine connections are not provided"));
  });
  return {{0, 0}};
}

bool OneThreadEventEngine::CancelConnect(ConnectionHandle /*handle*/) { return false; }

int64_t OneThreadEventEngine::ran() const { return state_->ran.load(std::memory_order_relaxed); }

}  // namespace registrar::etcd
