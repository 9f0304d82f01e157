/* Tests of HTTP over reassembled TCP: pairing, keep-alive, pipelining,
 * chunked and gzip bodies, HEAD, 100-continue, bodies read until the close,
 * gaps (the message is dropped, the stream resynchronises, pairing holds),
 * lenient request lines, junk, TLS and other protocols, mid-stream pickup,
 * Upgrade tunnels and responses captured before their request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <zlib.h>

#include "httpflow.h"
#include "pcapsrc.h"
#include "testutil.h"

/* One connection: client 10.0.0.1:port -> 10.0.0.2:80. */
struct conn {
  struct httpflow *h;
  uint16_t port;
  uint32_t seq[2];
  int64_t ts;
};

static void send_raw(struct conn *c, int dir, uint32_t seq, const void *data,
                     size_t n, uint8_t flags) {
  struct pkt p = {0};
  p.af = 4;
  p.src[0] = p.dst[0] = 10;
  p.src[3] = dir ? 2 : 1;
  p.dst[3] = dir ? 1 : 2;
  p.sport = dir ? 80 : c->port;
  p.dport = dir ? c->port : 80;
  p.seq = seq;
  p.ack = c->seq[1 - dir];
  p.flags = flags;
  p.payload = data;
  p.len = (uint32_t)n;
  p.ts_us = c->ts;
  c->ts += 1000;
  assert_int_equal(httpflow_feed(c->h, &p), 0);
}

/* Sends data in order, in segments of at most mss bytes. */
static void sendn(struct conn *c, int dir, const void *data, size_t n,
                  size_t mss) {
  const uint8_t *p = data;
  while (n) {
    size_t k = n < mss ? n : mss;
    send_raw(c, dir, c->seq[dir], p, k, PKT_ACK | PKT_PSH);
    c->seq[dir] += (uint32_t)k;
    p += k;
    n -= k;
  }
}

static void sends(struct conn *c, int dir, const char *s) {
  sendn(c, dir, s, strlen(s), 1400);
}

static void open_conn(struct conn *c, struct httpflow *h, uint16_t port) {
  memset(c, 0, sizeof *c);
  c->h = h;
  c->port = port;
  c->seq[0] = 1000;
  c->seq[1] = 90000;
  c->ts = 1000000;
  send_raw(c, 0, c->seq[0]++, NULL, 0, PKT_SYN);
  send_raw(c, 1, c->seq[1]++, NULL, 0, PKT_SYN | PKT_ACK);
}

static void close_conn(struct conn *c) {
  send_raw(c, 0, c->seq[0]++, NULL, 0, PKT_FIN | PKT_ACK);
  send_raw(c, 1, c->seq[1]++, NULL, 0, PKT_FIN | PKT_ACK);
}

static struct httpflow *mk(void) {
  struct httpflow *h;
  assert_int_equal(httpflow_new(NULL, &h), 0);
  return h;
}

static const struct http_txn *next(struct httpflow *h) {
  const struct http_txn *t = httpflow_next(h);
  assert_non_null(t);
  return t;
}

static void expect_txn(const struct http_txn *t, const char *method,
                       const char *target, int status) {
  assert_int_equal(t->method_len, strlen(method));
  assert_memory_equal(t->method, method, t->method_len);
  assert_int_equal(t->target_len, strlen(target));
  assert_memory_equal(t->target, target, t->target_len);
  EXPECT_EQ(t->status, status);
}

static void test_simple(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40001);
  sends(&c, 0,
        "GET /a?b=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t/1\r\n"
        "\r\n");
  assert_null(httpflow_next(h));
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe");
  assert_null(httpflow_next(h)); /* body not finished */
  sends(&c, 1, "llo");
  const struct http_txn *t = next(h);
  expect_txn(t, "GET", "/a?b=1", 200);
  size_t n;
  const char *v = httpflow_header(t->req_hdrs, t->nreq_hdrs, "host", &n);
  assert_non_null(v);
  assert_memory_equal(v, "shop.example", n);
  EXPECT_EQ(t->resp_body_bytes, 5);
  assert_string_equal(t->client_ip, "10.0.0.1");
  EXPECT_EQ(t->client_port, 40001);
  EXPECT_EQ(t->server_port, 80);
  /* Request sent at 1.002 s; response began at 1.003 s, ended 1.004 s. */
  EXPECT_EQ(t->t_req_first, 1002000);
  EXPECT_EQ(t->t_resp_first - t->t_req_last, 1000);
  EXPECT_EQ(t->t_resp_last, 1004000);
  close_conn(&c);
  httpflow_flush(h);
  assert_null(httpflow_next(h));
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.requests, 1);
  EXPECT_EQ(st.responses, 1);
  EXPECT_EQ(st.http_flows, 1);
  EXPECT_EQ(st.unanswered, 0);
  httpflow_free(h);
}

