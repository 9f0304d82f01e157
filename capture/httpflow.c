/* memmem() */
#define _GNU_SOURCE
#include "httpflow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <stdio.h>

#include "pcapsrc.h"

#define TARGET_CAP 8192  /* request target bytes kept */
#define HNAME_CAP 64     /* header name bytes kept */
#define HVAL_CAP 4096    /* header value bytes kept */
#define MAX_HDRS 64      /* headers kept per message */
#define HEAD_CAP 16384   /* message head copied for the lenient path */
#define MAX_ORPHANS 8    /* responses waiting for their request */
#define CLASSIFY_MAX 24  /* bytes looked at to classify a stream */
#define RESYNC_CARRY 512 /* bytes kept across chunks while resynchronising */

/* ---- messages and transactions ------------------------------------------ */

struct hoff {
  uint32_t name, nlen, value, vlen; /* offsets into the message's arena */
};

/* One message (a request or a response) as it is read. */
struct msg {
  char *arena;
  size_t alen, acap;
  struct hoff *h;
  size_t nh, caph;
  uint32_t target_off, target_len, method_off, method_len;
  int target_cut;
  uint8_t *body;
  size_t blen;
  int body_cut, keep_body;
  int64_t t_first, t_last;
  uint64_t wire;      /* bytes of the whole message on the wire */
  uint64_t body_wire; /* body bytes (after de-chunking) */
  int status, major, minor, lenient;
};

struct txn {
  struct txn *next, *prev;
  struct msg rq;
  struct msg *rs; /* the response, once complete */
  int req_head, req_done, claimed, dropped;
  int passed; /* no answer will come: a later request's was seen */
  int in_ready;
  struct http_txn pub;
  struct http_hdr *pubh; /* headers for pub, built when handed out */
};

enum mode {
  M_WAIT,      /* nothing seen yet: classify the first bytes */
  M_PARSE,     /* libhttp-parser */
  M_SKIP_HEAD, /* lenient message: skip to the end of its head */
  M_SKIP_BODY, /* ... then skip its body (skip_left bytes) */
  M_SKIP_ALL,  /* a body that lasts until the connection ends */
  M_RESYNC,    /* look for the next message start */
  M_OFF,       /* nothing more to parse (tunnel, dead parser, ignored) */
};

struct flowst;

#define WAIT_CAP (64 << 10) /* bytes kept while the roles are unknown */
#define WAIT_CHUNKS 64

struct waitbuf {
  size_t len, nchunks;
  struct {
    int64_t ts;
    size_t len;
  } chunk[WAIT_CHUNKS];
  uint8_t data[WAIT_CAP];
};

struct dir {
  http_parser p;
  struct flowst *fs;
  enum mode mode;
  int client; /* 1: requests flow in this direction */
  int in_msg; /* between message begin and complete */
  int head_done;
  int after_gap;     /* the last gap may have swallowed whole messages */
  int tunnel;        /* server: the response opens a tunnel */
  int head_capped;   /* the head copy hit HEAD_CAP */
  int64_t ts;        /* time of the bytes being parsed */
  struct txn *t;     /* client: the request being read */
  struct msg *rs;    /* server: the response being read */
  struct txn *claim; /* server: the request that response answers */
  /* the header being read */
  char hname[HNAME_CAP];
  size_t hnlen;
  char *hval;
  size_t hvlen;
  int in_value, have_field;
  /* body decoding */
  z_stream *z;
  int z_raw;  /* inflating raw deflate (no zlib header) */
  int z_done; /* inflate finished or failed */
  int gzip;   /* Content-Encoding gzip/deflate */
  /* head copy for the lenient path */
  char *head;
  size_t head_len;
  int head_on;
  /* skipping */
  uint64_t skip_left;
  size_t head_skip;           /* M_SKIP_HEAD: blank lines before the head */
  uint64_t seen;              /* bytes delivered */
  uint64_t parsed;            /* bytes consumed by the parser so far */
  uint64_t msg_start;         /* ... when the current message began */
  int completed;              /* the parser just finished a message */
  uint8_t cbuf[CLASSIFY_MAX]; /* first bytes, until they can be classified */
  uint8_t *rcarry;            /* M_RESYNC: the last bytes seen (RESYNC_CARRY) */
  struct waitbuf *wait;       /* M_WAIT: bytes kept until the roles are known */
  size_t rclen;
  size_t clen;
};

struct flowst {
  struct httpflow *hf;
  struct reasm_flow *f;
  struct dir d[2];
  int client_dir; /* -1 unknown */
  int klass[2];   /* classification of each direction's first bytes */
  int http, counted, tls;
  struct txn *pend, *pend_tail; /* requests by t_req_first */
  size_t npend;
  struct msg *orph[MAX_ORPHANS]; /* responses waiting for a request */
  char client_ip[48];
  size_t norph;
};

enum { K_NONE = 0, K_REQ, K_RESP, K_TLS, K_OTHER };

static void dir_data(struct dir *d, const uint8_t *p, size_t n);

struct httpflow {
  struct httpflow_opts o;
  struct reasm *reasm;
  http_parser_settings req_set, resp_set;
  struct txn *ready, *ready_tail, *handed;
  size_t nready;
  struct httpflow_stats st;
  int oom;
};

static void msg_free(struct msg *m) {
  if (!m) return;
  free(m->arena);
  free(m->h);
  free(m->body);
}

static void txn_free(struct txn *t) {
  if (!t) return;
  msg_free(&t->rq);
  if (t->rs) {
    msg_free(t->rs);
    free(t->rs);
  }
  free(t->pubh);
  free(t);
}

/* A new request read by direction d (the client side of its flow). */
static struct txn *txn_new(struct dir *d) {
  struct txn *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  const struct reasm_flow *f = d->fs->f;
  int c = (int)(d - d->fs->d); /* this direction's index is the client */
  struct http_txn *x = &t->pub;
  x->af = f->af;
  memcpy(x->client, f->addr[c], 16);
  memcpy(x->server, f->addr[1 - c], 16);
  x->client_port = f->port[c];
  x->server_port = f->port[1 - c];
  /* The text of the client's address, made once per connection. */
  struct flowst *fs = d->fs;
  if (!fs->client_ip[0] &&
      !inet_ntop(x->af == 4 ? AF_INET : AF_INET6, x->client, fs->client_ip,
                 sizeof fs->client_ip))
    fs->client_ip[0] = '\0';
  memcpy(x->client_ip, fs->client_ip, sizeof x->client_ip);
  t->rq.t_first = d->ts;
  return t;
}

/* Appends n bytes to the message's arena; returns their offset, or
 * UINT32_MAX when out of memory. */
static uint32_t arena_add(struct msg *m, const void *p, size_t n) {
  if (m->alen + n + 1 > m->acap) {
    size_t cap = m->acap ? m->acap : 256;
    while (cap < m->alen + n + 1) cap *= 2;
    char *na = realloc(m->arena, cap);
    if (!na) return UINT32_MAX;
    m->arena = na;
    m->acap = cap;
  }
  uint32_t off = (uint32_t)m->alen;
  if (n) memcpy(m->arena + m->alen, p, n);
  m->alen += n;
  m->arena[m->alen++] = '\0';
  return off;
}

