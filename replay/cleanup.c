#include "cleanup.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "correl.h"
#include "engine.h"
#include "err.h"
#include "journal.h"
#include "units.h"

#define URL_MAX 8192
#define SWEEP_CAP (16u << 20) /* a collection searched for a marker */
#define BACKOFF_US 200000
#define BACKOFF_MAX_US 5000000

struct cl {
  const struct cleanup_opts *o;
  struct cleanup_result *res;
  struct journal *j;
  struct journal_item *items;
  size_t n, i;
  unsigned attempt;
  uv_loop_t loop;
  uv_timer_t timer, poll;
  struct engine *e;
  char origin[1024];
  int in_flight, switching, stop, finished, rc;
  uint64_t next_ok_us, interval_us;
  char path[URL_MAX];
  char hbuf[8192];
  const char *hdrs[ENGINE_REQ_HEADERS];
  size_t nh;
  char err[512];
};

static uint64_t now_us(void) {
  return uv_hrtime() / 1000;
}

static void start(struct cl *c);
static int start_one(struct cl *c);

static void add_failure(struct cl *c, const struct journal_item *it,
                        const char *why) {
  struct cleanup_result *r = c->res;
  r->failed++;
  if (r->nfailures >= CLEANUP_FAILURES_MAX) return;
  struct cleanup_failure *f = &r->failures[r->nfailures];
  f->method = strdup(it->kind == JOURNAL_LIVE ? it->method : "FIND");
  f->url = strdup(it->url);
  f->why = strdup(why);
  if (f->method && f->url && f->why) {
    r->nfailures++;
  } else {
    free(f->method);
    free(f->url);
    free(f->why);
  }
}

static void mark(struct cl *c, const struct journal_item *it, const char *state,
                 int status, const char *why) {
  if (journal_mark(c->j, it->seq, state, status, why) && !c->rc) {
    c->rc = ERR_SQLITE;
    snprintf(c->err, sizeof c->err, "cannot write the journal: %s",
             journal_errmsg(c->j));
  }
}

/* Moves to the next row. */
static void next(struct cl *c) {
  c->i++;
  c->attempt = 0;
  start(c);
}

static void finish(struct cl *c) {
  if (c->finished) return;
  c->finished = 1;
  c->res->left = c->n > c->i ? c->n - c->i : 0;
  uv_timer_stop(&c->timer);
  uv_timer_stop(&c->poll);
  uv_close((uv_handle_t *)&c->timer, NULL);
  uv_close((uv_handle_t *)&c->poll, NULL);
  if (c->e) engine_close(c->e, NULL, NULL);
  c->e = NULL;
}

static void on_timer(uv_timer_t *t) {
  start(t->data);
}

static void on_poll(uv_timer_t *t) {
  struct cl *c = t->data;
  if (c->o->should_stop && c->o->should_stop(c->o->stop_arg)) {
    c->stop = 1;
    c->res->interrupted = 1;
    if (!c->in_flight && !c->switching) start(c);
  }
}

static int transient(const struct engine_result *r) {
  if (r->err != ENGINE_OK) return 1;
  return r->status == 408 || r->status == 425 || r->status == 429 ||
         r->status >= 500;
}

/* Whether some string inside v contains tag. */
static int holds(const json_t *v, const char *tag) {
  if (json_is_string(v)) return strstr(json_string_value(v), tag) != NULL;
  size_t i;
  const char *k;
  json_t *x;
  if (json_is_array(v)) {
    json_array_foreach(v, i, x) if (holds(x, tag)) return 1;
  } else if (json_is_object(v)) {
    json_object_foreach((json_t *)v, k, x) if (holds(x, tag)) return 1;
  }
  return 0;
}

