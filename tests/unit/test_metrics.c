/* Tests of the Prometheus exposition: names and types, label escaping,
 * bounded label sets, histogram buckets that add up, shards summed, and
 * the quantile the stress scenario uses. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "metrics.h"

static struct metrics *make(size_t nep, unsigned nshards) {
  static const char *methods[200], *templates[200];
  static uint64_t counts[200];
  static char buf[200][32];
  for (size_t i = 0; i < nep && i < 200; i++) {
    snprintf(buf[i], sizeof buf[i], "/e%zu", i);
    methods[i] = "GET";
    templates[i] = buf[i];
    counts[i] = i; /* the last ones are the busiest */
  }
  const char *personas[] = {"browser", "api \"client\""};
  const char *names[] = {"workload", "model"};
  const char *values[] = {"open", "a\\b\nc"};
  struct metrics_desc d = {
      .nendpoints = nep,
      .methods = methods,
      .templates = templates,
      .counts = counts,
      .npersonas = 2,
      .personas = personas,
      .nshards = nshards,
      .ninfo = 2,
      .info_names = names,
      .info_values = values,
      .start_time = 1700000000.5,
  };
  struct metrics *m = NULL;
  assert_int_equal(metrics_new(&d, &m), 0);
  return m;
}

static char *render(struct metrics *m) {
  char *page;
  size_t len;
  assert_int_equal(metrics_render(m, &page, &len), 0);
  assert_int_equal(strlen(page), len);
  return page;
}

