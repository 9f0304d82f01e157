/* Unit tests of templ: masks, cardinality collapse, merges, pools, caps. */
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
#include "templ.h"
#include "topk.h"

static const struct templ_opts salted = {
    .salt = {0x0123456789abcdefULL, 0x0f1e2d3c4b5a6978ULL},
};

/* Most tests watch the collapse mechanics as they happen: they make the
 * hard (streaming) limit the soft one unless they set it themselves. */
static struct templ *mk(const struct templ_opts *o) {
  struct templ *t = NULL;
  struct templ_opts copy = {0};
  if (o) copy = *o;
  if (!copy.collapse_hard)
    copy.collapse_hard = copy.collapse_children ? copy.collapse_children : 20;
  EXPECT_U64(templ_new(&copy, &t), ==, 0);
  return t;
}

static uint32_t add(struct templ *t, const char *method, const char *path) {
  uint32_t ep = UINT32_MAX;
  int rc = templ_add(t, method, strlen(method), path, strlen(path), &ep);
  if (rc != 0) {
    print_error("templ_add(%s %s) = %d\n", method, path, rc);
    fail();
  }
  EXPECT_U64(ep, <, templ_handles(t));
  return ep;
}

/* Template text of the live endpoint path maps to now. */
static const char *text_of(struct templ *t, const char *path) {
  uint32_t ep = add(t, "GET", path);
  return templ_text(t, templ_resolve(t, ep));
}

static size_t live_count(struct templ *t) {
  size_t n = 0;
  for (uint32_t e = 0; e < templ_handles(t); e++) n += templ_is_live(t, e);
  return n;
}

/* The live endpoint with this method and template, or UINT32_MAX. */
static uint32_t find_ep(struct templ *t, const char *method, const char *text) {
  for (uint32_t e = 0; e < templ_handles(t); e++)
    if (templ_is_live(t, e) && strcmp(templ_text(t, e), text) == 0 &&
        strcmp(templ_method(t, e), method) == 0)
      return e;
  return UINT32_MAX;
}

static uint32_t must_find(struct templ *t, const char *method,
                          const char *text) {
  uint32_t e = find_ep(t, method, text);
  if (e == UINT32_MAX) {
    print_error("no live endpoint %s %s; live ones:\n", method, text);
    for (uint32_t i = 0; i < templ_handles(t); i++)
      if (templ_is_live(t, i))
        print_error("  %s %s\n", templ_method(t, i), templ_text(t, i));
    fail();
  }
  return e;
}

/* Count of value v in a pool (0 when absent). */
static uint64_t pool_count(const struct topk *p, const char *v) {
  struct topk_item it[512];
  size_t n = topk_items(p, it, 512);
  for (size_t i = 0; i < n; i++)
    if (it[i].len == strlen(v) && memcmp(it[i].value, v, it[i].len) == 0)
      return it[i].count;
  return 0;
}

/* Index of the first parameter of this type, failing when none. */
static size_t param_of_type(struct templ *t, uint32_t e, const char *type) {
  for (size_t i = 0; i < templ_nparams(t, e); i++)
    if (strcmp(templ_param_type(t, e, i), type) == 0) return i;
  print_error("%s has no parameter of type %s\n", templ_text(t, e), type);
  fail();
  return 0;
}

/* Sum of hits of live endpoints equals the adds; invariants hold. */
static void check_totals(struct templ *t, uint64_t adds) {
  uint64_t sum = 0;
  for (uint32_t e = 0; e < templ_handles(t); e++) {
    uint32_t r = templ_resolve(t, e);
    EXPECT_U64(templ_is_live(t, r), ==, 1);
    if (templ_is_live(t, e)) sum += templ_hits(t, e);
  }
  EXPECT_U64(sum, ==, adds);
  EXPECT_U64(templ_check(t), ==, 0);
}

struct mask_case {
  const char *path, *text, *type, *name;
};