static void test_keepalive_pipelining(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40002);
  /* Three pipelined requests in one segment, then three responses split
   * at odd places (one byte at a time for the second). */
  sends(&c, 0,
        "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /3 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA";
  const char *r2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  const char *r3 = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "2\r\nok\r\n0\r\n\r\n";
  sends(&c, 1, r1);
  sendn(&c, 1, r2, strlen(r2), 1);
  sendn(&c, 1, r3, strlen(r3), 7);
  expect_txn(next(h), "GET", "/1", 200);
  expect_txn(next(h), "GET", "/2", 404);
  const struct http_txn *t = next(h);
  expect_txn(t, "POST", "/3", 201);
  EXPECT_EQ(t->resp_body_bytes, 2);
  EXPECT_EQ(t->req_bytes, 42); /* the whole message */
  httpflow_free(h);
}

static size_t gzip_of(const char *s, uint8_t *out, size_t cap) {
  z_stream z = {0};
  assert_int_equal(
      deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)s;
  z.avail_in = (uInt)strlen(s);
  z.next_out = out;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t n = z.total_out;
  deflateEnd(&z);
  return n;
}

static void test_json_bodies(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40003);
  sends(&c, 0,
        "POST /login HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 29\r\n\r\n{\"user\":\"ann\",\"password\":\"x\"}");
  const char *json = "{\"token\":\"abc123\",\"id\":42}";
  uint8_t gz[256];
  size_t gl = gzip_of(json, gz, sizeof gz);
  char head[256];
  snprintf(head, sizeof head,
           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
           "%zx\r\n",
           gl - 5);
  sends(&c, 1, head);
  sendn(&c, 1, gz, gl - 5, 10);
  snprintf(head, sizeof head, "\r\n5\r\n");
  sends(&c, 1, head);
  sendn(&c, 1, gz + gl - 5, 5, 10);
  sends(&c, 1, "\r\n0\r\n\r\n");
  const struct http_txn *t = next(h);
  expect_txn(t, "POST", "/login", 200);
  assert_int_equal(t->req_body_len, 29);
  assert_memory_equal(t->req_body, "{\"user\":\"ann\",\"password\":\"x\"}", 29);
  assert_int_equal(t->resp_body_len, strlen(json));
  assert_memory_equal(t->resp_body, json, strlen(json));
  EXPECT_EQ(t->resp_body_bytes, (long long)gl);
  EXPECT_EQ(t->resp_body_cut, 0);
  /* A body that is not JSON is not kept. */
  sends(&c, 0, "GET /img HTTP/1.1\r\n\r\n");
  sends(&c, 1,
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 3"
        "\r\n\r\nPNG");
  t = next(h);
  assert_null(t->resp_body);
  EXPECT_EQ(t->resp_body_bytes, 3);
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.bodies_decoded, 1);
  httpflow_free(h);
}

static void test_head_and_continue(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40004);
  sends(&c, 0, "HEAD /big HTTP/1.1\r\n\r\n");
  /* A HEAD answer announces a length but has no body. */
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n");
  sends(&c, 0,
        "POST /up HTTP/1.1\r\nExpect: 100-continue\r\n"
        "Content-Length: 4\r\n\r\n");
  sends(&c, 1, "HTTP/1.1 100 Continue\r\n\r\n");
  sends(&c, 0, "data");
  sends(&c, 1, "HTTP/1.1 204 No Content\r\n\r\n");
  expect_txn(next(h), "HEAD", "/big", 200);
  expect_txn(next(h), "POST", "/up", 204);
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.responses, 3);
  EXPECT_EQ(st.interim, 1);
  httpflow_free(h);
}

static void test_body_until_close(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40005);
  sends(&c, 0, "GET /old HTTP/1.0\r\n\r\n");
  sends(&c, 1, "HTTP/1.0 200 OK\r\n\r\nsome bytes until the end");
  assert_null(httpflow_next(h));
  send_raw(&c, 1, c.seq[1]++, NULL, 0, PKT_FIN | PKT_ACK);
  const struct http_txn *t = next(h);
  expect_txn(t, "GET", "/old", 200);
  EXPECT_EQ(t->resp_body_bytes, 24);
  httpflow_free(h);
}

static void test_gap_resync(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 40006);
  sends(&c, 0, "GET /1 HTTP/1.1\r\n\r\n");
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
  /* Request 2 is cut by a hole in its body; the capture never sees it. */
  sends(&c, 0, "POST /2 HTTP/1.1\r\nContent-Length: 20\r\n\r\nfirst");
  c.seq[0] += 10; /* lost */
  sends(&c, 0, "tail5");
  sends(&c, 1, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  sends(&c, 0, "GET /3 HTTP/1.1\r\n\r\n");
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  /* Enough segments after the peer's ACK for the hole to become a gap. */
  for (int i = 0; i < 40; i++) send_raw(&c, 1, c.seq[1], NULL, 0, PKT_ACK);
  close_conn(&c);
  httpflow_flush(h);
  expect_txn(next(h), "GET", "/1", 200);
  /* /2 was dropped (its body is incomplete) but still took its answer:
   * /3 keeps its own. */
  expect_txn(next(h), "GET", "/3", 200);
  assert_null(httpflow_next(h));
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.dropped_requests, 1);
  EXPECT_EQ(st.requests, 2);
  EXPECT_EQ(st.responses, 3);
  EXPECT_EQ(st.tcp.gap_bytes, 10);
  httpflow_free(h);
}

