/* Tests of the streaming input reader: plain, gzip (multi-member), zstd,
 * CRLF, missing final newline, over-long lines, truncation, corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

#include "err.h"
#include "input.h"
#include "testutil.h"

static char dir[512];

static int setup(void **state) {
  (void)state;
  return testutil_tmpdir(dir, sizeof dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  testutil_rmdir(dir);
  return 0;
}

/* Reads every line of path into one '|'-joined string. Returns the final
 * input_next code (INPUT_EOF or an error). */
static int read_all(const char *path, char *out, size_t cap, int *longs) {
  struct input *in;
  char err[256];
  assert_int_equal(input_open(path, &in, err, sizeof err), 0);
  size_t o = 0;
  int rc;
  const char *line;
  size_t len;
  *longs = 0;
  out[0] = '\0';
  while ((rc = input_next(in, &line, &len)) > 0) {
    if (rc == INPUT_LONG) {
      (*longs)++;
      continue;
    }
    assert_true(o + len + 2 < cap);
    memcpy(out + o, line, len);
    o += len;
    out[o++] = '|';
    out[o] = '\0';
  }
  if (rc < 0) assert_true(strstr(input_error(in), path) != NULL);
  input_close(in);
  return rc;
}

static void path_of(char *buf, size_t len, const char *name) {
  snprintf(buf, len, "%s/%s", dir, name);
}

static void test_plain_crlf_no_final_newline(void **state) {
  (void)state;
  char p[600], out[256];
  int longs;
  path_of(p, sizeof p, "plain.log");
  const char text[] = "a\r\nbb\n\nccc";
  assert_int_equal(testutil_write(p, text, sizeof text - 1), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), INPUT_EOF);
  assert_string_equal(out, "a|bb||ccc|");
  assert_int_equal(longs, 0);
}

static void test_empty_file(void **state) {
  (void)state;
  char p[600], out[16];
  int longs;
  path_of(p, sizeof p, "empty.log");
  assert_int_equal(testutil_write(p, "", 0), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), INPUT_EOF);
  assert_string_equal(out, "");
}

static size_t gzip_buf(const char *text, unsigned char *out, size_t cap) {
  z_stream zs = {0};
  assert_int_equal(
      deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)text;
  zs.avail_in = (uInt)strlen(text);
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t n = cap - zs.avail_out;
  deflateEnd(&zs);
  return n;
}

static void test_gzip_multi_member(void **state) {
  (void)state;
  unsigned char buf[4096];
  size_t n = gzip_buf("one\ntwo\n", buf, sizeof buf);
  n += gzip_buf("three\n", buf + n, sizeof buf - n);
  char p[600], out[256];
  int longs;
  path_of(p, sizeof p, "multi.gz");
  assert_int_equal(testutil_write(p, buf, n), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), INPUT_EOF);
  assert_string_equal(out, "one|two|three|");
}

static void test_gzip_truncated(void **state) {
  (void)state;
  char text[20000];
  size_t o = 0;
  for (int i = 0; i < 1000; i++)
    o += (size_t)snprintf(text + o, sizeof text - o, "line %d\n", i);
  unsigned char buf[20000];
  size_t n = gzip_buf(text, buf, sizeof buf);
  char p[600], out[20000];
  int longs;
  path_of(p, sizeof p, "trunc.gz");
  assert_int_equal(testutil_write(p, buf, n - 12), 0);
  int rc = read_all(p, out, sizeof out, &longs);
  assert_int_equal(rc, ERR_TRUNCATED);
  /* What was read before the cut is still delivered. */
  assert_true(strncmp(out, "line 0|line 1|", 14) == 0);
}

static void test_gzip_corrupt(void **state) {
  (void)state;
  unsigned char buf[4096];
  size_t n =
      gzip_buf("hello world, this is a gzip member\nsecond\n", buf, sizeof buf);
  for (size_t i = 12; i < n - 8; i++) buf[i] ^= 0x5a;
  char p[600], out[4096];
  int longs;
  path_of(p, sizeof p, "corrupt.gz");
  assert_int_equal(testutil_write(p, buf, n), 0);
  int rc = read_all(p, out, sizeof out, &longs);
  assert_true(rc == ERR_CORRUPT || rc == ERR_TRUNCATED);
}

static void test_zstd_and_truncation(void **state) {
  (void)state;
  char text[40000];
  size_t o = 0;
  for (int i = 0; i < 3000; i++)
    o += (size_t)snprintf(text + o, sizeof text - o, "z%d\n", i);
  size_t cap = ZSTD_compressBound(o);
  unsigned char *buf = malloc(cap);
  size_t n = ZSTD_compress(buf, cap, text, o, 3);
  assert_false(ZSTD_isError(n));
  char p[600];
  static char out[40000];
  int longs;
  path_of(p, sizeof p, "ok.zst");
  assert_int_equal(testutil_write(p, buf, n), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), INPUT_EOF);
  assert_true(strncmp(out, "z0|z1|z2|", 9) == 0);
  assert_int_equal(strlen(out), o); /* every '\n' became a '|' */
  path_of(p, sizeof p, "cut.zst");
  assert_int_equal(testutil_write(p, buf, n - 5), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), ERR_TRUNCATED);
  free(buf);
}

static void test_long_line_skipped(void **state) {
  (void)state;
  size_t big = INPUT_MAX_LINE + 100;
  char *text = malloc(big + 32);
  memcpy(text, "first\n", 6);
  memset(text + 6, 'x', big);
  memcpy(text + 6 + big, "\nlast\n", 6);
  char p[600], out[256];
  int longs;
  path_of(p, sizeof p, "long.log");
  assert_int_equal(testutil_write(p, text, big + 12), 0);
  assert_int_equal(read_all(p, out, sizeof out, &longs), INPUT_EOF);
  assert_string_equal(out, "first|last|");
  assert_int_equal(longs, 1);
  free(text);
}

static void test_missing_file(void **state) {
  (void)state;
  struct input *in = NULL;
  char err[512];
  char p[600];
  path_of(p, sizeof p, "does-not-exist.log");
  assert_int_equal(input_open(p, &in, err, sizeof err), -ENOENT);
  assert_non_null(strstr(err, "does-not-exist.log"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_crlf_no_final_newline),
      cmocka_unit_test(test_empty_file),
      cmocka_unit_test(test_gzip_multi_member),
      cmocka_unit_test(test_gzip_truncated),
      cmocka_unit_test(test_gzip_corrupt),
      cmocka_unit_test(test_zstd_and_truncation),
      cmocka_unit_test(test_long_line_skipped),
      cmocka_unit_test(test_missing_file),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
