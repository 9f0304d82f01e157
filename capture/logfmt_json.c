/* json: one JSON object per line (nginx escape=json formats, app loggers).
 * Keys are found by name from default lists, overridable with json_map.
 * Values are copied into the logfmt's arena, so the parsed tree is freed
 * before logfmt_parse returns and slices live until the next call. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

#define KEYS_MAX 12

enum jfield {
  JF_TIME,
  JF_CLIENT,
  JF_USER,
  JF_REQUEST,
  JF_METHOD,
  JF_PATH,
  JF_QUERY,
  JF_STATUS,
  JF_BYTES,
  JF_UA,
  JF_REFERER,
  JF_LATENCY_S,
  JF_LATENCY_MS,
  JF_LATENCY_US,
  JF_HOST,
  JF_SESSION,
  JF_MAPPABLE, /* fields below cannot be named in json_map */
  JF_XFF = JF_MAPPABLE,
  JF_COOKIE,
  JF_COUNT,
};

static const char *const field_names[JF_MAPPABLE] = {
    "time",       "client",     "user",  "request", "method",  "path",
    "query",      "status",     "bytes", "ua",      "referer", "latency_s",
    "latency_ms", "latency_us", "host",  "session",
};

static const char *const default_keys[JF_COUNT][KEYS_MAX] = {
    [JF_TIME] = {"time_local", "time_iso8601", "@timestamp", "timestamp",
                 "time", "ts", "msec"},
    [JF_CLIENT] = {"remote_addr", "client_ip", "clientip", "ip", "remote_ip"},
    [JF_USER] = {"remote_user", "user"},
    [JF_REQUEST] = {"request"},
    [JF_METHOD] = {"method", "request_method"},
    [JF_PATH] = {"request_uri", "uri", "path", "url"},
    [JF_QUERY] = {"args", "query_string", "query"},
    [JF_STATUS] = {"status", "status_code"},
    [JF_BYTES] = {"body_bytes_sent", "bytes_sent", "bytes", "size",
                  "response_size"},
    [JF_UA] = {"http_user_agent", "user_agent", "agent"},
    [JF_REFERER] = {"http_referer", "referer", "referrer"},
    [JF_LATENCY_S] = {"request_time"},
    [JF_LATENCY_MS] = {"duration_ms", "response_time_ms"},
    [JF_LATENCY_US] = {"duration_us"},
    [JF_HOST] = {"host", "http_host", "server_name"},
    [JF_XFF] = {"http_x_forwarded_for"},
};

struct jkey {
  const char *name; /* NUL-terminated, in jfmt.text */
  size_t len;
};

struct jfmt {
  struct jkey keys[JF_COUNT][KEYS_MAX];
  size_t nkeys[JF_COUNT];
  char *text; /* owned storage for key names that are not static */
  size_t text_len, text_cap;
};

static void jfmt_free(void *p) {
  struct jfmt *j = p;
  if (!j) return;
  free(j->text);
  free(j);
}

static logfmt_parse_fn json_parse;

/* Appends a key name to the owned storage; the storage never moves because
 * its size is fixed up front. */
static const char *store(struct jfmt *j, const char *p, size_t len) {
  if (j->text_cap - j->text_len < len + 1) return NULL;
  char *d = j->text + j->text_len;
  memcpy(d, p, len);
  d[len] = '\0';
  j->text_len += len + 1;
  return d;
}

/* pre + p[0..len), with '-' written as '_' when underscores (nginx
 * variable names for headers). */
static const char *store_joined(struct jfmt *j, const char *pre, const char *p,
                                size_t len, int underscores) {
  size_t pl = strlen(pre);
  if (j->text_cap - j->text_len < pl + len + 1) return NULL;
  char *d = j->text + j->text_len;
  memcpy(d, pre, pl);
  for (size_t i = 0; i < len; i++)
    d[pl + i] = underscores && p[i] == '-' ? '_' : p[i];
  d[pl + len] = '\0';
  j->text_len += pl + len + 1;
  return d;
}

static void add_key(struct jfmt *j, enum jfield fld, const char *name,
                    size_t len) {
  if (!name || j->nkeys[fld] == KEYS_MAX || len == 0) return;
  j->keys[fld][j->nkeys[fld]].name = name;
  j->keys[fld][j->nkeys[fld]].len = len;
  j->nkeys[fld]++;
}

