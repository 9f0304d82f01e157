#include "synth.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hist.h"
#include "model.h"
#include "rng.h"

/* A chain that never reaches END (a damaged or hand-made model) must not
 * keep a virtual user forever. */
#define MAX_STEPS 100000
/* The arrival curve is a dense array; a bogus timestamp decades away from
 * the others must not make it gigabytes (2^22 minutes is about 8 years). */
#define MAX_MINUTES ((int64_t)1 << 22)
#define MAX_PERSONAS 65535 /* synth_walk.persona is 16 bits */
#define MAX_UAS 65535      /* synth_walk.ua is 16 bits */
/* Rows are dense over personas x endpoints (O(1) lookup per step); this
 * bounds them to 512 MB of tables, far above any model capture writes
 * (a handful of personas, at most ~20000 endpoints). */
#define MAX_ROWS ((size_t)1 << 26)
#define NONE UINT32_MAX
/* The length-conditioned walk keeps, per chain, the probability of ending
 * in exactly r more requests from each endpoint, for r up to a bound that
 * keeps these tables within BRIDGE_CELLS floats in all (64 MB). */
#define BRIDGE_CELLS ((size_t)16 << 20)
#define SHAPES 64     /* length classes (model_length_class) */
#define THINK_SETS 64 /* think-time sets drawn for a held session */
#define OUTLAST 2     /* ... never over this x its length's longest */
#define PATH_KEEP 512 /* steps of a held session's path kept while drawing */
#define GEN_MAX 64    /* longest generated value, NUL included */

/* How to make up a path value when the pool is empty. */
enum gen {
  GEN_WORD,
  GEN_INT,
  GEN_NUM,
  GEN_UUID,
  GEN_HEX,
  GEN_HASH,
  GEN_DATE,
  GEN_EMAIL,
  GEN_TOKEN,
  GEN_IP,
};

/* One outgoing transition; cum is the running count within its row, so a
 * draw u in [0, total) picks the first edge with cum > u. */
struct edge {
  uint64_t cum;
  int32_t to;     /* endpoint, or MODEL_END */
  uint32_t think; /* index into samplers, or NONE (no pause) */
};

struct row {
  uint32_t first, n;      /* edges[first .. first+n) */
  uint64_t end_lo, end_n; /* the edge to END: cum below it, and its count */
};

struct value {
  uint64_t cum;
  const char *s; /* borrowed from the model */
  size_t len;
};

struct param {
  double presence;
  uint32_t first, n; /* values[first .. first+n); total is the last cum */
  uint64_t lo, hi;   /* range of GEN_INT */
  enum gen gen;
  const char *name; /* borrowed */
  size_t name_len;
};

/* A template is literal text and slots: lit/len for text, or param. */
struct piece {
  const char *lit;
  size_t len;
  uint32_t param; /* NONE for literal text */
};

/* One user agent of a persona's own pool. */
struct pua {
  uint64_t cum; /* running count within the persona */
  uint32_t ua;  /* index into m->uas */
};

struct ep {
  uint32_t piece_first, npieces;
  uint32_t q_first, nq; /* byep[q_first .. +nq): query params in order */
};

struct synth {
  const struct model *m;
  uint32_t nep, nchains;
  struct row *rows; /* nchains x (nep + 1): START, then each endpoint */
  struct edge *edges;
  struct hist_sampler *samplers;
  size_t nsamplers;
  uint32_t *pooled;  /* per chain: sampler of synth_pause, or NONE */
  uint32_t *lengths; /* per chain: sampler of session lengths, or NONE */
  /* beta[c][r * nep + e]: chance that a session at endpoint e ends after
   * exactly r more requests (chain c), each r scaled to a maximum of 1;
   * r <= rmax[c] (NULL / 0: no table). */
  float **beta;
  uint32_t *rmax;
  uint32_t *shapes;  /* nchains x SHAPES: duration sampler, or NONE */
  double *lat_mid;   /* per endpoint: median response time (us), or 0 */
  int end_to_start;  /* think times were measured from response ends */
  uint16_t *pick_id; /* personas that can start a session ... */
  double *pick_cum;  /* ... and their cumulative weights */
  uint32_t npick;
  uint64_t *ua_cum; /* aligned with m->uas */
  uint32_t nua;
  /* Per chain, its user agents (persona_user_agent): pua[pua_first[c] ..
   * + pua_n[c]); a chain without any draws from ua_cum. */
  struct pua *pua;
  uint32_t *pua_first, *pua_n;
  struct ep *eps;
  struct piece *pieces;
  struct param *params; /* aligned with m->params */
  uint32_t *byep;       /* params by (endpoint, loc, position) */
  struct value *values;
  double *arrivals;
  size_t narrivals;
  int64_t first_minute;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* Adds c to *sum; -1 when the sum would overflow (a damaged model). */
static int add_count(uint64_t *sum, uint64_t c) {
  if (c > UINT64_MAX - *sum) return -1;
  *sum += c;
  return 0;
}

static const char *persona_name(const struct model *m, uint32_t c) {
  if (m->npersonas == 0) return c == 0 ? "all" : NULL;
  return c < m->npersonas ? m->personas[c].name : NULL;
}

static enum gen gen_of(const char *type) {
  static const struct {
    const char *name;
    enum gen gen;
  } map[] = {
      {"int", GEN_INT},     {"num", GEN_NUM},     {"uuid", GEN_UUID},
      {"hex", GEN_HEX},     {"hash", GEN_HASH},   {"date", GEN_DATE},
      {"email", GEN_EMAIL}, {"token", GEN_TOKEN}, {"ip", GEN_IP},
  };
  if (!type) return GEN_WORD;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(type, map[i].name) == 0) return map[i].gen;
  return GEN_WORD;
}

/* Parses a plain decimal of up to 18 digits (so it cannot overflow). */
static int parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 18) return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (i == 0) return -1;
  *out = v;
  return 0;
}

/* Index of the first entry with cum > u; entries are cum[0..n), stride
 * bytes apart (one search for edges, values and user agents). */