/* The value of the sample line that starts with `series ` (or -1). */
static double sample(const char *page, const char *series) {
  size_t n = strlen(series);
  for (const char *p = page; p && *p;) {
    if (strncmp(p, series, n) == 0 && p[n] == ' ') return atof(p + n + 1);
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

static void test_requests_and_labels(void **state) {
  (void)state;
  struct metrics *m = make(3, 2);
  struct metrics_shard *a = metrics_shard(m, 0), *b = metrics_shard(m, 1);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(metrics_shard(m, 2));
  metrics_request(a, 0, 0, 0, 200, 1000, 800);
  metrics_request(b, 0, 0, 0, 204, 3000, 2000);
  metrics_request(b, 2, 1, 0, 503, 20000, 20000);
  metrics_request(a, 1, 0, 0, 0, 5000000, 5000000); /* no answer */
  char *page = render(m);
  EXPECT_EQ(sample(page, "mimic_requests_total{endpoint=\"/e0\",method=\"GET\","
                         "status_class=\"2xx\",persona=\"browser\","
                         "injected=\"none\"}"),
            2);
  EXPECT_EQ(sample(page, "mimic_requests_total{endpoint=\"/e2\",method=\"GET\","
                         "status_class=\"5xx\",persona=\"api \\\"client\\\"\","
                         "injected=\"none\"}"),
            1);
  EXPECT_EQ(sample(page, "mimic_requests_total{endpoint=\"/e1\",method=\"GET\","
                         "status_class=\"error\",persona=\"browser\","
                         "injected=\"none\"}"),
            1);
  assert_non_null(strstr(page, "model=\"a\\\\b\\nc\""));
  assert_non_null(strstr(page, "# TYPE mimic_requests_total counter\n"));
  assert_non_null(
      strstr(page, "# TYPE mimic_request_duration_seconds histogram\n"));
  assert_non_null(strstr(page, "mimic_run_start_time_seconds 1700000000.500"));
  /* /e0: 1 ms and 3 ms. */
  EXPECT_EQ(sample(page, "mimic_request_duration_seconds_bucket{endpoint=\"/"
                         "e0\",method=\"GET\",le=\"0.001\"}"),
            1);
  EXPECT_EQ(sample(page, "mimic_request_duration_seconds_bucket{endpoint=\"/"
                         "e0\",method=\"GET\",le=\"0.005\"}"),
            2);
  EXPECT_EQ(sample(page, "mimic_request_duration_seconds_bucket{endpoint=\"/"
                         "e0\",method=\"GET\",le=\"+Inf\"}"),
            2);
  EXPECT_EQ(sample(page, "mimic_request_duration_seconds_count{endpoint=\"/"
                         "e0\",method=\"GET\"}"),
            2);
  double sum = sample(
      page,
      "mimic_request_duration_seconds_sum{endpoint=\"/e0\",method=\"GET\"}");
  assert_true(fabs(sum - 0.004) < 1e-9);
  /* 5 s lands in le=5, not in +Inf alone. */
  EXPECT_EQ(sample(page, "mimic_service_time_seconds_bucket{endpoint=\"/"
                         "e1\",method=\"GET\",le=\"2.5\"}"),
            0);
  EXPECT_EQ(sample(page, "mimic_service_time_seconds_bucket{endpoint=\"/"
                         "e1\",method=\"GET\",le=\"5\"}"),
            1);
  free(page);
  metrics_free(m);
}

static void test_worker_and_gauges(void **state) {
  (void)state;
  struct metrics *m = make(1, 3);
  struct metrics_worker v = {.sessions_started = 5,
                             .sessions_completed = 2,
                             .planned_requests = 40,
                             .dropped_requests = 1,
                             .users = 3,
                             .sessions_active = 3,
                             .in_flight = 1,
                             .queued = 2};
  metrics_worker_set(metrics_shard(m, 0), &v);
  metrics_worker_set(metrics_shard(m, 2), &v);
  metrics_gauge_set(m, METRICS_RATE_MULTIPLIER, 2.5);
  metrics_gauge_set(m, METRICS_FINISHED, 1);
  metrics_cleanup_add(m, METRICS_CLEANUP_DELETED, 7);
  char *page = render(m);
  EXPECT_EQ(sample(page, "mimic_sessions_started_total"), 10);
  EXPECT_EQ(sample(page, "mimic_planned_requests_total"), 80);
  EXPECT_EQ(sample(page, "mimic_dropped_requests_total"), 2);
  EXPECT_EQ(sample(page, "mimic_virtual_users"), 6);
  EXPECT_EQ(sample(page, "mimic_requests_queued"), 4);
  EXPECT_EQ(sample(page, "mimic_run_finished"), 1);
  EXPECT_EQ(sample(page, "mimic_cleanup_deleted_total"), 7);
  EXPECT_EQ(sample(page, "mimic_cleanup_failed_total"), 0);
  assert_true(sample(page, "mimic_scenario_rate_multiplier") == 2.5);
  /* Without requests, no request series at all (they appear with data),
   * but every family is still declared. */
  assert_null(strstr(page, "mimic_requests_total{"));
  assert_non_null(strstr(page, "# TYPE mimic_service_time_seconds histogram"));
  free(page);
  metrics_free(m);
}

/* 150 endpoints: the 100 busiest keep their template, the others and any
 * out-of-range index are "other". */
static void test_endpoint_cap(void **state) {
  (void)state;
  struct metrics *m = make(150, 1);
  struct metrics_shard *s = metrics_shard(m, 0);
  metrics_request(s, 149, 0, 0, 200, 10, 10);  /* busiest */
  metrics_request(s, 0, 0, 0, 200, 10, 10);    /* folded */
  metrics_request(s, 1000, 7, 9, 200, 10, 10); /* out of range */
  char *page = render(m);
  assert_non_null(strstr(page, "endpoint=\"/e149\""));
  assert_null(strstr(page, "endpoint=\"/e0\""));
  EXPECT_EQ(sample(page, "mimic_requests_total{endpoint=\"other\",method="
                         "\"other\",status_class=\"2xx\",persona=\"browser\","
                         "injected=\"none\"}"),
            1);
  EXPECT_EQ(sample(page, "mimic_requests_total{endpoint=\"other\",method="
                         "\"other\",status_class=\"2xx\",persona=\"api "
                         "\\\"client\\\"\",injected=\"none\"}"),
            1);
  free(page);
  metrics_free(m);
}

static void test_sum_and_quantile(void **state) {
  (void)state;
  struct metrics *m = make(2, 2);
  struct metrics_sum a, b;
  metrics_sum(m, &a);
  assert_true(isnan(metrics_sum_quantile(NULL, &a, 0.99)));
  /* 98 fast (2 ms: the 0.0025 bucket), 2 slow (3 s: the 5 s bucket). */
  for (int i = 0; i < 98; i++)
    metrics_request(metrics_shard(m, i % 2), 0, 0, 0, 200, 2000, 2000);
  metrics_request(metrics_shard(m, 0), 1, 0, 0, 500, 3000000, 10);
  metrics_request(metrics_shard(m, 1), 1, 0, 0, 0, 3000000, 10);
  metrics_sum(m, &b);
  EXPECT_EQ(b.requests, 100);
  EXPECT_EQ(b.http_5xx, 1);
  EXPECT_EQ(b.errors, 1);
  double p50 = metrics_sum_quantile(&a, &b, 0.5);
  assert_true(p50 > 0.001 && p50 <= 0.0025);
  double p99 = metrics_sum_quantile(&a, &b, 0.99);
  assert_true(p99 > 2.5 && p99 <= 5);
  /* Between two sums only what happened in between counts. */
  metrics_sum(m, &a);
  metrics_request(metrics_shard(m, 0), 0, 0, 0, 200, 400, 400);
  metrics_sum(m, &b);
  assert_true(metrics_sum_quantile(&a, &b, 0.99) <= 0.0005);
  metrics_free(m);
}

static void test_bad_desc(void **state) {
  (void)state;
  struct metrics_desc d = {0};
  struct metrics *m = NULL;
  assert_int_not_equal(metrics_new(&d, &m), 0);
  assert_null(m);
  metrics_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests_and_labels),
      cmocka_unit_test(test_worker_and_gauges),
      cmocka_unit_test(test_endpoint_cap),
      cmocka_unit_test(test_sum_and_quantile),
      cmocka_unit_test(test_bad_desc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
