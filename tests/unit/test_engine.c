/* Tests of the HTTP engine against a tiny HTTP/1.1 server that runs on
 * the same libuv loop (127.0.0.1, a free port): keep-alive, one answer per
 * request ("ok", or the status named by /status/NNN), and modes that never
 * answer, hang up, or close connections, to provoke each error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <uv.h>

#include "engine.h"
#include "err.h"

#define SESSION_HDR "X-Mimic-Session"

/* ---- the server --------------------------------------------------------- */

enum srv_mode {
  SRV_OK,         /* answer, keep the connection */
  SRV_SILENT,     /* read, never answer */
  SRV_HANGUP,     /* close as soon as a request came */
  SRV_CLOSE,      /* answer with Connection: close, then close */
  SRV_IDLE_CLOSE, /* answer (keep-alive), then close the idle connection */
};

struct rec {
  char line[128];
  char ua[128];
  char sess[64];
  char extra[64];
  char ctype[64];
  char clen[16];
  char auth[64];
  char cookie[128];
  char body[128]; /* the first bytes of a complete body */
  int expect;
};

struct conn;

struct srv {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  enum srv_mode mode;
  int accepted;
  int partial; /* connections closed in the middle of a request body */
  int handles;
  int unref; /* server handles must not keep the loop alive */
  struct conn *conns;
  struct rec *recs;
  int nrec, caprec;
};

struct conn {
  uv_tcp_t tcp;
  struct srv *srv;
  struct conn *prev, *next;
  int closing;
  size_t len;
  size_t need;     /* body bytes still to come for the pending request */
  char head[8192]; /* its header block, served once the body is in */
  char buf[8192];
};

struct wreq {
  uv_write_t req;
  struct conn *c;
  int close_after;
  char *buf;
};

static void srv_handle_closed(uv_handle_t *h) {
  struct srv *s = h->data;
  if (h != (uv_handle_t *)&s->listener) free(h); /* a struct conn */
  s->handles--;
}

static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  struct srv *s = c->srv;
  if (c->need) s->partial++;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, srv_handle_closed);
}

static void on_written(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  (void)status;
  if (w->close_after) conn_close(w->c);
  free(w->buf);
  free(w);
}

/* Copies the value of header name (case-insensitive) out of the block. */
static int header_value(const char *block, const char *name, char *out,
                        size_t outlen) {
  size_t n = strlen(name);
  out[0] = '\0';
  for (const char *p = strstr(block, "\r\n"); p && p[2] != '\r';
       p = strstr(p + 2, "\r\n")) {
    const char *h = p + 2;
    if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
      const char *v = h + n + 1;
      while (*v == ' ') v++;
      const char *end = strstr(v, "\r\n");
      size_t len = end ? (size_t)(end - v) : strlen(v);
      if (len >= outlen) len = outlen - 1;
      memcpy(out, v, len);
      out[len] = '\0';
      return 1;
    }
  }
  return 0;
}

/* Serves one request: its header block and its complete body. Paths:
 * /status/NNN answers NNN; /create answers 201 with a Location, two
 * Set-Cookie lines and a JSON body; /big answers 100000 bytes; anything
 * else "ok". */
