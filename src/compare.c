#include "compare.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "hist.h"
#include "hmap.h"
#include "model.h"
#include "route.h"

#define MAX_NOTES 16
#define MAX_LISTED 50      /* absent endpoints kept in the report */
#define MIN_ARRIVAL_MIN 5  /* B's minutes needed to see an arrival shape */
#define TOO_FEW_SESSIONS 2 /* x min_samples: below, A cannot tell */
#define WEAK 0.5           /* effective thresholds this high tell little */

/* ---- distances -------------------------------------------------------- */

double compare_tvd(const uint64_t *a, const uint64_t *b, size_t n) {
  double sa = 0, sb = 0;
  for (size_t i = 0; i < n; i++) {
    sa += (double)a[i];
    sb += (double)b[i];
  }
  if (sa == 0 && sb == 0) return 0;
  if (sa == 0 || sb == 0) return 1;
  double d = 0;
  for (size_t i = 0; i < n; i++)
    d += fabs((double)a[i] / sa - (double)b[i] / sb);
  return d / 2;
}

double compare_row_tvd(const struct compare_cell *c, size_t n) {
  double total = 0;
  for (size_t i = 0; i < n; i++) total += (double)c[i].a;
  if (total == 0) return 0;
  double sum = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    double ra = 0, rb = 0;
    for (; j < n && c[j].row == c[i].row; j++) {
      ra += (double)c[j].a;
      rb += (double)c[j].b;
    }
    if (ra > 0) {
      double d = 0;
      if (rb == 0) {
        d = 1;
      } else {
        for (size_t k = i; k < j; k++)
          d += fabs((double)c[k].a / ra - (double)c[k].b / rb);
        d /= 2;
      }
      sum += ra / total * d;
    }
    i = j;
  }
  return sum;
}

/* A histogram's CDF with prefix sums, for many evaluations. */
struct cdf {
  const struct hist *h;
  double *cum; /* cum[k]: zeros + counts[0..k) */
};

static int cdf_init(struct cdf *c, const struct hist *h) {
  c->h = h;
  c->cum = malloc(((size_t)h->len + 1) * sizeof *c->cum);
  if (!c->cum) return -ENOMEM;
  c->cum[0] = (double)h->zeros;
  for (uint32_t k = 0; k < h->len; k++)
    c->cum[k + 1] = c->cum[k] + (double)h->counts[k];
  return 0;
}

/* Fraction of values <= x (x in the histogram's units, not rounded). */
static double cdf_at(const struct cdf *c, double x) {
  const struct hist *h = c->h;
  if (x < 0 || x < (double)h->min) return 0;
  if (x >= (double)h->max) return 1;
  if (x < 1e-9 || h->len == 0) return (double)h->zeros / (double)h->n;
  const double lg = log((1 + HIST_ALPHA) / (1 - HIST_ALPHA));
  int32_t i = (int32_t)ceil(log(x) / lg);
  while (i > INT32_MIN + 1 && x <= hist_bucket_lower(i)) i--;
  while (x > hist_bucket_upper(i)) i++;
  int32_t k = i - h->lo;
  if (k < 0) return (double)h->zeros / (double)h->n;
  if (k >= (int32_t)h->len) return 1;
  double a = fmax(hist_bucket_lower(i), (double)h->min);
  double b = fmin(hist_bucket_upper(i), (double)h->max);
  double frac = 1;
  if (x <= a)
    frac = 0;
  else if (x < b && b > a)
    frac = log(x / a) / log(b / a);
  double v = c->cum[k] + (double)h->counts[k] * frac;
  return v / (double)h->n;
}

