#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hmap.h"

extern const char model_schema_sql[]; /* generated from models/schema.sql */

int model_new(struct model **out) {
  struct model *m = calloc(1, sizeof *m);
  if (!m) return -ENOMEM;
  *out = m;
  return 0;
}

uint32_t model_length_class(uint32_t n, uint32_t *lo, uint32_t *hi) {
  if (n <= 4) {
    *lo = *hi = n ? n : 1;
    return n ? n - 1 : 0;
  }
  /* (2^p, 2^(p+1)] in two halves. */
  uint32_t p = 2;
  while (p < 31 && (n - 1) >> (p + 1)) p++;
  uint64_t base = (uint64_t)1 << p, mid = base + base / 2;
  int upper = n > mid;
  *lo = (uint32_t)(upper ? mid + 1 : base + 1);
  *hi = (uint32_t)(upper ? 2 * base : mid);
  return 4 + 2 * (p - 2) + (uint32_t)upper;
}

static void dist_cleanup(struct model_dist *d) {
  hist_cleanup(&d->h);
}

void model_free(struct model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nmeta; i++) {
    free(m->meta[i].key);
    free(m->meta[i].value);
  }
  for (size_t i = 0; i < m->nsources; i++) {
    free(m->sources[i].name);
    free(m->sources[i].format);
    free(m->sources[i].error);
  }
  for (size_t i = 0; i < m->nmalformed; i++) free(m->malformed[i].reason);
  for (size_t i = 0; i < m->nendpoints; i++) {
    struct model_endpoint *e = &m->endpoints[i];
    free(e->method);
    free(e->host);
    free(e->templ);
    dist_cleanup(&e->latency);
    dist_cleanup(&e->resp_bytes);
    dist_cleanup(&e->req_bytes);
    free(e->status);
  }
  for (size_t i = 0; i < m->nparams; i++) {
    struct model_param *p = &m->params[i];
    free(p->name);
    free(p->type);
    for (size_t j = 0; j < p->nvalues; j++) free(p->values[j].value);
    free(p->values);
  }
  for (size_t i = 0; i < m->npersonas; i++) {
    free(m->personas[i].name);
    dist_cleanup(&m->personas[i].length);
    dist_cleanup(&m->personas[i].duration);
  }
  for (size_t i = 0; i < m->ntransitions; i++)
    dist_cleanup(&m->transitions[i].think);
  for (size_t i = 0; i < m->nbackoffs; i++) hist_cleanup(&m->backoffs[i].think);
  for (size_t i = 0; i < m->nshapes; i++) hist_cleanup(&m->shapes[i].duration);
  for (size_t i = 0; i < m->nuas; i++) free(m->uas[i].value);
  for (size_t i = 0; i < m->nredactions; i++) {
    free(m->redactions[i].loc);
    free(m->redactions[i].name);
    free(m->redactions[i].action);
  }
  for (size_t i = 0; i < m->nheaders; i++) {
    free(m->headers[i].name);
    free(m->headers[i].value);
  }
  for (size_t i = 0; i < m->nfields; i++) {
    struct model_field *f = &m->fields[i];
    free(f->path);
    free(f->type);
    for (size_t j = 0; j < f->nvalues; j++) free(f->values[j].value);
    free(f->values);
  }
  for (size_t i = 0; i < m->ncorrels; i++) {
    free(m->correls[i].src_loc);
    free(m->correls[i].src_name);
    free(m->correls[i].dst_loc);
    free(m->correls[i].dst_name);
  }
  for (size_t i = 0; i < m->ntraces; i++) free(m->traces[i].data);
  free(m->headers);
  free(m->bodies);
  free(m->fields);
  free(m->correls);
  free(m->traces);
  free(m->meta);
  free(m->sources);
  free(m->malformed);
  free(m->endpoints);
  free(m->params);
  free(m->personas);
  free(m->transitions);
  free(m->backoffs);
  free(m->arrivals);
  free(m->shapes);
  free(m->profiles);
  free(m->uas);
  free(m->persona_uas);
  free(m->redactions);
  model_free(m->half[0]);
  model_free(m->half[1]);
  free(m);
}

void *model_grow(void *arrp, size_t *n, size_t *cap, size_t elem) {
  char *arr;
  memcpy(&arr, arrp, sizeof arr);
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    char *na = realloc(arr, ncap * elem);
    if (!na) return NULL;
    arr = na;
    *cap = ncap;
    memcpy(arrp, &arr, sizeof arr);
  }
  char *slot = arr + *n * elem;
  memset(slot, 0, elem);
  (*n)++;
  return slot;
}

int model_meta_set(struct model *m, const char *key, const char *value) {
  char *v = strdup(value);
  if (!v) return -ENOMEM;
  for (size_t i = 0; i < m->nmeta; i++) {
    if (strcmp(m->meta[i].key, key) == 0) {
      free(m->meta[i].value);
      m->meta[i].value = v;
      return 0;
    }
  }
  char *k = strdup(key);
  struct model_kv *kv = k ? model_push(m, meta) : NULL;
  if (!kv) {
    free(k);
    free(v);
    return -ENOMEM;
  }
  kv->key = k;
  kv->value = v;
  return 0;
}

int model_meta_set_i64(struct model *m, const char *key, int64_t value) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, value);
  return model_meta_set(m, key, buf);
}

int model_meta_set_f64(struct model *m, const char *key, double value) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", value);
  return model_meta_set(m, key, buf);
}

const char *model_meta_get(const struct model *m, const char *key) {
  for (size_t i = 0; i < m->nmeta; i++)
    if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
  return NULL;
}

int64_t model_meta_i64(const struct model *m, const char *key, int64_t def) {
  const char *v = model_meta_get(m, key);
  if (!v || !*v) return def;
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || *end) return def;
  return x;
}

/* ---- saving ---------------------------------------------------------- */

struct saver {
  sqlite3 *db;
  const char *path; /* the final path, for messages */
  char *err;
  size_t errlen;
  sqlite3_stmt *dist;
  int64_t next_dist;
};

static int fail_sqlite(struct saver *s, const char *what) {
  int code = sqlite3_errcode(s->db);
  const char *cause = code == SQLITE_FULL ? "disk full" : sqlite3_errmsg(s->db);
  snprintf(s->err, s->errlen, "cannot write model %s: %s: %s", s->path, what,
           cause);
  return code == SQLITE_FULL ? -ENOSPC : ERR_SQLITE;
}

static int prep(struct saver *s, const char *sql, sqlite3_stmt **st) {
  if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
    return fail_sqlite(s, "prepare");
  return 0;
}

static int step_reset(struct saver *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) return fail_sqlite(s, what);
  return 0;
}

