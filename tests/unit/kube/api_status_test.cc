// Regressions found by fuzz_kube_status (tests/fuzz): bodies that are not UTF-8.
#include "controller/kube/api_status.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace registrar::kube {
namespace {

using ::registrar::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StatusFromResponse, ABodyThatIsNotUtf8IsKeptReadable) {
  // A proxy's Latin-1 error page: before the fix, nlohmann's dump() threw type_error 316.
  absl::Status s = StatusFromResponse(502, "<html>Passerelle incorrecte \xe9</html>");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
  std::optional<ApiError> e = ReadApiError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 502);
  EXPECT_THAT(e->message, HasSubstr("Passerelle incorrecte \xef\xbf\xbd"));  // U+FFFD
}

TEST(StatusFromResponse, AUtf8BodyCutAt200BytesIsKeptReadable) {
  // 199 ASCII bytes then "é": the 200-byte cut splits the two bytes of "é".
  const std::string body = std::string(199, 'x') + "\xc3\xa9 and more";
  absl::Status s = StatusFromResponse(500, body);
  std::optional<ApiError> e = ReadApiError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 500);
  EXPECT_EQ(e->message, std::string(199, 'x') + "\xef\xbf\xbd");
}

TEST(StatusFromResponse, AStatusMessageThatIsNotUtf8IsKeptReadable) {
  // JSON parsing rejects such a body, so it is read as text, not as a Status.
  absl::Status s = StatusFromResponse(409, "{\"kind\":\"Status\",\"message\":\"\xb3\"}");
  std::optional<ApiError> e = ReadApiError(s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 409);
  EXPECT_TRUE(IsConflict(s));
}

}  // namespace
}  // namespace registrar::kube
