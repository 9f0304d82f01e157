/* Tests of the synthesizer: sampled transitions, think times, session
 * lengths and persona mixes follow the model's counts and distributions;
 * user agents follow their persona's counts when the model has them, the
 * global pool's otherwise; the same seed gives the same plan; request
 * targets follow the value pools and query presence, make up values of the
 * right shape for empty pools and never write past the buffer; the arrival
 * curve is dense. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <regex.h>

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

/* ---- building models in memory ---- */

static struct model *new_model(void) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  return m;
}

static uint32_t add_ep(struct model *m, const char *method, const char *templ) {
  struct model_endpoint *e = model_push(m, endpoints);
  assert_non_null(e);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = 1;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  return (uint32_t)(m->nendpoints - 1);
}

static void add_persona(struct model *m, const char *name, double weight) {
  struct model_persona *p = model_push(m, personas);
  assert_non_null(p);
  p->name = strdup(name);
  p->weight = weight;
  hist_init(&p->length.h);
  hist_init(&p->duration.h);
}

/* n values, log-normal around median (sigma 1), from their own stream. */
static void fill_lognormal(struct hist *h, int n, double median,
                           uint64_t seed) {
  struct rng r;
  rng_seed(&r, seed);
  for (int i = 0; i < n; i++) {
    double u1 = 1 - rng_double(&r), u2 = rng_double(&r);
    double z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    assert_int_equal(hist_record(h, (uint64_t)(median * exp(z))), 0);
  }
}

static struct model_transition *add_tr(struct model *m, uint32_t persona,
                                       int32_t from, int32_t to,
                                       uint64_t count) {
  struct model_transition *t = model_push(m, transitions);
  assert_non_null(t);
  t->persona = persona;
  t->from = from;
  t->to = to;
  t->count = count;
  hist_init(&t->think.h);
  return t;
}

static struct hist *add_backoff(struct model *m, uint32_t persona,
                                int32_t from) {
  struct model_backoff *b = model_push(m, backoffs);
  assert_non_null(b);
  b->persona = persona;
  b->from = from;
  hist_init(&b->think);
  return &b->think;
}

/* A parameter with a pool given as alternating value, count (NULL ends). */
static void add_param(struct model *m, uint32_t ep, const char *loc,
                      uint32_t pos, const char *name, const char *type,
                      double presence, ...) {
  struct model_param *p = model_push(m, params);
  assert_non_null(p);
  p->endpoint = ep;
  snprintf(p->loc, sizeof p->loc, "%s", loc);
  p->position = pos;
  p->name = strdup(name);
  p->type = strdup(type);
  p->presence = presence;
  va_list ap;
  va_start(ap, presence);
  for (const char *v; (v = va_arg(ap, const char *));) {
    int c = va_arg(ap, int);
    p->values = realloc(p->values, (p->nvalues + 1) * sizeof *p->values);
    assert_non_null(p->values);
    p->values[p->nvalues].value = strdup(v);
    p->values[p->nvalues].count = (uint64_t)c;
    p->nvalues++;
  }
  va_end(ap);
  p->distinct = p->nvalues;
}

static struct synth *must_synth(const struct model *m,
                                const struct synth_opts *o) {
  struct synth *s = NULL;
  char err[256] = "";
  int rc = synth_new(m, o, &s, err, sizeof err);
  if (rc) fail_msg("synth_new: %s (%s)", err_str(rc), err);
  return s;
}

/* ---- transitions ---- */

static const int32_t chain4[][3] = {
    {MODEL_START, 0, 50}, {MODEL_START, 1, 30}, {MODEL_START, 2, 20},
    {0, 1, 40},           {0, 2, 25},           {0, 0, 10},
    {0, MODEL_END, 25},   {1, 0, 30},           {1, 3, 50},
    {1, MODEL_END, 20},   {2, MODEL_END, 60},   {2, 3, 40},
    {3, 0, 15},           {3, MODEL_END, 85},
};

static struct model *chain4_model(void) {
  struct model *m = new_model();
  for (int i = 0; i < 4; i++) add_ep(m, "GET", "/x");
  add_persona(m, "all", 1);
  for (size_t i = 0; i < sizeof chain4 / sizeof chain4[0]; i++)
    add_tr(m, 0, chain4[i][0], chain4[i][1], (uint64_t)chain4[i][2]);
  return m;
}

