/* persona: groups sessions into behaviour classes (personas) and names
 * them.
 *
 * A session becomes a feature vector of PERSONA_DIMS(ntop) floats:
 *  - its endpoint mix over the ntop most requested endpoints plus one
 *    "other" dimension, as square roots of the shares (the Hellinger
 *    embedding: every session lies on the unit sphere, two mixes are 0 to 2
 *    apart in squared distance, and a small share that differs counts more
 *    than under raw shares);
 *  - ln(requests), the mean of ln(1 + think ms) and the spread (standard
 *    deviation) of those logs, each standardised over the sample and
 *    weighted (PERSONA_W_*) so that together they spread less than the
 *    endpoint mix, which says most about what a session is for; the
 *    spread is weighted most of the three, because it sets machines
 *    (regular pauses: crawlers, API clients) apart from people (a page,
 *    then its assets at once, then a long read) even where both ask for
 *    the same pages; length least, because every kind of user has short
 *    and long sessions;
 *  - the share of requests answered 4xx/5xx, raw (0..1): standardising a
 *    feature that is 0 for most sessions would blow single errors up into
 *    clusters of their own.
 * Sessions of one or two requests have no think mean or spread: theirs is
 * the sample's mean.
 *
 * Clustering is k-means (Lloyd) with k-means++ seeding from a seeded rng
 * and several restarts. Unless forced, k is chosen by the Bayesian
 * information criterion of a spherical Gaussian mixture with one shared
 * variance (Pelleg and Moore's X-means score) over k = 1..8, on a
 * subsample; then clusters with less than PERSONA_MIN_SHARE of the
 * sessions are folded into their neighbours. Same input and seed, same
 * result. */
#ifndef MIMIC_PERSONA_H
#define MIMIC_PERSONA_H

#include <stddef.h>
#include <stdint.h>

#define PERSONA_AUTO_KMAX 8 /* k tried when it is not forced */
#define PERSONA_MAX 64      /* k at most (--personas) */
#define PERSONA_TOP_EPS 32  /* endpoint dimensions */
#define PERSONA_MIN_SHARE 0.01
/* Sessions needed in the sample per persona before k > 1 is tried: a small
 * input gives one persona. */
#define PERSONA_MIN_SESSIONS 200
#define PERSONA_W_LENGTH 0.25f
#define PERSONA_W_THINK 0.25f
#define PERSONA_W_SPREAD 0.5f
#define PERSONA_W_ERROR 1.0f
#define PERSONA_DIMS(ntop) ((ntop) + 5)
#define PERSONA_NAME_MAX 40

/* The feature space: which endpoints have a dimension, and how the scalar
 * features are standardised. */
struct persona_space {
  uint32_t nep;  /* endpoints known */
  uint32_t *dim; /* owned; per endpoint its dimension, ntop = "other" */
  uint32_t ntop, dims;
  float center[3], scale[3]; /* ln length, think mean and spread */
};

/* Sets up the space for nep endpoints with these request counts (the top
 * PERSONA_TOP_EPS get a dimension; ties go to the lower id). Returns 0 or
 * -ENOMEM. */
int persona_space_init(struct persona_space *sp, const uint64_t *ep_counts,
                       uint32_t nep);
void persona_space_cleanup(struct persona_space *sp);

/* Raw features of one session of n >= 1 requests (endpoint ids < nep,
 * status classes status/100 or 0, think times before each request, the
 * first ignored) into out[sp->dims]. The mean think of a one-request
 * session is NaN until persona_space_apply. */
void persona_features(const struct persona_space *sp, const uint32_t *ep,
                      const uint8_t *cls, const int64_t *think_us, uint32_t n,
                      float *out);
/* Learns the standardisation from n raw vectors (x is n x dims), which it
 * then applies to them. */
void persona_space_fit(struct persona_space *sp, float *x, size_t n);
/* Standardises one raw vector in place. */
void persona_space_apply(const struct persona_space *sp, float *x);

/* The clustering result. Clusters are ordered by size, largest first. */
struct persona_fit {
  uint32_t k, dims;
  float *centroids;                  /* owned; k x dims */
  uint64_t *size;                    /* owned; sample points per cluster */
  double bic[PERSONA_AUTO_KMAX + 1]; /* by k when chosen by BIC, else 0 */
  int forced;                        /* k was given, not chosen */
};

/* Clusters the n x dims sample x. k == 0 chooses k in 1..PERSONA_AUTO_KMAX
 * by BIC (1 when n < 2 * PERSONA_MIN_SESSIONS) and folds small clusters;
 * k > 0 forces it (fewer when the sample has fewer distinct points).
 * Returns 0, -EINVAL (n == 0, dims == 0, k > PERSONA_MAX) or -ENOMEM. */
int persona_cluster(const float *x, size_t n, uint32_t dims, uint32_t k,
                    uint64_t seed, struct persona_fit *out);
void persona_fit_cleanup(struct persona_fit *f);
/* Index of the centroid nearest to x (ties: the lower index). */
uint32_t persona_nearest(const struct persona_fit *f, const float *x);

/* What naming looks at, per persona c < k and endpoint e < nep. */
struct persona_profile {
  uint32_t k, nep;
  const uint64_t *requests;  /* k x nep: requests of persona c to e */
  const uint64_t *errors;    /* k: requests answered 4xx/5xx */
  const char *const *method; /* nep */
  const char *const *templ;  /* nep */
};

/* Names every persona after its most distinctive endpoints (share in the
 * persona times the log of its lift over the overall mix), e.g.
 * "browse-products", "api-orders-writer", "crawler", "wp-login-errors".
 * Names are unique, lowercase [a-z0-9-], at most PERSONA_NAME_MAX chars,
 * and a pure function of the profile. names[c] is allocated (free()).
 * Returns 0 or -ENOMEM (names then all NULL). */
int persona_names(const struct persona_profile *p, char **names);

#endif
