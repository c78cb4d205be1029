// File: controller/common/logging.h
//
// One place that sets up spdlog for the process: level and format (text or one JSON object per
// line). Log lines never carry passwords or tokens; callers pass only names and addresses.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace registrar {

enum class LogFormat { kText, kJson };

// Configures the default logger on stderr. Fails with kInvalidArgument naming the bad level.
absl::Status SetupLogging(std::string_view level, LogFormat format);

// Escapes `s` for use inside a JSON string (for log messages built by hand).
std::string JsonEscape(std::string_view s);

}  // namespace registrar
