// An API error answer -> StatusFromResponse / StatusFromWatchError -> ReadApiError and the Is*
// questions. Input: 2 bytes HTTP code (100..599), 1 byte Retry-After header length (0..15), the
// header, then the body.
// Invariants: the status is an error; ReadApiError gives back the HTTP code; a Retry-After is
// positive; the Is* answers agree with the code.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <optional>

#include "controller/kube/api_status.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) {
    return 0;
  }
  const int code = 100 + ((data[0] << 8) | data[1]) % 500;
  const size_t header_size = std::min<size_t>(data[2] % 16, size - 3);
  std::string_view header(reinterpret_cast<const char*>(data) + 3, header_size);
  std::string_view body(reinterpret_cast<const char*>(data) + 3 + header_size,
                        size - 3 - header_size);

  absl::Status s = registrar::kube::StatusFromResponse(code, body, header);
  FUZZ_CHECK(!s.ok(), "an error answer became OK");
  std::optional<registrar::kube::ApiError> e = registrar::kube::ReadApiError(s);
  FUZZ_CHECK(e.has_value(), "no ApiError in the status");
  FUZZ_CHECK(e->code == code, "the HTTP code did not round-trip");
  for (int known : {400, 401, 403, 404, 405, 409, 410, 415, 422, 429, 500, 503, 504}) {
    FUZZ_CHECK(code != known || !e->reason.empty(), "a known code without a reason");
  }
  FUZZ_CHECK(registrar::kube::IsNotFound(s) == (code == 404), "IsNotFound");
  FUZZ_CHECK(registrar::kube::IsGone(s) == (code == 410), "IsGone");
  FUZZ_CHECK(registrar::kube::IsAlreadyExists(s) + registrar::kube::IsConflict(s) ==
                 (code == 409),
             "409 is AlreadyExists or Conflict");
  if (auto ra = registrar::kube::RetryAfter(s)) {
    FUZZ_CHECK(ra->count() > 0, "Retry-After not positive");
  }
  absl::Status w = registrar::kube::StatusFromWatchError(body);
  FUZZ_CHECK(!w.ok(), "a watch ERROR became OK");
  FUZZ_CHECK(registrar::kube::ReadApiError(w).has_value(), "no ApiError in a watch error");
  return 0;
}
