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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* A growable byte buffer (request bodies, captured response parts). */
struct buf {
  char *p;
  size_t len, cap;
};

/* What a request captured of its response. A slot gets one on its first
 * capturing request; on completion it is swapped with the engine's spare
 * (no copy), so the callback may submit into the slot while it reads. */
struct capture {
  struct buf loc, cookies, body, hdrs;
  char names[ENGINE_CAP_NAMES][64]; /* engine_req.capture_names */
  size_t nnames;
  int truncated;
};

struct slot {
  CURL *easy;
  struct engine *eng;
  struct slot *next_free;
  void *ctx;
  int busy;
  uint64_t start_us;
  uint64_t bytes;
  enum method method; /* what the easy handle is set up for */
  struct line url;    /* base + target (unsafe bytes %-encoded); what
                         the slot's CURLU was last given */
  CURLU *cu;          /* the parsed URL curl reads (CURLOPT_CURLU): only
                         its path and query change between requests, so
                         curl never parses a URL string per transfer */
  struct line verb;   /* the custom method when method == M_BODY */
  struct line ua;     /* "User-Agent: " + value */
  struct line sess;   /* "<session header>: " + value */
  struct line ctype;  /* "Content-Type: " + value (made on first use) */
  struct line hx[ENGINE_REQ_HEADERS]; /* the request's own header lines
                                         (made on first use) */
  /* The header list curl reads (CURLOPT_HTTPHEADER points at hdr[0] when
   * the list is not empty): for a method with a body "Expect:" and
   * "Content-Type:[ type]", then [User-Agent], [session], the request's
   * own lines, then the engine's extra headers. A GET carries only what it
   * needs: curl scans the whole list for each header it may add itself,
   * about forty times a request. */
  struct curl_slist hdr[4 + ENGINE_REQ_HEADERS];
  int hdr_set; /* what CURLOPT_HTTPHEADER holds: 0 NULL, 1 hdr, 2 the
                  engine's extras alone */
  /* Body, capture, timeout and faults: all idle for a plain GET. */
  struct buf body;         /* what POSTFIELDS points at */
  unsigned capture;        /* ENGINE_CAP_* of this request */
  int hdr_fn;              /* CURLOPT_HEADERFUNCTION is set */
  struct capture *cap;     /* made on the first capturing request */
  int64_t timeout_ms;      /* what CURLOPT_TIMEOUT_MS holds */
  enum engine_fault fault; /* of this request */
  size_t up_len, up_sent;  /* announced / sent body bytes of a fault */
  uint64_t stall_until;    /* STALL: when the client gives up (us) */
  int stall_over;          /* STALL: past it, unpaused to be aborted */
  size_t body_cap;         /* engine_opts.body_cap */
  /* Slow reads (engine_req.max_recv_bps): the body is taken no faster
   * than recv_bps from its first byte. A chunk that comes early is paused
   * (curl keeps it and stops reading the socket, so a large response
   * backs up to the server) until the pace timer resumes the transfer. */
  int64_t recv_bps;
  uint64_t body_t0; /* when the first body byte came (0: not yet) */
  uv_timer_t pace;  /* made on the slot's first early chunk */
  int pace_made, paused;
  char errbuf[CURL_ERROR_SIZE];
};

struct engine {
  uv_timer_t timer;
  uv_timer_t stall_timer; /* deadlines of stalled (STALL fault) requests */
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
  size_t pathoff; /* where base's path (if any) starts in base */
  char *sess_name;
  /* The extra headers, the shared tail of every slot's list (NULL when
   * there are none). Read-only for curl. */
  struct curl_slist *shared;
  size_t nshared;
  char **extra; /* copies of the extra header lines */

  void (*sent)(void *arg, void *ctx, uint64_t t_us); /* optional */
  char errtext[CURL_ERROR_SIZE]; /* survives a resubmit in the callback */
  struct capture *spare;         /* swapped with a capturing slot's */
  int64_t timeout_ms;            /* the default request timeout */
};

static char expect_off[] = "Expect:";
static char ctype_off[] = "Content-Type:";
/* The body a fault announces when the request has none of its own. */
static const char filler[64] = "                                "
                               "                               ";

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

/* Appends n bytes to b (NUL-terminated), keeping at most max bytes; 1 when
 * something had to be dropped. Grows geometrically, so a capture costs
 * allocations only while a slot meets its largest response. */
