/* Tests of what replay does with what capture learned from packets: JSON
 * paths (reading, putting, nested objects and arrays), the correlation
 * rules (compiling, taking values from answers, the newest of the
 * candidates, putting them into paths, queries, cookies), the users'
 * values (sticky across sessions or not, forgotten on delete), bodies
 * from learned shapes (nested paths, arrays, types, pools, made-up values
 * with the run marker, forms, identities), and the flow that puts them
 * together: an answer's token and id end up in the next request's
 * Authorization header, path and JSON body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <jansson.h>

#include "engine.h"
#include "err.h"
#include "flow.h"
#include "jpath.h"
#include "model.h"
#include "rng.h"
#include "rules.h"
#include "shapes.h"
#include "synth.h"
#include "vstate.h"

/* ---- jpath ---- */

static json_t *parse(const char *text) {
  json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
  assert_non_null(v);
  return v;
}

static char *dump(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

#define EXPECT_JSON(doc, want)                                                 \
  do {                                                                         \
    char *got_ = dump(doc);                                                    \
    EXPECT_STR(got_, want);                                                    \
    free(got_);                                                                \
  } while (0)

static void test_jpath_get(void **state) {
  (void)state;
  json_t *d =
      parse("{\"session\":{\"key\":\"k-1\",\"n\":7},"
            "\"items\":[{\"id\":31,\"tags\":[\"a\",\"b\"]},{\"id\":32}],"
            "\"price\":12.5,\"ok\":true,\"none\":null}");
  char out[64];
  int num = -1;
  EXPECT_EQ(jpath_text(jpath_get(d, "$.session.key"), out, sizeof out, &num),
            3);
  EXPECT_STR(out, "k-1");
  EXPECT_EQ(num, 0);
  EXPECT_EQ(jpath_text(jpath_get(d, "$.session.n"), out, sizeof out, &num), 1);
  EXPECT_STR(out, "7");
  EXPECT_EQ(num, 1);
  /* Arrays: the first element. */
  EXPECT_EQ(jpath_text(jpath_get(d, "$.items[].id"), out, sizeof out, NULL), 2);
  EXPECT_STR(out, "31");
  EXPECT_EQ(jpath_text(jpath_get(d, "$.items[].tags[]"), out, sizeof out, NULL),
            1);
  EXPECT_STR(out, "a");
  EXPECT_EQ(jpath_text(jpath_get(d, "$.price"), out, sizeof out, &num), 4);
  EXPECT_STR(out, "12.5");
  /* Not scalars, absent, or the wrong kind on the way. */
  EXPECT_EQ(jpath_text(jpath_get(d, "$.ok"), out, sizeof out, NULL), 0);
  EXPECT_EQ(jpath_text(jpath_get(d, "$.none"), out, sizeof out, NULL), 0);
  EXPECT_EQ(jpath_text(jpath_get(d, "$.session"), out, sizeof out, NULL), 0);
  assert_null(jpath_get(d, "$.nope.key"));
  assert_null(jpath_get(d, "$.price.x"));
  assert_null(jpath_get(d, "$.session[]"));
  assert_null(jpath_get(d, "session.key"));
  assert_null(jpath_get(NULL, "$.a"));
  /* Too small a buffer. */
  EXPECT_EQ(jpath_text(jpath_get(d, "$.session.key"), out, 3, NULL), 0);
  json_decref(d);
  /* A root array. */
  d = parse("[{\"id\":\"u-9\"}]");
  EXPECT_EQ(jpath_text(jpath_get(d, "$[].id"), out, sizeof out, NULL), 3);
  EXPECT_STR(out, "u-9");
  json_decref(d);
  size_t kl;
  const char *k = jpath_last_key("$.user.name", &kl);
  EXPECT_EQ(kl, 4);
  EXPECT_EQ(strncmp(k, "name", kl), 0);
  k = jpath_last_key("$.tags[]", &kl);
  EXPECT_EQ(kl, 4);
  EXPECT_EQ(strncmp(k, "tags", kl), 0);
}

static void test_jpath_set(void **state) {
  (void)state;
  json_t *d = json_object();
  EXPECT_EQ(jpath_set_new(d, "$.cartId", json_integer(5)), 0);
  EXPECT_EQ(jpath_set_new(d, "$.user.name", json_string("ann")), 0);
  EXPECT_EQ(jpath_set_new(d, "$.user.address.city", json_string("Oslo")), 0);
  EXPECT_JSON(d, "{\"cartId\":5,\"user\":{\"name\":\"ann\",\"address\":"
                 "{\"city\":\"Oslo\"}}}");
  /* Replacing keeps the order. */
  EXPECT_EQ(jpath_set_new(d, "$.cartId", json_string("c-7")), 0);
  EXPECT_JSON(d, "{\"cartId\":\"c-7\",\"user\":{\"name\":\"ann\",\"address\":"
                 "{\"city\":\"Oslo\"}}}");
  json_decref(d);
  /* Arrays: into every element, or a new one-element array. */
  d = parse("{\"items\":[{\"id\":1,\"q\":2},{\"id\":2}]}");
  EXPECT_EQ(jpath_set_new(d, "$.items[].id", json_integer(9)), 0);
  EXPECT_JSON(d, "{\"items\":[{\"id\":9,\"q\":2},{\"id\":9}]}");
  EXPECT_EQ(jpath_set_new(d, "$.lines[].sku", json_string("x")), 0);
  EXPECT_JSON(d, "{\"items\":[{\"id\":9,\"q\":2},{\"id\":9}],"
                 "\"lines\":[{\"sku\":\"x\"}]}");
  EXPECT_EQ(jpath_set_new(d, "$.tags[]", json_string("t")), 0);
  EXPECT_EQ(jpath_set_new(d, "$.m[][]", json_integer(1)), 0);
  EXPECT_JSON(d, "{\"items\":[{\"id\":9,\"q\":2},{\"id\":9}],"
                 "\"lines\":[{\"sku\":\"x\"}],\"tags\":[\"t\"],\"m\":[[1]]}");
  /* A null on the way becomes what the path needs. */
  json_object_set_new(d, "n", json_null());
  EXPECT_EQ(jpath_set_new(d, "$.n.a", json_true()), 0);
  /* Refused: another kind on the way, malformed paths, the root. */
  EXPECT_EQ(jpath_set_new(d, "$.tags.x", json_integer(1)), ERR_PARSE);
  EXPECT_EQ(jpath_set_new(d, "$.n[]", json_integer(1)), ERR_PARSE);
  EXPECT_EQ(jpath_set_new(d, "$", json_integer(1)), ERR_PARSE);
  EXPECT_EQ(jpath_set_new(d, "$..a", json_integer(1)), ERR_PARSE);
  EXPECT_EQ(jpath_set_new(d, "$[x]", json_integer(1)), ERR_PARSE);
  EXPECT_EQ(jpath_set_new(d, "a.b", json_integer(1)), ERR_PARSE);
  EXPECT_JSON(d, "{\"items\":[{\"id\":9,\"q\":2},{\"id\":9}],"
                 "\"lines\":[{\"sku\":\"x\"}],\"tags\":[\"t\"],\"m\":[[1]],"
                 "\"n\":{\"a\":true}}");
  json_decref(d);
  /* A root array gets the value in its elements. */
  d = json_array();
  EXPECT_EQ(jpath_set_new(d, "$[].id", json_integer(3)), 0);
  EXPECT_JSON(d, "[{\"id\":3}]");
  json_decref(d);
}

/* ---- a model in memory ---- */

static uint32_t add_ep(struct model *m, const char *method, const char *templ,
                       uint64_t count) {
  struct model_endpoint *e = model_push(m, endpoints);
  assert_non_null(e);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = count;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  return (uint32_t)(m->nendpoints - 1);
}

static void add_correl(struct model *m, uint32_t src, const char *sloc,
                       const char *sname, uint32_t dst, const char *dloc,
                       const char *dname, uint64_t count) {
  struct model_correl *c = model_push(m, correls);
  assert_non_null(c);
  c->src_endpoint = src;
  c->dst_endpoint = dst;
  c->src_loc = strdup(sloc);
  c->src_name = strdup(sname);
  c->dst_loc = strdup(dloc);
  c->dst_name = strdup(dname);
  c->count = count;
}

static void add_header(struct model *m, uint32_t ep, const char *name,
                       const char *value) {
  struct model_header *h = model_push(m, headers);
  assert_non_null(h);
  h->endpoint = ep;
  snprintf(h->dir, sizeof h->dir, "request");
  h->name = strdup(name);
  h->value = strdup(value);
  h->count = 10;
}

static void add_body(struct model *m, uint32_t ep) {
  struct model_body *b = model_push(m, bodies);
  assert_non_null(b);
  b->endpoint = ep;
  snprintf(b->dir, sizeof b->dir, "request");
  b->bodies = 10;
}

/* values: NULL-terminated "value", count pairs as "value:count". */
static void add_field(struct model *m, uint32_t ep, const char *path,
                      const char *type, double presence, const char *vals) {
  struct model_field *f = model_push(m, fields);
  assert_non_null(f);
  f->endpoint = ep;
  snprintf(f->dir, sizeof f->dir, "request");
  f->path = strdup(path);
  f->type = strdup(type);
  f->presence = presence;
  for (const char *p = vals; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    const char *colon = memchr(p, ':', n);
    assert_non_null(colon);
    f->values = realloc(f->values, (f->nvalues + 1) * sizeof *f->values);
    f->values[f->nvalues].value = strndup(p, (size_t)(colon - p));
    f->values[f->nvalues].count = strtoull(colon + 1, NULL, 10);
    f->nvalues++;
    p = bar ? bar + 1 : p + n;
  }
}

static void add_tr(struct model *m, int32_t from, int32_t to) {
  struct model_transition *t = model_push(m, transitions);
  assert_non_null(t);
  t->from = from;
  t->to = to;
  t->count = 1;
  hist_init(&t->think.h);
}

enum { E_ACCESS, E_CART, E_LINE, E_GETCART, E_DELCART, E_ME, E_NOISE };

/* A shop learned from packets: a login (POST /api/access) whose answer's
 * $.session.key is the bearer token afterwards, carts whose id feeds the
 * path of later cart requests and the cartId of lines, a header and a
 * cookie rule, and a rule seen too rarely to be kept. */
static struct model *shop(void) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "POST", "/api/access", 100);
  add_ep(m, "POST", "/api/carts", 100);
  add_ep(m, "POST", "/api/lines", 100);
  add_ep(m, "GET", "/api/carts/{id}", 100);
  add_ep(m, "DELETE", "/api/carts/{id}", 100);
  add_ep(m, "GET", "/api/me", 100);
  add_ep(m, "GET", "/api/noise", 1000);
  struct model_param *p = model_push(m, params);
  p->endpoint = E_GETCART;
  snprintf(p->loc, sizeof p->loc, "path");
  p->name = strdup("id");
  p->type = strdup("int");
  p->presence = 1;
  p->values = calloc(1, sizeof *p->values);
  p->values[0].value = strdup("1");
  p->values[0].count = 1;
  p->nvalues = 1;
  for (uint32_t e = E_CART; e <= E_ME; e++)
    add_correl(m, E_ACCESS, "json", "$.session.key", e, "header",
               "authorization", 90);
  add_correl(m, E_CART, "json", "$.id", E_LINE, "json", "$.cartId", 80);
  add_correl(m, E_CART, "json", "$.id", E_GETCART, "path", "segment:3", 70);
  add_correl(m, E_CART, "json", "$.id", E_DELCART, "path", "segment:3", 60);
  add_correl(m, E_CART, "location", "segment:3", E_ME, "query", "cart", 50);
  add_correl(m, E_ACCESS, "cookie", "sid", E_ME, "cookie", "sid", 50);
  add_correl(m, E_ACCESS, "header", "x-csrf", E_LINE, "header", "x-csrf", 50);
  /* 1 in 1000: a coincidence. */
  add_correl(m, E_CART, "json", "$.id", E_NOISE, "query", "page", 1);
  /* Places replay does not know. */
  add_correl(m, E_CART, "query", "x", E_LINE, "json", "$.q", 50);
  add_correl(m, E_CART, "json", "$.id", E_LINE, "header", "content-length", 50);
  add_header(m, E_CART, "authorization", "Token");
  add_header(m, E_LINE, "content-type", "application/json");
  add_header(m, E_ACCESS, "content-type", "application/json");
  add_body(m, E_ACCESS);
  add_field(m, E_ACCESS, "$", "object", 1, NULL);
  add_field(m, E_ACCESS, "$.login", "string", 1, "alice:3|bob:1");
  add_field(m, E_ACCESS, "$.password", "string", 1, "xxxxxxxx:4");
  add_body(m, E_LINE);
  add_field(m, E_LINE, "$", "object", 1, NULL);
  add_field(m, E_LINE, "$.cartId", "integer", 1, "1:5");
  add_field(m, E_LINE, "$.qty", "integer", 1, "2:5");
  add_tr(m, MODEL_START, E_ACCESS);
  add_tr(m, E_ACCESS, E_CART);
  add_tr(m, E_CART, E_LINE);
  add_tr(m, E_LINE, MODEL_END);
  return m;
}

