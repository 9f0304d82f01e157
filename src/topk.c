#include "topk.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hmap.h"

/* Values longer than this are truncated before hashing and storing, so a
 * hostile value cannot make one entry large. */
#define NONE UINT32_MAX
/* Fixed, so registers of different pools can be merged. */
#define SEED UINT64_C(0x6d696d6963746f70)
#define HLL_M 256

struct entry {
  char *val; /* owned, NUL-terminated, capacity vcap */
  uint32_t len;
  uint32_t vcap;
  uint64_t count;
  uint64_t error;
  uint64_t hash;
  uint32_t pos;   /* index in heap, NONE when the entry is free */
  uint32_t hnext; /* next entry with the same hash / next free entry */
};

struct topk {
  size_t cap;   /* entries kept at most */
  size_t alloc; /* entries allocated (grows up to cap) */
  size_t used;  /* entries handed out so far (high-water mark) */
  size_t len;   /* live entries, also the heap size */
  struct entry *e;
  uint32_t *heap; /* min-heap of live entries by count */
  uint32_t freel; /* entries released after a failed eviction */
  /* 64-bit value hash -> first entry with that hash; entries that share
   * a hash are chained through hnext and told apart by their bytes. */
  struct hmap index;
  uint64_t total;
  int evicted;
  uint8_t hll[HLL_M];
};

int topk_new(size_t cap, struct topk **out) {
  if (cap == 0 || cap >= NONE) return -EINVAL;
  struct topk *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->cap = cap;
  t->freel = NONE;
  hmap_init(&t->index);
  *out = t;
  return 0;
}

void topk_free(struct topk *t) {
  if (!t) return;
  for (size_t i = 0; i < t->used; i++) free(t->e[i].val);
  free(t->e);
  free(t->heap);
  hmap_cleanup(&t->index);
  free(t);
}

/* ---- heap ------------------------------------------------------------ */

static void heap_set(struct topk *t, size_t pos, uint32_t i) {
  t->heap[pos] = i;
  t->e[i].pos = (uint32_t)pos;
}

static void heap_up(struct topk *t, size_t pos) {
  uint32_t i = t->heap[pos];
  while (pos > 0) {
    size_t parent = (pos - 1) / 2;
    uint32_t p = t->heap[parent];
    if (t->e[p].count <= t->e[i].count) break;
    heap_set(t, pos, p);
    pos = parent;
  }
  heap_set(t, pos, i);
}

static void heap_down(struct topk *t, size_t pos) {
  uint32_t i = t->heap[pos];
  for (;;) {
    size_t c = 2 * pos + 1;
    if (c >= t->len) break;
    if (c + 1 < t->len && t->e[t->heap[c + 1]].count < t->e[t->heap[c]].count)
      c++;
    if (t->e[t->heap[c]].count >= t->e[i].count) break;
    heap_set(t, pos, t->heap[c]);
    pos = c;
  }
  heap_set(t, pos, i);
}

static void heap_remove(struct topk *t, size_t pos) {
  t->len--;
  if (pos == t->len) return;
  uint32_t moved = t->heap[t->len];
  heap_set(t, pos, moved);
  heap_up(t, pos);
  heap_down(t, t->e[moved].pos);
}

/* ---- index ----------------------------------------------------------- */

static int same(const struct entry *e, uint64_t h, const char *v, size_t len) {
  return e->hash == h && e->len == len && memcmp(e->val, v, len) == 0;
}

static uint32_t find(const struct topk *t, uint64_t h, const char *v,
                     size_t len) {
  uint64_t *head = hmap_get(&t->index, h);
  if (!head) return NONE;
  for (uint32_t i = (uint32_t)*head; i != NONE; i = t->e[i].hnext)
    if (same(&t->e[i], h, v, len)) return i;
  return NONE;
}

static int index_link(struct topk *t, uint32_t i) {
  uint64_t *slot;
  int rc = hmap_put(&t->index, t->e[i].hash, i, &slot);
  if (rc < 0) return rc;
  if (rc == 0) {
    t->e[i].hnext = (uint32_t)*slot;
    *slot = i;
  } else {
    t->e[i].hnext = NONE;
  }
  return 0;
}

