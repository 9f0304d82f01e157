/* Tests of the load shapes: each preset's factor over time (peak's ramps
 * and plateau, burst's on/off, stress's steps, latency-degradation's
 * pauses and slow reads, demo's incidents), closed-workload allowances,
 * phases parsed from JSON (and refused with a reason), the error-rate
 * override, and the stress knee found from metrics. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "err.h"
#include "metrics.h"
#include "scenario.h"

#define S 1000000LL

static struct scenario *preset(const char *name, int64_t d) {
  struct scenario_params p = {
      .duration_us = d, .peak_factor = 3, .time_scale = 1};
  struct scenario *s = NULL;
  char err[256] = "";
  int rc = scenario_new(name, &p, &s, err, sizeof err);
  if (rc) fail_msg("%s: %s", name, err);
  return s;
}

static double rate_at(const struct scenario *s, int64_t t) {
  struct scenario_point pt;
  scenario_at(s, t, &pt);
  return pt.rate;
}

static void close_to(double got, double want, double tol) {
  if (fabs(got - want) > tol)
    fail_msg("got %g, expected %g (+-%g)", got, want, tol);
}

static void test_presets_listed(void **state) {
  (void)state;
  const char *want[] = {"normal",
                        "peak",
                        "error-injection",
                        "latency-degradation",
                        "stress",
                        "burst",
                        "soak",
                        "diurnal",
                        "demo"};
  size_t n = 0;
  while (scenario_preset_name(n)) {
    assert_true(n < 9);
    EXPECT_STR(scenario_preset_name(n), want[n]);
    assert_true(strlen(scenario_preset_help(n)) > 10);
    n++;
  }
  EXPECT_EQ(n, 9);
  struct scenario_params p = {0};
  struct scenario *s = NULL;
  char err[256];
  EXPECT_EQ(scenario_new("nope", &p, &s, err, sizeof err), ERR_NOTFOUND);
  assert_null(s);
  assert_non_null(strstr(err, "demo"));
}

static void test_normal(void **state) {
  (void)state;
  struct scenario *s = preset("normal", 60 * S);
  for (int64_t t = 0; t <= 60 * S; t += 7 * S)
    close_to(rate_at(s, t), 1, 1e-12);
  close_to(scenario_rate_peak(s), 1, 1e-12);
  EXPECT_EQ(scenario_base(s), SCENARIO_BASE_MEAN);
  EXPECT_EQ(scenario_wants_faults(s), 0);
  scenario_free(s);
}

/* peak: 1 -> P over the first quarter, P in the middle, P -> 1 over the
 * last quarter. */
static void test_peak(void **state) {
  (void)state;
  struct scenario *s = preset("peak", 100 * S);
  close_to(scenario_rate_peak(s), 3, 1e-12);
  close_to(rate_at(s, 0), 1, 1e-9);
  close_to(rate_at(s, 12500000), 2, 1e-9);
  close_to(rate_at(s, 25 * S), 3, 1e-9);
  for (int64_t t = 25 * S; t <= 75 * S; t += S)
    close_to(rate_at(s, t), 3, 1e-9);
  close_to(rate_at(s, 87500000), 2, 1e-9);
  close_to(rate_at(s, 100 * S), 1, 1e-9);
  /* Monotone on each ramp. */
  for (int64_t t = 0; t < 25 * S; t += S)
    assert_true(rate_at(s, t + S) > rate_at(s, t));
  for (int64_t t = 75 * S; t < 100 * S; t += S)
    assert_true(rate_at(s, t + S) < rate_at(s, t));
  /* A peak factor below 1 means 2 (the default). */
  struct scenario_params p = {.duration_us = 100 * S};
  struct scenario *d = NULL;
  char err[128];
  assert_int_equal(scenario_new("peak", &p, &d, err, sizeof err), 0);
  close_to(rate_at(d, 50 * S), 2, 1e-9);
  scenario_free(d);
  scenario_free(s);
}

static void test_burst(void **state) {
  (void)state;
  struct scenario *s = preset("burst", 60 * S); /* period 10 s */
  close_to(rate_at(s, 0), 2, 0);
  close_to(rate_at(s, 4 * S), 2, 0);
  close_to(rate_at(s, 5 * S), 0, 0);
  close_to(rate_at(s, 9 * S), 0, 0);
  close_to(rate_at(s, 10 * S), 2, 0);
  /* On half the time at twice the rate: the mean is kept. */
  double sum = 0;
  for (int64_t t = 0; t < 60 * S; t += S / 10) sum += rate_at(s, t);
  close_to(sum / 600, 1, 1e-9);
  scenario_free(s);
  s = preset("burst", 3 * S); /* periods of at least 2 s */
  close_to(rate_at(s, 1500000), 0, 0);
  close_to(rate_at(s, 2 * S), 2, 0);
  scenario_free(s);
}

