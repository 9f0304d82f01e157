/* alb, elb: AWS Application and Classic Load Balancer access logs. Fields
 * are positional, space-separated, with the request and user agent quoted;
 * ALB adds a leading connection type and more fields at the end. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

#define AWS_FIELDS 19

/* Field positions, ALB numbering; Classic ELB is the same shifted by one
 * (no leading type) and stops after ssl_protocol. */
enum {
  A_TYPE,
  A_TIME,
  A_ELB,
  A_CLIENT,
  A_TARGET,
  A_REQ_T,
  A_TARGET_T,
  A_RESP_T,
  A_STATUS,
  A_TARGET_STATUS,
  A_RECEIVED,
  A_SENT,
  A_REQUEST,
  A_UA,
  A_CIPHER,
  A_PROTOCOL,
  A_TARGET_GROUP,
  A_TRACE,
  A_DOMAIN,
};

static int is_alb_type(struct slice s) {
  static const char *const types[] = {"http",  "https", "h2",
                                      "grpcs", "ws",    "wss"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (s.len == strlen(types[i]) && !memcmp(s.p, types[i], s.len)) return 1;
  return 0;
}

static int aws_parse(struct logfmt *f, const char *line, size_t len,
                     struct logrec *r, const char **why) {
  int alb = !strcmp(f->name, "alb");
  struct slice v[AWS_FIELDS];
  int quoted[AWS_FIELDS];
  const char *p = line, *e = line + len;
  int n = alb ? 0 : 1;
  memset(v, 0, sizeof v);
  memset(quoted, 0, sizeof quoted);
  while (n < AWS_FIELDS) {
    int rc = logfmt_field(&p, e, &v[n], &quoted[n]);
    if (rc < 0) {
      *why = "unterminated quote";
      return ERR_PARSE;
    }
    if (rc == 0) break;
    n++;
  }
  /* Up to the request is mandatory (old ELB logs end there). */
  if (n <= A_REQUEST || !quoted[A_REQUEST]) {
    *why = "missing fields";
    return ERR_PARSE;
  }
  if (alb && !is_alb_type(v[A_TYPE])) {
    *why = "not an ALB connection type";
    return ERR_PARSE;
  }
  size_t used;
  if (logtime_iso8601(v[A_TIME].p, v[A_TIME].len, &r->ts_us, &used) < 0 ||
      used != v[A_TIME].len) {
    r->ts_us = LOGREC_NO_TIME;
    *why = "bad time";
    return ERR_PARSE;
  }
  r->ts_res_us = logtime_resolution(v[A_TIME].p, v[A_TIME].len);
  r->status = logfmt_status(v[A_STATUS].p, v[A_STATUS].len);
  if (r->status < 0) {
    *why = "bad status";
    return ERR_PARSE;
  }
  if (logrec_parse_request(r, v[A_REQUEST].p, v[A_REQUEST].len, why) < 0)
    return ERR_PARSE;
  r->client = logfmt_strip_port(v[A_CLIENT].p, v[A_CLIENT].len);
  /* -1 in any of the three means the load balancer could not measure
   * (connection closed, no target): the total is unknown too. */
  int64_t t1 = logfmt_seconds_us(v[A_REQ_T].p, v[A_REQ_T].len);
  int64_t t2 = logfmt_seconds_us(v[A_TARGET_T].p, v[A_TARGET_T].len);
  int64_t t3 = logfmt_seconds_us(v[A_RESP_T].p, v[A_RESP_T].len);
  r->latency_us = t1 < 0 || t2 < 0 || t3 < 0 ? -1 : t1 + t2 + t3;
  r->req_bytes = logfmt_uint(v[A_RECEIVED].p, v[A_RECEIVED].len);
  r->resp_bytes = logfmt_uint(v[A_SENT].p, v[A_SENT].len);
  if (n > A_UA && quoted[A_UA]) r->ua = logfmt_dash(v[A_UA].p, v[A_UA].len);
  if (alb && n > A_DOMAIN && r->host.len == 0)
    r->host = logfmt_dash(v[A_DOMAIN].p, v[A_DOMAIN].len);
  /* The load balancer logs when the response was sent. */
  r->ts_is_end = 1;
  return LOGFMT_OK;
}

void logfmt_aws_init(struct logfmt *f, int alb) {
  f->name = alb ? "alb" : "elb";
  f->parse = aws_parse;
  snprintf(f->desc, sizeof f->desc, "%s",
           alb ? "AWS Application Load Balancer" : "AWS Classic Load Balancer");
}
