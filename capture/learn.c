#include "learn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "hist.h"
#include "hmap.h"
#include "model.h"
#include "persona.h"
#include "redact.h"
#include "rng.h"
#include "spill.h"
#include "templ.h"
#include "topk.h"
#include "urlenc.h"

#define MAX_QUERY_PARAMS 64 /* names kept per endpoint; more are ignored */
#define MAX_NAME 64         /* query names longer than this are ignored */
#define MAX_VALUE 256       /* longer query values are cut */
#define UA_POOL 256
#define SHAPE_CLASSES 64 /* length classes of session_shape (model.h) */

/* Value shapes seen for a query parameter (bit set). */
enum {
  SHAPE_INT = 1,
  SHAPE_NUM = 2,
  SHAPE_UUID = 4,
  SHAPE_BOOL = 8,
  SHAPE_TEXT = 16,
  SHAPE_EMPTY = 32,
};

struct status_count {
  int status;
  uint64_t count;
};

struct qparam {
  char *name;
  size_t name_len;
  int secret_name; /* the name says its values are secrets */
  uint64_t present;
  uint64_t redacted; /* values replaced by fakes */
  unsigned shapes;
  struct topk *pool;
};

struct ep_stats {
  uint64_t count;
  struct hist latency, resp, req;
  struct status_count *status;
  uint32_t nstatus, cap_status;
  struct qparam *q;
  uint32_t nq, cap_q;
};

struct trans {
  int32_t from, to; /* handles, or MODEL_START / MODEL_END */
  uint64_t count;
  struct hist think;
};

struct dropped {
  char loc[16], name[48];
  uint64_t count;
};

struct learn {
  struct learn_opts opts;
  struct templ *templ;
  struct ep_stats *eps;
  size_t neps, cap_eps;
  struct hmap trans_index; /* key(from, to) -> index into trans */
  struct trans *trans;
  size_t ntrans, cap_trans;
  struct hist length, duration;
  struct hmap arrivals; /* minute key -> sessions */
  uint64_t tod15[96], dow_hour[168];
  struct topk *uas;
  struct dropped dropped[8];
  size_t ndropped;
  uint64_t requests, sessions;
  int32_t *final; /* after learn_finish: handle -> endpoint id */
  size_t nfinal;
  /* Personas: live sessions being built, finished ones in the spill. */
  struct spill *spill;    /* NULL: one persona */
  struct spill_buf *live; /* by session id */
  size_t cap_live;
  int spill_err;
  uint64_t spill_bytes;
  struct hist shape[SHAPE_CLASSES]; /* durations by length class
                                       (session_shape) */
};

int learn_new(const struct learn_opts *opts, struct learn **out) {
  struct learn *l = calloc(1, sizeof *l);
  if (!l) return -ENOMEM;
  l->opts = *opts;
  if (!l->opts.query_pool_cap) l->opts.query_pool_cap = 64;
  if (!l->opts.path_pool_cap) l->opts.path_pool_cap = 256;
  struct templ_opts to = {
      .collapse_children = opts->collapse_children,
      .max_endpoints = opts->max_endpoints,
      .pool_cap = l->opts.path_pool_cap,
      .salt = {opts->salt[0], opts->salt[1]},
  };
  int rc = templ_new(&to, &l->templ);
  if (rc) goto fail;
  if ((rc = topk_new(UA_POOL, &l->uas))) goto fail;
  hmap_init(&l->trans_index);
  hmap_init(&l->arrivals);
  hist_init(&l->length);
  hist_init(&l->duration);
  if (opts->personas != 1 && opts->spill_dir &&
      (rc = spill_new(opts->spill_dir, &l->spill)))
    l->spill_err = rc; /* one persona; the caller says why */
  for (size_t i = 0; i < SHAPE_CLASSES; i++) hist_init(&l->shape[i]);
  *out = l;
  return 0;
fail:
  templ_free(l->templ);
  free(l);
  return rc;
}

static void ep_stats_cleanup(struct ep_stats *e) {
  hist_cleanup(&e->latency);
  hist_cleanup(&e->resp);
  hist_cleanup(&e->req);
  free(e->status);
  for (uint32_t i = 0; i < e->nq; i++) {
    free(e->q[i].name);
    topk_free(e->q[i].pool);
  }
  free(e->q);
}

void learn_free(struct learn *l) {
  if (!l) return;
  templ_free(l->templ);
  for (size_t i = 0; i < l->neps; i++) ep_stats_cleanup(&l->eps[i]);
  free(l->eps);
  for (size_t i = 0; i < l->ntrans; i++) hist_cleanup(&l->trans[i].think);
  free(l->trans);
  hmap_cleanup(&l->trans_index);
  hist_cleanup(&l->length);
  hist_cleanup(&l->duration);
  hmap_cleanup(&l->arrivals);
  topk_free(l->uas);
  free(l->final);
  spill_free(l->spill);
  for (size_t i = 0; i < l->cap_live; i++) spill_buf_cleanup(&l->live[i]);
  free(l->live);
  for (size_t i = 0; i < SHAPE_CLASSES; i++) hist_cleanup(&l->shape[i]);
  free(l);
}

/* Grows an array of elem-sized items to hold at least need items. */
static int reserve(void *arrp, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need) ncap *= 2;
  char *arr;
  memcpy(&arr, arrp, sizeof arr);
  char *na = realloc(arr, ncap * elem);
  if (!na) return -ENOMEM;
  memset(na + *cap * elem, 0, (ncap - *cap) * elem);
  memcpy(arrp, &na, sizeof na);
  *cap = ncap;
  return 0;
}

static struct ep_stats *ep_get(struct learn *l, uint32_t ep) {
  if (ep >= l->neps) {
    if (reserve(&l->eps, &l->cap_eps, (size_t)ep + 1, sizeof *l->eps))
      return NULL;
    for (size_t i = l->neps; i <= ep; i++) {
      hist_init(&l->eps[i].latency);
      hist_init(&l->eps[i].resp);
      hist_init(&l->eps[i].req);
    }
    l->neps = (size_t)ep + 1;
  }
  return &l->eps[ep];
}

static int add_status(struct ep_stats *e, int status, uint64_t count) {
  for (uint32_t i = 0; i < e->nstatus; i++) {
    if (e->status[i].status == status) {
      e->status[i].count += count;
      return 0;
    }
  }
  size_t cap = e->cap_status;
  if (reserve(&e->status, &cap, e->nstatus + 1u, sizeof *e->status))
    return -ENOMEM;
  e->cap_status = (uint32_t)cap;
  e->status[e->nstatus].status = status;
  e->status[e->nstatus].count = count;
  e->nstatus++;
  return 0;
}

