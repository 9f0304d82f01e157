/* generic: the fallback for formats nobody described. A line is usable
 * when it has a quoted request line, a timestamp somewhere (bracketed CLF
 * or ISO 8601) and a status after the request. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

static int is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

static int is_alnum(char c) {
  return logfmt_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A request line is among the first quoted fields of a line; trying every
 * quote of a hostile line would cost O(n^2). */
#define REQUEST_TRIES 32

/* First quoted "METHOD target [proto]" that parses as a request. */
static int find_request(const char *line, const char *e, struct logrec *r,
                        const char **end) {
  const char *q = line, *c = NULL;
  int tries = 0;
  while (q < e && tries < REQUEST_TRIES &&
         (q = memchr(q, '"', (size_t)(e - q))) != NULL) {
    const char *s = q + 1;
    if (s < e && is_upper(*s)) {
      /* The closing quote found for an earlier start is also the first
       * one after this start when it lies beyond it: reusing it keeps
       * lines like "A"A"A..." linear. None for an earlier start means
       * none for any later one. */
      if (!c || c < s) c = logfmt_qend(s, e);
      if (!c) break;
      tries++;
      if (logrec_parse_request(r, s, (size_t)(c - s), NULL) == 0) {
        *end = c;
        return 0;
      }
    }
    q++;
  }
  return ERR_PARSE;
}

/* A timestamp in [a, e): "[10/Oct/2000:13:55:36 -0700]" or ISO 8601. */
static int find_time(const char *a, const char *e, struct logrec *r) {
  size_t used;
  for (const char *p = a; p + 1 < e; p++) {
    if (*p == '[' && logfmt_is_digit(p[1]) &&
        logtime_clf(p + 1, (size_t)(e - p - 1), &r->ts_us, &used) == 0) {
      r->ts_res_us = logtime_resolution(p + 1, used);
      return 0;
    }
  }
  for (const char *p = a; e - p >= 16; p++) {
    if (p[4] != '-' || p[7] != '-' || !logfmt_is_digit(p[0]) ||
        (p > a && logfmt_is_digit(p[-1])))
      continue;
    if (logtime_iso8601(p, (size_t)(e - p), &r->ts_us, &used) == 0) {
      r->ts_res_us = logtime_resolution(p, used);
      return 0;
    }
  }
  r->ts_us = LOGREC_NO_TIME;
  return ERR_PARSE;
}

/* An address or host name: [A-Za-z0-9.:_-], with a letter or digit, and
 * not a date (a line may start with its timestamp). */
static int looks_like_host(const char *p, size_t len) {
  int alnum = 0;
  if (len == 0 || len > 255) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (is_alnum(c))
      alnum = 1;
    else if (c != '.' && c != ':' && c != '-' && c != '_')
      return 0;
  }
  if (len >= 5 && logfmt_is_digit(p[0]) && p[4] == '-') return 0;
  return alnum;
}

static int generic_parse(struct logfmt *f, const char *line, size_t len,
                         struct logrec *r, const char **why) {
  (void)f;
  const char *e = line + len, *rqe;
  if (find_request(line, e, r, &rqe) < 0) {
    *why = "no request line";
    return ERR_PARSE;
  }
  /* The time is looked for around the request, never inside it (a query
   * string can hold dates). */
  const char *rq = r->method.p;
  if (find_time(line, rq, r) < 0 && find_time(rqe, e, r) < 0) {
    *why = "no time";
    return ERR_PARSE;
  }
  /* Status: the first three-digit field of 100..599 after the request;
   * the field after it is the byte count when numeric. */
  const char *p = rqe + 1;
  struct slice tok;
  int quoted, rc;
  while ((rc = logfmt_field(&p, e, &tok, &quoted)) == 1) {
    if (quoted) continue;
    int st = logfmt_status(tok.p, tok.len);
    if (st < 0) continue;
    r->status = st;
    if (logfmt_field(&p, e, &tok, &quoted) == 1 && !quoted)
      r->resp_bytes =
          tok.len == 1 && tok.p[0] == '-' ? 0 : logfmt_uint(tok.p, tok.len);
    break;
  }
  if (r->status == 0) {
    *why = "no status";
    return ERR_PARSE;
  }
  const char *sp = line;
  while (sp < e && *sp != ' ' && *sp != '\t') sp++;
  if (looks_like_host(line, (size_t)(sp - line))) {
    r->client.p = line;
    r->client.len = (size_t)(sp - line);
  }
  return LOGFMT_OK;
}

void logfmt_generic_init(struct logfmt *f) {
  f->name = "generic";
  f->parse = generic_parse;
  snprintf(f->desc, sizeof f->desc,
           "generic (quoted request line, timestamp, status)");
}
