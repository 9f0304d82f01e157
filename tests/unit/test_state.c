/* Tests of the stateful-session modules: correlation rules from a model
 * (creates, uses, deletes, nested collections), ids and tokens out of
 * answers, the per-user state (cookie jar, ids), body templates
 * (placeholders, typing, escaping, the run marker, invalid bodies),
 * credentials and login detection, the journal (intent, confirm, cleanup
 * order, marks, reopening), and bound values in request targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <jansson.h>

#include "auth.h"
#include "bodies.h"
#include "correl.h"
#include "err.h"
#include "journal.h"
#include "model.h"
#include "rng.h"
#include "synth.h"
#include "vstate.h"

/* ---- a model in memory ---- */

static uint32_t add_ep(struct model *m, const char *method, const char *templ) {
  struct model_endpoint *e = model_push(m, endpoints);
  assert_non_null(e);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = 1;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  return (uint32_t)(m->nendpoints - 1);
}

static void add_param(struct model *m, uint32_t ep, uint32_t pos,
                      const char *name, const char *value) {
  struct model_param *p = model_push(m, params);
  assert_non_null(p);
  p->endpoint = ep;
  snprintf(p->loc, sizeof p->loc, "path");
  p->position = pos;
  p->name = strdup(name);
  p->type = strdup("int");
  p->presence = 1;
  p->values = calloc(1, sizeof *p->values);
  p->values[0].value = strdup(value);
  p->values[0].count = 1;
  p->nvalues = 1;
}

static void add_tr(struct model *m, int32_t from, int32_t to) {
  struct model_transition *t = model_push(m, transitions);
  assert_non_null(t);
  t->from = from;
  t->to = to;
  t->count = 1;
  hist_init(&t->think.h);
}

enum {
  E_LIST,
  E_CREATE,
  E_GET,
  E_PUT,
  E_DEL,
  E_CCREATE,
  E_CGET,
  E_CDEL,
  E_LOGIN,
  E_OTHER,
  E_SIGNUP,
};

/* A blog: posts, comments nested under posts, a login, a sign-up. */
static struct model *blog(void) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  add_ep(m, "GET", "/api/posts");
  add_ep(m, "POST", "/api/posts");
  add_ep(m, "GET", "/api/posts/{id}");
  add_ep(m, "PUT", "/api/posts/{id}");
  add_ep(m, "DELETE", "/api/posts/{id}");
  add_ep(m, "POST", "/api/posts/{id}/comments");
  add_ep(m, "GET", "/api/posts/{id}/comments/{cid}");
  add_ep(m, "DELETE", "/api/posts/{id}/comments/{cid}");
  add_ep(m, "POST", "/api/v1/auth/login");
  add_ep(m, "GET", "/api/other/{x}");
  add_ep(m, "POST", "/api/users");
  add_param(m, E_GET, 0, "id", "1001");
  add_param(m, E_PUT, 0, "id", "1001");
  add_param(m, E_DEL, 0, "id", "1001");
  add_param(m, E_CCREATE, 0, "id", "1001");
  add_param(m, E_CGET, 0, "id", "1001");
  add_param(m, E_CGET, 1, "cid", "77");
  add_param(m, E_CDEL, 0, "id", "1001");
  add_param(m, E_CDEL, 1, "cid", "77");
  add_param(m, E_OTHER, 0, "x", "5");
  add_tr(m, MODEL_START, E_LIST);
  add_tr(m, E_LIST, MODEL_END);
  return m;
}

/* ---- correl ---- */

