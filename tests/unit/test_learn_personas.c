/* Tests of personas end to end through the sessionizer and the learner:
 * two kinds of users are told apart (every persona holds one kind's
 * endpoints only), the personas add up to the one-persona model exactly
 * (transitions, sessions, arrivals), each persona counts its sessions by
 * user agent and holds only its kind's user agents (a value longer than
 * the pool keeps included), --personas K is obeyed, the result is
 * the same for the same seed, and a temporary file that cannot be written
 * or too few sessions give one persona, "all". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "learn.h"
#include "logrec.h"
#include "model.h"
#include "rng.h"
#include "sessionize.h"
#include "testutil.h"

#define S 1000000LL

struct run {
  struct learn *learn;
  struct sessionizer *sess;
  struct model *model;
};

static void feed(struct run *r, uint64_t client, int64_t ts, const char *method,
                 const char *path, int status, const char *ua) {
  struct logrec rec;
  logrec_clear(&rec);
  rec.ua.p = ua;
  rec.ua.len = strlen(ua);
  rec.method.p = method;
  rec.method.len = strlen(method);
  rec.path.p = path;
  rec.path.len = strlen(path);
  rec.status = status;
  rec.ts_us = ts;
  rec.latency_us = -1;
  uint32_t ep;
  assert_int_equal(learn_request(r->learn, &rec, &ep), 0);
  struct sess_event ev = {
      .ts_us = ts,
      .lat_us = -1,
      .client = client,
      .ep = ep,
      .res_us = 1,
      .ua = learn_ua_key(ua, rec.ua.len, learn_ua_hash(ua, rec.ua.len)),
      .status = (uint16_t)status};
  assert_int_equal(sess_feed(r->sess, &ev), 0);
}

static const char *const shop_paths[] = {"/shop/list", "/shop/item",
                                         "/shop/cart", "/shop/search"};
static const char *const api_paths[] = {"/api/v1/orders", "/api/v1/stock"};
static const char *const api_uas[] = {"python-requests/2.32.3",
                                      "Go-http-client/1.1"};
static char long_ua[400]; /* longer than the pool keeps of a value */
static const char *const shop_uas[] = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1",
    long_ua};

/* n sessions of each kind, interleaved in time (the sessionizer holds many
 * live sessions at once): people reading the shop with long irregular
 * pauses, and API clients writing orders every 200 ms, some failing. */
static void run_input(struct run *r, unsigned personas, const char *dir,
                      size_t n, uint64_t seed) {
  struct learn_opts lo = {
      .salt = {1, 2}, .personas = personas, .spill_dir = dir, .seed = seed};
  assert_int_equal(learn_new(&lo, &r->learn), 0);
  struct sess_opts so = {.idle_us = 30 * 60 * S, .seed = 7};
  assert_int_equal(sess_new(&so, r->learn, &r->sess), 0);
  struct rng g;
  rng_seed(&g, 99);
  int64_t t0 = 1700000000LL * S;
  memset(long_ua, 'x', sizeof long_ua - 1);
  memcpy(long_ua, "Mozilla/5.0 ", 12);
  /* Each round starts 2n sessions a few seconds apart and plays them to
   * the end before the next round, an hour later. */
  for (size_t round = 0; round < 4; round++) {
    int64_t base = t0 + (int64_t)round * 7200 * S;
    for (size_t i = 0; i < 2 * n / 4; i++) {
      uint64_t client = 1 + round * 100000 + i; /* 0: no key */
      int api = (int)(i % 2);
      int64_t t = base + (int64_t)i * 3 * S;
      uint32_t len = 4 + (uint32_t)rng_below(&g, 9);
      const char *ua = api ? api_uas[rng_below(&g, 2)] : shop_uas[i % 3];
      for (uint32_t j = 0; j < len; j++) {
        if (api) {
          int st = rng_below(&g, 5) == 0 ? 500 : 201;
          feed(r, client, t, j % 2 ? "GET" : "POST", api_paths[j % 2], st, ua);
          t += 200000;
        } else {
          feed(r, client, t, "GET", shop_paths[rng_below(&g, 4)], 200, ua);
          /* 1 s .. 60 s, log-uniform: people pause irregularly. */
          t += (int64_t)(exp(rng_double(&g) * log(60.0)) * S);
        }
      }
    }
  }
  assert_int_equal(sess_flush(r->sess), 0);
  assert_int_equal(model_new(&r->model), 0);
  assert_int_equal(learn_finish(r->learn, r->model), 0);
}

