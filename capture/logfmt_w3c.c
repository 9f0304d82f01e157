/* w3c: W3C extended log format (IIS, and CloudFront-like writers). The
 * columns are whatever the last "#Fields:" directive named, so this format
 * has per-stream state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

#define FIELDS_MAX 256

enum wfield {
  W_SKIP,
  W_DATE,
  W_TIME,
  W_DATETIME,
  W_CIP,
  W_USER,
  W_METHOD,
  W_STEM,
  W_QUERY,
  W_URI,
  W_STATUS,
  W_SCBYTES,
  W_CSBYTES,
  W_TAKEN,
  W_UA,
  W_REFERER,
  W_HOST,
  W_COOKIE,
  W_VERSION,
  W_XFF,
  W_SESSION,
};

struct w3c {
  unsigned char fields[FIELDS_MAX];
  size_t n;
  int have; /* a #Fields: directive was seen */
};

static const struct {
  const char *name;
  enum wfield f;
} names[] = {
    {"date", W_DATE},
    {"time", W_TIME},
    {"date-time", W_DATETIME},
    {"datetime", W_DATETIME},
    {"c-ip", W_CIP},
    {"cs-username", W_USER},
    {"cs-method", W_METHOD},
    {"cs-uri-stem", W_STEM},
    {"cs-uri-query", W_QUERY},
    {"cs-uri", W_URI},
    {"sc-status", W_STATUS},
    {"sc-bytes", W_SCBYTES},
    {"cs-bytes", W_CSBYTES},
    {"time-taken", W_TAKEN},
    {"cs(user-agent)", W_UA},
    {"cs(referer)", W_REFERER},
    {"cs(referrer)", W_REFERER},
    {"cs-host", W_HOST},
    {"cs(host)", W_HOST},
    {"cs(cookie)", W_COOKIE},
    {"cs-version", W_VERSION},
    {"cs(x-forwarded-for)", W_XFF},
};

static int name_is(const char *p, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c != name[i]) return 0;
  }
  return 1;
}

static enum wfield lookup(const struct logfmt *f, const char *p, size_t len) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (name_is(p, len, names[i].name)) return names[i].f;
  /* cs(Header-Name) that is the session header. */
  if (f->session_header && len > 4 && name_is(p, 3, "cs(") &&
      p[len - 1] == ')' &&
      logfmt_name_eq(p + 3, len - 4, f->session_header, f->session_header_len))
    return W_SESSION;
  return W_SKIP;
}

static int directive(struct logfmt *f, struct w3c *w, const char *line,
                     size_t len, const char **why) {
  if (len < 8 || memcmp(line, "#Fields:", 8) != 0) return LOGFMT_DIRECTIVE;
  const char *p = line + 8, *e = line + len;
  size_t n = 0;
  while (p < e) {
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    const char *s = p;
    while (p < e && *p != ' ' && *p != '\t') p++;
    if (p == s) break;
    if (n == FIELDS_MAX) {
      *why = "too many #Fields";
      return ERR_PARSE;
    }
    w->fields[n++] = (unsigned char)lookup(f, s, (size_t)(p - s));
  }
  w->n = n;
  w->have = n > 0;
  snprintf(f->desc, sizeof f->desc, "W3C extended (%zu fields)", n);
  return LOGFMT_DIRECTIVE;
}

/* IIS writes spaces in the user agent as '+'. */
static struct slice plus_to_space(struct logfmt *f, struct slice s) {
  if (!memchr(s.p, '+', s.len)) return s;
  char *d = logfmt_arena_put(f, s.p, s.len);
  if (!d) return s;
  for (size_t i = 0; i < s.len; i++)
    if (d[i] == '+') d[i] = ' ';
  s.p = d;
  return s;
}

