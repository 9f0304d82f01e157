#include "reasm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "pcapsrc.h"

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
/* A segment this far ahead of the next expected byte is not part of the
 * stream (a bogus or foreign sequence number), not a hole to wait for. */
#define MAX_AHEAD (1u << 30)
/* How far back the start of a stream picked up mid-way may move. */
#define MAX_BACK (1u << 20)
/* Segments a stream picked up mid-way waits for earlier ones. */
#define TENTATIVE_PKTS 16

struct seg {
  struct seg *next;
  uint32_t seq, len;
  uint32_t missing; /* bytes after data the snapshot length cut */
  int64_t ts;
  uint8_t data[];
};

struct half {
  uint32_t next;    /* next expected sequence number */
  uint32_t fin_seq; /* sequence number of the FIN, when fin */
  uint32_t acked;   /* highest ACK of the peer past next (when hole) */
  uint8_t started, fin, done, hole_acked;
  uint8_t tentative;   /* picked up mid-stream: the start may move back */
  uint32_t tent_since; /* conn->pkts when it was picked up */
  uint32_t hole_since; /* conn->pkts when the hole was acknowledged */
  int64_t hole_ts;     /* ... and the packet clock then */
  struct seg *ooo;     /* held segments, by seq */
  size_t held;         /* their bytes */
};

struct conn {
  struct reasm_flow pub;    /* first: the caller's pointer is ours */
  struct conn *hnext;       /* hash chain */
  struct conn *prev, *next; /* open list (LRU) or closed list */
  uint64_t hash;
  struct half h[2];
  int64_t closed_at;
  uint32_t pkts;
  uint8_t closed, ignored, busy;
};

struct list {
  struct conn *head, *tail;
};

struct reasm {
  struct reasm_opts o;
  struct reasm_ops ops;
  void *arg;
  struct conn **buckets;
  size_t nbuckets, nconns;
  struct list open, closed;
  struct conn *last; /* the connection of the last segment */
  int64_t clock;
  struct reasm_stats st;
};

/* ---- lists and table ---------------------------------------------------- */

static void list_remove(struct list *l, struct conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    l->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    l->tail = c->prev;
  c->prev = c->next = NULL;
}

static void list_append(struct list *l, struct conn *c) {
  c->next = NULL;
  c->prev = l->tail;
  if (l->tail)
    l->tail->next = c;
  else
    l->head = c;
  l->tail = c;
}

/* The key is direction-free: the endpoint with the smaller (address, port)
 * comes first. */
static uint64_t key_hash(const struct pkt *p) {
  /* Direction-free: the endpoint with the smaller (address, port) comes
   * first. Addresses fold into words mixed with the ports (cheaper than
   * hashing the 37 bytes, and as well spread). */
  size_t alen = p->af == 4 ? 4 : 16;
  int swap = memcmp(p->src, p->dst, alen);
  if (swap == 0) swap = p->sport > p->dport ? 1 : -1;
  const uint8_t *a = swap < 0 ? p->src : p->dst,
                *b = swap < 0 ? p->dst : p->src;
  uint16_t pa = swap < 0 ? p->sport : p->dport,
           pb = swap < 0 ? p->dport : p->sport;
  uint64_t a0, a1, b0, b1;
  memcpy(&a0, a, 8);
  memcpy(&a1, a + 8, 8);
  memcpy(&b0, b, 8);
  memcpy(&b1, b + 8, 8);
  uint64_t ports = (uint64_t)pa << 32 | (uint64_t)pb << 16 | p->af;
  return hash_mix(hash_mix(a0 ^ (a1 * 0x9e3779b97f4a7c15ULL),
                           b0 ^ (b1 * 0xc2b2ae3d27d4eb4fULL)),
                  ports);
}

/* Direction of p within c: 0, 1, or -1 when p is not c's. */
static int conn_dir(const struct conn *c, const struct pkt *p) {
  if (c->pub.af != p->af) return -1;
  for (int d = 0; d < 2; d++)
    if (c->pub.port[d] == p->sport && c->pub.port[1 - d] == p->dport &&
        memcmp(c->pub.addr[d], p->src, 16) == 0 &&
        memcmp(c->pub.addr[1 - d], p->dst, 16) == 0)
      return d;
  return -1;
}

static struct conn *table_find(struct reasm *r, const struct pkt *p,
                               uint64_t hash, int *dir) {
  if (!r->nbuckets) return NULL;
  for (struct conn *c = r->buckets[hash & (r->nbuckets - 1)]; c; c = c->hnext) {
    if (c->hash != hash) continue;
    int d = conn_dir(c, p);
    if (d >= 0) {
      *dir = d;
      return c;
    }
  }
  return NULL;
}

