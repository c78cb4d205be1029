#include "controller/http/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/http/registrar_metrics.h"

namespace registrar::http {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, CounterAndGaugeRenderExactly) {
  Registry registry;
  Counter& plain = registry.AddCounter("things_total", "Things seen");
  Counter& labeled = registry.AddCounter("requests_total", "Requests", {"method", "code"});
  Gauge& depth = registry.AddGauge("queue_depth", "Depth", {"name"});
  registry.AddGauge("empty_gauge", "Never set", {"x"});
  plain.Inc();
  plain.Inc({}, 2.5);
  labeled.Inc({"Put", "Unavailable"});
  labeled.Inc({"Get", "OK"}, 3);
  depth.Set({"registrations"}, 7);
  depth.Add({"registrations"}, -2);
  EXPECT_EQ(registry.Render(),
            "# HELP things_total Things seen\n"
            "# TYPE things_total counter\n"
            "things_total 3.5\n"
            "# HELP requests_total Requests\n"
            "# TYPE requests_total counter\n"
            "requests_total{method=\"Get\",code=\"OK\"} 3\n"
            "requests_total{method=\"Put\",code=\"Unavailable\"} 1\n"
            "# HELP queue_depth Depth\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{name=\"registrations\"} 5\n");
  EXPECT_EQ(labeled.Value({"Get", "OK"}), 3);
  EXPECT_EQ(labeled.Value({"Get", "NotFound"}), 0);
  EXPECT_EQ(depth.Value({"registrations"}), 5);
}

TEST(Metrics, UnlabeledFamiliesStartAtZero) {
  Registry registry;
  registry.AddCounter("a_total", "A");
  registry.AddGauge("b", "B");
  EXPECT_EQ(registry.Render(),
            "# HELP a_total A\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B\n# TYPE b gauge\nb 0\n");
}

TEST(Metrics, HistogramRendersCumulativeBucketsSumAndCount) {
  Registry registry;
  Histogram& h = registry.AddHistogram("latency_seconds", "Latency", {"method"}, {0.1, 0.5, 1});
  h.Observe({"Put"}, 0.05);
  h.Observe({"Put"}, 0.1);  // le is inclusive
  h.Observe({"Put"}, 0.7);
  h.Observe({"Put"}, 3);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{method=\"Put\",le=\"0.1\"} 2\n"
            "latency_seconds_bucket{method=\"Put\",le=\"0.5\"} 2\n"
            "latency_seconds_bucket{method=\"Put\",le=\"1\"} 3\n"
            "latency_seconds_bucket{method=\"Put\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{method=\"Put\"} 3.85\n"
            "latency_seconds_count{method=\"Put\"} 4\n");
  EXPECT_EQ(h.Count({"Put"}), 4u);
  EXPECT_DOUBLE_EQ(h.Sum({"Put"}), 3.85);
}

TEST(Metrics, UnlabeledHistogramRendersZeros) {
  Registry registry;
  registry.AddHistogram("h", "H", {}, {1});
  EXPECT_EQ(registry.Render(),
            "# HELP h H\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry registry;
  Counter& c = registry.AddCounter("c_total", "Help with \\ and\nnewline", {"l"});
  c.Inc({"a\"b\\c\nd"});
  EXPECT_EQ(registry.Render(),
            "# HELP c_total Help with \\\\ and\\nnewline\n"
            "# TYPE c_total counter\n"
            "c_total{l=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, FormatsSpecialValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(12345678), "12345678");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry registry;
  Counter& c = registry.AddCounter("c_total", "C", {"t"});
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 1000; ++i) {
          c.Inc({"x"});
        }
      });
    }
  }
  EXPECT_EQ(c.Value({"x"}), 4000);
}

TEST(MetricsDeathTest, InvariantsAbort) {
  Registry registry;
  Counter& c = registry.AddCounter("c_total", "C", {"a"});
  EXPECT_DEATH(c.Inc({"x", "y"}), "has 1 labels, got 2");
  EXPECT_DEATH(c.Inc({"x"}, -1), "cannot decrease");
  EXPECT_DEATH(registry.AddCounter("c_total", "again"), "registered twice");
  EXPECT_DEATH(registry.AddGauge("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {1, 1}), "strictly increasing");
}

TEST(RegistrarMetrics, RegistersTheDocumentedFamilies) {
  Registry registry;
  RegistrarMetrics m(registry);
  m.reconcile_total.Inc({"serviceregistration", "success"});
  m.reconcile_time_seconds.Observe({"serviceregistration"}, 0.02);
  m.workqueue_depth.Set({"serviceregistration"}, 1);
  m.workqueue_adds_total.Inc({"serviceregistration"});
  m.workqueue_retries_total.Inc({"serviceregistration"});
  m.registrations.Set({"Registered"}, 3);
  m.lease_losses_total.Inc();
  m.reregistrations_total.Inc();
  m.key_reputs_total.Inc();
  m.etcd_request_duration_seconds.Observe({"Put"}, 0.001);
  m.etcd_request_errors_total.Inc({"Put", "UNAVAILABLE"});
  const std::string text = registry.Render();
  for (const char* line :
       {"controller_runtime_reconcile_total{controller=\"serviceregistration\",result=\"success\"} "
        "1\n",
        "controller_runtime_reconcile_time_seconds_count{controller=\"serviceregistration\"} 1\n",
        "workqueue_depth{name=\"serviceregistration\"} 1\n",
        "workqueue_adds_total{name=\"serviceregistration\"} 1\n",
        "workqueue_retries_total{name=\"serviceregistration\"} 1\n",
        "etcd_registrar_registrations{phase=\"Registered\"} 3\n",
        "etcd_registrar_lease_losses_total 1\n", "etcd_registrar_reregistrations_total 1\n",
        "etcd_registrar_key_reputs_total 1\n",
        "etcd_registrar_etcd_request_duration_seconds_bucket{method=\"Put\",le=\"0.005\"} 1\n",
        "etcd_registrar_etcd_request_errors_total{method=\"Put\",code=\"UNAVAILABLE\"} 1\n"}) {
    EXPECT_THAT(text, HasSubstr(line));
  }
}

// The relist counter counts the complete lists after the first (runtime/reflector.h): its HELP
// text says so, as docs/operations.md does.
TEST(RegistrarMetrics, RelistsHelpNamesTheListsAfterTheFirst) {
  Registry registry;
  RegistrarMetrics m(registry);
  EXPECT_THAT(registry.Render(),
              HasSubstr("# HELP etcd_registrar_kube_relists_total Complete lists of "
                        "ServiceRegistrations after the first (a 410 or a failed watch)\n"));
}

}  // namespace
}  // namespace registrar::http
