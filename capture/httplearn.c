#include "httplearn.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reuse.h"
#include "err.h"
#include "httpflow.h"
#include "jshape.h"
#include "learn.h"
#include "model.h"
#include "redact.h"
#include "topk.h"
#include "trace.h"
#include "urlenc.h"

#define HDR_POOL 32   /* (name, value) pairs kept per endpoint and side */
#define HOST_POOL 8   /* hosts kept per endpoint */
#define HVAL_MAX 96   /* header values kept up to this length */
#define MAX_REFS 32   /* references in one recorded request */
#define VAL_MAX 512   /* values compared or rewritten up to this length */
#define OUT_MAX 65536 /* a recorded target or header at most */
#define HDR_SAMPLE_AFTER 1024
#define HDR_SAMPLE 8

struct hep {
  uint64_t exchanges;
  struct topk *hdr[2]; /* "name\x1fvalue" */
  struct topk *host;
  struct jshape *js[2];
};

struct ref {
  char key[8];
  struct reuse_src src;
  char fake[VAL_MAX + 64];
  int literal; /* a whole JSON value: replay puts the JSON value in */
};

struct httplearn {
  struct httplearn_opts o;
  struct hep *eps;
  size_t neps;
  struct reuse *cor;
  struct trace_writer *tw;
  int64_t t0;
  int have_t0;
  uint64_t trace_requests, max_session;
  uint64_t hdr_dropped[3]; /* authorization, cookie, other secret headers */
  /* the request being recorded */
  struct ref refs[MAX_REFS];
  size_t nrefs;
  uint32_t ep;
  char *tbuf, *hbuf; /* OUT_MAX each: the recorded target and a header */
};

int httplearn_new(const struct httplearn_opts *o, struct httplearn **out) {
  struct httplearn *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  h->o = *o;
  struct reuse_opts co = {.idle_us = o->idle_us};
  int rc = reuse_new(&co, &h->cor);
  if (!rc && o->record) rc = trace_writer_new(&h->tw);
  if (!rc && (!(h->tbuf = malloc(OUT_MAX)) || !(h->hbuf = malloc(OUT_MAX))))
    rc = -ENOMEM;
  if (rc) {
    httplearn_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

void httplearn_free(struct httplearn *h) {
  if (!h) return;
  for (size_t i = 0; i < h->neps; i++) {
    for (int d = 0; d < 2; d++) {
      topk_free(h->eps[i].hdr[d]);
      jshape_free(h->eps[i].js[d]);
    }
    topk_free(h->eps[i].host);
  }
  free(h->eps);
  reuse_free(h->cor);
  trace_writer_free(h->tw);
  free(h->tbuf);
  free(h->hbuf);
  free(h);
}

static struct hep *hep_get(struct httplearn *h, uint32_t ep) {
  if (ep >= h->neps) {
    size_t n = (size_t)ep + 1;
    if (n < h->neps * 2) n = h->neps * 2;
    struct hep *ne = realloc(h->eps, n * sizeof *ne);
    if (!ne) return NULL;
    memset(ne + h->neps, 0, (n - h->neps) * sizeof *ne);
    h->eps = ne;
    h->neps = n;
  }
  struct hep *e = &h->eps[ep];
  if (!e->host) {
    if (topk_new(HOST_POOL, &e->host) || topk_new(HDR_POOL, &e->hdr[0]) ||
        topk_new(HDR_POOL, &e->hdr[1]) || jshape_new(h->o.salt, &e->js[0]) ||
        jshape_new(h->o.salt, &e->js[1]))
      return NULL;
  }
  return e;
}

/* ---- headers that matter ---------------------------------------------- */

/* Name tests are the hot path of header learning: the length of a
 * literal is known at compile time, and memcmp runs only when it fits. */
#define hdr_is(x, lit)                                                         \
  ((x)->nlen == sizeof(lit) - 1 && memcmp((x)->name, lit, sizeof(lit) - 1) == 0)

/* Headers every client sends that say nothing about the API. */
static int hdr_common(const struct http_hdr *x) {
  return hdr_is(x, "host") || hdr_is(x, "user-agent") ||
         hdr_is(x, "connection") || hdr_is(x, "accept-language") ||
         hdr_is(x, "accept-encoding") || hdr_is(x, "content-length") ||
         hdr_is(x, "referer") || hdr_is(x, "date") || hdr_is(x, "server") ||
         hdr_is(x, "keep-alive") || hdr_is(x, "transfer-encoding") ||
         hdr_is(x, "etag") || hdr_is(x, "last-modified") ||
         hdr_is(x, "expires") || hdr_is(x, "pragma") || hdr_is(x, "vary") ||
         hdr_is(x, "if-modified-since") || hdr_is(x, "if-none-match") ||
         hdr_is(x, "upgrade-insecure-requests") || hdr_is(x, "dnt") ||
         hdr_is(x, "accept-ranges") || hdr_is(x, "age");
}

static int add_pair(struct topk *t, const char *name, size_t nlen,
                    const char *v, size_t vlen, uint64_t w) {
  char buf[64 + 1 + HVAL_MAX];
  if (nlen > 64) nlen = 64;
  if (vlen > HVAL_MAX) vlen = HVAL_MAX;
  memcpy(buf, name, nlen);
  buf[nlen] = '\x1f';
  memcpy(buf + nlen + 1, v, vlen);
  return topk_add(t, buf, nlen + 1 + vlen, w);
}

/* Length of a media type without parameters, lower-cased into out. */
static size_t media_type(const char *v, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o < cap && v[i] != ';'; i++) {
    char c = v[i];
    if (c == ' ' && !o) continue;
    out[o++] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
  }
  while (o && out[o - 1] == ' ') o--;
  return o;
}

static size_t first_word(const char *v, size_t n) {
  size_t i = 0;
  while (i < n && v[i] != ' ') i++;
  return i;
}

static int cookie_names(struct topk *t, const char *name, const char *v,
                        size_t n, int set_cookie, uint64_t w) {
  const char *p = v, *end = v + n;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ';')) p++;
    const char *semi = memchr(p, ';', (size_t)(end - p));
    if (!semi) semi = end;
    const char *eq = memchr(p, '=', (size_t)(semi - p));
    if (eq && eq > p) {
      int rc = add_pair(t, name, strlen(name), p, (size_t)(eq - p), w);
      if (rc) return rc;
    }
    if (set_cookie) break; /* the attributes after are not cookies */
    p = semi;
  }
  return 0;
}

