/* faults: client-side failure injection. Which requests become faults
 * (--error-rate, a share of all requests sent), of which kinds (--faults
 * KIND[:weight],...), chosen with the virtual user's own random stream (so
 * the plan stays the same for a seed), and whether what the target answered
 * is what the kind expects (an unknown id should get a 404).
 *
 * The kinds only say what to break; replay/flow.c decides how a request is
 * broken (which header to drop, which body to mangle). */
#ifndef MIMIC_FAULTS_H
#define MIMIC_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct rng;

enum fault_kind {
  FAULT_NONE = 0,
  FAULT_BAD_LOGIN,     /* a login with a wrong password */
  FAULT_NO_AUTH,       /* no Authorization header, no cookies */
  FAULT_EXPIRED_TOKEN, /* a garbage bearer token */
  FAULT_INVALID_BODY,  /* malformed JSON, or a schema-violating object */
  FAULT_UNKNOWN_ID,    /* a path id that does not exist */
  FAULT_TIMEOUT,       /* the client gives up early */
  FAULT_ABORT,         /* the connection is closed mid-request */
  FAULT_KINDS
};

struct faults {
  double rate;                /* share of requests made faults, [0, 1] */
  double weight[FAULT_KINDS]; /* as given (0: kind off) */
  double cum[FAULT_KINDS];    /* cumulative shares within the faults */
  int given[FAULT_KINDS];     /* named in --faults (not a default) */
  int64_t timeout_ms;         /* how long a timeout fault waits */
};

/* Sets f from --error-rate PCT (0 to 100) and --faults SPEC
 * ("bad-login:3,unknown-id,timeout:0.5"; a kind without a weight weighs 1;
 * NULL: every kind, weight 1). Returns 0, or ERR_USAGE with a message. */
int faults_parse(struct faults *f, double pct, const char *spec, char *err,
                 size_t errlen);

/* Turns kind k off (a default kind the run cannot play). Returns 0, or
 * ERR_USAGE when it was named in --faults (the message says why, given
 * in why) or no kind is left while the rate is above 0. */
int faults_drop(struct faults *f, enum fault_kind k, const char *why, char *err,
                size_t errlen);

/* 1 when some requests become faults. */
int faults_on(const struct faults *f);

/* The fault of the next request: FAULT_NONE most of the time. Draws one
 * number from r, and only when faults are on. */
enum fault_kind faults_pick(const struct faults *f, struct rng *r);
/* The same at another share of faults, rate in [0, 1] (a load shape's
 * share of the moment); the kinds keep their weights. */
enum fault_kind faults_pick_rate(const struct faults *f, double rate,
                                 struct rng *r);

/* Whether the outcome is what kind k expects: 401/403 for bad-login,
 * no-auth and expired-token; a 4xx for invalid-body; 404/410 for
 * unknown-id; a client timeout; a client abort. */
int faults_expected(enum fault_kind k, const struct engine_result *res);

/* "bad-login", ...; NULL for FAULT_NONE or out of range. */
const char *faults_name(enum fault_kind k);
/* The kind of a name, or FAULT_NONE. */
enum fault_kind faults_kind(const char *name, size_t len);

/* The share of all requests asked for kind k, [0, 1]. */
double faults_share(const struct faults *f, enum fault_kind k);

#endif