static int buf_add(struct buf *b, const char *p, size_t n, size_t max) {
  int cut = 0;
  if (b->len + n > max) {
    n = max > b->len ? max - b->len : 0;
    cut = 1;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return 1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
  return cut;
}

static void capture_free(struct capture *c) {
  if (!c) return;
  free(c->loc.p);
  free(c->cookies.p);
  free(c->body.p);
  free(c->hdrs.p);
  free(c);
}

static void capture_reset(struct capture *c) {
  c->loc.len = c->cookies.len = c->body.len = c->hdrs.len = 0;
  c->nnames = 0;
  c->truncated = 0;
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
  case CURLE_ABORTED_BY_CALLBACK: return ENGINE_E_ABORT;
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
  case ENGINE_E_ABORT: return "abort";
  default: return "unknown";
  }
}

/* ---- freeing ------------------------------------------------------------ */

static void free_engine(struct engine *e) {
  for (size_t i = 0; e->slots && i < e->nslots; i++) {
    struct slot *s = &e->slots[i];
    if (s->easy) curl_easy_cleanup(s->easy);
    curl_url_cleanup(s->cu);
    free(s->url.p);
    free(s->verb.p);
    free(s->ua.p);
    free(s->sess.p);
    free(s->ctype.p);
    for (size_t k = 0; k < ENGINE_REQ_HEADERS; k++) free(s->hx[k].p);
    free(s->body.p);
    capture_free(s->cap);
  }
  capture_free(e->spare);
  for (size_t i = 0; e->extra && i < e->nshared; i++) free(e->extra[i]);
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
  /* Polls are struct socks of their own; the timers live in e and its
   * slots. */
  if (h->type == UV_POLL) free(h);
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
  if (s->paused) uv_timer_stop(&s->pace);
  s->paused = 0;
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
    if (rc == CURLE_ABORTED_BY_CALLBACK && s->fault == ENGINE_FAULT_ABORT)
      t = "closed mid-request (fault)";
    if (s->fault == ENGINE_FAULT_STALL &&
        (rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_OPERATION_TIMEDOUT)) {
      r.err = ENGINE_E_TIMEOUT;
      t = "the client gave up (fault)";
    }
    snprintf(e->errtext, sizeof e->errtext, "%s", t);
    r.err_text = e->errtext;
  }
  if (s->capture && s->cap) {
    struct capture *c = s->cap;
    s->cap = e->spare;
    e->spare = c;
    if (c->loc.len) r.location = c->loc.p;
    if (c->cookies.len) r.set_cookie = c->cookies.p;
    if (c->hdrs.len) r.headers = c->hdrs.p;
    if (c->body.len) {
      r.body = c->body.p;
      r.body_len = c->body.len;
    }
    r.body_truncated = c->truncated;
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

/* ---- slow reads --------------------------------------------------------- */

/* The pace timer: the paused chunk's time has come. Resuming delivers it
 * to on_body at once (which may pause again, on a later chunk that curl
 * had kept with it); curl then reads on from its own timer. */
static void on_pace(uv_timer_t *h) {
  struct engine *e = h->data;
  struct slot *s = (struct slot *)((char *)h - offsetof(struct slot, pace));
  if (!s->busy || !s->paused || e->released) return;
  s->paused = 0;
  curl_easy_pause(s->easy, CURLPAUSE_CONT);
  check_done(e);
}

/* Whether a chunk of len body bytes comes too early for the slot's rate:
 * then the pace timer is set for its time. (curl's own limit,
 * CURLOPT_MAX_RECV_SPEED_LARGE, waits only between two reads of the
 * socket and never after the last one: a response that is already in the
 * socket buffer when curl reads, as a small one on a busy machine is, came
 * through at once.) */
static int pace_early(struct engine *e, struct slot *s, size_t len) {
  uint64_t now = now_us();
  if (!s->body_t0) s->body_t0 = now;
  uint64_t due = s->body_t0 + (uint64_t)((double)(s->bytes + len) * 1e6 /
                                         (double)s->recv_bps);
  if (due <= now) return 0;
  if (!s->pace_made) {
    uv_timer_init(e->loop, &s->pace);
    s->pace.data = e;
    s->pace_made = 1;
    e->handles++;
  }
  /* In the loop's own milliseconds, rounded up: it fires at due or
   * after, never before. */
  uint64_t due_ms = (due + 999) / 1000, loop_ms = uv_now(e->loop);
  uv_timer_start(&s->pace, on_pace, due_ms > loop_ms ? due_ms - loop_ms : 0, 0);
  s->paused = 1;
  return 1;
}

/* ---- setup -------------------------------------------------------------- */

/* Response bodies are counted, and kept (a bounded prefix) only when the
 * request asked for it; under a slow read, a chunk that comes early waits
 * (curl keeps it and gives it again when resumed). */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  struct slot *s = ud;
  size_t len = size * n;
  if (s->recv_bps > 0 && len > 0 && pace_early(s->eng, s, len))
    return CURL_WRITEFUNC_PAUSE;
  s->bytes += (uint64_t)len;
  if ((s->capture & ENGINE_CAP_BODY) && s->cap)
    s->cap->truncated |= buf_add(&s->cap->body, p, size * n, s->body_cap);
  return size * n;
}

