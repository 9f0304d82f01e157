/* Tests of TCP reassembly: in order, out of order, duplicates and overlaps
 * (random splits shuffled, compared byte for byte), sequence wrap-around,
 * holes that the peer acknowledged (gap, then delivery goes on), buffer
 * caps, FIN / RST / idle timeout / eviction, port reuse and late copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pcapsrc.h"
#include "reasm.h"
#include "rng.h"
#include "testutil.h"

#define CAP (1 << 20)

struct sink {
  uint8_t *buf[2];
  size_t len[2];
  uint64_t gap[2];
  int ends[2];
  int closes, last_close;
  int64_t first_ts[2];
  struct reasm *r;
  int ignore_after; /* call reasm_ignore once this many bytes came */
};

static void on_data(void *arg, struct reasm_flow *f, int dir, const uint8_t *p,
                    size_t n, int64_t ts) {
  struct sink *s = arg;
  (void)f;
  assert_true(s->len[dir] + n <= CAP);
  if (!s->len[dir]) s->first_ts[dir] = ts;
  memcpy(s->buf[dir] + s->len[dir], p, n);
  s->len[dir] += n;
  if (s->ignore_after && s->len[dir] >= (size_t)s->ignore_after)
    reasm_ignore(s->r, f);
}

static void on_gap(void *arg, struct reasm_flow *f, int dir, uint64_t n) {
  struct sink *s = arg;
  (void)f;
  s->gap[dir] += n;
}

static void on_end(void *arg, struct reasm_flow *f, int dir) {
  struct sink *s = arg;
  (void)f;
  s->ends[dir]++;
}

static void on_close(void *arg, struct reasm_flow *f, enum reasm_close why) {
  struct sink *s = arg;
  (void)f;
  s->closes++;
  s->last_close = (int)why;
}

static struct reasm *mk(struct sink *s, const struct reasm_opts *o) {
  memset(s, 0, sizeof *s);
  s->buf[0] = malloc(CAP);
  s->buf[1] = malloc(CAP);
  struct reasm_ops ops = {on_data, on_gap, on_end, on_close};
  struct reasm *r;
  assert_int_equal(reasm_new(o, &ops, s, &r), 0);
  s->r = r;
  return r;
}

static void done(struct sink *s, struct reasm *r) {
  reasm_free(r);
  free(s->buf[0]);
  free(s->buf[1]);
}

/* A segment of the connection 10.0.0.1:40000 <-> 10.0.0.2:80; dir 1 is
 * the server. */
static void seg(struct reasm *r, int dir, uint32_t seq, const void *data,
                size_t n, uint8_t flags, uint32_t ack, int64_t ts) {
  struct pkt p = {0};
  p.af = 4;
  p.src[0] = 10;
  p.dst[0] = 10;
  p.src[3] = dir ? 2 : 1;
  p.dst[3] = dir ? 1 : 2;
  p.sport = dir ? 80 : 40000;
  p.dport = dir ? 40000 : 80;
  p.seq = seq;
  p.ack = ack;
  p.flags = flags;
  p.payload = data;
  p.len = (uint32_t)n;
  p.ts_us = ts;
  assert_int_equal(reasm_feed(r, &p), 0);
}

static void handshake(struct reasm *r, uint32_t cisn, uint32_t sisn) {
  seg(r, 0, cisn, NULL, 0, PKT_SYN, 0, 1);
  seg(r, 1, sisn, NULL, 0, PKT_SYN | PKT_ACK, cisn + 1, 2);
  seg(r, 0, cisn + 1, NULL, 0, PKT_ACK, sisn + 1, 3);
}

static void test_in_order(void **state) {
  (void)state;
  struct sink s;
  struct reasm *r = mk(&s, NULL);
  handshake(r, 100, 5000);
  seg(r, 0, 101, "GET / HTTP/1.1\r\n", 16, PKT_ACK, 5001, 10);
  seg(r, 0, 117, "\r\n", 2, PKT_ACK, 5001, 11);
  seg(r, 1, 5001, "HTTP/1.1 200 OK\r\n", 17, PKT_ACK, 119, 12);
  assert_int_equal(s.len[0], 18);
  assert_memory_equal(s.buf[0], "GET / HTTP/1.1\r\n\r\n", 18);
  assert_int_equal(s.len[1], 17);
  EXPECT_EQ(s.first_ts[1], 12);
  seg(r, 0, 119, NULL, 0, PKT_FIN | PKT_ACK, 5018, 13);
  EXPECT_EQ(s.ends[0], 1);
  EXPECT_EQ(s.closes, 0);
  seg(r, 1, 5018, NULL, 0, PKT_FIN | PKT_ACK, 120, 14);
  EXPECT_EQ(s.ends[1], 1);
  EXPECT_EQ(s.closes, 1);
  EXPECT_EQ(s.last_close, REASM_FIN);
  /* Late copies of the closed connection are recognised as such. */
  seg(r, 1, 5001, "HTTP/1.1 200 OK\r\n", 17, PKT_ACK, 119, 15);
  struct reasm_stats st;
  reasm_stats(r, &st);
  EXPECT_EQ(st.late_segments, 1);
  EXPECT_EQ(st.flows, 1);
  EXPECT_EQ(st.gaps, 0);
  done(&s, r);
}

