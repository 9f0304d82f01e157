/* Tests of what packets add to a model: a login whose token, user id and
 * cookie come back in later requests gives correlation rules and trace
 * placeholders; headers keep the auth scheme only; JSON body shapes keep
 * fields and types; no secret (password, token, e-mail, cookie) reaches
 * the model; models without the packet tables still load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "httpflow.h"
#include "httplearn.h"
#include "learn.h"
#include "logrec.h"
#include "model.h"
#include "testutil.h"
#include "trace.h"

#define JWT                                                                    \
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI4MTI3In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6y"  \
  "JV_adQssw5c"

struct ex {
  const char *method, *target;
  const char *req_hdrs[6][2];
  const char *req_body;
  int status;
  const char *resp_hdrs[6][2];
  const char *resp_body;
};

static const struct ex EXCHANGES[] = {
    {"POST",
     "/api/login",
     {{"host", "shop.example"}, {"content-type", "application/json"}},
     "{\"user\":\"ann@example.com\",\"password\":\"hunter2\"}",
     200,
     {{"content-type", "application/json; charset=utf-8"},
      {"set-cookie", "sid=abcdef123456; Path=/; HttpOnly"}},
     "{\"access_token\":\"" JWT "\",\"user\":{\"id\":8127,\"name\":\"Ann\"}}"},
    {"GET",
     "/api/users/8127",
     {{"host", "shop.example"},
      {"authorization", "Bearer " JWT},
      {"cookie", "sid=abcdef123456; theme=dark"}},
     NULL,
     200,
     {{"content-type", "application/json"}},
     "{\"id\":8127}"},
    {"POST",
     "/api/orders",
     {{"host", "shop.example"},
      {"authorization", "Bearer " JWT},
      {"content-type", "application/json"}},
     "{\"user_id\":8127,\"item\":\"book\"}",
     201,
     {{"location", "/api/orders/55501"}},
     NULL},
    {"GET",
     "/api/orders/55501",
     {{"host", "shop.example"}, {"authorization", "Bearer " JWT}},
     NULL,
     200,
     {{"content-type", "application/json"}},
     "{\"id\":55501,\"items\":[{\"sku\":\"b-1\"},{\"sku\":\"b-2\"}]}"},
};

static size_t fill(struct http_hdr *out, const char *const (*in)[2]) {
  size_t n = 0;
  for (; n < 6 && in[n][0]; n++)
    out[n] = (struct http_hdr){in[n][0], in[n][1], strlen(in[n][0]),
                               strlen(in[n][1])};
  return n;
}

static struct model *learn_all(int record, struct httplearn **hl_out) {
  struct learn_opts lo = {.salt = {11, 22}};
  struct learn *l;
  assert_int_equal(learn_new(&lo, &l), 0);
  struct httplearn_opts ho = {.salt = {11, 22}, .record = record};
  struct httplearn *hl;
  assert_int_equal(httplearn_new(&ho, &hl), 0);
  for (size_t i = 0; i < sizeof EXCHANGES / sizeof EXCHANGES[0]; i++) {
    const struct ex *e = &EXCHANGES[i];
    struct http_hdr rq[6], rs[6];
    struct http_txn t = {0};
    t.method = e->method;
    t.method_len = strlen(e->method);
    t.target = e->target;
    t.target_len = strlen(e->target);
    t.req_hdrs = rq;
    t.nreq_hdrs = fill(rq, e->req_hdrs);
    t.resp_hdrs = rs;
    t.nresp_hdrs = fill(rs, e->resp_hdrs);
    if (e->req_body) {
      t.req_body = (const uint8_t *)e->req_body;
      t.req_body_len = strlen(e->req_body);
    }
    if (e->resp_body) {
      t.resp_body = (const uint8_t *)e->resp_body;
      t.resp_body_len = strlen(e->resp_body);
    }
    t.status = e->status;
    t.t_req_first = 1700000000000000LL + (int64_t)i * 1000000;
    struct logrec r;
    logrec_clear(&r);
    r.ts_us = t.t_req_first;
    r.method.p = e->method;
    r.method.len = t.method_len;
    assert_int_equal(logrec_set_target(&r, e->target, t.target_len), 0);
    r.status = e->status;
    uint32_t ep;
    assert_int_equal(learn_request(l, &r, &ep), 0);
    assert_int_equal(httplearn_add(hl, &t, ep, 42, r.path.p, r.path.len,
                                   r.query.p, r.query.len),
                     0);
  }
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  assert_int_equal(learn_finish(l, m), 0);
  assert_int_equal(httplearn_finish(hl, l, m), 0);
  learn_free(l);
  *hl_out = hl;
  return m;
}

static int has_rule(const struct model *m, const char *src_loc,
                    const char *src_name, const char *dst_loc,
                    const char *dst_name) {
  for (size_t i = 0; i < m->ncorrels; i++) {
    const struct model_correl *c = &m->correls[i];
    if (!strcmp(c->src_loc, src_loc) && !strcmp(c->src_name, src_name) &&
        !strcmp(c->dst_loc, dst_loc) && !strcmp(c->dst_name, dst_name))
      return 1;
  }
  return 0;
}

static void no_secret(const char *s) {
  if (!s) return;
  const char *bad[] = {"hunter2", "ann@example.com", "abcdef123456",
                       "SflKxwRJSMeKKF2QT4fw"};
  for (size_t i = 0; i < 4; i++)
    if (strstr(s, bad[i])) fail_msg("secret %s in \"%s\"", bad[i], s);
}

static void test_correlations_and_privacy(void **state) {
  (void)state;
  struct httplearn *hl;
  struct model *m = learn_all(1, &hl);
  assert_true(has_rule(m, "json", "$.access_token", "header", "authorization"));
  assert_true(has_rule(m, "json", "$.user.id", "path", "segment:3"));
  /* The latest response that gave 8127 is GET /api/users/8127's. */
  assert_true(has_rule(m, "json", "$.id", "json", "$.user_id"));
  assert_true(has_rule(m, "cookie", "sid", "cookie", "sid"));
  assert_true(has_rule(m, "location", "segment:3", "path", "segment:3"));
  /* The auth scheme is kept, never the credential; cookies by name. */
  int scheme = 0, cookie = 0;
  for (size_t i = 0; i < m->nheaders; i++) {
    const struct model_header *h = &m->headers[i];
    no_secret(h->value);
    if (!strcmp(h->name, "authorization") && !strcmp(h->value, "Bearer"))
      scheme = 1;
    if (!strcmp(h->name, "cookie") && !strcmp(h->value, "sid")) cookie = 1;
  }
  assert_true(scheme);
  assert_true(cookie);
  /* Body shapes: fields with types, secrets as fakes. */
  int pw = 0, items = 0;
  for (size_t i = 0; i < m->nfields; i++) {
    const struct model_field *f = &m->fields[i];
    for (size_t j = 0; j < f->nvalues; j++) no_secret(f->values[j].value);
    if (!strcmp(f->path, "$.password")) {
      pw = 1;
      assert_true(f->redacted);
      EXPECT_STR(f->type, "string");
      EXPECT_STR(f->dir, "request");
    }
    if (!strcmp(f->path, "$.items[].sku")) items = 1;
  }
  assert_true(pw);
  assert_true(items);
  EXPECT_STR(m->endpoints[0].host, "shop.example");
  /* The trace: four lines, secrets out, placeholders in. */
  assert_int_equal(m->ntraces, 1);
  struct trace_chunk c = {m->traces[0].data, m->traces[0].len,
                          m->traces[0].requests, m->traces[0].raw_bytes};
  struct trace_reader *r;
  assert_int_equal(trace_reader_new(&c, 1, &r), 0);
  const char *line;
  size_t len;
  int n = 0;
  while (trace_reader_next(r, &line, &len) == 1) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s", (int)len, line);
    no_secret(buf);
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    EXPECT_EQ(json_integer_value(json_object_get(j, "i")), n);
    if (n == 1) {
      /* Bearer {{c1}} from the login's access_token. */
      assert_non_null(strstr(buf, "Bearer {{c"));
      assert_non_null(strstr(buf, "\"name\":\"$.access_token\""));
      EXPECT_STR(json_string_value(json_object_get(j, "u")),
                 "/api/users/{{c1}}");
    }
    if (n == 3) {
      EXPECT_STR(json_string_value(json_object_get(j, "u")),
                 "/api/orders/{{c1}}");
      assert_non_null(strstr(buf, "\"loc\":\"location\""));
    }
    json_decref(j);
    n++;
  }
  EXPECT_EQ(n, 4);
  trace_reader_free(r);
  httplearn_free(hl);
  model_free(m);
}