static int dbl_cmp(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* Appends the upper edges of h's non-empty buckets (times scale) that are
 * >= from to pts. At an upper edge the bucketed CDF is exact (small
 * integers, one to a bucket, included); inside a bucket it is only an
 * interpolation. */
static size_t add_edges(const struct hist *h, double scale, double from,
                        double *pts, size_t n) {
  for (uint32_t k = 0; k < h->len; k++) {
    if (!h->counts[k]) continue;
    double hi = hist_bucket_upper(h->lo + (int32_t)k) * scale;
    if (hi >= from) pts[n++] = hi;
  }
  return n;
}

double compare_ks(const struct hist *a, const struct hist *b, double b_scale,
                  double from) {
  if (a->n == 0 || b->n == 0 || !(b_scale > 0)) return NAN;
  if (!(from > 0)) from = 0;
  struct cdf ca, cb;
  size_t cap = (size_t)a->len + b->len + 2;
  double *pts = malloc(cap * sizeof *pts);
  if (cdf_init(&ca, a)) {
    free(pts);
    return NAN;
  }
  if (cdf_init(&cb, b)) {
    free(ca.cum);
    free(pts);
    return NAN;
  }
  double d = NAN;
  if (pts) {
    size_t n = 0;
    pts[n++] = from;
    n = add_edges(a, 1, from, pts, n);
    n = add_edges(b, b_scale, from, pts, n);
    qsort(pts, n, sizeof *pts, dbl_cmp);
    d = 0;
    for (size_t i = 0; i < n; i++) {
      double x = pts[i];
      double g = fabs(cdf_at(&ca, x) - cdf_at(&cb, x / b_scale));
      if (g > d) d = g;
    }
  }
  free(pts);
  free(ca.cum);
  free(cb.cum);
  return d;
}

/* ---- views of two models in one endpoint space ------------------------ */

/* A transition cell with the think times of both sides. */
struct cellx {
  struct compare_cell c;
  struct hist ta, tb;
};

struct side {
  uint64_t *ep; /* requests per common endpoint */
  uint64_t status[6];
  struct hist think, length, duration;
  uint64_t sessions, requests;
};

struct view {
  size_t nep; /* common endpoints */
  struct side s[2];
  struct cellx *cells;
  size_t ncells, cap_cells;
  struct hmap index; /* (row, col) -> cell */
};

static void view_init(struct view *v) {
  memset(v, 0, sizeof *v);
  hmap_init(&v->index);
  for (int k = 0; k < 2; k++) {
    hist_init(&v->s[k].think);
    hist_init(&v->s[k].length);
    hist_init(&v->s[k].duration);
  }
}

static void view_cleanup(struct view *v) {
  for (int k = 0; k < 2; k++) {
    free(v->s[k].ep);
    hist_cleanup(&v->s[k].think);
    hist_cleanup(&v->s[k].length);
    hist_cleanup(&v->s[k].duration);
  }
  for (size_t i = 0; i < v->ncells; i++) {
    hist_cleanup(&v->cells[i].ta);
    hist_cleanup(&v->cells[i].tb);
  }
  free(v->cells);
  hmap_cleanup(&v->index);
}

static struct cellx *cell_get(struct view *v, uint32_t row, uint32_t col) {
  uint64_t key = ((uint64_t)row + 1) << 32 | col, *slot;
  int rc = hmap_put(&v->index, key, v->ncells, &slot);
  if (rc < 0) return NULL;
  if (rc == 0) return &v->cells[*slot];
  if (v->ncells == v->cap_cells) {
    size_t ncap = v->cap_cells ? v->cap_cells * 2 : 256;
    struct cellx *nc = realloc(v->cells, ncap * sizeof *nc);
    if (!nc) {
      hmap_del(&v->index, key);
      return NULL;
    }
    v->cells = nc;
    v->cap_cells = ncap;
  }
  struct cellx *c = &v->cells[v->ncells++];
  memset(c, 0, sizeof *c);
  c->c.row = row;
  c->c.col = col;
  hist_init(&c->ta);
  hist_init(&c->tb);
  return c;
}

/* Adds model m as side k; map[i] is the common id of m's endpoint i. */
static int view_add(struct view *v, int k, const struct model *m,
                    const uint32_t *map) {
  struct side *s = &v->s[k];
  int rc;
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    s->ep[map[i]] += e->count;
    s->requests += e->count;
    uint64_t known = 0;
    for (size_t j = 0; j < e->nstatus; j++) {
      int cls = e->status[j].status / 100;
      s->status[cls >= 1 && cls <= 5 ? cls : 0] += e->status[j].count;
      known += e->status[j].count;
    }
    s->status[0] += e->count > known ? e->count - known : 0;
  }
  for (size_t i = 0; i < m->npersonas; i++) {
    const struct model_persona *p = &m->personas[i];
    s->sessions += p->sessions;
    if (p->length.has && (rc = hist_merge(&s->length, &p->length.h))) return rc;
    if (p->duration.has && (rc = hist_merge(&s->duration, &p->duration.h)))
      return rc;
  }
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    uint32_t row = t->from == MODEL_START ? 0 : map[t->from] + 1;
    uint32_t col = t->to == MODEL_END ? (uint32_t)v->nep : map[t->to];
    struct cellx *c = cell_get(v, row, col);
    if (!c) return -ENOMEM;
    if (k == 0)
      c->c.a += t->count;
    else
      c->c.b += t->count;
    if (t->think.has) {
      if ((rc = hist_merge(k == 0 ? &c->ta : &c->tb, &t->think.h)) ||
          (rc = hist_merge(&s->think, &t->think.h)))
        return rc;
    }
  }
  return 0;
}

static int cell_cmp(const void *x, const void *y) {
  const struct cellx *a = x, *b = y;
  if (a->c.row != b->c.row) return a->c.row < b->c.row ? -1 : 1;
  return (a->c.col > b->c.col) - (a->c.col < b->c.col);
}

static int view_build(struct view *v, size_t nep, const struct model *a,
                      const uint32_t *map_a, const struct model *b,
                      const uint32_t *map_b) {
  v->nep = nep;
  for (int k = 0; k < 2; k++)
    if (!(v->s[k].ep = calloc(nep ? nep : 1, sizeof *v->s[k].ep)))
      return -ENOMEM;
  int rc;
  if ((rc = view_add(v, 0, a, map_a)) || (rc = view_add(v, 1, b, map_b)))
    return rc;
  if (v->ncells) qsort(v->cells, v->ncells, sizeof *v->cells, cell_cmp);
  hmap_cleanup(&v->index); /* indices are stale after the sort */
  hmap_init(&v->index);
  return 0;
}

/* ---- measuring -------------------------------------------------------- */

