/* Unit tests for capture/logrec and capture/logfmt: every format and field,
 * the edge cases real logs have (written here as synthetic lines), failure
 * reasons, and detection. Each line is parsed from a buffer of exactly its
 * length so AddressSanitizer catches any read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "err.h"
#include "logfmt.h"
#include "logfmt_impl.h"
#include "logrec.h"
#include "logtime.h"

#define S INT64_C(1000000)

#define EXPECT_SLICE(sl, want)                                                 \
  do {                                                                         \
    struct slice s_ = (sl);                                                    \
    const char *w_ = (want);                                                   \
    if (s_.len != strlen(w_) || memcmp(s_.p, w_, s_.len) != 0)                 \
      fail_msg("%s = '%.*s', expected '%s'", #sl, (int)s_.len, s_.p, w_);      \
  } while (0)

#define EXPECT_CONTAINS(str, part)                                             \
  do {                                                                         \
    const char *s_ = (str), *p_ = (part);                                      \
    if (!s_ || !strstr(s_, p_))                                                \
      fail_msg("%s = '%s' does not contain '%s'", #str, s_ ? s_ : "(null)",    \
               p_);                                                            \
  } while (0)

/* One format and the line it last parsed (kept alive for the slices). */
struct fx {
  struct logfmt *f;
  char *buf;
  size_t len;
  struct logrec r;
  const char *why;
  int rc;
};

static void check_slice(const struct fx *x, const char *name, struct slice s) {
  if (!logfmt_slice_ok(x->f, x->buf, x->len, s))
    fail_msg("slice %s (%p, %zu) is outside the line and the logfmt", name,
             (const void *)s.p, s.len);
}

/* What every LOGFMT_OK record promises. */
static void check_record(const struct fx *x) {
  const struct logrec *r = &x->r;
  check_slice(x, "client", r->client);
  check_slice(x, "user", r->user);
  check_slice(x, "method", r->method);
  check_slice(x, "path", r->path);
  check_slice(x, "query", r->query);
  check_slice(x, "proto", r->proto);
  check_slice(x, "host", r->host);
  check_slice(x, "referer", r->referer);
  check_slice(x, "ua", r->ua);
  check_slice(x, "session", r->session);
  if (r->ts_us == LOGREC_NO_TIME) fail_msg("OK record without a time");
  if (r->ts_res_us < 1) fail_msg("ts_res_us = %lld", (long long)r->ts_res_us);
  if (r->status != 0 && (r->status < 100 || r->status > 599))
    fail_msg("status = %d", r->status);
  if (r->method.len < 1 || r->method.len > 16)
    fail_msg("method length %zu", r->method.len);
  for (size_t i = 0; i < r->method.len; i++)
    if (r->method.p[i] < 'A' || r->method.p[i] > 'Z')
      fail_msg("method '%.*s'", (int)r->method.len, r->method.p);
  if (r->path.len == 0 || r->path.p[0] != '/')
    fail_msg("path '%.*s'", (int)r->path.len, r->path.p);
  if (r->resp_bytes < -1 || r->req_bytes < -1 || r->latency_us < -1)
    fail_msg("negative count");
}

static int run(struct fx *x, const char *line) {
  free(x->buf);
  x->len = strlen(line);
  x->buf = malloc(x->len ? x->len : 1);
  assert_non_null(x->buf);
  memcpy(x->buf, line, x->len);
  x->why = NULL;
  x->rc = logfmt_parse(x->f, x->buf, x->len, &x->r, &x->why);
  if (x->rc == LOGFMT_OK) check_record(x);
  return x->rc;
}

#define PARSE_OK(x, line)                                                      \
  do {                                                                         \
    if (run((x), (line)) != LOGFMT_OK)                                         \
      fail_msg("did not parse (rc %d, %s): %s", (x)->rc,                       \
               (x)->why ? (x)->why : "-", (line));                             \
  } while (0)

#define PARSE_BAD(x, line, reason)                                             \
  do {                                                                         \
    int rc_ = run((x), (line));                                                \
    if (rc_ != ERR_PARSE || !(x)->why || strcmp((x)->why, (reason)) != 0)      \
      fail_msg("expected ERR_PARSE '%s', got rc %d '%s' for: %s", (reason),    \
               rc_, (x)->why ? (x)->why : "(none)", (line));                   \
  } while (0)

static void fx_open(struct fx *x, const char *name,
                    const struct logfmt_opts *o) {
  char err[256] = "";
  memset(x, 0, sizeof *x);
  int rc = logfmt_new(name, o, &x->f, err, sizeof err);
  if (rc != 0) fail_msg("logfmt_new(%s) = %d: %s", name, rc, err);
}

static void fx_close(struct fx *x) {
  logfmt_free(x->f);
  free(x->buf);
  memset(x, 0, sizeof *x);
}

/* Every prefix of line parses or fails cleanly (ASan watches the reads). */
static void prefixes(struct fx *x, const char *line) {
  size_t n = strlen(line);
  char *tmp = malloc(n + 1);
  assert_non_null(tmp);
  for (size_t k = 0; k <= n; k++) {
    memcpy(tmp, line, k);
    tmp[k] = '\0';
    run(x, tmp);
  }
  free(tmp);
}

/* ---- logrec ---------------------------------------------------------- */

static void test_logrec_clear(void **state) {
  (void)state;
  struct logrec r;
  memset(&r, 0x5a, sizeof r);
  logrec_clear(&r);
  EXPECT_EQ(r.ts_us, LOGREC_NO_TIME);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.resp_bytes, -1);
  EXPECT_EQ(r.req_bytes, -1);
  EXPECT_EQ(r.latency_us, -1);
  EXPECT_EQ(r.ts_is_end, 0);
  EXPECT_SLICE(r.client, "");
  EXPECT_SLICE(r.path, "");
  EXPECT_SLICE(r.session, "");
  assert_non_null(r.ua.p);
}

static void test_logrec_target(void **state) {
  (void)state;
  struct logrec r;
  logrec_clear(&r);
  const char *t = "/a/b?x=1&y=2#frag";
  EXPECT_EQ(logrec_set_target(&r, t, strlen(t)), 0);
  EXPECT_SLICE(r.path, "/a/b");
  EXPECT_SLICE(r.query, "x=1&y=2");
  EXPECT_SLICE(r.host, "");

  logrec_clear(&r);
  t = "https://api.example.com:443/v1/users?id=7";
  EXPECT_EQ(logrec_set_target(&r, t, strlen(t)), 0);
  EXPECT_SLICE(r.host, "api.example.com");
  EXPECT_SLICE(r.path, "/v1/users");
  EXPECT_SLICE(r.query, "id=7");

  logrec_clear(&r);
  t = "http://user:pw@h.example:8080";
  EXPECT_EQ(logrec_set_target(&r, t, strlen(t)), 0);
  EXPECT_SLICE(r.host, "h.example:8080");
  EXPECT_SLICE(r.path, "/");
  EXPECT_SLICE(r.query, "");

  logrec_clear(&r);
  t = "HTTP://h:80?q=1";
  EXPECT_EQ(logrec_set_target(&r, t, strlen(t)), 0);
  EXPECT_SLICE(r.host, "h");
  EXPECT_SLICE(r.path, "/");
  EXPECT_SLICE(r.query, "q=1");

  /* A host already known (Host header) is kept. */
  logrec_clear(&r);
  r.host.p = "vhost";
  r.host.len = 5;
  t = "http://other/x";
  EXPECT_EQ(logrec_set_target(&r, t, strlen(t)), 0);
  EXPECT_SLICE(r.host, "vhost");
  EXPECT_SLICE(r.path, "/x");

  static const char *const bad[] = {"",          "*",        "x/y",
                                    "h.com:443", "http://",  "http:///x",
                                    "://h/x",    "http:/h/x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    logrec_clear(&r);
    if (logrec_set_target(&r, bad[i], strlen(bad[i])) != ERR_PARSE)
      fail_msg("target '%s' accepted", bad[i]);
    EXPECT_SLICE(r.path, "");
    EXPECT_SLICE(r.host, "");
  }
}

static void expect_request(const char *line, const char *method,
                           const char *path, const char *query,
                           const char *proto) {
  struct logrec r;
  const char *why = NULL;
  logrec_clear(&r);
  int rc = logrec_parse_request(&r, line, strlen(line), &why);
  if (rc != 0)
    fail_msg("request '%s' refused: %s", line, why ? why : "(no reason)");
  EXPECT_SLICE(r.method, method);
  EXPECT_SLICE(r.path, path);
  EXPECT_SLICE(r.query, query);
  EXPECT_SLICE(r.proto, proto);
}

static void expect_request_bad(const char *line, const char *reason) {
  struct logrec r;
  const char *why = NULL;
  logrec_clear(&r);
  int rc = logrec_parse_request(&r, line, strlen(line), &why);
  if (rc != ERR_PARSE || !why || strcmp(why, reason) != 0)
    fail_msg("request '%s': rc %d reason '%s', expected '%s'", line, rc,
             why ? why : "(none)", reason);
  EXPECT_SLICE(r.method, "");
  EXPECT_SLICE(r.path, "");
}