static void index_unlink(struct topk *t, uint32_t i) {
  uint64_t *head = hmap_get(&t->index, t->e[i].hash);
  if (!head) return;
  if ((uint32_t)*head == i) {
    if (t->e[i].hnext == NONE)
      hmap_del(&t->index, t->e[i].hash);
    else
      *head = t->e[i].hnext;
    return;
  }
  for (uint32_t j = (uint32_t)*head; j != NONE; j = t->e[j].hnext) {
    if (t->e[j].hnext == i) {
      t->e[j].hnext = t->e[i].hnext;
      return;
    }
  }
}

/* ---- entries --------------------------------------------------------- */

static int set_value(struct entry *e, const char *v, size_t len) {
  if (e->vcap < len + 1) {
    size_t ncap = len + 1 < 16 ? 16 : len + 1;
    char *nv = realloc(e->val, ncap);
    if (!nv) return -ENOMEM;
    e->val = nv;
    e->vcap = (uint32_t)ncap;
  }
  if (len) memcpy(e->val, v, len);
  e->val[len] = '\0';
  e->len = (uint32_t)len;
  return 0;
}

/* A free entry index, growing the arrays geometrically; NONE on ENOMEM. */
static uint32_t take_entry(struct topk *t) {
  if (t->freel != NONE) {
    uint32_t i = t->freel;
    t->freel = t->e[i].hnext;
    return i;
  }
  if (t->used == t->alloc) {
    size_t n = t->alloc ? t->alloc * 2 : 8;
    if (n > t->cap) n = t->cap;
    struct entry *ne = realloc(t->e, n * sizeof *ne);
    if (!ne) return NONE;
    t->e = ne;
    uint32_t *nh = realloc(t->heap, n * sizeof *nh);
    if (!nh) return NONE;
    t->heap = nh;
    t->alloc = n;
  }
  struct entry *e = &t->e[t->used];
  memset(e, 0, sizeof *e);
  e->pos = NONE;
  return (uint32_t)t->used++;
}

static void release_entry(struct topk *t, uint32_t i) {
  t->e[i].pos = NONE;
  t->e[i].hnext = t->freel;
  t->freel = i;
}

static void hll_add(struct topk *t, uint64_t h) {
  size_t j = (size_t)(h >> 56);
  uint64_t w = h << 8;
  uint8_t rank = 1;
  while (rank <= 56 && !(w & (UINT64_C(1) << 63))) {
    rank++;
    w <<= 1;
  }
  if (t->hll[j] < rank) t->hll[j] = rank;
}

/* Space-Saving step for a value counted `count` times with a prior
 * over-estimation `err` (non-zero only when merging). */
static int add_weighted(struct topk *t, const char *v, size_t len,
                        uint64_t count, uint64_t err) {
  if (len > TOPK_VALUE_MAX) len = TOPK_VALUE_MAX;
  uint64_t h = hash64(v, len, SEED);
  hll_add(t, h);
  uint32_t i = find(t, h, v, len);
  if (i != NONE) {
    t->e[i].count += count;
    t->e[i].error += err;
    heap_down(t, t->e[i].pos);
    return 0;
  }
  if (t->len < t->cap) {
    i = take_entry(t);
    if (i == NONE) return -ENOMEM;
    struct entry *e = &t->e[i];
    e->hash = h;
    e->count = count;
    e->error = err;
    int rc = set_value(e, v, len);
    if (rc == 0) rc = index_link(t, i);
    if (rc) {
      release_entry(t, i);
      return rc;
    }
    heap_set(t, t->len++, i);
    heap_up(t, t->len - 1);
    return 0;
  }
  /* Full: the new value inherits the minimum's count as its error bound,
   * which is what keeps every value above total/cap in the pool. */
  i = t->heap[0];
  struct entry *e = &t->e[i];
  uint64_t min = e->count;
  t->evicted = 1;
  index_unlink(t, i);
  int rc = set_value(e, v, len);
  if (rc == 0) {
    e->hash = h;
    rc = index_link(t, i);
  }
  if (rc) {
    /* The victim is already gone from the index: drop it rather than
     * leave an entry that lookups cannot find. */
    heap_remove(t, 0);
    release_entry(t, i);
    return rc;
  }
  e->count = min + count;
  e->error = min + err;
  heap_down(t, 0);
  return 0;
}