static void serve(struct conn *c, const char *block, const char *body,
                  size_t blen) {
  struct srv *s = c->srv;
  if (s->nrec < s->caprec) {
    struct rec *r = &s->recs[s->nrec++];
    const char *eol = strstr(block, "\r\n");
    size_t n = (size_t)(eol - block);
    if (n >= sizeof r->line) n = sizeof r->line - 1;
    memcpy(r->line, block, n);
    r->line[n] = '\0';
    char tmp[8];
    header_value(block, "User-Agent", r->ua, sizeof r->ua);
    header_value(block, SESSION_HDR, r->sess, sizeof r->sess);
    header_value(block, "X-Extra", r->extra, sizeof r->extra);
    header_value(block, "Content-Type", r->ctype, sizeof r->ctype);
    header_value(block, "Content-Length", r->clen, sizeof r->clen);
    header_value(block, "Authorization", r->auth, sizeof r->auth);
    header_value(block, "Cookie", r->cookie, sizeof r->cookie);
    r->expect = header_value(block, "Expect", tmp, sizeof tmp);
    size_t n2 = blen < sizeof r->body - 1 ? blen : sizeof r->body - 1;
    memcpy(r->body, body, n2);
    r->body[n2] = '\0';
  }
  if (s->mode == SRV_SILENT) return;
  if (s->mode == SRV_HANGUP) {
    conn_close(c);
    return;
  }
  int status = 200;
  const char *path = strchr(block, ' ');
  if (path && strncmp(path + 1, "/status/", 8) == 0) status = atoi(path + 9);
  int is_head = strncmp(block, "HEAD ", 5) == 0;
  int create = path && strncmp(path + 1, "/create ", 8) == 0;
  int big = path && strncmp(path + 1, "/big ", 5) == 0;
  struct wreq *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->c = c;
  w->close_after = s->mode == SRV_CLOSE || s->mode == SRV_IDLE_CLOSE;
  size_t cap = 100000 + 512;
  w->buf = malloc(cap);
  assert_non_null(w->buf);
  const char *payload = "ok";
  size_t plen = 2;
  const char *extra = "";
  if (create) {
    status = 201;
    payload = "{\"id\": 42, \"name\": \"x\"}";
    plen = strlen(payload);
    extra = "location:   /things/42  \r\nSet-Cookie: sid=abc; Path=/\r\n"
            "SET-COOKIE: theme=dark\r\n";
  }
  int len =
      snprintf(w->buf, cap, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n",
               status, big ? (size_t)100000 : plen, extra,
               s->mode == SRV_CLOSE ? "Connection: close\r\n" : "");
  if (!is_head && big) {
    memset(w->buf + len, 'b', 100000);
    len += 100000;
  } else if (!is_head) {
    memcpy(w->buf + len, payload, plen);
    len += (int)plen;
  }
  uv_buf_t b = uv_buf_init(w->buf, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    free(w->buf);
    free(w);
    conn_close(c);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct conn *c = (struct conn *)h;
  (void)hint;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - 1 - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct conn *c = (struct conn *)st;
  (void)buf;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  char *end;
  for (;;) {
    if (c->closing) break;
    if (c->need) {
      /* The pending request's body (small in these tests: it fits). */
      if (c->len < c->need) break;
      serve(c, c->head, c->buf, c->need);
      memmove(c->buf, c->buf + c->need, c->len - c->need + 1);
      c->len -= c->need;
      c->need = 0;
      continue;
    }
    if (!(end = strstr(c->buf, "\r\n\r\n"))) break;
    end[2] = '\0'; /* keep the last header's CRLF for header_value */
    size_t used = (size_t)(end + 4 - c->buf);
    char clen[16];
    header_value(c->buf, "Content-Length", clen, sizeof clen);
    size_t need = (size_t)strtoul(clen, NULL, 10);
    if (need) {
      snprintf(c->head, sizeof c->head, "%s", c->buf);
      c->need = need;
    } else {
      serve(c, c->buf, "", 0);
    }
    memmove(c->buf, c->buf + used, c->len - used + 1);
    c->len -= used;
  }
  if (c->len >= sizeof c->buf - 1) conn_close(c); /* too big: give up */
}

static void on_connection(uv_stream_t *l, int status) {
  struct srv *s = l->data;
  if (status < 0) return;
  struct conn *c = calloc(1, sizeof *c);
  assert_non_null(c);
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = s;
  c->srv = s;
  s->handles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  s->accepted++;
  if (s->unref) uv_unref((uv_handle_t *)&c->tcp);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void srv_start(struct srv *s, uv_loop_t *loop, enum srv_mode mode) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->mode = mode;
  s->caprec = 4096;
  s->recs = calloc((size_t)s->caprec, sizeof *s->recs);
  assert_non_null(s->recs);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  EXPECT_EQ(uv_tcp_init(loop, &s->listener), 0);
  s->listener.data = s;
  s->handles = 1;
  EXPECT_EQ(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
  EXPECT_EQ(uv_listen((uv_stream_t *)&s->listener, 128, on_connection), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  EXPECT_EQ(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len), 0);
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_unref(struct srv *s) {
  s->unref = 1;
  uv_unref((uv_handle_t *)&s->listener);
  for (struct conn *c = s->conns; c; c = c->next)
    uv_unref((uv_handle_t *)&c->tcp);
}

static void srv_close_all(struct srv *s) {
  while (s->conns) conn_close(s->conns);
  uv_close((uv_handle_t *)&s->listener, srv_handle_closed);
}

/* ---- the harness -------------------------------------------------------- */

struct t {
  uv_loop_t loop;
  uv_timer_t wd;
  struct srv srv;
  int have_srv;
  struct engine *e;
  int closed;

  int total;     /* requests to send in all (refill from the callback) */
  int submitted; /* accepted by engine_submit */
  int completed; /* callbacks */
  int close_at;  /* engine_close from the callback after this many */
  int close_called;
  int resubmit_rc; /* what a submit from an abort callback returned */
  const char *method;
  int n_ok, n_status_bad, n_bytes_bad;
  int n_err[ENGINE_E_COUNT];
  struct engine_result last;
  char last_text[CURL_ERROR_SIZE];
  int n_aborted;
  /* copies of what the last request captured (valid in the callback only) */
  char loc[256], cookies[512], body[256];
  size_t body_len;
  int truncated, has_loc, has_cookies, has_body;
  int resubmit_capture; /* submit a capturing /create from the callback
                           before reading the result */
};

static void on_wd(uv_timer_t *h) {
  (void)h;
}

static void on_wd_stop(uv_timer_t *h) {
  uv_stop(h->loop);
}

static void t_init(struct t *t) {
  memset(t, 0, sizeof *t);
  EXPECT_EQ(uv_loop_init(&t->loop), 0);
  uv_timer_init(&t->loop, &t->wd);
  t->method = "GET";
  t->resubmit_rc = 1;
}

/* Runs the loop until *what >= want or ms pass; returns 0 or -1. */
static int run_until(struct t *t, const int *what, int want, uint64_t ms) {
  uint64_t end = uv_hrtime() / 1000000 + ms;
  uv_timer_start(&t->wd, on_wd, 50, 50); /* wake up to check the clock */
  while (*what < want && uv_hrtime() / 1000000 < end)
    uv_run(&t->loop, UV_RUN_ONCE);
  uv_timer_stop(&t->wd);
  return *what >= want ? 0 : -1;
}

static void on_closed(void *arg) {
  struct t *t = arg;
  t->closed++;
}

static void submit_one(struct t *t);

static void on_done(void *arg, const struct engine_result *r) {
  struct t *t = arg;
  t->completed++;
  t->last = *r;
  snprintf(t->last_text, sizeof t->last_text, "%s",
           r->err_text ? r->err_text : "");
  t->n_err[r->err < ENGINE_E_COUNT ? r->err : ENGINE_E_OTHER]++;
  if (t->resubmit_capture) {
    /* Reuses the slot just freed: the result must not change under us. */
    t->resubmit_capture = 0;
    struct engine_req q = {.method = "GET",
                           .target = "/status/500",
                           .capture = ENGINE_CAP_HEADERS | ENGINE_CAP_BODY};
    EXPECT_EQ(engine_submit(t->e, &q), 0);
    t->submitted++;
  }
  t->has_loc = r->location != NULL;
  t->has_cookies = r->set_cookie != NULL;
  t->has_body = r->body != NULL;
  snprintf(t->loc, sizeof t->loc, "%s", r->location ? r->location : "");
  snprintf(t->cookies, sizeof t->cookies, "%s",
           r->set_cookie ? r->set_cookie : "");
  snprintf(t->body, sizeof t->body, "%.*s",
           (int)(r->body_len < 255 ? r->body_len : 255),
           r->body ? r->body : "");
  t->body_len = r->body_len;
  t->truncated = r->body_truncated;
  if (r->err == ENGINE_OK) {
    if (r->status == 200)
      t->n_ok++;
    else
      t->n_status_bad++;
    uint64_t want = strcmp(t->method, "HEAD") == 0 ? 0 : 2;
    if (r->resp_bytes != want && r->status == 200) t->n_bytes_bad++;
  }
  if (r->err_text && strcmp(r->err_text, "aborted") == 0) {
    t->n_aborted++;
    struct engine_req q = {.method = "GET", .target = "/", .ctx = NULL};
    t->resubmit_rc = engine_submit(t->e, &q);
    return;
  }
  if (t->close_at && t->completed == t->close_at) {
    t->close_called = 1;
    engine_close(t->e, on_closed, t);
    return;
  }
  if (!t->close_called && t->submitted < t->total) submit_one(t);
}

static void submit_one(struct t *t) {
  char target[64], ua[64], sess[32];
  int n = t->submitted;
  snprintf(target, sizeof target, "/t/%d?q=%d", n, n);
  snprintf(ua, sizeof ua, "ua-%d", n);
  snprintf(sess, sizeof sess, "%d.7", n);
  struct engine_req q = {.method = t->method,
                         .target = target,
                         .ua = ua,
                         .session = sess,
                         .ctx = (void *)(intptr_t)n};
  int rc = engine_submit(t->e, &q);
  EXPECT_EQ(rc, 0);
  t->submitted++;
}

static const char *const extra_headers[] = {"X-Extra: yes", "X-Two: 2"};

static void t_engine(struct t *t, const char *url, size_t slots,
                     int64_t timeout_ms) {
  struct engine_opts o = {.target = url,
                          .timeout_ms = timeout_ms,
                          .headers = extra_headers,
                          .nheaders = 2,
                          .session_header = SESSION_HDR,
                          .slots = slots};
  char err[256] = "";
  int rc = engine_new(&t->loop, &o, on_done, t, &t->e, err, sizeof err);
  if (rc) fail_msg("engine_new: %d %s", rc, err);
}

static void t_server(struct t *t, enum srv_mode mode, char *url, size_t len) {
  srv_start(&t->srv, &t->loop, mode);
  t->have_srv = 1;
  snprintf(url, len, "http://127.0.0.1:%d", t->srv.port);
}

/* Closes the engine (if open) and the server; the loop must then close. */
static void t_finish(struct t *t) {
  if (t->e && !t->closed) {
    engine_close(t->e, on_closed, t);
    EXPECT_EQ(run_until(t, &t->closed, 1, 3000), 0);
  }
  if (t->have_srv) srv_close_all(&t->srv);
  uv_close((uv_handle_t *)&t->wd, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  if (t->have_srv) {
    EXPECT_EQ(t->srv.handles, 0);
    free(t->srv.recs);
  }
  EXPECT_EQ(uv_loop_close(&t->loop), 0);
}

/* ---- tests -------------------------------------------------------------- */

static void test_many_requests(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 20, 5000);
  t.total = 1000;
  for (int i = 0; i < 20; i++) submit_one(&t);
  EXPECT_EQ(engine_inflight(t.e), 20);
  EXPECT_EQ(engine_free_slots(t.e), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1000, 10000), 0);
  EXPECT_EQ(t.completed, 1000);
  EXPECT_EQ(t.n_ok, 1000);
  EXPECT_EQ(t.n_bytes_bad, 0);
  EXPECT_EQ(engine_inflight(t.e), 0);
  EXPECT_EQ(engine_free_slots(t.e), 20);
  /* Keep-alive: at most one connection per slot. */
  EXPECT_U64(t.srv.accepted, <=, 20);
  EXPECT_U64(t.srv.accepted, >=, 1);
  /* The server saw exactly what was submitted, on every request. */
  EXPECT_EQ(t.srv.nrec, 1000);
  static char seen[1000];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < t.srv.nrec; i++) {
    const struct rec *r = &t.srv.recs[i];
    int n = -1;
    sscanf(r->line, "GET /t/%d", &n);
    if (n < 0 || n >= 1000) fail_msg("unexpected request line: %s", r->line);
    seen[n]++;
    char want[128];
    snprintf(want, sizeof want, "GET /t/%d?q=%d HTTP/1.1", n, n);
    EXPECT_STR(r->line, want);
    snprintf(want, sizeof want, "ua-%d", n);
    EXPECT_STR(r->ua, want);
    snprintf(want, sizeof want, "%d.7", n);
    EXPECT_STR(r->sess, want);
    EXPECT_STR(r->extra, "yes");
    EXPECT_EQ(r->expect, 0);
  }
  for (int i = 0; i < 1000; i++) EXPECT_EQ(seen[i], 1);
  t_finish(&t);
}

/* One slot switching methods: each request must carry its own method and
 * none of the previous one's options (a body, NOBODY). */
static void test_methods(void **state) {
  (void)state;
  static const char *const methods[] = {"HEAD", "POST",   "GET",
                                        "PUT",  "DELETE", "GET"};
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  for (int i = 0; i < 6; i++) {
    t.method = methods[i];
    t.total = t.submitted + 1;
    submit_one(&t);
    EXPECT_EQ(run_until(&t, &t.completed, i + 1, 3000), 0);
    EXPECT_EQ(t.last.err, ENGINE_OK);
    EXPECT_EQ(t.last.status, 200);
    EXPECT_U64(t.last.resp_bytes, ==, strcmp(methods[i], "HEAD") ? 2 : 0);
  }
  EXPECT_EQ(t.srv.nrec, 6);
  for (int i = 0; i < 6; i++) {
    const struct rec *r = &t.srv.recs[i];
    char want[128];
    snprintf(want, sizeof want, "%s /t/%d?q=%d HTTP/1.1", methods[i], i, i);
    EXPECT_STR(r->line, want);
    int body = strcmp(methods[i], "GET") && strcmp(methods[i], "HEAD");
    EXPECT_STR(r->clen, body ? "0" : "");
    EXPECT_STR(r->ctype, "");
    EXPECT_EQ(r->expect, 0);
  }
  EXPECT_EQ(t.srv.accepted, 1);
  t_finish(&t);
}

/* Request targets on one slot: a base URL's path is kept in front, a
 * query goes away when the next target has none, and bytes that cannot
 * stand in a request line are %-encoded. */
static void test_targets(void **state) {
  (void)state;
  static const char *const targets[] = {
      "/a?x=1", "/b", "/c/d?y=2&z=3", "/e f\"g\x01\xc3\xa9", "/b", "/?q"};
  static const char *const want[] = {"GET /api/v2/a?x=1 HTTP/1.1",
                                     "GET /api/v2/b HTTP/1.1",
                                     "GET /api/v2/c/d?y=2&z=3 HTTP/1.1",
                                     "GET /api/v2/e%20f%22g%01%C3%A9 HTTP/1.1",
                                     "GET /api/v2/b HTTP/1.1",
                                     "GET /api/v2/?q HTTP/1.1"};
  struct t t;
  char url[64], base[96];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  snprintf(base, sizeof base, "%s/api/v2//", url);
  t_engine(&t, base, 1, 5000);
  for (int i = 0; i < 6; i++) {
    struct engine_req q = {.method = "GET", .target = targets[i]};
    EXPECT_EQ(engine_submit(t.e, &q), 0);
    t.submitted++;
    t.total = t.submitted;
    EXPECT_EQ(run_until(&t, &t.completed, i + 1, 3000), 0);
    EXPECT_EQ(t.last.err, ENGINE_OK);
  }
  EXPECT_EQ(t.srv.nrec, 6);
  /* (Percent-encoding is case-insensitive; curl may write either.) */
  for (int i = 0; i < 6; i++)
    if (strcasecmp(t.srv.recs[i].line, want[i]) != 0)
      fail_msg("request %d: got \"%s\", want \"%s\"", i, t.srv.recs[i].line,
               want[i]);
  t_finish(&t);
}

static void test_eagain(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 2, 5000);
  t.total = 2;
  submit_one(&t);
  submit_one(&t);
  struct engine_req q = {.method = "GET", .target = "/"};
  EXPECT_EQ(engine_submit(t.e, &q), -EAGAIN);
  EXPECT_EQ(engine_inflight(t.e), 2);
  EXPECT_EQ(engine_free_slots(t.e), 0);
  struct engine_req bad = {.method = "GET", .target = "no-slash"};
  EXPECT_EQ(engine_submit(t.e, &bad), ERR_USAGE);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  EXPECT_EQ(t.n_ok, 2);
  EXPECT_EQ(engine_free_slots(t.e), 2);
  t_finish(&t);
}