static void test_stress(void **state) {
  (void)state;
  struct scenario *s = preset("stress", 100 * S);
  struct scenario_point pt;
  scenario_at(s, 0, &pt);
  close_to(pt.rate, 1, 0);
  close_to(pt.think, 0, 0); /* no think time */
  close_to(rate_at(s, 9999999), 1, 0);
  close_to(rate_at(s, 10 * S), 1.5, 1e-12);
  close_to(rate_at(s, 95 * S), pow(1.5, 9), 1e-9);
  close_to(scenario_rate_peak(s), pow(1.5, 9), 1e-9);
  scenario_free(s);
}

static void test_latency_degradation(void **state) {
  (void)state;
  struct scenario *s = preset("latency-degradation", 100 * S);
  struct scenario_point a, b, c, d;
  scenario_at(s, 0, &a);
  scenario_at(s, 20 * S, &b);
  scenario_at(s, 25 * S, &c);
  scenario_at(s, 100 * S, &d);
  EXPECT_EQ(a.extra_delay_us, 0);
  EXPECT_EQ(a.recv_bps, 0);
  EXPECT_EQ(b.recv_bps, 0);
  EXPECT_EQ(b.extra_delay_us, 200000);
  EXPECT_EQ(c.recv_bps, 1024 * 1024);
  EXPECT_EQ(d.recv_bps, 32 * 1024);
  EXPECT_EQ(d.extra_delay_us, 1000000);
  close_to(d.rate, 1, 0);
  for (int64_t t = 25 * S; t < 100 * S; t += S) {
    struct scenario_point x, y;
    scenario_at(s, t, &x);
    scenario_at(s, t + S, &y);
    assert_true(y.recv_bps < x.recv_bps);
    assert_true(y.extra_delay_us > x.extra_delay_us);
  }
  scenario_free(s);
}

static void test_error_rates(void **state) {
  (void)state;
  struct scenario *s = preset("error-injection", 10 * S);
  struct scenario_point pt;
  scenario_at(s, 5 * S, &pt);
  close_to(pt.error_rate, 0.15, 1e-12);
  EXPECT_EQ(scenario_wants_faults(s), 1);
  scenario_free(s);
  struct scenario_params p = {
      .duration_us = 10 * S, .have_error_rate = 1, .error_rate = 0.4};
  char err[128];
  assert_int_equal(scenario_new("error-injection", &p, &s, err, sizeof err), 0);
  scenario_at(s, 5 * S, &pt);
  close_to(pt.error_rate, 0.4, 1e-12);
  scenario_free(s);
  p.error_rate = 0.05; /* any preset takes --error-rate */
  assert_int_equal(scenario_new("peak", &p, &s, err, sizeof err), 0);
  scenario_at(s, 5 * S, &pt);
  close_to(pt.error_rate, 0.05, 1e-12);
  EXPECT_EQ(scenario_wants_faults(s), 1);
  scenario_free(s);
}

/* demo: endless, on the learned day, an incident every day/8: first an
 * error burst, then a latency spike (a surge with slow reads). */
static void test_demo(void **state) {
  (void)state;
  struct scenario_params p = {.time_scale = 86400.0 / 80}; /* a day in 80 s */
  struct scenario *s = NULL;
  char err[128];
  assert_int_equal(scenario_new("demo", &p, &s, err, sizeof err), 0);
  EXPECT_EQ(scenario_duration(s), INT64_MAX);
  EXPECT_EQ(scenario_base(s), SCENARIO_BASE_DAY);
  assert_int_equal(scenario_set_duration(s, 0, err, sizeof err), 0);
  struct scenario_point pt;
  scenario_at(s, 2 * S, &pt); /* every 10 s, from 5 s, for 1 s */
  EXPECT_EQ(pt.incident, SCENARIO_CALM);
  close_to(pt.error_rate, 0, 0);
  scenario_at(s, 5500000, &pt);
  EXPECT_EQ(pt.incident, SCENARIO_ERROR_BURST);
  close_to(pt.error_rate, 0.3, 1e-12);
  close_to(pt.rate, 1, 0);
  scenario_at(s, 6500000, &pt);
  EXPECT_EQ(pt.incident, SCENARIO_CALM);
  scenario_at(s, 15500000, &pt);
  EXPECT_EQ(pt.incident, SCENARIO_LATENCY_SPIKE);
  close_to(pt.rate, 3, 0);
  assert_true(pt.recv_bps > 0);
  scenario_at(s, 1000 * S + 5500000, &pt); /* long after: still going */
  EXPECT_EQ(pt.incident, SCENARIO_ERROR_BURST);
  scenario_free(s);
}