static void test_save_load(void **state) {
  (void)state;
  char dir[512], path[600], err[512];
  assert_non_null(testutil_tmpdir(dir, sizeof dir));
  snprintf(path, sizeof path, "%s/m.db", dir);
  struct httplearn *hl;
  struct model *m = learn_all(1, &hl);
  assert_int_equal(model_meta_set_i64(m, "schema_version", 1), 0);
  assert_int_equal(model_save(m, path, 0, err, sizeof err), 0);
  struct model *back;
  assert_int_equal(model_load(path, &back, err, sizeof err), 0);
  EXPECT_EQ(back->nheaders, m->nheaders);
  EXPECT_EQ(back->nfields, m->nfields);
  EXPECT_EQ(back->ncorrels, m->ncorrels);
  EXPECT_EQ(back->ntraces, 1);
  EXPECT_EQ(back->traces[0].len, m->traces[0].len);
  assert_memory_equal(back->traces[0].data, m->traces[0].data,
                      m->traces[0].len);
  model_free(back);
  /* A model written before the packet tables existed still loads. */
  char cmd[2000];
  snprintf(cmd, sizeof cmd,
           "sqlite3 '%s' 'DROP TABLE endpoint_header; DROP TABLE body_value;"
           " DROP TABLE body_field; DROP TABLE body_shape; DROP TABLE "
           "correlation; DROP TABLE trace_chunk' 2>/dev/null",
           path);
  if (system(cmd) == 0) {
    assert_int_equal(model_load(path, &back, err, sizeof err), 0);
    EXPECT_EQ(back->nheaders, 0);
    EXPECT_EQ(back->ntraces, 0);
    assert_true(back->nendpoints > 0);
    model_free(back);
  }
  httplearn_free(hl);
  model_free(m);
  testutil_rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_correlations_and_privacy),
      cmocka_unit_test(test_save_load),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