static void test_logrec_request(void **state) {
  (void)state;
  expect_request("GET /a?b=1 HTTP/1.1", "GET", "/a", "b=1", "HTTP/1.1");
  expect_request("POST /api/v1/items HTTP/2.0", "POST", "/api/v1/items", "",
                 "HTTP/2.0");
  /* HTTP/0.9 simple request (no protocol) is still a request. */
  expect_request("GET /ksc.html", "GET", "/ksc.html", "", "");
  /* Raw spaces in a logged target stay in the path. */
  expect_request("GET /a b HTTP/1.0", "GET", "/a b", "", "HTTP/1.0");
  expect_request("GET  /x  HTTP/1.1 ", "GET", "/x", "", "HTTP/1.1");
  expect_request("GET http://h.example/p?q HTTP/1.1", "GET", "/p", "q",
                 "HTTP/1.1");
  expect_request("PROPFIND / HTTP/1.1", "PROPFIND", "/", "", "HTTP/1.1");
  expect_request("ABCDEFGHIJKLMNOP / HTTP/1.1", "ABCDEFGHIJKLMNOP", "/", "",
                 "HTTP/1.1");

  expect_request_bad("", "no request line");
  expect_request_bad("-", "no request line");
  expect_request_bad("- - HTTP/1.0", "no request line");
  expect_request_bad("\\x16\\x03\\x01\\x00\\xa5\\x01", "no request line");
  expect_request_bad("\\n", "no request line");
  expect_request_bad("<SCRIPT>NXSSTEST</SCRIPT> / HTTP/1.1", "no request line");
  expect_request_bad("PATCHp /products/42 HTTP/1.1", "bad method");
  expect_request_bad("geti /products/42 HTTP/1.1", "bad method");
  expect_request_bad("ABCDEFGHIJKLMNOPQ / HTTP/1.1", "bad method");
  expect_request_bad("GET", "no request target");
  expect_request_bad("GET   ", "no request target");
  expect_request_bad("GET HTTP/1.1", "bad request target");
  expect_request_bad("OPTIONS * HTTP/1.1", "bad request target");
  expect_request_bad("CONNECT h.example:443 HTTP/1.1", "bad request target");

  struct logrec r;
  logrec_clear(&r);
  EXPECT_EQ(logrec_set_request(&r, "GET / HTTP/1.1", 14), 0);
  EXPECT_EQ(logrec_set_request(&r, "get / HTTP/1.1", 14), ERR_PARSE);
  EXPECT_EQ(logrec_set_method(&r, "DELETE", 6), 0);
  EXPECT_SLICE(r.method, "DELETE");
  EXPECT_EQ(logrec_set_method(&r, "Delete", 6), ERR_PARSE);
  EXPECT_EQ(logrec_set_method(&r, "", 0), ERR_PARSE);
  EXPECT_EQ(logrec_set_method(&r, "M-SEARCH", 8), ERR_PARSE);
}

/* ---- clf / combined -------------------------------------------------- */

static void test_combined_fields(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "combined", NULL);
  EXPECT_CONTAINS(logfmt_name(x.f), "combined");
  PARSE_OK(&x, "203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "
               "\"GET /api/items?page=2 HTTP/1.1\" 200 2326 "
               "\"http://example.com/start\" \"Mozilla/5.0 (X11; Linux)\"");
  EXPECT_SLICE(x.r.client, "203.0.113.9");
  EXPECT_SLICE(x.r.user, "alice");
  EXPECT_EQ(x.r.ts_us, 971211336 * S);
  EXPECT_EQ(x.r.ts_res_us, S);
  EXPECT_EQ(x.r.ts_is_end, 0);
  EXPECT_SLICE(x.r.method, "GET");
  EXPECT_SLICE(x.r.path, "/api/items");
  EXPECT_SLICE(x.r.query, "page=2");
  EXPECT_SLICE(x.r.proto, "HTTP/1.1");
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.resp_bytes, 2326);
  EXPECT_SLICE(x.r.referer, "http://example.com/start");
  EXPECT_SLICE(x.r.ua, "Mozilla/5.0 (X11; Linux)");
  EXPECT_EQ(x.r.latency_us, -1);
  EXPECT_EQ(x.r.req_bytes, -1);
  EXPECT_SLICE(x.r.host, "");

  /* "-" for user, referer, agent and bytes; a trailing CR. */
  PARSE_OK(&x, "10.1.2.3 - - [01/Jul/1995:00:00:01 -0400] \"HEAD / HTTP/1.0\" "
               "304 - \"-\" \"-\"\r");
  EXPECT_EQ(x.r.ts_us, 804571201 * S);
  EXPECT_SLICE(x.r.user, "");
  EXPECT_SLICE(x.r.referer, "");
  EXPECT_SLICE(x.r.ua, "");
  EXPECT_EQ(x.r.resp_bytes, 0);
  EXPECT_EQ(x.r.status, 304);
  EXPECT_SLICE(x.r.proto, "HTTP/1.0");

  /* Ident and user both given. */
  PARSE_OK(&x, "127.0.0.1 user-identity frank [10/Oct/2000:13:55:36 -0700] "
               "\"GET /apache_pb.gif HTTP/1.0\" 200 2326");
  EXPECT_SLICE(x.r.user, "frank");
  EXPECT_SLICE(x.r.ua, "");
  fx_close(&x);
}

static void test_combined_edge_cases(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "combined", NULL);
  /* Apache escapes quotes as \" (and the backslash as \\); nginx as \x22. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET /s?q=\\\"x\\\" HTTP/1.1\" 200 5 \"-\" "
               "\"Agent \\\"quoted\\\" \\\\\"");
  EXPECT_SLICE(x.r.query, "q=\\\"x\\\"");
  EXPECT_SLICE(x.r.ua, "Agent \\\"quoted\\\" \\\\");
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET /s HTTP/1.1\" 200 5 \"-\" \"Agent \\x22q\\x22\"");
  EXPECT_SLICE(x.r.ua, "Agent \\x22q\\x22");
  /* A writer that does not escape: the request still ends at the quote
   * followed by a status. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET /a\" x HTTP/1.0\" 200 5");
  EXPECT_SLICE(x.r.path, "/a\" x");
  EXPECT_EQ(x.r.status, 200);
  /* The agent may hold anything: brackets, escaped quotes, a quote that
   * is not followed by a space. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"a [b] \"c\"d {e} ] \\\" \"");
  EXPECT_SLICE(x.r.ua, "a [b] \"c\"d {e} ] \\\" ");
  /* host:port vhost prefix (Apache vhost_combined). */
  PARSE_OK(&x, "www.example.com:443 198.51.100.7 - - "
               "[13/Nov/2023:10:44:31 +0000] \"GET /x HTTP/1.1\" 200 10 "
               "\"-\" \"-\"");
  EXPECT_SLICE(x.r.host, "www.example.com");
  EXPECT_SLICE(x.r.client, "198.51.100.7");
  PARSE_OK(&x, "127.0.1.1:80 127.0.0.1 - - [13/Nov/2023:10:44:31 +0000] "
               "\"GET /x HTTP/1.1\" 400 483 \"-\" \"-\"");
  EXPECT_SLICE(x.r.host, "127.0.1.1");
  EXPECT_SLICE(x.r.client, "127.0.0.1");
  /* IPv6 clients, bare and bracketed. */
  PARSE_OK(&x, "2001:db8:add:4002:91f2:a9b2:e09a:6fc6 - - "
               "[29/May/2017:19:02:48 +0000] \"GET /v HTTP/1.1\" 200 612");
  EXPECT_SLICE(x.r.client, "2001:db8:add:4002:91f2:a9b2:e09a:6fc6");
  PARSE_OK(&x, "::1 - - [26/Dec/2016:16:16:29 +0200] \"GET /favicon.ico "
               "HTTP/1.1\" 404 209");
  EXPECT_SLICE(x.r.client, "::1");
  EXPECT_EQ(x.r.ts_us, logtime_days_from_civil(2016, 12, 26) * 86400 * S +
                           (14 * 3600 + 16 * 60 + 29) * S);
  PARSE_OK(&x, "[2001:db8::1] - - [26/Dec/2016:16:16:29 +0000] \"GET / "
               "HTTP/1.1\" 200 1");
  EXPECT_SLICE(x.r.client, "[2001:db8::1]");
  /* Trailing extras: X-Forwarded-For="a, b", "-", a number between bytes
   * and referer. */
  PARSE_OK(&x, "198.51.100.2 - - [29/May/2017:19:02:48 +0000] "
               "\"GET /v HTTP/1.1\" 200 612 \"-\" \"curl/7.79.1\" "
               "X-Forwarded-For=\"10.225.192.17, 10.2.2.121\"");
  EXPECT_SLICE(x.r.ua, "curl/7.79.1");
  EXPECT_EQ(x.r.latency_us, -1);
  PARSE_OK(&x, "198.51.100.2 - - [29/May/2017:19:02:48 +0000] "
               "\"GET /v HTTP/1.1\" 200 612 3413 \"http://r/\" \"curl/7\" "
               "\"-\"");
  EXPECT_EQ(x.r.resp_bytes, 612);
  EXPECT_SLICE(x.r.referer, "http://r/");
  EXPECT_SLICE(x.r.ua, "curl/7");
  /* HTTP/0.9 request lines (old NCSA logs). */
  PARSE_OK(&x, "host.example.net - - [01/Jul/1995:00:22:43 -0400] "
               "\"GET /shuttle/movies/sts-71-mir-dock.mpg\" 200 946425");
  EXPECT_SLICE(x.r.client, "host.example.net");
  EXPECT_SLICE(x.r.proto, "");
  EXPECT_SLICE(x.r.path, "/shuttle/movies/sts-71-mir-dock.mpg");
  /* Absolute-form target (forward proxies). */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET http://h.example:8080/p?x HTTP/1.1\" 200 5");
  EXPECT_SLICE(x.r.host, "h.example:8080");
  EXPECT_SLICE(x.r.path, "/p");
  /* A line cut inside the user agent keeps the agent's text. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"Mozilla/5.0 (compatible; bot");
  EXPECT_SLICE(x.r.ua, "Mozilla/5.0 (compatible; bot");
  /* Trailing space after bytes. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 ");
  fx_close(&x);
}

static void test_combined_request_time(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "combined", NULL);
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" 0.003");
  EXPECT_EQ(x.r.latency_us, 3000);
  EXPECT_EQ(x.r.ts_is_end, 1);
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" 12.250 \"-\"");
  EXPECT_EQ(x.r.latency_us, 12250000);
  /* Without samples an integer is not taken for seconds. */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" 3021");
  EXPECT_EQ(x.r.latency_us, -1);
  EXPECT_EQ(x.r.ts_is_end, 0);
  fx_close(&x);
}

