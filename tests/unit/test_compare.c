/* Tests of compare's distances against hand-computed values (TVD, the
 * traffic-weighted row TVD, KS between histograms with a time scale and a
 * resolution floor), and of the report on small models built in memory:
 * a model matches itself, a shifted endpoint mix gives its exact TVD and
 * fails, B's endpoints are matched onto A's templates, the split-half
 * baseline raises thresholds, and a tiny A says it cannot tell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "compare.h"
#include "err.h"
#include "hist.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

#define EXPECT_NEAR(got, want, tol)                                            \
  do {                                                                         \
    double g_ = (got), w_ = (want), t_ = (tol);                                \
    if (!(fabs(g_ - w_) <= t_))                                                \
      fail_msg("%s = %.6f, expected %s = %.6f within %.6f", #got, g_, #want,   \
               w_, t_);                                                        \
  } while (0)

/* ---- TVD ---- */

static void test_tvd(void **state) {
  (void)state;
  /* (1,1,2)/4 against (2,1,1)/4: |.25-.5| + 0 + |.5-.25| = .5, halved. */
  uint64_t a[] = {1, 1, 2}, b[] = {2, 1, 1};
  EXPECT_NEAR(compare_tvd(a, b, 3), 0.25, 1e-12);
  /* Proportional counts are the same mix. */
  uint64_t c[] = {3, 1}, d[] = {6, 2};
  EXPECT_NEAR(compare_tvd(c, d, 2), 0, 1e-12);
  /* Disjoint supports: 1. */
  uint64_t e[] = {5, 0}, f[] = {0, 7};
  EXPECT_NEAR(compare_tvd(e, f, 2), 1, 1e-12);
  /* Empty: both 0, one side 1. */
  uint64_t z[] = {0, 0};
  EXPECT_NEAR(compare_tvd(z, z, 2), 0, 0);
  EXPECT_NEAR(compare_tvd(c, z, 2), 1, 0);
  /* (1,2,3,4)/10 against (4,3,2,1)/10: (.3+.1+.1+.3)/2 = .4. */
  uint64_t g[] = {1, 2, 3, 4}, h[] = {4, 3, 2, 1};
  EXPECT_NEAR(compare_tvd(g, h, 4), 0.4, 1e-12);
}

static void test_row_tvd(void **state) {
  (void)state;
  /* Row 0: A (3,1) -> (.75,.25), B (1,1) -> (.5,.5): TVD .25.
   * Row 1: A (0,4) -> (0,1), B (1,3) -> (.25,.75): TVD .25.
   * Weights 4/8 each: .25. */
  struct compare_cell c1[] = {
      {0, 0, 3, 1}, {0, 1, 1, 1}, {1, 0, 0, 1}, {1, 1, 4, 3}};
  EXPECT_NEAR(compare_row_tvd(c1, 4), 0.25, 1e-12);
  /* A row B never leaves counts as 1: row 0 (weight 4/8) TVD 1, row 1
   * (weight 4/8) identical: .5. */
  struct compare_cell c2[] = {{0, 0, 2, 0}, {0, 1, 2, 0}, {1, 0, 4, 9}};
  EXPECT_NEAR(compare_row_tvd(c2, 3), 0.5, 1e-12);
  /* Rows weighted by A's traffic: row 0 has 1 of 10 (TVD 1 against B's
   * other column), row 1 has 9 of 10 (identical): .1. */
  struct compare_cell c3[] = {
      {0, 0, 1, 0}, {0, 1, 0, 5}, {1, 0, 9, 3}, {3, 2, 0, 50}};
  EXPECT_NEAR(compare_row_tvd(c3, 4), 0.1, 1e-12);
  /* B's rows A never visits carry no weight; an empty A gives 0. */
  struct compare_cell c4[] = {{0, 0, 0, 5}};
  EXPECT_NEAR(compare_row_tvd(c4, 1), 0, 0);
}

/* ---- KS ---- */

static void fill(struct hist *h, const uint64_t *v, size_t n) {
  hist_init(h);
  for (size_t i = 0; i < n; i++) assert_int_equal(hist_record(h, v[i]), 0);
}

