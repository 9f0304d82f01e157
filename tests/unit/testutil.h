/* testutil: small helpers shared by the cmocka unit tests (include it after
 * <cmocka.h>): assertions that print both values, temporary folders. */
#ifndef MIMIC_TESTUTIL_H
#define MIMIC_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fails with both values, in decimal, and the expressions that made them. */
#define EXPECT_EQ(got, want)                                                   \
  do {                                                                         \
    long long got_ = (long long)(got), want_ = (long long)(want);              \
    if (got_ != want_)                                                         \
      fail_msg("%s = %lld, expected %s = %lld", #got, got_, #want, want_);     \
  } while (0)

#define EXPECT_U64(a, op, b)                                                   \
  do {                                                                         \
    unsigned long long a_ = (a), b_ = (b);                                     \
    if (!(a_ op b_)) {                                                         \
      print_error("%s:%d: expected %s %s %s, got %llu vs %llu\n", __FILE__,    \
                  __LINE__, #a, #op, #b, a_, b_);                              \
      fail();                                                                  \
    }                                                                          \
  } while (0)

#define EXPECT_STR(a, b)                                                       \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                   \
      print_error("%s:%d: expected %s == %s, got \"%s\" vs \"%s\"\n",          \
                  __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",              \
                  b_ ? b_ : "(null)");                                         \
      fail();                                                                  \
    }                                                                          \
  } while (0)

/* A fresh temporary folder under $MIMIC_TEST_TMP (or /tmp); the path is
 * written into buf. Returns buf, or NULL on failure. */
static inline char *testutil_tmpdir(char *buf, size_t len) {
  const char *base = getenv("MIMIC_TEST_TMP");
  if (!base || !*base) base = "/tmp";
  mkdir(base, 0700);
  snprintf(buf, len, "%s/mimic-test-XXXXXX", base);
  return mkdtemp(buf);
}

static inline int testutil_write(const char *path, const void *data,
                                 size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(data, 1, len, f);
  return fclose(f) == 0 && w == len ? 0 : -1;
}

/* Removes a folder made by testutil_tmpdir and the files in it. */
static inline void testutil_rmdir(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