/* ---- rules ---- */

static void test_rules_compile(void **state) {
  (void)state;
  struct model *m = shop();
  struct rules *r;
  assert_int_equal(rules_new(m, &r), 0);
  /* 5 + 3 + 1 + 1 + 1 kept; the rare one and the unknown places not. */
  EXPECT_EQ(rules_count(r), 11);
  /* $.session.key, cart $.id, cart location segment:3, sid, x-csrf. */
  EXPECT_EQ(rules_nvars(r), 5);
  const char *const *names;
  size_t nn;
  EXPECT_EQ(rules_capture(r, E_ACCESS, &names, &nn),
            ENGINE_CAP_BODY | ENGINE_CAP_HEADERS);
  EXPECT_EQ(nn, 1);
  EXPECT_STR(names[0], "x-csrf");
  EXPECT_EQ(rules_capture(r, E_CART, &names, &nn),
            ENGINE_CAP_BODY | ENGINE_CAP_HEADERS);
  EXPECT_EQ(nn, 0);
  EXPECT_EQ(rules_capture(r, E_LINE, NULL, NULL), 0);
  EXPECT_EQ(rules_capture(r, E_NOISE, NULL, NULL), 0);
  size_t n;
  const struct rules_put *p = rules_puts(r, E_CART, &n);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(p[0].loc, RL_HEADER);
  EXPECT_STR(p[0].name, "authorization");
  EXPECT_STR(p[0].scheme, "Token");
  p = rules_puts(r, E_ME, &n);
  EXPECT_EQ(n, 3);
  EXPECT_STR(p[0].scheme, "Bearer");
  p = rules_puts(r, E_GETCART, &n);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(p[1].loc, RL_PATH);
  EXPECT_EQ(p[1].seg, 3);
  assert_null(rules_puts(r, E_NOISE, &n));
  EXPECT_EQ(n, 0);
  assert_null(rules_puts(r, E_ACCESS, &n));
  rules_free(r);
  model_free(m);
  /* A model without rules. */
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "GET", "/", 1);
  assert_int_equal(rules_new(m, &r), 0);
  EXPECT_EQ(rules_count(r), 0);
  EXPECT_EQ(rules_capture(r, 0, NULL, NULL), 0);
  rules_free(r);
  model_free(m);
}