static void test_correl_rules(void **state) {
  (void)state;
  struct model *m = blog();
  struct correl *c;
  assert_int_equal(correl_new(m, &c), 0);
  EXPECT_EQ(correl_slots(c), 2);
  int32_t posts = correl_creates(c, E_CREATE);
  int32_t comments = correl_creates(c, E_CCREATE);
  EXPECT_U64(posts, <, 2);
  EXPECT_U64(comments, <, 2);
  EXPECT_EQ(posts != comments, 1);
  EXPECT_STR(correl_slot_template(c, (uint32_t)posts), "/api/posts");
  EXPECT_STR(correl_slot_name(c, (uint32_t)posts), "posts");
  EXPECT_STR(correl_slot_template(c, (uint32_t)comments),
             "/api/posts/{id}/comments");
  EXPECT_STR(correl_slot_name(c, (uint32_t)comments), "comments");
  EXPECT_EQ(correl_slot_by_name(c, "comments", 8), comments);
  EXPECT_EQ(correl_slot_by_name(c, "nope", 4), -1);
  /* Not creates: a login (no children), a sign-up without children, GETs. */
  EXPECT_EQ(correl_creates(c, E_LOGIN), -1);
  EXPECT_EQ(correl_creates(c, E_SIGNUP), -1);
  EXPECT_EQ(correl_creates(c, E_GET), -1);
  /* Uses: {id} of posts everywhere, {cid} of comments. */
  size_t n;
  const struct correl_use *u = correl_uses(c, E_CGET, &n);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(u[0].index, 0);
  EXPECT_EQ(u[0].slot, posts);
  EXPECT_EQ(u[1].index, 1);
  EXPECT_EQ(u[1].slot, comments);
  EXPECT_EQ(correl_nparams(c, E_CGET), 2);
  EXPECT_EQ(correl_last_param(c, E_CGET), 1);
  u = correl_uses(c, E_CCREATE, &n);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(u[0].slot, posts);
  correl_uses(c, E_OTHER, &n);
  EXPECT_EQ(n, 0); /* /api/other has no create */
  EXPECT_EQ(correl_nparams(c, E_OTHER), 1);
  EXPECT_EQ(correl_nparams(c, E_LIST), 0);
  EXPECT_EQ(correl_last_param(c, E_LIST), -1);
  /* Deletes end on their collection's parameter. */
  uint32_t idx = 9;
  EXPECT_EQ(correl_deletes(c, E_DEL, &idx), posts);
  EXPECT_EQ(idx, 0);
  EXPECT_EQ(correl_deletes(c, E_CDEL, &idx), comments);
  EXPECT_EQ(idx, 1);
  EXPECT_EQ(correl_deletes(c, E_PUT, &idx), -1);
  correl_free(c);
  model_free(m);
}

static void test_correl_ids(void **state) {
  (void)state;
  char id[64];
  EXPECT_EQ(correl_location_id("http://h:8/api/posts/42", id, sizeof id), 2);
  EXPECT_STR(id, "42");
  EXPECT_EQ(correl_location_id("/api/posts/abc-1/?x=1#f", id, sizeof id), 5);
  EXPECT_STR(id, "abc-1");
  EXPECT_EQ(correl_location_id("http://host", id, sizeof id), 0);
  EXPECT_EQ(correl_location_id("", id, sizeof id), 0);
  /* Location first, then the JSON body. */
  static const char body[] = "{\"name\": \"x\", \"id\": 7}";
  EXPECT_EQ(correl_response_id("/p/9", body, strlen(body), id, sizeof id), 1);
  EXPECT_STR(id, "9");
  EXPECT_EQ(correl_response_id(NULL, body, strlen(body), id, sizeof id), 1);
  EXPECT_STR(id, "7");
  static const char *const bodies[][2] = {
      {"{\"uuid\": \"3f2a-9\"}", "3f2a-9"},
      {"{\"_id\": \"abc\"}", "abc"},
      {"{\"data\": {\"id\": 12}}", "12"},
      {"{\"result\": {\"Id\": \"z9\"}}", "z9"},
      {"{\"id\": \"has space\", \"uuid\": \"u1\"}", "u1"},
      {"{\"id\": [1], \"uuid\": \"u2\"}", "u2"},
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    size_t n = correl_response_id(NULL, bodies[i][0], strlen(bodies[i][0]), id,
                                  sizeof id);
    if (!n || strcmp(id, bodies[i][1]) != 0)
      fail_msg("%s: got '%s'", bodies[i][0], n ? id : "");
  }
  static const char *const none[] = {"[1, 2]", "{\"id\": \"a/b\"}", "{bad",
                                     "{\"id\": null}", "\"7\""};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
    if (correl_response_id(NULL, none[i], strlen(none[i]), id, sizeof id))
      fail_msg("%s: got an id '%s'", none[i], id);
  /* Longer than the room: none rather than a cut id. */
  EXPECT_EQ(correl_location_id("/p/123456789", id, 5), 0);
}