static unsigned shape_of(const char *v, size_t n) {
  if (n == 0) return SHAPE_EMPTY;
  size_t i = v[0] == '-' ? 1 : 0, digits = 0, dots = 0;
  for (size_t j = i; j < n; j++) {
    if (v[j] >= '0' && v[j] <= '9')
      digits++;
    else if (v[j] == '.')
      dots++;
    else {
      digits = 0;
      dots = 9;
      break;
    }
  }
  if (digits && dots == 0) return SHAPE_INT;
  if (digits && dots == 1) return SHAPE_NUM;
  if ((n == 4 && strncmp(v, "true", 4) == 0) ||
      (n == 5 && strncmp(v, "false", 5) == 0))
    return SHAPE_BOOL;
  if (n == 36 && v[8] == '-' && v[13] == '-' && v[18] == '-' && v[23] == '-')
    return SHAPE_UUID;
  return SHAPE_TEXT;
}

static int learn_query(struct learn *l, struct ep_stats *e, const char *q,
                       size_t qlen) {
  const char *end = q + qlen;
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(q, '=', (size_t)(stop - q));
    const char *name = q;
    size_t nlen = (size_t)((eq ? eq : stop) - q);
    const char *val = eq ? eq + 1 : stop;
    size_t vlen = (size_t)(stop - val);
    q = amp ? amp + 1 : end;
    if (nlen == 0 || nlen > MAX_NAME) continue;
    struct qparam *p = NULL;
    for (uint32_t i = 0; i < e->nq; i++) {
      if (e->q[i].name_len == nlen && memcmp(e->q[i].name, name, nlen) == 0) {
        p = &e->q[i];
        break;
      }
    }
    if (!p) {
      if (e->nq >= MAX_QUERY_PARAMS) continue;
      size_t cap = e->cap_q;
      if (reserve(&e->q, &cap, e->nq + 1u, sizeof *e->q)) return -ENOMEM;
      e->cap_q = (uint32_t)cap;
      p = &e->q[e->nq];
      memset(p, 0, sizeof *p);
      p->name = strndup(name, nlen);
      if (!p->name) return -ENOMEM;
      p->name_len = nlen;
      p->secret_name = redact_is_secret_name(name, nlen);
      int rc = topk_new(l->opts.query_pool_cap, &p->pool);
      if (rc) {
        free(p->name);
        return rc;
      }
      e->nq++;
    }
    p->present++;
    if (vlen > MAX_VALUE) vlen = MAX_VALUE;
    char dec[MAX_VALUE];
    size_t dlen = urlenc_decode(val, vlen, dec, sizeof dec);
    p->shapes |= shape_of(dec, dlen);
    char fake[MAX_VALUE + 64];
    if (vlen && (p->secret_name || redact_is_secret_value(dec, dlen))) {
      /* Never store the value itself; the fake keeps its shape. */
      size_t flen = redact_fake(l->opts.salt, dec, dlen, fake, sizeof fake);
      p->redacted++;
      val = fake;
      vlen = flen;
    }
    int rc = topk_add(p->pool, val, vlen, 1);
    if (rc) return rc;
  }
  return 0;
}

int learn_request(struct learn *l, const struct logrec *r, uint32_t *ep) {
  int rc = templ_add_status(l->templ, r->method.p, r->method.len, r->path.p,
                            r->path.len, r->status < 400, ep);
  if (rc) return rc;
  struct ep_stats *e = ep_get(l, *ep);
  if (!e) return -ENOMEM;
  e->count++;
  l->requests++;
  if (r->status && (rc = add_status(e, r->status, 1))) return rc;
  if (r->latency_us >= 0 &&
      (rc = hist_record(&e->latency, (uint64_t)r->latency_us)))
    return rc;
  if (r->resp_bytes >= 0 &&
      (rc = hist_record(&e->resp, (uint64_t)r->resp_bytes)))
    return rc;
  if (r->req_bytes >= 0 && (rc = hist_record(&e->req, (uint64_t)r->req_bytes)))
    return rc;
  if (r->query.len && (rc = learn_query(l, e, r->query.p, r->query.len)))
    return rc;
  if (r->ua.len && (rc = topk_add(l->uas, r->ua.p, r->ua.len, 1))) return rc;
  return 0;
}

static inline uint64_t trans_key(int32_t from, int32_t to) {
  return ((uint64_t)(uint32_t)(from + 3) << 32) | (uint32_t)(to + 3);
}

static struct trans *trans_get(struct learn *l, int32_t from, int32_t to) {
  uint64_t *slot;
  int rc = hmap_put(&l->trans_index, trans_key(from, to), l->ntrans, &slot);
  if (rc < 0) return NULL;
  if (rc == 0) return &l->trans[*slot];
  if (reserve(&l->trans, &l->cap_trans, l->ntrans + 1, sizeof *l->trans)) {
    hmap_del(&l->trans_index, trans_key(from, to));
    return NULL;
  }
  struct trans *t = &l->trans[l->ntrans++];
  t->from = from;
  t->to = to;
  t->count = 0;
  hist_init(&t->think);
  return t;
}

/* ---- sessions kept for personas ---------------------------------------- */

/* The temporary file failed: keep learning the totals (one persona). */
static void spill_drop(struct learn *l, int rc) {
  if (!l->spill_err) l->spill_err = rc;
  if (l->spill) l->spill_bytes = spill_bytes(l->spill);
  spill_free(l->spill);
  l->spill = NULL;
  for (size_t i = 0; i < l->cap_live; i++) spill_buf_cleanup(&l->live[i]);
  free(l->live);
  l->live = NULL;
  l->cap_live = 0;
}

static struct spill_buf *live_buf(struct learn *l, uint32_t sid) {
  if (sid >= l->cap_live) {
    size_t cap = l->cap_live;
    if (reserve(&l->live, &cap, (size_t)sid + 1, sizeof *l->live)) {
      spill_drop(l, -ENOMEM);
      return NULL;
    }
    l->cap_live = cap; /* reserve zeroed the new buffers: valid and empty */
  }
  return &l->live[sid];
}

static void keep_start(struct learn *l, uint32_t sid, int64_t start_us,
                       uint32_t ep, int status, uint32_t ua) {
  struct spill_buf *b = l->spill ? live_buf(l, sid) : NULL;
  int rc;
  if (b && (rc = spill_buf_begin(b, start_us, ep, status, ua)))
    spill_drop(l, rc);
}

