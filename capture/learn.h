/* learn: accumulates what capture learns and turns it into a model.
 *
 * Two kinds of input arrive: per request, in any order (learn_request:
 * endpoint template, status mix, latency, sizes, query parameters, user
 * agents), and the session structure from the sessionizer, in time order
 * (session starts, transitions with think times, session ends). Endpoint
 * handles from the templater may be merged after they were used, so
 * everything is kept per handle and folded onto final endpoints only in
 * learn_finish. Memory is bounded by endpoints and transitions, never by the
 * number of requests. */
#ifndef MIMIC_LEARN_H
#define MIMIC_LEARN_H

#include <stdint.h>

#include "logrec.h"

struct learn;
struct model;

struct learn_opts {
  unsigned collapse_children; /* templater, 0 = default */
  size_t max_endpoints;       /* templater, 0 = default */
  size_t query_pool_cap;      /* values kept per query parameter (64) */
  size_t path_pool_cap;       /* values kept per path parameter (256) */
  uint64_t salt[2];           /* redaction key (random, never stored) */
};

int learn_new(const struct learn_opts *opts, struct learn **out);
void learn_free(struct learn *l);

/* Learns the order-independent part of one request and returns its
 * endpoint handle. Returns 0 or -ENOMEM. */
int learn_request(struct learn *l, const struct logrec *r, uint32_t *ep);

/* Session structure, from the sessionizer. think_us >= 0. */
int learn_session_start(struct learn *l, int64_t start_us, uint32_t ep);
int learn_transition(struct learn *l, uint32_t from, uint32_t to,
                     int64_t think_us);
int learn_session_end(struct learn *l, uint32_t last, uint32_t requests,
                      int64_t duration_us);

/* Counts values of a field that were dropped for privacy (e.g. loc "user",
 * name "remote_user"), for the model's redaction table. */
void learn_note_dropped(struct learn *l, const char *loc, const char *name,
                        uint64_t count);

/* Requests learned, sessions ended, and requests folded into a catch-all
 * endpoint because the endpoint cap was reached. */
uint64_t learn_requests(const struct learn *l);
uint64_t learn_sessions(const struct learn *l);
uint64_t learn_capped(const struct learn *l);

/* Writes endpoints, persona, transitions, think times, arrivals, params,
 * user agents and redactions into m (meta is the caller's). Returns 0 or
 * -ENOMEM. */
int learn_finish(struct learn *l, struct model *m);

/* After learn_finish: the model endpoint id (index into m->endpoints) an
 * endpoint handle ended up in, or -1 (unknown handle). */
int32_t learn_endpoint_id(const struct learn *l, uint32_t handle);

#endif