static uint32_t search(const void *base, size_t stride, uint32_t n,
                       uint64_t u) {
  const char *p = base;
  uint32_t lo = 0, hi = n - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    uint64_t c;
    memcpy(&c, p + (size_t)mid * stride, sizeof c);
    if (c > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static const struct edge *draw_edge(const struct synth *s,
                                    const struct row *row, struct rng *r) {
  const struct edge *e = s->edges + row->first;
  uint64_t u = rng_below(r, e[row->n - 1].cum);
  return e + search(e, sizeof *e, row->n, u);
}

static uint32_t draw_persona(const struct synth *s, struct rng *r) {
  if (s->npick == 1) return s->pick_id[0];
  double u = rng_double(r) * s->pick_cum[s->npick - 1];
  uint32_t lo = 0, hi = s->npick - 1;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->pick_cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return s->pick_id[lo];
}

/* Checks the references of m, so that sampling never indexes out of
 * range. The loader checks them too, but a model may be built in memory. */
static int check_model(const struct model *m, uint32_t nchains, char *err,
                       size_t errlen) {
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    if (t->persona >= nchains ||
        (t->from != MODEL_START &&
         (t->from < 0 || (size_t)t->from >= m->nendpoints)) ||
        (t->to != MODEL_END && (t->to < 0 || (size_t)t->to >= m->nendpoints)))
      return fail(err, errlen, ERR_CORRUPT,
                  "transition %zu names a missing endpoint or persona", i);
  }
  for (size_t i = 0; i < m->nbackoffs; i++) {
    const struct model_backoff *b = &m->backoffs[i];
    if (b->persona >= nchains ||
        (b->from != MODEL_ANY &&
         (b->from < 0 || (size_t)b->from >= m->nendpoints)))
      return fail(err, errlen, ERR_CORRUPT,
                  "think-time fallback %zu names a missing endpoint or "
                  "persona",
                  i);
  }
  for (size_t i = 0; i < m->nparams; i++)
    if (m->params[i].endpoint >= m->nendpoints)
      return fail(err, errlen, ERR_CORRUPT,
                  "parameter %zu names a missing endpoint", i);
  for (size_t i = 0; i < m->npersona_uas; i++)
    if (m->persona_uas[i].persona >= nchains || m->persona_uas[i].ua >= m->nuas)
      return fail(err, errlen, ERR_CORRUPT,
                  "persona user agent %zu names a missing persona or user "
                  "agent",
                  i);
  return 0;
}

/* Marks the chains the options select; ERR_NOTFOUND names the unknown
 * persona and the known ones. */
static int select_personas(const struct model *m, const struct synth_opts *o,
                           uint32_t nchains, unsigned char *sel, char *err,
                           size_t errlen) {
  if (!o || !o->personas || o->npersonas == 0) {
    memset(sel, 1, nchains);
    return 0;
  }
  memset(sel, 0, nchains);
  for (size_t i = 0; i < o->npersonas; i++) {
    const char *want = o->personas[i] ? o->personas[i] : "";
    uint32_t c = 0;
    for (; c < nchains; c++) {
      const char *name = persona_name(m, c);
      if (name && strcmp(name, want) == 0) break;
    }
    if (c < nchains) {
      sel[c] = 1;
      continue;
    }
    if (err && errlen) {
      int n =
          snprintf(err, errlen, "unknown persona '%s'; the model has:", want);
      for (uint32_t k = 0; k < nchains && n >= 0 && (size_t)n < errlen; k++) {
        const char *name = persona_name(m, k);
        n += snprintf(err + n, errlen - (size_t)n, "%s %s", k ? "," : "",
                      name ? name : "?");
      }
    }
    return ERR_NOTFOUND;
  }
  return 0;
}

/* The Markov chains: edges grouped by (chain, source state), START -> END
 * edges dropped (a session of no request cannot be begun). */
static int build_rows(struct synth *s, char *err, size_t errlen) {
  const struct model *m = s->m;
  size_t nrows = (size_t)s->nchains * (s->nep + 1), nedges = 0;
  s->rows = calloc(nrows, sizeof *s->rows);
  if (!s->rows) return -ENOMEM;
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    if (t->count == 0 || (t->from == MODEL_START && t->to == MODEL_END))
      continue;
    s->rows[(size_t)t->persona * (s->nep + 1) + (size_t)(t->from + 1)].n++;
    nedges++;
  }
  if (nedges >= NONE)
    return fail(err, errlen, ERR_LIMIT, "too many transitions (%zu)", nedges);
  s->edges = calloc(nedges ? nedges : 1, sizeof *s->edges);
  if (!s->edges) return -ENOMEM;
  uint32_t first = 0;
  for (size_t i = 0; i < nrows; i++) {
    s->rows[i].first = first;
    first += s->rows[i].n;
    s->rows[i].n = 0;
  }
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    if (t->count == 0 || (t->from == MODEL_START && t->to == MODEL_END))
      continue;
    struct row *row =
        &s->rows[(size_t)t->persona * (s->nep + 1) + (size_t)(t->from + 1)];
    struct edge *e = &s->edges[row->first + row->n];
    e->cum = row->n ? e[-1].cum : 0;
    if (add_count(&e->cum, t->count))
      return fail(err, errlen, ERR_CORRUPT, "transition counts overflow");
    e->to = t->to;
    e->think = NONE;
    if (t->to == MODEL_END) {
      row->end_lo = e->cum - t->count;
      row->end_n = t->count;
    }
    row->n++;
  }
  return 0;
}

static uint32_t add_sampler(struct synth *s, const struct hist *h, int *rc) {
  uint32_t k = (uint32_t)s->nsamplers;
  *rc = hist_sampler_prepare(&s->samplers[k], h);
  if (*rc) return NONE;
  s->nsamplers++;
  return k;
}

/* Think times: the transition's own distribution when it has enough
 * observations, else its source endpoint's fallback when that has enough,
 * else the persona's pooled one; only when none of these exists does a
 * thinner one serve (source, then the transition's own), and with no data
 * at all there is no pause. Samplers of fallbacks are shared. */