static void test_status_from_path(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 4, 5000);
  struct engine_req q = {.method = "GET", .target = "/status/503"};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.last.status, 503);
  EXPECT_U64(t.last.resp_bytes, ==, 2);
  q.target = "/status/404";
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  EXPECT_EQ(t.last.status, 404);
  t_finish(&t);
}

/* A port nobody listens on: bind a socket, read its port, close it. */
static int dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static void test_refused(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/base/", dead_port());
  t_engine(&t, url, 4, 5000);
  struct engine_req q = {.method = "GET", .target = "/x"};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_CONNECT);
  EXPECT_EQ(t.last.status, 0);
  EXPECT_STR(engine_error_name(t.last.err), "connect");
  if (!t.last_text[0]) fail_msg("no error text");
  EXPECT_U64(t.last.end_us, >=, t.last.start_us);
  EXPECT_U64(t.last.end_us - t.last.start_us, <, 2000000);
  t_finish(&t);
}

static void test_timeout(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_SILENT, url, sizeof url);
  t_engine(&t, url, 4, 300);
  struct engine_req q = {.method = "GET", .target = "/slow"};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_TIMEOUT);
  uint64_t took = t.last.end_us - t.last.start_us;
  EXPECT_U64(took, >=, 290000);
  EXPECT_U64(took, <, 1300000);
  EXPECT_EQ(t.srv.nrec, 1); /* it did reach the server */
  t_finish(&t);
}