static void test_needs_duration(void **state) {
  (void)state;
  struct scenario_params p = {0};
  struct scenario *s = NULL;
  char err[256] = "";
  assert_int_equal(scenario_new("peak", &p, &s, err, sizeof err), 0);
  EXPECT_EQ(scenario_set_duration(s, 0, err, sizeof err), ERR_USAGE);
  assert_non_null(strstr(err, "--duration"));
  EXPECT_EQ(scenario_set_duration(s, 8 * S, err, sizeof err), 0);
  close_to(rate_at(s, 4 * S), 2, 1e-9);
  scenario_free(s);
  assert_int_equal(scenario_new("normal", &p, &s, err, sizeof err), 0);
  EXPECT_EQ(scenario_set_duration(s, 0, err, sizeof err), 0);
  scenario_free(s);
}

/* Closed workloads: the share of users follows factor / peak. */
static void test_closed_users(void **state) {
  (void)state;
  struct scenario_params p = {
      .duration_us = 100 * S, .users = 90, .peak_factor = 3};
  struct scenario *s = NULL;
  char err[128];
  assert_int_equal(scenario_new("peak", &p, &s, err, sizeof err), 0);
  struct scenario_point pt;
  scenario_at(s, 0, &pt);
  EXPECT_EQ(pt.users, 30);
  scenario_at(s, 50 * S, &pt);
  EXPECT_EQ(pt.users, 90);
  EXPECT_EQ(scenario_next_change(s, 50 * S), 50 * S + 250000);
  EXPECT_EQ(scenario_next_change(s, 100 * S), INT64_MAX);
  scenario_free(s);
}

static struct scenario *phases(const char *json, uint64_t users, char *err,
                               size_t errlen, int *rc) {
  struct scenario_params p = {.users = users};
  struct scenario *s = NULL;
  *rc = scenario_phases_parse(json, &p, &s, err, errlen);
  return s;
}

static void test_phases(void **state) {
  (void)state;
  char err[256] = "";
  int rc;
  struct scenario *s =
      phases("{\"phases\": [{\"duration\": \"10s\", \"scale\": 1},"
             " {\"duration\": 20, \"scale\": 4, \"max_rps\": 500,"
             "  \"error_rate\": 0.1, \"name\": \"surge\"},"
             " {\"duration\": \"5s\", \"scenario\": \"peak\", \"scale\": 2}]}",
             0, err, sizeof err, &rc);
  if (rc) fail_msg("%s", err);
  EXPECT_EQ(scenario_phases(s), 3);
  EXPECT_EQ(scenario_duration(s), 35 * S);
  EXPECT_STR(scenario_name(s), "phases");
  struct scenario_point pt;
  scenario_at(s, 5 * S, &pt);
  EXPECT_EQ(pt.phase, 0);
  close_to(pt.rate, 1, 0);
  close_to(pt.max_rps, 0, 0);
  close_to(pt.error_rate, 0, 0);
  scenario_at(s, 10 * S, &pt);
  EXPECT_EQ(pt.phase, 1);
  close_to(pt.rate, 4, 0);
  close_to(pt.max_rps, 500, 0);
  close_to(pt.error_rate, 0.1, 1e-12);
  /* Phase 3: peak over its own 5 s, times 2 (peak factor 2). */
  scenario_at(s, 30 * S, &pt);
  EXPECT_EQ(pt.phase, 2);
  close_to(pt.rate, 2, 1e-9);
  scenario_at(s, 32500000, &pt);
  close_to(pt.rate, 4, 1e-9);
  close_to(scenario_rate_peak(s), 4, 1e-9);
  /* After the last phase, it holds. */
  scenario_at(s, 100 * S, &pt);
  EXPECT_EQ(pt.phase, 2);
  EXPECT_EQ(scenario_wants_faults(s), 1);
  scenario_free(s);

  /* A bare list, closed users. */
  s = phases("[{\"duration\": 1, \"users\": 5}, {\"duration\": 1}]", 20, err,
             sizeof err, &rc);
  if (rc) fail_msg("%s", err);
  scenario_at(s, 0, &pt);
  EXPECT_EQ(pt.users, 5);
  scenario_at(s, S, &pt);
  EXPECT_EQ(pt.users, 20);
  scenario_free(s);
}