static int build_think(struct synth *s, uint32_t min) {
  const struct model *m = s->m;
  int rc = 0;
  uint32_t *bo = NULL; /* chain x endpoint: fallback sampler, or NONE */
  uint32_t *cursor = NULL;
  s->samplers =
      calloc(m->ntransitions + m->nbackoffs + s->nchains + m->nshapes + 1,
             sizeof *s->samplers);
  s->pooled = malloc(s->nchains * sizeof *s->pooled);
  s->lengths = malloc(s->nchains * sizeof *s->lengths);
  bo = malloc((size_t)s->nchains * s->nep * sizeof *bo);
  if (!s->samplers || !s->pooled || !s->lengths || !bo) {
    rc = -ENOMEM;
    goto out;
  }
  for (uint32_t c = 0; c < s->nchains; c++) {
    s->pooled[c] = NONE;
    s->lengths[c] = NONE;
    const struct model_persona *p = c < m->npersonas ? &m->personas[c] : NULL;
    if (p && p->length.has && p->length.h.n > 0) {
      s->lengths[c] = add_sampler(s, &p->length.h, &rc);
      if (rc) goto out;
    }
  }
  for (size_t i = 0; i < (size_t)s->nchains * s->nep; i++) bo[i] = NONE;
  for (size_t i = 0; i < m->nbackoffs; i++) {
    const struct model_backoff *b = &m->backoffs[i];
    if (b->think.n == 0) continue;
    uint32_t k = add_sampler(s, &b->think, &rc);
    if (rc) goto out;
    if (b->from == MODEL_ANY)
      s->pooled[b->persona] = k;
    else
      bo[(size_t)b->persona * s->nep + (size_t)b->from] = k;
  }
  /* Edges were laid out in model order within each row: walk the model
   * again with a cursor per row to find each transition's edge. */
  size_t nrows = (size_t)s->nchains * (s->nep + 1);
  cursor = calloc(nrows, sizeof *cursor);
  if (!cursor) {
    rc = -ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    if (t->count == 0 || (t->from == MODEL_START && t->to == MODEL_END))
      continue;
    size_t ri = (size_t)t->persona * (s->nep + 1) + (size_t)(t->from + 1);
    struct edge *e = &s->edges[s->rows[ri].first + cursor[ri]++];
    /* The first request of a session and the end have no pause. */
    if (t->from == MODEL_START || t->to == MODEL_END) continue;
    const struct hist *own = t->think.has ? &t->think.h : NULL;
    uint32_t src = bo[(size_t)t->persona * s->nep + (size_t)t->from];
    uint32_t pool = s->pooled[t->persona];
    if (own && own->n >= min)
      e->think = add_sampler(s, own, &rc);
    else if (src != NONE && s->samplers[src].h->n >= min)
      e->think = src;
    else if (pool != NONE)
      e->think = pool;
    else if (src != NONE)
      e->think = src;
    else if (own && own->n > 0)
      e->think = add_sampler(s, own, &rc);
    if (rc) break;
  }
out:
  free(cursor);
  free(bo);
  return rc;
}

/* Duration samplers by persona and length class, the mean response time of
 * each endpoint, and how think times were measured. */
static int build_shapes(struct synth *s) {
  const struct model *m = s->m;
  s->shapes = malloc((size_t)s->nchains * SHAPES * sizeof *s->shapes);
  s->lat_mid = calloc(s->nep, sizeof *s->lat_mid);
  if (!s->shapes || !s->lat_mid) return -ENOMEM;
  for (size_t i = 0; i < (size_t)s->nchains * SHAPES; i++) s->shapes[i] = NONE;
  int rc = 0;
  for (size_t i = 0; i < m->nshapes; i++) {
    const struct model_shape *x = &m->shapes[i];
    uint32_t lo, hi, k = model_length_class(x->lo, &lo, &hi);
    if (x->persona >= s->nchains || k >= SHAPES || x->duration.n == 0 ||
        lo != x->lo || hi != x->hi)
      continue;
    uint32_t *slot = &s->shapes[(size_t)x->persona * SHAPES + k];
    if (*slot != NONE) continue;
    *slot = add_sampler(s, &x->duration, &rc);
    if (rc) return rc;
  }
  for (uint32_t e = 0; e < s->nep; e++)
    if (m->endpoints[e].latency.has)
      s->lat_mid[e] = (double)hist_quantile(&m->endpoints[e].latency.h, 0.5);
  const char *basis = model_meta_get(m, "think_basis");
  s->end_to_start = basis && strcmp(basis, "end-to-start") == 0;
  return 0;
}

/* Tables for the length-conditioned walk (see synth_begin): for each chain
 * with a length distribution, beta_r(e) = P(the chain, at e, makes exactly
 * r more requests), by beta_0(e) = P(e -> END) (1 at a dead end) and
 * beta_r(e) = sum_e' P(e -> e') beta_{r-1}(e'). Each r is rescaled to a
 * maximum of 1: only ratios within one r are used, and long sessions
 * would otherwise underflow. */
static int build_bridge(struct synth *s) {
  s->beta = calloc(s->nchains, sizeof *s->beta);
  s->rmax = calloc(s->nchains, sizeof *s->rmax);
  if (!s->beta || !s->rmax) return -ENOMEM;
  uint32_t users = 0;
  for (uint32_t c = 0; c < s->nchains; c++) users += s->lengths[c] != NONE;
  if (!users || !s->nep) return 0;
  size_t per = BRIDGE_CELLS / users / s->nep;
  for (uint32_t c = 0; c < s->nchains; c++) {
    if (s->lengths[c] == NONE) continue;
    uint64_t longest = s->samplers[s->lengths[c]].h->max;
    size_t rmax = longest > 1 ? (size_t)longest - 1 : 0;
    if (rmax > per - 1) rmax = per ? per - 1 : 0;
    if (rmax >= MAX_STEPS) rmax = MAX_STEPS - 1;
    float *b = malloc((rmax + 1) * s->nep * sizeof *b);
    if (!b) return -ENOMEM;
    const struct row *rows = &s->rows[(size_t)c * (s->nep + 1) + 1];
    for (uint32_t e = 0; e < s->nep; e++) {
      const struct row *row = &rows[e];
      uint64_t total = row->n ? s->edges[row->first + row->n - 1].cum : 0;
      b[e] = total ? (float)((double)row->end_n / (double)total) : 1.0f;
    }
    for (size_t r = 1; r <= rmax; r++) {
      const float *prev = b + (r - 1) * s->nep;
      float *cur = b + r * s->nep;
      double top = 0;
      for (uint32_t e = 0; e < s->nep; e++) {
        const struct row *row = &rows[e];
        double v = 0, below = 0;
        for (uint32_t k = 0; k < row->n; k++) {
          const struct edge *x = &s->edges[row->first + k];
          double cnt = (double)(x->cum - (k ? x[-1].cum : 0));
          below += cnt;
          if (x->to >= 0) v += cnt * prev[x->to];
        }
        cur[e] = (float)(below > 0 ? v / below : 0);
        if (cur[e] > top) top = cur[e];
      }
      if (top > 0)
        for (uint32_t e = 0; e < s->nep; e++) cur[e] = (float)(cur[e] / top);
    }
    s->beta[c] = b;
    s->rmax[c] = (uint32_t)rmax;
  }
  return 0;
}

