#include "logrec.h"

#include <string.h>

#include "err.h"

#define METHOD_MAX 16
#define PROTO_MAX 16

/* Absent slices point at "" rather than NULL so that callers may pass them
 * to memcmp/memcpy with their zero length (NULL there is undefined). */
static const struct logrec blank = {
    .ts_us = LOGREC_NO_TIME,
    .ts_is_end = 0,
    .ts_res_us = 0,
    .client = {"", 0},
    .user = {"", 0},
    .method = {"", 0},
    .path = {"", 0},
    .query = {"", 0},
    .proto = {"", 0},
    .host = {"", 0},
    .referer = {"", 0},
    .ua = {"", 0},
    .session = {"", 0},
    .status = 0,
    .resp_bytes = -1,
    .req_bytes = -1,
    .latency_us = -1,
};

void logrec_clear(struct logrec *r) {
  *r = blank;
}

static int is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

static int is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Origin-form "/p?q#f": the fragment never reaches a server, so a logged
 * one is dropped rather than glued to the query. */
static void set_origin(struct logrec *r, const char *p, size_t len) {
  const char *hash = memchr(p, '#', len);
  if (hash) len = (size_t)(hash - p);
  const char *q = memchr(p, '?', len);
  if (q) {
    r->path.p = p;
    r->path.len = (size_t)(q - p);
    r->query.p = q + 1;
    r->query.len = len - r->path.len - 1;
  } else {
    r->path.p = p;
    r->path.len = len;
  }
}

/* The scheme's default port says nothing a Host header would: drop it so
 * "https://h:443/" and "Host: h" name the same host. */
static int scheme_is(const char *s, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] | 0x20) != name[i]) return 0;
  return 1;
}

static size_t strip_default_port(const char *scheme, size_t slen, const char *h,
                                 size_t hlen) {
  const char *port = NULL;
  if (scheme_is(scheme, slen, "http") || scheme_is(scheme, slen, "ws"))
    port = ":80";
  else if (scheme_is(scheme, slen, "https") || scheme_is(scheme, slen, "wss"))
    port = ":443";
  if (port) {
    size_t pl = strlen(port);
    if (hlen > pl && memcmp(h + hlen - pl, port, pl) == 0) return hlen - pl;
  }
  return hlen;
}

int logrec_set_target(struct logrec *r, const char *p, size_t len) {
  if (len == 0) return ERR_PARSE;
  if (p[0] == '/') {
    set_origin(r, p, len);
    return 0;
  }
  /* Absolute-form: scheme "://" authority [path-abempty] [? query]. */
  size_t i = 0;
  while (i < len && i < 16 && is_alpha(p[i])) i++;
  if (i == 0 || len - i < 3 || memcmp(p + i, "://", 3) != 0) return ERR_PARSE;
  const char *scheme = p;
  size_t slen = i;
  size_t a = i + 3, b = a;
  while (b < len && p[b] != '/' && p[b] != '?' && p[b] != '#') b++;
  if (b == a) return ERR_PARSE;
  const char *at = NULL;
  for (size_t k = a; k < b; k++)
    if (p[k] == '@') at = p + k;
  const char *h = at ? at + 1 : p + a;
  size_t hlen = (size_t)(p + b - h);
  if (hlen == 0) return ERR_PARSE;
  if (r->host.len == 0) {
    r->host.p = h;
    r->host.len = strip_default_port(scheme, slen, h, hlen);
  }
  if (b < len && p[b] == '/') {
    set_origin(r, p + b, len - b);
  } else {
    /* No path: the request was for "/"; the slice is a static string. */
    r->path.p = "/";
    r->path.len = 1;
    if (b < len && p[b] == '?') {
      size_t e = b + 1;
      while (e < len && p[e] != '#') e++;
      r->query.p = p + b + 1;
      r->query.len = e - b - 1;
    }
  }
  return 0;
}

int logrec_set_method(struct logrec *r, const char *p, size_t len) {
  if (len == 0 || len > METHOD_MAX) return ERR_PARSE;
  for (size_t i = 0; i < len; i++)
    if (!is_upper(p[i])) return ERR_PARSE;
  r->method.p = p;
  r->method.len = len;
  return 0;
}

int logrec_parse_request(struct logrec *r, const char *p, size_t len,
                         const char **reason) {
  const char *why = NULL;
  size_t i = 0;
  /* "-", "- - HTTP/1.0", TLS handshakes logged as "\x16\x03..." and other
   * junk do not start with a letter: there was no request line at all. */
  if (len == 0 || !is_alpha(p[0])) {
    why = "no request line";
    goto fail;
  }
  while (i < len && i <= METHOD_MAX && is_upper(p[i])) i++;
  if (i == 0 || i > METHOD_MAX || (i < len && p[i] != ' ')) {
    why = "bad method";
    goto fail;
  }
  size_t mlen = i;
  while (i < len && p[i] == ' ') i++;
  size_t end = len;
  while (end > i && p[end - 1] == ' ') end--;
  if (i == end) {
    why = "no request target";
    goto fail;
  }
  /* The protocol is the last word when it says HTTP/; a target with raw
   * spaces (a malformed but logged request) keeps them. Without one this
   * is an HTTP/0.9 simple request, still a request. A protocol is short:
   * looking further back would make scanners that try many starts in one
   * line quadratic. */
  size_t tend = end, ps = end;
  size_t stop = end - i > PROTO_MAX ? end - PROTO_MAX : i;
  for (size_t k = end; k > stop; k--) {
    if (p[k - 1] == ' ') {
      ps = k;
      break;
    }
  }
  if (ps < end && end - ps >= 5 && memcmp(p + ps, "HTTP/", 5) == 0) {
    tend = ps - 1;
    while (tend > i && p[tend - 1] == ' ') tend--;
  } else {
    ps = end;
  }
  if (tend == i) {
    why = "no request target";
    goto fail;
  }
  /* logrec_set_target changes nothing when it fails, so a refused line
   * leaves *r as it was. */
  if (logrec_set_target(r, p + i, tend - i) < 0) {
    why = "bad request target";
    goto fail;
  }
  r->method.p = p;
  r->method.len = mlen;
  if (ps < end) {
    r->proto.p = p + ps;
    r->proto.len = end - ps;
  }
  return 0;
fail:
  if (reason) *reason = why;
  return ERR_PARSE;
}

int logrec_set_request(struct logrec *r, const char *p, size_t len) {
  return logrec_parse_request(r, p, len, NULL);
}