static void test_masks(void **state) {
  (void)state;
  static const struct mask_case cases[] = {
      {"/users/8127/profile", "/users/{id}/profile", "int", "id"},
      {"/n/-15", "/n/{id}", "int", "id"},
      {"/items/3.14", "/items/{num}", "num", "num"},
      {"/o/550e8400-e29b-41d4-a716-446655440000", "/o/{uuid}", "uuid", "uuid"},
      {"/c/5d41402abc4b2a76b9719d911017c592", "/c/{hash}", "hash", "hash"},
      {"/c/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/c/{hash}", "hash",
       "hash"},
      {"/obj/507f1f77bcf86cd799439011", "/obj/{hex}", "hex", "hex"},
      {"/d/2024-05-20", "/d/{date}", "date", "date"},
      {"/d/2024-05-20T10:11:12Z", "/d/{date}", "date", "date"},
      {"/d/2024-05-20T10%3A11%3A12.250+02:00", "/d/{date}", "date", "date"},
      {"/u/john.doe@example.com", "/u/{email}", "email", "email"},
      {"/ip/192.168.1.20", "/ip/{ip}", "ip", "ip"},
      {"/ip/2001:db8::1", "/ip/{ip}", "ip", "ip"},
      {"/t/AbC123xyZ789qWe456RtY0", "/t/{token}", "token", "token"},
      {"/j/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "/j/{token}",
       "token", "token"},
      {"/f/12345.json", "/f/{id}.json", "int", "id"},
      {"/api/v1/things", "/api/v1/things", NULL, NULL},
      {"/x/logstash-monitorama-2013", "/x/logstash-monitorama-2013", NULL,
       NULL},
      {"/v/1.2.3", "/v/1.2.3", NULL, NULL},
      {"/p/%E2%80%A6", "/p/%E2%80%A6", NULL, NULL},
      {"/", "/", NULL, NULL},
  };
  struct templ *t = mk(&salted);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct mask_case *c = &cases[i];
    uint32_t ep = add(t, "GET", c->path);
    if (strcmp(templ_text(t, ep), c->text) != 0) {
      print_error("%s: expected template %s, got %s\n", c->path, c->text,
                  templ_text(t, ep));
      fail();
    }
    if (!c->type) {
      EXPECT_U64(templ_nparams(t, ep), ==, 0);
      continue;
    }
    EXPECT_U64(templ_nparams(t, ep), ==, 1);
    EXPECT_STR(templ_param_type(t, ep, 0), c->type);
    EXPECT_STR(templ_param_name(t, ep, 0), c->name);
    int red = !strcmp(c->type, "email") || !strcmp(c->type, "token") ||
              !strcmp(c->type, "hash");
    EXPECT_U64(templ_param_redacted(t, ep, 0), ==, red);
  }
  /* Pools hold the masked values (stems, not extensions). */
  uint32_t ep = must_find(t, "GET", "/f/{id}.json");
  EXPECT_U64(pool_count(templ_param_pool(t, ep, 0), "12345"), ==, 1);
  EXPECT_STR(templ_method(t, ep), "GET");
  check_totals(t, sizeof cases / sizeof cases[0]);
  templ_free(t);
}

static void test_known_literal_next_to_ids(void **state) {
  (void)state;
  struct templ *t = mk(NULL);
  char p[64];
  for (int i = 0; i < 100; i++) {
    snprintf(p, sizeof p, "/users/%d", 1000 + i);
    EXPECT_STR(text_of(t, p), "/users/{id}");
    EXPECT_STR(text_of(t, "/users/me"), "/users/me");
  }
  EXPECT_U64(live_count(t), ==, 2);
  templ_free(t);
}

static void test_word_collapse_keeps_dominant(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_children = 20};
  struct templ *t = mk(&o);
  char p[64];
  for (int i = 0; i < 30; i++) add(t, "GET", "/users/me");
  /* 20 distinct names: still literals. */
  for (int i = 0; i < 20; i++) {
    snprintf(p, sizeof p, "/users/name%c%c", 'a' + i, 'a' + i);
    if (i) add(t, "GET", p);
  }
  EXPECT_U64(live_count(t), ==, 20);
  /* The 21st distinct literal collapses the position. */
  EXPECT_STR(text_of(t, "/users/zed"), "/users/{name}");
  EXPECT_U64(find_ep(t, "GET", "/users/me") != UINT32_MAX, ==, 1);
  EXPECT_U64(live_count(t), ==, 2);
  uint32_t v = must_find(t, "GET", "/users/{name}");
  EXPECT_U64(templ_hits(t, v), ==, 20);
  EXPECT_STR(templ_param_type(t, v, 0), "word");
  EXPECT_STR(templ_param_name(t, v, 0), "name");
  /* Later words go to the variable, me stays. */
  EXPECT_STR(text_of(t, "/users/another"), "/users/{name}");
  EXPECT_STR(text_of(t, "/users/me"), "/users/me");
  check_totals(t, 30 + 19 + 1 + 2);
  templ_free(t);
}

