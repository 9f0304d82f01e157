/* Unit tests of redact: secret names and values, fakes, salts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "redact.h"

static const uint64_t salt1[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
static const uint64_t salt2[2] = {0x1111111111111111ULL, 0x2222222222222222ULL};

/* Checks every name of a list against the expected answer, reporting all
 * mismatches before failing. */
static void check_names(const char *const *names, size_t n, int want) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    int got = redact_is_secret_name(names[i], strlen(names[i]));
    if (got != want) {
      print_error("redact_is_secret_name(\"%s\"): expected %d, got %d\n",
                  names[i], want, got);
      bad = 1;
    }
  }
  if (bad) fail();
}

static void check_values(const char *const *v, size_t n, int want,
                         int (*fn)(const char *, size_t), const char *fname) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    int got = fn(v[i], strlen(v[i]));
    if (got != want) {
      print_error("%s(\"%s\"): expected %d, got %d\n", fname, v[i], want, got);
      bad = 1;
    }
  }
  if (bad) fail();
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void test_secret_names_positive(void **state) {
  (void)state;
  static const char *const yes[] = {
      "api_key",
      "apiKey",
      "APIKey",
      "x-api-key",
      "X-Auth-Token",
      "token",
      "access_token",
      "accessToken",
      "refresh_token",
      "id_token",
      "session_id",
      "sessionId",
      "JSESSIONID",
      "PHPSESSID",
      "connect.sid",
      "sid",
      "password",
      "Password",
      "passwd",
      "pass",
      "pwd",
      "user.password",
      "client_secret",
      "clientSecret",
      "sig",
      "signature",
      "X-Amz-Signature",
      "Authorization",
      "auth",
      "oauth_token",
      "credentials",
      "otp",
      "otp_code",
      "auth_code",
      "code",
      "verification-code",
      "jwt",
      "bearer",
      "cookie",
      "Set-Cookie",
      "csrf_token",
      "X-CSRF-Token",
      "email",
      "e-mail",
      "userEmail",
      "phone",
      "phone_number",
      "ssn",
      "s",
      "k",
      "keys",
      "key2",
      "private_key",
      "secretKey",
      "pin",
      "nonce",
      "hmac",
      "mfa_code",
      "cvv",
  };
  check_names(yes, NELEM(yes), 1);
}

static void test_secret_names_negative(void **state) {
  (void)state;
  static const char *const no[] = {
      "monkey",       "inside",      "keyword",     "keywords",
      "donkey_count", "author",      "authority",   "passenger",
      "compass",      "sigma",       "design",      "country_code",
      "zip_code",     "status_code", "user_id",     "id",
      "page",         "limit",       "q",           "sort",
      "order",        "lang",        "insider",     "",
      "ss",           "kk",          "turnkey",     "hockey",
      "keynote",      "sideways",    "considerate", "codec",
      "encode",       "barcode",     "postcode",
  };
  check_names(no, NELEM(no), 0);
}

static void test_secret_values(void **state) {
  (void)state;
  static const char *const yes[] = {
      ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
      "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
      "AbC123xyZ789qWe456RtY0",
      "k3j4h5g6f7d8s9a0q1w2e3r4",
      "dGhpcyBpcyBhIHNlY3JldCB0b2tlbjEyMw==",
      "5d41402abc4b2a76b9719d911017c592",
      "john.doe@example.com",
      "first+tag@mail.example.org",
      "john%40example.com",
      "Bearer abc",
      "Basic dXNlcjpwYXNz",
  };
  static const char *const no[] = {
      "hello",
      "logstash-monitorama-2013",
      "SomeLongCamelCaseName2015Edition",
      "12345",
      "2013-01-01",
      "/users/42",
      "nrt_SEA079_M9",
      "v1.2.3",
      "report.final.pdf",
      "user@localhost",
      "@example.com",
      "a@b.c",
      "ThisIsATestOfSomething123456789",
      "dynamic-dns-with-dhcp",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
      "",
      "Bearer ",
  };
  check_values(yes, NELEM(yes), 1, redact_is_secret_value,
               "redact_is_secret_value");
  check_values(no, NELEM(no), 0, redact_is_secret_value,
               "redact_is_secret_value");
}

static void test_value_kinds(void **state) {
  (void)state;
  static const char *const emails[] = {"a.b@c.io", "x_y-z@sub.domain.com",
                                       "q%40w.example.net"};
  static const char *const not_emails[] = {"a@b",       "a@@b.com", "a@b.c1",
                                           "a b@c.com", "@c.com",   "a@.com",
                                           "a@b..com",  "a@b.com."};
  check_values(emails, NELEM(emails), 1, redact_is_email, "redact_is_email");
  check_values(not_emails, NELEM(not_emails), 0, redact_is_email,
               "redact_is_email");
  static const char *const jwts[] = {
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
      "Ab3dEf9hIj.Kl2nOp4rSt.Uv6xYz8bCd",
  };
  static const char *const not_jwts[] = {"a.b.c", "1.2.3", "abcd.efgh",
                                         "www.example.com",
                                         "abcdefghij.klmnopqrst.uvwxyzabcd"};
  check_values(jwts, NELEM(jwts), 1, redact_is_jwt, "redact_is_jwt");
  check_values(not_jwts, NELEM(not_jwts), 0, redact_is_jwt, "redact_is_jwt");
}

/* Per-position class: 0 other, 1 digit, 2 lower, 3 upper. */
static int cls(char c) {
  if (c >= '0' && c <= '9') return 1;
  if (c >= 'a' && c <= 'z') return 2;
  if (c >= 'A' && c <= 'Z') return 3;
  return 0;
}

