#include "mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "err.h"
#include "hash.h"
#include "hist.h"
#include "model.h"
#include "rng.h"
#include "route.h"

#define RING MOCK_RING
#define URL_MAX MOCK_URL_MAX
#define FILLER (64u << 10) /* body bytes come from one static buffer */
#define LOGBUF (64u << 10) /* per worker, flushed when nearly full */
#define LOGLINE (2 * URL_MAX + 1024) /* longest line (the target quoted) */
#define READBUF (64u << 10)          /* per worker, shared by its connections */
#define SLACK_US 500                 /* answers this close to due leave now */
#define GRACE_MS 3000 /* at stop, answers still due get this long */

/* ---- the table ------------------------------------------------------------
 */

struct tab_ep {
  uint32_t first, n; /* statuses[first .. first+n) */
  int has_lat, has_size;
  struct hist_sampler lat, size;
};

struct mock_table {
  struct route *route;
  struct tab_ep *eps;
  size_t nep;
  int *codes;
  uint64_t *cum; /* running count within each endpoint */
  double time_scale;
};

/* A catch-all endpoint: its one path parameter has type "path". */
static int catch_all(const struct model *m, size_t ep) {
  for (size_t i = 0; i < m->nparams; i++) {
    const struct model_param *p = &m->params[i];
    if (p->endpoint == ep && strcmp(p->loc, "path") == 0 && p->type &&
        strcmp(p->type, "path") == 0)
      return 1;
  }
  return 0;
}

int mock_table_new(const struct model *m, double time_scale,
                   struct mock_table **out, char *err, size_t errlen) {
  if (m->nendpoints == 0) {
    snprintf(err, errlen, "the model has no endpoints");
    return ERR_NODATA;
  }
  struct mock_table *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->time_scale = time_scale > 0 ? time_scale : 1;
  t->nep = m->nendpoints;
  size_t nst = 0;
  for (size_t i = 0; i < m->nendpoints; i++) nst += m->endpoints[i].nstatus;
  t->eps = calloc(t->nep, sizeof *t->eps);
  t->codes = malloc((nst + 1) * sizeof *t->codes);
  t->cum = malloc((nst + 1) * sizeof *t->cum);
  int rc = -ENOMEM;
  if (!t->eps || !t->codes || !t->cum) goto fail;
  if ((rc = route_new(&t->route))) goto fail;
  uint32_t k = 0;
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    struct tab_ep *x = &t->eps[i];
    rc = route_add(t->route, e->method, e->templ, catch_all(m, i), (uint32_t)i);
    if (rc && rc != ERR_LIMIT) goto fail;
    x->first = k;
    uint64_t c = 0;
    for (size_t j = 0; j < e->nstatus; j++) {
      if (!e->status[j].count) continue;
      c += e->status[j].count;
      t->codes[k] = e->status[j].status;
      t->cum[k] = c;
      k++;
    }
    x->n = k - x->first;
    if (e->latency.has && e->latency.h.n) {
      if ((rc = hist_sampler_prepare(&x->lat, &e->latency.h))) goto fail;
      x->has_lat = 1;
    }
    if (e->resp_bytes.has && e->resp_bytes.h.n) {
      if ((rc = hist_sampler_prepare(&x->size, &e->resp_bytes.h))) goto fail;
      x->has_size = 1;
    }
  }
  if ((rc = route_build(t->route))) goto fail;
  *out = t;
  return 0;
fail:
  mock_table_free(t);
  return rc;
}

void mock_table_free(struct mock_table *t) {
  if (!t) return;
  for (size_t i = 0; t->eps && i < t->nep; i++) {
    hist_sampler_cleanup(&t->eps[i].lat);
    hist_sampler_cleanup(&t->eps[i].size);
  }
  free(t->eps);
  free(t->codes);
  free(t->cum);
  route_free(t->route);
  free(t);
}

void mock_table_answer(const struct mock_table *t, struct rng *r,
                       const char *method, size_t mlen, const char *path,
                       size_t plen, struct mock_answer *a) {
  a->ep = route_match(t->route, method, mlen, path, plen);
  a->status = 404;
  a->delay_us = 0;
  a->bytes = 10; /* "not found\n" */
  if (a->ep < 0) return;
  const struct tab_ep *x = &t->eps[a->ep];
  a->status = 200;
  if (x->n) {
    uint64_t u = rng_below(r, t->cum[x->first + x->n - 1]);
    uint32_t lo = x->first, hi = x->first + x->n - 1;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (t->cum[mid] > u)
        hi = mid;
      else
        lo = mid + 1;
    }
    a->status = t->codes[lo];
  }
  a->delay_us = 0;
  if (x->has_lat)
    a->delay_us = (uint64_t)((double)hist_sample(&x->lat, r) / t->time_scale);
  a->bytes = x->has_size ? hist_sample(&x->size, r) : 0;
  if (a->bytes > MOCK_MAX_BODY) a->bytes = MOCK_MAX_BODY;
}