/* Inserts a histogram; *id gets its row id (or stays 0 = NULL for absent). */
static int save_hist(struct saver *s, const char *unit, const struct hist *h,
                     int64_t *id) {
  uint8_t *blob = NULL;
  size_t len = 0;
  int rc = hist_encode(h, &blob, &len);
  if (rc) {
    snprintf(s->err, s->errlen, "cannot write model %s: %s", s->path,
             err_str(rc));
    return rc;
  }
  sqlite3_stmt *st = s->dist;
  int64_t my = ++s->next_dist;
  sqlite3_bind_int64(st, 1, my);
  sqlite3_bind_text(st, 2, unit, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (int64_t)h->n);
  sqlite3_bind_int64(st, 4, (int64_t)h->zeros);
  sqlite3_bind_int64(st, 5, h->n ? (int64_t)h->min : 0);
  sqlite3_bind_int64(st, 6, h->n ? (int64_t)h->max : 0);
  sqlite3_bind_double(st, 7, h->sum);
  sqlite3_bind_double(st, 8, h->sum_log);
  sqlite3_bind_double(st, 9, h->sum_log2);
  sqlite3_bind_blob(st, 10, blob, (int)len, free);
  rc = step_reset(s, st, "dist");
  if (rc) return rc;
  *id = my;
  return 0;
}

static int save_dist(struct saver *s, const char *unit,
                     const struct model_dist *d, sqlite3_stmt *st, int col) {
  if (!d->has) {
    sqlite3_bind_null(st, col);
    return 0;
  }
  int64_t id = 0;
  int rc = save_hist(s, unit, &d->h, &id);
  if (rc) return rc;
  sqlite3_bind_int64(st, col, id);
  return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int col, const char *v) {
  if (v)
    sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, col);
}