struct top {
  uint32_t from, to; /* common ids; from is the row - 1 */
  uint64_t na, nb;
  double ks;
};

struct measure {
  double v[COMPARE_NMETRICS];
  const char *why[COMPARE_NMETRICS]; /* why a value is missing */
  struct top top[64];
  size_t ntop;
};

static int top_cmp(const void *x, const void *y) {
  const struct cellx *const *a = x, *const *b = y;
  if ((*a)->c.a != (*b)->c.a) return (*a)->c.a > (*b)->c.a ? -1 : 1;
  return cell_cmp(*a, *b);
}

/* The metrics of view v (side 1 against side 0). */
static int measure(struct view *v, const struct compare_opts *o, double scale,
                   double res_a, double res_b, struct measure *out) {
  /* Below the coarser timestamp resolution think times and durations were
   * made up by de-quantisation: not compared. */
  double floor_us = fmax(res_a, res_b);
  if (floor_us < 2) floor_us = 0;
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    out->v[i] = NAN;
    out->why[i] = NULL;
  }
  out->ntop = 0;
  const struct side *a = &v->s[0], *b = &v->s[1];
  uint64_t min = o->min_samples;
  out->v[COMPARE_ENDPOINT_TVD] = compare_tvd(a->ep, b->ep, v->nep);
  if (a->status[0] == a->requests || b->status[0] == b->requests)
    out->why[COMPARE_STATUS_TVD] = "no status codes on one side";
  else
    out->v[COMPARE_STATUS_TVD] = compare_tvd(a->status, b->status, 6);
  struct compare_cell *cells = malloc((v->ncells + 1) * sizeof *cells);
  if (!cells) return -ENOMEM;
  for (size_t i = 0; i < v->ncells; i++) cells[i] = v->cells[i].c;
  out->v[COMPARE_TRANSITION_TVD] = compare_row_tvd(cells, v->ncells);
  free(cells);

  const char *few = "fewer values than --min-samples on one side";
  if (a->think.n >= min && b->think.n >= min)
    out->v[COMPARE_THINK_KS] =
        compare_ks(&a->think, &b->think, scale, floor_us);
  else
    out->why[COMPARE_THINK_KS] = few;
  if (a->length.n >= min && b->length.n >= min)
    out->v[COMPARE_LENGTH_KS] = compare_ks(&a->length, &b->length, 1, 0);
  else
    out->why[COMPARE_LENGTH_KS] = few;
  if (a->duration.n >= min && b->duration.n >= min)
    out->v[COMPARE_DURATION_KS] =
        compare_ks(&a->duration, &b->duration, scale, floor_us);
  else
    out->why[COMPARE_DURATION_KS] = few;

  /* The busiest endpoint-to-endpoint transitions of side 0 with enough
   * think times on both sides. */
  const struct cellx **order = malloc((v->ncells + 1) * sizeof *order);
  if (!order) return -ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < v->ncells; i++)
    if (v->cells[i].c.row > 0 && v->cells[i].c.col < v->nep)
      order[n++] = &v->cells[i];
  if (n) qsort(order, n, sizeof *order, top_cmp);
  double worst = NAN;
  unsigned want = o->top ? o->top : 10;
  if (want > sizeof out->top / sizeof out->top[0])
    want = sizeof out->top / sizeof out->top[0];
  for (size_t i = 0; i < n && out->ntop < want; i++) {
    const struct cellx *c = order[i];
    if (c->ta.n < min || c->tb.n < min) continue;
    struct top *t = &out->top[out->ntop++];
    t->from = c->c.row - 1;
    t->to = c->c.col;
    t->na = c->ta.n;
    t->nb = c->tb.n;
    t->ks = compare_ks(&c->ta, &c->tb, scale, floor_us);
    if (isnan(worst) || t->ks > worst) worst = t->ks;
  }
  free(order);
  out->v[COMPARE_THINK_TOP_KS] = worst;
  if (isnan(worst)) out->why[COMPARE_THINK_TOP_KS] = few;
  return 0;
}

/* ---- arrivals and rates ----------------------------------------------- */

/* A's arrival curve (all personas), sessions per minute from its first
 * minute on, as `mimic replay` plays it (repeating after its end). */
struct curve {
  double *cum; /* cum[k]: sessions in minutes [0, k) */
  size_t n;
};

static int curve_build(const struct model *m, struct curve *c) {
  c->cum = NULL;
  c->n = 0;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < m->narrivals; i++) {
    if (m->arrivals[i].minute < lo) lo = m->arrivals[i].minute;
    if (m->arrivals[i].minute > hi) hi = m->arrivals[i].minute;
  }
  if (lo > hi || (uint64_t)hi - (uint64_t)lo >= (1u << 22)) return 0;
  c->n = (size_t)(hi - lo) + 1;
  double *per = calloc(c->n, sizeof *per);
  c->cum = calloc(c->n + 1, sizeof *c->cum);
  if (!per || !c->cum) {
    free(per);
    free(c->cum);
    c->cum = NULL;
    return -ENOMEM;
  }
  for (size_t i = 0; i < m->narrivals; i++)
    per[m->arrivals[i].minute - lo] += (double)m->arrivals[i].sessions;
  for (size_t k = 0; k < c->n; k++) c->cum[k + 1] = c->cum[k] + per[k];
  free(per);
  return 0;
}