static void test_collapse_merges_handles_hits_pools(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_children = 5};
  struct templ *t = mk(&o);
  static const char *const words[] = {"alpha", "bravo", "charlie", "delta",
                                      "echo"};
  uint32_t early[5];
  uint64_t adds = 0;
  for (int i = 0; i < 5; i++)
    for (int k = 0; k <= i; k++) { /* alpha 1 hit, ..., echo 5 */
      char p[64];
      snprintf(p, sizeof p, "/tags/%s", words[i]);
      early[i] = add(t, "GET", p);
      adds++;
    }
  EXPECT_U64(live_count(t), ==, 5);
  for (int i = 0; i < 5; i++) EXPECT_U64(templ_hits(t, early[i]), ==, i + 1);
  /* Sixth distinct word: more than collapse_children. */
  uint32_t f = add(t, "GET", "/tags/foxtrot");
  adds++;
  EXPECT_STR(templ_text(t, f), "/tags/{name}");
  EXPECT_U64(live_count(t), ==, 1);
  for (int i = 0; i < 5; i++) {
    uint32_t r = templ_resolve(t, early[i]);
    EXPECT_U64(r, ==, f);
    EXPECT_U64(templ_is_live(t, early[i]), ==, early[i] == f);
  }
  EXPECT_U64(templ_hits(t, f), ==, adds);
  const struct topk *pool = templ_param_pool(t, f, 0);
  assert_non_null(pool);
  for (int i = 0; i < 5; i++)
    EXPECT_U64(pool_count(pool, words[i]), ==, (uint64_t)i + 1);
  EXPECT_U64(pool_count(pool, "foxtrot"), ==, 1);
  EXPECT_U64(topk_total(pool), ==, adds);
  int exact = 0;
  EXPECT_U64(topk_distinct(pool, &exact), ==, 6);
  EXPECT_U64(exact, ==, 1);
  check_totals(t, adds);
  templ_free(t);
}

/* Whole subtrees merge: /p/<word>/images/<file>.png for many words. */
static void test_subtree_merge(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_children = 4};
  struct templ *t = mk(&o);
  uint32_t first[8];
  uint64_t adds = 0;
  char p[128];
  /* Every deck shows the logo on each of its 4 pages: far more hits than
   * any one picture, so it stays a literal after the merge. */
  for (int w = 0; w < 8; w++) {
    snprintf(p, sizeof p, "/p/deck%c/images/logo.png", 'a' + w);
    first[w] = add(t, "GET", p);
    for (int k = 1; k < 4; k++) add(t, "GET", p);
    snprintf(p, sizeof p, "/p/deck%c/", 'a' + w);
    add(t, "GET", p);
    snprintf(p, sizeof p, "/p/deck%c/images/pic%c.png", 'a' + w, 'a' + w);
    add(t, "GET", p);
    adds += 6;
  }
  uint32_t logo = must_find(t, "GET", "/p/{name}/images/logo.png");
  uint32_t idx = must_find(t, "GET", "/p/{name}/");
  uint32_t pic = must_find(t, "GET", "/p/{name}/images/{name2}.png");
  EXPECT_U64(live_count(t), ==, 3);
  for (int w = 0; w < 8; w++) EXPECT_U64(templ_resolve(t, first[w]), ==, logo);
  EXPECT_U64(templ_hits(t, logo), ==, 32);
  EXPECT_U64(templ_hits(t, idx), ==, 8);
  EXPECT_U64(templ_hits(t, pic), ==, 8);
  EXPECT_U64(templ_nparams(t, pic), ==, 2);
  EXPECT_STR(templ_param_name(t, pic, 0), "name");
  EXPECT_STR(templ_param_name(t, pic, 1), "name2");
  EXPECT_U64(pool_count(templ_param_pool(t, logo, 0), "decka"), ==, 4);
  EXPECT_U64(pool_count(templ_param_pool(t, pic, 0), "deckh"), ==, 1);
  EXPECT_U64(pool_count(templ_param_pool(t, pic, 1), "picc"), ==, 1);
  EXPECT_U64(topk_total(templ_param_pool(t, pic, 1)), ==, 8);
  check_totals(t, adds);
  templ_free(t);
}

