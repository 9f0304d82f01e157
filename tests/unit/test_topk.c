/* Unit tests of topk: Space-Saving guarantees, ordering, distinct counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "topk.h"

static struct topk *mk(size_t cap) {
  struct topk *t = NULL;
  int rc = topk_new(cap, &t);
  EXPECT_U64(rc, ==, 0);
  return t;
}

static void add(struct topk *t, const char *v, uint64_t n) {
  int rc = topk_add(t, v, strlen(v), n);
  EXPECT_U64(rc, ==, 0);
}

/* Count of value v in the pool, 0 when absent. */
static uint64_t count_of(const struct topk *t, const char *v, uint64_t *err) {
  size_t n = topk_len(t);
  struct topk_item *it = calloc(n ? n : 1, sizeof *it);
  assert_non_null(it);
  size_t got = topk_items(t, it, n);
  uint64_t c = 0;
  for (size_t i = 0; i < got; i++)
    if (it[i].len == strlen(v) && memcmp(it[i].value, v, it[i].len) == 0) {
      c = it[i].count;
      if (err) *err = it[i].error;
    }
  free(it);
  return c;
}

static void test_new_rejects_zero_cap(void **state) {
  (void)state;
  struct topk *t = NULL;
  EXPECT_U64(topk_new(0, &t) < 0, ==, 1);
  assert_null(t);
  topk_free(NULL);
}

static void test_order_and_totals(void **state) {
  (void)state;
  struct topk *t = mk(10);
  add(t, "b", 3);
  add(t, "a", 3);
  add(t, "c", 5);
  add(t, "d", 1);
  add(t, "zero", 0); /* counts nothing */
  EXPECT_U64(topk_total(t), ==, 12);
  EXPECT_U64(topk_len(t), ==, 4);
  struct topk_item it[10];
  size_t n = topk_items(t, it, 10);
  EXPECT_U64(n, ==, 4);
  EXPECT_STR(it[0].value, "c");
  EXPECT_STR(it[1].value, "a"); /* ties: by value */
  EXPECT_STR(it[2].value, "b");
  EXPECT_STR(it[3].value, "d");
  EXPECT_U64(it[0].count, ==, 5);
  EXPECT_U64(it[0].error, ==, 0);
  /* A smaller buffer gets the best entries, still sorted. */
  n = topk_items(t, it, 2);
  EXPECT_U64(n, ==, 2);
  EXPECT_STR(it[0].value, "c");
  EXPECT_STR(it[1].value, "a");
  EXPECT_U64(topk_items(t, it, 0), ==, 0);
  topk_free(t);
}

static void test_binary_and_empty_values(void **state) {
  (void)state;
  struct topk *t = mk(4);
  assert_int_equal(topk_add(t, "", 0, 2), 0);
  assert_int_equal(topk_add(t, "a\0b", 3, 1), 0);
  assert_int_equal(topk_add(t, "a\0c", 3, 1), 0);
  EXPECT_U64(topk_len(t), ==, 3);
  struct topk_item it[4];
  size_t n = topk_items(t, it, 4);
  EXPECT_U64(n, ==, 3);
  EXPECT_U64(it[0].len, ==, 0);
  EXPECT_U64(it[0].count, ==, 2);
  EXPECT_U64(it[0].value[0], ==, 0); /* NUL-terminated */
  topk_free(t);
}

static void test_truncates_long_values(void **state) {
  (void)state;
  char a[300], b[300];
  memset(a, 'x', sizeof a);
  memcpy(b, a, sizeof b);
  b[299] = 'y'; /* differs only past 256 bytes */
  struct topk *t = mk(4);
  assert_int_equal(topk_add(t, a, sizeof a, 1), 0);
  assert_int_equal(topk_add(t, b, sizeof b, 1), 0);
  struct topk_item it[4];
  size_t n = topk_items(t, it, 4);
  EXPECT_U64(n, ==, 1);
  EXPECT_U64(it[0].len, ==, 256);
  EXPECT_U64(it[0].count, ==, 2);
  EXPECT_U64(strlen(it[0].value), ==, 256);
  topk_free(t);
}