/* Draws an edge of row (not END) with weights count x beta_r(to), i.e.
 * the chain's next step given that the session makes exactly r more
 * requests after it; NULL when no edge can. */
static const struct edge *draw_bridge(const struct synth *s,
                                      const struct row *row,
                                      const float *beta_r, struct rng *r) {
  double total = 0;
  for (uint32_t k = 0; k < row->n; k++) {
    const struct edge *x = &s->edges[row->first + k];
    if (x->to >= 0)
      total += (double)(x->cum - (k ? x[-1].cum : 0)) * beta_r[x->to];
  }
  if (!(total > 0)) return NULL;
  double u = rng_double(r) * total;
  const struct edge *last = NULL;
  for (uint32_t k = 0; k < row->n; k++) {
    const struct edge *x = &s->edges[row->first + k];
    if (x->to < 0) continue;
    double w = (double)(x->cum - (k ? x[-1].cum : 0)) * beta_r[x->to];
    if (w <= 0) continue;
    last = x;
    if (u < w) return x;
    u -= w;
  }
  return last; /* rounding at the very end */
}

/* Draws an edge of row other than END, by count; NULL when END is all. */
static const struct edge *draw_on(const struct synth *s, const struct row *row,
                                  struct rng *r) {
  uint64_t total = s->edges[row->first + row->n - 1].cum;
  if (total == row->end_n) return NULL;
  uint64_t u = rng_below(r, total - row->end_n);
  if (row->end_n && u >= row->end_lo) u += row->end_n;
  const struct edge *e = s->edges + row->first;
  return e + search(e, sizeof *e, row->n, u);
}

/* Personas that can begin a session (selected, with an edge out of START),
 * weighted by their share; by their START counts when no share is set. */
static int build_personas(struct synth *s, const unsigned char *sel) {
  const struct model *m = s->m;
  s->pick_id = malloc(s->nchains * sizeof *s->pick_id);
  s->pick_cum = malloc(s->nchains * sizeof *s->pick_cum);
  if (!s->pick_id || !s->pick_cum) return -ENOMEM;
  int by_weight = 0;
  for (uint32_t c = 0; c < s->nchains && c < m->npersonas; c++) {
    double w = m->personas[c].weight;
    if (sel[c] && w > 0 && isfinite(w)) by_weight = 1;
  }
  double cum = 0;
  for (uint32_t c = 0; c < s->nchains; c++) {
    const struct row *row = &s->rows[(size_t)c * (s->nep + 1)];
    if (!sel[c] || row->n == 0) continue;
    double w;
    if (by_weight) {
      w = m->personas[c].weight;
      if (!(w > 0 && isfinite(w))) continue;
    } else {
      w = (double)s->edges[row->first + row->n - 1].cum;
    }
    cum += w;
    s->pick_id[s->npick] = (uint16_t)c;
    s->pick_cum[s->npick] = cum;
    s->npick++;
  }
  return 0;
}

static int build_uas(struct synth *s, char *err, size_t errlen) {
  const struct model *m = s->m;
  uint32_t n = m->nuas < MAX_UAS ? (uint32_t)m->nuas : MAX_UAS;
  uint64_t cum = 0;
  if (n == 0) return 0;
  s->ua_cum = malloc(n * sizeof *s->ua_cum);
  if (!s->ua_cum) return -ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    if (add_count(&cum, m->uas[i].count))
      return fail(err, errlen, ERR_CORRUPT, "user agent counts overflow");
    s->ua_cum[i] = cum;
  }
  s->nua = cum ? n : 0; /* no counts: no user agent rather than a guess */
  if (!s->nua || !m->npersona_uas) return 0;

  /* Each persona's own user agents, so that a crawler persona sends
   * crawler user agents and a browsing one browser user agents; rows in
   * any order, kept in their order within a persona. */
  s->pua_first = calloc(s->nchains, sizeof *s->pua_first);
  s->pua_n = calloc(s->nchains, sizeof *s->pua_n);
  s->pua = malloc(m->npersona_uas * sizeof *s->pua);
  if (!s->pua_first || !s->pua_n || !s->pua) return -ENOMEM;
  for (size_t i = 0; i < m->npersona_uas; i++) {
    const struct model_persona_ua *x = &m->persona_uas[i];
    if (x->ua < s->nua && x->count) s->pua_n[x->persona]++;
  }
  uint32_t at = 0;
  for (uint32_t c = 0; c < s->nchains; c++) {
    s->pua_first[c] = at;
    at += s->pua_n[c];
    s->pua_n[c] = 0;
  }
  for (size_t i = 0; i < m->npersona_uas; i++) {
    const struct model_persona_ua *x = &m->persona_uas[i];
    if (x->ua >= s->nua || !x->count) continue;
    uint32_t c = x->persona, k = s->pua_first[c] + s->pua_n[c]++;
    uint64_t sum = k > s->pua_first[c] ? s->pua[k - 1].cum : 0;
    if (add_count(&sum, x->count))
      return fail(err, errlen, ERR_CORRUPT,
                  "user agent counts of persona %" PRIu32 " overflow", c);
    s->pua[k] = (struct pua){.cum = sum, .ua = x->ua};
  }
  return 0;
}

