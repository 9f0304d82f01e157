/* Tests of the sessionizer with the learner behind it: sessions split on
 * inactivity and on the length cap, transitions with START/END, think time
 * from the end of the previous response, de-quantised whole-second times,
 * late events, distinct clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include <string.h>

#include "learn.h"
#include "logrec.h"
#include "model.h"
#include "sessionize.h"

#define S 1000000LL /* one second in us */

struct fixture {
  struct learn *learn;
  struct sessionizer *sess;
  struct model *model;
};

static void start(struct fixture *f, uint32_t max_requests) {
  struct learn_opts lo = {.salt = {1, 2}};
  assert_int_equal(learn_new(&lo, &f->learn), 0);
  struct sess_opts so = {
      .idle_us = 30 * 60 * S, .max_requests = max_requests, .seed = 7};
  assert_int_equal(sess_new(&so, f->learn, &f->sess), 0);
  f->model = NULL;
}

static void feed(struct fixture *f, uint64_t client, int64_t ts,
                 const char *path, int64_t lat, int is_end, uint32_t res) {
  struct logrec r;
  logrec_clear(&r);
  r.method.p = "GET";
  r.method.len = 3;
  r.path.p = path;
  r.path.len = strlen(path);
  r.status = 200;
  r.ts_us = ts;
  r.latency_us = lat;
  uint32_t ep;
  assert_int_equal(learn_request(f->learn, &r, &ep), 0);
  struct sess_event ev = {.ts_us = ts,
                          .lat_us = lat,
                          .client = client,
                          .ep = ep,
                          .res_us = res,
                          .ts_is_end = (uint8_t)is_end};
  assert_int_equal(sess_feed(f->sess, &ev), 0);
}

static void finish(struct fixture *f) {
  assert_int_equal(sess_flush(f->sess), 0);
  assert_int_equal(model_new(&f->model), 0);
  assert_int_equal(learn_finish(f->learn, f->model), 0);
}

static void stop(struct fixture *f) {
  model_free(f->model);
  sess_free(f->sess);
  learn_free(f->learn);
}

static int32_t ep_id(const struct model *m, const char *templ) {
  for (size_t i = 0; i < m->nendpoints; i++)
    if (strcmp(m->endpoints[i].templ, templ) == 0) return (int32_t)i;
  fail_msg("endpoint %s not in the model", templ);
  return -100;
}

static const struct model_transition *find(const struct model *m, int32_t from,
                                           int32_t to) {
  for (size_t i = 0; i < m->ntransitions; i++)
    if (m->transitions[i].from == from && m->transitions[i].to == to)
      return &m->transitions[i];
  return NULL;
}

static uint64_t count_of(const struct model *m, int32_t from, int32_t to) {
  const struct model_transition *t = find(m, from, to);
  return t ? t->count : 0;
}

static void test_idle_timeout_and_transitions(void **state) {
  (void)state;
  struct fixture f;
  start(&f, 0);
  int64_t t0 = 1700000000LL * S;
  feed(&f, 1, t0, "/a", -1, 0, 1);
  feed(&f, 2, t0 + 5 * S, "/a", -1, 0, 1);
  feed(&f, 1, t0 + 10 * S, "/b", -1, 0, 1);
  feed(&f, 1, t0 + 20 * S, "/c", -1, 0, 1);
  feed(&f, 1, t0 + 20 * S + 31 * 60 * S, "/a", -1, 0, 1); /* new session */
  finish(&f);
  const struct model *m = f.model;
  int32_t a = ep_id(m, "/a"), b = ep_id(m, "/b"), c = ep_id(m, "/c");
  assert_int_equal(learn_sessions(f.learn), 3);
  assert_int_equal(sess_clients(f.sess), 2);
  assert_int_equal(count_of(m, MODEL_START, a), 3);
  assert_int_equal(count_of(m, a, b), 1);
  assert_int_equal(count_of(m, b, c), 1);
  assert_int_equal(count_of(m, c, MODEL_END), 1);
  assert_int_equal(count_of(m, a, MODEL_END), 2);
  assert_int_equal(count_of(m, a, c), 0);
  const struct model_transition *ab = find(m, a, b);
  assert_true(ab->think.has);
  assert_int_equal(ab->think.h.min, 10 * S);
  /* Session lengths 3, 1, 1 and durations 20 s, 0, 0. */
  const struct model_persona *p = &m->personas[0];
  assert_int_equal(p->sessions, 3);
  assert_int_equal(p->length.h.max, 3);
  assert_int_equal(p->length.h.min, 1);
  assert_int_equal(p->duration.h.max, 20 * S);
  assert_int_equal(p->duration.h.zeros, 2);
  /* Arrivals: two sessions in the first minute, one 31 minutes later. */
  uint64_t total = 0;
  for (size_t i = 0; i < m->narrivals; i++) total += m->arrivals[i].sessions;
  assert_int_equal(total, 3);
  assert_int_equal(m->arrivals[0].minute, t0 / (60 * S));
  assert_int_equal(m->arrivals[0].sessions, 2);
  stop(&f);
}