static void test_transition_frequencies(void **state) {
  (void)state;
  struct model *m = chain4_model();
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 1);
  /* seen[from + 1][to + 2]: from START (-1) .. 3, to END (-2) .. 3 */
  uint64_t seen[5][6] = {{0}}, rows[5] = {0};
  struct synth_walk w;
  for (int i = 0; i < 200000; i++) {
    synth_begin(s, &r, &w);
    seen[0][w.ep + 2]++;
    rows[0]++;
  }
  int64_t think;
  synth_begin(s, &r, &w);
  for (int steps = 0; steps < 200000; steps++) {
    int32_t from = w.ep;
    int more = synth_step(s, &r, &w, &think);
    EXPECT_EQ(more, w.ep >= 0);
    seen[from + 1][(more ? w.ep : MODEL_END) + 2]++;
    rows[from + 1]++;
    if (!more) synth_begin(s, &r, &w);
  }
  uint64_t total[5] = {0};
  for (size_t i = 0; i < sizeof chain4 / sizeof chain4[0]; i++)
    total[chain4[i][0] + 1] += (uint64_t)chain4[i][2];
  for (size_t i = 0; i < sizeof chain4 / sizeof chain4[0]; i++) {
    int from = chain4[i][0], to = chain4[i][1];
    double want = chain4[i][2] / (double)total[from + 1];
    double got = (double)seen[from + 1][to + 2] / (double)rows[from + 1];
    if (fabs(got - want) > 0.01)
      fail_msg("P(%d -> %d) = %.4f, expected %.4f (%llu draws)", from, to, got,
               want, (unsigned long long)rows[from + 1]);
  }
  /* Nothing the model never saw. */
  EXPECT_U64(seen[0][0], ==, 0); /* START -> END */
  EXPECT_U64(seen[3][3], ==, 0); /* 2 -> 1 */
  EXPECT_U64(seen[4][5], ==, 0); /* 3 -> 3 */
  synth_free(s);
  model_free(m);
}

static void test_session_length(void **state) {
  (void)state;
  /* From every endpoint: END with 1 in 4, so lengths are geometric with
   * mean 4. */
  struct model *m = new_model();
  for (int i = 0; i < 3; i++) add_ep(m, "GET", "/x");
  add_persona(m, "all", 1);
  for (int32_t i = 0; i < 3; i++) {
    add_tr(m, 0, MODEL_START, i, 1);
    add_tr(m, 0, i, MODEL_END, 2);
    for (int32_t j = 0; j < 3; j++) add_tr(m, 0, i, j, 2);
  }
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 2);
  uint64_t sum = 0, ones = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    struct synth_walk w;
    int64_t think;
    synth_begin(s, &r, &w);
    while (synth_step(s, &r, &w, &think)) {
    }
    EXPECT_EQ(w.ep, -1);
    sum += w.step;
    ones += w.step == 1;
  }
  EXPECT_NEAR((double)sum / n, 4.0, 0.1);
  EXPECT_NEAR((double)ones / n, 0.25, 0.01);
  synth_free(s);
  model_free(m);
}

static void test_step_cap(void **state) {
  (void)state;
  /* A chain that never ends is cut at 100000 requests. */
  struct model *m = new_model();
  add_ep(m, "GET", "/loop");
  add_ep(m, "GET", "/dead-end");
  add_persona(m, "all", 1);
  add_tr(m, 0, MODEL_START, 0, 1);
  add_tr(m, 0, 0, 0, 5);
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 3);
  struct synth_walk w;
  int64_t think;
  synth_begin(s, &r, &w);
  while (synth_step(s, &r, &w, &think)) {
  }
  EXPECT_EQ(w.step, 100000);
  EXPECT_EQ(w.ep, -1);
  EXPECT_EQ(synth_step(s, &r, &w, &think), 0);
  /* An endpoint with no way out ends the session. */
  w.ep = 1;
  w.step = 1;
  EXPECT_EQ(synth_step(s, &r, &w, &think), 0);
  EXPECT_EQ(w.ep, -1);
  synth_free(s);
  model_free(m);
}

/* ---- think times ---- */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Two-sample Kolmogorov-Smirnov distance (sorts both). */
static double ks(int64_t *a, size_t na, int64_t *b, size_t nb) {
  qsort(a, na, sizeof *a, cmp_i64);
  qsort(b, nb, sizeof *b, cmp_i64);
  size_t i = 0, j = 0;
  double d = 0;
  while (i < na && j < nb) {
    int64_t v = a[i] < b[j] ? a[i] : b[j];
    while (i < na && a[i] == v) i++;
    while (j < nb && b[j] == v) j++;
    double x = fabs((double)i / (double)na - (double)j / (double)nb);
    if (x > d) d = x;
  }
  return d;
}

/* KS distance of got[0..n) to n values drawn directly from h. */
static double ks_to_hist(int64_t *got, size_t n, const struct hist *h) {
  struct hist_sampler hs;
  assert_int_equal(hist_sampler_prepare(&hs, h), 0);
  int64_t *ref = malloc(n * sizeof *ref);
  assert_non_null(ref);
  struct rng r;
  rng_seed(&r, 999);
  for (size_t i = 0; i < n; i++) ref[i] = (int64_t)hist_sample(&hs, &r);
  double d = ks(got, n, ref, n);
  free(ref);
  hist_sampler_cleanup(&hs);
  return d;
}

enum { A, B, C, D, E };

/* A -> B has its own think times; A -> C and C -> D have 5 each (too few);
 * A has a fallback of 100 (enough), C one of 10 (too few: pooled). E has no
 * fallback and E -> D has 5 (pooled). */