static void keep_step(struct learn *l, uint32_t sid, uint32_t ep,
                      int64_t think_us, int status) {
  struct spill_buf *b = l->spill ? live_buf(l, sid) : NULL;
  int rc;
  if (b && (rc = spill_buf_step(b, ep, status, think_us))) spill_drop(l, rc);
}

static void keep_end(struct learn *l, uint32_t sid, int64_t duration_us) {
  struct spill_buf *b = l->spill ? live_buf(l, sid) : NULL;
  int rc;
  if (b && (rc = spill_put(l->spill, b, duration_us))) spill_drop(l, rc);
}

/* The arrival buckets of a session start: unix minute, quarter-hour of the
 * day, hour of the week (0 = Monday 00:00), all UTC. */
struct when {
  int64_t minute;
  uint32_t tod15, dow_hour;
};

static struct when when_of(int64_t start_us) {
  struct when w;
  int64_t secs =
      start_us >= 0 ? start_us / 1000000 : -((-start_us + 999999) / 1000000);
  w.minute = secs >= 0 ? secs / 60 : -((-secs + 59) / 60);
  int64_t day = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t tod = secs - day * 86400;
  int64_t dow = ((day + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday */
  w.tod15 = (uint32_t)(tod / 900);
  w.dow_hour = (uint32_t)(dow * 24 + tod / 3600);
  return w;
}

int learn_session_start(struct learn *l, uint32_t sid, int64_t start_us,
                        uint32_t ep, int status, uint32_t ua) {
  keep_start(l, sid, start_us, ep, status, ua);
  struct trans *t = trans_get(l, MODEL_START, (int32_t)ep);
  if (!t) return -ENOMEM;
  t->count++;
  struct when w = when_of(start_us);
  uint64_t *slot;
  if (hmap_put(&l->arrivals, (uint64_t)w.minute ^ (1ULL << 63), 0, &slot) < 0)
    return -ENOMEM;
  (*slot)++;
  l->tod15[w.tod15]++;
  l->dow_hour[w.dow_hour]++;
  return 0;
}

int learn_transition(struct learn *l, uint32_t sid, uint32_t from, uint32_t to,
                     int64_t think_us, int status) {
  keep_step(l, sid, to, think_us, status);
  struct trans *t = trans_get(l, (int32_t)from, (int32_t)to);
  if (!t) return -ENOMEM;
  t->count++;
  /* The think-time fallbacks (per source endpoint, pooled) are merged
   * from these at the end: one histogram per request, not three. */
  return hist_record(&t->think, think_us > 0 ? (uint64_t)think_us : 0);
}

int learn_session_end(struct learn *l, uint32_t sid, uint32_t last,
                      uint32_t requests, int64_t duration_us) {
  keep_end(l, sid, duration_us);
  struct trans *t = trans_get(l, (int32_t)last, MODEL_END);
  if (!t) return -ENOMEM;
  t->count++;
  l->sessions++;
  int rc = hist_record(&l->length, requests);
  if (rc) return rc;
  uint64_t d = duration_us > 0 ? (uint64_t)duration_us : 0;
  uint32_t lo, hi, k = model_length_class(requests, &lo, &hi);
  if (k < SHAPE_CLASSES && (rc = hist_record(&l->shape[k], d))) return rc;
  return hist_record(&l->duration, d);
}

uint64_t learn_ua_hash(const char *ua, size_t len) {
  return hash64(ua, len, 0x7561ULL);
}

uint32_t learn_ua_key(const char *ua, size_t len, uint64_t hash) {
  if (len == 0) return 0;
  if (len > TOPK_VALUE_MAX) hash = learn_ua_hash(ua, TOPK_VALUE_MAX);
  uint32_t k = (uint32_t)(hash >> 32) ^ (uint32_t)hash;
  return k ? k : 1;
}

void learn_note_dropped(struct learn *l, const char *loc, const char *name,
                        uint64_t count) {
  for (size_t i = 0; i < l->ndropped; i++) {
    if (strcmp(l->dropped[i].loc, loc) == 0 &&
        strcmp(l->dropped[i].name, name) == 0) {
      l->dropped[i].count += count;
      return;
    }
  }
  if (l->ndropped == sizeof l->dropped / sizeof l->dropped[0]) return;
  struct dropped *d = &l->dropped[l->ndropped++];
  snprintf(d->loc, sizeof d->loc, "%s", loc);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->count = count;
}

uint64_t learn_requests(const struct learn *l) {
  return l->requests;
}
uint64_t learn_sessions(const struct learn *l) {
  return l->sessions;
}
uint64_t learn_capped(const struct learn *l) {
  return templ_capped(l->templ);
}
int learn_spill_error(const struct learn *l) {
  return l->spill_err;
}
uint64_t learn_spill_bytes(const struct learn *l) {
  return l->spill ? spill_bytes(l->spill) : l->spill_bytes;
}

/* ---- finishing ------------------------------------------------------- */

struct live {
  uint32_t handle;
  uint64_t hits;
  const char *method, *text;
};

static int live_cmp(const void *a, const void *b) {
  const struct live *x = a, *y = b;
  if (x->hits != y->hits) return x->hits > y->hits ? -1 : 1;
  int c = strcmp(x->method, y->method);
  return c ? c : strcmp(x->text, y->text);
}

static int status_cmp(const void *a, const void *b) {
  const struct model_status *x = a, *y = b;
  return (x->status > y->status) - (x->status < y->status);
}

static int trans_cmp(const void *a, const void *b) {
  const struct model_transition *x = a, *y = b;
  if (x->from != y->from) return x->from < y->from ? -1 : 1;
  return (x->to > y->to) - (x->to < y->to);
}

static int set_dist(struct model_dist *d, const struct hist *h) {
  hist_init(&d->h);
  d->has = h->n > 0;
  return d->has ? hist_copy(&d->h, h) : 0;
}

static const char *shape_name(unsigned shapes) {
  shapes &= ~(unsigned)SHAPE_EMPTY;
  switch (shapes) {
  case SHAPE_INT: return "int";
  case SHAPE_NUM:
  case SHAPE_NUM | SHAPE_INT: return "num";
  case SHAPE_UUID: return "uuid";
  case SHAPE_BOOL: return "bool";
  default: return "text";
  }
}

static int add_pool(struct model_param *p, const struct topk *pool) {
  size_t n = topk_len(pool);
  int exact = 0;
  p->distinct = topk_distinct(pool, &exact);
  p->distinct_exact = exact;
  if (n == 0) return 0;
  struct topk_item *items = malloc(n * sizeof *items);
  p->values = calloc(n, sizeof *p->values);
  if (!items || !p->values) {
    free(items);
    return -ENOMEM;
  }
  n = topk_items(pool, items, n);
  for (size_t i = 0; i < n; i++) {
    p->values[i].value = strndup(items[i].value, items[i].len);
    if (!p->values[i].value) {
      free(items);
      return -ENOMEM;
    }
    p->values[i].count = items[i].count;
    p->nvalues++;
  }
  free(items);
  return 0;
}

static int add_redaction(struct model *m, const char *loc, const char *name,
                         const char *action, uint64_t count) {
  /* One row per (loc, name, action): the same query name on several
   * endpoints adds up. */
  for (size_t i = 0; i < m->nredactions; i++) {
    struct model_redaction *r = &m->redactions[i];
    if (strcmp(r->loc, loc) == 0 && strcmp(r->name, name) == 0 &&
        strcmp(r->action, action) == 0) {
      r->count += count;
      return 0;
    }
  }
  struct model_redaction *r = model_push(m, redactions);
  if (!r) return -ENOMEM;
  r->loc = strdup(loc);
  r->name = strdup(name);
  r->action = strdup(action);
  r->count = count;
  return r->loc && r->name && r->action ? 0 : -ENOMEM;
}

static int is_bot_ua(const char *ua) {
  static const char *const marks[] = {
      "bot",      "crawl",      "spider",         "slurp",      "curl/",
      "wget/",    "python",     "go-http-client", "okhttp",     "libwww",
      "httpx",    "java/",      "scrapy",         "pingdom",    "monitor",
      "headless", "httpclient", "axios",          "node-fetch",
  };
  char low[512];
  size_t n = strlen(ua);
  if (n >= sizeof low) n = sizeof low - 1;
  for (size_t i = 0; i < n; i++)
    low[i] = (char)(ua[i] >= 'A' && ua[i] <= 'Z' ? ua[i] + 32 : ua[i]);
  low[n] = '\0';
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
    if (strstr(low, marks[i])) return 1;
  return 0;
}

/* Merges query parameter src into the final endpoint's list. */
static int merge_qparam(struct ep_stats *dst, const struct qparam *src,
                        size_t pool_cap) {
  for (uint32_t i = 0; i < dst->nq; i++) {
    struct qparam *p = &dst->q[i];
    if (strcmp(p->name, src->name) == 0) {
      p->present += src->present;
      p->redacted += src->redacted;
      p->shapes |= src->shapes;
      return topk_merge(p->pool, src->pool);
    }
  }
  size_t cap = dst->cap_q;
  if (reserve(&dst->q, &cap, dst->nq + 1u, sizeof *dst->q)) return -ENOMEM;
  dst->cap_q = (uint32_t)cap;
  struct qparam *p = &dst->q[dst->nq];
  memset(p, 0, sizeof *p);
  p->name = strdup(src->name);
  if (!p->name) return -ENOMEM;
  p->name_len = src->name_len;
  p->secret_name = src->secret_name;
  int rc = topk_new(pool_cap, &p->pool);
  if (rc) {
    free(p->name);
    return rc;
  }
  dst->nq++;
  p->present = src->present;
  p->redacted = src->redacted;
  p->shapes = src->shapes;
  return topk_merge(p->pool, src->pool);
}

static int qparam_cmp(const void *a, const void *b) {
  const struct qparam *x = a, *y = b;
  if (x->present != y->present) return x->present > y->present ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int finish_endpoints(struct learn *l, struct model *m, int32_t *final,
                            size_t nh) {
  int rc = -ENOMEM;
  struct live *live = calloc(nh ? nh : 1, sizeof *live);
  struct ep_stats *agg = NULL;
  size_t nlive = 0;
  if (!live) return -ENOMEM;
  for (size_t h = 0; h < nh; h++) {
    if (!templ_is_live(l->templ, (uint32_t)h)) continue;
    live[nlive].handle = (uint32_t)h;
    live[nlive].hits = templ_hits(l->templ, (uint32_t)h);
    live[nlive].method = templ_method(l->templ, (uint32_t)h);
    live[nlive].text = templ_text(l->templ, (uint32_t)h);
    nlive++;
  }
  if (nlive) qsort(live, nlive, sizeof *live, live_cmp);
  int32_t *id_of_live = malloc((nh ? nh : 1) * sizeof *id_of_live);
  agg = calloc(nlive ? nlive : 1, sizeof *agg);
  if (!id_of_live || !agg) goto out;
  for (size_t i = 0; i < nh; i++) id_of_live[i] = -1;
  for (size_t i = 0; i < nlive; i++) {
    id_of_live[live[i].handle] = (int32_t)i;
    hist_init(&agg[i].latency);
    hist_init(&agg[i].resp);
    hist_init(&agg[i].req);
  }
  for (size_t h = 0; h < nh; h++)
    final[h] = id_of_live[templ_resolve(l->templ, (uint32_t)h)];

  /* Fold every handle's statistics onto its final endpoint. */
  for (size_t h = 0; h < nh && h < l->neps; h++) {
    struct ep_stats *src = &l->eps[h], *dst = &agg[final[h]];
    dst->count += src->count;
    if ((rc = hist_merge(&dst->latency, &src->latency)) ||
        (rc = hist_merge(&dst->resp, &src->resp)) ||
        (rc = hist_merge(&dst->req, &src->req)))
      goto out;
    for (uint32_t i = 0; i < src->nstatus; i++)
      if ((rc = add_status(dst, src->status[i].status, src->status[i].count)))
        goto out;
    for (uint32_t i = 0; i < src->nq; i++)
      if ((rc = merge_qparam(dst, &src->q[i], l->opts.query_pool_cap)))
        goto out;
  }

  rc = -ENOMEM;
  for (size_t i = 0; i < nlive; i++) {
    struct ep_stats *a = &agg[i];
    struct model_endpoint *e = model_push(m, endpoints);
    if (!e) goto out;
    e->method = strdup(live[i].method);
    e->host = strdup("");
    e->templ = strdup(live[i].text);
    if (!e->method || !e->host || !e->templ) goto out;
    e->count = a->count;
    if ((rc = set_dist(&e->latency, &a->latency)) ||
        (rc = set_dist(&e->resp_bytes, &a->resp)) ||
        (rc = set_dist(&e->req_bytes, &a->req)))
      goto out;
    rc = -ENOMEM;
    if (a->nstatus) {
      e->status = malloc(a->nstatus * sizeof *e->status);
      if (!e->status) goto out;
      for (uint32_t j = 0; j < a->nstatus; j++) {
        e->status[j].status = a->status[j].status;
        e->status[j].count = a->status[j].count;
      }
      e->nstatus = a->nstatus;
      qsort(e->status, e->nstatus, sizeof *e->status, status_cmp);
    }
    /* Path parameters, then query parameters by presence. */
    uint32_t h = live[i].handle;
    size_t np = templ_nparams(l->templ, h);
    for (size_t j = 0; j < np; j++) {
      struct model_param *p = model_push(m, params);
      if (!p) goto out;
      p->endpoint = (uint32_t)i;
      snprintf(p->loc, sizeof p->loc, "path");
      p->position = (uint32_t)j;
      p->name = strdup(templ_param_name(l->templ, h, j));
      p->type = strdup(templ_param_type(l->templ, h, j));
      if (!p->name || !p->type) goto out;
      p->presence = 1.0;
      p->redacted = templ_param_redacted(l->templ, h, j);
      if ((rc = add_pool(p, templ_param_pool(l->templ, h, j)))) goto out;
      rc = -ENOMEM;
    }
    if (a->nq) qsort(a->q, a->nq, sizeof *a->q, qparam_cmp);
    for (uint32_t j = 0; j < a->nq; j++) {
      struct qparam *q = &a->q[j];
      struct model_param *p = model_push(m, params);
      if (!p) goto out;
      p->endpoint = (uint32_t)i;
      snprintf(p->loc, sizeof p->loc, "query");
      p->position = j;
      p->name = strdup(q->name);
      p->type = strdup(q->redacted ? "secret" : shape_name(q->shapes));
      if (!p->name || !p->type) goto out;
      p->presence = a->count ? (double)q->present / (double)a->count : 0;
      p->redacted = q->redacted > 0;
      if ((rc = add_pool(p, q->pool))) goto out;
      if (q->redacted &&
          (rc = add_redaction(m, "query", q->name, "fake", q->redacted)))
        goto out;
      rc = -ENOMEM;
    }
  }
  rc = 0;
out:
  if (agg)
    for (size_t i = 0; i < nlive; i++) ep_stats_cleanup(&agg[i]);
  free(agg);
  free(id_of_live);
  free(live);
  return rc;
}

/* Appends a think-time fallback row holding h (moved; nothing when empty). */
static int push_backoff(struct model *m, uint32_t persona, int32_t from,
                        struct hist *h) {
  if (h->n == 0) return 0;
  struct model_backoff *b = model_push(m, backoffs);
  if (!b) return -ENOMEM;
  b->persona = persona;
  b->from = from;
  b->think = *h;
  hist_init(h);
  return 0;
}

/* Think-time fallbacks from the transitions m->transitions[first..],
 * sorted by persona, source and target: per source endpoint (one run of
 * them), then pooled over the persona. */
static int add_backoffs(struct model *m, size_t first) {
  struct hist from, pooled;
  hist_init(&from);
  hist_init(&pooled);
  int rc = 0;
  size_t n = m->ntransitions;
  for (size_t i = first; i < n && !rc; i++) {
    const struct model_transition *t = &m->transitions[i], *u = t + 1;
    if (t->from >= 0 && t->think.has &&
        ((rc = hist_merge(&from, &t->think.h)) ||
         (rc = hist_merge(&pooled, &t->think.h))))
      break;
    /* model_push may move the array: read the next row before it. */
    int end_persona = i + 1 == n || u->persona != t->persona;
    int end_from = end_persona || u->from != t->from;
    uint32_t persona = t->persona;
    int32_t src = t->from;
    if (end_from) rc = push_backoff(m, persona, src, &from);
    if (!rc && end_persona) rc = push_backoff(m, persona, MODEL_ANY, &pooled);
  }
  hist_cleanup(&from);
  hist_cleanup(&pooled);
  return rc;
}

static int finish_transitions(struct learn *l, struct model *m,
                              const int32_t *final) {
  struct hmap index;
  hmap_init(&index);
  size_t first = m->ntransitions;
  int rc = 0;
  for (size_t i = 0; i < l->ntrans; i++) {
    const struct trans *t = &l->trans[i];
    int32_t from = t->from >= 0 ? final[t->from] : t->from;
    int32_t to = t->to >= 0 ? final[t->to] : t->to;
    uint64_t *slot;
    rc = hmap_put(&index, trans_key(from, to), m->ntransitions, &slot);
    if (rc < 0) goto out;
    struct model_transition *mt;
    if (rc == 1) {
      mt = model_push(m, transitions);
      if (!mt) {
        rc = -ENOMEM;
        goto out;
      }
      mt->persona = 0;
      mt->from = from;
      mt->to = to;
      hist_init(&mt->think.h);
    } else {
      mt = &m->transitions[*slot];
    }
    mt->count += t->count;
    if ((rc = hist_merge(&mt->think.h, &t->think))) goto out;
    mt->think.has = mt->think.h.n > 0;
  }
  if (m->ntransitions > first)
    qsort(m->transitions + first, m->ntransitions - first,
          sizeof *m->transitions, trans_cmp);

  if ((rc = add_backoffs(m, first))) goto out;
  rc = 0;
out:
  hmap_cleanup(&index);
  return rc;
}

static int arrival_cmp(const void *a, const void *b) {
  const struct model_arrival *x = a, *y = b;
  return (x->minute > y->minute) - (x->minute < y->minute);
}

/* Writes the session durations by length class of persona p (table
 * session_shape) from shape[0..n), one histogram per class. */
static int emit_shapes(struct model *m, uint32_t p, const struct hist *shape,
                       size_t n) {
  for (uint32_t k = 0; k < n; k++) {
    if (!shape[k].n) continue;
    struct model_shape *x = model_push(m, shapes);
    if (!x) return -ENOMEM;
    /* The first length of class k (classes 4 on halve (2^p, 2^(p+1)]). */
    uint64_t len = k + 1;
    if (k >= 4) {
      uint64_t base = (uint64_t)1 << (2 + (k - 4) / 2);
      len = base + 1 + ((k - 4) % 2) * (base / 2);
    }
    x->persona = p;
    hist_init(&x->duration);
    model_length_class((uint32_t)len, &x->lo, &x->hi);
    int rc = hist_copy(&x->duration, &shape[k]);
    if (rc) return rc;
  }
  return 0;
}

static int finish_sessions(struct learn *l, struct model *m) {
  struct model_persona *p = model_push(m, personas);
  if (!p) return -ENOMEM;
  p->name = strdup("all");
  if (!p->name) return -ENOMEM;
  p->weight = 1.0;
  p->sessions = l->sessions;
  int rc;
  if ((rc = set_dist(&p->length, &l->length)) ||
      (rc = set_dist(&p->duration, &l->duration)))
    return rc;
  if ((rc = emit_shapes(m, 0, l->shape, SHAPE_CLASSES))) return rc;
  size_t first = m->narrivals;
  uint64_t key, val;
  for (size_t it = 0; hmap_next(&l->arrivals, &it, &key, &val);) {
    struct model_arrival *a = model_push(m, arrivals);
    if (!a) return -ENOMEM;
    a->persona = 0;
    a->minute = (int64_t)(key ^ (1ULL << 63));
    a->sessions = val;
  }
  if (m->narrivals > first)
    qsort(m->arrivals + first, m->narrivals - first, sizeof *m->arrivals,
          arrival_cmp);
  for (uint32_t i = 0; i < 96; i++) {
    if (!l->tod15[i]) continue;
    struct model_profile *pr = model_push(m, profiles);
    if (!pr) return -ENOMEM;
    snprintf(pr->kind, sizeof pr->kind, "tod15");
    pr->bucket = i;
    pr->sessions = l->tod15[i];
  }
  for (uint32_t i = 0; i < 168; i++) {
    if (!l->dow_hour[i]) continue;
    struct model_profile *pr = model_push(m, profiles);
    if (!pr) return -ENOMEM;
    snprintf(pr->kind, sizeof pr->kind, "dow_hour");
    pr->bucket = i;
    pr->sessions = l->dow_hour[i];
  }
  return 0;
}

/* The user agent pool, before the personas: they count their sessions by
 * these. */
static int finish_uas(struct learn *l, struct model *m) {
  size_t n = topk_len(l->uas);
  struct topk_item *items = malloc((n ? n : 1) * sizeof *items);
  if (!items) return -ENOMEM;
  n = topk_items(l->uas, items, n);
  for (size_t i = 0; i < n; i++) {
    struct model_ua *u = model_push(m, uas);
    if (!u || !(u->value = strndup(items[i].value, items[i].len))) {
      free(items);
      return -ENOMEM;
    }
    u->count = items[i].count;
    u->is_bot = is_bot_ua(u->value);
  }
  free(items);
  return 0;
}

static int finish_misc(struct learn *l, struct model *m) {
  static const char *const types[] = {"email", "token", "hash"};
  for (size_t i = 0; i < 3; i++) {
    uint64_t c = templ_redacted(l->templ, types[i]);
    char name[32];
    snprintf(name, sizeof name, "{%s}", types[i]);
    int rc;
    if (c && (rc = add_redaction(m, "path", name, "fake", c))) return rc;
  }
  for (size_t i = 0; i < l->ndropped; i++) {
    int rc = add_redaction(m, l->dropped[i].loc, l->dropped[i].name, "dropped",
                           l->dropped[i].count);
    if (rc) return rc;
  }
  return 0;
}

/* ---- personas ---------------------------------------------------------- */

#define RESERVOIR 20000 /* sessions sampled for clustering (~2 MB) */

/* What one persona learns in the second pass over the sessions. */
struct pchain {
  uint64_t sessions, errors;
  struct hist length, duration;
  struct hist shape[SHAPE_CLASSES]; /* durations by length class */
  struct hmap arrivals;             /* minute key -> sessions */
  uint64_t tod15[96], dow_hour[168];
};

struct ptrans {
  uint32_t persona;
  int32_t from, to;
  uint64_t count;
  struct hist think;
};

struct pacc {
  uint32_t k, nep, nua;
  struct pchain *chain;
  uint64_t *ep_req;  /* k x nep requests, for the names */
  uint64_t *ua_ses;  /* k x nua sessions by user agent (persona_user_agent) */
  struct hmap ua_ix; /* learn_ua_key of m->uas[i] -> i */
  struct hmap tindex;
  struct ptrans *trans;
  size_t ntrans, cap_trans;
};

/* Endpoint ids fit 24 bits here (checked before: nep < 2^23). */
static uint64_t ptrans_key(uint32_t c, int32_t from, int32_t to) {
  return (uint64_t)c << 48 | (uint64_t)(uint32_t)(from + 3) << 24 |
         (uint32_t)(to + 3);
}

static int pacc_init(struct pacc *a, uint32_t k, const struct model *m) {
  memset(a, 0, sizeof *a);
  a->k = k;
  a->nep = (uint32_t)m->nendpoints;
  a->nua = (uint32_t)m->nuas;
  hmap_init(&a->tindex);
  hmap_init(&a->ua_ix);
  a->chain = calloc(k, sizeof *a->chain);
  a->ep_req = calloc((size_t)k * a->nep, sizeof *a->ep_req);
  a->ua_ses = calloc((size_t)k * a->nua + 1, sizeof *a->ua_ses);
  if (!a->chain || !a->ep_req || !a->ua_ses) return -ENOMEM;
  /* Two kept user agents with one key (about 1 in 10^5 models): the
   * sessions go to the first, the more frequent. */
  for (uint32_t i = 0; i < a->nua; i++) {
    const char *v = m->uas[i].value;
    size_t n = strlen(v);
    uint64_t *slot;
    if (hmap_put(&a->ua_ix, learn_ua_key(v, n, learn_ua_hash(v, n)), i, &slot) <
        0)
      return -ENOMEM;
  }
  for (uint32_t c = 0; c < k; c++) {
    hist_init(&a->chain[c].length);
    hist_init(&a->chain[c].duration);
    for (size_t j = 0; j < SHAPE_CLASSES; j++) hist_init(&a->chain[c].shape[j]);
    hmap_init(&a->chain[c].arrivals);
  }
  return 0;
}

static void pacc_cleanup(struct pacc *a) {
  for (uint32_t c = 0; a->chain && c < a->k; c++) {
    hist_cleanup(&a->chain[c].length);
    hist_cleanup(&a->chain[c].duration);
    for (size_t j = 0; j < SHAPE_CLASSES; j++)
      hist_cleanup(&a->chain[c].shape[j]);
    hmap_cleanup(&a->chain[c].arrivals);
  }
  free(a->chain);
  free(a->ep_req);
  free(a->ua_ses);
  hmap_cleanup(&a->ua_ix);
  for (size_t i = 0; i < a->ntrans; i++) hist_cleanup(&a->trans[i].think);
  free(a->trans);
  hmap_cleanup(&a->tindex);
}

static struct ptrans *pacc_trans(struct pacc *a, uint32_t c, int32_t from,
                                 int32_t to) {
  uint64_t key = ptrans_key(c, from, to), *slot;
  int rc = hmap_put(&a->tindex, key, a->ntrans, &slot);
  if (rc < 0) return NULL;
  if (rc == 0) return &a->trans[*slot];
  if (reserve(&a->trans, &a->cap_trans, a->ntrans + 1, sizeof *a->trans)) {
    hmap_del(&a->tindex, key);
    return NULL;
  }
  struct ptrans *t = &a->trans[a->ntrans++];
  *t = (struct ptrans){.persona = c, .from = from, .to = to};
  hist_init(&t->think);
  return t;
}

/* Learns one session (endpoint ids already final) into persona c, as
 * learn_session_start / learn_transition / learn_session_end do for all.
 * Think-time fallbacks are not kept here: pacc_emit merges them from the
 * transitions, far cheaper than three histograms per request. */
static int pacc_session(struct pacc *a, uint32_t c,
                        const struct spill_session *ss, const int32_t *fe) {
  struct pchain *ch = &a->chain[c];
  struct ptrans *t = pacc_trans(a, c, MODEL_START, fe[0]);
  if (!t) return -ENOMEM;
  t->count++;
  /* A user agent outside the pool (or none) is not counted. */
  const uint64_t *ua = ss->ua ? hmap_get(&a->ua_ix, ss->ua) : NULL;
  if (ua) a->ua_ses[(size_t)c * a->nua + *ua]++;
  int rc;
  for (uint32_t i = 0; i < ss->n; i++) {
    a->ep_req[(size_t)c * a->nep + (uint32_t)fe[i]]++;
    ch->errors += ss->cls[i] >= 4;
    if (i == 0) continue;
    if (!(t = pacc_trans(a, c, fe[i - 1], fe[i]))) return -ENOMEM;
    t->count++;
    if ((rc = hist_record(&t->think, (uint64_t)ss->think_us[i]))) return rc;
  }
  if (!(t = pacc_trans(a, c, fe[ss->n - 1], MODEL_END))) return -ENOMEM;
  t->count++;
  ch->sessions++;
  if ((rc = hist_record(&ch->length, ss->n)) ||
      (rc = hist_record(&ch->duration, (uint64_t)ss->duration_us)))
    return rc;
  uint32_t lo, hi, sk = model_length_class(ss->n, &lo, &hi);
  if (sk < SHAPE_CLASSES &&
      (rc = hist_record(&ch->shape[sk], (uint64_t)ss->duration_us)))
    return rc;
  struct when w = when_of(ss->start_us);
  uint64_t *slot;
  if (hmap_put(&ch->arrivals, (uint64_t)w.minute ^ (1ULL << 63), 0, &slot) < 0)
    return -ENOMEM;
  (*slot)++;
  ch->tod15[w.tod15]++;
  ch->dow_hour[w.dow_hour]++;
  return 0;
}

static int ptrans_cmp(const void *x, const void *y) {
  const struct ptrans *a = *(struct ptrans *const *)x;
  const struct ptrans *b = *(struct ptrans *const *)y;
  if (a->persona != b->persona) return a->persona < b->persona ? -1 : 1;
  if (a->from != b->from) return a->from < b->from ? -1 : 1;
  return (a->to > b->to) - (a->to < b->to);
}

/* Moves h into d (h is left empty): no second copy of every histogram. */
static void move_dist(struct model_dist *d, struct hist *h) {
  d->has = h->n > 0;
  d->h = *h;
  hist_init(h);
}

static int pacc_emit(struct pacc *a, struct model *m, char **names,
                     uint64_t sessions) {
  int rc = -ENOMEM;
  struct ptrans **order = malloc((a->ntrans + 1) * sizeof *order);
  if (!order) return -ENOMEM;
  for (uint32_t c = 0; c < a->k; c++) {
    struct model_persona *p = model_push(m, personas);
    if (!p) goto out;
    p->name = names[c];
    names[c] = NULL;
    p->sessions = a->chain[c].sessions;
    p->weight = sessions ? (double)p->sessions / (double)sessions : 0;
    move_dist(&p->length, &a->chain[c].length);
    move_dist(&p->duration, &a->chain[c].duration);
    if ((rc = emit_shapes(m, c, a->chain[c].shape, SHAPE_CLASSES))) goto out;
  }
  for (size_t i = 0; i < a->ntrans; i++) order[i] = &a->trans[i];
  if (a->ntrans) qsort(order, a->ntrans, sizeof *order, ptrans_cmp);
  size_t first_trans = m->ntransitions;
  for (size_t i = 0; i < a->ntrans; i++) {
    struct ptrans *t = order[i];
    struct model_transition *mt = model_push(m, transitions);
    if (!mt) goto out;
    mt->persona = t->persona;
    mt->from = t->from;
    mt->to = t->to;
    mt->count = t->count;
    move_dist(&mt->think, &t->think);
  }
  if ((rc = add_backoffs(m, first_trans))) goto out;
  rc = -ENOMEM;
  for (uint32_t c = 0; c < a->k; c++) {
    for (uint32_t u = 0; u < a->nua; u++) {
      uint64_t n = a->ua_ses[(size_t)c * a->nua + u];
      if (!n) continue;
      struct model_persona_ua *pu = model_push(m, persona_uas);
      if (!pu) goto out;
      *pu = (struct model_persona_ua){.persona = c, .ua = u, .count = n};
    }
  }
  for (uint32_t c = 0; c < a->k; c++) {
    const struct pchain *ch = &a->chain[c];
    size_t first = m->narrivals;
    uint64_t key, val;
    for (size_t it = 0; hmap_next(&ch->arrivals, &it, &key, &val);) {
      struct model_arrival *ar = model_push(m, arrivals);
      if (!ar) goto out;
      ar->persona = c;
      ar->minute = (int64_t)(key ^ (1ULL << 63));
      ar->sessions = val;
    }
    if (m->narrivals > first)
      qsort(m->arrivals + first, m->narrivals - first, sizeof *m->arrivals,
            arrival_cmp);
    for (uint32_t i = 0; i < 96 + 168; i++) {
      uint64_t v = i < 96 ? ch->tod15[i] : ch->dow_hour[i - 96];
      if (!v) continue;
      struct model_profile *pr = model_push(m, profiles);
      if (!pr) goto out;
      pr->persona = c;
      snprintf(pr->kind, sizeof pr->kind, i < 96 ? "tod15" : "dow_hour");
      pr->bucket = i < 96 ? i : i - 96;
      pr->sessions = v;
    }
  }
  rc = 0;
out:
  free(order);
  return rc;
}

/* Endpoint ids of a spilled session on the final endpoints; ERR_CORRUPT
 * for a handle the templater never gave. */
static int map_session(const struct spill_session *ss, const int32_t *final,
                       size_t nh, int32_t **fe, size_t *cap) {
  if (ss->n > *cap) {
    int32_t *nf = realloc(*fe, ss->n * sizeof *nf);
    if (!nf) return -ENOMEM;
    *fe = nf;
    *cap = ss->n;
  }
  for (uint32_t i = 0; i < ss->n; i++) {
    if (ss->ep[i] >= nh || final[ss->ep[i]] < 0) return ERR_CORRUPT;
    (*fe)[i] = final[ss->ep[i]];
  }
  return 0;
}

/* Clusters the spilled sessions and learns one chain per persona. *done
 * stays 0 when the model keeps one persona (one behaviour found, or the
 * file failed: then spill_err says why); -ENOMEM is the only failure. */
static int finish_personas(struct learn *l, struct model *m,
                           const int32_t *final, size_t nh, int *done) {
  struct spill *sp = l->spill;
  uint32_t nep = (uint32_t)m->nendpoints;
  struct persona_space space = {0};
  struct persona_fit fit = {0};
  struct spill_session ss = {0};
  struct pacc acc = {0};
  float *res = NULL, *x = NULL;
  int32_t *fe = NULL;
  size_t fcap = 0;
  char **names = NULL;
  uint64_t seen = 0;
  int rc;
  *done = 0;
  if (nep == 0 || m->nendpoints >= (1u << 23)) return 0;
  uint64_t *counts = malloc(nep * sizeof *counts);
  if (!counts) return -ENOMEM;
  for (uint32_t e = 0; e < nep; e++) counts[e] = m->endpoints[e].count;
  rc = persona_space_init(&space, counts, nep);
  free(counts);
  if (rc) return rc;
  uint32_t dims = space.dims;
  rc = -ENOMEM;
  res = malloc((size_t)RESERVOIR * dims * sizeof *res);
  x = malloc(dims * sizeof *x);
  if (!res || !x) goto out;

  /* Pass 1: a uniform sample of sessions (reservoir sampling). */
  struct rng r;
  rng_seed(&r, l->opts.seed ^ 0x726573ULL);
  if ((rc = spill_rewind(sp))) goto spill_failed;
  while ((rc = spill_get(sp, &ss)) == 1) {
    if ((rc = map_session(&ss, final, nh, &fe, &fcap))) goto spill_failed;
    uint64_t slot = seen < RESERVOIR ? seen : rng_below(&r, seen + 1);
    seen++;
    if (slot < RESERVOIR)
      persona_features(&space, (const uint32_t *)fe, ss.cls, ss.think_us, ss.n,
                       res + slot * dims);
  }
  if (rc < 0) goto spill_failed;
  if (seen == 0) goto out;
  size_t nres = seen < RESERVOIR ? (size_t)seen : RESERVOIR;
  persona_space_fit(&space, res, nres);
  if ((rc = persona_cluster(res, nres, dims, l->opts.personas, l->opts.seed,
                            &fit)))
    goto out;
  rc = 0;
  if (fit.k <= 1) goto out; /* one behaviour: the totals are that persona */

  /* Pass 2: every session to its nearest persona. */
  if ((rc = spill_rewind(sp))) goto spill_failed;
  if ((rc = pacc_init(&acc, fit.k, m))) goto out;
  while ((rc = spill_get(sp, &ss)) == 1) {
    if ((rc = map_session(&ss, final, nh, &fe, &fcap))) goto spill_failed;
    persona_features(&space, (const uint32_t *)fe, ss.cls, ss.think_us, ss.n,
                     x);
    persona_space_apply(&space, x);
    if ((rc = pacc_session(&acc, persona_nearest(&fit, x), &ss, fe))) goto out;
  }
  if (rc < 0) goto spill_failed;

  /* A persona left without sessions (a tie on the sample) is dropped. */
  uint32_t k = 0;
  for (uint32_t c = 0; c < acc.k; c++) k += acc.chain[c].sessions > 0;
  if (k < acc.k) {
    rc = 0;
    goto out; /* rare: keep the one-persona model rather than renumber */
  }
  rc = -ENOMEM;
  const char **method = malloc(nep * sizeof *method);
  const char **templ = malloc(nep * sizeof *templ);
  uint64_t *errors = malloc(acc.k * sizeof *errors);
  names = calloc(acc.k, sizeof *names);
  if (method && templ && errors && names) {
    for (uint32_t e = 0; e < nep; e++) {
      method[e] = m->endpoints[e].method;
      templ[e] = m->endpoints[e].templ;
    }
    for (uint32_t c = 0; c < acc.k; c++) errors[c] = acc.chain[c].errors;
    struct persona_profile prof = {
        .k = acc.k,
        .nep = nep,
        .requests = acc.ep_req,
        .errors = errors,
        .method = method,
        .templ = templ,
    };
    rc = persona_names(&prof, names);
  }
  free(method);
  free(templ);
  free(errors);
  if (rc) goto out;
  if ((rc = pacc_emit(&acc, m, names, seen))) goto out;
  *done = 1;
  goto out;

spill_failed:
  if (rc == -ENOMEM) goto out;
  spill_drop(l, rc);
  rc = 0;
out:
  if (names)
    for (uint32_t c = 0; c < acc.k; c++) free(names[c]);
  free(names);
  pacc_cleanup(&acc);
  persona_fit_cleanup(&fit);
  persona_space_cleanup(&space);
  spill_session_cleanup(&ss);
  free(res);
  free(x);
  free(fe);
  return rc;
}

int learn_finish(struct learn *l, struct model *m) {
  int rc = templ_finalize(l->templ);
  if (rc) return rc;
  size_t nh = templ_handles(l->templ);
  int32_t *final = malloc((nh ? nh : 1) * sizeof *final);
  if (!final) return -ENOMEM;
  rc = finish_endpoints(l, m, final, nh);
  if (!rc) rc = finish_uas(l, m);
  int personas = 0;
  if (!rc && l->spill) rc = finish_personas(l, m, final, nh, &personas);
  if (l->spill) { /* done with it: give its disk space back now */
    l->spill_bytes = spill_bytes(l->spill);
    spill_free(l->spill);
    l->spill = NULL;
  }
  if (!rc && !personas) rc = finish_transitions(l, m, final);
  if (!rc && !personas) rc = finish_sessions(l, m);
  if (!rc) rc = finish_misc(l, m);
  free(l->final);
  l->final = final; /* kept for learn_final_ids and learn_endpoint_id */
  l->nfinal = nh;
  return rc;
}

const int32_t *learn_final_ids(const struct learn *l, size_t *n) {
  *n = l->nfinal;
  return l->final;
}

int32_t learn_endpoint_id(const struct learn *l, uint32_t handle) {
  return l->final && handle < l->nfinal ? l->final[handle] : -1;
}
