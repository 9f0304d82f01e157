/* Unit tests of hist: bucket edges, quantile accuracy, merge/copy, the BLOB
 * encoding (round trip and rejection of damaged blobs) and sampling. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "hist.h"
#include "rng.h"

/* |got - want| <= rel * |want|, printing both when it is not. */
#define assert_rel(got, want, rel)                                             \
  do {                                                                         \
    double got_ = (got), want_ = (want), rel_ = (rel);                         \
    if (!(fabs(got_ - want_) <= rel_ * fabs(want_)))                           \
      fail_msg("%s = %.17g, want %.17g within %g%% (off by %.4g%%)", #got,     \
               got_, want_, rel_ * 100,                                        \
               100 * fabs(got_ - want_) / fabs(want_));                        \
  } while (0)

#define assert_below(got, limit)                                               \
  do {                                                                         \
    double got_ = (got), limit_ = (limit);                                     \
    if (!(got_ < limit_))                                                      \
      fail_msg("%s = %.6g, want < %.6g", #got, got_, limit_);                  \
  } while (0)

static uint64_t count_at(const struct hist *h, int32_t i) {
  int64_t k = (int64_t)i - h->lo;
  return k >= 0 && k < h->len ? h->counts[k] : 0;
}

/* Exact equality of every field; counts compared bucket by bucket, so
 * growth slack in one window and not the other does not matter. */
static void assert_hist_equal(const struct hist *a, const struct hist *b) {
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->zeros, b->zeros);
  assert_int_equal(a->min, b->min);
  assert_int_equal(a->max, b->max);
  assert_true(a->sum == b->sum);
  assert_true(a->sum_log == b->sum_log);
  assert_true(a->sum_log2 == b->sum_log2);
  int32_t lo = a->lo < b->lo ? a->lo : b->lo;
  int32_t hi = a->lo + (int32_t)a->len;
  if (b->lo + (int32_t)b->len > hi) hi = b->lo + (int32_t)b->len;
  for (int32_t i = lo; i < hi; i++) {
    if (count_at(a, i) != count_at(b, i))
      fail_msg("bucket %d: %llu vs %llu", (int)i,
               (unsigned long long)count_at(a, i),
               (unsigned long long)count_at(b, i));
  }
}

static double normal(struct rng *r) {
  double u1 = rng_double(r), u2 = rng_double(r);
  return sqrt(-2 * log(1 - u1)) * cos(6.283185307179586 * u2);
}

/* Latencies in µs: lognormal with median 50 ms and sigma 1.2, rounded. */
static uint64_t *lognormal(uint64_t seed, size_t n) {
  struct rng r;
  rng_seed(&r, seed);
  uint64_t *v = malloc(n * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    double x = llround(exp(log(50000.0) + 1.2 * normal(&r)));
    v[i] = x < 1 ? 1 : (uint64_t)x;
  }
  return v;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void record_all(struct hist *h, const uint64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) assert_int_equal(hist_record(h, v[i]), 0);
}

static void check_in_bucket(uint64_t v) {
  int32_t i = hist_bucket_of(v);
  double x = (double)v;
  double lower = hist_bucket_lower(i), upper = hist_bucket_upper(i);
  if (!(lower < x && x <= upper))
    fail_msg("v=%llu in bucket %d = (%.17g, %.17g]", (unsigned long long)v,
             (int)i, lower, upper);
}

static void test_bucket_bounds(void **state) {
  (void)state;
  for (uint64_t v = 1; v <= 100000; v++) check_in_bucket(v);
  for (int k = 0; k < 64; k++) {
    uint64_t p = (uint64_t)1 << k;
    check_in_bucket(p);
    check_in_bucket(p + 1);
    if (p > 1) check_in_bucket(p - 1);
  }
  check_in_bucket(UINT64_MAX);
  /* The integers around each edge gamma^i, where rounding in log() would
   * put a value one bucket off. */
  for (int32_t i = 0; hist_bucket_upper(i) < 0x1p62; i++) {
    double e = hist_bucket_upper(i);
    uint64_t f = (uint64_t)e;
    for (uint64_t v = f > 2 ? f - 2 : 1; v <= f + 2; v++) check_in_bucket(v);
    assert_true(hist_bucket_lower(i + 1) == e);
    assert_rel(hist_bucket_upper(i) / hist_bucket_lower(i),
               (1 + HIST_ALPHA) / (1 - HIST_ALPHA), 1e-12);
  }
  for (double x = 1; x < 0x1p62; x *= 1.0007) check_in_bucket((uint64_t)x);
  assert_int_equal(hist_bucket_of(1), 0);
  assert_in_range(hist_bucket_of(UINT64_MAX), 2200, 2240);
}