static void test_combined_failures(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "combined", NULL);
  const char *pre = "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] ";
  char line[512];
  PARSE_BAD(&x, "", "empty line");
  PARSE_BAD(&x, "  \t", "empty line");
  PARSE_BAD(&x, "\r", "empty line");
  snprintf(line, sizeof line, "%s\"-\" 408 -", pre);
  PARSE_BAD(&x, line, "no request line");
  snprintf(line, sizeof line, "%s\"-\" 408 152 \"-\" \"-\"", pre);
  PARSE_BAD(&x, line, "no request line");
  snprintf(line, sizeof line, "%s\"\\x16\\x03\\x03\\x01\\x8f\\x01\" 400 483",
           pre);
  PARSE_BAD(&x, line, "no request line");
  snprintf(line, sizeof line, "%s\"- - HTTP/1.0\" 400 226 \"-\" \"-\"", pre);
  PARSE_BAD(&x, line, "no request line");
  snprintf(line, sizeof line, "%s\"\\n\" 400 226 98", pre);
  PARSE_BAD(&x, line, "no request line");
  snprintf(line, sizeof line, "%s\"PATCHp /p HTTP/1.1\" 400 163", pre);
  PARSE_BAD(&x, line, "bad method");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" 999 1", pre);
  PARSE_BAD(&x, line, "bad status");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" 099 1", pre);
  PARSE_BAD(&x, line, "bad status");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" 2000 1", pre);
  PARSE_BAD(&x, line, "bad status");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" - 1", pre);
  PARSE_BAD(&x, line, "bad status");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" 200 x1", pre);
  PARSE_BAD(&x, line, "bad bytes");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1\" 200", pre);
  PARSE_BAD(&x, line, "bad bytes");
  snprintf(line, sizeof line, "%s\"GET / HTTP/1.1 200 1", pre);
  PARSE_BAD(&x, line, "unterminated request");
  PARSE_BAD(&x,
            "192.0.2.1 - - [31/Feb/2021:10:00:00 +0000] \"GET / "
            "HTTP/1.1\" 200 1",
            "bad time");
  PARSE_BAD(&x,
            "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000 \"GET / "
            "HTTP/1.1\" 200 1",
            "bad time");
  PARSE_BAD(&x, "192.0.2.1 - - 12/Mar/2021:10:00:00 \"GET / HTTP/1.1\" 200 1",
            "no time");
  PARSE_BAD(&x, "- [12/Mar/2021:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1",
            "missing fields");
  /* Fragments left by a redaction that cut lines apart. */
  PARSE_BAD(&x, " \"curl/7.54.0\"", "no time");
  PARSE_BAD(&x, " \"Python-urllib/2.7\"", "no time");
  prefixes(&x, "2001:db8::1:80 192.0.2.1 - bob [12/Mar/2021:10:00:00.5 "
               "+0100] \"GET /a?b HTTP/1.1\" 200 5 \"r\\\"\" \"u\\\\\" 0.1 x");
  fx_close(&x);
}

static void test_clf_by_name(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "clf", NULL);
  EXPECT_CONTAINS(logfmt_name(x.f), "clf");
  PARSE_OK(&x, "unicomp6.unicomp.net - - [01/Jul/1995:00:00:06 -0400] "
               "\"GET /shuttle/countdown/ HTTP/1.0\" 200 3985");
  EXPECT_SLICE(x.r.client, "unicomp6.unicomp.net");
  EXPECT_EQ(x.r.ts_us, 804571206 * S);
  EXPECT_EQ(x.r.resp_bytes, 3985);
  /* A combined line is read too (its trailing fields are not used). */
  PARSE_OK(&x, "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "
               "\"GET / HTTP/1.1\" 200 5 \"-\" \"ua\" 0.003");
  EXPECT_EQ(x.r.latency_us, -1);
  fx_close(&x);
}

/* ---- ingress-nginx --------------------------------------------------- */

static void test_ingress(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "ingress-nginx", NULL);
  PARSE_OK(&x, "192.168.64.1 - - [07/Feb/2020:11:48:51 +0000] "
               "\"POST /products HTTP/1.1\" 200 59 \"-\" \"curl/7.54.0\" 89 "
               "0.001 [default-web-8080] [] 172.17.0.5:8080 59 0.000 200 "
               "529a007902362a5f51385a5fa7049884");
  EXPECT_SLICE(x.r.method, "POST");
  EXPECT_EQ(x.r.req_bytes, 89);
  EXPECT_EQ(x.r.latency_us, 1000);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_EQ(x.r.resp_bytes, 59);
  /* Upstream lists and IPv6 upstreams. */
  PARSE_OK(&x, "2001:db8::4e36 - - [24/Aug/2022:18:05:41 +0000] "
               "\"GET /favicon.ico HTTP/2.0\" 502 552 \"https://l:8080/\" "
               "\"Mozilla/5.0\" 27 1.002 [localhost-8080] [] "
               "[2001:db8::7]:5000, [2001:db8::4e36]:5000 0, 1 0.000, 1.000 "
               "502, 403 3db73c6c673c4256ade033a6ce08c2ab");
  EXPECT_EQ(x.r.latency_us, 1002000);
  EXPECT_EQ(x.r.req_bytes, 27);
  EXPECT_SLICE(x.r.proto, "HTTP/2.0");
  EXPECT_SLICE(x.r.referer, "https://l:8080/");
  /* Malformed methods, as ingress-nginx logs them with 400. */
  PARSE_BAD(&x,
            "192.168.64.1 - - [07/Feb/2020:11:50:09 +0000] "
            "\"geti /products/42 HTTP/1.1\" 400 163 \"-\" \"-\" 0 0.000 "
            "[] [] - - - - efb0c5aa8be6cdeb4a7e7bd090e3d893",
            "bad method");
  PARSE_BAD(&x,
            "192.168.64.1 - - [07/Feb/2020:11:50:09 +0000] "
            "\"GET / HTTP/1.1\" 200 1 \"-\" \"-\" 0.003",
            "missing ingress-nginx fields");
  PARSE_BAD(&x,
            "192.168.64.1 - - [07/Feb/2020:11:50:09 +0000] "
            "\"GET / HTTP/1.1\" 200 1 \"-\" \"-\" 10 x [up]",
            "bad request_length or request_time");
  fx_close(&x);
}

/* ---- nginx log_format ------------------------------------------------ */

