#include "rules.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
#include "jpath.h"
#include "model.h"
#include "vstate.h"

static const char *const LOCS[RL_LOCS] = {"path",   "query",  "json",
                                          "header", "cookie", "location"};

struct var {
  uint32_t ep;
  uint8_t loc;
  uint8_t sticky;
  char *name;
};

struct cand {
  uint32_t var;
  uint64_t count;
};

struct put {
  uint32_t ep;
  struct rules_put pub;
  char *name, *scheme;
  struct cand *cands;
  uint32_t ncands;
  uint32_t *vars; /* pub.vars */
};

struct ep_index {
  uint32_t first_put, nputs; /* into puts (sorted by endpoint) */
  uint32_t first_src, nsrc;  /* into src (variables taken from answers) */
  uint32_t first_name, nnames;
  unsigned cap;
};

struct rules {
  size_t nrules;
  struct var *vars;
  uint32_t nvars;
  struct put *puts;
  struct rules_put *pub; /* the public parts, in the same order */
  uint32_t nputs;
  uint32_t *src; /* variables by source endpoint */
  const char **names;
  struct ep_index *eps;
  size_t nep;
};

static int loc_of(const char *s) {
  for (int i = 0; i < RL_LOCS; i++)
    if (s && strcmp(s, LOCS[i]) == 0) return i;
  return -1;
}

/* Headers a request may not be given by a rule: the engine and curl make
 * them, or they have their own place (cookies). */
static int header_forbidden(const char *h) {
  static const char *const no[] = {"host",           "content-length",
                                   "content-type",   "transfer-encoding",
                                   "connection",     "user-agent",
                                   "cookie",         "expect",
                                   "upgrade",        "te",
                                   "x-mimic-session"};
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (strcasecmp(h, no[i]) == 0) return 1;
  return 0;
}

static int put_cmp(const void *a, const void *b) {
  const struct put *x = a, *y = b;
  if (x->ep != y->ep) return x->ep < y->ep ? -1 : 1;
  return 0;
}

static int cand_cmp(const void *a, const void *b) {
  const struct cand *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return x->var < y->var ? -1 : x->var > y->var;
}

void rules_free(struct rules *r) {
  if (!r) return;
  for (uint32_t i = 0; i < r->nvars; i++) free(r->vars[i].name);
  for (uint32_t i = 0; i < r->nputs; i++) {
    free(r->puts[i].name);
    free(r->puts[i].scheme);
    free(r->puts[i].cands);
    free(r->puts[i].vars);
  }
  free(r->vars);
  free(r->puts);
  free(r->pub);
  free(r->src);
  free(r->names);
  free(r->eps);
  free(r);
}

static int64_t find_var(const struct rules *r, uint32_t ep, int loc,
                        const char *name) {
  for (uint32_t i = 0; i < r->nvars; i++)
    if (r->vars[i].ep == ep && r->vars[i].loc == loc &&
        strcmp(r->vars[i].name, name) == 0)
      return i;
  return -1;
}

static int64_t find_put(const struct rules *r, uint32_t ep, int loc,
                        const char *name) {
  for (uint32_t i = 0; i < r->nputs; i++)
    if (r->puts[i].ep == ep && r->puts[i].pub.loc == loc &&
        strcmp(r->puts[i].name, name) == 0)
      return i;
  return -1;
}

/* The scheme requests of ep sent with Authorization ("Bearer"). */
static const char *auth_scheme(const struct model *m, uint32_t ep) {
  const char *best = NULL;
  uint64_t n = 0;
  for (size_t i = 0; i < m->nheaders; i++) {
    const struct model_header *h = &m->headers[i];
    if (h->endpoint == ep && strcmp(h->dir, "request") == 0 && h->name &&
        strcmp(h->name, "authorization") == 0 && h->value && h->value[0] &&
        !strchr(h->value, ' ') && h->count > n) {
      best = h->value;
      n = h->count;
    }
  }
  return best ? best : "Bearer";
}

/* Whether a rule is usable: places replay knows, a source that is an
 * answer, and seen often enough for its destination. */
