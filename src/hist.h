/* hist: log-bucketed histograms ("ddlog") of non-negative integer values
 * (microseconds, bytes, counts) with ~1% relative accuracy: record, merge,
 * quantiles, inverse-CDF sampling, and a compact BLOB encoding for the model.
 *
 * Bucket i holds values v with gamma^(i-1) < v <= gamma^i where
 * gamma = (1 + alpha) / (1 - alpha) and alpha = HIST_ALPHA; value 0 is
 * counted apart ("zeros"). Every uint64_t value can be recorded (buckets
 * 0 .. ~2219; membership is decided on (double)v), though the model keeps
 * n, min and max in SQLite int64 columns, so only up to INT64_MAX can be
 * saved. Counts are dense between the lowest and highest used bucket, so
 * memory is proportional to the value range in log space (about 8 bytes a
 * bucket; 1 ms .. 30 min spans ~720 buckets), never to the number of
 * values. */
#ifndef MIMIC_HIST_H
#define MIMIC_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_ALPHA 0.01

struct rng;

struct hist {
  uint64_t n;                    /* values recorded, zeros included */
  uint64_t zeros;                /* values equal to 0 */
  uint64_t min, max;             /* exact extremes; meaningless when n == 0 */
  double sum, sum_log, sum_log2; /* of values; logs (natural) skip zeros */
  /* counts[k] is bucket lo + k; buckets outside [lo, lo+len) are empty.
   * The window may start with empty buckets (room left when it grew
   * downwards); hist_copy and hist_encode trim them. */
  int32_t lo;       /* bucket index of counts[0] */
  uint32_t len;     /* used length of counts */
  uint32_t cap;     /* allocated length of counts */
  uint64_t *counts; /* owned; NULL while empty */
};

/* An empty histogram (no allocation). Cannot fail. */
void hist_init(struct hist *h);
/* Frees the counts; h is empty afterwards and may be reused. */
void hist_cleanup(struct hist *h);

/* Adds value v with multiplicity `count` (0 adds nothing). Returns 0,
 * -ENOMEM, or -EOVERFLOW when n would pass UINT64_MAX; h is unchanged on
 * error. */
int hist_add(struct hist *h, uint64_t v, uint64_t count);
static inline int hist_record(struct hist *h, uint64_t v) {
  return hist_add(h, v, 1);
}

/* Adds all of src into dst (src may be dst). Returns 0, -ENOMEM or
 * -EOVERFLOW (dst unchanged). Sums are added, so they may differ from
 * recording the values one by one in the last bits. */
int hist_merge(struct hist *dst, const struct hist *src);

/* Deep copy into dst (which must be initialised; its old content is freed).
 * Returns 0 or -ENOMEM. */
int hist_copy(struct hist *dst, const struct hist *src);

/* The value at quantile q in [0,1] (0 -> min, 1 -> max, NaN -> min): the
 * value of rank floor(q * (n - 1)) within alpha (or exact below ~50, where
 * buckets hold one integer), clamped to [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* Mean of recorded values; 0 when empty. */
double hist_mean(const struct hist *h);
/* Fraction of values <= v (empirical CDF of the bucketed data, linear in
 * log space inside a bucket, counting what rounds to <= v so that small
 * integers are exact); 0 when empty, 1 from max on. */
double hist_cdf(const struct hist *h, uint64_t v);

/* Sampling by inverse CDF. hist_sampler_prepare builds prefix sums (owned by
 * the sampler); the histogram must not change while a sampler uses it. */
struct hist_sampler {
  const struct hist *h;
  uint64_t *cum; /* owned; cumulative counts, zeros first */
  uint32_t len;  /* entries in cum: h->len + 1, or 0 when h is empty */
};
/* Returns 0 or -ENOMEM (s is then empty; cleanup is still safe). */
int hist_sampler_prepare(struct hist_sampler *s, const struct hist *h);
void hist_sampler_cleanup(struct hist_sampler *s);
/* Draws one value: picks a bucket with probability proportional to its count,
 * then a log-uniform value inside it (and inside [min, max]), rounded to an
 * integer of that bucket. 0 when empty. */
uint64_t hist_sample(const struct hist_sampler *s, struct rng *r);

/* Encoding: a self-describing BLOB (format version byte, lo, len, counts as
 * varints with runs of zero buckets compressed). n/zeros/min/max/sums are
 * stored by the caller in their own columns and handed back to decode.
 * hist_encode allocates *out (caller frees with free()). */
int hist_encode(const struct hist *h, uint8_t **out, size_t *out_len);
/* Rebuilds h (initialised; old content freed on success) from a BLOB plus
 * the side columns. Returns 0, -ENOMEM, or ERR_CORRUPT when the blob is not
 * exactly what hist_encode writes (version, bucket range, shortest varints,
 * maximal zero runs, no trailing bytes) or disagrees with the side columns
 * (counts + zeros != n, min/max outside the edge buckets, sums non-finite or
 * outside what min and max allow; when n == 0, min, max and the sums must
 * be 0); h is unchanged on error. Never reads
 * past blob + len nor allocates more than the ~2220 possible buckets. */
int hist_decode(struct hist *h, const uint8_t *blob, size_t len, uint64_t n,
                uint64_t zeros, uint64_t min, uint64_t max, double sum,
                double sum_log, double sum_log2);

/* Bucket index of v > 0 (0 for v == 0, which has no bucket), and the
 * bounds of bucket i, which holds the v with lower < (double)v <= upper
 * (exposed for tests). */
int32_t hist_bucket_of(uint64_t v);
double hist_bucket_lower(int32_t i);
double hist_bucket_upper(int32_t i);

#endif