static void test_empty(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  assert_int_equal(hist_quantile(&h, 0.5), 0);
  assert_true(hist_mean(&h) == 0);
  assert_true(hist_cdf(&h, 10) == 0);
  struct hist_sampler s;
  struct rng r;
  rng_seed(&r, 1);
  assert_int_equal(hist_sampler_prepare(&s, &h), 0);
  assert_int_equal(hist_sample(&s, &r), 0);
  hist_sampler_cleanup(&s);
  assert_int_equal(hist_add(&h, 5, 0), 0);
  assert_int_equal(h.n, 0);
  assert_null(h.counts);
  hist_cleanup(&h);
}

static void test_quantiles_lognormal(void **state) {
  (void)state;
  const size_t n = 200000;
  uint64_t *v = lognormal(42, n);
  struct hist h;
  hist_init(&h);
  record_all(&h, v, n);
  qsort(v, n, sizeof *v, cmp_u64);
  static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
  for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
    double exact = (double)v[(size_t)(qs[k] * (double)(n - 1))];
    print_message("q=%g exact %.0f hist %llu\n", qs[k], exact,
                  (unsigned long long)hist_quantile(&h, qs[k]));
    assert_rel((double)hist_quantile(&h, qs[k]), exact, 0.015);
    /* The CDF is off by at most the mass of one bucket (~0.7% here). */
    double f = hist_cdf(&h, (uint64_t)exact);
    if (!(fabs(f - qs[k]) < 0.01))
      fail_msg("cdf(%.0f) = %.5f, want %.5f +- 0.01", exact, f, qs[k]);
  }
  assert_int_equal(hist_quantile(&h, 0), v[0]);
  assert_int_equal(hist_quantile(&h, 1), v[n - 1]);
  assert_int_equal(hist_quantile(&h, NAN), v[0]);
  assert_int_equal(h.min, v[0]);
  assert_int_equal(h.max, v[n - 1]);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)v[i];
  assert_rel(hist_mean(&h), sum / (double)n, 1e-12);
  /* Quantiles never decrease. */
  uint64_t prev = 0;
  for (double q = 0; q <= 1; q += 0.001) {
    uint64_t x = hist_quantile(&h, q);
    if (x < prev)
      fail_msg("quantile(%g) = %llu < %llu", q, (unsigned long long)x,
               (unsigned long long)prev);
    prev = x;
  }
  hist_cleanup(&h);
  free(v);
}

/* Below ~50 every integer has its own bucket: quantiles, the CDF and
 * samples must be exact there (session lengths, retry counts). */
static void test_small_integers(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  for (uint64_t v = 1; v <= 20; v++) assert_int_equal(hist_add(&h, v, v), 0);
  uint64_t total = 20 * 21 / 2, cum = 0;
  for (uint64_t v = 1; v <= 20; v++) {
    cum += v;
    assert_rel(hist_cdf(&h, v), (double)cum / (double)total, 1e-12);
    /* The last rank holding v is cum - 1. */
    assert_int_equal(hist_quantile(&h, (double)(cum - 1) / (total - 1)), v);
  }
  struct hist_sampler s;
  struct rng r;
  rng_seed(&r, 7);
  assert_int_equal(hist_sampler_prepare(&s, &h), 0);
  uint64_t seen[21] = {0};
  const int draws = 210000;
  for (int i = 0; i < draws; i++) {
    uint64_t x = hist_sample(&s, &r);
    assert_in_range(x, 1, 20);
    seen[x]++;
  }
  for (uint64_t v = 1; v <= 20; v++)
    assert_rel((double)seen[v], (double)draws * (double)v / (double)total, 0.1);
  hist_sampler_cleanup(&s);
  hist_cleanup(&h);
}

