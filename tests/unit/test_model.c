/* Tests of the model file: write -> read gives the same model, field by
 * field; an existing file needs force; newer schema versions, non-models
 * and damaged distributions are refused with clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>

#include "err.h"
#include "model.h"
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

static void fill_hist(struct hist *h, uint64_t base, int n) {
  hist_init(h);
  for (int i = 0; i < n; i++)
    assert_int_equal(
        hist_record(h, base * (uint64_t)(i % 17 + 1) + (uint64_t)i), 0);
  assert_int_equal(hist_record(h, 0), 0);
}

static struct model *sample_model(void) {
  struct model *m;
  assert_int_equal(model_new(&m), 0);
  assert_int_equal(
      model_meta_set_i64(m, "schema_version", MODEL_SCHEMA_VERSION), 0);
  assert_int_equal(model_meta_set_f64(m, "dist_alpha", HIST_ALPHA), 0);
  assert_int_equal(model_meta_set(m, "requests", "1234"), 0);
  assert_int_equal(model_meta_set(m, "requests", "1235"), 0); /* replaces */
  assert_int_equal(model_meta_set(m, "note", "utf-8 \xc3\xa9 'quoted'"), 0);

  struct model_source *s = model_push(m, sources);
  s->name = strdup("a.log");
  s->format = strdup("combined");
  s->bytes = 99;
  s->lines = 10;
  s->requests = 8;
  s->malformed = 1;
  s->filtered = 1;
  s = model_push(m, sources);
  s->name = strdup("b.log.gz");
  s->format = strdup("json");
  s->error = strdup("b.log.gz: truncated gzip stream");
  struct model_malformed *x = model_push(m, malformed);
  x->file = 0;
  x->line = 7;
  x->reason = strdup("bad status");

  for (int i = 0; i < 3; i++) {
    struct model_endpoint *e = model_push(m, endpoints);
    e->method = strdup(i == 2 ? "POST" : "GET");
    e->host = strdup("");
    char t[64];
    snprintf(t, sizeof t, "/api/v1/things/{id}/%d", i);
    e->templ = strdup(t);
    e->count = (uint64_t)(100 - i);
    e->latency.has = i != 1;
    fill_hist(&e->latency.h, 1000, e->latency.has ? 50 + i : 0);
    e->resp_bytes.has = 1;
    fill_hist(&e->resp_bytes.h, 500, 30);
    hist_init(&e->req_bytes.h);
    e->nstatus = 2;
    e->status = calloc(2, sizeof *e->status);
    e->status[0].status = 200;
    e->status[0].count = 90;
    e->status[1].status = 404;
    e->status[1].count = 10 - (uint64_t)i;
  }
  struct model_param *p = model_push(m, params);
  p->endpoint = 0;
  snprintf(p->loc, sizeof p->loc, "path");
  p->name = strdup("id");
  p->type = strdup("int");
  p->presence = 1.0;
  p->distinct = 3;
  p->distinct_exact = 1;
  p->nvalues = 2;
  p->values = calloc(2, sizeof *p->values);
  p->values[0].value = strdup("42");
  p->values[0].count = 5;
  p->values[1].value = strdup("7");
  p->values[1].count = 2;
  p = model_push(m, params);
  p->endpoint = 2;
  snprintf(p->loc, sizeof p->loc, "query");
  p->position = 0;
  p->name = strdup("api_key");
  p->type = strdup("secret");
  p->presence = 0.25;
  p->distinct = 1;
  p->redacted = 1;

  struct model_persona *pe = model_push(m, personas);
  pe->name = strdup("all");
  pe->weight = 1;
  pe->sessions = 20;
  pe->length.has = 1;
  fill_hist(&pe->length.h, 1, 20);
  pe->duration.has = 1;
  fill_hist(&pe->duration.h, 1000000, 20);
  static const int32_t tr[][2] = {
      {MODEL_START, 0}, {0, 1}, {1, 2}, {2, MODEL_END}, {0, MODEL_END}};
  for (size_t i = 0; i < 5; i++) {
    struct model_transition *t = model_push(m, transitions);
    t->from = tr[i][0];
    t->to = tr[i][1];
    t->count = 10 + i;
    t->think.has = t->from >= 0 && t->to >= 0;
    fill_hist(&t->think.h, 250000, t->think.has ? 15 : 0);
  }
  struct model_backoff *b = model_push(m, backoffs);
  b->from = MODEL_ANY;
  fill_hist(&b->think, 100000, 40);
  struct model_arrival *a = model_push(m, arrivals);
  a->minute = 29000000;
  a->sessions = 3;
  a = model_push(m, arrivals);
  a->minute = 29000002;
  a->sessions = 17;
  struct model_profile *pr = model_push(m, profiles);
  snprintf(pr->kind, sizeof pr->kind, "tod15");
  pr->bucket = 40;
  pr->sessions = 20;
  struct model_ua *u = model_push(m, uas);
  u->value = strdup("curl/8.0");
  u->count = 9;
  u->is_bot = 1;
  u = model_push(m, uas);
  u->value = strdup("Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0");
  u->count = 4;
  for (uint32_t i = 0; i < 2; i++) {
    struct model_persona_ua *pu = model_push(m, persona_uas);
    pu->persona = 0;
    pu->ua = i;
    pu->count = 7 - i;
  }
  struct model_redaction *r = model_push(m, redactions);
  r->loc = strdup("query");
  r->name = strdup("api_key");
  r->action = strdup("fake");
  r->count = 25;
  return m;
}