static int usable(const struct model *m, const struct model_correl *c, int *sl,
                  int *dl, uint32_t *seg) {
  *sl = loc_of(c->src_loc);
  *dl = loc_of(c->dst_loc);
  if (c->src_endpoint >= m->nendpoints || c->dst_endpoint >= m->nendpoints ||
      !c->src_name || !c->dst_name || !c->src_name[0] || !c->dst_name[0])
    return 0;
  if (*sl != RL_JSON && *sl != RL_HEADER && *sl != RL_COOKIE &&
      *sl != RL_LOCATION)
    return 0;
  if (*dl < RL_PATH || *dl > RL_COOKIE) return 0;
  if (*sl == RL_JSON && c->src_name[0] != '$') return 0;
  if (*dl == RL_JSON && (c->dst_name[0] != '$' || !c->dst_name[1])) return 0;
  if (*dl == RL_HEADER && header_forbidden(c->dst_name)) return 0;
  if (*dl == RL_PATH) {
    if (strncmp(c->dst_name, "segment:", 8) != 0) return 0;
    long s = strtol(c->dst_name + 8, NULL, 10);
    if (s < 1 || s > 64) return 0;
    *seg = (uint32_t)s;
  }
  uint64_t dst = m->endpoints[c->dst_endpoint].count;
  return (double)c->count >= RULES_MIN_SHARE * (double)dst && c->count > 0;
}

int rules_new(const struct model *m, struct rules **out) {
  struct rules *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  size_t nc = m->ncorrels;
  r->nep = m->nendpoints;
  r->eps = calloc(r->nep ? r->nep : 1, sizeof *r->eps);
  r->vars = calloc(nc ? nc : 1, sizeof *r->vars);
  r->puts = calloc(nc ? nc : 1, sizeof *r->puts);
  if (!r->eps || !r->vars || !r->puts) goto nomem;
  for (size_t i = 0; i < nc; i++) {
    const struct model_correl *c = &m->correls[i];
    int sl, dl;
    uint32_t seg = 0;
    if (!usable(m, c, &sl, &dl, &seg)) continue;
    int64_t v = find_var(r, c->src_endpoint, sl, c->src_name);
    if (v < 0) {
      struct var *nv = &r->vars[r->nvars];
      nv->ep = c->src_endpoint;
      nv->loc = (uint8_t)sl;
      if (!(nv->name = strdup(c->src_name))) goto nomem;
      v = r->nvars++;
    }
    if (dl == RL_HEADER || dl == RL_COOKIE) r->vars[v].sticky = 1;
    int64_t p = find_put(r, c->dst_endpoint, dl, c->dst_name);
    if (p < 0) {
      struct put *np = &r->puts[r->nputs];
      np->ep = c->dst_endpoint;
      np->pub.loc = (uint8_t)dl;
      np->pub.seg = seg;
      if (!(np->name = strdup(c->dst_name))) goto nomem;
      if (dl == RL_HEADER) {
        /* capture writes header names in lower case */
        for (char *q = np->name; *q; q++)
          if (*q >= 'A' && *q <= 'Z') *q = (char)(*q - 'A' + 'a');
        if (strcmp(np->name, "authorization") == 0 &&
            !(np->scheme = strdup(auth_scheme(m, c->dst_endpoint))))
          goto nomem;
      }
      p = r->nputs++;
    }
    struct put *pp = &r->puts[p];
    uint32_t k = 0;
    while (k < pp->ncands && pp->cands[k].var != (uint32_t)v) k++;
    if (k == pp->ncands) {
      struct cand *nca =
          realloc(pp->cands, (pp->ncands + 1) * sizeof *pp->cands);
      if (!nca) goto nomem;
      pp->cands = nca;
      pp->cands[pp->ncands++] = (struct cand){(uint32_t)v, 0};
    }
    pp->cands[k].count += c->count;
    r->nrules++;
  }
  /* Puts by endpoint, candidates most seen first. */
  qsort(r->puts, r->nputs, sizeof *r->puts, put_cmp);
  if (!(r->pub = calloc(r->nputs ? r->nputs : 1, sizeof *r->pub))) goto nomem;
  for (uint32_t i = 0; i < r->nputs; i++) {
    struct put *p = &r->puts[i];
    qsort(p->cands, p->ncands, sizeof *p->cands, cand_cmp);
    if (!(p->vars = calloc(p->ncands ? p->ncands : 1, sizeof *p->vars)))
      goto nomem;
    for (uint32_t k = 0; k < p->ncands; k++) p->vars[k] = p->cands[k].var;
    p->pub.name = p->name;
    p->pub.scheme = p->scheme;
    p->pub.vars = p->vars;
    p->pub.nvars = p->ncands;
    r->pub[i] = p->pub;
    struct ep_index *e = &r->eps[p->ep];
    if (!e->nputs) e->first_put = i;
    e->nputs++;
  }
  /* Variables by source endpoint, and what their answers capture. */
  r->src = calloc(r->nvars ? r->nvars : 1, sizeof *r->src);
  r->names = calloc(r->nvars ? r->nvars : 1, sizeof *r->names);
  if (!r->src || !r->names) goto nomem;
  uint32_t ns = 0, nn = 0;
  for (size_t ep = 0; ep < r->nep; ep++) {
    struct ep_index *e = &r->eps[ep];
    e->first_src = ns;
    e->first_name = nn;
    for (uint32_t v = 0; v < r->nvars; v++) {
      const struct var *x = &r->vars[v];
      if (x->ep != ep) continue;
      r->src[ns++] = v;
      e->nsrc++;
      if (x->loc == RL_JSON) e->cap |= ENGINE_CAP_BODY;
      if (x->loc != RL_JSON) e->cap |= ENGINE_CAP_HEADERS;
      if (x->loc == RL_HEADER) {
        uint32_t k = e->first_name;
        while (k < nn && strcasecmp(r->names[k], x->name) != 0) k++;
        if (k == nn) {
          r->names[nn++] = x->name;
          e->nnames++;
        }
      }
    }
  }
  *out = r;
  return 0;
nomem:
  rules_free(r);
  return -ENOMEM;
}