static int save_tables(struct saver *s, const struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc;
#define PREP(sql)                                                              \
  do {                                                                         \
    sqlite3_finalize(st);                                                      \
    st = NULL;                                                                 \
    if ((rc = prep(s, sql, &st))) goto out;                                    \
  } while (0)
#define STEP(what)                                                             \
  do {                                                                         \
    if ((rc = step_reset(s, st, what))) goto out;                              \
  } while (0)

  PREP("INSERT INTO meta(key, value) VALUES (?, ?)");
  for (size_t i = 0; i < m->nmeta; i++) {
    sqlite3_bind_text(st, 1, m->meta[i].key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->meta[i].value, -1, SQLITE_STATIC);
    STEP("meta");
  }

  PREP("INSERT INTO source_file(id, name, format, bytes, lines, requests,"
       " malformed, filtered, directives, error)"
       " VALUES (?,?,?,?,?,?,?,?,?,?)");
  for (size_t i = 0; i < m->nsources; i++) {
    const struct model_source *f = &m->sources[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->format ? f->format : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)f->bytes);
    sqlite3_bind_int64(st, 5, (int64_t)f->lines);
    sqlite3_bind_int64(st, 6, (int64_t)f->requests);
    sqlite3_bind_int64(st, 7, (int64_t)f->malformed);
    sqlite3_bind_int64(st, 8, (int64_t)f->filtered);
    sqlite3_bind_int64(st, 9, (int64_t)f->directives);
    bind_text_or_null(st, 10, f->error);
    STEP("source_file");
  }

  PREP("INSERT INTO malformed_sample(file_id, line, reason) VALUES (?,?,?)");
  for (size_t i = 0; i < m->nmalformed; i++) {
    sqlite3_bind_int64(st, 1, m->malformed[i].file);
    sqlite3_bind_int64(st, 2, (int64_t)m->malformed[i].line);
    sqlite3_bind_text(st, 3, m->malformed[i].reason, -1, SQLITE_STATIC);
    STEP("malformed_sample");
  }

  PREP("INSERT INTO endpoint(id, method, host, template, count,"
       " latency_dist, resp_bytes_dist, req_bytes_dist)"
       " VALUES (?,?,?,?,?,?,?,?)");
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_text(st, 2, e->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->host ? e->host : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->templ, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)e->count);
    if ((rc = save_dist(s, "us", &e->latency, st, 6))) goto out;
    if ((rc = save_dist(s, "bytes", &e->resp_bytes, st, 7))) goto out;
    if ((rc = save_dist(s, "bytes", &e->req_bytes, st, 8))) goto out;
    STEP("endpoint");
  }

  PREP("INSERT INTO endpoint_status(endpoint_id, status, count)"
       " VALUES (?,?,?)");
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    for (size_t j = 0; j < e->nstatus; j++) {
      sqlite3_bind_int64(st, 1, (int64_t)i);
      sqlite3_bind_int(st, 2, e->status[j].status);
      sqlite3_bind_int64(st, 3, (int64_t)e->status[j].count);
      STEP("endpoint_status");
    }
  }

  PREP("INSERT INTO persona(id, name, weight, sessions, length_dist,"
       " duration_dist) VALUES (?,?,?,?,?,?)");
  for (size_t i = 0; i < m->npersonas; i++) {
    const struct model_persona *p = &m->personas[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, p->weight);
    sqlite3_bind_int64(st, 4, (int64_t)p->sessions);
    if ((rc = save_dist(s, "count", &p->length, st, 5))) goto out;
    if ((rc = save_dist(s, "us", &p->duration, st, 6))) goto out;
    STEP("persona");
  }

  PREP("INSERT INTO transition(persona_id, from_ep, to_ep, count,"
       " think_dist) VALUES (?,?,?,?,?)");
  for (size_t i = 0; i < m->ntransitions; i++) {
    const struct model_transition *t = &m->transitions[i];
    sqlite3_bind_int64(st, 1, t->persona);
    sqlite3_bind_int64(st, 2, t->from);
    sqlite3_bind_int64(st, 3, t->to);
    sqlite3_bind_int64(st, 4, (int64_t)t->count);
    if ((rc = save_dist(s, "us", &t->think, st, 5))) goto out;
    STEP("transition");
  }

  PREP("INSERT INTO think_backoff(persona_id, from_ep, dist_id)"
       " VALUES (?,?,?)");
  for (size_t i = 0; i < m->nbackoffs; i++) {
    const struct model_backoff *b = &m->backoffs[i];
    int64_t id = 0;
    if ((rc = save_hist(s, "us", &b->think, &id))) goto out;
    sqlite3_bind_int64(st, 1, b->persona);
    sqlite3_bind_int64(st, 2, b->from);
    sqlite3_bind_int64(st, 3, id);
    STEP("think_backoff");
  }

  PREP("INSERT INTO arrival(persona_id, minute, sessions) VALUES (?,?,?)");
  for (size_t i = 0; i < m->narrivals; i++) {
    sqlite3_bind_int64(st, 1, m->arrivals[i].persona);
    sqlite3_bind_int64(st, 2, m->arrivals[i].minute);
    sqlite3_bind_int64(st, 3, (int64_t)m->arrivals[i].sessions);
    STEP("arrival");
  }

  PREP("INSERT INTO arrival_profile(persona_id, kind, bucket, sessions)"
       " VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->nprofiles; i++) {
    sqlite3_bind_int64(st, 1, m->profiles[i].persona);
    sqlite3_bind_text(st, 2, m->profiles[i].kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, m->profiles[i].bucket);
    sqlite3_bind_int64(st, 4, (int64_t)m->profiles[i].sessions);
    STEP("arrival_profile");
  }

  PREP("INSERT INTO session_shape(persona_id, length_lo, length_hi,"
       " duration_dist) VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->nshapes; i++) {
    const struct model_shape *x = &m->shapes[i];
    int64_t id = 0;
    if ((rc = save_hist(s, "us", &x->duration, &id))) goto out;
    sqlite3_bind_int64(st, 1, x->persona);
    sqlite3_bind_int64(st, 2, x->lo);
    sqlite3_bind_int64(st, 3, x->hi);
    sqlite3_bind_int64(st, 4, id);
    STEP("session_shape");
  }

  sqlite3_stmt *pv = NULL;
  PREP("INSERT INTO param(id, endpoint_id, loc, position, name, type,"
       " presence, distinct_values, distinct_exact, redacted)"
       " VALUES (?,?,?,?,?,?,?,?,?,?)");
  if ((rc = prep(s,
                 "INSERT INTO pool_value(param_id, value, count)"
                 " VALUES (?,?,?)",
                 &pv)))
    goto out;
  for (size_t i = 0; i < m->nparams; i++) {
    const struct model_param *p = &m->params[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_int64(st, 2, p->endpoint);
    sqlite3_bind_text(st, 3, p->loc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, p->position);
    sqlite3_bind_text(st, 5, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, p->type, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, p->presence);
    sqlite3_bind_int64(st, 8, (int64_t)p->distinct);
    sqlite3_bind_int(st, 9, p->distinct_exact);
    sqlite3_bind_int(st, 10, p->redacted);
    STEP("param");
    for (size_t j = 0; j < p->nvalues; j++) {
      sqlite3_bind_int64(pv, 1, (int64_t)i);
      sqlite3_bind_text(pv, 2, p->values[j].value, -1, SQLITE_STATIC);
      sqlite3_bind_int64(pv, 3, (int64_t)p->values[j].count);
      if ((rc = step_reset(s, pv, "pool_value"))) {
        sqlite3_finalize(pv);
        goto out;
      }
    }
  }
  sqlite3_finalize(pv);

  PREP("INSERT INTO user_agent(id, value, count, is_bot) VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->nuas; i++) {
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_text(st, 2, m->uas[i].value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)m->uas[i].count);
    sqlite3_bind_int(st, 4, m->uas[i].is_bot);
    STEP("user_agent");
  }

  PREP("INSERT INTO persona_user_agent(persona_id, ua_id, count)"
       " VALUES (?,?,?)");
  for (size_t i = 0; i < m->npersona_uas; i++) {
    sqlite3_bind_int64(st, 1, m->persona_uas[i].persona);
    sqlite3_bind_int64(st, 2, m->persona_uas[i].ua);
    sqlite3_bind_int64(st, 3, (int64_t)m->persona_uas[i].count);
    STEP("persona_user_agent");
  }

  PREP("INSERT INTO redaction(loc, name, action, count) VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->nredactions; i++) {
    sqlite3_bind_text(st, 1, m->redactions[i].loc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->redactions[i].name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->redactions[i].action, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)m->redactions[i].count);
    STEP("redaction");
  }

  for (int h = 0; h < 2 && m->half[0] && m->half[1]; h++) {
    const struct model *x = m->half[h];
    PREP("INSERT INTO half_session(half, sessions, length_dist,"
         " duration_dist) VALUES (?,?,?,?)");
    const struct model_persona *p = x->npersonas ? &x->personas[0] : NULL;
    sqlite3_bind_int(st, 1, h);
    sqlite3_bind_int64(st, 2, p ? (int64_t)p->sessions : 0);
    if (p && ((rc = save_dist(s, "count", &p->length, st, 3)) ||
              (rc = save_dist(s, "us", &p->duration, st, 4))))
      goto out;
    STEP("half_session");
    PREP("INSERT INTO half_status(half, endpoint_id, status, count)"
         " VALUES (?,?,?,?)");
    for (size_t i = 0; i < x->nendpoints; i++) {
      const struct model_endpoint *e = &x->endpoints[i];
      uint64_t known = 0;
      for (size_t j = 0; j <= e->nstatus; j++) {
        uint64_t c = j < e->nstatus ? e->status[j].count : e->count - known;
        if (j < e->nstatus) known += c;
        if (!c) continue;
        sqlite3_bind_int(st, 1, h);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_int(st, 3, j < e->nstatus ? e->status[j].status : 0);
        sqlite3_bind_int64(st, 4, (int64_t)c);
        STEP("half_status");
      }
    }
    PREP("INSERT INTO half_transition(half, from_ep, to_ep, count,"
         " think_dist) VALUES (?,?,?,?,?)");
    for (size_t i = 0; i < x->ntransitions; i++) {
      const struct model_transition *t = &x->transitions[i];
      sqlite3_bind_int(st, 1, h);
      sqlite3_bind_int64(st, 2, t->from);
      sqlite3_bind_int64(st, 3, t->to);
      sqlite3_bind_int64(st, 4, (int64_t)t->count);
      if ((rc = save_dist(s, "us", &t->think, st, 5))) goto out;
      STEP("half_transition");
    }
  }
  /* Packet capture tables. */
  PREP("INSERT INTO endpoint_header(endpoint_id, dir, name, value, count)"
       " VALUES (?,?,?,?,?)");
  for (size_t i = 0; i < m->nheaders; i++) {
    const struct model_header *h = &m->headers[i];
    sqlite3_bind_int64(st, 1, h->endpoint);
    sqlite3_bind_text(st, 2, h->dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, h->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, h->value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)h->count);
    STEP("endpoint_header");
  }
  PREP("INSERT INTO body_shape(endpoint_id, dir, bodies, invalid)"
       " VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->nbodies; i++) {
    const struct model_body *b = &m->bodies[i];
    sqlite3_bind_int64(st, 1, b->endpoint);
    sqlite3_bind_text(st, 2, b->dir, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)b->bodies);
    sqlite3_bind_int64(st, 4, (int64_t)b->invalid);
    STEP("body_shape");
  }
  sqlite3_stmt *bv = NULL;
  PREP("INSERT INTO body_field(id, endpoint_id, dir, path, type, presence,"
       " redacted) VALUES (?,?,?,?,?,?,?)");
  if ((rc = prep(s,
                 "INSERT INTO body_value(field_id, value, count)"
                 " VALUES (?,?,?)",
                 &bv)))
    goto out;
  for (size_t i = 0; i < m->nfields; i++) {
    const struct model_field *f = &m->fields[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_int64(st, 2, f->endpoint);
    sqlite3_bind_text(st, 3, f->dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, f->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, f->type, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, f->presence);
    sqlite3_bind_int(st, 7, f->redacted);
    STEP("body_field");
    for (size_t j = 0; j < f->nvalues; j++) {
      sqlite3_bind_int64(bv, 1, (int64_t)i);
      sqlite3_bind_text(bv, 2, f->values[j].value, -1, SQLITE_STATIC);
      sqlite3_bind_int64(bv, 3, (int64_t)f->values[j].count);
      if ((rc = step_reset(s, bv, "body_value"))) {
        sqlite3_finalize(bv);
        goto out;
      }
    }
  }
  sqlite3_finalize(bv);
  PREP("INSERT INTO correlation(src_endpoint, src_loc, src_name,"
       " dst_endpoint, dst_loc, dst_name, count) VALUES (?,?,?,?,?,?,?)");
  for (size_t i = 0; i < m->ncorrels; i++) {
    const struct model_correl *c = &m->correls[i];
    sqlite3_bind_int64(st, 1, c->src_endpoint);
    sqlite3_bind_text(st, 2, c->src_loc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->src_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->dst_endpoint);
    sqlite3_bind_text(st, 5, c->dst_loc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->dst_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (int64_t)c->count);
    STEP("correlation");
  }
  PREP("INSERT INTO trace_chunk(seq, requests, raw_bytes, data)"
       " VALUES (?,?,?,?)");
  for (size_t i = 0; i < m->ntraces; i++) {
    const struct model_trace *t = &m->traces[i];
    sqlite3_bind_int64(st, 1, (int64_t)i);
    sqlite3_bind_int64(st, 2, (int64_t)t->requests);
    sqlite3_bind_int64(st, 3, (int64_t)t->raw_bytes);
    sqlite3_bind_blob(st, 4, t->data, (int)t->len, SQLITE_STATIC);
    STEP("trace_chunk");
  }
  rc = 0;
out:
  sqlite3_finalize(st);
  return rc;
#undef PREP
#undef STEP
}

