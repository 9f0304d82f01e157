/* engine: libcurl's multi_socket API on the caller's libuv loop. See
 * engine.h for the contract; the notes here are about cost and hazards.
 *
 * Cost per request, in steady state (HTTP/1.1 keep-alive): no allocation
 * of ours, no curl_easy_setopt unless the URL or method changed since the
 * slot's previous request, no header list rebuilt (the slot's nodes are
 * relinked and their text rewritten in place), and no epoll_ctl: libuv's
 * uv_poll_start and uv_poll_stop each cost an EPOLL_CTL_DEL (start adds an
 * EPOLL_CTL_ADD on top), so a poll whose events did not change is left
 * alone, and CURL_POLL_REMOVE does not stop it either ("lazy stop", see
 * on_socket). */
#include "engine.h"

#include "err.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest URL, User-Agent, session value or method accepted by submit: a
 * cap on input-driven growth of the slot buffers. */
#define FIELD_MAX 65536

/* One socket curl told us about, with its poll handle. Freed only in the
 * handle's close callback. */
struct sock {
  uv_poll_t poll;
  struct engine *e;
  curl_socket_t fd;
  int events; /* what libuv polls now (0: stopped) */
  int want;   /* what curl wants now; 0 after CURL_POLL_REMOVE */
  int owned;  /* opened by on_opensocket, so its close reaches us */
};

/* A header line (or URL) with a fixed prefix and a rewritable value. */
struct line {
  char *p;    /* prefix, value, NUL */
  size_t pre; /* prefix length */
  size_t cap;
};

enum method { M_UNSET, M_GET, M_HEAD, M_BODY };

struct slot {
  CURL *easy;
  struct slot *next_free;
  void *ctx;
  int busy;
  uint64_t start_us;
  uint64_t bytes;
  enum method method; /* what the easy handle is set up for */
  struct line url;    /* base + target; what curl was last given */
  struct line verb;   /* the custom method when method == M_BODY */
  struct line ua;     /* "User-Agent: " + value */
  struct line sess;   /* "<session header>: " + value */
  /* The header list curl reads (CURLOPT_HTTPHEADER points at h_expect):
   * h_expect -> [h_ua] -> [h_sess] -> the engine's shared tail. */
  struct curl_slist h_expect, h_ua, h_sess;
  char errbuf[CURL_ERROR_SIZE];
};

struct engine {
  uv_timer_t timer;
  uv_loop_t *loop;
  CURLM *multi;
  engine_done_fn *done;
  void *arg;

  struct slot *slots;
  size_t nslots;
  struct slot *free_list;
  size_t nfree;

  struct sock **socks; /* by fd: O(1) from curl's socket to our poll */
  size_t nsocks;
  size_t handles; /* uv handles not yet closed: the timer and the polls */

  int depth;    /* > 0 while draining results: engine_close waits */
  int closing;  /* engine_close was called */
  int released; /* curl is gone; waiting for close callbacks */
  void (*closed)(void *);
  void *closed_arg;

  char *base; /* target URL without trailing '/' */
  size_t baselen;
  char *sess_name;
  /* Shared by every slot's list: "Content-Type:" (suppresses curl's form
   * type on empty bodies), then the extra headers. Read-only for curl. */
  struct curl_slist *shared;
  size_t nshared;
  char **extra; /* copies of the extra header lines */

  char errtext[CURL_ERROR_SIZE]; /* survives a resubmit in the callback */
};

static char expect_off[] = "Expect:";
static char ctype_off[] = "Content-Type:";

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_us(void) {
  return uv_hrtime() / 1000;
}

static void errf(char *err, size_t errlen, const char *fmt, const char *a) {
  if (err && errlen) snprintf(err, errlen, fmt, a);
}

static int line_init(struct line *l, const char *prefix, size_t cap) {
  size_t pre = strlen(prefix);
  if (cap < pre + 1) cap = pre + 1;
  l->p = malloc(cap);
  if (!l->p) return -ENOMEM;
  memcpy(l->p, prefix, pre + 1);
  l->pre = pre;
  l->cap = cap;
  return 0;
}

/* Writes v after the prefix. clean replaces CR and LF with spaces: a value
 * learned from a log must not inject header lines. The buffer grows (only
 * when a longer value than ever comes) up to FIELD_MAX. */