/* ---- vstate ---- */

static void test_vstate_cookies(void **state) {
  (void)state;
  struct vstate *v;
  assert_int_equal(vstate_new(2, 0, &v), 0);
  EXPECT_EQ(vstate_cookies(v) == NULL, 1);
  EXPECT_EQ(vstate_take_cookies(v, "sid=abc; Path=/; HttpOnly\ntheme=dark\n"),
            2);
  EXPECT_STR(vstate_cookies(v), "sid=abc; theme=dark");
  /* Unchanged, replaced, removed by Max-Age=0 and by an empty value. */
  EXPECT_EQ(vstate_take_cookies(v, "sid=abc; Path=/\n"), 0);
  EXPECT_EQ(vstate_take_cookies(v, "sid=new; Secure\n"), 1);
  EXPECT_STR(vstate_cookies(v), "theme=dark; sid=new");
  EXPECT_EQ(vstate_take_cookies(v, "theme=x; Max-Age=0\n"), 1);
  EXPECT_STR(vstate_cookies(v), "sid=new");
  EXPECT_EQ(vstate_take_cookies(v, "sid=; Path=/\n"), 1);
  EXPECT_EQ(vstate_cookies(v) == NULL, 1);
  /* Garbage is ignored; a name with '=' in its value is kept whole. */
  EXPECT_EQ(vstate_take_cookies(v, "noequals\n=novalue\n\na=b=c; x\n"), 1);
  EXPECT_STR(vstate_cookies(v), "a=b=c");
  /* Bounded: a cookie that would overflow the jar is dropped. */
  char big[VSTATE_JAR_MAX];
  memset(big, 'x', sizeof big - 1);
  big[0] = 'k';
  big[1] = '=';
  big[sizeof big - 1] = '\0';
  EXPECT_EQ(vstate_take_cookies(v, big), 0);
  EXPECT_STR(vstate_cookies(v), "a=b=c");
  /* Tokens. */
  EXPECT_EQ(vstate_set_token(v, "t1", 2), 0);
  EXPECT_STR(vstate_token(v), "t1");
  EXPECT_EQ(vstate_set_token(v, big, VSTATE_TOKEN_MAX + 1), ERR_LIMIT);
  EXPECT_STR(vstate_token(v), "t1");
  EXPECT_EQ(vstate_set_token(v, NULL, 0), 0);
  EXPECT_EQ(vstate_token(v) == NULL, 1);
  vstate_free(v);
}

static void test_vstate_ids(void **state) {
  (void)state;
  struct vstate *v;
  assert_int_equal(vstate_new(2, 0, &v), 0);
  EXPECT_EQ(vstate_id(v, 0) == NULL, 1);
  EXPECT_EQ(vstate_last_id(v) == NULL, 1);
  EXPECT_EQ(vstate_push_id(v, 0, "1", 11), 0);
  EXPECT_EQ(vstate_push_id(v, 1, "c1", 0), 0);
  EXPECT_EQ(vstate_push_id(v, 0, "2", 12), 0);
  EXPECT_STR(vstate_id(v, 0), "2");
  EXPECT_STR(vstate_id(v, 1), "c1");
  EXPECT_STR(vstate_last_id(v), "2");
  /* Deleting the newest makes the previous one current again. */
  EXPECT_EQ(vstate_drop_id(v, 0, "2"), 12); /* its journal row */
  EXPECT_STR(vstate_id(v, 0), "1");
  EXPECT_EQ(vstate_drop_id(v, 0, "nope"), 0);
  EXPECT_STR(vstate_id(v, 0), "1");
  /* At most VSTATE_IDS per collection: the oldest go. */
  for (int i = 0; i < VSTATE_IDS + 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "n%d", i);
    EXPECT_EQ(vstate_push_id(v, 0, id, i + 100), 0);
  }
  for (int i = 0; i < VSTATE_IDS; i++) {
    char id[16];
    snprintf(id, sizeof id, "n%d", VSTATE_IDS + 2 - i);
    EXPECT_STR(vstate_id(v, 0), id);
    EXPECT_EQ(vstate_drop_id(v, 0, id), VSTATE_IDS + 2 - i + 100);
  }
  EXPECT_EQ(vstate_id(v, 0) == NULL, 1);
  EXPECT_EQ(vstate_push_id(v, 5, "x", 0), ERR_LIMIT);
  EXPECT_EQ(vstate_push_id(v, 0, "", 0), ERR_LIMIT);
  /* A new session forgets its ids, keeps the token. */
  vstate_set_token(v, "tok", 3);
  vstate_push_id(v, 1, "c2", 0);
  vstate_session_reset(v);
  EXPECT_EQ(vstate_id(v, 1) == NULL, 1);
  EXPECT_EQ(vstate_last_id(v) == NULL, 1);
  EXPECT_STR(vstate_token(v), "tok");
  vstate_free(v);
}

