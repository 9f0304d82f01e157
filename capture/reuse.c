#include "reuse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hmap.h"

struct given {
  uint64_t hash;
  uint32_t index;
  uint32_t ep;
  uint8_t loc;
  char name[64];
};

struct sess {
  uint64_t key, no;
  int64_t last_ts;
  uint32_t nreq;
  size_t nvals, head; /* ring of given values */
  struct given *vals;
};

struct reuse {
  struct reuse_opts o;
  struct hmap index; /* key -> slot in sess */
  struct sess *sess;
  size_t nsess, cap;
  struct sess *cur;
  uint32_t cur_index;
  uint64_t sessions;
  struct hmap rule_index;
  struct reuse_rule *rules;
  size_t nrules, caprules;
};

static const char *const LOCS[] = {"path",   "query",  "json",
                                   "header", "cookie", "location"};

const char *reuse_loc_name(enum reuse_loc loc) {
  return loc < CL_LOCS ? LOCS[loc] : "?";
}

int reuse_new(const struct reuse_opts *o, struct reuse **out) {
  struct reuse *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  if (o) c->o = *o;
  if (c->o.idle_us <= 0) c->o.idle_us = 30LL * 60 * 1000000;
  if (!c->o.max_sessions) c->o.max_sessions = 100000;
  if (!c->o.values) c->o.values = 128;
  if (!c->o.max_rules) c->o.max_rules = 1000;
  hmap_init(&c->index);
  hmap_init(&c->rule_index);
  *out = c;
  return 0;
}

void reuse_free(struct reuse *c) {
  if (!c) return;
  for (size_t i = 0; i < c->nsess; i++) free(c->sess[i].vals);
  free(c->sess);
  free(c->rules);
  hmap_cleanup(&c->index);
  hmap_cleanup(&c->rule_index);
  free(c);
}

/* Forgets sessions idle past the timeout (they cannot give values to a
 * later request any more). */
static void sweep(struct reuse *c, int64_t now) {
  size_t w = 0;
  hmap_cleanup(&c->index);
  hmap_init(&c->index);
  for (size_t i = 0; i < c->nsess; i++) {
    if (c->sess[i].last_ts < now - c->o.idle_us) {
      free(c->sess[i].vals);
      continue;
    }
    c->sess[w] = c->sess[i];
    uint64_t *slot;
    if (hmap_put(&c->index, c->sess[w].key, w, &slot) < 0) {
      free(c->sess[w].vals);
      continue;
    }
    w++;
  }
  c->nsess = w;
}

int reuse_begin(struct reuse *c, uint64_t key, int64_t ts, uint64_t *session,
                uint32_t *index) {
  c->cur = NULL;
  if (!key) key = 1; /* 0 marks an empty slot of the map */
  uint64_t *slot = hmap_get(&c->index, key);
  struct sess *s = slot ? &c->sess[*slot] : NULL;
  if (!s) {
    if (c->nsess >= c->o.max_sessions) sweep(c, ts);
    if (c->nsess >= c->o.max_sessions) {
      /* Too many at once: this one is not followed (a new number). */
      *session = ++c->sessions;
      *index = 0;
      return 0;
    }
    if (c->nsess == c->cap) {
      size_t nc = c->cap ? c->cap * 2 : 64;
      struct sess *ns = realloc(c->sess, nc * sizeof *ns);
      if (!ns) return -ENOMEM;
      c->sess = ns;
      c->cap = nc;
    }
    s = &c->sess[c->nsess];
    memset(s, 0, sizeof *s);
    s->key = key;
    s->vals = calloc(c->o.values, sizeof *s->vals);
    if (!s->vals || hmap_put(&c->index, key, c->nsess, &slot) < 0) {
      free(s->vals);
      return -ENOMEM;
    }
    c->nsess++;
    s->no = ++c->sessions;
  } else if (ts - s->last_ts > c->o.idle_us) {
    /* Idle too long: a new session of the same client. */
    s->no = ++c->sessions;
    s->nreq = 0;
    s->nvals = s->head = 0;
  }
  if (ts > s->last_ts) s->last_ts = ts;
  c->cur = s;
  c->cur_index = s->nreq++;
  *session = s->no;
  *index = c->cur_index;
  return 0;
}

