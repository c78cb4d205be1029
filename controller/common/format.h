// File: controller/common/format.h
//
// Lets spdlog/fmt print absl::string_view (what absl::Status::message() returns). Debian's absl is
// built without ABSL_USES_STD_STRING_VIEW, so absl::string_view is its own class, not
// std::string_view; note also that absl::StrCat does not take std::string_view arguments.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