/* Expected sessions in the first t seconds of the curve. */
static double curve_at(const struct curve *c, double t) {
  if (!c->n || t <= 0) return 0;
  double minutes = t / 60;
  double laps = floor(minutes / (double)c->n);
  double rest = minutes - laps * (double)c->n;
  size_t k = (size_t)rest;
  if (k >= c->n) k = c->n - 1;
  double part = c->cum[k] + (c->cum[k + 1] - c->cum[k]) * (rest - (double)k);
  return laps * c->cum[c->n] + part;
}

/* ---- the report -------------------------------------------------------- */

struct listed {
  const char *method, *templ;
  double share;
};

struct compare_report {
  const struct model *a, *b;
  struct compare_opts o;
  struct measure main, half;
  int have_half;
  double def[COMPARE_NMETRICS], thr[COMPARE_NMETRICS];
  int gated[COMPARE_NMETRICS];
  int weak[COMPARE_NMETRICS]; /* threshold >= WEAK */
  int pass, too_small;
  double rate_ratio, floor_us;
  uint64_t sessions[2], requests[2];
  struct listed absent_b[MAX_LISTED], absent_a[MAX_LISTED];
  size_t nabsent_b, nabsent_a, more_absent_b, more_absent_a;
  double absent_b_share, absent_a_share;
  /* names of the common endpoints for the transitions listed */
  const char **names, **methods;
  size_t nnames;
  char notes[MAX_NOTES][256];
  size_t nnotes;
  char think_basis[2][32];
};

static void note(struct compare_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct compare_report *r, const char *fmt, ...) {
  if (r->nnotes == MAX_NOTES) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->notes[r->nnotes++], sizeof r->notes[0], fmt, ap);
  va_end(ap);
}

static const char *const NAMES[COMPARE_NMETRICS] = {
    "endpoint_tvd", "status_tvd",   "transition_tvd",
    "think_ks",     "think_top_ks", "length_ks",
    "duration_ks",  "arrival_ks",   "rate_error",
};

static const double DEFAULTS[COMPARE_NMETRICS] = {
    0.02, 0.02, 0.05, 0.05, 0.05, 0.05, 0.05, NAN, 0.03,
};

const char *compare_metric_name(enum compare_metric m) {
  return (unsigned)m < COMPARE_NMETRICS ? NAMES[m] : "?";
}

/* A catch-all endpoint: its one path parameter has type "path". */
static int is_catch_all(const struct model *m, size_t ep) {
  for (size_t i = 0; i < m->nparams; i++) {
    const struct model_param *p = &m->params[i];
    if (p->endpoint == ep && strcmp(p->loc, "path") == 0 && p->type &&
        strcmp(p->type, "path") == 0)
      return 1;
  }
  return 0;
}

static uint64_t ep_key(const struct model_endpoint *e) {
  uint64_t k = hash_mix(hash64(e->method, strlen(e->method), 1),
                        hash64(e->templ, strlen(e->templ), 2));
  return k ? k : 1; /* 0 marks an empty hmap slot */
}

/* Maps b's endpoints onto a's (common ids < a->nendpoints) or onto new
 * ids after them; *nep gets the size of the common space. */
static int map_endpoints(const struct model *a, const struct model *b,
                         uint32_t *map, size_t *nep) {
  struct route *rt = NULL;
  int rc = route_new(&rt);
  if (rc) return rc;
  for (size_t i = 0; i < a->nendpoints; i++) {
    rc = route_add(rt, a->endpoints[i].method, a->endpoints[i].templ,
                   is_catch_all(a, i), (uint32_t)i);
    if (rc && rc != ERR_LIMIT) goto out;
  }
  if ((rc = route_build(rt))) goto out;
  /* The same text is the same endpoint; else B's template is routed like
   * a path through A's ("/u/{id}" and "/u/17" both find A's "/u/{id}"). */
  struct hmap exact;
  hmap_init(&exact);
  for (size_t i = 0; i < a->nendpoints; i++) {
    uint64_t *slot;
    if (hmap_put(&exact, ep_key(&a->endpoints[i]), i, &slot) < 0) {
      hmap_cleanup(&exact);
      rc = -ENOMEM;
      goto out;
    }
  }
  size_t next = a->nendpoints;
  for (size_t i = 0; i < b->nendpoints; i++) {
    const struct model_endpoint *e = &b->endpoints[i];
    uint64_t *ix = hmap_get(&exact, ep_key(e));
    int64_t id = -1;
    if (ix && strcmp(a->endpoints[*ix].method, e->method) == 0 &&
        strcmp(a->endpoints[*ix].templ, e->templ) == 0)
      id = (int64_t)*ix;
    if (id < 0)
      id = route_match(rt, e->method, strlen(e->method), e->templ,
                       strlen(e->templ));
    map[i] = id >= 0 ? (uint32_t)id : (uint32_t)next++;
  }
  hmap_cleanup(&exact);
  *nep = next;
  rc = 0;
out:
  route_free(rt);
  return rc;
}

static int listed_cmp(const void *x, const void *y) {
  const struct listed *a = x, *b = y;
  return (a->share < b->share) - (a->share > b->share);
}

