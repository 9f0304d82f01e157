#include "shapes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jpath.h"
#include "model.h"
#include "rng.h"

#define NONE UINT32_MAX
#define MAX_DEPTH 16
#define MAX_ITEMS 3 /* elements of a made array: 1 to MAX_ITEMS */

enum ident { ID_NONE = 0, ID_USER, ID_EMAIL, ID_PASSWORD };

struct node {
  const char *path; /* borrowed from the model */
  char *key;        /* object key (NULL: the root or an array element) */
  unsigned types;
  double presence; /* inside the parent */
  double abs_presence;
  const struct model_value *vals; /* borrowed */
  size_t nvals;
  uint64_t total;
  uint32_t parent, elem; /* elem: the array element node, or NONE */
  uint32_t first_child, nchild;
  uint32_t next; /* next sibling, or NONE */
  uint8_t ident;
};

struct shape {
  struct node *nodes;
  uint32_t n, root;
  char *ctype;
  int form, creds;
};

struct shapes {
  struct shape **byep;
  size_t nep, count;
  char marker[48];
};

unsigned shapes_parse_types(const char *text) {
  static const struct {
    const char *name;
    unsigned bit;
  } t[] = {{"string", SH_STRING}, {"integer", SH_INTEGER},
           {"number", SH_REAL},   {"boolean", SH_BOOL},
           {"null", SH_NULL},     {"object", SH_OBJECT},
           {"array", SH_ARRAY}};
  unsigned bits = 0;
  for (const char *p = text; p && *p;) {
    size_t n = strcspn(p, "|");
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
      if (strlen(t[i].name) == n && memcmp(t[i].name, p, n) == 0)
        bits |= t[i].bit;
    p += n;
    if (*p == '|') p++;
  }
  return bits;
}

static void shape_free(struct shape *sh) {
  if (!sh) return;
  for (uint32_t i = 0; i < sh->n; i++) free(sh->nodes[i].key);
  free(sh->nodes);
  free(sh->ctype);
  free(sh);
}

void shapes_free(struct shapes *s) {
  if (!s) return;
  for (size_t i = 0; s->byep && i < s->nep; i++) shape_free(s->byep[i]);
  free(s->byep);
  free(s);
}

static int key_is(const char *k, size_t n, const char *w) {
  return strlen(w) == n && strncasecmp(k, w, n) == 0;
}

static int has_word(const char *k, size_t n, const char *w) {
  size_t wl = strlen(w);
  for (size_t i = 0; i + wl <= n; i++)
    if (strncasecmp(k + i, w, wl) == 0) return 1;
  return 0;
}

static enum ident ident_of(const char *key, size_t n) {
  if (has_word(key, n, "passw") || key_is(key, n, "pass") ||
      key_is(key, n, "pwd") || key_is(key, n, "pw"))
    return ID_PASSWORD;
  if (has_word(key, n, "email") || key_is(key, n, "mail")) return ID_EMAIL;
  if (key_is(key, n, "username") || key_is(key, n, "user_name") ||
      key_is(key, n, "user") || key_is(key, n, "login") ||
      key_is(key, n, "handle"))
    return ID_USER;
  return ID_NONE;
}

/* The node of path in sh, or NONE. */
static uint32_t find(const struct shape *sh, const char *path, size_t len) {
  for (uint32_t i = 0; i < sh->n; i++)
    if (strlen(sh->nodes[i].path) == len &&
        memcmp(sh->nodes[i].path, path, len) == 0)
      return i;
  return NONE;
}

static struct node *add_node(struct shape *sh, size_t cap, const char *path) {
  if (sh->n == cap) return NULL;
  struct node *x = &sh->nodes[sh->n++];
  memset(x, 0, sizeof *x);
  x->path = path;
  x->parent = x->elem = x->first_child = x->next = NONE;
  return x;
}

/* The parent's path length of a JSON path ("$.a.b" -> "$.a", "$.a[]" ->
 * "$.a"), 0 for "$". */
static size_t parent_len(const char *path) {
  size_t n = strlen(path);
  if (n >= 3 && path[n - 1] == ']' && path[n - 2] == '[') return n - 2;
  while (n > 1 && path[n - 1] != '.') n--;
  return n > 1 ? n - 1 : 0;
}

