/* The CLF family: clf, combined (+ request time) and ingress-nginx. This is
 * the benchmarked path: one pass over the line with memchr, no allocation,
 * every field a slice of the line. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

struct clf_tail {
  const char *p; /* what follows the user agent (or the bytes field) */
  int has_ua;    /* a quoted referer (and usually user agent) was found */
};

static const char *skip_spaces(const char *p, const char *e) {
  while (p < e && *p == ' ') p++;
  return p;
}

/* Bytes "-" (Apache's %b for none) is 0; returns -2 on junk. */
static int64_t bytes_field(const char *p, size_t len) {
  if (len == 1 && p[0] == '-') return 0;
  int64_t v = logfmt_uint(p, len);
  return v < 0 ? -2 : v;
}

/* The "request" status bytes part. Writers that do not escape quotes
 * (old Apache) can put `" ` inside the request, so a closing quote only
 * counts when a status follows it. On success *p is past the bytes. */
static int request_status_bytes(const char **pp, const char *e,
                                struct logrec *r, const char **why) {
  const char *rq = *pp, *q = rq;
  int quotes = 0;
  for (;;) {
    q = logfmt_qend(q, e);
    if (!q) {
      *why = quotes ? "bad status" : "unterminated request";
      return ERR_PARSE;
    }
    quotes++;
    if (e - q >= 5 && q[1] == ' ' && logfmt_is_digit(q[2])) break;
    if (e - q < 5 || q[1] != ' ') {
      *why = "bad status";
      return ERR_PARSE;
    }
    q++;
  }
  const char *st = q + 2;
  if (e - st > 3 && st[3] != ' ') {
    *why = "bad status";
    return ERR_PARSE;
  }
  int status = logfmt_status(st, 3);
  if (status < 0) {
    *why = "bad status";
    return ERR_PARSE;
  }
  /* st + 3 <= e was checked above; the field is short, so a plain loop
   * (which also keeps GCC's bounds analysis quiet). */
  const char *b = st + 3;
  if (b < e) b++;
  const char *be = b;
  while (be < e && *be != ' ') be++;
  int64_t bytes = bytes_field(b, (size_t)(be - b));
  if (bytes == -2) {
    *why = "bad bytes";
    return ERR_PARSE;
  }
  if (logrec_parse_request(r, rq, (size_t)(q - rq), why) < 0) return ERR_PARSE;
  r->status = status;
  r->resp_bytes = bytes;
  *pp = be;
  return 0;
}

static int clf_scan(const char *s, const char *e, struct logrec *r,
                    const char **why, struct clf_tail *tail) {
  /* The time opens with " [" and a digit; a leading '[' is an IPv6
   * client in brackets, not the time. */
  const char *lb = s + 1;
  for (;;) {
    if (lb >= e || !(lb = memchr(lb, '[', (size_t)(e - lb)))) {
      *why = "no time";
      return ERR_PARSE;
    }
    if (lb[-1] == ' ' && lb + 1 < e && logfmt_is_digit(lb[1])) break;
    lb++;
  }
  /* host ident user, or vhost:port host ident user (Apache's
   * vhost_combined). Further words are a user name with spaces. */
  const char *t[4], *te[4];
  int nt = 0;
  const char *p = s, *pe = lb - 1;
  while (p < pe) {
    if (*p == ' ') {
      p++;
      continue;
    }
    const char *sp = memchr(p, ' ', (size_t)(pe - p));
    if (!sp) sp = pe;
    if (nt < 4) {
      t[nt] = p;
      te[nt] = sp;
    }
    nt++;
    p = sp;
  }
  if (nt < 3) {
    *why = "missing fields";
    return ERR_PARSE;
  }
  const char *user;
  if (nt >= 4 && ((te[2] - t[2] == 1 && t[2][0] == '-') ||
                  memchr(t[0], ':', (size_t)(te[0] - t[0])))) {
    r->host = logfmt_strip_port(t[0], (size_t)(te[0] - t[0]));
    r->client.p = t[1];
    r->client.len = (size_t)(te[1] - t[1]);
    user = t[3];
  } else {
    r->client.p = t[0];
    r->client.len = (size_t)(te[0] - t[0]);
    user = t[2];
  }
  const char *ue = pe;
  while (ue > user && ue[-1] == ' ') ue--;
  r->user = logfmt_dash(user, (size_t)(ue - user));

  size_t used;
  if (logtime_clf(lb + 1, (size_t)(e - lb - 1), &r->ts_us, &used) < 0 ||
      (size_t)(e - lb - 1) <= used || lb[1 + used] != ']') {
    *why = "bad time";
    return ERR_PARSE;
  }
  r->ts_res_us = used > 26 ? logtime_resolution(lb + 1, used) : 1000000;
  p = lb + 2 + used;
  if (e - p < 2 || p[0] != ' ' || p[1] != '"') {
    *why = "no request line";
    return ERR_PARSE;
  }
  p += 2;
  if (request_status_bytes(&p, e, r, why) < 0) return ERR_PARSE;

  /* Optional: numeric extras before the referer (Apache "%b %O"-style
   * configs), then "referer" "user agent". */
  tail->has_ua = 0;
  p = skip_spaces(p, e);
  while (p < e && logfmt_is_digit(*p)) {
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    p = sp ? skip_spaces(sp, e) : e;
  }
  if (p < e && *p == '"') {
    const char *q = logfmt_qend(p + 1, e);
    if (q) {
      r->referer = logfmt_dash(p + 1, (size_t)(q - p - 1));
      tail->has_ua = 1;
      p = skip_spaces(q + 1, e);
      if (p < e && *p == '"') {
        /* A line cut inside the agent (seen in real logs) keeps the
         * agent's text; nothing trails it then. */
        q = logfmt_qend(p + 1, e);
        r->ua = logfmt_dash(p + 1, (size_t)((q ? q : e) - p - 1));
        p = q ? skip_spaces(q + 1, e) : e;
      }
    }
  }
  tail->p = p;
  return 0;
}

