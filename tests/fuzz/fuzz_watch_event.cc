// Decoding API JSON: the input is read as one watch-stream line (ParseWatchEvent, RefOf, an ERROR
// event's Status, registration::ParseJson of the object) and as a list answer (Api::List over a
// client that answers with the input, then RefOf and ParseJson of every item), and as a single
// object (Api::Get).
// Invariants: a parsed event has an object; a ref has a name; ParseJson never throws.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "controller/kube/api.h"
#include "controller/kube/api_status.h"
#include "controller/registration/decode.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using registrar::kube::Client;
using registrar::kube::Request;
using registrar::kube::WatchStream;

// Answers every call with the fuzz input.
class InputClient final : public Client {
 public:
  explicit InputClient(std::string_view body) : body_(body) {}
  absl::StatusOr<std::string> Call(const Request&) override { return std::string(body_); }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const Request&,
                                                     std::chrono::milliseconds) override {
    return absl::UnimplementedError("no watch in the fuzzer");
  }

 private:
  std::string_view body_;
};

void DecodeObject(const nlohmann::json& object) {
  absl::StatusOr<registrar::kube::ObjectRef> ref = registrar::kube::RefOf(object);
  if (ref.ok()) {
    FUZZ_CHECK(!ref->name.empty(), "a ref without a name");
    FUZZ_CHECK(!ref->Key().empty(), "an empty key");
  }
  std::vector<registrar::registration::FieldError> errors;
  absl::StatusOr<registrar::registration::ServiceRegistration> r =
      registrar::registration::ParseJson(object, &errors);
  FUZZ_CHECK(r.ok() || !errors.empty(), "a decode error without field errors");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<registrar::kube::WatchEvent> event = registrar::kube::ParseWatchEvent(text);
  if (event.ok()) {
    FUZZ_CHECK(event->object.is_object(), "an event without an object");
    if (event->type == registrar::kube::EventType::kError) {
      absl::Status s = registrar::kube::StatusFromWatchError(event->object.dump());
      FUZZ_CHECK(!s.ok(), "an ERROR event became OK");
    } else {
      DecodeObject(event->object);
    }
  }
  InputClient client(text);
  registrar::kube::Api api(client);
  absl::StatusOr<registrar::kube::ListPage> page =
      api.List(registrar::kube::kServiceRegistrations, "ns", registrar::kube::ListOptions{});
  if (page.ok()) {
    for (const nlohmann::json& item : page->items) {
      DecodeObject(item);
    }
  }
  absl::StatusOr<nlohmann::json> object =
      api.Get(registrar::kube::kServiceRegistrations, "ns", "name");
  if (object.ok()) {
    DecodeObject(*object);
  }
  return 0;
}