static int learn_headers(struct httplearn *h, struct topk *t,
                         const struct http_hdr *hs, size_t n, int response,
                         uint64_t w) {
  char buf[HVAL_MAX];
  for (size_t i = 0; i < n; i++) {
    const struct http_hdr *x = &hs[i];
    int rc = 0;
    if (hdr_common(x)) continue;
    if (hdr_is(x, "content-type")) {
      size_t l = media_type(x->value, x->vlen, buf, sizeof buf);
      rc = add_pair(t, x->name, x->nlen, buf, l, w);
    } else if (hdr_is(x, "content-encoding") || hdr_is(x, "accept") ||
               hdr_is(x, "x-requested-with") ||
               (response && hdr_is(x, "cache-control"))) {
      rc = add_pair(t, x->name, x->nlen, x->value, x->vlen, w);
    } else if (hdr_is(x, "authorization") || hdr_is(x, "www-authenticate") ||
               hdr_is(x, "proxy-authorization")) {
      /* The scheme only: the credential is never stored. */
      rc = add_pair(t, x->name, x->nlen, x->value,
                    first_word(x->value, x->vlen), w);
      if (!response) h->hdr_dropped[0] += w;
    } else if (hdr_is(x, "cookie") || hdr_is(x, "set-cookie")) {
      rc = cookie_names(t, x->name, x->value, x->vlen, response, w);
      if (!response) h->hdr_dropped[1] += w;
    } else if (hdr_is(x, "location")) {
      rc = add_pair(t, x->name, x->nlen, "", 0, w);
    } else if (redact_is_secret_name(x->name, x->nlen)) {
      rc = add_pair(t, x->name, x->nlen, "", 0, w);
      h->hdr_dropped[2] += w;
    } else if (x->nlen > 2 && memcmp(x->name, "x-", 2) == 0 &&
               !hdr_is(x, "x-forwarded-for") && !hdr_is(x, "x-real-ip") &&
               strncmp(x->name, "x-forwarded-", 12) != 0) {
      int secret = redact_is_secret_value(x->value, x->vlen);
      rc = add_pair(t, x->name, x->nlen, secret ? "" : x->value,
                    secret ? 0 : x->vlen, w);
      if (secret) h->hdr_dropped[2] += w;
    }
    if (rc) return rc;
  }
  return 0;
}

static int is_json(const struct http_hdr *hs, size_t n) {
  size_t l;
  const char *ct = httpflow_header(hs, n, "content-type", &l);
  if (!ct) return 0;
  for (size_t i = 0; i + 4 <= l; i++)
    if ((ct[i] | 0x20) == 'j' && strncasecmp(ct + i, "json", 4) == 0) return 1;
  return 0;
}

