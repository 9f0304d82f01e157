/* Unit tests for capture/logtime: every notation, time zones, leap years,
 * fractions, malformed input, and no read past the given length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "err.h"
#include "logtime.h"

#define S INT64_C(1000000)

typedef int parse_fn(const char *, size_t, int64_t *, size_t *);

/* Parses a copy of s in a buffer of exactly its length, so that any read
 * past the end trips AddressSanitizer. Returns the parser's result. */
static int parse_exact(parse_fn *fn, const char *s, size_t len, int64_t *us,
                       size_t *used) {
  char *buf = malloc(len ? len : 1);
  assert_non_null(buf);
  memcpy(buf, s, len);
  int rc = fn(buf, len, us, used);
  free(buf);
  return rc;
}

static void expect_time(parse_fn *fn, const char *s, int64_t want_us,
                        size_t want_used) {
  int64_t us = 0;
  size_t used = 0;
  int rc = parse_exact(fn, s, strlen(s), &us, &used);
  if (rc != 0) fail_msg("'%s' did not parse (rc %d)", s, rc);
  if (us != want_us)
    fail_msg("'%s' -> %lld us, expected %lld", s, (long long)us,
             (long long)want_us);
  if (used != want_used)
    fail_msg("'%s' used %zu chars, expected %zu", s, used, want_used);
}

static void expect_bad(parse_fn *fn, const char *s) {
  int64_t us = 0;
  size_t used = 0;
  int rc = parse_exact(fn, s, strlen(s), &us, &used);
  if (rc != ERR_PARSE)
    fail_msg("'%s' should not parse, got rc %d us %lld used %zu", s, rc,
             (long long)us, used);
}

/* Every prefix of s must either fail or parse within the prefix. */
static void expect_prefixes_safe(parse_fn *fn, const char *s) {
  size_t n = strlen(s);
  for (size_t k = 0; k <= n; k++) {
    int64_t us;
    size_t used = 0;
    if (parse_exact(fn, s, k, &us, &used) == 0 && used > k)
      fail_msg("prefix %zu of '%s' used %zu chars", k, s, used);
  }
}