static int w3c_parse(struct logfmt *f, const char *line, size_t len,
                     struct logrec *r, const char **why) {
  struct w3c *w = f->impl;
  if (line[0] == '#') return directive(f, w, line, len, why);
  if (!w->have) {
    *why = "no #Fields directive";
    return ERR_PARSE;
  }
  if (logfmt_arena_reset(f, len) < 0) {
    *why = "out of memory";
    return ERR_PARSE;
  }
  struct slice date = {"", 0}, hms = {"", 0}, method = {"", 0}, stem = {"", 0},
               uri = {"", 0}, cookie = {"", 0}, xff = {"", 0};
  const char *p = line, *e = line + len;
  size_t used;
  for (size_t i = 0; i < w->n; i++) {
    struct slice v;
    int quoted;
    if (logfmt_field(&p, e, &v, &quoted) != 1) {
      *why = "missing fields";
      return ERR_PARSE;
    }
    struct slice d = logfmt_dash(v.p, v.len);
    switch ((enum wfield)w->fields[i]) {
    case W_SKIP: break;
    case W_DATE: date = v; break;
    case W_TIME: hms = v; break;
    case W_DATETIME:
      if (logtime_any(v.p, v.len, &r->ts_us, &used) < 0 || used != v.len) {
        r->ts_us = LOGREC_NO_TIME;
        *why = "bad time";
        return ERR_PARSE;
      }
      r->ts_res_us = logtime_resolution(v.p, v.len);
      break;
    case W_CIP: r->client = d; break;
    case W_USER: r->user = d; break;
    case W_METHOD: method = d; break;
    case W_STEM: stem = d; break;
    case W_QUERY: r->query = d; break;
    case W_URI: uri = d; break;
    case W_STATUS:
      r->status = logfmt_status(v.p, v.len);
      if (r->status < 0) {
        *why = "bad status";
        return ERR_PARSE;
      }
      break;
    case W_SCBYTES: r->resp_bytes = logfmt_uint(v.p, v.len); break;
    case W_CSBYTES: r->req_bytes = logfmt_uint(v.p, v.len); break;
    case W_TAKEN:
      /* IIS: integer milliseconds; CloudFront: decimal seconds. */
      if (memchr(v.p, '.', v.len)) {
        r->latency_us = logfmt_seconds_us(v.p, v.len);
      } else {
        int64_t ms = logfmt_uint(v.p, v.len);
        r->latency_us = ms >= 0 && ms < INT64_MAX / 1000 ? ms * 1000 : -1;
      }
      break;
    case W_UA: r->ua = plus_to_space(f, d); break;
    case W_REFERER: r->referer = d; break;
    case W_HOST: r->host = d; break;
    case W_COOKIE: cookie = d; break;
    case W_VERSION: r->proto = d; break;
    case W_XFF: xff = d; break;
    case W_SESSION: r->session = d; break;
    }
  }
  if (r->ts_us == LOGREC_NO_TIME) {
    if (date.len == 0 || hms.len == 0 ||
        logtime_date_time(date.p, date.len, hms.p, hms.len, &r->ts_us) < 0) {
      r->ts_us = LOGREC_NO_TIME;
      *why = date.len && hms.len ? "bad time" : "no time";
      return ERR_PARSE;
    }
    r->ts_res_us = logtime_resolution(hms.p, hms.len);
  }
  if (method.len == 0) {
    *why = "no request line";
    return ERR_PARSE;
  }
  if (logrec_set_method(r, method.p, method.len) < 0) {
    *why = "bad method";
    return ERR_PARSE;
  }
  if (uri.len) {
    struct slice q = r->query;
    if (logrec_set_target(r, uri.p, uri.len) < 0) {
      *why = "bad request target";
      return ERR_PARSE;
    }
    if (r->query.len == 0) r->query = q;
  } else if (stem.len && stem.p[0] == '/') {
    r->path = stem;
  } else {
    *why = "bad request target";
    return ERR_PARSE;
  }
  if (xff.len &&
      (r->client.len == 0 || logfmt_is_loopback(r->client.p, r->client.len))) {
    struct slice x = logfmt_xff_first(xff.p, xff.len);
    if (x.len) r->client = x;
  }
  if (r->session.len == 0 && cookie.len && f->session_cookie)
    logfmt_cookie(cookie.p, cookie.len, f->session_cookie,
                  f->session_cookie_len, &r->session);
  /* IIS logs when the response has been sent. */
  r->ts_is_end = 1;
  return LOGFMT_OK;
}

int logfmt_w3c_init(struct logfmt *f) {
  struct w3c *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  f->name = "w3c";
  snprintf(f->desc, sizeof f->desc, "W3C extended (no #Fields yet)");
  f->parse = w3c_parse;
  f->impl = w;
  f->impl_free = free;
  return 0;
}
