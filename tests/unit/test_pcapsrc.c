/* Tests of the packet source: link layers (Ethernet, VLAN and QinQ, Linux
 * cooked v1/v2, NULL in both byte orders, LOOP, raw IPv4/IPv6), IPv6
 * extension headers, Ethernet padding, snapshot cuts, fragments, every
 * truncation of a frame (exact-size buffers, so ASAN sees any overread),
 * and reading capture files plain, gzip and zstd through libpcap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pcap/pcap.h>
#include <zlib.h>
#include <zstd.h>

#include "err.h"
#include "input.h"
#include "pcapsrc.h"
#include "testutil.h"

#define DLT_SLL2_ 276

static size_t put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
  return 2;
}

static size_t put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
  return 4;
}

/* A TCP header (20 bytes) and payload. */
static size_t tcp(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t seq,
                  uint8_t flags, const char *payload) {
  memset(p, 0, 20);
  put16(p, sport);
  put16(p + 2, dport);
  put32(p + 4, seq);
  put32(p + 8, 7);
  p[12] = 5 << 4;
  p[13] = flags;
  size_t n = strlen(payload);
  memcpy(p + 20, payload, n);
  return 20 + n;
}

static size_t ipv4(uint8_t *p, uint8_t proto, size_t l4len, uint16_t frag) {
  memset(p, 0, 20);
  p[0] = 0x45;
  put16(p + 2, (uint16_t)(20 + l4len));
  put16(p + 6, frag);
  p[8] = 64;
  p[9] = proto;
  put32(p + 12, 0x0a000001);
  put32(p + 16, 0x0a000002);
  return 20;
}

/* An IPv4/TCP packet at p: returns its length. */
static size_t v4_tcp(uint8_t *p, const char *payload) {
  uint8_t seg[2048];
  size_t l4 = tcp(seg, 40000, 80, 1000, PKT_ACK | PKT_PSH, payload);
  size_t h = ipv4(p, 6, l4, 0x4000);
  memcpy(p + h, seg, l4);
  return h + l4;
}

static size_t v6_tcp(uint8_t *p, const char *payload, int hop_by_hop) {
  uint8_t seg[2048];
  size_t l4 = tcp(seg, 40000, 8080, 5, PKT_ACK, payload);
  memset(p, 0, 40);
  p[0] = 0x60;
  size_t ext = hop_by_hop ? 8 : 0;
  put16(p + 4, (uint16_t)(l4 + ext));
  p[6] = hop_by_hop ? 0 : 6;
  p[8 + 15] = 1;  /* ::1 */
  p[24 + 15] = 2; /* ::2 */
  size_t o = 40;
  if (hop_by_hop) {
    memset(p + o, 0, 8);
    p[o] = 6; /* next: TCP; length 0 = 8 bytes */
    o += 8;
  }
  memcpy(p + o, seg, l4);
  return o + l4;
}

static size_t ether(uint8_t *p, uint16_t type) {
  memset(p, 0, 12);
  put16(p + 12, type);
  return 14;
}

/* Decodes frame[0..n) from an exact-size heap copy. */
static enum pkt_kind decode(int dlt, const uint8_t *frame, size_t n,
                            struct pkt *out) {
  uint8_t *copy = malloc(n ? n : 1);
  memcpy(copy, frame, n);
  enum pkt_kind k = pcapsrc_decode(dlt, copy, n, out);
  /* The payload must lie inside the frame. */
  if (k == PKT_TCP)
    assert_true(out->payload >= copy && out->payload + out->len <= copy + n);
  static char keep[4096];
  if (k == PKT_TCP) {
    memcpy(keep, out->payload, out->len);
    keep[out->len] = '\0';
    out->payload = (const uint8_t *)keep;
  }
  free(copy);
  return k;
}

static void expect_payload(const struct pkt *p, const char *want) {
  assert_int_equal(p->len, strlen(want));
  assert_memory_equal(p->payload, want, p->len);
}

static void test_ethernet(void **state) {
  (void)state;
  uint8_t f[2048];
  size_t n = ether(f, 0x0800);
  n += v4_tcp(f + n, "GET / HTTP/1.1\r\n");
  struct pkt p;
  assert_int_equal(decode(1, f, n, &p), PKT_TCP);
  expect_payload(&p, "GET / HTTP/1.1\r\n");
  EXPECT_EQ(p.af, 4);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 80);
  EXPECT_EQ(p.seq, 1000);
  EXPECT_EQ(p.flags, PKT_ACK | PKT_PSH);
  EXPECT_EQ(p.src[3], 1);
  EXPECT_EQ(p.dst[3], 2);
  EXPECT_EQ(p.missing, 0);
}

static void test_padding_is_not_payload(void **state) {
  (void)state;
  /* A 60-byte minimum frame pads a short segment: the IP length rules. */
  uint8_t f[128];
  size_t n = ether(f, 0x0800);
  n += v4_tcp(f + n, "ab");
  memset(f + n, 0xee, 60 - n);
  struct pkt p;
  assert_int_equal(decode(1, f, 60, &p), PKT_TCP);
  expect_payload(&p, "ab");
}