static void test_days_from_civil(void **state) {
  (void)state;
  EXPECT_EQ(logtime_days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(logtime_days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(logtime_days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(logtime_days_from_civil(2024, 2, 29), 19782);
  EXPECT_EQ(logtime_days_from_civil(1900, 3, 1), -25508);
  EXPECT_EQ(logtime_days_from_civil(2100, 3, 1), 47541);
  EXPECT_EQ(logtime_days_from_civil(1600, 1, 1), -135140);
  EXPECT_EQ(logtime_days_from_civil(1, 1, 1), -719162);
  EXPECT_EQ(logtime_days_from_civil(9999, 12, 31), 2932896);
}

/* Walks every day from 1800 to 2200 with an independent calendar (the
 * Gregorian leap rule spelled out) and checks consecutive numbering. */
static void test_days_walk(void **state) {
  (void)state;
  int64_t expect = logtime_days_from_civil(1800, 1, 1);
  for (int y = 1800; y < 2200; y++) {
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int mdays[12] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                     31};
    for (unsigned m = 1; m <= 12; m++) {
      for (unsigned d = 1; d <= (unsigned)mdays[m - 1]; d++) {
        int64_t got = logtime_days_from_civil(y, m, d);
        if (got != expect)
          fail_msg("%d-%02u-%02u -> %lld, expected %lld", y, m, d,
                   (long long)got, (long long)expect);
        expect++;
      }
    }
  }
}

static void test_clf(void **state) {
  (void)state;
  expect_time(logtime_clf, "01/Jul/1995:00:00:01 -0400", 804571201 * S, 26);
  expect_time(logtime_clf, "10/Oct/2000:13:55:36 -0700", 971211336 * S, 26);
  expect_time(logtime_clf, "17/Nov/2013:06:31:30 -0500", 1384687890 * S, 26);
  /* +hh:mm, one-digit day, lower/upper-case month, trailing text. */
  expect_time(logtime_clf, "10/Oct/2000:22:55:36 +02:00", 971211336 * S, 27);
  expect_time(logtime_clf, "1/Jul/1995:00:00:01 -0400", 804571201 * S, 25);
  expect_time(logtime_clf, "01/JUL/1995:00:00:01 -0400", 804571201 * S, 26);
  expect_time(logtime_clf, "01/jul/1995:00:00:01 -0400] \"GET", 804571201 * S,
              26);
  /* Fractions and a missing zone (UTC). */
  expect_time(logtime_clf, "10/Oct/2000:20:55:36.250 +0000",
              971211336 * S + 250000, 30);
  expect_time(logtime_clf, "10/Oct/2000:20:55:36", 971211336 * S, 20);
  expect_time(logtime_clf, "10/Oct/2000:20:55:36]", 971211336 * S, 20);
  /* Leap days and a leap second. */
  expect_time(logtime_clf, "29/Feb/2000:00:00:00 +0000",
              logtime_days_from_civil(2000, 2, 29) * 86400 * S, 26);
  expect_time(logtime_clf, "29/Feb/2024:12:00:00 -0800", 1709236800 * S, 26);
  expect_time(logtime_clf, "31/Dec/2016:23:59:60 +0000", 1483228800 * S, 26);
}

static void test_clf_bad(void **state) {
  (void)state;
  expect_bad(logtime_clf, "");
  expect_bad(logtime_clf, "-");
  expect_bad(logtime_clf, "29/Feb/1900:00:00:00 +0000");
  expect_bad(logtime_clf, "29/Feb/2023:00:00:00 +0000");
  expect_bad(logtime_clf, "31/Apr/2023:00:00:00 +0000");
  expect_bad(logtime_clf, "00/Jan/2023:00:00:00 +0000");
  expect_bad(logtime_clf, "32/Jan/2023:00:00:00 +0000");
  expect_bad(logtime_clf, "10/Foo/2000:13:55:36 -0700");
  expect_bad(logtime_clf, "10/Oct/2000:24:00:00 -0700");
  expect_bad(logtime_clf, "10/Oct/2000:13:60:00 -0700");
  expect_bad(logtime_clf, "10/Oct/2000:13:55:61 -0700");
  expect_bad(logtime_clf, "10/Oct/2000:13:55:36 +2500");
  expect_bad(logtime_clf, "10/Oct/2000:13:55:36 +07x0");
  expect_bad(logtime_clf, "10/Oct/2000:13:55:36.x -0700");
  expect_bad(logtime_clf, "10/Oct/200:13:55:36 -0700");
  expect_bad(logtime_clf, "10-Oct-2000:13:55:36 -0700");
  expect_bad(logtime_clf, "2024-05-12T00:00:18Z");
  expect_prefixes_safe(logtime_clf, "10/Oct/2000:13:55:36.123456 -07:00");
}

static void test_iso8601(void **state) {
  (void)state;
  expect_time(logtime_iso8601, "2024-05-12T00:00:18Z", 1715472018 * S, 20);
  expect_time(logtime_iso8601, "2024-05-12T00:00:18z", 1715472018 * S, 20);
  expect_time(logtime_iso8601, "2024-05-12t00:00:18Z", 1715472018 * S, 20);
  expect_time(logtime_iso8601, "2024-05-12T00:00:18+00:00", 1715472018 * S, 25);
  expect_time(logtime_iso8601, "2024-05-12T02:00:18.123456+02:00",
              1715472018 * S + 123456, 32);
  expect_time(logtime_iso8601, "2024-05-12T05:30:18+0530", 1715472018 * S, 24);
  expect_time(logtime_iso8601, "2024-05-11T16:00:18-08", 1715472018 * S, 22);
  /* No zone: UTC. A space as separator. More than six fraction digits are
   * consumed and dropped; a comma fraction is ISO 8601 too. */
  expect_time(logtime_iso8601, "2024-05-12 00:00:18", 1715472018 * S, 19);
  expect_time(logtime_iso8601, "2024-05-12 00:00:18 +0000 rest", 1715472018 * S,
              25);
  expect_time(logtime_iso8601, "2024-05-12 00:00:18 GET", 1715472018 * S, 19);
  expect_time(logtime_iso8601, "2024-05-12T00:00:18.1234567Z",
              1715472018 * S + 123456, 28);
  expect_time(logtime_iso8601, "2024-05-12T00:00:18,5Z",
              1715472018 * S + 500000, 22);
  expect_time(logtime_iso8601, "2024-05-12T00:00Z", 1715472000 * S, 17);
  expect_time(logtime_iso8601, "2018-07-02T22:23:00.186641Z",
              1530570180 * S + 186641, 27);
  expect_time(logtime_iso8601, "1969-12-31T23:59:59Z", -1 * S, 20);
}

static void test_iso8601_bad(void **state) {
  (void)state;
  expect_bad(logtime_iso8601, "2024-13-12T00:00:18Z");
  expect_bad(logtime_iso8601, "2023-02-29T00:00:18Z");
  expect_bad(logtime_iso8601, "2024-05-12");
  expect_bad(logtime_iso8601, "2024-05-12X00:00:18Z");
  expect_bad(logtime_iso8601, "2024-05-12T25:00:18Z");
  expect_bad(logtime_iso8601, "2024-05-12T00:00:18.Z");
  expect_bad(logtime_iso8601, "2024-05-12T00:00:18+2");
  expect_bad(logtime_iso8601, "24-05-12T00:00:18Z");
  expect_bad(logtime_iso8601, "10/Oct/2000:13:55:36 -0700");
  expect_prefixes_safe(logtime_iso8601, "2024-05-12T02:00:18.123456+02:00");
  expect_prefixes_safe(logtime_iso8601, "2024-05-12 00:00:18 +0000");
}

static void test_epoch(void **state) {
  (void)state;
  expect_time(logtime_epoch, "1384443873.878", 1384443873878000, 14);
  expect_time(logtime_epoch, "1384443873", 1384443873 * S, 10);
  expect_time(logtime_epoch, "0", 0, 1);
  expect_time(logtime_epoch, "1.5 rest", 1500000, 3);
  expect_time(logtime_epoch, "1.1234567", 1123456, 9);
  expect_bad(logtime_epoch, "");
  expect_bad(logtime_epoch, "abc");
  expect_bad(logtime_epoch, "-1");
  expect_bad(logtime_epoch, "12.");
  expect_bad(logtime_epoch, "1384443873878123");
  expect_prefixes_safe(logtime_epoch, "1384443873.878123");
}

static void test_any(void **state) {
  (void)state;
  expect_time(logtime_any, "[10/Oct/2000:13:55:36 -0700]", 971211336 * S, 28);
  expect_time(logtime_any, "10/Oct/2000:13:55:36 -0700", 971211336 * S, 26);
  expect_time(logtime_any, "1/Jul/1995:00:00:01 -0400", 804571201 * S, 25);
  expect_time(logtime_any, "2024-05-12T00:00:18Z", 1715472018 * S, 20);
  expect_time(logtime_any, "1384443873.878", 1384443873878000, 14);
  expect_bad(logtime_any, "");
  expect_bad(logtime_any, "[");
  expect_bad(logtime_any, "yesterday");
  expect_prefixes_safe(logtime_any, "[10/Oct/2000:13:55:36 -0700]");
}

static void test_date_time(void **state) {
  (void)state;
  int64_t us = 0;
  EXPECT_EQ(logtime_date_time("2024-05-12", 10, "00:00:18", 8, &us), 0);
  EXPECT_EQ(us, 1715472018 * S);
  EXPECT_EQ(logtime_date_time("2024-05-12", 10, "00:00:18.5", 10, &us), 0);
  EXPECT_EQ(us, 1715472018 * S + 500000);
  EXPECT_EQ(logtime_date_time("2024-02-29", 10, "23:59:59", 8, &us), 0);
  EXPECT_EQ(us, (logtime_days_from_civil(2024, 2, 29) * 86400 + 86399) * S);
  EXPECT_EQ(logtime_date_time("2023-02-29", 10, "00:00:18", 8, &us), ERR_PARSE);
  EXPECT_EQ(logtime_date_time("2024-05-12", 10, "00:00:18Z", 9, &us),
            ERR_PARSE);
  EXPECT_EQ(logtime_date_time("2024-05-1", 9, "00:00:18", 8, &us), ERR_PARSE);
  EXPECT_EQ(logtime_date_time("2024-05-12", 10, "0:00:18", 7, &us), ERR_PARSE);
  EXPECT_EQ(logtime_date_time("2024-05-12", 10, "", 0, &us), ERR_PARSE);
}

static void test_resolution(void **state) {
  (void)state;
  EXPECT_EQ(logtime_resolution("10/Oct/2000:13:55:36 -0700", 26), 1000000);
  EXPECT_EQ(logtime_resolution("1384443873.878", 14), 1000);
  EXPECT_EQ(logtime_resolution("2018-07-02T22:23:00.186641Z", 27), 1);
  EXPECT_EQ(logtime_resolution("2018-07-02T22:23:00.1866419Z", 28), 1);
  EXPECT_EQ(logtime_resolution("2018-07-02T22:23:00.1Z", 22), 100000);
  EXPECT_EQ(logtime_resolution("", 0), 1000000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_days_from_civil),
      cmocka_unit_test(test_days_walk),
      cmocka_unit_test(test_clf),
      cmocka_unit_test(test_clf_bad),
      cmocka_unit_test(test_iso8601),
      cmocka_unit_test(test_iso8601_bad),
      cmocka_unit_test(test_epoch),
      cmocka_unit_test(test_any),
      cmocka_unit_test(test_date_time),
      cmocka_unit_test(test_resolution),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