static struct model *think_model(void) {
  struct model *m = new_model();
  for (int i = 0; i < 5; i++) add_ep(m, "GET", "/t");
  add_persona(m, "all", 1);
  add_tr(m, 0, MODEL_START, A, 60);
  add_tr(m, 0, MODEL_START, C, 20);
  add_tr(m, 0, MODEL_START, E, 20);
  struct model_transition *t = add_tr(m, 0, A, B, 50);
  t->think.has = 1;
  fill_lognormal(&t->think.h, 5000, 2e6, 11);
  t = add_tr(m, 0, A, C, 50);
  t->think.has = 1;
  for (int i = 0; i < 5; i++) hist_record(&t->think.h, 7);
  t = add_tr(m, 0, C, D, 1);
  t->think.has = 1;
  for (int i = 0; i < 5; i++) hist_record(&t->think.h, 7);
  t = add_tr(m, 0, E, D, 1);
  t->think.has = 1;
  for (int i = 0; i < 5; i++) hist_record(&t->think.h, 7);
  add_tr(m, 0, B, MODEL_END, 1);
  add_tr(m, 0, D, MODEL_END, 1);
  fill_lognormal(add_backoff(m, 0, A), 100, 5e7, 12);
  fill_lognormal(add_backoff(m, 0, C), 10, 9e9, 13);
  fill_lognormal(add_backoff(m, 0, MODEL_ANY), 3000, 3e4, 14);
  return m;
}

static const struct hist *backoff_of(const struct model *m, int32_t from) {
  for (size_t i = 0; i < m->nbackoffs; i++)
    if (m->backoffs[i].from == from) return &m->backoffs[i].think;
  return NULL;
}

static void test_think_times(void **state) {
  (void)state;
  struct model *m = think_model();
  struct synth *s = must_synth(m, NULL);
  enum { N = 40000 };
  int64_t *ab = malloc(N * sizeof *ab), *ac = malloc(N * sizeof *ac);
  int64_t *cd = malloc(N * sizeof *cd), *ed = malloc(N * sizeof *ed);
  assert_true(ab && ac && cd && ed);
  size_t nab = 0, nac = 0, ncd = 0, ned = 0;
  struct rng r;
  rng_seed(&r, 4);
  while (nab < N || nac < N || ncd < N || ned < N) {
    struct synth_walk w;
    int64_t think;
    synth_begin(s, &r, &w);
    for (int32_t from = w.ep; synth_step(s, &r, &w, &think); from = w.ep) {
      assert_true(think >= 0);
      if (from == A && w.ep == B && nab < N) ab[nab++] = think;
      if (from == A && w.ep == C && nac < N) ac[nac++] = think;
      if (from == C && w.ep == D && ncd < N) cd[ncd++] = think;
      if (from == E && w.ep == D && ned < N) ed[ned++] = think;
    }
  }
  const struct hist *pooled = backoff_of(m, MODEL_ANY);
  /* Enough observations: the transition's own distribution. */
  double d = ks_to_hist(ab, N, &m->transitions[3].think.h);
  if (!(d < 0.02)) fail_msg("A->B: KS %.4f to its own, expected < 0.02", d);
  /* Few: the source's fallback (100 values), then the pooled one (C's
   * fallback has only 10; E has none). */
  d = ks_to_hist(ac, N, backoff_of(m, A));
  if (!(d < 0.02))
    fail_msg("A->C: KS %.4f to A's fallback, expected < 0.02", d);
  d = ks_to_hist(cd, N, pooled);
  if (!(d < 0.02)) fail_msg("C->D: KS %.4f to the pooled, expected < 0.02", d);
  d = ks_to_hist(ed, N, pooled);
  if (!(d < 0.02)) fail_msg("E->D: KS %.4f to the pooled, expected < 0.02", d);
  /* And the median agrees with the histogram within its accuracy. */
  qsort(ab, N, sizeof *ab, cmp_i64);
  double want = (double)hist_quantile(&m->transitions[3].think.h, 0.5);
  EXPECT_NEAR((double)ab[N / 2] / want, 1.0, 0.03);

  /* synth_pause is the pooled think time. */
  for (size_t i = 0; i < N; i++) ab[i] = synth_pause(s, &r);
  d = ks_to_hist(ab, N, pooled);
  if (!(d < 0.02)) fail_msg("pause: KS %.4f to the pooled, expected < 0.02", d);
  synth_free(s);

  /* With min_think_samples 5, A -> C's own five 7s are enough. */
  struct synth_opts o = {.min_think_samples = 5};
  s = must_synth(m, &o);
  rng_seed(&r, 5);
  int checked = 0;
  while (checked < 1000) {
    struct synth_walk w;
    int64_t think;
    synth_begin(s, &r, &w);
    for (int32_t from = w.ep; synth_step(s, &r, &w, &think); from = w.ep)
      if (from == A && w.ep == C) {
        EXPECT_EQ(think, 7);
        checked++;
      }
  }
  synth_free(s);
  free(ab);
  free(ac);
  free(cd);
  free(ed);
  model_free(m);
}

static void test_think_without_fallbacks(void **state) {
  (void)state;
  /* No fallback at all: a thin transition uses its own values, and a
   * transition without any data has no pause. */
  struct model *m = new_model();
  add_ep(m, "GET", "/a");
  add_ep(m, "GET", "/b");
  add_persona(m, "all", 1);
  add_tr(m, 0, MODEL_START, 0, 1);
  struct model_transition *t = add_tr(m, 0, 0, 1, 1);
  t->think.has = 1;
  hist_record(&t->think.h, 1234);
  add_tr(m, 0, 1, 0, 1);
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 6);
  struct synth_walk w;
  int64_t think;
  synth_begin(s, &r, &w);
  for (int i = 0; i < 100; i++) {
    int32_t from = w.ep;
    EXPECT_EQ(synth_step(s, &r, &w, &think), 1);
    EXPECT_EQ(think, from == 0 ? 1234 : 0);
  }
  EXPECT_EQ(synth_pause(s, &r), 0);
  synth_free(s);
  model_free(m);
}