static void test_rules_take(void **state) {
  (void)state;
  struct model *m = shop();
  struct rules *r;
  assert_int_equal(rules_new(m, &r), 0);
  struct vstate *v;
  assert_int_equal(vstate_new(0, rules_nvars(r), &v), 0);
  const char login[] = "{\"session\":{\"key\":\"k-alice-1\"}}";
  struct engine_result res = {.status = 200,
                              .body = login,
                              .body_len = sizeof login - 1,
                              .set_cookie = "sid=s1; Path=/; HttpOnly\n",
                              .headers = "x-csrf: c-123\n"};
  EXPECT_EQ(rules_take(r, E_ACCESS, &res, v), 3);
  size_t n;
  const struct rules_put *p = rules_puts(r, E_ME, &n);
  unsigned flags;
  EXPECT_STR(rules_value(&p[0], v, &flags), "k-alice-1");
  EXPECT_EQ(flags, VSTATE_STICKY);
  /* An answer that failed gives nothing. */
  const char other[] = "{\"session\":{\"key\":\"k-bad\"}}";
  struct engine_result bad = {
      .status = 401, .body = other, .body_len = sizeof other - 1};
  EXPECT_EQ(rules_take(r, E_ACCESS, &bad, v), 0);
  bad.status = 200;
  bad.body_truncated = 1;
  EXPECT_EQ(rules_take(r, E_ACCESS, &bad, v), 0);
  EXPECT_STR(rules_value(&p[0], v, NULL), "k-alice-1");
  /* The cart: its JSON id (a number) and its Location. */
  const char cart[] = "{\"id\":42,\"items\":[]}";
  struct engine_result cr = {.status = 201,
                             .body = cart,
                             .body_len = sizeof cart - 1,
                             .location = "http://h/api/carts/42"};
  EXPECT_EQ(rules_take(r, E_CART, &cr, v), 2);
  p = rules_puts(r, E_LINE, &n);
  EXPECT_EQ(n, 3);
  for (size_t i = 0; i < n; i++)
    if (p[i].loc == RL_JSON) {
      EXPECT_STR(rules_value(&p[i], v, &flags), "42");
      EXPECT_EQ(flags, VSTATE_NUMERIC);
    }
  /* A new session forgets ids, keeps credentials. */
  vstate_session_reset(v);
  for (size_t i = 0; i < n; i++)
    if (p[i].loc == RL_JSON) assert_null(rules_value(&p[i], v, NULL));
  p = rules_puts(r, E_ME, &n);
  EXPECT_STR(rules_value(&p[0], v, NULL), "k-alice-1");
  vstate_free(v);
  rules_free(r);
  model_free(m);
}