/* The id of the element of a collection answer that carries tag. */
static size_t find_tagged(const char *body, size_t len, const char *tag,
                          char *id, size_t cap, int *parsed) {
  json_t *doc = json_loadb(body, len, 0, NULL);
  *parsed = doc != NULL;
  if (!doc) return 0;
  const json_t *list = doc;
  if (json_is_object(doc)) {
    static const char *const keys[] = {"data", "items", "results", NULL};
    list = NULL;
    for (const char *const *k = keys; *k && !list; k++)
      if (json_is_array(json_object_get(doc, *k)))
        list = json_object_get(doc, *k);
  }
  size_t n = 0, i;
  json_t *el;
  if (json_is_array(list)) {
    json_array_foreach(list, i, el) {
      if (holds(el, tag) && (n = correl_json_id(el, id, cap))) break;
    }
  }
  json_decref(doc);
  return n;
}

static void on_done(void *arg, const struct engine_result *r) {
  struct cl *c = arg;
  c->in_flight = 0;
  c->res->requests++;
  if (c->finished || c->i >= c->n) return;
  struct journal_item *it = &c->items[c->i];
  char why[256];
  if (r->err != ENGINE_OK)
    snprintf(why, sizeof why, "%s: %s", engine_error_name(r->err),
             r->err_text ? r->err_text : "");
  else
    snprintf(why, sizeof why, "HTTP %d", r->status);
  if (r->err_text && strcmp(r->err_text, "aborted") == 0) {
    /* The engine closed under us (stopping): the row stays as it was. */
    return;
  }
  if (it->kind == JOURNAL_LIVE) {
    if (r->err == ENGINE_OK && r->status >= 200 && r->status < 300) {
      c->res->deleted++;
      mark(c, it, "deleted", r->status, NULL);
      next(c);
      return;
    }
    if (r->err == ENGINE_OK && (r->status == 404 || r->status == 410)) {
      c->res->gone++;
      mark(c, it, "gone", r->status, NULL);
      next(c);
      return;
    }
  } else if (r->err == ENGINE_OK && r->status >= 200 && r->status < 300) {
    char id[256];
    int parsed = 0;
    size_t n = r->body ? find_tagged(r->body, r->body_len, it->tag, id,
                                     sizeof id, &parsed)
                       : 0;
    if (n) {
      char url[URL_MAX];
      const char *at = strstr(it->del_url, "{created.id}");
      if (at)
        snprintf(url, sizeof url, "%.*s%s%s", (int)(at - it->del_url),
                 it->del_url, id, at + 12);
      else
        snprintf(url, sizeof url, "%s", it->del_url);
      char *m = strdup(it->del_method), *u = strdup(url);
      if (!m || !u || journal_found(c->j, it->seq, id, url)) {
        free(m);
        free(u);
        add_failure(c, it, "cannot record what was found");
        next(c);
        return;
      }
      c->res->found++;
      free(it->method);
      free(it->url);
      it->method = m;
      it->url = u;
      it->kind = JOURNAL_LIVE;
      c->attempt = 0;
      start(c);
      return;
    }
    if (!parsed || r->body_truncated) {
      add_failure(c, it,
                  r->body_truncated
                      ? "its collection is too large to search for its marker"
                      : "its collection's answer is not JSON");
      mark(c, it, NULL, r->status, "collection not searchable");
      next(c);
      return;
    }
    c->res->unfound++;
    mark(c, it, "unfound", r->status, NULL);
    next(c);
    return;
  } else if (r->err == ENGINE_OK && (r->status == 404 || r->status == 410)) {
    /* The collection is gone (its parent was deleted): so is the rest. */
    c->res->unfound++;
    mark(c, it, "unfound", r->status, NULL);
    next(c);
    return;
  }
  if (transient(r) && c->attempt < c->o->retries && !c->stop) {
    uint64_t wait = (uint64_t)BACKOFF_US << c->attempt;
    if (wait > BACKOFF_MAX_US) wait = BACKOFF_MAX_US;
    c->attempt++;
    uint64_t at = now_us() + wait;
    if (at > c->next_ok_us) c->next_ok_us = at;
    start(c);
    return;
  }
  add_failure(c, it, why);
  mark(c, it, NULL, r->err == ENGINE_OK ? r->status : 0, why);
  next(c);
}