/* Random stream, cut into random pieces that overlap and repeat, sent in a
 * locally shuffled order: the reassembled bytes are the stream. */
static void test_shuffled_overlaps(void **state) {
  (void)state;
  struct rng g;
  rng_seed(&g, 42);
  for (int round = 0; round < 40; round++) {
    struct sink s;
    struct reasm *r = mk(&s, NULL);
    size_t n = 20000 + rng_below(&g, 20000);
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)rng_below(&g, 256);
    /* Near the wrap on odd rounds. */
    uint32_t isn = round & 1 ? 0xffffffffu - 3000 : (uint32_t)rng_next(&g);
    handshake(r, isn, 77);
    struct piece {
      size_t off, len;
    } pieces[2000];
    size_t np = 0, off = 0;
    while (off < n && np < 1990) {
      size_t len = 1 + rng_below(&g, 1400);
      if (off + len > n) len = n - off;
      pieces[np++] = (struct piece){off, len};
      if (rng_below(&g, 5) == 0) /* a duplicate */
        pieces[np++] = (struct piece){off, len};
      if (rng_below(&g, 6) == 0 && off > 100) /* an overlap backwards */
        pieces[np++] = (struct piece){
            off - 50, len + 50 > n - off + 50 ? n - off + 50 : len + 50};
      off += len;
    }
    assert_int_equal(off, n);
    /* Shuffle within windows of 8. */
    for (size_t i = 0; i < np; i++) {
      size_t j = i + rng_below(&g, 8);
      if (j >= np) j = np - 1;
      struct piece t = pieces[i];
      pieces[i] = pieces[j];
      pieces[j] = t;
    }
    for (size_t i = 0; i < np; i++)
      seg(r, 0, isn + 1 + (uint32_t)pieces[i].off, data + pieces[i].off,
          pieces[i].len, PKT_ACK, 78, 10 + (int64_t)i);
    EXPECT_EQ(s.len[0], n);
    assert_memory_equal(s.buf[0], data, n);
    EXPECT_EQ(s.gap[0], 0);
    free(data);
    done(&s, r);
  }
}

static void test_acked_hole_is_a_gap(void **state) {
  (void)state;
  struct sink s;
  struct reasm_opts o = {.ack_wait = 4, .ack_wait_us = 1};
  struct reasm *r = mk(&s, &o);
  handshake(r, 0, 1000);
  seg(r, 0, 1, "aaaa", 4, PKT_ACK, 1001, 10);
  /* bytes 5..8 never captured */
  seg(r, 0, 9, "cccc", 4, PKT_ACK, 1001, 12);
  EXPECT_EQ(s.len[0], 4);
  /* The server acknowledges all 12 bytes: they were sent; the capture
   * lost them. A few more segments of the flow, and the hole is a gap. */
  for (int i = 0; i < 5; i++) seg(r, 1, 1001, NULL, 0, PKT_ACK, 13, 13 + i);
  EXPECT_EQ(s.gap[0], 4);
  EXPECT_EQ(s.len[0], 8);
  assert_memory_equal(s.buf[0], "aaaacccc", 8);
  seg(r, 0, 13, "dd", 2, PKT_ACK, 1001, 20);
  EXPECT_EQ(s.len[0], 10);
  /* The missing bytes arriving late are old data now. */
  seg(r, 0, 5, "bbbb", 4, PKT_ACK, 1001, 21);
  EXPECT_EQ(s.len[0], 10);
  done(&s, r);
}

static void test_hole_without_ack_waits(void **state) {
  (void)state;
  struct sink s;
  struct reasm *r = mk(&s, NULL);
  handshake(r, 0, 1000);
  seg(r, 0, 5, "bbbb", 4, PKT_ACK, 1001, 10);
  for (int i = 0; i < 100; i++) seg(r, 1, 1001, NULL, 0, PKT_ACK, 1, 11 + i);
  EXPECT_EQ(s.len[0], 0); /* reordering, not loss: still waiting */
  seg(r, 0, 1, "aaaa", 4, PKT_ACK, 1001, 200);
  EXPECT_EQ(s.len[0], 8);
  EXPECT_EQ(s.gap[0], 0);
  /* End of input: a hole still open becomes a gap. */
  seg(r, 0, 13, "dddd", 4, PKT_ACK, 1001, 201);
  reasm_flush(r);
  EXPECT_EQ(s.gap[0], 4);
  EXPECT_EQ(s.len[0], 12);
  EXPECT_EQ(s.last_close, REASM_END);
  done(&s, r);
}