struct porder {
  uint32_t ep, query, pos, idx;
};

static int porder_cmp(const void *a, const void *b) {
  const struct porder *x = a, *y = b;
  if (x->ep != y->ep) return x->ep < y->ep ? -1 : 1;
  if (x->query != y->query) return x->query < y->query ? -1 : 1;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Value pools of every parameter, and the query parameters of each
 * endpoint in position order. */
static int build_params(struct synth *s, char *err, size_t errlen) {
  const struct model *m = s->m;
  size_t nvalues = 0;
  int rc = 0;
  struct porder *order = NULL;
  if (m->nparams >= NONE)
    return fail(err, errlen, ERR_LIMIT, "too many parameters (%zu)",
                m->nparams);
  for (size_t i = 0; i < m->nparams; i++) nvalues += m->params[i].nvalues;
  if (nvalues >= NONE)
    return fail(err, errlen, ERR_LIMIT, "too many pooled values (%zu)",
                nvalues);
  s->params = calloc(m->nparams + 1, sizeof *s->params);
  s->byep = calloc(m->nparams + 1, sizeof *s->byep);
  s->values = calloc(nvalues + 1, sizeof *s->values);
  order = malloc((m->nparams + 1) * sizeof *order);
  if (!s->params || !s->byep || !s->values || !order) {
    rc = -ENOMEM;
    goto out;
  }
  uint32_t nv = 0;
  for (size_t i = 0; i < m->nparams; i++) {
    const struct model_param *mp = &m->params[i];
    struct param *p = &s->params[i];
    p->presence = mp->presence;
    p->gen = gen_of(mp->type);
    p->name = mp->name ? mp->name : "";
    p->name_len = strlen(p->name);
    p->first = nv;
    p->lo = UINT64_MAX;
    p->hi = 0;
    uint64_t cum = 0;
    for (size_t j = 0; j < mp->nvalues; j++) {
      const struct model_value *v = &mp->values[j];
      struct value *d = &s->values[nv++];
      if (add_count(&cum, v->count)) {
        rc = fail(err, errlen, ERR_CORRUPT,
                  "value counts of parameter '%s' overflow", p->name);
        goto out;
      }
      d->cum = cum;
      d->s = v->value ? v->value : "";
      d->len = strlen(d->s);
      uint64_t x;
      if (parse_u64(d->s, &x) == 0) {
        if (x < p->lo) p->lo = x;
        if (x > p->hi) p->hi = x;
      }
    }
    /* A pool whose counts are all zero is no pool. */
    p->n = cum ? (uint32_t)mp->nvalues : 0;
    if (p->lo > p->hi) {
      p->lo = 1;
      p->hi = 100000;
    }
    order[i].ep = mp->endpoint;
    order[i].query = strcmp(mp->loc, "query") == 0;
    order[i].pos = mp->position;
    order[i].idx = (uint32_t)i;
  }
  if (m->nparams) qsort(order, m->nparams, sizeof *order, porder_cmp);
  for (size_t i = 0; i < m->nparams; i++) {
    s->byep[i] = order[i].idx;
    if (!order[i].query) continue;
    struct ep *e = &s->eps[order[i].ep];
    if (e->nq == 0) e->q_first = (uint32_t)i;
    e->nq++;
  }
out:
  free(order);
  return rc;
}

/* Splits each template into literal text and {name} slots. A brace pair
 * that names no path parameter of the endpoint stays literal text: a raw
 * '{' does occur in logged paths. */
static int build_templates(struct synth *s, char *err, size_t errlen) {
  const struct model *m = s->m;
  size_t bound = 0;
  for (uint32_t i = 0; i < s->nep; i++) {
    const char *t = m->endpoints[i].templ ? m->endpoints[i].templ : "";
    bound += 1;
    for (; *t; t++) bound += *t == '{' ? 2 : 0;
  }
  if (bound >= NONE)
    return fail(err, errlen, ERR_LIMIT, "templates are too large");
  s->pieces = calloc(bound, sizeof *s->pieces);
  if (!s->pieces) return -ENOMEM;
  /* Looking slots up among all the model's parameters would be quadratic;
   * byep (sorted by endpoint) gives each endpoint's own. */
  uint32_t *start = calloc((size_t)s->nep + 1, sizeof *start);
  if (!start) return -ENOMEM;
  for (size_t i = 0; i < m->nparams; i++) start[m->params[i].endpoint + 1]++;
  for (uint32_t i = 0; i < s->nep; i++) start[i + 1] += start[i];
  uint32_t np = 0;
  for (uint32_t i = 0; i < s->nep; i++) {
    const char *t = m->endpoints[i].templ ? m->endpoints[i].templ : "";
    struct ep *e = &s->eps[i];
    e->piece_first = np;
    const char *lit = t;
    for (const char *p = t; *p;) {
      const char *close = *p == '{' ? strchr(p + 1, '}') : NULL;
      uint32_t param = NONE;
      if (close) {
        size_t len = (size_t)(close - p - 1);
        for (uint32_t k = start[i]; k < start[i + 1]; k++) {
          uint32_t idx = s->byep[k];
          const struct param *q = &s->params[idx];
          if (strcmp(m->params[idx].loc, "path") == 0 && q->name_len == len &&
              memcmp(q->name, p + 1, len) == 0) {
            param = idx;
            break;
          }
        }
      }
      if (param == NONE) {
        p++;
        continue;
      }
      if (p > lit)
        s->pieces[np++] = (struct piece){lit, (size_t)(p - lit), NONE};
      s->pieces[np++] = (struct piece){NULL, 0, param};
      p = close + 1;
      lit = p;
    }
    const char *end = lit + strlen(lit);
    if (end > lit)
      s->pieces[np++] = (struct piece){lit, (size_t)(end - lit), NONE};
    e->npieces = np - e->piece_first;
  }
  free(start);
  return 0;
}

static int build_arrivals(struct synth *s, const unsigned char *sel, char *err,
                          size_t errlen) {
  const struct model *m = s->m;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; i < m->narrivals; i++) {
    const struct model_arrival *a = &m->arrivals[i];
    if (a->persona >= s->nchains || !sel[a->persona]) continue;
    if (a->minute < lo) lo = a->minute;
    if (a->minute > hi) hi = a->minute;
  }
  if (lo > hi) return 0;
  /* Subtracting in unsigned arithmetic cannot overflow. */
  uint64_t span = (uint64_t)hi - (uint64_t)lo;
  if (span >= (uint64_t)MAX_MINUTES)
    return fail(err, errlen, ERR_LIMIT,
                "the arrival curve spans %" PRIu64
                " minutes, more than %" PRId64,
                span + 1, MAX_MINUTES);
  s->narrivals = (size_t)span + 1;
  s->first_minute = lo;
  s->arrivals = calloc(s->narrivals, sizeof *s->arrivals);
  if (!s->arrivals) return -ENOMEM;
  for (size_t i = 0; i < m->narrivals; i++) {
    const struct model_arrival *a = &m->arrivals[i];
    if (a->persona >= s->nchains || !sel[a->persona]) continue;
    s->arrivals[a->minute - lo] += (double)a->sessions;
  }
  return 0;
}