static int line_put(struct line *l, const char *v, int clean) {
  size_t n = strlen(v);
  if (n > FIELD_MAX) return ERR_LIMIT;
  if (l->pre + n + 1 > l->cap) {
    size_t cap = l->cap * 2;
    if (cap < l->pre + n + 1) cap = l->pre + n + 1;
    char *p = realloc(l->p, cap);
    if (!p) return -ENOMEM;
    l->p = p;
    l->cap = cap;
  }
  char *d = l->p + l->pre;
  memcpy(d, v, n + 1);
  if (clean)
    for (size_t i = 0; i < n; i++)
      if (d[i] == '\r' || d[i] == '\n') d[i] = ' ';
  return 0;
}

static enum engine_error map_error(CURLcode rc) {
  switch (rc) {
  case CURLE_OK: return ENGINE_OK;
  case CURLE_COULDNT_CONNECT: return ENGINE_E_CONNECT;
  case CURLE_OPERATION_TIMEDOUT: return ENGINE_E_TIMEOUT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return ENGINE_E_DNS;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT: return ENGINE_E_TLS;
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE: return ENGINE_E_RESET;
  default: return ENGINE_E_OTHER;
  }
}

const char *engine_error_name(enum engine_error err) {
  switch (err) {
  case ENGINE_OK: return "ok";
  case ENGINE_E_CONNECT: return "connect";
  case ENGINE_E_TIMEOUT: return "timeout";
  case ENGINE_E_DNS: return "dns";
  case ENGINE_E_TLS: return "tls";
  case ENGINE_E_RESET: return "reset";
  case ENGINE_E_OTHER: return "other";
  default: return "unknown";
  }
}

/* ---- freeing ------------------------------------------------------------ */

static void free_engine(struct engine *e) {
  for (size_t i = 0; e->slots && i < e->nslots; i++) {
    struct slot *s = &e->slots[i];
    if (s->easy) curl_easy_cleanup(s->easy);
    free(s->url.p);
    free(s->verb.p);
    free(s->ua.p);
    free(s->sess.p);
  }
  for (size_t i = 0; e->extra && i + 1 < e->nshared; i++) free(e->extra[i]);
  free(e->extra);
  free(e->shared);
  free(e->slots);
  free(e->socks);
  free(e->base);
  free(e->sess_name);
  free(e);
}

static void maybe_freed(struct engine *e) {
  if (!e->released || e->handles) return;
  void (*closed)(void *) = e->closed;
  void *arg = e->closed_arg;
  free_engine(e);
  if (closed) closed(arg);
}

static void on_handle_closed(uv_handle_t *h) {
  struct engine *e = h->data;
  if (h != (uv_handle_t *)&e->timer) free(h); /* a struct sock */
  e->handles--;
  maybe_freed(e);
}

/* ---- sockets ------------------------------------------------------------ */

static struct sock *sock_get(const struct engine *e, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < e->nsocks ? e->socks[fd] : NULL;
}

/* Stops polling (uv_close stops the poll, i.e. EPOLL_CTL_DEL, at once, so
 * the caller may close the fd right after) and forgets the fd. */
static void sock_close(struct engine *e, struct sock *s) {
  e->socks[s->fd] = NULL;
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static struct sock *sock_new(struct engine *e, curl_socket_t fd, int owned) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= e->nsocks) {
    /* Grows with the highest fd seen, not per request. */
    size_t n = e->nsocks ? e->nsocks : 64;
    while (n <= (size_t)fd) n *= 2;
    struct sock **t = realloc(e->socks, n * sizeof *t);
    if (!t) return NULL;
    memset(t + e->nsocks, 0, (n - e->nsocks) * sizeof *t);
    e->socks = t;
    e->nsocks = n;
  }
  if (e->socks[fd]) {
    /* A poll left on a number curl closed behind our back (a resolver's
     * socketpair, not closed through on_closesocket): it is stale. */
    sock_close(e, e->socks[fd]);
  }
  struct sock *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (uv_poll_init_socket(e->loop, &s->poll, fd) != 0) {
    free(s);
    return NULL;
  }
  s->poll.data = e;
  s->e = e;
  s->fd = fd;
  s->owned = owned;
  e->socks[fd] = s;
  e->handles++;
  return s;
}

