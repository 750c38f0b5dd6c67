#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "metrics/cell_arena.h"
#include "metrics/registry.h"
#include "metrics/text_format.h"
#include "support/prometheus_text.h"

namespace rametcd::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ParsedFamily;
using testing::ParsedSample;
using testing::ParseExposition;

std::string Scrape(const Registry& r) {
  std::string out;
  r.WritePrometheusText(&out);
  return out;
}

// ---------------------------------------------------------------------------------------------

// The checker itself catches what it is meant to catch.
TEST(ExpositionParserTest, RejectsBrokenOutput) {
  EXPECT_NONFATAL_FAILURE(ParseExposition("# HELP a x\n# TYPE a counter\nb 1\n"),
                          "sample outside its family");
  EXPECT_NONFATAL_FAILURE(
      ParseExposition("# HELP a x\n# TYPE a counter\na{l=\"1\"} 1\na{l=\"1\"} 2\n"),
      "duplicate series");
  EXPECT_NONFATAL_FAILURE(ParseExposition("# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n"),
                          "bad escape");
  EXPECT_NONFATAL_FAILURE(ParseExposition("# HELP a x\n# TYPE a gauge\na one\n"), "bad value");
  EXPECT_NONFATAL_FAILURE(
      ParseExposition("# HELP b x\n# TYPE b gauge\nb 1\n# HELP a x\n# TYPE a gauge\na 1\n"),
      "not sorted");
  EXPECT_NONFATAL_FAILURE(ParseExposition("# HELP h x\n# TYPE h histogram\n"
                                          "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                          "h_sum 0\nh_count 1\n"),
                          "not cumulative");
  EXPECT_NONFATAL_FAILURE(ParseExposition("# HELP a x\n# TYPE a gauge\n"), "has no samples");
}

TEST(CounterTest, CountsOnOneThread) {
  Counter c;
  EXPECT_EQ(c.Value(), 0u);
  c.Increment();
  c.Add(41);
  EXPECT_EQ(c.Value(), 42u);
}

TEST(CounterTest, ManyThreadsSumExactlyWhileAliveAndAfterExit) {
  const size_t baseline_threads = internal::CellArena::Get().ThreadCountForTesting();
  constexpr int kThreads = 8;
  constexpr uint64_t kIncrements = 100000;
  Counter a, b;
  absl::Barrier* done_counting = new absl::Barrier(kThreads + 1);
  absl::Notification may_exit;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kIncrements; ++i) {
        a.Increment();
        b.Add(t + 1);
      }
      if (done_counting->Block()) delete done_counting;
      may_exit.WaitForNotification();
    });
  }
  if (done_counting->Block()) delete done_counting;
  // Every thread still holds its cells.
  EXPECT_EQ(internal::CellArena::Get().ThreadCountForTesting(), baseline_threads + kThreads);
  EXPECT_EQ(a.Value(), kThreads * kIncrements);
  EXPECT_EQ(b.Value(), kIncrements * kThreads * (kThreads + 1) / 2);
  may_exit.Notify();
  for (auto& t : threads) t.join();
  // The exited threads' cells were folded into the base.
  EXPECT_EQ(internal::CellArena::Get().ThreadCountForTesting(), baseline_threads);
  EXPECT_EQ(a.Value(), kThreads * kIncrements);
  EXPECT_EQ(b.Value(), kIncrements * kThreads * (kThreads + 1) / 2);
}

TEST(CounterTest, ScrapesDuringUpdatesAreMonotonicAndFinalSumIsExact) {
  Counter c;
  constexpr int kThreads = 4;
  constexpr uint64_t kIncrements = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = 0; i < kIncrements; ++i) c.Increment();
    });
  }
  uint64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = c.Value();
    EXPECT_GE(v, last);
    EXPECT_LE(v, kThreads * kIncrements);
    last = v;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), kThreads * kIncrements);
}

TEST(CounterTest, ReusedCellsStartAtZeroOnLiveAndExitedThreads) {
  absl::Notification counted, freed, recounted, may_exit;
  auto first = std::make_unique<Counter>();
  std::unique_ptr<Counter> second;
  std::thread live([&] {
    first->Add(5);
    counted.Notify();
    freed.WaitForNotification();
    second->Add(1);
    recounted.Notify();
    may_exit.WaitForNotification();
  });
  std::thread exited([&] { first->Add(7); });
  exited.join();
  counted.WaitForNotification();
  EXPECT_EQ(first->Value(), 12u);
  first.reset();
  // Same size, so the freed cell is handed out again.
  second = std::make_unique<Counter>();
  EXPECT_EQ(second->Value(), 0u);
  freed.Notify();
  recounted.WaitForNotification();
  EXPECT_EQ(second->Value(), 1u);
  may_exit.Notify();
  live.join();
  EXPECT_EQ(second->Value(), 1u);
}

TEST(GaugeTest, SetAddSub) {
  Gauge g;
  g.Set(2.5);
  g.Add(1);
  g.Decrement();
  g.Sub(0.5);
  EXPECT_DOUBLE_EQ(g.Value(), 2.0);
}