static void list_absent(struct compare_report *r, const struct view *v) {
  const struct side *sa = &v->s[0], *sb = &v->s[1];
  for (size_t i = 0; i < v->nep; i++) {
    int in_a = sa->ep[i] > 0, in_b = sb->ep[i] > 0;
    if (in_a == in_b) continue;
    struct listed l = {r->methods[i], r->names[i],
                       in_a ? (double)sa->ep[i] / (double)sa->requests
                            : (double)sb->ep[i] / (double)sb->requests};
    struct listed *arr = in_a ? r->absent_b : r->absent_a;
    size_t *n = in_a ? &r->nabsent_b : &r->nabsent_a;
    *(in_a ? &r->absent_b_share : &r->absent_a_share) += l.share;
    if (*n < MAX_LISTED) {
      arr[(*n)++] = l;
    } else {
      (*(in_a ? &r->more_absent_b : &r->more_absent_a))++;
      /* Keep the largest shares. */
      size_t low = 0;
      for (size_t k = 1; k < MAX_LISTED; k++)
        if (arr[k].share < arr[low].share) low = k;
      if (arr[low].share < l.share) arr[low] = l;
    }
  }
  qsort(r->absent_b, r->nabsent_b, sizeof *r->absent_b, listed_cmp);
  qsort(r->absent_a, r->nabsent_a, sizeof *r->absent_a, listed_cmp);
}

static double meta_f64(const struct model *m, const char *key, double def) {
  const char *v = model_meta_get(m, key);
  if (!v || !*v) return def;
  char *end;
  double x = strtod(v, &end);
  return *end || !isfinite(x) ? def : x;
}

static uint64_t total_sessions(const struct model *m) {
  uint64_t n = 0;
  for (size_t i = 0; i < m->npersonas; i++) n += m->personas[i].sessions;
  if (!n) n = (uint64_t)model_meta_i64(m, "sessions", 0);
  return n;
}

/* The session rate of B over A's in the window B replayed, and the shape
 * of the arrivals inside it (when B spans enough minutes to show one). */
static int rates(struct compare_report *r) {
  const struct model *a = r->a, *b = r->b;
  double x = r->o.time_scale;
  r->rate_ratio = NAN;
  struct curve c;
  int rc = curve_build(a, &c);
  if (rc) return rc;
  uint64_t nb = r->sessions[1];
  double first = meta_f64(b, "first_session_us", NAN);
  double last = meta_f64(b, "last_session_us", NAN);
  if (isnan(first) || isnan(last)) {
    /* An older capture: the span of its requests is close. */
    first = meta_f64(b, "time_start_us", NAN);
    last = meta_f64(b, "time_end_us", NAN);
    note(r, "B has no session start times (older capture): its rate is "
            "measured over the span of its requests");
  }
  double span_b = (last - first) / 1e6; /* seconds of B's time */
  if (!c.n) {
    note(r, "A has no arrival curve: no rate ratio");
  } else if (nb < 2 || !(span_b > 0)) {
    note(r, "B's sessions do not span any time: no rate ratio");
  } else {
    /* A replay starts at the beginning of A's first minute (or --from
     * into the curve); B's first session comes a moment later, so B's
     * span is the window. */
    double from = r->o.from_s, base = curve_at(&c, from);
    double expect = curve_at(&c, from + span_b * x) - base;
    if (expect > 0) r->rate_ratio = (double)(nb - 1) / expect;
    /* Arrival shape: B's per-minute counts against A's curve in the same
     * window, both as cumulative shares, at B's minute edges. */
    size_t nmin = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < b->narrivals; i++) {
      if (b->arrivals[i].minute < lo) lo = b->arrivals[i].minute;
      if (b->arrivals[i].minute > hi) hi = b->arrivals[i].minute;
    }
    if (lo <= hi) nmin = (size_t)(hi - lo) + 1;
    if (nmin >= MIN_ARRIVAL_MIN && expect > 0 && nmin < (1u << 22)) {
      double *per = calloc(nmin, sizeof *per), tot = 0, d = 0;
      if (!per) {
        free(c.cum);
        return -ENOMEM;
      }
      for (size_t i = 0; i < b->narrivals; i++) {
        per[b->arrivals[i].minute - lo] += (double)b->arrivals[i].sessions;
        tot += (double)b->arrivals[i].sessions;
      }
      double cum = 0;
      for (size_t k = 0; k + 1 < nmin; k++) {
        cum += per[k];
        double edge = (double)(lo + (int64_t)k + 1) * 60 - first / 1e6;
        if (edge <= 0 || edge >= span_b) continue;
        double fa = (curve_at(&c, from + edge * x) - base) / expect;
        double g = fabs(fa - cum / tot);
        if (g > d) d = g;
      }
      free(per);
      r->main.v[COMPARE_ARRIVAL_KS] = d;
    } else {
      r->main.why[COMPARE_ARRIVAL_KS] =
          "B spans too few minutes for a shape (per-minute counts)";
    }
  }
  free(c.cum);
  if (r->o.scale > 0 && !isnan(r->rate_ratio)) {
    r->main.v[COMPARE_RATE_ERROR] = fabs(r->rate_ratio / r->o.scale - 1);
    /* Poisson noise of B's count stands in for the split-half value. */
    r->half.v[COMPARE_RATE_ERROR] = 1 / sqrt((double)nb);
  }
  return 0;
}