/* ---- determinism ---- */

static uint64_t fnv(const char *p) {
  uint64_t h = 1469598103934665603ULL;
  for (; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h;
}

static struct model *target_model(void);

/* One record per step: endpoint, think time and a hash of the target. */
static void plan(const struct synth *s, uint64_t seed, uint64_t *out,
                 size_t n) {
  struct rng r;
  rng_seed(&r, seed);
  struct synth_walk w;
  int64_t think = 0;
  char buf[512];
  synth_begin(s, &r, &w);
  for (size_t i = 0; i < n; i++) {
    if (w.ep < 0) {
      synth_begin(s, &r, &w);
      think = -1;
    }
    synth_target(s, &r, (uint32_t)w.ep % synth_endpoints(s), buf, sizeof buf);
    out[i] = (uint64_t)w.ep * 1000003u ^ (uint64_t)think ^ fnv(buf) ^ w.ua;
    synth_step(s, &r, &w, &think);
  }
}

static void test_same_seed_same_plan(void **state) {
  (void)state;
  struct model *m = think_model();
  struct synth *s = must_synth(m, NULL);
  enum { N = 10000 };
  uint64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  assert_true(a && b);
  plan(s, 42, a, N);
  plan(s, 42, b, N);
  for (size_t i = 0; i < N; i++)
    if (a[i] != b[i]) fail_msg("step %zu differs with the same seed", i);
  plan(s, 43, b, N);
  size_t same = 0;
  for (size_t i = 0; i < N; i++) same += a[i] == b[i];
  /* Session starts often coincide (few first endpoints); the rest not. */
  EXPECT_U64(same, <, N / 4);
  synth_free(s);
  model_free(m);

  /* And with targets that draw values and query strings. */
  m = target_model();
  s = must_synth(m, NULL);
  plan(s, 7, a, N);
  plan(s, 7, b, N);
  for (size_t i = 0; i < N; i++)
    if (a[i] != b[i]) fail_msg("step %zu differs with the same seed", i);
  plan(s, 8, b, N);
  same = 0;
  for (size_t i = 0; i < N; i++) same += a[i] == b[i];
  EXPECT_U64(same, <, N / 4);
  synth_free(s);
  model_free(m);
  free(a);
  free(b);
}

/* ---- personas ---- */

/* "browser" (0.3) walks endpoints 0 and 1, "api" (0.7) walks 2 and 3. */
static struct model *persona_model(void) {
  struct model *m = new_model();
  for (int i = 0; i < 4; i++) add_ep(m, "GET", "/p");
  add_persona(m, "browser", 0.3);
  add_persona(m, "api", 0.7);
  for (uint32_t p = 0; p < 2; p++) {
    int32_t a = (int32_t)(2 * p), b = a + 1;
    add_tr(m, p, MODEL_START, a, 3);
    add_tr(m, p, a, b, 2);
    add_tr(m, p, b, a, 1);
    add_tr(m, p, a, MODEL_END, 1);
    add_tr(m, p, b, MODEL_END, 1);
  }
  struct model_arrival *ar = model_push(m, arrivals);
  ar->persona = 0;
  ar->minute = 100;
  ar->sessions = 3;
  ar = model_push(m, arrivals);
  ar->persona = 0;
  ar->minute = 103;
  ar->sessions = 2;
  ar = model_push(m, arrivals);
  ar->persona = 1;
  ar->minute = 103;
  ar->sessions = 5;
  ar = model_push(m, arrivals);
  ar->persona = 1;
  ar->minute = 105;
  ar->sessions = 1;
  return m;
}

static void test_personas(void **state) {
  (void)state;
  struct model *m = persona_model();
  struct synth *s = must_synth(m, NULL);
  EXPECT_STR(synth_persona_name(s, 0), "browser");
  EXPECT_STR(synth_persona_name(s, 1), "api");
  assert_null(synth_persona_name(s, 2));
  struct rng r;
  rng_seed(&r, 9);
  const int n = 100000;
  int browser = 0;
  for (int i = 0; i < n; i++) {
    struct synth_walk w;
    int64_t think;
    synth_begin(s, &r, &w);
    browser += w.persona == 0;
    do {
      /* Each persona stays on its own chain. */
      if (w.ep / 2 != w.persona)
        fail_msg("persona %d visited endpoint %d", w.persona, w.ep);
    } while (synth_step(s, &r, &w, &think));
  }
  EXPECT_NEAR((double)browser / n, 0.3, 0.01);
  synth_free(s);

  const char *only[] = {"api"};
  struct synth_opts o = {.personas = only, .npersonas = 1};
  s = must_synth(m, &o);
  for (int i = 0; i < 10000; i++) {
    struct synth_walk w;
    int64_t think;
    synth_begin(s, &r, &w);
    EXPECT_EQ(w.persona, 1);
    do {
      if (w.ep != 2 && w.ep != 3)
        fail_msg("restricted to api, visited endpoint %d", w.ep);
    } while (synth_step(s, &r, &w, &think));
  }
  size_t na;
  int64_t first;
  const double *a = synth_arrivals(s, &na, &first);
  EXPECT_EQ(na, 3);
  EXPECT_EQ(first, 103);
  EXPECT_NEAR(a[0], 5, 0);
  EXPECT_NEAR(a[1], 0, 0);
  EXPECT_NEAR(a[2], 1, 0);
  synth_free(s);

  const char *bad[] = {"api", "nope"};
  o.personas = bad;
  o.npersonas = 2;
  char err[256] = "";
  s = NULL;
  EXPECT_EQ(synth_new(m, &o, &s, err, sizeof err), ERR_NOTFOUND);
  assert_null(s);
  if (!strstr(err, "'nope'") || !strstr(err, "browser") || !strstr(err, "api"))
    fail_msg("message \"%s\" should name 'nope' and the personas", err);
  model_free(m);
}

static void test_arrivals_dense(void **state) {
  (void)state;
  struct model *m = persona_model();
  struct synth *s = must_synth(m, NULL);
  size_t n;
  int64_t first;
  const double *a = synth_arrivals(s, &n, &first);
  const double want[] = {3, 0, 0, 7, 0, 1};
  EXPECT_EQ(n, 6);
  EXPECT_EQ(first, 100);
  for (size_t i = 0; i < 6; i++)
    if (a[i] != want[i])
      fail_msg("minute %zu: %.1f sessions, expected %.1f", i, a[i], want[i]);
  synth_free(s);
  model_free(m);

  /* No arrivals: an empty curve. */
  m = chain4_model();
  s = must_synth(m, NULL);
  a = synth_arrivals(s, &n, &first);
  EXPECT_EQ(n, 0);
  synth_free(s);
  model_free(m);
}

static void expect_nodata(const struct model *m, const struct synth_opts *o) {
  struct synth *s = NULL;
  char err[256] = "";
  EXPECT_EQ(synth_new(m, o, &s, err, sizeof err), ERR_NODATA);
  assert_null(s);
  if (!err[0]) fail_msg("ERR_NODATA without a message");
}

static void test_nodata(void **state) {
  (void)state;
  struct model *m = new_model();
  expect_nodata(m, NULL);
  add_persona(m, "all", 1);
  add_ep(m, "GET", "/a");
  expect_nodata(m, NULL); /* endpoints, no transitions */
  add_tr(m, 0, 0, 0, 3);
  add_tr(m, 0, 0, MODEL_END, 3);
  expect_nodata(m, NULL); /* no way in */
  add_tr(m, 0, MODEL_START, MODEL_END, 3);
  expect_nodata(m, NULL); /* only empty sessions */
  model_free(m);

  /* A chosen persona that never begins a session. */
  m = persona_model();
  m->transitions[0].count = 0;
  const char *only[] = {"browser"};
  struct synth_opts o = {.personas = only, .npersonas = 1};
  expect_nodata(m, &o);
  /* A damaged reference is refused, not followed. */
  m->transitions[1].to = 17;
  struct synth *s = NULL;
  char err[256] = "";
  EXPECT_EQ(synth_new(m, NULL, &s, err, sizeof err), ERR_CORRUPT);
  model_free(m);
}

static void test_user_agents(void **state) {
  (void)state;
  struct model *m = chain4_model();
  struct synth *s = must_synth(m, NULL);
  EXPECT_STR(synth_ua(s, 0), "");
  synth_free(s);
  struct model_ua *u = model_push(m, uas);
  u->value = strdup("Mozilla/5.0");
  u->count = 3;
  u = model_push(m, uas);
  u->value = strdup("curl/8.0");
  u->count = 1;
  u->is_bot = 1;
  s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 10);
  int first = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    struct synth_walk w;
    synth_begin(s, &r, &w);
    assert_true(w.ua < 2);
    first += w.ua == 0;
  }
  EXPECT_NEAR((double)first / n, 0.75, 0.01);
  EXPECT_STR(synth_ua(s, 0), "Mozilla/5.0");
  EXPECT_STR(synth_ua(s, 1), "curl/8.0");
  EXPECT_STR(synth_ua(s, 2), "");
  synth_free(s);
  model_free(m);
}

