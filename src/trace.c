#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "err.h"

#define CHUNK_RAW (1u << 20)   /* raw bytes per chunk */
#define TRACE_CAP (1ull << 30) /* raw bytes in all */
#define LEVEL 6

struct trace_writer {
  char *buf;
  size_t len, cap;
  uint64_t lines, total;
  struct trace_chunk *chunks;
  size_t n, capn;
};

int trace_writer_new(struct trace_writer **out) {
  struct trace_writer *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  *out = w;
  return 0;
}

void trace_writer_free(struct trace_writer *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) free(w->chunks[i].data);
  free(w->chunks);
  free(w->buf);
  free(w);
}

static int seal(struct trace_writer *w) {
  if (!w->len) return 0;
  if (w->n == w->capn) {
    size_t nc = w->capn ? w->capn * 2 : 8;
    struct trace_chunk *c = realloc(w->chunks, nc * sizeof *c);
    if (!c) return -ENOMEM;
    w->chunks = c;
    w->capn = nc;
  }
  size_t bound = ZSTD_compressBound(w->len);
  uint8_t *z = malloc(bound);
  if (!z) return -ENOMEM;
  size_t zl = ZSTD_compress(z, bound, w->buf, w->len, LEVEL);
  if (ZSTD_isError(zl)) {
    free(z);
    return -ENOMEM;
  }
  uint8_t *shrunk = realloc(z, zl);
  w->chunks[w->n++] =
      (struct trace_chunk){shrunk ? shrunk : z, zl, w->lines, w->len};
  w->len = 0;
  w->lines = 0;
  return 0;
}

int trace_writer_add(struct trace_writer *w, const char *line, size_t len) {
  if (w->total + len + 1 > TRACE_CAP) return ERR_LIMIT;
  if (w->len + len + 1 > w->cap) {
    size_t nc = w->cap ? w->cap : 64 << 10;
    while (nc < w->len + len + 1) nc *= 2;
    char *nb = realloc(w->buf, nc);
    if (!nb) return -ENOMEM;
    w->buf = nb;
    w->cap = nc;
  }
  memcpy(w->buf + w->len, line, len);
  w->buf[w->len + len] = '\n';
  w->len += len + 1;
  w->total += len + 1;
  w->lines++;
  if (w->len >= CHUNK_RAW) return seal(w);
  return 0;
}

int trace_writer_finish(struct trace_writer *w, struct trace_chunk **chunks,
                        size_t *n) {
  int rc = seal(w);
  if (rc) return rc;
  *chunks = w->chunks;
  *n = w->n;
  w->chunks = NULL;
  w->n = w->capn = 0;
  return 0;
}

struct trace_reader {
  const struct trace_chunk *chunks;
  size_t n, next;
  char *buf;
  size_t len, pos;
};

int trace_reader_new(const struct trace_chunk *chunks, size_t n,
                     struct trace_reader **out) {
  struct trace_reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->chunks = chunks;
  r->n = n;
  *out = r;
  return 0;
}

int trace_reader_next(struct trace_reader *r, const char **line, size_t *len) {
  while (r->pos >= r->len) {
    if (r->next >= r->n) return 0;
    const struct trace_chunk *c = &r->chunks[r->next++];
    unsigned long long raw = ZSTD_getFrameContentSize(c->data, c->len);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
        raw > CHUNK_RAW * 4ull)
      return ERR_CORRUPT;
    free(r->buf);
    r->buf = malloc(raw ? raw : 1);
    if (!r->buf) return -ENOMEM;
    size_t got = ZSTD_decompress(r->buf, raw, c->data, c->len);
    if (ZSTD_isError(got) || got != raw) return ERR_CORRUPT;
    r->len = got;
    r->pos = 0;
  }
  char *s = r->buf + r->pos;
  char *nl = memchr(s, '\n', r->len - r->pos);
  size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
  r->pos += n + 1;
  *line = s;
  *len = n;
  return 1;
}

void trace_reader_free(struct trace_reader *r) {
  if (!r) return;
  free(r->buf);
  free(r);
}