/* Inside a bucket the CDF interpolates; counting whole buckets would be
 * off by up to a bucket's mass (1.1% here). */
static void test_cdf_interpolation(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  for (uint64_t v = 10000; v <= 100000; v++)
    assert_int_equal(hist_record(&h, v), 0);
  static const uint64_t at[] = {10000, 12345, 33333, 50000, 77777, 99999};
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
    double want = (double)(at[k] - 10000 + 1) / 90001.0;
    double got = hist_cdf(&h, at[k]);
    if (!(fabs(got - want) < 0.001))
      fail_msg("cdf(%llu) = %.5f, want %.5f +- 0.001",
               (unsigned long long)at[k], got, want);
  }
  assert_true(hist_cdf(&h, 9999) == 0);
  assert_true(hist_cdf(&h, 100000) == 1);
  hist_cleanup(&h);
}

/* Between ~50 and ~300 a bucket holds a few integers and its edges fall
 * between them: plain rounding of a point near an edge would hand out a
 * value of the (here empty) neighbouring bucket. */
static void test_sample_stays_in_bucket(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  for (uint64_t v = 50; v < 1000; v += 37)
    assert_int_equal(hist_add(&h, v, 10), 0);
  struct hist_sampler s;
  struct rng r;
  rng_seed(&r, 5);
  assert_int_equal(hist_sampler_prepare(&s, &h), 0);
  for (int i = 0; i < 100000; i++) {
    uint64_t x = hist_sample(&s, &r);
    if (count_at(&h, hist_bucket_of(x)) == 0)
      fail_msg("sample %llu lies in empty bucket %d", (unsigned long long)x,
               (int)hist_bucket_of(x));
  }
  for (double q = 0; q <= 1; q += 0.01) {
    uint64_t x = hist_quantile(&h, q);
    if (count_at(&h, hist_bucket_of(x)) == 0)
      fail_msg("quantile(%g) = %llu lies in an empty bucket", q,
               (unsigned long long)x);
  }
  hist_sampler_cleanup(&s);
  hist_cleanup(&h);
}

static void test_merge(void **state) {
  (void)state;
  const size_t n = 50000;
  uint64_t *v = lognormal(3, n);
  struct hist whole, a, b;
  hist_init(&whole);
  hist_init(&a);
  hist_init(&b);
  /* The halves are the low and high values, so merging grows the window
   * on both sides; zeros in one half only. */
  qsort(v, n, sizeof *v, cmp_u64);
  record_all(&whole, v, n);
  assert_int_equal(hist_add(&whole, 0, 17), 0);
  record_all(&a, v + n / 2, n - n / 2);
  record_all(&b, v, n / 2);
  assert_int_equal(hist_add(&b, 0, 17), 0);
  struct hist m;
  hist_init(&m);
  assert_int_equal(hist_merge(&m, &a), 0);
  assert_int_equal(hist_merge(&m, &b), 0);
  assert_int_equal(m.n, whole.n);
  assert_int_equal(m.zeros, whole.zeros);
  assert_int_equal(m.min, whole.min);
  assert_int_equal(m.max, whole.max);
  /* Integer sums below 2^53 are exact in any order; log sums are not. */
  assert_true(m.sum == whole.sum);
  assert_rel(m.sum_log, whole.sum_log, 1e-12);
  assert_rel(m.sum_log2, whole.sum_log2, 1e-12);
  m.sum_log = whole.sum_log;
  m.sum_log2 = whole.sum_log2;
  assert_hist_equal(&m, &whole);

  /* Merging an empty histogram changes nothing; merging into itself
   * doubles. */
  struct hist e;
  hist_init(&e);
  assert_int_equal(hist_merge(&m, &e), 0);
  assert_hist_equal(&m, &whole);
  struct hist once;
  hist_init(&once);
  assert_int_equal(hist_copy(&once, &a), 0);
  assert_int_equal(hist_merge(&a, &a), 0);
  assert_int_equal(a.n, 2 * once.n);
  assert_int_equal(a.min, once.min);
  for (int32_t i = once.lo; i < once.lo + (int32_t)once.len; i++)
    assert_int_equal(count_at(&a, i), 2 * count_at(&once, i));
  hist_cleanup(&once);
  hist_cleanup(&m);
  hist_cleanup(&a);
  hist_cleanup(&b);
  hist_cleanup(&whole);
  free(v);
}