/* ---- the server ------------------------------------------------------------
 */

enum { SLOT_FREE, SLOT_WAIT, SLOT_READY, SLOT_WRITING };

struct slot {
  uv_write_t req;
  uint64_t bytes;
  char *line; /* its log line while the answer waits (pooled), or NULL */
  uint32_t line_len;
  uint32_t hlen;
  uint8_t state, keep;
  char head[224];
};

struct worker;

struct conn {
  uv_tcp_t tcp; /* first: the handle's address is the conn's */
  struct worker *w;
  struct conn *prev, *next; /* live connections of the worker */
  http_parser parser;
  size_t url_len, field_len, sess_len, ua_len;
  int url_long, in_value, hdr;
  uint32_t head, wnext, tail; /* running counts: written, issued, queued */
  uint32_t inheap;            /* timer entries that point here */
  char *pend;                 /* input held while the ring is full */
  size_t pend_len, pend_off;
  int paused, last, closing, closed;
  uint64_t last_due;
  char peer[48];
  char field[40];
  char sess[96], ua[256];
  struct slot ring[RING];
  char url[URL_MAX]; /* last: not cleared for a new connection */
};

struct due {
  uint64_t at; /* hrtime us */
  struct conn *c;
  uint32_t idx; /* running count of the slot */
};

struct shared;

struct worker {
  struct shared *sh;
  unsigned index;
  pthread_t thread;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t timer, tick, grace;
  uv_async_t wake;
  int fd, listening;
  struct rng rng;
  struct conn *live;
  struct due *heap;
  size_t nheap, cap_heap;
  uint64_t armed; /* hrtime us the timer is set for (0: not set) */
  int stopping;
  char rbuf[READBUF];
  char *logbuf;
  size_t loglen;
  char **lpool; /* free log-line buffers, reused */
  size_t nlpool, cap_lpool;
  int64_t log_sec;
  char log_time[32];
  uint64_t requests;
  char err[256];
};

struct shared {
  const struct mock_opts *o;
  struct mock_table *table;
  struct worker *w;
  unsigned nworkers;
  atomic_int stop;
  FILE *log;
  pthread_mutex_t log_lock;
  int64_t wall0_us;
  uint64_t t0_us;
  char header_lc[64]; /* session header, lower case */
  size_t header_len;
};

static char filler[FILLER];

static uint64_t now_us(void) {
  return uv_hrtime() / 1000;
}

static const char *reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 499: return "Client Closed Request";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Status";
  }
}

/* ---- the timer heap -------------------------------------------------------
 */

static int heap_push(struct worker *w, struct due d) {
  if (w->nheap == w->cap_heap) {
    size_t ncap = w->cap_heap ? w->cap_heap * 2 : 1024;
    struct due *nh = realloc(w->heap, ncap * sizeof *nh);
    if (!nh) return -ENOMEM;
    w->heap = nh;
    w->cap_heap = ncap;
  }
  size_t i = w->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (w->heap[p].at <= d.at) break;
    w->heap[i] = w->heap[p];
    i = p;
  }
  w->heap[i] = d;
  return 0;
}

static struct due heap_pop(struct worker *w) {
  struct due top = w->heap[0], last = w->heap[--w->nheap];
  size_t i = 0, n = w->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && w->heap[c + 1].at < w->heap[c].at) c++;
    if (w->heap[c].at >= last.at) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (n) w->heap[i] = last;
  return top;
}

/* ---- the access log ---------------------------------------------------------
 */

static void log_flush(struct worker *w) {
  if (!w->loglen) return;
  pthread_mutex_lock(&w->sh->log_lock);
  fwrite(w->logbuf, 1, w->loglen, w->sh->log);
  fflush(w->sh->log); /* readable while the mock runs */
  pthread_mutex_unlock(&w->sh->log_lock);
  w->loglen = 0;
}

/* Appends src to dst (at most cap-1 bytes in all), escaping '"' and '\'. */
static size_t quote(char *dst, size_t cap, const char *src, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 2 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    if (ch == '"' || ch == '\\') dst[o++] = '\\';
    dst[o++] = ch < 32 || ch == 127 ? '?' : (char)ch;
  }
  dst[o] = '\0';
  return o;
}

/* Combined Log Format with millisecond timestamps, then the request time
 * and the session header: `mimic capture --session-key header:NAME` reads
 * it back. The time is when the answer is due to leave (as nginx logs the
 * end of a request). */
