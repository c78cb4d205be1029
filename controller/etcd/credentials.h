// File: controller/etcd/credentials.h
//
// gRPC channel credentials from ClientOptions: insecure without TLS settings; with them, the CA,
// client certificate and key are read once, here, and verification of the server is on unless
// insecure_skip_verify. Internal to the etcd client (client_impl.cc); no gRPC include, so
// including it costs nothing.
//
// Thread-safety: a pure function of its argument and the files it reads.
#pragma once

#include <memory>

#include "absl/status/statusor.h"

#include "controller/etcd/client_options.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace registrar::etcd {

// Fails with kInvalidArgument when a TLS file cannot be read (the message names the file) or
// only one of certificate and key is given.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientOptions& options);

// `status` with what to check appended when its message is a failed TLS handshake (gRPC's
// "Ssl handshake failed: ... certificate verify failed"): the --etcd-ca file (or that none is
// set) and the client certificate. The code and the original text are kept. Other statuses are
// returned as they are.
absl::Status ExplainTlsFailure(const ClientOptions& options, absl::Status status);

// Sends gRPC's own log lines (e.g. "E1202 ... Handshake failed ...") to our log at debug level
// instead of stderr: every failure they report reaches the caller as a status, which says it
// once and names the file to fix. Idempotent; the first client calls it.
void RouteGrpcLogging();

}  // namespace registrar::etcd