static int table_grow(struct reasm *r) {
  size_t n = r->nbuckets ? r->nbuckets * 2 : 1024;
  struct conn **nb = calloc(n, sizeof *nb);
  if (!nb) return -ENOMEM;
  for (size_t i = 0; i < r->nbuckets; i++) {
    struct conn *c = r->buckets[i];
    while (c) {
      struct conn *next = c->hnext;
      c->hnext = nb[c->hash & (n - 1)];
      nb[c->hash & (n - 1)] = c;
      c = next;
    }
  }
  free(r->buckets);
  r->buckets = nb;
  r->nbuckets = n;
  return 0;
}

static void table_remove(struct reasm *r, struct conn *c) {
  struct conn **pp = &r->buckets[c->hash & (r->nbuckets - 1)];
  while (*pp && *pp != c) pp = &(*pp)->hnext;
  if (*pp) *pp = c->hnext;
  r->nconns--;
}

static void free_segs(struct reasm *r, struct half *h) {
  struct seg *s = h->ooo;
  while (s) {
    struct seg *n = s->next;
    free(s);
    s = n;
  }
  r->st.held_bytes -= h->held;
  h->ooo = NULL;
  h->held = 0;
}

/* Forgets a closed connection entirely. */
static void conn_destroy(struct reasm *r, struct conn *c) {
  if (r->last == c) r->last = NULL;
  list_remove(&r->closed, c);
  table_remove(r, c);
  free_segs(r, &c->h[0]);
  free_segs(r, &c->h[1]);
  free(c);
}

/* ---- delivery ------------------------------------------------------------ */

static void deliver(struct reasm *r, struct conn *c, int dir, const uint8_t *p,
                    size_t n, int64_t ts) {
  if (n && !c->ignored) r->ops.data(r->arg, &c->pub, dir, p, n, ts);
}

static void gap(struct reasm *r, struct conn *c, int dir, uint64_t n) {
  if (!n) return;
  r->st.gaps++;
  r->st.gap_bytes += n;
  if (!c->ignored) r->ops.gap(r->arg, &c->pub, dir, n);
}

static void check_done(struct reasm *r, struct conn *c, int dir) {
  struct half *h = &c->h[dir];
  if (h->fin && !h->done && h->next == h->fin_seq) {
    h->done = 1;
    if (!c->ignored) r->ops.end(r->arg, &c->pub, dir);
  }
}

/* Delivers held segments that the stream has reached. */
static void drain(struct reasm *r, struct conn *c, int dir) {
  struct half *h = &c->h[dir];
  if (h->tentative) return;
  while (h->ooo && SEQ_LEQ(h->ooo->seq, h->next)) {
    struct seg *s = h->ooo;
    h->ooo = s->next;
    h->held -= s->len;
    r->st.held_bytes -= s->len;
    uint32_t skip = h->next - s->seq;
    if (skip < s->len) {
      deliver(r, c, dir, s->data + skip, s->len - skip, s->ts);
      h->next += s->len - skip;
      skip = 0;
    } else {
      skip -= s->len;
    }
    if (s->missing > skip) {
      gap(r, c, dir, s->missing - skip);
      h->next += s->missing - skip;
    }
    free(s);
  }
  if (!h->ooo) h->hole_acked = 0;
  check_done(r, c, dir);
}

/* A stream picked up mid-way starts at the lowest sequence number seen in
 * its first segments (they may come out of order); from then on it is an
 * ordinary stream. */
static void end_tentative(struct reasm *r, struct conn *c, int dir) {
  struct half *h = &c->h[dir];
  if (!h->tentative) return;
  h->tentative = 0;
  drain(r, c, dir);
}

/* Declares the hole before the first held segment a gap and goes on. */
static void skip_hole(struct reasm *r, struct conn *c, int dir) {
  struct half *h = &c->h[dir];
  if (!h->ooo) return;
  gap(r, c, dir, (uint32_t)(h->ooo->seq - h->next));
  h->next = h->ooo->seq;
  drain(r, c, dir);
}

/* Delivers everything held, holes becoming gaps. */
static void flush_half(struct reasm *r, struct conn *c, int dir) {
  end_tentative(r, c, dir);
  while (c->h[dir].ooo) skip_hole(r, c, dir);
}

