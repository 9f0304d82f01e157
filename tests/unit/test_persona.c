/* Tests of persona clustering and naming: k is recovered from synthetic
 * clusters of known structure (a single blob gives one), forced k, tiny
 * samples, folding of tiny clusters, determinism; the session features;
 * names from distinctive endpoints (unique, [a-z0-9-], stable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "persona.h"
#include "rng.h"
#include "testutil.h"

/* A standard normal draw (Box-Muller). */
static double gauss(struct rng *r) {
  double u = rng_double(r), v = rng_double(r);
  return sqrt(-2 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

/* n points in d dims around nb centres; point i belongs to blob lab[i].
 * Blob b has centre 2*b on every axis (so centres are 2*sqrt(d) apart),
 * spread sd, and share[b] of the points. */
static float *blobs(size_t n, uint32_t d, uint32_t nb, const double *share,
                    double sd, uint64_t seed, uint32_t *lab) {
  float *x = malloc(n * d * sizeof *x);
  assert_non_null(x);
  struct rng r;
  rng_seed(&r, seed);
  size_t i = 0;
  for (uint32_t b = 0; b < nb; b++) {
    size_t cnt = b + 1 == nb ? n - i : (size_t)(share[b] * (double)n);
    for (size_t j = 0; j < cnt; j++, i++) {
      for (uint32_t q = 0; q < d; q++)
        x[i * d + q] = (float)(2.0 * b + sd * gauss(&r));
      lab[i] = b;
    }
  }
  return x;
}

/* Every blob lands in one cluster and no cluster mixes blobs. */
static void expect_recovered(const struct persona_fit *f, const float *x,
                             const uint32_t *lab, size_t n, uint32_t d,
                             uint32_t nb) {
  EXPECT_EQ(f->k, nb);
  uint32_t of_blob[PERSONA_MAX];
  for (uint32_t b = 0; b < nb; b++) of_blob[b] = UINT32_MAX;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = persona_nearest(f, x + i * d);
    if (of_blob[lab[i]] == UINT32_MAX) of_blob[lab[i]] = c;
    if (of_blob[lab[i]] != c)
      fail_msg("point %zu of blob %u went to cluster %u, its blob to %u", i,
               lab[i], c, of_blob[lab[i]]);
  }
  for (uint32_t a = 0; a < nb; a++)
    for (uint32_t b = a + 1; b < nb; b++)
      if (of_blob[a] == of_blob[b])
        fail_msg("blobs %u and %u share cluster %u", a, b, of_blob[a]);
}

static void test_recovers_k(void **state) {
  (void)state;
  const double share[] = {0.5, 0.25, 0.15, 0.07, 0.03};
  for (uint32_t nb = 2; nb <= 5; nb++) {
    size_t n = 6000;
    uint32_t d = 8, *lab = malloc(n * sizeof *lab);
    assert_non_null(lab);
    float *x = blobs(n, d, nb, share, 0.3, 10 + nb, lab);
    struct persona_fit f;
    assert_int_equal(persona_cluster(x, n, d, 0, 7, &f), 0);
    expect_recovered(&f, x, lab, n, d, nb);
    assert_false(f.forced);
    /* Largest first. */
    for (uint32_t c = 1; c < f.k; c++) EXPECT_U64(f.size[c - 1], >=, f.size[c]);
    /* BIC peaks at the true k. */
    for (uint32_t k = 1; k <= PERSONA_AUTO_KMAX; k++)
      if (k != nb && f.bic[k] != 0 && f.bic[k] >= f.bic[nb])
        fail_msg("BIC(%u) = %f >= BIC(%u) = %f", k, f.bic[k], nb, f.bic[nb]);
    persona_fit_cleanup(&f);
    free(x);
    free(lab);
  }
}

static void test_single_blob_is_one(void **state) {
  (void)state;
  const double share[] = {1.0};
  for (uint64_t seed = 1; seed <= 3; seed++) {
    size_t n = 8000;
    uint32_t d = 10, *lab = malloc(n * sizeof *lab);
    float *x = blobs(n, d, 1, share, 1.0, seed, lab);
    struct persona_fit f;
    assert_int_equal(persona_cluster(x, n, d, 0, seed, &f), 0);
    EXPECT_EQ(f.k, 1);
    EXPECT_EQ(f.size[0], n);
    persona_fit_cleanup(&f);
    free(x);
    free(lab);
  }
}

static void test_small_sample_is_one(void **state) {
  (void)state;
  /* Two clear groups, but too few sessions to learn two chains from. */
  const double share[] = {0.5, 0.5};
  size_t n = 2 * PERSONA_MIN_SESSIONS - 1;
  uint32_t d = 4, *lab = malloc(n * sizeof *lab);
  float *x = blobs(n, d, 2, share, 0.1, 5, lab);
  struct persona_fit f;
  assert_int_equal(persona_cluster(x, n, d, 0, 1, &f), 0);
  EXPECT_EQ(f.k, 1);
  persona_fit_cleanup(&f);
  /* ... unless k is forced. */
  assert_int_equal(persona_cluster(x, n, d, 2, 1, &f), 0);
  expect_recovered(&f, x, lab, n, d, 2);
  assert_true(f.forced);
  persona_fit_cleanup(&f);
  free(x);
  free(lab);
}

static void test_forced_k(void **state) {
  (void)state;
  const double share[] = {0.4, 0.3, 0.3};
  size_t n = 3000;
  uint32_t d = 5, *lab = malloc(n * sizeof *lab);
  float *x = blobs(n, d, 3, share, 0.2, 9, lab);
  struct persona_fit f;
  assert_int_equal(persona_cluster(x, n, d, 5, 3, &f), 0);
  EXPECT_EQ(f.k, 5);
  uint64_t sum = 0;
  for (uint32_t c = 0; c < f.k; c++) sum += f.size[c];
  EXPECT_EQ(sum, n);
  persona_fit_cleanup(&f);
  /* Only two distinct points: never more clusters than that. */
  for (size_t i = 0; i < n; i++)
    for (uint32_t q = 0; q < d; q++) x[i * d + q] = (float)(i % 2);
  assert_int_equal(persona_cluster(x, n, d, 5, 3, &f), 0);
  EXPECT_EQ(f.k, 2);
  persona_fit_cleanup(&f);
  assert_int_equal(persona_cluster(x, n, d, PERSONA_MAX + 1, 3, &f), -EINVAL);
  assert_int_equal(persona_cluster(x, 0, d, 0, 3, &f), -EINVAL);
  free(x);
  free(lab);
}

static void test_tiny_cluster_folded(void **state) {
  (void)state;
  /* A third group of 0.4% of the sessions: too small to be a persona. */
  const double share[] = {0.498, 0.498, 0.004};
  size_t n = 10000;
  uint32_t d = 6, *lab = malloc(n * sizeof *lab);
  float *x = blobs(n, d, 3, share, 0.2, 4, lab);
  struct persona_fit f;
  assert_int_equal(persona_cluster(x, n, d, 0, 2, &f), 0);
  EXPECT_EQ(f.k, 2);
  EXPECT_EQ(f.size[0] + f.size[1], n);
  for (uint32_t c = 0; c < f.k; c++)
    EXPECT_U64(f.size[c], >=, (uint64_t)(PERSONA_MIN_SHARE * (double)n));
  persona_fit_cleanup(&f);
  free(x);
  free(lab);
}

static void test_deterministic(void **state) {
  (void)state;
  const double share[] = {0.6, 0.4};
  size_t n = 5000;
  uint32_t d = 7, *lab = malloc(n * sizeof *lab);
  float *x = blobs(n, d, 2, share, 0.8, 12, lab);
  struct persona_fit a, b;
  assert_int_equal(persona_cluster(x, n, d, 0, 42, &a), 0);
  assert_int_equal(persona_cluster(x, n, d, 0, 42, &b), 0);
  EXPECT_EQ(a.k, b.k);
  assert_memory_equal(a.centroids, b.centroids,
                      (size_t)a.k * d * sizeof *a.centroids);
  assert_memory_equal(a.size, b.size, a.k * sizeof *a.size);
  persona_fit_cleanup(&a);
  persona_fit_cleanup(&b);
  free(x);
  free(lab);
}

/* ---- features ----------------------------------------------------------- */

static void test_features(void **state) {
  (void)state;
  uint64_t counts[PERSONA_TOP_EPS + 3];
  uint32_t nep = PERSONA_TOP_EPS + 3;
  for (uint32_t e = 0; e < nep; e++) counts[e] = 1000 - e; /* 0 most */
  struct persona_space sp;
  assert_int_equal(persona_space_init(&sp, counts, nep), 0);
  EXPECT_EQ(sp.ntop, PERSONA_TOP_EPS);
  EXPECT_EQ(sp.dims, PERSONA_DIMS(PERSONA_TOP_EPS));
  uint32_t t = sp.ntop;
  float x[PERSONA_DIMS(PERSONA_TOP_EPS)];
  /* Endpoints 0, 0, 1 and one beyond the top: "other". */
  uint32_t ep[] = {0, 0, 1, nep - 1};
  uint8_t cls[] = {2, 2, 4, 5};
  int64_t think[] = {0, 1000000, 1000000, 1000000};
  persona_features(&sp, ep, cls, think, 4, x);
  assert_float_equal(x[0], sqrt(0.5), 1e-6);
  assert_float_equal(x[1], sqrt(0.25), 1e-6);
  assert_float_equal(x[t], sqrt(0.25), 1e-6);
  assert_float_equal(x[2], 0, 0);
  assert_float_equal(x[t + 1], log(4), 1e-6);      /* ln length */
  assert_float_equal(x[t + 2], log1p(1000), 1e-5); /* mean ln(1 + ms) */
  assert_float_equal(x[t + 3], 0, 1e-4);           /* equal pauses */
  assert_float_equal(x[t + 4], 0.5, 1e-6);         /* two of four failed */
  /* One request: no think time yet (the sample mean after standardising). */
  persona_features(&sp, ep, cls, think, 1, x);
  assert_true(isnan(x[t + 2]) && isnan(x[t + 3]));
  persona_space_apply(&sp, x);
  assert_float_equal(x[t + 2], 0, 0);
  assert_float_equal(x[t + 3], 0, 0);

  /* Standardising: the scalar features of the sample end up centred. */
  enum { N = 400 };
  float *s = malloc(N * sp.dims * sizeof *s);
  struct rng r;
  rng_seed(&r, 3);
  for (size_t i = 0; i < N; i++) {
    uint32_t n = 1 + (uint32_t)rng_below(&r, 50), e[50];
    uint8_t c[50];
    int64_t th[50];
    for (uint32_t j = 0; j < n; j++) {
      e[j] = (uint32_t)rng_below(&r, nep);
      c[j] = 2;
      th[j] = (int64_t)rng_below(&r, 60000000);
    }
    persona_features(&sp, e, c, th, n, s + i * sp.dims);
  }
  persona_space_fit(&sp, s, N);
  for (uint32_t f = 1; f <= 3; f++) {
    double sum = 0;
    for (size_t i = 0; i < N; i++) sum += s[i * sp.dims + t + f];
    assert_float_equal(sum / N, 0, 0.05);
  }
  free(s);
  persona_space_cleanup(&sp);
}

/* ---- names -------------------------------------------------------------- */

struct ep_def {
  const char *method, *templ;
};

static char **name_all(uint32_t k, uint32_t nep, const struct ep_def *eps,
                       const uint64_t *req, const uint64_t *errors) {
  const char *method[64], *templ[64];
  for (uint32_t e = 0; e < nep; e++) {
    method[e] = eps[e].method;
    templ[e] = eps[e].templ;
  }
  struct persona_profile p = {
      .k = k,
      .nep = nep,
      .requests = req,
      .errors = errors,
      .method = method,
      .templ = templ,
  };
  char **names = calloc(k, sizeof *names);
  assert_non_null(names);
  assert_int_equal(persona_names(&p, names), 0);
  return names;
}

static void free_names(char **names, uint32_t k) {
  for (uint32_t c = 0; c < k; c++) free(names[c]);
  free(names);
}

static void expect_clean(char **names, uint32_t k) {
  for (uint32_t c = 0; c < k; c++) {
    const char *n = names[c];
    assert_non_null(n);
    assert_true(n[0] != '\0' && n[0] != '-' && n[strlen(n) - 1] != '-');
    assert_true(strlen(n) <= PERSONA_NAME_MAX);
    assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-"),
                     strlen(n));
    assert_null(strstr(n, "--"));
    for (uint32_t d = 0; d < c; d++)
      if (strcmp(names[d], n) == 0)
        fail_msg("personas %u and %u are both named %s", d, c, n);
  }
}

