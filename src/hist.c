#include "hist.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

#define GAMMA ((1.0 + HIST_ALPHA) / (1.0 - HIST_ALPHA))
#define FORMAT_VERSION 1

/* Sums recorded by one machine are re-checked against min/max on another;
 * rounding in the summation and in libm must never make a sound model fail,
 * while a value off by more than this is damage. */
#define SUM_SLACK 1e-6

/* The one definition of the bucket edges: bucket i is (bound(i-1), bound(i)]
 * and every other function, hist_bucket_of included, defers to it. */
static double bound(double e) {
  return pow(GAMMA, e);
}

/* Bucket of x > 0 given l = log(x). */
static int32_t bucket_of_log(double x, double l) {
  double f = l / log(GAMMA);
  int32_t i = (int32_t)ceil(f);
  /* log and the division round by far less than 1e-9 of a bucket, so a
   * value that far from an edge is settled; only values next to an edge
   * are checked against the edges themselves (pow is slow: this runs for
   * every recorded value). */
  double gap = (double)i - f;
  if (gap > 1e-9 && gap < 1 - 1e-9) return i;
  while (x > bound(i)) i++;
  while (x <= bound((double)i - 1)) i--;
  return i;
}

int32_t hist_bucket_of(uint64_t v) {
  if (v == 0) return 0;
  double x = (double)v;
  return bucket_of_log(x, log(x));
}

double hist_bucket_lower(int32_t i) {
  return bound((double)i - 1);
}

double hist_bucket_upper(int32_t i) {
  return bound(i);
}

/* The highest bucket any uint64_t value can reach (about 2219); decode
 * refuses anything beyond, which also caps what a blob can allocate. */
static int32_t top_bucket(void) {
  return hist_bucket_of(UINT64_MAX);
}

void hist_init(struct hist *h) {
  h->n = h->zeros = 0;
  h->min = h->max = 0;
  h->sum = h->sum_log = h->sum_log2 = 0;
  h->lo = 0;
  h->len = h->cap = 0;
  h->counts = NULL;
}

void hist_cleanup(struct hist *h) {
  free(h->counts);
  hist_init(h);
}

/* Positions in counts of the first and last non-empty bucket; false when
 * there is none. The window may hold empty growth slack at its low end. */
static bool used_range(const struct hist *h, uint32_t *first, uint32_t *last) {
  uint32_t f = 0, l = h->len;
  while (f < h->len && h->counts[f] == 0) f++;
  if (f == h->len) return false;
  while (h->counts[l - 1] == 0) l--;
  *first = f;
  *last = l - 1;
  return true;
}

/* Widens the window to hold buckets a..b (a <= b, both >= 0). Nothing
 * changes on failure. */
static int reserve(struct hist *h, int32_t a, int32_t b) {
  if (h->len == 0) {
    uint32_t len = (uint32_t)(b - a) + 1;
    uint32_t cap = len < 16 ? 16 : len;
    uint64_t *c = calloc(cap, sizeof *c);
    if (!c) return -ENOMEM;
    free(h->counts);
    h->counts = c;
    h->lo = a;
    h->len = len;
    h->cap = cap;
    return 0;
  }
  int64_t lo = h->lo, hi = lo + (int64_t)h->len - 1;
  if (a >= lo && b <= hi) return 0;
  int64_t nlo = a < lo ? a : lo, nhi = b > hi ? b : hi;
  if (nlo < lo) {
    /* Growing downwards moves every count. Leaving empty room below makes
     * a run of ever smaller values cost amortised O(1) moves, not O(len)
     * each; no value lives below bucket 0, so no room is made there. */
    int64_t slack = h->len / 2;
    if (slack > nlo) slack = nlo > 0 ? nlo : 0;
    nlo -= slack;
  }
  uint32_t nlen = (uint32_t)(nhi - nlo + 1);
  uint32_t shift = (uint32_t)(lo - nlo);
  if (nlen <= h->cap) {
    if (shift) {
      memmove(h->counts + shift, h->counts, h->len * sizeof *h->counts);
      memset(h->counts, 0, shift * sizeof *h->counts);
    }
    memset(h->counts + shift + h->len, 0,
           (nlen - shift - h->len) * sizeof *h->counts);
  } else {
    uint32_t ncap = nlen + nlen / 2;
    uint64_t *c = calloc(ncap, sizeof *c);
    if (!c) return -ENOMEM;
    memcpy(c + shift, h->counts, h->len * sizeof *c);
    free(h->counts);
    h->counts = c;
    h->cap = ncap;
  }
  h->lo = (int32_t)nlo;
  h->len = nlen;
  return 0;
}