size_t rules_count(const struct rules *r) {
  return r ? r->nrules : 0;
}

uint32_t rules_nvars(const struct rules *r) {
  return r ? r->nvars : 0;
}

int rules_sticky(const struct rules *r, uint32_t var) {
  return var < r->nvars && r->vars[var].sticky;
}

unsigned rules_capture(const struct rules *r, uint32_t ep,
                       const char *const **names, size_t *n) {
  if (names) *names = NULL;
  if (n) *n = 0;
  if (!r || ep >= r->nep) return 0;
  const struct ep_index *e = &r->eps[ep];
  if (names && e->nnames) *names = r->names + e->first_name;
  if (n) *n = e->nnames;
  return e->cap;
}

const struct rules_put *rules_puts(const struct rules *r, uint32_t ep,
                                   size_t *n) {
  *n = 0;
  if (!r || ep >= r->nep || !r->eps[ep].nputs) return NULL;
  *n = r->eps[ep].nputs;
  return r->pub + r->eps[ep].first_put;
}

const char *rules_value(const struct rules_put *p, const struct vstate *v,
                        unsigned *flags) {
  const char *best = NULL;
  uint32_t best_seq = 0;
  for (uint32_t i = 0; v && i < p->nvars; i++) {
    uint32_t seq;
    unsigned f;
    const char *val = vstate_value(v, p->vars[i], &seq, &f);
    if (val && (!best || seq > best_seq)) {
      best = val;
      best_seq = seq;
      if (flags) *flags = f;
    }
  }
  return best;
}

/* ---- values out of answers ------------------------------------------- */

static size_t put_out(const char *v, size_t n, char *out, size_t cap) {
  if (n == 0 || n + 1 > cap) return 0;
  memcpy(out, v, n);
  out[n] = '\0';
  return n;
}

size_t rules_cookie_value(const char *lines, const char *name, char *out,
                          size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = lines; p && *p;) {
    const char *end = strchr(p, '\n');
    if (!end) end = p + strlen(p);
    while (p < end && *p == ' ') p++;
    if ((size_t)(end - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
      const char *v = p + nl + 1, *e = v;
      while (e < end && *e != ';' && *e != '\r') e++;
      while (e > v && e[-1] == ' ') e--;
      return put_out(v, (size_t)(e - v), out, cap);
    }
    p = *end ? end + 1 : end;
  }
  return 0;
}