static size_t format_log(struct worker *w, const struct conn *c, uint64_t due,
                         uint64_t delay, int status, uint64_t bytes, char *out,
                         size_t cap) {
  struct shared *sh = w->sh;
  int64_t wall = sh->wall0_us + (int64_t)(due - sh->t0_us);
  int64_t sec = wall / 1000000;
  if (sec != w->log_sec) {
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(w->log_time, sizeof w->log_time, "%d/%b/%Y:%H:%M:%S", &tm);
    w->log_sec = sec;
  }
  char ua[600], sess[200], url[2 * URL_MAX + 8];
  quote(ua, sizeof ua, c->ua, c->ua_len);
  quote(sess, sizeof sess, c->sess, c->sess_len);
  quote(url, sizeof url, c->url, c->url_len);
  int n = snprintf(out, cap,
                   "%s - - [%s.%03d +0000] \"%s %s HTTP/%d.%d\" %d %" PRIu64
                   " \"-\" \"%s\" %.3f \"%s\"\n",
                   c->peer, w->log_time, (int)(wall / 1000 % 1000),
                   http_method_str((enum http_method)c->parser.method), url,
                   c->parser.http_major, c->parser.http_minor, status, bytes,
                   ua[0] ? ua : "-", (double)delay / 1e6, sess[0] ? sess : "-");
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void log_append(struct worker *w, const char *line, size_t n) {
  if (w->loglen + n > LOGBUF) log_flush(w);
  memcpy(w->logbuf + w->loglen, line, n);
  w->loglen += n;
}

/* A delayed answer's line waits in its slot and is written when the
 * answer is due, so that the log is in time order (as a server logs a
 * request when it ends) whatever the delays. */
static void log_due(struct worker *w, struct slot *s) {
  if (!s->line) return;
  log_append(w, s->line, s->line_len);
  if (w->nlpool == w->cap_lpool) {
    size_t ncap = w->cap_lpool ? w->cap_lpool * 2 : 64;
    char **np = realloc(w->lpool, ncap * sizeof *np);
    if (!np) {
      free(s->line);
      s->line = NULL;
      return;
    }
    w->lpool = np;
    w->cap_lpool = ncap;
  }
  w->lpool[w->nlpool++] = s->line;
  s->line = NULL;
}

/* ---- connections ------------------------------------------------------------
 */

static void on_close(uv_handle_t *h) {
  struct conn *c = (struct conn *)h;
  c->closed = 1;
  free(c->pend);
  c->pend = NULL;
  if (c->inheap == 0) free(c);
}

static void close_conn(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  struct worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->live = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *req, int status);
static int resume(struct conn *c);

/* Sends the answers that are due, in request order: at once when nothing
 * else is on its way (uv_try_write: no request queued, no callback), else
 * queued behind the others; then parses input held back for a full ring.
 * The connection may be closed on return. */
static void flush(struct conn *c) {
  uv_stream_t *st = (uv_stream_t *)&c->tcp;
  for (;;) {
    while (c->wnext != c->tail && !c->closing) {
      struct slot *s = &c->ring[c->wnext % RING];
      if (s->state != SLOT_READY) break;
      uv_buf_t bufs[1 + MOCK_MAX_BODY / FILLER];
      unsigned n = 0;
      bufs[n++] = uv_buf_init(s->head, s->hlen);
      for (uint64_t left = s->bytes; left; n++) {
        uint64_t k = left < FILLER ? left : FILLER;
        bufs[n] = uv_buf_init(filler, (unsigned)k);
        left -= k;
      }
      unsigned first = 0;
      if (c->head == c->wnext) {
        int k = uv_try_write(st, bufs, n);
        if (k < 0 && k != UV_EAGAIN) {
          close_conn(c);
          return;
        }
        size_t done = k > 0 ? (size_t)k : 0;
        while (first < n && done >= bufs[first].len) done -= bufs[first++].len;
        if (first == n) {
          /* All out: the slot is free again. */
          s->state = SLOT_FREE;
          c->wnext++;
          c->head++;
          if (!s->keep) {
            close_conn(c);
            return;
          }
          continue;
        }
        bufs[first].base += done;
        bufs[first].len -= done;
      }
      s->state = SLOT_WRITING;
      s->req.data = c;
      c->wnext++;
      if (uv_write(&s->req, st, bufs + first, n - first, on_write) < 0) {
        close_conn(c);
        return;
      }
    }
    if (c->paused && !c->last && !c->closing && c->tail - c->head < RING) {
      if (resume(c)) return;
      continue;
    }
    break;
  }
  if (!c->closing && c->w->stopping && c->head == c->tail) close_conn(c);
}

static void on_write(uv_write_t *req, int status) {
  struct conn *c = req->data;
  struct slot *s = &c->ring[c->head % RING];
  s->state = SLOT_FREE;
  c->head++;
  if (status < 0 || c->closing || !s->keep) {
    close_conn(c);
    return;
  }
  flush(c);
}

/* Appends the decimal digits of v at p; returns the end. */
static char *put_u64(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

static char *put_str(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

/* The status line and headers of an answer (at most 200 bytes). */
static uint32_t format_head(char *buf, int status, uint64_t length, int final,
                            int keep) {
  char *p = put_str(buf, "HTTP/1.1 ");
  p = put_u64(p, (uint64_t)(status > 0 && status < 1000 ? status : 500));
  *p++ = ' ';
  p = put_str(p, reason(status));
  p = put_str(p, "\r\nServer: mimic-mock\r\n");
  if (final) {
    p = put_str(p, "Content-Type: text/plain\r\nContent-Length: ");
    p = put_u64(p, length);
    p = put_str(p, "\r\n");
    if (!keep) p = put_str(p, "Connection: close\r\n");
  }
  p = put_str(p, "\r\n");
  return (uint32_t)(p - buf);
}

/* Queues the answer to the request just parsed (the timer is set for it
 * by rearm, after the parse). */
static int answer(struct conn *c) {
  struct worker *w = c->w;
  struct shared *sh = w->sh;
  w->requests++;
  const char *method = http_method_str((enum http_method)c->parser.method);
  const char *p = c->url, *e = c->url + c->url_len;
  /* An absolute form ("http://host/path") names the path after the host. */
  const char *host = NULL;
  if (e - p > 7 && memcmp(p, "http://", 7) == 0) host = p + 7;
  if (e - p > 8 && memcmp(p, "https://", 8) == 0) host = p + 8;
  if (host) {
    const char *slash = memchr(host, '/', (size_t)(e - host));
    p = slash ? slash : e;
  }
  const char *q = memchr(p, '?', (size_t)(e - p));
  const char *h = memchr(p, '#', (size_t)(e - p));
  const char *pe = q ? q : e;
  if (h && h < pe) pe = h;
  struct mock_answer a;
  if (c->url_long) {
    a = (struct mock_answer){-1, 414, 0, 0};
  } else {
    mock_table_answer(sh->table, &w->rng, method, strlen(method), p,
                      (size_t)(pe - p), &a);
  }
  int keep = http_should_keep_alive(&c->parser) && !w->stopping;
  int head_only = c->parser.method == HTTP_HEAD;
  uint64_t bytes = a.bytes;
  if (a.status < 200) {
    /* A learned 1xx (a WebSocket upgrade in the source) cannot be the
     * final answer to a plain request: the status line goes out, then
     * the connection closes, as an upgraded stream would end. */
    keep = 0;
    bytes = 0;
  }
  if (head_only || a.status == 204 || a.status == 304) bytes = 0;
  struct slot *s = &c->ring[c->tail % RING];
  s->hlen = format_head(s->head, a.status, head_only ? a.bytes : bytes,
                        a.status >= 200, keep);
  s->bytes = bytes;
  s->keep = (uint8_t)keep;
  uint64_t now = now_us(), due = now + a.delay_us;
  if (due < c->last_due) due = c->last_due;
  c->last_due = due;
  s->line = NULL;
  c->tail++;
  if (due <= now + SLACK_US) {
    if (sh->log) {
      if (w->loglen + LOGLINE > LOGBUF) log_flush(w);
      w->loglen += format_log(w, c, due, due - now, a.status, bytes,
                              w->logbuf + w->loglen, LOGBUF - w->loglen);
    }
    s->state = SLOT_READY;
  } else {
    if (sh->log) {
      char *line = w->nlpool ? w->lpool[--w->nlpool] : malloc(LOGLINE);
      if (line) {
        s->line = line;
        s->line_len = (uint32_t)format_log(w, c, due, due - now, a.status,
                                           bytes, line, LOGLINE);
      }
    }
    s->state = SLOT_WAIT;
    if (heap_push(w, (struct due){due, c, c->tail - 1})) return -ENOMEM;
    c->inheap++;
  }
  if (!keep) c->last = 1;
  return 0;
}

/* ---- http-parser callbacks
 * ---------------------------------------------------- */

static int on_begin(http_parser *p) {
  struct conn *c = p->data;
  c->url_len = c->field_len = c->sess_len = c->ua_len = 0;
  c->url_long = c->in_value = 0;
  c->hdr = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;
  if (c->url_len + len > URL_MAX) {
    c->url_long = 1;
    return 0;
  }
  memcpy(c->url + c->url_len, at, len);
  c->url_len += len;
  return 0;
}

static int on_field(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;
  if (c->in_value) {
    c->in_value = 0;
    c->field_len = 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (c->field_len < sizeof c->field) {
      char ch = at[i];
      c->field[c->field_len] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    c->field_len++;
  }
  return 0;
}

static int on_value(http_parser *p, const char *at, size_t len) {
  struct conn *c = p->data;
  struct shared *sh = c->w->sh;
  if (!c->in_value) {
    c->in_value = 1;
    c->hdr = 0;
    if (c->field_len == sh->header_len &&
        memcmp(c->field, sh->header_lc, sh->header_len) == 0)
      c->hdr = 1;
    else if (c->field_len == 10 && memcmp(c->field, "user-agent", 10) == 0)
      c->hdr = 2;
  }
  char *dst = c->hdr == 1 ? c->sess : c->hdr == 2 ? c->ua : NULL;
  size_t *dl = c->hdr == 1 ? &c->sess_len : &c->ua_len;
  size_t cap = c->hdr == 1 ? sizeof c->sess : sizeof c->ua;
  if (!dst) return 0;
  size_t k = len < cap - *dl ? len : cap - *dl;
  memcpy(dst + *dl, at, k);
  *dl += k;
  return 0;
}

static int on_complete(http_parser *p) {
  struct conn *c = p->data;
  if (answer(c)) return -1;
  /* A full ring, or a last request: parse nothing more for now. */
  if (c->last || c->tail - c->head == RING) http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_begin,
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_message_complete = on_complete,
};

/* Parses data; returns the bytes consumed, or -1 on a malformed request. */
static ssize_t parse(struct conn *c, const char *data, size_t len) {
  size_t off = 0;
  for (;;) {
    size_t n =
        http_parser_execute(&c->parser, &settings, data + off, len - off);
    off += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e != HPE_OK && e != HPE_PAUSED) return -1;
    /* http-parser stops after a request asking to upgrade (Upgrade,
     * CONNECT), leaving the rest to another protocol. The mock answers it
     * as any other and never switches (a learned 1xx closes instead), so
     * what follows is the next request: read on. */
    if (e == HPE_PAUSED || off == len || !c->parser.upgrade || !n)
      return (ssize_t)off;
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  struct conn *c = (struct conn *)h;
  *buf = uv_buf_init(c->w->rbuf, READBUF);
}

/* The I/O-free half of a read: parses it, and holds what follows a full
 * ring in c->pend (c->paused then says to stop reading). Returns 0, or -1
 * when the connection must close (a malformed request, no memory). */
static int conn_input(struct conn *c, const char *data, size_t len) {
  ssize_t n = parse(c, data, len);
  if (n < 0) return -1;
  if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
    c->paused = 1;
    size_t rest = len - (size_t)n;
    if (rest && !c->last) {
      c->pend = malloc(rest);
      if (!c->pend) return -1;
      memcpy(c->pend, data + n, rest);
      c->pend_len = rest;
      c->pend_off = 0;
    }
  }
  return 0;
}

/* The I/O-free half of resuming: parses held input. Returns -1 when the
 * connection must close, 0 when the ring filled again (c->paused), 1 when
 * all held input is parsed. */
static int conn_resume(struct conn *c) {
  http_parser_pause(&c->parser, 0);
  c->paused = 0;
  if (c->pend) {
    ssize_t n = parse(c, c->pend + c->pend_off, c->pend_len - c->pend_off);
    if (n < 0) return -1;
    c->pend_off += (size_t)n;
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
      c->paused = 1;
      return 0;
    }
    free(c->pend);
    c->pend = NULL;
  }
  return 1;
}

static void arm(struct worker *w);

/* Sets the timer when answers just queued are due before it fires. */
static void rearm(struct worker *w) {
  if (w->nheap && (!w->armed || w->heap[0].at < w->armed)) arm(w);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = (struct conn *)st;
  if (nread < 0) {
    /* EOF or an error: answers still due are not worth a closed socket. */
    close_conn(c);
    return;
  }
  if (nread == 0 || c->closing || c->last) return;
  int rc = conn_input(c, buf->base, (size_t)nread);
  rearm(c->w);
  if (rc) {
    close_conn(c);
    return;
  }
  if (c->paused) uv_read_stop(st);
  flush(c);
}

/* Parses held input once the ring has room, then reads again. Returns -1
 * when the connection was closed. */
static int resume(struct conn *c) {
  int rc = conn_resume(c);
  rearm(c->w);
  if (rc < 0) {
    close_conn(c);
    return -1;
  }
  if (rc == 0) return 0;
  if (!c->last && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
    close_conn(c);
    return -1;
  }
  return 0;
}

/* A new connection's state, but its handle. */
static void conn_init(struct conn *c, struct worker *w) {
  memset(c, 0, offsetof(struct conn, url));
  for (int i = 0; i < RING; i++) c->ring[i].state = SLOT_FREE;
  c->w = w;
  snprintf(c->peer, sizeof c->peer, "-");
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
}

static void on_connection(uv_stream_t *server, int status) {
  struct worker *w = server->data;
  if (status < 0 || w->stopping) return;
  struct conn *c = malloc(sizeof *c);
  if (!c) return;
  conn_init(c, w);
  if (uv_tcp_init(&w->loop, &c->tcp)) {
    free(c);
    return;
  }
  if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    else if (ss.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
  }
  c->next = w->live;
  if (w->live) w->live->prev = c;
  w->live = c;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) close_conn(c);
}

/* ---- timers and stopping
 * ------------------------------------------------------ */

/* The first timer entry is due: its answer is ready, its line logged.
 * Returns its connection, or NULL when that is closed (and freed here
 * when this was the last entry pointing to it). */
static struct conn *fire(struct worker *w) {
  struct due d = heap_pop(w);
  struct conn *c = d.c;
  c->inheap--;
  log_due(w, &c->ring[d.idx % RING]);
  if (c->closed) {
    if (c->inheap == 0) free(c);
    return NULL;
  }
  struct slot *s = &c->ring[d.idx % RING];
  if (s->state == SLOT_WAIT) s->state = SLOT_READY;
  return c;
}

static void on_timer(uv_timer_t *t) {
  struct worker *w = t->data;
  w->armed = 0;
  uint64_t now = now_us();
  while (w->nheap && w->heap[0].at <= now + SLACK_US) {
    struct conn *c = fire(w);
    if (c) flush(c);
  }
  arm(w);
}

static void arm(struct worker *w) {
  if (!w->nheap) {
    uv_timer_stop(&w->timer);
    w->armed = 0;
    return;
  }
  uint64_t at = w->heap[0].at, now = now_us();
  uint64_t ms = at > now ? (at - now + 999) / 1000 : 0;
  w->armed = at;
  uv_timer_start(&w->timer, on_timer, ms, 0);
}

static void on_tick(uv_timer_t *t) {
  struct worker *w = t->data;
  if (w->sh->log) log_flush(w);
}

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void finish(struct worker *w) {
  /* Whatever is still open now is cut. */
  while (w->live) close_conn(w->live);
  uv_timer_stop(&w->timer);
  if (!uv_is_closing((uv_handle_t *)&w->timer))
    uv_close((uv_handle_t *)&w->timer, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&w->tick))
    uv_close((uv_handle_t *)&w->tick, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&w->grace))
    uv_close((uv_handle_t *)&w->grace, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&w->wake))
    uv_close((uv_handle_t *)&w->wake, on_handle_closed);
}