static int msg_add_header(struct msg *m, const char *name, size_t nlen,
                          const char *value, size_t vlen) {
  if (m->nh >= MAX_HDRS) return 0;
  if (m->nh == m->caph) {
    size_t cap = m->caph ? m->caph * 2 : 16;
    struct hoff *nh = realloc(m->h, cap * sizeof *nh);
    if (!nh) return -ENOMEM;
    m->h = nh;
    m->caph = cap;
  }
  uint32_t no = arena_add(m, name, nlen), vo = arena_add(m, value, vlen);
  if (no == UINT32_MAX || vo == UINT32_MAX) return -ENOMEM;
  m->h[m->nh++] = (struct hoff){no, (uint32_t)nlen, vo, (uint32_t)vlen};
  return 0;
}

static const char *msg_header(const struct msg *m, const char *name,
                              size_t *len) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < m->nh; i++) {
    if (m->h[i].nlen == nl && memcmp(m->arena + m->h[i].name, name, nl) == 0) {
      *len = m->h[i].vlen;
      return m->arena + m->h[i].value;
    }
  }
  return NULL;
}

/* Case-insensitive search of a lower-case token (media types, codings). */
static int has_token(const char *v, size_t len, const char *tok) {
  size_t tl = strlen(tok);
  char first = tok[0];
  for (size_t i = 0; i + tl <= len; i++) {
    char c = v[i];
    if ((c | 0x20) != first) continue;
    if (strncasecmp(v + i, tok, tl) == 0) return 1;
  }
  return 0;
}

/* ---- methods ------------------------------------------------------------- */

static const char *const METHODS[] = {
    /* Wireshark's list (is_http_request_or_reply), then libhttp-parser's
     * others: a line starting with one of these is a request. */
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "PATCH",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "RPC_CONNECT",
    "RPC_IN_DATA",
    "RPC_OUT_DATA",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
    "SSTP_DUPLEX_POST",
    "BIND",
    "REBIND",
    "UNBIND",
    "ACL",
    "PURGE",
    "MKCALENDAR",
    "LINK",
    "UNLINK",
    "SOURCE",
    NULL};

int httpflow_is_method(const char *p, size_t n) {
  if (n >= 2 && p[0] == 'M' && p[1] == '-') { /* RFC 2774 mandatory prefix */
    p += 2;
    n -= 2;
  }
  if (n < 3 || n > 16) return 0;
  for (size_t i = 0; METHODS[i]; i++)
    if (strlen(METHODS[i]) == n && memcmp(METHODS[i], p, n) == 0) return 1;
  return 0;
}

/* Length of the first token of a line: up to a space or the end of the
 * line (Wireshark's rule for the method). */
static size_t first_token(const char *p, size_t n) {
  size_t i = 0;
  while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n') i++;
  return i;
}

static int line_ended(const char *p, size_t n, size_t tok) {
  return tok < n; /* something (space or end of line) followed it */
}

/* 1 while p[0..n) may still grow into a start line or a TLS record. */
static int maybe_prefix(const uint8_t *p, size_t n) {
  if (n == 1 && p[0] == 0x16) return 1;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' || p[i] == '-' ||
          p[i] == '/'))
      return 0;
  return 1;
}

/* What the first bytes of a direction are. */
static int classify(const uint8_t *p, size_t n) {
  if (n >= 2 && p[0] == 0x16 && p[1] == 0x03) return K_TLS;
  const char *s = (const char *)p;
  if (n >= 5 && memcmp(s, "HTTP/", 5) == 0) return K_RESP;
  size_t t = first_token(s, n);
  if (line_ended(s, n, t) && httpflow_is_method(s, t)) return K_REQ;
  return K_OTHER;
}

/* ---- pending requests and pairing ------------------------------------------
 */

static void ready_push(struct httpflow *hf, struct txn *t) {
  if (t->in_ready) abort();
  t->in_ready = 1;
  t->next = NULL;
  t->prev = NULL;
  if (hf->ready_tail)
    hf->ready_tail->next = t;
  else
    hf->ready = t;
  hf->ready_tail = t;
  hf->nready++;
}

static void pend_remove(struct flowst *fs, struct txn *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    fs->pend = t->next;
  if (t->next)
    t->next->prev = t->prev;
  else
    fs->pend_tail = t->prev;
  t->next = t->prev = NULL;
  fs->npend--;
}

/* Hands a transaction out (or frees it when it was dropped). */
static void emit(struct flowst *fs, struct txn *t) {
  struct httpflow *hf = fs->hf;
  pend_remove(fs, t);
  if (t->dropped) {
    txn_free(t);
    return;
  }
  if (!t->rs) hf->st.unanswered++;
  ready_push(hf, t);
}

/* Requests are kept in the order they started. */
static void pend_insert(struct flowst *fs, struct txn *t) {

  struct txn *after = fs->pend_tail;
  while (after && after->rq.t_first > t->rq.t_first) after = after->prev;
  t->prev = after;
  t->next = after ? after->next : fs->pend;
  if (t->next)
    t->next->prev = t;
  else
    fs->pend_tail = t;
  if (after)
    after->next = t;
  else
    fs->pend = t;
  fs->npend++;
  if (fs->npend > fs->hf->o.max_pending) {
    /* Too many without an answer: the oldest goes out unanswered. */
    struct txn *old = fs->pend;
    while (old && (old->claimed || !old->req_done)) old = old->next;
    if (old) {
      old->claimed = old->passed = 1;
      emit(fs, old);
    }
  }
}

/* The request a response that started at ts answers: the oldest one not
 * yet answered that started before it; after a gap (whole responses may
 * have been lost) the newest such one, the older ones staying unanswered. */
static struct txn *pair_candidate(struct flowst *fs, int64_t ts,
                                  int after_gap) {
  struct txn *best = NULL;
  for (struct txn *t = fs->pend; t; t = t->next) {
    if (t->claimed) continue;
    if (t->rq.t_first > ts) break;
    best = t;
    if (!after_gap) break;
  }
  return best;
}

static void attach(struct flowst *fs, struct txn *t, struct msg *rs) {
  t->rs = rs;
  t->claimed = 1;
  if (t->req_done) emit(fs, t);
}

/* A request head is complete: responses that were waiting for it (the
 * capture had them first) may now be paired. */
static void pair_orphans(struct flowst *fs) {
  /* A response whose head came before its request's is still being read:
   * it may claim the request now. */
  for (int i = 0; i < 2; i++) {
    struct dir *d = &fs->d[i];
    if (d->client || !d->rs || !d->head_done || d->claim) continue;
    if (d->rs->status >= 100 && d->rs->status < 200 && d->rs->status != 101)
      continue;
    struct txn *t = pair_candidate(fs, d->rs->t_first, 0);
    if (t) {
      t->claimed = 1;
      d->claim = t;
    }
  }
  while (fs->norph) {
    struct msg *rs = fs->orph[0];
    struct txn *t = pair_candidate(fs, rs->t_first, 0);
    if (!t) {
      /* A later request cannot be the one: it is a true orphan. */
      int later = 0;
      for (struct txn *x = fs->pend; x; x = x->next)
        if (!x->claimed && x->rq.t_first > rs->t_first) later = 1;
      if (!later) break;
      fs->hf->st.orphans++;
      msg_free(rs);
      free(rs);
    } else {
      attach(fs, t, rs);
    }
    memmove(fs->orph, fs->orph + 1, --fs->norph * sizeof *fs->orph);
  }
}