/* "field=key|alt,field=key": each named field gets exactly these keys. */
static int apply_map(struct jfmt *j, const char *map, char *err,
                     size_t errlen) {
  int set[JF_MAPPABLE] = {0};
  const char *p = map;
  while (*p) {
    while (*p == ',' || *p == ' ') p++;
    if (!*p) break;
    const char *eq = p;
    while (*eq && *eq != '=' && *eq != ',') eq++;
    if (*eq != '=') {
      logfmt_set_err(err, errlen, "json_map: '%.*s' is not field=key",
                     (int)(eq - p), p);
      return ERR_USAGE;
    }
    int fld = -1;
    for (int i = 0; i < JF_MAPPABLE; i++)
      if (strlen(field_names[i]) == (size_t)(eq - p) &&
          !memcmp(field_names[i], p, (size_t)(eq - p)))
        fld = i;
    if (fld < 0) {
      logfmt_set_err(err, errlen,
                     "json_map: unknown field '%.*s' (fields: time client "
                     "user request method path query status bytes ua "
                     "referer latency_s latency_ms latency_us host session)",
                     (int)(eq - p), p);
      return ERR_USAGE;
    }
    if (!set[fld]) j->nkeys[fld] = 0;
    set[fld] = 1;
    p = eq + 1;
    while (*p && *p != ',') {
      const char *k = p;
      while (*p && *p != ',' && *p != '|') p++;
      const char *name = store(j, k, (size_t)(p - k));
      if (!name) return -ENOMEM;
      add_key(j, (enum jfield)fld, name, (size_t)(p - k));
      if (*p == '|') p++;
    }
  }
  /* A mapped unit of latency, or a request given in parts, must not be
   * shadowed by a default key of another kind. */
  if (set[JF_LATENCY_S] || set[JF_LATENCY_MS] || set[JF_LATENCY_US]) {
    if (!set[JF_LATENCY_S]) j->nkeys[JF_LATENCY_S] = 0;
    if (!set[JF_LATENCY_MS]) j->nkeys[JF_LATENCY_MS] = 0;
    if (!set[JF_LATENCY_US]) j->nkeys[JF_LATENCY_US] = 0;
  }
  if ((set[JF_METHOD] || set[JF_PATH]) && !set[JF_REQUEST])
    j->nkeys[JF_REQUEST] = 0;
  return 0;
}

int logfmt_json_compile(struct logfmt *f, const char *map, char *err,
                        size_t errlen) {
  struct jfmt *j = calloc(1, sizeof *j);
  int rc = 0;
  if (!j) return -ENOMEM;
  /* Key names plus a NUL each: at most twice the map's length. */
  size_t need = 2 * (map ? strlen(map) : 0) +
                2 * (f->session_header_len + f->session_cookie_len) + 64;
  j->text = malloc(need);
  if (!j->text) {
    rc = -ENOMEM;
    goto out;
  }
  j->text_cap = need;
  for (int i = 0; i < JF_COUNT; i++)
    for (int k = 0; k < KEYS_MAX && default_keys[i][k]; k++)
      add_key(j, (enum jfield)i, default_keys[i][k],
              strlen(default_keys[i][k]));
  /* Session: the header as nginx names it ($http_x_session), the header
   * itself, and nginx's $cookie_NAME. */
  if (f->session_header) {
    const char *k =
        store_joined(j, "http_", f->session_header, f->session_header_len, 1);
    add_key(j, JF_SESSION, k, 5 + f->session_header_len);
    k = store_joined(j, "", f->session_header, f->session_header_len, 0);
    add_key(j, JF_SESSION, k, f->session_header_len);
  }
  if (f->session_cookie) {
    const char *k =
        store_joined(j, "cookie_", f->session_cookie, f->session_cookie_len, 0);
    add_key(j, JF_SESSION, k, 7 + f->session_cookie_len);
    add_key(j, JF_COOKIE, "http_cookie", 11);
    add_key(j, JF_COOKIE, "cookie", 6);
  }
  if (map && *map) rc = apply_map(j, map, err, errlen);
  if (rc < 0) goto out;
  f->name = "json";
  snprintf(f->desc, sizeof f->desc, "JSON lines%s%.100s",
           map && *map ? ", map " : "", map ? map : "");
  f->parse = json_parse;
  f->impl = j;
  f->impl_free = jfmt_free;
  j = NULL;
out:
  jfmt_free(j);
  return rc;
}

/* The value of key k: a top-level member of that exact name first, else a
 * dotted path into nested objects ("request.method"). */
