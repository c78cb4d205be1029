// Memory of closed watch streams: the fault soak (tests/soak/) saw the controller's heap grow by
// about 30 KiB per watch stream ever opened (heaptrack: every gRPC call arena of
// PrefixWatches::Open still allocated). These tests open and close many watch streams on one
// ClientImpl against a real etcd and check that the heap comes back (they pass: the client gives
// the memory back; the retention the soak saw is above it). mallinfo2() counts the main arena,
// where these streams (opened on the test's main thread) allocate their calls.
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

#include "controller/etcd/async_stream.h"
#include "controller/etcd/client_impl.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::etcd {
namespace {

using ::registrar::testing::EtcdProcess;
using ::registrar::testing::IsOk;
using ::registrar::testing::TcpProxy;
using ::registrar::testing::WaitFor;
using std::chrono::seconds;

constexpr int kStreams = 400;

size_t HeapInUse() { return mallinfo2().uordblks; }

struct Counters {
  std::atomic<int> created{0};
  std::atomic<int> closed{0};
};

WatchHandler CountingHandler(Counters& c) {
  WatchHandler h;
  h.on_response = [&c](const pb::WatchResponse& r) {
    if (r.created()) {
      c.created.fetch_add(1);
    }
  };
  h.on_closed = [&c](absl::Status) { c.closed.fetch_add(1); };
  return h;
}

std::vector<WatchStreamPtr> OpenMany(ClientImpl& client, Counters& c) {
  std::vector<WatchStreamPtr> streams;
  for (int i = 0; i < kStreams; ++i) {
    pb::WatchCreateRequest req;
    req.set_key("mem/" + std::to_string(i) + "/");
    req.set_range_end(PrefixRangeEnd(req.key()));
    auto s = client.Watch(req, CountingHandler(c));
    EXPECT_THAT(s, IsOk());
    if (s.ok()) {
      streams.push_back(*std::move(s));
    }
  }
  return streams;
}

TEST(WatchStreamMemory, ClosedStreamsGiveTheirMemoryBack) {
  auto etcd = EtcdProcess::Start();
  ASSERT_THAT(etcd, IsOk());
  auto client = ClientImpl::Create((*etcd)->client_options());
  ASSERT_THAT(client, IsOk());
  {  // warm-up: channel, arenas, allocator caches
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
  }
  const size_t before = HeapInUse();
  const LiveStreams live_before = CountLiveStreams();
  for (int round = 0; round < 3; ++round) {
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
    EXPECT_EQ(CountLiveStreams().objects, live_before.objects + kStreams);
    EXPECT_EQ(CountLiveStreams().calls, live_before.calls + kStreams);
    for (auto& s : streams) {
      s->Close();
    }
  }
  const size_t after = HeapInUse();
  EXPECT_EQ(CountLiveStreams().objects, live_before.objects);
  EXPECT_EQ(CountLiveStreams().calls, live_before.calls);
  const double per_stream =
      (static_cast<double>(after) - static_cast<double>(before)) / (3.0 * kStreams);
  std::cout << "[measure] heap growth per closed watch stream: " << per_stream << " B" << std::endl;
  EXPECT_LT(per_stream, 1024);
}

TEST(WatchStreamMemory, StreamsEndedByAResetConnectionGiveTheirMemoryBack) {
  auto etcd = EtcdProcess::Start();
  ASSERT_THAT(etcd, IsOk());
  auto proxy = TcpProxy::Start((*etcd)->endpoint());
  ASSERT_THAT(proxy, IsOk());
  ClientOptions options = (*etcd)->client_options();
  options.endpoints = {(*proxy)->endpoint()};
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  {
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
  }
  const size_t before = HeapInUse();
  for (int round = 0; round < 3; ++round) {
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
    (*proxy)->DropAll();
    ASSERT_TRUE(WaitFor([&] { return c.closed.load() == kStreams; }, seconds(30)))
        << c.closed.load() << " of " << kStreams << " streams saw their end";
  }
  const size_t after = HeapInUse();
  const double per_stream =
      (static_cast<double>(after) - static_cast<double>(before)) / (3.0 * kStreams);
  std::cout << "[measure] heap growth per reset watch stream: " << per_stream << " B" << std::endl;
  EXPECT_LT(per_stream, 1024);
}

TEST(WatchStreamMemory, StreamsClosedDuringAStallGiveTheirMemoryBack) {
  auto etcd = EtcdProcess::Start();
  ASSERT_THAT(etcd, IsOk());
  auto proxy = TcpProxy::Start((*etcd)->endpoint());
  ASSERT_THAT(proxy, IsOk());
  ClientOptions options = (*etcd)->client_options();
  options.endpoints = {(*proxy)->endpoint()};
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  {
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
  }
  const size_t before = HeapInUse();
  for (int round = 0; round < 3; ++round) {
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
    (*proxy)->Cut();
    Counters stalled;
    auto more = OpenMany(**client, stalled);  // opened while nothing gets through
    streams.clear();
    more.clear();
    (*proxy)->Restore();
  }
  {  // the channel works again
    Counters c;
    auto streams = OpenMany(**client, c);
    ASSERT_TRUE(WaitFor([&] { return c.created.load() == kStreams; }, seconds(30)));
  }
  const size_t after = HeapInUse();
  const double per_stream =
      (static_cast<double>(after) - static_cast<double>(before)) / (6.0 * kStreams);
  std::cout << "[measure] heap growth per watch stream closed during a stall: " << per_stream
            << " B" << std::endl;
  EXPECT_LT(per_stream, 1024);
}

// A stall longer than gRPC's keep-alive (10 s + 5 s): the transport is dropped, every watch ends,
// and streams opened now wait in the channel's queue while it keeps trying to connect.
TEST(WatchStreamMemory, StreamsOpenedAfterTheKeepAliveDroppedTheConnection) {
  auto etcd = EtcdProcess::Start();
  ASSERT_THAT(etcd, IsOk());
  auto proxy = TcpProxy::Start((*etcd)->endpoint());
  ASSERT_THAT(proxy, IsOk());
  ClientOptions options = (*etcd)->client_options();
  options.endpoints = {(*proxy)->endpoint()};
  auto client = ClientImpl::Create(options);
  ASSERT_THAT(client, IsOk());
  Counters first;
  auto streams = OpenMany(**client, first);
  ASSERT_TRUE(WaitFor([&] { return first.created.load() == kStreams; }, seconds(30)));
  (*proxy)->Cut();
  ASSERT_TRUE(WaitFor([&] { return first.closed.load() == kStreams; }, seconds(40)))
      << "the keep-alive did not end the streams";
  streams.clear();
  const size_t before = HeapInUse();
  for (int round = 0; round < 5; ++round) {
    Counters queued;
    auto more = OpenMany(**client, queued);
    more.clear();
  }
  const size_t after = HeapInUse();
  (*proxy)->Restore();
  const double per_stream =
      (static_cast<double>(after) - static_cast<double>(before)) / (5.0 * kStreams);
  std::cout << "[measure] heap growth per watch stream opened and closed while connecting: "
            << per_stream << " B" << std::endl;
  EXPECT_LT(per_stream, 1024);
}

}  // namespace
}  // namespace registrar::etcd
