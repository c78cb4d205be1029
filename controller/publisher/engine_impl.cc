// The registration engine (engine.h). All registration state lives on one
// engine thread: client callbacks, keeper events and watch events are posted to
// it as closures, so the state machine needs no locks. A snapshot of each
// registration's State is published under a mutex for readers.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

#include "controller/common/backoff.h"
#include "controller/common/format.h"
#include "controller/etcd/lease_keeper.h"
#include "controller/publisher/engine.h"
#include "controller/publisher/records.h"
#include "controller/publisher/write_scheduler.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

const char* PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kPending:
      return "Pending";
    case Phase::kRegistered:
      return "Registered";
    case Phase::kPaused:
      return "Paused";
    case Phase::kFailed:
      return "Failed";
    case Phase::kTerminating:
      return "Terminating";
  }
  return "Unknown";
}

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
namespace pb = etcd::pb;

constexpr milliseconds kRetryBase{100};
constexpr milliseconds kRetryMax{1000};
constexpr seconds kConflictRecheck{5};
constexpr seconds kAuthRetry{5};
constexpr size_t kStopRevokeBatch = 128;
constexpr seconds kProbeInterval{2};
constexpr size_t kMaxTxnOps = 128;  // etcd's --max-txn-ops default
// Settle etcd's write buffer (write_scheduler.h) only where keep-alives are many enough to matter.
constexpr size_t kSettleMinLeases = 1000;
constexpr int64_t kSettleTtl = 10;
// From this many leases on a connection, writes are paced (write_scheduler.h, rule 5) to fewer
// entries per etcd commit interval than etcd 3.4's smallest write buffer holds (512).
constexpr size_t kPacedLeases = 20000;
constexpr int kPacedEntriesPerSecond = 4000;
// A revoke deletes the lease, its key and its record.
constexpr int kRevokeCost = 3;

bool IsTransient(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsCancelled(s) || absl::IsResourceExhausted(s) || absl::IsUnknown(s) ||
         absl::IsInternal(s);
}

// Rejected credentials, or a TLS peer we refuse to trust: a person must act.
bool IsCredentialError(const absl::Status& s) {
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    return true;
  }
  for (const char* tls : {"CERTIFICATE_VERIFY_FAILED", "certificate verify failed",
                          "Ssl handshake failed", "WRONG_VERSION_NUMBER"}) {
    if (absl::StrContains(s.message(), tls)) {
      return true;
    }
  }
  return false;
}

bool IsLeaseNotFound(const absl::Status& s) {
  return absl::IsNotFound(s) && absl::StrContains(s.message(), "lease not found");
}

class EngineImpl;

// One etcd target: client, lease keeper and the delete-only watches of the key
// prefixes in use.
// A new key waiting for the connection's next batched Txn.
struct BatchedPut {
  std::string id;
  uint64_t epoch = 0;
  int64_t lease = 0;
  std::string full_key;
  std::string value;
  std::string record;
};

struct Connection final : etcd::LeaseKeeper::Listener {
  struct PrefixWatch {
    int refs = 0;
    etcd::WatchStreamPtr stream;
    uint64_t generation = 0;  // bumps on every (re)open; stale events are dropped
    Backoff backoff{kRetryBase, kRetryMax};
  };

  EngineImpl* engine = nullptr;
  std::string identity;
  etcd::ClientOptions options;
  etcd::ClientPtr client;
  etcd::LeaseKeeperPtr keeper;
  // Writes waiting and in flight (write_scheduler.h): at most EngineOptions::max_in_flight,
  // none started while keep-alives are outstanding, lease and key writes in alternating phases.
  WriteScheduler writes;
  std::optional<Clock::TimePoint> pump_at;  // a Pump is posted for then
  std::vector<BatchedPut> batch;            // new keys for the next batched Txn
  bool flush_posted = false;
  std::map<std::string, PrefixWatch> watches;
  std::unordered_map<std::string, std::string> key_owner;  // full key -> registration id
  std::unordered_map<int64_t, std::string> lease_owner;    // lease -> registration id
  // Registrations in KeyConflict, by the full key they wait for.
  std::unordered_map<std::string, std::set<std::string>> conflict_waiters;
  bool healthy = false;  // the keep-alive stream is up
  bool down = false;     // the keeper said the stream went down (and not up again since)
  int64_t regressions_seen = 0;

  void OnRenewed(int64_t lease, int64_t ttl) override;
  void OnLost(int64_t lease) override;
  void OnConnectivity(bool up) override;
  void OnRenewalsAnswered() override;
};

// A lease that is being replaced (make-before-break) and is revoked once the
// new one is live.
struct OldLease {
  Connection* conn = nullptr;
  int64_t lease = 0;
  std::string full_key;
};

struct Reg {
  Desired desired;
  bool removed = false;
  Clock::TimePoint remove_deadline{};
  uint64_t epoch = 0;

  Connection* conn = nullptr;  // where `lease` lives
  int64_t lease = 0;
  int64_t granted_ttl = 0;
  int64_t requested_ttl = 0;
  std::string full_key;  // as written
  std::string written_value;
  std::string written_record;
  bool key_present = false;
  bool verify = false;    // a DELETE was seen: put the key back if it is gone
  bool reput = false;     // the next successful put is a re-put
  bool lost = false;      // the previous lease was lost: the next grant is a re-registration
  bool no_batch = false;  // its last batched Txn failed: write the key alone
  std::optional<OldLease> old;
  std::string watched_prefix;
  Connection* watched_conn = nullptr;

  bool busy = false;
  bool retry_pending = false;
  Backoff backoff{kRetryBase, kRetryMax};
  State state;
};

struct Adopted {
  int64_t lease = 0;
  OwnerRecord record;
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(EngineOptions options, Clock& clock) : options_(std::move(options)), clock_(clock) {}
  ~EngineImpl() override { Stop(false); }

  absl::Status Start() override;
  void Stop(bool revoke) override;
  void Upsert(Desired desired) override;
  void Remove(const std::string& id) override;
  void MarkComplete(std::vector<std::string> known_ids) override;
  std::optional<State> Get(const std::string& id) const override;
  std::vector<State> List() const override;
  EngineStats stats() const override;
  void SetListener(Listener listener) override { listener_ = std::move(listener); }

  // ---- engine thread plumbing (thread-safe) ----
  void Post(std::function<void()> fn);
  void PostAfter(Clock::Duration delay, std::function<void()> fn);
  void NoteRenewal(int64_t lease);

  // ---- called on the engine thread ----
  void OnLeaseLost(Connection* conn, int64_t lease);
  void OnConnectivity(Connection* conn, bool up);
  // Starts the writes of `conn` its WriteScheduler allows now, settles etcd's write buffer when
  // it asks, and plans the next look.
  void Pump(Connection* conn);

 private:
  struct Timer {
    Clock::TimePoint when;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  void Run(std::stop_token stop);

  absl::StatusOr<Connection*> ConnFor(const std::optional<etcd::ClientOptions>& target);
  // Frees the slot of an operation with its result.
  using SlotDone = std::function<void(const absl::Status&)>;
  // `first`: follow-up work of a registration already under way (its Txn after the grant, a
  // revoke) goes before new grants, so a cold start finishes registrations instead of piling up
  // leases without keys. `cost`: the entries it writes (puts, deletes, a lease). `settle`: the
  // write the connection's WriteScheduler asked for (Settle()).
  void Submit(Connection* conn, const char* method, std::function<void(SlotDone)> op,
              bool first = true, int cost = 1, bool settle = false);
  // Records an answered operation's duration and result, then starts what may start now.
  void Release(Connection* conn, const char* method, Clock::TimePoint started,
               const absl::Status& status);
  void CheckRegression(Connection* conn);
  void Settle(Connection* conn, WriteKind kind);

