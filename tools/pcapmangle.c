/* mimic-pcapmangle: rewrites a capture the way bad networks and capture
 * points deliver it, to test TCP reassembly against real traffic: every
 * TCP data segment may be cut into pieces that overlap, some pieces are
 * sent twice, and pieces of one direction of a connection are shuffled
 * within a window (each keeps its own timestamp). SYN, FIN and RST
 * segments and pure ACKs keep their places; data never moves past its
 * connection's RST; a piece moves at most `window` frames. Frames that are not
 * TCP are left out. The output is a pcap of raw IP packets (headers rebuilt, no
 * TCP options).
 *
 * usage: mimic-pcapmangle [--seed N] [--window W] IN OUT */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "input.h"
#include "pcapsrc.h"
#include "rng.h"

struct piece {
  struct pkt p;     /* headers; payload points into data */
  uint8_t *data;    /* owned */
  size_t flow;      /* flow-direction id */
  size_t slot;      /* output position */
  size_t rst_limit; /* pieces of this flow may not move to or past it */
  int movable;
};

static struct piece *pieces;
static size_t npieces, cap_pieces;

static struct piece *add(const struct pkt *p, const uint8_t *data, size_t len,
                         uint32_t seq) {
  if (npieces == cap_pieces) {
    cap_pieces = cap_pieces ? cap_pieces * 2 : 4096;
    pieces = realloc(pieces, cap_pieces * sizeof *pieces);
    if (!pieces) exit(1);
  }
  struct piece *x = &pieces[npieces++];
  memset(x, 0, sizeof *x);
  x->p = *p;
  x->p.seq = seq;
  x->p.len = (uint32_t)len;
  x->p.missing = 0;
  x->data = malloc(len ? len : 1);
  if (!x->data) exit(1);
  if (len) memcpy(x->data, data, len);
  return x;
}

static uint64_t flow_key(const struct pkt *p) {
  uint8_t k[40];
  memcpy(k, p->src, 16);
  memcpy(k + 16, p->dst, 16);
  memcpy(k + 32, &p->sport, 2);
  memcpy(k + 34, &p->dport, 2);
  k[36] = p->af;
  return hash64(k, 37, 1);
}

