/* Tests of sessions held to learned lengths and durations: lengths follow
 * the persona's length distribution whatever the chain's END
 * probabilities, paths of one length follow the chain given that length,
 * no transition outside the model is taken, think times add up to about
 * the duration drawn for the length (less the response times when think
 * times were measured from response ends), and the same seed gives the
 * same sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "err.h"
#include "hist.h"
#include "model.h"
#include "rng.h"
#include "synth.h"
#include "testutil.h"

#define EXPECT_NEAR(got, want, tol)                                            \
  do {                                                                         \
    double g_ = (got), w_ = (want), t_ = (tol);                                \
    if (!(fabs(g_ - w_) <= t_))                                                \
      fail_msg("%s = %.5f, expected %s = %.5f within %.4f", #got, g_, #want,   \
               w_, t_);                                                        \
  } while (0)

enum { A, B, C };

static void add_tr(struct model *m, int32_t from, int32_t to, uint64_t count,
                   uint64_t think_us) {
  struct model_transition *t = model_push(m, transitions);
  assert_non_null(t);
  t->from = from;
  t->to = to;
  t->count = count;
  hist_init(&t->think.h);
  if (think_us) {
    /* 200 values spread log-uniformly over [think_us / 10, think_us x 10] */
    t->think.has = 1;
    for (int i = 0; i < 200; i++)
      hist_record(&t->think.h,
                  (uint64_t)((double)think_us * pow(100, i / 199.0) / 10));
  }
}

static void add_shape(struct model *m, uint32_t len, uint64_t dur_us) {
  struct model_shape *x = model_push(m, shapes);
  assert_non_null(x);
  model_length_class(len, &x->lo, &x->hi);
  hist_init(&x->duration);
  hist_add(&x->duration, dur_us, 100);
}

/* A -> B -> {A, C, END}, A -> END, C -> END; sessions of 1, 3 or 6
 * requests, one in three each; with shapes, 0, 10 s and 50 s long. */
static struct model *held_model(int shapes, uint64_t lat_us) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  const char *names[] = {"/a", "/b", "/c"};
  for (int i = 0; i < 3; i++) {
    struct model_endpoint *e = model_push(m, endpoints);
    e->method = strdup("GET");
    e->host = strdup("");
    e->templ = strdup(names[i]);
    e->count = 10;
    hist_init(&e->latency.h);
    hist_init(&e->resp_bytes.h);
    hist_init(&e->req_bytes.h);
    if (lat_us) {
      e->latency.has = 1;
      hist_add(&e->latency.h, lat_us, 10);
    }
  }
  add_tr(m, MODEL_START, A, 10, 0);
  add_tr(m, A, B, 5, 1000000);
  add_tr(m, A, MODEL_END, 5, 0);
  add_tr(m, B, A, 3, 3000000);
  add_tr(m, B, C, 3, 2000000);
  add_tr(m, B, MODEL_END, 4, 0);
  add_tr(m, C, MODEL_END, 10, 0);
  struct model_persona *p = model_push(m, personas);
  p->name = strdup("all");
  p->weight = 1;
  p->sessions = 300;
  hist_init(&p->length.h);
  hist_init(&p->duration.h);
  p->length.has = 1;
  hist_add(&p->length.h, 1, 100);
  hist_add(&p->length.h, 3, 100);
  hist_add(&p->length.h, 6, 100);
  if (shapes) {
    add_shape(m, 1, 0);
    add_shape(m, 3, 10000000);
    add_shape(m, 6, 50000000);
  }
  return m;
}

static struct synth *must_synth(const struct model *m) {
  struct synth *s = NULL;
  char err[256] = "";
  int rc = synth_new(m, NULL, &s, err, sizeof err);
  if (rc) fail_msg("synth_new: %s (%s)", err_str(rc), err);
  return s;
}

/* Walks one session; returns its length, writes the path (up to 16
 * endpoints) and the sum of its think times. */