/* Splits an absolute URL into its origin and the rest. */
static int split_url(const char *url, char *origin, size_t olen, char *path,
                     size_t plen) {
  const char *p = strstr(url, "://");
  if (!p) return -1;
  const char *slash = strchr(p + 3, '/');
  size_t on = slash ? (size_t)(slash - url) : strlen(url);
  if (on + 1 > olen) return -1;
  memcpy(origin, url, on);
  origin[on] = '\0';
  int n = snprintf(path, plen, "%s", slash ? slash : "/");
  return n > 0 && (size_t)n < plen ? 0 : -1;
}

static int overridden(const struct cleanup_opts *o, const char *line) {
  size_t n = strcspn(line, ":");
  for (size_t i = 0; i < o->nheaders; i++)
    if (strncasecmp(o->headers[i], line, n) == 0 && o->headers[i][n] == ':')
      return 1;
  return 0;
}

static void set_headers(struct cl *c, const char *lines) {
  c->nh = 0;
  if (!lines) return;
  snprintf(c->hbuf, sizeof c->hbuf, "%s", lines);
  for (char *p = c->hbuf; p && *p && c->nh < ENGINE_REQ_HEADERS;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    if (*p && !overridden(c->o, p)) c->hdrs[c->nh++] = p;
    p = nl ? nl + 1 : NULL;
  }
}

static void on_engine_closed(void *arg) {
  struct cl *c = arg;
  c->switching = 0;
  start(c);
}

/* Sends the next row's request; rows settled without one (superseded,
 * unfindable) are passed over in this loop, not by recursion: there may
 * be thousands of them. */
static void start(struct cl *c) {
  for (;; c->i++, c->attempt = 0)
    if (!start_one(c)) return;
}

/* 1: the row at c->i was settled without a request (go on with the next
 * one); 0: a request is in flight, or we wait, or it is over. */
static int start_one(struct cl *c) {
  if (c->finished || c->in_flight || c->switching) return 0;
  if (c->rc || c->stop || c->i >= c->n) {
    finish(c);
    return 0;
  }
  struct journal_item *it = &c->items[c->i];
  if (it->kind == JOURNAL_PENDING && !it->tag) {
    add_failure(c, it,
                "its answer named no id (or never came) and its body "
                "carried no marker to find it by");
    mark(c, it, NULL, 0, "unconfirmed, no marker");
    return 1;
  }
  if (it->kind == JOURNAL_LIVE && journal_superseded(c->j, it->seq, it->url)) {
    /* The target gave this URL to a newer resource (while the run went
     * on): this one is gone, and the URL is not ours to delete. */
    c->res->gone++;
    mark(c, it, "gone", 0, "superseded: its URL names a newer resource");
    return 1;
  }
  if (c->o->ended_only && it->kind == JOURNAL_LIVE &&
      journal_create_waiting(c->j, it->seq, it->create_url)) {
    /* While the run goes on: that create's answer may give its session
     * this URL (a target that reuses ids, e.g. after a parent's delete
     * took this one with it). The next turn knows. */
    c->res->waiting++;
    return 1;
  }
  char origin[1024];
  if (split_url(it->url, origin, sizeof origin, c->path, sizeof c->path)) {
    add_failure(c, it, "not an absolute URL");
    mark(c, it, NULL, 0, "bad URL");
    return 1;
  }
  if (!c->e || strcmp(origin, c->origin) != 0) {
    if (c->e) {
      /* Another target: a new engine once this one is gone. */
      c->switching = 1;
      struct engine *e = c->e;
      c->e = NULL;
      engine_close(e, on_engine_closed, c);
      return 0;
    }
    struct engine_opts eo = {
        .target = origin,
        .timeout_ms = c->o->timeout_ms > 0 ? c->o->timeout_ms : 10000,
        .headers = c->o->headers,
        .nheaders = c->o->nheaders,
        .insecure = c->o->insecure,
        .slots = 1,
        .body_cap = SWEEP_CAP,
    };
    char err[256] = "";
    if (engine_new(&c->loop, &eo, on_done, c, &c->e, err, sizeof err)) {
      add_failure(c, it, err[0] ? err : "cannot set up a request");
      mark(c, it, NULL, 0, err);
      return 1;
    }
    snprintf(c->origin, sizeof c->origin, "%s", origin);
  }
  uint64_t now = now_us();
  if (now < c->next_ok_us) {
    uv_timer_start(&c->timer, on_timer, (c->next_ok_us - now + 999) / 1000, 0);
    return 0;
  }
  c->next_ok_us = now + c->interval_us;
  set_headers(c, it->headers);
  struct engine_req q = {
      .method = it->method,
      .target = c->path,
      .ua = "mimic-cleanup/" MIMIC_VERSION,
      .headers = c->hdrs,
      .nheaders = c->nh,
      .capture = it->kind == JOURNAL_PENDING ? ENGINE_CAP_BODY : 0,
  };
  int rc = engine_submit(c->e, &q);
  if (rc) {
    add_failure(c, it, err_str(rc));
    mark(c, it, NULL, 0, err_str(rc));
    return 1;
  }
  c->in_flight = 1;
  return 0;
}