TEST(HistogramTest, BucketsAreInclusiveUpperBounds) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 5.0, -3.0}) h.Observe(v);
  Histogram::Snapshot s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(3, 5, 6, 7));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 0.5 + 1 + 1.5 + 2 + 4 + 5 - 3);
  h.Observe(NAN);  // counted in +Inf only
  s = h.Read();
  EXPECT_THAT(s.cumulative, ElementsAre(3, 5, 6, 8));
}

TEST(HistogramTest, ManyThreadsSumExactly) {
  Histogram h(EtcdDiskDurationBuckets());
  constexpr int kThreads = 6;
  constexpr int kObservations = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kObservations; ++i) h.Observe(i % 2 == 0 ? 0.0005 : 0.003);
    });
  }
  for (auto& t : threads) t.join();
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kObservations);
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads} * kObservations / 2);  // <= 0.001
  EXPECT_EQ(s.cumulative[1], uint64_t{kThreads} * kObservations / 2);  // <= 0.002
  EXPECT_EQ(s.cumulative[2], uint64_t{kThreads} * kObservations);      // <= 0.004
  EXPECT_NEAR(s.sum, kThreads * (kObservations / 2) * (0.0005 + 0.003), 1e-6);
}

TEST(HistogramTest, BucketHelpers) {
  std::vector<double> etcd = EtcdDiskDurationBuckets();
  ASSERT_EQ(etcd.size(), 14u);
  EXPECT_DOUBLE_EQ(etcd.front(), 0.001);
  EXPECT_DOUBLE_EQ(etcd.back(), 8.192);
  EXPECT_THAT(LinearBuckets(1, 2, 3), ElementsAre(1, 3, 5));
  EXPECT_THAT(ExponentialBuckets(1, 10, 3), ElementsAre(1, 10, 100));
  EXPECT_EQ(DefaultBuckets().size(), 11u);
}

