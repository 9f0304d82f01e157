#include "metrics_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "err.h"
#include "metrics.h"

#define MAX_CONNS 64
#define REQ_MAX 8192         /* a request head larger than this is refused */
#define REQ_TIMEOUT_MS 10000 /* to send the request, read the answer */

struct conn;

struct metrics_server {
  struct metrics *m;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop;
  pthread_t thread;
  int nconns, stopping;
  struct conn *conns; /* doubly linked, for closing at stop */
  atomic_ulong scrapes;
  char addr[80];
};

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  struct metrics_server *s;
  struct conn *prev, *next;
  int closing, pending; /* handles still to be closed */
  size_t len;
  char *body; /* owned while the answer is written */
  char head[256];
  char req[REQ_MAX];
};

/* ---- connections --------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->pending) return;
  struct metrics_server *s = c->s;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  free(c->body);
  free(c);
}

static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  conn_close(w->data);
}

static void respond(struct conn *c, int code, const char *reason,
                    const char *ctype, char *body_take, size_t blen,
                    int head_only) {
  c->body = body_take;
  int n = snprintf(c->head, sizeof c->head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                   code, reason, ctype, blen);
  uv_buf_t bufs[2] = {
      uv_buf_init(c->head, (unsigned)n),
      uv_buf_init(body_take ? body_take : "", head_only ? 0 : (unsigned)blen)};
  c->wr.data = c;
  uv_read_stop((uv_stream_t *)&c->tcp);
  /* The timer keeps running: a client that never reads its answer is
   * closed too (the write is then cancelled). */
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, 2, on_written))
    conn_close(c);
}

static void respond_text(struct conn *c, int code, const char *reason,
                         const char *text, int head_only) {
  char *b = strdup(text);
  if (!b) {
    conn_close(c);
    return;
  }
  respond(c, code, reason, "text/plain; charset=utf-8", b, strlen(b),
          head_only);
}

enum metrics_route metrics_server_route(char *req, size_t len, int *head) {
  *head = 0;
  char *line_end = memchr(req, '\n', len);
  /* A NUL inside the request line would cut it short for strcmp. */
  if (!line_end || memchr(req, '\0', (size_t)(line_end - req)))
    return METRICS_ROUTE_BAD;
  char *sp1 = memchr(req, ' ', (size_t)(line_end - req));
  if (!sp1) return METRICS_ROUTE_BAD;
  *sp1 = '\0';
  char *target = sp1 + 1;
  char *sp2 = memchr(target, ' ', (size_t)(line_end - target));
  if (sp2)
    *sp2 = '\0';
  else
    *line_end = '\0';
  char *query = strchr(target, '?');
  if (query) *query = '\0';
  *head = strcmp(req, "HEAD") == 0;
  if (!*head && strcmp(req, "GET") != 0) return METRICS_ROUTE_METHOD;
  if (strcmp(target, "/metrics") == 0) return METRICS_ROUTE_METRICS;
  if (strcmp(target, "/") == 0) return METRICS_ROUTE_INDEX;
  return METRICS_ROUTE_NOTFOUND;
}

/* The head is complete: answer its request line. */
static void serve(struct conn *c) {
  int head;
  switch (metrics_server_route(c->req, c->len, &head)) {
  case METRICS_ROUTE_BAD:
    respond_text(c, 400, "Bad Request", "bad request\n", 0);
    return;
  case METRICS_ROUTE_METHOD:
    respond_text(c, 405, "Method Not Allowed", "only GET and HEAD\n", 0);
    return;
  case METRICS_ROUTE_METRICS: {
    char *page;
    size_t len;
    if (metrics_render(c->s->m, &page, &len)) {
      respond_text(c, 500, "Internal Server Error", "out of memory\n", head);
      return;
    }
    atomic_fetch_add(&c->s->scrapes, 1);
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", page, len,
            head);
    return;
  }
  case METRICS_ROUTE_INDEX:
    respond_text(c, 200, "OK",
                 "mimic replay: Prometheus metrics are at /metrics\n", head);
    return;
  default: respond_text(c, 404, "Not Found", "not found; try /metrics\n", head);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  struct conn *c = h->data;
  /* One byte kept for the NUL the parser relies on. */
  *buf = uv_buf_init(c->req + c->len, (unsigned)(REQ_MAX - 1 - c->len));
}

