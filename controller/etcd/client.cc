#include "controller/etcd/client.h"

#include "controller/etcd/client_impl.h"

namespace registrar::etcd {

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