static void test_phases_refused(void **state) {
  (void)state;
  static const struct {
    const char *json, *why;
  } bad[] = {
      {"[", "line 1"},
      {"[]", "list of 1 to"},
      {"{\"x\": []}", "list of 1 to"},
      {"[3]", "phase 1: expected an object"},
      {"[{\"scale\": 2}]", "phase 1: \"duration\" is required"},
      {"[{\"duration\": \"soon\"}]", "phase 1: \"duration\""},
      {"[{\"duration\": -1}]", "phase 1: \"duration\""},
      {"[{\"duration\": 1}, {\"duration\": 1, \"scale\": -2}]",
       "phase 2: \"scale\""},
      {"[{\"duration\": 1, \"error_rate\": 1.5}]", "\"error_rate\""},
      {"[{\"duration\": 1, \"scenario\": \"stress\"}]", "\"scenario\" must"},
      {"[{\"duration\": 1, \"scenario\": \"nope\"}]", "\"scenario\" must"},
      {"[{\"duration\": 1, \"users\": 3}]", "needs a closed workload"},
      {"[{\"duration\": 1, \"speed\": 3}]", "unknown key \"speed\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char err[256] = "";
    int rc;
    struct scenario *s = phases(bad[i].json, 0, err, sizeof err, &rc);
    if (rc != ERR_PARSE || s)
      fail_msg("%s: rc %d, expected a parse error", bad[i].json, rc);
    if (!strstr(err, bad[i].why))
      fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].json, err, bad[i].why);
  }
  char dir[256], path[300], err[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  snprintf(path, sizeof path, "%s/p.json", dir);
  struct scenario_params p = {0};
  struct scenario *s = NULL;
  assert_true(scenario_phases_load(path, &p, &s, err, sizeof err) < 0);
  assert_non_null(strstr(err, "p.json"));
  const char *ok = "[{\"duration\": \"2m\"}]";
  assert_int_equal(testutil_write(path, ok, strlen(ok)), 0);
  assert_int_equal(scenario_phases_load(path, &p, &s, err, sizeof err), 0);
  EXPECT_EQ(scenario_duration(s), 120 * S);
  scenario_free(s);
  testutil_rmdir(dir);
}

/* The stress watch ends a step, measures it from the metrics, and stops
 * at the first step over a limit; the knee is the step before. */
static void test_stress_knee(void **state) {
  (void)state;
  struct scenario *s = preset("stress", 10 * S); /* steps of 1 s */
  const char *methods[] = {"GET"}, *templates[] = {"/"};
  struct metrics_desc d = {.nendpoints = 1,
                           .methods = methods,
                           .templates = templates,
                           .nshards = 1};
  struct metrics *m = NULL;
  assert_int_equal(metrics_new(&d, &m), 0);
  struct metrics_shard *sh = metrics_shard(m, 0);
  struct scenario_watch *w = NULL;
  assert_int_equal(scenario_watch_new(s, m, NULL, &w), 0);
  char why[256] = "";
  /* Steps 1-3: fine (100, 150, 225 requests, 2 ms); step 4: 20% 503. */
  int per[] = {100, 150, 225, 300};
  int64_t t = 0;
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < per[k]; i++)
      metrics_request(sh, 0, 0, 0, k == 3 && i % 5 == 0 ? 503 : 200, 2000,
                      2000);
    for (int j = 1; j <= 5; j++) {
      t = k * S + j * 200000;
      int stop = scenario_watch_tick(w, m, t, why, sizeof why);
      if (k < 3 || j < 5) {
        if (stop) fail_msg("stopped early at step %d: %s", k + 1, why);
      } else {
        EXPECT_EQ(stop, 1);
      }
    }
  }
  assert_non_null(strstr(why, "errors"));
  json_t *r = scenario_watch_report(w);
  json_t *st = json_object_get(r, "stress");
  EXPECT_STR(json_string_value(json_object_get(st, "stopped_by")), "errors");
  close_to(json_real_value(json_object_get(st, "knee_requests_per_second")),
           225, 1e-6);
  close_to(json_real_value(json_object_get(st, "knee_factor")), 2.25, 1e-9);
  EXPECT_EQ(json_array_size(json_object_get(st, "steps")), 4);
  json_decref(r);
  scenario_watch_free(w);
  metrics_free(m);
  scenario_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_presets_listed),
      cmocka_unit_test(test_normal),
      cmocka_unit_test(test_peak),
      cmocka_unit_test(test_burst),
      cmocka_unit_test(test_stress),
      cmocka_unit_test(test_latency_degradation),
      cmocka_unit_test(test_error_rates),
      cmocka_unit_test(test_demo),
      cmocka_unit_test(test_needs_duration),
      cmocka_unit_test(test_closed_users),
      cmocka_unit_test(test_phases),
      cmocka_unit_test(test_phases_refused),
      cmocka_unit_test(test_stress_knee),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
