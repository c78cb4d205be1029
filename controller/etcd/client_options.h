// File: controller/etcd/client_options.h
//
// Where and how an etcd client connects. A plain struct with no gRPC or protobuf include, so code
// that only parses or passes options (flags, the publisher's connection table) does not compile the
// etcd proto. client.h includes it; NewClient (client.h) turns options into a connection.
//
// Thread-safety: a value type; Identity() is const and touches nothing shared.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace registrar::etcd {

// Two registrations with equal Identity() share one connection.
struct ClientOptions {
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};  // host:port
  std::string username;
  std::string password;  // never logged
  // Where `password` came from (--etcd-password-file), or empty. When set, the client reads it
  // again when it changes (a rotated Secret), so new credentials are used without a restart.
  std::string password_file;
  std::string ca_file;   // TLS is on when any of ca/cert/key is set or insecure_skip_verify
  std::string cert_file;
  std::string key_file;
  // TLS material given in memory (a Kubernetes Secret's ca.crt, tls.crt, tls.key), used instead
  // of the files above when set; never logged. `tls_source` names where they came from ("Secret
  // ns/name") for error messages.
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string tls_source;
  bool insecure_skip_verify = false;
  // The deadline of every unary call (Authenticate included), from when the attempt is sent.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds max_reconnect_backoff{1000};

  bool tls() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty() || !ca_pem.empty() ||
           !cert_pem.empty() || !key_pem.empty() || insecure_skip_verify;
  }
  // Endpoints + credentials + TLS settings, for connection sharing; holds hashes of the password
  // and of the in-memory TLS material, never the secrets themselves.
  std::string Identity() const;
};

}  // namespace registrar::etcd