/* Per-persona user agents (persona_user_agent): a session's user agent is
 * drawn from its persona's own counts, rows in any order; a persona
 * without rows draws from the global pool; a row naming a missing user
 * agent is refused; and the draw takes as many numbers from the stream as
 * before, so personas and paths are those of the same seed without it. */
static void add_pua(struct model *m, uint32_t persona, uint32_t ua,
                    uint64_t count) {
  struct model_persona_ua *x = model_push(m, persona_uas);
  assert_non_null(x);
  *x = (struct model_persona_ua){.persona = persona, .ua = ua, .count = count};
}

static void test_persona_user_agents(void **state) {
  (void)state;
  struct model *m = persona_model(); /* browser 0.3, api 0.7 */
  static const char *const v[] = {"Mozilla/5.0 A", "Mozilla/5.0 B",
                                  "Googlebot/2.1", "python-requests/2.32"};
  static const uint64_t c[] = {6, 2, 1, 1};
  for (int i = 0; i < 4; i++) {
    struct model_ua *u = model_push(m, uas);
    u->value = strdup(v[i]);
    u->count = c[i];
    u->is_bot = i >= 2;
  }
  struct synth *global = must_synth(m, NULL);
  add_pua(m, 1, 3, 3); /* api: python 3, the crawler 1 */
  add_pua(m, 0, 0, 5); /* browser: A and B alike, unlike the pool's 6:2 */
  add_pua(m, 1, 2, 1);
  add_pua(m, 0, 1, 5);
  struct synth *s = must_synth(m, NULL);
  struct rng r, q;
  rng_seed(&r, 11);
  rng_seed(&q, 11);
  const int n = 100000;
  int by[2] = {0, 0}, first[2] = {0, 0};
  for (int i = 0; i < n; i++) {
    struct synth_walk w, g;
    int64_t t1, t2;
    synth_begin(s, &r, &w);
    synth_begin(global, &q, &g);
    if (w.persona != g.persona || w.ep != g.ep)
      fail_msg("session %d: persona %d at %d, without the table %d at %d", i,
               w.persona, w.ep, g.persona, g.ep);
    by[w.persona]++;
    if (w.persona == 0 && w.ua > 1)
      fail_msg("browser session sent %s", synth_ua(s, w.ua));
    if (w.persona == 1 && w.ua < 2)
      fail_msg("api session sent %s", synth_ua(s, w.ua));
    first[w.persona] += w.ua == (w.persona ? 3 : 0);
    int a, b;
    do {
      a = synth_step(s, &r, &w, &t1);
      b = synth_step(global, &q, &g, &t2);
      EXPECT_EQ(w.ep, g.ep);
    } while (a && b);
    EXPECT_EQ(a, b);
  }
  EXPECT_NEAR((double)first[0] / by[0], 0.5, 0.015);
  EXPECT_NEAR((double)first[1] / by[1], 0.75, 0.01);
  synth_free(s);

  /* The browser persona has no rows: the global pool, by its counts. */
  m->npersona_uas = 0;
  add_pua(m, 1, 3, 1);
  s = must_synth(m, NULL);
  by[0] = first[0] = 0;
  for (int i = 0; i < n; i++) {
    struct synth_walk w;
    synth_begin(s, &r, &w);
    if (w.persona == 1) {
      EXPECT_EQ(w.ua, 3);
      continue;
    }
    by[0]++;
    first[0] += w.ua == 0;
  }
  EXPECT_NEAR((double)first[0] / by[0], 0.6, 0.015);
  synth_free(s);

  /* A row naming a user agent the model lacks. */
  add_pua(m, 0, 4, 1);
  char err[256] = "";
  s = NULL;
  EXPECT_EQ(synth_new(m, NULL, &s, err, sizeof err), ERR_CORRUPT);
  assert_null(s);
  synth_free(global);
  model_free(m);
}