static int has_name(const char *p, size_t n, const char *name, size_t len) {
  return n > len && strncasecmp(p, name, len) == 0;
}

/* The value of a header line: after the colon, without blanks around. */
static void header_value(const char *p, size_t n, size_t skip, const char **v,
                         size_t *vlen) {
  const char *a = p + skip, *b = p + n;
  while (a < b && (*a == ' ' || *a == '\t')) a++;
  while (b > a && (b[-1] == '\r' || b[-1] == '\n' || b[-1] == ' ')) b--;
  *v = a;
  *vlen = (size_t)(b - a);
}

/* CURLOPT_HEADERFUNCTION, set only for requests that capture headers. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  struct slot *s = ud;
  size_t len = size * n;
  struct capture *c = s->cap;
  if (!c) return len;
  const char *v;
  size_t vlen;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* A new response (after a 1xx): forget the previous one's headers. */
    c->loc.len = c->cookies.len = c->hdrs.len = 0;
  } else if (has_name(p, len, "location:", 9)) {
    header_value(p, len, 9, &v, &vlen);
    c->loc.len = 0;
    if (vlen < ENGINE_LOCATION_CAP) buf_add(&c->loc, v, vlen, vlen);
  } else if (has_name(p, len, "set-cookie:", 11)) {
    header_value(p, len, 11, &v, &vlen);
    /* A cookie that does not fit is dropped whole, never cut. */
    if (c->cookies.len + vlen + 1 <= ENGINE_COOKIES_CAP) {
      buf_add(&c->cookies, v, vlen, ENGINE_COOKIES_CAP);
      buf_add(&c->cookies, "\n", 1, ENGINE_COOKIES_CAP);
    }
  } else {
    for (size_t i = 0; i < c->nnames; i++) {
      size_t nl = strlen(c->names[i]);
      if (len <= nl || p[nl] != ':' || strncasecmp(p, c->names[i], nl) != 0)
        continue;
      header_value(p, len, nl + 1, &v, &vlen);
      if (c->hdrs.len + nl + 2 + vlen + 1 <= ENGINE_HEADERS_CAP) {
        buf_add(&c->hdrs, c->names[i], nl, ENGINE_HEADERS_CAP);
        buf_add(&c->hdrs, ": ", 2, ENGINE_HEADERS_CAP);
        buf_add(&c->hdrs, v, vlen, ENGINE_HEADERS_CAP);
        buf_add(&c->hdrs, "\n", 1, ENGINE_HEADERS_CAP);
      }
      break;
    }
  }
  return len;
}

/* CURLOPT_READFUNCTION: used only by faults (other bodies go through
 * POSTFIELDS). STALL pauses the upload for good; ABORT sends half of the
 * announced body, then makes curl abort the transfer. */
static size_t on_read(char *p, size_t size, size_t n, void *ud) {
  struct slot *s = ud;
  if (s->fault == ENGINE_FAULT_STALL)
    return s->stall_over ? CURL_READFUNC_ABORT : CURL_READFUNC_PAUSE;
  size_t half = s->up_len / 2;
  if (s->up_sent >= half) return CURL_READFUNC_ABORT;
  size_t k = half - s->up_sent;
  if (k > size * n) k = size * n;
  const char *src = s->body.len ? s->body.p : filler;
  memcpy(p, src + s->up_sent, k);
  s->up_sent += k;
  return k;
}

