#include "controller/publisher/connection.h"

#include <chrono>

#include "absl/strings/match.h"

#include "controller/common/format.h"
#include "controller/etcd/token_source.h"
#include "controller/publisher/etcd_errors.h"
#include "spdlog/spdlog.h"

namespace registrar::publisher {

namespace {

// Settle etcd's write buffer (write_scheduler.h) only where keep-alives are many enough to matter.
constexpr size_t kSettleMinLeases = 1000;
constexpr int64_t kSettleTtl = 10;
// From this many leases on a connection, writes are paced (write_scheduler.h, rule 5) to fewer
// entries per etcd commit interval than etcd 3.4's smallest write buffer holds (512).
constexpr size_t kPacedLeases = 20000;
constexpr int kPacedEntriesPerSecond = 4000;

// "<owner>: <reason>, <full key>" for logs; the parts not known are left out.
std::string Describe(const PendingRevoke& revoke) {
  std::string out = revoke.owner.empty() ? "" : revoke.owner + ": ";
  out += RevokeReasonName(revoke.reason);
  if (!revoke.full_key.empty()) {
    out += ", " + revoke.full_key;
  }
  return out;
}

}  // namespace

void Connection::OnRenewed(int64_t lease, int64_t /*ttl*/) { pool->events_.OnRenewed(this, lease); }

void Connection::OnLost(int64_t lease) {
  pool->loop_.Post([this, lease] { pool->events_.OnLeaseLost(this, lease); });
}

void Connection::OnRenewalsAnswered() {
  pool->loop_.Post([this] { pool->Pump(this); });
}

void Connection::OnStreamClosed(const absl::Status& status) {
  if (etcd::IsCredentialsRejected(status)) {
    pool->loop_.Post([this, status] { pool->events_.OnCredentialsRejected(this, status); });
  }
}

void Connection::OnConnectivity(bool up) {
  pool->loop_.Post([this, up] {
    if (up && !healthy) {
      pool->AskVersion(this);  // the endpoint behind the stream may have changed
    }
    pool->events_.OnConnectivity(this, up);
  });
}

ConnectionPool::ConnectionPool(ClientFactory new_client, KeeperFactory new_keeper, Clock& clock,
                               EventLoop& loop, int max_in_flight, RequestHook on_request,
                               Events& events)
    : new_client_(std::move(new_client)),
      new_keeper_(std::move(new_keeper)),
      clock_(clock),
      loop_(loop),
      max_in_flight_(max_in_flight),
      on_request_(std::move(on_request)),
      events_(events) {}

absl::StatusOr<Connection*> ConnectionPool::For(const etcd::ClientOptions& options) {
  std::string identity = options.Identity();
  if (auto it = conns_.find(identity); it != conns_.end()) {
    return it->second.get();
  }
  auto client = new_client_(options);
  if (!client.ok()) {
    return client.status();
  }
  auto conn = std::make_unique<Connection>();
  conn->pool = this;
  conn->writes = WriteScheduler(max_in_flight_, options.request_timeout);
  conn->identity = identity;
  conn->endpoints = options.endpoints;
  conn->client = std::move(*client);
  conn->keeper = new_keeper_(*conn->client, clock_, *conn);
  conn->keeper->Start();
  Connection* raw = conn.get();
  conns_.emplace(identity, std::move(conn));
  spdlog::info("etcd connection to {}", raw->client->target());
  AskVersion(raw);
  return raw;
}

Connection* ConnectionPool::Find(const std::string& identity) const {
  auto it = conns_.find(identity);
  return it == conns_.end() ? nullptr : it->second.get();
}

bool ConnectionPool::Idle(const Connection& conn) const {
  return conn.keeper->size() == 0 && conn.writes.in_flight() == 0 && conn.writes.queued() == 0 &&
         conn.batch.empty() && !conn.flush_posted && conn.debt.empty() && !conn.pump_at &&
         !conn.debt_at && conn.version_answers == conn.version_asks && !conn.adopting;
}

void ConnectionPool::Retire(Connection* conn, Clock::Duration grace) {
  auto it = conns_.find(conn->identity);
  if (it == conns_.end() || it->second.get() != conn) {
    return;
  }
  conn->keeper->Stop();
  spdlog::info("etcd connection to {} closed: no registration uses it", conn->client->target());
  retired_.push_back(std::move(it->second));
  conns_.erase(it);
  DestroyLater(conn, grace);
}

void ConnectionPool::DestroyLater(Connection* conn, Clock::Duration grace) {
  loop_.PostAfter(grace, [this, conn, grace] {
    if (conn->pump_at || conn->debt_at || conn->version_answers != conn->version_asks) {
      DestroyLater(conn, grace);  // a timer or an answer of it is still to come
      return;
    }
    std::erase_if(retired_, [conn](const auto& c) { return c.get() == conn; });
  });
}

std::vector<Connection*> ConnectionPool::all() const {
  std::vector<Connection*> out;
  for (const auto& [identity, conn] : conns_) {
    out.push_back(conn.get());
  }
  return out;
}

void ConnectionPool::StopKeepers() {
  for (const auto& [identity, conn] : conns_) {
    conn->keeper->Stop();
  }
}

int64_t ConnectionPool::NewLeaseId() { return static_cast<int64_t>(rng_() >> 2) + 1; }

// `op` receives the function that releases its slot; it calls it exactly once, on the engine
// thread.
void ConnectionPool::Submit(Connection* conn, const char* method, std::function<void(SlotDone)> op,
                            WriteOptions options) {
  WriteKind kind = absl::StartsWith(method, "Lease") ? WriteKind::kLease : WriteKind::kKey;
  auto run = [this, conn, method, kind, op = std::move(op)] {
    Clock::TimePoint started = clock_.Now();
    op([this, conn, method, kind, started](const absl::Status& status) {
      conn->writes.Done(kind, clock_.Now());
      Release(conn, method, started, status);
    });
  };
  conn->writes.Submit(kind, std::move(run), options.first, options.cost, options.settle);
  Pump(conn);
}

void ConnectionPool::Release(Connection* conn, const char* method, Clock::TimePoint started,
                             const absl::Status& status) {
  if (on_request_) {
    on_request_(method, std::chrono::duration<double>(clock_.Now() - started).count(), status);
  }
  // Only "could not reach etcd" counts: an overloaded etcd (too many requests) that answers
  // other writes must not make the owed revokes skip their backoff.
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    conn->write_unreachable = true;
  } else if (status.ok() && conn->write_unreachable) {
    conn->write_unreachable = false;
    Reconnected(conn);  // etcd answers again
  }
  events_.OnAnswered(conn);
  Pump(conn);
}