static void test_lenient_and_junk(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  /* Refused by libhttp-parser, recognised as requests (as Wireshark
   * does): a bad version, an unknown-to-the-parser method. */
  const char *reqs[] = {"GET / HTTP/1.\r\nHost: a\r\n\r\n",
                        "CCM_POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
                        "OPTIONSHTTP/1.1\r\nHost: a\r\n\r\n"};
  for (int i = 0; i < 3; i++) {
    open_conn(&c, h, (uint16_t)(41000 + i));
    sends(&c, 0, reqs[i]);
    sends(&c, 1, "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    close_conn(&c);
  }
  const struct http_txn *t = next(h);
  expect_txn(t, "GET", "/", 400);
  EXPECT_EQ(t->lenient, 1);
  expect_txn(next(h), "CCM_POST", "/x", 400);
  assert_null(httpflow_next(h)); /* the junk is no request */
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.requests, 2);
  EXPECT_EQ(st.lenient, 2);
  EXPECT_EQ(st.junk, 1);
  EXPECT_EQ(st.responses, 3);
  EXPECT_EQ(st.orphans, 1);
  httpflow_free(h);
}

static void test_not_http(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 42000);
  const uint8_t hello[] = {0x16, 0x03, 0x01, 0x00, 0x10, 1, 2, 3};
  sendn(&c, 0, hello, sizeof hello, 100);
  sends(&c, 1, "HTTP/1.1 200 OK\r\n\r\n"); /* ignored: the flow is TLS */
  close_conn(&c);
  open_conn(&c, h, 42001);
  sends(&c, 1, "SSH-2.0-OpenSSH_9.2\r\n");
  sends(&c, 0, "SSH-2.0-client\r\n");
  close_conn(&c);
  httpflow_flush(h);
  assert_null(httpflow_next(h));
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.non_http_flows, 2);
  EXPECT_EQ(st.tls_flows, 1);
  EXPECT_EQ(st.http_flows, 0);
  EXPECT_EQ(st.requests, 0);
  httpflow_free(h);
}

static void test_midstream(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c = {.h = h, .port = 43000, .seq = {5000, 70000}, .ts = 1};
  /* The capture starts inside a response body; the client's next request
   * and its answer are found. */
  sends(&c, 1, "...end of some earlier body</html>");
  sends(&c, 0, "GET /next HTTP/1.1\r\n\r\n");
  sends(&c, 1, "HTTP/1.1 304 Not Modified\r\n\r\n");
  httpflow_flush(h);
  expect_txn(next(h), "GET", "/next", 304);
  httpflow_free(h);
}

static void test_upgrade(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 44000);
  sends(&c, 0,
        "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket"
        "\r\n\r\n");
  sends(&c, 1,
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\n\r\n\x81\x05hello");
  sends(&c, 0, "\x81\x85garbage that is not HTTP");
  expect_txn(next(h), "GET", "/ws", 101);
  close_conn(&c);
  httpflow_flush(h);
  assert_null(httpflow_next(h));
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.tunnels, 1);
  EXPECT_EQ(st.junk, 0);
  httpflow_free(h);
}

static void test_response_before_request(void **state) {
  (void)state;
  /* The capture wrote the answer before the question (two queues): the
   * timestamps still say which came first. */
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 45000);
  const char *req = "GET /late HTTP/1.1\r\n\r\n";
  uint32_t rseq = c.seq[0];
  c.seq[0] += (uint32_t)strlen(req);
  int64_t t_req = c.ts;
  c.ts += 5000;
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  c.ts = t_req;
  send_raw(&c, 0, rseq, req, strlen(req), PKT_ACK | PKT_PSH);
  const struct http_txn *t = next(h);
  expect_txn(t, "GET", "/late", 200);
  assert_true(t->t_resp_first > t->t_req_first);
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  EXPECT_EQ(st.orphans, 0);
  httpflow_free(h);
}

static void test_cookie(void **state) {
  (void)state;
  struct httpflow *h = mk();
  struct conn c;
  open_conn(&c, h, 46000);
  sends(&c, 0, "GET / HTTP/1.1\r\nCookie: a=1; sid=XYZ; b=2\r\n\r\n");
  sends(&c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const struct http_txn *t = next(h);
  size_t n;
  const char *v = httpflow_cookie(t, "sid", &n);
  assert_non_null(v);
  assert_memory_equal(v, "XYZ", n);
  assert_null(httpflow_cookie(t, "si", &n));
  httpflow_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple),
      cmocka_unit_test(test_keepalive_pipelining),
      cmocka_unit_test(test_json_bodies),
      cmocka_unit_test(test_head_and_continue),
      cmocka_unit_test(test_body_until_close),
      cmocka_unit_test(test_gap_resync),
      cmocka_unit_test(test_lenient_and_junk),
      cmocka_unit_test(test_not_http),
      cmocka_unit_test(test_midstream),
      cmocka_unit_test(test_upgrade),
      cmocka_unit_test(test_response_before_request),
      cmocka_unit_test(test_cookie),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
