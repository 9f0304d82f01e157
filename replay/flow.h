/* flow: the stateful side of a virtual user's session, between the walk
 * (replay/synth) and the engine: it decides what is actually sent for the
 * walk's next step and takes what the answers say.
 *
 *  - correlation (replay/correl): ids of created resources fill the
 *    {param}s of later requests of the same session;
 *  - authentication (replay/auth): logins with --credentials or made-up
 *    identities, the bearer token afterwards, cookies (replay/vstate);
 *  - bodies (replay/bodies): --bodies templates, logins, sign-ups;
 *  - faults (replay/faults): about --error-rate of the requests are sent
 *    broken; the walk's step is sent again after a fault that broke it;
 *  - the journal (replay/journal): each create is written down before it
 *    is sent and confirmed when answered.
 *
 * A run without any of these has no flow (flow_new gives NULL) and
 * replay/run.c sends the walk's requests as they are. One flow is shared
 * by the worker threads (read-only, the journal locks itself); each worker
 * has a flow_worker with its scratch buffers and its users' states. */
#ifndef MIMIC_FLOW_H
#define MIMIC_FLOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "faults.h"

struct model;
struct synth;
struct rng;
struct journal;
struct flow;
struct flow_worker;

struct flow_opts {
  const char *target;      /* base URL (the journal keeps whole URLs) */
  const char *model_path;  /* for the journal */
  const char *credentials; /* --credentials FILE */
  const char *login;       /* --login 'POST /path' */
  const char *bodies;      /* --bodies FILE.json */
  const char *cleanup_map; /* --cleanup-map FILE.json */
  const char *journal;     /* --journal FILE (NULL: none) */
  int temp_journal;        /* without journal: one in $TMPDIR (--cleanup) */
  const char *run_id;      /* NULL: made up */
  double error_rate;       /* --error-rate, percent */
  int may_fault;           /* a load shape may ask for faults (a share
                              given per request in flow_user.fault_rate) */
  const char *faults;      /* --faults spec (NULL: every kind it can play) */
  int64_t fault_timeout_ms;
  uint64_t seed;
  int dry_run; /* nothing is written to the journal */
  FILE *err;   /* warnings */
  int quiet;
};

/* Sets up the flow of a run. *out is NULL when the run needs none (no
 * create to correlate, no login, no credentials, bodies or faults, no
 * journal). Returns 0, or ERR_USAGE / ERR_PARSE / ERR_SQLITE / -errno
 * with a message in err. */
int flow_new(const struct model *m, const struct synth *s,
             const struct flow_opts *o, struct flow **out, char *err,
             size_t errlen);
/* Closes the journal (marking the run ended) and frees. NULL: no-op. */
void flow_free(struct flow *f);

const char *flow_run_id(const struct flow *f);
/* Learned correlation rules in use, and endpoints with a learned request
 * body shape (0 for a model from logs, and for NULL). */
size_t flow_rules(const struct flow *f);
size_t flow_shapes(const struct flow *f);
struct journal *flow_journal(const struct flow *f);
/* The journal's file, and whether it is a temporary one. */
const char *flow_journal_path(const struct flow *f);
int flow_journal_is_temp(const struct flow *f);
const struct faults *flow_faults(const struct flow *f);
/* Endpoints the flow sends beyond the model's (the --login endpoint when
 * the model lacks it): they are numbered after the model's. */
uint32_t flow_extra_endpoints(const struct flow *f);
const char *flow_extra_method(const struct flow *f, uint32_t i);
const char *flow_extra_template(const struct flow *f, uint32_t i);

/* What run.c keeps of a request in flight, for flow_done. */
struct flow_note {
  uint32_t ep;     /* endpoint for the statistics (model's or extra) */
  uint8_t fault;   /* enum fault_kind: the label of the request */
  uint8_t planned; /* it carries out the walk's step (maybe broken) */
  uint8_t role;    /* what its answer feeds (flow.c) */
  uint8_t engine_fault;
  uint8_t bound;  /* a path parameter holds an id the session took */
  uint8_t lbound; /* a learned rule put a value the session took */
  uint8_t lseg;   /* a DELETE: the path segment a learned rule put */
  int32_t slot;   /* collection of a create or delete */
  int64_t seq;    /* journal row of a create (0: none) */
};

/* A virtual user as the flow sees it. *vs indexes its state in the
 * worker (UINT32_MAX: none yet). */
struct flow_user {
  uint64_t id;
  uint32_t session;
  uint32_t *vs;
  struct rng *rng;
  double fault_rate; /* share of faults now, [0, 1]; < 0: --error-rate */
};

int flow_worker_new(struct flow *f, struct flow_worker **out);
void flow_worker_free(struct flow_worker *fw);

/* Builds the next request of u, whose walk is at endpoint ep: into target
 * (the path, cap bytes) and *req (method, body, headers, captures, fault;
 * its strings live in fw until the next call), with *note for flow_done.
 * Returns 0, or -ENOMEM. */
int flow_prepare(struct flow_worker *fw, const struct synth *s,
                 struct flow_user *u, uint32_t ep, char *target, size_t cap,
                 struct engine_req *req, struct flow_note *note);

enum { FLOW_ADVANCE = 0, FLOW_REPEAT = 1 };

/* Takes the answer of a request (target: the path it was sent to).
 * Returns FLOW_ADVANCE when the walk's step is done, FLOW_REPEAT when it
 * must be sent again (a fault broke it, or the request was one the flow
 * put before it), or a negative code (the journal failed). */
int flow_done(struct flow_worker *fw, struct flow_user *u,
              const struct flow_note *note, const char *target,
              const struct engine_result *res);

/* A session begins / ends; the user is done for good. */
int flow_session_begin(struct flow_worker *fw, struct flow_user *u);
void flow_session_end(struct flow_worker *fw, struct flow_user *u);
void flow_user_end(struct flow_worker *fw, struct flow_user *u);

/* What the flow did, summed over the worker's requests. */
struct flow_counts {
  uint64_t creates;      /* create requests sent (not faults) */
  uint64_t created;      /* answered with an id */
  uint64_t created_noid; /* answered 2xx without an id found */
  uint64_t deleted;      /* deletes of created ids answered 2xx/404 */
  uint64_t bound;        /* path params filled with a session's id */
  uint64_t unbound;      /* path params of a collection with no id yet */
  uint64_t bound_404;    /* real requests with a bound id answered 404 */
  uint64_t logins, login_ok, tokens; /* logins sent, 2xx, tokens taken */
  uint64_t cookies;                  /* cookies set or changed */
  uint64_t states;                   /* user states made */
  uint64_t body_errors;              /* bodies that did not fit (sent empty) */
  uint64_t learned_taken;   /* values learned rules took from answers */
  uint64_t learned_put;     /* values learned rules put into requests */
  uint64_t learned_missing; /* places a rule feeds that had no value yet */
  uint64_t learned_404;     /* real requests with a learned value: 404 */
  uint64_t shaped;          /* bodies made from learned shapes */
  uint64_t journal_errors;
};
void flow_counts_add(const struct flow_worker *fw, struct flow_counts *c);

#endif