TEST(TextFormatTest, NamesAndEscaping) {
  EXPECT_TRUE(IsValidMetricName("etcd_disk_wal_fsync_duration_seconds"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName("9abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("grpc_code"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));

  std::string out;
  AppendEscapedLabelValue(&out, "a\\b\"c\nd");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd");
  out.clear();
  AppendEscapedHelp(&out, "x\\y\n\"z\"");
  EXPECT_EQ(out, "x\\\\y\\n\"z\"");

  out.clear();
  for (double v :
       std::vector<double>{0.0, 42.0, 0.001, 8.192, 1e-7, 1e21, INFINITY, -INFINITY, NAN}) {
    AppendDouble(&out, v);
    out.push_back(' ');
  }
  EXPECT_EQ(out, "0 42 0.001 8.192 1e-07 1e+21 +Inf -Inf NaN ");
}

TEST(RegistryTest, LabelledFamiliesKeepChildren) {
  Registry r;
  CounterFamily* f = r.AddCounterFamily("requests_total", "Requests.", {"method", "code"});
  Counter* get_ok = f->WithLabelValues({"GET", "200"});
  EXPECT_EQ(f->WithLabelValues({"GET", "200"}), get_ok);
  Counter* put_err = f->WithLabelValues({"PUT", "500"});
  EXPECT_NE(put_err, get_ok);
  get_ok->Add(3);
  put_err->Increment();
  // The same definition again returns the same family.
  EXPECT_EQ(r.AddCounterFamily("requests_total", "Requests.", {"method", "code"}), f);
  EXPECT_EQ(Scrape(r),
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{method=\"GET\",code=\"200\"} 3\n"
            "requests_total{method=\"PUT\",code=\"500\"} 1\n");
}

TEST(RegistryTest, HistogramExposition) {
  Registry r;
  Histogram* h = r.AddHistogram("etcd_disk_wal_fsync_duration_seconds",
                                "The latency distributions of fsync called by WAL.",
                                EtcdDiskDurationBuckets());
  h->Observe(0.0015);
  h->Observe(0.5);
  std::string text = Scrape(r);
  EXPECT_THAT(text, HasSubstr("etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 0\n"
                              "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.512\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("etcd_disk_wal_fsync_duration_seconds_bucket{le=\"8.192\"} 2\n"
                              "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"} 2\n"
                              "etcd_disk_wal_fsync_duration_seconds_sum 0.5015\n"
                              "etcd_disk_wal_fsync_duration_seconds_count 2\n"));
  std::vector<ParsedFamily> families = ParseExposition(text);
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].type, "histogram");
  EXPECT_EQ(families[0].samples.size(), 14u + 1 + 2);
}

TEST(RegistryTest, CallbacksAreEvaluatedAtScrapeAndRemovedWithTheirHandle) {
  Registry r;
  double value = 1;
  CallbackHandle gauge =
      r.AddCallbackGauge("etcd_server_has_leader", "Leader.", [&] { return value; });
  CallbackHandle counter =
      r.AddCallbackCounter("etcd_server_proposals_committed_total", "Committed.", [] { return 7; });
  CallbackHandle collector =
      r.AddCollector("queue_length", "Per queue.", MetricType::kGauge, {"queue"},
                     [](std::vector<Sample>* samples) {
                       samples->push_back({{"b"}, 2});
                       samples->push_back({{"a"}, 1});
                       samples->push_back({{"a"}, 99});      // duplicate: dropped
                       samples->push_back({{"x", "y"}, 5});  // wrong label count: dropped
                     });
  value = 0;
  std::string text = Scrape(r);
  EXPECT_EQ(text,
            "# HELP etcd_server_has_leader Leader.\n"
            "# TYPE etcd_server_has_leader gauge\n"
            "etcd_server_has_leader 0\n"
            "# HELP etcd_server_proposals_committed_total Committed.\n"
            "# TYPE etcd_server_proposals_committed_total counter\n"
            "etcd_server_proposals_committed_total 7\n"
            "# HELP queue_length Per queue.\n"
            "# TYPE queue_length gauge\n"
            "queue_length{queue=\"a\"} 1\n"
            "queue_length{queue=\"b\"} 2\n");
  ParseExposition(text);
  gauge.Reset();
  CallbackHandle moved = std::move(counter);
  collector = CallbackHandle();
  EXPECT_EQ(Scrape(r),
            "# HELP etcd_server_proposals_committed_total Committed.\n"
            "# TYPE etcd_server_proposals_committed_total counter\n"
            "etcd_server_proposals_committed_total 7\n");
  // The name is free again.
  CallbackHandle again = r.AddCallbackGauge("etcd_server_has_leader", "Leader.", [] { return 1; });
  EXPECT_THAT(Scrape(r), HasSubstr("etcd_server_has_leader 1\n"));
}

TEST(RegistryTest, WholeScrapeParses) {
  Registry r;
  r.AddCounter("etcd_network_client_grpc_sent_bytes_total",
               "The total number of bytes sent to grpc clients.")
      ->Add(1234);
  CounterFamily* handled = r.AddCounterFamily(
      "grpc_server_handled_total",
      "Total number of RPCs completed on the server, regardless of success or failure.",
      {"grpc_type", "grpc_service", "grpc_method", "grpc_code"});
  for (const char* code : {"OK", "NotFound", "Unavailable"}) {
    handled->WithLabelValues({"unary", "etcdserverpb.KV", "Range", code})->Increment();
  }
  GaugeFamily* weird = r.AddGaugeFamily("weird_labels", "Help with \\ and\nnewline.", {"v"});
  weird->WithLabelValues({"quote\" backslash\\ newline\n end"})->Set(-1.5);
  weird->WithLabelValues({""})->Set(INFINITY);
  r.AddGauge("a_gauge", "First by name.")->Set(NAN);
  HistogramFamily* latency = r.AddHistogramFamily("etcd_request_duration_seconds", "Latency.",
                                                  {"op"}, ExponentialBuckets(0.0001, 2, 8));
  latency->WithLabelValues({"range"})->Observe(0.0003);
  latency->WithLabelValues({"put"})->Observe(30);
  r.AddCounterFamily("unused_family", "No children yet.", {"x"});  // omitted: no series
  CallbackHandle cb =
      r.AddCallbackGauge("process_open_fds", "Open file descriptors.", [] { return 12; });

  std::string text = Scrape(r);
  std::vector<ParsedFamily> families = ParseExposition(text);
  std::vector<std::string> names;
  for (const ParsedFamily& f : families) names.push_back(f.name);
  EXPECT_THAT(names, ElementsAre("a_gauge", "etcd_network_client_grpc_sent_bytes_total",
                                 "etcd_request_duration_seconds", "grpc_server_handled_total",
                                 "process_open_fds", "weird_labels"));
  EXPECT_EQ(families[5].help, "Help with \\ and\nnewline.");
  ASSERT_EQ(families[5].samples.size(), 2u);
  EXPECT_EQ(families[5].samples[1].labels.at("v"), "quote\" backslash\\ newline\n end");
  EXPECT_EQ(families[5].samples[1].value, -1.5);
  EXPECT_TRUE(std::isinf(families[5].samples[0].value));
  EXPECT_TRUE(std::isnan(families[0].samples[0].value));
  EXPECT_EQ(families[3].samples.size(), 3u);
  EXPECT_EQ(families[1].samples[0].value, 1234);
}

TEST(RegistryDeathTest, ConflictingDefinitionsAreProgrammingErrors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry r;
  r.AddCounterFamily("x_total", "X.", {"a"});
  r.AddHistogram("lat", "Latency.", {1, 2});
  EXPECT_DEATH(r.AddCounterFamily("x_total", "X.", {"b"}), "x_total");
  EXPECT_DEATH(r.AddGauge("x_total", "X."), "x_total");
  EXPECT_DEATH(r.AddCounter("lat_count", "Clashes with the histogram."), "lat_count");
  EXPECT_DEATH(r.AddCounter("bad-name", "Invalid."), "bad-name");
  EXPECT_DEATH(r.AddHistogramFamily("h", "H.", {"le"}, {1}), "le");
  EXPECT_DEATH(Histogram({2, 1}), "");
}

}  // namespace
}  // namespace rametcd::metrics