static void test_trailing_slash_and_root(void **state) {
  (void)state;
  struct templ *t = mk(NULL);
  uint32_t a = add(t, "GET", "/history/apollo/");
  uint32_t b = add(t, "GET", "/history/apollo");
  uint32_t r = add(t, "GET", "/");
  uint32_t e = add(t, "GET", "");
  EXPECT_U64(a != b, ==, 1);
  EXPECT_STR(templ_text(t, a), "/history/apollo/");
  EXPECT_STR(templ_text(t, b), "/history/apollo");
  EXPECT_STR(templ_text(t, r), "/");
  EXPECT_U64(e, ==, r); /* an empty path is the root */
  EXPECT_STR(text_of(t, "//favicon.ico"), "//favicon.ico");
  /* After a collapse the index of a position stays its own endpoint. */
  struct templ_opts o = {.collapse_children = 3};
  struct templ *u = mk(&o);
  add(u, "GET", "/a/");
  char p[32];
  for (int i = 0; i < 6; i++) {
    snprintf(p, sizeof p, "/a/w%c", 'a' + i);
    add(u, "GET", p);
  }
  must_find(u, "GET", "/a/{name}");
  must_find(u, "GET", "/a/");
  EXPECT_STR(text_of(u, "/a/"), "/a/");
  check_totals(u, 8);
  templ_free(u);
  check_totals(t, 5);
  templ_free(t);
}

static void test_extensions_kept(void **state) {
  (void)state;
  struct templ *t = mk(NULL);
  char p[64];
  uint64_t adds = 0;
  for (int i = 0; i < 30; i++) {
    snprintf(p, sizeof p, "/data/set%c%c.csv", 'a' + i % 26, 'a' + i / 26);
    add(t, "GET", p);
    snprintf(p, sizeof p, "/data/set%c%c.json", 'a' + i % 26, 'a' + i / 26);
    add(t, "GET", p);
    adds += 2;
  }
  uint32_t csv = must_find(t, "GET", "/data/{name}.csv");
  uint32_t json = must_find(t, "GET", "/data/{name}.json");
  EXPECT_U64(live_count(t), ==, 2);
  EXPECT_U64(templ_hits(t, csv) + templ_hits(t, json), ==, adds);
  EXPECT_U64(pool_count(templ_param_pool(t, csv, 0), "setaa"), ==, 1);
  EXPECT_STR(text_of(t, "/data/new.csv"), "/data/{name}.csv");
  EXPECT_STR(text_of(t, "/data/new.tar.gz"), "/data/{name}.gz");
  check_totals(t, adds + 2);
  templ_free(t);
}

static void test_repeated_names_suffixed(void **state) {
  (void)state;
  struct templ *t = mk(NULL);
  uint32_t e = add(t, "GET", "/a/1/b/2/c/3");
  EXPECT_STR(templ_text(t, e), "/a/{id}/b/{id2}/c/{id3}");
  EXPECT_U64(templ_nparams(t, e), ==, 3);
  EXPECT_STR(templ_param_name(t, e, 0), "id");
  EXPECT_STR(templ_param_name(t, e, 1), "id2");
  EXPECT_STR(templ_param_name(t, e, 2), "id3");
  EXPECT_U64(pool_count(templ_param_pool(t, e, 1), "2"), ==, 1);
  EXPECT_U64(templ_param_pool(t, e, 3) == NULL, ==, 1);
  EXPECT_U64(templ_param_name(t, e, 3) == NULL, ==, 1);
  e = add(t, "GET",
          "/x/550e8400-e29b-41d4-a716-446655440000/7/"
          "650e8400-e29b-41d4-a716-446655440000");
  EXPECT_STR(templ_text(t, e), "/x/{uuid}/{id}/{uuid2}");
  check_totals(t, 2);
  templ_free(t);
}