/* ---- targets ---- */

enum { T_USERS, T_SEARCH, T_SHAPES, T_CATCHALL, T_MULTI, T_RANGE, T_N };

static struct model *target_model(void) {
  struct model *m = new_model();
  add_persona(m, "all", 1);
  add_ep(m, "GET", "/users/{id}");
  add_param(m, T_USERS, "path", 0, "id", "int", 1.0, "42", 6, "7", 3, "abc", 1,
            NULL);
  add_ep(m, "GET", "/search");
  /* Stored out of order: position decides. */
  add_param(m, T_SEARCH, "query", 1, "sort", "text", 0.8, NULL);
  add_param(m, T_SEARCH, "query", 0, "q", "text", 0.3, "shoes", 3, "hats", 1,
            NULL);
  add_ep(m, "GET", "/g/{i}/{u}/{hx}/{hs}/{d}/{e}/{t}/{w}/{n}/{ip}");
  static const char *const shapes[][2] = {
      {"i", "int"},  {"u", "uuid"},  {"hx", "hex"},  {"hs", "hash"},
      {"d", "date"}, {"e", "email"}, {"t", "token"}, {"w", "word"},
      {"n", "num"},  {"ip", "ip"},
  };
  for (uint32_t i = 0; i < 10; i++)
    add_param(m, T_SHAPES, "path", i, shapes[i][0], shapes[i][1], 1.0, NULL);
  add_ep(m, "GET", "/{path}");
  add_param(m, T_CATCHALL, "path", 0, "path", "path", 1.0, "static/app.js", 3,
            "favicon.ico", 1, NULL);
  add_ep(m, "POST", "/orgs/{org}/repos/{repo}/{name}.csv/{nope}/x");
  add_param(m, T_MULTI, "path", 0, "org", "word", 1.0, "acme", 1, "globex", 1,
            NULL);
  add_param(m, T_MULTI, "path", 1, "repo", "word", 1.0, "api", 2, "web", 1,
            "db", 1, NULL);
  add_param(m, T_MULTI, "path", 2, "name", "word", 1.0, "report", 1, NULL);
  add_param(m, T_MULTI, "query", 0, "page", "int", 0.5, "1", 1, "2", 1, NULL);
  add_param(m, T_MULTI, "query", 1, "tab", "text", 0.5, "a%20b", 1, NULL);
  add_ep(m, "GET", "/r/{id}");
  /* A pool without counts: only its range is known. */
  add_param(m, T_RANGE, "path", 0, "id", "int", 1.0, "500", 0, "600", 0, NULL);
  for (int32_t i = 0; i < T_N; i++) {
    add_tr(m, 0, MODEL_START, i, 1);
    add_tr(m, 0, i, MODEL_END, 1);
    add_tr(m, 0, i, (i + 1) % T_N, 1);
  }
  return m;
}