static const struct ep_def shop[] = {
    {"GET", "/products/{id}"},            /* 0 */
    {"GET", "/images/products/{id}.jpg"}, /* 1 */
    {"GET", "/api/v1/orders/{id}"},       /* 2 */
    {"PATCH", "/api/v1/orders/{id}"},     /* 3 */
    {"GET", "/robots.txt"},               /* 4 */
    {"GET", "/static/app.3f9c2b71.css"},  /* 5 */
    {"GET", "/.env"},                     /* 6 */
    {"GET", "/"},                         /* 7 */
    {"GET", "/api/v2/feed"},              /* 8 */
};

static void test_names_from_endpoints(void **state) {
  (void)state;
  enum { K = 5, E = 9 };
  /* Requests per persona (rows) and endpoint (columns). */
  const uint64_t req[K * E] = {
      /* shoppers */ 500, 400, 0,   0,   0,  100, 0,   50, 0,
      /* partners */ 0,   0,   600, 300, 0,  0,   0,   0,  0,
      /* a crawler*/ 700, 0,   0,   0,   40, 0,   0,   60, 0,
      /* scanners */ 0,   0,   0,   0,   0,  0,   300, 20, 0,
      /* the app */ 0,    0,   0,   0,   0,  0,   0,   0,  800,
  };
  const uint64_t errors[K] = {10, 5, 0, 300, 2};
  char **names = name_all(K, E, shop, req, errors);
  expect_clean(names, K);
  EXPECT_STR(names[0], "browse-images");
  EXPECT_STR(names[1], "api-orders-writer");
  EXPECT_STR(names[2], "crawler");
  EXPECT_STR(names[3], "env-errors");
  EXPECT_STR(names[4], "api-feed");
  /* The same profile, the same names. */
  char **again = name_all(K, E, shop, req, errors);
  for (uint32_t c = 0; c < K; c++) EXPECT_STR(again[c], names[c]);
  free_names(again, K);
  free_names(names, K);
}