static void test_think_from_response_end(void **state) {
  (void)state;
  struct fixture f;
  start(&f, 0);
  int64_t t0 = 1700000000LL * S;
  /* nginx logs the end time: request 2 started at 30 s - 2 s = 28 s; the
   * first response ended at 10 s, so the user thought for 18 s. */
  feed(&f, 1, t0 + 10 * S, "/a", 500000, 1, 1);
  feed(&f, 1, t0 + 30 * S, "/b", 2 * S, 1, 1);
  /* Apache logs the start time: the response of /b ended at 30 s + 2 s. */
  feed(&f, 2, t0 + 10 * S, "/a", 3 * S, 0, 1);
  feed(&f, 2, t0 + 20 * S, "/c", 1000, 0, 1);
  finish(&f);
  const struct model *m = f.model;
  int32_t a = ep_id(m, "/a"), b = ep_id(m, "/b"), c = ep_id(m, "/c");
  assert_int_equal(find(m, a, b)->think.h.min, 18 * S);
  assert_int_equal(find(m, a, c)->think.h.min, 7 * S);
  assert_int_equal(sess_think_from_end(f.sess), 2);
  stop(&f);
}

static void test_whole_second_dequantised(void **state) {
  (void)state;
  struct fixture f;
  start(&f, 0);
  int64_t t0 = 1700000000LL * S;
  /* Many sessions with a logged gap of 10 s and of 0 s. */
  for (uint64_t c = 0; c < 2000; c++) {
    int64_t t = t0 + (int64_t)c * 3600 * S;
    feed(&f, c, t, "/a", -1, 0, 1000000);
    feed(&f, c, t + 10 * S, "/b", -1, 0, 1000000);
    feed(&f, c, t + 10 * S, "/c", -1, 0, 1000000);
  }
  finish(&f);
  const struct model *m = f.model;
  int32_t a = ep_id(m, "/a"), b = ep_id(m, "/b"), c = ep_id(m, "/c");
  const struct hist *ab = &find(m, a, b)->think.h;
  const struct hist *bc = &find(m, b, c)->think.h;
  /* The true gap lies in (9 s, 11 s), centred on 10 s. */
  assert_true(ab->min > 9 * S && ab->max < 11 * S);
  double mean = hist_mean(ab);
  assert_true(mean > 9.9 * S && mean < 10.1 * S);
  assert_true(ab->max - ab->min > S); /* spread, not a spike */
  /* Same-second requests: the later one in the rest of the second after
   * the earlier (itself anywhere in it): between 0 and 1 s, mean 1/4 s. */
  assert_true(bc->max < (uint64_t)S);
  double m2 = hist_mean(bc);
  assert_true(m2 > 0.22 * S && m2 < 0.28 * S);
  /* Durations are differences of the same spread times: they add up the
   * think times, and are spread too (not whole seconds). */
  const struct hist *d = &m->personas[0].duration.h;
  double md = hist_mean(d);
  assert_true(fabs(md - (mean + m2)) < 0.002 * md);
  assert_true(d->min > 9 * S && d->max < 12 * S && d->max - d->min > S);
  stop(&f);
}

static void test_late_event_and_length_cap(void **state) {
  (void)state;
  struct fixture f;
  start(&f, 3);
  int64_t t0 = 1700000000LL * S;
  feed(&f, 1, t0 + 100 * S, "/a", -1, 0, 1);
  feed(&f, 1, t0 + 90 * S, "/b", -1, 0, 1); /* out of order */
  feed(&f, 1, t0 + 110 * S, "/a", -1, 0, 1);
  feed(&f, 1, t0 + 120 * S, "/b", -1, 0, 1); /* 4th: over the cap of 3 */
  feed(&f, 1, t0 + 130 * S, "/a", -1, 0, 1);
  finish(&f);
  const struct model *m = f.model;
  int32_t a = ep_id(m, "/a"), b = ep_id(m, "/b");
  assert_int_equal(learn_sessions(f.learn), 2);
  assert_int_equal(sess_split(f.sess), 1);
  assert_int_equal(find(m, a, b)->think.h.zeros, 1); /* clamped at 0 */
  assert_int_equal(count_of(m, MODEL_START, a), 1);
  assert_int_equal(count_of(m, MODEL_START, b), 1);
  stop(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idle_timeout_and_transitions),
      cmocka_unit_test(test_think_from_response_end),
      cmocka_unit_test(test_whole_second_dequantised),
      cmocka_unit_test(test_late_event_and_length_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