static void test_target_pool_frequencies(void **state) {
  (void)state;
  struct model *m = target_model();
  struct synth *s = must_synth(m, NULL);
  EXPECT_EQ(synth_endpoints(s), T_N);
  EXPECT_STR(synth_method(s, T_MULTI), "POST");
  EXPECT_STR(synth_template(s, T_USERS), "/users/{id}");
  assert_null(synth_method(s, T_N));
  struct rng r;
  rng_seed(&r, 11);
  char buf[256];
  const int n = 100000;
  int c42 = 0, c7 = 0, cabc = 0;
  for (int i = 0; i < n; i++) {
    size_t len = synth_target(s, &r, T_USERS, buf, sizeof buf);
    EXPECT_EQ(len, strlen(buf));
    if (strcmp(buf, "/users/42") == 0)
      c42++;
    else if (strcmp(buf, "/users/7") == 0)
      c7++;
    else if (strcmp(buf, "/users/abc") == 0)
      cabc++;
    else
      fail_msg("unexpected target \"%s\"", buf);
  }
  EXPECT_NEAR((double)c42 / n, 0.6, 0.01);
  EXPECT_NEAR((double)c7 / n, 0.3, 0.01);
  EXPECT_NEAR((double)cabc / n, 0.1, 0.01);

  /* Catch-all: the pool holds whole paths without their leading '/'. */
  int app = 0;
  for (int i = 0; i < n; i++) {
    synth_target(s, &r, T_CATCHALL, buf, sizeof buf);
    if (strcmp(buf, "/static/app.js") == 0)
      app++;
    else if (strcmp(buf, "/favicon.ico") != 0)
      fail_msg("unexpected catch-all target \"%s\"", buf);
  }
  EXPECT_NEAR((double)app / n, 0.75, 0.01);

  /* Out of range: empty. */
  EXPECT_EQ(synth_target(s, &r, T_N, buf, sizeof buf), 0);
  EXPECT_STR(buf, "");
  synth_free(s);
  model_free(m);
}

static void test_target_query_presence(void **state) {
  (void)state;
  struct model *m = target_model();
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 12);
  char buf[256];
  const int n = 100000;
  int q = 0, sort = 0, shoes = 0;
  for (int i = 0; i < n; i++) {
    synth_target(s, &r, T_SEARCH, buf, sizeof buf);
    const char *p = buf + strlen("/search");
    if (strncmp(buf, "/search", 7) != 0) fail_msg("bad target \"%s\"", buf);
    char sep = '?';
    if (strncmp(p, "?q=", 3) == 0) {
      q++;
      p += 3;
      if (strncmp(p, "shoes", 5) == 0) {
        shoes++;
        p += 5;
      } else if (strncmp(p, "hats", 4) == 0) {
        p += 4;
      } else {
        fail_msg("bad q value in \"%s\"", buf);
      }
      sep = '&';
    }
    if (*p == sep && strcmp(p + 1, "sort=") == 0) {
      sort++;
      p += 6;
    }
    if (*p) fail_msg("unexpected \"%s\" in \"%s\"", p, buf);
  }
  EXPECT_NEAR((double)q / n, 0.3, 0.01);
  EXPECT_NEAR((double)sort / n, 0.8, 0.01);
  EXPECT_NEAR((double)shoes / q, 0.75, 0.01);
  synth_free(s);
  model_free(m);
}

static int matches(const char *re, const char *text) {
  regex_t rx;
  assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
  int ok = regexec(&rx, text, 0, NULL, 0) == 0;
  regfree(&rx);
  return ok;
}

static void test_target_generated_shapes(void **state) {
  (void)state;
  struct model *m = target_model();
  struct synth *s = must_synth(m, NULL);
  static const char *const re[] = {
      "^[0-9]+$",
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
      "^[0-9a-f]{16}$",
      "^[0-9a-f]{32}$",
      "^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$",
      "^u[0-9a-f]{8}@example\\.invalid$",
      "^[A-Za-z0-9_-]{24}$",
      "^x[a-z]{6}$",
      "^[0-9]+\\.[0-9]{2}$",
      "^192\\.0\\.2\\.[0-9]+$",
  };
  struct rng r;
  rng_seed(&r, 13);
  char buf[512], seen_first[512] = "";
  int differ = 0;
  for (int i = 0; i < 200; i++) {
    synth_target(s, &r, T_SHAPES, buf, sizeof buf);
    if (strncmp(buf, "/g/", 3) != 0) fail_msg("bad target \"%s\"", buf);
    if (i == 0) snprintf(seen_first, sizeof seen_first, "%s", buf);
    differ += strcmp(buf, seen_first) != 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", buf + 3);
    char *save = NULL, *seg = strtok_r(copy, "/", &save);
    for (int k = 0; k < 10; k++, seg = strtok_r(NULL, "/", &save)) {
      if (!seg) fail_msg("\"%s\" has too few segments", buf);
      if (!matches(re[k], seg))
        fail_msg("segment %d \"%s\" of \"%s\" does not match %s", k, seg, buf,
                 re[k]);
    }
    assert_null(seg);
    int v = atoi(buf + 3);
    if (v < 1 || v > 100000) fail_msg("int %d outside 1..100000", v);
  }
  EXPECT_U64(differ, >, 190);
  /* An empty pool with a known range draws from the range. */
  for (int i = 0; i < 1000; i++) {
    synth_target(s, &r, T_RANGE, buf, sizeof buf);
    int v = atoi(buf + 3);
    if (strncmp(buf, "/r/", 3) != 0 || v < 500 || v > 600)
      fail_msg("\"%s\" outside /r/500../r/600", buf);
  }
  synth_free(s);
  model_free(m);
}

