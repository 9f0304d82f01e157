/* hmap: open-addressing hash map from a 64-bit key to a 64-bit
 * value. Callers hash their real keys (strings, tuples) to 64 bits and, when
 * collisions matter, keep the real key in their own table and compare it. */
#ifndef MIMIC_HMAP_H
#define MIMIC_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap {
  uint64_t *keys; /* owned; 0 marks an empty slot */
  uint64_t *vals; /* owned */
  size_t cap;     /* power of two, or 0 */
  size_t len;     /* live entries */
  size_t tombs;   /* deleted slots not yet reused */
};

void hmap_init(struct hmap *m);
void hmap_cleanup(struct hmap *m);
/* Pointer to the value of key, or NULL when absent. The
 * pointer is valid until the next insertion or removal. */
uint64_t *hmap_get(const struct hmap *m, uint64_t key);
/* Inserts key with value val if absent. *slot gets a pointer to the (old or
 * new) value. Returns 1 when inserted, 0 when it already existed, -ENOMEM. */
int hmap_put(struct hmap *m, uint64_t key, uint64_t val, uint64_t **slot);
/* Removes key; returns 1 if it was present, 0 if not. */
int hmap_del(struct hmap *m, uint64_t key);

/* Iteration: for (size_t i = 0; hmap_next(m, &i, &k, &v); ) ... */
int hmap_next(const struct hmap *m, size_t *iter, uint64_t *key, uint64_t *val);

#endif