static int clf_parse(struct logfmt *f, const char *line, size_t len,
                     struct logrec *r, const char **why) {
  const char *e = line + len;
  struct clf_tail tail;
  if (clf_scan(line, e, r, why, &tail) < 0) return ERR_PARSE;
  if (f->rt_unit == LOGFMT_RT_NONE || !tail.has_ua) return LOGFMT_OK;
  const char *p = tail.p;
  struct slice tok = {"", 0};
  int quoted = 0;
  for (int i = 0; i <= f->rt_index; i++)
    if (logfmt_field(&p, e, &tok, &quoted) != 1) return LOGFMT_OK;
  if (f->rt_unit == LOGFMT_RT_SECONDS) {
    /* nginx always prints $request_time with a point ("0.003"); an
     * integer here is something else. */
    if (!memchr(tok.p, '.', tok.len)) return LOGFMT_OK;
    r->latency_us = logfmt_seconds_us(tok.p, tok.len);
    if (r->latency_us >= 0) r->ts_is_end = 1;
  } else {
    r->latency_us = logfmt_uint(tok.p, tok.len);
  }
  if (f->rt_detected && f->rt_unit == LOGFMT_RT_SECONDS) r->ts_is_end = 1;
  /* mimic's own logs (replay --log, mock --log) and nginx configs such as
   * `combined $request_time "$http_x_session"` quote the session header's
   * value right after the request time. */
  if (f->session_header && logfmt_field(&p, e, &tok, &quoted) == 1 && quoted)
    r->session = logfmt_dash(tok.p, tok.len);
  return LOGFMT_OK;
}

void logfmt_clf_init(struct logfmt *f, const char *name, int rt_unit,
                     int rt_index, int detected) {
  f->name = !strcmp(name, "clf") ? "clf" : "combined";
  f->parse = clf_parse;
  f->rt_unit = rt_unit;
  f->rt_index = rt_index;
  f->rt_detected = detected;
  if (rt_unit == LOGFMT_RT_SECONDS && !detected)
    snprintf(f->desc, sizeof f->desc,
             "%s (+ $request_time (s) when a decimal follows the user agent)",
             f->name);
  else if (rt_unit == LOGFMT_RT_SECONDS && rt_index == 0)
    snprintf(f->desc, sizeof f->desc, "%s + $request_time (s)", f->name);
  else if (rt_unit == LOGFMT_RT_SECONDS)
    snprintf(f->desc, sizeof f->desc,
             "%s + $request_time (s) in trailing field %d", f->name,
             rt_index + 1);
  else if (rt_unit == LOGFMT_RT_MICROS && rt_index == 0)
    snprintf(f->desc, sizeof f->desc, "%s + %%D (us)", f->name);
  else if (rt_unit == LOGFMT_RT_MICROS)
    snprintf(f->desc, sizeof f->desc, "%s + %%D (us) in trailing field %d",
             f->name, rt_index + 1);
  else if (!strcmp(f->name, "clf"))
    snprintf(f->desc, sizeof f->desc, "Common Log Format");
  else
    snprintf(f->desc, sizeof f->desc, "combined");
}

/* ingress-nginx: combined + request_length request_time
 * [proxy_upstream_name] [proxy_alternative_upstream_name] upstream_addr
 * upstream_response_length upstream_response_time upstream_status req_id.
 * Upstream values can be lists ("0.000, 1.000"), so only the fields up to
 * the first bracket are read by position. */
static int ingress_parse(struct logfmt *f, const char *line, size_t len,
                         struct logrec *r, const char **why) {
  (void)f;
  const char *e = line + len;
  struct clf_tail tail;
  struct slice rl, rt, up;
  int q1, q2, q3;
  if (clf_scan(line, e, r, why, &tail) < 0) return ERR_PARSE;
  const char *p = tail.p;
  if (!tail.has_ua || logfmt_field(&p, e, &rl, &q1) != 1 ||
      logfmt_field(&p, e, &rt, &q2) != 1 ||
      logfmt_field(&p, e, &up, &q3) != 1 || up.len == 0 || up.p[0] != '[') {
    *why = "missing ingress-nginx fields";
    return ERR_PARSE;
  }
  r->req_bytes = logfmt_uint(rl.p, rl.len);
  r->latency_us = logfmt_seconds_us(rt.p, rt.len);
  if (r->latency_us < 0 ||
      (r->req_bytes < 0 && !(rl.len == 1 && rl.p[0] == '-'))) {
    *why = "bad request_length or request_time";
    return ERR_PARSE;
  }
  r->ts_is_end = 1;
  return LOGFMT_OK;
}

void logfmt_ingress_init(struct logfmt *f) {
  f->name = "ingress-nginx";
  f->parse = ingress_parse;
  snprintf(f->desc, sizeof f->desc,
           "ingress-nginx (combined + request_length request_time "
           "upstream ...)");
}

int logfmt_clf_trailing(const char *line, size_t len, struct slice *tok,
                        int max) {
  struct logrec r;
  struct clf_tail tail;
  const char *why;
  const char *e = line + len;
  int quoted, k = 0;
  logrec_clear(&r);
  if (len == 0 || clf_scan(line, e, &r, &why, &tail) < 0) return -1;
  if (!tail.has_ua) return -2;
  const char *p = tail.p;
  while (k < max && logfmt_field(&p, e, &tok[k], &quoted) == 1) k++;
  return k;
}
