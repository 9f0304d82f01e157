#include "jpath.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define KEY_MAX 256

/* One step of a path at p: a key (*key, *klen) or "[]" (*key NULL).
 * Returns the rest, or NULL when p is not a step. */
static const char *step(const char *p, const char **key, size_t *klen) {
  if (p[0] == '[' && p[1] == ']') {
    *key = NULL;
    *klen = 0;
    return p + 2;
  }
  if (p[0] != '.') return NULL;
  p++;
  size_t n = strcspn(p, ".[");
  if (n == 0 || n >= KEY_MAX) return NULL;
  *key = p;
  *klen = n;
  return p + n;
}

json_t *jpath_get(const json_t *root, const char *path) {
  if (!root || !path || path[0] != '$') return NULL;
  const char *p = path + 1;
  json_t *v = (json_t *)root;
  while (*p && v) {
    const char *key;
    size_t klen;
    if (!(p = step(p, &key, &klen))) return NULL;
    if (!key) {
      v = json_is_array(v) ? json_array_get(v, 0) : NULL;
    } else {
      char k[KEY_MAX];
      memcpy(k, key, klen);
      k[klen] = '\0';
      v = json_is_object(v) ? json_object_get(v, k) : NULL;
    }
  }
  return v;
}

/* A container for the step at p: an array for "[]", else an object. */
static json_t *container_for(const char *p) {
  return p[0] == '[' ? json_array() : json_object();
}

/* Puts val (borrowed) at path p below node. */
static int set_at(json_t *node, const char *p, json_t *val, int depth) {
  const char *key;
  size_t klen;
  const char *rest = step(p, &key, &klen);
  if (!rest || depth > 32) return ERR_PARSE;
  if (key) {
    if (!json_is_object(node)) return ERR_PARSE;
    char k[KEY_MAX];
    memcpy(k, key, klen);
    k[klen] = '\0';
    if (!*rest) return json_object_set(node, k, val) ? -ENOMEM : 0;
    json_t *child = json_object_get(node, k);
    if (!child || json_is_null(child)) {
      child = container_for(rest);
      if (!child || json_object_set_new(node, k, child)) return -ENOMEM;
    }
    return set_at(child, rest, val, depth + 1);
  }
  if (!json_is_array(node)) return ERR_PARSE;
  if (json_array_size(node) == 0) {
    json_t *el = *rest ? container_for(rest) : json_incref(val);
    if (!el || json_array_append_new(node, el)) return -ENOMEM;
    if (!*rest) return 0;
  }
  for (size_t i = 0; i < json_array_size(node); i++) {
    int rc = !*rest ? (json_array_set(node, i, val) ? -ENOMEM : 0)
                    : set_at(json_array_get(node, i), rest, val, depth + 1);
    if (rc) return rc;
  }
  return 0;
}

int jpath_set_new(json_t *root, const char *path, json_t *val) {
  int rc = ERR_PARSE;
  if (!val) return -ENOMEM;
  if (root && path && path[0] == '$' && path[1])
    rc = set_at(root, path + 1, val, 0);
  json_decref(val);
  return rc;
}

size_t jpath_text(const json_t *v, char *out, size_t cap, int *numeric) {
  char num[40];
  const char *s = NULL;
  size_t n = 0;
  int isnum = 0;
  if (json_is_string(v)) {
    s = json_string_value(v);
    n = json_string_length(v);
  } else if (json_is_integer(v)) {
    n = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
    s = num;
    isnum = 1;
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    for (int prec = 1; prec <= 17; prec++) {
      n = (size_t)snprintf(num, sizeof num, "%.*g", prec, d);
      if (strtod(num, NULL) == d) break;
    }
    s = num;
    isnum = 1;
  }
  if (!s || n == 0 || n + 1 > cap) return 0;
  memcpy(out, s, n);
  out[n] = '\0';
  if (numeric) *numeric = isnum;
  return n;
}

const char *jpath_last_key(const char *path, size_t *len) {
  const char *dot = strrchr(path, '.');
  const char *k = dot ? dot + 1 : path + strlen(path);
  size_t n = strlen(k);
  while (n >= 2 && k[n - 2] == '[' && k[n - 1] == ']') n -= 2;
  *len = n;
  return k;
}
