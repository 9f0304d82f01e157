/* cleanup: deletes what a replay created, from its journal
 * (replay/journal.h): newest first (reverse order of creation), one
 * request at a time within --max-rps, retrying transient failures
 * (transport errors, 408, 425, 429, 5xx) with a growing pause. A delete
 * answered 2xx is done, 404/410 means it was gone already; other answers
 * are failures, listed. A create whose answer never came (the replay
 * crashed) is first looked for in its collection, by the marker its body
 * carried. Every outcome is written to the journal as it happens, so a
 * second cleanup finds nothing left to do.
 *
 * Used at the end of `mimic replay --cleanup` (and every
 * --cleanup-interval), and by `mimic cleanup JOURNAL`. */
#ifndef MIMIC_CLEANUP_H
#define MIMIC_CLEANUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct journal;

struct cleanup_opts {
  struct journal *journal; /* an open journal, or NULL: open path */
  const char *path;
  const char *run_id; /* only this run's resources (NULL: all) */
  int ended_only;     /* only those whose session ended (during a run) */
  int live_only;      /* do not look for unconfirmed creates (during a
                         run: their answers may still come) */
  double max_rps;     /* 0: no cap */
  unsigned retries;   /* tries again after a transient failure (3 is
                         usual; 0: never) */
  int64_t timeout_ms; /* per request (0: 10 s) */
  const char *const *headers; /* "Name: value", replace recorded ones */
  size_t nheaders;
  int insecure;
  int dry_run; /* list, send nothing */
  /* Polled every 100 ms; non-zero stops the cleanup after the request in
   * flight (the rest stays in the journal). */
  int (*should_stop)(void *arg);
  void *stop_arg;
  FILE *out; /* the dry-run list */
};

#define CLEANUP_FAILURES_MAX 100

struct cleanup_failure {
  char *method, *url, *why;
};

struct cleanup_result {
  uint64_t todo;    /* rows to clean up when it began */
  uint64_t deleted; /* answered 2xx */
  uint64_t gone;    /* answered 404/410: deleted already */
  uint64_t found;   /* unconfirmed creates found by their marker */
  uint64_t unfound; /* unconfirmed creates that were never made */
  uint64_t failed;  /* could not be deleted (first ones listed) */
  uint64_t left;    /* not tried: stopped */
  uint64_t waiting; /* left for a later turn (--cleanup-interval): a
                       create into their collection waited for its answer
                       (journal_create_waiting) */
  uint64_t requests;
  double seconds;
  int interrupted;
  struct cleanup_failure failures[CLEANUP_FAILURES_MAX];
  size_t nfailures;
};

/* Runs a cleanup. Returns 0 (even when some resources failed: see res),
 * or a negative code with a message in err when it could not run (the
 * journal). */
int cleanup_run(const struct cleanup_opts *o, struct cleanup_result *res,
                char *err, size_t errlen);
void cleanup_result_free(struct cleanup_result *res);
/* The result as JSON (a new reference). */
json_t *cleanup_json(const struct cleanup_result *res);
/* One line: "12 deleted, 1 already gone, 0 failed" (or "nothing to
 * delete"). */
void cleanup_summary(const struct cleanup_result *res, char *buf, size_t len);

/* A thread that runs a cleanup every every_us, of the resources whose
 * sessions have ended (o->ended_only and o->live_only are set: what the
 * run still uses, and creates still unanswered, are left alone). o is
 * copied; its should_stop is polled as well. Returns 0 or -errno. */
struct cleanup_interval;
int cleanup_interval_start(const struct cleanup_opts *o, int64_t every_us,
                           struct cleanup_interval **out);
/* Stops and joins the thread; *sum gets the results summed over its
 * cleanups (free with cleanup_result_free). Returns how many it ran.
 * NULL: no-op (0, *sum untouched). */
int cleanup_interval_stop(struct cleanup_interval *ci,
                          struct cleanup_result *sum);

/* `mimic cleanup`: the command line. Returns the exit status. */
int cleanup_main(int argc, char **argv);

#endif