int compare_models(const struct model *a, const struct model *b,
                   const struct compare_opts *opts, struct compare_report **out,
                   char *err, size_t errlen) {
  struct compare_report *r = calloc(1, sizeof *r);
  uint32_t *map_a = NULL, *map_b = NULL;
  struct view v, hv;
  view_init(&v);
  view_init(&hv);
  int rc = -ENOMEM;
  if (!r) return -ENOMEM;
  r->a = a;
  r->b = b;
  r->o = *opts;
  if (!(r->o.time_scale > 0)) r->o.time_scale = 1;
  if (!r->o.min_samples) r->o.min_samples = 100;
  if (!r->o.top) r->o.top = 10;
  if (a->nendpoints == 0) {
    snprintf(err, errlen, "A has no requests to compare with");
    rc = ERR_NODATA;
    goto fail;
  }
  map_a = malloc((a->nendpoints + 1) * sizeof *map_a);
  map_b = malloc((b->nendpoints + 1) * sizeof *map_b);
  if (!map_a || !map_b) goto fail;
  for (size_t i = 0; i < a->nendpoints; i++) map_a[i] = (uint32_t)i;
  size_t nep;
  if ((rc = map_endpoints(a, b, map_b, &nep))) goto fail;
  rc = -ENOMEM;
  r->names = calloc(nep ? nep : 1, sizeof *r->names);
  r->methods = calloc(nep ? nep : 1, sizeof *r->methods);
  if (!r->names || !r->methods) goto fail;
  r->nnames = nep;
  for (size_t i = 0; i < a->nendpoints; i++) {
    r->names[i] = a->endpoints[i].templ;
    r->methods[i] = a->endpoints[i].method;
  }
  for (size_t i = 0; i < b->nendpoints; i++) {
    if (map_b[i] < a->nendpoints) continue;
    r->names[map_b[i]] = b->endpoints[i].templ;
    r->methods[map_b[i]] = b->endpoints[i].method;
  }

  double res_a = meta_f64(a, "time_resolution_us", 1);
  double res_b = meta_f64(b, "time_resolution_us", 1) * r->o.time_scale;
  r->floor_us = fmax(res_a, res_b);
  if (r->floor_us < 2) r->floor_us = 0;

  if ((rc = view_build(&v, nep, a, map_a, b, map_b))) goto fail;
  if ((rc = measure(&v, &r->o, r->o.time_scale, res_a, res_b, &r->main)))
    goto fail;
  r->sessions[0] = total_sessions(a);
  r->sessions[1] = total_sessions(b);
  r->requests[0] = v.s[0].requests;
  r->requests[1] = v.s[1].requests;
  list_absent(r, &v);
  for (int k = 0; k < 2; k++) {
    const char *tb = model_meta_get(k ? b : a, "think_basis");
    snprintf(r->think_basis[k], sizeof r->think_basis[k], "%s",
             tb ? tb : "unknown");
  }

  for (int i = 0; i < COMPARE_NMETRICS; i++) r->half.v[i] = NAN;
  r->have_half = a->half[0] && a->half[1] && !r->o.no_split_half;
  if (r->have_half) {
    if ((rc = view_build(&hv, a->nendpoints, a->half[0], map_a, a->half[1],
                         map_a)) ||
        (rc = measure(&hv, &r->o, 1, res_a, res_a, &r->half)))
      goto fail;
  } else if (!r->o.no_split_half) {
    note(r, "A has no split-half baseline (captured by an older mimic): "
            "default thresholds only");
  }
  r->half.v[COMPARE_ARRIVAL_KS] = NAN;
  if ((rc = rates(r))) goto fail;

  /* Thresholds and the verdict. */
  r->too_small = r->sessions[0] < TOO_FEW_SESSIONS * r->o.min_samples;
  r->pass = !r->too_small;
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    r->def[i] = DEFAULTS[i];
    if (r->o.threshold[i] > 0) r->def[i] = r->o.threshold[i];
    r->gated[i] = !isnan(r->def[i]);
    if (i == COMPARE_STATUS_TVD && r->o.ignore_status) r->gated[i] = 0;
    if (i == COMPARE_RATE_ERROR && !(r->o.scale > 0)) r->gated[i] = 0;
    double sh = r->half.v[i];
    r->thr[i] =
        r->gated[i] ? (isnan(sh) ? r->def[i] : fmax(r->def[i], 2 * sh)) : NAN;
    if (r->gated[i] && !isnan(r->main.v[i]) && !(r->main.v[i] <= r->thr[i]))
      r->pass = 0;
  }
  /* A threshold raised this far is a metric the source is too small (or
   * too uneven: a few sessions make most of its traffic) to judge by. */
  char weak[256] = "";
  size_t nweak = 0;
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    if (!r->gated[i] || !(r->thr[i] >= WEAK)) continue;
    r->weak[i] = 1;
    nweak += (size_t)snprintf(weak + nweak, sizeof weak - nweak, "%s%s %.2f",
                              nweak ? ", " : "", NAMES[i], r->half.v[i]);
    if (nweak >= sizeof weak) nweak = sizeof weak - 1;
  }
  if (nweak)
    note(r,
         "A's two halves already differ this much (%s): thresholds of %.1f or "
         "more, so these metrics say little; a larger source would tell more",
         weak, WEAK);
  if (r->too_small)
    note(r,
         "A has %" PRIu64 " sessions: too few for a meaningful comparison "
         "(at least %" PRIu64 ", twice --min-samples)",
         r->sessions[0], TOO_FEW_SESSIONS * r->o.min_samples);
  if (strcmp(r->think_basis[0], r->think_basis[1]) != 0)
    note(r,
         "think times are measured %s in A and %s in B (B's log has request "
         "times); they differ by B's response times",
         r->think_basis[0], r->think_basis[1]);
  if (r->floor_us > 0)
    note(r,
         "times below %.3g s (the coarser timestamp resolution) are "
         "compared as one lump",
         r->floor_us / 1e6);
  free(map_a);
  free(map_b);
  view_cleanup(&v);
  view_cleanup(&hv);
  *out = r;
  return 0;