int model_check_writable(const char *path, int force, char *err,
                         size_t errlen) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      snprintf(err, errlen, "cannot write model %s: it is a directory", path);
      return -EISDIR;
    }
    if (!force) {
      snprintf(err, errlen, "%s already exists; use --force to overwrite it",
               path);
      return ERR_EXISTS;
    }
  }
  /* The model is written beside its final path, so the folder must take a
   * new file. */
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(dir, sizeof dir, ".");
  } else if (slash == path) {
    snprintf(dir, sizeof dir, "/");
  } else {
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  }
  if (access(dir, W_OK | X_OK) != 0) {
    int e = errno;
    snprintf(err, errlen, "cannot write model %s: folder %s: %s", path, dir,
             strerror(e));
    return -e;
  }
  return 0;
}

int model_save(const struct model *m, const char *path, int force, char *err,
               size_t errlen) {
  int rc = model_check_writable(path, force, err, errlen);
  if (rc) return rc;

  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
  unlink(tmp);

  struct saver s = {.path = path, .err = err, .errlen = errlen};
  if (sqlite3_open_v2(tmp, &s.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot write model %s: %s", path,
             s.db ? sqlite3_errmsg(s.db) : "out of memory");
    rc = ERR_SQLITE;
    goto out;
  }
  /* The temporary file is private until the rename, so it needs no
   * rollback journal; durability comes from fsync before the rename. */
  char *emsg = NULL;
  if (sqlite3_exec(s.db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;",
                   NULL, NULL, &emsg) != SQLITE_OK ||
      sqlite3_exec(s.db, model_schema_sql, NULL, NULL, &emsg) != SQLITE_OK ||
      sqlite3_exec(s.db, "BEGIN", NULL, NULL, &emsg) != SQLITE_OK) {
    snprintf(err, errlen, "cannot write model %s: schema: %s", path,
             emsg ? emsg : sqlite3_errmsg(s.db));
    sqlite3_free(emsg);
    rc = sqlite3_errcode(s.db) == SQLITE_FULL ? -ENOSPC : ERR_SQLITE;
    goto out;
  }
  rc = prep(&s,
            "INSERT INTO dist(id, unit, n, zeros, min, max, sum,"
            " sum_log, sum_log2, data) VALUES (?,?,?,?,?,?,?,?,?,?)",
            &s.dist);
  if (rc) goto out;
  rc = save_tables(&s, m);
  if (rc) goto out;
  sqlite3_finalize(s.dist);
  s.dist = NULL;
  if (sqlite3_exec(s.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    rc = fail_sqlite(&s, "commit");
    goto out;
  }
  if (sqlite3_close(s.db) != SQLITE_OK) {
    rc = fail_sqlite(&s, "close");
    goto out;
  }
  s.db = NULL;
  FILE *f = fopen(tmp, "r+");
  if (!f || fsync(fileno(f)) != 0) {
    int e = errno;
    if (f) fclose(f);
    snprintf(err, errlen, "cannot write model %s: %s", path, strerror(e));
    rc = -e;
    goto out;
  }
  fclose(f);
  if (rename(tmp, path) != 0) {
    int e = errno;
    snprintf(err, errlen, "cannot write model %s: %s", path, strerror(e));
    rc = -e;
    goto out;
  }
  return 0;
out:
  sqlite3_finalize(s.dist);
  sqlite3_close(s.db);
  unlink(tmp);
  return rc;
}

/* ---- loading --------------------------------------------------------- */

struct loader {
  sqlite3 *db;
  const char *path;
  char *err;
  size_t errlen;
  struct hmap dist_index; /* dist id -> index into dists */
  struct hist *dists;
  size_t ndists;
};

static int load_fail(struct loader *l, const char *what) {
  snprintf(l->err, l->errlen, "cannot read model %s: %s: %s", l->path, what,
           sqlite3_errmsg(l->db));
  return ERR_SQLITE;
}

static int corrupt(struct loader *l, const char *what) {
  snprintf(l->err, l->errlen, "model %s is damaged: %s", l->path, what);
  return ERR_CORRUPT;
}

static char *col_dup(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return strdup(t ? (const char *)t : "");
}

static int load_dists(struct loader *l) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(l->db,
                         "SELECT id, n, zeros, min, max, sum, sum_log,"
                         " sum_log2, data FROM dist ORDER BY id",
                         -1, &st, NULL) != SQLITE_OK)
    return load_fail(l, "dist");
  int rc = 0;
  size_t cap = 0;
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (l->ndists == cap) {
      cap = cap ? cap * 2 : 64;
      struct hist *nd = realloc(l->dists, cap * sizeof *nd);
      if (!nd) {
        rc = -ENOMEM;
        goto out;
      }
      l->dists = nd;
    }
    struct hist *h = &l->dists[l->ndists];
    hist_init(h);
    int64_t n = sqlite3_column_int64(st, 1);
    int64_t zeros = sqlite3_column_int64(st, 2);
    int64_t mn = sqlite3_column_int64(st, 3), mx = sqlite3_column_int64(st, 4);
    if (n < 0 || zeros < 0 || zeros > n || mn < 0 || mx < mn) {
      rc = corrupt(l, "a distribution has impossible counts");
      goto out;
    }
    rc = hist_decode(h, sqlite3_column_blob(st, 8),
                     (size_t)sqlite3_column_bytes(st, 8), (uint64_t)n,
                     (uint64_t)zeros, (uint64_t)mn, (uint64_t)mx,
                     sqlite3_column_double(st, 5), sqlite3_column_double(st, 6),
                     sqlite3_column_double(st, 7));
    if (rc == ERR_CORRUPT) {
      rc = corrupt(l, "a distribution's data does not decode");
      goto out;
    }
    if (rc) goto out;
    l->ndists++;
    uint64_t *slot;
    if ((rc = hmap_put(&l->dist_index, (uint64_t)sqlite3_column_int64(st, 0),
                       l->ndists - 1, &slot)) < 0)
      goto out;
    rc = 0;
  }
  if (step != SQLITE_DONE) rc = load_fail(l, "dist");
