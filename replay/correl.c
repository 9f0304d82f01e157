#include "correl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define NONE (-1)

struct ep_rules {
  int32_t creates; /* slot or NONE */
  int32_t deletes; /* slot or NONE */
  uint32_t del_index;
  uint32_t nparams;
  int32_t last;
  uint32_t first_use, nuses; /* uses[first_use .. +nuses) */
};

struct correl {
  struct ep_rules *eps;
  size_t nep;
  struct correl_use *uses;
  size_t nuses;
  char **tmpl; /* per slot: the collection's template */
  char **name; /* per slot: its last literal segment */
  uint32_t nslots;
};

/* A template parsed into its path parameters: for each, the text before
 * it ("/api/posts" of "/api/posts/{id}/x") and where it ends. */
struct pslot {
  size_t start, end; /* '{' and one past '}' in the template */
};

/* Finds the path parameters of endpoint ep in its template, the way
 * synth.c's build_templates does: a {name} counts only when the endpoint
 * has a path parameter of that name. Returns how many (at most max). */
static size_t scan(const struct model *m, uint32_t ep, const uint32_t *first,
                   const uint32_t *order, struct pslot *out, size_t max) {
  const char *t = m->endpoints[ep].templ ? m->endpoints[ep].templ : "";
  size_t n = 0;
  for (const char *p = t; *p;) {
    const char *close = *p == '{' ? strchr(p + 1, '}') : NULL;
    int ok = 0;
    if (close) {
      size_t len = (size_t)(close - p - 1);
      for (uint32_t k = first[ep]; k < first[ep + 1] && !ok; k++) {
        const struct model_param *q = &m->params[order[k]];
        ok = strcmp(q->loc, "path") == 0 && q->name && strlen(q->name) == len &&
             memcmp(q->name, p + 1, len) == 0;
      }
    }
    if (!ok) {
      p++;
      continue;
    }
    if (n < max)
      out[n] = (struct pslot){(size_t)(p - t), (size_t)(close - t) + 1};
    n++;
    p = close + 1;
  }
  return n < max ? n : max;
}

static int32_t find_slot(const struct correl *c, const char *t, size_t len) {
  for (uint32_t i = 0; i < c->nslots; i++)
    if (strlen(c->tmpl[i]) == len && memcmp(c->tmpl[i], t, len) == 0)
      return (int32_t)i;
  return NONE;
}

static int add_slot(struct correl *c, const char *t, size_t len) {
  char **nt = realloc(c->tmpl, (c->nslots + 1) * sizeof *nt);
  if (!nt) return -ENOMEM;
  c->tmpl = nt;
  char **nn = realloc(c->name, (c->nslots + 1) * sizeof *nn);
  if (!nn) return -ENOMEM;
  c->name = nn;
  c->tmpl[c->nslots] = strndup(t, len);
  /* The last segment that is not a parameter. */
  const char *end = t + len, *seg = end;
  while (seg > t && seg[-1] != '/') seg--;
  c->name[c->nslots] = strndup(seg, (size_t)(end - seg));
  if (!c->tmpl[c->nslots] || !c->name[c->nslots]) {
    free(c->tmpl[c->nslots]);
    free(c->name[c->nslots]);
    return -ENOMEM;
  }
  c->nslots++;
  return 0;
}

#define MAXP 16

int correl_new(const struct model *m, struct correl **out) {
  struct correl *c = calloc(1, sizeof *c);
  uint32_t *first = NULL, *order = NULL;
  int rc = -ENOMEM;
  if (!c) return -ENOMEM;
  c->nep = m->nendpoints;
  c->eps = calloc(c->nep ? c->nep : 1, sizeof *c->eps);
  first = calloc(c->nep + 2, sizeof *first);
  order = calloc(m->nparams + 1, sizeof *order);
  if (!c->eps || !first || !order) goto out;
  /* Each endpoint's parameters, by endpoint (a counting sort). */
  for (size_t i = 0; i < m->nparams; i++)
    if (m->params[i].endpoint < c->nep) first[m->params[i].endpoint + 1]++;
  for (size_t i = 0; i < c->nep; i++) first[i + 1] += first[i];
  {
    uint32_t *fill = calloc(c->nep + 1, sizeof *fill);
    if (!fill) goto out;
    for (size_t i = 0; i < m->nparams; i++) {
      uint32_t e = m->params[i].endpoint;
      if (e < c->nep) order[first[e] + fill[e]++] = (uint32_t)i;
    }
    free(fill);
  }
  /* Collections: "POST C" where some endpoint's template continues C with
   * "/{param}". */
  struct pslot ps[MAXP];
  for (size_t e = 0; e < c->nep; e++) {
    c->eps[e].creates = c->eps[e].deletes = NONE;
    c->eps[e].last = NONE;
  }
  for (size_t e = 0; e < c->nep; e++) {
    const struct model_endpoint *me = &m->endpoints[e];
    size_t n = scan(m, (uint32_t)e, first, order, ps, MAXP);
    c->eps[e].nparams = (uint32_t)n;
    c->eps[e].last = n ? (int32_t)(n - 1) : NONE;
    for (size_t k = 0; k < n; k++) {
      /* C is the text before "/{param}". */
      if (ps[k].start == 0 || me->templ[ps[k].start - 1] != '/') continue;
      size_t clen = ps[k].start - 1;
      for (size_t f = 0; f < c->nep; f++) {
        const struct model_endpoint *cf = &m->endpoints[f];
        if (!cf->method || strcmp(cf->method, "POST") != 0 || !cf->templ ||
            strlen(cf->templ) != clen || memcmp(cf->templ, me->templ, clen))
          continue;
        if (find_slot(c, me->templ, clen) == NONE &&
            (rc = add_slot(c, me->templ, clen)))
          goto out;
        c->eps[f].creates = find_slot(c, me->templ, clen);
      }
    }
  }
  /* Uses and deletes. */
  for (size_t e = 0; e < c->nep; e++) {
    const struct model_endpoint *me = &m->endpoints[e];
    size_t n = scan(m, (uint32_t)e, first, order, ps, MAXP);
    c->eps[e].first_use = (uint32_t)c->nuses;
    for (size_t k = 0; k < n; k++) {
      if (ps[k].start == 0 || me->templ[ps[k].start - 1] != '/') continue;
      int32_t slot = find_slot(c, me->templ, ps[k].start - 1);
      if (slot == NONE) continue;
      struct correl_use *nu = realloc(c->uses, (c->nuses + 1) * sizeof *nu);
      if (!nu) goto out;
      c->uses = nu;
      c->uses[c->nuses++] = (struct correl_use){(uint32_t)k, (uint32_t)slot};
      c->eps[e].nuses++;
      if (me->method && strcmp(me->method, "DELETE") == 0 && k + 1 == n &&
          me->templ[ps[k].end] == '\0') {
        c->eps[e].deletes = slot;
        c->eps[e].del_index = (uint32_t)k;
      }
    }
  }
  *out = c;
  c = NULL;
  rc = 0;
out:
  free(first);
  free(order);
  correl_free(c);
  return rc;
}