static uint32_t walk(const struct synth *s, struct rng *r, int32_t *path,
                     int64_t *sum) {
  struct synth_walk w;
  synth_begin(s, r, &w);
  uint32_t n = 0;
  *sum = 0;
  path[n++] = w.ep;
  int64_t think;
  for (int32_t from = w.ep; synth_step(s, r, &w, &think); from = w.ep) {
    /* Only the model's transitions. */
    int ok =
        (from == A && w.ep == B) || (from == B && (w.ep == A || w.ep == C));
    if (!ok) fail_msg("transition %d -> %d is not in the model", from, w.ep);
    assert_true(think >= 0);
    *sum += think;
    if (n < 16) path[n] = w.ep;
    n++;
  }
  assert_int_equal(w.ep, -1);
  return n;
}

static void test_lengths(void **state) {
  (void)state;
  struct model *m = held_model(0, 0);
  struct synth *s = must_synth(m);
  struct rng r;
  rng_seed(&r, 1);
  int counts[8] = {0}, abc = 0, aba = 0;
  const int n = 30000;
  for (int i = 0; i < n; i++) {
    int32_t path[16];
    int64_t sum;
    uint32_t len = walk(s, &r, path, &sum);
    assert_true(len < 8);
    counts[len]++;
    if (len == 3) {
      abc += path[2] == C;
      aba += path[2] == A;
    }
  }
  /* The chain alone would end half the sessions at the first request and
   * never reach 6 so often; held, each length is a third. */
  for (int len = 0; len < 8; len++) {
    double want = len == 1 || len == 3 || len == 6 ? 1.0 / 3 : 0;
    EXPECT_NEAR((double)counts[len] / n, want, 0.015);
  }
  /* Given 3 requests, A-B-C has weight .5 x .3 x 1 and A-B-A .5 x .3 x .5:
   * two thirds and one third. */
  EXPECT_NEAR((double)abc / (abc + aba), 2.0 / 3, 0.02);
  synth_free(s);
  model_free(m);
}

/* Mean relative distance of the sessions' think-time sums from the
 * duration of their length (less the response times inside them), over
 * sessions of 3 and 6 requests. */
static double miss(const struct model *m, uint64_t lat_us) {
  struct synth *s = must_synth(m);
  struct rng r;
  rng_seed(&r, 2);
  double sum_miss = 0;
  int n = 0;
  for (int i = 0; i < 3000; i++) {
    int32_t path[16];
    int64_t sum;
    uint32_t len = walk(s, &r, path, &sum);
    if (len != 3 && len != 6) continue;
    double want = len == 3 ? 10e6 : 50e6;
    want -= (len - 1) * (double)lat_us;
    sum_miss += fabs((double)sum - want) / want;
    n++;
  }
  synth_free(s);
  return sum_miss / n;
}

static void test_durations(void **state) {
  (void)state;
  /* Think times drawn freely add up to anything from about 0.6 s to 60 s
   * for 3 requests; held, they come within a few percent of the learned
   * 10 s (and 50 s for 6 requests). */
  struct model *free_m = held_model(0, 0), *held_m = held_model(1, 0);
  double loose = miss(free_m, 0), held = miss(held_m, 0);
  if (!(held < 0.1 && loose > 0.4))
    fail_msg("held sessions miss their duration by %.3f, free ones by %.3f",
             held, loose);
  model_free(free_m);
  model_free(held_m);
}

static void test_durations_end_to_start(void **state) {
  (void)state;
  /* Think times from the end of responses: the duration holds the
   * response times too (500 ms each, all but the last request's). */
  struct model *m = held_model(1, 500000);
  assert_int_equal(model_meta_set(m, "think_basis", "end-to-start"), 0);
  double held = miss(m, 500000);
  if (!(held < 0.1)) fail_msg("held sessions miss by %.3f", held);
  model_free(m);
}

static void test_same_seed(void **state) {
  (void)state;
  struct model *m = held_model(1, 0);
  struct synth *s = must_synth(m);
  struct rng r1, r2;
  rng_seed(&r1, 9);
  rng_seed(&r2, 9);
  for (int i = 0; i < 500; i++) {
    int32_t p1[16], p2[16];
    int64_t s1, s2;
    uint32_t n1 = walk(s, &r1, p1, &s1), n2 = walk(s, &r2, p2, &s2);
    EXPECT_EQ(n1, n2);
    EXPECT_EQ(s1, s2);
    for (uint32_t k = 0; k < n1 && k < 16; k++) EXPECT_EQ(p1[k], p2[k]);
  }
  synth_free(s);
  model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lengths),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_durations_end_to_start),
      cmocka_unit_test(test_same_seed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