static int build_shape(const struct model *m, uint32_t ep, struct shape *sh) {
  size_t nf = 0;
  for (size_t i = 0; i < m->nfields; i++)
    if (m->fields[i].endpoint == ep && !strcmp(m->fields[i].dir, "request"))
      nf++;
  /* Fields, plus a root and parents a capped capture may lack. */
  size_t cap = 2 * nf + 2;
  sh->nodes = calloc(cap, sizeof *sh->nodes);
  if (!sh->nodes) return -ENOMEM;
  static const char root_path[] = "$";
  struct node *root = add_node(sh, cap, root_path);
  root->types = sh->form ? SH_OBJECT : 0;
  root->presence = root->abs_presence = 1;
  sh->root = 0;
  for (size_t i = 0; i < m->nfields; i++) {
    const struct model_field *f = &m->fields[i];
    if (f->endpoint != ep || strcmp(f->dir, "request") != 0 || !f->path ||
        f->path[0] != '$')
      continue;
    struct node *x;
    if (strcmp(f->path, "$") == 0) {
      x = &sh->nodes[0];
    } else {
      if (find(sh, f->path, strlen(f->path)) != NONE) continue;
      if (!(x = add_node(sh, cap, f->path))) break;
    }
    x->types |= shapes_parse_types(f->type);
    x->abs_presence = f->presence > 1 ? 1 : f->presence;
    x->vals = f->values;
    x->nvals = f->nvalues;
    for (size_t k = 0; k < f->nvalues; k++) x->total += f->values[k].count;
  }
  if (sh->nodes[0].types == 0) sh->nodes[0].types = SH_OBJECT;
  /* Parents, keys and children (in the model's order: first seen). */
  for (uint32_t i = 1; i < sh->n; i++) {
    struct node *x = &sh->nodes[i];
    if (sh->form) {
      x->parent = 0;
      if (!(x->key = strdup(x->path + (x->path[1] == '.' ? 2 : 1))))
        return -ENOMEM;
    } else {
      size_t pl = parent_len(x->path);
      uint32_t p = pl ? find(sh, x->path, pl) : 0;
      if (p == NONE)
        continue; /* its parent was not kept (capture's
                     field cap): the field is left out */
      x->parent = p;
      size_t n = strlen(x->path);
      if (!(n >= 2 && x->path[n - 1] == ']' && x->path[n - 2] == '[' &&
            n - 2 == pl)) {
        if (!(x->key = strdup(x->path + pl + 1))) return -ENOMEM;
      }
    }
  }
  for (uint32_t i = 1; i < sh->n; i++) {
    struct node *x = &sh->nodes[i];
    if (x->parent == NONE) continue;
    struct node *p = &sh->nodes[x->parent];
    double pp = p->abs_presence > 0 ? p->abs_presence : 1;
    x->presence = x->abs_presence / pp;
    if (x->presence > 1) x->presence = 1;
    if (!x->key) {
      p->elem = i;
      p->types |= SH_ARRAY;
      continue;
    }
    p->types |= SH_OBJECT;
    /* Appended to the parent's children. */
    if (p->first_child == NONE) {
      p->first_child = i;
    } else {
      uint32_t c = p->first_child;
      while (sh->nodes[c].next != NONE) c = sh->nodes[c].next;
      sh->nodes[c].next = i;
    }
    p->nchild++;
  }
  /* A body with a password field carries an identity. */
  for (uint32_t i = 1; i < sh->n; i++) {
    struct node *x = &sh->nodes[i];
    if (!x->key) continue;
    x->ident = (uint8_t)ident_of(x->key, strlen(x->key));
    if (x->ident == ID_PASSWORD) sh->creds = 1;
  }
  if (!sh->creds)
    for (uint32_t i = 1; i < sh->n; i++) sh->nodes[i].ident = ID_NONE;
  return 0;
}

/* The most used learned Content-Type of ep's requests, or NULL. */
static const char *content_type(const struct model *m, uint32_t ep) {
  const char *best = NULL;
  uint64_t n = 0;
  for (size_t i = 0; i < m->nheaders; i++) {
    const struct model_header *h = &m->headers[i];
    if (h->endpoint == ep && !strcmp(h->dir, "request") && h->name &&
        !strcmp(h->name, "content-type") && h->value && h->value[0] &&
        h->count > n) {
      best = h->value;
      n = h->count;
    }
  }
  return best;
}

