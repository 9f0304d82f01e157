/* compare: how alike two traffic models are, for `mimic compare A B`.
 *
 * The distances are pure functions (total variation between count
 * vectors, the traffic-weighted row TVD of two Markov chains, the
 * Kolmogorov-Smirnov distance between two log-bucketed histograms, with a
 * time scale and a resolution floor). The report measures B against A on
 * each metric, measures A's two halves (capture keeps the aggregates of a
 * random half of the sessions apart, see model.h) against each other on
 * the same metric, and gates on max(default, 2 x split-half): a small
 * source cannot be matched more closely than it matches itself. */
#ifndef MIMIC_COMPARE_H
#define MIMIC_COMPARE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct hist;
struct model;

/* ---- distances -------------------------------------------------------- */

/* Total variation distance 1/2 sum |a_i/A - b_i/B| between two count
 * vectors of n entries (A, B their sums): 0 when both are empty, 1 when
 * only one is. */
double compare_tvd(const uint64_t *a, const uint64_t *b, size_t n);

/* One cell of two transition matrices: row (source state), column
 * (target), and the counts of A and of B there. */
struct compare_cell {
  uint32_t row, col;
  uint64_t a, b;
};

/* sum_i w_i TVD(A's row i, B's row i), w_i = A's share of all counts in
 * row i: how differently B leaves each state, weighted by how much A's
 * traffic passes there. A row B never leaves counts as TVD 1. cells must
 * be sorted by row, each (row, col) at most once. 0 when A is empty. */
double compare_row_tvd(const struct compare_cell *cells, size_t n);

/* Kolmogorov-Smirnov distance sup_x |F_a(x) - F_b(x / b_scale)|: b's
 * values are multiplied by b_scale (a time-compressed replay is compared
 * in the source's time). Only x >= from is examined: below the coarser
 * time resolution of the two sources differences are not measurable, so
 * the mass there is compared as one lump (F at `from`). The CDFs are those
 * of the bucketed data, linear in log space inside a bucket, evaluated at
 * every bucket edge of either side. NaN when either is empty. */
double compare_ks(const struct hist *a, const struct hist *b, double b_scale,
                  double from);

/* ---- the report ------------------------------------------------------- */

enum compare_metric {
  COMPARE_ENDPOINT_TVD,   /* endpoint mix */
  COMPARE_STATUS_TVD,     /* status-class mix */
  COMPARE_TRANSITION_TVD, /* Markov rows, weighted by traffic */
  COMPARE_THINK_KS,       /* think time, pooled */
  COMPARE_THINK_TOP_KS,   /* think time, worst of the top transitions */
  COMPARE_LENGTH_KS,      /* requests per session */
  COMPARE_DURATION_KS,    /* first to last request of a session */
  COMPARE_ARRIVAL_KS,     /* arrival curve shape (reported) */
  COMPARE_RATE_ERROR,     /* |rate ratio / expected - 1| (with --scale) */
  COMPARE_NMETRICS
};

struct compare_opts {
  double time_scale; /* B's times x this are A's times (default 1) */
  double scale;      /* expected session-rate ratio B/A; 0: report the
                        ratio without gating it */
  double from_s;     /* B was replayed from this far into A's curve (s) */
  int ignore_status; /* status mix reported, not gated */
  int no_split_half; /* gate on the defaults alone */
  /* Per metric: > 0 replaces the default threshold. */
  double threshold[COMPARE_NMETRICS];
  unsigned top;         /* transitions in think_top_ks (default 10) */
  uint64_t min_samples; /* fewer values on either side: not compared
                           (default 100) */
};

struct compare_report;

/* Compares b against a (both must outlive the report). Returns 0, -ENOMEM,
 * or ERR_NODATA with a message in err when a has no traffic at all. */
int compare_models(const struct model *a, const struct model *b,
                   const struct compare_opts *opts, struct compare_report **out,
                   char *err, size_t errlen);
void compare_report_free(struct compare_report *r);

/* 1 when every gated metric is within its effective threshold and A is
 * large enough to tell. */
int compare_pass(const struct compare_report *r);

/* The metric's name ("endpoint_tvd"), value (NaN: not computed), split-half
 * value (NaN: none) and effective threshold (NaN: reported only). */
const char *compare_metric_name(enum compare_metric m);
double compare_value(const struct compare_report *r, enum compare_metric m);
double compare_split_half(const struct compare_report *r,
                          enum compare_metric m);
double compare_threshold(const struct compare_report *r, enum compare_metric m);
/* Sessions per unit of A's time in B over A, in the replayed window (NaN
 * when it cannot be told). */
double compare_rate_ratio(const struct compare_report *r);

/* Writes the report as text, or as one JSON object (pass, metrics,
 * thresholds, split_half, defaults, rate_ratio, missing endpoints, notes).
 * Returns 0 or -EIO. */
int compare_print(const struct compare_report *r, FILE *out, int json);

/* `mimic compare`: options, usage, exit status (0 pass, 1 fail, 2 usage). */
int compare_main(int argc, char **argv);

#endif