int cleanup_run(const struct cleanup_opts *o, struct cleanup_result *res,
                char *err, size_t errlen) {
  struct cl c = {.o = o, .res = res};
  memset(res, 0, sizeof *res);
  int rc = 0, own = 0;
  uint64_t t0 = now_us();
  c.j = o->journal;
  if (!c.j) {
    if ((rc = journal_open(o->path, NULL, &c.j, err, errlen))) return rc;
    own = 1;
  }
  rc =
      journal_todo(c.j, o->run_id, o->ended_only, o->live_only, &c.items, &c.n);
  if (rc) {
    snprintf(err, errlen, "cannot read the journal: %s",
             rc == -ENOMEM ? err_str(rc) : journal_errmsg(c.j));
    goto out;
  }
  res->todo = c.n;
  if (o->dry_run) {
    for (size_t i = 0; i < c.n; i++) {
      const struct journal_item *it = &c.items[i];
      if (it->kind == JOURNAL_LIVE)
        fprintf(o->out ? o->out : stdout, "%s %s\n", it->method, it->url);
      else
        fprintf(o->out ? o->out : stdout, "FIND %s IN %s\n",
                it->tag ? it->tag : "(no marker)", it->url);
    }
    res->left = c.n;
    goto out;
  }
  if (c.n == 0) goto out;
  if ((rc = uv_loop_init(&c.loop))) {
    snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
    rc = -ENOMEM;
    goto out;
  }
  c.interval_us = o->max_rps > 0 ? (uint64_t)(1e6 / o->max_rps) : 0;
  uv_timer_init(&c.loop, &c.timer);
  uv_timer_init(&c.loop, &c.poll);
  c.timer.data = c.poll.data = &c;
  uv_timer_start(&c.poll, on_poll, 100, 100);
  start(&c);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c.loop) != 0 && !c.rc) {
    c.rc = -EBUSY;
    snprintf(c.err, sizeof c.err, "handles left open");
  }
  if (c.rc) {
    rc = c.rc;
    snprintf(err, errlen, "%s", c.err);
  }
out:
  res->seconds = (double)(now_us() - t0) / 1e6;
  journal_items_free(c.items, c.n);
  if (own) journal_close(c.j);
  return rc;
}

void cleanup_result_free(struct cleanup_result *res) {
  for (size_t i = 0; i < res->nfailures; i++) {
    free(res->failures[i].method);
    free(res->failures[i].url);
    free(res->failures[i].why);
  }
  res->nfailures = 0;
}

json_t *cleanup_json(const struct cleanup_result *r) {
  json_t *fails = json_array();
  for (size_t i = 0; i < r->nfailures; i++)
    json_array_append_new(
        fails, json_pack("{s:s, s:s, s:s}", "method", r->failures[i].method,
                         "url", r->failures[i].url, "why", r->failures[i].why));
  return json_pack(
      "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:b, s:o}", "todo",
      (json_int_t)r->todo, "deleted", (json_int_t)r->deleted, "gone",
      (json_int_t)r->gone, "found", (json_int_t)r->found, "unfound",
      (json_int_t)r->unfound, "failed", (json_int_t)r->failed, "left",
      (json_int_t)r->left, "waiting", (json_int_t)r->waiting, "requests",
      (json_int_t)r->requests, "seconds", r->seconds, "interrupted",
      r->interrupted, "not_deleted", fails);
}