/* ---- bodies ---- */

static char tmpdir[512];

static const char *write_tmp(const char *name, const char *text) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  assert_int_equal(testutil_write(path, text, strlen(text)), 0);
  return path;
}

static void test_bodies_render(void **state) {
  (void)state;
  struct model *m = blog();
  struct correl *c;
  assert_int_equal(correl_new(m, &c), 0);
  const char *path = write_tmp(
      "bodies.json",
      "{\"POST /api/posts\": {\"title\": \"{{random.word}}\", \"n\": "
      "\"{{random.int}}\", \"who\": \"{{user.username}}\", \"mail\": "
      "\"{{user.email}}\", \"note\": \"id {{created.id}} of {{run.id}}\", "
      "\"post\": \"{{created.posts.id}}\", \"u\": \"{{random.uuid}}\", "
      "\"b\": \"{{random.bool}}\", \"x\": \"{{user.extra1}}\"},"
      " \"POST /nowhere\": {}}");
  struct bodies *b;
  char err[256] = "", warn[256] = "";
  assert_int_equal(bodies_new(path, m, "POST", "/api/v1/auth/login", c,
                              "ab12cd34", &b, err, sizeof err, warn,
                              sizeof warn),
                   0);
  if (!strstr(warn, "POST /nowhere")) fail_msg("warning: %s", warn);
  EXPECT_EQ(bodies_given(b), 1);
  EXPECT_STR(bodies_marker(b), "sim_ab12cd34");
  const struct bodies_tpl *t = bodies_for(b, E_CREATE);
  assert_non_null(t);
  EXPECT_EQ(bodies_for(b, E_GET) == NULL, 1);
  struct rng r;
  rng_seed(&r, 1);
  struct vstate *v;
  assert_int_equal(vstate_new(correl_slots(c), 0, &v), 0);
  vstate_push_id(v, (uint32_t)correl_creates(c, E_CREATE), "41", 0);
  char *extra[] = {"red"};
  struct auth_cred cred = {"al\"ice", "pw", extra, 1};
  struct bodies_ctx ctx = {.rng = &r, .user = 3, .cred = &cred, .vs = v};
  char buf[2048], tag[128];
  size_t n = bodies_render(b, t, &ctx, buf, sizeof buf, tag, sizeof tag);
  assert_true(n != (size_t)-1);
  json_error_t je;
  json_t *doc = json_loads(buf, 0, &je);
  if (!doc) fail_msg("not JSON: %s (%s)", buf, je.text);
  const char *title = json_string_value(json_object_get(doc, "title"));
  assert_non_null(title);
  if (strncmp(title, "sim_ab12cd34_", 13) != 0) fail_msg("title %s", title);
  EXPECT_STR(tag, title); /* the first made-up string */
  assert_true(json_is_integer(json_object_get(doc, "n")));
  EXPECT_STR(json_string_value(json_object_get(doc, "who")), "al\"ice");
  EXPECT_STR(json_string_value(json_object_get(doc, "mail")),
             "al\"ice@example.invalid");
  EXPECT_STR(json_string_value(json_object_get(doc, "note")),
             "id 41 of ab12cd34");
  EXPECT_EQ(json_integer_value(json_object_get(doc, "post")), 41);
  const char *uuid = json_string_value(json_object_get(doc, "u"));
  assert_non_null(uuid);
  EXPECT_EQ(strlen(uuid), 36);
  EXPECT_EQ(strncmp(uuid, "ab12cd34-", 9), 0);
  assert_true(json_is_boolean(json_object_get(doc, "b")));
  EXPECT_STR(json_string_value(json_object_get(doc, "x")), "red");
  json_decref(doc);
  /* Without credentials: a made-up identity, the same for the same user,
   * with the marker; the password of a bad login is another one. */
  ctx.cred = NULL;
  const struct bodies_tpl *lt = bodies_login(b);
  char one[512], two[512], bad[512];
  bodies_render(b, lt, &ctx, one, sizeof one, tag, sizeof tag);
  bodies_render(b, lt, &ctx, two, sizeof two, tag, sizeof tag);
  EXPECT_STR(one, two);
  if (!strstr(one, "\"username\":\"sim_ab12cd34_u3\"")) fail_msg("%s", one);
  ctx.wrong_password = 1;
  bodies_render(b, lt, &ctx, bad, sizeof bad, tag, sizeof tag);
  if (strcmp(one, bad) == 0 || !strstr(bad, "_wrong_"))
    fail_msg("bad login body %s", bad);
  /* Too small a buffer: refused, not cut. */
  EXPECT_U64(bodies_render(b, t, &ctx, buf, 16, tag, sizeof tag), ==,
             (size_t)-1);
  /* Invalid bodies: not JSON; and wrong types with an id left to fill. */
  json_t *mal = json_loads(bodies_malformed(b), 0, NULL);
  EXPECT_EQ(mal == NULL, 1);
  json_t *vio = json_loads(bodies_violating(b, t), 0, NULL);
  assert_non_null(vio);
  EXPECT_STR(json_string_value(json_object_get(vio, "id")), "{{id}}");
  /* Every value of the template is a string: each became a number. */
  const char *key;
  json_t *val;
  json_object_foreach(vio, key, val) {
    if (strcmp(key, "id") != 0 && !json_is_integer(val))
      fail_msg("%s is not of the wrong type", key);
  }
  json_decref(vio);
  vstate_free(v);
  bodies_free(b);
  /* Errors: an unknown placeholder, a file that is not JSON. */
  path = write_tmp("bad.json", "{\"POST /api/posts\": {\"a\": \"{{nope}}\"}}");
  EXPECT_EQ(
      bodies_new(path, m, NULL, NULL, c, "r", &b, err, sizeof err, NULL, 0),
      ERR_USAGE);
  if (!strstr(err, "{{nope}}")) fail_msg("message: %s", err);
  path = write_tmp("bad2.json", "{\"POST /api/posts\": ");
  EXPECT_EQ(
      bodies_new(path, m, NULL, NULL, c, "r", &b, err, sizeof err, NULL, 0),
      ERR_PARSE);
  correl_free(c);
  model_free(m);
}