/* Values arriving in descending order grow the window downwards each
 * time; every count must stay in its bucket. */
static void test_growth(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  uint64_t v = UINT64_MAX;
  for (int i = 0; i < 3000 && v; i++, v = v / 1.03)
    assert_int_equal(hist_record(&h, v), 0);
  assert_int_equal(hist_record(&h, 1), 0);
  assert_int_equal(h.min, 1);
  assert_int_equal(h.max, UINT64_MAX);
  assert_true(h.len <= (uint32_t)hist_bucket_of(UINT64_MAX) + 1);
  uint64_t total = 0;
  for (uint32_t k = 0; k < h.len; k++) total += h.counts[k];
  assert_int_equal(total, h.n);
  assert_int_equal(count_at(&h, hist_bucket_of(UINT64_MAX)), 1);
  /* The descent ends at 1, recorded once more above. */
  assert_int_equal(count_at(&h, 0), 2);
  assert_int_equal(hist_quantile(&h, 1), UINT64_MAX);

  assert_int_equal(hist_add(&h, 7, UINT64_MAX - h.n), 0);
  struct hist before;
  hist_init(&before);
  assert_int_equal(hist_copy(&before, &h), 0);
  assert_int_equal(hist_record(&h, 9), -EOVERFLOW);
  assert_int_equal(hist_merge(&h, &before), -EOVERFLOW);
  assert_hist_equal(&h, &before);
  hist_cleanup(&before);
  hist_cleanup(&h);
}

static void test_copy(void **state) {
  (void)state;
  const size_t n = 10000;
  uint64_t *v = lognormal(5, n);
  struct hist h, c;
  hist_init(&h);
  hist_init(&c);
  record_all(&h, v, n);
  assert_int_equal(hist_add(&h, 0, 3), 0);
  /* dst holds data of its own, which copy must free (ASan checks). */
  assert_int_equal(hist_record(&c, 123456789), 0);
  assert_int_equal(hist_copy(&c, &h), 0);
  assert_hist_equal(&c, &h);
  assert_true(c.counts != h.counts);
  assert_int_equal(hist_copy(&c, &c), 0);
  assert_hist_equal(&c, &h);
  struct hist e;
  hist_init(&e);
  assert_int_equal(hist_copy(&c, &e), 0);
  assert_int_equal(c.n, 0);
  assert_null(c.counts);
  hist_cleanup(&c);
  hist_cleanup(&h);
  free(v);
}

static int decode_like(struct hist *out, const uint8_t *blob, size_t len,
                       const struct hist *h) {
  return hist_decode(out, blob, len, h->n, h->zeros, h->min, h->max, h->sum,
                     h->sum_log, h->sum_log2);
}

/* encode -> decode gives back every field; returns the blob size. */
static size_t roundtrip(const struct hist *h, const char *what) {
  uint8_t *blob;
  size_t len;
  assert_int_equal(hist_encode(h, &blob, &len), 0);
  struct hist d;
  hist_init(&d);
  int rc = decode_like(&d, blob, len, h);
  if (rc) fail_msg("%s: decode returned %d (%s)", what, rc, err_str(rc));
  assert_hist_equal(&d, h);
  /* Decoded windows are tight: both edge buckets are used. */
  if (d.len) {
    assert_true(d.counts[0] != 0);
    assert_true(d.counts[d.len - 1] != 0);
  }
  /* And encoding again gives the same bytes. */
  uint8_t *again;
  size_t again_len;
  assert_int_equal(hist_encode(&d, &again, &again_len), 0);
  assert_int_equal(again_len, len);
  assert_memory_equal(again, blob, len);
  print_message("%-12s n=%-8llu buckets=%-5u blob=%zu bytes\n", what,
                (unsigned long long)h->n, d.len, len);
  free(again);
  free(blob);
  hist_cleanup(&d);
  return len;
}