static int is_form(const struct http_hdr *hs, size_t n) {
  size_t l;
  const char *ct = httpflow_header(hs, n, "content-type", &l);
  return ct && l >= 33 &&
         strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* ---- values of requests and responses ----------------------------------- */

/* Text of a JSON scalar (strings as they are, numbers printed); 0 for
 * others. */
static size_t scalar_text(json_t *v, char *buf, size_t cap, const char **out) {
  switch (json_typeof(v)) {
  case JSON_STRING: *out = json_string_value(v); return json_string_length(v);
  case JSON_INTEGER:
    *out = buf;
    return (size_t)snprintf(buf, cap, "%" JSON_INTEGER_FORMAT,
                            json_integer_value(v));
  default: return 0;
  }
}

typedef int json_leaf_fn(void *arg, const char *path, json_t *v);

static int walk_json(json_t *v, char *path, size_t plen, int depth,
                     json_leaf_fn *fn, void *arg) {
  if (depth > 8) return 0;
  if (json_is_object(v)) {
    const char *key;
    json_t *child;
    json_object_foreach(v, key, child) {
      size_t n = strlen(key);
      if (plen + 1 + n + 1 > 256) continue;
      path[plen] = '.';
      memcpy(path + plen + 1, key, n + 1);
      int rc = walk_json(child, path, plen + 1 + n, depth + 1, fn, arg);
      path[plen] = '\0';
      if (rc) return rc;
    }
    return 0;
  }
  if (json_is_array(v)) {
    if (plen + 3 > 256) return 0;
    memcpy(path + plen, "[]", 3);
    for (size_t i = 0; i < json_array_size(v) && i < 64; i++) {
      int rc =
          walk_json(json_array_get(v, i), path, plen + 2, depth + 1, fn, arg);
      if (rc) return rc;
    }
    path[plen] = '\0';
    return 0;
  }
  return fn(arg, path, v);
}

struct give_ctx {
  struct httplearn *h;
};

static int give_leaf(void *arg, const char *path, json_t *v) {
  struct give_ctx *g = arg;
  char num[32];
  const char *s;
  size_t n = scalar_text(v, num, sizeof num, &s);
  if (n) reuse_give(g->h->cor, g->h->ep, CL_JSON, path, s, n);
  return 0;
}

/* Path segments are words of the API ("orders") unless they look like a
 * value: a digit in them, or a token, JWT or e-mail. */
static int segment_is_value(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] >= '0' && v[i] <= '9') return 1;
  return redact_is_token(v, n) || redact_is_jwt(v, n) || redact_is_email(v, n);
}

/* The response gives its values to the session. */
static void give_response(struct httplearn *h, const struct http_txn *t) {
  for (size_t i = 0; i < t->nresp_hdrs; i++) {
    const struct http_hdr *x = &t->resp_hdrs[i];
    if (hdr_is(x, "location")) {
      reuse_give(h->cor, h->ep, CL_LOCATION, "location", x->value, x->vlen);
      /* ... and the segments of its path. */
      const char *p = x->value, *end = x->value + x->vlen;
      const char *q = memchr(p, '?', x->vlen);
      if (q) end = q;
      const char *s3 = NULL;
      if (x->vlen > 8 && (s3 = strstr(x->value, "://")) && s3 + 3 < end) {
        const char *slash = memchr(s3 + 3, '/', (size_t)(end - (s3 + 3)));
        p = slash ? slash : end;
      }
      int seg = 0;
      while (p < end) {
        while (p < end && *p == '/') p++;
        if (p >= end) break;
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (!e) e = end;
        char name[24];
        snprintf(name, sizeof name, "segment:%d", ++seg);
        if (e > p && segment_is_value(p, (size_t)(e - p)))
          reuse_give(h->cor, h->ep, CL_LOCATION, name, p, (size_t)(e - p));
        p = e;
      }
    } else if (hdr_is(x, "set-cookie")) {
      const char *eq = memchr(x->value, '=', x->vlen);
      if (!eq) continue;
      const char *semi = memchr(eq, ';', x->vlen - (size_t)(eq - x->value));
      size_t vl = (size_t)((semi ? semi : x->value + x->vlen) - eq - 1);
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(eq - x->value), x->value);
      reuse_give(h->cor, h->ep, CL_COOKIE, name, eq + 1, vl);
    } else if (x->nlen > 2 && memcmp(x->name, "x-", 2) == 0) {
      reuse_give(h->cor, h->ep, CL_HEADER, x->name, x->value, x->vlen);
    }
  }
  if (t->resp_body && is_json(t->resp_hdrs, t->nresp_hdrs)) {
    json_t *root =
        json_loadb((const char *)t->resp_body, t->resp_body_len, 0, NULL);
    if (root) {
      char path[260] = "$";
      struct give_ctx g = {h};
      walk_json(root, path, 1, 0, give_leaf, &g);
      json_decref(root);
    }
  }
}

/* ---- the request: correlations, and its redacted record ----------------- */

/* A value the request sends at (loc, name): if an earlier response gave
 * it, a placeholder goes into out; else, when secret, a fake; else the
 * value itself. Appends to out (NUL-terminated, bounded). */
struct outbuf {
  char *p;
  size_t len, cap;
  int cut;
};