int shapes_new(const struct model *m, const char *marker, struct shapes **out) {
  struct shapes *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  snprintf(s->marker, sizeof s->marker, "%s", marker ? marker : "sim");
  s->nep = m->nendpoints;
  s->byep = calloc(s->nep ? s->nep : 1, sizeof *s->byep);
  if (!s->byep) goto nomem;
  for (size_t i = 0; i < m->nbodies; i++) {
    const struct model_body *b = &m->bodies[i];
    if (b->endpoint >= s->nep || strcmp(b->dir, "request") != 0 || !b->bodies ||
        s->byep[b->endpoint])
      continue;
    int has = 0;
    for (size_t k = 0; k < m->nfields && !has; k++)
      has = m->fields[k].endpoint == b->endpoint &&
            !strcmp(m->fields[k].dir, "request");
    if (!has) continue;
    struct shape *sh = calloc(1, sizeof *sh);
    if (!sh) goto nomem;
    s->byep[b->endpoint] = sh;
    const char *ct = content_type(m, b->endpoint);
    sh->form = ct && !strcasecmp(ct, "application/x-www-form-urlencoded");
    if (!(sh->ctype = strdup(ct ? ct : "application/json"))) goto nomem;
    if (build_shape(m, b->endpoint, sh)) goto nomem;
    s->count++;
  }
  *out = s;
  return 0;
nomem:
  shapes_free(s);
  return -ENOMEM;
}

size_t shapes_count(const struct shapes *s) {
  return s ? s->count : 0;
}

static const struct shape *shape_of(const struct shapes *s, uint32_t ep) {
  return s && ep < s->nep ? s->byep[ep] : NULL;
}

int shapes_has(const struct shapes *s, uint32_t ep) {
  return shape_of(s, ep) != NULL;
}

const char *shapes_content_type(const struct shapes *s, uint32_t ep) {
  const struct shape *sh = shape_of(s, ep);
  return sh ? sh->ctype : "application/json";
}

int shapes_is_form(const struct shapes *s, uint32_t ep) {
  const struct shape *sh = shape_of(s, ep);
  return sh && sh->form;
}

int shapes_credentials(const struct shapes *s, uint32_t ep) {
  const struct shape *sh = shape_of(s, ep);
  return sh && sh->creds;
}

unsigned shapes_field_types(const struct shapes *s, uint32_t ep,
                            const char *path) {
  const struct shape *sh = shape_of(s, ep);
  if (!sh) return 0;
  uint32_t i = find(sh, path, strlen(path));
  return i == NONE ? 0 : sh->nodes[i].types;
}

/* ---- building a body ---------------------------------------------------- */

struct ctx {
  const struct shapes *s;
  const struct shape *sh;
  struct rng *rng;
  const struct shapes_ident *id;
  char *tag;
  size_t tagcap;
};

static int parse_int(const char *v, json_int_t *out) {
  char *end;
  if (!*v || strlen(v) > 19) return 0;
  long long x = strtoll(v, &end, 10);
  if (*end) return 0;
  *out = (json_int_t)x;
  return 1;
}

static int parse_real(const char *v, double *out) {
  char *end;
  if (!*v) return 0;
  double x = strtod(v, &end);
  if (*end) return 0;
  *out = x;
  return 1;
}

static void word(struct rng *r, char *out, size_t n) {
  static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (size_t i = 0; i < n; i++) out[i] = al[rng_below(r, 36)];
  out[n] = '\0';
}

/* A string the run makes up: "sim_<runid>_<word>". */
static json_t *invent_string(struct ctx *c) {
  char wd[9], buf[96];
  word(c->rng, wd, 8);
  snprintf(buf, sizeof buf, "%s_%s", c->s->marker, wd);
  if (c->tag && c->tagcap && !c->tag[0]) snprintf(c->tag, c->tagcap, "%s", buf);
  return json_string(buf);
}