static void test_nginx_main(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  o.log_format = "$remote_addr - $remote_user [$time_local] \"$request\" "
                 "$status $body_bytes_sent \"$http_referer\" "
                 "\"$http_user_agent\" $request_time "
                 "$upstream_response_time \"$http_x_mimic_session\" $host "
                 "$request_length $unknown_thing";
  o.session_header = "x-mimic-session";
  struct fx x;
  fx_open(&x, "nginx", &o);
  EXPECT_CONTAINS(logfmt_name(x.f), "nginx");
  EXPECT_CONTAINS(logfmt_describe(x.f), "$remote_addr");
  PARSE_OK(&x, "198.51.100.4 - bob [10/Oct/2000:13:55:36 -0700] "
               "\"PUT /api/things/9?force=1 HTTP/1.1\" 204 0 \"-\" "
               "\"ua with \\\" quote\" 0.120 0.100, 0.018 \"s-123\" "
               "api.example.com 512 whatever");
  EXPECT_SLICE(x.r.client, "198.51.100.4");
  EXPECT_SLICE(x.r.user, "bob");
  EXPECT_EQ(x.r.ts_us, 971211336 * S);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_SLICE(x.r.method, "PUT");
  EXPECT_SLICE(x.r.path, "/api/things/9");
  EXPECT_SLICE(x.r.query, "force=1");
  EXPECT_EQ(x.r.status, 204);
  EXPECT_EQ(x.r.resp_bytes, 0);
  EXPECT_SLICE(x.r.referer, "");
  EXPECT_SLICE(x.r.ua, "ua with \\\" quote");
  EXPECT_EQ(x.r.latency_us, 120000);
  EXPECT_SLICE(x.r.session, "s-123");
  EXPECT_SLICE(x.r.host, "api.example.com");
  EXPECT_EQ(x.r.req_bytes, 512);
  PARSE_BAD(&x,
            "198.51.100.4 - bob [10/Oct/2000:13:55:36 -0700] \"-\" 400 0 "
            "\"-\" \"-\" 0.000 - \"-\" - 0 x",
            "no request line");
  PARSE_BAD(&x, "198.51.100.4 - bob 10/Oct/2000:13:55:36 -0700",
            "line does not match log_format");
  PARSE_BAD(&x,
            "198.51.100.4 - bob [10/Oct/2000:13:55:36] \"GET / HTTP/1.1\" "
            "20x 0 \"-\" \"-\" 0.000 - \"-\" - 0 x",
            "bad status");
  prefixes(&x, "198.51.100.4 - bob [10/Oct/2000:13:55:36 -0700] "
               "\"PUT /a?b HTTP/1.1\" 204 0 \"-\" \"u\" 0.1 0.1, 0.2 \"s\" h "
               "1 w");
  fx_close(&x);
}

static void test_nginx_parts(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  struct fx x;
  /* ${var} syntax glued to text, ISO time, method + uri + args, XFF. */
  o.log_format = "${time_iso8601}|$request_method|$uri|$args|${status}ms "
                 "$bytes_sent $remote_addr \"$http_x_forwarded_for\" "
                 "$server_name";
  fx_open(&x, "nginx", &o);
  PARSE_OK(&x, "2024-05-12T00:00:18+00:00|DELETE|/v1/x/7|a=1&b=2|404ms 321 "
               "127.0.0.1 \"203.0.113.5, 10.0.0.1\" api.local");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_SLICE(x.r.method, "DELETE");
  EXPECT_SLICE(x.r.path, "/v1/x/7");
  EXPECT_SLICE(x.r.query, "a=1&b=2");
  EXPECT_EQ(x.r.status, 404);
  EXPECT_EQ(x.r.resp_bytes, 321);
  EXPECT_SLICE(x.r.client, "203.0.113.5");
  EXPECT_SLICE(x.r.host, "api.local");
  PARSE_BAD(&x, "2024-05-12T00:00:18+00:00|get|/v1|-|404ms 1 h \"-\" -",
            "bad method");
  fx_close(&x);

  /* $msec, $request_uri, cookies, upstream time as the latency. */
  o.log_format = "$msec $request_method $request_uri $status "
                 "$upstream_response_time \"$http_cookie\" $cookie_sid";
  o.session_cookie = "sid";
  fx_open(&x, "nginx", &o);
  PARSE_OK(&x, "1384443873.878 GET /p?q=1 200 0.010, 0.020 "
               "\"a=1; sid=abc; b=2\" -");
  EXPECT_EQ(x.r.ts_us, 1384443873878000);
  EXPECT_EQ(x.r.ts_res_us, 1000);
  EXPECT_SLICE(x.r.path, "/p");
  EXPECT_SLICE(x.r.query, "q=1");
  EXPECT_EQ(x.r.latency_us, 30000);
  EXPECT_SLICE(x.r.session, "abc");
  PARSE_OK(&x, "1384443873.878 GET /p 200 - \"-\" xyz");
  EXPECT_SLICE(x.r.session, "xyz");
  EXPECT_EQ(x.r.latency_us, -1);
  fx_close(&x);

  /* Pasted from nginx.conf, escape= and all. */
  o.session_cookie = NULL;
  o.log_format = "log_format main escape=default '$remote_addr [$time_local] '"
                 "\n    '\"$request\" $status';";
  fx_open(&x, "nginx", &o);
  EXPECT_CONTAINS(logfmt_describe(x.f), "$remote_addr [$time_local]");
  PARSE_OK(&x, "192.0.2.9 [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200");
  EXPECT_SLICE(x.r.client, "192.0.2.9");
  EXPECT_EQ(x.r.status, 200);
  fx_close(&x);

  /* Unquoted values with spaces, a format ending in a variable, and two
   * variables in a row. */
  o.log_format = "$time_local $request $status$body_bytes_sent $remote_addr";
  fx_open(&x, "nginx", &o);
  PARSE_OK(&x, "10/Oct/2000:13:55:36 -0700 GET /z HTTP/1.1 20077 192.0.2.1");
  EXPECT_EQ(x.r.ts_us, 971211336 * S);
  EXPECT_SLICE(x.r.path, "/z");
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.resp_bytes, 77);
  EXPECT_SLICE(x.r.client, "192.0.2.1");
  fx_close(&x);
}

