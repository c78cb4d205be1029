#include "controller/http/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace registrar::http {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

bool ValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Family::Family(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {
  if (!ValidName(name_, true)) {
    Die(absl::StrCat("invalid metric name \"", name_, "\""));
  }
  for (const std::string& label : label_names_) {
    if (!ValidName(label, false) || label == "le" || label.rfind("__", 0) == 0) {
      Die(absl::StrCat("invalid label name \"", label, "\" in ", name_));
    }
  }
}

void Family::CheckArity(const LabelValues& labels) const {
  if (labels.size() != label_names_.size()) {
    Die(absl::StrCat(name_, " has ", label_names_.size(), " labels, got ", labels.size(),
                     " values"));
  }
}

std::string Family::LabelText(const LabelValues& labels, const std::string& extra) const {
  if (labels.empty() && extra.empty()) {
    return "";
  }
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", label_names_[i], "=\"", EscapeLabelValue(labels[i]),
                    "\"");
  }
  absl::StrAppend(&out, !labels.empty() && !extra.empty() ? "," : "", extra, "}");
  return out;
}

void Family::RenderHeader(const char* type, std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ", type,
                  "\n");
}

void Counter::Inc(const LabelValues& labels, double by) {
  CheckArity(labels);
  if (!(by >= 0)) {
    Die(absl::StrCat(name_, ": a counter cannot decrease"));
  }
  absl::MutexLock lock(&mu_);
  values_[labels] += by;
}

double Counter::Value(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Counter::Render(std::string& out) const {
  absl::MutexLock lock(&mu_);
  if (values_.empty()) {
    return;
  }
  RenderHeader("counter", out);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(value), "\n");
  }
}

void Gauge::Set(const LabelValues& labels, double value) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  values_[labels] = value;
}

void Gauge::Add(const LabelValues& labels, double delta) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  values_[labels] += delta;
}

double Gauge::Value(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void Gauge::Render(std::string& out) const {
  absl::MutexLock lock(&mu_);
  if (values_.empty()) {
    return;
  }
  RenderHeader("gauge", out);
  for (const auto& [labels, value] : values_) {
    absl::StrAppend(&out, name_, LabelText(labels), " ", FormatValue(value), "\n");
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> buckets)
    : Family(std::move(name), std::move(help), std::move(label_names)),
      buckets_(std::move(buckets)) {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (std::isnan(buckets_[i]) || std::isinf(buckets_[i]) ||
        (i > 0 && buckets_[i] <= buckets_[i - 1])) {
      Die(absl::StrCat(name_, ": buckets must be finite and strictly increasing"));
    }
  }
}

std::vector<double> Histogram::DefaultBuckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
}

void Histogram::Observe(const LabelValues& labels, double value) {
  CheckArity(labels);
  const size_t bucket =
      std::lower_bound(buckets_.begin(), buckets_.end(), value) - buckets_.begin();
  absl::MutexLock lock(&mu_);
  Series& series = series_[labels];
  if (series.counts.empty()) {
    series.counts.assign(buckets_.size() + 1, 0);
  }
  series.counts[bucket]++;
  series.sum += value;
  series.count++;
}

void Histogram::Touch(const LabelValues& labels) {
  CheckArity(labels);
  absl::MutexLock lock(&mu_);
  Series& series = series_[labels];
  if (series.counts.empty()) {
    series.counts.assign(buckets_.size() + 1, 0);
  }
}

uint64_t Histogram::Count(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.count;
}

double Histogram::Sum(const LabelValues& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(labels);
  return it == series_.end() ? 0 : it->second.sum;
}

void Histogram::Render(std::string& out) const {
  absl::MutexLock lock(&mu_);
  if (series_.empty()) {
    return;
  }
  RenderHeader("histogram", out);
  for (const auto& [labels, series] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= buckets_.size(); ++i) {
      cumulative += series.counts[i];
      const std::string le = i < buckets_.size() ? FormatValue(buckets_[i]) : "+Inf";
      absl::StrAppend(&out, name_, "_bucket", LabelText(labels, "le=\"" + le + "\""), " ",
                      cumulative, "\n");
    }
    absl::StrAppend(&out, name_, "_sum", LabelText(labels), " ", FormatValue(series.sum), "\n");
    absl::StrAppend(&out, name_, "_count", LabelText(labels), " ", series.count, "\n");
  }
}

template <typename T>
T& Registry::Add(std::unique_ptr<T> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& existing : families_) {
    if (existing->name() == family->name()) {
      Die(absl::StrCat("metric ", family->name(), " registered twice"));
    }
  }
  T& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Counter& Registry::AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names) {
  const bool unlabeled = label_names.empty();
  Counter& counter =
      Add(std::make_unique<Counter>(std::move(name), std::move(help), std::move(label_names)));
  if (unlabeled) {
    counter.Inc({}, 0);
  }
  return counter;
}

Gauge& Registry::AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names) {
  const bool unlabeled = label_names.empty();
  Gauge& gauge =
      Add(std::make_unique<Gauge>(std::move(name), std::move(help), std::move(label_names)));
  if (unlabeled) {
    gauge.Add({}, 0);
  }
  return gauge;
}

Histogram& Registry::AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> buckets) {
  const bool unlabeled = label_names.empty();
  Histogram& histogram = Add(std::make_unique<Histogram>(
      std::move(name), std::move(help), std::move(label_names), std::move(buckets)));
  if (unlabeled) {
    histogram.Touch({});
  }
  return histogram;
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& family : families_) {
    family->Render(out);
  }
  return out;
}

}  // namespace registrar::http