static void test_methods_separate(void **state) {
  (void)state;
  struct templ *t = mk(NULL);
  uint32_t g = add(t, "GET", "/products/42");
  uint32_t d = add(t, "DELETE", "/products/42");
  EXPECT_U64(g != d, ==, 1);
  EXPECT_STR(templ_method(t, g), "GET");
  EXPECT_STR(templ_method(t, d), "DELETE");
  /* Garbage methods share "OTHER". */
  uint32_t x = add(t, "\x16\x03\x01", "/products/42");
  EXPECT_STR(templ_method(t, x), "OTHER");
  char m[16];
  for (int i = 0; i < 40; i++) {
    snprintf(m, sizeof m, "M%d", i);
    add(t, m, "/z");
  }
  EXPECT_U64(find_ep(t, "OTHER", "/z") != UINT32_MAX, ==, 1);
  check_totals(t, 43);
  templ_free(t);
}

static void test_cap_endpoints(void **state) {
  (void)state;
  struct templ_opts o = {.max_endpoints = 3, .salt = {1, 2}};
  struct templ *t = mk(&o);
  char p[64];
  for (int i = 0; i < 10; i++) {
    snprintf(p, sizeof p, "/page%c", 'a' + i);
    add(t, "GET", p);
  }
  add(t, "GET", "/pagea"); /* known paths still map to their endpoint */
  add(t, "GET", "/u/john@example.com");
  EXPECT_U64(templ_capped(t), ==, 8);
  uint32_t c = must_find(t, "GET", "/{path}");
  EXPECT_U64(templ_hits(t, c), ==, 8);
  EXPECT_U64(templ_hits(t, must_find(t, "GET", "/pagea")), ==, 2);
  EXPECT_U64(templ_nparams(t, c), ==, 1);
  EXPECT_STR(templ_param_name(t, c, 0), "path");
  EXPECT_STR(templ_param_type(t, c, 0), "path");
  const struct topk *pool = templ_param_pool(t, c, 0);
  EXPECT_U64(pool_count(pool, "paged"), ==, 1);
  /* The catch-all's pool is redacted too. */
  EXPECT_U64(templ_param_redacted(t, c, 0), ==, 1);
  struct topk_item it[16];
  size_t n = topk_items(pool, it, 16);
  for (size_t i = 0; i < n; i++)
    if (strstr(it[i].value, "john")) {
      print_error("catch-all pool holds %s in clear\n", it[i].value);
      fail();
    }
  EXPECT_U64(templ_redacted(t, "email"), ==, 1);
  /* Another method gets its own catch-all. */
  add(t, "POST", "/form");
  must_find(t, "POST", "/{path}");
  EXPECT_U64(templ_capped(t), ==, 9);
  check_totals(t, 13);
  templ_free(t);
}

static void test_cap_nodes(void **state) {
  (void)state;
  struct templ_opts o = {.max_nodes = 6};
  struct templ *t = mk(&o);
  add(t, "GET", "/a/b");   /* root + 2 nodes */
  add(t, "GET", "/a/c");   /* + 1 */
  add(t, "GET", "/d/e/f"); /* needs 3 more: over the cap */
  add(t, "GET", "/a/b");
  add(t, "GET", "/x"); /* + 1 = 5 */
  add(t, "PUT", "/y"); /* root + 1 = 7: capped */
  EXPECT_U64(templ_capped(t), ==, 2);
  must_find(t, "GET", "/{path}");
  must_find(t, "PUT", "/{path}");
  must_find(t, "GET", "/x");
  /* Deep and long paths go to the catch-all. */
  char deep[400] = "";
  for (int i = 0; i < 70; i++) strcat(deep, "/s");
  struct templ *u = mk(NULL);
  add(u, "GET", deep);
  EXPECT_U64(templ_capped(u), ==, 1);
  check_totals(u, 1);
  templ_free(u);
  check_totals(t, 6);
  templ_free(t);
}

