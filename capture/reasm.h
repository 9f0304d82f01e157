/* reasm: TCP stream reassembly for packet captures as they really are.
 *
 * Connections are keyed on their 4-tuple; each direction is put in order by
 * sequence number only (never by ACK numbers, which change within a
 * message). Out-of-order segments are held until the hole before them
 * fills; retransmissions and overlaps are trimmed (the bytes that arrived
 * first win); a hole the capture will never fill (the peer acknowledged
 * past it and the flow went on for a while, a buffer cap, the end of the
 * flow, the idle timeout) is reported as a gap of its size and delivery
 * goes on after it. A segment cut by the snapshot length is a gap too.
 *
 * Memory is bounded: out-of-order bytes per direction and in total, and
 * the number of live connections (the least recently active one is closed
 * first). Closed connections linger briefly, so that late retransmissions
 * are recognised as such rather than taken for new connections. */
#ifndef MIMIC_REASM_H
#define MIMIC_REASM_H

#include <stddef.h>
#include <stdint.h>

struct pkt;
struct reasm;

/* Why a connection ended. */
enum reasm_close {
  REASM_FIN = 0, /* both directions finished (FIN), or one FIN then idle */
  REASM_RST,     /* reset */
  REASM_TIMEOUT, /* idle for opts.idle_us */
  REASM_EVICTED, /* closed early to stay within max_flows */
  REASM_END,     /* end of the input (reasm_flush) */
};

/* The caller's view of a connection. Direction 0 is the side that sent the
 * first SYN seen, or else the sender of the first segment seen. */
struct reasm_flow {
  void *user;                /* the caller's state, NULL at first */
  uint8_t af;                /* 4 or 6 */
  uint8_t syn;               /* 1: direction 0 sent a SYN (it is the client) */
  uint16_t port[2];          /* port of the sender of direction 0 / 1 */
  uint8_t addr[2][16];       /* address of the sender of direction 0 / 1 */
  int64_t first_ts, last_ts; /* first and latest segment times */
};

struct reasm_ops {
  /* In-order bytes of one direction; ts_us is the time of the segment that
   * carried them. */
  void (*data)(void *arg, struct reasm_flow *f, int dir, const uint8_t *p,
               size_t n, int64_t ts_us);
  /* n bytes of direction dir are missing here and will never come. */
  void (*gap)(void *arg, struct reasm_flow *f, int dir, uint64_t n);
  /* Direction dir ended in order (its FIN). */
  void (*end)(void *arg, struct reasm_flow *f, int dir);
  /* The connection is over; f->user must be released here (f is gone
   * after the call). */
  void (*close)(void *arg, struct reasm_flow *f, enum reasm_close why);
};

struct reasm_opts {
  int64_t idle_us;     /* a connection without segments for this long is
                          closed (default 5 min) */
  int64_t linger_us;   /* a closed connection is remembered this long
                          (default 30 s) */
  size_t flow_buf;     /* out-of-order bytes held per direction (1 MiB) */
  size_t total_buf;    /* out-of-order bytes held in all (256 MiB) */
  size_t max_flows;    /* live connections at most (1,000,000) */
  uint32_t ack_wait;   /* once the peer has acknowledged bytes that were
                          not seen, the hole becomes a gap after this many
                          more segments of the flow (64)... */
  int64_t ack_wait_us; /* ... and this much time (1 s): long enough for a
                          retransmission after a capture loss (RTO) */
};

struct reasm_stats {
  uint64_t flows;         /* connections seen */
  uint64_t live;          /* connections open now */
  uint64_t gaps;          /* holes declared */
  uint64_t gap_bytes;     /* bytes in them */
  uint64_t retrans_bytes; /* payload bytes seen twice (trimmed) */
  uint64_t ooo_segments;  /* segments that arrived ahead of a hole */
  uint64_t timeouts;      /* connections closed by the idle timeout while
                             holding out-of-order bytes */
  uint64_t idle_closed;   /* connections closed by the idle timeout */
  uint64_t evicted;       /* connections closed to respect max_flows */
  uint64_t forced;        /* holes declared because a buffer cap was hit */
  uint64_t late_segments; /* payload for a connection already closed */
  uint64_t held_bytes;    /* out-of-order bytes held now */
  uint64_t held_peak;     /* ... at most */
};

/* opts may be NULL (defaults). ops->data, gap, end and close are required.
 * Returns 0 or -ENOMEM. */
int reasm_new(const struct reasm_opts *opts, const struct reasm_ops *ops,
              void *arg, struct reasm **out);
/* Closes what is open (REASM_END, as reasm_flush) and frees everything. */
void reasm_free(struct reasm *r);

/* Feeds one TCP segment. Callbacks run from inside the call, for this
 * connection and for others that time out as the packet clock (the latest
 * segment time) moves on. Returns 0 or -ENOMEM. */
int reasm_feed(struct reasm *r, const struct pkt *p);

/* Stops delivering data of f (a flow the caller does not understand): its
 * segments are still followed, for the end of the connection, but nothing
 * is copied or held any more. May be called from a callback. */
void reasm_ignore(struct reasm *r, struct reasm_flow *f);

/* End of input: every connection delivers what it holds (holes become
 * gaps) and closes with REASM_END. */
void reasm_flush(struct reasm *r);

void reasm_stats(const struct reasm *r, struct reasm_stats *out);

#endif