static void test_exact_distinct_until_eviction(void **state) {
  (void)state;
  struct topk *t = mk(100);
  char buf[32];
  int exact = -1;
  for (int i = 0; i < 100; i++) {
    snprintf(buf, sizeof buf, "v%d", i);
    add(t, buf, 1);
    add(t, buf, 1); /* repeats do not count twice */
  }
  EXPECT_U64(topk_distinct(t, &exact), ==, 100);
  EXPECT_U64(exact, ==, 1);
  add(t, "one-more", 1);
  uint64_t d = topk_distinct(t, &exact);
  EXPECT_U64(exact, ==, 0);
  EXPECT_U64(d, >=, 95);
  EXPECT_U64(d, <=, 110);
  EXPECT_U64(topk_len(t), ==, 100);
  topk_free(t);
}

/* Relative error of the distinct estimate after n distinct values (each
 * added twice), in per mille. */
static uint64_t distinct_error_permille(size_t cap, unsigned n, unsigned salt) {
  struct topk *t = mk(cap);
  char buf[48];
  for (unsigned i = 0; i < n; i++) {
    int len = snprintf(buf, sizeof buf, "user-%u-%u", salt, i);
    assert_int_equal(topk_add(t, buf, (size_t)len, 1), 0);
    assert_int_equal(topk_add(t, buf, (size_t)len, 1), 0);
  }
  int exact = 1;
  uint64_t d = topk_distinct(t, &exact);
  EXPECT_U64(exact, ==, 0);
  topk_free(t);
  uint64_t diff = d > n ? d - n : n - d;
  return diff * 1000 / n;
}

static void test_distinct_estimate_100k(void **state) {
  (void)state;
  /* The headline case: 100k distinct values, within 10%. */
  uint64_t e = distinct_error_permille(256, 100000, 0);
  EXPECT_U64(e, <, 100);
  /* And over several streams and sizes the mean error stays near the
   * HyperLogLog standard error (1.04/sqrt(256), 6.5%). */
  uint64_t sum = 0;
  unsigned runs = 0;
  for (unsigned s = 1; s <= 4; s++)
    for (unsigned n = 1000; n <= 100000; n *= 10, runs++)
      sum += distinct_error_permille(64, n, s);
  EXPECT_U64(sum / runs, <, 80);
}

/* Every value occurring more than total/cap times must be in the pool,
 * with count >= true count and count - error <= true count. */
static void check_heavy(struct topk *t, const char *const *heavy, size_t nheavy,
                        uint64_t each) {
  for (size_t h = 0; h < nheavy; h++) {
    uint64_t err = 0, c = count_of(t, heavy[h], &err);
    if (c == 0) {
      print_error("heavy value %s (%llu of %llu, cap %zu) was evicted\n",
                  heavy[h], (unsigned long long)each,
                  (unsigned long long)topk_total(t), (size_t)topk_len(t));
      fail();
    }
    EXPECT_U64(c, >=, each);
    EXPECT_U64(c - err, <=, each);
  }
}

enum order { HEAVY_FIRST, HEAVY_LAST, INTERLEAVED, BURSTS };