static void out_add(struct outbuf *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->cap) {
    n = o->cap - o->len - 1;
    o->cut = 1;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

static const struct ref *value_ref(struct httplearn *h, enum reuse_loc loc,
                                   const char *name, const char *v, size_t n,
                                   int literal) {
  struct reuse_src src;
  if (n > VAL_MAX || !reuse_find(h->cor, h->ep, loc, name, v, n, &src))
    return NULL;
  if (!h->o.record || h->nrefs == MAX_REFS) return NULL;
  struct ref *r = &h->refs[h->nrefs];
  snprintf(r->key, sizeof r->key, "c%zu", h->nrefs + 1);
  r->src = src;
  r->literal = literal;
  redact_fake(h->o.salt, v, n, r->fake, sizeof r->fake);
  h->nrefs++;
  return r;
}

static void put_value(struct httplearn *h, struct outbuf *o, enum reuse_loc loc,
                      const char *name, const char *raw, size_t rawn,
                      const char *dec, size_t decn, int secret) {
  if (!h->o.record) {
    /* Only the correlation rules are learned. */
    if (loc != CL_PATH || segment_is_value(dec, decn))
      value_ref(h, loc, name, dec, decn, 0);
    return;
  }
  const struct ref *r = loc == CL_PATH && !segment_is_value(dec, decn)
                            ? NULL
                            : value_ref(h, loc, name, dec, decn, 0);
  if (r) {
    out_add(o, "{{", 2);
    out_add(o, r->key, strlen(r->key));
    out_add(o, "}}", 2);
  } else if (secret || redact_is_secret_value(dec, decn)) {
    char fake[VAL_MAX + 64];
    size_t fl = redact_fake(h->o.salt, dec, decn > VAL_MAX ? VAL_MAX : decn,
                            fake, sizeof fake);
    out_add(o, fake, fl);
  } else {
    out_add(o, raw, rawn);
  }
}

static void record_target(struct httplearn *h, struct outbuf *o,
                          const char *path, size_t plen, const char *query,
                          size_t qlen) {
  char dec[VAL_MAX];
  const char *p = path, *end = path + plen;
  int seg = 0;
  while (p < end) {
    out_add(o, "/", 1);
    p++;
    const char *e = memchr(p, '/', (size_t)(end - p));
    if (!e) e = end;
    char name[24];
    snprintf(name, sizeof name, "segment:%d", ++seg);
    size_t dl = urlenc_decode(p, (size_t)(e - p), dec, sizeof dec);
    int secret = redact_is_email(dec, dl) || redact_is_jwt(dec, dl) ||
                 redact_is_token(dec, dl);
    if (e > p)
      put_value(h, o, CL_PATH, name, p, (size_t)(e - p), dec, dl, secret);
    p = e;
  }
  if (!qlen) return;
  out_add(o, "?", 1);
  p = query;
  end = query + qlen;
  int first = 1;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (!first) out_add(o, "&", 1);
    first = 0;
    if (!eq) {
      out_add(o, p, (size_t)(stop - p));
    } else {
      char name[64];
      size_t nl = urlenc_decode(p, (size_t)(eq - p), name, sizeof name - 1);
      name[nl] = '\0';
      out_add(o, p, (size_t)(eq - p) + 1);
      size_t dl =
          urlenc_decode(eq + 1, (size_t)(stop - eq - 1), dec, sizeof dec);
      put_value(h, o, CL_QUERY, name, eq + 1, (size_t)(stop - eq - 1), dec, dl,
                redact_is_secret_name(name, nl));
    }
    p = amp ? amp + 1 : end;
  }
}

/* Header value for the record, or NULL when the header is not kept. */
static int record_header(struct httplearn *h, const struct http_hdr *x,
                         struct outbuf *o) {
  if (hdr_is(x, "user-agent") || hdr_is(x, "accept") ||
      hdr_is(x, "accept-language") || hdr_is(x, "accept-encoding") ||
      hdr_is(x, "content-type") || hdr_is(x, "content-encoding") ||
      hdr_is(x, "x-requested-with") || hdr_is(x, "origin")) {
    out_add(o, x->value, x->vlen);
    return 1;
  }
  if (hdr_is(x, "authorization")) {
    size_t w = first_word(x->value, x->vlen);
    out_add(o, x->value, w);
    if (w < x->vlen) {
      out_add(o, " ", 1);
      const char *tok = x->value + w + 1;
      size_t tl = x->vlen - w - 1;
      put_value(h, o, CL_HEADER, "authorization", tok, tl, tok, tl, 1);
    }
    return 1;
  }
  if (hdr_is(x, "cookie")) {
    const char *p = x->value, *end = x->value + x->vlen;
    int first = 1;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == ';')) p++;
      const char *semi = memchr(p, ';', (size_t)(end - p));
      if (!semi) semi = end;
      const char *eq = memchr(p, '=', (size_t)(semi - p));
      if (eq && eq > p) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
        if (!first) out_add(o, "; ", 2);
        first = 0;
        out_add(o, p, (size_t)(eq - p) + 1);
        put_value(h, o, CL_COOKIE, name, eq + 1, (size_t)(semi - eq - 1),
                  eq + 1, (size_t)(semi - eq - 1), 1);
      }
      p = semi;
    }
    return 1;
  }
  if (x->nlen > 2 && memcmp(x->name, "x-", 2) == 0 &&
      strncmp(x->name, "x-forwarded-", 12) != 0 && !hdr_is(x, "x-real-ip") &&
      !hdr_is(x, "x-mimic-session")) {
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)x->nlen, x->name);
    put_value(h, o, CL_HEADER, name, x->value, x->vlen, x->value, x->vlen,
              redact_is_secret_name(x->name, x->nlen));
    return 1;
  }
  return 0;
}

/* Rewrites JSON in place for the record: a value an earlier response gave
 * becomes its placeholder string "{{cN}}" (replay puts the JSON value it
 * got back there, quotes included); a secret becomes a fake of the same
 * type. Without recording, only the correlations are counted. Returns the
 * replacement of v, or NULL to keep it. */
