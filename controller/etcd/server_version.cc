#include "controller/etcd/server_version.h"

#include <cctype>

#include "absl/strings/str_cat.h"

namespace registrar::etcd {

namespace {

// Reads a decimal number at `text[*pos]`; false when there is no digit (or it overflows int).
bool ReadNumber(absl::string_view text, size_t* pos, int* out) {
  size_t start = *pos;
  long value = 0;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos])) != 0) {
    value = value * 10 + (text[*pos] - '0');
    if (value > 1'000'000) {
      return false;
    }
    ++*pos;
  }
  *out = static_cast<int>(value);
  return *pos > start;
}

}  // namespace

std::string ServerVersion::ToString() const { return absl::StrCat(major, ".", minor, ".", patch); }

std::optional<ServerVersion> ParseServerVersion(absl::string_view text) {
  ServerVersion v;
  size_t pos = 0;
  if (!ReadNumber(text, &pos, &v.major) || pos >= text.size() || text[pos] != '.') {
    return std::nullopt;
  }
  ++pos;
  if (!ReadNumber(text, &pos, &v.minor)) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!ReadNumber(text, &pos, &v.patch)) {
      v.patch = 0;
    }
  }
  return v;
}

bool SettleWritesHelp(const std::optional<ServerVersion>& version) {
  return !version.has_value() || !version->AtLeast(3, 5);
}

}  // namespace registrar::etcd