/* UPnP event messages (GENA) are requests in form, but Wireshark files
 * them apart as notifications; so are they counted here. */
static void count_request(struct httpflow *hf, const char *m, size_t n) {
  if ((n == 6 && memcmp(m, "NOTIFY", 6) == 0) ||
      (n == 9 && memcmp(m, "SUBSCRIBE", 9) == 0) ||
      (n == 11 && memcmp(m, "UNSUBSCRIBE", 11) == 0))
    hf->st.notifications++;
  else
    hf->st.requests++;
}

/* ---- libhttp-parser callbacks -----------------------------------------------
 */

static struct msg *cur_msg(struct dir *d) {
  return d->client ? (d->t ? &d->t->rq : NULL) : d->rs;
}

/* Response headers nothing downstream reads: not kept (the hot path
 * copies every kept header). */
static int response_noise(const char *n, size_t l) {
#define IS(lit) (l == sizeof(lit) - 1 && memcmp(n, lit, sizeof(lit) - 1) == 0)
  return IS("date") || IS("server") || IS("content-length") ||
         IS("connection") || IS("keep-alive") || IS("etag") ||
         IS("last-modified") || IS("accept-ranges") || IS("vary") ||
         IS("expires") || IS("age") || IS("transfer-encoding");
#undef IS
}

static int commit_header(struct dir *d) {
  if (!d->have_field) return 0;
  d->have_field = 0;
  struct msg *m = cur_msg(d);
  if (!m) return 0;
  if (!d->client && response_noise(d->hname, d->hnlen)) {
    d->hnlen = d->hvlen = 0;
    return 0;
  }
  int rc =
      msg_add_header(m, d->hname, d->hnlen, d->hval ? d->hval : "", d->hvlen);
  d->hnlen = d->hvlen = 0;
  return rc;
}

static int on_message_begin(http_parser *p) {
  struct dir *d = p->data;
  d->in_msg = 1;
  d->head_done = 0;
  d->hnlen = d->hvlen = 0;
  d->have_field = d->in_value = 0;
  if (d->client) {
    if (d->t && !d->t->req_head) txn_free(d->t);
    struct txn *t = txn_new(d);
    if (!t) return -1;
    d->t = t;
  } else {
    if (d->rs) {
      msg_free(d->rs);
      free(d->rs);
    }
    struct msg *m = calloc(1, sizeof *m);
    if (!m) return -1;
    m->t_first = d->ts;
    d->rs = m;
    d->claim = NULL;
  }
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  struct dir *d = p->data;
  struct msg *m = cur_msg(d);
  if (!m) return 0;
  if (m->target_len + n > TARGET_CAP) {
    n = TARGET_CAP - m->target_len;
    m->target_cut = 1;
  }
  if (!n) return 0;
  /* The target is the first thing stored: it stays contiguous at the
   * start of the arena (its terminator is overwritten as it grows). */
  if (m->target_len == 0) {
    uint32_t off = arena_add(m, at, n);
    if (off == UINT32_MAX) return -1;
    m->target_off = off;
  } else {
    m->alen--; /* drop the terminator */
    if (arena_add(m, at, n) == UINT32_MAX) return -1;
  }
  m->target_len += (uint32_t)n;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  struct dir *d = p->data;
  if (d->in_value) {
    d->in_value = 0;
    if (commit_header(d)) return -1;
  }
  d->have_field = 1;
  for (size_t i = 0; i < n && d->hnlen < HNAME_CAP - 1; i++) {
    char c = at[i];
    d->hname[d->hnlen++] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
  }
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  struct dir *d = p->data;
  d->in_value = 1;
  if (!d->hval) {
    d->hval = malloc(HVAL_CAP);
    if (!d->hval) return -1;
  }
  size_t room = HVAL_CAP - d->hvlen;
  if (n > room) n = room;
  memcpy(d->hval + d->hvlen, at, n);
  d->hvlen += n;
  return 0;
}

static int wants_body(const struct msg *m, int client, int keep_all) {
  size_t len;
  const char *ct = msg_header(m, "content-type", &len);
  if (client && keep_all) return 1;
  if (!ct) return 0;
  if (has_token(ct, len, "json")) return 1;
  return client && has_token(ct, len, "x-www-form-urlencoded");
}

static void body_setup(struct dir *d, struct msg *m) {
  struct httpflow *hf = d->fs->hf;
  m->keep_body = wants_body(m, d->client, hf->o.keep_req_bodies);
  d->gzip = 0;
  d->z_done = 0;
  d->z_raw = 0;
  if (!m->keep_body) return;
  size_t len;
  const char *ce = msg_header(m, "content-encoding", &len);
  if (ce && (has_token(ce, len, "gzip") || has_token(ce, len, "deflate")))
    d->gzip = 1;
  else if (ce && len && !has_token(ce, len, "identity"))
    m->keep_body = 0; /* br, zstd, compress: not decoded */
}

static int on_headers_complete(http_parser *p) {
  struct dir *d = p->data;
  struct flowst *fs = d->fs;
  if (d->in_value) d->in_value = 0;
  if (commit_header(d)) return -1;
  d->head_done = 1;
  d->head_on = 0;
  fs->http = 1;
  struct msg *m = cur_msg(d);
  if (!m) return 0;
  m->major = p->http_major;
  m->minor = p->http_minor;
  int skip_body = 0;
  if (d->client) {
    const char *meth = http_method_str((enum http_method)p->method);
    uint32_t off = arena_add(m, meth, strlen(meth));
    if (off == UINT32_MAX) return -1;
    m->method_off = off;
    m->method_len = (uint32_t)strlen(meth);
    d->t->req_head = 1;
    pend_insert(fs, d->t);
    pair_orphans(fs);
  } else {
    m->status = p->status_code;
    if (m->status == 101) d->tunnel = 1;
    if (m->status < 100 || m->status >= 200 || m->status == 101) {
      struct txn *t = pair_candidate(fs, m->t_first, d->after_gap);
      d->after_gap = 0;
      if (t) {
        t->claimed = 1;
        d->claim = t;
        /* Older requests passed over after a gap lost their answer. */
        for (struct txn *x = fs->pend, *nx; x && x != t; x = nx) {
          nx = x->next;
          if (x->claimed) continue;
          x->claimed = x->passed = 1;
          if (x->req_done) emit(fs, x);
        }
        const char *meth = t->rq.arena ? t->rq.arena + t->rq.method_off : "";
        if (t->rq.method_len == 4 && memcmp(meth, "HEAD", 4) == 0)
          skip_body = 1;
        if (t->rq.method_len == 7 && memcmp(meth, "CONNECT", 7) == 0 &&
            m->status >= 200 && m->status < 300) {
          skip_body = 1; /* a tunnel follows */
          d->tunnel = 1;
        }
      }
    }
  }
  body_setup(d, m);
  return skip_body;
}