static void test_caps(void **state) {
  (void)state;
  struct sink s;
  struct reasm_opts o = {.flow_buf = 1000};
  struct reasm *r = mk(&s, &o);
  handshake(r, 0, 1000);
  uint8_t blk[400];
  memset(blk, 'x', sizeof blk);
  /* A hole of 10 at the start, then 3 x 400 held: the third overflows
   * the per-direction cap and the hole is given up. */
  seg(r, 0, 11, blk, 400, PKT_ACK, 1001, 10);
  seg(r, 0, 411, blk, 400, PKT_ACK, 1001, 11);
  EXPECT_EQ(s.len[0], 0);
  seg(r, 0, 811, blk, 400, PKT_ACK, 1001, 12);
  EXPECT_EQ(s.gap[0], 10);
  EXPECT_EQ(s.len[0], 1200);
  struct reasm_stats st;
  reasm_stats(r, &st);
  EXPECT_EQ(st.forced, 1);
  EXPECT_EQ(st.held_bytes, 0);
  done(&s, r);
}

static void test_rst_timeout_eviction(void **state) {
  (void)state;
  struct sink s;
  struct reasm_opts o = {.idle_us = 1000000, .max_flows = 2};
  struct reasm *r = mk(&s, &o);
  handshake(r, 0, 1000);
  seg(r, 0, 1, "x", 1, PKT_ACK | PKT_RST, 0, 10);
  EXPECT_EQ(s.closes, 1);
  EXPECT_EQ(s.last_close, REASM_RST);
  EXPECT_EQ(s.len[0], 1);
  /* Port reuse: a new SYN on the closed 4-tuple is a new connection. */
  handshake(r, 500, 9000);
  seg(r, 0, 501, "y", 1, PKT_ACK, 9001, 20);
  EXPECT_EQ(s.len[0], 2);
  /* Idle past the timeout: closed when the clock moves on. */
  struct pkt p = {0};
  p.af = 4;
  p.src[3] = 7;
  p.dst[3] = 8;
  p.sport = 1;
  p.dport = 2;
  p.payload = (const uint8_t *)"z";
  p.len = 1;
  p.ts_us = 3000000;
  assert_int_equal(reasm_feed(r, &p), 0);
  EXPECT_EQ(s.closes, 2);
  EXPECT_EQ(s.last_close, REASM_TIMEOUT);
  /* Two more flows with max_flows 2: the least recent is evicted. */
  for (int i = 0; i < 2; i++) {
    p.sport = (uint16_t)(100 + i);
    p.ts_us++;
    assert_int_equal(reasm_feed(r, &p), 0);
  }
  EXPECT_EQ(s.last_close, REASM_EVICTED);
  struct reasm_stats st;
  reasm_stats(r, &st);
  EXPECT_EQ(st.evicted, 1);
  EXPECT_EQ(st.idle_closed, 1);
  EXPECT_EQ(st.flows, 5);
  EXPECT_EQ(st.live, 2);
  done(&s, r);
}

static void test_ignore(void **state) {
  (void)state;
  struct sink s;
  struct reasm *r = mk(&s, NULL);
  s.ignore_after = 3;
  handshake(r, 0, 1000);
  seg(r, 0, 8, "later", 5, PKT_ACK, 1001, 9); /* held */
  seg(r, 0, 1, "abc", 3, PKT_ACK, 1001, 10);
  /* Ignored from its third byte on: the held bytes are never delivered,
   * and the flow still ends cleanly. */
  EXPECT_EQ(s.len[0], 3);
  seg(r, 0, 13, NULL, 0, PKT_FIN | PKT_ACK, 1001, 11);
  seg(r, 1, 1001, NULL, 0, PKT_FIN | PKT_ACK, 14, 12);
  EXPECT_EQ(s.closes, 1);
  EXPECT_EQ(s.last_close, REASM_FIN);
  EXPECT_EQ(s.ends[0], 0); /* ignored flows report nothing */
  done(&s, r);
}

static void test_midstream(void **state) {
  (void)state;
  struct sink s;
  struct reasm *r = mk(&s, NULL);
  /* No handshake: the stream is picked up mid-way. Its first segments may
   * come out of order, so the start waits a few segments and moves back
   * to the lowest sequence number seen. */
  seg(r, 1, 785, " 200", 4, PKT_ACK, 5, 10);
  EXPECT_EQ(s.len[0], 0);
  seg(r, 1, 777, "HTTP/1.1", 8, PKT_ACK, 5, 11);
  for (int i = 0; i < 20; i++) seg(r, 0, 5, NULL, 0, PKT_ACK, 789, 12 + i);
  EXPECT_EQ(s.len[0], 12); /* dir 0 is the first sender */
  assert_memory_equal(s.buf[0], "HTTP/1.1 200", 12);
  /* Later, an older copy is just a retransmission. */
  seg(r, 1, 770, "0123456", 7, PKT_ACK, 5, 40);
  seg(r, 1, 789, " OK", 3, PKT_ACK, 5, 41);
  EXPECT_EQ(s.len[0], 15);
  EXPECT_EQ(s.gap[0], 0);
  done(&s, r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_in_order),
      cmocka_unit_test(test_shuffled_overlaps),
      cmocka_unit_test(test_acked_hole_is_a_gap),
      cmocka_unit_test(test_hole_without_ack_waits),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_rst_timeout_eviction),
      cmocka_unit_test(test_ignore),
      cmocka_unit_test(test_midstream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
