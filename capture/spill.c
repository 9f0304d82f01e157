#include "spill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

#define IOBUF (256u << 10)
#define KEEP_BUF 512u /* a session buffer larger than this is released */
#define MAX_VARINT 10

struct spill {
  FILE *f;
  char *iobuf;
  uint8_t *rbuf; /* one record while reading */
  size_t rcap;
  uint64_t sessions, bytes;
  int error;
  int reading;
};

static size_t put_varint(uint8_t *p, uint64_t x) {
  size_t n = 0;
  while (x >= 0x80) {
    p[n++] = (uint8_t)(x | 0x80);
    x >>= 7;
  }
  p[n++] = (uint8_t)x;
  return n;
}

static uint64_t zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t u) {
  return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int spill_new(const char *dir, struct spill **out) {
  struct spill *s = calloc(1, sizeof *s);
  char *path = NULL;
  int fd = -1, rc = -ENOMEM;
  if (!s) return -ENOMEM;
  const char *d = dir && *dir ? dir : ".";
  size_t n = strlen(d) + sizeof "/.mimic-sessions-XXXXXX";
  path = malloc(n);
  s->iobuf = malloc(IOBUF);
  if (!path || !s->iobuf) goto fail;
  snprintf(path, n, "%s/.mimic-sessions-XXXXXX", d);
  fd = mkstemp(path);
  if (fd < 0) {
    rc = -errno;
    goto fail;
  }
  /* Unlinked at once: the space lives as long as the descriptor, and a
   * crash or a kill leaves nothing behind. */
  unlink(path);
  s->f = fdopen(fd, "w+b");
  if (!s->f) {
    rc = -errno;
    close(fd);
    goto fail;
  }
  setvbuf(s->f, s->iobuf, _IOFBF, IOBUF);
  free(path);
  *out = s;
  return 0;
fail:
  free(path);
  free(s->iobuf);
  free(s);
  return rc;
}

void spill_free(struct spill *s) {
  if (!s) return;
  if (s->f) fclose(s->f);
  free(s->iobuf);
  free(s->rbuf);
  free(s);
}

void spill_buf_init(struct spill_buf *b) {
  memset(b, 0, sizeof *b);
}

void spill_buf_cleanup(struct spill_buf *b) {
  free(b->p);
  spill_buf_init(b);
}

static unsigned status_class(int status) {
  return status >= 100 && status < 600 ? (unsigned)(status / 100) : 0;
}

static int buf_reserve(struct spill_buf *b, size_t more) {
  size_t need = (size_t)b->len + more;
  if (need <= b->cap) return 0;
  if (need > SPILL_MAX_SESSION_BYTES) return ERR_LIMIT;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap *= 2;
  uint8_t *np = realloc(b->p, ncap);
  if (!np) return -ENOMEM;
  b->p = np;
  b->cap = (uint32_t)ncap;
  return 0;
}

/* A request is (endpoint << 3 | status class) then, after the first, the
 * think time before it. */
static int buf_add(struct spill_buf *b, uint32_t ep, int status,
                   int64_t think_us, int with_think) {
  int rc = buf_reserve(b, 2 * MAX_VARINT);
  if (rc) return rc;
  b->len += (uint32_t)put_varint(b->p + b->len,
                                 (uint64_t)ep << 3 | status_class(status));
  if (with_think)
    b->len += (uint32_t)put_varint(b->p + b->len,
                                   think_us > 0 ? (uint64_t)think_us : 0);
  b->n++;
  return 0;
}

int spill_buf_begin(struct spill_buf *b, int64_t start_us, uint32_t ep,
                    int status, uint32_t ua) {
  b->len = 0;
  b->n = 0;
  b->start_us = start_us;
  b->ua = ua;
  return buf_add(b, ep, status, 0, 0);
}

int spill_buf_step(struct spill_buf *b, uint32_t ep, int status,
                   int64_t think_us) {
  return buf_add(b, ep, status, think_us, 1);
}

static void buf_reset(struct spill_buf *b) {
  if (b->cap > KEEP_BUF) {
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
  b->len = 0;
  b->n = 0;
}

int spill_put(struct spill *s, struct spill_buf *b, int64_t duration_us) {
  if (s->error) {
    buf_reset(b);
    return s->error;
  }
  if (s->reading) {
    /* Writing after reading: go back to the end. */
    if (fseek(s->f, 0, SEEK_END) != 0) return s->error = -errno;
    s->reading = 0;
  }
  uint8_t head[4 * MAX_VARINT], len[MAX_VARINT];
  size_t h = 0;
  h += put_varint(head + h, zigzag(b->start_us));
  h += put_varint(head + h, duration_us > 0 ? (uint64_t)duration_us : 0);
  h += put_varint(head + h, b->n);
  /* The user agent key is a hash: 4 plain bytes (a varint would take 5). */
  for (int i = 0; i < 4; i++) head[h++] = (uint8_t)(b->ua >> (8 * i));
  size_t l = put_varint(len, h + b->len);
  errno = 0;
  if (fwrite(len, 1, l, s->f) != l || fwrite(head, 1, h, s->f) != h ||
      (b->len && fwrite(b->p, 1, b->len, s->f) != b->len)) {
    s->error = errno ? -errno : -EIO;
    buf_reset(b);
    return s->error;
  }
  s->sessions++;
  s->bytes += l + h + b->len;
  buf_reset(b);
  return 0;
}

int spill_rewind(struct spill *s) {
  if (s->error) return s->error;
  errno = 0;
  if (fflush(s->f) != 0 || fseek(s->f, 0, SEEK_SET) != 0)
    return s->error = errno ? -errno : -EIO;
  s->reading = 1;
  return 0;
}

struct reader {
  const uint8_t *p, *end;
};

static int get_varint(struct reader *r, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (r->p == r->end) return ERR_CORRUPT;
    uint8_t c = *r->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return ERR_CORRUPT;
}

/* Reads a varint straight from the file: 0, 1 at a clean end, or an error. */
static int read_len(FILE *f, uint64_t *out) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    int c = getc(f);
    if (c == EOF) {
      if (ferror(f)) return -EIO;
      return shift == 0 ? 1 : ERR_CORRUPT;
    }
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return ERR_CORRUPT;
}

static int session_reserve(struct spill_session *ss, uint64_t n) {
  if (n <= ss->cap) return 0;
  size_t ncap = ss->cap ? ss->cap : 64;
  while (ncap < n) ncap *= 2;
  uint32_t *ep = realloc(ss->ep, ncap * sizeof *ep);
  if (ep) ss->ep = ep;
  uint8_t *cls = realloc(ss->cls, ncap * sizeof *cls);
  if (cls) ss->cls = cls;
  int64_t *th = realloc(ss->think_us, ncap * sizeof *th);
  if (th) ss->think_us = th;
  if (!ep || !cls || !th) return -ENOMEM;
  ss->cap = (uint32_t)ncap;
  return 0;
}

int spill_get(struct spill *s, struct spill_session *out) {
  if (s->error) return s->error;
  if (!s->reading) return -EINVAL;
  uint64_t len;
  int rc = read_len(s->f, &len);
  if (rc) return rc == 1 ? 0 : rc;
  if (len > SPILL_MAX_SESSION_BYTES + 4 * MAX_VARINT) return ERR_CORRUPT;
  if (len > s->rcap) {
    uint8_t *nb = realloc(s->rbuf, len);
    if (!nb) return -ENOMEM;
    s->rbuf = nb;
    s->rcap = len;
  }
  if (fread(s->rbuf, 1, len, s->f) != len)
    return ferror(s->f) ? -EIO : ERR_CORRUPT;
  struct reader r = {s->rbuf, s->rbuf + len};
  uint64_t start, dur, n, v;
  if ((rc = get_varint(&r, &start)) || (rc = get_varint(&r, &dur)) ||
      (rc = get_varint(&r, &n)))
    return rc;
  if (r.end - r.p < 4) return ERR_CORRUPT;
  uint32_t ua = 0;
  for (int i = 0; i < 4; i++) ua |= (uint32_t)*r.p++ << (8 * i);
  /* Every request takes at least one byte: a count above that is damage. */
  if (n == 0 || n > len || dur > INT64_MAX) return ERR_CORRUPT;
  if ((rc = session_reserve(out, n))) return rc;
  for (uint64_t i = 0; i < n; i++) {
    if ((rc = get_varint(&r, &v))) return rc;
    if ((v >> 3) > UINT32_MAX) return ERR_CORRUPT;
    out->ep[i] = (uint32_t)(v >> 3);
    out->cls[i] = (uint8_t)(v & 7);
    uint64_t t = 0;
    if (i && (rc = get_varint(&r, &t))) return rc;
    if (t > INT64_MAX) return ERR_CORRUPT;
    out->think_us[i] = (int64_t)t;
  }
  if (r.p != r.end) return ERR_CORRUPT;
  out->start_us = unzigzag(start);
  out->duration_us = (int64_t)dur;
  out->n = (uint32_t)n;
  out->ua = ua;
  return 1;
}

void spill_session_cleanup(struct spill_session *ss) {
  free(ss->ep);
  free(ss->cls);
  free(ss->think_us);
  memset(ss, 0, sizeof *ss);
}

uint64_t spill_sessions(const struct spill *s) {
  return s->sessions;
}
uint64_t spill_bytes(const struct spill *s) {
  return s->bytes;
}
int spill_error(const struct spill *s) {
  return s->error;
}
