#include "sessionize.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "hmap.h"
#include "learn.h"
#include "rng.h"

#define NIL UINT32_MAX
#define HLL_P 14
#define HLL_M (1u << HLL_P)
#define EXACT_CLIENTS (1u << 20)

struct live {
  uint64_t client;
  int64_t first_start, last_start, last_ts, last_end;
  int64_t last_off; /* where in its tick the latest request was put */
  uint32_t last_ep, nreq;
  uint32_t prev, next; /* LRU by last activity; also the free list */
  uint8_t half;        /* split-half baseline: which half */
};

struct sessionizer {
  struct sess_opts opts;
  struct learn *learn;
  struct hmap index; /* client -> slot */
  struct live *slots;
  uint32_t nslots, cap_slots, free_head;
  uint32_t head, tail; /* oldest .. newest activity */
  struct rng rng;
  struct hmap seen; /* exact distinct clients while small */
  int seen_exact;
  uint8_t *hll;
  uint64_t transitions, from_end, split;
};

int sess_new(const struct sess_opts *opts, struct learn *learn,
             struct sessionizer **out) {
  struct sessionizer *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->hll = calloc(HLL_M, 1);
  if (!s->hll) {
    free(s);
    return -ENOMEM;
  }
  s->opts = *opts;
  if (s->opts.idle_us <= 0) s->opts.idle_us = 30LL * 60 * 1000000;
  if (s->opts.max_duration_us <= 0)
    s->opts.max_duration_us = 12LL * 3600 * 1000000;
  if (s->opts.max_requests == 0) s->opts.max_requests = 10000;
  s->learn = learn;
  hmap_init(&s->index);
  hmap_init(&s->seen);
  s->seen_exact = 1;
  s->head = s->tail = s->free_head = NIL;
  rng_seed(&s->rng, opts->seed);
  *out = s;
  return 0;
}

void sess_free(struct sessionizer *s) {
  if (!s) return;
  hmap_cleanup(&s->index);
  hmap_cleanup(&s->seen);
  free(s->slots);
  free(s->hll);
  free(s);
}

static void lru_unlink(struct sessionizer *s, uint32_t i) {
  struct live *x = &s->slots[i];
  if (x->prev != NIL)
    s->slots[x->prev].next = x->next;
  else
    s->head = x->next;
  if (x->next != NIL)
    s->slots[x->next].prev = x->prev;
  else
    s->tail = x->prev;
}

static void lru_append(struct sessionizer *s, uint32_t i) {
  struct live *x = &s->slots[i];
  x->prev = s->tail;
  x->next = NIL;
  if (s->tail != NIL)
    s->slots[s->tail].next = i;
  else
    s->head = i;
  s->tail = i;
}

static int end_session(struct sessionizer *s, uint32_t i) {
  struct live *x = &s->slots[i];
  int rc = learn_session_end(s->learn, i, x->last_ep, x->nreq,
                             x->last_start - x->first_start);
  if (!rc && s->opts.half)
    rc = half_end(s->opts.half, x->half, x->last_ep, x->nreq,
                  x->last_start - x->first_start);
  lru_unlink(s, i);
  hmap_del(&s->index, x->client);
  x->next = s->free_head;
  s->free_head = i;
  return rc;
}

static int alloc_slot(struct sessionizer *s, uint32_t *out) {
  if (s->free_head != NIL) {
    *out = s->free_head;
    s->free_head = s->slots[*out].next;
    return 0;
  }
  if (s->nslots == s->cap_slots) {
    uint32_t ncap = s->cap_slots ? s->cap_slots * 2 : 1024;
    struct live *ns = realloc(s->slots, (size_t)ncap * sizeof *ns);
    if (!ns) return -ENOMEM;
    s->slots = ns;
    s->cap_slots = ncap;
  }
  *out = s->nslots++;
  return 0;
}

static void count_client(struct sessionizer *s, uint64_t client) {
  /* HyperLogLog register update: index from the low bits, rank of the
   * rest (the client key is already a good hash). */
  uint32_t idx = (uint32_t)(client & (HLL_M - 1));
  uint64_t w = client >> HLL_P;
  uint8_t rank = 1;
  while (rank <= 64 - HLL_P && !(w & 1)) {
    rank++;
    w >>= 1;
  }
  if (s->hll[idx] < rank) s->hll[idx] = rank;
  if (s->seen_exact) {
    if (s->seen.len >= EXACT_CLIENTS) {
      s->seen_exact = 0;
      hmap_cleanup(&s->seen);
    } else if (hmap_put(&s->seen, client, 0, NULL) < 0) {
      s->seen_exact = 0; /* out of memory: fall back to the estimate */
      hmap_cleanup(&s->seen);
    }
  }
}