static void test_rules_newest(void **state) {
  (void)state;
  /* Two answers feed the same place: the one set last wins, whatever
   * the counts say (the capture, too, credits the newest answer). */
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "POST", "/items", 10);
  add_ep(m, "GET", "/items/{id}", 10);
  add_ep(m, "PATCH", "/items/{id}", 10);
  add_correl(m, 0, "json", "$.id", 2, "path", "segment:2", 9);
  add_correl(m, 1, "json", "$.id", 2, "path", "segment:2", 3);
  struct rules *r;
  assert_int_equal(rules_new(m, &r), 0);
  size_t n;
  const struct rules_put *p = rules_puts(r, 2, &n);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(p[0].nvars, 2);
  struct vstate *v;
  assert_int_equal(vstate_new(0, rules_nvars(r), &v), 0);
  assert_null(rules_value(&p[0], v, NULL));
  struct engine_result a = {.status = 201, .body = "{\"id\":1}", .body_len = 8};
  struct engine_result b = {.status = 200, .body = "{\"id\":2}", .body_len = 8};
  rules_take(r, 0, &a, v);
  EXPECT_STR(rules_value(&p[0], v, NULL), "1");
  rules_take(r, 1, &b, v);
  EXPECT_STR(rules_value(&p[0], v, NULL), "2");
  rules_take(r, 0, &a, v);
  EXPECT_STR(rules_value(&p[0], v, NULL), "1");
  /* 1 deleted: the older value comes up again. */
  EXPECT_EQ(vstate_drop_value(v, "1", 1), 1);
  EXPECT_STR(rules_value(&p[0], v, NULL), "2");
  EXPECT_EQ(vstate_drop_value(v, "2", 1), 1);
  assert_null(rules_value(&p[0], v, NULL));
  vstate_free(v);
  rules_free(r);
  model_free(m);
}

static void test_vstate_values(void **state) {
  (void)state;
  struct vstate *v;
  assert_int_equal(vstate_new(0, 2, &v), 0);
  EXPECT_EQ(vstate_set_value(v, 2, "x", 1, 0), ERR_LIMIT);
  EXPECT_EQ(vstate_set_value(v, 0, "", 0, 0), ERR_LIMIT);
  char big[VSTATE_VALUE_MAX + 1];
  memset(big, 'a', sizeof big);
  EXPECT_EQ(vstate_set_value(v, 0, big, sizeof big, 0), ERR_LIMIT);
  /* At most VSTATE_VALS per variable, the oldest go. */
  char val[8];
  for (int i = 0; i < VSTATE_VALS + 2; i++) {
    snprintf(val, sizeof val, "v%d", i);
    EXPECT_EQ(vstate_set_value(v, 0, val, strlen(val), 0), 0);
  }
  uint32_t seq;
  EXPECT_STR(vstate_value(v, 0, &seq, NULL), "v5");
  EXPECT_EQ(seq, VSTATE_VALS + 2);
  for (int i = VSTATE_VALS + 1; i >= 2; i--) {
    snprintf(val, sizeof val, "v%d", i);
    EXPECT_STR(vstate_value(v, 0, NULL, NULL), val);
    EXPECT_EQ(vstate_drop_value(v, val, strlen(val)), 1);
  }
  assert_null(vstate_value(v, 0, NULL, NULL));
  EXPECT_EQ(vstate_drop_value(v, "v0", 2), 0);
  /* Setting a value again moves it up, without a duplicate. */
  vstate_set_value(v, 1, "a", 1, VSTATE_STICKY);
  vstate_set_value(v, 1, "b", 1, VSTATE_STICKY);
  vstate_set_value(v, 1, "a", 1, VSTATE_STICKY);
  EXPECT_STR(vstate_value(v, 1, NULL, NULL), "a");
  EXPECT_EQ(vstate_drop_value(v, "a", 1), 1);
  EXPECT_STR(vstate_value(v, 1, NULL, NULL), "b");
  vstate_set_value(v, 0, "id", 2, 0);
  vstate_session_reset(v);
  assert_null(vstate_value(v, 0, NULL, NULL));
  EXPECT_STR(vstate_value(v, 1, NULL, NULL), "b");
  vstate_free(v);
}