/* CURLOPT_PREREQFUNCTION, set only when the caller wants engine_opts.sent:
 * the request is about to be written. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port) {
  struct slot *s = ud;
  (void)conn_primary_ip;
  (void)conn_local_ip;
  (void)conn_primary_port;
  (void)conn_local_port;
  s->eng->sent(s->eng->arg, s->ctx, now_us());
  return CURL_PREREQFUNC_OK;
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
  s->eng = e;
  s->easy = curl_easy_init();
  s->cu = curl_url();
  if (!s->easy || !s->cu) return -ENOMEM;
  if (curl_url_set(s->cu, CURLUPART_URL, e->base, 0) != CURLUE_OK)
    return -ENOMEM; /* parse_target parsed it already */

  /* Set once: curl keeps options between transfers on one handle. */
  CURL *h = s->easy;
  long ver = CURL_HTTP_VERSION_1_1;
  if (o->http2)
    ver = tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  long timeout = (long)e->timeout_ms;
  s->timeout_ms = e->timeout_ms;
  s->body_cap = o->body_cap ? o->body_cap : ENGINE_BODY_CAP;
  int c = CURLE_OK;
  c |= curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)s);
  c |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
  c |= curl_easy_setopt(h, CURLOPT_CURLU, s->cu);
  c |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  c |= curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
  c |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
  c |= curl_easy_setopt(h, CURLOPT_READDATA, s);
  c |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_opensocket);
  c |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
  c |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  c |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  c |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
  c |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, ver);
  c |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, e);
  c |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, e);
  /* A load generator aims at the target it was given: no proxy from the
   * environment (http_proxy would silently reroute the load). */
  c |= curl_easy_setopt(h, CURLOPT_PROXY, "");
  /* Set, so that curl does not read no_proxy from the environment on
   * every transfer (1% of a request). */
  c |= curl_easy_setopt(h, CURLOPT_NOPROXY, "");
  c |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (e->sent) {
    c |= curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
    c |= curl_easy_setopt(h, CURLOPT_PREREQDATA, s);
  }
  if (o->http2 && !tls && engine_h2c_reuse_broken()) {
    /* One connection per request: slow, but every answer is right. */
    c |= curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  } else if (o->http2) {
    c |= curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
  }
  if (o->insecure) {
    c |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    c |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return c == CURLE_OK ? 0 : -ENOMEM;
}

int engine_h2c_reuse_broken(void) {
  /* libcurl before 8.0.0 sets up a second HTTP/2 layer when it reuses a
   * prior-knowledge cleartext connection, and every transfer after the
   * first one fails with "Error in the HTTP2 framing layer" (curl issue
   * 10634). */
  return curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
}

/* Checks the target URL and keeps it without trailing slashes. */
static int parse_target(struct engine *e, const char *target, int *tls,
                        char *err, size_t errlen) {
  int rc = ERR_USAGE;
  char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
  char *path = NULL;
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
  curl_url_get(u, CURLUPART_PATH, &path, 0);
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
  /* A request's path is base's own path (without its trailing slashes)
   * followed by the request target. */
  size_t plen = path ? strlen(path) : 0;
  while (plen && path[plen - 1] == '/') plen--;
  e->pathoff = n - (plen <= n ? plen : n);
  rc = 0;
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(query);
  curl_free(frag);
  curl_free(path);
  curl_url_cleanup(u);
  return rc;
}

