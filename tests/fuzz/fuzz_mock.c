/* Fuzz target for the requests `mimic mock` reads (bytes from the
 * network), through the server's own connection code without a socket
 * (replay/mock.h's probe: parsing, the ring of pipelined answers, input
 * held while the ring is full, the timer heap, the access log). The input
 * is N = data[0] % 64 control bytes, then the bytes the client sends.
 * Each control byte is a step:
 *   00xxxxxx  read the next x+1 bytes
 *   01xxxxxx  read the next (x+1)*64 bytes
 *   10xxxxxx  send up to x answers that are due (0: all)
 *   11xxxxxx  the delays pass, then send up to x answers (0: all)
 * A read while the server reads nothing becomes "the delays pass, send
 * one answer". After the steps, the rest is read and every answer sent.
 * Invariants:
 *  - at most MOCK_RING answers wait; parsing pauses only for a full ring
 *    or the connection's last request; input is held only while paused;
 *  - every request is answered once, in order, whatever the reads: as
 *    many answers as one unsplit parse of the bytes finds requests, up
 *    to the first malformed one or the last one (Connection: close,
 *    HTTP/1.0, or one answered 1xx); a request asking to upgrade is
 *    answered as any other, and what follows it is the next request;
 *  - the i-th answer fits the i-th request: 414 exactly when its target
 *    is longer than MOCK_URL_MAX; keep-alive as asked (1xx: never); a
 *    well-formed head whose Content-Length is the body (HEAD, 204, 304:
 *    no body) and which says Connection: close when the connection ends;
 *  - the access log has one line per request, with no control bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "hist.h"
#include "mock.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXSIZE (1u << 16)

static void check(int ok) {
  if (!ok) abort();
}

/* ---- the model: a few endpoints, answered at once or after 10 s -------- */

static struct model_endpoint *add_ep(struct model *m, const char *method,
                                     const char *templ) {
  struct model_endpoint *e = model_push(m, endpoints);
  check(e != NULL);
  e->method = strdup(method);
  e->host = strdup("");
  e->templ = strdup(templ);
  e->count = 100;
  hist_init(&e->latency.h);
  hist_init(&e->resp_bytes.h);
  hist_init(&e->req_bytes.h);
  return e;
}

static void add_status(struct model_endpoint *e, int status, uint64_t n) {
  struct model_status *s =
      realloc(e->status, (e->nstatus + 1) * sizeof *e->status);
  check(s != NULL);
  e->status = s;
  e->status[e->nstatus++] = (struct model_status){status, n};
}

static struct model *build_model(void) {
  struct model *m;
  check(model_new(&m) == 0);
  struct model_endpoint *e = add_ep(m, "GET", "/users/{id}");
  add_status(e, 200, 70);
  add_status(e, 404, 20);
  add_status(e, 503, 10);
  e->latency.has = e->resp_bytes.has = 1;
  hist_add(&e->latency.h, 0, 50);
  hist_add(&e->latency.h, 10000000, 50); /* 10 s: waits for a step */
  hist_add(&e->resp_bytes.h, 100, 90);
  hist_add(&e->resp_bytes.h, 70000, 10); /* more than one filler buffer */
  e = add_ep(m, "HEAD", "/users/{id}");
  e->resp_bytes.has = 1;
  hist_add(&e->resp_bytes.h, 100, 1);
  add_ep(m, "POST", "/login"); /* nothing learned but the path */
  e = add_ep(m, "DELETE", "/users/{id}");
  add_status(e, 204, 5);
  add_status(e, 304, 5);
  e->resp_bytes.has = 1;
  hist_add(&e->resp_bytes.h, 50, 1);
  e = add_ep(m, "GET", "/ws");
  add_status(e, 101, 1);
  add_status(e, 200, 3);
  /* A catch-all: its one path parameter has type "path". */
  e = add_ep(m, "GET", "/static/{rest}");
  e->latency.has = 1;
  hist_add(&e->latency.h, 10000000, 1);
  struct model_param *p = model_push(m, params);
  check(p != NULL);
  p->endpoint = (uint32_t)(e - m->endpoints);
  strcpy(p->loc, "path");
  p->position = 1;
  p->name = strdup("rest");
  p->type = strdup("path");
  add_ep(m, "GET", "/");
  return m;
}