static void test_nginx_rejected(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  struct logfmt *f = NULL;
  char err[256] = "";
  o.log_format = "$remote_addr [$time_local] $status";
  EXPECT_EQ(logfmt_new("nginx", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "$request");
  assert_null(f);
  o.log_format = "$remote_addr \"$request\" $status";
  EXPECT_EQ(logfmt_new("nginx", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "time");
  o.log_format = "$time_local $request_method $status";
  EXPECT_EQ(logfmt_new("nginx", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "$request");
  o.log_format = NULL;
  EXPECT_EQ(logfmt_new("nginx", &o, &f, err, sizeof err), ERR_USAGE);
  EXPECT_CONTAINS(err, "log_format");
  EXPECT_EQ(logfmt_new("nginx", NULL, &f, NULL, 0), ERR_USAGE);
  assert_null(f);
}

/* ---- w3c ------------------------------------------------------------- */

static void test_w3c(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  o.session_cookie = "SID";
  o.session_header = "x-session";
  struct fx x;
  fx_open(&x, "w3c", &o);
  PARSE_BAD(&x,
            "2024-05-12 00:00:18 10.0.0.1 GET / - 80 - 10.0.0.2 - - 200 "
            "0 0 5 1 7",
            "no #Fields directive");
  EXPECT_EQ(run(&x, "#Software: Microsoft Internet Information Services 10.0"),
            LOGFMT_DIRECTIVE);
  EXPECT_EQ(run(&x, "#Version: 1.0"), LOGFMT_DIRECTIVE);
  EXPECT_EQ(run(&x, "#Fields: date time s-ip cs-method cs-uri-stem "
                    "cs-uri-query s-port cs-username c-ip cs(User-Agent) "
                    "cs(Referer) sc-status sc-substatus sc-win32-status "
                    "sc-bytes cs-bytes time-taken"),
            LOGFMT_DIRECTIVE);
  EXPECT_CONTAINS(logfmt_describe(x.f), "17 fields");
  PARSE_OK(&x, "2024-05-12 00:00:18 10.0.0.1 GET /default.aspx id=7&x=1 443 "
               "DOMAIN\\bob 203.0.113.20 "
               "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) "
               "https://example.com/ 200 0 0 5120 830 15");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_SLICE(x.r.method, "GET");
  EXPECT_SLICE(x.r.path, "/default.aspx");
  EXPECT_SLICE(x.r.query, "id=7&x=1");
  EXPECT_SLICE(x.r.user, "DOMAIN\\bob");
  EXPECT_SLICE(x.r.client, "203.0.113.20");
  EXPECT_SLICE(x.r.ua, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)");
  EXPECT_SLICE(x.r.referer, "https://example.com/");
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.resp_bytes, 5120);
  EXPECT_EQ(x.r.req_bytes, 830);
  EXPECT_EQ(x.r.latency_us, 15000);
  PARSE_OK(&x, "2024-05-12 00:00:19 10.0.0.1 POST /api - 443 - 203.0.113.20 "
               "- - 201 0 0 10 20 3");
  EXPECT_SLICE(x.r.query, "");
  EXPECT_SLICE(x.r.user, "");
  EXPECT_SLICE(x.r.ua, "");
  PARSE_BAD(&x, "2024-05-12 00:00:19 10.0.0.1 POST /api - 443",
            "missing fields");
  PARSE_BAD(&x,
            "2024-05-12 00:00:19 10.0.0.1 POST /api - 443 - 1.2.3.4 - - "
            "2x1 0 0 10 20 3",
            "bad status");
  PARSE_BAD(&x,
            "2024-05-12 00:00:19 10.0.0.1 - /api - 443 - 1.2.3.4 - - "
            "200 0 0 10 20 3",
            "no request line");
  PARSE_BAD(&x,
            "2024-02-30 00:00:19 10.0.0.1 GET /api - 443 - 1.2.3.4 - - "
            "200 0 0 10 20 3",
            "bad time");

  /* A new #Fields line changes the columns mid-stream: another order,
   * tabs, cs-host, cookies, a session header, seconds as time-taken. */
  EXPECT_EQ(run(&x, "#Fields: time date c-ip cs-method cs-uri cs-host "
                    "cs(Cookie) cs(X-Session) sc-status time-taken"),
            LOGFMT_DIRECTIVE);
  PARSE_OK(&x, "00:00:18.5\t2024-05-12\t203.0.113.20\tGET\t/a/b?c=d\t"
               "shop.example\ta=1;+SID=xyz;+b=2\thdr-sess\t302\t0.250");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S + 500000);
  EXPECT_EQ(x.r.ts_res_us, 100000);
  EXPECT_SLICE(x.r.path, "/a/b");
  EXPECT_SLICE(x.r.query, "c=d");
  EXPECT_SLICE(x.r.host, "shop.example");
  EXPECT_SLICE(x.r.session, "hdr-sess");
  EXPECT_EQ(x.r.latency_us, 250000);
  PARSE_OK(&x, "00:00:18 2024-05-12 203.0.113.20 GET /a - a=1;+SID=xyz - 200 "
               "1");
  EXPECT_SLICE(x.r.session, "xyz");

  /* One ISO date-time column. */
  EXPECT_EQ(run(&x, "#Fields: date-time cs-method cs-uri-stem sc-status"),
            LOGFMT_DIRECTIVE);
  PARSE_OK(&x, "2024-05-12T00:00:18Z GET /x 200");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_EQ(x.r.latency_us, -1);
  prefixes(&x, "2024-05-12T00:00:18Z GET /x 200");
  fx_close(&x);
}

/* ---- alb / elb ------------------------------------------------------- */

static void test_alb(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "alb", NULL);
  PARSE_OK(&x, "https 2018-07-02T22:23:00.186641Z "
               "app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 "
               "10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 "
               "\"GET https://www.example.com:443/api/x?y=1 HTTP/1.1\" "
               "\"curl/7.46.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
               "arn:aws:elasticloadbalancing:us-east-2:123456789012:"
               "targetgroup/my-targets/73e2d6bc24d8a067 "
               "\"Root=1-58337281-1d84f3d73c47ec4e58577259\" "
               "\"www.example.com\" \"arn:aws:acm:us-east-2:1:certificate/1\" "
               "1 2018-07-02T22:22:48.364000Z \"authenticate,forward\" \"-\" "
               "\"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\"");
  EXPECT_EQ(x.r.ts_us, 1530570180 * S + 186641);
  EXPECT_EQ(x.r.ts_res_us, 1);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_SLICE(x.r.client, "192.168.131.39");
  EXPECT_EQ(x.r.latency_us, 86000 + 48000 + 37000);
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.req_bytes, 0);
  EXPECT_EQ(x.r.resp_bytes, 57);
  EXPECT_SLICE(x.r.host, "www.example.com");
  EXPECT_SLICE(x.r.path, "/api/x");
  EXPECT_SLICE(x.r.query, "y=1");
  EXPECT_SLICE(x.r.ua, "curl/7.46.0");
  /* -1 means unmeasured: the total is unknown. */
  PARSE_OK(&x, "h2 2018-07-02T22:23:00.186641Z app/lb/1 10.1.1.1:2817 - -1 "
               "-1 -1 502 - 34 366 \"GET http://e.example:80/ HTTP/2.0\" "
               "\"-\" - - arn \"Root=1\" \"-\"");
  EXPECT_EQ(x.r.latency_us, -1);
  EXPECT_EQ(x.r.status, 502);
  EXPECT_SLICE(x.r.host, "e.example");
  EXPECT_SLICE(x.r.ua, "");
  PARSE_BAD(&x,
            "http 2018-07-02T22:23:00.186641Z app/lb/1 10.1.1.1:2817 - "
            "-1 -1 -1 400 - 0 0 \"- - - \" \"-\" - -",
            "no request line");
  PARSE_BAD(&x,
            "2015-05-13T23:39:43.945958Z my-loadbalancer "
            "192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 "
            "200 200 0 29 \"GET http://www.example.com:80/ HTTP/1.1\" "
            "\"curl/7.38.0\" - -",
            "not an ALB connection type");
  PARSE_BAD(&x, "http 2018-07-02T22:23:00Z lb", "missing fields");
  prefixes(&x, "ws 2018-07-02T22:23:00.186641Z app/lb/1 [::1]:2817 - 0.1 0.2 "
               "0.3 101 101 1 2 \"GET http://h:8080/s?x HTTP/1.1\" \"u\" - - "
               "a \"t\" \"d\"");
  fx_close(&x);
}

static void test_elb(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "elb", NULL);
  PARSE_OK(&x, "2015-05-13T23:39:43.945958Z my-loadbalancer "
               "192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 "
               "200 200 0 29 \"GET http://www.example.com:80/ HTTP/1.1\" "
               "\"curl/7.38.0\" - -");
  EXPECT_EQ(x.r.ts_us, 1431560383 * S + 945958);
  EXPECT_SLICE(x.r.client, "192.168.131.39");
  EXPECT_EQ(x.r.latency_us, 73 + 1048 + 57);
  EXPECT_EQ(x.r.resp_bytes, 29);
  EXPECT_SLICE(x.r.host, "www.example.com");
  EXPECT_SLICE(x.r.path, "/");
  EXPECT_SLICE(x.r.ua, "curl/7.38.0");
  EXPECT_EQ(x.r.ts_is_end, 1);
  /* Old ELB lines end at the request. */
  PARSE_OK(&x, "2015-05-13T23:39:43.945958Z lb 10.0.0.9:1 10.0.0.1:80 0.1 "
               "0.2 0.3 404 404 0 0 \"POST https://h.example:443/f HTTP/1.1\"");
  EXPECT_SLICE(x.r.host, "h.example");
  EXPECT_EQ(x.r.status, 404);
  PARSE_BAD(&x,
            "https 2018-07-02T22:23:00.186641Z app/lb/1 1.1.1.1:2 - 0.1 "
            "0.1 0.1 200 200 0 57 \"GET / HTTP/1.1\" \"c\" - - a",
            "missing fields");
  PARSE_BAD(&x,
            "2015-05-13T23:39:43.9Z+ lb 10.0.0.9:1 10.0.0.1:80 0.1 0.2 "
            "0.3 404 404 0 0 \"GET / HTTP/1.1\"",
            "bad time");
  fx_close(&x);
}

/* ---- json ------------------------------------------------------------ */

static void test_json_nginx(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "json", NULL);
  PARSE_OK(&x, "{\"remote_addr\":\"127.0.0.1\",\"remote_user\":\"-\","
               "\"time_local\":\"17/Nov/2013:06:31:30 -0500\",\"request\":"
               "\"GET /api/dashboard/x/ping?_=1 HTTP/1.1\",\"status\":\"200\","
               "\"body_bytes_sent\":\"12\",\"request_time\":\"0.004\","
               "\"http_referer\":\"https://r.example/#d\",\"http_user_agent\":"
               "\"Mozilla \\\"x\\\" \\u00e9\",\"http_x_forwarded_for\":\"-\","
               "\"host\":\"app.example\"}");
  EXPECT_EQ(x.r.ts_us, 1384687890 * S);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_SLICE(x.r.client, "127.0.0.1");
  EXPECT_SLICE(x.r.user, "");
  EXPECT_SLICE(x.r.method, "GET");
  EXPECT_SLICE(x.r.path, "/api/dashboard/x/ping");
  EXPECT_SLICE(x.r.query, "_=1");
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.resp_bytes, 12);
  EXPECT_EQ(x.r.latency_us, 4000);
  EXPECT_SLICE(x.r.referer, "https://r.example/#d");
  EXPECT_SLICE(x.r.ua, "Mozilla \"x\" \xc3\xa9");
  EXPECT_SLICE(x.r.host, "app.example");
  /* Behind a local proxy the client is the first forwarded address. */
  PARSE_OK(&x, "{\"remote_addr\":\"127.0.0.1\",\"time_local\":"
               "\"17/Nov/2013:06:31:30 -0500\",\"request\":\"POST /a HTTP/1.1\""
               ",\"status\":201,\"http_x_forwarded_for\":\"115.249.25.252, "
               "10.0.0.1\"}");
  EXPECT_SLICE(x.r.client, "115.249.25.252");
  EXPECT_EQ(x.r.status, 201);
  PARSE_BAD(&x,
            "{\"time_local\":\"17/Nov/2013:06:31:30 -0500\",\"request\":"
            "\"-\",\"status\":\"400\"}",
            "no request line");
  PARSE_BAD(&x, "{\"request\":\"GET / HTTP/1.1\",\"status\":\"200\"}",
            "no time");
  PARSE_BAD(&x, "{\"time\":\"yesterday\",\"request\":\"GET / HTTP/1.1\"}",
            "bad time");
  PARSE_BAD(&x,
            "{\"time\":\"2024-05-12T00:00:18Z\",\"request\":\"GET / "
            "HTTP/1.1\",\"status\":\"600\"}",
            "bad status");
  PARSE_BAD(&x, "{\"time\":\"2024-05-12T00:00:18Z\",\"request\":", "bad JSON");
  PARSE_BAD(&x, "{\"a\":1} trailing", "bad JSON");
  PARSE_BAD(&x, "[1,2,3]", "not a JSON object");
  PARSE_BAD(&x, "plain text", "not a JSON object");
  prefixes(&x, "{\"time\":\"2024-05-12T00:00:18Z\",\"method\":\"GET\","
               "\"path\":\"/a\",\"status\":200}");
  fx_close(&x);
}

