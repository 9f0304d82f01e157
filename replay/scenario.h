/* scenario: load shapes for `mimic replay`. A shape says, as a function
 * of the time since the start of the run, how the plan drawn from the
 * model is bent: a factor on the arrival rate, on think times, a pause
 * added before each request, slow reads, a fault rate, a rate cap and,
 * for closed workloads, how many of the users may be active. Shapes are
 * named presets (`--scenario peak`) or a list of phases read from JSON
 * (`--phases`), each phase a preset over its own span.
 *
 * The shape functions are pure (no clock, no randomness): the replay
 * evaluates them on its own time, so a dry run shows the shape too. Open
 * workloads keep a non-homogeneous Poisson process: arrivals are drawn at
 * the shape's peak factor and thinned by factor(t) / peak.
 *
 * scenario_watch follows a running replay from its metrics (another
 * thread than the workers): the knee of a stress run and the memory and
 * rate stability of a soak, for the report. */
#ifndef MIMIC_SCENARIO_H
#define MIMIC_SCENARIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct run_opts;
struct metrics;
struct scenario;

enum scenario_base {
  SCENARIO_BASE_CURVE, /* the learned per-minute arrival curve */
  SCENARIO_BASE_MEAN,  /* its mean rate, steady */
  SCENARIO_BASE_DAY,   /* the learned time-of-day profile, from 00:00 */
};

enum scenario_incident {
  SCENARIO_CALM = 0,
  SCENARIO_ERROR_BURST,   /* fault rate up (needs fault injection) */
  SCENARIO_LATENCY_SPIKE, /* slow reads and a traffic surge */
};

/* What the shape says at one instant. */
struct scenario_point {
  double rate;            /* factor on the base arrival rate (>= 0) */
  double think;           /* factor on think times (1: as learned) */
  int64_t extra_delay_us; /* pause added before each request */
  int64_t recv_bps;       /* slow reads: bytes/s per response (0: none) */
  double error_rate;      /* share of requests to fault, 0..1 */
  double max_rps;         /* the phase's rate cap (0: the run's) */
  uint64_t users;         /* closed workloads: users that may be active
                             (0: all) */
  unsigned phase;         /* index of the phase (0 for presets) */
  int incident;           /* enum scenario_incident */
};

struct scenario_params {
  int64_t duration_us; /* the run's length (0: not known) */
  uint64_t users;      /* closed workloads: the population (0: open) */
  double peak_factor;  /* peak: busiest level / mean level (>= 1; 0: 2) */
  double time_scale;   /* diurnal/demo: the day runs this much faster */
  int have_error_rate; /* error_rate overrides the presets' */
  double error_rate;
};

/* Names and one-line descriptions of the presets, in order; NULL after
 * the last. */
const char *scenario_preset_name(size_t i);
const char *scenario_preset_help(size_t i);

/* A preset by name. Returns 0, or ERR_NOTFOUND with a message naming the
 * presets in err. */
int scenario_new(const char *name, const struct scenario_params *p,
                 struct scenario **out, char *err, size_t errlen);

/* Phases from a JSON text: either a list or {"phases": [...]}, each phase
 * an object with "duration" (required: seconds, or a string such as
 * "30s", "5m") and optionally "scale" (factor on the rate), "users"
 * (closed workloads), "max_rps", "error_rate" (0..1) and "scenario" (a
 * preset shaping the phase over its own span; not stress, soak, diurnal
 * or demo). Returns 0, or ERR_PARSE with the place and the reason in err;
 * -ENOMEM. */
int scenario_phases_parse(const char *json, const struct scenario_params *p,
                          struct scenario **out, char *err, size_t errlen);
/* The same from a file (-errno when it cannot be read). */
int scenario_phases_load(const char *path, const struct scenario_params *p,
                         struct scenario **out, char *err, size_t errlen);
void scenario_free(struct scenario *s);

/* The shape at t_us since the start. */
void scenario_at(const struct scenario *s, int64_t t_us,
                 struct scenario_point *p);
/* The largest rate factor over the run (>= 1e-9): the thinning bound,
 * and what a closed workload's active share is measured against. */
double scenario_rate_peak(const struct scenario *s);
enum scenario_base scenario_base(const struct scenario *s);
/* The length the shape wants (phases: their sum; demo: endless =
 * INT64_MAX), or 0 when it follows the run's. */
int64_t scenario_duration(const struct scenario *s);
/* Sets the run's length when it was not known at creation (an open run
 * without --duration). Shapes relative to the length need one: returns
 * ERR_USAGE with a message in err when d is 0 and the shape needs it. */
int scenario_set_duration(struct scenario *s, int64_t d, char *err,
                          size_t errlen);
/* Whether the shape ever asks for faults (error_rate > 0). */
int scenario_wants_faults(const struct scenario *s);
const char *scenario_name(const struct scenario *s);
size_t scenario_phases(const struct scenario *s);

/* The next instant after t_us at which the shape may let a parked closed
 * user go (a ramp step or a phase change); INT64_MAX when never. */
int64_t scenario_next_change(const struct scenario *s, int64_t t_us);

/* ---- watching a run ------------------------------------------------------ */

struct scenario_watch;

struct scenario_limits {
  double max_error_ratio; /* stress: stop when a step's errors (no answer
                             or 5xx) pass this share (default 0.05) */
  double max_p99_s;       /* ... or its p99 latency passes this (1 s) */
};

/* Follows m (which must outlive the watch) for s. 0 or -ENOMEM. */
int scenario_watch_new(const struct scenario *s, const struct metrics *m,
                       const struct scenario_limits *lim,
                       struct scenario_watch **out);
void scenario_watch_free(struct scenario_watch *w);
/* Called every ~200 ms by the run's main thread with the run's elapsed
 * time; publishes the shape's gauges. Returns 1 when the run should stop
 * (a stress run crossed a limit), with a message in why. */
int scenario_watch_tick(struct scenario_watch *w, struct metrics *m,
                        int64_t t_us, char *why, size_t whylen);
/* The watch's findings for the report (a new reference), or NULL when it
 * has none. */
json_t *scenario_watch_report(const struct scenario_watch *w);

/* ---- the command line ---------------------------------------------------- */

/* Parses replay's --scenario, --phases, --error-rate, --metrics-addr and
 * --linger (name without dashes) into o. Returns 0, or 2 after printing a
 * usage error on err. */
int scenario_option(const char *name, const char *arg, struct run_opts *o,
                    FILE *err);

/* `mimic scenarios`: lists the presets. */
int scenario_main(int argc, char **argv);

#endif