static void on_grace(uv_timer_t *t) {
  finish(t->data);
}

static void on_wake(uv_async_t *a) {
  struct worker *w = a->data;
  if (w->stopping || !atomic_load(&w->sh->stop)) return;
  w->stopping = 1;
  if (w->listening) uv_close((uv_handle_t *)&w->listener, on_handle_closed);
  /* Idle connections close now; busy ones once their answers are out. */
  for (struct conn *c = w->live, *next; c; c = next) {
    next = c->next;
    if (c->head == c->tail) close_conn(c);
  }
  if (!w->live) {
    finish(w);
    return;
  }
  uv_timer_start(&w->grace, on_grace, GRACE_MS, 0);
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  int rc = uv_tcp_init(&w->loop, &w->listener);
  if (rc) {
    close(w->fd);
  } else {
    w->listening = 1;
    w->listener.data = w;
    if (!(rc = uv_tcp_open(&w->listener, w->fd)))
      rc = uv_listen((uv_stream_t *)&w->listener, 4096, on_connection);
    else
      close(w->fd);
  }
  if (rc) {
    snprintf(w->err, sizeof w->err, "listen: %s", uv_strerror(rc));
    atomic_store(&w->sh->stop, 1);
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
  /* Free connections whose timer entries outlived them. */
  while (w->nheap) {
    struct due d = heap_pop(w);
    log_due(w, &d.c->ring[d.idx % RING]);
    if (--d.c->inheap == 0 && d.c->closed) free(d.c);
  }
  if (w->sh->log) log_flush(w);
  for (size_t i = 0; i < w->nlpool; i++) free(w->lpool[i]);
  free(w->lpool);
  w->lpool = NULL;
  w->nlpool = 0;
  return NULL;
}

/* ---- set-up
 * ------------------------------------------------------------------ */

/* "HOST:PORT", "[V6]:PORT" or ":PORT". */
static int parse_listen(const char *s, struct sockaddr_storage *ss) {
  char host[128];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s + strlen(s) - 1) return -1;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return -1;
  size_t hl = (size_t)(colon - s);
  if (hl >= sizeof host) return -1;
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (hl == 0) snprintf(host, sizeof host, "0.0.0.0");
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 2 || host[n - 1] != ']') return -1;
    host[n - 1] = '\0';
    return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss) ? -1 : 0;
  }
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) ? -1 : 0;
}

