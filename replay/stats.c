#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stats_init(struct stats *s, size_t n) {
  memset(s, 0, sizeof *s);
  s->ep = calloc(n ? n : 1, sizeof *s->ep);
  if (!s->ep) return -ENOMEM;
  s->nendpoints = n;
  for (size_t i = 0; i < n; i++) {
    hist_init(&s->ep[i].latency);
    hist_init(&s->ep[i].service);
  }
  return 0;
}

void stats_cleanup(struct stats *s) {
  for (size_t i = 0; s->ep && i < s->nendpoints; i++) {
    hist_cleanup(&s->ep[i].latency);
    hist_cleanup(&s->ep[i].service);
  }
  free(s->ep);
  memset(s, 0, sizeof *s);
}

void stats_sent(struct stats *s, uint32_t ep) {
  if (ep < s->nendpoints) s->ep[ep].requests++;
}

static void add_status_to(uint64_t *by_class, struct stats_status *st,
                          uint32_t *nst, int status, uint64_t n) {
  int cls = status / 100;
  by_class[cls >= 1 && cls <= 5 ? cls : 0] += n;
  for (uint32_t i = 0; i < *nst; i++) {
    if (st[i].status == status) {
      st[i].count += n;
      return;
    }
  }
  if (*nst < STATS_STATUSES) {
    st[*nst].status = (uint16_t)status;
    st[*nst].count = n;
    (*nst)++;
  }
}

static void add_status(struct stats_endpoint *e, int status, uint64_t n) {
  add_status_to(e->by_class, e->status, &e->nstatus, status, n);
}

static int record(struct stats *s, uint32_t ep, const struct engine_result *res,
                  uint64_t latency_us, uint64_t service_us, int real);

int stats_inject(struct stats *s, uint32_t ep, unsigned kind,
                 const struct engine_result *res, int expected,
                 uint64_t latency_us, uint64_t service_us) {
  int rc = record(s, ep, res, latency_us, service_us, 0);
  if (kind == 0 || kind >= STATS_FAULT_KINDS) return rc;
  if (ep < s->nendpoints) s->ep[ep].injected++;
  struct stats_injected *f = &s->injected[kind];
  f->requests++;
  f->expected += expected != 0;
  if (res->err != ENGINE_OK) {
    f->errors++;
    f->by_error[res->err < ENGINE_E_COUNT ? res->err : ENGINE_E_OTHER]++;
  } else {
    f->responses++;
    add_status_to(f->by_class, f->status, &f->nstatus, res->status, 1);
  }
  return rc;
}

int stats_done(struct stats *s, uint32_t ep, const struct engine_result *res,
               uint64_t latency_us, uint64_t service_us) {
  return record(s, ep, res, latency_us, service_us, 1);
}

/* real: not an injected fault, whose transport error is not the first
 * error of the summary and whose time (a timeout fault waits on purpose)
 * stays out of the latency histograms. */
static int record(struct stats *s, uint32_t ep, const struct engine_result *res,
                  uint64_t latency_us, uint64_t service_us, int real) {
  if (ep >= s->nendpoints) return 0;
  struct stats_endpoint *e = &s->ep[ep];
  if (res->err != ENGINE_OK) {
    e->errors++;
    e->by_error[res->err < ENGINE_E_COUNT ? res->err : ENGINE_E_OTHER]++;
    if (real && !s->first_error[0])
      snprintf(s->first_error, sizeof s->first_error, "%s: %s",
               engine_error_name(res->err), res->err_text ? res->err_text : "");
  } else {
    e->responses++;
    e->resp_bytes += res->resp_bytes;
    add_status(e, res->status, 1);
  }
  if (!real) return 0;
  int rc = hist_record(&e->latency, latency_us);
  if (!rc) rc = hist_record(&e->service, service_us);
  return rc;
}

int stats_merge(struct stats *dst, const struct stats *src) {
  size_t n =
      dst->nendpoints < src->nendpoints ? dst->nendpoints : src->nendpoints;
  for (size_t i = 0; i < n; i++) {
    struct stats_endpoint *d = &dst->ep[i];
    const struct stats_endpoint *e = &src->ep[i];
    d->requests += e->requests;
    d->injected += e->injected;
    d->responses += e->responses;
    d->errors += e->errors;
    d->resp_bytes += e->resp_bytes;
    for (int k = 0; k < ENGINE_E_COUNT; k++) d->by_error[k] += e->by_error[k];
    /* Statuses re-added one by one so rare ones land in their class. */
    uint64_t listed[6] = {0};
    for (uint32_t k = 0; k < e->nstatus; k++) {
      add_status(d, e->status[k].status, e->status[k].count);
      int cls = e->status[k].status / 100;
      listed[cls >= 1 && cls <= 5 ? cls : 0] += e->status[k].count;
    }
    for (int k = 0; k < 6; k++) d->by_class[k] += e->by_class[k] - listed[k];
    int rc = hist_merge(&d->latency, &e->latency);
    if (!rc) rc = hist_merge(&d->service, &e->service);
    if (rc) return rc;
  }
  for (int k = 1; k < STATS_FAULT_KINDS; k++) {
    struct stats_injected *d = &dst->injected[k];
    const struct stats_injected *e = &src->injected[k];
    d->requests += e->requests;
    d->responses += e->responses;
    d->errors += e->errors;
    d->expected += e->expected;
    for (int x = 0; x < ENGINE_E_COUNT; x++) d->by_error[x] += e->by_error[x];
    uint64_t listed[6] = {0};
    for (uint32_t x = 0; x < e->nstatus; x++) {
      add_status_to(d->by_class, d->status, &d->nstatus, e->status[x].status,
                    e->status[x].count);
      int cls = e->status[x].status / 100;
      listed[cls >= 1 && cls <= 5 ? cls : 0] += e->status[x].count;
    }
    for (int x = 0; x < 6; x++) d->by_class[x] += e->by_class[x] - listed[x];
  }
  dst->sessions += src->sessions;
  dst->sessions_done += src->sessions_done;
  if (!dst->first_error[0])
    memcpy(dst->first_error, src->first_error, sizeof dst->first_error);
  return 0;
}

int stats_total(const struct stats *s, struct stats_total *t,
                struct hist *latency, struct hist *service) {
  memset(t, 0, sizeof *t);
  for (size_t i = 0; i < s->nendpoints; i++) {
    const struct stats_endpoint *e = &s->ep[i];
    t->requests += e->requests;
    t->responses += e->responses;
    t->errors += e->errors;
    t->resp_bytes += e->resp_bytes;
    for (int k = 0; k < ENGINE_E_COUNT; k++) t->by_error[k] += e->by_error[k];
    for (int k = 0; k < 6; k++) t->by_class[k] += e->by_class[k];
    int rc = 0;
    if (latency) rc = hist_merge(latency, &e->latency);
    if (!rc && service) rc = hist_merge(service, &e->service);
    if (rc) return rc;
  }
  return 0;
}