/* ---- auth ---- */

static void test_auth(void **state) {
  (void)state;
  struct model *m = blog();
  const char *csv = write_tmp(
      "creds.csv", "username,password,team\nalice,s1,red\n\"b,ob\",\"s\"\"2\"\n"
                   "# a comment\ncarol,s3,blue,x\n");
  struct auth *a;
  char err[256] = "";
  assert_int_equal(auth_new(m, csv, NULL, &a, err, sizeof err), 0);
  EXPECT_EQ(auth_login(a), E_LOGIN);
  EXPECT_STR(auth_login_path(a), "/api/v1/auth/login");
  EXPECT_EQ(auth_role(a, E_LOGIN), AUTH_LOGIN);
  EXPECT_EQ(auth_role(a, E_SIGNUP), AUTH_SIGNUP);
  EXPECT_EQ(auth_role(a, E_CREATE), AUTH_NONE);
  EXPECT_EQ(auth_ncreds(a), 3);
  EXPECT_STR(auth_cred(a, 1)->user, "alice");
  EXPECT_STR(auth_cred(a, 2)->user, "b,ob");
  EXPECT_STR(auth_cred(a, 2)->password, "s\"2");
  EXPECT_EQ(auth_cred(a, 3)->nextra, 2);
  EXPECT_STR(auth_cred(a, 3)->extra[1], "x");
  EXPECT_STR(auth_cred(a, 4)->user, "alice"); /* rows in turn */
  auth_free(a);
  /* --login overrides; one the model lacks is an extra endpoint. */
  assert_int_equal(auth_new(m, NULL, "POST /sso/enter", &a, err, sizeof err),
                   0);
  EXPECT_EQ(auth_login(a), AUTH_EXTRA);
  EXPECT_EQ(auth_role(a, E_LOGIN), AUTH_NONE);
  EXPECT_EQ(auth_cred(a, 1) == NULL, 1);
  auth_free(a);
  EXPECT_EQ(auth_new(m, NULL, "nonsense", &a, err, sizeof err), ERR_USAGE);
  /* Refresh and logout by their last segment (a logout with any method). */
  uint32_t refresh = add_ep(m, "POST", "/api/v1/auth/refresh");
  uint32_t logout = add_ep(m, "DELETE", "/api/v1/sessions/logout");
  uint32_t token = add_ep(m, "POST", "/oauth/token");
  assert_int_equal(auth_new(m, NULL, NULL, &a, err, sizeof err), 0);
  EXPECT_EQ(auth_role(a, refresh), AUTH_REFRESH);
  EXPECT_EQ(auth_role(a, logout), AUTH_LOGOUT);
  EXPECT_EQ(auth_role(a, token), AUTH_LOGIN);
  EXPECT_EQ(auth_login(a), E_LOGIN); /* the most requested login */
  auth_free(a);
  csv = write_tmp("bad.csv", "alice\n");
  EXPECT_EQ(auth_new(m, csv, NULL, &a, err, sizeof err), ERR_PARSE);
  if (!strstr(err, ":1:")) fail_msg("message: %s", err);
  EXPECT_EQ(auth_new(m, "/nonexistent/creds.csv", NULL, &a, err, sizeof err),
            ERR_USAGE);
  /* Tokens out of answers. */
  char tok[64], rt[64];
  static const char *const answers[][3] = {
      {"{\"token\": \"t1\"}", "t1", ""},
      {"{\"access_token\": \"t2\", \"refresh_token\": \"r2\"}", "t2", "r2"},
      {"{\"data\": {\"accessToken\": \"t3\", \"refreshToken\": \"r3\"}}", "t3",
       "r3"},
      {"{\"jwt\": \"a.b.c\"}", "a.b.c", ""},
  };
  for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
    const char *b = answers[i][0];
    EXPECT_EQ(auth_tokens(b, strlen(b), tok, sizeof tok, rt, sizeof rt), 1);
    EXPECT_STR(tok, answers[i][1]);
    EXPECT_STR(rt, answers[i][2]);
  }
  EXPECT_EQ(auth_tokens("{\"token\": 5}", 12, tok, sizeof tok, rt, sizeof rt),
            0);
  EXPECT_EQ(auth_tokens("[1]", 3, tok, sizeof tok, rt, sizeof rt), 0);
  EXPECT_EQ(auth_tokens(NULL, 0, tok, sizeof tok, rt, sizeof rt), 0);
  model_free(m);
}