static void test_rules_places(void **state) {
  (void)state;
  char t[256];
  /* Path segments. */
  snprintf(t, sizeof t, "/api/carts/1?x=1");
  EXPECT_EQ(rules_set_segment(t, sizeof t, 3, "42"), 17);
  EXPECT_STR(t, "/api/carts/42?x=1");
  EXPECT_EQ(rules_set_segment(t, sizeof t, 3, "a b/c"), 24);
  EXPECT_STR(t, "/api/carts/a%20b%2Fc?x=1");
  EXPECT_EQ(rules_set_segment(t, sizeof t, 1, "v2"), 23);
  EXPECT_STR(t, "/v2/carts/a%20b%2Fc?x=1");
  EXPECT_EQ(rules_set_segment(t, sizeof t, 4, "x"), 0);
  EXPECT_EQ(rules_set_segment(t, sizeof t, 0, "x"), 0);
  EXPECT_EQ(rules_set_segment(t, 12, 3, "long-value"), 0);
  EXPECT_STR(t, "/v2/carts/a%20b%2Fc?x=1");
  /* Query parameters: replaced, given a value, appended. */
  snprintf(t, sizeof t, "/a?cart=1&page=2");
  EXPECT_EQ(rules_set_query(t, sizeof t, "cart", "99"), 17);
  EXPECT_STR(t, "/a?cart=99&page=2");
  EXPECT_EQ(rules_set_query(t, sizeof t, "page", "x&y"), 21);
  EXPECT_STR(t, "/a?cart=99&page=x%26y");
  EXPECT_EQ(rules_set_query(t, sizeof t, "new", "v w"), 31);
  EXPECT_STR(t, "/a?cart=99&page=x%26y&new=v%20w");
  snprintf(t, sizeof t, "/a?flag&b=1");
  EXPECT_EQ(rules_set_query(t, sizeof t, "flag", "on"), 14);
  EXPECT_STR(t, "/a?flag=on&b=1");
  snprintf(t, sizeof t, "/a");
  EXPECT_EQ(rules_set_query(t, sizeof t, "id", "7"), 7);
  EXPECT_STR(t, "/a?id=7");
  snprintf(t, sizeof t, "/a?");
  EXPECT_EQ(rules_set_query(t, sizeof t, "id", "7"), 7);
  EXPECT_STR(t, "/a?id=7");
  EXPECT_EQ(rules_set_query(t, 9, "more", "1"), 0);
  EXPECT_STR(t, "/a?id=7");
  /* Cookies. */
  char c[64];
  EXPECT_EQ(rules_set_cookie(c, sizeof c, NULL, "sid", "s1"), 6);
  EXPECT_STR(c, "sid=s1");
  EXPECT_EQ(rules_set_cookie(c, sizeof c, "a=1; sid=old; b=2", "sid", "s2"),
            16);
  EXPECT_STR(c, "a=1; sid=s2; b=2");
  EXPECT_EQ(rules_set_cookie(c, sizeof c, "a=1", "sid", "s3"), 11);
  EXPECT_STR(c, "a=1; sid=s3");
  EXPECT_EQ(rules_set_cookie(c, sizeof c, "a=1", "sid", "x;y"), 0);
  EXPECT_EQ(rules_set_cookie(c, 8, "a=1", "sid", "s3"), 0);
  /* Values out of answers. */
  char out[64];
  EXPECT_EQ(
      rules_cookie_value("a=1\nsid=abc; Path=/\n", "sid", out, sizeof out), 3);
  EXPECT_STR(out, "abc");
  EXPECT_EQ(rules_cookie_value("sidx=1\n", "sid", out, sizeof out), 0);
  EXPECT_EQ(rules_cookie_value("sid=; Path=/\n", "sid", out, sizeof out), 0);
  EXPECT_EQ(rules_header_value("x-a: 1\nX-Csrf:  c-9 \r\n", "x-csrf", out,
                               sizeof out),
            3);
  EXPECT_STR(out, "c-9");
  EXPECT_EQ(rules_header_value("x-csrfx: 1\n", "x-csrf", out, sizeof out), 0);
  EXPECT_EQ(rules_location_value("https://h:8/api/carts/42?x=1", "segment:3",
                                 out, sizeof out),
            2);
  EXPECT_STR(out, "42");
  EXPECT_EQ(
      rules_location_value("/api/carts/42/", "segment:3", out, sizeof out), 2);
  EXPECT_EQ(rules_location_value("/api/carts/42", "location", out, sizeof out),
            13);
  EXPECT_STR(out, "/api/carts/42");
  EXPECT_EQ(rules_location_value("/api/carts", "segment:3", out, sizeof out),
            0);
  EXPECT_EQ(rules_location_value("http://h", "segment:1", out, sizeof out), 0);
  EXPECT_EQ(rules_location_value(NULL, "location", out, sizeof out), 0);
}

/* ---- shapes ---- */

static char *build(struct shapes *s, uint32_t ep, uint64_t seed,
                   const struct shapes_ident *id, char *tag, size_t tagcap) {
  struct rng r;
  rng_seed(&r, seed);
  json_t *d = shapes_build(s, ep, &r, id, tag, tagcap);
  assert_non_null(d);
  char buf[2048];
  size_t n = shapes_dump(s, ep, d, buf, sizeof buf);
  json_decref(d);
  assert_true(n != (size_t)-1);
  return strdup(buf);
}

/* One of the texts in want (NULL-terminated); returns its index. */
static int one_of(const char *got, const char *const *want) {
  for (int i = 0; want[i]; i++)
    if (strcmp(got, want[i]) == 0) return i;
  fail_msg("unexpected body %s", got);
  return -1;
}