static void assert_hist_equal(const struct hist *a, const struct hist *b) {
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->zeros, b->zeros);
  if (a->n) {
    assert_int_equal(a->min, b->min);
    assert_int_equal(a->max, b->max);
  }
  assert_true(a->sum == b->sum);
  assert_true(a->sum_log == b->sum_log);
  assert_true(a->sum_log2 == b->sum_log2);
  for (int q = 0; q <= 100; q += 5)
    assert_int_equal(hist_quantile(a, q / 100.0), hist_quantile(b, q / 100.0));
}

static void assert_dist_equal(const struct model_dist *a,
                              const struct model_dist *b) {
  assert_int_equal(a->has, b->has);
  if (a->has) assert_hist_equal(&a->h, &b->h);
}

static void assert_models_equal(const struct model *a, const struct model *b) {
  assert_int_equal(a->nmeta, b->nmeta);
  for (size_t i = 0; i < a->nmeta; i++) {
    assert_string_equal(a->meta[i].key, b->meta[i].key);
    assert_string_equal(a->meta[i].value, b->meta[i].value);
  }
  assert_int_equal(a->nsources, b->nsources);
  for (size_t i = 0; i < a->nsources; i++) {
    const struct model_source *x = &a->sources[i], *y = &b->sources[i];
    assert_string_equal(x->name, y->name);
    assert_string_equal(x->format, y->format);
    assert_int_equal(!x->error, !y->error);
    if (x->error) assert_string_equal(x->error, y->error);
    assert_int_equal(x->bytes, y->bytes);
    assert_int_equal(x->lines, y->lines);
    assert_int_equal(x->requests, y->requests);
    assert_int_equal(x->malformed, y->malformed);
    assert_int_equal(x->filtered, y->filtered);
    assert_int_equal(x->directives, y->directives);
  }
  assert_int_equal(a->nmalformed, b->nmalformed);
  assert_int_equal(a->malformed[0].line, b->malformed[0].line);
  assert_string_equal(a->malformed[0].reason, b->malformed[0].reason);
  assert_int_equal(a->nendpoints, b->nendpoints);
  for (size_t i = 0; i < a->nendpoints; i++) {
    const struct model_endpoint *x = &a->endpoints[i], *y = &b->endpoints[i];
    assert_string_equal(x->method, y->method);
    assert_string_equal(x->templ, y->templ);
    assert_int_equal(x->count, y->count);
    assert_dist_equal(&x->latency, &y->latency);
    assert_dist_equal(&x->resp_bytes, &y->resp_bytes);
    assert_dist_equal(&x->req_bytes, &y->req_bytes);
    assert_int_equal(x->nstatus, y->nstatus);
    for (size_t j = 0; j < x->nstatus; j++) {
      assert_int_equal(x->status[j].status, y->status[j].status);
      assert_int_equal(x->status[j].count, y->status[j].count);
    }
  }
  assert_int_equal(a->nparams, b->nparams);
  for (size_t i = 0; i < a->nparams; i++) {
    const struct model_param *x = &a->params[i], *y = &b->params[i];
    assert_int_equal(x->endpoint, y->endpoint);
    assert_string_equal(x->loc, y->loc);
    assert_string_equal(x->name, y->name);
    assert_string_equal(x->type, y->type);
    assert_true(x->presence == y->presence);
    assert_int_equal(x->distinct, y->distinct);
    assert_int_equal(x->redacted, y->redacted);
    assert_int_equal(x->nvalues, y->nvalues);
    for (size_t j = 0; j < x->nvalues; j++) {
      assert_string_equal(x->values[j].value, y->values[j].value);
      assert_int_equal(x->values[j].count, y->values[j].count);
    }
  }
  assert_int_equal(a->npersonas, b->npersonas);
  assert_string_equal(a->personas[0].name, b->personas[0].name);
  assert_int_equal(a->personas[0].sessions, b->personas[0].sessions);
  assert_dist_equal(&a->personas[0].length, &b->personas[0].length);
  assert_dist_equal(&a->personas[0].duration, &b->personas[0].duration);
  assert_int_equal(a->ntransitions, b->ntransitions);
  for (size_t i = 0; i < a->ntransitions; i++) {
    /* The loader orders by (persona, from, to). */
    const struct model_transition *x = &a->transitions[i];
    const struct model_transition *y = NULL;
    for (size_t j = 0; j < b->ntransitions; j++)
      if (b->transitions[j].from == x->from && b->transitions[j].to == x->to)
        y = &b->transitions[j];
    assert_non_null(y);
    assert_int_equal(x->count, y->count);
    assert_dist_equal(&x->think, &y->think);
  }
  assert_int_equal(a->nbackoffs, b->nbackoffs);
  assert_int_equal(a->backoffs[0].from, b->backoffs[0].from);
  assert_hist_equal(&a->backoffs[0].think, &b->backoffs[0].think);
  assert_int_equal(a->narrivals, b->narrivals);
  for (size_t i = 0; i < a->narrivals; i++) {
    assert_int_equal(a->arrivals[i].minute, b->arrivals[i].minute);
    assert_int_equal(a->arrivals[i].sessions, b->arrivals[i].sessions);
  }
  assert_int_equal(a->nprofiles, b->nprofiles);
  assert_string_equal(a->profiles[0].kind, b->profiles[0].kind);
  assert_int_equal(a->profiles[0].bucket, b->profiles[0].bucket);
  assert_int_equal(a->nuas, b->nuas);
  assert_string_equal(a->uas[0].value, b->uas[0].value);
  assert_int_equal(a->uas[0].is_bot, b->uas[0].is_bot);
  assert_int_equal(a->npersona_uas, b->npersona_uas);
  for (size_t i = 0; i < a->npersona_uas; i++) {
    assert_int_equal(a->persona_uas[i].persona, b->persona_uas[i].persona);
    assert_int_equal(a->persona_uas[i].ua, b->persona_uas[i].ua);
    assert_int_equal(a->persona_uas[i].count, b->persona_uas[i].count);
  }
  assert_int_equal(a->nredactions, b->nredactions);
  assert_string_equal(a->redactions[0].name, b->redactions[0].name);
  assert_int_equal(a->redactions[0].count, b->redactions[0].count);
}