static void test_target_several_params(void **state) {
  (void)state;
  struct model *m = target_model();
  struct synth *s = must_synth(m, NULL);
  struct rng r;
  rng_seed(&r, 14);
  char buf[256];
  const int n = 100000;
  int acme = 0, api = 0, page = 0, tab = 0;
  for (int i = 0; i < n; i++) {
    synth_target(s, &r, T_MULTI, buf, sizeof buf);
    char org[16], repo[16], rest[128] = "";
    if (sscanf(buf, "/orgs/%15[^/]/repos/%15[^/]/report.csv/{nope}/x%127s", org,
               repo, rest) < 2)
      fail_msg("bad target \"%s\"", buf);
    if (!strstr(buf, "/report.csv/{nope}/x")) fail_msg("bad \"%s\"", buf);
    acme += strcmp(org, "acme") == 0;
    api += strcmp(repo, "api") == 0;
    if (strcmp(org, "acme") && strcmp(org, "globex"))
      fail_msg("bad org in \"%s\"", buf);
    if (strcmp(repo, "api") && strcmp(repo, "web") && strcmp(repo, "db"))
      fail_msg("bad repo in \"%s\"", buf);
    if (strcmp(rest, "") && strcmp(rest, "?page=1") &&
        strcmp(rest, "?page=2") && strcmp(rest, "?tab=a%20b") &&
        strcmp(rest, "?page=1&tab=a%20b") && strcmp(rest, "?page=2&tab=a%20b"))
      fail_msg("bad query \"%s\" in \"%s\"", rest, buf);
    page += strstr(rest, "page=") != NULL;
    tab += strstr(rest, "tab=") != NULL;
  }
  EXPECT_NEAR((double)acme / n, 0.5, 0.01);
  EXPECT_NEAR((double)api / n, 0.5, 0.01);
  EXPECT_NEAR((double)page / n, 0.5, 0.01);
  EXPECT_NEAR((double)tab / n, 0.5, 0.01);
  synth_free(s);
  model_free(m);
}

static void test_target_truncation(void **state) {
  (void)state;
  struct model *m = target_model();
  struct synth *s = must_synth(m, NULL);
  static const uint32_t eps[] = {T_SHAPES, T_MULTI, T_CATCHALL, T_SEARCH};
  for (size_t k = 0; k < sizeof eps / sizeof eps[0]; k++) {
    for (size_t cap = 1; cap <= 64; cap++) {
      for (uint64_t seed = 0; seed < 8; seed++) {
        struct rng r;
        char full[512];
        rng_seed(&r, seed);
        size_t flen = synth_target(s, &r, eps[k], full, sizeof full);
        uint64_t after_full = rng_next(&r);
        /* Exactly cap bytes: ASan reports any write past them. */
        char *buf = malloc(cap);
        assert_non_null(buf);
        memset(buf, '#', cap);
        rng_seed(&r, seed);
        size_t len = synth_target(s, &r, eps[k], buf, cap);
        size_t want = flen < cap - 1 ? flen : cap - 1;
        if (len != want || buf[len] != '\0' || memcmp(buf, full, len) != 0)
          fail_msg("cap %zu: \"%s\" (%zu) is not a prefix of \"%s\"", cap, buf,
                   len, full);
        /* The plan does not depend on the buffer size. */
        EXPECT_U64(rng_next(&r), ==, after_full);
        free(buf);
      }
    }
  }
  /* cap 0 writes nothing. */
  char one = '#';
  struct rng r;
  rng_seed(&r, 1);
  EXPECT_EQ(synth_target(s, &r, T_USERS, &one, 0), 0);
  EXPECT_EQ(one, '#');
  synth_free(s);
  model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transition_frequencies),
      cmocka_unit_test(test_session_length),
      cmocka_unit_test(test_step_cap),
      cmocka_unit_test(test_think_times),
      cmocka_unit_test(test_think_without_fallbacks),
      cmocka_unit_test(test_same_seed_same_plan),
      cmocka_unit_test(test_personas),
      cmocka_unit_test(test_arrivals_dense),
      cmocka_unit_test(test_nodata),
      cmocka_unit_test(test_user_agents),
      cmocka_unit_test(test_persona_user_agents),
      cmocka_unit_test(test_target_pool_frequencies),
      cmocka_unit_test(test_target_query_presence),
      cmocka_unit_test(test_target_generated_shapes),
      cmocka_unit_test(test_target_several_params),
      cmocka_unit_test(test_target_truncation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