static void test_names_unique(void **state) {
  (void)state;
  /* Four personas with the very same mix: words run out, numbers follow. */
  enum { K = 4, E = 9 };
  uint64_t req[K * E] = {0};
  for (uint32_t c = 0; c < K; c++) {
    req[c * E + 0] = 100;
    req[c * E + 1] = 50;
  }
  /* A fifth column of the mix decides nothing, all are alike. */
  const uint64_t errors[K] = {0};
  char **names = name_all(K, E, shop, req, errors);
  expect_clean(names, K);
  free_names(names, K);
}

static void test_names_odd_paths(void **state) {
  (void)state;
  /* Upper case, bytes outside ASCII, a very long segment, only parameters,
   * a site-wide prefix shared by every endpoint. */
  static const struct ep_def odd[] = {
      {"GET", "/erddap/tabledap/{name}.CSV"},
      {"GET", "/erddap/tabledap/{name}.graph"},
      {"GET", "/erddap/Info/\xc3\xa9t\xc3\xa9/index.html"},
      {"GET",
       "/erddap/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x"},
      {"POST", "/erddap/{a}/{b}"},
  };
  enum { K = 5, E = 5 };
  uint64_t req[K * E] = {0};
  for (uint32_t c = 0; c < K; c++) req[c * E + c] = 100;
  const uint64_t errors[K] = {0};
  char **names = name_all(K, E, odd, req, errors);
  expect_clean(names, K);
  /* "erddap" is on every path: it names nothing. */
  for (uint32_t c = 0; c < K; c++) assert_null(strstr(names[c], "erddap"));
  EXPECT_STR(names[0], "browse-tabledap");
  EXPECT_STR(names[1], "browse-tabledap-graph");
  free_names(names, K);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recovers_k),
      cmocka_unit_test(test_single_blob_is_one),
      cmocka_unit_test(test_small_sample_is_one),
      cmocka_unit_test(test_forced_k),
      cmocka_unit_test(test_tiny_cluster_folded),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_features),
      cmocka_unit_test(test_names_from_endpoints),
      cmocka_unit_test(test_names_unique),
      cmocka_unit_test(test_names_odd_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