out:
  sqlite3_finalize(st);
  return rc;
}

static int get_hist(struct loader *l, int64_t id, struct hist *h) {
  uint64_t *ix = hmap_get(&l->dist_index, (uint64_t)id);
  if (!ix) return corrupt(l, "a reference to a missing distribution");
  return hist_copy(h, &l->dists[*ix]);
}

/* Copies the distribution referenced by column col into d; a NULL
 * reference means the input lacked the quantity (d->has = 0). */
static int get_opt_dist(struct loader *l, sqlite3_stmt *st, int col,
                        struct model_dist *d) {
  hist_init(&d->h);
  d->has = sqlite3_column_type(st, col) != SQLITE_NULL;
  if (!d->has) return 0;
  return get_hist(l, sqlite3_column_int64(st, col), &d->h);
}

#define LOAD_BEGIN(sql)                                                        \
  do {                                                                         \
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)            \
      return load_fail(l, sql);                                                \
  } while (0)

static int load_halves(struct loader *l, struct model *m);
/* Prepares sql when its table exists: older models (and models learned
 * from logs by older versions) lack the packet tables. 1 = prepared, 0 =
 * no such table, negative on error. */
static int prep_opt(struct loader *l, const char *table, const char *sql,
                    sqlite3_stmt **st) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(l->db,
                         "SELECT 1 FROM sqlite_master WHERE type='table'"
                         " AND name=?",
                         -1, &q, NULL) != SQLITE_OK)
    return load_fail(l, "sqlite_master");
  sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
  int have = sqlite3_step(q) == SQLITE_ROW;
  sqlite3_finalize(q);
  if (!have) return 0;
  if (sqlite3_prepare_v2(l->db, sql, -1, st, NULL) != SQLITE_OK)
    return load_fail(l, sql);
  return 1;
}

static void dir_copy(char out[12], sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(out, 12, "%s", t ? (const char *)t : "");
}

static int load_packets(struct loader *l, struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc, step;
#define OPT_BEGIN(table, sql)                                                  \
  do {                                                                         \
    if ((rc = prep_opt(l, table, sql, &st)) < 0) return rc;                    \
  } while (0)
  OPT_BEGIN("endpoint_header",
            "SELECT endpoint_id, dir, name, value, count FROM endpoint_header"
            " ORDER BY endpoint_id, dir, count DESC, name, value");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_header *h = model_push(m, headers);
    if (!h) goto nomem;
    h->endpoint = (uint32_t)sqlite3_column_int64(st, 0);
    dir_copy(h->dir, st, 1);
    h->name = col_dup(st, 2);
    h->value = col_dup(st, 3);
    h->count = (uint64_t)sqlite3_column_int64(st, 4);
    if (!h->name || !h->value) goto nomem;
    if (h->endpoint >= m->nendpoints) goto damaged;
  }
  sqlite3_finalize(st);
  st = NULL;
  OPT_BEGIN("body_shape", "SELECT endpoint_id, dir, bodies, invalid"
                          " FROM body_shape ORDER BY endpoint_id, dir");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_body *b = model_push(m, bodies);
    if (!b) goto nomem;
    b->endpoint = (uint32_t)sqlite3_column_int64(st, 0);
    dir_copy(b->dir, st, 1);
    b->bodies = (uint64_t)sqlite3_column_int64(st, 2);
    b->invalid = (uint64_t)sqlite3_column_int64(st, 3);
    if (b->endpoint >= m->nendpoints) goto damaged;
  }
  sqlite3_finalize(st);
  st = NULL;
  OPT_BEGIN("body_field", "SELECT id, endpoint_id, dir, path, type, presence,"
                          " redacted FROM body_field ORDER BY id");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) != (int64_t)m->nfields) goto damaged;
    struct model_field *f = model_push(m, fields);
    if (!f) goto nomem;
    f->endpoint = (uint32_t)sqlite3_column_int64(st, 1);
    dir_copy(f->dir, st, 2);
    f->path = col_dup(st, 3);
    f->type = col_dup(st, 4);
    f->presence = sqlite3_column_double(st, 5);
    f->redacted = sqlite3_column_int(st, 6);
    if (!f->path || !f->type) goto nomem;
    if (f->endpoint >= m->nendpoints) goto damaged;
  }
  sqlite3_finalize(st);
  st = NULL;
  OPT_BEGIN("body_value", "SELECT field_id, value, count FROM body_value"
                          " ORDER BY field_id, count DESC, value");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    if (id < 0 || (uint64_t)id >= m->nfields) goto damaged;
    struct model_field *f = &m->fields[id];
    struct model_value *nv = realloc(f->values, (f->nvalues + 1) * sizeof *nv);
    if (!nv) goto nomem;
    f->values = nv;
    nv[f->nvalues].value = col_dup(st, 1);
    nv[f->nvalues].count = (uint64_t)sqlite3_column_int64(st, 2);
    if (!nv[f->nvalues].value) goto nomem;
    f->nvalues++;
  }
  sqlite3_finalize(st);
  st = NULL;
  OPT_BEGIN("correlation",
            "SELECT src_endpoint, src_loc, src_name, dst_endpoint, dst_loc,"
            " dst_name, count FROM correlation ORDER BY count DESC,"
            " src_endpoint, dst_endpoint");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_correl *c = model_push(m, correls);
    if (!c) goto nomem;
    c->src_endpoint = (uint32_t)sqlite3_column_int64(st, 0);
    c->src_loc = col_dup(st, 1);
    c->src_name = col_dup(st, 2);
    c->dst_endpoint = (uint32_t)sqlite3_column_int64(st, 3);
    c->dst_loc = col_dup(st, 4);
    c->dst_name = col_dup(st, 5);
    c->count = (uint64_t)sqlite3_column_int64(st, 6);
    if (!c->src_loc || !c->src_name || !c->dst_loc || !c->dst_name) goto nomem;
    if (c->src_endpoint >= m->nendpoints || c->dst_endpoint >= m->nendpoints)
      goto damaged;
  }
  sqlite3_finalize(st);
  st = NULL;
  OPT_BEGIN("trace_chunk", "SELECT requests, raw_bytes, data FROM trace_chunk"
                           " ORDER BY seq");
  while (rc == 1 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_trace *t = model_push(m, traces);
    if (!t) goto nomem;
    t->requests = (uint64_t)sqlite3_column_int64(st, 0);
    t->raw_bytes = (uint64_t)sqlite3_column_int64(st, 1);
    t->len = (size_t)sqlite3_column_bytes(st, 2);
    t->data = malloc(t->len ? t->len : 1);
    if (!t->data) goto nomem;
    if (t->len) memcpy(t->data, sqlite3_column_blob(st, 2), t->len);
  }
  sqlite3_finalize(st);
  return 0;
#undef OPT_BEGIN
nomem:
  sqlite3_finalize(st);
  snprintf(l->err, l->errlen, "cannot read model %s: out of memory", l->path);
  return -ENOMEM;