static json_t *get(json_t *root, const struct jkey *k) {
  json_t *v = json_object_getn(root, k->name, k->len);
  if (v || !memchr(k->name, '.', k->len)) return v;
  const char *p = k->name, *e = k->name + k->len;
  v = root;
  while (v && p < e) {
    const char *dot = memchr(p, '.', (size_t)(e - p));
    if (!dot) dot = e;
    v = json_is_object(v) ? json_object_getn(v, p, (size_t)(dot - p)) : NULL;
    p = dot + 1;
  }
  return v;
}

static json_t *find(const struct jfmt *j, json_t *root, enum jfield fld,
                    size_t *which) {
  for (size_t i = 0; i < j->nkeys[fld]; i++) {
    json_t *v = get(root, &j->keys[fld][i]);
    if (v && !json_is_null(v)) {
      if (which) *which = i;
      return v;
    }
  }
  return NULL;
}

/* Text of a string or number value, copied into the arena. */
static int text(struct logfmt *f, json_t *v, struct slice *out) {
  char buf[64];
  const char *p;
  size_t len;
  if (json_is_string(v)) {
    p = json_string_value(v);
    len = json_string_length(v);
  } else if (json_is_integer(v)) {
    len = (size_t)snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                           json_integer_value(v));
    p = buf;
  } else {
    return 0;
  }
  char *d = logfmt_arena_put(f, p, len);
  if (!d) return 0;
  *out = logfmt_dash(d, len);
  return 1;
}

/* A number of `unit` microseconds (1000000 for seconds) from a JSON number
 * or numeric string; -1 when absent or not a sane number. */
static int64_t scaled(json_t *v, int64_t unit) {
  double x;
  if (!v) return -1;
  if (json_is_integer(v)) {
    x = (double)json_integer_value(v);
  } else if (json_is_real(v)) {
    x = json_real_value(v);
  } else if (json_is_string(v)) {
    int64_t s = logfmt_seconds_us(json_string_value(v), json_string_length(v));
    /* s is the value times 10^6; unit divides 10^6. */
    return s < 0 ? -1 : s / (1000000 / unit);
  } else {
    return -1;
  }
  if (!(x >= 0) || x > 1e12) return -1;
  return (int64_t)(x * (double)unit + 0.5);
}

/* Epoch numbers: seconds, or milliseconds / microseconds when they are too
 * large to be seconds of this era. */
static int epoch_number(json_t *v, int64_t *us, int64_t *res) {
  double x =
      json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
  if (!(x >= 0) || x >= 1e17) return -1;
  if (x >= 1e14) {
    *us = (int64_t)x;
    *res = 1;
  } else if (x >= 1e11) {
    *us = (int64_t)(x * 1000);
    *res = 1000;
  } else {
    *us = (int64_t)(x * 1e6);
    *res = json_is_integer(v) ? 1000000 : 1000;
  }
  return 0;
}

static int json_time(const struct jfmt *j, json_t *root, struct logrec *r,
                     const char **why) {
  size_t which = 0;
  json_t *v = find(j, root, JF_TIME, &which);
  if (!v) {
    *why = "no time";
    return ERR_PARSE;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), used;
    if (logtime_any(s, len, &r->ts_us, &used) < 0 || used != len) {
      r->ts_us = LOGREC_NO_TIME;
      *why = "bad time";
      return ERR_PARSE;
    }
    r->ts_res_us = logtime_resolution(s, len);
  } else if (json_is_number(v)) {
    if (epoch_number(v, &r->ts_us, &r->ts_res_us) < 0) {
      *why = "bad time";
      return ERR_PARSE;
    }
  } else {
    *why = "bad time";
    return ERR_PARSE;
  }
  /* nginx's own variables: it logs when the response is done. */
  const char *k = j->keys[JF_TIME][which].name;
  r->ts_is_end = !strcmp(k, "time_local") || !strcmp(k, "time_iso8601") ||
                 !strcmp(k, "msec");
  return 0;
}

