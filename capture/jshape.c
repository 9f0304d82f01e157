#include "jshape.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "redact.h"
#include "topk.h"
#include "urlenc.h"

#define MAX_FIELDS 128 /* paths kept per endpoint and direction */
#define MAX_DEPTH 8    /* deeper values are not walked */
#define MAX_ITEMS 8    /* array elements walked (the shape, not the data) */
#define POOL 16        /* values kept per field */
#define VALUE_MAX 64   /* longer values are cut */
#define PATH_MAX_ 256
#define SAMPLE_AFTER 256 /* bodies learned before sampling starts */
#define SAMPLE 16        /* ... then one in SAMPLE */

struct field {
  char *path;
  unsigned types;
  uint64_t count, redacted, last_body;
  struct topk *pool;
};

struct jshape {
  uint64_t salt[2];
  uint64_t bodies, invalid, seen;
  struct field *f;
  size_t n, cap;
};

int jshape_new(const uint64_t salt[2], struct jshape **out) {
  struct jshape *j = calloc(1, sizeof *j);
  if (!j) return -ENOMEM;
  j->salt[0] = salt[0];
  j->salt[1] = salt[1];
  *out = j;
  return 0;
}

void jshape_free(struct jshape *j) {
  if (!j) return;
  for (size_t i = 0; i < j->n; i++) {
    free(j->f[i].path);
    topk_free(j->f[i].pool);
  }
  free(j->f);
  free(j);
}

int jshape_secret_key(const char *key, size_t len) {
  return redact_is_secret_name(key, len);
}

static struct field *field_get(struct jshape *j, const char *path) {
  for (size_t i = 0; i < j->n; i++)
    if (strcmp(j->f[i].path, path) == 0) return &j->f[i];
  if (j->n >= MAX_FIELDS) return NULL;
  if (j->n == j->cap) {
    size_t nc = j->cap ? j->cap * 2 : 16;
    struct field *nf = realloc(j->f, nc * sizeof *nf);
    if (!nf) return NULL;
    j->f = nf;
    j->cap = nc;
  }
  struct field *f = &j->f[j->n];
  memset(f, 0, sizeof *f);
  f->path = strdup(path);
  if (!f->path || topk_new(POOL, &f->pool)) {
    free(f->path);
    return NULL;
  }
  j->n++;
  return f;
}

/* Records one value (text form v) at path: its type, presence, pool. */
static int note(struct jshape *j, const char *path, unsigned type,
                const char *v, size_t vlen, int secret_key) {
  struct field *f = field_get(j, path);
  if (!f) return j->n >= MAX_FIELDS ? 0 : -ENOMEM;
  f->types |= type;
  if (f->last_body != j->bodies) {
    f->last_body = j->bodies;
    f->count++;
  }
  if (!v) return 0;
  if (vlen > VALUE_MAX) vlen = VALUE_MAX;
  char fake[VALUE_MAX + 64];
  if (vlen &&
      (secret_key || (type == JS_STRING && redact_is_secret_value(v, vlen)))) {
    vlen = redact_fake(j->salt, v, vlen, fake, sizeof fake);
    v = fake;
    f->redacted++;
  }
  return topk_add(f->pool, v, vlen, 1);
}

static const char *last_key(const char *path, size_t *len) {
  const char *dot = strrchr(path, '.');
  const char *k = dot ? dot + 1 : path;
  size_t n = strlen(k);
  if (n >= 2 && strcmp(k + n - 2, "[]") == 0) n -= 2;
  *len = n;
  return k;
}