static void test_hangup_is_reset(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_HANGUP, url, sizeof url);
  t_engine(&t, url, 4, 3000);
  struct engine_req q = {.method = "GET", .target = "/"};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_RESET);
  t_finish(&t);
}

/* Connection: close on every answer: a socket (and its poll) per request,
 * fd numbers reused at once. */
static void test_connection_close(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_CLOSE, url, sizeof url);
  t_engine(&t, url, 8, 5000);
  t.total = 300;
  for (int i = 0; i < 8; i++) submit_one(&t);
  EXPECT_EQ(run_until(&t, &t.completed, 300, 10000), 0);
  EXPECT_EQ(t.n_ok, 300);
  EXPECT_EQ(t.srv.accepted, 300);
  t_finish(&t);
}

static void on_prepare_count(uv_prepare_t *h) {
  ++*(int *)h->data;
}

/* The server closes idle keep-alive connections: the engine's stopped
 * polls see the close; the next requests open fresh connections. */
static void test_idle_close(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_IDLE_CLOSE, url, sizeof url);
  t_engine(&t, url, 4, 5000);
  uv_prepare_t spin;
  int iterations = 0;
  uv_prepare_init(&t.loop, &spin);
  spin.data = &iterations;
  for (int round = 1; round <= 3; round++) {
    t.total += 4;
    for (int i = 0; i < 4; i++) submit_one(&t);
    EXPECT_EQ(run_until(&t, &t.completed, 4 * round, 3000), 0);
    /* Let the closes arrive, and count loop turns meanwhile: a poll left
     * running on a closed socket nobody reads would spin the loop. */
    int zero = 0;
    iterations = 0;
    uv_prepare_start(&spin, on_prepare_count);
    run_until(&t, &zero, 1, 200);
    uv_prepare_stop(&spin);
    EXPECT_U64(iterations, <, 50);
  }
  EXPECT_EQ(t.n_ok, 12);
  EXPECT_EQ(t.srv.accepted, 12);
  uv_close((uv_handle_t *)&spin, NULL);
  t_finish(&t);
}