static void close_conn(struct reasm *r, struct conn *c, enum reasm_close why) {
  if (c->closed) return;
  int held = c->h[0].ooo || c->h[1].ooo;
  end_tentative(r, c, 0);
  end_tentative(r, c, 1);
  flush_half(r, c, 0);
  flush_half(r, c, 1);
  if (why == REASM_TIMEOUT) {
    r->st.idle_closed++;
    if (held) r->st.timeouts++;
  }
  if (why == REASM_EVICTED) r->st.evicted++;
  c->closed = 1;
  c->closed_at = r->clock;
  r->ops.close(r->arg, &c->pub, why);
  c->pub.user = NULL;
  r->st.live--;
  list_remove(&r->open, c);
  list_append(&r->closed, c);
  /* Only a connection that ended with FIN or RST is remembered, for its
   * late retransmissions; after a timeout or an eviction new segments
   * start a new connection. */
  if (why != REASM_FIN && why != REASM_RST) conn_destroy(r, c);
}

/* ---- segments --------------------------------------------------------------
 */

static struct seg *seg_new(uint32_t seq, const uint8_t *p, uint32_t len,
                           uint32_t missing, int64_t ts) {
  struct seg *s = malloc(sizeof *s + len);
  if (!s) return NULL;
  s->next = NULL;
  s->seq = seq;
  s->len = len;
  s->missing = missing;
  s->ts = ts;
  if (len) memcpy(s->data, p, len);
  return s;
}

/* Makes room for len more held bytes in this direction and in all. */
static void make_room(struct reasm *r, struct conn *c, int dir, size_t len) {
  struct half *h = &c->h[dir];
  while (h->ooo && h->held + len > r->o.flow_buf) {
    r->st.forced++;
    skip_hole(r, c, dir);
  }
  if (r->st.held_bytes + len <= r->o.total_buf) return;
  while (h->ooo && r->st.held_bytes + len > r->o.total_buf) {
    r->st.forced++;
    skip_hole(r, c, dir);
  }
  /* Still too much: release other connections, least recent first. */
  for (struct conn *o = r->open.head;
       o && r->st.held_bytes + len > r->o.total_buf; o = o->next) {
    if (o == c || o->busy) continue;
    for (int d = 0; d < 2; d++) {
      if (o->h[d].ooo) r->st.forced++;
      flush_half(r, o, d);
    }
  }
}

/* Holds an out-of-order segment [seq, seq+len) (+missing). Overlaps with
 * held data keep the bytes that came first. */
static int hold(struct reasm *r, struct conn *c, int dir, uint32_t seq,
                const uint8_t *p, uint32_t len, uint32_t missing, int64_t ts) {
  struct half *h = &c->h[dir];
  if (!h->tentative) r->st.ooo_segments++;
  if (h->tentative && h->held + len > r->o.flow_buf) end_tentative(r, c, dir);
  make_room(r, c, dir, len);
  if (!h->tentative && SEQ_LEQ(seq, h->next)) {
    /* make_room moved the stream up to (or past) this segment. */
    uint32_t skip = h->next - seq;
    if (skip < len) {
      deliver(r, c, dir, p + skip, len - skip, ts);
      h->next += len - skip;
      if (missing) {
        gap(r, c, dir, missing);
        h->next += missing;
      }
    }
    drain(r, c, dir);
    return 0;
  }
  uint32_t end = seq + len;
  struct seg **pp = &h->ooo, *prev = NULL;
  while (*pp && SEQ_LT((*pp)->seq, seq)) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (prev) {
    uint32_t pend = prev->seq + prev->len;
    if (SEQ_LEQ(end, pend)) {
      r->st.retrans_bytes += len;
      return 0;
    }
    if (SEQ_LT(seq, pend)) {
      uint32_t cut = pend - seq;
      r->st.retrans_bytes += cut;
      p += cut;
      len -= cut;
      seq = pend;
    }
  }
  /* Drop held segments this one covers entirely. */
  while (*pp && SEQ_LEQ((*pp)->seq + (*pp)->len, end) &&
         SEQ_LEQ(seq, (*pp)->seq) && (*pp)->missing == 0) {
    struct seg *dead = *pp;
    *pp = dead->next;
    h->held -= dead->len;
    r->st.held_bytes -= dead->len;
    r->st.retrans_bytes += dead->len;
    free(dead);
  }
  if (*pp && SEQ_LT((*pp)->seq, end)) {
    uint32_t keep = (*pp)->seq - seq;
    r->st.retrans_bytes += len - keep;
    len = keep;
    missing = 0;
    if (len == 0) return 0;
  }
  struct seg *s = seg_new(seq, p, len, missing, ts);
  if (!s) return -ENOMEM;
  s->next = *pp;
  *pp = s;
  h->held += len;
  r->st.held_bytes += len;
  if (r->st.held_bytes > r->st.held_peak) r->st.held_peak = r->st.held_bytes;
  return 0;
}