static int inflate_into(struct dir *d, struct msg *m, const char *at,
                        size_t n) {
  size_t cap = d->fs->hf->o.body_cap;
  if (!d->z) {
    d->z = calloc(1, sizeof *d->z);
    if (!d->z) return -1;
    if (inflateInit2(d->z, 15 + 32) != Z_OK) {
      free(d->z);
      d->z = NULL;
      d->z_done = 1;
      return 0;
    }
  }
  uint8_t out[8192];
  d->z->next_in = (Bytef *)at;
  d->z->avail_in = (uInt)n;
  while (d->z->avail_in && !d->z_done) {
    d->z->next_out = out;
    d->z->avail_out = sizeof out;
    int zr = inflate(d->z, Z_NO_FLUSH);
    if (zr == Z_DATA_ERROR && !d->z_raw && d->z->total_out == 0) {
      /* "deflate" without its zlib header, as some servers send it. */
      inflateEnd(d->z);
      if (inflateInit2(d->z, -15) != Z_OK) {
        d->z_done = 1;
        break;
      }
      d->z_raw = 1;
      d->z->next_in = (Bytef *)at;
      d->z->avail_in = (uInt)n;
      continue;
    }
    size_t got = sizeof out - d->z->avail_out;
    size_t room = cap - m->blen;
    if (got > room) {
      got = room;
      m->body_cut = 1;
    }
    memcpy(m->body + m->blen, out, got);
    m->blen += got;
    if (zr == Z_STREAM_END) {
      d->z_done = 1;
      d->fs->hf->st.bodies_decoded++;
    } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
      d->z_done = 1;
      m->body_cut = 1;
      d->fs->hf->st.decode_errors++;
    } else if (m->blen >= cap) {
      d->z_done = 1;
    } else if (zr == Z_BUF_ERROR) {
      break;
    }
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  struct dir *d = p->data;
  struct msg *m = cur_msg(d);
  if (!m) return 0;
  m->body_wire += n;
  if (!m->keep_body) return 0;
  size_t cap = d->fs->hf->o.body_cap;
  if (!m->body) {
    m->body = malloc(cap);
    if (!m->body) return -1;
  }
  if (d->gzip) return d->z_done ? 0 : inflate_into(d, m, at, n);
  size_t room = cap - m->blen;
  if (n > room) {
    n = room;
    m->body_cut = 1;
  }
  memcpy(m->body + m->blen, at, n);
  m->blen += n;
  return 0;
}

static void end_inflate(struct dir *d, struct msg *m) {
  if (!d->z) return;
  if (!d->z_done && m) m->body_cut = 1;
  inflateEnd(d->z);
  free(d->z);
  d->z = NULL;
}

/* The parser finished a message: it stops here (paused), so the caller
 * knows where the next one starts and how long this one was; the message
 * is put in its place by finish_message. */
static int on_message_complete(http_parser *p) {
  struct dir *d = p->data;
  d->in_msg = 0;
  d->completed = 1;
  http_parser_pause(p, 1);
  return 0;
}

static void finish_message(struct dir *d) {
  struct flowst *fs = d->fs;
  d->completed = 0;
  struct msg *m = cur_msg(d);
  end_inflate(d, m);
  if (m) m->wire = d->parsed - d->msg_start;
  d->msg_start = d->parsed;
  if (d->client) {
    struct txn *t = d->t;
    d->t = NULL;
    if (t) {
      /* Messages count once whole, as Wireshark counts them once
       * reassembled; one cut by a gap counts as dropped instead. */
      count_request(fs->hf, t->rq.arena + t->rq.method_off, t->rq.method_len);
      /* Reordered segments keep their own times: the last byte may have
       * been captured before the first. */
      t->rq.t_last = d->ts > t->rq.t_first ? d->ts : t->rq.t_first;
      t->req_done = 1;
      if (t->rs || t->passed) emit(fs, t);
    }
  } else if (m) {
    m->t_last = d->ts > m->t_first ? d->ts : m->t_first;
    d->rs = NULL;
    fs->hf->st.responses++;

    if (m->status >= 100 && m->status < 200 && m->status != 101) {
      fs->hf->st.interim++;
      msg_free(m);
      free(m);
    } else if (d->claim) {
      attach(fs, d->claim, m);
      d->claim = NULL;
    } else if (fs->norph < MAX_ORPHANS) {
      fs->orph[fs->norph++] = m;
    } else {
      fs->hf->st.orphans++;
      msg_free(m);
      free(m);
    }
  }
}

/* Runs the parser over p[0..n) (n = 0: the end of the stream) up to the
 * end of a message at most. Returns the bytes consumed; the parser's
 * error, if any, is left in d->p. */
static size_t run_parser(struct dir *d, const uint8_t *p, size_t n) {
  struct httpflow *hf = d->fs->hf;
  size_t got = http_parser_execute(
      &d->p, d->client ? &hf->req_set : &hf->resp_set, (const char *)p, n);
  d->parsed += got;
  if (HTTP_PARSER_ERRNO(&d->p) == HPE_PAUSED) {
    http_parser_pause(&d->p, 0);
    d->p.http_errno = HPE_PAUSED; /* for the caller to see */
  }
  if (d->completed) finish_message(d);
  return got;
}

/* ---- the per-direction state machine
 * ----------------------------------------- */

/* Drops the message being read (a gap or damage cut it). */
static void drop_current(struct dir *d) {
  struct flowst *fs = d->fs;
  struct msg *m = cur_msg(d);
  end_inflate(d, NULL);
  if (d->client) {
    struct txn *t = d->t;
    d->t = NULL;
    if (t) {
      if (t->req_head) {
        fs->hf->st.dropped_requests++;
        t->dropped = 1;
        t->req_done = 1;
        /* Without an answer yet it stays pending, so that its response
         * is still paired (and the pairing of later ones kept). */
        if (t->rs || t->passed) emit(fs, t);
      } else {
        txn_free(t);
      }
    }
  } else if (m) {
    if (d->head_done) fs->hf->st.dropped_responses++;
    if (d->claim) {
      /* The request was answered, but what came back is not whole: keep
       * the status only. */
      m->body_cut = 1;
      m->body_wire = 0;
      m->t_last = m->t_first;
      attach(fs, d->claim, m);
      d->claim = NULL;
    } else {
      msg_free(m);
      free(m);
    }
    d->rs = NULL;
  }
  d->in_msg = 0;
  d->head_done = 0;
  d->head_on = 0;
}

static void start_parser(struct dir *d) {
  http_parser_init(&d->p, d->client ? HTTP_REQUEST : HTTP_RESPONSE);
  d->p.data = d;
  d->p.lenient_http_headers = 1;
  d->mode = M_PARSE;
  d->in_msg = 0;
  d->head_done = 0;
  d->head_on = 1;
  d->head_len = 0;
  d->head_capped = 0;
  d->msg_start = d->parsed;
  d->completed = 0;
}

