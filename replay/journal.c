#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define JOURNAL_VERSION "1"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS journal_meta ("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO journal_meta VALUES ('kind', 'mimic-journal');"
    "INSERT OR IGNORE INTO journal_meta VALUES ('version', " JOURNAL_VERSION
    ");"
    /* One row per replay that wrote here. */
    "CREATE TABLE IF NOT EXISTS run ("
    "  run_id TEXT PRIMARY KEY, target TEXT NOT NULL, model TEXT,"
    "  started_utc TEXT NOT NULL, ended_utc TEXT, host TEXT, pid INTEGER);"
    /* One row per create sent, in sending order (seq). state: pending
     * (sent, outcome unknown), live (created: del_url deletes it), none
     * (nothing was created), deleted, gone (already gone at cleanup),
     * unfound (pending, not in its collection at cleanup). */
    "CREATE TABLE IF NOT EXISTS resource ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id TEXT NOT NULL, user INTEGER NOT NULL, session INTEGER NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  method TEXT NOT NULL, url TEXT NOT NULL, tag TEXT,"
    "  status INTEGER, resource_id TEXT,"
    "  del_method TEXT NOT NULL, del_tmpl TEXT NOT NULL, del_url TEXT,"
    "  headers TEXT, state TEXT NOT NULL,"
    "  session_done INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER,"
    "  last_error TEXT, done_us INTEGER);"
    "CREATE INDEX IF NOT EXISTS resource_del ON resource(del_url);"
    "CREATE INDEX IF NOT EXISTS resource_sess ON resource(run_id, user,"
    "  session);";

enum {
  ST_INTENT,
  ST_CONFIRM_LIVE,
  ST_CONFIRM_NONE,
  ST_CONFIRM_STATUS,
  ST_DELETED,
  ST_SESSION,
  ST_MARK_DONE,
  ST_MARK_FAIL,
  ST_FOUND,
  ST_HEADERS,
  ST_SUPERSEDED,
  ST_WAITING,
  ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_INTENT] = "INSERT INTO resource (run_id, user, session, created_us,"
                  " method, url, tag, del_method, del_tmpl, headers, state)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                  " 'pending')",
    [ST_CONFIRM_LIVE] =
        "UPDATE resource SET state = 'live', status = ?2, resource_id = ?3,"
        " del_url = replace(del_tmpl, '{created.id}', ?3) WHERE seq = ?1",
    [ST_CONFIRM_NONE] = "UPDATE resource SET state = 'none', status = ?2"
                        " WHERE seq = ?1",
    [ST_CONFIRM_STATUS] = "UPDATE resource SET status = ?2 WHERE seq = ?1",
    [ST_DELETED] = "UPDATE resource SET state = 'deleted', last_status = ?2,"
                   " done_us = ?3 WHERE seq = ?1 AND state = 'live'",
    [ST_SESSION] = "UPDATE resource SET session_done = 1 WHERE run_id = ?1"
                   " AND user = ?2 AND session = ?3",
    [ST_MARK_DONE] = "UPDATE resource SET state = ?2, last_status = ?3,"
                     " last_error = ?4, done_us = ?5,"
                     " attempts = attempts + 1 WHERE seq = ?1",
    [ST_MARK_FAIL] = "UPDATE resource SET last_status = ?3, last_error = ?4,"
                     " attempts = attempts + 1 WHERE seq = ?1",
    [ST_FOUND] = "UPDATE resource SET state = 'live', resource_id = ?2,"
                 " del_url = ?3 WHERE seq = ?1",
    [ST_SUPERSEDED] = "SELECT 1 FROM resource WHERE del_url = ?2 AND seq > ?1"
                      " LIMIT 1",
    [ST_WAITING] = "SELECT 1 FROM resource WHERE seq > ?1 AND url = ?2"
                   " AND state = 'pending' AND status IS NULL AND run_id ="
                   " (SELECT run_id FROM resource WHERE seq = ?1) LIMIT 1",
    [ST_HEADERS] = "UPDATE resource SET headers = ?3 WHERE run_id = ?1"
                   " AND user = ?2 AND state IN ('pending', 'live')",
};

struct journal {
  sqlite3 *db;
  pthread_mutex_t lock;
  sqlite3_stmt *st[ST_COUNT];
  char *run_id; /* the run writing, or NULL */
};