static void test_shapes_nested(void **state) {
  (void)state;
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "POST", "/items", 10);
  add_body(m, 0);
  add_field(m, 0, "$", "object", 1, NULL);
  add_field(m, 0, "$.title", "string", 1, "mug:1");
  add_field(m, 0, "$.price", "number", 1, "12.5:1");
  add_field(m, 0, "$.stock", "integer", 1, "7:1");
  add_field(m, 0, "$.active", "boolean", 1, "true:1");
  add_field(m, 0, "$.owner", "object", 1, NULL);
  add_field(m, 0, "$.owner.name", "string", 1, "ann:1");
  add_field(m, 0, "$.owner.address", "object", 1, NULL);
  add_field(m, 0, "$.owner.address.city", "string", 1, "Oslo:1");
  add_field(m, 0, "$.tags", "array", 1, NULL);
  add_field(m, 0, "$.tags[]", "string", 1, "red:1");
  add_field(m, 0, "$.lines", "array", 1, NULL);
  add_field(m, 0, "$.lines[]", "object", 1, NULL);
  add_field(m, 0, "$.lines[].sku", "string", 1, "A-1:1");
  add_field(m, 0, "$.lines[].qty", "integer", 1, "2:1");
  add_field(m, 0, "$.note", "string|null", 1, NULL);
  struct shapes *s;
  assert_int_equal(shapes_new(m, "sim_run1", &s), 0);
  EXPECT_EQ(shapes_count(s), 1);
  EXPECT_STR(shapes_content_type(s, 0), "application/json");
  EXPECT_EQ(shapes_is_form(s, 0), 0);
  EXPECT_EQ(shapes_credentials(s, 0), 0);
  EXPECT_EQ(shapes_field_types(s, 0, "$.lines[].qty"), SH_INTEGER);
  EXPECT_EQ(shapes_field_types(s, 0, "$.note"), SH_STRING | SH_NULL);
  EXPECT_EQ(shapes_field_types(s, 0, "$.none"), 0);
  /* Arrays have 1 to 3 elements; all else is fixed by the pools. The
   * empty pool of $.note makes a string with the run marker. */
  int seen[9] = {0};
  for (uint64_t seed = 1; seed <= 40; seed++) {
    char tag[64];
    char *got = build(s, 0, seed, NULL, tag, sizeof tag);
    const char *note = strstr(got, "\"note\":\"sim_run1_");
    assert_non_null(note);
    EXPECT_EQ(strlen(tag), strlen("sim_run1_") + 8);
    EXPECT_EQ(strncmp(note + 8, tag, strlen(tag)), 0);
    /* The note's made-up word, cut out for the comparison. */
    memmove((char *)note + 16, note + 16 + 9, strlen(note + 16 + 9) + 1);
    static const char *const want[] = {
#define HEAD                                                                   \
  "{\"title\":\"mug\",\"price\":12.5,\"stock\":7,\"active\":true,"             \
  "\"owner\":{\"name\":\"ann\",\"address\":{\"city\":\"Oslo\"}},"
#define L1 "{\"sku\":\"A-1\",\"qty\":2}"
        HEAD "\"tags\":[\"red\"],\"lines\":[" L1 "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\"],\"lines\":[" L1 "," L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\"],\"lines\":[" L1 "," L1 "," L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\"],\"lines\":[" L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\"],\"lines\":[" L1 "," L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\"],\"lines\":[" L1 "," L1 "," L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\",\"red\"],\"lines\":[" L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\",\"red\"],\"lines\":[" L1 "," L1
             "],\"note\":\"sim_run1\"}",
        HEAD "\"tags\":[\"red\",\"red\",\"red\"],\"lines\":[" L1 "," L1 "," L1
             "],\"note\":\"sim_run1\"}",
        NULL};
#undef HEAD
#undef L1
    seen[one_of(got, want)]++;
    free(got);
  }
  /* Every length was drawn. */
  int kinds = 0;
  for (int i = 0; i < 9; i++) kinds += seen[i] > 0;
  EXPECT_U64(kinds, >=, 6);
  /* The same seed, the same body. */
  char *a = build(s, 0, 7, NULL, NULL, 0), *b = build(s, 0, 7, NULL, NULL, 0);
  EXPECT_STR(a, b);
  free(a);
  free(b);
  assert_null(shapes_build(s, 1, NULL, NULL, NULL, 0));
  shapes_free(s);
  model_free(m);
}

static void test_shapes_presence_pools(void **state) {
  (void)state;
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "PATCH", "/items/{id}", 10);
  add_body(m, 0);
  add_field(m, 0, "$", "object", 1, NULL);
  add_field(m, 0, "$.price", "integer|number", 0.5, "3:1|4.25:3");
  add_field(m, 0, "$.meta", "object", 0.4, NULL);
  add_field(m, 0, "$.meta.by", "string", 0.2, "x:1");
  add_field(m, 0, "$.n", "integer", 1, "notanumber:1");
  add_field(m, 0, "$.flag", "boolean", 1, NULL);
  struct shapes *s;
  assert_int_equal(shapes_new(m, "sim_r", &s), 0);
  int price = 0, p3 = 0, meta = 0, by = 0, n = 2000;
  for (int i = 0; i < n; i++) {
    struct rng r;
    rng_seed(&r, (uint64_t)i + 1);
    json_t *d = shapes_build(s, 0, &r, NULL, NULL, 0);
    json_t *pv = json_object_get(d, "price");
    if (pv) {
      price++;
      if (json_is_integer(pv)) {
        EXPECT_EQ(json_integer_value(pv), 3);
        p3++;
      } else {
        assert_true(json_is_real(pv));
        assert_true(json_real_value(pv) == 4.25);
      }
    }
    json_t *mv = json_object_get(d, "meta");
    if (mv) {
      meta++;
      if (json_object_get(mv, "by")) by++;
    }
    /* A pool value of no allowed type: a made-up integer. */
    assert_true(json_is_integer(json_object_get(d, "n")));
    assert_true(json_is_boolean(json_object_get(d, "flag")));
    json_decref(d);
  }
  /* Presence 0.5, the pool's 1:3, meta 0.4, by inside meta 0.2/0.4. */
  EXPECT_U64(price, >, 900);
  EXPECT_U64(price, <, 1100);
  EXPECT_U64(p3 * 4, >, (uint64_t)price * 8 / 10);
  EXPECT_U64(p3 * 4, <, (uint64_t)price * 12 / 10);
  EXPECT_U64(meta, >, 700);
  EXPECT_U64(meta, <, 900);
  EXPECT_U64(by * 2, >, (uint64_t)meta * 8 / 10);
  EXPECT_U64(by * 2, <, (uint64_t)meta * 12 / 10);
  shapes_free(s);
  model_free(m);
}