static void check_done(struct engine *e);
static void finish_close(struct engine *e);

static void on_poll(uv_poll_t *h, int status, int events) {
  struct sock *s = (struct sock *)h;
  struct engine *e = s->e;
  if (status < 0) s->events = 0; /* libuv stopped the poll itself */
  if (!s->want) {
    /* Lazily stopped: curl does not care now (an idle keep-alive socket
     * the server closed, or sent something on). Stop for real so a level
     * triggered event does not spin. */
    if (s->events) uv_poll_stop(&s->poll);
    s->events = 0;
    return;
  }
  int flags = 0;
  if (status < 0) flags |= CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_socket_t fd = s->fd;
  int running;
  curl_multi_socket_action(e->multi, fd, flags, &running);
  /* After an error libuv has stopped the poll; if curl still wants the
   * socket it will not say so again, so re-arm (s is still valid: it is
   * freed only in its close callback, and a closed one left the table). */
  if (sock_get(e, fd) == s && s->want && s->events != s->want) {
    uv_poll_start(&s->poll, s->want, on_poll);
    s->events = s->want;
  }
  check_done(e);
}

/* CURLMOPT_SOCKETFUNCTION. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  (void)easy;
  (void)socketp;
  struct engine *e = userp;
  struct sock *s = sock_get(e, fd);
  if (what == CURL_POLL_REMOVE) {
    if (!s) return 0;
    if (!s->owned) {
      /* We would not hear of its close: let it go now. */
      sock_close(e, s);
      return 0;
    }
    /* Lazy stop: the socket usually goes back to curl's connection cache
     * and is asked for again with the same events by the next request;
     * stopping and restarting would cost three epoll_ctl calls. A stray
     * event stops it in on_poll; the handle no longer keeps the loop
     * alive. */
    s->want = 0;
    uv_unref((uv_handle_t *)&s->poll);
    return 0;
  }
  if (!s) s = sock_new(e, fd, 0);
  if (!s) return -1;
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  if (!s->want) uv_ref((uv_handle_t *)&s->poll);
  s->want = ev;
  if (ev != s->events) {
    int rc = uv_poll_start(&s->poll, ev, on_poll);
    s->events = rc ? 0 : ev;
    if (rc) return -1;
  }
  return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: the poll handle is made with the socket, so
 * that it can live as long as the socket, across requests. */