static json_t *scalar(struct ctx *c, const struct node *x) {
  unsigned t =
      x->types & (SH_STRING | SH_INTEGER | SH_REAL | SH_BOOL | SH_NULL);
  if (!t) t = SH_STRING;
  if (x->ident && (t & SH_STRING) && c->id) {
    const char *v = x->ident == ID_PASSWORD ? c->id->password
                    : x->ident == ID_EMAIL  ? c->id->email
                                            : c->id->user;
    if (v) return json_string(v);
  }
  if (x->nvals && x->total) {
    uint64_t pick = rng_below(c->rng, x->total);
    size_t k = 0;
    while (k + 1 < x->nvals && pick >= x->vals[k].count)
      pick -= x->vals[k++].count;
    const char *v = x->vals[k].value ? x->vals[k].value : "";
    json_int_t iv;
    double dv;
    if ((t & SH_INTEGER) && parse_int(v, &iv)) return json_integer(iv);
    if ((t & SH_REAL) && parse_real(v, &dv)) return json_real(dv);
    if ((t & SH_BOOL) && !strcmp(v, "true")) return json_true();
    if ((t & SH_BOOL) && !strcmp(v, "false")) return json_false();
    if (t & SH_STRING) return json_string(v);
    /* A pool value of no allowed type (a cut number): made up below. */
  }
  if (t & SH_STRING) return invent_string(c);
  if (t & SH_INTEGER)
    return json_integer((json_int_t)(1 + rng_below(c->rng, 1000000)));
  if (t & SH_REAL)
    return json_real((double)(1 + rng_below(c->rng, 100000)) / 100.0);
  if (t & SH_BOOL) return json_boolean(rng_below(c->rng, 2));
  return json_null();
}

static json_t *make(struct ctx *c, uint32_t i, int depth) {
  const struct node *x = &c->sh->nodes[i];
  if (depth > MAX_DEPTH) return json_null();
  if ((x->types & SH_OBJECT) &&
      (x->nchild ||
       !(x->types & (SH_ARRAY | SH_STRING | SH_INTEGER | SH_REAL | SH_BOOL)))) {
    json_t *o = json_object();
    if (!o) return NULL;
    for (uint32_t k = x->first_child; k != NONE; k = c->sh->nodes[k].next) {
      const struct node *ch = &c->sh->nodes[k];
      /* Identity fields are always there in a credentials body. */
      if (!(c->id && ch->ident) && rng_double(c->rng) >= ch->presence) continue;
      json_t *v = make(c, k, depth + 1);
      if (!v || json_object_set_new(o, ch->key, v)) {
        json_decref(o);
        return NULL;
      }
    }
    return o;
  }
  if (x->types & SH_ARRAY) {
    json_t *a = json_array();
    if (!a) return NULL;
    if (x->elem != NONE) {
      uint64_t n = 1 + rng_below(c->rng, MAX_ITEMS);
      for (uint64_t k = 0; k < n; k++) {
        json_t *v = make(c, x->elem, depth + 1);
        if (!v || json_array_append_new(a, v)) {
          json_decref(a);
          return NULL;
        }
      }
    }
    return a;
  }
  return scalar(c, x);
}

json_t *shapes_build(const struct shapes *s, uint32_t ep, struct rng *rng,
                     const struct shapes_ident *id, char *tag, size_t tagcap) {
  const struct shape *sh = shape_of(s, ep);
  if (tag && tagcap) tag[0] = '\0';
  if (!sh) return NULL;
  struct ctx c = {s, sh, rng, sh->creds ? id : NULL, tag, tagcap};
  return make(&c, sh->root, 0);
}

/* ---- writing it ------------------------------------------------------- */

static int form_put(char *buf, size_t cap, size_t *o, const char *v, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || strchr("-._~", ch);
    if (*o + (plain ? 1 : 3) + 1 > cap) return -1;
    if (plain) {
      buf[(*o)++] = (char)ch;
    } else {
      buf[(*o)++] = '%';
      buf[(*o)++] = hex[ch >> 4];
      buf[(*o)++] = hex[ch & 15];
    }
  }
  return 0;
}

size_t shapes_dump(const struct shapes *s, uint32_t ep, const json_t *doc,
                   char *buf, size_t cap) {
  if (!doc || !cap) return (size_t)-1;
  if (!shapes_is_form(s, ep) || !json_is_object(doc)) {
    size_t n = json_dumpb(doc, buf, cap, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0 || n >= cap) return (size_t)-1;
    buf[n] = '\0';
    return n;
  }
  size_t o = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)doc, key, v) {
    char text[4096];
    size_t n = 0;
    if (json_is_true(v) || json_is_false(v))
      n = (size_t)snprintf(text, sizeof text, "%s",
                           json_is_true(v) ? "true" : "false");
    else if (!json_is_null(v))
      n = jpath_text(v, text, sizeof text, NULL);
    if (!n && !json_is_null(v) && !json_is_string(v)) continue;
    if (o && o + 1 < cap) buf[o++] = '&';
    if (form_put(buf, cap, &o, key, strlen(key)) || o + 2 > cap)
      return (size_t)-1;
    buf[o++] = '=';
    if (form_put(buf, cap, &o, text, n)) return (size_t)-1;
  }
  buf[o] = '\0';
  return o;
}