static void test_cap_handles(void **state) {
  (void)state;
  /* Collapses free live slots, but handles stay bounded too. */
  struct templ_opts o = {.max_endpoints = 4, .collapse_children = 2};
  struct templ *t = mk(&o);
  char p[64];
  uint64_t adds = 0;
  for (int i = 0; i < 200; i++) {
    snprintf(p, sizeof p, "/r%d/%c%c/x", i % 7, 'a' + i % 26, 'a' + i / 26);
    add(t, "GET", p);
    adds++;
  }
  EXPECT_U64(templ_handles(t), <=, 4 * 4 + 1);
  check_totals(t, adds);
  templ_free(t);
}

/* Every value of a redacted type, in every pool of every live endpoint,
 * must be a fake. */
static void test_redacted_never_in_clear(void **state) {
  (void)state;
  struct templ_opts o = salted;
  o.collapse_children = 4;
  struct templ *t = mk(&o);
  static const char *const secrets[] = {
      "john.doe@example.com",
      "jane@corp.example.org",
      "AbC123xyZ789qWe456RtY0",
      "k3j4h5g6f7d8s9a0q1w2e3r4",
      "5d41402abc4b2a76b9719d911017c592",
      "da39a3ee5e6b4b0d3255bfef95601890afd80709",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
  };
  const size_t ns = sizeof secrets / sizeof secrets[0];
  char p[256];
  uint64_t adds = 0;
  for (int round = 0; round < 3; round++)
    for (size_t i = 0; i < ns; i++) {
      snprintf(p, sizeof p, "/u/%s/x", secrets[i]);
      add(t, "GET", p);
      snprintf(p, sizeof p, "/w%c/%s", 'a' + (int)i, secrets[i]);
      add(t, "GET", p);
      snprintf(p, sizeof p, "/f/%s.json", secrets[i]);
      add(t, "GET", p);
      adds += 3;
    }
  size_t checked = 0;
  for (uint32_t e = 0; e < templ_handles(t); e++) {
    if (!templ_is_live(t, e)) continue;
    for (size_t s = 0; s < ns; s++)
      if (strstr(templ_text(t, e), secrets[s])) {
        print_error("template %s holds secret %s\n", templ_text(t, e),
                    secrets[s]);
        fail();
      }
    for (size_t i = 0; i < templ_nparams(t, e); i++) {
      const struct topk *pool = templ_param_pool(t, e, i);
      struct topk_item it[64];
      size_t n = pool ? topk_items(pool, it, 64) : 0;
      const char *type = templ_param_type(t, e, i);
      int red = !strcmp(type, "email") || !strcmp(type, "token") ||
                !strcmp(type, "hash");
      EXPECT_U64(templ_param_redacted(t, e, i), ==, red);
      for (size_t k = 0; k < n; k++) {
        checked++;
        /* No value holds a secret; no value of a redacted type is even a
         * piece of one. */
        for (size_t s = 0; s < ns; s++)
          if (strstr(it[k].value, secrets[s]) ||
              (red && strstr(secrets[s], it[k].value))) {
            print_error("%s param %s holds \"%s\" (secret %s)\n",
                        templ_text(t, e), templ_param_name(t, e, i),
                        it[k].value, secrets[s]);
            fail();
          }
      }
    }
  }
  EXPECT_U64(checked, >=, ns);
  /* Fakes are stable (each secret seen 3 times: counts of 3) and keep
   * their shape. */
  uint32_t e = add(t, "GET", "/u/5d41402abc4b2a76b9719d911017c592/x");
  adds++;
  e = templ_resolve(t, e);
  size_t hi = param_of_type(t, e, "hash");
  EXPECT_U64(templ_param_redacted(t, e, hi), ==, 1);
  char fake[64];
  const char *h = "5d41402abc4b2a76b9719d911017c592";
  redact_fake(o.salt, h, strlen(h), fake, sizeof fake);
  EXPECT_U64(strlen(fake), ==, 32);
  EXPECT_U64(strspn(fake, "0123456789abcdef"), ==, 32);
  EXPECT_U64(pool_count(templ_param_pool(t, e, hi), fake), ==, 4);
  e = templ_resolve(t, add(t, "GET", "/u/john.doe@example.com/x"));
  adds++;
  redact_fake(o.salt, "john.doe@example.com", 20, fake, sizeof fake);
  EXPECT_U64(
      pool_count(templ_param_pool(t, e, param_of_type(t, e, "email")), fake),
      ==, 4);
  EXPECT_U64(templ_redacted(t, "email"), ==, 3 * 2 * 3 + 1);
  EXPECT_U64(templ_redacted(t, "token"), >=, 3 * 3 * 3);
  EXPECT_U64(templ_redacted(t, "hash"), ==, 2 * 3 * 3 + 1);
  EXPECT_U64(templ_redacted(t, "int"), ==, 0);
  check_totals(t, adds);
  templ_free(t);
}

