/* synth: turns a model into traffic. It samples sessions (persona by
 * weight, a Markov walk from START to END over the persona's transitions,
 * think times from the transition's distribution with per-endpoint and
 * pooled fallbacks; the session's length drawn from the persona's length
 * distribution, see synth_begin) and builds requests (paths from templates with
 * values drawn from the parameter pools, query strings by learned presence,
 * user agents by frequency: among the sessions of the persona when the
 * model has them per persona, else among all requests).
 *
 * Everything random is drawn from the caller's rng, and nothing depends on
 * time or on responses, so the same seed gives the same plan. A synth is
 * read-only after synth_new: one may be shared by several threads. */
#ifndef MIMIC_SYNTH_H
#define MIMIC_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

struct model;
struct synth;

struct synth_opts {
  /* Restrict sessions to these persona names (NULL: all). */
  const char *const *personas;
  size_t npersonas;
  /* Transitions with fewer observations than this use the think time of
   * their source endpoint, or the pooled one (default 30 when 0). */
  uint32_t min_think_samples;
};

/* Where a session is: small, embedded in each virtual user. */
struct synth_walk {
  int32_t ep; /* current endpoint, or -1 before the first / at END */
  uint16_t persona;
  uint16_t ua;     /* user agent index (synth_ua) */
  uint32_t step;   /* requests issued in this session so far */
  uint32_t length; /* requests this session will make (0: as the chain
                      goes) */
  uint8_t held;    /* its duration is held too: the path comes from rng,
                      think times from think, times shrink */
  float shrink;
  struct rng rng, think;
};

/* Compiles m (which must outlive the synth) into sampling tables. Fails
 * with ERR_NODATA and a message in err when the model has nothing to replay
 * (no endpoint, no transition out of START), ERR_NOTFOUND when a persona
 * name is unknown, -ENOMEM. */
int synth_new(const struct model *m, const struct synth_opts *opts,
              struct synth **out, char *err, size_t errlen);
void synth_free(struct synth *s);

/* Starts a session: persona, user agent, first endpoint (w->ep), length and
 * duration.
 *
 * A first-order chain alone ends sessions with roughly geometric lengths, and
 * independent think times add up to durations, neither of which real sessions
 * have (one-request probes next to long browsing; a session's pauses are
 * alike). So the length is drawn from the persona's learned distribution and
 * the walk is the chain's walk given that length: each step is drawn with
 * weights P(e -> e') x P(the chain from e' makes exactly the requests left),
 * END exactly at the length (earlier only at an endpoint with no other way
 * out). Then a duration is drawn from the learned durations of sessions of
 * that length (table session_shape), and the session's think times follow it:
 * the path is walked once ahead (on a copy of the walk's own stream), 64 sets
 * of think times are drawn for it as usual, and the set whose sum comes
 * closest to the duration (less the median learned response times when the
 * model measured think times from the end of responses) is the one the session
 * uses (shrunk only where it would last over twice the longest learned session
 * of that length). That keeps long sessions as long as they were (a first-
 * order walk with independent pauses makes them far longer) while every pause
 * is still a draw from its own learned distribution: scaling a set to meet the
 * duration exactly would stretch or squeeze pauses that belong to other kinds
 * of sessions of the same length (a crawler's quick 40 requests next to a
 * reader's slow ones), and measurably distorted the think times of busy
 * transitions. A persona without length distribution walks the chain alone; a
 * model without session_shape leaves durations unheld. */
void synth_begin(const struct synth *s, struct rng *r, struct synth_walk *w);

/* Moves to the next endpoint of the session. Returns 1 with w->ep set and
 * *think_us = the pause between the end of the previous response and this
 * request, or 0 when the session ends (w->ep = -1). */
int synth_step(const struct synth *s, struct rng *r, struct synth_walk *w,
               int64_t *think_us);

/* A pause between two sessions of the same user (the pooled think time). */
int64_t synth_pause(const struct synth *s, struct rng *r);

/* Writes the request target of endpoint ep ("/users/8127/profile?tab=2")
 * into buf (NUL-terminated, truncated to cap-1); returns its length. Values
 * come from the pools by frequency; query parameters appear with their
 * learned presence. */
size_t synth_target(const struct synth *s, struct rng *r, uint32_t ep,
                    char *buf, size_t cap);

/* Like synth_target, but the endpoint's i-th path parameter (in template
 * order) is vals[i] when i < nvals and vals[i] is not NULL: a value the
 * session took from an earlier answer. The pools are drawn from all the
 * same, so the random stream does not depend on what was bound. */
size_t synth_target_with(const struct synth *s, struct rng *r, uint32_t ep,
                         const char *const *vals, size_t nvals, char *buf,
                         size_t cap);

uint32_t synth_endpoints(const struct synth *s);
const char *synth_method(const struct synth *s, uint32_t ep);
const char *synth_template(const struct synth *s, uint32_t ep);
/* User agent text ("" when the model has none). */
const char *synth_ua(const struct synth *s, uint16_t ua);
const char *synth_persona_name(const struct synth *s, uint16_t persona);

/* The learned session arrival curve: sessions started per minute over the
 * captured span (all personas, or the restricted ones), from first_minute
 * (unix minutes) on; *n minutes. Minutes without arrivals are 0. */
const double *synth_arrivals(const struct synth *s, size_t *n,
                             int64_t *first_minute);

#endif