static void build_sparse(struct hist *h) {
  hist_init(h);
  assert_int_equal(hist_record(h, 1), 0);
  assert_int_equal(hist_record(h, 1000000000000ULL), 0);
}

static void build_dense(struct hist *h, size_t n) {
  uint64_t *v = lognormal(11, n);
  hist_init(h);
  record_all(h, v, n);
  assert_int_equal(hist_add(h, 0, 5), 0);
  free(v);
}

static void test_roundtrip(void **state) {
  (void)state;
  struct hist h;
  hist_init(&h);
  assert_int_equal(roundtrip(&h, "empty"), 3);
  assert_int_equal(hist_add(&h, 0, 1000), 0);
  roundtrip(&h, "zeros-only");
  hist_cleanup(&h);
  assert_int_equal(hist_record(&h, 4242), 0);
  roundtrip(&h, "single");
  hist_cleanup(&h);
  build_sparse(&h);
  size_t sparse = roundtrip(&h, "sparse");
  if (sparse >= 40) fail_msg("sparse blob is %zu bytes, want < 40", sparse);
  hist_cleanup(&h);
  build_dense(&h, 200000);
  roundtrip(&h, "dense 200k");
  hist_cleanup(&h);
  build_dense(&h, 300);
  roundtrip(&h, "dense 300");
  hist_cleanup(&h);
  assert_int_equal(hist_add(&h, UINT64_MAX, 1ULL << 40), 0);
  assert_int_equal(hist_add(&h, 1, UINT64_MAX - (1ULL << 40)), 0);
  roundtrip(&h, "extremes");
  hist_cleanup(&h);
}

static void expect_corrupt(const uint8_t *blob, size_t len,
                           const struct hist *side, const char *what) {
  struct hist d;
  hist_init(&d);
  int rc = decode_like(&d, blob, len, side);
  if (rc != ERR_CORRUPT)
    fail_msg("%s: decode returned %d, want ERR_CORRUPT (%d)", what, rc,
             ERR_CORRUPT);
  /* Failure leaves the output untouched. */
  assert_int_equal(d.n, 0);
  assert_null(d.counts);
}