static void test_shapes_form_identity(void **state) {
  (void)state;
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "POST", "/oauth/token", 10);
  add_ep(m, "POST", "/signup", 10);
  add_ep(m, "POST", "/root-array", 10);
  add_header(m, 0, "content-type", "application/x-www-form-urlencoded");
  add_body(m, 0);
  add_field(m, 0, "$.grant_type", "string", 1, "password:3");
  add_field(m, 0, "$.username", "string", 1, "fake1:3");
  add_field(m, 0, "$.password", "string", 1, "fake2:3");
  add_field(m, 0, "$.scope", "string", 1, "read write:3");
  add_body(m, 1);
  add_field(m, 1, "$", "object", 1, NULL);
  add_field(m, 1, "$.user", "object", 1, NULL);
  add_field(m, 1, "$.user.email", "string", 1, "a@b.c:1");
  add_field(m, 1, "$.user.password", "string", 1, "zzz:1");
  add_field(m, 1, "$.user.name", "string", 1, "Ann:1");
  add_body(m, 2);
  add_field(m, 2, "$", "array", 1, NULL);
  add_field(m, 2, "$[]", "integer", 1, "5:1");
  struct shapes *s;
  assert_int_equal(shapes_new(m, "sim_r", &s), 0);
  EXPECT_EQ(shapes_count(s), 3);
  EXPECT_EQ(shapes_is_form(s, 0), 1);
  EXPECT_STR(shapes_content_type(s, 0), "application/x-www-form-urlencoded");
  EXPECT_EQ(shapes_credentials(s, 0), 1);
  EXPECT_EQ(shapes_credentials(s, 1), 1);
  struct shapes_ident id = {"al ice", "al@x.invalid", "p&w=1"};
  char *got = build(s, 0, 1, &id, NULL, 0);
  EXPECT_STR(got, "grant_type=password&username=al%20ice&password=p%26w%3D1&"
                  "scope=read%20write");
  free(got);
  /* Without an identity, the pool's fakes. */
  got = build(s, 0, 1, NULL, NULL, 0);
  EXPECT_STR(got, "grant_type=password&username=fake1&password=fake2&"
                  "scope=read%20write");
  free(got);
  got = build(s, 1, 1, &id, NULL, 0);
  EXPECT_STR(got, "{\"user\":{\"email\":\"al@x.invalid\",\"password\":"
                  "\"p&w=1\",\"name\":\"Ann\"}}");
  free(got);
  got = build(s, 2, 1, NULL, NULL, 0);
  static const char *const arr[] = {"[5]", "[5,5]", "[5,5,5]", NULL};
  one_of(got, arr);
  free(got);
  shapes_free(s);
  model_free(m);
}

/* ---- the flow: rules and shapes together ---- */

static char tmpdir[512];

static const char *write_tmp(const char *name, const char *text) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  assert_int_equal(testutil_write(path, text, strlen(text)), 0);
  return path;
}

