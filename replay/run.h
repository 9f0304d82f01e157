/* run: `mimic replay`: virtual users drawn from a model, driven by a
 * closed workload (a fixed population with request budgets) or an open one
 * (sessions arriving along the learned curve, scaled), with a hard rate
 * cap, across worker threads (one libuv loop + engine each, users sharded
 * by number, statistics merged at the end), with live progress, a JSON
 * report, an access log of what was sent, and a dry run that prints the
 * plan instead of sending it. */
#ifndef MIMIC_RUN_H
#define MIMIC_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct run_opts {
  const char *model_path;
  const char *target; /* base URL */

  /* Closed model (users > 0): each user performs between min_requests and
   * max_requests requests (uniform), as consecutive sessions. */
  uint64_t users;
  uint32_t min_requests, max_requests;
  double spawn_rate; /* users started per second; 0: all at once */

  /* Open model (users == 0): sessions arrive along the learned curve. */
  double scale;        /* K times the learned arrival rate (default 1) */
  double time_scale;   /* X: the timeline runs X times faster (default 1) */
  int64_t from_us;     /* begin this far into the learned curve (learned
                          time; the curve repeats after its end) */
  int keep_think_time; /* do not divide think times by time_scale */

  int have_delay; /* think times drawn uniformly from [delay_min,
                     delay_max] instead of the model's */
  int64_t delay_min_us, delay_max_us;

  int64_t duration_us;      /* no new sessions after it (0: closed runs
                               until every budget is spent; open runs the
                               learned span once) */
  int64_t drain_timeout_us; /* sessions still running after the duration
                               are cut after this (default 30 s) */
  double max_rps;           /* hard cap on requests per second (0: none) */
  unsigned threads;         /* worker threads (0: one per core) */

  int http2;
  int64_t timeout_ms;
  long max_connections;
  const char *const *headers;
  size_t nheaders;
  int insecure;
  const char *session_header; /* NULL: none */

  const char *const *personas; /* restrict to these persona names */
  size_t npersonas;

  /* Stateful sessions, failure injection and cleanup (replay/flow.h,
   * replay/cleanup.h). */
  const char *credentials;     /* CSV: username,password[,extra] */
  const char *login;           /* "POST /path" */
  const char *bodies;          /* JSON: "METHOD /template": body template */
  const char *cleanup_map;     /* JSON: "POST /t": "DELETE /t/{created.id}" */
  const char *journal;         /* SQLite journal of created resources */
  const char *run_id;          /* marker of what the run makes (NULL: new) */
  double error_rate;           /* percent of requests made faults */
  const char *faults;          /* "KIND[:weight],..." (NULL: all it can) */
  int64_t fault_timeout_ms;    /* how long a timeout fault waits (0: 200) */
  int cleanup;                 /* delete what was created, at the end */
  int64_t cleanup_interval_us; /* and every so often (0: only at the end) */
  unsigned cleanup_retries;    /* per resource (0: 3) */

  uint64_t seed;
  int dry_run;
  const char *report_path; /* JSON report */
  const char *log_path;    /* access log of what was sent */
  int quiet;
  FILE *out; /* the plan (dry run) */
  FILE *err; /* messages and progress */

  /* Observability and load shapes (replay/metrics*, replay/scenario). */
  const char *metrics_addr; /* serve Prometheus /metrics there; NULL: no */
  int64_t linger_us;        /* and keep serving this long after the run */
  const char *scenario;     /* a preset load shape; NULL: none */
  const char *phases_path;  /* phases run in order (JSON); NULL: none */
  int have_error_rate;      /* --error-rate given: it overrides the load
                               shape's share of faults */
};

/* Exit statuses. */
enum {
  RUN_OK = 0,
  RUN_FAILED = 1,      /* could not run (model, files) */
  RUN_USAGE = 2,       /* bad options (target URL, header lines, a
                          --user-types persona the model lacks) */
  RUN_LEFT = 3,        /* ran, but --cleanup left resources (listed) */
  RUN_UNREACHABLE = 4, /* ran, but the target never answered */
};

/* Runs a replay. Returns a RUN_* status. */
int run_replay(const struct run_opts *opts);

#endif