static void enter_resync(struct dir *d) {
  d->fs->hf->st.resyncs++;
  d->mode = M_RESYNC;
  d->rclen = 0;
}

/* Copies bytes of the current message head for the lenient path. */
static int head_copy(struct dir *d, const uint8_t *p, size_t n) {
  if (!d->head) {
    d->head = malloc(HEAD_CAP);
    if (!d->head) return -ENOMEM;
  }
  size_t room = HEAD_CAP - d->head_len;
  if (n > room) {
    n = room;
    d->head_capped = 1;
  }
  memcpy(d->head + d->head_len, p, n);
  d->head_len += n;
  return 0;
}

/* Finds the end of a message head in h[0..n): the offset after its blank
 * line, or 0 when not there. */
static size_t head_end(const char *h, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (h[i] != '\n') continue;
    if (h[i + 1] == '\n') return i + 2;
    if (h[i + 1] == '\r' && i + 2 < n && h[i + 2] == '\n') return i + 3;
  }
  return 0;
}

/* Content-Length of a raw head, or -1. */
static int64_t raw_content_length(const char *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i && h[i - 1] != '\n') continue;
    if (n - i > 15 && strncasecmp(h + i, "content-length:", 15) == 0) {
      size_t j = i + 15;
      while (j < n && (h[j] == ' ' || h[j] == '\t')) j++;
      int64_t v = 0;
      int digits = 0;
      while (j < n && h[j] >= '0' && h[j] <= '9' && v < (1LL << 40)) {
        v = v * 10 + (h[j++] - '0');
        digits++;
      }
      return digits ? v : -1;
    }
  }
  return -1;
}

/* The message that libhttp-parser refused at err_at (bytes of the current
 * chunk p[0..n)). If it starts like a request (a known method) or a
 * response ("HTTP/"), it still counts and is paired, as Wireshark does;
 * its head is skipped, then its body by Content-Length. Returns the offset
 * in the chunk where parsing goes on, or n. */
static size_t lenient(struct dir *d, const uint8_t *p, size_t n) {
  struct flowst *fs = d->fs;
  struct httpflow *hf = fs->hf;
  const char *h = d->head;
  size_t hl = d->head ? d->head_len : 0;
  /* Leading blank lines are not part of a message. */
  size_t s = 0;
  while (s < hl && (h[s] == '\r' || h[s] == '\n')) s++;
  size_t tok = first_token(h + s, hl - s);
  if (d->client && line_ended(h + s, hl - s, tok) &&
      httpflow_is_method(h + s, tok)) {
    struct txn *t = d->t;
    if (!t) {
      t = txn_new(d);
      if (!t) {
        hf->oom = 1;
        return n;
      }
    }
    d->t = NULL;
    struct msg *m = &t->rq;
    /* Whatever the parser stored is replaced by the raw line's words. */
    m->alen = 0;
    m->nh = 0;
    m->target_len = 0;
    m->method_off = arena_add(m, h + s, tok);
    m->method_len = (uint32_t)tok;
    size_t ts = s + tok;
    while (ts < hl && h[ts] == ' ') ts++;
    size_t te = ts;
    while (te < hl && h[te] != ' ' && h[te] != '\r' && h[te] != '\n') te++;
    m->target_off = arena_add(m, h + ts, te - ts);
    m->target_len = (uint32_t)(te - ts);
    if (m->method_off == UINT32_MAX || m->target_off == UINT32_MAX) {
      hf->oom = 1;
      txn_free(t);
      return n;
    }
    m->lenient = 1;
    m->t_last = d->ts > m->t_first ? d->ts : m->t_first;
    t->req_head = 1;
    t->req_done = 1;
    count_request(hf, h + s, tok);
    hf->st.lenient++;
    fs->http = 1;
    pend_insert(fs, t);
    pair_orphans(fs);
  } else if (!d->client && hl - s >= 5 && memcmp(h + s, "HTTP/", 5) == 0) {
    struct msg *m = d->rs;
    if (!m) {
      m = calloc(1, sizeof *m);
      if (!m) {
        hf->oom = 1;
        return n;
      }
      m->t_first = d->ts;
    }
    d->rs = NULL;
    size_t sp = s + tok;
    while (sp < hl && h[sp] == ' ') sp++;
    int status = 0;
    for (int k = 0; k < 3 && sp + (size_t)k < hl; k++) {
      char c = h[sp + (size_t)k];
      if (c < '0' || c > '9') {
        status = 0;
        break;
      }
      status = status * 10 + (c - '0');
    }
    m->status = status >= 100 && status <= 599 ? status : 0;
    m->lenient = 1;
    m->t_last = d->ts > m->t_first ? d->ts : m->t_first;
    m->body_wire = 0;
    hf->st.responses++;
    fs->http = 1;
    if (m->status >= 100 && m->status < 200) {
      hf->st.interim++;
      msg_free(m);
      free(m);
    } else {
      struct txn *t = pair_candidate(fs, m->t_first, d->after_gap);
      d->after_gap = 0;
      if (t)
        attach(fs, t, m);
      else {
        hf->st.orphans++;
        msg_free(m);
        free(m);
      }
    }
  } else {
    hf->st.junk++;
    if (getenv("HF_DEBUG"))
      fprintf(stderr, "junk client=%d: %.*s\n", d->client,
              (int)(hl > 40 ? 40 : hl), h);
    /* The message being built (parser callbacks) is abandoned. */
    if (d->client && d->t) {
      txn_free(d->t);
      d->t = NULL;
    } else if (!d->client && d->rs) {
      msg_free(d->rs);
      free(d->rs);
      d->rs = NULL;
    }
  }
  d->in_msg = 0;
  d->head_done = 0;
  d->head_on = 0;
  end_inflate(d, NULL);
  /* Skip the rest of the head, then the body. */
  size_t e = head_end(h + s, hl - s);
  if (d->head_capped) {
    enter_resync(d);
    return n;
  }
  if (!e) {
    d->mode = M_SKIP_HEAD;
    d->head_skip = s;
    return n;
  }
  e += s;
  int64_t cl = raw_content_length(h, e);
  /* The head ends at h[e]; the chunk is the tail of the head copy. */
  size_t chunk_start = hl - n;
  size_t at = e > chunk_start ? e - chunk_start : 0;
  if (cl > 0) {
    d->mode = M_SKIP_BODY;
    d->skip_left = (uint64_t)cl;
  } else {
    start_parser(d);
  }
  return at;
}

