#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define NCLASS 7 /* 1xx 2xx 3xx 4xx 5xx error other */
#define NB (METRICS_BUCKETS + 1)
#define RENDER_MAX (64u << 20) /* a bounded page, whatever the labels */

const double metrics_bucket_le[METRICS_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static const char *const class_name[NCLASS] = {"1xx", "2xx",   "3xx",  "4xx",
                                               "5xx", "error", "other"};

enum {
  W_STARTED,
  W_COMPLETED,
  W_PLANNED_SESS,
  W_DROPPED_SESS,
  W_PLANNED_REQ,
  W_DROPPED_REQ,
  W_USERS,
  W_ACTIVE,
  W_FLIGHT,
  W_QUEUED,
  W_COUNT
};

typedef _Atomic uint64_t counter;

struct metrics;

struct metrics_shard {
  const struct metrics *m;
  counter *req;     /* [ne][np][ni][NCLASS] */
  counter *lat;     /* [ne][NB], not cumulative */
  counter *lat_sum; /* [ne] microseconds */
  counter *svc;
  counter *svc_sum;
  counter worker[W_COUNT];
};

struct metrics {
  size_t ne, np, ni; /* label slots ("other" slots included) */
  size_t nep_model;  /* the model's endpoint count */
  uint32_t *slot_of; /* model endpoint -> slot */
  char **ep_method;  /* [ne], escaped */
  char **ep_templ;   /* [ne], escaped */
  char **persona;    /* [np], escaped */
  char **injected;   /* [ni], escaped */
  char *info;        /* the rendered labels of mimic_run_info */
  double start_time;
  counter gauges[METRICS_GAUGES]; /* bits of doubles */
  counter cleanup[METRICS_CLEANUPS];
  unsigned nshards;
  struct metrics_shard *shards;
};

/* ---- writing ------------------------------------------------------------ */

/* Only the shard's thread writes: a load and a store, no locked
 * read-modify-write, and readers never see a torn value. */
static inline void bump(counter *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

static inline uint64_t get(const counter *c) {
  return atomic_load_explicit((counter *)c, memory_order_relaxed);
}

static size_t bucket_of(uint64_t us) {
  double s = (double)us / 1e6;
  for (size_t i = 0; i < METRICS_BUCKETS; i++)
    if (s <= metrics_bucket_le[i]) return i;
  return METRICS_BUCKETS;
}

static int class_of(int status) {
  if (status == 0) return 5;
  if (status >= 100 && status < 600) return status / 100 - 1;
  return 6;
}

void metrics_request(struct metrics_shard *s, uint32_t ep, uint32_t persona,
                     uint32_t injected, int status, uint64_t latency_us,
                     uint64_t service_us) {
  if (!s) return;
  const struct metrics *m = s->m;
  size_t e = ep < m->nep_model ? m->slot_of[ep] : m->ne - 1;
  size_t p = persona < m->np ? persona : m->np - 1;
  size_t i = injected < m->ni ? injected : m->ni - 1;
  bump(&s->req[((e * m->np + p) * m->ni + i) * NCLASS +
               (size_t)class_of(status)],
       1);
  bump(&s->lat[e * NB + bucket_of(latency_us)], 1);
  bump(&s->lat_sum[e], latency_us);
  bump(&s->svc[e * NB + bucket_of(service_us)], 1);
  bump(&s->svc_sum[e], service_us);
}

void metrics_worker_set(struct metrics_shard *s,
                        const struct metrics_worker *v) {
  if (!s) return;
  const uint64_t vals[W_COUNT] = {v->sessions_started,
                                  v->sessions_completed,
                                  v->planned_sessions,
                                  v->dropped_sessions,
                                  v->planned_requests,
                                  v->dropped_requests,
                                  v->users,
                                  v->sessions_active,
                                  v->in_flight,
                                  v->queued};
  for (int k = 0; k < W_COUNT; k++)
    atomic_store_explicit(&s->worker[k], vals[k], memory_order_relaxed);
}

void metrics_gauge_set(struct metrics *m, enum metrics_gauge g, double v) {
  if (!m || (unsigned)g >= METRICS_GAUGES) return;
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  atomic_store_explicit(&m->gauges[g], bits, memory_order_relaxed);
}

void metrics_cleanup_add(struct metrics *m, enum metrics_cleanup k,
                         uint64_t n) {
  if (!m || (unsigned)k >= METRICS_CLEANUPS) return;
  atomic_fetch_add_explicit(&m->cleanup[k], n, memory_order_relaxed);
}

/* ---- set-up ------------------------------------------------------------- */

/* A label value escaped as the text format wants (\\, \", \n). */
static char *escape(const char *s) {
  if (!s) s = "";
  size_t n = 0;
  for (const char *p = s; *p; p++)
    n += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
  char *o = malloc(n + 1);
  if (!o) return NULL;
  char *q = o;
  for (const char *p = s; *p; p++) {
    if (*p == '\\' || *p == '"') {
      *q++ = '\\';
      *q++ = *p;
    } else if (*p == '\n') {
      *q++ = '\\';
      *q++ = 'n';
    } else {
      *q++ = *p;
    }
  }
  *q = '\0';
  return o;
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

/* Endpoint indexes by descending count (ties by index). */
static const uint64_t *sort_counts;
static int by_count(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  uint64_t cx = sort_counts[x], cy = sort_counts[y];
  if (cx != cy) return cx < cy ? 1 : -1;
  return x < y ? -1 : x > y;
}

static int setup_endpoints(struct metrics *m, const struct metrics_desc *d) {
  size_t n = d->nendpoints;
  size_t kept = n < METRICS_MAX_ENDPOINTS ? n : METRICS_MAX_ENDPOINTS;
  m->nep_model = n;
  m->ne = kept + 1; /* + "other": out-of-range and folded endpoints */
  m->slot_of = malloc((n ? n : 1) * sizeof *m->slot_of);
  m->ep_method = calloc(m->ne, sizeof *m->ep_method);
  m->ep_templ = calloc(m->ne, sizeof *m->ep_templ);
  uint32_t *order = malloc((n ? n : 1) * sizeof *order);
  int rc = -ENOMEM;
  if (!m->slot_of || !m->ep_method || !m->ep_templ || !order) goto out;
  for (size_t i = 0; i < n; i++) {
    order[i] = (uint32_t)i;
    m->slot_of[i] = (uint32_t)kept;
  }
  /* qsort with a file-level key: set-up runs once, on one thread. */
  if (d->counts && n > kept) {
    sort_counts = d->counts;
    qsort(order, n, sizeof *order, by_count);
    sort_counts = NULL;
  }
  for (size_t k = 0; k < kept; k++) {
    uint32_t i = order[k];
    m->slot_of[i] = (uint32_t)k;
    m->ep_method[k] = escape(d->methods ? d->methods[i] : "");
    m->ep_templ[k] = escape(d->templates ? d->templates[i] : "");
    if (!m->ep_method[k] || !m->ep_templ[k]) goto out;
  }
  m->ep_method[kept] = escape("other");
  m->ep_templ[kept] = escape("other");
  if (!m->ep_method[kept] || !m->ep_templ[kept]) goto out;
  rc = 0;
out:
  free(order);
  return rc;
}

static char **names(size_t n, const char *const *v, size_t cap,
                    const char *dflt, size_t *nslots) {
  size_t kept = n < cap ? n : cap;
  *nslots = kept ? kept + (n > cap) : 1;
  char **o = calloc(*nslots, sizeof *o);
  if (!o) return NULL;
  for (size_t i = 0; i < *nslots; i++) {
    const char *s = i < kept && v && v[i] ? v[i] : kept ? "other" : dflt;
    if (!(o[i] = escape(s))) {
      free_names(o, *nslots);
      return NULL;
    }
  }
  return o;
}

static int setup_info(struct metrics *m, const struct metrics_desc *d) {
  size_t cap = 64, len = 0;
  char *s = malloc(cap);
  if (!s) return -ENOMEM;
  s[0] = '\0';
  size_t n = d->ninfo < METRICS_MAX_INFO ? d->ninfo : METRICS_MAX_INFO;
  for (size_t i = 0; i < n; i++) {
    char *v = escape(d->info_values[i]);
    if (!v) goto nomem;
    size_t need = len + strlen(d->info_names[i]) + strlen(v) + 8;
    if (need > cap) {
      char *ns = realloc(s, need * 2);
      if (!ns) {
        free(v);
        goto nomem;
      }
      s = ns;
      cap = need * 2;
    }
    len += (size_t)snprintf(s + len, cap - len, "%s%s=\"%s\"", i ? "," : "",
                            d->info_names[i], v);
    free(v);
  }
  m->info = s;
  return 0;
nomem:
  free(s);
  return -ENOMEM;
}

int metrics_new(const struct metrics_desc *d, struct metrics **out) {
  if (!d->nshards) return ERR_USAGE;
  struct metrics *m = calloc(1, sizeof *m);
  if (!m) return -ENOMEM;
  int rc = -ENOMEM;
  if ((rc = setup_endpoints(m, d))) goto fail;
  rc = -ENOMEM;
  m->persona =
      names(d->npersonas, d->personas, METRICS_MAX_PERSONAS, "all", &m->np);
  m->injected =
      names(d->ninjected, d->injected, METRICS_MAX_INJECTED, "none", &m->ni);
  if (!m->persona || !m->injected) goto fail;
  if ((rc = setup_info(m, d))) goto fail;
  rc = -ENOMEM;
  m->start_time = d->start_time;
  m->shards = calloc(d->nshards, sizeof *m->shards);
  if (!m->shards) goto fail;
  m->nshards = d->nshards;
  for (unsigned i = 0; i < d->nshards; i++) {
    struct metrics_shard *s = &m->shards[i];
    s->m = m;
    s->req = calloc(m->ne * m->np * m->ni * NCLASS, sizeof *s->req);
    s->lat = calloc(m->ne * NB, sizeof *s->lat);
    s->svc = calloc(m->ne * NB, sizeof *s->svc);
    s->lat_sum = calloc(m->ne, sizeof *s->lat_sum);
    s->svc_sum = calloc(m->ne, sizeof *s->svc_sum);
    if (!s->req || !s->lat || !s->svc || !s->lat_sum || !s->svc_sum) goto fail;
  }
  *out = m;
  return 0;
fail:
  metrics_free(m);
  return rc;
}

void metrics_free(struct metrics *m) {
  if (!m) return;
  for (unsigned i = 0; m->shards && i < m->nshards; i++) {
    struct metrics_shard *s = &m->shards[i];
    free(s->req);
    free(s->lat);
    free(s->svc);
    free(s->lat_sum);
    free(s->svc_sum);
  }
  free(m->shards);
  free(m->slot_of);
  free_names(m->ep_method, m->ne);
  free_names(m->ep_templ, m->ne);
  free_names(m->persona, m->np);
  free_names(m->injected, m->ni);
  free(m->info);
  free(m);
}

struct metrics_shard *metrics_shard(struct metrics *m, unsigned i) {
  return m && i < m->nshards ? &m->shards[i] : NULL;
}

/* ---- reading ------------------------------------------------------------ */

struct out {
  char *p;
  size_t len, cap;
  int failed;
};

static void put(struct out *o, const char *fmt, ...) {
  if (o->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->failed = 1;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    size_t ncap = o->cap * 2 + (size_t)n;
    char *np = ncap <= RENDER_MAX ? realloc(o->p, ncap) : NULL;
    if (!np) {
      o->failed = 1;
      return;
    }
    o->p = np;
    o->cap = ncap;
  }
}

static void family(struct out *o, const char *name, const char *type,
                   const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t sum_worker(const struct metrics *m, int k) {
  uint64_t t = 0;
  for (unsigned i = 0; i < m->nshards; i++) t += get(&m->shards[i].worker[k]);
  return t;
}

static double gauge(const struct metrics *m, enum metrics_gauge g) {
  uint64_t bits = get(&m->gauges[g]);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static void put_double(struct out *o, double v) {
  if (isnan(v))
    put(o, "NaN\n");
  else if (isinf(v))
    put(o, v > 0 ? "+Inf\n" : "-Inf\n");
  else
    put(o, "%.17g\n", v);
}

static void histogram(struct out *o, const struct metrics *m, const char *name,
                      const char *help, int service) {
  family(o, name, "histogram", help);
  for (size_t e = 0; e < m->ne; e++) {
    uint64_t b[NB] = {0}, sum = 0, n = 0;
    for (unsigned i = 0; i < m->nshards; i++) {
      const struct metrics_shard *s = &m->shards[i];
      const counter *h = service ? s->svc : s->lat;
      for (size_t k = 0; k < NB; k++) b[k] += get(&h[e * NB + k]);
      sum += get(service ? &s->svc_sum[e] : &s->lat_sum[e]);
    }
    for (size_t k = 0; k < NB; k++) n += b[k];
    if (!n) continue; /* series appear with their first request */
    const char *lab = "endpoint=\"%s\",method=\"%s\"";
    uint64_t cum = 0;
    for (size_t k = 0; k < NB; k++) {
      cum += b[k];
      put(o, "%s_bucket{", name);
      put(o, lab, m->ep_templ[e], m->ep_method[e]);
      if (k < METRICS_BUCKETS)
        put(o, ",le=\"%g\"} %" PRIu64 "\n", metrics_bucket_le[k], cum);
      else
        put(o, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    put(o, "%s_sum{", name);
    put(o, lab, m->ep_templ[e], m->ep_method[e]);
    put(o, "} %.6f\n", (double)sum / 1e6);
    put(o, "%s_count{", name);
    put(o, lab, m->ep_templ[e], m->ep_method[e]);
    put(o, "} %" PRIu64 "\n", n);
  }
}

static void requests(struct out *o, const struct metrics *m) {
  family(o, "mimic_requests_total", "counter",
         "Requests finished, by endpoint template, method, status class "
         "(error: no HTTP answer), persona and injected fault (none: sent "
         "as the model says).");
  size_t cells = m->ne * m->np * m->ni * NCLASS;
  for (size_t c = 0; c < cells; c++) {
    uint64_t v = 0;
    for (unsigned i = 0; i < m->nshards; i++) v += get(&m->shards[i].req[c]);
    if (!v) continue;
    size_t cls = c % NCLASS, rest = c / NCLASS;
    size_t inj = rest % m->ni;
    rest /= m->ni;
    size_t p = rest % m->np, e = rest / m->np;
    put(o,
        "mimic_requests_total{endpoint=\"%s\",method=\"%s\","
        "status_class=\"%s\",persona=\"%s\",injected=\"%s\"} %" PRIu64 "\n",
        m->ep_templ[e], m->ep_method[e], class_name[cls], m->persona[p],
        m->injected[inj], v);
  }
}

static void counter_line(struct out *o, const char *name, const char *type,
                         const char *help, uint64_t v) {
  family(o, name, type, help);
  put(o, "%s %" PRIu64 "\n", name, v);
}

int metrics_render(const struct metrics *m, char **out, size_t *len) {
  struct out o = {.cap = 16384};
  o.p = malloc(o.cap);
  if (!o.p) return -ENOMEM;
  o.p[0] = '\0';
  family(&o, "mimic_build_info", "gauge",
         "Always 1; the labels tell the mimic version.");
  put(&o, "mimic_build_info{version=\"%s\"} 1\n", MIMIC_VERSION);
  family(&o, "mimic_run_info", "gauge",
         "Always 1; the labels tell what this replay runs.");
  put(&o, "mimic_run_info{%s} 1\n", m->info);
  family(&o, "mimic_run_start_time_seconds", "gauge",
         "When the replay started, in unix seconds.");
  put(&o, "mimic_run_start_time_seconds %.3f\n", m->start_time);
  family(&o, "mimic_run_finished", "gauge",
         "1 once the replay is over (the server lingers with the totals).");
  put(&o, "mimic_run_finished ");
  put_double(&o, gauge(m, METRICS_FINISHED));
  requests(&o, m);
  histogram(&o, m, "mimic_request_duration_seconds",
            "Latency from the intended send time (what a user waited, "
            "including any delay of the load generator), by endpoint.",
            0);
  histogram(&o, m, "mimic_service_time_seconds",
            "Latency from the actual send to the end of the response, by "
            "endpoint.",
            1);
  counter_line(&o, "mimic_sessions_started_total", "counter",
               "Sessions that sent their first request.",
               sum_worker(m, W_STARTED));
  counter_line(&o, "mimic_sessions_completed_total", "counter",
               "Sessions that reached the end of their walk.",
               sum_worker(m, W_COMPLETED));
  counter_line(&o, "mimic_planned_sessions_total", "counter",
               "Session arrivals the open workload planned so far.",
               sum_worker(m, W_PLANNED_SESS));
  counter_line(&o, "mimic_dropped_sessions_total", "counter",
               "Planned session arrivals that could not start.",
               sum_worker(m, W_DROPPED_SESS));
  counter_line(&o, "mimic_planned_requests_total", "counter",
               "Requests whose intended send time has come.",
               sum_worker(m, W_PLANNED_REQ));
  counter_line(&o, "mimic_dropped_requests_total", "counter",
               "Planned requests never sent (the run stopped while they "
               "waited for a connection slot or a rate token).",
               sum_worker(m, W_DROPPED_REQ));
  counter_line(&o, "mimic_sessions_active", "gauge",
               "Sessions under way (first request sent, walk not ended).",
               sum_worker(m, W_ACTIVE));
  counter_line(&o, "mimic_virtual_users", "gauge",
               "Virtual users alive (thinking, waiting or in a request).",
               sum_worker(m, W_USERS));
  counter_line(&o, "mimic_requests_in_flight", "gauge",
               "Requests sent and not yet answered.", sum_worker(m, W_FLIGHT));
  counter_line(&o, "mimic_requests_queued", "gauge",
               "Requests due but waiting for a connection slot or a rate "
               "token (the generator is behind its plan).",
               sum_worker(m, W_QUEUED));
  family(&o, "mimic_scenario_rate_multiplier", "gauge",
         "The load shape's factor on the planned rate now.");
  put(&o, "mimic_scenario_rate_multiplier ");
  put_double(&o, gauge(m, METRICS_RATE_MULTIPLIER));
  family(&o, "mimic_scenario_error_rate", "gauge",
         "Share of requests the scenario means to fault (0..1).");
  put(&o, "mimic_scenario_error_rate ");
  put_double(&o, gauge(m, METRICS_ERROR_RATE));
  family(&o, "mimic_scenario_phase", "gauge",
         "Index of the phase running (0 without --phases).");
  put(&o, "mimic_scenario_phase ");
  put_double(&o, gauge(m, METRICS_PHASE));
  static const char *const cl_name[METRICS_CLEANUPS] = {
      "mimic_cleanup_journalled_total", "mimic_cleanup_deleted_total",
      "mimic_cleanup_failed_total"};
  static const char *const cl_help[METRICS_CLEANUPS] = {
      "Resources the run created and journalled for cleanup.",
      "Journalled resources deleted by the cleanup.",
      "Journalled resources the cleanup could not delete."};
  for (int k = 0; k < METRICS_CLEANUPS; k++)
    counter_line(&o, cl_name[k], "counter", cl_help[k], get(&m->cleanup[k]));
  if (o.failed) {
    free(o.p);
    return -ENOMEM;
  }
  *out = o.p;
  *len = o.len;
  return 0;
}

void metrics_sum(const struct metrics *m, struct metrics_sum *out) {
  memset(out, 0, sizeof *out);
  size_t cells = m->ne * m->np * m->ni * NCLASS;
  uint64_t b[NB] = {0};
  for (unsigned i = 0; i < m->nshards; i++) {
    const struct metrics_shard *s = &m->shards[i];
    for (size_t c = 0; c < cells; c++) {
      uint64_t v = get(&s->req[c]);
      if (!v) continue;
      out->requests += v;
      size_t cls = c % NCLASS;
      if (cls == 5) out->errors += v;
      if (cls == 4) out->http_5xx += v;
      if (cls == 3) out->http_4xx += v;
    }
    for (size_t e = 0; e < m->ne; e++)
      for (size_t k = 0; k < NB; k++) b[k] += get(&s->lat[e * NB + k]);
  }
  uint64_t cum = 0;
  for (size_t k = 0; k < NB; k++) out->latency_le[k] = cum += b[k];
}

double metrics_sum_quantile(const struct metrics_sum *a,
                            const struct metrics_sum *b, double q) {
  uint64_t d[NB];
  for (size_t k = 0; k < NB; k++)
    d[k] = b->latency_le[k] - (a ? a->latency_le[k] : 0);
  uint64_t n = d[NB - 1];
  if (!n) return NAN;
  double rank = q * (double)n;
  for (size_t k = 0; k < NB; k++) {
    if ((double)d[k] >= rank) {
      if (k == METRICS_BUCKETS) return metrics_bucket_le[METRICS_BUCKETS - 1];
      double lo = k ? metrics_bucket_le[k - 1] : 0, hi = metrics_bucket_le[k];
      uint64_t below = k ? d[k - 1] : 0;
      uint64_t in = d[k] - below;
      if (!in) return hi;
      return lo + (hi - lo) * (rank - (double)below) / (double)in;
    }
  }
  return metrics_bucket_le[METRICS_BUCKETS - 1];
}