/* Idle engine handles must not keep the loop alive (uv_run returns). */
static void test_loop_exits_when_idle(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 4, 5000);
  t.total = 40;
  for (int i = 0; i < 4; i++) submit_one(&t);
  EXPECT_EQ(run_until(&t, &t.completed, 40, 5000), 0);
  srv_unref(&t.srv);
  uv_timer_start(&t.wd, on_wd_stop, 2000, 0);
  uv_unref((uv_handle_t *)&t.wd);
  uint64_t t0 = uv_hrtime();
  uv_run(&t.loop, UV_RUN_DEFAULT);
  EXPECT_U64((uv_hrtime() - t0) / 1000000, <, 1000);
  uv_timer_stop(&t.wd);
  t_finish(&t);
}

static void test_close_in_flight(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_SILENT, url, sizeof url);
  t_engine(&t, url, 8, 5000);
  t.total = 8;
  for (int i = 0; i < 8; i++) submit_one(&t);
  EXPECT_EQ(run_until(&t, &t.srv.nrec, 8, 3000), 0); /* all reached it */
  engine_close(t.e, on_closed, &t);
  /* The callbacks ran inside engine_close, before it returned. */
  EXPECT_EQ(t.completed, 8);
  EXPECT_EQ(t.n_aborted, 8);
  EXPECT_EQ(t.n_err[ENGINE_E_OTHER], 8);
  EXPECT_EQ(t.resubmit_rc, -ECANCELED);
  EXPECT_EQ(run_until(&t, &t.closed, 1, 3000), 0);
  EXPECT_EQ(t.closed, 1);
  t_finish(&t);
}