/* Copies the extra header lines and chains the shared list tail. */
static int setup_headers(struct engine *e, const struct engine_opts *o,
                         char *err, size_t errlen) {
  e->nshared = o->nheaders;
  e->shared = calloc(e->nshared ? e->nshared : 1, sizeof *e->shared);
  e->extra = calloc(e->nshared ? e->nshared : 1, sizeof *e->extra);
  if (!e->shared || !e->extra) return -ENOMEM;
  for (size_t i = 0; i < o->nheaders; i++) {
    const char *hl = o->headers[i];
    if (!hl || strpbrk(hl, "\r\n") || (!strchr(hl, ':') && !strchr(hl, ';'))) {
      errf(err, errlen, "bad header line (want \"Name: value\"): %s",
           hl ? hl : "(null)");
      return ERR_USAGE;
    }
    e->extra[i] = strdup(hl);
    if (!e->extra[i]) return -ENOMEM;
    e->shared[i].data = e->extra[i];
  }
  for (size_t i = 0; i + 1 < e->nshared; i++)
    e->shared[i].next = &e->shared[i + 1];
  if (!e->nshared) {
    free(e->shared);
    e->shared = NULL;
  }
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

int engine_check_opts(const struct engine_opts *opts, char *err,
                      size_t errlen) {
  int tls = 0;
  struct engine *e = calloc(1, sizeof *e);
  if (!e) return -ENOMEM;
  int rc = parse_target(e, opts->target, &tls, err, errlen);
  if (!rc) rc = setup_headers(e, opts, err, errlen);
  if (!rc && opts->http2 &&
      !(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2)) {
    errf(err, errlen, "%s", "libcurl was built without HTTP/2");
    rc = ERR_USAGE;
  }
  free_engine(e);
  return rc;
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
  e->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
  e->sent = opts->sent;
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
  int multiplex = opts->http2 && (tls || !engine_h2c_reuse_broken());
  m |= curl_multi_setopt(e->multi, CURLMOPT_PIPELINING,
                         multiplex ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
  if (m != CURLM_OK) goto fail;

  /* Last: cannot fail, and once it exists the engine must be closed. */
  uv_timer_init(loop, &e->timer);
  uv_timer_init(loop, &e->stall_timer);
  e->stall_timer.data = e;
  e->timer.data = e;
  e->handles = 2;
  *out = e;
  return 0;
fail:
  if (rc == -ENOMEM) errf(err, errlen, "%s", "out of memory");
  if (e->multi) curl_multi_cleanup(e->multi);
  free_engine(e);
  return rc;
}

/* ---- submit ------------------------------------------------------------- */

/* The body options of a request of a body method: its own body through
 * POSTFIELDS (an empty one when it has none: curl sends Content-Length: 0
 * and the slot's "Content-Type:" line drops its form type), or, for a
 * fault, POSTFIELDS unset so that curl pulls the announced body through
 * on_read. Set on every such request: they are the rarer kind. */
static int set_body(struct slot *s, const struct engine_req *r) {
  CURL *h = s->easy;
  int c = CURLE_OK;
  s->body.len = 0;
  if (r->body && r->body_len)
    buf_add(&s->body, r->body, r->body_len, ENGINE_BODY_MAX);
  if (r->body && r->body_len && s->body.len != r->body_len) return -ENOMEM;
  if (r->fault != ENGINE_FAULT_NONE) {
    s->up_len = s->body.len ? s->body.len : sizeof filler;
    s->up_sent = 0;
    c |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)NULL);
    c |=
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->up_len);
  } else {
    c |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)s->body.len);
    c |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, s->body.len ? s->body.p : "");
  }
  return c == CURLE_OK ? 0 : -ENOMEM;
}

static int set_method(struct slot *s, const struct engine_req *r) {
  const char *method = r->method;
  int body = (r->body && r->body_len) || r->fault != ENGINE_FAULT_NONE;
  enum method want = M_BODY;
  if (!body && strcmp(method, "GET") == 0)
    want = M_GET;
  else if (!body && strcmp(method, "HEAD") == 0)
    want = M_HEAD;
  if (want == s->method && (want != M_BODY || strcmp(s->verb.p, method) == 0))
    return want == M_BODY ? set_body(s, r) : 0;
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
    if (!rc) rc = set_body(s, r);
    if (rc) return rc;
    c |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->verb.p);
  }
  if (c != CURLE_OK) return -ENOMEM;
  s->method = want;
  return 0;
}

/* Bytes that cannot stand in a request line as they are: learned paths
 * may hold them (a log keeps what clients sent). */
static int unsafe(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || c == '"';
}

/* Sets the slot's URL to base + target: the text in s->url (unsafe bytes
 * %-encoded), the path and query in its CURLU. */
