#include "controller/etcd/credentials.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "controller/common/status.h"
#include "grpc/support/log.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "spdlog/spdlog.h"

namespace registrar::etcd {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read etcd TLS ", what, " file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read etcd TLS ", what, " file ", path));
  }
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientOptions& options) {
  if (!options.tls()) {
    return grpc::InsecureChannelCredentials();
  }
  std::string ca;
  std::string cert;
  std::string key;
  if (!options.ca_pem.empty()) {
    ca = options.ca_pem;
  } else if (!options.ca_file.empty()) {
    ASSIGN_OR_RETURN(ca, ReadFile("CA", options.ca_file));
  }
  if (!options.cert_pem.empty()) {
    cert = options.cert_pem;
  } else if (!options.cert_file.empty()) {
    ASSIGN_OR_RETURN(cert, ReadFile("certificate", options.cert_file));
  }
  if (!options.key_pem.empty()) {
    key = options.key_pem;
  } else if (!options.key_file.empty()) {
    ASSIGN_OR_RETURN(key, ReadFile("key", options.key_file));
  }
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd TLS needs both a client certificate and its key, or neither",
        options.tls_source.empty() ? "" : absl::StrCat(" (", options.tls_source, ")")));
  }
  if (!options.insecure_skip_verify) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    ssl.pem_private_key = key;
    ssl.pem_cert_chain = cert;
    return grpc::SslCredentials(ssl);
  }
  std::vector<grpc::experimental::IdentityKeyCertPair> identity;
  if (!cert.empty()) {
    identity.push_back({key, cert});
  }
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  if (!ca.empty() || !identity.empty()) {
    tls.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(ca, identity));
    if (!ca.empty()) {
      tls.watch_root_certs();
    }
    if (!identity.empty()) {
      tls.watch_identity_key_cert_pairs();
    }
  }
  return grpc::experimental::TlsCredentials(tls);
}

absl::Status ExplainTlsFailure(const ClientOptions& options, absl::Status status) {
  const std::string message(status.message());
  if (status.ok() || !absl::StrContains(message, "Ssl handshake failed") ||
      absl::StrContains(message, "(TLS: ")) {
    return status;
  }
  std::string hint;
  if (!options.tls_source.empty()) {
    hint = absl::StrCat("check ca.crt, tls.crt and tls.key in ", options.tls_source,
                        ": etcd's certificate must be signed by ca.crt and name this endpoint, "
                        "and etcd must accept the client certificate");
  } else if (absl::StrContains(message, "certificate verify failed") ||
             absl::StrContains(message, "CERTIFICATE_VERIFY_FAILED")) {
    hint = options.ca_file.empty()
               ? "etcd's certificate is not trusted by the system's CA roots; give the CA that "
                 "signed it with --etcd-ca"
               : absl::StrCat("etcd's certificate is not signed by the CA in --etcd-ca ",
                              options.ca_file, ", or does not name this endpoint");
  } else {
    hint = absl::StrCat("check --etcd-ca ", options.ca_file.empty() ? "(not set)" : options.ca_file,
                        ", and that etcd accepts the client certificate --etcd-cert ",
                        options.cert_file.empty() ? "(not set)" : options.cert_file);
  }
  return absl::Status(status.code(), absl::StrCat(message, " (TLS: ", hint, ")"));
}

void RouteGrpcLogging() {
  static const bool kRouted = [] {
    gpr_set_log_function(+[](gpr_log_func_args* args) {
      spdlog::debug("grpc {}:{}: {}", args->file, args->line, args->message);
    });
    return true;
  }();
  (void)kRouted;
}

}  // namespace registrar::etcd