/* Whether the head has ended: an empty line ("\n\n" or "\n\r\n"),
 * looked for over every byte received (a NUL among them included). */
static int head_complete(const char *p, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (p[i] != '\n') continue;
    if (p[i + 1] == '\n') return 1;
    if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n') return 1;
  }
  return 0;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct conn *c = st->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->req[c->len] = '\0';
  if (head_complete(c->req, c->len)) {
    serve(c);
    return;
  }
  if (c->len >= REQ_MAX - 1)
    respond_text(c, 431, "Request Header Fields Too Large", "too large\n", 0);
}

static void on_timeout(uv_timer_t *t) {
  conn_close(t->data);
}

static void on_connection(uv_stream_t *l, int status) {
  struct metrics_server *s = l->data;
  if (status < 0) return;
  struct conn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->s = s;
  uv_tcp_init(&s->loop, &c->tcp);
  uv_timer_init(&s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->pending = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) || s->nconns > MAX_CONNS ||
      s->stopping) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, REQ_TIMEOUT_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) conn_close(c);
}

/* ---- the thread ---------------------------------------------------------- */

static void on_stop(uv_async_t *a) {
  struct metrics_server *s = a->data;
  s->stopping = 1;
  for (struct conn *c = s->conns; c; c = c->next) conn_close(c);
  uv_close((uv_handle_t *)&s->listener, NULL);
  uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *server_main(void *arg) {
  struct metrics_server *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss) {
  char host[64];
  const char *colon = strrchr(addr, ':');
  if (!colon) return ERR_USAGE;
  size_t hl = (size_t)(colon - addr);
  if (hl >= sizeof host) return ERR_USAGE;
  memcpy(host, addr, hl);
  host[hl] = '\0';
  char *end;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
    return ERR_USAGE;
  if (host[0] == '[') {
    if (hl < 2 || host[hl - 1] != ']') return ERR_USAGE;
    host[hl - 1] = '\0';
    return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss)
               ? ERR_USAGE
               : 0;
  }
  return uv_ip4_addr(hl ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)ss)
             ? ERR_USAGE
             : 0;
}

int metrics_server_start(struct metrics *m, const char *addr,
                         struct metrics_server **out, char *err,
                         size_t errlen) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (parse_addr(addr, &ss)) {
    snprintf(err, errlen,
             "--metrics-addr '%s': expected HOST:PORT (127.0.0.1:9464, "
             "[::1]:9464, :9464)",
             addr);
    return ERR_USAGE;
  }
  struct metrics_server *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->m = m;
  atomic_init(&s->scrapes, 0);
  int rc = uv_loop_init(&s->loop);
  if (rc) {
    snprintf(err, errlen, "metrics server: %s", uv_strerror(rc));
    free(s);
    return rc;
  }
  uv_tcp_init(&s->loop, &s->listener);
  uv_async_init(&s->loop, &s->stop, on_stop);
  s->listener.data = s->stop.data = s;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
  if (!rc) {
    struct sockaddr_storage got;
    int len = sizeof got;
    char ip[64] = "?";
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len);
    if (!rc && got.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&got, ip, sizeof ip);
      snprintf(s->addr, sizeof s->addr, "[%s]:%d", ip,
               ntohs(((struct sockaddr_in6 *)&got)->sin6_port));
    } else if (!rc) {
      uv_ip4_name((struct sockaddr_in *)&got, ip, sizeof ip);
      snprintf(s->addr, sizeof s->addr, "%s:%d", ip,
               ntohs(((struct sockaddr_in *)&got)->sin_port));
    }
  }
  if (!rc && pthread_create(&s->thread, NULL, server_main, s) != 0)
    rc = -EAGAIN;
  if (rc) {
    snprintf(err, errlen, "cannot serve metrics on %s: %s", addr,
             uv_strerror(rc));
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->stop, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *metrics_server_addr(const struct metrics_server *s) {
  return s->addr;
}

unsigned long metrics_server_scrapes(const struct metrics_server *s) {
  return atomic_load(&((struct metrics_server *)s)->scrapes);
}

void metrics_server_stop(struct metrics_server *s) {
  if (!s) return;
  uv_async_send(&s->stop);
  pthread_join(s->thread, NULL);
  /* Every handle was closed in on_stop; the loop ran until their close
   * callbacks fired, so closing it cannot fail but for a bug. */
  uv_loop_close(&s->loop);
  free(s);
}