static void test_ks_small(void **state) {
  (void)state;
  struct hist a, b, c;
  /* Small integers are exact (one to a bucket). {1,2,3,4} against
   * {3,4,5,6}: at 2, F_a = .5 and F_b = 0. */
  fill(&a, (uint64_t[]){1, 2, 3, 4}, 4);
  fill(&b, (uint64_t[]){3, 4, 5, 6}, 4);
  EXPECT_NEAR(compare_ks(&a, &b, 1, 0), 0.5, 1e-9);
  EXPECT_NEAR(compare_ks(&b, &a, 1, 0), 0.5, 1e-9);
  EXPECT_NEAR(compare_ks(&a, &a, 1, 0), 0, 1e-12);
  /* {0,0,1,5} against {0,1,1,1}: F(0) .5 vs .25, F(1) .75 vs 1: .25. */
  fill(&c, (uint64_t[]){0, 0, 1, 5}, 4);
  hist_cleanup(&b);
  fill(&b, (uint64_t[]){0, 1, 1, 1}, 4);
  EXPECT_NEAR(compare_ks(&c, &b, 1, 0), 0.25, 1e-9);
  /* Disjoint: 1. Empty: NaN. */
  hist_cleanup(&b);
  fill(&b, (uint64_t[]){40, 41}, 2);
  EXPECT_NEAR(compare_ks(&a, &b, 1, 0), 1, 1e-12);
  struct hist e;
  hist_init(&e);
  assert_true(isnan(compare_ks(&a, &e, 1, 0)));
  assert_true(isnan(compare_ks(&e, &a, 1, 0)));
  hist_cleanup(&a);
  hist_cleanup(&b);
  hist_cleanup(&c);
}

static void test_ks_floor(void **state) {
  (void)state;
  struct hist a, b;
  /* Half the values differ below 1 s (100 ms vs 300 ms), half agree
   * above: .5 from 0, but 0 when only x >= 1 s is examined (the mass
   * below is compared as one lump: .5 vs .5). */
  fill(&a, (uint64_t[]){100000, 200000, 5000000, 6000000}, 4);
  fill(&b, (uint64_t[]){300000, 400000, 5000000, 6000000}, 4);
  EXPECT_NEAR(compare_ks(&a, &b, 1, 0), 0.5, 1e-9);
  EXPECT_NEAR(compare_ks(&a, &b, 1, 1e6), 0, 1e-12);
  /* The lump itself still counts: 3 of 4 below 1 s against 1 of 4. */
  hist_cleanup(&b);
  fill(&b, (uint64_t[]){300000, 2000000, 5000000, 6000000}, 4);
  EXPECT_NEAR(compare_ks(&a, &b, 1, 1e6), 0.25, 1e-9);
  hist_cleanup(&a);
  hist_cleanup(&b);
}

static void test_ks_scale(void **state) {
  (void)state;
  /* B is A's sample played 50 times faster: multiplied back, the same
   * distribution within bucket accuracy. */
  struct hist a, b, c;
  hist_init(&a);
  hist_init(&b);
  hist_init(&c);
  struct rng r;
  rng_seed(&r, 7);
  for (int i = 0; i < 20000; i++) {
    double v = exp(log(5e6) + 1.5 * (rng_double(&r) + rng_double(&r) - 1));
    assert_int_equal(hist_record(&a, (uint64_t)v), 0);
    assert_int_equal(hist_record(&b, (uint64_t)(v / 50)), 0);
    assert_int_equal(hist_record(&c, (uint64_t)(v / 25)), 0);
  }
  EXPECT_NEAR(compare_ks(&a, &b, 50, 0), 0, 0.01);
  /* At the wrong scale the distance shows: the median of c x 50 is twice
   * A's; for this spread about a third of the mass lies in between. */
  assert_true(compare_ks(&a, &c, 50, 0) > 0.2);
  hist_cleanup(&a);
  hist_cleanup(&b);
  hist_cleanup(&c);
}

/* ---- reports on small models ---- */

static uint32_t add_ep(struct model *m, const char *method, const char *templ,
                       uint64_t count, int status) {
  struct model_endpoint *e = model_push(m, endpoints);
  assert_non_null(e);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = count;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  e->status = malloc(sizeof *e->status);
  e->status[0].status = status;
  e->status[0].count = count;
  e->nstatus = 1;
  return (uint32_t)(m->nendpoints - 1);
}

