/* Tests of the template router: literal segments win over patterns and
 * patterns over bare variables, with backtracking; typed variables take
 * only text of their type; extensions; the catch-all is the last resort
 * of its method; a template text finds its own endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "route.h"
#include "testutil.h"

static struct route *build(void) {
  static const struct {
    const char *method, *templ;
    int catch_all;
  } t[] = {
      {"GET", "/users/{id}", 0},          /* 0 */
      {"GET", "/users/me", 0},            /* 1 */
      {"GET", "/users/{id}/posts", 0},    /* 2 */
      {"GET", "/files/{name}.csv", 0},    /* 3 */
      {"GET", "/files/{name}.tar.gz", 0}, /* 4 */
      {"GET", "/files/{name}", 0},        /* 5 */
      {"GET", "/a/{id}.html", 0},         /* 6 */
      {"GET", "/a/{name}.html", 0},       /* 7 */
      {"GET", "/", 0},                    /* 8 */
      {"GET", "/{path}", 1},              /* 9 */
      {"POST", "/users/{id}", 0},         /* 10 */
      {"GET", "/x/{uuid}", 0},            /* 11 */
      {"GET", "/users/{name}/posts", 0},  /* 12 */
      {"GET", "/users/{id}", 0},          /* 13: duplicate, ignored */
      {"GET", "/dir/", 0},                /* 14 */
  };
  struct route *r;
  assert_int_equal(route_new(&r), 0);
  for (uint32_t i = 0; i < sizeof t / sizeof t[0]; i++)
    assert_int_equal(route_add(r, t[i].method, t[i].templ, t[i].catch_all, i),
                     0);
  assert_int_equal(route_build(r), 0);
  return r;
}

static int64_t m(const struct route *r, const char *method, const char *p) {
  return route_match(r, method, strlen(method), p, strlen(p));
}

static void test_paths(void **state) {
  (void)state;
  struct route *r = build();
  EXPECT_EQ(m(r, "GET", "/users/17"), 0);
  EXPECT_EQ(m(r, "GET", "/users/me"), 1);
  /* "me" has no posts below it: back to the variable. */
  EXPECT_EQ(m(r, "GET", "/users/me/posts"), 12);
  EXPECT_EQ(m(r, "GET", "/users/17/posts"), 2);
  EXPECT_EQ(m(r, "GET", "/files/a.csv"), 3);
  EXPECT_EQ(m(r, "GET", "/files/b.tar.gz"), 4);
  EXPECT_EQ(m(r, "GET", "/files/c.gz"), 5);
  EXPECT_EQ(m(r, "GET", "/files/.csv"), 5); /* the variable takes a byte */
  EXPECT_EQ(m(r, "GET", "/a/12.html"), 6);
  EXPECT_EQ(m(r, "GET", "/a/x12.html"), 7);
  EXPECT_EQ(m(r, "GET", "/"), 8);
  EXPECT_EQ(m(r, "GET", "/dir/"), 14);
  EXPECT_EQ(m(r, "POST", "/users/5"), 10);
  EXPECT_EQ(m(r, "GET", "/x/123e4567-e89b-12d3-a456-426614174000"), 11);
  /* Unmatched: the method's catch-all, or nothing. */
  EXPECT_EQ(m(r, "GET", "/x/not-a-uuid"), 9);
  EXPECT_EQ(m(r, "GET", "/users/abc"), 9); /* {id} takes digits only */
  EXPECT_EQ(m(r, "GET", "/users/"), 9);    /* empty segment */
  EXPECT_EQ(m(r, "GET", "/nothing/here/at/all"), 9);
  EXPECT_EQ(m(r, "PUT", "/users/5"), -1);
  EXPECT_EQ(m(r, "POST", "/users/5/posts"), -1);
  EXPECT_EQ(m(r, "GE", "/"), -1);
  /* More segments than the router follows: the catch-all. */
  char deep[400] = "";
  for (int i = 0; i < ROUTE_MAX_SEGMENTS + 2; i++) strcat(deep, "/s");
  EXPECT_EQ(m(r, "GET", deep), 9);
  route_free(r);
}

static void test_templates(void **state) {
  (void)state;
  struct route *r = build();
  /* A template text finds itself, and a typed variable prefers its own
   * kind over an untyped one. */
  EXPECT_EQ(m(r, "GET", "/users/{id}"), 0);
  EXPECT_EQ(m(r, "GET", "/a/{id}.html"), 6);
  EXPECT_EQ(m(r, "GET", "/a/{name}.html"), 7);
  EXPECT_EQ(m(r, "GET", "/a/{name2}.html"), 7);
  EXPECT_EQ(m(r, "GET", "/users/{id}/posts"), 2);
  EXPECT_EQ(m(r, "GET", "/files/{name}.csv"), 3);
  /* {name} does not fit {id}: only untyped variables take it. */
  EXPECT_EQ(m(r, "GET", "/users/{name}/posts"), 12);
  EXPECT_EQ(m(r, "GET", "/{path}"), 9);
  route_free(r);
}

static void test_limits(void **state) {
  (void)state;
  struct route *r;
  assert_int_equal(route_new(&r), 0);
  char deep[400] = "";
  for (int i = 0; i < ROUTE_MAX_SEGMENTS + 1; i++) strcat(deep, "/s");
  EXPECT_EQ(route_add(r, "GET", deep, 0, 0), ERR_LIMIT);
  assert_int_equal(route_build(r), 0);
  EXPECT_EQ(m(r, "GET", "/s"), -1);
  route_free(r);
  route_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_templates),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