  void Probe();
  void Adopt();
  void FinishAdoption();
  void ClaimAdopted(Reg& reg);
  void RevokeOrphans();
  // `id` was upserted or removed: its unclaimed records no longer wait (see MarkComplete).
  void HandedOver(const std::string& id);

  void Step(Reg& reg);
  void Grant(Reg& reg, Connection* conn);
  void PutKey(Reg& reg, const std::string& want_full);
  void KeyWritten(Reg& reg, const std::string& want_full, const std::string& value,
                  const std::string& record, const std::string& old_key);
  void FlushBatch(Connection* conn);
  void RevokeCurrent(Reg& reg);
  void RevokeOld(Reg& reg);
  void HandleLeaseLost(Reg& reg, std::string_view why);
  void RetryLater(Reg& reg, Clock::Duration delay);
  void Failed(Reg& reg, const absl::Status& status, std::string_view what);
  void SyncWatch(Reg& reg);
  void EnsureWatch(Connection* conn, const std::string& prefix);
  void ReleaseWatch(Connection* conn, const std::string& prefix);
  void OpenWatch(Connection* conn, const std::string& prefix);
  void VerifyPrefix(Connection* conn, const std::string& prefix);
  void OnKeyDeleted(Connection* conn, const std::string& key);
  void Forget(Reg& reg);
  void Erase(const std::string& id);
  void SetState(Reg& reg, Phase phase, std::string_view reason, std::string message = "");
  void Publish(Reg& reg);
  Reg* Find(const std::string& id);
  std::vector<std::string> Ids() const;
  std::string RecordFor(const Reg& reg) const;
  int64_t NewLeaseId();

  const EngineOptions options_;
  Clock& clock_;
  Listener listener_;

  // Engine-thread state.
  std::map<std::string, Reg> regs_;
  std::map<std::string, std::unique_ptr<Connection>> conns_;
  Connection* default_conn_ = nullptr;
  std::map<std::string, Adopted> adopted_;  // full key -> adopted record (default target)
  bool adoption_done_ = false;
  bool complete_ = false;
  // Ids of the caller's first listing not yet handed over; their records are not orphans yet.
  absl::flat_hash_set<std::string> awaited_;
  uint64_t next_epoch_ = 1;
  std::mt19937_64 rng_{std::random_device{}()};
  Backoff adopt_backoff_{kRetryBase, kRetryMax};

  // Loop queue.
  std::mutex loop_mu_;
  std::condition_variable_any loop_cv_;
  std::deque<std::function<void()>> queue_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t timer_seq_ = 0;
  std::jthread loop_;
  bool started_ = false;
  bool stopped_ = false;

  // Published snapshot.
  mutable absl::Mutex snap_mu_;
  std::map<std::string, State> snapshot_ ABSL_GUARDED_BY(snap_mu_);
  absl::flat_hash_map<int64_t, std::chrono::system_clock::time_point> renewals_
      ABSL_GUARDED_BY(snap_mu_);
  EngineStats stats_ ABSL_GUARDED_BY(snap_mu_);
};

// ---------------------------------------------------------------------------------------------
// Connection listener: keeper thread -> engine thread.

void Connection::OnRenewed(int64_t lease, int64_t /*ttl*/) { engine->NoteRenewal(lease); }

void Connection::OnLost(int64_t lease) {
  engine->Post([this, lease] { engine->OnLeaseLost(this, lease); });
}

void Connection::OnRenewalsAnswered() {
  engine->Post([this] { engine->Pump(this); });
}

void Connection::OnConnectivity(bool up) {
  engine->Post([this, up] { engine->OnConnectivity(this, up); });
}

// ---------------------------------------------------------------------------------------------
// Loop.

void EngineImpl::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    queue_.push_back(std::move(fn));
  }
  loop_cv_.notify_one();
}

void EngineImpl::PostAfter(Clock::Duration delay, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    timers_.push(Timer{clock_.Now() + delay, timer_seq_++, std::move(fn)});
  }
  loop_cv_.notify_one();
}

void EngineImpl::NoteRenewal(int64_t lease) {
  auto now = clock_.WallNow();
  absl::MutexLock lock(&snap_mu_);
  renewals_[lease] = now;
}