static int start_session(struct sessionizer *s, const struct sess_event *ev,
                         int64_t start, int64_t end, int64_t off) {
  uint32_t i;
  int rc = alloc_slot(s, &i);
  if (rc) return rc;
  uint64_t *slot;
  if ((rc = hmap_put(&s->index, ev->client, i, &slot)) < 0) return rc;
  struct live *x = &s->slots[i];
  x->client = ev->client;
  x->first_start = x->last_start = start;
  x->last_ts = ev->ts_us;
  x->last_end = end;
  x->last_ep = ev->ep;
  x->nreq = 1;
  x->last_off = off;
  lru_append(s, i);
  if (s->opts.half) {
    x->half = (uint8_t)half_pick(s->opts.half, ev->client, start);
    if ((rc = half_start(s->opts.half, x->half, start, ev->ep, ev->status)))
      return rc;
  }
  return learn_session_start(s->learn, i, start, ev->ep, ev->status, ev->ua);
}

/* Logged times are whole ticks (seconds, milliseconds): a request's true
 * time lies somewhere in its tick, so it is spread there, keeping the
 * session's order: a session's first request of a tick anywhere in it, a
 * later one in the same tick uniformly in the rest of the tick. Think
 * times and durations are differences of the same spread times, so a
 * session's think times add up to its duration (a replay holding both
 * needs them to agree), nothing sits on the tick grid, and a burst of
 * requests within one second stays within it. Returns the offset within
 * the tick (0 for exact times). */
static int64_t spread(struct sessionizer *s, const struct sess_event *ev,
                      const struct live *x) {
  if (ev->res_us <= 1) return 0;
  double r = (double)ev->res_us;
  if (x && ev->ts_us == x->last_ts && x->last_off < ev->res_us)
    return x->last_off +
           (int64_t)((r - (double)x->last_off) * rng_double(&s->rng));
  return (int64_t)(r * rng_double(&s->rng));
}

int sess_feed(struct sessionizer *s, const struct sess_event *ev) {
  int rc;
  /* Close sessions the clock has left behind, oldest first. */
  while (s->head != NIL &&
         ev->ts_us - s->slots[s->head].last_ts > s->opts.idle_us) {
    if ((rc = end_session(s, s->head))) return rc;
  }
  count_client(s, ev->client);
  uint64_t *ix = hmap_get(&s->index, ev->client);
  uint32_t i = ix ? (uint32_t)*ix : NIL;
  struct live *x = ix ? &s->slots[i] : NULL;
  if (x && ev->ts_us - x->last_ts > s->opts.idle_us) {
    if ((rc = end_session(s, i))) return rc;
    x = NULL;
  }
  int64_t off = spread(s, ev, x);
  int64_t ts = ev->ts_us + off;
  int has_lat = ev->lat_us >= 0;
  int64_t start = ev->ts_is_end && has_lat ? ts - ev->lat_us : ts;
  int64_t end = !ev->ts_is_end && has_lat ? ts + ev->lat_us : ts;
  if (!has_lat) end = start;
  if (!x) return start_session(s, ev, start, end, off);
  if (start - x->first_start > s->opts.max_duration_us ||
      x->nreq >= s->opts.max_requests) {
    s->split++;
    if ((rc = end_session(s, i))) return rc;
    return start_session(s, ev, start, end, off);
  }
  int64_t think = start - x->last_end;
  if (think < 0) think = 0;
  s->transitions++;
  if (has_lat || x->last_end != x->last_start) s->from_end++;
  if ((rc = learn_transition(s->learn, i, x->last_ep, ev->ep, think,
                             ev->status)))
    return rc;
  if (s->opts.half && (rc = half_step(s->opts.half, x->half, x->last_ep, ev->ep,
                                      think, ev->status)))
    return rc;
  x->last_start = start > x->last_start ? start : x->last_start;
  if (ev->ts_us >= x->last_ts) {
    x->last_ts = ev->ts_us;
    x->last_off = off;
  }
  x->last_end = end > x->last_end ? end : x->last_end;
  x->last_ep = ev->ep;
  x->nreq++;
  lru_unlink(s, i);
  lru_append(s, i);
  return 0;
}

int sess_flush(struct sessionizer *s) {
  while (s->head != NIL) {
    int rc = end_session(s, s->head);
    if (rc) return rc;
  }
  return 0;
}

uint64_t sess_clients(const struct sessionizer *s) {
  if (s->seen_exact) return s->seen.len;
  double sum = 0;
  uint32_t zeros = 0;
  for (uint32_t i = 0; i < HLL_M; i++) {
    sum += ldexp(1.0, -s->hll[i]);
    if (!s->hll[i]) zeros++;
  }
  double m = HLL_M, alpha = 0.7213 / (1 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros) e = m * log(m / zeros);
  return (uint64_t)(e + 0.5);
}

uint64_t sess_think_from_end(const struct sessionizer *s) {
  return s->from_end;
}
uint64_t sess_transitions(const struct sessionizer *s) {
  return s->transitions;
}
uint64_t sess_split(const struct sessionizer *s) {
  return s->split;
}