void ConnectionPool::Revoke(Connection* conn, PendingRevoke revoke,
                            std::function<void(const absl::Status&)> on_answer) {
  pb::LeaseRevokeRequest req;
  req.set_id(revoke.lease);
  Write(conn, "LeaseRevoke", std::move(req), &etcd::Client::LeaseRevoke,
        [this, conn, revoke = std::move(revoke),
         on_answer = std::move(on_answer)](absl::StatusOr<pb::LeaseRevokeResponse> r) {
          bool revoked = r.ok() || IsLeaseNotFound(r.status());
          if (revoked) {
            bool from_debt = conn->debt.Paid(revoke.lease).has_value();
            if (from_debt) {
              spdlog::info("etcd {}: lease {} ({}) revoked: revoke debt paid",
                           conn->client->target(), revoke.lease, Describe(revoke));
            }
            events_.OnRevoked(conn, revoke, from_debt);
          } else {
            if (conn->debt.Failed(revoke, clock_.Now())) {
              spdlog::warn(
                  "etcd {}: revoking lease {} ({}) failed: {}; it is not renewed, and the revoke "
                  "is retried on every reconnect until etcd answers",
                  conn->client->target(), revoke.lease, Describe(revoke), r.status().message());
              events_.OnRevokeDeferred(conn, revoke);
            }
            ScheduleDebt(conn);
          }
          if (on_answer) {
            on_answer(revoked ? absl::OkStatus() : r.status());
          }
        },
        {.first = true, .cost = kRevokeCost});
}

void ConnectionPool::Reconnected(Connection* conn) {
  if (conn->debt.empty()) {
    return;
  }
  spdlog::info("etcd {} answers again: retrying {} owed revoke(s)", conn->client->target(),
               conn->debt.size());
  conn->debt.Reconnected(clock_.Now());
  PayDebt(conn);
}

void ConnectionPool::PayDebt(Connection* conn) {
  for (PendingRevoke& revoke : conn->debt.Due(clock_.Now())) {
    Revoke(conn, std::move(revoke));
  }
  ScheduleDebt(conn);
}