/* engine_close from inside a done callback, others still in flight. */
static void test_close_from_callback(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 20, 5000);
  t.total = 1000;
  t.close_at = 50;
  for (int i = 0; i < 20; i++) submit_one(&t);
  EXPECT_EQ(run_until(&t, &t.closed, 1, 5000), 0);
  /* Every submitted request got exactly one callback. */
  EXPECT_EQ(t.completed, t.submitted);
  EXPECT_EQ(t.n_ok + t.n_aborted, t.submitted);
  EXPECT_U64(t.n_ok, >=, 50);
  t_finish(&t);
}

static void test_bad_options(void **state) {
  (void)state;
  uv_loop_t loop;
  EXPECT_EQ(uv_loop_init(&loop), 0);
  static const char *const bad_urls[] = {"ftp://127.0.0.1/", "not a url",
                                         "http://127.0.0.1/?q=1"};
  for (size_t i = 0; i < 3; i++) {
    struct engine_opts o = {.target = bad_urls[i]};
    struct engine *e = (struct engine *)&loop; /* must stay untouched */
    char err[256] = "";
    EXPECT_EQ(engine_new(&loop, &o, on_done, NULL, &e, err, sizeof err),
              ERR_USAGE);
    if (e != (struct engine *)&loop) fail_msg("out set on failure");
    if (!err[0]) fail_msg("no message for %s", bad_urls[i]);
  }
  static const char *const bad_hdr[] = {"X-Injected: a\r\nX-B: c"};
  struct engine_opts o = {
      .target = "http://127.0.0.1:1", .headers = bad_hdr, .nheaders = 1};
  struct engine *e = NULL;
  char err[256];
  EXPECT_EQ(engine_new(&loop, &o, on_done, NULL, &e, err, sizeof err),
            ERR_USAGE);
  EXPECT_EQ(uv_loop_close(&loop), 0); /* nothing left on the loop */
}

/* A body with its type and per-request header lines; the next request
 * on the slot carries none of them. */
static void test_body_and_headers(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  static const char *const hx[] = {"Authorization: Bearer t1",
                                   "Cookie: sid=abc\r\nX-Evil: 1"};
  static const char body[] = "{\"a\": 1}";
  struct engine_req q = {.method = "POST",
                         .target = "/things",
                         .body = body,
                         .body_len = strlen(body),
                         .content_type = "application/json",
                         .headers = hx,
                         .nheaders = 2};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.status, 200);
  struct engine_req g = {.method = "GET", .target = "/plain"};
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  struct engine_req put = {.method = "PUT", .target = "/empty"};
  EXPECT_EQ(engine_submit(t.e, &put), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 3, 3000), 0);
  /* The same body again, on the same slot, with another method. */
  q.method = "PATCH";
  q.nheaders = 0;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 4, 3000), 0);
  EXPECT_EQ(t.srv.nrec, 4);
  const struct rec *r = &t.srv.recs[0];
  EXPECT_STR(r->line, "POST /things HTTP/1.1");
  EXPECT_STR(r->body, body);
  EXPECT_STR(r->clen, "8");
  EXPECT_STR(r->ctype, "application/json");
  EXPECT_STR(r->auth, "Bearer t1");
  EXPECT_STR(r->cookie, "sid=abc  X-Evil: 1"); /* no header injected */
  EXPECT_EQ(r->expect, 0);
  r = &t.srv.recs[1];
  EXPECT_STR(r->line, "GET /plain HTTP/1.1");
  EXPECT_STR(r->clen, "");
  EXPECT_STR(r->ctype, "");
  EXPECT_STR(r->auth, "");
  EXPECT_STR(r->cookie, "");
  EXPECT_STR(r->body, "");
  r = &t.srv.recs[2];
  EXPECT_STR(r->line, "PUT /empty HTTP/1.1");
  EXPECT_STR(r->clen, "0");
  EXPECT_STR(r->ctype, "");
  r = &t.srv.recs[3];
  EXPECT_STR(r->line, "PATCH /things HTTP/1.1");
  EXPECT_STR(r->body, body);
  EXPECT_STR(r->auth, "");
  EXPECT_EQ(t.srv.accepted, 1);
  struct engine_req many = {.method = "GET",
                            .target = "/",
                            .headers = hx,
                            .nheaders = ENGINE_REQ_HEADERS + 1};
  EXPECT_EQ(engine_submit(t.e, &many), ERR_USAGE);
  t_finish(&t);
}