damaged:
  sqlite3_finalize(st);
  return corrupt(l, "a packet capture table names a missing row");
}

/* Durations by session length, when the file has them (older captures do
 * not: sessions are then replayed unheld). */
static int load_shapes(struct loader *l, struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc = 0, step;
  if (sqlite3_prepare_v2(l->db,
                         "SELECT 1 FROM sqlite_master WHERE type='table'"
                         " AND name='session_shape'",
                         -1, &st, NULL) != SQLITE_OK)
    return load_fail(l, "sqlite_master");
  step = sqlite3_step(st);
  sqlite3_finalize(st);
  if (step != SQLITE_ROW) return 0;
  if (sqlite3_prepare_v2(l->db,
                         "SELECT persona_id, length_lo, length_hi,"
                         " duration_dist FROM session_shape"
                         " ORDER BY persona_id, length_lo",
                         -1, &st, NULL) != SQLITE_OK)
    return load_fail(l, "session_shape");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t p = sqlite3_column_int64(st, 0);
    int64_t lo = sqlite3_column_int64(st, 1), hi = sqlite3_column_int64(st, 2);
    if (p < 0 || (uint64_t)p >= m->npersonas || lo < 1 || hi < lo ||
        hi > UINT32_MAX) {
      rc = corrupt(l, "a session_shape row names a missing persona or an "
                      "empty length range");
      goto out;
    }
    struct model_shape *x = model_push(m, shapes);
    if (!x) {
      rc = -ENOMEM;
      goto out;
    }
    x->persona = (uint32_t)p;
    x->lo = (uint32_t)lo;
    x->hi = (uint32_t)hi;
    hist_init(&x->duration);
    if ((rc = get_hist(l, sqlite3_column_int64(st, 3), &x->duration))) goto out;
  }
  if (step != SQLITE_DONE) rc = load_fail(l, "session_shape");
out:
  sqlite3_finalize(st);
  return rc;
}

/* User agents by persona, when the file has them (older captures, and
 * models of one persona, do not: replay then draws from user_agent). The
 * user agents were loaded in id order; ua_id becomes an index into them by
 * its rank, as hand-written models need not number them from 0. */
static int load_persona_uas(struct loader *l, struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc = prep_opt(l, "persona_user_agent",
                    "SELECT p.persona_id,"
                    " (SELECT count(*) FROM user_agent u WHERE u.id < p.ua_id),"
                    " p.count,"
                    " EXISTS (SELECT 1 FROM user_agent u WHERE u.id = p.ua_id)"
                    " FROM persona_user_agent p ORDER BY p.persona_id, p.ua_id",
                    &st);
  if (rc <= 0) return rc;
  int step;
  rc = 0;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t p = sqlite3_column_int64(st, 0), u = sqlite3_column_int64(st, 1);
    int64_t c = sqlite3_column_int64(st, 2);
    if (p < 0 || (uint64_t)p >= m->npersonas || !sqlite3_column_int(st, 3) ||
        u < 0 || (uint64_t)u >= m->nuas || c < 0) {
      rc = corrupt(l, "a persona_user_agent row names a missing persona or "
                      "user agent");
      goto out;
    }
    struct model_persona_ua *x = model_push(m, persona_uas);
    if (!x) {
      rc = -ENOMEM;
      goto out;
    }
    x->persona = (uint32_t)p;
    x->ua = (uint32_t)u;
    x->count = (uint64_t)c;
  }
  if (step != SQLITE_DONE) rc = load_fail(l, "persona_user_agent");
out:
  sqlite3_finalize(st);
  return rc;
}