static void test_json_kinds(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "json", NULL);
  /* Numbers everywhere, method + uri + args, milliseconds. */
  PARSE_OK(&x, "{\"@timestamp\":\"2024-05-12T00:00:18.250Z\",\"method\":"
               "\"PATCH\",\"uri\":\"/v1/u/5\",\"args\":\"a=b\",\"status_code\":"
               "422,\"bytes\":77,\"duration_ms\":12.5,\"client_ip\":"
               "\"198.51.100.1\",\"user\":\"carol\",\"user_agent\":\"k6/0.5\","
               "\"referrer\":\"x\",\"http_host\":\"h\"}");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S + 250000);
  EXPECT_EQ(x.r.ts_res_us, 1000);
  EXPECT_EQ(x.r.ts_is_end, 0);
  EXPECT_SLICE(x.r.method, "PATCH");
  EXPECT_SLICE(x.r.path, "/v1/u/5");
  EXPECT_SLICE(x.r.query, "a=b");
  EXPECT_EQ(x.r.status, 422);
  EXPECT_EQ(x.r.resp_bytes, 77);
  EXPECT_EQ(x.r.latency_us, 12500);
  EXPECT_SLICE(x.r.client, "198.51.100.1");
  EXPECT_SLICE(x.r.user, "carol");
  EXPECT_SLICE(x.r.ua, "k6/0.5");
  EXPECT_SLICE(x.r.referer, "x");
  EXPECT_SLICE(x.r.host, "h");
  /* Epoch numbers: seconds with a fraction, and milliseconds. */
  PARSE_OK(&x, "{\"msec\":1384443873.878,\"request_method\":\"GET\","
               "\"url\":\"https://h.example/p?q=2\",\"duration_us\":1500}");
  EXPECT_EQ(x.r.ts_us / 1000, 1384443873878);
  EXPECT_EQ(x.r.ts_is_end, 1);
  EXPECT_SLICE(x.r.host, "h.example");
  EXPECT_SLICE(x.r.query, "q=2");
  EXPECT_EQ(x.r.latency_us, 1500);
  EXPECT_EQ(x.r.status, 0);
  PARSE_OK(&x, "{\"ts\":1715472018250,\"method\":\"GET\",\"path\":\"/\","
               "\"request_time\":0.5,\"size\":\"-\"}");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S + 250000);
  EXPECT_EQ(x.r.latency_us, 500000);
  EXPECT_EQ(x.r.resp_bytes, 0);
  PARSE_OK(&x, "{\"ts\":1715472018,\"method\":\"GET\",\"path\":\"/p?x=1\","
               "\"query\":\"?y\"}");
  EXPECT_SLICE(x.r.query, "x=1");
  PARSE_OK(&x, "{\"ts\":1715472018,\"method\":\"GET\",\"path\":\"/p\","
               "\"query\":\"?y\"}");
  EXPECT_SLICE(x.r.query, "y");
  PARSE_BAD(&x, "{\"ts\":1715472018,\"method\":\"get\",\"path\":\"/p\"}",
            "bad method");
  PARSE_BAD(&x, "{\"ts\":1715472018,\"method\":\"GET\"}", "no request target");
  PARSE_BAD(&x, "{\"ts\":-5,\"method\":\"GET\",\"path\":\"/\"}", "bad time");
  PARSE_BAD(&x, "{\"ts\":true,\"method\":\"GET\",\"path\":\"/\"}", "bad time");
  fx_close(&x);
}

static void test_json_map(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  o.json_map = "time=ts.iso,method=http.verb,path=http.target,"
               "status=http.code,latency_ms=timing.total|timing.sum,"
               "client=peer.addr,session=ctx.session";
  struct fx x;
  fx_open(&x, "json", &o);
  PARSE_OK(&x, "{\"ts\":{\"iso\":\"2024-05-12T00:00:18Z\"},\"http\":{"
               "\"verb\":\"GET\",\"target\":\"/m?n=1\",\"code\":\"304\"},"
               "\"timing\":{\"sum\":7},\"request_time\":\"9.9\","
               "\"request\":\"POST /wrong HTTP/1.1\",\"peer\":{\"addr\":"
               "\"192.0.2.44\"},\"ctx\":{\"session\":\"S1\"}}");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_SLICE(x.r.method, "GET");
  EXPECT_SLICE(x.r.path, "/m");
  EXPECT_SLICE(x.r.query, "n=1");
  EXPECT_EQ(x.r.status, 304);
  EXPECT_EQ(x.r.latency_us, 7000);
  EXPECT_SLICE(x.r.client, "192.0.2.44");
  EXPECT_SLICE(x.r.session, "S1");
  /* A key that literally holds a dot wins over the nested path. */
  PARSE_OK(&x, "{\"ts.iso\":\"2024-05-12T00:00:19Z\",\"ts\":{\"iso\":"
               "\"2024-05-12T00:00:18Z\"},\"http\":{\"verb\":\"GET\","
               "\"target\":\"/\"}}");
  EXPECT_EQ(x.r.ts_us, 1715472019 * S);
  fx_close(&x);

  struct logfmt *f = NULL;
  char err[512] = "";
  o.json_map = "stat=code";
  EXPECT_EQ(logfmt_new("json", &o, &f, err, sizeof err), ERR_USAGE);
  EXPECT_CONTAINS(err, "stat");
  o.json_map = "status";
  EXPECT_EQ(logfmt_new("json", &o, &f, err, sizeof err), ERR_USAGE);
  EXPECT_CONTAINS(err, "field=key");
  assert_null(f);
}

static void test_json_session(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  o.session_header = "x-mimic-session";
  struct fx x;
  fx_open(&x, "json", &o);
  PARSE_OK(&x, "{\"time\":\"2024-05-12T00:00:18Z\",\"request\":\"GET / "
               "HTTP/1.1\",\"http_x_mimic_session\":\"abc\"}");
  EXPECT_SLICE(x.r.session, "abc");
  fx_close(&x);
  o.session_header = NULL;
  o.session_cookie = "sid";
  fx_open(&x, "json", &o);
  PARSE_OK(&x, "{\"time\":\"2024-05-12T00:00:18Z\",\"request\":\"GET / "
               "HTTP/1.1\",\"http_cookie\":\"x=1; sid=q9; y=2\"}");
  EXPECT_SLICE(x.r.session, "q9");
  PARSE_OK(&x, "{\"time\":\"2024-05-12T00:00:18Z\",\"request\":\"GET / "
               "HTTP/1.1\",\"cookie_sid\":\"direct\"}");
  EXPECT_SLICE(x.r.session, "direct");
  fx_close(&x);
}

/* ---- regex ----------------------------------------------------------- */