static int64_t wall_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void utc_now(char *buf, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *journal_errmsg(struct journal *j) {
  return j && j->db ? sqlite3_errmsg(j->db) : "no journal";
}

static int fail(char *err, size_t errlen, const char *path, const char *what,
                const char *why) {
  if (err && errlen)
    snprintf(err, errlen, "journal %s: %s%s%s", path, what, why ? ": " : "",
             why ? why : "");
  return ERR_SQLITE;
}

static void free_journal(struct journal *j) {
  for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(j->st[i]);
  if (j->db) sqlite3_close(j->db);
  pthread_mutex_destroy(&j->lock);
  free(j->run_id);
  free(j);
}

/* Whether the file is a journal (or empty, for a new one). */
static int check_kind(struct journal *j) {
  sqlite3_stmt *st = NULL;
  int ok = 0;
  if (sqlite3_prepare_v2(j->db,
                         "SELECT value FROM journal_meta WHERE key = 'kind'",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    ok = v && strcmp(v, "mimic-journal") == 0;
  }
  sqlite3_finalize(st);
  return ok;
}

static int count_tables(struct journal *j) {
  sqlite3_stmt *st = NULL;
  int n = -1;
  if (sqlite3_prepare_v2(j->db, "SELECT count(*) FROM sqlite_master", -1, &st,
                         NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return n;
}

int journal_open(const char *path, const struct journal_run *run,
                 struct journal **out, char *err, size_t errlen) {
  struct journal *j = calloc(1, sizeof *j);
  if (!j) return -ENOMEM;
  pthread_mutex_init(&j->lock, NULL);
  int rc;
  if (!run && access(path, F_OK) != 0) {
    if (err && errlen)
      snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
    free_journal(j);
    return ERR_NOTFOUND;
  }
  if (run) {
    /* Owner-only from the start: it holds Authorization headers (SQLite
     * gives its -wal and -shm files the same mode). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (err && errlen)
        snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
      free_journal(j);
      return -errno;
    }
    close(fd);
  }
  if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    rc = fail(err, errlen, path, "cannot open", sqlite3_errmsg(j->db));
    goto bad;
  }
  sqlite3_busy_timeout(j->db, 5000);
  int tables = count_tables(j);
  if (tables < 0) {
    rc = fail(err, errlen, path, "not a SQLite file", sqlite3_errmsg(j->db));
    rc = ERR_CORRUPT;
    goto bad;
  }
  if (tables > 0 && !check_kind(j)) {
    if (err && errlen) snprintf(err, errlen, "%s is not a mimic journal", path);
    rc = ERR_CORRUPT;
    goto bad;
  }
  if (!run && tables == 0) {
    if (err && errlen) snprintf(err, errlen, "%s is an empty file", path);
    rc = ERR_CORRUPT;
    goto bad;
  }
  /* WAL with synchronous=NORMAL: each commit reaches the operating system
   * before the call returns, so a crash of mimic (kill -9) loses nothing;
   * only a crash of the machine itself could lose the last commits. */
  char *msg = NULL;
  if (sqlite3_exec(j->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                   NULL, NULL, &msg) != SQLITE_OK ||
      sqlite3_exec(j->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
    rc = fail(err, errlen, path, "cannot set up", msg);
    sqlite3_free(msg);
    goto bad;
  }
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v2(j->db, sql[i], -1, &j->st[i], NULL) != SQLITE_OK) {
      rc = fail(err, errlen, path, "cannot prepare", sqlite3_errmsg(j->db));
      goto bad;
    }
  }
  if (run) {
    j->run_id = strdup(run->run_id);
    if (!j->run_id) {
      rc = -ENOMEM;
      goto bad;
    }
    sqlite3_stmt *st = NULL;
    char now[32], host[256] = "";
    utc_now(now, sizeof now);
    gethostname(host, sizeof host - 1);
    if (sqlite3_prepare_v2(j->db,
                           "INSERT OR REPLACE INTO run VALUES (?, ?, ?, ?, "
                           "NULL, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
      rc = fail(err, errlen, path, "cannot write", sqlite3_errmsg(j->db));
      goto bad;
    }
    sqlite3_bind_text(st, 1, run->run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, run->target ? run->target : "", -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, run->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)getpid());
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) {
      rc = fail(err, errlen, path, "cannot write", sqlite3_errmsg(j->db));
      goto bad;
    }
  }
  *out = j;
  return 0;
bad:
  free_journal(j);
  return rc;
}

void journal_close(struct journal *j) {
  if (!j) return;
  if (j->run_id) {
    sqlite3_stmt *st = NULL;
    char now[32];
    utc_now(now, sizeof now);
    if (sqlite3_prepare_v2(j->db,
                           "UPDATE run SET ended_utc = ? WHERE run_id = ?", -1,
                           &st, NULL) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, j->run_id, -1, SQLITE_TRANSIENT);
      sqlite3_step(st);
    }
    sqlite3_finalize(st);
  }
  free_journal(j);
}

/* Runs a prepared statement to its end under the lock; binds are done by
 * the caller (also under the lock). */
static int step(struct journal *j, sqlite3_stmt *st) {
  int s = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return s == SQLITE_DONE || s == SQLITE_ROW ? 0 : ERR_SQLITE;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

int journal_intent(struct journal *j, const struct journal_intent *in,
                   int64_t *seq) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[ST_INTENT];
  bind_text(st, 1, j->run_id ? j->run_id : "");
  sqlite3_bind_int64(st, 2, (sqlite3_int64)in->user);
  sqlite3_bind_int64(st, 3, in->session);
  sqlite3_bind_int64(st, 4, wall_us());
  bind_text(st, 5, in->method);
  bind_text(st, 6, in->url);
  bind_text(st, 7, in->tag);
  bind_text(st, 8, in->del_method);
  bind_text(st, 9, in->del_url);
  bind_text(st, 10, in->headers);
  int rc = step(j, st);
  if (!rc) *seq = sqlite3_last_insert_rowid(j->db);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_confirm(struct journal *j, int64_t seq, const char *id, int status,
                    int created) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st;
  if (id && created && status > 0 && status < 400) {
    st = j->st[ST_CONFIRM_LIVE];
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
  } else if (!created || status >= 400) {
    st = j->st[ST_CONFIRM_NONE];
  } else {
    st = j->st[ST_CONFIRM_STATUS];
  }
  sqlite3_bind_int64(st, 1, seq);
  if (status > 0)
    sqlite3_bind_int(st, 2, status);
  else
    sqlite3_bind_null(st, 2);
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_deleted(struct journal *j, int64_t seq, int status) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[ST_DELETED];
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_int(st, 2, status);
  sqlite3_bind_int64(st, 3, wall_us());
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_headers(struct journal *j, uint64_t user, const char *headers) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[ST_HEADERS];
  bind_text(st, 1, j->run_id ? j->run_id : "");
  sqlite3_bind_int64(st, 2, (sqlite3_int64)user);
  bind_text(st, 3, headers);
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_session_done(struct journal *j, uint64_t user, uint32_t session) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[ST_SESSION];
  bind_text(st, 1, j->run_id ? j->run_id : "");
  sqlite3_bind_int64(st, 2, (sqlite3_int64)user);
  sqlite3_bind_int64(st, 3, session);
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

static char *col_dup(sqlite3_stmt *st, int i) {
  const char *v = (const char *)sqlite3_column_text(st, i);
  return v ? strdup(v) : NULL;
}

void journal_items_free(struct journal_item *items, size_t n) {
  for (size_t i = 0; items && i < n; i++) {
    free(items[i].method);
    free(items[i].url);
    free(items[i].del_method);
    free(items[i].del_url);
    free(items[i].create_url);
    free(items[i].tag);
    free(items[i].headers);
    free(items[i].run_id);
  }
  free(items);
}

int journal_todo(struct journal *j, const char *run_id, int ended_only,
                 int live_only, struct journal_item **items, size_t *n) {
  static const char q[] =
      "SELECT seq, state, del_method, del_url, method, url, del_tmpl, tag,"
      " headers, run_id FROM resource"
      " WHERE (state = 'live' OR (state = 'pending' AND ?3 = 0))"
      " AND (?1 IS NULL OR run_id = ?1) AND (?2 = 0 OR session_done = 1)"
      " ORDER BY seq DESC";
  static const char stale[] =
      "UPDATE resource SET state = 'gone', last_error = 'superseded: its URL"
      " names a newer resource' WHERE state = 'live' AND EXISTS (SELECT 1"
      " FROM resource n WHERE n.del_url = resource.del_url AND n.seq >"
      " resource.seq)";
  sqlite3_stmt *st = NULL;
  struct journal_item *v = NULL;
  size_t len = 0, cap = 0;
  int rc = ERR_SQLITE;
  *items = NULL;
  *n = 0;
  pthread_mutex_lock(&j->lock);
  if (sqlite3_exec(j->db, stale, NULL, NULL, NULL) != SQLITE_OK) goto out;
  if (sqlite3_prepare_v2(j->db, q, -1, &st, NULL) != SQLITE_OK) goto out;
  bind_text(st, 1, run_id);
  sqlite3_bind_int(st, 2, ended_only != 0);
  sqlite3_bind_int(st, 3, live_only != 0);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      struct journal_item *nv = realloc(v, ncap * sizeof *nv);
      if (!nv) {
        rc = -ENOMEM;
        goto out;
      }
      v = nv;
      cap = ncap;
    }
    struct journal_item *it = &v[len++];
    memset(it, 0, sizeof *it);
    it->seq = sqlite3_column_int64(st, 0);
    const char *state = (const char *)sqlite3_column_text(st, 1);
    it->kind =
        state && strcmp(state, "live") == 0 ? JOURNAL_LIVE : JOURNAL_PENDING;
    if (it->kind == JOURNAL_LIVE) {
      it->method = col_dup(st, 2);
      it->url = col_dup(st, 3);
    } else {
      it->method = strdup("GET");
      it->url = col_dup(st, 5);
      it->del_method = col_dup(st, 2);
      it->del_url = col_dup(st, 6);
    }
    it->create_url = col_dup(st, 5);
    it->tag = col_dup(st, 7);
    it->headers = col_dup(st, 8);
    it->run_id = col_dup(st, 9);
    if (!it->method || !it->url || !it->create_url) {
      rc = -ENOMEM;
      goto out;
    }
  }
  if (s != SQLITE_DONE) goto out;
  *items = v;
  *n = len;
  v = NULL;
  len = 0;
  rc = 0;
out:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&j->lock);
  journal_items_free(v, len);
  return rc;
}