static int feed_half(struct reasm *r, struct conn *c, int dir,
                     const struct pkt *p) {
  struct half *h = &c->h[dir];
  uint32_t seq = p->seq, len = p->len, missing = p->missing;
  const uint8_t *data = p->payload;
  if (p->flags & PKT_SYN) {
    /* The first byte of data follows the SYN's sequence number. */
    if (!h->started) {
      h->started = 1;
      h->next = seq + 1;
    }
    seq++;
  }
  if (!h->started) {
    if (!len && !missing) return 0;
    h->started = 1; /* picked up in the middle of the connection */
    h->next = seq;
    h->tentative = 1;
    h->tent_since = c->pkts;
  }
  if (h->tentative && (len || missing) && SEQ_LT(seq, h->next) &&
      h->next - seq < MAX_BACK)
    h->next = seq; /* an earlier segment came late: the stream starts here */
  uint32_t end = seq + len + missing;
  if (p->flags & PKT_FIN && !h->fin) {
    h->fin = 1;
    h->fin_seq = end;
  }
  if (c->ignored) {
    /* Follow the stream without keeping anything. */
    if (SEQ_LT(h->next, end)) h->next = end;
    check_done(r, c, dir);
    return 0;
  }
  if (len == 0 && missing == 0) {
    check_done(r, c, dir);
    return 0;
  }
  if (SEQ_LEQ(end, h->next)) {
    r->st.retrans_bytes += len;
    check_done(r, c, dir);
    return 0;
  }
  if ((uint32_t)(seq - h->next) >= MAX_AHEAD && SEQ_LT(h->next, seq))
    return 0; /* not this stream's bytes */
  if (SEQ_LT(seq, h->next)) {
    uint32_t cut = h->next - seq;
    r->st.retrans_bytes += cut < len ? cut : len;
    if (cut >= len) {
      missing -= cut - len;
      data += len;
      len = 0;
    } else {
      data += cut;
      len -= cut;
    }
    seq = h->next;
  }
  /* While a mid-stream start may still move back, everything is held
   * (until its FIN: then the stream's bytes are all there). */
  if (seq != h->next || h->tentative) {
    int rc = hold(r, c, dir, seq, data, len, missing, p->ts_us);
    if (!rc && h->fin) end_tentative(r, c, dir);
    return rc;
  }
  deliver(r, c, dir, data, len, p->ts_us);
  h->next += len;
  if (missing) {
    gap(r, c, dir, missing);
    h->next += missing;
  }
  drain(r, c, dir);
  return 0;
}

/* The peer's ACK says it received bytes of direction dir up to ack: a hole
 * before that, if it lasts, is capture loss rather than reordering. */
static void note_ack(struct reasm *r, struct conn *c, int dir, uint32_t ack) {
  struct half *h = &c->h[dir];
  if (!h->ooo || h->tentative) return;
  if (!h->hole_acked && SEQ_LT(h->next, ack)) {
    h->hole_acked = 1;
    h->hole_since = c->pkts;
    h->hole_ts = r->clock;
  }
  if (h->hole_acked && c->pkts - h->hole_since >= r->o.ack_wait &&
      r->clock - h->hole_ts >= r->o.ack_wait_us) {
    skip_hole(r, c, dir);
    if (h->ooo) { /* the next hole waits its own turn */
      h->hole_acked = 0;
    }
  }
}

/* ---- the table's life ------------------------------------------------------
 */

static void expire(struct reasm *r) {
  while (r->open.head && r->open.head->pub.last_ts < r->clock - r->o.idle_us)
    close_conn(r, r->open.head, REASM_TIMEOUT);
  while (r->closed.head &&
         r->closed.head->closed_at < r->clock - r->o.linger_us)
    conn_destroy(r, r->closed.head);
}

static struct conn *conn_new(struct reasm *r, const struct pkt *p,
                             uint64_t hash) {
  if (r->st.live >= r->o.max_flows && r->open.head)
    close_conn(r, r->open.head, REASM_EVICTED);
  if (r->nconns + 1 > r->nbuckets && table_grow(r)) return NULL;
  struct conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->hash = hash;
  c->pub.af = p->af;
  c->pub.syn = (p->flags & (PKT_SYN | PKT_ACK)) == PKT_SYN;
  /* Direction 0 is the client when a SYN says so; a SYN+ACK comes from
   * the server. */
  int server_first = (p->flags & (PKT_SYN | PKT_ACK)) == (PKT_SYN | PKT_ACK);
  int d = server_first ? 1 : 0;
  memcpy(c->pub.addr[d], p->src, 16);
  memcpy(c->pub.addr[1 - d], p->dst, 16);
  c->pub.port[d] = p->sport;
  c->pub.port[1 - d] = p->dport;
  if (server_first) c->pub.syn = 1;
  c->pub.first_ts = p->ts_us;
  size_t b = hash & (r->nbuckets - 1);
  c->hnext = r->buckets[b];
  r->buckets[b] = c;
  r->nconns++;
  list_append(&r->open, c);
  r->st.flows++;
  r->st.live++;
  return c;
}