static void test_vlan_and_qinq(void **state) {
  (void)state;
  uint8_t f[2048];
  struct pkt p;
  size_t n = ether(f, 0x8100);
  n += put16(f + n, 42);
  n += put16(f + n, 0x0800);
  n += v4_tcp(f + n, "x");
  assert_int_equal(decode(1, f, n, &p), PKT_TCP);
  expect_payload(&p, "x");
  n = ether(f, 0x88a8);
  n += put16(f + n, 1);
  n += put16(f + n, 0x8100);
  n += put16(f + n, 2);
  n += put16(f + n, 0x86dd);
  n += v6_tcp(f + n, "yz", 0);
  assert_int_equal(decode(1, f, n, &p), PKT_TCP);
  expect_payload(&p, "yz");
  EXPECT_EQ(p.af, 6);
  EXPECT_EQ(p.dport, 8080);
  EXPECT_EQ(p.src[15], 1);
}

static void test_cooked_null_loop_raw(void **state) {
  (void)state;
  uint8_t f[2048];
  struct pkt p;
  /* Linux cooked v1: protocol at 14. */
  memset(f, 0, 16);
  put16(f + 14, 0x0800);
  size_t n = 16 + v4_tcp(f + 16, "sll");
  assert_int_equal(decode(113, f, n, &p), PKT_TCP);
  expect_payload(&p, "sll");
  /* v2: protocol first, 20 bytes. */
  memset(f, 0, 20);
  put16(f, 0x86dd);
  n = 20 + v6_tcp(f + 20, "sll2", 1);
  assert_int_equal(decode(DLT_SLL2_, f, n, &p), PKT_TCP);
  expect_payload(&p, "sll2");
  /* NULL, little-endian writer (AF_INET = 2) and big-endian (AF_INET6 =
   * 30, macOS). */
  f[0] = 2, f[1] = 0, f[2] = 0, f[3] = 0;
  n = 4 + v4_tcp(f + 4, "null-le");
  assert_int_equal(decode(0, f, n, &p), PKT_TCP);
  expect_payload(&p, "null-le");
  put32(f, 30);
  n = 4 + v6_tcp(f + 4, "null-be", 0);
  assert_int_equal(decode(0, f, n, &p), PKT_TCP);
  expect_payload(&p, "null-be");
  /* LOOP: network order. */
  put32(f, 2);
  n = 4 + v4_tcp(f + 4, "loop");
  assert_int_equal(decode(108, f, n, &p), PKT_TCP);
  expect_payload(&p, "loop");
  /* Raw IP, both versions. */
  n = v4_tcp(f, "raw4");
  assert_int_equal(decode(12, f, n, &p), PKT_TCP);
  expect_payload(&p, "raw4");
  n = v6_tcp(f, "raw6", 1);
  assert_int_equal(decode(12, f, n, &p), PKT_TCP);
  expect_payload(&p, "raw6");
  assert_int_equal(decode(229, f, n, &p), PKT_TCP);
}

static void test_not_tcp(void **state) {
  (void)state;
  uint8_t f[2048];
  struct pkt p;
  size_t n = ether(f, 0x0806); /* ARP */
  memset(f + n, 0, 28);
  assert_int_equal(decode(1, f, n + 28, &p), PKT_NOT_IP);
  n = ether(f, 0x0800);
  n += ipv4(f + n, 17, 8, 0); /* UDP */
  memset(f + n, 0, 8);
  assert_int_equal(decode(1, f, n + 8, &p), PKT_NOT_TCP);
  n = ether(f, 0x0800);
  n += ipv4(f + n, 6, 20, 0x2000); /* more fragments */
  memset(f + n, 0, 20);
  assert_int_equal(decode(1, f, n + 20, &p), PKT_FRAGMENT);
  assert_int_equal(decode(147, f, n + 20, &p), PKT_NOT_IP); /* unknown */
}

static void test_snapped(void **state) {
  (void)state;
  uint8_t f[2048];
  size_t n = ether(f, 0x0800);
  n += v4_tcp(f + n, "0123456789");
  struct pkt p;
  assert_int_equal(decode(1, f, n - 4, &p), PKT_TCP);
  expect_payload(&p, "012345");
  EXPECT_EQ(p.missing, 4);
}

static void test_every_truncation(void **state) {
  (void)state;
  /* Cut anywhere: never a read past the end, a clean kind always. */
  uint8_t f[2048];
  size_t n = ether(f, 0x8100);
  n += put16(f + n, 7);
  n += put16(f + n, 0x86dd);
  n += v6_tcp(f + n, "payload", 1);
  struct pkt p;
  for (size_t cut = 0; cut <= n; cut++) {
    enum pkt_kind k = decode(1, f, cut, &p);
    assert_true(k == PKT_TCP || k == PKT_MALFORMED);
    if (k == PKT_TCP) EXPECT_EQ(p.len + p.missing, 7);
  }
  /* Garbage headers: TCP data offset below 5, IHL below 5. */
  n = ether(f, 0x0800);
  size_t ip = n;
  n += v4_tcp(f + n, "x");
  f[ip + 20 + 12] = 2 << 4;
  assert_int_equal(decode(1, f, n, &p), PKT_MALFORMED);
  f[ip + 20 + 12] = 5 << 4;
  f[ip] = 0x44;
  assert_int_equal(decode(1, f, n, &p), PKT_MALFORMED);
}