int journal_mark(struct journal *j, int64_t seq, const char *state, int status,
                 const char *error) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[state ? ST_MARK_DONE : ST_MARK_FAIL];
  sqlite3_bind_int64(st, 1, seq);
  bind_text(st, 2, state);
  if (status > 0)
    sqlite3_bind_int(st, 3, status);
  else
    sqlite3_bind_null(st, 3);
  bind_text(st, 4, error);
  if (state) sqlite3_bind_int64(st, 5, wall_us());
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

/* Whether the query stmt (?1 a row, ?2 a URL) finds a row. */
static int row_exists(struct journal *j, int stmt, int64_t seq,
                      const char *url) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[stmt];
  sqlite3_bind_int64(st, 1, seq);
  bind_text(st, 2, url);
  int found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  pthread_mutex_unlock(&j->lock);
  return found;
}

int journal_superseded(struct journal *j, int64_t seq, const char *url) {
  return row_exists(j, ST_SUPERSEDED, seq, url);
}

int journal_create_waiting(struct journal *j, int64_t seq,
                           const char *create_url) {
  return row_exists(j, ST_WAITING, seq, create_url);
}

int journal_found(struct journal *j, int64_t seq, const char *id,
                  const char *del_url) {
  pthread_mutex_lock(&j->lock);
  sqlite3_stmt *st = j->st[ST_FOUND];
  sqlite3_bind_int64(st, 1, seq);
  bind_text(st, 2, id);
  bind_text(st, 3, del_url);
  int rc = step(j, st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_counts(struct journal *j, const char *run_id,
                   struct journal_counts *c) {
  memset(c, 0, sizeof *c);
  sqlite3_stmt *st = NULL;
  int rc = ERR_SQLITE;
  pthread_mutex_lock(&j->lock);
  if (sqlite3_prepare_v2(j->db,
                         "SELECT state, count(*) FROM resource WHERE ?1 IS "
                         "NULL OR run_id = ?1 GROUP BY state",
                         -1, &st, NULL) != SQLITE_OK)
    goto out;
  bind_text(st, 1, run_id);
  int s;
  while ((s = sqlite3_step(st)) == SQLITE_ROW) {
    const char *state = (const char *)sqlite3_column_text(st, 0);
    uint64_t k = (uint64_t)sqlite3_column_int64(st, 1);
    if (!state) continue;
    if (strcmp(state, "pending") == 0) c->pending = k;
    if (strcmp(state, "live") == 0) c->live = k;
    if (strcmp(state, "none") == 0) c->none = k;
    if (strcmp(state, "deleted") == 0) c->deleted = k;
    if (strcmp(state, "gone") == 0) c->gone = k;
    if (strcmp(state, "unfound") == 0) c->unfound = k;
  }
  rc = s == SQLITE_DONE ? 0 : ERR_SQLITE;
out:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&j->lock);
  return rc;
}

int journal_running(struct journal *j, char *run_id, size_t len) {
  sqlite3_stmt *st = NULL;
  char host[256] = "";
  int n = 0;
  gethostname(host, sizeof host - 1);
  pthread_mutex_lock(&j->lock);
  if (sqlite3_prepare_v2(j->db,
                         "SELECT run_id, host, pid FROM run WHERE ended_utc "
                         "IS NULL",
                         -1, &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *id = (const char *)sqlite3_column_text(st, 0);
      const char *h = (const char *)sqlite3_column_text(st, 1);
      pid_t pid = (pid_t)sqlite3_column_int64(st, 2);
      if (!h || strcmp(h, host) != 0 || pid <= 0) continue;
      if ((kill(pid, 0) == 0 || errno == EPERM) && pid != getpid()) {
        if (n == 0 && run_id && len) snprintf(run_id, len, "%s", id ? id : "");
        n++;
      }
    }
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&j->lock);
  return n;
}