/* Many distinct ids under a few prefixes: endpoints stay few, pools stay
 * bounded, the hits add up. */
static void test_many_ids(void **state) {
  (void)state;
  struct templ_opts o = {.pool_cap = 64};
  struct templ *t = mk(&o);
  char p[96];
  uint64_t adds = 0;
  for (unsigned i = 0; i < 50000; i++) {
    snprintf(p, sizeof p, "/api/v1/users/%u/orders/%u", i, i * 7);
    add(t, "GET", p);
    snprintf(p, sizeof p, "/api/v1/users/%u", i);
    add(t, "PATCH", p);
    adds += 2;
  }
  EXPECT_U64(live_count(t), ==, 2);
  uint32_t e = must_find(t, "GET", "/api/v1/users/{id}/orders/{id2}");
  const struct topk *pool = templ_param_pool(t, e, 0);
  EXPECT_U64(topk_len(pool), ==, 64);
  uint64_t d = topk_distinct(pool, NULL);
  EXPECT_U64(d, >=, 45000);
  EXPECT_U64(d, <=, 55000);
  check_totals(t, adds);
  templ_free(t);
}

/* A random stream over a small alphabet exercises collapse, re-judging
 * and merges; invariants must hold throughout. */
static void test_random_stream_invariants(void **state) {
  (void)state;
  static const char *const parts[] = {
      "a",  "b",  "c",  "1",  "22", "x.csv",   "y.csv", "",
      "me", "dd", "ee", "ff", "gg", "hh.json", "ii",    "jj"};
  struct templ_opts o = {.collapse_children = 3,
                         .max_nodes = 300,
                         .max_endpoints = 60,
                         .pool_cap = 4};
  struct templ *t = mk(&o);
  uint64_t seed = 42, adds = 0;
  char p[256];
  for (int i = 0; i < 20000; i++) {
    size_t len = 0;
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    int depth = 1 + (int)((seed >> 60) % 5);
    for (int d = 0; d < depth; d++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      const char *s = parts[(seed >> 33) % 16];
      len += (size_t)snprintf(p + len, sizeof p - len, "/%s%s", s,
                              (seed >> 20) % 3 ? "" : "q");
    }
    add(t, (seed >> 10) % 4 ? "GET" : "POST", p);
    adds++;
    if (i % 1000 == 0) check_totals(t, adds);
  }
  check_totals(t, adds);
  templ_free(t);
}

/* With the default streaming limit, decisions wait for full counts: the
 * sections of a site seen a few times early on, among a scanner's junk,
 * are kept once their real popularity is known. */
