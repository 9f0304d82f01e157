/* libFuzzer target for the access-log formats. The first byte picks a
 * format (or detection over the input's lines, or an nginx log_format or
 * JSON map read from the first line); every line of the rest is then
 * parsed from a buffer of exactly its length, and each LOGFMT_OK record is
 * checked: slices inside the line (or the logfmt's own memory), a time, a
 * valid status, an A-Z method and a path starting with '/'. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "logfmt.h"
#include "logfmt_impl.h"
#include "logrec.h"

#define MAX_LINES 64

static const char nginx_format[] =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status "
    "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time "
    "$upstream_response_time ${host}|$msec|$time_iso8601 \"$http_cookie\" "
    "$cookie_sid $http_x_sess $request_method $request_uri $uri $args "
    "$bytes_sent $http_x_forwarded_for $server_name $request_length $x";

static const char regex_pattern[] =
    "^(?<client>\\S+) \\S+ (?<user>\\S+) \\[(?<time>[^]]+)\\] "
    "\"(?:(?<method>[A-Z]+) (?<uri>\\S+)|(?<request>[^\"]*))\" "
    "(?<status>\\d+) (?<bytes>\\S+)(?: (?<latency_s>[\\d.]+))?"
    "(?: (?<latency_ms>\\d+)ms)?(?: host=(?<host>\\S+))?(?: (?<ua>.*))?$";

static const char w3c_fields[] =
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port "
    "cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus "
    "sc-win32-status sc-bytes cs-bytes time-taken cs(Cookie) cs(X-Sess) "
    "cs-host cs-version";

static const char json_map[] =
    "time=ts.iso|t,method=m,path=p,query=q,latency_ms=d,session=s.id,"
    "client=c.ip,status=code";

enum {
  M_CLF,
  M_COMBINED,
  M_INGRESS,
  M_NGINX,
  M_W3C,
  M_ALB,
  M_ELB,
  M_JSON,
  M_JSON_MAP,
  M_REGEX,
  M_GENERIC,
  M_DETECT,
  M_NGINX_ANY, /* first line: the log_format */
  M_JSON_ANY,  /* first line: the json_map */
  M_COUNT,
};

static void die(const char *what, const char *line, size_t len) {
  fprintf(stderr, "fuzz_logfmt: %s on line '%.*s'\n", what,
          (int)(len > 300 ? 300 : len), line);
  abort();
}

static void check(const struct logfmt *f, const char *line, size_t len,
                  const struct logrec *r) {
  const struct slice s[] = {r->client, r->user,   r->method, r->path,
                            r->query,  r->proto,  r->host,   r->referer,
                            r->ua,     r->session};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    if (!logfmt_slice_ok(f, line, len, s[i]))
      die("slice outside the line", line, len);
  if (r->ts_us == LOGREC_NO_TIME) die("no time", line, len);
  if (r->ts_res_us < 1) die("bad resolution", line, len);
  if (r->ts_is_end != 0 && r->ts_is_end != 1) die("ts_is_end", line, len);
  if (r->status != 0 && (r->status < 100 || r->status > 599))
    die("bad status", line, len);
  if (r->method.len < 1 || r->method.len > 16) die("method", line, len);
  for (size_t i = 0; i < r->method.len; i++)
    if (r->method.p[i] < 'A' || r->method.p[i] > 'Z')
      die("method chars", line, len);
  if (r->path.len == 0 || r->path.p[0] != '/') die("path", line, len);
  if (r->resp_bytes < -1 || r->req_bytes < -1 || r->latency_us < -1)
    die("negative count", line, len);
}

static void parse_one(struct logfmt *f, const char *p, size_t len,
                      int directives) {
  /* An exact-size copy, so that reading one byte too far is caught. */
  char *line = malloc(len ? len : 1);
  if (!line) return;
  memcpy(line, p, len);
  struct logrec r;
  const char *why = NULL;
  int rc = logfmt_parse(f, line, len, &r, &why);
  if (rc == LOGFMT_OK)
    check(f, line, len, &r);
  else if (rc == LOGFMT_DIRECTIVE && !directives)
    die("directive from a format without any", line, len);
  else if (rc == ERR_PARSE && !why)
    die("no reason", line, len);
  else if (rc != ERR_PARSE && rc != LOGFMT_DIRECTIVE)
    die("unexpected return code", line, len);
  free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const names[M_COUNT] = {
      "clf",  "combined", "ingress-nginx", "nginx",   "w3c", "alb",   "elb",
      "json", "json",     "regex",         "generic", NULL,  "nginx", "json"};
  if (size == 0) return 0;
  int mode = data[0] % M_COUNT;
  const char *text = (const char *)data + 1;
  size_t n = size - 1;
  const char *lines[MAX_LINES];
  size_t lens[MAX_LINES], nl = 0;
  for (size_t i = 0; i < n && nl < MAX_LINES;) {
    const char *e = memchr(text + i, '\n', n - i);
    size_t len = e ? (size_t)(e - text - i) : n - i;
    lines[nl] = text + i;
    lens[nl++] = len;
    i += len + 1;
  }

  struct logfmt_opts o = {0};
  o.session_header = "x-sess";
  o.session_cookie = "sid";
  if (mode == M_NGINX) o.log_format = nginx_format;
  if (mode == M_REGEX) o.regex = regex_pattern;
  if (mode == M_JSON_MAP) o.json_map = json_map;
  struct logfmt *f = NULL;
  char err[256] = "";
  char *spec = NULL;
  size_t first = 0;
  int rc;
  if (mode == M_NGINX_ANY || mode == M_JSON_ANY) {
    if (nl == 0) return 0;
    spec = malloc(lens[0] + 1);
    if (!spec) return 0;
    memcpy(spec, lines[0], lens[0]);
    spec[lens[0]] = '\0';
    if (mode == M_NGINX_ANY)
      o.log_format = spec;
    else
      o.json_map = spec;
    first = 1;
  }
  if (mode == M_DETECT) {
    rc = logfmt_detect(lines, lens, nl, &o, &f);
    if (rc == ERR_FORMAT) return 0;
    if (rc != 0) die("detect failed", "", 0);
  } else {
    rc = logfmt_new(names[mode], &o, &f, err, sizeof err);
    if (rc != 0 && spec) {
      /* A made-up format may well be refused, but with a reason. */
      if ((rc != ERR_PARSE && rc != ERR_USAGE) || !err[0])
        die("refused without a reason", spec, strlen(spec));
      free(spec);
      return 0;
    }
    if (rc != 0) die(err, names[mode], strlen(names[mode]));
  }
  int directives = !strcmp(logfmt_name(f), "w3c");
  if (mode == M_W3C) parse_one(f, w3c_fields, strlen(w3c_fields), 1);
  for (size_t i = first; i < nl; i++)
    parse_one(f, lines[i], lens[i], directives);
  logfmt_free(f);
  free(spec);
  return 0;
}