static void test_flow_learned(void **state) {
  (void)state;
  struct model *m = shop();
  struct synth *s;
  char err[256];
  assert_int_equal(synth_new(m, NULL, &s, err, sizeof err), 0);
  const char *creds = write_tmp("creds.csv", "username,password\n"
                                             "alice,secret-a\n");
  struct flow_opts o = {.target = "http://127.0.0.1:1",
                        .credentials = creds,
                        .run_id = "r1",
                        .seed = 1};
  struct flow *f;
  assert_int_equal(flow_new(m, s, &o, &f, err, sizeof err), 0);
  assert_non_null(f);
  EXPECT_EQ(flow_rules(f), 11);
  EXPECT_EQ(flow_shapes(f), 2);
  struct flow_worker *fw;
  assert_int_equal(flow_worker_new(f, &fw), 0);
  struct rng r;
  rng_seed(&r, 3);
  uint32_t vs = UINT32_MAX;
  struct flow_user u = {
      .id = 1, .session = 1, .vs = &vs, .rng = &r, .fault_rate = -1};
  assert_int_equal(flow_session_begin(fw, &u), 0);
  char target[512];
  struct engine_req req;
  struct flow_note note;

  /* The login: the identity in the learned shape, the answer captured. */
  assert_int_equal(
      flow_prepare(fw, s, &u, E_ACCESS, target, sizeof target, &req, &note), 0);
  EXPECT_STR(target, "/api/access");
  EXPECT_STR(req.body, "{\"login\":\"alice\",\"password\":\"secret-a\"}");
  EXPECT_STR(req.content_type, "application/json");
  EXPECT_EQ(req.capture, ENGINE_CAP_HEADERS | ENGINE_CAP_BODY);
  EXPECT_EQ(req.ncapture_names, 1);
  EXPECT_STR(req.capture_names[0], "x-csrf");
  EXPECT_EQ(vs, UINT32_MAX); /* no state yet */
  const char login[] = "{\"session\":{\"key\":\"k-alice-1\"}}";
  struct engine_result res = {.status = 200,
                              .body = login,
                              .body_len = sizeof login - 1,
                              .set_cookie = "sid=s1; Path=/\n",
                              .headers = "x-csrf: c-1\n"};
  EXPECT_EQ(flow_done(fw, &u, &note, target, &res), FLOW_ADVANCE);
  assert_true(vs != UINT32_MAX);

  /* A cart: the token with the learned scheme ("Token"). */
  assert_int_equal(
      flow_prepare(fw, s, &u, E_CART, target, sizeof target, &req, &note), 0);
  EXPECT_EQ(req.nheaders, 2);
  EXPECT_STR(req.headers[0], "Authorization: Token k-alice-1");
  EXPECT_STR(req.headers[1], "Cookie: sid=s1");
  assert_null(req.body); /* no shape learned for carts */
  const char cart[] = "{\"id\":42}";
  struct engine_result cr = {.status = 201,
                             .body = cart,
                             .body_len = sizeof cart - 1,
                             .location = "/api/carts/77"};
  EXPECT_EQ(flow_done(fw, &u, &note, target, &cr), FLOW_ADVANCE);

  /* A line: the cart's id in its body, as a number; the csrf header. */
  assert_int_equal(
      flow_prepare(fw, s, &u, E_LINE, target, sizeof target, &req, &note), 0);
  EXPECT_STR(req.body, "{\"cartId\":42,\"qty\":2}");
  EXPECT_EQ(req.nheaders, 3);
  EXPECT_STR(req.headers[0], "Authorization: Bearer k-alice-1");
  EXPECT_STR(req.headers[1], "x-csrf: c-1");
  EXPECT_STR(req.headers[2], "Cookie: sid=s1");
  EXPECT_EQ(req.capture, ENGINE_CAP_HEADERS);
  struct engine_result ok = {.status = 201};
  flow_done(fw, &u, &note, target, &ok);

  /* The cart read by its id: the rule's $.id, not the Location the
   * template heuristic prefers (77); /me with the Location's segment in
   * its query and the sid cookie. */
  assert_int_equal(
      flow_prepare(fw, s, &u, E_GETCART, target, sizeof target, &req, &note),
      0);
  EXPECT_STR(target, "/api/carts/42");
  assert_int_equal(
      flow_prepare(fw, s, &u, E_ME, target, sizeof target, &req, &note), 0);
  EXPECT_STR(target, "/api/me?cart=77");
  EXPECT_STR(req.headers[1], "Cookie: sid=s1");

  /* A no-auth fault carries none of the credentials. */
  struct flow_opts of = o;
  of.error_rate = 100;
  of.faults = "no-auth";
  struct flow *f2;
  assert_int_equal(flow_new(m, s, &of, &f2, err, sizeof err), 0);
  struct flow_worker *fw2;
  assert_int_equal(flow_worker_new(f2, &fw2), 0);
  uint32_t vs2 = UINT32_MAX;
  struct flow_user u2 = {
      .id = 1, .session = 1, .vs = &vs2, .rng = &r, .fault_rate = -1};
  flow_session_begin(fw2, &u2);
  flow_prepare(fw2, s, &u2, E_ACCESS, target, sizeof target, &req, &note);
  flow_done(fw2, &u2, &note, target, &res);
  flow_prepare(fw2, s, &u2, E_ME, target, sizeof target, &req, &note);
  EXPECT_EQ(req.nheaders, 0);
  flow_user_end(fw2, &u2);
  flow_worker_free(fw2);
  flow_free(f2);

  /* Deleting the cart forgets the rule's id: the heuristic's comes
   * through again. */
  assert_int_equal(
      flow_prepare(fw, s, &u, E_DELCART, target, sizeof target, &req, &note),
      0);
  EXPECT_STR(target, "/api/carts/42");
  struct engine_result gone = {.status = 200};
  flow_done(fw, &u, &note, target, &gone);
  assert_int_equal(
      flow_prepare(fw, s, &u, E_GETCART, target, sizeof target, &req, &note),
      0);
  EXPECT_STR(target, "/api/carts/77");

  /* A new session keeps the token, not the ids. */
  flow_session_end(fw, &u);
  u.session = 2;
  flow_session_begin(fw, &u);
  assert_int_equal(
      flow_prepare(fw, s, &u, E_LINE, target, sizeof target, &req, &note), 0);
  EXPECT_STR(req.body, "{\"cartId\":1,\"qty\":2}");
  EXPECT_STR(req.headers[0], "Authorization: Bearer k-alice-1");
  struct flow_counts c = {0};
  flow_counts_add(fw, &c);
  EXPECT_EQ(c.learned_taken, 5);
  EXPECT_U64(c.learned_put, >=, 10);
  EXPECT_EQ(c.shaped, 3);
  flow_user_end(fw, &u);
  EXPECT_EQ(vs, UINT32_MAX);
  flow_worker_free(fw);
  flow_free(f);
  synth_free(s);
  model_free(m);
}

static int setup(void **state) {
  (void)state;
  return testutil_tmpdir(tmpdir, sizeof tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  testutil_rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jpath_get),
      cmocka_unit_test(test_jpath_set),
      cmocka_unit_test(test_rules_compile),
      cmocka_unit_test(test_rules_take),
      cmocka_unit_test(test_rules_newest),
      cmocka_unit_test(test_vstate_values),
      cmocka_unit_test(test_rules_places),
      cmocka_unit_test(test_shapes_nested),
      cmocka_unit_test(test_shapes_presence_pools),
      cmocka_unit_test(test_shapes_form_identity),
      cmocka_unit_test(test_flow_learned),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