static curl_socket_t on_opensocket(void *clientp, curlsocktype purpose,
                                   struct curl_sockaddr *a) {
  struct engine *e = clientp;
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  int type = a->socktype;
#ifdef SOCK_CLOEXEC
  type |= SOCK_CLOEXEC;
#endif
  curl_socket_t fd = socket(a->family, type, a->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  if (!sock_new(e, fd, 1)) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the poll must be stopped before the fd is
 * closed (the number may be reused at once). */
static int on_closesocket(void *clientp, curl_socket_t fd) {
  struct engine *e = clientp;
  struct sock *s = sock_get(e, fd);
  if (s) sock_close(e, s);
  return close(fd);
}

/* ---- timer -------------------------------------------------------------- */

static void on_timeout(uv_timer_t *t) {
  struct engine *e = t->data;
  int running;
  curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(e);
}

/* CURLMOPT_TIMERFUNCTION. Hazard: curl must not be re-entered from here,
 * so 0 ("now") becomes a 0 ms uv timer, which runs at the start of the
 * next loop iteration, before it polls. */
static int on_timer(CURLM *multi, long ms, void *userp) {
  (void)multi;
  struct engine *e = userp;
  if (ms < 0 || e->released)
    uv_timer_stop(&e->timer);
  else
    uv_timer_start(&e->timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

/* ---- results ------------------------------------------------------------ */

static void slot_release(struct engine *e, struct slot *s) {
  s->busy = 0;
  s->next_free = e->free_list;
  e->free_list = s;
  e->nfree++;
}

/* Hands a finished slot back and calls done. The slot is free before the
 * callback runs, so the callback may submit into it; hence err_text is
 * copied out of the slot's error buffer first. */
static void complete(struct engine *e, struct slot *s, CURLcode rc,
                     const char *forced_text) {
  struct engine_result r = {
      .ctx = s->ctx,
      .start_us = s->start_us,
      .end_us = now_us(),
      .resp_bytes = s->bytes,
  };
  if (forced_text) {
    r.err = ENGINE_E_OTHER;
    r.err_text = forced_text;
  } else if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    r.status = (int)status;
  } else {
    r.err = map_error(rc);
    const char *t = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
    snprintf(e->errtext, sizeof e->errtext, "%s", t);
    r.err_text = e->errtext;
  }
  slot_release(e, s);
  e->done(e->arg, &r);
}

/* Delivers every finished transfer. Runs after each socket action. */
static void check_done(struct engine *e) {
  CURLMsg *msg;
  int left;
  e->depth++;
  while (!e->released && (msg = curl_multi_info_read(e->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    /* msg is invalid after remove_handle: copy first. */
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    struct slot *s = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
    curl_multi_remove_handle(e->multi, easy);
    complete(e, s, rc, NULL);
  }
  e->depth--;
  if (e->closing && !e->released && e->depth == 0) finish_close(e);
}

/* ---- setup -------------------------------------------------------------- */

/* Response bodies are only counted. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  struct slot *s = ud;
  s->bytes += (uint64_t)size * n;
  return size * n;
}

static int slot_setup(struct engine *e, struct slot *s,
                      const struct engine_opts *o, int tls) {
  int rc = line_init(&s->url, e->base, e->baselen + 128);
  if (!rc) rc = line_init(&s->verb, "", 16);
  if (!rc) rc = line_init(&s->ua, "User-Agent: ", 160);
  if (!rc && e->sess_name) {
    char pre[256];
    snprintf(pre, sizeof pre, "%s: ", e->sess_name);
    rc = line_init(&s->sess, pre, strlen(pre) + 48);
  }
  if (rc) return rc;
  s->easy = curl_easy_init();
  if (!s->easy) return -ENOMEM;
  s->h_expect.data = expect_off;
  s->h_expect.next = e->shared;
  s->h_ua.data = s->ua.p;
  s->h_sess.data = s->sess.p;

  /* Set once: curl keeps options between transfers on one handle. */
  CURL *h = s->easy;
  long ver = CURL_HTTP_VERSION_1_1;
  if (o->http2)
    ver = tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  long timeout = o->timeout_ms > 0 ? (long)o->timeout_ms : 30000L;
  int c = CURLE_OK;
  c |= curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)s);
  c |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
  c |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  c |= curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
  c |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
  c |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
  c |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  c |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
  c |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, ver);
  c |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, &s->h_expect);
  c |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, e);
  c |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, e);
  /* A load generator aims at the target it was given: no proxy from the
   * environment (http_proxy would silently reroute the load). */
  c |= curl_easy_setopt(h, CURLOPT_PROXY, "");
  c |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (o->http2) c |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
  if (o->insecure) {
    c |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    c |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return c == CURLE_OK ? 0 : -ENOMEM;
}