static void test_regex(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  o.regex = "^(?<client>\\S+) (?<user>\\S+) (?<time>\\[[^]]+\\]) "
            "\"(?<request>[^\"]*)\" (?<status>\\d+) (?<bytes>\\S+) "
            "(?<latency_ms>[\\d.]+)ms ua=\"(?<ua>[^\"]*)\""
            "(?: sess=(?<session>\\S+))?$";
  struct fx x;
  fx_open(&x, "regex", &o);
  EXPECT_CONTAINS(logfmt_describe(x.f), "regex");
  PARSE_OK(&x, "192.0.2.8 dave [10/Oct/2000:13:55:36 -0700] "
               "\"GET /r?s=1 HTTP/1.1\" 200 - 2.5ms ua=\"Go-http-client/1.1\"");
  EXPECT_SLICE(x.r.client, "192.0.2.8");
  EXPECT_SLICE(x.r.user, "dave");
  EXPECT_EQ(x.r.ts_us, 971211336 * S);
  EXPECT_SLICE(x.r.path, "/r");
  EXPECT_SLICE(x.r.query, "s=1");
  EXPECT_EQ(x.r.status, 200);
  EXPECT_EQ(x.r.resp_bytes, 0);
  EXPECT_EQ(x.r.latency_us, 2500);
  EXPECT_SLICE(x.r.ua, "Go-http-client/1.1");
  EXPECT_SLICE(x.r.session, "");
  PARSE_OK(&x, "192.0.2.8 - [10/Oct/2000:13:55:36 -0700] "
               "\"GET / HTTP/1.1\" 200 5 1ms ua=\"-\" sess=zz");
  EXPECT_SLICE(x.r.session, "zz");
  EXPECT_SLICE(x.r.user, "");
  PARSE_BAD(&x, "nothing like it", "no match");
  PARSE_BAD(&x,
            "192.0.2.8 - [10/Oct/2000:13:55:36 -0700] \"- - -\" 400 0 "
            "0ms ua=\"-\"",
            "no request line");
  PARSE_BAD(&x,
            "192.0.2.8 - [99/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" "
            "200 0 0ms ua=\"-\"",
            "bad time");
  PARSE_BAD(&x,
            "192.0.2.8 - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" "
            "700 0 0ms ua=\"-\"",
            "bad status");
  fx_close(&x);

  /* method + uri, ISO time, duplicate names with (?J), latency in µs. */
  o.regex = "(?J)^(?:(?<time>\\d{4}-\\S+)|@(?<time>\\d+(?:\\.\\d+)?)) "
            "(?<method>[A-Z]+) (?<uri>\\S+) (?<status>\\d{3}) "
            "(?<latency_us>\\d+)us host=(?<host>\\S+) ip=(?<ip>\\S+)$";
  fx_open(&x, "regex", &o);
  PARSE_OK(&x, "2024-05-12T00:00:18Z GET /a?b=c 201 1500us host=h ip=10.9.8.7");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_SLICE(x.r.path, "/a");
  EXPECT_SLICE(x.r.query, "b=c");
  EXPECT_EQ(x.r.latency_us, 1500);
  EXPECT_SLICE(x.r.host, "h");
  EXPECT_SLICE(x.r.client, "10.9.8.7");
  PARSE_OK(&x, "@1715472018.5 POST /b 500 1us host=- ip=-");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S + 500000);
  EXPECT_EQ(x.r.ts_res_us, 100000);
  EXPECT_SLICE(x.r.host, "");
  PARSE_BAD(&x, "@1 post /b 500 1us host=- ip=-", "no match");
  fx_close(&x);

  o.regex = "(?<time>\\S+) (?<method>\\S+) (?<path>\\S+)";
  fx_open(&x, "regex", &o);
  PARSE_OK(&x, "2024-05-12T00:00:18Z GET /p?q=1");
  EXPECT_SLICE(x.r.path, "/p");
  EXPECT_SLICE(x.r.query, "q=1");
  EXPECT_EQ(x.r.status, 0);
  PARSE_BAD(&x, "2024-05-12T00:00:18Z Get /p", "bad method");
  PARSE_BAD(&x, "2024-05-12T00:00:18Z GET p", "bad request target");
  fx_close(&x);
}

static void test_regex_rejected(void **state) {
  (void)state;
  struct logfmt_opts o = {0};
  struct logfmt *f = NULL;
  char err[512] = "";
  o.regex = "(?<request>.*)";
  EXPECT_EQ(logfmt_new("regex", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "time");
  o.regex = "(?<time>\\S+) (?<method>\\S+)";
  EXPECT_EQ(logfmt_new("regex", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "request");
  o.regex = "(?<time>\\S+ (?<request>";
  EXPECT_EQ(logfmt_new("regex", &o, &f, err, sizeof err), ERR_PARSE);
  EXPECT_CONTAINS(err, "offset");
  o.regex = "";
  EXPECT_EQ(logfmt_new("regex", &o, &f, err, sizeof err), ERR_USAGE);
  assert_null(f);
}

/* ---- generic --------------------------------------------------------- */

static void test_generic(void **state) {
  (void)state;
  struct fx x;
  fx_open(&x, "generic", NULL);
  PARSE_OK(&x, "2024-05-12T00:00:18Z web-1 app[123]: \"GET /g?h=1 HTTP/1.1\" "
               "upstream=\"x\" 201 512 0.12");
  EXPECT_EQ(x.r.ts_us, 1715472018 * S);
  EXPECT_SLICE(x.r.path, "/g");
  EXPECT_EQ(x.r.status, 201);
  EXPECT_EQ(x.r.resp_bytes, 512);
  EXPECT_SLICE(x.r.client, "");
  PARSE_OK(&x, "edge-7.example.net \"ignored\" [10/Oct/2000:13:55:36 -0700] "
               "\"POST /p HTTP/1.0\" 1234 302 -");
  EXPECT_SLICE(x.r.client, "edge-7.example.net");
  EXPECT_EQ(x.r.ts_us, 971211336 * S);
  EXPECT_EQ(x.r.status, 302);
  EXPECT_EQ(x.r.resp_bytes, 0);
  /* The time is not taken from inside the request. */
  PARSE_BAD(&x, "x \"GET /?d=2024-05-12T00:00:18Z HTTP/1.1\" 200", "no time");
  PARSE_BAD(&x, "2024-05-12T00:00:18Z \"GET / HTTP/1.1\" 1000 x", "no status");
  PARSE_BAD(&x, "2024-05-12T00:00:18Z \"get / HTTP/1.1\" 200",
            "no request line");
  prefixes(&x, "h [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5");
  fx_close(&x);
}

/* ---- names, options, detection --------------------------------------- */

static void test_names(void **state) {
  (void)state;
  static const char *const names[] = {"clf",  "combined", "ingress-nginx",
                                      "w3c",  "alb",      "elb",
                                      "json", "generic"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    struct logfmt *f = NULL;
    char err[256] = "";
    int rc = logfmt_new(names[i], NULL, &f, err, sizeof err);
    if (rc != 0) fail_msg("%s: rc %d %s", names[i], rc, err);
    if (strcmp(logfmt_name(f), names[i]) != 0)
      fail_msg("name '%s' for '%s'", logfmt_name(f), names[i]);
    if (!logfmt_describe(f)[0]) fail_msg("%s has no description", names[i]);
    logfmt_free(f);
  }
  struct logfmt *f = NULL;
  char err[256] = "";
  EXPECT_EQ(logfmt_new("apache2", NULL, &f, err, sizeof err), ERR_USAGE);
  EXPECT_CONTAINS(err, "apache2");
  EXPECT_CONTAINS(err, "combined");
  EXPECT_EQ(logfmt_new("auto", NULL, &f, NULL, 0), ERR_USAGE);
  assert_null(f);
  logfmt_free(NULL);
}

struct sample {
  const char *lines[8];
};

static int detect(const struct sample *s, const struct logfmt_opts *o,
                  struct logfmt **f) {
  const char *lines[8];
  size_t lens[8], n = 0;
  for (; n < 8 && s->lines[n]; n++) {
    lines[n] = s->lines[n];
    lens[n] = strlen(s->lines[n]);
  }
  return logfmt_detect(lines, lens, n, o, f);
}

static void expect_detect(const struct sample *s, const char *name,
                          const char *desc_part) {
  struct logfmt *f = NULL;
  int rc = detect(s, NULL, &f);
  if (rc != 0) fail_msg("nothing detected for '%s' (rc %d)", name, rc);
  if (strcmp(logfmt_name(f), name) != 0 ||
      !strstr(logfmt_describe(f), desc_part))
    fail_msg("detected %s (%s), expected %s (... %s ...)", logfmt_name(f),
             logfmt_describe(f), name, desc_part);
  logfmt_free(f);
}

#define CLF_PRE "192.0.2.1 - - [12/Mar/2021:10:00:00 +0000] "

static void test_detect(void **state) {
  (void)state;
  const struct sample combined = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua 1\"",
      CLF_PRE "\"GET /b HTTP/1.1\" 404 0 \"http://x/\" \"ua 2\"",
      CLF_PRE "\"-\" 408 0 \"-\" \"-\"",
      "",
      CLF_PRE "\"POST /c HTTP/1.1\" 201 9 \"-\" \"ua 3\" \"-\"",
  }};
  expect_detect(&combined, "combined", "combined");
  const struct sample clf = {{
      "h1.example - - [01/Jul/1995:00:00:01 -0400] \"GET / HTTP/1.0\" 200 6245",
      "10.0.0.2 - - [01/Jul/1995:00:00:06 -0400] \"GET /x HTTP/1.0\" 304 0",
      "10.0.0.3 - - [01/Jul/1995:00:00:09 -0400] \"GET /y.mpg\" 200 -",
  }};
  expect_detect(&clf, "clf", "Common Log Format");
  const struct sample nginx_rt = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" 0.003",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"ua\" 1.250",
      CLF_PRE "\"GET /c HTTP/1.1\" 200 5 \"-\" \"ua\" 0.000",
  }};
  expect_detect(&nginx_rt, "combined", "$request_time (s)");
  const struct sample nginx_rt2 = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" \"1.2.3.4\" 0.003",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"ua\" \"-\" 1.250",
  }};
  expect_detect(&nginx_rt2, "combined", "trailing field 2");
  const struct sample apache_d = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" 3021",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"ua\" 150",
  }};
  expect_detect(&apache_d, "combined", "%D (us)");
  const struct sample apache_io = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" 310 1200",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"ua\" 290 800",
  }};
  expect_detect(&apache_io, "combined", "combined");
  const struct sample ingress = {{
      "192.168.64.1 - - [07/Feb/2020:11:48:51 +0000] \"POST /p HTTP/1.1\" 200 "
      "59 \"-\" \"curl/7.54.0\" 89 0.001 [default-web-8080] [] "
      "172.17.0.5:8080 59 0.000 200 529a007902362a5f51385a5fa7049884",
      "192.168.64.1 - - [07/Feb/2020:11:50:09 +0000] \"geti /p HTTP/1.1\" 400 "
      "163 \"-\" \"-\" 0 0.000 [] [] - - - - efb0c5aa8be6cdeb4a7e7bd090e3d893",
      "192.168.64.1 - - [07/Feb/2020:11:49:15 +0000] \"GET /p/4 HTTP/1.1\" 200 "
      "59 \"-\" \"curl/7.54.0\" 91 0.001 [default-web-8080] [] "
      "172.17.0.5:8080 59 0.000 200 68fa971ce4dfce685fdc01c877bfa645",
  }};
  expect_detect(&ingress, "ingress-nginx", "ingress");
  const struct sample w3c = {{
      "#Software: Microsoft Internet Information Services 10.0",
      "#Fields: date time cs-method cs-uri-stem sc-status time-taken",
      "2024-05-12 00:00:18 GET /a 200 15",
      "2024-05-12 00:00:19 GET /b 404 3",
  }};
  expect_detect(&w3c, "w3c", "W3C");
  const struct sample alb = {{
      "http 2018-07-02T22:23:00.186641Z app/lb/1 192.168.131.39:2817 "
      "10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 \"GET "
      "http://www.example.com:80/ HTTP/1.1\" \"curl/7.46.0\" - - arn "
      "\"Root=1\" \"-\"",
      "https 2018-07-02T22:23:01.186641Z app/lb/1 192.168.131.39:2818 "
      "10.0.0.1:80 0.001 0.002 0.000 404 404 34 366 \"GET "
      "https://www.example.com:443/x HTTP/1.1\" \"curl/7.46.0\" c p arn "
      "\"Root=2\" \"www.example.com\"",
  }};
  expect_detect(&alb, "alb", "Application");
  const struct sample elb = {{
      "2015-05-13T23:39:43.945958Z lb 192.168.131.39:2817 10.0.0.1:80 "
      "0.000073 0.001048 0.000057 200 200 0 29 \"GET http://e.com:80/ "
      "HTTP/1.1\" \"curl/7.38.0\" - -",
      "2015-05-13T23:39:44.945958Z lb 192.168.131.39:2818 10.0.0.1:80 "
      "0.000073 0.001048 0.000057 200 200 0 29 \"GET http://e.com:80/x "
      "HTTP/1.1\" \"curl/7.38.0\" - -",
  }};
  expect_detect(&elb, "elb", "Classic");
  const struct sample json = {{
      "{\"time_local\":\"17/Nov/2013:06:31:30 -0500\",\"request\":\"GET / "
      "HTTP/1.1\",\"status\":\"200\"}",
      "{\"time_local\":\"17/Nov/2013:06:31:31 -0500\",\"request\":\"GET /a "
      "HTTP/1.1\",\"status\":\"200\"}",
  }};
  expect_detect(&json, "json", "JSON");
  const struct sample generic = {{
      "2024-05-12T00:00:18Z a \"GET /a HTTP/1.1\" 200",
      "2024-05-12T00:00:19Z b \"GET /b HTTP/1.1\" 404",
  }};
  expect_detect(&generic, "generic", "generic");
}

