/* learn: accumulates what capture learns and turns it into a model.
 *
 * Two kinds of input arrive: per request, in any order (learn_request:
 * endpoint template, status mix, latency, sizes, query parameters, user
 * agents), and the session structure from the sessionizer, in time order
 * (session starts, transitions with think times, session ends). Endpoint
 * handles from the templater may be merged after they were used, so
 * everything is kept per handle and folded onto final endpoints only in
 * learn_finish. Memory is bounded by endpoints and transitions, never by the
 * number of requests.
 *
 * Personas: a session's behaviour class is known only once all sessions
 * were seen, so each live session is kept compactly (a few bytes per
 * request) until it ends and then written to an unlinked temporary file
 * (capture/spill.h). learn_finish reads that file twice: once to cluster a
 * bounded sample of sessions (capture/persona.h), once to give every
 * session to its nearest persona and learn each persona's chain, think
 * times, lengths, durations, arrivals and user agents (sessions by the user
 * agent of their first request). Should the file fail (a full
 * disk), what was learned stays: the model gets one persona, "all", from
 * the totals kept alongside, and learn_spill_error says why. */
#ifndef MIMIC_LEARN_H
#define MIMIC_LEARN_H

#include <stddef.h>
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
  /* Personas: 0 = choose how many, 1 = one persona "all" (no temporary
   * file), K = exactly K. */
  unsigned personas;
  /* Folder of the temporary session file (read by learn_new only); NULL =
   * one persona "all". */
  const char *spill_dir;
  uint64_t seed; /* of the clustering */
};

int learn_new(const struct learn_opts *opts, struct learn **out);
void learn_free(struct learn *l);

/* Learns the order-independent part of one request and returns its
 * endpoint handle. Returns 0 or -ENOMEM. */
int learn_request(struct learn *l, const struct logrec *r, uint32_t *ep);

/* Session structure, from the sessionizer. sid tells live sessions apart
 * (a small number, reused once a session ended: the sessionizer's slot);
 * status is the HTTP status of the request (0 unknown); think_us >= 0; ua
 * is the learn_ua_key of the session's first request (its persona's user
 * agents are counted by it). Return 0 or -ENOMEM (a failing temporary file
 * is not an error here: see learn_spill_error). */
int learn_session_start(struct learn *l, uint32_t sid, int64_t start_us,
                        uint32_t ep, int status, uint32_t ua);
int learn_transition(struct learn *l, uint32_t sid, uint32_t from, uint32_t to,
                     int64_t think_us, int status);
int learn_session_end(struct learn *l, uint32_t sid, uint32_t last,
                      uint32_t requests, int64_t duration_us);

/* A user agent's 64-bit hash, and the 32-bit key sessions carry it under
 * to the persona pass, where it is matched to the user agents the model
 * keeps (cut to TOPK_VALUE_MAX bytes, as their pool cuts them); 0 = no
 * user agent. The key takes the hash of the whole value (capture uses that
 * hash for its client key too, so a request is hashed once) and hashes
 * again only a value longer than what the model keeps. */
uint64_t learn_ua_hash(const char *ua, size_t len);
uint32_t learn_ua_key(const char *ua, size_t len, uint64_t hash);

/* Counts values of a field that were dropped for privacy (e.g. loc "user",
 * name "remote_user"), for the model's redaction table. */
void learn_note_dropped(struct learn *l, const char *loc, const char *name,
                        uint64_t count);

/* Requests learned, sessions ended, and requests folded into a catch-all
 * endpoint because the endpoint cap was reached. */
uint64_t learn_requests(const struct learn *l);
uint64_t learn_sessions(const struct learn *l);
uint64_t learn_capped(const struct learn *l);
/* Why sessions could not be grouped into personas: 0, or the error of the
 * temporary session file (-ENOSPC: the disk is full). */
int learn_spill_error(const struct learn *l);
/* Bytes the temporary session file reached. */
uint64_t learn_spill_bytes(const struct learn *l);

/* Writes endpoints, personas, transitions, think times, arrivals, params,
 * user agents and redactions into m (meta is the caller's), and releases
 * the temporary file. Returns 0 or -ENOMEM. */
int learn_finish(struct learn *l, struct model *m);

/* After learn_finish: the model endpoint id of every handle the sessions
 * were reported with (< 0: none), *n handles. Owned by l. */
const int32_t *learn_final_ids(const struct learn *l, size_t *n);
/* After learn_finish: the model endpoint id (index into m->endpoints) an
 * endpoint handle ended up in, or -1 (unknown handle). */
int32_t learn_endpoint_id(const struct learn *l, uint32_t handle);

#endif