static void test_round_trip(void **state) {
  (void)state;
  char path[600], err[1024];
  snprintf(path, sizeof path, "%s/rt.db", dir);
  struct model *m = sample_model(), *back = NULL;
  assert_int_equal(model_save(m, path, 0, err, sizeof err), 0);
  assert_int_equal(model_load(path, &back, err, sizeof err), 0);
  assert_models_equal(m, back);
  assert_string_equal(model_meta_get(back, "requests"), "1235");
  assert_int_equal(model_meta_i64(back, "requests", -1), 1235);
  /* Saving again without force is refused and leaves the file alone. */
  assert_int_equal(model_save(m, path, 0, err, sizeof err), ERR_EXISTS);
  assert_non_null(strstr(err, "--force"));
  assert_int_equal(model_save(m, path, 1, err, sizeof err), 0);
  model_free(back);
  model_free(m);
}

static void exec_sql(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_newer_version_refused(void **state) {
  (void)state;
  char path[600], err[1024];
  snprintf(path, sizeof path, "%s/new.db", dir);
  struct model *m = sample_model(), *back = NULL;
  assert_int_equal(model_save(m, path, 1, err, sizeof err), 0);
  exec_sql(path, "UPDATE meta SET value='99' WHERE key='schema_version'");
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_VERSION);
  assert_non_null(strstr(err, "99"));
  assert_non_null(strstr(err, "new.db"));
  assert_null(back);
  /* Same schema, histograms written under another accuracy: refused. */
  exec_sql(path, "UPDATE meta SET value='1' WHERE key='schema_version';"
                 "UPDATE meta SET value='0.02' WHERE key='dist_alpha'");
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_VERSION);
  assert_non_null(strstr(err, "0.02"));
  model_free(m);
}