static void stop(struct run *r) {
  model_free(r->model);
  sess_free(r->sess);
  learn_free(r->learn);
}

static int is_api(const struct model *m, int32_t ep) {
  return strncmp(m->endpoints[ep].templ, "/api/", 5) == 0;
}

/* Every persona's requests go to one kind's endpoints; returns how many
 * personas are API ones. */
static size_t expect_pure(const struct model *m) {
  size_t api = 0;
  for (uint32_t c = 0; c < m->npersonas; c++) {
    int kind = -1;
    for (size_t i = 0; i < m->ntransitions; i++) {
      const struct model_transition *t = &m->transitions[i];
      if (t->persona != c || t->to < 0) continue;
      if (kind < 0) kind = is_api(m, t->to);
      if (kind != is_api(m, t->to))
        fail_msg("persona %s mixes %s with other endpoints",
                 m->personas[c].name, m->endpoints[t->to].templ);
    }
    api += kind == 1;
    if (kind == 1) assert_int_equal(strncmp(m->personas[c].name, "api-", 4), 0);
  }
  return api;
}

/* Transition counts summed over personas, by (from, to) template. */
static uint64_t total(const struct model *m, const char *from, const char *to) {
  uint64_t n = 0;
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    const char *f = t->from < 0 ? "START" : m->endpoints[t->from].templ;
    const char *g = t->to < 0 ? "END" : m->endpoints[t->to].templ;
    if (strcmp(f, from) == 0 && strcmp(g, to) == 0) n += t->count;
  }
  return n;
}

static uint64_t sum_arrivals(const struct model *m) {
  uint64_t n = 0;
  for (size_t i = 0; i < m->narrivals; i++) n += m->arrivals[i].sessions;
  return n;
}