static void test_magic(void **state) {
  (void)state;
  const unsigned char pcap_le[] = {0xd4, 0xc3, 0xb2, 0xa1};
  const unsigned char ng[] = {0x0a, 0x0d, 0x0d, 0x0a};
  const unsigned char log[] = {'1', '2', '7', '.'};
  assert_true(pcapsrc_is_capture(pcap_le, 4));
  assert_true(pcapsrc_is_capture(ng, 4));
  assert_false(pcapsrc_is_capture(log, 4));
  assert_false(pcapsrc_is_capture(ng, 3));
}

/* ---- files ----------------------------------------------------------------
 */

static char dir[512];

static int setup(void **state) {
  (void)state;
  return testutil_tmpdir(dir, sizeof dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  testutil_rmdir(dir);
  return 0;
}

/* Writes a pcap of `frames` Ethernet frames, each one TCP segment. */
static void write_pcap(const char *path, int frames) {
  pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t *d = pcap_dump_open(dead, path);
  assert_non_null(d);
  for (int i = 0; i < frames; i++) {
    uint8_t f[256];
    char pl[32];
    snprintf(pl, sizeof pl, "segment %d", i);
    size_t n = ether(f, 0x0800);
    n += v4_tcp(f + n, pl);
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)n, .len = (bpf_u_int32)n};
    h.ts.tv_sec = 1700000000 + i;
    h.ts.tv_usec = 250;
    pcap_dump((u_char *)d, &h, f);
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

static void slurp(const char *path, void **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc(*len);
  assert_int_equal(fread(*data, 1, *len, f), *len);
  fclose(f);
}

static void read_back(const char *path, int frames, int want_rc) {
  struct input *in;
  char err[512];
  assert_int_equal(input_open(path, &in, err, sizeof err), 0);
  struct pcapsrc *s;
  assert_int_equal(pcapsrc_open_input(in, path, &s, err, sizeof err), 0);
  assert_string_equal(pcapsrc_link_name(s), "Ethernet");
  struct pkt p;
  int n = 0, rc;
  while ((rc = pcapsrc_next(s, &p)) == PCAPSRC_SEGMENT) {
    char want[32];
    snprintf(want, sizeof want, "segment %d", n);
    assert_int_equal(p.len, strlen(want));
    assert_memory_equal(p.payload, want, p.len);
    EXPECT_EQ(p.ts_us, (1700000000LL + n) * 1000000 + 250);
    n++;
  }
  EXPECT_EQ(rc, want_rc);
  if (want_rc == PCAPSRC_EOF)
    EXPECT_EQ(n, frames);
  else
    assert_true(n < frames && pcapsrc_error(s)[0]);
  struct pcapsrc_stats st;
  pcapsrc_stats(s, &st);
  EXPECT_EQ(st.kind[PKT_TCP], n);
  pcapsrc_free(s);
}

static void test_files(void **state) {
  (void)state;
  char plain[600], gz[600], zst[600], cut[600];
  snprintf(plain, sizeof plain, "%s/a.pcap", dir);
  snprintf(gz, sizeof gz, "%s/a.pcap.gz", dir);
  snprintf(zst, sizeof zst, "%s/a.pcap.zst", dir);
  snprintf(cut, sizeof cut, "%s/cut.pcap", dir);
  write_pcap(plain, 500);
  read_back(plain, 500, PCAPSRC_EOF);
  void *data;
  size_t len;
  slurp(plain, &data, &len);
  gzFile g = gzopen(gz, "wb");
  assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
  gzclose(g);
  read_back(gz, 500, PCAPSRC_EOF);
  size_t cap = ZSTD_compressBound(len);
  void *z = malloc(cap);
  size_t zl = ZSTD_compress(z, cap, data, len, 3);
  assert_false(ZSTD_isError(zl));
  assert_int_equal(testutil_write(zst, z, zl), 0);
  read_back(zst, 500, PCAPSRC_EOF);
  /* Cut in the middle of a record: the segments before are good. */
  assert_int_equal(testutil_write(cut, data, len - 30), 0);
  read_back(cut, 500, ERR_TRUNCATED);
  /* A log is not a capture. */
  struct input *in;
  char err[512];
  assert_int_equal(testutil_write(cut, "hello\n", 6), 0);
  assert_int_equal(input_open(cut, &in, err, sizeof err), 0);
  struct pcapsrc *s;
  EXPECT_EQ(pcapsrc_open_input(in, cut, &s, err, sizeof err), ERR_FORMAT);
  free(data);
  free(z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ethernet),
      cmocka_unit_test(test_padding_is_not_payload),
      cmocka_unit_test(test_vlan_and_qinq),
      cmocka_unit_test(test_cooked_null_loop_raw),
      cmocka_unit_test(test_not_tcp),
      cmocka_unit_test(test_snapped),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_magic),
      cmocka_unit_test_setup_teardown(test_files, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