static json_t *rewrite_json(struct httplearn *h, json_t *v, char *path,
                            size_t plen, int depth) {
  if (depth > 8) return NULL;
  if (json_is_object(v)) {
    const char *key;
    json_t *child;
    void *tmp;
    json_object_foreach_safe(v, tmp, key, child) {
      size_t n = strlen(key);
      if (plen + 1 + n + 1 > 256) continue;
      path[plen] = '.';
      memcpy(path + plen + 1, key, n + 1);
      json_t *nv = rewrite_json(h, child, path, plen + 1 + n, depth + 1);
      path[plen] = '\0';
      if (nv) json_object_set_new(v, key, nv);
    }
    return NULL;
  }
  if (json_is_array(v)) {
    if (plen + 3 > 256) return NULL;
    memcpy(path + plen, "[]", 3);
    for (size_t i = 0; i < json_array_size(v) && i < 256; i++) {
      json_t *nv =
          rewrite_json(h, json_array_get(v, i), path, plen + 2, depth + 1);
      if (nv) json_array_set_new(v, i, nv);
    }
    path[plen] = '\0';
    return NULL;
  }
  char num[32];
  const char *s;
  size_t n = scalar_text(v, num, sizeof num, &s);
  if (!n) return NULL;
  const char *dot = strrchr(path, '.');
  const char *key = dot ? dot + 1 : path;
  size_t kl = strlen(key);
  if (kl >= 2 && strcmp(key + kl - 2, "[]") == 0) kl -= 2;
  const struct ref *r = value_ref(h, CL_JSON, path, s, n, 1);
  if (!h->o.record) return NULL;
  char buf[VAL_MAX + 64];
  if (r) {
    snprintf(buf, sizeof buf, "{{%s}}", r->key);
    return json_string(buf);
  }
  if (redact_is_secret_name(key, kl) ||
      (json_is_string(v) && redact_is_secret_value(s, n))) {
    size_t fl =
        redact_fake(h->o.salt, s, n > VAL_MAX ? VAL_MAX : n, buf, sizeof buf);
    if (json_is_string(v)) return json_stringn(buf, fl);
    return json_integer(strtoll(buf, NULL, 10));
  }
  return NULL;
}

static void record_form(struct httplearn *h, struct outbuf *o, const char *p,
                        size_t len) {
  const char *end = p + len;
  int first = 1;
  char dec[VAL_MAX];
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    if (!first) out_add(o, "&", 1);
    first = 0;
    if (!eq) {
      out_add(o, p, (size_t)(stop - p));
    } else {
      char name[70] = "$.";
      size_t nl = urlenc_decode(p, (size_t)(eq - p), name + 2, 64);
      name[2 + nl] = '\0';
      out_add(o, p, (size_t)(eq - p) + 1);
      size_t dl =
          urlenc_decode(eq + 1, (size_t)(stop - eq - 1), dec, sizeof dec);
      put_value(h, o, CL_JSON, name, eq + 1, (size_t)(stop - eq - 1), dec, dl,
                redact_is_secret_name(name + 2, nl));
    }
    p = amp ? amp + 1 : end;
  }
}

/* 1 when a body that is neither JSON nor a form may be recorded as it is:
 * printable text (UTF-8 allowed) in which no word, percent-decoded, looks
 * like a secret (e-mail, JWT, token) and no secret word appears
 * ("password", "secret", "token", ...). */
static int text_is_safe(const char *p, size_t n) {
  char dec[VAL_MAX];
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)p[i];
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return 0;
    if (c == 0x7f) return 0;
    size_t j = i;
    while (j < n &&
           ((p[j] >= 'A' && p[j] <= 'Z') || (p[j] >= 'a' && p[j] <= 'z') ||
            (p[j] >= '0' && p[j] <= '9') || strchr("%._+-@=/", p[j])))
      j++;
    if (j > i) {
      size_t dl = urlenc_decode(p + i, j - i, dec, sizeof dec);
      if (redact_is_secret_value(dec, dl)) return 0;
      /* Word parts between separators, as names: "password", "apiKey". */
      for (size_t a = 0; a < dl;) {
        size_t b = a;
        while (b < dl && dec[b] != '=' && dec[b] != '&' && dec[b] != '%' &&
               dec[b] != '"' && dec[b] != ':')
          b++;
        if (b > a && b - a <= 64 && redact_is_secret_name(dec + a, b - a))
          return 0;
        a = b + 1;
      }
      i = j;
    } else {
      if (c == '"' || c == ':' || c == '{' || c == '}' || c == ',') {
        /* punctuation of percent-decoded JSON words is checked above */
      }
      i++;
    }
  }
  return 1;
}

/* Finds the request's values that came from earlier responses (rules) and,
 * when recording, writes its redacted line into the trace. */
