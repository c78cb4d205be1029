#include "controller/registration/target_resolver.h"

#include <utility>

#include "absl/strings/str_cat.h"

#include "controller/registration/conditions.h"

namespace registrar::registration {

namespace {

Refusal Missing(const std::string& ns, const std::string& name, const std::string& what) {
  return Refusal{kReasonSecretNotFound, absl::StrCat("Secret ", ns, "/", name, ": ", what)};
}

// The Secret's data into *data, or a refusal into *refusal; an error when it could not be read.
absl::Status Read(const SecretReader& read, const std::string& ns, const std::string& name,
                  const std::string& purpose, SecretData* out, std::optional<Refusal>* refusal) {
  absl::StatusOr<SecretData> data = read(ns, name);
  if (data.ok()) {
    *out = *std::move(data);
    return absl::OkStatus();
  }
  if (absl::IsNotFound(data.status())) {
    *refusal = Missing(ns, name, absl::StrCat("not found (", purpose, ")"));
    return absl::OkStatus();
  }
  if (absl::IsPermissionDenied(data.status())) {
    *refusal = Missing(
        ns, name,
        absl::StrCat("the controller may not read it (", purpose, "): ", data.status().message()));
    return absl::OkStatus();
  }
  return absl::Status(data.status().code(), absl::StrCat("reading Secret ", ns, "/", name, ": ",
                                                         data.status().message()));
}

std::optional<std::string> Key(const SecretData& data, const std::string& key) {
  auto it = data.find(key);
  if (it == data.end() || it->second.empty()) {
    return std::nullopt;
  }
  return it->second;
}

}  // namespace

absl::StatusOr<ResolvedTarget> ResolveTarget(const EtcdTarget& target,
                                             const std::string& namespace_name,
                                             const SecretReader& read,
                                             const etcd::ClientOptions& base) {
  ResolvedTarget result;
  auto refuse = [&result](Refusal refusal) {
    result.refusal = std::move(refusal);
    return result;
  };
  etcd::ClientOptions& out = result.options;
  out.request_timeout = base.request_timeout;
  out.max_reconnect_backoff = base.max_reconnect_backoff;
  out.endpoints = target.endpoints;
  out.insecure_skip_verify = target.insecure_skip_verify;

  if (const auto& ref = target.credentials_secret_ref) {
    SecretData data;
    if (absl::Status s =
            Read(read, namespace_name, ref->name, "credentialsSecretRef", &data, &result.refusal);
        !s.ok() || result.refusal) {
      if (!s.ok()) {
        return s;
      }
      return result;
    }
    for (const char* key : {"username", "password"}) {
      if (!Key(data, key)) {
        return refuse(Missing(namespace_name, ref->name,
                              absl::StrCat("no key \"", key, "\" (credentialsSecretRef)")));
      }
    }
    out.username = *Key(data, "username");
    out.password = *Key(data, "password");
  }

  if (const auto& ref = target.tls_secret_ref) {
    SecretData data;
    if (absl::Status s =
            Read(read, namespace_name, ref->name, "tlsSecretRef", &data, &result.refusal);
        !s.ok() || result.refusal) {
      if (!s.ok()) {
        return s;
      }
      return result;
    }
    std::optional<std::string> ca = Key(data, "ca.crt");
    std::optional<std::string> cert = Key(data, "tls.crt");
    std::optional<std::string> key = Key(data, "tls.key");
    if (!ca && !target.insecure_skip_verify) {
      return refuse(Missing(namespace_name, ref->name,
                            "no key \"ca.crt\" (tlsSecretRef; needed unless insecureSkipVerify)"));
    }
    if (cert.has_value() != key.has_value()) {
      return refuse(Missing(namespace_name, ref->name,
                            absl::StrCat("no key \"", cert ? "tls.key" : "tls.crt",
                                         "\" (tlsSecretRef: tls.crt and tls.key go together)")));
    }
    out.ca_pem = ca.value_or("");
    out.cert_pem = cert.value_or("");
    out.key_pem = key.value_or("");
    out.tls_source = absl::StrCat("Secret ", namespace_name, "/", ref->name);
  }
  return result;
}

std::optional<std::chrono::milliseconds> SecretRecheck(const RecheckInput& in,
                                                       std::chrono::milliseconds recheck,
                                                       std::chrono::milliseconds live_recheck) {
  if (in.secret_missing) {
    return recheck;
  }
  if (in.auth_failed) {
    return in.lease_held ? live_recheck : recheck;
  }
  if (in.move_waits) {
    return recheck;
  }
  return std::nullopt;
}

}  // namespace registrar::registration