int hist_add(struct hist *h, uint64_t v, uint64_t count) {
  if (count == 0) return 0;
  if (h->n > UINT64_MAX - count) return -EOVERFLOW;
  if (v > 0) {
    double l = log((double)v);
    int32_t i = bucket_of_log((double)v, l);
    int rc = reserve(h, i, i);
    if (rc) return rc;
    h->counts[i - h->lo] += count;
    h->sum_log += l * (double)count;
    h->sum_log2 += l * l * (double)count;
  } else {
    h->zeros += count;
  }
  if (h->n == 0) {
    h->min = h->max = v;
  } else {
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
  }
  h->n += count;
  h->sum += (double)v * (double)count;
  return 0;
}

int hist_merge(struct hist *dst, const struct hist *src) {
  if (src->n == 0) return 0;
  if (dst->n > UINT64_MAX - src->n) return -EOVERFLOW;
  /* src may be dst: the scalars are read before dst changes, and the
   * window then already covers src, so reserve moves nothing. */
  struct hist s = *src;
  uint32_t f, l;
  if (used_range(src, &f, &l)) {
    int rc = reserve(dst, s.lo + (int32_t)f, s.lo + (int32_t)l);
    if (rc) return rc;
    for (uint32_t k = f; k <= l; k++)
      dst->counts[s.lo + (int32_t)k - dst->lo] += s.counts[k];
  }
  if (dst->n == 0) {
    dst->min = s.min;
    dst->max = s.max;
  } else {
    if (s.min < dst->min) dst->min = s.min;
    if (s.max > dst->max) dst->max = s.max;
  }
  dst->n += s.n;
  dst->zeros += s.zeros;
  dst->sum += s.sum;
  dst->sum_log += s.sum_log;
  dst->sum_log2 += s.sum_log2;
  return 0;
}

int hist_copy(struct hist *dst, const struct hist *src) {
  if (dst == src) return 0;
  uint64_t *c = NULL;
  uint32_t f = 0, l = 0, len = 0;
  if (used_range(src, &f, &l)) {
    len = l - f + 1;
    c = malloc(len * sizeof *c);
    if (!c) return -ENOMEM;
    memcpy(c, src->counts + f, len * sizeof *c);
  }
  free(dst->counts);
  *dst = *src;
  dst->counts = c;
  dst->lo = len ? src->lo + (int32_t)f : 0;
  dst->len = dst->cap = len;
  return 0;
}

/* Turns a point x of bucket i into a recorded-looking value: the nearest
 * integer, kept inside bucket i where the bucket holds one (below ~50 a
 * bucket is narrower than 1, and plain rounding would hand out the
 * neighbour's value), then clamped to [min, max]. Converting a double at or
 * above 2^64 is undefined, hence the comparisons before the cast. */
static uint64_t to_value(const struct hist *h, double x, int32_t i) {
  if (!(x < (double)h->max)) return h->max;
  if (x <= (double)h->min) return h->min;
  uint64_t v = (uint64_t)x;
  if (x - (double)v >= 0.5) v++;
  if (v == 0) v = 1;
  int32_t b = hist_bucket_of(v);
  if (b > i)
    v--;
  else if (b < i)
    v++;
  if (v < h->min) v = h->min;
  if (v > h->max) v = h->max;
  return v;
}

/* The part of bucket i that can hold values, given the exact extremes. */
static void span(const struct hist *h, int32_t i, double *a, double *b) {
  *a = fmax(hist_bucket_lower(i), (double)h->min);
  *b = fmin(hist_bucket_upper(i), (double)h->max);
}

uint64_t hist_quantile(const struct hist *h, double q) {
  if (h->n == 0) return 0;
  if (!(q > 0)) return h->min;
  if (q >= 1) return h->max;
  /* The value of rank floor(q * (n - 1)) among the sorted values. */
  double rank = q * (double)(h->n - 1);
  uint64_t cum = h->zeros;
  if ((double)cum > rank) return 0;
  for (uint32_t k = 0; k < h->len; k++) {
    cum += h->counts[k];
    if ((double)cum > rank) {
      int32_t i = h->lo + (int32_t)k;
      double lower = hist_bucket_lower(i), upper = hist_bucket_upper(i);
      /* Within alpha of both edges: (1-alpha) * upper = (1+alpha) * lower. */
      return to_value(h, 2 * lower * upper / (lower + upper), i);
    }
  }
  return h->max;
}

double hist_mean(const struct hist *h) {
  return h->n ? h->sum / (double)h->n : 0;
}