static void parse_chunk(struct dir *d, const uint8_t *p, size_t n) {
  struct httpflow *hf = d->fs->hf;
  size_t off = 0;
  while (off < n && d->mode == M_PARSE) {
    if (!d->in_msg) {
      /* A message may start here: its head is kept for the lenient path,
       * but copied only when it does not end in this chunk (or fails). */
      d->head_len = 0;
      d->head_capped = 0;
      d->head_on = 1;
    }
    size_t got = run_parser(d, p + off, n - off);
    enum http_errno e = HTTP_PARSER_ERRNO(&d->p);
    if (e == HPE_PAUSED) d->p.http_errno = HPE_OK;
    if (e == HPE_PAUSED || (e == HPE_OK && d->p.upgrade)) {
      off += got;
      if (!d->client && (d->p.upgrade || d->tunnel)) {
        /* 101 or CONNECT accepted: what follows is another protocol. */
        hf->st.tunnels++;
        d->fs->d[0].mode = M_OFF;
        d->fs->d[1].mode = M_OFF;
        reasm_ignore(hf->reasm, d->fs->f);
        return;
      }
      if (d->client && d->p.upgrade && !d->in_msg) {
        /* An Upgrade or CONNECT request: the server's answer says what
         * comes next; the client's bytes are not parsed any more. */
        d->mode = M_OFF;
        return;
      }
      if (e == HPE_OK) return;
      continue;
    }
    if (e == HPE_OK) {
      if (d->head_on && d->in_msg && !d->head_done &&
          head_copy(d, p + off, n - off))
        hf->oom = 1;
      return;
    }
    if (e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete) {
      hf->oom = 1; /* our callbacks fail only when memory does */
      return;
    }
    if (e == HPE_CLOSED_CONNECTION) {
      /* Bytes after a "Connection: close" message: look for more. */
      enter_resync(d);
      off += got;
      break;
    }
    if (!d->head_done) {
      /* Refused in the start line or the headers. */
      if (d->head_on && head_copy(d, p + off, n - off)) {
        hf->oom = 1;
        return;
      }
      off += lenient(d, p + off, n - off);
      if (d->mode == M_PARSE) continue;
      break;
    }
    /* Damaged in the body (bad chunk size, ...): the message is lost. */
    drop_current(d);
    enter_resync(d);
    off += got + 1;
    break;
  }
  if (off < n && d->mode != M_PARSE && d->mode != M_OFF) {
    /* The rest goes to the skipping / resync states. */
    dir_data(d, p + off, n - off);
  }
}

/* Looks for the start of a message in p[0..n) after a gap or damage. A
 * message need not start a line (the body before it ends anywhere), so
 * the version is the anchor: "HTTP/1.x NNN" starts a response; for a
 * request, "METHOD TARGET HTTP/1.x" is found back from " HTTP/1.x" at the
 * end of its line. Returns the offset of the start, or n. */
static size_t resync_scan(struct dir *d, const uint8_t *p, size_t n) {
  const char *s = (const char *)p;
  size_t from = 0;
  while (from + 8 <= n) {
    const char *hit = memmem(s + from, n - from, "HTTP/1.", 7);
    if (!hit) return n;
    size_t at = (size_t)(hit - s);
    from = at + 1;
    if (!d->client) {
      if (at + 12 <= n && hit[7] >= '0' && hit[7] <= '9' && hit[8] == ' ' &&
          hit[9] >= '1' && hit[9] <= '5')
        return at;
      continue;
    }
    /* " HTTP/1.x" then the end of the line. */
    if (at == 0 || s[at - 1] != ' ' || at + 9 > n ||
        (hit[8] != '\r' && hit[8] != '\n'))
      continue;
    size_t t = at - 1, lim = at > TARGET_CAP ? at - TARGET_CAP : 0;
    while (t > lim && s[t - 1] != ' ' && s[t - 1] != '\n') t--;
    if (t == 0 || s[t - 1] != ' ') continue;
    size_t m = t - 1; /* the space after the method */
    for (size_t len = 3; len <= 16 && len <= m; len++)
      if (httpflow_is_method(s + m - len, len)) {
        /* The longest method that fits wins ("UNLOCK" over "LOCK"). */
        size_t best = len;
        for (size_t l2 = len + 1; l2 <= 16 && l2 <= m; l2++)
          if (httpflow_is_method(s + m - l2, l2)) best = l2;
        return m - best;
      }
  }
  return n;
}

static void dir_data(struct dir *d, const uint8_t *p, size_t n) {
  while (n) {
    switch (d->mode) {
    case M_PARSE: parse_chunk(d, p, n); return;
    case M_SKIP_HEAD: {
      /* Keep copying the head: its Content-Length says what to skip. */
      size_t before = d->head_len;
      if (head_copy(d, p, n)) {
        d->fs->hf->oom = 1;
        return;
      }
      size_t e = head_end(d->head + d->head_skip, d->head_len - d->head_skip);
      if (!e) {
        if (d->head_capped) enter_resync(d);
        return;
      }
      e += d->head_skip;
      int64_t cl = raw_content_length(d->head, e);
      size_t at = e > before ? e - before : 0;
      if (cl > 0) {
        d->mode = M_SKIP_BODY;
        d->skip_left = (uint64_t)cl;
      } else {
        start_parser(d);
      }
      p += at;
      n -= at;
      break;
    }
    case M_SKIP_BODY:
      if (d->skip_left >= n) {
        d->skip_left -= n;
        if (!d->skip_left) start_parser(d);
        return;
      }
      p += d->skip_left;
      n -= d->skip_left;
      d->skip_left = 0;
      start_parser(d);
      break;
    case M_RESYNC: {
      /* A start line may straddle chunks: look at the end of the last
       * chunk joined to the start of this one first. */
      if (d->rclen) {
        uint8_t join[2 * RESYNC_CARRY];
        size_t head = n < RESYNC_CARRY ? n : RESYNC_CARRY;
        memcpy(join, d->rcarry, d->rclen);
        memcpy(join + d->rclen, p, head);
        size_t at = resync_scan(d, join, d->rclen + head);
        if (at < d->rclen) {
          size_t k = d->rclen - at;
          uint8_t carried[RESYNC_CARRY];
          memcpy(carried, d->rcarry + at, k);
          d->rclen = 0;
          start_parser(d);
          dir_data(d, carried, k);
          continue;
        }
      }
      size_t at = resync_scan(d, p, n);
      if (at >= n) {
        /* Keep the tail for the next chunk. */
        if (!d->rcarry && !(d->rcarry = malloc(RESYNC_CARRY))) {
          d->fs->hf->oom = 1;
          return;
        }
        if (n >= RESYNC_CARRY) {
          memcpy(d->rcarry, p + n - RESYNC_CARRY, RESYNC_CARRY);
          d->rclen = RESYNC_CARRY;
        } else {
          size_t keep =
              d->rclen + n > RESYNC_CARRY ? RESYNC_CARRY - n : d->rclen;
          memmove(d->rcarry, d->rcarry + d->rclen - keep, keep);
          memcpy(d->rcarry + keep, p, n);
          d->rclen = keep + n;
        }
        return;
      }
      d->rclen = 0;
      start_parser(d);
      p += at;
      n -= at;
      break;
    }
    case M_SKIP_ALL:
    case M_OFF:
    case M_WAIT: return;
    }
  }
}

/* ---- reasm callbacks
 * ------------------------------------------------------------ */

static struct flowst *flow_state(struct httpflow *hf, struct reasm_flow *f) {
  if (f->user) return f->user;
  struct flowst *fs = calloc(1, sizeof *fs);
  if (!fs) {
    hf->oom = 1;
    return NULL;
  }
  fs->hf = hf;
  fs->f = f;
  fs->client_dir = f->syn ? 0 : -1;
  for (int i = 0; i < 2; i++) {
    fs->d[i].fs = fs;
    fs->d[i].mode = M_WAIT;
  }
  f->user = fs;
  return fs;
}