static int load_rows(struct loader *l, struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc = 0, step;

  LOAD_BEGIN("SELECT key, value FROM meta ORDER BY rowid");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_kv *kv = model_push(m, meta);
    if (!kv) goto nomem;
    kv->key = col_dup(st, 0);
    kv->value = col_dup(st, 1);
    if (!kv->key || !kv->value) goto nomem;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT name, format, bytes, lines, requests, malformed,"
             " filtered, directives, error FROM source_file ORDER BY id");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_source *f = model_push(m, sources);
    if (!f) goto nomem;
    f->name = col_dup(st, 0);
    f->format = col_dup(st, 1);
    f->bytes = (uint64_t)sqlite3_column_int64(st, 2);
    f->lines = (uint64_t)sqlite3_column_int64(st, 3);
    f->requests = (uint64_t)sqlite3_column_int64(st, 4);
    f->malformed = (uint64_t)sqlite3_column_int64(st, 5);
    f->filtered = (uint64_t)sqlite3_column_int64(st, 6);
    f->directives = (uint64_t)sqlite3_column_int64(st, 7);
    if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
      f->error = col_dup(st, 8);
      if (!f->error) goto nomem;
    }
    if (!f->name || !f->format) goto nomem;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT file_id, line, reason FROM malformed_sample"
             " ORDER BY rowid");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_malformed *x = model_push(m, malformed);
    if (!x) goto nomem;
    x->file = (uint32_t)sqlite3_column_int64(st, 0);
    x->line = (uint64_t)sqlite3_column_int64(st, 1);
    x->reason = col_dup(st, 2);
    if (!x->reason) goto nomem;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT id, method, host, template, count, latency_dist,"
             " resp_bytes_dist, req_bytes_dist FROM endpoint ORDER BY id");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) != (int64_t)m->nendpoints) {
      sqlite3_finalize(st);
      return corrupt(l, "endpoint ids are not dense from 0");
    }
    struct model_endpoint *e = model_push(m, endpoints);
    if (!e) goto nomem;
    e->method = col_dup(st, 1);
    e->host = col_dup(st, 2);
    e->templ = col_dup(st, 3);
    if (!e->method || !e->host || !e->templ) goto nomem;
    e->count = (uint64_t)sqlite3_column_int64(st, 4);
    if ((rc = get_opt_dist(l, st, 5, &e->latency)) ||
        (rc = get_opt_dist(l, st, 6, &e->resp_bytes)) ||
        (rc = get_opt_dist(l, st, 7, &e->req_bytes)))
      goto out;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT endpoint_id, status, count FROM endpoint_status"
             " ORDER BY endpoint_id, status");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t ep = sqlite3_column_int64(st, 0);
    if (ep < 0 || (uint64_t)ep >= m->nendpoints) {
      sqlite3_finalize(st);
      return corrupt(l, "a status row names a missing endpoint");
    }
    struct model_endpoint *e = &m->endpoints[ep];
    struct model_status *ns = realloc(e->status, (e->nstatus + 1) * sizeof *ns);
    if (!ns) goto nomem;
    e->status = ns;
    ns[e->nstatus].status = sqlite3_column_int(st, 1);
    ns[e->nstatus].count = (uint64_t)sqlite3_column_int64(st, 2);
    e->nstatus++;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT id, name, weight, sessions, length_dist, duration_dist"
             " FROM persona ORDER BY id");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) != (int64_t)m->npersonas) {
      sqlite3_finalize(st);
      return corrupt(l, "persona ids are not dense from 0");
    }
    struct model_persona *p = model_push(m, personas);
    if (!p) goto nomem;
    p->name = col_dup(st, 1);
    if (!p->name) goto nomem;
    p->weight = sqlite3_column_double(st, 2);
    p->sessions = (uint64_t)sqlite3_column_int64(st, 3);
    if ((rc = get_opt_dist(l, st, 4, &p->length)) ||
        (rc = get_opt_dist(l, st, 5, &p->duration)))
      goto out;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT persona_id, from_ep, to_ep, count, think_dist"
             " FROM transition ORDER BY persona_id, from_ep, to_ep");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_transition *t = model_push(m, transitions);
    if (!t) goto nomem;
    t->persona = (uint32_t)sqlite3_column_int64(st, 0);
    t->from = (int32_t)sqlite3_column_int64(st, 1);
    t->to = (int32_t)sqlite3_column_int64(st, 2);
    t->count = (uint64_t)sqlite3_column_int64(st, 3);
    if (t->persona >= m->npersonas ||
        (t->from != MODEL_START &&
         (t->from < 0 || (size_t)t->from >= m->nendpoints)) ||
        (t->to != MODEL_END && (t->to < 0 || (size_t)t->to >= m->nendpoints))) {
      sqlite3_finalize(st);
      return corrupt(l, "a transition names a missing endpoint or persona");
    }
    if ((rc = get_opt_dist(l, st, 4, &t->think))) goto out;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT persona_id, from_ep, dist_id FROM think_backoff"
             " ORDER BY persona_id, from_ep");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_backoff *b = model_push(m, backoffs);
    if (!b) goto nomem;
    b->persona = (uint32_t)sqlite3_column_int64(st, 0);
    b->from = (int32_t)sqlite3_column_int64(st, 1);
    hist_init(&b->think);
    if ((rc = get_hist(l, sqlite3_column_int64(st, 2), &b->think))) goto out;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT persona_id, minute, sessions FROM arrival"
             " ORDER BY persona_id, minute");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_arrival *a = model_push(m, arrivals);
    if (!a) goto nomem;
    a->persona = (uint32_t)sqlite3_column_int64(st, 0);
    a->minute = sqlite3_column_int64(st, 1);
    a->sessions = (uint64_t)sqlite3_column_int64(st, 2);
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT persona_id, kind, bucket, sessions FROM arrival_profile"
             " ORDER BY persona_id, kind, bucket");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_profile *p = model_push(m, profiles);
    if (!p) goto nomem;
    p->persona = (uint32_t)sqlite3_column_int64(st, 0);
    const unsigned char *k = sqlite3_column_text(st, 1);
    snprintf(p->kind, sizeof p->kind, "%s", k ? (const char *)k : "");
    p->bucket = (uint32_t)sqlite3_column_int64(st, 2);
    p->sessions = (uint64_t)sqlite3_column_int64(st, 3);
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);
  st = NULL;

  if ((rc = load_shapes(l, m))) goto out;

  LOAD_BEGIN("SELECT id, endpoint_id, loc, position, name, type, presence,"
             " distinct_values, distinct_exact, redacted FROM param"
             " ORDER BY id");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) != (int64_t)m->nparams) {
      sqlite3_finalize(st);
      return corrupt(l, "param ids are not dense from 0");
    }
    struct model_param *p = model_push(m, params);
    if (!p) goto nomem;
    p->endpoint = (uint32_t)sqlite3_column_int64(st, 1);
    const unsigned char *loc = sqlite3_column_text(st, 2);
    snprintf(p->loc, sizeof p->loc, "%s", loc ? (const char *)loc : "");
    p->position = (uint32_t)sqlite3_column_int64(st, 3);
    p->name = col_dup(st, 4);
    p->type = col_dup(st, 5);
    if (!p->name || !p->type) goto nomem;
    p->presence = sqlite3_column_double(st, 6);
    p->distinct = (uint64_t)sqlite3_column_int64(st, 7);
    p->distinct_exact = sqlite3_column_int(st, 8);
    p->redacted = sqlite3_column_int(st, 9);
    if (p->endpoint >= m->nendpoints) {
      sqlite3_finalize(st);
      return corrupt(l, "a param names a missing endpoint");
    }
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT param_id, value, count FROM pool_value"
             " ORDER BY param_id, count DESC, value");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t pid = sqlite3_column_int64(st, 0);
    if (pid < 0 || (uint64_t)pid >= m->nparams) {
      sqlite3_finalize(st);
      return corrupt(l, "a pool value names a missing param");
    }
    struct model_param *p = &m->params[pid];
    struct model_value *nv = realloc(p->values, (p->nvalues + 1) * sizeof *nv);
    if (!nv) goto nomem;
    p->values = nv;
    nv[p->nvalues].value = col_dup(st, 1);
    nv[p->nvalues].count = (uint64_t)sqlite3_column_int64(st, 2);
    if (!nv[p->nvalues].value) goto nomem;
    p->nvalues++;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);

  LOAD_BEGIN("SELECT value, count, is_bot FROM user_agent ORDER BY id");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_ua *u = model_push(m, uas);
    if (!u) goto nomem;
    u->value = col_dup(st, 0);
    if (!u->value) goto nomem;
    u->count = (uint64_t)sqlite3_column_int64(st, 1);
    u->is_bot = sqlite3_column_int(st, 2);
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = load_persona_uas(l, m))) goto out;

  LOAD_BEGIN("SELECT loc, name, action, count FROM redaction"
             " ORDER BY loc, name, action");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct model_redaction *r = model_push(m, redactions);
    if (!r) goto nomem;
    r->loc = col_dup(st, 0);
    r->name = col_dup(st, 1);
    r->action = col_dup(st, 2);
    if (!r->loc || !r->name || !r->action) goto nomem;
    r->count = (uint64_t)sqlite3_column_int64(st, 3);
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);
  st = NULL;
  if ((rc = load_halves(l, m))) return rc;
  return load_packets(l, m);

nomem:
  rc = -ENOMEM;
  snprintf(l->err, l->errlen, "cannot read model %s: out of memory", l->path);
  goto out;
sqlfail:
  rc = load_fail(l, "query");
out:
  sqlite3_finalize(st);
  return rc;
}

/* The split-half baseline, when the file has one (older captures do not):
 * two small models sharing m's endpoint ids and templates. */
/* As LOAD_BEGIN, but through the cleanup of load_halves. */
#define HALF_BEGIN(sql)                                                        \
  do {                                                                         \
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {          \
      st = NULL;                                                               \
      goto sqlfail;                                                            \
    }                                                                          \
  } while (0)