static int open_socket(struct sockaddr_storage *ss, char *err, size_t errlen) {
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  int one = 1;
  socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
      bind(fd, (struct sockaddr *)ss, len)) {
    snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    return -1;
  }
  /* Port 0: every worker binds the port the first one got. */
  getsockname(fd, (struct sockaddr *)ss, &len);
  return fd;
}

/* The session header to log (NULL: the default), lower case. Returns 0,
 * or -EINVAL when it is too long. */
static int set_header(struct shared *sh, const char *hdr) {
  if (!hdr) hdr = "X-Mimic-Session";
  size_t n = strlen(hdr);
  if (n >= sizeof sh->header_lc || n >= sizeof((struct conn *)0)->field)
    return -EINVAL;
  for (size_t i = 0; i < n; i++)
    sh->header_lc[i] =
        (char)(hdr[i] >= 'A' && hdr[i] <= 'Z' ? hdr[i] + 32 : hdr[i]);
  sh->header_len = n;
  return 0;
}

int mock_run(const struct mock_opts *o) {
  struct shared sh = {.o = o};
  struct model *m = NULL;
  char err[1024] = "";
  int status = MOCK_FAILED, rc;
  unsigned started = 0;
  atomic_init(&sh.stop, 0);
  pthread_mutex_init(&sh.log_lock, NULL);
  memset(filler, 'x', sizeof filler);
  if (set_header(&sh, o->session_header)) {
    fprintf(o->err, "mimic mock: error: --session-header is too long\n");
    goto out;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (!o->listen || parse_listen(o->listen, &ss)) {
    fprintf(o->err,
            "mimic mock: error: --listen '%s': expected HOST:PORT, "
            "[IPV6]:PORT or :PORT\n",
            o->listen ? o->listen : "");
    goto out;
  }
  if ((rc = model_load(o->model_path, &m, err, sizeof err))) {
    fprintf(o->err, "mimic mock: error: %s\n", err);
    goto out;
  }
  if ((rc = mock_table_new(m, o->time_scale, &sh.table, err, sizeof err))) {
    fprintf(o->err, "mimic mock: error: %s: %s\n", o->model_path,
            err[0] ? err : err_str(rc));
    goto out;
  }
  if (o->log_path) {
    sh.log = fopen(o->log_path, "w");
    if (!sh.log) {
      fprintf(o->err, "mimic mock: error: cannot write --log %s: %s\n",
              o->log_path, strerror(errno));
      goto out;
    }
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  sh.nworkers = o->threads ? o->threads : (unsigned)(cores > 0 ? cores : 1);
  sh.w = calloc(sh.nworkers, sizeof *sh.w);
  if (!sh.w) goto nomem;
  for (unsigned i = 0; i < sh.nworkers; i++) {
    struct worker *w = &sh.w[i];
    w->sh = &sh;
    w->index = i;
    w->fd = open_socket(&ss, err, sizeof err);
    if (w->fd < 0) {
      fprintf(o->err, "mimic mock: error: cannot listen on %s: %s\n", o->listen,
              err);
      for (unsigned k = 0; k < i; k++) close(sh.w[k].fd);
      goto out;
    }
    rng_seed(&w->rng, hash_mix(o->seed, 0x6d6f636bULL + i));
    if (sh.log && !(w->logbuf = malloc(LOGBUF))) goto nomem;
    w->log_sec = -1;
  }
  char name[64] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&ss, name, sizeof name);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else {
    uv_ip6_name((struct sockaddr_in6 *)&ss, name + 1, sizeof name - 2);
    name[0] = '[';
    strcat(name, "]");
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  sh.wall0_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000;
  sh.t0_us = now_us();

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  for (; started < sh.nworkers; started++) {
    struct worker *w = &sh.w[started];
    if (uv_loop_init(&w->loop)) break;
    uv_timer_init(&w->loop, &w->timer);
    uv_timer_init(&w->loop, &w->tick);
    uv_timer_init(&w->loop, &w->grace);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->timer.data = w->tick.data = w->grace.data = w->wake.data = w;
    uv_timer_start(&w->tick, on_tick, 100, 100); /* log written 10 times a s */
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      uv_loop_close(&w->loop);
      break;
    }
  }
  if (!o->quiet || started)
    fprintf(o->err,
            "mimic mock: listening on http://%s:%d (%u thread%s, %zu "
            "endpoints)\n",
            name, port, started, started == 1 ? "" : "s", m->nendpoints);
  fflush(o->err);
  for (unsigned i = started; i < sh.nworkers; i++) close(sh.w[i].fd);
  uint64_t hr0 = uv_hrtime();
  while (started == sh.nworkers && !atomic_load(&sh.stop)) {
    struct timespec wait = {0, 200 * 1000000L};
    int sig = sigtimedwait(&set, NULL, &wait);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (o->max_seconds > 0 &&
        (uv_hrtime() - hr0) / 1000000000 >= (uint64_t)o->max_seconds)
      break;
  }
  atomic_store(&sh.stop, 1);
  for (unsigned i = 0; i < started; i++) uv_async_send(&sh.w[i].wake);
  uint64_t served = 0;
  int failed = started < sh.nworkers;
  for (unsigned i = 0; i < started; i++) {
    struct worker *w = &sh.w[i];
    pthread_join(w->thread, NULL);
    served += w->requests;
    if (w->err[0]) {
      fprintf(o->err, "mimic mock: error: worker %u: %s\n", i, w->err);
      failed = 1;
    }
    if (uv_loop_close(&w->loop) != 0) failed = 1;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!o->quiet)
    fprintf(o->err, "mimic mock: stopped after %" PRIu64 " requests\n", served);
  status = failed ? MOCK_FAILED : MOCK_OK;
  goto out;
nomem:
  fprintf(o->err, "mimic mock: error: out of memory\n");
out:
  if (sh.log && fclose(sh.log) != 0 && status == MOCK_OK) {
    fprintf(o->err, "mimic mock: error: cannot write --log %s: %s\n",
            o->log_path, strerror(errno));
    status = MOCK_FAILED;
  }
  for (unsigned i = 0; sh.w && i < sh.nworkers; i++) {
    free(sh.w[i].heap);
    free(sh.w[i].logbuf);
  }
  free(sh.w);
  mock_table_free(sh.table);
  model_free(m);
  pthread_mutex_destroy(&sh.log_lock);
  return status;
}

/* ---- the test seam ------------------------------------------------------
 */

struct mock_probe {
  struct shared sh;
  struct worker *w; /* big (its read buffer): apart */
  struct conn *c;
  uint64_t seed;
  int open;
};

int mock_probe_new(struct mock_table *t, const char *session_header,
                   uint64_t seed, struct mock_probe **out) {
  struct mock_probe *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  int rc = -ENOMEM;
  if (!(p->w = calloc(1, sizeof *p->w)) || !(p->c = calloc(1, sizeof *p->c)) ||
      !(p->w->logbuf = malloc(LOGBUF)))
    goto fail;
  if ((rc = set_header(&p->sh, session_header))) goto fail;
  p->sh.table = t;
  p->sh.nworkers = 1;
  p->sh.w = p->w;
  pthread_mutex_init(&p->sh.log_lock, NULL);
  p->sh.t0_us = now_us();
  p->w->sh = &p->sh;
  p->w->log_sec = -1;
  p->seed = seed;
  conn_init(p->c, p->w);
  p->c->closing = 1; /* none open yet */
  *out = p;
  return 0;
fail:
  if (p->w) free(p->w->logbuf);
  free(p->w);
  free(p->c);
  free(p);
  return rc;
}

void mock_probe_close(struct mock_probe *p) {
  if (!p->open) return;
  while (p->w->nheap) fire(p->w);
  if (p->sh.log) log_flush(p->w);
  free(p->c->pend);
  p->c->pend = NULL;
  p->c->closing = 1;
  p->open = 0;
}

void mock_probe_free(struct mock_probe *p) {
  if (!p) return;
  mock_probe_close(p);
  for (size_t i = 0; i < p->w->nlpool; i++) free(p->w->lpool[i]);
  free(p->w->lpool);
  free(p->w->heap);
  free(p->w->logbuf);
  pthread_mutex_destroy(&p->sh.log_lock);
  free(p->w);
  free(p->c);
  free(p);
}

void mock_probe_open(struct mock_probe *p, FILE *log) {
  mock_probe_close(p);
  p->sh.log = log;
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  p->sh.wall0_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000;
  p->sh.t0_us = now_us();
  p->w->requests = 0;
  rng_seed(&p->w->rng, hash_mix(p->seed, 0x6d6f636bULL));
  conn_init(p->c, p->w);
  p->open = 1;
}

static int probe_status(const struct conn *c) {
  if (c->closing) return -1;
  return c->paused || c->last ? 1 : 0;
}

int mock_probe_read(struct mock_probe *p, const void *data, size_t len) {
  struct conn *c = p->c;
  /* What on_read does, but for the socket. */
  if (p->open && !c->closing && !c->last && !c->paused && len &&
      conn_input(c, data, len))
    c->closing = 1;
  return probe_status(c);
}

void mock_probe_elapse(struct mock_probe *p) {
  while (p->w->nheap) fire(p->w);
}

int mock_probe_send(struct mock_probe *p, unsigned max,
                    void (*fn)(void *arg, const struct mock_probe_answer *a),
                    void *arg) {
  struct conn *c = p->c;
  /* What flush does when every write takes all its bytes at once. */
  for (;;) {
    while (c->wnext != c->tail && !c->closing && max) {
      struct slot *s = &c->ring[c->wnext % RING];
      if (s->state != SLOT_READY) break;
      struct mock_probe_answer a = {s->head, s->hlen, s->bytes, s->keep};
      if (fn) fn(arg, &a);
      max--;
      s->state = SLOT_FREE;
      c->wnext++;
      c->head++;
      if (!s->keep) c->closing = 1;
    }
    if (c->paused && !c->last && !c->closing && c->tail - c->head < RING) {
      if (conn_resume(c) < 0) c->closing = 1;
      continue;
    }
    break;
  }
  return probe_status(c);
}

void mock_probe_state(const struct mock_probe *p, struct mock_probe_state *s) {
  const struct conn *c = p->c;
  *s = (struct mock_probe_state){.requests = p->w->requests,
                                 .queued = c->tail - c->head,
                                 .in_heap = c->inheap,
                                 .paused = c->paused,
                                 .last = c->last,
                                 .closed = c->closing};
  for (uint32_t i = c->head; i != c->tail; i++)
    s->ready += c->ring[i % RING].state == SLOT_READY;
  if (c->pend) s->held = c->pend_len - c->pend_off;
}
