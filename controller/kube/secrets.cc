#include "controller/kube/secrets.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace registrar::kube {

absl::StatusOr<std::map<std::string, std::string>> GetSecretData(Api& api, const std::string& ns,
                                                                 const std::string& name) {
  absl::StatusOr<nlohmann::json> secret = api.Get(kSecrets, ns, name);
  if (!secret.ok()) {
    return secret.status();
  }
  std::map<std::string, std::string> out;
  auto data = secret->find("data");
  if (data == secret->end() || !data->is_object()) {
    return out;  // a Secret without data
  }
  for (const auto& [key, value] : data->items()) {
    std::string decoded;
    if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &decoded)) {
      return absl::InternalError(
          absl::StrCat("Secret ", ns, "/", name, ": the value of key \"", key, "\" is not base64"));
    }
    out.emplace(key, std::move(decoded));
  }
  return out;
}

}  // namespace registrar::kube
