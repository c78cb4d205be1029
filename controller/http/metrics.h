// File: controller/http/metrics.h
//
// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
// the text exposition format 0.0.4 (served on /metrics by server.h; the families this project
// exports are defined in registrar_metrics.h).
//
// Flow: at start-up the owner registers families on a Registry (name, help, label names) and
// hands the returned references to the code that updates them; a scrape calls Render().
// Label values are given in the order of the family's label names.
//
// Invariants (violations abort, they are programming errors): metric and label names match
// [a-zA-Z_:][a-zA-Z0-9_:]* (labels without ':'), a name is registered once, the number of label
// values equals the number of label names, counters only go up, histogram buckets increase.
//
// Thread-safety: everything is safe for concurrent use; families live as long as the Registry.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace registrar::http {

using LabelValues = std::vector<std::string>;

// One metric family: HELP, TYPE and its series.
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  // Appends this family in the text format (nothing when it has no series yet).
  virtual void Render(std::string& out) const = 0;

 protected:
  // Aborts unless `labels` has one value per label name.
  void CheckArity(const LabelValues& labels) const;
  // `{a="x",b="y"` plus `extra` (already formatted, e.g. `le="0.5"`), then `}`; "" if empty.
  std::string LabelText(const LabelValues& labels, const std::string& extra = "") const;
  void RenderHeader(const char* type, std::string& out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable absl::Mutex mu_;
};

class Counter final : public Family {
 public:
  using Family::Family;
  // Adds `by` (>= 0) to the series with `labels`.
  void Inc(const LabelValues& labels = {}, double by = 1);
  double Value(const LabelValues& labels = {}) const;
  void Render(std::string& out) const override;

 private:
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

class Gauge final : public Family {
 public:
  using Family::Family;
  void Set(const LabelValues& labels, double value);
  void Add(const LabelValues& labels, double delta);
  double Value(const LabelValues& labels = {}) const;
  void Render(std::string& out) const override;

 private:
  std::map<LabelValues, double> values_ ABSL_GUARDED_BY(mu_);
};

class Histogram final : public Family {
 public:
  // `buckets`: upper bounds, strictly increasing; +Inf is implicit.
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> buckets);
  void Observe(const LabelValues& labels, double value);
  // Creates the series for `labels` with no observations (it renders with zero counts).
  void Touch(const LabelValues& labels);
  uint64_t Count(const LabelValues& labels = {}) const;
  double Sum(const LabelValues& labels = {}) const;
  void Render(std::string& out) const override;

  // Prometheus' default buckets: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
  static std::vector<double> DefaultBuckets();

 private:
  struct Series {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const std::vector<double> buckets_;
  std::map<LabelValues, Series> series_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  // The Content-Type of Render()'s output.
  static constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Register a family; the reference stays valid as long as the Registry. Families without
  // labels start with one series at zero.
  Counter& AddCounter(std::string name, std::string help,
                      std::vector<std::string> label_names = {});
  Gauge& AddGauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Histogram& AddHistogram(std::string name, std::string help,
                          std::vector<std::string> label_names = {},
                          std::vector<double> buckets = Histogram::DefaultBuckets());

  // Every family in registration order, in the text exposition format.
  std::string Render() const;

 private:
  template <typename T>
  T& Add(std::unique_ptr<T> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
};

// A sample value in the text format: shortest round-trip decimal, +Inf, -Inf or NaN.
std::string FormatValue(double value);
// A label value escaped for the text format (\\, \", \n).
std::string EscapeLabelValue(const std::string& value);

}  // namespace registrar::http