/* A direction that spoke first without a recognisable start keeps its
 * bytes (bounded) until the other side tells the roles; then they are
 * searched for a message start. */
static void wait_keep(struct dir *d, const uint8_t *p, size_t n, int64_t ts) {
  if (!n) return;
  struct waitbuf *w = d->wait;
  if (!w && !(w = d->wait = calloc(1, sizeof *w))) {
    d->fs->hf->oom = 1;
    return;
  }
  if (w->nchunks == WAIT_CHUNKS || w->len + n > WAIT_CAP) return;
  memcpy(w->data + w->len, p, n);
  w->chunk[w->nchunks].ts = ts;
  w->chunk[w->nchunks].len = n;
  w->nchunks++;
  w->len += n;
}

static void wait_replay(struct dir *d) {
  struct waitbuf *w = d->wait;
  if (!w) return;
  d->wait = NULL;
  size_t off = 0;
  for (size_t i = 0; i < w->nchunks; i++) {
    d->ts = w->chunk[i].ts;
    dir_data(d, w->data + off, w->chunk[i].len);
    off += w->chunk[i].len;
  }
  free(w);
}

static void set_roles(struct flowst *fs, int client_dir) {
  fs->client_dir = client_dir;
  for (int i = 0; i < 2; i++) fs->d[i].client = i == client_dir;
}

/* Starts parsing direction i: from the start when its first bytes look
 * like the message they should be, else by resynchronising. */
static void begin_dir(struct flowst *fs, int i) {
  struct dir *d = &fs->d[i];
  int want = d->client ? K_REQ : K_RESP;
  /* A client's first bytes at the true start of its stream go to the
   * parser even when unrecognised: a refused start line is judged by the
   * lenient path, as Wireshark judges the first line of a segment.
   * Anything else that does not start as it should is mid-stream. */
  if (fs->klass[i] == want ||
      (d->client && fs->f->syn && !d->after_gap && fs->klass[i] == K_OTHER))
    start_parser(d);
  else
    enter_resync(d);
}

static void ignore_flow(struct flowst *fs) {
  fs->d[0].mode = M_OFF;
  fs->d[1].mode = M_OFF;
  reasm_ignore(fs->hf->reasm, fs->f);
}

static void on_data(void *arg, struct reasm_flow *f, int dir, const uint8_t *p,
                    size_t n, int64_t ts) {
  struct httpflow *hf = arg;
  struct flowst *fs = flow_state(hf, f);
  if (!fs) return;
  struct dir *d = &fs->d[dir];
  d->ts = ts;
  d->seen += n;
  if (d->mode == M_WAIT && !fs->klass[dir]) {
    /* The first bytes decide what the direction is; a first segment too
     * short to tell ("HT", "GE") waits for the next ones. */
    size_t take = CLASSIFY_MAX - d->clen < n ? CLASSIFY_MAX - d->clen : n;
    memcpy(d->cbuf + d->clen, p, take);
    d->clen += take;
    p += take;
    n -= take;
    if (d->clen < CLASSIFY_MAX && maybe_prefix(d->cbuf, d->clen)) return;
    int k = classify(d->cbuf, d->clen);
    fs->klass[dir] = k;
    if (k == K_TLS) {
      fs->tls = 1;
      ignore_flow(fs);
      return;
    }
    if (fs->client_dir < 0 && k == K_REQ) fs->client_dir = dir;
    if (fs->client_dir < 0 && k == K_RESP) fs->client_dir = 1 - dir;
    int other = fs->klass[1 - dir];
    if (k == K_OTHER && other == K_OTHER) {
      ignore_flow(fs); /* neither side speaks HTTP */
      return;
    }
    if (fs->client_dir < 0) {
      /* No SYN and nothing recognisable yet: wait for the other side
       * (these bytes, mid-stream anyway, are not parsed). */
      if (other == K_NONE) {
        wait_keep(d, d->cbuf, d->clen, ts);
        wait_keep(d, p, n, ts);
        return;
      }
      /* The other side waited too: roles by ports, the lower one being
       * the server. */
      fs->client_dir = f->port[dir] > f->port[1 - dir] ? dir : 1 - dir;
    }
    set_roles(fs, fs->client_dir);
    begin_dir(fs, dir);
    struct dir *o = &fs->d[1 - dir];
    if (o->mode == M_WAIT && other != K_NONE) {
      /* It spoke first and waited: mid-stream, its kept bytes too. */
      enter_resync(o);
      wait_replay(o);
    }
    dir_data(d, d->cbuf, d->clen);
  }
  if (d->mode == M_WAIT) {
    wait_keep(d, p, n, ts); /* waiting for the other side */
    return;
  }
  dir_data(d, p, n);
}

static void on_gap(void *arg, struct reasm_flow *f, int dir, uint64_t n) {
  struct httpflow *hf = arg;
  struct flowst *fs = flow_state(hf, f);
  if (!fs) return;
  struct dir *d = &fs->d[dir];
  if (getenv("HF_DEBUG"))
    fprintf(stderr,
            "gap port=%u dir=%d n=%lu mode=%d in_msg=%d head=%d seen=%lu\n",
            f->port[0], dir, (unsigned long)n, d->mode, d->in_msg, d->head_done,
            (unsigned long)d->seen);
  switch (d->mode) {
  case M_PARSE:
    if (d->in_msg) drop_current(d);
    d->after_gap = 1;
    enter_resync(d);
    break;
  case M_SKIP_BODY:
    if (n < d->skip_left) {
      d->skip_left -= n;
      return;
    }
    d->after_gap = 1;
    enter_resync(d);
    break;
  case M_SKIP_HEAD:
  case M_RESYNC:
    d->after_gap = 1;
    enter_resync(d);
    break;
  case M_WAIT: d->after_gap = 1; break;
  default: break;
  }
}

static void on_end(void *arg, struct reasm_flow *f, int dir) {
  struct httpflow *hf = arg;
  struct flowst *fs = f->user;
  (void)hf;
  if (!fs) return;
  struct dir *d = &fs->d[dir];
  if (d->mode == M_PARSE && d->in_msg) {
    /* The end of the stream ends a body read until the close. */
    run_parser(d, NULL, 0);
    d->p.http_errno = HPE_OK;
    if (d->in_msg) drop_current(d);
  }
  if (d->mode != M_OFF) d->mode = M_SKIP_ALL;
}

static void count_flow(struct flowst *fs) {
  if (fs->counted) return;
  fs->counted = 1;
  struct httpflow *hf = fs->hf;
  if (fs->http)
    hf->st.http_flows++;
  else {
    hf->st.non_http_flows++;
    if (fs->tls) hf->st.tls_flows++;
  }
}

