#include "hmap.h"

#include <errno.h>
#include <stdlib.h>

/* Deleted slots keep a tombstone key so probe chains stay intact. Keys are
 * the caller's hashes, re-mixed here so weak hashes still spread. */
#define TOMB UINT64_MAX

static inline size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 31;
  key *= 0x7fb5d329728ea185ULL;
  key ^= key >> 27;
  return (size_t)key & (cap - 1);
}

/* 0 (empty) and TOMB are reserved: fold them onto neighbours. Callers that
 * cannot tolerate such a collision compare their real keys anyway. */
static inline uint64_t fold(uint64_t key) {
  if (key == 0) return 1;
  if (key == TOMB) return TOMB - 1;
  return key;
}

void hmap_init(struct hmap *m) {
  m->keys = NULL;
  m->vals = NULL;
  m->cap = m->len = m->tombs = 0;
}

void hmap_cleanup(struct hmap *m) {
  free(m->keys);
  free(m->vals);
  hmap_init(m);
}

uint64_t *hmap_get(const struct hmap *m, uint64_t key) {
  if (m->cap == 0) return NULL;
  key = fold(key);
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    uint64_t k = m->keys[i];
    if (k == key) return &m->vals[i];
    if (k == 0) return NULL;
  }
}

static int grow(struct hmap *m, size_t ncap) {
  uint64_t *keys = calloc(ncap, sizeof *keys);
  uint64_t *vals = malloc(ncap * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    uint64_t k = m->keys[i];
    if (k == 0 || k == TOMB) continue;
    size_t j = slot_of(k, ncap);
    while (keys[j]) j = (j + 1) & (ncap - 1);
    keys[j] = k;
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = ncap;
  m->tombs = 0;
  return 0;
}

int hmap_put(struct hmap *m, uint64_t key, uint64_t val, uint64_t **slot) {
  key = fold(key);
  /* Keep the load (live + tombstones) under 70%. */
  if ((m->len + m->tombs + 1) * 10 >= m->cap * 7) {
    size_t ncap = m->cap ? m->cap : 16;
    while ((m->len + 1) * 10 >= ncap * 5) ncap *= 2;
    int rc = grow(m, ncap);
    if (rc) return rc;
  }
  size_t tomb = SIZE_MAX;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    uint64_t k = m->keys[i];
    if (k == key) {
      if (slot) *slot = &m->vals[i];
      return 0;
    }
    if (k == TOMB && tomb == SIZE_MAX) tomb = i;
    if (k == 0) {
      if (tomb != SIZE_MAX) {
        i = tomb;
        m->tombs--;
      }
      m->keys[i] = key;
      m->vals[i] = val;
      m->len++;
      if (slot) *slot = &m->vals[i];
      return 1;
    }
  }
}

int hmap_del(struct hmap *m, uint64_t key) {
  if (m->cap == 0) return 0;
  key = fold(key);
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    uint64_t k = m->keys[i];
    if (k == key) {
      m->keys[i] = TOMB;
      m->len--;
      m->tombs++;
      return 1;
    }
    if (k == 0) return 0;
  }
}

int hmap_next(const struct hmap *m, size_t *iter, uint64_t *key,
              uint64_t *val) {
  for (size_t i = *iter; i < m->cap; i++) {
    uint64_t k = m->keys[i];
    if (k == 0 || k == TOMB) continue;
    if (key) *key = k;
    if (val) *val = m->vals[i];
    *iter = i + 1;
    return 1;
  }
  *iter = m->cap;
  return 0;
}