double hist_cdf(const struct hist *h, uint64_t v) {
  if (h->n == 0 || v < h->min) return 0;
  if (v >= h->max) return 1;
  if (v == 0) return (double)h->zeros / (double)h->n;
  int32_t i = hist_bucket_of(v);
  uint64_t below = h->zeros;
  double part = 0;
  for (uint32_t k = 0; k < h->len; k++) {
    int32_t idx = h->lo + (int32_t)k;
    if (idx > i) break;
    if (idx < i) {
      below += h->counts[k];
      continue;
    }
    if (h->counts[k] == 0) break;
    /* Every value that rounds to v or less counts, as hist_sample rounds;
     * this keeps the small integers, one to a bucket, exact. */
    double a, b, frac = 1;
    span(h, i, &a, &b);
    double x = fmin((double)v + 0.5, b);
    if (b > a) frac = fmax(0, log(x / a) / log(b / a));
    part = (double)h->counts[k] * fmin(frac, 1);
  }
  return ((double)below + part) / (double)h->n;
}

int hist_sampler_prepare(struct hist_sampler *s, const struct hist *h) {
  s->h = h;
  s->cum = NULL;
  s->len = 0;
  if (h->n == 0) return 0;
  uint32_t len = h->len + 1;
  uint64_t *cum = malloc(len * sizeof *cum);
  if (!cum) return -ENOMEM;
  cum[0] = h->zeros;
  for (uint32_t k = 0; k < h->len; k++) cum[k + 1] = cum[k] + h->counts[k];
  s->cum = cum;
  s->len = len;
  return 0;
}

void hist_sampler_cleanup(struct hist_sampler *s) {
  free(s->cum);
  s->cum = NULL;
  s->len = 0;
}

uint64_t hist_sample(const struct hist_sampler *s, struct rng *r) {
  if (s->len == 0) return 0;
  const struct hist *h = s->h;
  uint64_t total = s->cum[s->len - 1];
  if (total == 0) return 0;
  /* An integer draw keeps bucket weights exact however large n is. */
  uint64_t u = rng_below(r, total);
  uint32_t lo = 0, hi = s->len - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  if (lo == 0) return 0;
  int32_t i = h->lo + (int32_t)(lo - 1);
  /* Drawing inside [min, max] rather than clamping afterwards keeps the
   * edge buckets from piling a point mass on min and max. */
  double a, b, x;
  span(h, i, &a, &b);
  x = a;
  if (b > a) x = a * exp(rng_double(r) * log(b / a));
  return to_value(h, x, i);
}

static uint64_t zigzag(int64_t x) {
  return x >= 0 ? (uint64_t)x << 1 : (((uint64_t) - (x + 1)) << 1) | 1;
}

static int64_t unzigzag(uint64_t z) {
  return z & 1 ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1);
}

/* Writes x at p (when p is not NULL) and returns its length. */
static size_t put_varint(uint8_t *p, uint64_t x) {
  size_t n = 0;
  do {
    uint8_t b = x & 0x7f;
    x >>= 7;
    if (x) b |= 0x80;
    if (p) p[n] = b;
    n++;
  } while (x);
  return n;
}

/* The encoding, or with out NULL just its length: the two passes share one
 * walk so they cannot disagree. */
static size_t emit(const struct hist *h, uint8_t *out) {
  uint32_t f = 0, l = 0, len = 0;
  int32_t lo = 0;
  if (used_range(h, &f, &l)) {
    len = l - f + 1;
    lo = h->lo + (int32_t)f;
  }
  size_t n = 0;
  if (out) out[0] = FORMAT_VERSION;
  n++;
  n += put_varint(out ? out + n : NULL, zigzag(lo));
  n += put_varint(out ? out + n : NULL, len);
  const uint64_t *c = len ? h->counts + f : NULL;
  for (uint32_t k = 0; k < len;) {
    if (c[k]) {
      n += put_varint(out ? out + n : NULL, c[k]);
      k++;
      continue;
    }
    uint32_t run = 0;
    while (c[k + run] == 0) run++; /* c[len - 1] != 0 stops it */
    n += put_varint(out ? out + n : NULL, 0);
    n += put_varint(out ? out + n : NULL, run);
    k += run;
  }
  return n;
}

int hist_encode(const struct hist *h, uint8_t **out, size_t *out_len) {
  size_t len = emit(h, NULL);
  uint8_t *buf = malloc(len);
  if (!buf) return -ENOMEM;
  emit(h, buf);
  *out = buf;
  *out_len = len;
  return 0;
}