int reuse_worth(const char *v, size_t n) {
  if (n > 4096) return 0;
  size_t digits = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i] >= '0' && v[i] <= '9') digits++;
  if (digits == n) return n >= 3;
  if (n < 4) return 0;
  return !(
      (n == 4 && (memcmp(v, "true", 4) == 0 || memcmp(v, "null", 4) == 0)) ||
      (n == 5 && memcmp(v, "false", 5) == 0));
}

static uint64_t vhash(const char *v, size_t n) {
  return hash64(v, n, 0x636f7272656cULL) | 1;
}

static void count_rule(struct reuse *c, const struct given *g, uint32_t ep,
                       enum reuse_loc loc, const char *name) {
  uint64_t k =
      hash_mix(hash_mix(g->ep, g->loc), hash64(g->name, strlen(g->name), 1));
  k = hash_mix(k, hash_mix(hash_mix(ep, loc), hash64(name, strlen(name), 2)));
  k |= 1;
  uint64_t *slot = hmap_get(&c->rule_index, k);
  if (slot) {
    c->rules[*slot].count++;
    return;
  }
  if (c->nrules >= c->o.max_rules) return;
  if (c->nrules == c->caprules) {
    size_t nc = c->caprules ? c->caprules * 2 : 32;
    struct reuse_rule *nr = realloc(c->rules, nc * sizeof *nr);
    if (!nr) return;
    c->rules = nr;
    c->caprules = nc;
  }
  if (hmap_put(&c->rule_index, k, c->nrules, &slot) < 0) return;
  struct reuse_rule *r = &c->rules[c->nrules++];
  memset(r, 0, sizeof *r);
  r->src_ep = g->ep;
  r->src_loc = g->loc;
  snprintf(r->src_name, sizeof r->src_name, "%s", g->name);
  r->dst_ep = ep;
  r->dst_loc = (uint8_t)loc;
  snprintf(r->dst_name, sizeof r->dst_name, "%s", name);
  r->count = 1;
}

int reuse_find(struct reuse *c, uint32_t ep, enum reuse_loc loc,
               const char *name, const char *v, size_t n,
               struct reuse_src *src) {
  struct sess *s = c->cur;
  if (!s || !s->nvals || !reuse_worth(v, n)) return 0;
  uint64_t h = vhash(v, n);
  /* Newest first: the latest response that gave the value. */
  for (size_t k = 0; k < s->nvals; k++) {
    size_t i = (s->head + c->o.values - 1 - k) % c->o.values;
    const struct given *g = &s->vals[i];
    if (g->hash != h || g->index >= c->cur_index) continue;
    count_rule(c, g, ep, loc, name);
    src->index = g->index;
    src->loc = g->loc;
    snprintf(src->name, sizeof src->name, "%s", g->name);
    return 1;
  }
  return 0;
}

int reuse_give(struct reuse *c, uint32_t ep, enum reuse_loc loc,
               const char *name, const char *v, size_t n) {
  struct sess *s = c->cur;
  if (!s || !reuse_worth(v, n)) return 0;
  struct given *g = &s->vals[s->head];
  g->hash = vhash(v, n);
  g->index = c->cur_index;
  g->ep = ep;
  g->loc = (uint8_t)loc;
  snprintf(g->name, sizeof g->name, "%s", name);
  s->head = (s->head + 1) % c->o.values;
  if (s->nvals < c->o.values) s->nvals++;
  return 0;
}

int reuse_has_values(const struct reuse *c) {
  return c->cur && c->cur->nvals > 0;
}

size_t reuse_nrules(const struct reuse *c) {
  return c->nrules;
}

const struct reuse_rule *reuse_rule(const struct reuse *c, size_t i) {
  return i < c->nrules ? &c->rules[i] : NULL;
}

uint64_t reuse_sessions(const struct reuse *c) {
  return c->sessions;
}