void cleanup_summary(const struct cleanup_result *r, char *buf, size_t len) {
  if (r->todo == 0) {
    snprintf(buf, len, "nothing to delete");
    return;
  }
  int n = snprintf(buf, len,
                   "%" PRIu64 " deleted, %" PRIu64 " already gone, %" PRIu64
                   " failed",
                   r->deleted, r->gone, r->failed);
  if (r->found || r->unfound)
    n += snprintf(buf + n, n < (int)len ? len - (size_t)n : 0,
                  "; of the unconfirmed creates %" PRIu64 " found, %" PRIu64
                  " never made",
                  r->found, r->unfound);
  if (r->left)
    snprintf(buf + n, n < (int)len ? len - (size_t)n : 0,
             "; %" PRIu64 " left (stopped)", r->left);
}

/* ---- every so often ------------------------------------------------------ */

struct cleanup_interval {
  struct cleanup_opts o;
  int64_t every_us;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop, runs;
  struct cleanup_result sum;
  int (*outer_stop)(void *);
  void *outer_arg;
};

static int interval_stop_asked(void *arg) {
  struct cleanup_interval *ci = arg;
  pthread_mutex_lock(&ci->lock);
  int stop = ci->stop;
  pthread_mutex_unlock(&ci->lock);
  return stop || (ci->outer_stop && ci->outer_stop(ci->outer_arg));
}

static void add_result(struct cleanup_result *d, struct cleanup_result *s) {
  d->todo += s->todo;
  d->deleted += s->deleted;
  d->gone += s->gone;
  d->found += s->found;
  d->unfound += s->unfound;
  d->failed += s->failed;
  d->waiting += s->waiting;
  d->requests += s->requests;
  d->seconds += s->seconds;
  for (size_t i = 0; i < s->nfailures && d->nfailures < CLEANUP_FAILURES_MAX;
       i++) {
    d->failures[d->nfailures++] = s->failures[i];
    s->failures[i] = (struct cleanup_failure){0};
  }
  cleanup_result_free(s);
}

static void *interval_main(void *arg) {
  struct cleanup_interval *ci = arg;
  pthread_mutex_lock(&ci->lock);
  for (;;) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (ci->every_us % 1000000) * 1000;
    until.tv_sec += (time_t)(ci->every_us / 1000000 + ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    while (!ci->stop &&
           pthread_cond_timedwait(&ci->cond, &ci->lock, &until) == 0)
      ;
    if (ci->stop) break;
    pthread_mutex_unlock(&ci->lock);
    struct cleanup_result r;
    char err[512];
    /* A failure (the journal) is retried at the next turn. */
    if (cleanup_run(&ci->o, &r, err, sizeof err) == 0) {
      add_result(&ci->sum, &r);
      ci->runs++;
    }
    pthread_mutex_lock(&ci->lock);
  }
  pthread_mutex_unlock(&ci->lock);
  return NULL;
}

int cleanup_interval_start(const struct cleanup_opts *o, int64_t every_us,
                           struct cleanup_interval **out) {
  struct cleanup_interval *ci = calloc(1, sizeof *ci);
  if (!ci) return -ENOMEM;
  ci->o = *o;
  ci->o.ended_only = 1;
  ci->o.live_only = 1;
  ci->o.dry_run = 0;
  ci->outer_stop = o->should_stop;
  ci->outer_arg = o->stop_arg;
  ci->o.should_stop = interval_stop_asked;
  ci->o.stop_arg = ci;
  ci->every_us = every_us > 0 ? every_us : 1000000;
  pthread_mutex_init(&ci->lock, NULL);
  pthread_cond_init(&ci->cond, NULL);
  int rc = pthread_create(&ci->thread, NULL, interval_main, ci);
  if (rc) {
    pthread_mutex_destroy(&ci->lock);
    pthread_cond_destroy(&ci->cond);
    free(ci);
    return -rc;
  }
  *out = ci;
  return 0;
}