static int url_put(struct engine *e, struct slot *s, const char *target) {
  size_t n = 0, extra = 0;
  for (; target[n]; n++) extra += unsafe((unsigned char)target[n]) ? 2 : 0;
  if (n + extra > FIELD_MAX) return ERR_LIMIT;
  int rc = line_put(&s->url, target, 0);
  if (rc) return rc;
  if (extra) {
    /* Grow, then encode from the end backwards. */
    if (s->url.pre + n + extra + 1 > s->url.cap) {
      char *p = realloc(s->url.p, s->url.pre + n + extra + 1);
      if (!p) return -ENOMEM;
      s->url.p = p;
      s->url.cap = s->url.pre + n + extra + 1;
    }
    static const char hex[] = "0123456789ABCDEF";
    char *d = s->url.p + s->url.pre;
    size_t w = n + extra;
    d[w] = '\0';
    for (size_t i = n; i-- > 0;) {
      unsigned char c = (unsigned char)target[i];
      if (unsafe(c)) {
        d[--w] = hex[c & 15];
        d[--w] = hex[c >> 4];
        d[--w] = '%';
      } else {
        d[--w] = (char)c;
      }
    }
  }
  char *path = s->url.p + e->pathoff;
  char *q = strchr(s->url.p + s->url.pre, '?');
  if (q) *q = '\0';
  CURLUcode uc = curl_url_set(s->cu, CURLUPART_PATH, path, 0);
  if (q) *q = '?';
  if (uc == CURLUE_OK)
    uc = curl_url_set(s->cu, CURLUPART_QUERY, q && q[1] ? q + 1 : NULL, 0);
  if (uc != CURLUE_OK) return uc == CURLUE_OUT_OF_MEMORY ? -ENOMEM : ERR_USAGE;
  /* The comparison in prepare is with the raw target: an encoded one is
   * simply set again next time. */
  return 0;
}

/* A line made on first use (most slots never need it). */
static int line_lazy(struct line *l, const char *prefix) {
  return l->p ? 0 : line_init(l, prefix, strlen(prefix) + 64);
}

/* Captures, timeout and fault of the request; options change only when
 * they differ from the slot's previous request. */
static int set_extras(struct engine *e, struct slot *s,
                      const struct engine_req *r) {
  CURL *h = s->easy;
  int c = CURLE_OK;
  s->capture = r->capture & (ENGINE_CAP_HEADERS | ENGINE_CAP_BODY);
  s->fault = r->fault;
  if (s->capture) {
    if (!s->cap && !(s->cap = calloc(1, sizeof *s->cap))) return -ENOMEM;
    capture_reset(s->cap);
    for (size_t i = 0; (s->capture & ENGINE_CAP_HEADERS) &&
                       i < r->ncapture_names && i < ENGINE_CAP_NAMES;
         i++) {
      const char *nm = r->capture_names[i];
      if (nm && *nm && strlen(nm) < sizeof s->cap->names[0])
        memcpy(s->cap->names[s->cap->nnames++], nm, strlen(nm) + 1);
    }
  }
  int want_hdr = (s->capture & ENGINE_CAP_HEADERS) != 0;
  if (want_hdr != s->hdr_fn) {
    /* Both or neither: HEADERDATA without HEADERFUNCTION would send the
     * headers to the body callback. */
    c |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION,
                          want_hdr ? on_header : NULL);
    c |= curl_easy_setopt(h, CURLOPT_HEADERDATA, want_hdr ? (void *)s : NULL);
    if (c != CURLE_OK) return -ENOMEM;
    s->hdr_fn = want_hdr;
  }
  int64_t t = r->timeout_ms > 0 ? r->timeout_ms : e->timeout_ms;
  s->stall_over = 0;
  if (r->fault == ENGINE_FAULT_STALL) {
    /* The engine's own deadline ends a stalled request: curl (7.88, over
     * HTTP/2) may not time out a transfer whose upload is paused. Its
     * timeout stays as a backstop. */
    s->stall_until = now_us() + (uint64_t)t * 1000;
    t += 2000;
  }
  if (t != s->timeout_ms) {
    if (curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t) != CURLE_OK)
      return -ENOMEM;
    s->timeout_ms = t;
  }
  return 0;
}