static struct mock_probe *probe;

static void setup(void) {
  static struct model *m;
  static struct mock_table *t;
  if (probe) return;
  char err[256];
  m = build_model();
  check(mock_table_new(m, 1, &t, err, sizeof err) == 0);
  check(mock_probe_new(t, NULL, 1, &probe) == 0);
}

/* ---- the unsplit parse: what the answers must be ------------------------ */

struct msg {
  size_t url_len;
  int keep, head;
};

struct ref {
  struct msg *msg;
  size_t n, cap;
  size_t url_len;
  int error; /* a malformed request follows the n */
  int last;  /* the n-th is the connection's last */
};

static int ref_begin(http_parser *p) {
  ((struct ref *)p->data)->url_len = 0;
  return 0;
}

static int ref_url(http_parser *p, const char *at, size_t len) {
  (void)at;
  ((struct ref *)p->data)->url_len += len;
  return 0;
}

static int ref_complete(http_parser *p) {
  struct ref *r = p->data;
  check(r->n < r->cap);
  struct msg *m = &r->msg[r->n++];
  m->url_len = r->url_len;
  m->keep = http_should_keep_alive(p);
  m->head = p->method == HTTP_HEAD;
  if (!m->keep) {
    r->last = 1;
    http_parser_pause(p, 1);
  }
  return 0;
}

static void ref_parse(struct ref *r, const uint8_t *data, size_t len) {
  static const http_parser_settings settings = {
      .on_message_begin = ref_begin,
      .on_url = ref_url,
      .on_message_complete = ref_complete,
  };
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  p.data = r;
  size_t off = 0;
  while (off < len) {
    size_t n =
        http_parser_execute(&p, &settings, (const char *)data + off, len - off);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    if (e == HPE_PAUSED) return;
    if (e != HPE_OK) {
      r->error = 1;
      return;
    }
    /* Only an upgrade stops short: the mock does not switch protocols. */
    check(n == len - off || p.upgrade);
    off += n;
  }
}

/* ---- the answers -------------------------------------------------------- */

struct run {
  const struct ref *ref;
  size_t answers;
  long one_xx; /* the answer that was 1xx, or -1 */
  int ended;   /* an answer said Connection: close */
};

/* The value of header name in head (ending "\r\n\r\n"), or NULL. */
static const char *header(const char *head, size_t hlen, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = head; p + nl + 2 < head + hlen; p++)
    if (p[0] == '\n' && memcmp(p + 1, name, nl) == 0) return p + 1 + nl;
  return NULL;
}

static void on_answer(void *arg, const struct mock_probe_answer *a) {
  struct run *run = arg;
  check(!run->ended);
  check(run->answers < run->ref->n);
  const struct msg *m = &run->ref->msg[run->answers++];
  /* "HTTP/1.1 NNN reason\r\n" ... "\r\n\r\n", within the slot. */
  check(a->hlen >= 17 && a->hlen < 224);
  check(memcmp(a->head, "HTTP/1.1 ", 9) == 0);
  check(memcmp(a->head + a->hlen - 4, "\r\n\r\n", 4) == 0);
  check(memchr(a->head, '\0', a->hlen) == NULL);
  int status = 0;
  for (int i = 9; i < 12; i++) {
    check(a->head[i] >= '0' && a->head[i] <= '9');
    status = status * 10 + a->head[i] - '0';
  }
  check(a->head[12] == ' ');
  check((status == 414) == (m->url_len > MOCK_URL_MAX));
  const char *cl = header(a->head, a->hlen, "Content-Length: ");
  const char *close = header(a->head, a->hlen, "Connection: close");
  if (status < 200) {
    /* Not a final answer: the connection ends after it. */
    check(!a->keep && !cl && !close && a->bytes == 0);
    run->one_xx = (long)run->answers - 1;
    run->ended = 1;
    return;
  }
  check(a->keep == m->keep);
  check((close == NULL) == a->keep);
  check(cl != NULL);
  uint64_t len = strtoull(cl, NULL, 10);
  if (m->head || status == 204 || status == 304)
    check(a->bytes == 0);
  else
    check(len == a->bytes);
  check(a->bytes <= MOCK_MAX_BODY);
  run->ended = !a->keep;
}