int synth_new(const struct model *m, const struct synth_opts *opts,
              struct synth **out, char *err, size_t errlen) {
  struct synth *s = NULL;
  unsigned char *sel = NULL;
  uint32_t min = opts && opts->min_think_samples ? opts->min_think_samples : 30;
  int rc;
  if (err && errlen) err[0] = '\0';
  if (m->nendpoints == 0)
    return fail(err, errlen, ERR_NODATA, "the model has no endpoints");
  if (m->nendpoints >= (size_t)INT32_MAX)
    return fail(err, errlen, ERR_LIMIT, "too many endpoints (%zu)",
                m->nendpoints);
  if (m->npersonas > MAX_PERSONAS)
    return fail(err, errlen, ERR_LIMIT, "too many personas (%zu, at most %d)",
                m->npersonas, MAX_PERSONAS);
  /* A model without a persona table has one implicit chain, "all". */
  uint32_t nchains = m->npersonas ? (uint32_t)m->npersonas : 1;
  if ((size_t)nchains * (m->nendpoints + 1) > MAX_ROWS)
    return fail(err, errlen, ERR_LIMIT,
                "too many personas x endpoints (%" PRIu32 " x %zu)", nchains,
                m->nendpoints);
  if ((rc = check_model(m, nchains, err, errlen))) return rc;
  sel = malloc(nchains);
  if (!sel) return -ENOMEM;
  if ((rc = select_personas(m, opts, nchains, sel, err, errlen))) goto out;
  rc = -ENOMEM;
  s = calloc(1, sizeof *s);
  if (!s) goto out;
  s->m = m;
  s->nep = (uint32_t)m->nendpoints;
  s->nchains = nchains;
  s->eps = calloc(s->nep, sizeof *s->eps);
  if (!s->eps) goto out;
  if ((rc = build_rows(s, err, errlen)) || (rc = build_think(s, min)) ||
      (rc = build_bridge(s)) || (rc = build_shapes(s)) ||
      (rc = build_personas(s, sel)))
    goto out;
  if (s->npick == 0) {
    rc = fail(err, errlen, ERR_NODATA,
              "no session can begin: the model has no transition out of "
              "START%s",
              opts && opts->npersonas ? " for the chosen personas" : "");
    goto out;
  }
  if ((rc = build_uas(s, err, errlen)) || (rc = build_params(s, err, errlen)) ||
      (rc = build_templates(s, err, errlen)) ||
      (rc = build_arrivals(s, sel, err, errlen)))
    goto out;
  *out = s;
  s = NULL;
  rc = 0;
out:
  if (rc == -ENOMEM && err && errlen && !err[0])
    fail(err, errlen, rc, "out of memory while preparing the model");
  free(sel);
  synth_free(s);
  return rc;
}

void synth_free(struct synth *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nsamplers; i++)
    hist_sampler_cleanup(&s->samplers[i]);
  free(s->samplers);
  free(s->rows);
  free(s->edges);
  free(s->pooled);
  free(s->lengths);
  for (uint32_t c = 0; s->beta && c < s->nchains; c++) free(s->beta[c]);
  free(s->beta);
  free(s->rmax);
  free(s->shapes);
  free(s->lat_mid);
  free(s->pick_id);
  free(s->pick_cum);
  free(s->ua_cum);
  free(s->pua);
  free(s->pua_first);
  free(s->pua_n);
  free(s->eps);
  free(s->pieces);
  free(s->params);
  free(s->byep);
  free(s->values);
  free(s->arrivals);
  free(s);
}

/* The first endpoint of a session of w->length requests (0: any). */
static const struct edge *first_edge(const struct synth *s, uint32_t c,
                                     uint32_t length, struct rng *r) {
  const struct row *start = &s->rows[(size_t)c * (s->nep + 1)];
  const struct edge *e = NULL;
  if (length && s->beta[c] && length - 1 <= s->rmax[c])
    e = draw_bridge(s, start, s->beta[c] + (size_t)(length - 1) * s->nep, r);
  /* build_personas kept only chains with an edge out of START, and START
   * rows hold no edge to END. */
  return e ? e : draw_edge(s, start, r);
}

/* The edge of the next step, or NULL when the session ends. */
static const struct edge *next_edge(const struct synth *s,
                                    const struct synth_walk *w, struct rng *r) {
  if (w->ep < 0 || (uint32_t)w->ep >= s->nep || w->persona >= s->nchains ||
      w->step >= MAX_STEPS)
    return NULL;
  const struct row *row =
      &s->rows[(size_t)w->persona * (s->nep + 1) + (size_t)w->ep + 1];
  /* An endpoint with no way out (a session cut by the capture) ends. */
  if (row->n == 0) return NULL;
  const struct edge *e = NULL;
  if (w->length) {
    /* Held to its length: END at it, never before; within reach of the
     * tables, each step is the chain's given the requests left. */
    if (w->step >= w->length) return NULL;
    uint32_t left = w->length - w->step - 1; /* after the next request */
    if (s->beta[w->persona] && left <= s->rmax[w->persona])
      e = draw_bridge(s, row, s->beta[w->persona] + (size_t)left * s->nep, r);
    return e ? e : draw_on(s, row, r); /* NULL: nowhere but END */
  }
  e = draw_edge(s, row, r);
  return e->to < 0 ? NULL : e;
}