static void test_deferred_decisions(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_hard = 160};
  struct templ *t = mk(&o);
  char p[64];
  uint32_t junk0 = 0, cart = 0;
  uint64_t adds = 0;
  for (int i = 0; i < 120; i++) {
    snprintf(p, sizeof p, "/probe%dx", i);
    uint32_t e = add(t, "GET", p);
    if (i == 0) junk0 = e;
    adds++;
    if (i % 2 == 0) {
      cart = add(t, "GET", "/cart");
      add(t, "GET", "/login");
      add(t, "GET", "/search");
      adds += 3;
    }
    /* A folder of pictures: one logo on every page, many one-off pics. */
    add(t, "GET", "/img/logo.png");
    snprintf(p, sizeof p, "/img/pic%dq.png", i % 40);
    add(t, "GET", p);
    adds += 2;
  }
  /* Before finalizing, nothing has collapsed (under collapse_hard). */
  EXPECT_STR(templ_text(t, junk0), "/probe0x");
  EXPECT_U64(templ_finalize(t), ==, 0);
  EXPECT_STR(templ_text(t, templ_resolve(t, junk0)), "/{name}");
  EXPECT_U64(templ_hits(t, templ_resolve(t, junk0)), ==, 120);
  EXPECT_STR(templ_text(t, templ_resolve(t, cart)), "/cart");
  EXPECT_U64(templ_hits(t, templ_resolve(t, cart)), ==, 60);
  must_find(t, "GET", "/login");
  must_find(t, "GET", "/search");
  uint32_t pics = must_find(t, "GET", "/img/{name}.png");
  uint32_t logo = must_find(t, "GET", "/img/logo.png");
  EXPECT_U64(templ_hits(t, pics), ==, 120);
  EXPECT_U64(templ_hits(t, logo), ==, 120);
  EXPECT_U64(pool_count(templ_param_pool(t, pics, 0), "pic7q"), ==, 3);
  check_totals(t, adds);
  EXPECT_U64(templ_check(t), ==, 0);
  templ_free(t);
}

/* The streaming limit still bounds memory: past collapse_hard distinct
 * literals a position collapses at once. */
static void test_hard_limit_streaming(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_hard = 50};
  struct templ *t = mk(&o);
  char p[64];
  uint32_t e = 0;
  for (int i = 0; i < 60; i++) {
    snprintf(p, sizeof p, "/ds/set%dz", i);
    e = add(t, "GET", p);
  }
  EXPECT_STR(templ_text(t, e), "/ds/{name}");
  EXPECT_U64(live_count(t), ==, 1);
  check_totals(t, 60);
  templ_free(t);
}

/* A scanner's probes are as frequent as a small section of the site, but
 * they fail: only answered requests make a literal worth keeping. */
static void test_failing_probes_fold(void **state) {
  (void)state;
  struct templ_opts o = {.collapse_hard = 160};
  struct templ *t = mk(&o);
  char p[64];
  uint32_t e, probe0 = 0, orders = 0;
  for (int round = 0; round < 30; round++) {
    for (int i = 0; i < 25; i++) {
      snprintf(p, sizeof p, "/probe-%d.php", i);
      EXPECT_U64(templ_add_status(t, "GET", 3, p, strlen(p), 0, &e), ==, 0);
      if (round == 0 && i == 0) probe0 = e;
    }
    EXPECT_U64(templ_add_status(t, "GET", 3, "/orders", 7, 1, &orders), ==, 0);
  }
  EXPECT_U64(templ_finalize(t), ==, 0);
  EXPECT_STR(templ_text(t, templ_resolve(t, probe0)), "/{name}.php");
  EXPECT_STR(templ_text(t, templ_resolve(t, orders)), "/orders");
  EXPECT_U64(templ_hits(t, templ_resolve(t, orders)), ==, 30);
  check_totals(t, 30 * 26);
  templ_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_masks),
      cmocka_unit_test(test_known_literal_next_to_ids),
      cmocka_unit_test(test_word_collapse_keeps_dominant),
      cmocka_unit_test(test_collapse_merges_handles_hits_pools),
      cmocka_unit_test(test_subtree_merge),
      cmocka_unit_test(test_deferred_decisions),
      cmocka_unit_test(test_failing_probes_fold),
      cmocka_unit_test(test_hard_limit_streaming),
      cmocka_unit_test(test_trailing_slash_and_root),
      cmocka_unit_test(test_extensions_kept),
      cmocka_unit_test(test_repeated_names_suffixed),
      cmocka_unit_test(test_methods_separate),
      cmocka_unit_test(test_cap_endpoints),
      cmocka_unit_test(test_cap_nodes),
      cmocka_unit_test(test_cap_handles),
      cmocka_unit_test(test_redacted_never_in_clear),
      cmocka_unit_test(test_many_ids),
      cmocka_unit_test(test_random_stream_invariants),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