static int load_halves(struct loader *l, struct model *m) {
  sqlite3_stmt *st = NULL;
  int rc = 0, step;
  if (sqlite3_prepare_v2(l->db,
                         "SELECT 1 FROM sqlite_master WHERE type='table'"
                         " AND name='half_session'",
                         -1, &st, NULL) != SQLITE_OK)
    return load_fail(l, "sqlite_master");
  step = sqlite3_step(st);
  sqlite3_finalize(st);
  st = NULL;
  if (step != SQLITE_ROW) return 0;
  struct model *h[2] = {NULL, NULL};
  for (int k = 0; k < 2; k++) {
    if ((rc = model_new(&h[k]))) goto nomem;
    for (size_t i = 0; i < m->nendpoints; i++) {
      struct model_endpoint *e = model_push(h[k], endpoints);
      if (!e) goto nomem;
      e->method = strdup(m->endpoints[i].method);
      e->host = strdup(m->endpoints[i].host);
      e->templ = strdup(m->endpoints[i].templ);
      if (!e->method || !e->host || !e->templ) goto nomem;
    }
  }

  HALF_BEGIN("SELECT half, sessions, length_dist, duration_dist"
             " FROM half_session ORDER BY half");
  int seen = 0;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t k = sqlite3_column_int64(st, 0);
    if (k < 0 || k > 1 || h[k]->npersonas) {
      rc = corrupt(l, "a half_session row is not half 0 or 1");
      goto out;
    }
    struct model_persona *p = model_push(h[k], personas);
    if (!p || !(p->name = strdup("all"))) goto nomem;
    p->weight = 1;
    p->sessions = (uint64_t)sqlite3_column_int64(st, 1);
    if ((rc = get_opt_dist(l, st, 2, &p->length)) ||
        (rc = get_opt_dist(l, st, 3, &p->duration)))
      goto out;
    seen++;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);
  st = NULL;
  if (seen == 0) goto none; /* tables present, baseline not written */
  if (seen != 2) {
    rc = corrupt(l, "half_session lacks a half");
    goto out;
  }

  HALF_BEGIN("SELECT half, endpoint_id, status, count FROM half_status"
             " ORDER BY half, endpoint_id, status");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t k = sqlite3_column_int64(st, 0);
    int64_t ep = sqlite3_column_int64(st, 1);
    int64_t c = sqlite3_column_int64(st, 3);
    if (k < 0 || k > 1 || ep < 0 || (uint64_t)ep >= m->nendpoints || c < 0) {
      rc = corrupt(l, "a half_status row names a missing half or endpoint");
      goto out;
    }
    struct model_endpoint *e = &h[k]->endpoints[ep];
    e->count += (uint64_t)c;
    int status = sqlite3_column_int(st, 2);
    if (status == 0) continue;
    struct model_status *ns = realloc(e->status, (e->nstatus + 1) * sizeof *ns);
    if (!ns) goto nomem;
    e->status = ns;
    ns[e->nstatus].status = status;
    ns[e->nstatus].count = (uint64_t)c;
    e->nstatus++;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  sqlite3_finalize(st);
  st = NULL;

  HALF_BEGIN("SELECT half, from_ep, to_ep, count, think_dist"
             " FROM half_transition ORDER BY half, from_ep, to_ep");
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t k = sqlite3_column_int64(st, 0);
    int64_t from = sqlite3_column_int64(st, 1),
            to = sqlite3_column_int64(st, 2);
    if (k < 0 || k > 1 ||
        (from != MODEL_START &&
         (from < 0 || (uint64_t)from >= m->nendpoints)) ||
        (to != MODEL_END && (to < 0 || (uint64_t)to >= m->nendpoints))) {
      rc = corrupt(l, "a half_transition row names a missing endpoint");
      goto out;
    }
    struct model_transition *t = model_push(h[k], transitions);
    if (!t) goto nomem;
    t->from = (int32_t)from;
    t->to = (int32_t)to;
    t->count = (uint64_t)sqlite3_column_int64(st, 3);
    if ((rc = get_opt_dist(l, st, 4, &t->think))) goto out;
  }
  if (step != SQLITE_DONE) goto sqlfail;
  m->half[0] = h[0];
  m->half[1] = h[1];
  h[0] = h[1] = NULL;
  rc = 0;
  goto out;

none:
  rc = 0;
  goto out;
nomem:
  rc = -ENOMEM;
  snprintf(l->err, l->errlen, "cannot read model %s: out of memory", l->path);
  goto out;
sqlfail:
  rc = load_fail(l, "query");
out:
  sqlite3_finalize(st);
  model_free(h[0]);
  model_free(h[1]);
  return rc;
}

int model_load(const char *path, struct model **out, char *err, size_t errlen) {
  struct loader l = {.path = path, .err = err, .errlen = errlen};
  hmap_init(&l.dist_index);
  struct model *m = NULL;
  int rc;
  struct stat stt;
  if (stat(path, &stt) != 0) {
    int e = errno;
    snprintf(err, errlen, "cannot read model %s: %s", path, strerror(e));
    return -e;
  }
  if (sqlite3_open_v2(path, &l.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot read model %s: %s", path,
             l.db ? sqlite3_errmsg(l.db) : "out of memory");
    rc = ERR_SQLITE;
    goto out;
  }
  /* Version first: a newer model may not even have the tables we expect. */
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(l.db,
                         "SELECT value FROM meta WHERE key='schema_version'",
                         -1, &st, NULL) != SQLITE_OK) {
    int code = sqlite3_errcode(l.db);
    snprintf(err, errlen, "%s is not a mimic model (%s)", path,
             code == SQLITE_NOTADB ? "not an SQLite database"
                                   : "no meta table");
    rc = ERR_CORRUPT;
    goto out;
  }
  long version = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    char *end;
    version = v ? strtol((const char *)v, &end, 10) : -1;
    if (!v || *end) version = -1;
  }
  sqlite3_finalize(st);
  if (version < 1) {
    snprintf(err, errlen, "%s is not a mimic model (no schema_version)", path);
    rc = ERR_CORRUPT;
    goto out;
  }
  if (version > MODEL_SCHEMA_VERSION) {
    snprintf(err, errlen,
             "%s was written with model schema version %ld; this mimic (%s) "
             "reads up to version %d: upgrade mimic to read it",
             path, version, MIMIC_VERSION, MODEL_SCHEMA_VERSION);
    rc = ERR_VERSION;
    goto out;
  }
  /* Histogram buckets only mean something under the alpha they were
   * written with: refuse a model from a build with another alpha rather
   * than misread it. */
  if (sqlite3_prepare_v2(l.db, "SELECT value FROM meta WHERE key='dist_alpha'",
                         -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char *a = sqlite3_column_text(st, 0);
      double alpha = a ? atof((const char *)a) : 0;
      if (fabs(alpha - HIST_ALPHA) > 1e-12) {
        snprintf(err, errlen,
                 "%s stores distributions with relative accuracy %s; this "
                 "mimic reads %g only",
                 path, a ? (const char *)a : "?", HIST_ALPHA);
        rc = ERR_VERSION;
        sqlite3_finalize(st);
        goto out;
      }
    }
    sqlite3_finalize(st);
  }
  if ((rc = model_new(&m))) goto out;
  if ((rc = load_dists(&l))) goto out;
  if ((rc = load_rows(&l, m))) goto out;
  *out = m;
  m = NULL;
out:
  if (rc == -ENOMEM && err[0] == '\0')
    snprintf(err, errlen, "cannot read model %s: out of memory", path);
  model_free(m);
  for (size_t i = 0; i < l.ndists; i++) hist_cleanup(&l.dists[i]);
  free(l.dists);
  hmap_cleanup(&l.dist_index);
  sqlite3_close(l.db);
  return rc;
}