int topk_add(struct topk *t, const char *value, size_t len, uint64_t count) {
  if (count == 0) return 0;
  int rc = add_weighted(t, value, len, count, 0);
  if (rc == 0) t->total += count;
  return rc;
}

static int by_count_desc(const void *a, const void *b, const struct topk *t) {
  const struct entry *x = &t->e[*(const uint32_t *)a];
  const struct entry *y = &t->e[*(const uint32_t *)b];
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return 0;
}

int topk_merge(struct topk *dst, const struct topk *src) {
  if (dst == src) return -EINVAL;
  if (src->len == 0) {
    dst->total += src->total;
    dst->evicted |= src->evicted;
    return 0;
  }
  /* Heaviest first, so they claim the free slots and the minimum that
   * later, lighter values evict is as small as it can be. */
  uint32_t *order = malloc(src->len * sizeof *order);
  if (!order) return -ENOMEM;
  memcpy(order, src->heap, src->len * sizeof *order);
  for (size_t i = 1; i < src->len; i++) { /* insertion sort: len <= cap */
    uint32_t x = order[i];
    size_t j = i;
    while (j > 0 && by_count_desc(&order[j - 1], &x, src) > 0) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = x;
  }
  int rc = 0;
  for (size_t i = 0; i < src->len && rc == 0; i++) {
    const struct entry *e = &src->e[order[i]];
    rc = add_weighted(dst, e->val, e->len, e->count, e->error);
  }
  free(order);
  for (size_t j = 0; j < HLL_M; j++)
    if (dst->hll[j] < src->hll[j]) dst->hll[j] = src->hll[j];
  dst->total += src->total;
  dst->evicted |= src->evicted;
  return rc;
}

uint64_t topk_total(const struct topk *t) {
  return t->total;
}

size_t topk_len(const struct topk *t) {
  return t->len;
}

uint64_t topk_distinct(const struct topk *t, int *exact) {
  if (!t->evicted) {
    if (exact) *exact = 1;
    return t->len;
  }
  if (exact) *exact = 0;
  double sum = 0;
  unsigned zeros = 0;
  for (size_t j = 0; j < HLL_M; j++) {
    sum += ldexp(1.0, -(int)t->hll[j]);
    if (t->hll[j] == 0) zeros++;
  }
  double m = HLL_M;
  double est = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
  /* Small-range correction (linear counting) from the HLL paper. */
  if (est <= 2.5 * m && zeros) est = m * log(m / zeros);
  uint64_t n = (uint64_t)(est + 0.5);
  /* At least the values held now were distinct. */
  return n < t->len ? t->len : n;
}

/* 1 if a goes before b: higher count, then smaller value. */
static int before(const struct topk_item *a, const struct topk_item *b) {
  if (a->count != b->count) return a->count > b->count;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->value, b->value, n);
  if (c) return c < 0;
  return a->len < b->len;
}

static int item_cmp(const void *pa, const void *pb) {
  const struct topk_item *a = pa, *b = pb;
  if (before(a, b)) return -1;
  if (before(b, a)) return 1;
  return 0;
}

/* Min-heap on `before` over items[0..n): the root is the worst item. */
static void sel_down(struct topk_item *it, size_t n, size_t pos) {
  for (;;) {
    size_t c = 2 * pos + 1, w = pos;
    if (c < n && before(&it[w], &it[c])) w = c;
    if (c + 1 < n && before(&it[w], &it[c + 1])) w = c + 1;
    if (w == pos) return;
    struct topk_item tmp = it[pos];
    it[pos] = it[w];
    it[w] = tmp;
    pos = w;
  }
}

size_t topk_items(const struct topk *t, struct topk_item *items, size_t max) {
  size_t n = 0;
  if (max == 0) return 0;
  for (size_t k = 0; k < t->len; k++) {
    const struct entry *e = &t->e[t->heap[k]];
    struct topk_item it = {e->val, e->len, e->count, e->error};
    if (n < max) {
      items[n++] = it;
      if (n == max) /* heapify once full */
        for (size_t p = n / 2; p-- > 0;) sel_down(items, n, p);
    } else if (before(&it, &items[0])) {
      items[0] = it;
      sel_down(items, n, 0);
    }
  }
  qsort(items, n, sizeof *items, item_cmp);
  return n;
}