/* Location, Set-Cookie and a bounded body prefix, only when asked. */
static void test_capture(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  struct engine_req q = {.method = "POST",
                         .target = "/create",
                         .capture = ENGINE_CAP_HEADERS | ENGINE_CAP_BODY};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.status, 201);
  EXPECT_STR(t.loc, "/things/42");
  EXPECT_STR(t.cookies, "sid=abc; Path=/\ntheme=dark\n");
  EXPECT_STR(t.body, "{\"id\": 42, \"name\": \"x\"}");
  EXPECT_EQ(t.truncated, 0);
  /* Not asked: nothing captured, the body only counted. */
  struct engine_req g = {.method = "GET", .target = "/create"};
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  EXPECT_EQ(t.last.status, 201);
  EXPECT_EQ(t.has_loc + t.has_cookies + t.has_body, 0);
  /* Headers only. */
  g.capture = ENGINE_CAP_HEADERS;
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 3, 3000), 0);
  EXPECT_STR(t.loc, "/things/42");
  EXPECT_EQ(t.has_body, 0);
  EXPECT_U64(t.last.resp_bytes, ==, 23);
  /* A body over the cap: a prefix, marked truncated, all bytes counted. */
  struct engine_req b = {
      .method = "GET", .target = "/big", .capture = ENGINE_CAP_BODY};
  EXPECT_EQ(engine_submit(t.e, &b), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 4, 3000), 0);
  EXPECT_U64(t.body_len, ==, ENGINE_BODY_CAP);
  EXPECT_EQ(t.truncated, 1);
  EXPECT_U64(t.last.resp_bytes, ==, 100000);
  EXPECT_EQ(t.has_loc, 0);
  /* The callback submits a capturing request into the slot it just got
   * back before it reads the result: what it reads is still this one's. */
  t.resubmit_capture = 1;
  q.target = "/create";
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 5, 3000), 0);
  EXPECT_STR(t.loc, "/things/42");
  EXPECT_STR(t.body, "{\"id\": 42, \"name\": \"x\"}");
  EXPECT_EQ(run_until(&t, &t.completed, 6, 3000), 0);
  EXPECT_EQ(t.last.status, 500);
  EXPECT_EQ(t.has_loc, 0);
  EXPECT_STR(t.body, "ok");
  EXPECT_EQ(t.srv.accepted, 1);
  t_finish(&t);
}

/* STALL: the body never goes out and the request's own timeout ends it;
 * the server never sees a complete request. The slot then works as
 * before (no pause left behind). */
static void test_fault_stall(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  static const char body[] = "{\"a\": 1}";
  struct engine_req q = {.method = "POST",
                         .target = "/things",
                         .body = body,
                         .body_len = strlen(body),
                         .content_type = "application/json",
                         .timeout_ms = 200,
                         .fault = ENGINE_FAULT_STALL};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_TIMEOUT);
  uint64_t took = t.last.end_us - t.last.start_us;
  EXPECT_U64(took, >=, 190000);
  EXPECT_U64(took, <, 1500000);
  /* A GET stalls too (it announces filler). */
  struct engine_req g = {.method = "GET",
                         .target = "/x",
                         .timeout_ms = 100,
                         .fault = ENGINE_FAULT_STALL};
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_TIMEOUT);
  EXPECT_EQ(t.srv.nrec, 0);
  /* Back to normal: the engine's timeout, a body, a GET. */
  q.fault = ENGINE_FAULT_NONE;
  q.timeout_ms = 0;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 3, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  g.fault = ENGINE_FAULT_NONE;
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 4, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.srv.nrec, 2);
  EXPECT_STR(t.srv.recs[0].body, body);
  EXPECT_STR(t.srv.recs[1].line, "GET /x HTTP/1.1");
  EXPECT_STR(t.srv.recs[1].clen, "");
  run_until(&t, &t.srv.partial, 2, 1000);
  EXPECT_EQ(t.srv.partial, 2);
  t_finish(&t);
}

/* ABORT: half the body, then the connection is closed at once. */
static void test_fault_abort(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  struct engine_req g = {
      .method = "GET", .target = "/x", .fault = ENGINE_FAULT_ABORT};
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_ABORT);
  EXPECT_STR(engine_error_name(t.last.err), "abort");
  EXPECT_U64(t.last.end_us - t.last.start_us, <, 500000);
  EXPECT_EQ(run_until(&t, &t.srv.partial, 1, 2000), 0);
  EXPECT_EQ(t.srv.nrec, 0);
  g.fault = ENGINE_FAULT_NONE;
  EXPECT_EQ(engine_submit(t.e, &g), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.srv.nrec, 1);
  EXPECT_EQ(t.srv.accepted, 2);
  t_finish(&t);
}

/* A request's own timeout overrides the engine's, for that request. */
static void test_timeout_override(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_SILENT, url, sizeof url);
  t_engine(&t, url, 1, 20000);
  struct engine_req q = {.method = "GET", .target = "/", .timeout_ms = 150};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_TIMEOUT);
  EXPECT_U64(t.last.end_us - t.last.start_us, <, 1500000);
  t_finish(&t);
}

/* Slow reads: a response is read at most max_recv_bps fast however it
 * arrives. /big (100000 bytes) is written in one go, so most of it is in
 * the socket buffer when the engine first reads: curl's own limiter
 * (CURLOPT_MAX_RECV_SPEED_LARGE) waits only between reads, and let such a
 * response through at once. The slot's next request, with no limit, is
 * fast again (nothing sticks to the reused handle); a slow read still
 * going when the engine closes is aborted. */