static int prepare(struct engine *e, struct slot *s,
                   const struct engine_req *r) {
  if (strcmp(s->url.p + s->url.pre, r->target) != 0) {
    int rc = url_put(e, s, r->target);
    if (rc) {
      s->url.p[s->url.pre] = '\0'; /* curl has the old one: set next time */
      return rc;
    }
  }
  int rc = set_method(s, r);
  if (!rc) rc = set_extras(e, s, r);
  if (rc) return rc;
  /* Relink the variable head of the list; the text is rewritten in place,
   * curl reads it when it builds the request. */
  size_t n = 0;
  if (s->method == M_BODY) {
    s->hdr[n++].data = expect_off;
    if (r->content_type && *r->content_type) {
      if ((rc = line_lazy(&s->ctype, "Content-Type: ")) ||
          (rc = line_put(&s->ctype, r->content_type, 1)))
        return rc;
      s->hdr[n++].data = s->ctype.p;
    } else {
      /* No type given: the body must not be labelled as a form. */
      s->hdr[n++].data = ctype_off;
    }
  }
  if (r->ua && *r->ua) {
    rc = line_put(&s->ua, r->ua, 1);
    if (rc) return rc;
    s->hdr[n++].data = s->ua.p;
  }
  if (e->sess_name && r->session && *r->session) {
    rc = line_put(&s->sess, r->session, 1);
    if (rc) return rc;
    s->hdr[n++].data = s->sess.p;
  }
  for (size_t i = 0; i < r->nheaders; i++) {
    struct line *l = &s->hx[i];
    if (!r->headers[i] || !*r->headers[i]) continue;
    if ((rc = line_lazy(l, "")) || (rc = line_put(l, r->headers[i], 1)))
      return rc;
    s->hdr[n++].data = l->p;
  }
  for (size_t i = 0; i + 1 < n; i++) s->hdr[i].next = &s->hdr[i + 1];
  if (n) s->hdr[n - 1].next = e->shared;
  struct curl_slist *head = n ? &s->hdr[0] : e->shared;
  int set = n ? 1 : e->shared ? 2 : 0;
  if (set != s->hdr_set) {
    if (curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, head) != CURLE_OK)
      return -ENOMEM;
    s->hdr_set = set;
  }
  return 0;
}

static void arm_stalls(struct engine *e);

/* Stalled requests whose deadline has passed are unpaused: on_read then
 * aborts them (reported as a timeout). A scan of the slots, only while
 * some are stalled. */
static void on_stall_timer(uv_timer_t *t) {
  struct engine *e = t->data;
  uint64_t now = now_us();
  for (size_t i = 0; i < e->nslots && !e->released; i++) {
    struct slot *s = &e->slots[i];
    if (!s->busy || s->fault != ENGINE_FAULT_STALL || s->stall_over ||
        s->stall_until > now)
      continue;
    s->stall_over = 1;
    curl_easy_pause(s->easy, CURLPAUSE_CONT);
  }
  arm_stalls(e);
}

static void arm_stalls(struct engine *e) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < e->nslots; i++) {
    const struct slot *s = &e->slots[i];
    if (s->busy && s->fault == ENGINE_FAULT_STALL && !s->stall_over &&
        s->stall_until < next)
      next = s->stall_until;
  }
  if (next == UINT64_MAX || e->released) {
    uv_timer_stop(&e->stall_timer);
    return;
  }
  uint64_t now = now_us();
  uv_timer_start(&e->stall_timer, on_stall_timer,
                 next > now ? (next - now + 999) / 1000 : 0, 0);
}

int engine_submit(struct engine *e, const struct engine_req *req) {
  if (e->closing) return -ECANCELED;
  if (!req->method || !*req->method || !req->target || req->target[0] != '/' ||
      req->nheaders > ENGINE_REQ_HEADERS)
    return ERR_USAGE;
  if (req->body && req->body_len > ENGINE_BODY_MAX) return ERR_LIMIT;
  struct slot *s = e->free_list;
  if (!s) return -EAGAIN;
  int rc = prepare(e, s, req);
  if (rc) return rc;
  e->free_list = s->next_free;
  e->nfree--;
  s->busy = 1;
  s->ctx = req->ctx;
  s->bytes = 0;
  s->recv_bps = req->max_recv_bps > 0 ? req->max_recv_bps : 0;
  s->body_t0 = 0;
  s->errbuf[0] = '\0';
  s->start_us = now_us();
  CURLMcode m = curl_multi_add_handle(e->multi, s->easy);
  if (m != CURLM_OK) {
    slot_release(e, s);
    return m == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
  }
  if (s->fault == ENGINE_FAULT_STALL) arm_stalls(e);
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
  for (size_t i = 0; i < e->nslots; i++)
    if (e->slots[i].pace_made)
      uv_close((uv_handle_t *)&e->slots[i].pace, on_handle_closed);
  /* Closes cached connections through on_closesocket. */
  curl_multi_cleanup(e->multi);
  e->multi = NULL;
  for (size_t i = 0; i < e->nsocks; i++)
    if (e->socks[i]) sock_close(e, e->socks[i]);
  uv_close((uv_handle_t *)&e->timer, on_handle_closed);
  uv_close((uv_handle_t *)&e->stall_timer, on_handle_closed);
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