int reasm_feed(struct reasm *r, const struct pkt *p) {
  if (p->ts_us > r->clock) {
    r->clock = p->ts_us;
    expire(r);
  }
  /* Consecutive segments often belong to the same connection: try the
   * last one before hashing. */
  int dir = -1;
  struct conn *c = r->last;
  if (c) dir = conn_dir(c, p);
  uint64_t hash = dir >= 0 ? c->hash : key_hash(p);
  if (dir < 0) {
    dir = 0;
    c = table_find(r, p, hash, &dir);
  }
  int has_data = p->len || p->missing;
  if (c && c->closed) {
    /* A new SYN on a closed 4-tuple starts a new connection (port
     * reuse); anything else is a late copy of the old one. */
    if ((p->flags & (PKT_SYN | PKT_ACK)) == PKT_SYN) {
      conn_destroy(r, c);
      c = NULL;
    } else {
      if (has_data) r->st.late_segments++;
      return 0;
    }
  }
  if (!c) {
    if (!has_data && !(p->flags & PKT_SYN)) return 0;
    if (!(c = conn_new(r, p, hash))) return -ENOMEM;
    dir = conn_dir(c, p);
  }
  c->pkts++;
  r->last = c;
  if (p->ts_us > c->pub.last_ts) c->pub.last_ts = p->ts_us;
  if (r->open.tail != c) {
    list_remove(&r->open, c);
    list_append(&r->open, c);
  }
  c->busy = 1;
  int rc = feed_half(r, c, dir, p);
  for (int d = 0; d < 2 && !rc; d++)
    if (c->h[d].tentative && c->pkts - c->h[d].tent_since >= TENTATIVE_PKTS)
      end_tentative(r, c, d);
  if (!rc && (p->flags & PKT_ACK)) note_ack(r, c, 1 - dir, p->ack);
  c->busy = 0;
  if (rc) return rc;
  if (p->flags & PKT_RST)
    close_conn(r, c, REASM_RST);
  else if (c->h[0].done && c->h[1].done)
    close_conn(r, c, REASM_FIN);
  return 0;
}

void reasm_ignore(struct reasm *r, struct reasm_flow *f) {
  struct conn *c = (struct conn *)f;
  if (c->ignored) return;
  c->ignored = 1;
  /* Held bytes are dropped. The stream position is left alone (this may
   * run inside a data callback, whose caller still advances it); ignored
   * segments move it forward as they come. */
  free_segs(r, &c->h[0]);
  free_segs(r, &c->h[1]);
}

void reasm_flush(struct reasm *r) {
  while (r->open.head) close_conn(r, r->open.head, REASM_END);
  while (r->closed.head) conn_destroy(r, r->closed.head);
}

int reasm_new(const struct reasm_opts *opts, const struct reasm_ops *ops,
              void *arg, struct reasm **out) {
  struct reasm *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  if (opts) r->o = *opts;
  if (r->o.idle_us <= 0) r->o.idle_us = 300LL * 1000000;
  if (r->o.linger_us <= 0) r->o.linger_us = 30LL * 1000000;
  if (r->o.linger_us > r->o.idle_us) r->o.linger_us = r->o.idle_us;
  if (!r->o.flow_buf) r->o.flow_buf = 1u << 20;
  if (!r->o.total_buf) r->o.total_buf = 256u << 20;
  if (!r->o.max_flows) r->o.max_flows = 1000000;
  if (!r->o.ack_wait) r->o.ack_wait = 64;
  if (r->o.ack_wait_us <= 0) r->o.ack_wait_us = 1000000;
  r->ops = *ops;
  r->arg = arg;
  r->clock = INT64_MIN / 2;
  *out = r;
  return 0;
}

void reasm_free(struct reasm *r) {
  if (!r) return;
  /* Open connections still get their close, so the caller's per-flow
   * state is released. */
  while (r->open.head) close_conn(r, r->open.head, REASM_END);
  while (r->closed.head) conn_destroy(r, r->closed.head);
  free(r->buckets);
  free(r);
}

void reasm_stats(const struct reasm *r, struct reasm_stats *out) {
  *out = r->st;
}