static void test_detect_fails(void **state) {
  (void)state;
  struct logfmt *f = NULL;
  const struct sample garbage = {
      {"hello world", "lorem ipsum dolor", "\x01\x02\x03", "{not json"}};
  EXPECT_EQ(detect(&garbage, NULL, &f), ERR_FORMAT);
  const struct sample empty = {{"", "\r", "   "}};
  EXPECT_EQ(detect(&empty, NULL, &f), ERR_FORMAT);
  const struct sample none = {{NULL}};
  EXPECT_EQ(detect(&none, NULL, &f), ERR_FORMAT);
  /* Two of five lines is less than half. */
  const struct sample few = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5",
      " \"curl/7.54.0\"",
      " \"Python-urllib/2.7\"",
      " \"Mozilla/5.0\"",
  }};
  EXPECT_EQ(detect(&few, NULL, &f), ERR_FORMAT);
  assert_null(f);
  /* Three of five is enough. */
  const struct sample enough = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"curl\"",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"curl\"",
      CLF_PRE "\"GET /c HTTP/1.1\" 200 5 \"-\" \"curl\"",
      " \"Python-urllib/2.7\"",
      " \"Mozilla/5.0\"",
  }};
  EXPECT_EQ(detect(&enough, NULL, &f), 0);
  assert_string_equal(logfmt_name(f), "combined");
  logfmt_free(f);
}

/* A damaged log (redaction fragments between real lines): in a large
 * sample, 40 clear lines among 400 decide; 20 among 400 do not. */
static void test_detect_damaged(void **state) {
  (void)state;
  enum { N = 400 };
  static char buf[N][160];
  const char *lines[N];
  size_t lens[N];
  for (int good = 20; good <= 40; good += 20) {
    for (int i = 0; i < N; i++) {
      if (i % (N / good) == 0)
        snprintf(buf[i], sizeof buf[i],
                 CLF_PRE "\"GET /p/%d HTTP/1.1\" 200 5 \"-\" \"curl\"", i);
      else
        snprintf(buf[i], sizeof buf[i], " \"Mozilla/5.0\"");
      lines[i] = buf[i];
      lens[i] = strlen(buf[i]);
    }
    struct logfmt *f = NULL;
    int rc = logfmt_detect(lines, lens, N, NULL, &f);
    if (good == 20) {
      EXPECT_EQ(rc, ERR_FORMAT);
    } else {
      EXPECT_EQ(rc, 0);
      assert_string_equal(logfmt_name(f), "combined");
    }
    logfmt_free(f);
  }
}

/* The detected format reads the request time it detected, and a detected
 * W3C keeps the #Fields it saw. */
static void test_detect_then_parse(void **state) {
  (void)state;
  const struct sample rt = {{
      CLF_PRE "\"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\" 3021",
      CLF_PRE "\"GET /b HTTP/1.1\" 200 5 \"-\" \"ua\" 150",
  }};
  struct fx x;
  memset(&x, 0, sizeof x);
  EXPECT_EQ(detect(&rt, NULL, &x.f), 0);
  PARSE_OK(&x, rt.lines[0]);
  EXPECT_EQ(x.r.latency_us, 3021);
  EXPECT_EQ(x.r.ts_is_end, 0);
  fx_close(&x);

  const struct sample w3c = {{
      "#Fields: date time cs-method cs-uri-stem sc-status",
      "2024-05-12 00:00:18 GET /a 200",
  }};
  EXPECT_EQ(detect(&w3c, NULL, &x.f), 0);
  PARSE_OK(&x, "2024-05-12 00:00:19 GET /b 500");
  EXPECT_EQ(x.r.status, 500);
  fx_close(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_logrec_clear),
      cmocka_unit_test(test_logrec_target),
      cmocka_unit_test(test_logrec_request),
      cmocka_unit_test(test_combined_fields),
      cmocka_unit_test(test_combined_edge_cases),
      cmocka_unit_test(test_combined_request_time),
      cmocka_unit_test(test_combined_failures),
      cmocka_unit_test(test_clf_by_name),
      cmocka_unit_test(test_ingress),
      cmocka_unit_test(test_nginx_main),
      cmocka_unit_test(test_nginx_parts),
      cmocka_unit_test(test_nginx_rejected),
      cmocka_unit_test(test_w3c),
      cmocka_unit_test(test_alb),
      cmocka_unit_test(test_elb),
      cmocka_unit_test(test_json_nginx),
      cmocka_unit_test(test_json_kinds),
      cmocka_unit_test(test_json_map),
      cmocka_unit_test(test_json_session),
      cmocka_unit_test(test_regex),
      cmocka_unit_test(test_regex_rejected),
      cmocka_unit_test(test_generic),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_detect),
      cmocka_unit_test(test_detect_fails),
      cmocka_unit_test(test_detect_damaged),
      cmocka_unit_test(test_detect_then_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
