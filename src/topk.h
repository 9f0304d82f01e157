/* topk: a bounded pool of the most frequent string values of one parameter
 * (Space-Saving algorithm, Metwally et al. 2005): memory is at most `cap`
 * entries however many distinct values stream through, and every value whose
 * true frequency exceeds n/cap is guaranteed to be kept. Also estimates the
 * number of distinct values (exact until the first eviction, then a 256-byte
 * HyperLogLog, ~6% error). Used for parameter value pools and user agents. */
#ifndef MIMIC_TOPK_H
#define MIMIC_TOPK_H

#include <stddef.h>
#include <stdint.h>

/* Longer values are cut to this many bytes. */
#define TOPK_VALUE_MAX 256

struct topk;

struct topk_item {
  const char *value; /* borrowed from the pool; NUL-terminated */
  size_t len;
  uint64_t count; /* estimated count (upper bound) */
  uint64_t error; /* over-estimation bound of count */
};

/* cap: entries kept (> 0). Returns 0 or -ENOMEM. */
int topk_new(size_t cap, struct topk **out);
void topk_free(struct topk *t);
/* Counts one occurrence (times `count`) of value. Returns 0 or -ENOMEM. */
int topk_add(struct topk *t, const char *value, size_t len, uint64_t count);
/* Adds every entry of src into dst (counts add; dst stays bounded). */
int topk_merge(struct topk *dst, const struct topk *src);
/* Total occurrences seen. */
uint64_t topk_total(const struct topk *t);
/* Distinct values seen: exact while nothing was evicted, otherwise the
 * HyperLogLog estimate; *exact (may be NULL) tells which. */
uint64_t topk_distinct(const struct topk *t, int *exact);
/* Entries sorted by count descending then value; returns how many were
 * written to items (at most max). Pointers stay valid until the next add. */
size_t topk_items(const struct topk *t, struct topk_item *items, size_t max);
size_t topk_len(const struct topk *t);

#endif
