/* metrics: what a replay is doing, as Prometheus counters, gauges and
 * histograms, rendered in the text exposition format (version 0.0.4).
 *
 * The replay's worker threads must never wait for a scrape, so every
 * worker writes its own shard (plain relaxed atomic stores of values only
 * it changes) and the renderer, on another thread, reads all shards with
 * relaxed loads and adds them up. A scrape may see one worker a few
 * requests later than another, never a torn or decreasing value; each
 * histogram's _count is the sum of the bucket counts that were read, so
 * +Inf and _count always agree.
 *
 * Label sets are fixed at creation, so the number of series is bounded:
 * endpoint = the model's templates (the METRICS_MAX_ENDPOINTS busiest; the
 * rest are "other"), status_class = 1xx..5xx, "error" (no HTTP answer) or
 * "other", persona = the model's persona names (capped likewise), injected
 * = the fault kinds named at creation ("none" for requests sent as the
 * model says). */
#ifndef MIMIC_METRICS_H
#define MIMIC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_ENDPOINTS 100
#define METRICS_MAX_PERSONAS 32
#define METRICS_MAX_INJECTED 16
#define METRICS_MAX_INFO 8

struct metrics;
struct metrics_shard;

struct metrics_desc {
  /* The model's endpoints: method and template of each, and how often it
   * was seen (picks the busiest when there are more than the cap; NULL:
   * the first ones). */
  size_t nendpoints;
  const char *const *methods;
  const char *const *templates;
  const uint64_t *counts;
  size_t npersonas; /* persona names by synth index */
  const char *const *personas;
  size_t ninjected; /* values of the injected label; [0] is the one used
                       for unfaulted requests (0: just "none") */
  const char *const *injected;
  unsigned nshards; /* one per worker thread */
  /* Labels of mimic_run_info: ninfo name/value pairs (values are escaped;
   * names must be valid label names). */
  size_t ninfo;
  const char *const *info_names;
  const char *const *info_values;
  double start_time; /* unix seconds, for mimic_run_start_time_seconds */
};

/* Copies what it needs from d. Returns 0, -ENOMEM, or ERR_USAGE when
 * nshards is 0. */
int metrics_new(const struct metrics_desc *d, struct metrics **out);
void metrics_free(struct metrics *m);

/* Shard i (< nshards), to be written by one thread only. */
struct metrics_shard *metrics_shard(struct metrics *m, unsigned i);

/* ---- writers: the shard's own thread only -------------------------------- */

/* One request finished: status is the HTTP status, or 0 when no answer
 * came (status_class "error"). ep, persona and injected out of range
 * count as "other" / the last injected kind. Latency is from the intended
 * send time, service time from the actual send (microseconds). */
void metrics_request(struct metrics_shard *s, uint32_t ep, uint32_t persona,
                     uint32_t injected, int status, uint64_t latency_us,
                     uint64_t service_us);

/* Monotone totals and current levels of a worker, published as they are
 * (the worker keeps them; counters must never decrease). */
struct metrics_worker {
  uint64_t sessions_started, sessions_completed;
  uint64_t planned_sessions, dropped_sessions;
  uint64_t planned_requests, dropped_requests;
  uint64_t users, sessions_active, in_flight, queued;
};
void metrics_worker_set(struct metrics_shard *s,
                        const struct metrics_worker *v);

/* ---- run-wide values: any one thread ------------------------------------ */

enum metrics_gauge {
  METRICS_RATE_MULTIPLIER, /* the load shape's factor now */
  METRICS_ERROR_RATE,      /* share of requests meant to be faulted */
  METRICS_PHASE,           /* index of the phase running (0-based) */
  METRICS_FINISHED,        /* 1 once the run is over (while lingering) */
  METRICS_GAUGES
};
void metrics_gauge_set(struct metrics *m, enum metrics_gauge g, double v);

enum metrics_cleanup {
  METRICS_CLEANUP_JOURNALLED, /* resources the run created and recorded */
  METRICS_CLEANUP_DELETED,
  METRICS_CLEANUP_FAILED,
  METRICS_CLEANUPS
};
void metrics_cleanup_add(struct metrics *m, enum metrics_cleanup k, uint64_t n);

/* ---- readers: any thread ---------------------------------------------- */

/* Renders the exposition into *out (malloc'd, NUL-terminated; caller
 * frees), *len bytes. Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics *m, char **out, size_t *len);

/* Totals across shards, for the run's own decisions (e.g. the knee of a
 * stress run): requests by class, and the duration histogram's bucket
 * counts (cumulative over METRICS_BUCKETS upper bounds, then +Inf). */
#define METRICS_BUCKETS 14
extern const double metrics_bucket_le[METRICS_BUCKETS]; /* seconds */
struct metrics_sum {
  uint64_t requests, errors, http_5xx, http_4xx;
  uint64_t latency_le[METRICS_BUCKETS + 1]; /* cumulative; last = count */
};
void metrics_sum(const struct metrics *m, struct metrics_sum *out);
/* Quantile q of the latency between two sums (b later than a), in seconds,
 * interpolated inside its bucket as Prometheus' histogram_quantile does;
 * NaN without requests, the highest bound when in the +Inf bucket. */
double metrics_sum_quantile(const struct metrics_sum *a,
                            const struct metrics_sum *b, double q);

#endif