static int json_request(struct logfmt *f, const struct jfmt *j, json_t *root,
                        struct logrec *r, const char **why) {
  struct slice s = {"", 0}, m = {"", 0}, q = {"", 0};
  json_t *v = find(j, root, JF_REQUEST, NULL);
  if (v && text(f, v, &s)) return logrec_parse_request(r, s.p, s.len, why);
  v = find(j, root, JF_METHOD, NULL);
  if (!v || !text(f, v, &m) || m.len == 0) {
    *why = "no request line";
    return ERR_PARSE;
  }
  if (logrec_set_method(r, m.p, m.len) < 0) {
    *why = "bad method";
    return ERR_PARSE;
  }
  v = find(j, root, JF_PATH, NULL);
  if (!v || !text(f, v, &s) || s.len == 0) {
    *why = "no request target";
    return ERR_PARSE;
  }
  if (logrec_set_target(r, s.p, s.len) < 0) {
    *why = "bad request target";
    return ERR_PARSE;
  }
  v = find(j, root, JF_QUERY, NULL);
  if (r->query.len == 0 && v && text(f, v, &q)) {
    if (q.len && q.p[0] == '?') {
      q.p++;
      q.len--;
    }
    r->query = q;
  }
  return 0;
}

static int json_parse(struct logfmt *f, const char *line, size_t len,
                      struct logrec *r, const char **why) {
  const struct jfmt *j = f->impl;
  json_error_t jerr;
  json_t *root = NULL, *v;
  struct slice s;
  int rc = ERR_PARSE;
  if (line[0] != '{') {
    *why = "not a JSON object";
    return ERR_PARSE;
  }
  /* Unescaped strings are never longer than their JSON text; a value may
   * be read for two fields, and numbers rendered as text need a little
   * more. A value that does not fit is left absent. */
  if (logfmt_arena_reset(f, 2 * len + 16 * 64) < 0) {
    *why = "out of memory";
    return ERR_PARSE;
  }
  root = json_loadb(line, len, 0, &jerr);
  if (!root || !json_is_object(root)) {
    *why = root ? "not a JSON object" : "bad JSON";
    goto out;
  }
  if (json_time(j, root, r, why) < 0) goto out;
  if (json_request(f, j, root, r, why) < 0) goto out;
  if ((v = find(j, root, JF_STATUS, NULL)) != NULL) {
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    if (json_is_integer(v))
      r->status = n >= 100 && n <= 599 ? (int)n : -1;
    else if (json_is_string(v))
      r->status = logfmt_status(json_string_value(v), json_string_length(v));
    else
      r->status = -1;
    if (r->status < 0) {
      *why = "bad status";
      goto out;
    }
  }
  if ((v = find(j, root, JF_BYTES, NULL)) != NULL) {
    if (json_is_integer(v) && json_integer_value(v) >= 0)
      r->resp_bytes = json_integer_value(v);
    else if (json_is_string(v) && text(f, v, &s))
      r->resp_bytes = s.len ? logfmt_uint(s.p, s.len) : 0;
  }
  if ((v = find(j, root, JF_LATENCY_S, NULL)) != NULL)
    r->latency_us = scaled(v, 1000000);
  else if ((v = find(j, root, JF_LATENCY_MS, NULL)) != NULL)
    r->latency_us = scaled(v, 1000);
  else if ((v = find(j, root, JF_LATENCY_US, NULL)) != NULL)
    r->latency_us = scaled(v, 1);
  if ((v = find(j, root, JF_CLIENT, NULL)) != NULL) text(f, v, &r->client);
  if ((v = find(j, root, JF_USER, NULL)) != NULL) text(f, v, &r->user);
  if ((v = find(j, root, JF_UA, NULL)) != NULL) text(f, v, &r->ua);
  if ((v = find(j, root, JF_REFERER, NULL)) != NULL) text(f, v, &r->referer);
  if (r->host.len == 0 && (v = find(j, root, JF_HOST, NULL)) != NULL)
    text(f, v, &r->host);
  if ((v = find(j, root, JF_SESSION, NULL)) != NULL) text(f, v, &r->session);
  /* Behind a local proxy remote_addr is loopback; the client is the first
   * X-Forwarded-For address, when there is one. */
  if ((r->client.len == 0 || logfmt_is_loopback(r->client.p, r->client.len)) &&
      (v = find(j, root, JF_XFF, NULL)) != NULL && text(f, v, &s)) {
    struct slice x = logfmt_xff_first(s.p, s.len);
    if (x.len) r->client = x;
  }
  if (r->session.len == 0 && f->session_cookie &&
      (v = find(j, root, JF_COOKIE, NULL)) != NULL && text(f, v, &s))
    logfmt_cookie(s.p, s.len, f->session_cookie, f->session_cookie_len,
                  &r->session);
  rc = LOGFMT_OK;
out:
  json_decref(root);
  return rc;
}
