/* Tests of fault selection: parsing of --faults, shares of the kinds over
 * many draws, seed stability, and what each kind expects of the target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <math.h>

#include "err.h"
#include "faults.h"
#include "rng.h"

static void test_parse(void **state) {
  (void)state;
  struct faults f;
  char err[256] = "";
  EXPECT_EQ(faults_parse(&f, 15, "bad-login:3,unknown-id,timeout:0.5", err,
                         sizeof err),
            0);
  EXPECT_EQ(faults_on(&f), 1);
  /* 15% split 3 : 1 : 0.5 */
  if (fabs(faults_share(&f, FAULT_BAD_LOGIN) - 0.15 * 3 / 4.5) > 1e-12 ||
      fabs(faults_share(&f, FAULT_UNKNOWN_ID) - 0.15 / 4.5) > 1e-12 ||
      fabs(faults_share(&f, FAULT_TIMEOUT) - 0.15 * 0.5 / 4.5) > 1e-12 ||
      faults_share(&f, FAULT_ABORT) != 0)
    fail_msg("shares %g %g %g %g", faults_share(&f, FAULT_BAD_LOGIN),
             faults_share(&f, FAULT_UNKNOWN_ID),
             faults_share(&f, FAULT_TIMEOUT), faults_share(&f, FAULT_ABORT));
  /* Every kind by default. */
  EXPECT_EQ(faults_parse(&f, 7, NULL, err, sizeof err), 0);
  for (int k = 1; k < FAULT_KINDS; k++)
    if (fabs(faults_share(&f, k) - 0.01) > 1e-12)
      fail_msg("default share of %s: %g", faults_name(k), faults_share(&f, k));
  /* Off. */
  EXPECT_EQ(faults_parse(&f, 0, NULL, err, sizeof err), 0);
  EXPECT_EQ(faults_on(&f), 0);
  static const char *const bad[] = {"nope", "timeout:x", "timeout:-1",
                                    "timeout,timeout", "abort:"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    EXPECT_EQ(faults_parse(&f, 5, bad[i], err, sizeof err), ERR_USAGE);
    if (!err[0]) fail_msg("no message for %s", bad[i]);
  }
  EXPECT_EQ(faults_parse(&f, 101, NULL, err, sizeof err), ERR_USAGE);
  EXPECT_EQ(faults_parse(&f, 5, "timeout:0", err, sizeof err), ERR_USAGE);
}

static void test_drop(void **state) {
  (void)state;
  struct faults f;
  char err[256] = "";
  /* A default kind the run cannot play is dropped quietly ... */
  EXPECT_EQ(faults_parse(&f, 14, NULL, err, sizeof err), 0);
  EXPECT_EQ(faults_drop(&f, FAULT_BAD_LOGIN, "no login", err, sizeof err), 0);
  EXPECT_EQ(faults_share(&f, FAULT_BAD_LOGIN) == 0, 1);
  if (fabs(faults_share(&f, FAULT_ABORT) - 0.14 / 6) > 1e-12)
    fail_msg("abort share %g", faults_share(&f, FAULT_ABORT));
  /* ... one that was asked for is an error that says why. */
  EXPECT_EQ(faults_parse(&f, 14, "bad-login,abort", err, sizeof err), 0);
  EXPECT_EQ(
      faults_drop(&f, FAULT_BAD_LOGIN, "no login endpoint", err, sizeof err),
      ERR_USAGE);
  if (!strstr(err, "no login endpoint")) fail_msg("message: %s", err);
}

static void test_pick_shares(void **state) {
  (void)state;
  struct faults f;
  char err[256];
  EXPECT_EQ(faults_parse(&f, 15, "bad-login:4,unknown-id:6,invalid-body:5", err,
                         sizeof err),
            0);
  struct rng r;
  rng_seed(&r, 42);
  enum { N = 200000 };
  uint64_t n[FAULT_KINDS] = {0};
  for (int i = 0; i < N; i++) n[faults_pick(&f, &r)]++;
  for (int k = 0; k < FAULT_KINDS; k++) {
    double want = k ? faults_share(&f, k) : 0.85;
    double got = (double)n[k] / N;
    /* 5 standard deviations of a binomial share. */
    double tol = 5 * sqrt(want * (1 - want) / N) + 1e-9;
    if (fabs(got - want) > tol)
      fail_msg("%s: %.4f, asked %.4f", k ? faults_name(k) : "none", got, want);
  }
  EXPECT_U64(n[FAULT_TIMEOUT] + n[FAULT_ABORT] + n[FAULT_NO_AUTH], ==, 0);
  /* The same stream gives the same choices. */
  struct rng a, b;
  rng_seed(&a, 7);
  rng_seed(&b, 7);
  for (int i = 0; i < 1000; i++)
    EXPECT_EQ(faults_pick(&f, &a), faults_pick(&f, &b));
  /* No fault, no draw: a run without faults keeps its random stream. */
  EXPECT_EQ(faults_parse(&f, 0, NULL, err, sizeof err), 0);
  rng_seed(&a, 9);
  rng_seed(&b, 9);
  EXPECT_EQ(faults_pick(&f, &a), FAULT_NONE);
  EXPECT_U64(rng_next(&a), ==, rng_next(&b));
}

static void test_expected(void **state) {
  (void)state;
  struct engine_result r = {.status = 401};
  EXPECT_EQ(faults_expected(FAULT_BAD_LOGIN, &r), 1);
  EXPECT_EQ(faults_expected(FAULT_NO_AUTH, &r), 1);
  EXPECT_EQ(faults_expected(FAULT_UNKNOWN_ID, &r), 0);
  r.status = 404;
  EXPECT_EQ(faults_expected(FAULT_UNKNOWN_ID, &r), 1);
  EXPECT_EQ(faults_expected(FAULT_INVALID_BODY, &r), 1);
  r.status = 500;
  EXPECT_EQ(faults_expected(FAULT_INVALID_BODY, &r), 0);
  r.status = 200;
  EXPECT_EQ(faults_expected(FAULT_EXPIRED_TOKEN, &r), 0);
  r = (struct engine_result){.err = ENGINE_E_TIMEOUT};
  EXPECT_EQ(faults_expected(FAULT_TIMEOUT, &r), 1);
  EXPECT_EQ(faults_expected(FAULT_ABORT, &r), 0);
  r.err = ENGINE_E_ABORT;
  EXPECT_EQ(faults_expected(FAULT_ABORT, &r), 1);
  for (int k = 1; k < FAULT_KINDS; k++) {
    const char *n = faults_name(k);
    EXPECT_EQ(faults_kind(n, strlen(n)), k);
  }
  EXPECT_EQ(faults_name(FAULT_NONE) == NULL, 1);
  EXPECT_STR(faults_name(FAULT_EXPIRED_TOKEN), "expired-token");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_drop),
      cmocka_unit_test(test_pick_shares),
      cmocka_unit_test(test_expected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
