#include "controller/etcd/client.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "controller/etcd/client_impl.h"

namespace registrar::etcd {

std::string ClientOptions::Identity() const {
  return absl::StrCat("endpoints=", absl::StrJoin(endpoints, ","), ";user=", username,
                      ";password_hash=", std::hash<std::string>{}(password), ";ca=", ca_file,
                      ";cert=", cert_file, ";key=", key_file,
                      ";skip_verify=", insecure_skip_verify ? "1" : "0");
}

std::string PrefixRangeEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  // Empty prefix, or only 0xff bytes: every key from `prefix` on ("\0" is etcd's "to the end").
  return std::string(1, '\0');
}

absl::StatusOr<ClientPtr> NewClient(const ClientOptions& options) {
  auto client = ClientImpl::Create(options);
  if (!client.ok()) {
    return client.status();
  }
  return ClientPtr(std::move(*client));
}

}  // namespace registrar::etcd