int cleanup_interval_stop(struct cleanup_interval *ci,
                          struct cleanup_result *sum) {
  if (!ci) return 0;
  pthread_mutex_lock(&ci->lock);
  ci->stop = 1;
  pthread_cond_signal(&ci->cond);
  pthread_mutex_unlock(&ci->lock);
  pthread_join(ci->thread, NULL);
  pthread_mutex_destroy(&ci->lock);
  pthread_cond_destroy(&ci->cond);
  *sum = ci->sum;
  int runs = ci->runs;
  free(ci);
  return runs;
}

/* ---- the command --------------------------------------------------------- */

static const char USAGE[] =
    "usage: mimic cleanup [options] JOURNAL\n"
    "\n"
    "Deletes what a replay created, as its journal lists it (mimic replay\n"
    "--journal FILE): newest first, one request at a time, retrying\n"
    "transient failures. What was deleted (or found gone) is written to\n"
    "the journal, so running it again deletes nothing. A create whose\n"
    "answer never came (the replay was killed) is looked for in its\n"
    "collection by the run marker its body carried.\n"
    "\n"
    "      --run ID              only what run ID created (default: every "
    "run)\n"
    "      --max-rps R           requests per second at most\n"
    "      --retries N           attempts after a transient failure "
    "(default 3)\n"
    "      --timeout DUR         per request (default 10s)\n"
    "  -H, --header 'K: V'       extra header; replaces a recorded one of "
    "that\n"
    "                            name (e.g. an admin's Authorization)\n"
    "  -k, --insecure            do not verify TLS certificates\n"
    "      --dry-run             list what would be deleted, send nothing\n"
    "      --report FILE.json    counts and what could not be deleted\n"
    "      --force               even when the replay writing the journal "
    "still\n"
    "                            runs\n"
    "  -q, --quiet               print only errors\n"
    "  -h, --help                this help\n"
    "\n"
    "Exit status: 0 everything deleted (or nothing to delete); 1 could not\n"
    "run; 2 usage error; 3 some resources are left (listed; run it "
    "again).\n";

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig) {
  stop_sig = sig;
}

static int sig_stop(void *arg) {
  (void)arg;
  return stop_sig != 0;
}

enum {
  O_RUN = 300,
  O_MAXRPS,
  O_RETRIES,
  O_TIMEOUT,
  O_DRYRUN,
  O_REPORT,
  O_FORCE,
};