static void run_adversarial(enum order order) {
  const size_t cap = 50;
  const unsigned nheavy = 5, each = 2100, noise = 90000;
  static const char *const heavy[] = {"h0", "h1", "h2", "h3", "h4"};
  /* total = 5*2100 + 90000 = 100500; total / cap = 2010 < 2100. */
  struct topk *t = mk(cap);
  char buf[32];
  unsigned fresh = 0;
#define NOISE()                                                                \
  do {                                                                         \
    snprintf(buf, sizeof buf, "n%u", fresh++);                                 \
    add(t, buf, 1);                                                            \
  } while (0)
  switch (order) {
  case HEAVY_FIRST:
    for (unsigned h = 0; h < nheavy; h++)
      for (unsigned i = 0; i < each; i++) add(t, heavy[h], 1);
    while (fresh < noise) NOISE();
    break;
  case HEAVY_LAST:
    while (fresh < noise) NOISE();
    for (unsigned h = 0; h < nheavy; h++)
      for (unsigned i = 0; i < each; i++) add(t, heavy[h], 1);
    break;
  case INTERLEAVED: {
    /* Fill the pool with fresh values first, then alternate heavy and
     * fresh ones: each value arrives as the pool's minimum, the next fresh
     * value evicts the minimum, so a heavy value survives only through the
     * count it inherits (Space-Saving's key step). */
    unsigned left = each * nheavy;
    while (fresh < 2 * cap) NOISE();
    for (unsigned i = 0; left || fresh < noise; i++) {
      if (left && (i % 8 == 0 || fresh >= noise)) {
        add(t, heavy[left % nheavy], 1);
        left--;
      } else {
        NOISE();
      }
    }
    break;
  }
  case BURSTS:
    for (unsigned b = 0; b < 10; b++) {
      for (unsigned h = 0; h < nheavy; h++)
        for (unsigned i = 0; i < each / 10; i++) add(t, heavy[h], 1);
      for (unsigned i = 0; i < noise / 10; i++) NOISE();
    }
    break;
  }
#undef NOISE
  EXPECT_U64(topk_total(t), ==, (uint64_t)nheavy * each + noise);
  check_heavy(t, heavy, nheavy, each);
  EXPECT_U64(topk_len(t), ==, cap);
  topk_free(t);
}

static void test_adversarial_heavy_first(void **s) {
  (void)s;
  run_adversarial(HEAVY_FIRST);
}

static void test_adversarial_heavy_last(void **s) {
  (void)s;
  run_adversarial(HEAVY_LAST);
}

static void test_adversarial_interleaved(void **s) {
  (void)s;
  run_adversarial(INTERLEAVED);
}

static void test_adversarial_bursts(void **s) {
  (void)s;
  run_adversarial(BURSTS);
}

static void test_merge(void **state) {
  (void)state;
  struct topk *a = mk(8), *b = mk(8);
  add(a, "x", 5);
  add(a, "y", 1);
  add(b, "x", 2);
  add(b, "z", 4);
  assert_int_equal(topk_merge(a, b), 0);
  EXPECT_U64(topk_total(a), ==, 12);
  EXPECT_U64(count_of(a, "x", NULL), ==, 7);
  EXPECT_U64(count_of(a, "z", NULL), ==, 4);
  EXPECT_U64(count_of(a, "y", NULL), ==, 1);
  int exact = 0;
  EXPECT_U64(topk_distinct(a, &exact), ==, 3);
  EXPECT_U64(exact, ==, 1);
  EXPECT_U64(topk_merge(a, a) < 0, ==, 1);
  topk_free(a);
  topk_free(b);

  /* Overlapping halves: 50k + 50k distinct, 75k in the union. */
  a = mk(64);
  b = mk(64);
  char buf[32];
  for (unsigned i = 0; i < 50000; i++) {
    int len = snprintf(buf, sizeof buf, "k%u", i);
    assert_int_equal(topk_add(a, buf, (size_t)len, 1), 0);
    len = snprintf(buf, sizeof buf, "k%u", i + 25000);
    assert_int_equal(topk_add(b, buf, (size_t)len, 1), 0);
  }
  add(b, "heavy", 20000);
  assert_int_equal(topk_merge(a, b), 0);
  uint64_t d = topk_distinct(a, &exact);
  EXPECT_U64(exact, ==, 0);
  EXPECT_U64(d, >=, 67500);
  EXPECT_U64(d, <=, 82500);
  EXPECT_U64(topk_total(a), ==, 120000);
  EXPECT_U64(count_of(a, "heavy", NULL), >=, 20000);
  topk_free(a);
  topk_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_rejects_zero_cap),
      cmocka_unit_test(test_order_and_totals),
      cmocka_unit_test(test_binary_and_empty_values),
      cmocka_unit_test(test_truncates_long_values),
      cmocka_unit_test(test_exact_distinct_until_eviction),
      cmocka_unit_test(test_distinct_estimate_100k),
      cmocka_unit_test(test_adversarial_heavy_first),
      cmocka_unit_test(test_adversarial_heavy_last),
      cmocka_unit_test(test_adversarial_interleaved),
      cmocka_unit_test(test_adversarial_bursts),
      cmocka_unit_test(test_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
