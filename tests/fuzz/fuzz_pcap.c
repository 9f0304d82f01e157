/* Fuzz target for the packet path: TCP reassembly (reasm) and HTTP
 * parsing and pairing (httpflow), and frame decoding (pcapsrc_decode).
 *
 * The first byte picks the mode and small caps (so that buffer caps,
 * evictions, gap declarations and idle timeouts all happen). Then:
 *  - even mode: records of synthetic segments on up to 4 connections:
 *    [flags+dir+conn][seq offset: 2 bytes][clock][length][payload...]
 *    (offsets relative to each direction's base reach reordering,
 *    overlaps, repeats and holes; the clock byte can jump time);
 *  - odd mode: frames [length: 2 bytes][link type index][bytes...], decoded
 *    from an exact-size copy and, when TCP, fed in.
 * Every transaction handed out is checked: its strings lie inside its
 * lengths, method is non-empty, status is 0 or 100-599, times are
 * ordered. ASAN/UBSan find the rest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpflow.h"
#include "pcapsrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include <stdio.h>

#define check(ok) check_((ok), #ok)

static void check_(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "fuzz_pcap: check failed: %s\n", what);
  abort();
}

static volatile uint8_t sink;

static void touch(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) sink ^= b[i];
}

static void drain(struct httpflow *h) {
  const struct http_txn *t;
  while ((t = httpflow_next(h))) {
    check(t->method_len > 0);
    touch(t->method, t->method_len);
    touch(t->target, t->target_len);
    for (size_t i = 0; i < t->nreq_hdrs; i++) {
      touch(t->req_hdrs[i].name, t->req_hdrs[i].nlen);
      touch(t->req_hdrs[i].value, t->req_hdrs[i].vlen);
    }
    for (size_t i = 0; i < t->nresp_hdrs; i++) {
      touch(t->resp_hdrs[i].name, t->resp_hdrs[i].nlen);
      touch(t->resp_hdrs[i].value, t->resp_hdrs[i].vlen);
    }
    if (t->req_body) touch(t->req_body, t->req_body_len);
    if (t->resp_body) touch(t->resp_body, t->resp_body_len);
    check(t->status == 0 || (t->status >= 100 && t->status <= 599));
    check(t->t_req_last >= t->t_req_first || t->t_req_last == 0);
    check(strlen(t->client_ip) < sizeof t->client_ip);
  }
}

static const int LINKS[] = {1, 113, 276, 0, 108, 12, 228, 229};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t sel = data[0];
  struct httpflow_opts o = {
      .body_cap = 64 + (sel >> 5) * 256,
      .max_pending = 1 + ((sel >> 1) & 7),
      .keep_req_bodies = sel & 0x10,
      .reasm =
          {
              .idle_us = 5000000,
              .linger_us = 1000000,
              .flow_buf = 256u << ((sel >> 2) & 3),
              .total_buf = 4096,
              .max_flows = 3,
              .ack_wait = 2,
              .ack_wait_us = 1,
          },
  };
  struct httpflow *h;
  if (httpflow_new(&o, &h)) return 0;
  const uint8_t *p = data + 1, *end = data + size;
  int64_t ts = 1000000000;
  uint32_t base[4][2] = {{1000, 900000}, {5, 77}, {0xfffffff0u, 3}, {9, 9}};
  while (p < end) {
    struct pkt k;
    memset(&k, 0, sizeof k);
    if (sel & 1) {
      if (end - p < 3) break;
      size_t len = (size_t)(p[0] | p[1] << 8);
      int dlt = LINKS[p[2] & 7];
      p += 3;
      if (len > (size_t)(end - p)) len = (size_t)(end - p);
      uint8_t *copy = malloc(len ? len : 1);
      if (!copy) break;
      memcpy(copy, p, len);
      p += len;
      enum pkt_kind kind = pcapsrc_decode(dlt, copy, len, &k);
      if (kind == PKT_TCP) {
        check(k.payload >= copy && k.payload + k.len <= copy + len);
        k.ts_us = ts;
        ts += 1000;
        if (httpflow_feed(h, &k)) {
          free(copy);
          break;
        }
        drain(h);
      }
      free(copy);
      continue;
    }
    if (end - p < 5) break;
    uint8_t f = p[0];
    int dir = f & 1, conn = (f >> 1) & 3;
    uint16_t off = (uint16_t)(p[1] | p[2] << 8);
    uint8_t clock = p[3];
    size_t len = p[4];
    p += 5;
    if (len > (size_t)(end - p)) len = (size_t)(end - p);
    k.af = conn == 3 ? 6 : 4;
    k.src[0] = k.dst[0] = 10;
    k.src[15] = (uint8_t)(dir ? 2 : 1);
    k.dst[15] = (uint8_t)(dir ? 1 : 2);
    k.sport = (uint16_t)(dir ? 80 : 40000 + conn);
    k.dport = (uint16_t)(dir ? 40000 + conn : 80);
    k.seq = base[conn][dir] + off;
    k.ack = base[conn][1 - dir] + (uint32_t)(clock & 0x7f) * 64;
    k.flags = (uint8_t)(PKT_ACK | (f >> 3 & (PKT_SYN | PKT_FIN | PKT_RST)));
    if (f & 0x80) k.flags &= (uint8_t)~PKT_ACK;
    k.payload = p;
    k.len = (uint32_t)len;
    if (clock & 0x80) ts += 3000000; /* past timeouts */
    ts += 100;
    k.ts_us = ts;
    p += len;
    if (httpflow_feed(h, &k)) break;
    drain(h);
  }
  httpflow_flush(h);
  drain(h);
  struct httpflow_stats st;
  httpflow_stats(h, &st);
  check(st.tcp.held_bytes == 0);
  httpflow_free(h);
  return 0;
}
