/* Tests of the session spill file: sessions come back exactly as they were
 * built (endpoints, status classes, think times, start, duration, user
 * agent key), across
 * several reads and appends after reading; the file leaves nothing behind;
 * a folder that cannot take it is an error; a session too long to keep is
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"
#include "spill.h"
#include "testutil.h"

struct truth {
  int64_t start, duration;
  uint32_t n, ua;
  uint32_t ep[300];
  int status[300];
  int64_t think[300];
};

static void make(struct rng *r, struct truth *t) {
  static const int statuses[] = {200, 204, 301, 404, 500, 0, 99, 700, 418};
  t->n = 1 + (uint32_t)rng_below(r, 300);
  t->start = (int64_t)rng_next(r) >> (rng_below(r, 2) ? 1 : 20);
  t->duration = (int64_t)rng_below(r, 1ULL << 45) - 1000; /* < 0 -> 0 */
  t->ua = rng_below(r, 4) ? (uint32_t)rng_next(r) : rng_below(r, 2) * ~0u;
  for (uint32_t i = 0; i < t->n; i++) {
    t->ep[i] = rng_below(r, 4) ? (uint32_t)rng_below(r, 100)
                               : (uint32_t)rng_next(r); /* up to 2^32-1 */
    t->status[i] = statuses[rng_below(r, 9)];
    t->think[i] = i == 0 ? 0 : (int64_t)rng_below(r, 1ULL << 40) - 5;
  }
}

static uint8_t class_of(int status) {
  return status >= 100 && status < 600 ? (uint8_t)(status / 100) : 0;
}

static void expect_same(const struct truth *t, const struct spill_session *s) {
  EXPECT_EQ(s->n, t->n);
  EXPECT_EQ(s->start_us, t->start);
  EXPECT_EQ(s->duration_us, t->duration > 0 ? t->duration : 0);
  EXPECT_EQ(s->ua, t->ua);
  for (uint32_t i = 0; i < t->n; i++) {
    EXPECT_EQ(s->ep[i], t->ep[i]);
    EXPECT_EQ(s->cls[i], class_of(t->status[i]));
    EXPECT_EQ(s->think_us[i], t->think[i] > 0 ? t->think[i] : 0);
  }
}

static int write_one(struct spill *sp, struct spill_buf *b,
                     const struct truth *t) {
  int rc = spill_buf_begin(b, t->start, t->ep[0], t->status[0], t->ua);
  for (uint32_t i = 1; i < t->n && !rc; i++)
    rc = spill_buf_step(b, t->ep[i], t->status[i], t->think[i]);
  return rc ? rc : spill_put(sp, b, t->duration);
}

static size_t entries(const char *dir) {
  DIR *d = opendir(dir);
  size_t n = 0;
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static void test_round_trip(void **state) {
  (void)state;
  enum { N = 500 };
  char dir[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  struct spill *sp;
  assert_int_equal(spill_new(dir, &sp), 0);
  EXPECT_EQ(entries(dir), 0); /* unlinked at once */
  struct truth *t = malloc((N + 1) * sizeof *t);
  assert_non_null(t);
  struct rng r;
  rng_seed(&r, 77);
  /* Several live sessions built at once, interleaved, ended in turn. */
  struct spill_buf b[3];
  for (int i = 0; i < 3; i++) spill_buf_init(&b[i]);
  for (size_t i = 0; i < N; i++) {
    make(&r, &t[i]);
    assert_int_equal(write_one(sp, &b[i % 3], &t[i]), 0);
  }
  EXPECT_EQ(spill_sessions(sp), N);
  EXPECT_U64(spill_bytes(sp), >, N * 3);
  struct spill_session s = {0};
  for (int pass = 0; pass < 2; pass++) {
    assert_int_equal(spill_rewind(sp), 0);
    for (size_t i = 0; i < N; i++) {
      assert_int_equal(spill_get(sp, &s), 1);
      expect_same(&t[i], &s);
    }
    assert_int_equal(spill_get(sp, &s), 0);
  }
  /* Appending after reading goes to the end. */
  make(&r, &t[N]);
  assert_int_equal(write_one(sp, &b[0], &t[N]), 0);
  assert_int_equal(spill_rewind(sp), 0);
  for (size_t i = 0; i <= N; i++) assert_int_equal(spill_get(sp, &s), 1);
  expect_same(&t[N], &s);
  assert_int_equal(spill_get(sp, &s), 0);
  assert_int_equal(spill_error(sp), 0);
  spill_session_cleanup(&s);
  for (int i = 0; i < 3; i++) spill_buf_cleanup(&b[i]);
  spill_free(sp);
  EXPECT_EQ(entries(dir), 0);
  free(t);
  testutil_rmdir(dir);
}

static void test_buffer_released(void **state) {
  (void)state;
  char dir[256];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  struct spill *sp;
  assert_int_equal(spill_new(dir, &sp), 0);
  struct spill_buf b;
  spill_buf_init(&b);
  assert_int_equal(spill_buf_begin(&b, 0, 1, 200, 0), 0);
  for (int i = 0; i < 5000; i++)
    assert_int_equal(spill_buf_step(&b, 100000, 200, 123456789), 0);
  EXPECT_U64(b.cap, >, 512);
  assert_int_equal(spill_put(sp, &b, 5), 0);
  /* A long session's buffer does not stay with the live-session slot. */
  EXPECT_EQ(b.cap, 0);
  EXPECT_EQ(b.len, 0);
  assert_int_equal(spill_buf_begin(&b, 0, 1, 200, 0), 0);
  assert_int_equal(spill_put(sp, &b, 0), 0);
  EXPECT_U64(b.cap, >, 0); /* a small one does */
  spill_buf_cleanup(&b);
  spill_free(sp);
  testutil_rmdir(dir);
}

static void test_session_limit(void **state) {
  (void)state;
  struct spill_buf b;
  spill_buf_init(&b);
  assert_int_equal(spill_buf_begin(&b, 0, UINT32_MAX, 200, 7), 0);
  int rc = 0;
  uint32_t steps = 0;
  while (!(rc = spill_buf_step(&b, UINT32_MAX, 200, INT64_MAX))) steps++;
  assert_int_equal(rc, ERR_LIMIT);
  EXPECT_U64(b.len, <=, SPILL_MAX_SESSION_BYTES);
  EXPECT_U64(steps, >, SPILL_MAX_SESSION_BYTES / 16);
  spill_buf_cleanup(&b);
}

static void test_bad_folder(void **state) {
  (void)state;
  struct spill *sp = NULL;
  assert_int_equal(spill_new("/nonexistent-mimic-folder/x", &sp), -ENOENT);
  assert_null(sp);
  spill_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_buffer_released),
      cmocka_unit_test(test_session_limit),
      cmocka_unit_test(test_bad_folder),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