void correl_free(struct correl *c) {
  if (!c) return;
  for (uint32_t i = 0; i < c->nslots; i++) {
    free(c->tmpl[i]);
    free(c->name[i]);
  }
  free(c->tmpl);
  free(c->name);
  free(c->eps);
  free(c->uses);
  free(c);
}

uint32_t correl_slots(const struct correl *c) {
  return c->nslots;
}

const char *correl_slot_template(const struct correl *c, uint32_t slot) {
  return slot < c->nslots ? c->tmpl[slot] : NULL;
}

const char *correl_slot_name(const struct correl *c, uint32_t slot) {
  return slot < c->nslots ? c->name[slot] : NULL;
}

int32_t correl_slot_by_name(const struct correl *c, const char *name,
                            size_t len) {
  for (uint32_t i = 0; i < c->nslots; i++)
    if (strlen(c->name[i]) == len && memcmp(c->name[i], name, len) == 0)
      return (int32_t)i;
  return NONE;
}

int32_t correl_creates(const struct correl *c, uint32_t ep) {
  return ep < c->nep ? c->eps[ep].creates : NONE;
}

int32_t correl_deletes(const struct correl *c, uint32_t ep, uint32_t *index) {
  if (ep >= c->nep || c->eps[ep].deletes == NONE) return NONE;
  if (index) *index = c->eps[ep].del_index;
  return c->eps[ep].deletes;
}

const struct correl_use *correl_uses(const struct correl *c, uint32_t ep,
                                     size_t *n) {
  if (ep >= c->nep || !c->eps[ep].nuses) {
    *n = 0;
    return NULL;
  }
  *n = c->eps[ep].nuses;
  return c->uses + c->eps[ep].first_use;
}

uint32_t correl_nparams(const struct correl *c, uint32_t ep) {
  return ep < c->nep ? c->eps[ep].nparams : 0;
}

int32_t correl_last_param(const struct correl *c, uint32_t ep) {
  return ep < c->nep ? c->eps[ep].last : NONE;
}

/* ---- values out of answers ------------------------------------------ */

/* An id must be a plain token: it goes into a path. */
static size_t put_token(const char *v, size_t n, char *out, size_t cap) {
  if (n == 0 || n + 1 > cap) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch <= ' ' || ch == '/' || ch == '?' || ch == '#' || ch == '"' ||
        ch == '\\' || ch >= 0x7f)
      return 0;
  }
  memcpy(out, v, n);
  out[n] = '\0';
  return n;
}

size_t correl_location_id(const char *location, char *out, size_t cap) {
  if (!location || !*location) return 0;
  size_t n = strcspn(location, "?#");
  while (n && location[n - 1] == '/') n--;
  size_t s = n;
  while (s && location[s - 1] != '/') s--;
  /* "http://host" alone names no resource. */
  if (s >= 2 && location[s - 1] == '/' && location[s - 2] == '/') return 0;
  return put_token(location + s, n - s, out, cap);
}

static size_t value_id(const json_t *v, char *out, size_t cap) {
  char num[32];
  if (json_is_integer(v)) {
    int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
    return put_token(num, (size_t)n, out, cap);
  }
  if (json_is_string(v))
    return put_token(json_string_value(v), json_string_length(v), out, cap);
  return 0;
}

size_t correl_json_id(const json_t *obj, char *out, size_t cap) {
  static const char *const keys[] = {"id", "uuid", "_id", "ID", "Id"};
  static const char *const wraps[] = {"data", "item", "result"};
  if (!json_is_object(obj)) return 0;
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    size_t n = value_id(json_object_get(obj, keys[i]), out, cap);
    if (n) return n;
  }
  for (size_t i = 0; i < sizeof wraps / sizeof wraps[0]; i++) {
    const json_t *w = json_object_get(obj, wraps[i]);
    if (!json_is_object(w)) continue;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      size_t n = value_id(json_object_get(w, keys[k]), out, cap);
      if (n) return n;
    }
  }
  return 0;
}

size_t correl_response_id(const char *location, const char *body,
                          size_t body_len, char *out, size_t cap) {
  size_t n = correl_location_id(location, out, cap);
  if (n || !body || !body_len) return n;
  json_t *doc = json_loadb(body, body_len, 0, NULL);
  if (!doc) return 0;
  n = correl_json_id(doc, out, cap);
  json_decref(doc);
  return n;
}