static void add_trans(struct model *m, int32_t from, int32_t to, uint64_t count,
                      uint64_t think_us) {
  struct model_transition *t = model_push(m, transitions);
  assert_non_null(t);
  t->from = from;
  t->to = to;
  t->count = count;
  hist_init(&t->think.h);
  if (from >= 0 && to >= 0) {
    t->think.has = 1;
    for (uint64_t i = 0; i < count; i++)
      hist_record(&t->think.h, think_us + think_us * i / 1000);
  }
}

/* Sessions: GET / then `n_users` times GET /users/{id}, then END; n
 * sessions. The endpoint counts follow from the transitions. */
static struct model *shop(uint64_t n, uint64_t users_per, const char *users,
                          uint64_t think_us) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "GET", "/", n, 200);
  add_ep(m, "GET", users, n * users_per, 200);
  add_trans(m, MODEL_START, 0, n, 0);
  add_trans(m, 0, 1, n, think_us);
  add_trans(m, 1, 1, n * (users_per - 1), think_us);
  add_trans(m, 1, MODEL_END, n, 0);
  struct model_persona *p = model_push(m, personas);
  p->name = strdup("all");
  p->weight = 1;
  p->sessions = n;
  hist_init(&p->length.h);
  hist_init(&p->duration.h);
  p->length.has = p->duration.has = 1;
  for (uint64_t i = 0; i < n; i++) {
    hist_record(&p->length.h, 1 + users_per);
    hist_record(&p->duration.h, users_per * think_us + i);
  }
  return m;
}

static void test_report_self(void **state) {
  (void)state;
  struct model *a = shop(500, 3, "/users/{id}", 2000000);
  struct compare_opts o = {.time_scale = 1};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, a, &o, &r, err, sizeof err), 0);
  for (int i = 0; i <= COMPARE_DURATION_KS; i++)
    EXPECT_NEAR(compare_value(r, (enum compare_metric)i), 0, 1e-12);
  assert_true(compare_pass(r));
  /* No baseline in a model built in memory: the defaults apply. */
  EXPECT_NEAR(compare_threshold(r, COMPARE_ENDPOINT_TVD), 0.02, 0);
  assert_true(isnan(compare_threshold(r, COMPARE_ARRIVAL_KS)));
  compare_report_free(r);
  model_free(a);
}

static void test_report_mix(void **state) {
  (void)state;
  /* B: 4 users pages a session instead of 3, and its template was learned
   * with a literal id: matched onto A's {id} all the same. A's mix is
   * (1/4, 3/4), B's (1/5, 4/5): TVD .05, over 0.02. */
  struct model *a = shop(500, 3, "/users/{id}", 2000000);
  struct model *b = shop(400, 4, "/users/42", 2000000);
  struct compare_opts o = {.time_scale = 1};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_value(r, COMPARE_ENDPOINT_TVD), 0.05, 1e-12);
  /* Rows: START (500 of 2500 in A) same; "/" (500) same; /users/{id}
   * (1500): A (2/3 stay, 1/3 end), B (3/4, 1/4): TVD 1/12, weight .6. */
  EXPECT_NEAR(compare_value(r, COMPARE_TRANSITION_TVD), 0.6 / 12, 1e-12);
  /* Lengths 4 vs 5: disjoint. */
  EXPECT_NEAR(compare_value(r, COMPARE_LENGTH_KS), 1, 1e-12);
  assert_false(compare_pass(r));
  compare_report_free(r);
  /* A threshold given on the command line replaces the default. */
  o.threshold[COMPARE_ENDPOINT_TVD] = 0.06;
  o.threshold[COMPARE_TRANSITION_TVD] = 0.06;
  o.threshold[COMPARE_LENGTH_KS] = 1;
  o.threshold[COMPARE_DURATION_KS] = 1;
  o.threshold[COMPARE_THINK_KS] = 1; /* B's longer sessions think longer */
  o.threshold[COMPARE_THINK_TOP_KS] = 1;
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_threshold(r, COMPARE_ENDPOINT_TVD), 0.06, 0);
  assert_true(compare_pass(r));
  compare_report_free(r);
  model_free(a);
  model_free(b);
}