static void test_damaged_models_refused(void **state) {
  (void)state;
  char path[600], err[1024];
  struct model *back = NULL;
  snprintf(path, sizeof path, "%s/text.db", dir);
  assert_int_equal(
      testutil_write(path, "not a database at all, just text\n", 33), 0);
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_CORRUPT);
  assert_non_null(strstr(err, "text.db"));

  snprintf(path, sizeof path, "%s/blob.db", dir);
  struct model *m = sample_model();
  assert_int_equal(model_save(m, path, 1, err, sizeof err), 0);
  exec_sql(path, "UPDATE dist SET data = x'01ff' WHERE id = 1");
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_CORRUPT);
  assert_non_null(strstr(err, "damaged"));
  exec_sql(path, "DELETE FROM dist WHERE id = 1");
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_CORRUPT);
  assert_null(back);

  snprintf(path, sizeof path, "%s/missing.db", dir);
  assert_int_equal(model_load(path, &back, err, sizeof err), -ENOENT);
  model_free(m);
}

/* User agents by persona are optional: a model written before them loads
 * with none (replay then uses the global pool); a row naming a user agent
 * the model lacks is damage. Hand-written models may number user agents
 * from anywhere: the rows follow them by id. */
static void test_persona_user_agents(void **state) {
  (void)state;
  char path[600], err[1024];
  snprintf(path, sizeof path, "%s/pua.db", dir);
  struct model *m = sample_model(), *back = NULL;
  assert_int_equal(model_save(m, path, 1, err, sizeof err), 0);
  exec_sql(path, "UPDATE persona_user_agent SET ua_id = ua_id + 10;"
                 "UPDATE user_agent SET id = id + 10");
  assert_int_equal(model_load(path, &back, err, sizeof err), 0);
  assert_models_equal(m, back);
  model_free(back);
  back = NULL;
  exec_sql(path, "INSERT INTO persona_user_agent VALUES (0, 99, 1)");
  assert_int_equal(model_load(path, &back, err, sizeof err), ERR_CORRUPT);
  assert_non_null(strstr(err, "persona_user_agent"));
  assert_null(back);
  exec_sql(path, "DROP TABLE persona_user_agent");
  assert_int_equal(model_load(path, &back, err, sizeof err), 0);
  assert_int_equal(back->npersona_uas, 0);
  assert_int_equal(back->nuas, 2);
  model_free(back);
  model_free(m);
}

static void test_unwritable_destination(void **state) {
  (void)state;
  char path[600], err[1024];
  struct model *m = sample_model();
  snprintf(path, sizeof path, "%s/no/such/folder/m.db", dir);
  int rc = model_save(m, path, 0, err, sizeof err);
  assert_true(rc < 0);
  assert_non_null(strstr(err, "m.db"));
  assert_int_equal(model_save(m, dir, 1, err, sizeof err), -EISDIR);
  model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_newer_version_refused),
      cmocka_unit_test(test_damaged_models_refused),
      cmocka_unit_test(test_persona_user_agents),
      cmocka_unit_test(test_unwritable_destination),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