static int request_values(struct httplearn *h, const struct http_txn *t,
                          uint64_t session, uint32_t index, const char *path,
                          size_t plen, const char *query, size_t qlen) {
  h->nrefs = 0;
  char *tbuf = h->tbuf, *hbuf = h->hbuf;
  json_t *line = NULL, *hdrs = NULL;
  int rc = -ENOMEM;
  struct outbuf target = {tbuf, 0, OUT_MAX, 0};
  tbuf[0] = '\0';
  record_target(h, &target, path, plen, query, qlen);
  hdrs = json_array();
  if (!hdrs) goto out;
  for (size_t i = 0; i < t->nreq_hdrs; i++) {
    struct outbuf hv = {hbuf, 0, OUT_MAX, 0};
    hbuf[0] = '\0';
    if (!record_header(h, &t->req_hdrs[i], &hv)) continue;
    json_array_append_new(hdrs, json_pack("[s#, s]", t->req_hdrs[i].name,
                                          (int)t->req_hdrs[i].nlen, hbuf));
  }
  json_t *body = NULL;
  int body_is_json = 0;
  if (t->req_body && t->req_body_len) {
    if (is_json(t->req_hdrs, t->nreq_hdrs)) {
      json_t *root = json_loadb((const char *)t->req_body, t->req_body_len,
                                JSON_DECODE_ANY, NULL);
      if (root) {
        char p2[260] = "$";
        json_t *nr = rewrite_json(h, root, p2, 1, 0);
        if (nr) {
          json_decref(root);
          root = nr;
        }
        char *txt = h->o.record
                        ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY)
                        : NULL;
        json_decref(root);
        if (txt) {
          body = json_string(txt);
          free(txt);
          body_is_json = 1;
        }
      }
    }
    if (!body && is_form(t->req_hdrs, t->nreq_hdrs)) {
      struct outbuf bo = {tbuf + target.len + 1, 0, OUT_MAX - target.len - 1,
                          0};
      bo.p[0] = '\0';
      record_form(h, &bo, (const char *)t->req_body, t->req_body_len);
      body = json_stringn(bo.p, bo.len);
    }
    if (!body && text_is_safe((const char *)t->req_body, t->req_body_len)) {
      body = json_stringn((const char *)t->req_body, t->req_body_len);
    }
    if (!body) {
      /* Other bodies may hold anything: only their size is kept. */
      size_t n = t->req_body_len;
      char *x = malloc(n);
      if (!x) goto out;
      memset(x, 'x', n);
      body = json_stringn(x, n);
      free(x);
    }
  }
  if (!h->o.record) {
    rc = 0;
    json_decref(body);
    goto out;
  }
  line = json_object();
  if (!line) goto out;
  json_object_set_new(line, "s", json_integer((json_int_t)session));
  json_object_set_new(line, "i", json_integer(index));
  json_object_set_new(line, "t", json_integer(t->t_req_first - h->t0));
  json_object_set_new(line, "m", json_stringn(t->method, t->method_len));
  json_object_set_new(line, "u", json_string(tbuf));
  json_object_set_new(line, "h", hdrs);
  hdrs = NULL;
  if (body) json_object_set_new(line, body_is_json ? "bj" : "b", body);
  json_object_set_new(line, "st", json_integer(t->status));
  if (h->nrefs) {
    json_t *refs = json_array();
    for (size_t i = 0; i < h->nrefs; i++) {
      const struct ref *r = &h->refs[i];
      json_array_append_new(
          refs, json_pack("{s:s, s:i, s:s, s:s, s:s, s:b}", "k", r->key, "i",
                          (int)r->src.index, "loc", reuse_loc_name(r->src.loc),
                          "name", r->src.name, "f", r->fake, "q", r->literal));
    }
    json_object_set_new(line, "r", refs);
  }
  char *txt = json_dumps(line, JSON_COMPACT);
  if (!txt) goto out;
  rc = trace_writer_add(h->tw, txt, strlen(txt));
  free(txt);
  if (rc == 0) {
    h->trace_requests++;
    if (session > h->max_session) h->max_session = session;
  }
  if (rc == ERR_LIMIT) rc = 0; /* the trace is full: the model still learns */
out:
  json_decref(line);
  json_decref(hdrs);
  return rc;
}

int httplearn_add(struct httplearn *h, const struct http_txn *t, uint32_t ep,
                  uint64_t client_key, const char *path, size_t plen,
                  const char *query, size_t qlen) {
  struct hep *e = hep_get(h, ep);
  if (!e) return -ENOMEM;
  h->ep = ep;
  if (!h->have_t0) {
    h->t0 = t->t_req_first;
    h->have_t0 = 1;
  }
  size_t n;
  const char *host = httpflow_header(t->req_hdrs, t->nreq_hdrs, "host", &n);
  int rc;
  if (host && n && (rc = topk_add(e->host, host, n > 255 ? 255 : n, 1)))
    return rc;
  /* Headers settle fast too: past HDR_SAMPLE_AFTER exchanges of an
   * endpoint, one in HDR_SAMPLE is learned, counted HDR_SAMPLE times. */
  uint64_t weight = 1;
  if (e->exchanges++ >= HDR_SAMPLE_AFTER) {
    if (e->exchanges % HDR_SAMPLE) goto bodies;
    weight = HDR_SAMPLE;
  }
  if ((rc =
           learn_headers(h, e->hdr[0], t->req_hdrs, t->nreq_hdrs, 0, weight)) ||
      (rc =
           learn_headers(h, e->hdr[1], t->resp_hdrs, t->nresp_hdrs, 1, weight)))
    return rc;
bodies:
  if (t->req_body && !t->req_body_cut) {
    int form = is_form(t->req_hdrs, t->nreq_hdrs);
    if (form || is_json(t->req_hdrs, t->nreq_hdrs)) {
      rc = jshape_add(e->js[0], t->req_body, t->req_body_len, form);
      if (rc == -ENOMEM) return rc;
    }
  }
  if (t->resp_body && !t->resp_body_cut &&
      is_json(t->resp_hdrs, t->nresp_hdrs)) {
    rc = jshape_add(e->js[1], t->resp_body, t->resp_body_len, 0);
    if (rc == -ENOMEM) return rc;
  }
  uint64_t session;
  uint32_t index;
  if ((rc = reuse_begin(h->cor, client_key, t->t_req_first, &session, &index)))
    return rc;
  if ((h->o.record || reuse_has_values(h->cor)) &&
      (rc = request_values(h, t, session, index, path, plen, query, qlen)))
    return rc;
  give_response(h, t);
  return 0;
}