void ConnectionPool::ScheduleDebt(Connection* conn) {
  std::optional<Clock::TimePoint> next = conn->debt.NextCheck();
  if (next && (!conn->debt_at || *next < *conn->debt_at)) {
    conn->debt_at = *next;
    loop_.PostAfter(*next - clock_.Now(), [this, conn] {
      conn->debt_at.reset();
      PayDebt(conn);
    });
  }
}

size_t ConnectionPool::debt_size() const {
  size_t n = 0;
  for (const auto& [identity, conn] : conns_) {
    n += conn->debt.size();
  }
  return n;
}

void ConnectionPool::Pump(Connection* conn) {
  Clock::TimePoint now = clock_.Now();
  conn->writes.SetBudget(conn->keeper->size() >= kPacedLeases ? kPacedEntriesPerSecond : 0, now);
  for (auto& op : conn->writes.Ready(now, conn->keeper->renewals_silent_since())) {
    op();
  }
  if (std::optional<WriteKind> kind = conn->writes.SettleDue(now)) {
    conn->writes.Settled(*kind);
    if (conn->keeper->size() >= kSettleMinLeases && SettlesOn(*conn)) {
      Settle(conn, *kind);
    }
  }
  std::optional<Clock::TimePoint> next = conn->writes.NextCheck();
  if (next && (!conn->pump_at || *next < *conn->pump_at)) {
    conn->pump_at = *next;
    loop_.PostAfter(*next - now, [this, conn] {
      conn->pump_at.reset();
      Pump(conn);
    });
  }
}

void ConnectionPool::AskVersion(Connection* conn) {
  uint64_t ask = ++conn->version_asks;
  conn->client->Status({}, [this, conn, ask](absl::StatusOr<pb::StatusResponse> r) {
    loop_.Post([conn, ask, r = std::move(r)] {
      ++conn->version_answers;
      if (ask != conn->version_asks) {
        return;  // a later ask is under way
      }
      if (!r.ok()) {
        // Unreachable now: the stream coming up again asks again. Keep what was known.
        spdlog::debug("etcd {}: server version not known: {}", conn->client->target(),
                      r.status().message());
        return;
      }
      std::optional<etcd::ServerVersion> version = etcd::ParseServerVersion(r->version());
      if (!version) {
        spdlog::warn("etcd {}: cannot read the server version '{}'; settle writes stay on",
                     conn->client->target(), r->version());
      } else if (!conn->server_version ||
                 conn->server_version->ToString() != version->ToString()) {
        spdlog::info("etcd {}: server version {}, settle writes {}", conn->client->target(),
                     version->ToString(), etcd::SettleWritesHelp(version) ? "on" : "off");
      }
      conn->server_version = version;
    });
  });
}

bool ConnectionPool::SettlesOn(const Connection& conn) const {
  switch (settle_writes_) {
    case SettleWrites::kOn:
      return true;
    case SettleWrites::kOff:
      return false;
    case SettleWrites::kAuto:
      break;
  }
  return etcd::SettleWritesHelp(conn.server_version);
}

// The settle writes of write_scheduler.h, rule 4. A key write: one record this engine owns (or,
// without records, one registration key) written again with the same value and lease. A lease
// write: a throwaway lease, revoked once granted (a failed revoke goes into the revoke debt).
void ConnectionPool::Settle(Connection* conn, WriteKind kind) {
  if (kind == WriteKind::kKey) {
    std::optional<std::string> key = events_.SettleKey(conn);
    if (!key) {
      return;
    }
    spdlog::debug("etcd {}: settle: rewriting {}", conn->client->target(), *key);
    Write(conn, "Put", RewritePut(*key), &etcd::Client::Put, nullptr,
          {.first = true, .cost = 1, .settle = true});
    return;
  }
  spdlog::debug("etcd {}: settle: granting and revoking a throwaway lease", conn->client->target());
  pb::LeaseGrantRequest req;
  req.set_ttl(kSettleTtl);
  req.set_id(NewLeaseId());
  int64_t lease = req.id();
  Write(conn, "LeaseGrant", std::move(req), &etcd::Client::LeaseGrant,
        [this, conn, lease](absl::StatusOr<pb::LeaseGrantResponse> r) {
          // Unanswered, the grant may still have happened: revoke it all the same.
          if ((r.ok() && r->error().empty()) || (!r.ok() && IsTransient(r.status()))) {
            Revoke(conn, {.lease = lease, .reason = RevokeReason::kSettle});
          }
        },
        {.first = true, .cost = 1, .settle = true});
}

}  // namespace registrar::publisher