static uint64_t raw_think(const struct synth *s, const struct edge *e,
                          struct rng *r) {
  return e->think != NONE ? hist_sample(&s->samplers[e->think], r) : 0;
}

void synth_begin(const struct synth *s, struct rng *r, struct synth_walk *w) {
  uint32_t c = draw_persona(s, r);
  w->persona = (uint16_t)c;
  w->ua = 0;
  if (s->pua && s->pua_n[c]) { /* the persona's own user agents */
    const struct pua *p = s->pua + s->pua_first[c];
    uint32_t n = s->pua_n[c];
    w->ua = (uint16_t)p[search(p, sizeof *p, n, rng_below(r, p[n - 1].cum))].ua;
  } else if (s->nua) {
    w->ua = (uint16_t)search(s->ua_cum, sizeof *s->ua_cum, s->nua,
                             rng_below(r, s->ua_cum[s->nua - 1]));
  }
  w->step = 1;
  w->length = 0;
  w->held = 0;
  w->shrink = 1;
  uint32_t shape = NONE;
  if (s->lengths[c] != NONE) {
    uint64_t n = hist_sample(&s->samplers[s->lengths[c]], r);
    w->length = n < 1 ? 1 : n > MAX_STEPS ? MAX_STEPS : (uint32_t)n;
    uint32_t lo, hi, k = model_length_class(w->length, &lo, &hi);
    if (k < SHAPES) shape = s->shapes[(size_t)c * SHAPES + k];
  }
  if (shape == NONE) {
    w->ep = first_edge(s, c, w->length, r)->to;
    return;
  }
  /* Held to a duration. */
  double want = (double)hist_sample(&s->samplers[shape], r);
  rng_seed(&w->rng, rng_next(r));
  w->held = 1;
  /* The path (kept when short enough to keep) and the response times
   * inside it, walking it once ahead. */
  const struct edge *path[PATH_KEEP];
  size_t npath = 0;
  struct synth_walk ahead = *w;
  ahead.ep = first_edge(s, c, w->length, &ahead.rng)->to;
  double lat = 0;
  for (const struct edge *e; (e = next_edge(s, &ahead, &ahead.rng));) {
    lat += s->lat_mid[ahead.ep];
    if (npath < PATH_KEEP) path[npath] = e;
    npath++;
    ahead.ep = e->to;
    ahead.step++;
  }
  if (s->end_to_start) want = want > lat ? want - lat : 0;
  /* Sets of think times for that path: keep the closest to the duration
   * (in ratio; for a duration of 0, the smallest), as drawn. A set is
   * dropped as soon as its running sum cannot come closer, and the search
   * ends at a set within 1%. */
  double best = -1, best_gap = INFINITY;
  uint64_t best_seed = 0;
  for (int k = 0; k < THINK_SETS && !(best_gap < 0.01); k++) {
    uint64_t seed = rng_next(r);
    struct rng tr;
    rng_seed(&tr, seed);
    double limit = want > 0 ? want * exp(best_gap) : best_gap, sum = 0;
    if (npath <= PATH_KEEP) {
      for (size_t i = 0; i < npath && !(sum > limit); i++)
        sum += (double)raw_think(s, path[i], &tr);
    } else {
      ahead = *w;
      ahead.ep = first_edge(s, c, w->length, &ahead.rng)->to;
      for (const struct edge *e;
           !(sum > limit) && (e = next_edge(s, &ahead, &ahead.rng));) {
        sum += (double)raw_think(s, e, &tr);
        ahead.ep = e->to;
        ahead.step++;
      }
    }
    if (sum > limit) continue;
    double gap = want > 0 ? fabs(log((sum > 1 ? sum : 1) / want)) : sum;
    if (best < 0 || gap < best_gap) {
      best = sum;
      best_gap = gap;
      best_seed = seed;
    }
  }
  rng_seed(&w->think, best_seed);
  /* A long path through slow transitions can overshoot in every set: it
   * is shrunk to at most twice the longest learned session of its length
   * (shrinking to the duration itself squeezed too many think times). */
  double longest = (double)s->samplers[shape].h->max;
  if (s->end_to_start) longest = longest > lat ? longest - lat : 0;
  w->shrink =
      best > longest * OUTLAST ? (float)(longest * OUTLAST / best) : 1.0f;
  w->ep = first_edge(s, c, w->length, &w->rng)->to;
}

int synth_step(const struct synth *s, struct rng *r, struct synth_walk *w,
               int64_t *think_us) {
  *think_us = 0;
  const struct edge *e = next_edge(s, w, w->held ? &w->rng : r);
  if (!e) {
    w->ep = -1;
    return 0;
  }
  uint64_t t = raw_think(s, e, w->held ? &w->think : r);
  if (w->held && w->shrink < 1) t = (uint64_t)((double)t * w->shrink);
  *think_us = t > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t;
  w->ep = e->to;
  w->step++;
  return 1;
}

int64_t synth_pause(const struct synth *s, struct rng *r) {
  uint32_t k = s->pooled[draw_persona(s, r)];
  if (k == NONE) return 0;
  uint64_t t = hist_sample(&s->samplers[k], r);
  return t > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t;
}

/* A bounded writer: keeps what fits in cap-1 bytes and drops the rest,
 * while the caller goes on drawing, so that the random stream (and the
 * plan) does not depend on the buffer size. */
struct out {
  char *buf;
  size_t cap, len;
};

static void put(struct out *o, const char *p, size_t n) {
  if (o->len + 1 >= o->cap) return;
  size_t room = o->cap - 1 - o->len;
  if (n > room) n = room;
  memcpy(o->buf + o->len, p, n);
  o->len += n;
}

static void put_hex(char *dst, uint64_t x, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++, x >>= 4) dst[i] = hex[x & 15];
}