int cleanup_main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"run", required_argument, NULL, O_RUN},
      {"max-rps", required_argument, NULL, O_MAXRPS},
      {"retries", required_argument, NULL, O_RETRIES},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"header", required_argument, NULL, 'H'},
      {"insecure", no_argument, NULL, 'k'},
      {"dry-run", no_argument, NULL, O_DRYRUN},
      {"report", required_argument, NULL, O_REPORT},
      {"force", no_argument, NULL, O_FORCE},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  struct cleanup_opts o = {.retries = 3, .out = stdout};
  const char *report = NULL;
  int quiet = 0, force = 0, c, status = 2;
  const char **headers = calloc((size_t)argc + 1, sizeof *headers);
  if (!headers) return 1;
  char *end;
  int64_t us;
  optind = 1;
  while ((c = getopt_long(argc, argv, "H:kqh", longopts, NULL)) != -1) {
    switch (c) {
    case O_RUN: o.run_id = optarg; break;
    case O_MAXRPS:
      o.max_rps = strtod(optarg, &end);
      if (*end || !(o.max_rps > 0)) {
        fprintf(stderr,
                "mimic cleanup: --max-rps '%s': expected a "
                "positive rate\n",
                optarg);
        goto out;
      }
      break;
    case O_RETRIES: {
      unsigned long n = strtoul(optarg, &end, 10);
      if (*end || end == optarg || n > 100) {
        fprintf(stderr, "mimic cleanup: --retries '%s': expected 0 to 100\n",
                optarg);
        goto out;
      }
      o.retries = (unsigned)n;
      break;
    }
    case O_TIMEOUT:
      if (units_parse_duration(optarg, &us) || us <= 0) {
        fprintf(stderr,
                "mimic cleanup: --timeout '%s': expected a duration "
                "such as 10s\n",
                optarg);
        goto out;
      }
      o.timeout_ms = us / 1000 > 0 ? us / 1000 : 1;
      break;
    case 'H':
      if (!strchr(optarg, ':') || optarg[0] == ':') {
        fprintf(stderr,
                "mimic cleanup: --header '%s': expected 'Name: value'\n",
                optarg);
        goto out;
      }
      headers[o.nheaders++] = optarg;
      break;
    case 'k': o.insecure = 1; break;
    case O_DRYRUN: o.dry_run = 1; break;
    case O_REPORT: report = optarg; break;
    case O_FORCE: force = 1; break;
    case 'q': quiet = 1; break;
    case 'h':
      fputs(USAGE, stdout);
      status = 0;
      goto out;
    default:
      fprintf(stderr, "Run 'mimic cleanup --help' for the options.\n");
      goto out;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "mimic cleanup: expected exactly one JOURNAL\nRun "
                    "'mimic cleanup --help' for the options.\n");
    goto out;
  }
  o.headers = headers;
  o.path = argv[optind];
  status = 1;
  char err[1024] = "";
  struct journal *j = NULL;
  int rc = journal_open(o.path, NULL, &j, err, sizeof err);
  if (rc) {
    fprintf(stderr, "mimic cleanup: error: %s\n", err);
    goto out;
  }
  char running[64] = "";
  if (!force && !o.dry_run && journal_running(j, running, sizeof running)) {
    fprintf(stderr,
            "mimic cleanup: error: run %s is still writing %s (its replay "
            "is running); stop it first, or use --force\n",
            running, o.path);
    journal_close(j);
    goto out;
  }
  o.journal = j;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "mimic cleanup: error: libcurl failed to initialise\n");
    journal_close(j);
    goto out;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int, old_term;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  o.should_stop = sig_stop;
  struct cleanup_result res;
  rc = cleanup_run(&o, &res, err, sizeof err);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  curl_global_cleanup();
  struct journal_counts jc;
  int have_counts = journal_counts(j, o.run_id, &jc) == 0;
  journal_close(j);
  if (rc) {
    fprintf(stderr, "mimic cleanup: error: %s\n", err);
    cleanup_result_free(&res);
    goto out;
  }
  char line[512];
  cleanup_summary(&res, line, sizeof line);
  if (o.dry_run) {
    if (!quiet)
      fprintf(stderr, "mimic cleanup: dry run: %" PRIu64 " to clean up\n",
              res.todo);
  } else if (!quiet || res.failed || res.left) {
    fprintf(stderr, "mimic cleanup: %s: %s (%.1f s)\n", o.path, line,
            res.seconds);
  }
  for (size_t i = 0; i < res.nfailures; i++)
    fprintf(stderr, "  not deleted: %s %s: %s\n", res.failures[i].method,
            res.failures[i].url, res.failures[i].why);
  if (res.failed > res.nfailures)
    fprintf(stderr, "  ... and %" PRIu64 " more\n", res.failed - res.nfailures);
  if (report) {
    json_t *root = cleanup_json(&res);
    if (have_counts)
      json_object_set_new(
          root, "journal",
          json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "pending",
                    (json_int_t)jc.pending, "live", (json_int_t)jc.live, "none",
                    (json_int_t)jc.none, "deleted", (json_int_t)jc.deleted,
                    "gone", (json_int_t)jc.gone, "unfound",
                    (json_int_t)jc.unfound));
    if (json_dump_file(root, report, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
      fprintf(stderr, "mimic cleanup: error: cannot write --report %s\n",
              report);
      json_decref(root);
      cleanup_result_free(&res);
      goto out;
    }
    json_decref(root);
  }
  status = o.dry_run || (!res.failed && !res.left) ? 0 : 3;
  cleanup_result_free(&res);
out:
  free(headers);
  return status;
}