/* ---- into the model
 * ---------------------------------------------------------- */

static int add_redaction(struct model *m, const char *loc, const char *name,
                         const char *action, uint64_t count) {
  if (!count) return 0;
  for (size_t i = 0; i < m->nredactions; i++) {
    struct model_redaction *r = &m->redactions[i];
    if (!strcmp(r->loc, loc) && !strcmp(r->name, name) &&
        !strcmp(r->action, action)) {
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

/* Per final endpoint: the handles' pools merged. */
struct agg {
  struct topk *hdr[2], *host;
  struct jshape *js[2]; /* not merged: the largest handle's (see below) */
  uint64_t bodies[2], invalid[2];
};

static int pool_values(const struct topk *t, struct model_value **out,
                       size_t *n) {
  size_t k = topk_len(t);
  struct topk_item *items = malloc((k ? k : 1) * sizeof *items);
  if (!items) return -ENOMEM;
  k = topk_items(t, items, k);
  *out = calloc(k ? k : 1, sizeof **out);
  if (!*out) {
    free(items);
    return -ENOMEM;
  }
  for (size_t i = 0; i < k; i++) {
    (*out)[i].value = strndup(items[i].value, items[i].len);
    (*out)[i].count = items[i].count;
    if (!(*out)[i].value) {
      *n = i;
      free(items);
      return -ENOMEM;
    }
  }
  *n = k;
  free(items);
  return 0;
}

static int write_fields(struct model *m, uint32_t ep, const char *dir,
                        struct jshape **shapes, size_t nshapes) {
  /* Fields of every handle of the endpoint, merged by path. */
  uint64_t bodies = 0;
  for (size_t s = 0; s < nshapes; s++) bodies += jshape_bodies(shapes[s]);
  if (!bodies) return 0;
  size_t first = m->nfields;
  for (size_t s = 0; s < nshapes; s++) {
    for (size_t i = 0; i < jshape_nfields(shapes[s]); i++) {
      const struct jshape_field *f = jshape_field(shapes[s], i);
      struct model_field *mf = NULL;
      for (size_t k = first; k < m->nfields; k++)
        if (strcmp(m->fields[k].path, f->path) == 0) mf = &m->fields[k];
      char types[96];
      jshape_types(f->types, types, sizeof types);
      if (!mf) {
        mf = model_push(m, fields);
        if (!mf) return -ENOMEM;
        mf->endpoint = ep;
        snprintf(mf->dir, sizeof mf->dir, "%s", dir);
        mf->path = strdup(f->path);
        mf->type = strdup(types);
        if (!mf->path || !mf->type) return -ENOMEM;
        if (pool_values(f->pool, &mf->values, &mf->nvalues)) return -ENOMEM;
      }
      mf->presence += (double)f->count / (double)bodies;
      if (f->redacted) mf->redacted = 1;
      int rc = add_redaction(m, "body", f->path, "fake", f->redacted);
      if (rc) return rc;
    }
  }
  return 0;
}

int httplearn_finish(struct httplearn *h, const struct learn *l,
                     struct model *m) {
  size_t ne = m->nendpoints;
  struct agg *a = calloc(ne ? ne : 1, sizeof *a);
  struct jshape **shapes = calloc(h->neps ? h->neps : 1, sizeof *shapes);
  int rc = -ENOMEM;
  if (!a || !shapes) goto out;
  for (size_t i = 0; i < ne; i++)
    if (topk_new(HDR_POOL, &a[i].hdr[0]) || topk_new(HDR_POOL, &a[i].hdr[1]) ||
        topk_new(HOST_POOL, &a[i].host))
      goto out;
  for (size_t hd = 0; hd < h->neps; hd++) {
    struct hep *e = &h->eps[hd];
    if (!e->host) continue;
    int32_t id = learn_endpoint_id(l, (uint32_t)hd);
    if (id < 0 || (size_t)id >= ne) continue;
    if (topk_merge(a[id].host, e->host) ||
        topk_merge(a[id].hdr[0], e->hdr[0]) ||
        topk_merge(a[id].hdr[1], e->hdr[1]))
      goto out;
  }
  static const char *const DIRS[2] = {"request", "response"};
  for (size_t id = 0; id < ne; id++) {
    /* The Host most used. */
    struct topk_item top;
    if (topk_items(a[id].host, &top, 1) == 1) {
      free(m->endpoints[id].host);
      m->endpoints[id].host = strndup(top.value, top.len);
      if (!m->endpoints[id].host) goto out;
    }
    for (int d = 0; d < 2; d++) {
      struct model_value *vals;
      size_t nv;
      if (pool_values(a[id].hdr[d], &vals, &nv)) goto out;
      for (size_t k = 0; k < nv; k++) {
        struct model_header *mh = model_push(m, headers);
        char *sep = strchr(vals[k].value, '\x1f');
        if (!mh || !sep) {
          for (size_t j = k; j < nv; j++) free(vals[j].value);
          free(vals);
          if (!mh) goto out;
          continue;
        }
        mh->endpoint = (uint32_t)id;
        snprintf(mh->dir, sizeof mh->dir, "%s", DIRS[d]);
        mh->name = strndup(vals[k].value, (size_t)(sep - vals[k].value));
        mh->value = strdup(sep + 1);
        mh->count = vals[k].count;
        free(vals[k].value);
        if (!mh->name || !mh->value) {
          for (size_t j = k + 1; j < nv; j++) free(vals[j].value);
          free(vals);
          goto out;
        }
      }
      free(vals);
      /* Body shapes of every handle of this endpoint. */
      size_t ns = 0;
      uint64_t bodies = 0, invalid = 0;
      for (size_t hd = 0; hd < h->neps; hd++) {
        if (!h->eps[hd].host ||
            learn_endpoint_id(l, (uint32_t)hd) != (int32_t)id)
          continue;
        shapes[ns++] = h->eps[hd].js[d];
        bodies += jshape_bodies(h->eps[hd].js[d]);
        invalid += jshape_invalid(h->eps[hd].js[d]);
      }
      if (bodies || invalid) {
        struct model_body *b = model_push(m, bodies);
        if (!b) goto out;
        b->endpoint = (uint32_t)id;
        snprintf(b->dir, sizeof b->dir, "%s", DIRS[d]);
        b->bodies = bodies;
        b->invalid = invalid;
      }
      if ((rc = write_fields(m, (uint32_t)id, DIRS[d], shapes, ns))) goto out;
      rc = -ENOMEM;
    }
  }
  for (size_t i = 0; i < reuse_nrules(h->cor); i++) {
    const struct reuse_rule *r = reuse_rule(h->cor, i);
    int32_t s = learn_endpoint_id(l, r->src_ep),
            d = learn_endpoint_id(l, r->dst_ep);
    if (s < 0 || d < 0) continue;
    struct model_correl *c = NULL;
    for (size_t k = 0; k < m->ncorrels; k++) {
      struct model_correl *x = &m->correls[k];
      if (x->src_endpoint == (uint32_t)s && x->dst_endpoint == (uint32_t)d &&
          !strcmp(x->src_loc, reuse_loc_name(r->src_loc)) &&
          !strcmp(x->src_name, r->src_name) &&
          !strcmp(x->dst_loc, reuse_loc_name(r->dst_loc)) &&
          !strcmp(x->dst_name, r->dst_name))
        c = x;
    }
    if (!c) {
      c = model_push(m, correls);
      if (!c) goto out;
      c->src_endpoint = (uint32_t)s;
      c->dst_endpoint = (uint32_t)d;
      c->src_loc = strdup(reuse_loc_name(r->src_loc));
      c->src_name = strdup(r->src_name);
      c->dst_loc = strdup(reuse_loc_name(r->dst_loc));
      c->dst_name = strdup(r->dst_name);
      if (!c->src_loc || !c->src_name || !c->dst_loc || !c->dst_name) goto out;
    }
    c->count += r->count;
  }
  if ((rc = add_redaction(m, "header", "authorization", "dropped",
                          h->hdr_dropped[0])) ||
      (rc = add_redaction(m, "header", "cookie", "dropped",
                          h->hdr_dropped[1])) ||
      (rc = add_redaction(m, "header", "(secret headers)", "dropped",
                          h->hdr_dropped[2])))
    goto out;
  rc = -ENOMEM;
  if (h->tw) {
    struct trace_chunk *chunks = NULL;
    size_t n = 0;
    if (trace_writer_finish(h->tw, &chunks, &n)) goto out;
    for (size_t i = 0; i < n; i++) {
      struct model_trace *t = model_push(m, traces);
      if (!t) {
        for (size_t j = i; j < n; j++) free(chunks[j].data);
        free(chunks);
        goto out;
      }
      t->data = chunks[i].data;
      t->len = chunks[i].len;
      t->requests = chunks[i].requests;
      t->raw_bytes = chunks[i].raw_bytes;
    }
    free(chunks);
    if (model_meta_set_i64(m, "trace_requests", (int64_t)h->trace_requests) ||
        model_meta_set_i64(m, "trace_sessions", (int64_t)h->max_session))
      goto out;
  }
  rc = 0;
out:
  if (a)
    for (size_t i = 0; i < ne; i++) {
      topk_free(a[i].hdr[0]);
      topk_free(a[i].hdr[1]);
      topk_free(a[i].host);
    }
  free(a);
  free(shapes);
  return rc;
}
