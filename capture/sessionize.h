/* sessionize: splits a time-ordered stream of requests into sessions per
 * client key (inactivity timeout, plus a cap on duration and length so that
 * a proxy or NAT address cannot make one endless session) and reports the
 * session structure to the learner: starts, transitions with think times,
 * ends. Memory holds only live sessions: a session idle past the timeout is
 * closed as the stream's clock passes it. */
#ifndef MIMIC_SESSIONIZE_H
#define MIMIC_SESSIONIZE_H

#include <stdint.h>

struct half;
struct learn;
struct sessionizer;

struct sess_event {
  int64_t ts_us;     /* logged time */
  int64_t lat_us;    /* request time, -1 unknown */
  uint64_t client;   /* client key hash */
  uint32_t ep;       /* endpoint handle */
  uint32_t res_us;   /* resolution of ts_us (1000000 for whole seconds) */
  uint32_t ua;       /* user agent key (learn_ua_key), 0 = none */
  uint8_t ts_is_end; /* the log wrote ts when the response ended */
  uint16_t status;   /* HTTP status, 0 unknown (personas, split halves) */
};

struct sess_opts {
  int64_t idle_us;         /* inactivity timeout (30 min) */
  int64_t max_duration_us; /* split longer sessions (12 h) */
  uint32_t max_requests;   /* split longer sessions (10000) */
  uint64_t seed;           /* for de-quantising whole-second times */
  struct half *half;       /* also fed the sessions, by halves (or NULL) */
};

int sess_new(const struct sess_opts *opts, struct learn *learn,
             struct sessionizer **out);
void sess_free(struct sessionizer *s);

/* Feeds the next request. Events should come in time order; a late one is
 * accepted (its think time is clamped at 0). Returns 0 or -ENOMEM. */
int sess_feed(struct sessionizer *s, const struct sess_event *ev);
/* Ends every live session (end of input). */
int sess_flush(struct sessionizer *s);

/* Distinct client keys seen (exact up to 2^20, then estimated). */
uint64_t sess_clients(const struct sessionizer *s);
/* Transitions whose think time could start at the end of the previous
 * response (its request time was known), and all transitions. */
uint64_t sess_think_from_end(const struct sessionizer *s);
uint64_t sess_transitions(const struct sessionizer *s);
/* Sessions split because they hit max_duration or max_requests. */
uint64_t sess_split(const struct sessionizer *s);

#endif