struct reader {
  const uint8_t *p;
  size_t len, pos;
};

/* Only the shortest form of a varint is accepted (and decode accepts only
 * what encode writes), so a valid blob has exactly one spelling. */
static int get_varint(struct reader *r, uint64_t *out) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->pos == r->len) return ERR_CORRUPT;
    uint8_t b = r->p[r->pos++];
    if (shift == 63 && b > 1) return ERR_CORRUPT;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift > 0) return ERR_CORRUPT;
      *out = x;
      return 0;
    }
  }
  return ERR_CORRUPT;
}

/* Another machine's libm may round a bucket edge the other way, moving a
 * value that sits on an edge by one bucket: tolerate exactly that. */
static bool near_bucket(uint64_t v, int64_t i) {
  int64_t b = hist_bucket_of(v);
  return v > 0 && b >= i - 1 && b <= i + 1;
}

static bool within(double x, double a, double b) {
  return x >= a * (1 - SUM_SLACK) && x <= b * (1 + SUM_SLACK);
}

/* Whether the side columns agree with the decoded buckets, so that every
 * reader of the result (mean, clamping to [min, max]) sees sane values. */
static bool side_ok(const struct hist *t) {
  if (t->n == 0)
    return t->min == 0 && t->max == 0 && t->sum == 0 && t->sum_log == 0 &&
           t->sum_log2 == 0;
  if (t->min > t->max) return false;
  if (t->zeros ? t->min != 0 : !near_bucket(t->min, t->lo)) return false;
  if (t->len ? !near_bucket(t->max, (int64_t)t->lo + t->len - 1) : t->max != 0)
    return false;
  if (!isfinite(t->sum) || !isfinite(t->sum_log) || !isfinite(t->sum_log2))
    return false;
  uint64_t npos = t->n - t->zeros;
  if (npos == 0) return t->sum == 0 && t->sum_log == 0 && t->sum_log2 == 0;
  /* Every positive value lies in [vlo, max], so each sum lies between npos
   * times its smallest and largest possible term. */
  double k = (double)npos;
  double vlo = t->zeros ? 1.0 : (double)t->min, vhi = (double)t->max;
  double llo = log(vlo), lhi = log(vhi);
  return within(t->sum, k * vlo, k * vhi) &&
         within(t->sum_log, k * llo, k * lhi) &&
         within(t->sum_log2, k * llo * llo, k * lhi * lhi);
}

int hist_decode(struct hist *h, const uint8_t *blob, size_t len, uint64_t n,
                uint64_t zeros, uint64_t min, uint64_t max, double sum,
                double sum_log, double sum_log2) {
  struct reader r = {blob, len, 1};
  uint64_t zlo, blen;
  if (len < 1 || blob[0] != FORMAT_VERSION) return ERR_CORRUPT;
  if (get_varint(&r, &zlo) || get_varint(&r, &blen)) return ERR_CORRUPT;
  int64_t lo = unzigzag(zlo), top = top_bucket();
  /* Checked before allocating: a hostile length costs nothing. */
  if (blen == 0 ? lo != 0
                : lo < 0 || lo > top || blen > (uint64_t)(top - lo + 1))
    return ERR_CORRUPT;

  int rc = ERR_CORRUPT;
  struct hist t;
  hist_init(&t);
  if (blen) {
    t.counts = calloc(blen, sizeof *t.counts);
    if (!t.counts) return -ENOMEM;
    t.lo = (int32_t)lo;
    t.len = t.cap = (uint32_t)blen;
  }
  uint64_t total = 0;
  bool after_run = false;
  for (uint64_t k = 0; k < blen;) {
    uint64_t c, run;
    if (get_varint(&r, &c)) goto out;
    if (c == 0) {
      /* Edge buckets are non-empty and runs are maximal, as encode writes
       * them; anything else is not a blob we made. */
      if (k == 0 || after_run || get_varint(&r, &run) || run == 0 ||
          run >= blen - k)
        goto out;
      k += run;
      after_run = true;
      continue;
    }
    if (total > UINT64_MAX - c) goto out;
    total += c;
    t.counts[k++] = c;
    after_run = false;
  }
  if (r.pos != len) goto out;
  if (total > UINT64_MAX - zeros || total + zeros != n) goto out;
  t.n = n;
  t.zeros = zeros;
  t.min = min;
  t.max = max;
  t.sum = sum;
  t.sum_log = sum_log;
  t.sum_log2 = sum_log2;
  if (!side_ok(&t)) goto out;
  hist_cleanup(h);
  *h = t;
  return 0;
out:
  free(t.counts);
  return rc;
}
