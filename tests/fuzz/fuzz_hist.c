/* Fuzz target for hist: decoding of hostile BLOBs and side columns, and the
 * round trips of histograms built from the input.
 *
 * Input: one mode byte, then
 *   mode even  - "decode": varints n, zeros, min, max; one byte choosing the
 *                sums (odd: three raw doubles follow; even: the largest
 *                sums min/max allow, so mutated blobs still reach the
 *                success path); the rest is the BLOB.
 *   mode odd   - "build": (varint value, byte count) pairs recorded into a
 *                histogram; if mode & 2, the last two bytes pick a byte of
 *                its encoding to flip before decoding it again.
 * Whatever decodes must re-encode to the same bytes, stay within its
 * [min, max] under quantile and sampling, and survive merge and copy. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hist.h"
#include "rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
  const uint8_t *p;
  size_t len, pos;
};

/* Tolerant: missing bytes read as 0, so every input means something. */
static uint8_t take_byte(struct input *in) {
  return in->pos < in->len ? in->p[in->pos++] : 0;
}

static uint64_t take_varint(struct input *in) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = take_byte(in);
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return x;
}

static double take_double(struct input *in) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = take_byte(in);
  double d;
  memcpy(&d, b, sizeof d);
  return d;
}

static void check(int ok) {
  if (!ok) abort();
}

static void check_same(const struct hist *a, const struct hist *b) {
  check(a->n == b->n && a->zeros == b->zeros);
  check(a->min == b->min && a->max == b->max);
  check(memcmp(&a->sum, &b->sum, sizeof a->sum) == 0);
  check(memcmp(&a->sum_log, &b->sum_log, sizeof a->sum_log) == 0);
  check(memcmp(&a->sum_log2, &b->sum_log2, sizeof a->sum_log2) == 0);
  int64_t lo = a->lo < b->lo ? a->lo : b->lo;
  int64_t hi = (int64_t)a->lo + a->len;
  if ((int64_t)b->lo + b->len > hi) hi = (int64_t)b->lo + b->len;
  for (int64_t i = lo; i < hi; i++) {
    int64_t ka = i - a->lo, kb = i - b->lo;
    uint64_t ca = ka >= 0 && ka < a->len ? a->counts[ka] : 0;
    uint64_t cb = kb >= 0 && kb < b->len ? b->counts[kb] : 0;
    check(ca == cb);
  }
}

static int decode_like(struct hist *out, const uint8_t *blob, size_t len,
                       const struct hist *h) {
  return hist_decode(out, blob, len, h->n, h->zeros, h->min, h->max, h->sum,
                     h->sum_log, h->sum_log2);
}

/* Everything a reader of a loaded model does, on a valid histogram. */
static void exercise(const struct hist *h, const uint8_t *blob, size_t len) {
  uint8_t *again = NULL;
  size_t again_len = 0;
  if (hist_encode(h, &again, &again_len)) return;
  /* decode accepts exactly what encode writes, so the bytes come back. */
  if (blob) check(again_len == len && memcmp(again, blob, len) == 0);
  struct hist d;
  hist_init(&d);
  check(decode_like(&d, again, again_len, h) == 0);
  check_same(&d, h);
  hist_cleanup(&d);
  free(again);

  uint64_t prev = 0;
  double prev_f = 0;
  for (int k = 0; k <= 20; k++) {
    uint64_t x = hist_quantile(h, k / 20.0);
    if (h->n) check(x >= h->min && x <= h->max && x >= prev);
    prev = x;
    double f = hist_cdf(h, x);
    check(f >= 0 && f <= 1 && f >= prev_f);
    prev_f = f;
  }
  double mean = hist_mean(h);
  check(isfinite(mean) && mean >= 0);

  struct hist_sampler s;
  if (hist_sampler_prepare(&s, h) == 0) {
    struct rng r;
    rng_seed(&r, h->n);
    for (int k = 0; k < 32; k++) {
      uint64_t x = hist_sample(&s, &r);
      if (h->n) check(x >= h->min && x <= h->max);
      check(x != 0 || h->zeros || h->n == 0);
    }
    hist_sampler_cleanup(&s);
  }

  struct hist c;
  hist_init(&c);
  if (hist_copy(&c, h) == 0) {
    check_same(&c, h);
    if (hist_merge(&c, h) == 0)
      check(c.n == 2 * h->n && c.zeros == 2 * h->zeros);
  }
  hist_cleanup(&c);
}

static void fuzz_decode(struct input *in) {
  uint64_t n = take_varint(in), zeros = take_varint(in);
  uint64_t min = take_varint(in), max = take_varint(in);
  double sum, sum_log, sum_log2;
  if (take_byte(in) & 1) {
    sum = take_double(in);
    sum_log = take_double(in);
    sum_log2 = take_double(in);
  } else {
    double k = (double)(n - zeros), l = max ? log((double)max) : 0;
    sum = n > zeros ? k * (double)max : 0;
    sum_log = n > zeros ? k * l : 0;
    sum_log2 = n > zeros ? k * l * l : 0;
  }
  size_t len = in->len - in->pos;
  /* An exactly sized copy, so ASan flags any read past the blob. */
  uint8_t *blob = malloc(len ? len : 1);
  if (!blob) return;
  memcpy(blob, in->p + in->pos, len);
  struct hist h;
  hist_init(&h);
  int rc =
      hist_decode(&h, blob, len, n, zeros, min, max, sum, sum_log, sum_log2);
  check(rc == 0 || rc == ERR_CORRUPT);
  if (rc == 0) {
    check(h.n == n && h.zeros == zeros && h.min == min && h.max == max);
    exercise(&h, blob, len);
  } else {
    check(h.n == 0 && h.counts == NULL);
  }
  hist_cleanup(&h);
  free(blob);
}

static void fuzz_build(struct input *in, int flip) {
  struct hist h, half;
  hist_init(&h);
  hist_init(&half);
  size_t end = flip && in->len >= 2 ? in->len - 2 : in->len;
  size_t pairs = 0;
  while (in->pos < end) {
    uint64_t v = take_varint(in);
    uint64_t count = take_byte(in);
    if (hist_add(&h, v, count)) break;
    if (pairs++ % 2 == 0 && hist_add(&half, v, count)) break;
  }
  exercise(&h, NULL, 0);
  exercise(&half, NULL, 0);

  uint8_t *blob = NULL;
  size_t len = 0;
  if (flip && hist_encode(&h, &blob, &len) == 0) {
    uint8_t pos = in->len >= 2 ? in->p[in->len - 2] : 0;
    uint8_t mask = in->len >= 1 ? in->p[in->len - 1] : 0;
    blob[pos % len] ^= mask;
    struct hist d;
    hist_init(&d);
    int rc = decode_like(&d, blob, len, &h);
    check(rc == 0 || rc == ERR_CORRUPT);
    /* A flip that keeps every check happy (two counts trading places)
     * still has to give a self-consistent histogram. */
    if (rc == 0) exercise(&d, blob, len);
    hist_cleanup(&d);
    free(blob);
  }
  hist_cleanup(&half);
  hist_cleanup(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct input in = {data, size, 0};
  uint8_t mode = take_byte(&in);
  if (mode & 1)
    fuzz_build(&in, mode & 2);
  else
    fuzz_decode(&in);
  return 0;
}