static uint64_t conn_key(const struct pkt *p) {
  uint64_t a = flow_key(p);
  struct pkt r = *p;
  memcpy(r.src, p->dst, 16);
  memcpy(r.dst, p->src, 16);
  r.sport = p->dport;
  r.dport = p->sport;
  uint64_t b = flow_key(&r);
  return a < b ? hash_mix(a, b) : hash_mix(b, a);
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

static size_t build(const struct piece *x, uint8_t *out) {
  const struct pkt *p = &x->p;
  size_t ip = p->af == 4 ? 20 : 40;
  size_t l4 = 20 + p->len;
  memset(out, 0, ip + 20);
  if (p->af == 4) {
    out[0] = 0x45;
    put16(out + 2, (uint16_t)(ip + l4));
    out[6] = 0x40;
    out[8] = 64;
    out[9] = 6;
    memcpy(out + 12, p->src, 4);
    memcpy(out + 16, p->dst, 4);
  } else {
    out[0] = 0x60;
    put16(out + 4, (uint16_t)l4);
    out[6] = 6;
    out[7] = 64;
    memcpy(out + 8, p->src, 16);
    memcpy(out + 24, p->dst, 16);
  }
  uint8_t *t = out + ip;
  put16(t, p->sport);
  put16(t + 2, p->dport);
  put32(t + 4, p->seq);
  put32(t + 8, p->ack);
  t[12] = 5 << 4;
  t[13] = p->flags;
  put16(t + 14, 65535);
  memcpy(t + 20, x->data, p->len);
  return ip + l4;
}

static int by_slot(const void *a, const void *b) {
  const struct piece *x = a, *y = b;
  return (x->slot > y->slot) - (x->slot < y->slot);
}

int main(int argc, char **argv) {
  uint64_t seed = 1;
  size_t window = 6;
  int i = 1;
  for (; i < argc - 2; i++) {
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc - 2)
      seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc - 2)
      window = strtoull(argv[++i], NULL, 10);
    else
      break;
  }
  if (argc - i != 2 || window < 1) {
    fprintf(stderr, "usage: mimic-pcapmangle [--seed N] [--window W] IN OUT\n");
    return 2;
  }
  const char *inpath = argv[i], *outpath = argv[i + 1];
  char err[512];
  struct input *in;
  struct pcapsrc *src;
  if (input_open(inpath, &in, err, sizeof err) ||
      pcapsrc_open_input(in, inpath, &src, err, sizeof err)) {
    fprintf(stderr, "mimic-pcapmangle: %s\n", err);
    return 1;
  }
  struct rng g;
  rng_seed(&g, seed);
  struct pkt p;
  int rc;
  while ((rc = pcapsrc_next(src, &p)) == PCAPSRC_SEGMENT) {
    int data_only = p.len && !(p.flags & (PKT_SYN | PKT_FIN | PKT_RST));
    if (!data_only || p.len < 4) {
      add(&p, p.payload, p.len, p.seq);
      continue;
    }
    /* Cut into 1-3 pieces; later pieces start a little before the end of
     * the previous one (an overlapping retransmission). */
    size_t cuts = 1 + rng_below(&g, 3), off = 0;
    for (size_t c = 0; c < cuts && off < p.len; c++) {
      size_t end = c + 1 == cuts ? p.len : off + 1 + rng_below(&g, p.len - off);
      if (end > p.len) end = p.len;
      size_t start = off;
      if (c && start > 0) start -= rng_below(&g, start < 8 ? start : 8);
      struct piece *x =
          add(&p, p.payload + start, end - start, p.seq + (uint32_t)start);
      x->movable = 1;
      if (rng_below(&g, 8) == 0) { /* sent twice */
        struct piece *y = add(&x->p, x->data, x->p.len, x->p.seq);
        y->movable = 1;
      }
      off = end;
    }
  }
  if (rc < 0) {
    fprintf(stderr, "mimic-pcapmangle: %s\n", pcapsrc_error(src));
    return 1;
  }
  /* Slots: original order. Each connection's first RST bounds its moves. */
  for (size_t k = 0; k < npieces; k++) pieces[k].slot = k;
  for (size_t k = 0; k < npieces; k++) {
    pieces[k].flow = (size_t)flow_key(&pieces[k].p);
    pieces[k].rst_limit = SIZE_MAX;
  }
  for (size_t k = 0; k < npieces; k++) {
    if (!(pieces[k].p.flags & PKT_RST)) continue;
    uint64_t c = conn_key(&pieces[k].p);
    for (size_t j = 0; j < k; j++)
      if (pieces[j].rst_limit == SIZE_MAX && conn_key(&pieces[j].p) == c)
        pieces[j].rst_limit = k;
  }
  /* Shuffle locally, as networks and capture queues do: within each
   * block of `window` consecutive frames, the movable pieces of one
   * flow-direction trade places (the slots stay). */
  size_t *idx = malloc(npieces * sizeof *idx);
  char *done = calloc(npieces, 1);
  if (!idx || !done) return 1;
  for (size_t b0 = 0; b0 < npieces; b0 += window) {
    size_t b1 = b0 + window < npieces ? b0 + window : npieces;
    for (size_t k = b0; k < b1; k++) {
      if (done[k] || !pieces[k].movable) continue;
      size_t m = 0;
      for (size_t j = k; j < b1; j++)
        if (!done[j] && pieces[j].movable && pieces[j].flow == pieces[k].flow &&
            b1 - 1 < pieces[j].rst_limit) {
          idx[m++] = j;
          done[j] = 1;
        }
      for (size_t a = m; a > 1; a--) {
        size_t b = rng_below(&g, a);
        size_t sa = pieces[idx[a - 1]].slot, sb = pieces[idx[b]].slot;
        pieces[idx[a - 1]].slot = sb;
        pieces[idx[b]].slot = sa;
      }
    }
  }
  qsort(pieces, npieces, sizeof *pieces, by_slot);
  pcap_t *dead = pcap_open_dead(DLT_RAW, 65535);
  pcap_dumper_t *d = pcap_dump_open(dead, outpath);
  if (!d) {
    fprintf(stderr, "mimic-pcapmangle: %s\n", pcap_geterr(dead));
    return 1;
  }
  static uint8_t frame[70000];
  for (size_t k = 0; k < npieces; k++) {
    size_t n = build(&pieces[k], frame);
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)n, .len = (bpf_u_int32)n};
    h.ts.tv_sec = (time_t)(pieces[k].p.ts_us / 1000000);
    h.ts.tv_usec = (suseconds_t)(pieces[k].p.ts_us % 1000000);
    pcap_dump((u_char *)d, &h, frame);
    free(pieces[k].data);
  }
  pcap_dump_close(d);
  pcap_close(dead);
  pcapsrc_free(src);
  free(pieces);
  free(idx);
  free(done);
  return 0;
}