void EngineImpl::Run(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(loop_mu_);
  while (!stop.stop_requested()) {
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (!timers_.empty() && timers_.top().when <= clock_.Now()) {
      auto fn = std::move(const_cast<Timer&>(timers_.top()).fn);
      timers_.pop();
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (timers_.empty()) {
      loop_cv_.wait(lock, stop, [&] { return !queue_.empty(); });
    } else {
      // Timers run on the steady clock; the wait is bounded so a FakeClock is
      // still honoured.
      auto wait = std::min<Clock::Duration>(timers_.top().when - clock_.Now(), milliseconds(50));
      loop_cv_.wait_for(lock, stop, wait, [&] { return !queue_.empty(); });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

absl::Status EngineImpl::Start() {
  if (started_) {
    return absl::FailedPreconditionError("engine already started");
  }
  started_ = true;
  if (!options_.dry_run) {
    auto conn = ConnFor(options_.default_target);
    if (!conn.ok()) {
      return conn.status();
    }
    default_conn_ = *conn;
  }
  loop_ = std::jthread([this](std::stop_token st) { Run(st); });
  if (default_conn_ != nullptr) {
    Post([this] { Probe(); });
  }
  Post([this] {
    if (options_.ownership_records && !options_.dry_run) {
      Adopt();
    } else {
      FinishAdoption();
    }
  });
  return absl::OkStatus();
}

void EngineImpl::Stop(bool revoke) {
  if (!started_ || stopped_) {
    return;
  }
  stopped_ = true;
  // Collect the leases to revoke on the engine thread, then stop it.
  std::vector<std::pair<Connection*, int64_t>> leases;
  if (revoke) {
    std::promise<void> done;
    Post([&] {
      for (auto& [id, reg] : regs_) {
        if (reg.lease != 0) {
          leases.emplace_back(reg.conn, reg.lease);
        }
        if (reg.old) {
          leases.emplace_back(reg.old->conn, reg.old->lease);
        }
      }
      done.set_value();
    });
    done.get_future().wait();
  }
  loop_.request_stop();
  loop_cv_.notify_all();
  if (loop_.joinable()) {
    loop_.join();
  }
  for (auto& [identity, conn] : conns_) {
    if (conn->keeper) {
      conn->keeper->Stop();
    }
    for (auto& [prefix, w] : conn->watches) {
      if (w.stream) {
        w.stream->Close();
      }
    }
  }
  // Revoke in bounded batches: etcd answers "too many requests" to a flood.
  for (size_t start = 0; start < leases.size(); start += kStopRevokeBatch) {
    size_t end = std::min(leases.size(), start + kStopRevokeBatch);
    std::vector<std::future<absl::StatusOr<pb::LeaseRevokeResponse>>> pending;
    for (size_t i = start; i < end; ++i) {
      auto promise = std::make_shared<std::promise<absl::StatusOr<pb::LeaseRevokeResponse>>>();
      pending.push_back(promise->get_future());
      pb::LeaseRevokeRequest req;
      req.set_id(leases[i].second);
      leases[i].first->client->LeaseRevoke(std::move(req),
                                           [promise](auto r) { promise->set_value(r); });
    }
    for (size_t i = start; i < end; ++i) {
      auto r = pending[i - start].get();
      if (r.ok() || IsLeaseNotFound(r.status())) {
        spdlog::debug("revoked lease {}", leases[i].second);
      } else {
        spdlog::warn("revoking lease {} failed: {} (it expires after its TTL)", leases[i].second,
                     r.status().message());
      }
    }
  }
  if (!leases.empty()) {
    spdlog::info("revoked {} lease(s)", leases.size());
  }
  conns_.clear();
}

void EngineImpl::Upsert(Desired desired) {
  Post([this, d = std::move(desired)]() mutable {
    auto it = regs_.find(d.id);
    if (it == regs_.end()) {
      it = regs_.emplace(d.id, Reg{}).first;
      it->second.epoch = next_epoch_++;
      it->second.state.id = d.id;
      it->second.state.value = d.value;
    }
    Reg& reg = it->second;
    if (reg.removed) {
      reg.removed = false;  // recreated before the revoke finished: converge to
                            // the new spec
    }
    reg.desired = std::move(d);
    if (adoption_done_) {
      ClaimAdopted(reg);
      Step(reg);
    }
    HandedOver(reg.desired.id);
  });
}

void EngineImpl::Remove(const std::string& id) {
  Post([this, id] {
    HandedOver(id);
    Reg* reg = Find(id);
    if (reg == nullptr || reg->removed) {
      return;
    }
    reg->removed = true;
    reg->remove_deadline =
        clock_.Now() + seconds(std::max<int64_t>(reg->granted_ttl, reg->desired.ttl));
    if (adoption_done_) {
      Step(*reg);
    }
  });
}

void EngineImpl::MarkComplete(std::vector<std::string> known_ids) {
  Post([this, known_ids = std::move(known_ids)] {
    complete_ = true;
    for (const std::string& id : known_ids) {
      if (!regs_.contains(id)) {
        awaited_.insert(id);
      }
    }
    if (adoption_done_) {
      RevokeOrphans();
    }
  });
}

void EngineImpl::HandedOver(const std::string& id) {
  if (awaited_.erase(id) > 0 && complete_ && adoption_done_) {
    RevokeOrphans();
  }
}

// ---------------------------------------------------------------------------------------------
// Connections.

absl::StatusOr<Connection*> EngineImpl::ConnFor(const std::optional<etcd::ClientOptions>& target) {
  const etcd::ClientOptions& opts = target ? *target : options_.default_target;
  std::string identity = opts.Identity();
  auto it = conns_.find(identity);
  if (it != conns_.end()) {
    return it->second.get();
  }
  auto client = etcd::NewClient(opts);
  if (!client.ok()) {
    return client.status();
  }
  auto conn = std::make_unique<Connection>();
  conn->writes = WriteScheduler(options_.max_in_flight);
  conn->engine = this;
  conn->identity = identity;
  conn->options = opts;
  conn->client = std::move(*client);
  conn->keeper = etcd::NewLeaseKeeper(*conn->client, clock_, *conn);
  conn->keeper->Start();
  Connection* raw = conn.get();
  conns_.emplace(identity, std::move(conn));
  spdlog::info("etcd connection to {}", raw->client->target());
  return raw;
}

// Queues `op` with the connection's WriteScheduler, which starts it when its rules allow. `op`
// receives the function that releases its slot; it must call it exactly once, on the engine
// thread.
void EngineImpl::Submit(Connection* conn, const char* method, std::function<void(SlotDone)> op,
                        bool first, int cost, bool settle) {
  WriteKind kind = absl::StartsWith(method, "Lease") ? WriteKind::kLease : WriteKind::kKey;
  auto run = [this, conn, method, kind, op = std::move(op)] {
    Clock::TimePoint started = clock_.Now();
    op([this, conn, method, kind, started](const absl::Status& status) {
      conn->writes.Done(kind, clock_.Now());
      Release(conn, method, started, status);
    });
  };
  conn->writes.Submit(kind, std::move(run), first, cost, settle);
  Pump(conn);
}

void EngineImpl::Release(Connection* conn, const char* method, Clock::TimePoint started,
                         const absl::Status& status) {
  if (options_.on_request) {
    options_.on_request(method, std::chrono::duration<double>(clock_.Now() - started).count(),
                        status);
  }
  CheckRegression(conn);
  Pump(conn);
}

void EngineImpl::Pump(Connection* conn) {
  Clock::TimePoint now = clock_.Now();
  conn->writes.SetBudget(conn->keeper->size() >= kPacedLeases ? kPacedEntriesPerSecond : 0, now);
  for (auto& op : conn->writes.Ready(now, conn->keeper->renewals_outstanding() == 0)) {
    op();
  }
  if (std::optional<WriteKind> kind = conn->writes.SettleDue(now)) {
    conn->writes.Settled(*kind);
    if (conn->keeper->size() >= kSettleMinLeases) {
      Settle(conn, *kind);
    }
  }
  std::optional<Clock::TimePoint> next = conn->writes.NextCheck();
  if (next && (!conn->pump_at || *next < *conn->pump_at)) {
    conn->pump_at = *next;
    PostAfter(*next - now, [this, conn] {
      conn->pump_at.reset();
      Pump(conn);
    });
  }
}

// The settle writes of write_scheduler.h, rule 4. A key write: one record this engine owns (or,
// without records, one registration key) written again with the same value and lease. A lease
// write: a throwaway lease, revoked once granted (or left to expire after kSettleTtl).
void EngineImpl::Settle(Connection* conn, WriteKind kind) {
  if (kind == WriteKind::kKey) {
    const Reg* held = nullptr;
    for (const auto& [lease, id] : conn->lease_owner) {
      const Reg* reg = Find(id);
      if (reg != nullptr && reg->lease == lease && reg->key_present && !reg->full_key.empty()) {
        held = reg;
        break;
      }
    }
    if (held == nullptr) {
      return;
    }
    spdlog::debug("etcd {}: settle: rewriting the record of {}", conn->client->target(),
                  held->full_key);
    pb::PutRequest req;
    req.set_key(options_.ownership_records
                    ? RecordKey(options_.owner_prefix, options_.owner_id, held->full_key)
                    : held->full_key);
    req.set_ignore_value(true);
    req.set_ignore_lease(true);
    Submit(
        conn, "Put",
        [this, conn, req](SlotDone release) mutable {
          conn->client->Put(std::move(req), [this, release](auto r) {
            Post([release, status = r.status()] { release(status); });
          });
        },
        /*first=*/true, /*cost=*/1, /*settle=*/true);
    return;
  }
  spdlog::debug("etcd {}: settle: granting and revoking a throwaway lease", conn->client->target());
  pb::LeaseGrantRequest req;
  req.set_ttl(kSettleTtl);
  req.set_id(NewLeaseId());
  Submit(
      conn, "LeaseGrant",
      [this, conn, req](SlotDone release) mutable {
        int64_t lease = req.id();
        conn->client->LeaseGrant(std::move(req), [this, conn, lease, release](auto r) {
          Post([release, status = r.status()] { release(status); });
          if (r.ok() && r->error().empty()) {
            pb::LeaseRevokeRequest revoke;
            revoke.set_id(lease);
            conn->client->LeaseRevoke(std::move(revoke), [](auto) {});
          }
        });
      },
      /*first=*/true, /*cost=*/1, /*settle=*/true);
}

// etcd answered with a revision lower than one seen before: it lost its data.
// Every registration on that connection is registered anew at once.
void EngineImpl::CheckRegression(Connection* conn) {
  int64_t regressions = conn->client->revision_regressions();
  if (regressions == conn->regressions_seen) {
    return;
  }
  conn->regressions_seen = regressions;
  spdlog::warn(
      "etcd {} lost its data (revision went backwards): registering "
      "everything anew",
      conn->client->target());
  {
    absl::MutexLock lock(&snap_mu_);
    ++stats_.data_losses;
  }
  if (conn == default_conn_) {  // adopted leases live on the default target only
    for (const auto& [full_key, a] : adopted_) {
      conn->keeper->Remove(a.lease);
    }
    adopted_.clear();
  }
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg == nullptr) {
      continue;
    }
    if (reg->old && reg->old->conn == conn) {
      conn->keeper->Remove(reg->old->lease);
      reg->old.reset();
    }
    if (reg->lease != 0 && reg->conn == conn && !reg->busy) {
      HandleLeaseLost(*reg, "etcd lost its data");
    }
  }
  for (auto& [prefix, w] : conn->watches) {
    if (w.refs > 0) {
      OpenWatch(conn, prefix);
    }
  }
}

void EngineImpl::OnConnectivity(Connection* conn, bool up) {
  if (conn->healthy == up) {
    return;
  }
  conn->healthy = up;
  conn->down = !up;
  if (conn == default_conn_ && !up) {
    absl::MutexLock lock(&snap_mu_);
    stats_.etcd_reachable = false;
  }
  spdlog::info("etcd {} keep-alive stream {}", conn->client->target(), up ? "up" : "down");
  for (const std::string& id : Ids()) {
    Reg* reg = Find(id);
    if (reg == nullptr || reg->conn != conn || reg->lease == 0) {
      continue;
    }
    if (!up && reg->state.phase == Phase::kRegistered) {
      SetState(*reg, Phase::kPending, kReasonEtcdUnavailable, "keep-alive stream to etcd is down");
    } else if (up && reg->state.reason == kReasonEtcdUnavailable && !reg->busy) {
      Step(*reg);
    }
  }
}

void EngineImpl::OnLeaseLost(Connection* conn, int64_t lease) {
  if (auto a = std::find_if(adopted_.begin(), adopted_.end(),
                            [&](const auto& kv) { return kv.second.lease == lease; });
      conn == default_conn_ && a != adopted_.end()) {
    adopted_.erase(a);
  }
  auto owner = conn->lease_owner.find(lease);
  if (owner == conn->lease_owner.end()) {
    return;
  }
  Reg* reg = Find(owner->second);
  conn->lease_owner.erase(owner);
  if (reg == nullptr) {
    return;
  }
  if (reg->old && reg->old->conn == conn && reg->old->lease == lease) {
    reg->old.reset();
    return;
  }
  if (reg->lease == lease && reg->conn == conn) {
    if (reg->busy) {
      reg->verify = true;  // the op in flight fails with "lease not found" and handles it
      return;
    }
    HandleLeaseLost(*reg, "etcd no longer knows the lease");
  }
}

// Readiness: a Maintenance.Status call on the default target every couple of seconds, so
// "etcd reachable" is known even when no lease is held yet.
void EngineImpl::Probe() {
  default_conn_->client->Status({}, [this](absl::StatusOr<pb::StatusResponse> r) {
    Post([this, ok = r.ok(), message = r.ok() ? "" : std::string(r.status().message())] {
      bool changed;
      {
        absl::MutexLock lock(&snap_mu_);
        changed = stats_.etcd_reachable != ok;
        stats_.etcd_reachable = ok;
      }
      if (changed) {
        if (ok) {
          spdlog::info("etcd {} reachable", default_conn_->client->target());
        } else {
          spdlog::warn("etcd {} unreachable: {}", default_conn_->client->target(), message);
        }
      }
      CheckRegression(default_conn_);
      PostAfter(kProbeInterval, [this] { Probe(); });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Adoption.

void EngineImpl::Adopt() {
  Connection* conn = default_conn_;
  std::string prefix = absl::StrCat(options_.owner_prefix, options_.owner_id, "/");
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  conn->client->Range(std::move(req), [this, conn, prefix](absl::StatusOr<pb::RangeResponse> r) {
    Post([this, conn, prefix, r = std::move(r)] {
      if (!r.ok()) {
        auto delay = adopt_backoff_.Next();
        spdlog::warn(
            "adoption: reading ownership records failed: {} (retrying "
            "in {} ms)",
            r.status().message(), delay.count());
        PostAfter(delay, [this] { Adopt(); });
        return;
      }
      conn->regressions_seen = conn->client->revision_regressions();
      for (const auto& kv : r->kvs()) {
        auto record = DecodeRecord(kv.value());
        if (!record || kv.lease() == 0) {
          spdlog::warn("adoption: ignoring unreadable record {}", kv.key());
          continue;
        }
        std::string full_key = kv.key().substr(prefix.size());
        int64_t ttl = record->granted_ttl > 0 ? record->granted_ttl : record->ttl;
        conn->keeper->Add(kv.lease(), std::max<int64_t>(ttl, 1),
                          /*renew_now=*/true);
        adopted_[full_key] = Adopted{kv.lease(), std::move(*record)};
      }
      spdlog::info("adoption: {} ownership record(s) of owner {} kept alive", adopted_.size(),
                   options_.owner_id);
      FinishAdoption();
    });
  });
}

void EngineImpl::FinishAdoption() {
  adoption_done_ = true;
  for (auto& [id, reg] : regs_) {
    ClaimAdopted(reg);
  }
  for (const std::string& id : Ids()) {
    if (Reg* reg = Find(id)) {
      Step(*reg);
    }
  }
  if (complete_) {
    RevokeOrphans();
  }
}

// Takes over an adopted lease when its record matches this registration: same
// uid and cluster, and a full key of the registration's shape (key/<id>, or
// key/<that lease> without id).
void EngineImpl::ClaimAdopted(Reg& reg) {
  if (reg.lease != 0 || adopted_.empty() || reg.removed) {
    return;
  }
  const Desired& d = reg.desired;
  if (d.target && d.target->Identity() != default_conn_->identity) {
    return;
  }
  for (auto it = adopted_.begin(); it != adopted_.end(); ++it) {
    const auto& [full_key, a] = *it;
    if (a.record.uid != d.uid || a.record.cluster != options_.cluster ||
        full_key != FullKey(d.key, d.key_id, a.lease)) {
      continue;
    }
    reg.conn = default_conn_;
    reg.lease = a.lease;
    reg.granted_ttl = a.record.granted_ttl > 0 ? a.record.granted_ttl : a.record.ttl;
    reg.requested_ttl = a.record.ttl;
    reg.full_key = full_key;
    reg.written_value = a.record.value;
    reg.written_record = EncodeRecord(a.record);
    reg.key_present = true;
    default_conn_->lease_owner[a.lease] = reg.desired.id;
    default_conn_->key_owner[full_key] = reg.desired.id;
    spdlog::info("{}: adopted lease {} for {}", reg.desired.id, a.lease, full_key);
    {
      absl::MutexLock lock(&snap_mu_);
      ++stats_.adopted;
    }
    adopted_.erase(it);
    return;
  }
}

void EngineImpl::RevokeOrphans() {
  for (auto next = adopted_.begin(); next != adopted_.end();) {
    auto it = next++;
    const auto& [full_key, a] = *it;
    if (awaited_.contains(a.record.namespace_ + "/" + a.record.name)) {
      continue;  // its registration has not been handed over yet
    }
    if (a.record.cluster != options_.cluster) {
      adopted_.erase(it);
      continue;  // not ours to judge
    }
    spdlog::info("orphan {} (lease {}, {}/{}): revoking", full_key, a.lease, a.record.namespace_,
                 a.record.name);
    default_conn_->keeper->Remove(a.lease);
    pb::LeaseRevokeRequest req;
    req.set_id(a.lease);
    int64_t lease = a.lease;
    Submit(
        default_conn_, "LeaseRevoke",
        [this, req, lease](SlotDone release) mutable {
          default_conn_->client->LeaseRevoke(std::move(req), [this, lease, release](auto r) {
            Post([this, lease, release, r = std::move(r)] {
              release(r.status());
              if (!r.ok() && !IsLeaseNotFound(r.status())) {
                spdlog::warn(
                    "revoking orphan lease {} failed: {} (it "
                    "expires after its TTL)",
                    lease, r.status().message());
                return;
              }
              absl::MutexLock lock(&snap_mu_);
              ++stats_.orphans_revoked;
            });
          });
        },
        /*first=*/true, kRevokeCost);
    adopted_.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// The state machine.

std::string EngineImpl::RecordFor(const Reg& reg) const {
  if (!options_.ownership_records) {
    return "";
  }
  OwnerRecord r;
  r.uid = reg.desired.uid;
  r.namespace_ = reg.desired.namespace_;
  r.name = reg.desired.name;
  r.value = reg.desired.value;
  r.ttl = reg.desired.ttl;
  r.granted_ttl = reg.granted_ttl;
  r.cluster = options_.cluster;
  return EncodeRecord(r);
}

void EngineImpl::Step(Reg& reg) {
  if (reg.busy || reg.retry_pending || !adoption_done_) {
    return;
  }
  if (reg.verify) {
    reg.verify = false;
    reg.key_present = false;
  }
  const Desired& d = reg.desired;
  bool want_live = !reg.removed && !d.paused;

  if (options_.dry_run) {
    if (want_live) {
      spdlog::info("dry-run {}: would grant a lease (ttl {}) and put {} = {}", d.id, d.ttl,
                   FullKey(d.key, d.key_id, 0), d.value);
      SetState(reg, Phase::kPending, "DryRun", "dry run: nothing written");
    } else if (reg.removed) {
      Erase(d.id);
    } else {
      SetState(reg, Phase::kPaused, kReasonPaused);
    }
    return;
  }

  if (!want_live) {
    SyncWatch(reg);
    if (reg.old) {
      RevokeOld(reg);
    } else if (reg.lease != 0) {
      RevokeCurrent(reg);
    } else if (reg.removed) {
      Erase(d.id);
    } else {
      SetState(reg, Phase::kPaused, kReasonPaused);
    }
    return;
  }

  auto conn = ConnFor(d.target);
  if (!conn.ok()) {
    SetState(reg, Phase::kFailed, kReasonAuthFailed, std::string(conn.status().message()));
    return;
  }
  bool need_lease = reg.lease == 0 || reg.conn != *conn || reg.requested_ttl != d.ttl;
  if (need_lease) {
    if (reg.lease != 0 && !reg.old) {
      // Make before break: keep the current lease (and key) alive until the new
      // one is live.
      reg.old = OldLease{reg.conn, reg.lease, reg.full_key};
      reg.conn->lease_owner[reg.lease] = d.id;
      reg.lease = 0;
    } else if (reg.lease != 0) {
      // Already replacing one lease: revoke the intermediate one.
      reg.conn->key_owner.erase(reg.full_key);
      reg.conn->keeper->Remove(reg.lease);
      reg.conn->lease_owner.erase(reg.lease);
      pb::LeaseRevokeRequest req;
      req.set_id(reg.lease);
      reg.conn->client->LeaseRevoke(std::move(req), [](auto) {});
      reg.lease = 0;
    }
    Grant(reg, *conn);
    return;
  }
  std::string want_full = FullKey(d.key, d.key_id, reg.lease);
  std::string want_record = RecordFor(reg);
  if (!reg.key_present || want_full != reg.full_key || d.value != reg.written_value ||
      want_record != reg.written_record) {
    PutKey(reg, want_full);
    return;
  }
  if (reg.old) {
    RevokeOld(reg);
    return;
  }
  SyncWatch(reg);
  if (reg.conn->down) {
    SetState(reg, Phase::kPending, kReasonEtcdUnavailable, "keep-alive stream to etcd is down");
  } else {
    SetState(reg, Phase::kRegistered, kReasonRegistered);
  }
}

void EngineImpl::Grant(Reg& reg, Connection* conn) {
  reg.busy = true;
  if (reg.state.phase != Phase::kPending && reg.state.phase != Phase::kFailed) {
    SetState(reg, Phase::kPending, reg.lost ? kReasonLeaseLost : kReasonRegistering);
  }
  pb::LeaseGrantRequest req;
  req.set_ttl(reg.desired.ttl);
  req.set_id(NewLeaseId());
  std::string id = reg.desired.id;
  uint64_t epoch = reg.epoch;
  int64_t ttl = reg.desired.ttl;
  Submit(
      conn, "LeaseGrant",
      [this, conn, req, id, epoch, ttl](SlotDone release) mutable {
        int64_t lease_id = req.id();
        conn->client->LeaseGrant(std::move(req), [this, conn, id, epoch, ttl, lease_id, release](
                                                     absl::StatusOr<pb::LeaseGrantResponse> r) {
          Post([this, conn, id, epoch, ttl, lease_id, release, r = std::move(r)] {
            release(r.status());
            Reg* reg = Find(id);
            if (reg == nullptr || reg->epoch != epoch) {
              if (r.ok()) {  // nobody wants it any more
                pb::LeaseRevokeRequest req;
                req.set_id(r->id());
                conn->client->LeaseRevoke(std::move(req), [](auto) {});
              }
              return;
            }
            reg->busy = false;
            if (!r.ok()) {
              if (IsTransient(r.status())) {
                // The grant may still have happened: we chose the ID, so
                // make sure it does not linger (a lease without a key,
                // go-zero #5260's seed).
                pb::LeaseRevokeRequest req;
                req.set_id(lease_id);
                conn->client->LeaseRevoke(std::move(req), [](auto) {});
              }
              Failed(*reg, r.status(), "granting a lease");
              return;
            }
            if (!r->error().empty()) {
              Failed(*reg, absl::UnavailableError(r->error()), "granting a lease");
              return;
            }
            reg->conn = conn;
            reg->lease = r->id();
            reg->granted_ttl = r->ttl();
            reg->requested_ttl = ttl;
            reg->key_present = false;
            reg->written_value.clear();
            reg->written_record.clear();
            conn->lease_owner[reg->lease] = id;
            conn->keeper->Add(reg->lease, reg->granted_ttl);
            reg->backoff.Reset();
            Step(*reg);
          });
        });
      },
      /*first=*/false);
}

// The Txn that wrote `want_full` (and its record) with the registration's lease succeeded.
void EngineImpl::KeyWritten(Reg& reg, const std::string& want_full, const std::string& value,
                            const std::string& record, const std::string& old_key) {
  Connection* conn = reg.conn;
  if (!old_key.empty()) {
    conn->key_owner.erase(old_key);
  }
  bool was_reput = reg.reput;
  bool was_lost = reg.lost;
  reg.full_key = want_full;
  reg.key_present = true;
  reg.written_value = value;
  reg.written_record = record;
  reg.reput = false;
  reg.lost = false;
  reg.no_batch = false;
  conn->key_owner[want_full] = reg.desired.id;
  reg.backoff.Reset();
  if (was_reput) {
    ++reg.state.key_reputs;
    absl::MutexLock lock(&snap_mu_);
    ++stats_.key_reputs;
  }
  if (was_lost) {
    ++reg.state.reregistrations;
    absl::MutexLock lock(&snap_mu_);
    ++stats_.reregistrations;
  }
  if (was_reput) {
    spdlog::info("{}: key {} was deleted by someone else: put back with lease {}", reg.desired.id,
                 want_full, reg.lease);
  }
  Step(reg);
}

// New keys of many registrations share one Txn (etcd allows 128 operations per Txn): a cold
// start or a mass re-registration then costs one grant per registration and one Txn per batch.
// A batch whose compares or leases fail is not retried as a batch: each of its registrations
// writes its key alone next time, where the failure is told apart.
void EngineImpl::FlushBatch(Connection* conn) {
  conn->flush_posted = false;
  while (!conn->batch.empty()) {
    size_t per_reg = options_.ownership_records ? 2 : 1;
    size_t n = std::min(conn->batch.size(), kMaxTxnOps / per_reg);
    std::vector<BatchedPut> puts(std::make_move_iterator(conn->batch.begin()),
                                 std::make_move_iterator(conn->batch.begin() + n));
    conn->batch.erase(conn->batch.begin(), conn->batch.begin() + n);
    pb::TxnRequest txn;
    for (const auto& p : puts) {
      auto* cmp = txn.add_compare();
      cmp->set_key(p.full_key);
      cmp->set_target(pb::Compare::VERSION);
      cmp->set_result(pb::Compare::EQUAL);
      cmp->set_version(0);
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(p.full_key);
      put->set_value(p.value);
      put->set_lease(p.lease);
      if (options_.ownership_records) {
        auto* rec = txn.add_success()->mutable_request_put();
        rec->set_key(RecordKey(options_.owner_prefix, options_.owner_id, p.full_key));
        rec->set_value(p.record);
        rec->set_lease(p.lease);
      }
    }
    int cost = txn.success_size();
    Submit(
        conn, "Txn",
        [=, this, txn = std::move(txn)](SlotDone release) mutable {
          conn->client->Txn(std::move(txn), [=, this](absl::StatusOr<pb::TxnResponse> r) {
            Post([=, this, r = std::move(r)] {
              release(r.status());
              bool written = r.ok() && r->succeeded();
              for (const auto& p : puts) {
                Reg* reg = Find(p.id);
                if (reg == nullptr || reg->epoch != p.epoch) {
                  continue;
                }
                reg->busy = false;
                if (reg->lease != p.lease) {
                  Step(*reg);
                  continue;
                }
                if (written) {
                  KeyWritten(*reg, p.full_key, p.value, p.record, "");
                } else {
                  reg->no_batch = true;  // find out alone what went wrong
                  Step(*reg);
                }
              }
            });
          });
        },
        /*first=*/true, cost);
  }
}

void EngineImpl::PutKey(Reg& reg, const std::string& want_full) {
  const Desired& d = reg.desired;
  Connection* conn = reg.conn;
  // Which lease holds want_full now, as far as we know: ours (same key), the
  // lease being replaced (a TTL change keeps key/<id>), or none (the key must
  // not exist).
  int64_t holder = 0;
  if (reg.key_present && reg.full_key == want_full) {
    holder = reg.lease;
  } else if (reg.old && reg.old->conn == conn && reg.old->full_key == want_full) {
    holder = reg.old->lease;
  }
  bool drop_old = reg.key_present && !reg.full_key.empty() && reg.full_key != want_full;
  if (holder == 0 && !drop_old && !reg.no_batch && !reg.reput) {
    reg.busy = true;
    conn->batch.push_back(
        BatchedPut{d.id, reg.epoch, reg.lease, want_full, d.value, RecordFor(reg)});
    if (!conn->flush_posted) {
      conn->flush_posted = true;
      Post([this, conn] { FlushBatch(conn); });
    }
    return;
  }
  pb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(want_full);
  if (holder != 0) {
    cmp->set_target(pb::Compare::LEASE);
    cmp->set_result(pb::Compare::EQUAL);
    cmp->set_lease(holder);
  } else {
    cmp->set_target(pb::Compare::VERSION);
    cmp->set_result(pb::Compare::EQUAL);
    cmp->set_version(0);
  }
  auto put = [&](const std::string& k, const std::string& v) {
    auto* p = txn.add_success()->mutable_request_put();
    p->set_key(k);
    p->set_value(v);
    p->set_lease(reg.lease);
  };
  std::string record = RecordFor(reg);
  put(want_full, d.value);
  if (options_.ownership_records) {
    put(RecordKey(options_.owner_prefix, options_.owner_id, want_full), record);
  }
  // Same lease, new full key: the old key goes in the same Txn.
  bool drop_old_key = reg.key_present && !reg.full_key.empty() && reg.full_key != want_full;
  if (drop_old_key) {
    txn.add_success()->mutable_request_delete_range()->set_key(reg.full_key);
    if (options_.ownership_records) {
      txn.add_success()->mutable_request_delete_range()->set_key(
          RecordKey(options_.owner_prefix, options_.owner_id, reg.full_key));
    }
  }
  txn.add_failure()->mutable_request_range()->set_key(want_full);
  if (options_.ownership_records) {
    txn.add_failure()->mutable_request_range()->set_key(
        RecordKey(options_.owner_prefix, options_.owner_id, want_full));
  }

  reg.busy = true;
  std::string id = d.id;
  uint64_t epoch = reg.epoch;
  int64_t lease = reg.lease;
  std::string value = d.value;
  std::string old_key = drop_old_key ? reg.full_key : "";
  int cost = txn.success_size();
  Submit(
      conn, "Txn",
      [=, this, txn = std::move(txn)](SlotDone release) mutable {
        conn->client->Txn(std::move(txn), [=, this](absl::StatusOr<pb::TxnResponse> r) {
          Post([=, this, r = std::move(r)] {
            release(r.status());
            Reg* reg = Find(id);
            if (reg == nullptr || reg->epoch != epoch) {
              return;
            }
            reg->busy = false;
            if (reg->lease != lease) {
              Step(*reg);
              return;
            }
            if (!r.ok()) {
              if (IsLeaseNotFound(r.status())) {
                HandleLeaseLost(*reg, "etcd no longer knows the lease");
              } else {
                Failed(*reg, r.status(), "writing the key");
              }
              return;
            }
            if (r->succeeded()) {
              KeyWritten(*reg, want_full, value, record, old_key);
              return;
            }
            // The compare failed: see who holds the key.
            const auto& rr = r->responses(0).response_range();
            if (rr.kvs_size() == 0) {
              RetryLater(*reg, milliseconds(0));  // it went away meanwhile
              return;
            }
            const auto& kv = rr.kvs(0);
            if (kv.lease() == lease) {
              // Ours already (a re-put raced with our own write): take it as
              // written.
              reg->full_key = want_full;
              reg->key_present = true;
              reg->written_value = kv.value();
              reg->written_record =
                  r->responses_size() > 1 && r->responses(1).response_range().kvs_size() > 0
                      ? r->responses(1).response_range().kvs(0).value()
                      : "";
              reg->reput = false;
              conn->key_owner[want_full] = id;
              Step(*reg);
              return;
            }
            std::string holder_desc = absl::StrCat("lease ", kv.lease());
            if (r->responses_size() > 1 && r->responses(1).response_range().kvs_size() > 0) {
              auto other = DecodeRecord(r->responses(1).response_range().kvs(0).value());
              if (other) {
                holder_desc = absl::StrCat(other->namespace_, "/", other->name, " (uid ",
                                           other->uid, ", lease ", kv.lease(), ")");
              }
            } else if (kv.lease() == 0) {
              holder_desc = "a key without a lease";
            } else {
              holder_desc += " without an etcd-registrar record (another publisher)";
            }
            SetState(*reg, Phase::kFailed, kReasonKeyConflict,
                     absl::StrCat("key ", want_full, " is held by ", holder_desc));
            // Watch the prefix so the key going away triggers a retry; recheck now
            // and then too.
            SyncWatch(*reg);
            conn->conflict_waiters[want_full].insert(id);
            RetryLater(*reg, kConflictRecheck);
          });
        });
      },
      /*first=*/true, cost);
}

void EngineImpl::RevokeCurrent(Reg& reg) {
  reg.busy = true;
  Connection* conn = reg.conn;
  int64_t lease = reg.lease;
  conn->keeper->Remove(lease);  // stop renewing at once
  if (reg.removed) {
    SetState(reg, Phase::kTerminating, kReasonRevoking);
  }
  std::string id = reg.desired.id;
  uint64_t epoch = reg.epoch;
  pb::LeaseRevokeRequest req;
  req.set_id(lease);
  Submit(
      conn, "LeaseRevoke",
      [=, this](SlotDone release) mutable {
        conn->client->LeaseRevoke(std::move(req), [=, this](auto r) {
          Post([=, this, r = std::move(r)] {
            release(r.status());
            Reg* reg = Find(id);
            if (reg == nullptr || reg->epoch != epoch) {
              return;
            }
            reg->busy = false;
            if (!r.ok() && !IsLeaseNotFound(r.status())) {
              if (reg->removed && clock_.Now() >= reg->remove_deadline) {
                spdlog::warn(
                    "{}: could not revoke lease {} within one TTL ({}); "
                    "letting it expire",
                    id, lease, r.status().message());
                Forget(*reg);
                Step(*reg);
                return;
              }
              Failed(*reg, r.status(), "revoking the lease");
              return;
            }
            spdlog::info("{}: revoked lease {} ({} removed)", id, lease, reg->full_key);
            Forget(*reg);
            Step(*reg);
          });
        });
      },
      /*first=*/true, kRevokeCost);
}

void EngineImpl::RevokeOld(Reg& reg) {
  reg.busy = true;
  OldLease old = *reg.old;
  old.conn->keeper->Remove(old.lease);
  if (old.full_key != reg.full_key || old.conn != reg.conn) {
    old.conn->key_owner.erase(old.full_key);
  }
  std::string id = reg.desired.id;
  uint64_t epoch = reg.epoch;
  pb::LeaseRevokeRequest req;
  req.set_id(old.lease);
  Submit(
      old.conn, "LeaseRevoke",
      [=, this](SlotDone release) mutable {
        old.conn->client->LeaseRevoke(std::move(req), [=, this](auto r) {
          Post([=, this, r = std::move(r)] {
            release(r.status());
            old.conn->lease_owner.erase(old.lease);
            Reg* reg = Find(id);
            if (reg == nullptr || reg->epoch != epoch) {
              return;
            }
            reg->busy = false;
            if (!r.ok() && !IsLeaseNotFound(r.status())) {
              // Not renewed any more: it expires by itself within its TTL.
              spdlog::warn(
                  "{}: revoking replaced lease {} failed: {} (it expires "
                  "after its TTL)",
                  id, old.lease, r.status().message());
            } else {
              spdlog::info("{}: replaced lease {} revoked", id, old.lease);
            }
            reg->old.reset();
            Step(*reg);
          });
        });
      },
      /*first=*/true, kRevokeCost);
}

void EngineImpl::HandleLeaseLost(Reg& reg, std::string_view why) {
  spdlog::warn("{}: lease {} lost ({}): registering anew", reg.desired.id, reg.lease, why);
  {
    absl::MutexLock lock(&snap_mu_);
    ++stats_.lease_losses;
    renewals_.erase(reg.lease);
  }
  reg.conn->keeper->Remove(reg.lease);
  reg.conn->lease_owner.erase(reg.lease);
  reg.conn->key_owner.erase(reg.full_key);
  reg.lease = 0;
  reg.key_present = false;
  reg.lost = true;
  reg.reput = false;
  SetState(reg, Phase::kPending, kReasonLeaseLost, std::string(why));
  Step(reg);
}

void EngineImpl::Failed(Reg& reg, const absl::Status& status, std::string_view what) {
  std::string message = absl::StrCat(std::string(what), ": ", status.message());
  if (IsCredentialError(status)) {
    SetState(reg, Phase::kFailed, kReasonAuthFailed, message);
    RetryLater(reg, kAuthRetry);
    return;
  }
  if (reg.removed) {
    SetState(reg, Phase::kTerminating, kReasonRevoking, message);
  } else if (IsTransient(status)) {
    SetState(reg, Phase::kPending, kReasonEtcdUnavailable, message);
  } else {
    SetState(reg, Phase::kPending, reg.state.reason, message);
  }
  RetryLater(reg, reg.backoff.Next());
}

void EngineImpl::RetryLater(Reg& reg, Clock::Duration delay) {
  if (reg.retry_pending) {
    return;
  }
  reg.retry_pending = true;
  std::string id = reg.desired.id;
  uint64_t epoch = reg.epoch;
  PostAfter(delay, [this, id, epoch] {
    Reg* reg = Find(id);
    if (reg == nullptr || reg->epoch != epoch) {
      return;
    }
    reg->retry_pending = false;
    Step(*reg);
  });
}

// The registration holds no lease any more (revoked, lost or given up).
void EngineImpl::Forget(Reg& reg) {
  if (reg.conn != nullptr && reg.lease != 0) {
    reg.conn->keeper->Remove(reg.lease);
    reg.conn->lease_owner.erase(reg.lease);
    reg.conn->key_owner.erase(reg.full_key);
    absl::MutexLock lock(&snap_mu_);
    renewals_.erase(reg.lease);
  }
  reg.lease = 0;
  reg.key_present = false;
  reg.full_key.clear();
  reg.written_value.clear();
  reg.written_record.clear();
}

// ---------------------------------------------------------------------------------------------
// Delete-only watches, one per key prefix and connection.

void EngineImpl::SyncWatch(Reg& reg) {
  bool want = !reg.removed && !reg.desired.paused && reg.conn != nullptr;
  std::string prefix = want ? reg.desired.key + "/" : "";
  Connection* conn = want ? reg.conn : nullptr;
  if (prefix == reg.watched_prefix && conn == reg.watched_conn) {
    return;
  }
  if (reg.watched_conn != nullptr) {
    ReleaseWatch(reg.watched_conn, reg.watched_prefix);
  }
  reg.watched_prefix = prefix;
  reg.watched_conn = conn;
  if (conn != nullptr) {
    EnsureWatch(conn, prefix);
  }
}

void EngineImpl::EnsureWatch(Connection* conn, const std::string& prefix) {
  auto& w = conn->watches[prefix];
  if (w.refs++ == 0) {
    OpenWatch(conn, prefix);
  }
}

void EngineImpl::ReleaseWatch(Connection* conn, const std::string& prefix) {
  auto it = conn->watches.find(prefix);
  if (it == conn->watches.end()) {
    return;
  }
  if (--it->second.refs <= 0) {
    if (it->second.stream) {
      it->second.stream->Close();
    }
    conn->watches.erase(it);
  }
}

void EngineImpl::OpenWatch(Connection* conn, const std::string& prefix) {
  auto& w = conn->watches[prefix];
  if (w.stream) {
    w.stream->Close();
    w.stream.reset();
  }
  uint64_t generation = ++w.generation;
  pb::WatchCreateRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  req.add_filters(pb::WatchCreateRequest::NOPUT);
  etcd::WatchHandler handler;
  handler.on_response = [this, conn, prefix, generation](const pb::WatchResponse& resp) {
    if (resp.created()) {
      Post([this, conn, prefix, generation] {
        auto it = conn->watches.find(prefix);
        if (it != conn->watches.end() && it->second.generation == generation) {
          it->second.backoff.Reset();
          VerifyPrefix(conn, prefix);
        }
      });
    }
    std::vector<std::string> deleted;
    for (const auto& ev : resp.events()) {
      if (ev.type() == pb::Event::DELETE) {
        deleted.push_back(ev.kv().key());
      }
    }
    if (!deleted.empty()) {
      Post([this, conn, deleted = std::move(deleted)] {
        for (const auto& key : deleted) {
          OnKeyDeleted(conn, key);
        }
      });
    }
  };
  handler.on_closed = [this, conn, prefix, generation](absl::Status status) {
    Post([this, conn, prefix, generation, status] {
      auto it = conn->watches.find(prefix);
      if (it == conn->watches.end() || it->second.generation != generation) {
        return;
      }
      auto delay = it->second.backoff.Next();
      spdlog::debug("watch on {} closed ({}); reopening in {} ms", prefix, status.message(),
                    delay.count());
      PostAfter(delay, [this, conn, prefix, generation] {
        auto it = conn->watches.find(prefix);
        if (it != conn->watches.end() && it->second.generation == generation) {
          OpenWatch(conn, prefix);
        }
      });
    });
  };
  auto stream = conn->client->Watch(std::move(req), std::move(handler));
  if (!stream.ok()) {
    spdlog::warn("cannot watch {}: {}", prefix, stream.status().message());
    return;
  }
  w.stream = std::move(*stream);
}

// After a watch (re)opens, deletes may have been missed: check every key we
// hold under the prefix with one Range and put back the missing ones.
void EngineImpl::VerifyPrefix(Connection* conn, const std::string& prefix) {
  pb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(etcd::PrefixRangeEnd(prefix));
  req.set_keys_only(true);
  conn->client->Range(std::move(req), [this, conn, prefix](absl::StatusOr<pb::RangeResponse> r) {
    Post([this, conn, prefix, r = std::move(r)] {
      if (!r.ok()) {
        return;  // the watch will close and reopen, and verify again
      }
      CheckRegression(conn);
      std::set<std::string> present;
      for (const auto& kv : r->kvs()) {
        present.insert(kv.key());
      }
      for (auto& [id, reg] : regs_) {
        if (reg.conn == conn && reg.key_present && absl::StartsWith(reg.full_key, prefix) &&
            !present.count(reg.full_key)) {
          OnKeyDeleted(conn, reg.full_key);
        }
      }
    });
  });
}

void EngineImpl::OnKeyDeleted(Connection* conn, const std::string& key) {
  if (auto w = conn->conflict_waiters.find(key); w != conn->conflict_waiters.end()) {
    std::set<std::string> ids = std::move(w->second);
    conn->conflict_waiters.erase(w);
    for (const auto& id : ids) {
      Reg* waiter = Find(id);
      if (waiter != nullptr && waiter->state.reason == kReasonKeyConflict && !waiter->busy) {
        waiter->retry_pending = false;  // the key it waits for went away: try now
        Step(*waiter);
      }
    }
  }
  auto it = conn->key_owner.find(key);
  if (it == conn->key_owner.end()) {
    return;
  }
  Reg* reg = Find(it->second);
  if (reg == nullptr || reg->removed || reg->desired.paused) {
    return;
  }
  if (reg->full_key != key || reg->lease == 0) {
    return;
  }
  reg->reput = true;
  if (reg->busy) {
    reg->verify = true;
    return;
  }
  reg->key_present = false;
  Step(*reg);
}

// ---------------------------------------------------------------------------------------------
// State and snapshot.

Reg* EngineImpl::Find(const std::string& id) {
  auto it = regs_.find(id);
  return it == regs_.end() ? nullptr : &it->second;
}

std::vector<std::string> EngineImpl::Ids() const {
  std::vector<std::string> ids;
  ids.reserve(regs_.size());
  for (const auto& [id, reg] : regs_) {
    ids.push_back(id);
  }
  return ids;
}

void EngineImpl::Erase(const std::string& id) {
  auto it = regs_.find(id);
  if (it == regs_.end()) {
    return;
  }
  Reg& reg = it->second;
  if (reg.watched_conn != nullptr) {
    ReleaseWatch(reg.watched_conn, reg.watched_prefix);
  }
  spdlog::info("{}: removed", id);
  regs_.erase(it);
  {
    absl::MutexLock lock(&snap_mu_);
    snapshot_.erase(id);
  }
  if (listener_) {
    listener_(id);
  }
}

void EngineImpl::SetState(Reg& reg, Phase phase, std::string_view reason, std::string message) {
  bool changed = reg.state.phase != phase || reg.state.reason != reason;
  reg.state.phase = phase;
  reg.state.reason = std::string(reason);
  reg.state.message = std::move(message);
  if (changed) {
    if (phase == Phase::kRegistered) {
      spdlog::info("{}: {} {} = {} (lease {}, ttl {})", reg.desired.id, PhaseName(phase),
                   reg.full_key, reg.desired.value, reg.lease, reg.granted_ttl);
    } else {
      spdlog::info("{}: {} ({}){}{}", reg.desired.id, PhaseName(phase), reason,
                   reg.state.message.empty() ? "" : ": ", reg.state.message);
    }
  }
  Publish(reg);
}

void EngineImpl::Publish(Reg& reg) {
  reg.state.id = reg.desired.id;
  reg.state.full_key = reg.full_key;
  reg.state.lease_id = reg.lease;
  reg.state.granted_ttl = reg.granted_ttl;
  reg.state.value = reg.key_present ? reg.written_value : reg.desired.value;
  bool notify = false;
  {
    absl::MutexLock lock(&snap_mu_);
    auto& slot = snapshot_[reg.desired.id];
    notify = slot.phase != reg.state.phase || slot.reason != reg.state.reason ||
             slot.message != reg.state.message || slot.full_key != reg.state.full_key ||
             slot.lease_id != reg.state.lease_id || slot.value != reg.state.value ||
             slot.id.empty();
    auto last = slot.last_renewal;
    slot = reg.state;
    slot.last_renewal = last;
  }
  if (notify && listener_) {
    listener_(reg.desired.id);
  }
}

std::optional<State> EngineImpl::Get(const std::string& id) const {
  absl::MutexLock lock(&snap_mu_);
  auto it = snapshot_.find(id);
  if (it == snapshot_.end()) {
    return std::nullopt;
  }
  State s = it->second;
  if (auto r = renewals_.find(s.lease_id); s.lease_id != 0 && r != renewals_.end()) {
    s.last_renewal = r->second;
  }
  return s;
}

std::vector<State> EngineImpl::List() const {
  absl::MutexLock lock(&snap_mu_);
  std::vector<State> out;
  out.reserve(snapshot_.size());
  for (const auto& [id, state] : snapshot_) {
    State s = state;
    if (auto r = renewals_.find(s.lease_id); s.lease_id != 0 && r != renewals_.end()) {
      s.last_renewal = r->second;
    }
    out.push_back(std::move(s));
  }
  return out;
}

EngineStats EngineImpl::stats() const {
  absl::MutexLock lock(&snap_mu_);
  return stats_;
}

int64_t EngineImpl::NewLeaseId() {
  // Positive, never 0 (0 asks etcd to choose).
  return static_cast<int64_t>(rng_() >> 2) + 1;
}

}  // namespace

EnginePtr NewEngine(EngineOptions options, Clock& clock) {
  return std::make_unique<EngineImpl>(std::move(options), clock);
}

}  // namespace registrar::publisher
