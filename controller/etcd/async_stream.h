// File: controller/etcd/async_stream.h
//
// The Watch and LeaseKeepAlive streams of ClientImpl (client_impl.h). Internal to the client: the
// handles are the public WatchStream / KeepAliveStream (client.h); the stream machinery (one gRPC
// bidi call on the client's completion queue) stays in async_stream.cc.
//
// Flow: opening never blocks. With a username the stream asks the client's TokenSource for a
// token and starts the gRPC call when it arrives (at once when one is cached, else on the poller
// thread when the shared Authenticate ends); an authentication failure ends the stream through
// on_closed. Requests sent before the call started are queued and written once it has.
// Thread-safety and ownership: as for WatchStream / KeepAliveStream in client.h; `client` must
// outlive the handle.
#pragma once

#include "controller/etcd/client.h"

namespace registrar::etcd {

class ClientImpl;

// REQUIRES: `req.key()` is not empty and both handler functions are set (ClientImpl checks).
WatchStreamPtr OpenWatchStream(ClientImpl& client, pb::WatchCreateRequest req,
                               WatchHandler handler);
// REQUIRES: both handler functions are set.
KeepAliveStreamPtr OpenKeepAliveStream(ClientImpl& client, KeepAliveHandler handler);

// Stream objects alive in this process (opened and not yet destroyed), and of those the ones
// whose gRPC call was started and has not finished (its tags still outstanding). For tests and
// leak hunts: a count that only grows while streams are reopened is a leak.
struct LiveStreams {
  int64_t objects = 0;
  int64_t calls = 0;
};
LiveStreams CountLiveStreams();

}  // namespace registrar::etcd
