#include "controller/registration/field_errors.h"

#include "absl/strings/str_cat.h"

namespace registrar::registration {

std::string FormatErrors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const FieldError& e : errors) {
    if (!out.empty()) {
      out += "; ";
    }
    if (!e.path.empty()) {
      absl::StrAppend(&out, e.path);
    }
    if (e.line > 0) {
      absl::StrAppend(&out, e.path.empty() ? "" : " ", "(line ", e.line, ")");
    }
    absl::StrAppend(&out, e.path.empty() && e.line == 0 ? "" : ": ", e.message);
  }
  return out;
}

void AttachLines(const LineMap& lines, std::vector<FieldError>& errors) {
  for (FieldError& e : errors) {
    if (int line = NearestLine(lines, e.path); line > 0) {
      e.line = line;
    }
  }
}

}  // namespace registrar::registration