static void test_decode_rejects(void **state) {
  (void)state;
  struct hist h, s;
  build_dense(&h, 20000);
  build_sparse(&s);
  uint8_t *blob, *sblob;
  size_t len, slen;
  assert_int_equal(hist_encode(&h, &blob, &len), 0);
  assert_int_equal(hist_encode(&s, &sblob, &slen), 0);

  /* Every strict prefix, each in an exactly sized buffer so ASan sees a
   * read past the end. */
  for (size_t k = 0; k < len; k++) {
    uint8_t *p = malloc(k ? k : 1);
    memcpy(p, blob, k);
    expect_corrupt(p, k, &h, "truncated dense");
    free(p);
  }
  for (size_t k = 0; k < slen; k++)
    expect_corrupt(sblob, k, &s, "truncated sparse");
  expect_corrupt(NULL, 0, &h, "no blob");

  uint8_t *p = malloc(len + 1);
  memcpy(p, blob, len);
  p[len] = 0;
  expect_corrupt(p, len + 1, &h, "trailing byte");
  for (int v = 0; v < 256; v++) {
    if (v == 1) continue;
    p[0] = (uint8_t)v;
    expect_corrupt(p, len, &h, "version");
  }
  free(p);

  /* Side columns that disagree with the blob. */
  struct hist bad = h;
  bad.n = h.n + 1;
  expect_corrupt(blob, len, &bad, "n + 1");
  bad.n = h.n - 1;
  expect_corrupt(blob, len, &bad, "n - 1");
  bad = h;
  bad.zeros = h.zeros + 1;
  expect_corrupt(blob, len, &bad, "zeros + 1");
  bad = h;
  bad.min = 1;
  expect_corrupt(blob, len, &bad, "min not 0 with zeros");
  bad = h;
  bad.max = h.max * 2;
  expect_corrupt(blob, len, &bad, "max outside the top bucket");
  bad = h;
  bad.sum = NAN;
  expect_corrupt(blob, len, &bad, "sum NaN");
  bad = h;
  bad.sum = (double)h.n * (double)h.max * 1.01;
  expect_corrupt(blob, len, &bad, "sum above n * max");
  bad = h;
  bad.sum_log = h.sum_log * 2;
  expect_corrupt(blob, len, &bad, "sum_log above n * log(max)");
  bad = h;
  bad.sum_log2 = -1;
  expect_corrupt(blob, len, &bad, "sum_log2 negative");
  bad = s;
  bad.min = 2;
  bad.max = 1;
  expect_corrupt(sblob, slen, &bad, "min > max");

  /* Hand-made blobs; side columns of the sparse histogram (n = 2). */
  static const uint8_t huge_len[] = {1, 0, 0x80, 0x80, 0x80, 0x01, 1};
  expect_corrupt(huge_len, sizeof huge_len, &s, "len 2^21");
  static const uint8_t past_top[] = {1, 0, 0xc0, 0x11, 1, 1};
  expect_corrupt(past_top, sizeof past_top, &s, "buckets past the top");
  static const uint8_t negative_lo[] = {1, 1, 2, 1, 1};
  expect_corrupt(negative_lo, sizeof negative_lo, &s, "lo -1");
  static const uint8_t counts_3[] = {1, 0, 2, 2, 1};
  expect_corrupt(counts_3, sizeof counts_3, &s, "counts 3 != n 2");
  static const uint8_t leading_run[] = {1, 0, 3, 0, 1, 1, 1};
  expect_corrupt(leading_run, sizeof leading_run, &s, "leading zero run");
  static const uint8_t trailing_run[] = {1, 0, 3, 1, 1, 0, 1};
  expect_corrupt(trailing_run, sizeof trailing_run, &s, "trailing run");
  static const uint8_t empty_run[] = {1, 0, 2, 1, 0, 0, 1};
  expect_corrupt(empty_run, sizeof empty_run, &s, "empty run");
  static const uint8_t long_run[] = {1, 0, 3, 1, 0, 5, 1};
  expect_corrupt(long_run, sizeof long_run, &s, "run past the end");
  static const uint8_t split_run[] = {1, 0, 5, 1, 0, 1, 0, 2, 1};
  expect_corrupt(split_run, sizeof split_run, &s, "split run");
  static const uint8_t long_varint[] = {1, 0, 0x82, 0x00, 1, 1};
  expect_corrupt(long_varint, sizeof long_varint, &s, "non-minimal varint");
  static const uint8_t varint_65[] = {1,    0,    1,    0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  expect_corrupt(varint_65, sizeof varint_65, &s, "varint over 64 bits");
  static const uint8_t empty_lo[] = {1, 2, 0};
  struct hist e;
  hist_init(&e);
  expect_corrupt(empty_lo, sizeof empty_lo, &e, "empty with lo 1");
  static const uint8_t empty_ok[] = {1, 0, 0};
  bad = e;
  bad.max = 5;
  expect_corrupt(empty_ok, sizeof empty_ok, &bad, "empty with max 5");
  bad = e;
  bad.n = 1;
  expect_corrupt(empty_ok, sizeof empty_ok, &bad, "empty with n 1");

  /* Decoding over a histogram that holds data replaces it. */
  struct hist d;
  hist_init(&d);
  assert_int_equal(hist_record(&d, 99), 0);
  assert_int_equal(decode_like(&d, sblob, slen, &s), 0);
  assert_hist_equal(&d, &s);
  hist_cleanup(&d);

  free(blob);
  free(sblob);
  hist_cleanup(&h);
  hist_cleanup(&s);
}

/* Largest distance between the empirical CDFs of two sorted samples. */
static double ks_distance(const double *a, size_t na, const double *b,
                          size_t nb) {
  size_t i = 0, j = 0;
  double d = 0;
  while (i < na && j < nb) {
    double x = a[i] < b[j] ? a[i] : b[j];
    while (i < na && a[i] <= x) i++;
    while (j < nb && b[j] <= x) j++;
    double gap = fabs((double)i / (double)na - (double)j / (double)nb);
    if (gap > d) d = gap;
  }
  return d;
}

static void test_sampling(void **state) {
  (void)state;
  const size_t n = 200000, draws = 100000;
  uint64_t *v = lognormal(99, n);
  struct hist h;
  hist_init(&h);
  record_all(&h, v, n);
  struct hist_sampler s;
  struct rng r;
  rng_seed(&r, 2024);
  assert_int_equal(hist_sampler_prepare(&s, &h), 0);
  double *src = malloc(n * sizeof *src), *got = malloc(draws * sizeof *got);
  assert_non_null(src);
  assert_non_null(got);
  double src_sum = 0, got_sum = 0;
  for (size_t i = 0; i < n; i++) {
    src[i] = log((double)v[i]);
    src_sum += (double)v[i];
  }
  for (size_t i = 0; i < draws; i++) {
    uint64_t x = hist_sample(&s, &r);
    assert_in_range(x, h.min, h.max);
    got[i] = log((double)x);
    got_sum += (double)x;
  }
  qsort(src, n, sizeof *src, cmp_double);
  qsort(got, draws, sizeof *got, cmp_double);
  double ks = ks_distance(src, n, got, draws);
  print_message("KS distance %.5f, mean %.1f vs %.1f\n", ks,
                got_sum / (double)draws, src_sum / (double)n);
  assert_below(ks, 0.01);
  assert_rel(got_sum / (double)draws, src_sum / (double)n, 0.02);
  hist_sampler_cleanup(&s);
  hist_cleanup(&h);
  free(src);
  free(got);
  free(v);
}

static void test_sampling_zeros(void **state) {
  (void)state;
  const size_t n = 70000, draws = 100000;
  uint64_t *v = lognormal(8, n);
  struct hist h;
  hist_init(&h);
  record_all(&h, v, n);
  assert_int_equal(hist_add(&h, 0, 30000), 0);
  struct hist_sampler s;
  struct rng r;
  rng_seed(&r, 77);
  assert_int_equal(hist_sampler_prepare(&s, &h), 0);
  size_t zeros = 0;
  for (size_t i = 0; i < draws; i++) {
    uint64_t x = hist_sample(&s, &r);
    assert_in_range(x, h.min, h.max);
    zeros += x == 0;
  }
  double share = (double)zeros / (double)draws;
  if (!(fabs(share - 0.3) <= 0.01))
    fail_msg("zero share %.4f, want 0.3 +- 0.01", share);
  hist_sampler_cleanup(&s);

  /* Zeros only: every draw is 0. */
  struct hist z;
  hist_init(&z);
  assert_int_equal(hist_add(&z, 0, 5), 0);
  assert_int_equal(hist_sampler_prepare(&s, &z), 0);
  for (int i = 0; i < 100; i++) assert_int_equal(hist_sample(&s, &r), 0);
  hist_sampler_cleanup(&s);
  hist_cleanup(&z);

  /* One value: every draw is that value. */
  assert_int_equal(hist_add(&z, 123457, 9), 0);
  assert_int_equal(hist_sampler_prepare(&s, &z), 0);
  for (int i = 0; i < 100; i++) assert_int_equal(hist_sample(&s, &r), 123457);
  hist_sampler_cleanup(&s);
  hist_cleanup(&z);
  hist_cleanup(&h);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket_bounds),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_quantiles_lognormal),
      cmocka_unit_test(test_small_integers),
      cmocka_unit_test(test_cdf_interpolation),
      cmocka_unit_test(test_sample_stays_in_bucket),
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_growth),
      cmocka_unit_test(test_copy),
      cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_decode_rejects),
      cmocka_unit_test(test_sampling),
      cmocka_unit_test(test_sampling_zeros),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