size_t rules_header_value(const char *lines, const char *name, char *out,
                          size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = lines; p && *p;) {
    const char *end = strchr(p, '\n');
    if (!end) end = p + strlen(p);
    if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 &&
        p[nl] == ':') {
      const char *v = p + nl + 1, *e = end;
      while (v < e && (*v == ' ' || *v == '\t')) v++;
      while (e > v && (e[-1] == '\r' || e[-1] == ' ')) e--;
      return put_out(v, (size_t)(e - v), out, cap);
    }
    p = *end ? end + 1 : end;
  }
  return 0;
}

size_t rules_location_value(const char *location, const char *name, char *out,
                            size_t cap) {
  if (!location || !*location) return 0;
  if (strcmp(name, "location") == 0)
    return put_out(location, strlen(location), out, cap);
  if (strncmp(name, "segment:", 8) != 0) return 0;
  long want = strtol(name + 8, NULL, 10);
  if (want < 1) return 0;
  /* The path: after "scheme://host" when absolute, before '?' or '#'. */
  const char *p = location, *end = location + strcspn(location, "?#");
  const char *s3 = strstr(location, "://");
  if (s3 && s3 < end) {
    p = memchr(s3 + 3, '/', (size_t)(end - s3 - 3));
    if (!p) return 0;
  }
  long seg = 0;
  while (p < end) {
    while (p < end && *p == '/') p++;
    if (p >= end) break;
    const char *e = memchr(p, '/', (size_t)(end - p));
    if (!e) e = end;
    if (++seg == want) return put_out(p, (size_t)(e - p), out, cap);
    p = e;
  }
  return 0;
}

int rules_take(const struct rules *r, uint32_t ep,
               const struct engine_result *res, struct vstate *v) {
  if (!r || ep >= r->nep || !r->eps[ep].nsrc) return 0;
  if (res->err != ENGINE_OK || res->status < 200 || res->status >= 400)
    return 0;
  const struct ep_index *e = &r->eps[ep];
  json_t *doc = NULL;
  int parsed = 0, set = 0;
  char val[VSTATE_VALUE_MAX + 1];
  for (uint32_t i = 0; i < e->nsrc; i++) {
    uint32_t vi = r->src[e->first_src + i];
    const struct var *x = &r->vars[vi];
    size_t n = 0;
    int numeric = 0;
    switch (x->loc) {
    case RL_JSON:
      if (!parsed) {
        parsed = 1;
        if (res->body && res->body_len && !res->body_truncated)
          doc = json_loadb(res->body, res->body_len, JSON_DECODE_ANY, NULL);
      }
      n = jpath_text(jpath_get(doc, x->name), val, sizeof val, &numeric);
      break;
    case RL_HEADER:
      n = rules_header_value(res->headers, x->name, val, sizeof val);
      break;
    case RL_COOKIE:
      n = rules_cookie_value(res->set_cookie, x->name, val, sizeof val);
      break;
    case RL_LOCATION:
      n = rules_location_value(res->location, x->name, val, sizeof val);
      break;
    default: break;
    }
    if (!n) continue;
    unsigned flags =
        (numeric ? VSTATE_NUMERIC : 0) | (x->sticky ? VSTATE_STICKY : 0);
    int rc = vstate_set_value(v, vi, val, n, flags);
    if (rc == -ENOMEM) {
      json_decref(doc);
      return rc;
    }
    if (rc == 0) set++;
  }
  json_decref(doc);
  return set;
}

/* ---- values into requests --------------------------------------------- */

#define URL_VALUE_MAX 2048 /* longest value put into a path or query */

static int unreserved(unsigned char c, int in_query) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  if (strchr("-._~!$'()*,:@", c)) return 1;
  return !in_query && (c == '&' || c == '=' || c == '+' || c == ';');
}