static void test_slow_read(void **state) {
  (void)state;
  struct t t;
  char url[64];
  t_init(&t);
  t_server(&t, SRV_OK, url, sizeof url);
  t_engine(&t, url, 1, 5000);
  struct engine_req q = {
      .method = "GET", .target = "/big", .max_recv_bps = 200000};
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 1, 5000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.last.status, 200);
  EXPECT_EQ(t.last.resp_bytes, 100000);
  uint64_t took = t.last.end_us - t.last.start_us;
  EXPECT_U64(took, >=, 499000); /* 100000 bytes at 200000 bytes/s */
  EXPECT_U64(took, <, 2500000);
  q.max_recv_bps = 0;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 2, 5000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.last.resp_bytes, 100000);
  EXPECT_U64(t.last.end_us - t.last.start_us, <, 400000);
  EXPECT_EQ(t.srv.accepted, 1);
  /* 10 s to read, 300 ms allowed: the timeout ends it while paused, and
   * the slot's next request is whole and fast (no pause left behind). */
  q.max_recv_bps = 10000;
  q.timeout_ms = 300;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 3, 3000), 0);
  EXPECT_EQ(t.last.err, ENGINE_E_TIMEOUT);
  EXPECT_U64(t.last.resp_bytes, <, 100000);
  q.max_recv_bps = 0;
  q.timeout_ms = 0;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  EXPECT_EQ(run_until(&t, &t.completed, 4, 5000), 0);
  EXPECT_EQ(t.last.err, ENGINE_OK);
  EXPECT_EQ(t.last.resp_bytes, 100000);
  EXPECT_U64(t.last.end_us - t.last.start_us, <, 400000);
  /* Still paused when the engine closes: aborted, every handle closed. */
  q.max_recv_bps = 10000;
  EXPECT_EQ(engine_submit(t.e, &q), 0);
  run_until(&t, &t.completed, 5, 300);
  EXPECT_EQ(t.completed, 4);
  t_finish(&t);
  EXPECT_EQ(t.n_aborted, 1);
}

/* engine_opts.sent: once per request, with its ctx, between its submit
 * and its completion; on a fresh connection too. */
static struct {
  int calls[64];
  uint64_t t[64];
} sent_seen;

static void on_sent_test(void *arg, void *ctx, uint64_t t_us) {
  (void)arg;
  intptr_t i = (intptr_t)ctx;
  if (i < 0 || i >= 64) fail_msg("sent: ctx %ld", (long)i);
  sent_seen.calls[i]++;
  sent_seen.t[i] = t_us;
}

static void test_sent_hook(void **state) {
  (void)state;
  struct t t;
  char url[64];
  memset(&sent_seen, 0, sizeof sent_seen);
  t_init(&t);
  t_server(&t, SRV_CLOSE, url, sizeof url); /* a new connection each */
  struct engine_opts o = {.target = url, .slots = 4, .sent = on_sent_test};
  char err[256] = "";
  EXPECT_EQ(engine_new(&t.loop, &o, on_done, &t, &t.e, err, sizeof err), 0);
  t.total = 40;
  for (int i = 0; i < 4; i++) submit_one(&t);
  EXPECT_EQ(run_until(&t, &t.completed, 40, 10000), 0);
  EXPECT_EQ(t.n_ok, 40);
  for (int i = 0; i < 40; i++) EXPECT_EQ(sent_seen.calls[i], 1);
  /* The last one's time lies within its request. */
  intptr_t k = (intptr_t)t.last.ctx;
  EXPECT_U64(sent_seen.t[k], >=, t.last.start_us);
  EXPECT_U64(sent_seen.t[k], <=, t.last.end_us);
  t_finish(&t);
}

static void test_error_names(void **state) {
  (void)state;
  EXPECT_STR(engine_error_name(ENGINE_OK), "ok");
  EXPECT_STR(engine_error_name(ENGINE_E_TIMEOUT), "timeout");
  EXPECT_STR(engine_error_name(ENGINE_E_DNS), "dns");
  EXPECT_STR(engine_error_name(ENGINE_E_TLS), "tls");
  EXPECT_STR(engine_error_name(ENGINE_E_RESET), "reset");
  EXPECT_STR(engine_error_name(ENGINE_E_OTHER), "other");
}

static int setup(void **state) {
  (void)state;
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  curl_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_requests),
      cmocka_unit_test(test_methods),
      cmocka_unit_test(test_targets),
      cmocka_unit_test(test_eagain),
      cmocka_unit_test(test_status_from_path),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_hangup_is_reset),
      cmocka_unit_test(test_connection_close),
      cmocka_unit_test(test_idle_close),
      cmocka_unit_test(test_loop_exits_when_idle),
      cmocka_unit_test(test_close_in_flight),
      cmocka_unit_test(test_close_from_callback),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_body_and_headers),
      cmocka_unit_test(test_capture),
      cmocka_unit_test(test_fault_stall),
      cmocka_unit_test(test_fault_abort),
      cmocka_unit_test(test_timeout_override),
      cmocka_unit_test(test_slow_read),
      cmocka_unit_test(test_sent_hook),
      cmocka_unit_test(test_error_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