static void test_report_split_half(void **state) {
  (void)state;
  /* A's halves disagree on the mix by .05: the endpoint threshold
   * becomes 2 x .05 = .1, and B's .05 passes. */
  struct model *a = shop(500, 3, "/users/{id}", 2000000);
  struct model *b = shop(400, 4, "/users/{id}", 2000000);
  a->half[0] = shop(250, 3, "/users/{id}", 2000000);
  a->half[1] = shop(200, 4, "/users/{id}", 2000000);
  struct compare_opts o = {.time_scale = 1};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_split_half(r, COMPARE_ENDPOINT_TVD), 0.05, 1e-12);
  EXPECT_NEAR(compare_threshold(r, COMPARE_ENDPOINT_TVD), 0.1, 1e-12);
  assert_true(compare_value(r, COMPARE_ENDPOINT_TVD) <=
              compare_threshold(r, COMPARE_ENDPOINT_TVD));
  /* The defaults stay the floor: status mixes agree between the halves. */
  EXPECT_NEAR(compare_threshold(r, COMPARE_STATUS_TVD), 0.02, 0);
  compare_report_free(r);
  /* --no-split-half: back to the default. */
  o.no_split_half = 1;
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_threshold(r, COMPARE_ENDPOINT_TVD), 0.02, 0);
  compare_report_free(r);
  model_free(a);
  model_free(b);
}

static void test_report_time_scale(void **state) {
  (void)state;
  /* B played 50 times faster: think times and durations / 50. Compared
   * at time scale 50 they agree; at 1 they do not. */
  struct model *a = shop(500, 3, "/users/{id}", 5000000);
  struct model *b = shop(500, 3, "/users/{id}", 100000);
  struct compare_opts o = {.time_scale = 50};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_value(r, COMPARE_THINK_KS), 0, 0.03);
  assert_true(compare_pass(r));
  compare_report_free(r);
  o.time_scale = 1;
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_value(r, COMPARE_THINK_KS), 1, 1e-9);
  assert_false(compare_pass(r));
  compare_report_free(r);
  model_free(a);
  model_free(b);
}

static void test_report_status(void **state) {
  (void)state;
  /* B answers every /users/{id} with 404: status classes (1/4 2xx, 3/4
   * 4xx) against all 2xx: TVD .75. Gated unless --ignore-status. */
  struct model *a = shop(500, 3, "/users/{id}", 2000000);
  struct model *b = shop(500, 3, "/users/{id}", 2000000);
  b->endpoints[1].status[0].status = 404;
  struct compare_opts o = {.time_scale = 1};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  EXPECT_NEAR(compare_value(r, COMPARE_STATUS_TVD), 0.75, 1e-12);
  assert_false(compare_pass(r));
  compare_report_free(r);
  o.ignore_status = 1;
  assert_int_equal(compare_models(a, b, &o, &r, err, sizeof err), 0);
  assert_true(compare_pass(r));
  compare_report_free(r);
  model_free(a);
  model_free(b);
}

static void test_report_too_small(void **state) {
  (void)state;
  struct model *a = shop(50, 3, "/users/{id}", 2000000);
  struct compare_opts o = {.time_scale = 1};
  struct compare_report *r;
  char err[256];
  assert_int_equal(compare_models(a, a, &o, &r, err, sizeof err), 0);
  assert_false(compare_pass(r));
  compare_report_free(r);
  struct model *empty;
  assert_int_equal(model_new(&empty), 0);
  assert_int_equal(compare_models(empty, a, &o, &r, err, sizeof err),
                   ERR_NODATA);
  model_free(empty);
  model_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tvd),
      cmocka_unit_test(test_row_tvd),
      cmocka_unit_test(test_ks_small),
      cmocka_unit_test(test_ks_floor),
      cmocka_unit_test(test_ks_scale),
      cmocka_unit_test(test_report_self),
      cmocka_unit_test(test_report_mix),
      cmocka_unit_test(test_report_split_half),
      cmocka_unit_test(test_report_time_scale),
      cmocka_unit_test(test_report_status),
      cmocka_unit_test(test_report_too_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