/* val percent-encoded into out (cap bytes); its length, or (size_t)-1. */
static size_t encode(const char *val, int in_query, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
    if (unreserved(*p, in_query)) {
      if (o + 1 >= cap) return (size_t)-1;
      out[o++] = (char)*p;
    } else {
      if (o + 3 >= cap) return (size_t)-1;
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return o;
}

/* Replaces target[a, b) with rep (n bytes). */
static size_t splice(char *target, size_t cap, size_t a, size_t b,
                     const char *rep, size_t n) {
  size_t len = strlen(target);
  if (len - (b - a) + n + 1 > cap) return 0;
  memmove(target + a + n, target + b, len - b + 1);
  memcpy(target + a, rep, n);
  return len - (b - a) + n;
}

size_t rules_set_segment(char *target, size_t cap, uint32_t seg,
                         const char *val) {
  char enc[URL_VALUE_MAX * 3 + 1];
  size_t n = encode(val, 0, enc, sizeof enc);
  if (n == (size_t)-1 || n == 0 || seg == 0) return 0;
  size_t end = strcspn(target, "?#");
  size_t p = 0;
  uint32_t k = 0;
  while (p < end) {
    while (p < end && target[p] == '/') p++;
    if (p >= end) break;
    size_t e = p;
    while (e < end && target[e] != '/') e++;
    if (++k == seg) return splice(target, cap, p, e, enc, n);
    p = e;
  }
  return 0;
}

size_t rules_set_query(char *target, size_t cap, const char *name,
                       const char *val) {
  char enc[URL_VALUE_MAX * 3 + 1], enc_name[256];
  size_t n = encode(val, 1, enc, sizeof enc);
  size_t nn = encode(name, 1, enc_name, sizeof enc_name);
  if (n == (size_t)-1 || nn == (size_t)-1 || nn == 0) return 0;
  char *q = strchr(target, '?');
  if (q) {
    char *p = q + 1;
    while (*p && *p != '#') {
      size_t pl = strcspn(p, "&#");
      size_t a = (size_t)(p - target);
      if (pl > nn && memcmp(p, enc_name, nn) == 0 && p[nn] == '=')
        return splice(target, cap, a + nn + 1, a + pl, enc, n);
      if (pl == nn && memcmp(p, enc_name, nn) == 0) {
        size_t len = splice(target, cap, a + nn, a + nn, "=", 1);
        return len ? splice(target, cap, a + nn + 1, a + nn + 1, enc, n) : 0;
      }
      p += pl;
      if (*p == '&') p++;
    }
  }
  /* Appended: "?name=" or "&name=" (none after a trailing '?' or '&'). */
  size_t len = strlen(target), at = strcspn(target, "#");
  char head[sizeof enc_name + 2];
  size_t hl = 0;
  if (!q)
    head[hl++] = '?';
  else if (at && target[at - 1] != '?' && target[at - 1] != '&')
    head[hl++] = '&';
  memcpy(head + hl, enc_name, nn);
  hl += nn;
  head[hl++] = '=';
  if (len + hl + n + 1 > cap) return 0;
  splice(target, cap, at, at, head, hl);
  return splice(target, cap, at + hl, at + hl, enc, n);
}

size_t rules_set_cookie(char *out, size_t cap, const char *jar,
                        const char *name, const char *val) {
  if (strpbrk(val, "; \r\n\t") || strpbrk(name, "=; \r\n\t") || !*name)
    return 0;
  size_t nl = strlen(name), o = 0;
  int done = 0;
  out[0] = '\0';
  for (const char *p = jar; p && *p;) {
    const char *end = strstr(p, "; ");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    int ours = len > nl && memcmp(p, name, nl) == 0 && p[nl] == '=';
    int m =
        ours ? snprintf(out + o, cap - o, "%s%s=%s", o ? "; " : "", name, val)
             : snprintf(out + o, cap - o, "%s%.*s", o ? "; " : "", (int)len, p);
    if (m < 0 || (size_t)m >= cap - o) return 0;
    o += (size_t)m;
    done |= ours;
    p = end ? end + 2 : p + len;
  }
  if (!done) {
    int m = snprintf(out + o, cap - o, "%s%s=%s", o ? "; " : "", name, val);
    if (m < 0 || (size_t)m >= cap - o) return 0;
    o += (size_t)m;
  }
  return o;
}