/* ---- the steps ---------------------------------------------------------- */

static void check_state(const struct run *run, struct mock_probe_state *st) {
  mock_probe_state(probe, st);
  if (st->closed) return;
  check(st->queued <= MOCK_RING);
  check(st->ready <= st->queued && st->in_heap <= st->queued);
  check(!st->held || st->paused);
  check(!st->paused || st->queued == MOCK_RING || st->last);
  check(st->requests == run->answers + st->queued);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0 || size > MAXSIZE) return 0;
  setup();
  size_t nctl = data[0] % 64;
  if (nctl > size - 1) nctl = size - 1;
  const uint8_t *ctl = data + 1, *in = data + 1 + nctl;
  size_t len = size - 1 - nctl, off = 0;

  /* A request takes at least 7 bytes ("GET /\n\n", HTTP/0.9). */
  struct ref ref = {.cap = len / 4 + 2};
  ref.msg = malloc(ref.cap * sizeof *ref.msg);
  if (!ref.msg) return 0;
  ref_parse(&ref, in, len);

  char *log = NULL;
  size_t loglen = 0;
  FILE *logf = open_memstream(&log, &loglen);
  check(logf != NULL);
  mock_probe_open(probe, logf);
  struct run run = {.ref = &ref, .one_xx = -1};
  struct mock_probe_state st;
  int rc = 0; /* 0: reading, 1: not now, -1: closed */
  for (size_t i = 0; i < nctl && rc >= 0; i++) {
    unsigned x = ctl[i] & 63;
    switch (ctl[i] >> 6) {
    case 0:
    case 1: {
      if (rc) {
        mock_probe_elapse(probe);
        rc = mock_probe_send(probe, 1, on_answer, &run);
        break;
      }
      size_t n = ctl[i] >> 6 ? (x + 1) * 64 : x + 1;
      if (n > len - off) n = len - off;
      if (n) rc = mock_probe_read(probe, in + off, n);
      off += n;
      break;
    }
    case 3: mock_probe_elapse(probe); /* fall through */
    case 2: rc = mock_probe_send(probe, x ? x : ~0u, on_answer, &run); break;
    }
    check_state(&run, &st);
  }
  /* The rest in one read, then everything out. */
  for (int guard = 0; rc >= 0; guard++) {
    check(guard < 4 * MOCK_RING + 16);
    check_state(&run, &st);
    if (rc == 0 && off < len) {
      rc = mock_probe_read(probe, in + off, len - off);
      off = len;
    } else if (st.queued) {
      mock_probe_elapse(probe);
      rc = mock_probe_send(probe, ~0u, on_answer, &run);
    } else {
      break;
    }
  }
  check_state(&run, &st);
  size_t want = ref.n;
  if (run.one_xx >= 0) want = (size_t)run.one_xx + 1;
  check(st.requests == want);
  if (st.closed && !st.last) {
    /* Only a malformed request closes a connection before its last. */
    check(ref.error && run.one_xx < 0);
  } else {
    check(run.answers == want && st.queued == 0);
    check(!ref.error || run.one_xx >= 0);
  }
  mock_probe_close(probe);
  check(fclose(logf) == 0);
  size_t lines = 0;
  for (size_t i = 0; i < loglen; i++) {
    unsigned char ch = (unsigned char)log[i];
    if (ch == '\n')
      lines++;
    else
      check(ch >= 32 && ch != 127);
  }
  check(lines == st.requests && (!loglen || log[loglen - 1] == '\n'));
  free(log);
  free(ref.msg);
  return 0;
}
