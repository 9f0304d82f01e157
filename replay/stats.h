/* stats: what a replay measured, per endpoint: requests sent, responses by
 * status, transport errors by reason, and two latency histograms: from the
 * intended send time (what a user waited, including any delay of the load
 * generator itself: no coordinated omission) and from the actual send
 * (service time). One stats per worker thread, merged at the end. */
#ifndef MIMIC_STATS_H
#define MIMIC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "hist.h"

#define STATS_STATUSES                                                         \
  8 /* distinct statuses kept per endpoint; rarer ones                         \
       go to the "other" count of their class */

struct stats_status {
  uint16_t status;
  uint64_t count;
};

struct stats_endpoint {
  uint64_t requests, responses, errors;
  uint64_t injected; /* of which were injected faults */
  uint64_t by_error[ENGINE_E_COUNT];
  uint64_t by_class[6]; /* [1..5] = 1xx..5xx, [0] = anything else */
  struct stats_status status[STATS_STATUSES];
  uint32_t nstatus;
  uint64_t resp_bytes;
  struct hist latency; /* us, from the intended send time */
  struct hist service; /* us, from the actual send */
};

/* Kinds of injected faults (replay/faults.h: FAULT_KINDS, 0 unused). */
#define STATS_FAULT_KINDS 8

/* What the requests of one injected fault kind got. */
struct stats_injected {
  uint64_t requests, responses, errors;
  uint64_t expected; /* the outcome the kind expects (faults_expected) */
  uint64_t by_error[ENGINE_E_COUNT];
  uint64_t by_class[6];
  struct stats_status status[STATS_STATUSES];
  uint32_t nstatus;
};

struct stats {
  size_t nendpoints;
  struct stats_endpoint *ep;
  struct stats_injected injected[STATS_FAULT_KINDS];
  uint64_t sessions, sessions_done;
  char first_error[160]; /* curl's text of the first transport error */
};

/* Per-endpoint arrays for n endpoints. 0 or -ENOMEM. */
int stats_init(struct stats *s, size_t n);
void stats_cleanup(struct stats *s);

void stats_sent(struct stats *s, uint32_t ep);
/* Records the outcome of a request of endpoint ep. 0 or -ENOMEM. */
int stats_done(struct stats *s, uint32_t ep, const struct engine_result *res,
               uint64_t latency_us, uint64_t service_us);

/* Records the outcome of an injected fault of kind (1 ..
 * STATS_FAULT_KINDS-1) sent to endpoint ep, instead of stats_done: counts
 * as stats_done does, and by kind; expected says whether the outcome is
 * what the kind expects. Its transport error is not the run's first_error
 * and its time stays out of the latency histograms (the real traffic's).
 * 0 or -ENOMEM. */
int stats_inject(struct stats *s, uint32_t ep, unsigned kind,
                 const struct engine_result *res, int expected,
                 uint64_t latency_us, uint64_t service_us);

/* Adds src into dst (same endpoint count). 0 or -ENOMEM. */
int stats_merge(struct stats *dst, const struct stats *src);

/* Totals over the endpoints; the histograms are merged into latency and
 * service (initialised by the caller). */
struct stats_total {
  uint64_t requests, responses, errors, resp_bytes;
  uint64_t by_error[ENGINE_E_COUNT];
  uint64_t by_class[6];
};
int stats_total(const struct stats *s, struct stats_total *t,
                struct hist *latency, struct hist *service);

#endif
