/* Tests of the mock's answers (no socket): statuses follow each endpoint's
 * learned mix, delays its learned response times divided by the time
 * scale, sizes its learned sizes; unknown paths and methods get 404; an
 * endpoint without learned statuses answers 200. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "err.h"
#include "hist.h"
#include "mock.h"
#include "model.h"
#include "rng.h"
#include "testutil.h"

static struct model_endpoint *add_ep(struct model *m, const char *method,
                                     const char *templ) {
  struct model_endpoint *e = model_push(m, endpoints);
  assert_non_null(e);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = 100;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  return e;
}

static struct model *model(void) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  struct model_endpoint *e = add_ep(m, "GET", "/users/{id}");
  e->status = calloc(3, sizeof *e->status);
  e->status[0] = (struct model_status){200, 70};
  e->status[1] = (struct model_status){404, 20};
  e->status[2] = (struct model_status){503, 10};
  e->nstatus = 3;
  e->latency.has = 1;
  hist_add(&e->latency.h, 100000, 50); /* 100 ms */
  hist_add(&e->latency.h, 300000, 50); /* 300 ms */
  e->resp_bytes.has = 1;
  hist_add(&e->resp_bytes.h, 1000, 100);
  add_ep(m, "POST", "/login"); /* nothing learned but the path */
  return m;
}

static struct mock_answer ask(const struct mock_table *t, struct rng *r,
                              const char *method, const char *path) {
  struct mock_answer a;
  mock_table_answer(t, r, method, strlen(method), path, strlen(path), &a);
  return a;
}

static void test_answers(void **state) {
  (void)state;
  struct model *m = model();
  struct mock_table *t;
  char err[128];
  assert_int_equal(mock_table_new(m, 1, &t, err, sizeof err), 0);
  struct rng r;
  rng_seed(&r, 1);
  int n200 = 0, n404 = 0, n503 = 0, fast = 0;
  const int n = 20000;
  for (int i = 0; i < n; i++) {
    struct mock_answer a = ask(t, &r, "GET", "/users/42");
    EXPECT_EQ(a.ep, 0);
    n200 += a.status == 200;
    n404 += a.status == 404;
    n503 += a.status == 503;
    /* Within a bucket (about 2% wide) of the learned values. */
    assert_true(fabs((double)a.bytes - 1000) <= 25);
    int is_fast = fabs((double)a.delay_us - 100000) <= 2500;
    assert_true(is_fast || fabs((double)a.delay_us - 300000) <= 7500);
    fast += is_fast;
  }
  EXPECT_EQ(n200 + n404 + n503, n);
  assert_true(fabs(n200 / (double)n - 0.7) < 0.015);
  assert_true(fabs(n404 / (double)n - 0.2) < 0.015);
  assert_true(fabs(n503 / (double)n - 0.1) < 0.015);
  assert_true(fabs(fast / (double)n - 0.5) < 0.02);

  /* Nothing learned but the path: 200, no delay, no body. */
  struct mock_answer a = ask(t, &r, "POST", "/login");
  EXPECT_EQ(a.ep, 1);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.delay_us, 0);
  EXPECT_EQ(a.bytes, 0);
  /* Unknown: 404 at once. */
  a = ask(t, &r, "GET", "/login");
  EXPECT_EQ(a.ep, -1);
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.delay_us, 0);
  a = ask(t, &r, "GET", "/users/abc");
  EXPECT_EQ(a.status, 404);
  a = ask(t, &r, "GET", "/");
  EXPECT_EQ(a.status, 404);
  mock_table_free(t);
  model_free(m);
}

static void test_time_scale(void **state) {
  (void)state;
  struct model *m = model();
  struct mock_table *t;
  char err[128];
  assert_int_equal(mock_table_new(m, 10, &t, err, sizeof err), 0);
  struct rng r;
  rng_seed(&r, 2);
  for (int i = 0; i < 1000; i++) {
    struct mock_answer a = ask(t, &r, "GET", "/users/7");
    assert_true(fabs((double)a.delay_us - 10000) <= 250 ||
                fabs((double)a.delay_us - 30000) <= 750);
  }
  mock_table_free(t);
  model_free(m);
}

static void test_empty(void **state) {
  (void)state;
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  struct mock_table *t = NULL;
  char err[128] = "";
  EXPECT_EQ(mock_table_new(m, 1, &t, err, sizeof err), ERR_NODATA);
  assert_null(t);
  assert_true(err[0] != '\0');
  mock_table_free(NULL);
  model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers),
      cmocka_unit_test(test_time_scale),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