/* Checks the target URL and keeps it without trailing slashes. */
static int parse_target(struct engine *e, const char *target, int *tls,
                        char *err, size_t errlen) {
  int rc = ERR_USAGE;
  char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
  CURLU *u = curl_url();
  if (!u) return -ENOMEM;
  if (!target || curl_url_set(u, CURLUPART_URL, target, 0) != CURLUE_OK) {
    errf(err, errlen, "bad target URL: %s", target ? target : "(none)");
    goto out;
  }
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  curl_url_get(u, CURLUPART_HOST, &host, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
  if (!scheme || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
    errf(err, errlen, "target URL must be http:// or https://: %s", target);
    goto out;
  }
  if (!host || !*host || query || frag) {
    errf(err, errlen, "target URL needs a host and no query: %s", target);
    goto out;
  }
  *tls = strcmp(scheme, "https") == 0;
  size_t n = strlen(target);
  while (n && target[n - 1] == '/') n--;
  e->base = malloc(n + 1);
  if (!e->base) {
    rc = -ENOMEM;
    goto out;
  }
  memcpy(e->base, target, n);
  e->base[n] = '\0';
  e->baselen = n;
  rc = 0;
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(query);
  curl_free(frag);
  curl_url_cleanup(u);
  return rc;
}

/* Copies the extra header lines and chains the shared list tail. */
static int setup_headers(struct engine *e, const struct engine_opts *o,
                         char *err, size_t errlen) {
  e->nshared = o->nheaders + 1;
  e->shared = calloc(e->nshared, sizeof *e->shared);
  e->extra = calloc(o->nheaders ? o->nheaders : 1, sizeof *e->extra);
  if (!e->shared || !e->extra) return -ENOMEM;
  e->shared[0].data = ctype_off;
  for (size_t i = 0; i < o->nheaders; i++) {
    const char *hl = o->headers[i];
    if (!hl || strpbrk(hl, "\r\n") || (!strchr(hl, ':') && !strchr(hl, ';'))) {
      errf(err, errlen, "bad header line (want \"Name: value\"): %s",
           hl ? hl : "(null)");
      return ERR_USAGE;
    }
    e->extra[i] = strdup(hl);
    if (!e->extra[i]) return -ENOMEM;
    e->shared[i + 1].data = e->extra[i];
  }
  for (size_t i = 0; i + 1 < e->nshared; i++)
    e->shared[i].next = &e->shared[i + 1];
  if (o->session_header) {
    const char *n = o->session_header;
    if (!*n || strlen(n) > 200 || strpbrk(n, ": \t\r\n")) {
      errf(err, errlen, "bad session header name: %s", n);
      return ERR_USAGE;
    }
    e->sess_name = strdup(n);
    if (!e->sess_name) return -ENOMEM;
  }
  return 0;
}

int engine_new(uv_loop_t *loop, const struct engine_opts *opts,
               engine_done_fn *done, void *arg, struct engine **out, char *err,
               size_t errlen) {
  int tls = 0, rc;
  struct engine *e = calloc(1, sizeof *e);
  if (!e) return -ENOMEM;
  e->loop = loop;
  e->done = done;
  e->arg = arg;
  rc = parse_target(e, opts->target, &tls, err, errlen);
  if (rc) goto fail;
  if (opts->http2 &&
      !(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)) {
    errf(err, errlen, "%s", "libcurl was built without HTTP/2");
    rc = ERR_USAGE;
    goto fail;
  }
  rc = setup_headers(e, opts, err, errlen);
  if (rc) goto fail;

  rc = -ENOMEM;
  e->nslots = opts->slots ? opts->slots : 1024;
  e->slots = calloc(e->nslots, sizeof *e->slots);
  if (!e->slots) goto fail;
  for (size_t i = 0; i < e->nslots; i++) {
    rc = slot_setup(e, &e->slots[i], opts, tls);
    if (rc) goto fail;
  }
  for (size_t i = e->nslots; i-- > 0;) slot_release(e, &e->slots[i]);

  rc = -ENOMEM;
  e->multi = curl_multi_init();
  if (!e->multi) goto fail;
  /* Keep as many idle connections as can ever be busy: curl's default
   * (4 x handles currently added) shrinks when few requests are in flight
   * and would close warm connections. */
  long keep =
      opts->max_connections > 0 ? opts->max_connections : (long)e->nslots;
  int m = CURLM_OK;
  m |= curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  m |= curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
  m |= curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_timer);
  m |= curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
  m |= curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, keep);
  if (opts->max_connections > 0)
    m |= curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                           opts->max_connections);
  m |= curl_multi_setopt(e->multi, CURLMOPT_PIPELINING,
                         opts->http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
  if (m != CURLM_OK) goto fail;

  /* Last: cannot fail, and once it exists the engine must be closed. */
  uv_timer_init(loop, &e->timer);
  e->timer.data = e;
  e->handles = 1;
  *out = e;
  return 0;
fail:
  if (rc == -ENOMEM) errf(err, errlen, "%s", "out of memory");
  if (e->multi) curl_multi_cleanup(e->multi);
  free_engine(e);
  return rc;
}

/* ---- submit ------------------------------------------------------------- */