static void test_fake_shape(void **state) {
  (void)state;
  static const char *const vals[] = {
      "AbC123xyZ789qWe456RtY0",
      "5d41402abc4b2a76b9719d911017c592",
      "user-8127_X.json",
      "9876543210",
      "ab-CD_09.ef",
      "0042",
  };
  char out[64];
  for (size_t i = 0; i < NELEM(vals); i++) {
    const char *v = vals[i];
    size_t n = redact_fake(salt1, v, strlen(v), out, sizeof out);
    EXPECT_U64(n, ==, strlen(v));
    EXPECT_U64(strlen(out), ==, n);
    for (size_t k = 0; k < n; k++) {
      if (cls(out[k]) != cls(v[k]) || (cls(v[k]) == 0 && out[k] != v[k])) {
        print_error("fake of \"%s\" is \"%s\": position %zu changed class\n", v,
                    out, k);
        fail();
      }
    }
    if (strlen(v) >= 8 && strcmp(out, v) == 0) {
      print_error("fake of \"%s\" equals the value\n", v);
      fail();
    }
  }
  /* Hex stays hex; a leading non-zero digit stays non-zero. */
  const char *h = "5d41402abc4b2a76b9719d911017c592";
  redact_fake(salt1, h, strlen(h), out, sizeof out);
  EXPECT_U64(strspn(out, "0123456789abcdef"), ==, strlen(h));
  for (unsigned i = 0; i < 200; i++) {
    char num[16];
    int len = snprintf(num, sizeof num, "%u", 1000 + i * 7919);
    redact_fake(salt1, num, (size_t)len, out, sizeof out);
    if (out[0] == '0') {
      print_error("fake of %s is %s: leading zero\n", num, out);
      fail();
    }
  }
}

static void test_fake_email_and_short(void **state) {
  (void)state;
  char out[64], out2[64];
  const char *e = "john.doe@example.com";
  size_t n = redact_fake(salt1, e, strlen(e), out, sizeof out);
  EXPECT_U64(n, ==, strlen("u000000000000@example.invalid"));
  EXPECT_U64(out[0], ==, 'u');
  EXPECT_U64(strspn(out + 1, "0123456789abcdef"), ==, 12);
  EXPECT_STR(out + 13, "@example.invalid");
  EXPECT_U64(redact_is_email(out, n), ==, 1);
  redact_fake(salt1, "jane@example.com", 16, out2, sizeof out2);
  EXPECT_U64(strcmp(out, out2) != 0, ==, 1);

  n = redact_fake(salt1, "abc", 3, out, sizeof out);
  EXPECT_STR(out, "<redacted>");
  EXPECT_U64(n, ==, 10);
  n = redact_fake(salt1, "", 0, out, sizeof out);
  EXPECT_STR(out, "<redacted>");

  /* Small buffers truncate and stay NUL-terminated. */
  n = redact_fake(salt1, "abcdefgh", 8, out, 4);
  EXPECT_U64(n, ==, 3);
  EXPECT_U64(strlen(out), ==, 3);
  n = redact_fake(salt1, "abcdefgh", 8, out, 0);
  EXPECT_U64(n, ==, 0);
}

static void test_fake_stable_and_keyed(void **state) {
  (void)state;
  char a[64], b[64], c[64];
  const char *v = "AbC123xyZ789qWe456RtY0";
  redact_fake(salt1, v, strlen(v), a, sizeof a);
  redact_fake(salt1, v, strlen(v), b, sizeof b);
  redact_fake(salt2, v, strlen(v), c, sizeof c);
  EXPECT_STR(a, b);
  if (strcmp(a, c) == 0) {
    print_error("fakes under two salts are equal: %s\n", a);
    fail();
  }
  /* Distinct values keep distinct fakes (distinct counts survive). */
  enum { N = 5000 };
  char(*fakes)[64] = calloc(N, sizeof *fakes);
  assert_non_null(fakes);
  for (unsigned i = 0; i < N; i++) {
    char id[32];
    int len = snprintf(id, sizeof id, "%u", 100000000u + i);
    redact_fake(salt1, id, (size_t)len, fakes[i], sizeof fakes[i]);
  }
  qsort(fakes, N, sizeof *fakes, (int (*)(const void *, const void *))strcmp);
  unsigned dup = 0;
  for (unsigned i = 1; i < N; i++) dup += strcmp(fakes[i], fakes[i - 1]) == 0;
  /* 9-digit fakes: expected collisions ~ N^2 / (2 * 9e8) < 1. */
  EXPECT_U64(dup, <=, 2);
  free(fakes);
}

static void test_new_salt(void **state) {
  (void)state;
  uint64_t a[2] = {0, 0}, b[2] = {0, 0};
  EXPECT_U64(redact_new_salt(a), ==, 0);
  EXPECT_U64(redact_new_salt(b), ==, 0);
  EXPECT_U64(a[0] != b[0] || a[1] != b[1], ==, 1);
  EXPECT_U64(a[0] | a[1], !=, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secret_names_positive),
      cmocka_unit_test(test_secret_names_negative),
      cmocka_unit_test(test_secret_values),
      cmocka_unit_test(test_value_kinds),
      cmocka_unit_test(test_fake_shape),
      cmocka_unit_test(test_fake_email_and_short),
      cmocka_unit_test(test_fake_stable_and_keyed),
      cmocka_unit_test(test_new_salt),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