/* ---- journal ---- */

static void test_journal(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/j.db", tmpdir);
  struct journal_run run = {"run1", "http://h", "m.db"};
  struct journal *j;
  char err[256] = "";
  assert_int_equal(journal_open(path, &run, &j, err, sizeof err), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  int64_t seq[4];
  struct journal_intent in = {.user = 1,
                              .session = 1,
                              .method = "POST",
                              .url = "http://h/api/posts",
                              .tag = "sim_run1_a",
                              .del_method = "DELETE",
                              .del_url = "http://h/api/posts/{created.id}",
                              .headers = "Authorization: Bearer t"};
  for (int i = 0; i < 4; i++)
    assert_int_equal(journal_intent(j, &in, &seq[i]), 0);
  EXPECT_U64(seq[1], >, seq[0]);
  assert_int_equal(journal_confirm(j, seq[0], "7", 201, 1), 0);
  assert_int_equal(journal_confirm(j, seq[1], NULL, 400, 1), 0); /* none */
  assert_int_equal(journal_confirm(j, seq[2], "9", 201, 1), 0);
  /* seq[3] stays pending: its answer never came. */
  struct journal_counts c;
  assert_int_equal(journal_counts(j, NULL, &c), 0);
  EXPECT_EQ(c.live, 2);
  EXPECT_EQ(c.none, 1);
  EXPECT_EQ(c.pending, 1);
  /* The run deleted 7 itself. */
  assert_int_equal(journal_deleted(j, seq[0], 204), 0);
  struct journal_item *items;
  size_t n;
  assert_int_equal(journal_todo(j, NULL, 0, 0, &items, &n), 0);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(items[0].seq, seq[3]); /* newest first */
  EXPECT_EQ(items[0].kind, JOURNAL_PENDING);
  EXPECT_STR(items[0].url, "http://h/api/posts");
  EXPECT_STR(items[0].del_url, "http://h/api/posts/{created.id}");
  EXPECT_STR(items[0].tag, "sim_run1_a");
  EXPECT_EQ(items[1].kind, JOURNAL_LIVE);
  EXPECT_STR(items[1].method, "DELETE");
  EXPECT_STR(items[1].url, "http://h/api/posts/9");
  EXPECT_STR(items[1].headers, "Authorization: Bearer t");
  journal_items_free(items, n);
  /* Only ended sessions / only live rows. */
  assert_int_equal(journal_todo(j, NULL, 1, 0, &items, &n), 0);
  EXPECT_EQ(n, 0);
  journal_items_free(items, n);
  assert_int_equal(journal_session_done(j, 1, 1), 0);
  assert_int_equal(journal_todo(j, "run1", 1, 1, &items, &n), 0);
  EXPECT_EQ(n, 1);
  journal_items_free(items, n);
  /* Cleanup outcomes: a failed attempt keeps the row live. */
  assert_int_equal(journal_mark(j, seq[2], NULL, 503, "HTTP 503"), 0);
  assert_int_equal(journal_found(j, seq[3], "11", "http://h/api/posts/11"), 0);
  assert_int_equal(journal_todo(j, NULL, 0, 0, &items, &n), 0);
  EXPECT_EQ(n, 2);
  EXPECT_EQ(items[0].kind, JOURNAL_LIVE);
  EXPECT_STR(items[0].url, "http://h/api/posts/11");
  journal_items_free(items, n);
  assert_int_equal(journal_mark(j, seq[2], "deleted", 200, NULL), 0);
  assert_int_equal(journal_mark(j, seq[3], "gone", 404, NULL), 0);
  assert_int_equal(journal_todo(j, NULL, 0, 0, &items, &n), 0);
  EXPECT_EQ(n, 0);
  journal_items_free(items, n);
  /* Ids reused by the target: an older live row whose URL a newer row got
   * is superseded (gone), never deleted (that would delete the new one). */
  int64_t old, newer;
  assert_int_equal(journal_intent(j, &in, &old), 0);
  assert_int_equal(journal_confirm(j, old, "5", 201, 1), 0);
  assert_int_equal(journal_intent(j, &in, &newer), 0);
  assert_int_equal(journal_confirm(j, newer, "5", 201, 1), 0);
  EXPECT_EQ(journal_superseded(j, old, "http://h/api/posts/5"), 1);
  EXPECT_EQ(journal_superseded(j, newer, "http://h/api/posts/5"), 0);
  assert_int_equal(journal_todo(j, NULL, 0, 0, &items, &n), 0);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(items[0].seq, newer);
  journal_items_free(items, n);
  assert_int_equal(journal_mark(j, newer, "deleted", 200, NULL), 0);
  /* A create into the same collection still waiting for its answer may be
   * given an older row's URL: the older one waits (only creates newer than
   * it, into its collection, unanswered; an answer without an id is no
   * longer waiting). */
  int64_t kept, flying, elsewhere;
  assert_int_equal(journal_intent(j, &in, &kept), 0);
  assert_int_equal(journal_confirm(j, kept, "6", 201, 1), 0);
  EXPECT_EQ(journal_create_waiting(j, kept, "http://h/api/posts"), 0);
  struct journal_intent tags = in;
  tags.url = "http://h/api/tags";
  assert_int_equal(journal_intent(j, &tags, &elsewhere), 0);
  EXPECT_EQ(journal_create_waiting(j, kept, "http://h/api/posts"), 0);
  assert_int_equal(journal_intent(j, &in, &flying), 0);
  EXPECT_EQ(journal_create_waiting(j, kept, "http://h/api/posts"), 1);
  EXPECT_EQ(journal_create_waiting(j, flying, "http://h/api/posts"), 0);
  assert_int_equal(journal_confirm(j, flying, NULL, 202, 1), 0);
  EXPECT_EQ(journal_create_waiting(j, kept, "http://h/api/posts"), 0);
  assert_int_equal(journal_confirm(j, elsewhere, NULL, 400, 1), 0);
  assert_int_equal(journal_mark(j, kept, "deleted", 200, NULL), 0);
  assert_int_equal(journal_mark(j, flying, "unfound", 0, NULL), 0);
  EXPECT_EQ(journal_running(j, NULL, 0), 0); /* ourselves do not count */
  journal_close(j);
  /* Reopened for cleanup: the same rows. */
  assert_int_equal(journal_open(path, NULL, &j, err, sizeof err), 0);
  assert_int_equal(journal_counts(j, "run1", &c), 0);
  EXPECT_EQ(c.deleted, 4);
  EXPECT_EQ(c.gone, 2);
  EXPECT_EQ(c.none, 2);
  EXPECT_EQ(c.unfound, 1);
  journal_close(j);
  /* Not a journal; missing. */
  const char *other = write_tmp("other.txt", "hello");
  EXPECT_EQ(journal_open(other, NULL, &j, err, sizeof err) < 0, 1);
  snprintf(path, sizeof path, "%s/missing.db", tmpdir);
  EXPECT_EQ(journal_open(path, NULL, &j, err, sizeof err), ERR_NOTFOUND);
}

/* ---- bound values in targets ---- */

static void test_target_with(void **state) {
  (void)state;
  struct model *m = blog();
  struct synth *s;
  char err[256];
  assert_int_equal(synth_new(m, NULL, &s, err, sizeof err), 0);
  struct rng a, b;
  rng_seed(&a, 5);
  rng_seed(&b, 5);
  char t1[128], t2[128];
  synth_target(s, &a, E_CGET, t1, sizeof t1);
  EXPECT_STR(t1, "/api/posts/1001/comments/77");
  const char *vals[2] = {"42", NULL};
  synth_target_with(s, &b, E_CGET, vals, 2, t2, sizeof t2);
  EXPECT_STR(t2, "/api/posts/42/comments/77");
  /* The streams stay aligned whatever was bound. */
  EXPECT_U64(rng_next(&a), ==, rng_next(&b));
  vals[1] = "c9";
  synth_target_with(s, &b, E_CGET, vals, 2, t2, sizeof t2);
  EXPECT_STR(t2, "/api/posts/42/comments/c9");
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
      cmocka_unit_test(test_correl_rules),   cmocka_unit_test(test_correl_ids),
      cmocka_unit_test(test_vstate_cookies), cmocka_unit_test(test_vstate_ids),
      cmocka_unit_test(test_bodies_render),  cmocka_unit_test(test_auth),
      cmocka_unit_test(test_journal),        cmocka_unit_test(test_target_with),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