fail:
  if (rc == -ENOMEM && err && errlen) snprintf(err, errlen, "out of memory");
  free(map_a);
  free(map_b);
  view_cleanup(&v);
  view_cleanup(&hv);
  compare_report_free(r);
  return rc;
}

void compare_report_free(struct compare_report *r) {
  if (!r) return;
  free(r->names);
  free(r->methods);
  free(r);
}

int compare_pass(const struct compare_report *r) {
  return r->pass;
}

double compare_value(const struct compare_report *r, enum compare_metric m) {
  return (unsigned)m < COMPARE_NMETRICS ? r->main.v[m] : NAN;
}

double compare_split_half(const struct compare_report *r,
                          enum compare_metric m) {
  return (unsigned)m < COMPARE_NMETRICS ? r->half.v[m] : NAN;
}

double compare_threshold(const struct compare_report *r,
                         enum compare_metric m) {
  return (unsigned)m < COMPARE_NMETRICS ? r->thr[m] : NAN;
}

double compare_rate_ratio(const struct compare_report *r) {
  return r->rate_ratio;
}

/* ---- output ------------------------------------------------------------ */

static json_t *num(double x) {
  return isnan(x) ? json_null() : json_real(x);
}

static json_t *listed_json(const struct listed *l, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:s, s:s, s:f}", "method",
                                         l[i].method, "template", l[i].templ,
                                         "share", l[i].share));
  return arr;
}

static const char *state_name(const struct compare_report *r, uint32_t id,
                              int is_to) {
  if (is_to && id == r->nnames) return "END";
  return id < r->nnames ? r->names[id] : "?";
}

static int print_json(const struct compare_report *r, FILE *out) {
  json_t *root = json_object(), *metrics = json_object(), *thr = json_object(),
         *half = json_object(), *def = json_object(), *gated = json_object(),
         *why = json_object();
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    json_object_set_new(metrics, NAMES[i], num(r->main.v[i]));
    json_object_set_new(thr, NAMES[i], num(r->thr[i]));
    json_object_set_new(half, NAMES[i], num(r->half.v[i]));
    json_object_set_new(def, NAMES[i], num(r->def[i]));
    json_object_set_new(gated, NAMES[i], json_boolean(r->gated[i]));
    if (r->main.why[i])
      json_object_set_new(why, NAMES[i], json_string(r->main.why[i]));
  }
  json_object_set_new(root, "pass", json_boolean(r->pass));
  json_object_set_new(root, "metrics", metrics);
  json_object_set_new(root, "thresholds", thr);
  json_object_set_new(root, "split_half", half);
  json_object_set_new(root, "defaults", def);
  json_object_set_new(root, "gated", gated);
  json_object_set_new(root, "not_computed", why);
  json_object_set_new(root, "too_small", json_boolean(r->too_small));
  json_t *weak = json_array();
  for (int i = 0; i < COMPARE_NMETRICS; i++)
    if (r->weak[i]) json_array_append_new(weak, json_string(NAMES[i]));
  json_object_set_new(root, "weak", weak);
  json_object_set_new(root, "rate_ratio", num(r->rate_ratio));
  json_object_set_new(root, "expected_rate_ratio",
                      r->o.scale > 0 ? json_real(r->o.scale) : json_null());
  json_object_set_new(root, "time_scale", json_real(r->o.time_scale));
  json_object_set_new(root, "resolution_floor_us", json_real(r->floor_us));
  json_object_set_new(root, "sessions",
                      json_pack("{s:I, s:I}", "a", (json_int_t)r->sessions[0],
                                "b", (json_int_t)r->sessions[1]));
  json_object_set_new(root, "requests",
                      json_pack("{s:I, s:I}", "a", (json_int_t)r->requests[0],
                                "b", (json_int_t)r->requests[1]));
  json_object_set_new(root, "absent_in_b",
                      listed_json(r->absent_b, r->nabsent_b));
  json_object_set_new(root, "absent_in_b_share", json_real(r->absent_b_share));
  json_object_set_new(root, "absent_in_a",
                      listed_json(r->absent_a, r->nabsent_a));
  json_object_set_new(root, "absent_in_a_share", json_real(r->absent_a_share));
  json_t *top = json_array();
  for (size_t i = 0; i < r->main.ntop; i++) {
    const struct top *t = &r->main.top[i];
    json_array_append_new(top, json_pack("{s:s, s:s, s:I, s:I, s:o}", "from",
                                         state_name(r, t->from, 0), "to",
                                         state_name(r, t->to, 1), "n_a",
                                         (json_int_t)t->na, "n_b",
                                         (json_int_t)t->nb, "ks", num(t->ks)));
  }
  json_object_set_new(root, "top_transitions", top);
  json_t *notes = json_array();
  for (size_t i = 0; i < r->nnotes; i++)
    json_array_append_new(notes, json_string(r->notes[i]));
  json_object_set_new(root, "notes", notes);
  int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (rc == 0 && fputc('\n', out) == EOF) rc = -1;
  return rc ? -EIO : 0;
}

