#include "controller/etcd/client_options.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace registrar::etcd {

std::string ClientOptions::Identity() const {
  return absl::StrCat("endpoints=", absl::StrJoin(endpoints, ","), ";user=", username,
                      ";password_hash=", std::hash<std::string>{}(password), ";ca=", ca_file,
                      ";cert=", cert_file, ";key=", key_file, ";pem_hash=",
                      std::hash<std::string>{}(ca_pem + '\0' + cert_pem + '\0' + key_pem),
                      ";skip_verify=", insecure_skip_verify ? "1" : "0");
}

}  // namespace registrar::etcd