static int set_method(struct slot *s, const char *method) {
  enum method want = M_BODY;
  if (strcmp(method, "GET") == 0)
    want = M_GET;
  else if (strcmp(method, "HEAD") == 0)
    want = M_HEAD;
  if (want == s->method && (want != M_BODY || strcmp(s->verb.p, method) == 0))
    return 0;
  s->method = M_UNSET; /* until every option below is in */
  CURL *h = s->easy;
  int c = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L); /* clears NOBODY */
  if (want == M_HEAD) {
    c |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    c |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (want == M_GET) {
    c |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (char *)NULL);
  } else {
    int rc = line_put(&s->verb, method, 1);
    if (rc) return rc;
    /* An empty body: curl sends Content-Length: 0; the shared
     * "Content-Type:" line drops its form type. */
    c |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    c |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    c |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->verb.p);
  }
  if (c != CURLE_OK) return -ENOMEM;
  s->method = want;
  return 0;
}

static int prepare(struct engine *e, struct slot *s,
                   const struct engine_req *r) {
  if (strcmp(s->url.p + s->url.pre, r->target) != 0) {
    int rc = line_put(&s->url, r->target, 0);
    if (rc) return rc;
    if (curl_easy_setopt(s->easy, CURLOPT_URL, s->url.p) != CURLE_OK) {
      s->url.p[s->url.pre] = '\0'; /* curl has the old one: set next time */
      return -ENOMEM;
    }
  }
  int rc = set_method(s, r->method);
  if (rc) return rc;
  /* Relink the variable head of the list; the text is rewritten in place,
   * curl reads it when it builds the request. */
  struct curl_slist **tail = &s->h_expect.next;
  if (r->ua && *r->ua) {
    rc = line_put(&s->ua, r->ua, 1);
    if (rc) return rc;
    s->h_ua.data = s->ua.p;
    *tail = &s->h_ua;
    tail = &s->h_ua.next;
  }
  if (e->sess_name && r->session && *r->session) {
    rc = line_put(&s->sess, r->session, 1);
    if (rc) return rc;
    s->h_sess.data = s->sess.p;
    *tail = &s->h_sess;
    tail = &s->h_sess.next;
  }
  *tail = e->shared;
  return 0;
}

int engine_submit(struct engine *e, const struct engine_req *req) {
  if (e->closing) return -ECANCELED;
  if (!req->method || !*req->method || !req->target || req->target[0] != '/')
    return ERR_USAGE;
  struct slot *s = e->free_list;
  if (!s) return -EAGAIN;
  int rc = prepare(e, s, req);
  if (rc) return rc;
  /* Set on every request: the handle is reused, 0 lifts the limit. */
  curl_easy_setopt(s->easy, CURLOPT_MAX_RECV_SPEED_LARGE,
                   (curl_off_t)(req->max_recv_bps > 0 ? req->max_recv_bps : 0));
  e->free_list = s->next_free;
  e->nfree--;
  s->busy = 1;
  s->ctx = req->ctx;
  s->bytes = 0;
  s->errbuf[0] = '\0';
  s->start_us = now_us();
  CURLMcode m = curl_multi_add_handle(e->multi, s->easy);
  if (m != CURLM_OK) {
    slot_release(e, s);
    return m == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
  }
  return 0;
}

size_t engine_inflight(const struct engine *e) {
  return e->nslots - e->nfree;
}

size_t engine_free_slots(const struct engine *e) {
  return e->nfree;
}

/* ---- close -------------------------------------------------------------- */

static void finish_close(struct engine *e) {
  /* Abort what is in flight. A callback may submit (refused: closing) or
   * call engine_close again (ignored). */
  for (size_t i = 0; i < e->nslots; i++) {
    struct slot *s = &e->slots[i];
    if (!s->busy) continue;
    curl_multi_remove_handle(e->multi, s->easy);
    complete(e, s, CURLE_OK, "aborted");
  }
  e->released = 1;
  /* Closes cached connections through on_closesocket. */
  curl_multi_cleanup(e->multi);
  e->multi = NULL;
  for (size_t i = 0; i < e->nsocks; i++)
    if (e->socks[i]) sock_close(e, e->socks[i]);
  uv_close((uv_handle_t *)&e->timer, on_handle_closed);
}

void engine_close(struct engine *e, void (*closed)(void *), void *arg) {
  if (!e || e->closing) return;
  e->closing = 1;
  e->closed = closed;
  e->closed_arg = arg;
  /* Inside check_done (a done callback closing the engine) curl is in the
   * middle of a loop over its messages: finish there. */
  if (e->depth == 0) finish_close(e);
}