static void fmt_num(char *buf, size_t len, double x) {
  if (isnan(x))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.4f", x);
}

int compare_print(const struct compare_report *r, FILE *out, int json) {
  if (json) return print_json(r, out);
  fprintf(out,
          "A: %" PRIu64 " requests, %" PRIu64 " sessions; B: %" PRIu64
          " requests, %" PRIu64 " sessions",
          r->requests[0], r->sessions[0], r->requests[1], r->sessions[1]);
  if (r->o.time_scale != 1) fprintf(out, "; B's times x %g", r->o.time_scale);
  fprintf(out, "\n\n%-16s %9s %11s %10s  %s\n", "metric", "value", "split-half",
          "threshold", "verdict");
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    if (i == COMPARE_RATE_ERROR && !(r->o.scale > 0)) continue;
    char v[32], h[32], t[32];
    fmt_num(v, sizeof v, r->main.v[i]);
    fmt_num(h, sizeof h, r->half.v[i]);
    fmt_num(t, sizeof t, r->thr[i]);
    const char *verdict;
    if (isnan(r->main.v[i]))
      verdict = r->main.why[i] ? r->main.why[i] : "not computed";
    else if (!r->gated[i])
      verdict = "reported";
    else if (!(r->main.v[i] <= r->thr[i]))
      verdict = "OVER";
    else
      verdict = r->weak[i] ? "ok (weak)" : "ok";
    fprintf(out, "%-16s %9s %11s %10s  %s\n", NAMES[i], v, h, t, verdict);
  }
  if (!isnan(r->rate_ratio)) {
    fprintf(out,
            "\nsession rate B/A %.4g (in A's time, over the window B "
            "replayed)",
            r->rate_ratio);
    if (r->o.scale > 0)
      fprintf(out, "; expected %g: off by %.2f%%", r->o.scale,
              100 * fabs(r->rate_ratio / r->o.scale - 1));
    fputc('\n', out);
  }
  if (r->main.ntop) {
    fprintf(out, "\nthink time of the busiest transitions (KS):\n");
    for (size_t i = 0; i < r->main.ntop; i++) {
      const struct top *t = &r->main.top[i];
      fprintf(out, "  %.4f  %s -> %s  (n %" PRIu64 " / %" PRIu64 ")\n", t->ks,
              state_name(r, t->from, 0), state_name(r, t->to, 1), t->na, t->nb);
    }
  }
  const struct {
    const char *what;
    const struct listed *l;
    size_t n, more;
    double share;
  } lists[2] = {
      {"in A, absent in B", r->absent_b, r->nabsent_b, r->more_absent_b,
       r->absent_b_share},
      {"in B, absent in A", r->absent_a, r->nabsent_a, r->more_absent_a,
       r->absent_a_share},
  };
  for (int k = 0; k < 2; k++) {
    if (!lists[k].n) continue;
    fprintf(out, "\nendpoints %s: %zu, %.2f%% of its requests\n", lists[k].what,
            lists[k].n + lists[k].more, 100 * lists[k].share);
    for (size_t i = 0; i < lists[k].n && i < 10; i++)
      fprintf(out, "  %6.2f%%  %s %s\n", 100 * lists[k].l[i].share,
              lists[k].l[i].method, lists[k].l[i].templ);
    if (lists[k].n + lists[k].more > 10)
      fprintf(out, "  ... and %zu more\n", lists[k].n + lists[k].more - 10);
  }
  if (r->nnotes) fputc('\n', out);
  for (size_t i = 0; i < r->nnotes; i++)
    fprintf(out, "note: %s\n", r->notes[i]);
  int over = 0;
  for (int i = 0; i < COMPARE_NMETRICS; i++)
    if (r->gated[i] && !isnan(r->main.v[i]) && !(r->main.v[i] <= r->thr[i]))
      over++;
  if (r->pass)
    fprintf(out, "\nPASS: every gated metric is within its threshold\n");
  else if (r->too_small)
    fprintf(out, "\nFAIL: A is too small to tell\n");
  else
    fprintf(out, "\nFAIL: %d metric%s over the threshold\n", over,
            over == 1 ? "" : "s");
  return ferror(out) ? -EIO : 0;
}