static void test_two_kinds(void **state) {
  (void)state;
  char dir[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  struct run one, many;
  run_input(&one, 1, dir, 800, 1);
  run_input(&many, 0, dir, 800, 1);
  const struct model *a = one.model, *b = many.model;
  EXPECT_EQ(a->npersonas, 1);
  EXPECT_STR(a->personas[0].name, "all");
  EXPECT_U64(b->npersonas, >=, 2);
  EXPECT_EQ(learn_spill_error(many.learn), 0);
  EXPECT_U64(learn_spill_bytes(many.learn), >, 0);
  size_t api = expect_pure(b);
  EXPECT_U64(api, >=, 1);
  EXPECT_U64(api, <, b->npersonas);

  /* The personas partition the sessions: the sums are the whole. */
  double w = 0;
  uint64_t sessions = 0, lengths = 0;
  for (uint32_t c = 0; c < b->npersonas; c++) {
    w += b->personas[c].weight;
    sessions += b->personas[c].sessions;
    lengths += b->personas[c].length.h.n;
    if (c) EXPECT_U64(b->personas[c - 1].weight, >=, b->personas[c].weight);
  }
  assert_float_equal(w, 1.0, 1e-9);
  EXPECT_EQ(sessions, a->personas[0].sessions);
  EXPECT_EQ(lengths, a->personas[0].length.h.n);
  EXPECT_EQ(sum_arrivals(b), sum_arrivals(a));
  EXPECT_EQ(b->nendpoints, a->nendpoints);
  const char *names[] = {"START",         "/shop/list",   "/shop/item",
                         "/shop/cart",    "/shop/search", "/api/v1/orders",
                         "/api/v1/stock", "END"};
  for (size_t i = 0; i < 8; i++)
    for (size_t j = 0; j < 8; j++)
      if (total(a, names[i], names[j]) != total(b, names[i], names[j]))
        fail_msg("%s -> %s: %llu in one persona, %llu over all", names[i],
                 names[j], (unsigned long long)total(a, names[i], names[j]),
                 (unsigned long long)total(b, names[i], names[j]));
  /* Think-time fallbacks per persona: each has its pooled one. */
  for (uint32_t c = 0; c < b->npersonas; c++) {
    int pooled = 0;
    for (size_t i = 0; i < b->nbackoffs; i++)
      pooled += b->backoffs[i].persona == c && b->backoffs[i].from == MODEL_ANY;
    EXPECT_EQ(pooled, 1);
  }
  /* Durations by length (session_shape), per persona: each persona's
   * classes hold all its sessions, and the lengths fit their class. */
  for (uint32_t c = 0; c < b->npersonas; c++) {
    uint64_t n = 0;
    for (size_t i = 0; i < b->nshapes; i++) {
      const struct model_shape *x = &b->shapes[i];
      if (x->persona != c) continue;
      n += x->duration.n;
      uint32_t lo, hi;
      model_length_class(x->lo, &lo, &hi);
      EXPECT_EQ(lo, x->lo);
      EXPECT_EQ(hi, x->hi);
    }
    EXPECT_U64(n, ==, b->personas[c].sessions);
  }
  /* User agents by persona: every session counted (all five are in the
   * pool, the long one cut as the pool cuts it), each persona only with
   * its kind's; none in the one-persona model (replay uses the pool). */
  EXPECT_EQ(a->npersona_uas, 0);
  EXPECT_EQ(b->nuas, 5);
  for (uint32_t c = 0; c < b->npersonas; c++) {
    uint64_t n = 0;
    int api_persona = strncmp(b->personas[c].name, "api-", 4) == 0;
    for (size_t i = 0; i < b->npersona_uas; i++) {
      const struct model_persona_ua *x = &b->persona_uas[i];
      if (x->persona != c) continue;
      n += x->count;
      const char *v = b->uas[x->ua].value;
      int api_ua = strncmp(v, "Mozilla/", 8) != 0;
      if (api_ua != api_persona)
        fail_msg("persona %s has %" PRIu64 " sessions of %.40s",
                 b->personas[c].name, x->count, v);
      if (i) EXPECT_U64(b->persona_uas[i - 1].persona, <=, x->persona);
    }
    EXPECT_U64(n, ==, b->personas[c].sessions);
  }
  stop(&one);
  stop(&many);
  testutil_rmdir(dir);
}

static void test_forced_and_stable(void **state) {
  (void)state;
  char dir[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  struct run x, y;
  run_input(&x, 2, dir, 800, 5);
  run_input(&y, 2, dir, 800, 5);
  EXPECT_EQ(x.model->npersonas, 2);
  EXPECT_EQ(expect_pure(x.model), 1);
  EXPECT_EQ(y.model->npersonas, 2);
  for (uint32_t c = 0; c < 2; c++) {
    EXPECT_STR(x.model->personas[c].name, y.model->personas[c].name);
    EXPECT_EQ(x.model->personas[c].sessions, y.model->personas[c].sessions);
  }
  EXPECT_EQ(x.model->ntransitions, y.model->ntransitions);
  for (size_t i = 0; i < x.model->ntransitions; i++)
    EXPECT_EQ(x.model->transitions[i].count, y.model->transitions[i].count);
  stop(&x);
  stop(&y);
  testutil_rmdir(dir);
}

static void test_one_persona_fallbacks(void **state) {
  (void)state;
  /* The folder for the temporary file does not exist: one persona, and
   * the learner says why. */
  struct run r;
  run_input(&r, 0, "/nonexistent-mimic-folder", 800, 1);
  EXPECT_EQ(learn_spill_error(r.learn), -ENOENT);
  EXPECT_EQ(r.model->npersonas, 1);
  EXPECT_STR(r.model->personas[0].name, "all");
  EXPECT_EQ(r.model->personas[0].sessions, learn_sessions(r.learn));
  stop(&r);
  /* Too few sessions to tell behaviours apart. */
  char dir[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  run_input(&r, 0, dir, 60, 1);
  EXPECT_EQ(learn_spill_error(r.learn), 0);
  EXPECT_EQ(r.model->npersonas, 1);
  EXPECT_STR(r.model->personas[0].name, "all");
  stop(&r);
  testutil_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_kinds),
      cmocka_unit_test(test_forced_and_stable),
      cmocka_unit_test(test_one_persona_fallbacks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