static void on_close(void *arg, struct reasm_flow *f, enum reasm_close why) {
  struct httpflow *hf = arg;
  struct flowst *fs = f->user;
  (void)why;
  if (!fs) return;
  for (int i = 0; i < 2; i++) {
    struct dir *d = &fs->d[i];
    if (d->mode == M_PARSE && d->in_msg) {
      run_parser(d, NULL, 0);
      d->p.http_errno = HPE_OK;
    }
    if (d->in_msg) drop_current(d);
  }
  /* Requests not answered go out as they are. */
  while (fs->pend) {
    struct txn *t = fs->pend;
    t->req_done = 1;
    emit(fs, t);
  }
  for (size_t i = 0; i < fs->norph; i++) {
    hf->st.orphans++;
    msg_free(fs->orph[i]);
    free(fs->orph[i]);
  }
  count_flow(fs);
  for (int i = 0; i < 2; i++) {
    struct dir *d = &fs->d[i];
    if (d->t) txn_free(d->t);
    if (d->rs) {
      msg_free(d->rs);
      free(d->rs);
    }
    end_inflate(d, NULL);
    free(d->hval);
    free(d->head);
    free(d->rcarry);
    free(d->wait);
  }
  free(fs);
  f->user = NULL;
}

/* ---- the public side
 * ----------------------------------------------------------- */

int httpflow_new(const struct httpflow_opts *opts, struct httpflow **out) {
  struct httpflow *hf = calloc(1, sizeof *hf);
  if (!hf) return -ENOMEM;
  if (opts) hf->o = *opts;
  if (!hf->o.body_cap) hf->o.body_cap = 64 << 10;
  if (!hf->o.max_pending) hf->o.max_pending = 1024;
  struct reasm_ops ops = {
      .data = on_data, .gap = on_gap, .end = on_end, .close = on_close};
  int rc = reasm_new(&hf->o.reasm, &ops, hf, &hf->reasm);
  if (rc) {
    free(hf);
    return rc;
  }
  http_parser_settings *s[2] = {&hf->req_set, &hf->resp_set};
  for (int i = 0; i < 2; i++) {
    http_parser_settings_init(s[i]);
    s[i]->on_message_begin = on_message_begin;
    s[i]->on_url = on_url;
    s[i]->on_header_field = on_header_field;
    s[i]->on_header_value = on_header_value;
    s[i]->on_headers_complete = on_headers_complete;
    s[i]->on_body = on_body;
    s[i]->on_message_complete = on_message_complete;
  }
  *out = hf;
  return 0;
}

void httpflow_free(struct httpflow *h) {
  if (!h) return;
  reasm_free(h->reasm); /* closes the flows: their state goes */
  struct txn *t = h->ready;
  while (t) {
    struct txn *n = t->next;
    txn_free(t);
    t = n;
  }
  txn_free(h->handed);
  free(h);
}

int httpflow_feed(struct httpflow *h, const struct pkt *p) {
  int rc = reasm_feed(h->reasm, p);
  if (!rc && h->oom) rc = -ENOMEM;
  return rc;
}

void httpflow_flush(struct httpflow *h) {
  reasm_flush(h->reasm);
}

static int build_headers(struct txn *t) {
  size_t n = t->rq.nh + (t->rs ? t->rs->nh : 0);
  t->pubh = malloc((n ? n : 1) * sizeof *t->pubh);
  if (!t->pubh) return -ENOMEM;
  size_t k = 0;
  const struct msg *ms[2] = {&t->rq, t->rs};
  for (int j = 0; j < 2; j++) {
    const struct msg *m = ms[j];
    if (!m) continue;
    for (size_t i = 0; i < m->nh; i++)
      t->pubh[k++] =
          (struct http_hdr){m->arena + m->h[i].name, m->arena + m->h[i].value,
                            m->h[i].nlen, m->h[i].vlen};
  }
  return 0;
}

const struct http_txn *httpflow_next(struct httpflow *h) {
  txn_free(h->handed);
  h->handed = NULL;
  struct txn *t = h->ready;
  if (!t) return NULL;
  h->ready = t->next;
  if (!h->ready) h->ready_tail = NULL;
  h->nready--;
  h->handed = t;
  if (build_headers(t)) {
    h->oom = 1;
    return NULL;
  }
  struct http_txn *x = &t->pub;
  const struct msg *rq = &t->rq, *rs = t->rs;

  static const char empty[] = "";
  x->method = rq->arena ? rq->arena + rq->method_off : empty;
  x->method_len = rq->method_len;
  x->target = rq->arena && rq->target_len ? rq->arena + rq->target_off : empty;
  x->target_len = rq->target_len;
  x->req_hdrs = t->pubh;
  x->nreq_hdrs = rq->nh;
  x->req_body = rq->body;
  x->req_body_len = rq->blen;
  x->req_body_cut = rq->body_cut;
  x->req_bytes = rq->wire ? rq->wire : rq->body_wire;
  x->t_req_first = rq->t_first;
  x->t_req_last = rq->t_last ? rq->t_last : rq->t_first;
  x->lenient = rq->lenient;
  x->http_major = rq->major;
  x->http_minor = rq->minor;
  /* libhttp-parser takes any three digits; only real codes go out. */
  x->status = rs && rs->status >= 100 && rs->status <= 599 ? rs->status : 0;
  x->resp_hdrs = t->pubh + rq->nh;
  x->nresp_hdrs = rs ? rs->nh : 0;
  x->resp_body = rs ? rs->body : NULL;
  x->resp_body_len = rs ? rs->blen : 0;
  x->resp_body_cut = rs ? rs->body_cut : 0;
  x->resp_body_bytes = rs && !rs->body_cut ? (int64_t)rs->body_wire : -1;
  if (rs && rs->lenient) x->resp_body_bytes = -1;
  x->t_resp_first = rs ? rs->t_first : 0;
  x->t_resp_last = rs ? rs->t_last : 0;
  return x;
}

size_t httpflow_ready(const struct httpflow *h) {
  return h->nready;
}

void httpflow_stats(const struct httpflow *h, struct httpflow_stats *out) {
  *out = h->st;
  reasm_stats(h->reasm, &out->tcp);
}

const char *httpflow_header(const struct http_hdr *hdrs, size_t n,
                            const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < n; i++) {
    if (hdrs[i].nlen == nl && memcmp(hdrs[i].name, name, nl) == 0) {
      *len = hdrs[i].vlen;
      return hdrs[i].value;
    }
  }
  return NULL;
}

const char *httpflow_cookie(const struct http_txn *t, const char *name,
                            size_t *len) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < t->nreq_hdrs; i++) {
    const struct http_hdr *h = &t->req_hdrs[i];
    if (h->nlen != 6 || memcmp(h->name, "cookie", 6) != 0) continue;
    const char *p = h->value, *end = h->value + h->vlen;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == ';')) p++;
      const char *eq = memchr(p, '=', (size_t)(end - p));
      const char *semi = memchr(p, ';', (size_t)(end - p));
      if (!semi) semi = end;
      if (eq && eq < semi && (size_t)(eq - p) == nl &&
          memcmp(p, name, nl) == 0) {
        *len = (size_t)(semi - eq - 1);
        return eq + 1;
      }
      p = semi;
    }
  }
  return NULL;
}