/* A made-up value of p's type into buf (GEN_MAX bytes); returns length. */
static size_t generate(const struct param *p, struct rng *r, char *buf) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int n = 0;
  switch (p->gen) {
  case GEN_INT: {
    uint64_t span = p->hi - p->lo;
    uint64_t x = span == UINT64_MAX ? rng_next(r) : rng_below(r, span + 1);
    n = snprintf(buf, GEN_MAX, "%" PRIu64, p->lo + x);
    break;
  }
  case GEN_NUM:
    n = snprintf(buf, GEN_MAX, "%u.%02u", (unsigned)rng_below(r, 1000),
                 (unsigned)rng_below(r, 100));
    break;
  case GEN_UUID: {
    uint64_t a = rng_next(r), b = rng_next(r);
    char h[32];
    put_hex(h, a, 16);
    put_hex(h + 16, b, 16);
    h[12] = '4';                   /* version 4 */
    h[16] = "89ab"[(b >> 62) & 3]; /* variant 10xx */
    memcpy(buf, h, 8);
    buf[8] = '-';
    memcpy(buf + 9, h + 8, 4);
    buf[13] = '-';
    memcpy(buf + 14, h + 12, 4);
    buf[18] = '-';
    memcpy(buf + 19, h + 16, 4);
    buf[23] = '-';
    memcpy(buf + 24, h + 20, 12);
    n = 36;
    break;
  }
  case GEN_HEX: /* templ's {hex}: 16 or more hex digits */
    put_hex(buf, rng_next(r), 16);
    n = 16;
    break;
  case GEN_HASH: /* an MD5-sized digest; templ also takes 40 and 64 */
    put_hex(buf, rng_next(r), 16);
    put_hex(buf + 16, rng_next(r), 16);
    n = 32;
    break;
  case GEN_DATE:
    n = snprintf(
        buf, GEN_MAX, "%04u-%02u-%02u", 2020 + (unsigned)rng_below(r, 10),
        1 + (unsigned)rng_below(r, 12), 1 + (unsigned)rng_below(r, 28));
    break;
  case GEN_EMAIL:
    buf[0] = 'u';
    put_hex(buf + 1, rng_next(r), 8);
    memcpy(buf + 9, "@example.invalid", 16);
    n = 25;
    break;
  case GEN_TOKEN: {
    uint64_t a = rng_next(r), b = rng_next(r), c = rng_next(r);
    for (int i = 0; i < 8; i++) {
      buf[i] = b64[(a >> (6 * i)) & 63];
      buf[8 + i] = b64[(b >> (6 * i)) & 63];
      buf[16 + i] = b64[(c >> (6 * i)) & 63];
    }
    n = 24;
    break;
  }
  case GEN_IP: /* TEST-NET-1 (RFC 5737): never a real host */
    n = snprintf(buf, GEN_MAX, "192.0.2.%u", 1 + (unsigned)rng_below(r, 254));
    break;
  case GEN_WORD:
  default: {
    uint64_t x = rng_next(r);
    buf[0] = 'x';
    for (int i = 1; i <= 6; i++, x >>= 8) buf[i] = (char)('a' + (x & 255) % 26);
    n = 7;
    break;
  }
  }
  return n > 0 ? (size_t)n : 0;
}

/* A value drawn from p's pool by count; n == 0 when the pool is empty. */
static const struct value *draw_value(const struct synth *s,
                                      const struct param *p, struct rng *r) {
  if (p->n == 0) return NULL;
  const struct value *v = s->values + p->first;
  uint64_t u = rng_below(r, v[p->n - 1].cum);
  return v + search(v, sizeof *v, p->n, u);
}

size_t synth_target(const struct synth *s, struct rng *r, uint32_t ep,
                    char *buf, size_t cap) {
  return synth_target_with(s, r, ep, NULL, 0, buf, cap);
}

size_t synth_target_with(const struct synth *s, struct rng *r, uint32_t ep,
                         const char *const *vals, size_t nvals, char *buf,
                         size_t cap) {
  struct out o = {buf, cap, 0};
  if (ep < s->nep) {
    const struct ep *e = &s->eps[ep];
    size_t k = 0; /* path parameters so far */
    for (uint32_t i = 0; i < e->npieces; i++) {
      const struct piece *pc = &s->pieces[e->piece_first + i];
      if (pc->param == NONE) {
        put(&o, pc->lit, pc->len);
        continue;
      }
      const struct param *p = &s->params[pc->param];
      const char *bound = k < nvals ? vals[k] : NULL;
      k++;
      /* Drawn even when bound: the stream must not depend on it. */
      const struct value *v = draw_value(s, p, r);
      char tmp[GEN_MAX];
      size_t n = v ? 0 : generate(p, r, tmp);
      if (bound)
        put(&o, bound, strlen(bound));
      else if (v)
        put(&o, v->s, v->len);
      else
        put(&o, tmp, n);
    }
    int first = 1;
    for (uint32_t i = 0; i < e->nq; i++) {
      const struct param *p = &s->params[s->byep[e->q_first + i]];
      if (!(rng_double(r) < p->presence)) continue;
      put(&o, first ? "?" : "&", 1);
      first = 0;
      put(&o, p->name, p->name_len);
      put(&o, "=", 1);
      const struct value *v = draw_value(s, p, r);
      if (v) put(&o, v->s, v->len);
    }
  }
  if (cap) buf[o.len] = '\0';
  return o.len;
}

uint32_t synth_endpoints(const struct synth *s) {
  return s->nep;
}

const char *synth_method(const struct synth *s, uint32_t ep) {
  return ep < s->nep ? s->m->endpoints[ep].method : NULL;
}

const char *synth_template(const struct synth *s, uint32_t ep) {
  return ep < s->nep ? s->m->endpoints[ep].templ : NULL;
}

const char *synth_ua(const struct synth *s, uint16_t ua) {
  return ua < s->nua && s->m->uas[ua].value ? s->m->uas[ua].value : "";
}

const char *synth_persona_name(const struct synth *s, uint16_t persona) {
  return persona < s->nchains ? persona_name(s->m, persona) : NULL;
}

const double *synth_arrivals(const struct synth *s, size_t *n,
                             int64_t *first_minute) {
  *n = s->narrivals;
  *first_minute = s->first_minute;
  return s->arrivals;
}