static int walk(struct jshape *j, json_t *v, char *path, size_t plen,
                int depth) {
  size_t kl;
  const char *k = last_key(path, &kl);
  int secret = jshape_secret_key(k, kl);
  char num[64];
  switch (json_typeof(v)) {
  case JSON_STRING:
    return note(j, path, JS_STRING, json_string_value(v), json_string_length(v),
                secret);
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return note(j, path, JS_INTEGER, num, strlen(num), secret);
  case JSON_REAL:
    snprintf(num, sizeof num, "%.17g", json_real_value(v));
    return note(j, path, JS_REAL, num, strlen(num), secret);
  case JSON_TRUE: return note(j, path, JS_BOOL, "true", 4, 0);
  case JSON_FALSE: return note(j, path, JS_BOOL, "false", 5, 0);
  case JSON_NULL: return note(j, path, JS_NULL, NULL, 0, 0);
  case JSON_OBJECT: {
    int rc = note(j, path, JS_OBJECT, NULL, 0, 0);
    if (rc || depth >= MAX_DEPTH) return rc;
    const char *key;
    json_t *child;
    json_object_foreach(v, key, child) {
      size_t n = strlen(key);
      if (plen + 1 + n + 1 > PATH_MAX_) continue;
      path[plen] = '.';
      memcpy(path + plen + 1, key, n + 1);
      rc = walk(j, child, path, plen + 1 + n, depth + 1);
      path[plen] = '\0';
      if (rc) return rc;
    }
    return 0;
  }
  case JSON_ARRAY: {
    int rc = note(j, path, JS_ARRAY, NULL, 0, 0);
    if (rc || depth >= MAX_DEPTH || plen + 3 > PATH_MAX_) return rc;
    memcpy(path + plen, "[]", 3);
    for (size_t i = 0; i < json_array_size(v) && i < MAX_ITEMS; i++)
      if ((rc = walk(j, json_array_get(v, i), path, plen + 2, depth + 1)))
        break;
    path[plen] = '\0';
    return rc;
  }
  }
  return 0;
}

static int add_form(struct jshape *j, const char *p, size_t len) {
  const char *end = p + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    const char *name = p;
    size_t nlen = (size_t)((eq ? eq : stop) - p);
    const char *val = eq ? eq + 1 : stop;
    p = amp ? amp + 1 : end;
    if (!nlen || nlen > 64) continue;
    char path[80], dec[VALUE_MAX];
    char nbuf[64];
    size_t nl = urlenc_decode(name, nlen, nbuf, sizeof nbuf);
    snprintf(path, sizeof path, "$.%.*s", (int)nl, nbuf);
    size_t dl = urlenc_decode(val, (size_t)(stop - val), dec, sizeof dec);
    int rc = note(j, path, JS_STRING, dec, dl, jshape_secret_key(nbuf, nl));
    if (rc) return rc;
  }
  return 0;
}

int jshape_add(struct jshape *j, const uint8_t *body, size_t len, int form) {
  /* Shapes settle quickly: past the first bodies, one in SAMPLE is
   * enough (presence and pools are over the bodies learned). */
  if (j->seen++ >= SAMPLE_AFTER && j->seen % SAMPLE) return 0;
  j->bodies++;
  if (form) return add_form(j, (const char *)body, len);
  json_error_t e;
  json_t *root = json_loadb((const char *)body, len,
                            JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
  if (!root && len && body[0] == '%') {
    /* Some clients percent-encode the JSON they send as application/json. */
    char *dec = malloc(len);
    if (!dec) return -ENOMEM;
    size_t dl = urlenc_decode((const char *)body, len, dec, len);
    root = json_loadb(dec, dl, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    free(dec);
  }
  if (!root) {
    j->bodies--;
    j->invalid++;
    return ERR_PARSE;
  }
  char path[PATH_MAX_ + 1] = "$";
  int rc = walk(j, root, path, 1, 0);
  json_decref(root);
  return rc;
}

uint64_t jshape_bodies(const struct jshape *j) {
  return j->bodies;
}

uint64_t jshape_seen(const struct jshape *j) {
  return j->seen;
}

uint64_t jshape_invalid(const struct jshape *j) {
  return j->invalid;
}

size_t jshape_nfields(const struct jshape *j) {
  return j->n;
}

const struct jshape_field *jshape_field(const struct jshape *j, size_t i) {
  static struct jshape_field v;
  if (i >= j->n) return NULL;
  v.path = j->f[i].path;
  v.types = j->f[i].types;
  v.count = j->f[i].count;
  v.redacted = j->f[i].redacted;
  v.pool = j->f[i].pool;
  return &v;
}

const char *jshape_types(unsigned types, char *buf, size_t len) {
  static const char *const names[] = {"string", "integer", "number", "boolean",
                                      "null",   "object",  "array"};
  size_t o = 0;
  buf[0] = '\0';
  for (int i = 0; i < 7; i++) {
    if (!(types & (1u << i))) continue;
    int n = snprintf(buf + o, len - o, "%s%s", o ? "|" : "", names[i]);
    if (n < 0 || (size_t)n >= len - o) break;
    o += (size_t)n;
  }
  return buf;
}
