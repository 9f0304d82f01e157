#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "err.h"

#define RAW_CHUNK (256u << 10)
#define BUF_CAP (INPUT_MAX_LINE + (1u << 20))

enum codec { PLAIN, GZIP, ZSTD };

struct input {
  int fd;
  int own_fd;
  enum codec codec;
  char *path;
  /* Decompressed data: buf[start, end) is not yet returned. */
  char *buf;
  size_t start, end;
  /* Compressed data waiting for the decoder. */
  unsigned char *raw;
  size_t raw_pos, raw_len;
  int raw_eof;
  z_stream zs;
  int zs_ready;
  int member_done; /* gzip: last member ended exactly (no partial one) */
  ZSTD_DStream *zds;
  size_t zstd_hint; /* last ZSTD_decompressStream result; 0 = frame done */
  int eof;          /* no more decompressed data will come */
  int skipping;     /* inside an over-long line, dropping until '\n' */
  int read_err;     /* input_read: error to return after the buffered bytes */
  uint64_t line_no, bytes;
  char errmsg[512];
};

int input_open(const char *path, struct input **out, char *err, size_t errlen) {
  struct input *in = calloc(1, sizeof *in);
  int rc = -ENOMEM;
  if (!in) goto fail;
  in->fd = -1;
  in->path = strdup(path);
  in->buf = malloc(BUF_CAP);
  in->raw = malloc(RAW_CHUNK);
  if (!in->path || !in->buf || !in->raw) goto fail;
  if (strcmp(path, "-") == 0) {
    in->fd = STDIN_FILENO;
  } else {
    in->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
      rc = -errno;
      snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
      goto fail;
    }
    in->own_fd = 1;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  }
  /* Sniff the magic bytes: the first read goes to raw either way. */
  while (in->raw_len < 4 && !in->raw_eof) {
    ssize_t got = read(in->fd, in->raw + in->raw_len, RAW_CHUNK - in->raw_len);
    if (got < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
      goto fail;
    }
    if (got == 0) in->raw_eof = 1;
    in->raw_len += (size_t)got;
  }
  const unsigned char *r = in->raw;
  if (in->raw_len >= 2 && r[0] == 0x1f && r[1] == 0x8b) {
    in->codec = GZIP;
    if (inflateInit2(&in->zs, 15 + 32) != Z_OK) goto fail;
    in->zs_ready = 1;
  } else if (in->raw_len >= 4 && r[0] == 0x28 && r[1] == 0xb5 && r[2] == 0x2f &&
             r[3] == 0xfd) {
    in->codec = ZSTD;
    in->zds = ZSTD_createDStream();
    if (!in->zds) goto fail;
    ZSTD_initDStream(in->zds);
  } else {
    /* Plain text: the sniffed bytes are already data. */
    in->codec = PLAIN;
    memcpy(in->buf, in->raw, in->raw_len);
    in->end = in->raw_len;
    in->raw_len = 0;
  }
  *out = in;
  return 0;
fail:
  if (rc == -ENOMEM) snprintf(err, errlen, "%s: out of memory", path);
  input_close(in);
  return rc;
}

static int set_err(struct input *in, int rc, const char *fmt, const char *a) {
  snprintf(in->errmsg, sizeof in->errmsg, fmt, in->path, a);
  return rc;
}

/* Refills raw from the file when the decoder consumed it. */
static int fill_raw(struct input *in) {
  if (in->raw_pos < in->raw_len || in->raw_eof) return 0;
  in->raw_pos = in->raw_len = 0;
  for (;;) {
    ssize_t got = read(in->fd, in->raw, RAW_CHUNK);
    if (got < 0) {
      if (errno == EINTR) return ERR_INTERRUPTED;
      return set_err(in, -errno, "cannot read %s: %s", strerror(errno));
    }
    if (got == 0) in->raw_eof = 1;
    in->raw_len = (size_t)got;
    return 0;
  }
}

/* Appends more decompressed bytes at buf[end]; sets eof at the end. */
static int produce(struct input *in) {
  size_t room = BUF_CAP - in->end;
  if (in->codec == PLAIN) {
    for (;;) {
      ssize_t got = read(in->fd, in->buf + in->end, room);
      if (got < 0) {
        if (errno == EINTR) return ERR_INTERRUPTED;
        return set_err(in, -errno, "cannot read %s: %s", strerror(errno));
      }
      if (got == 0) in->eof = 1;
      in->end += (size_t)got;
      return 0;
    }
  }
  size_t before = in->end;
  /* Loop until some output appears, so a caller never spins on 0 bytes. */
  while (in->end == before && !in->eof) {
    int rc = fill_raw(in);
    if (rc) return rc;
    size_t avail = in->raw_len - in->raw_pos;
    if (in->codec == GZIP) {
      if (avail == 0) {
        in->eof = 1;
        if (!in->member_done)
          return set_err(in, ERR_TRUNCATED, "%s: truncated gzip stream%s", "");
        break;
      }
      if (in->member_done) {
        /* Another gzip member follows (concatenated .gz files). */
        inflateReset(&in->zs);
        in->member_done = 0;
      }
      in->zs.next_in = in->raw + in->raw_pos;
      in->zs.avail_in = (uInt)avail;
      in->zs.next_out = (Bytef *)in->buf + in->end;
      in->zs.avail_out = (uInt)(BUF_CAP - in->end);
      int zrc = inflate(&in->zs, Z_NO_FLUSH);
      in->raw_pos = in->raw_len - in->zs.avail_in;
      in->end = BUF_CAP - in->zs.avail_out;
      if (zrc == Z_STREAM_END) {
        in->member_done = 1;
      } else if (zrc == Z_BUF_ERROR) {
        if (in->raw_eof && in->raw_pos == in->raw_len) {
          in->eof = 1;
          return set_err(in, ERR_TRUNCATED, "%s: truncated gzip stream%s", "");
        }
      } else if (zrc != Z_OK) {
        in->eof = 1;
        return set_err(in, ERR_CORRUPT, "%s: corrupt gzip data (%s)",
                       in->zs.msg ? in->zs.msg : "inflate failed");
      }
    } else {
      if (avail == 0) {
        in->eof = 1;
        if (in->zstd_hint != 0)
          return set_err(in, ERR_TRUNCATED, "%s: truncated zstd stream%s", "");
        break;
      }
      ZSTD_inBuffer zin = {in->raw + in->raw_pos, avail, 0};
      ZSTD_outBuffer zout = {in->buf + in->end, BUF_CAP - in->end, 0};
      size_t zr = ZSTD_decompressStream(in->zds, &zout, &zin);
      in->raw_pos += zin.pos;
      in->end += zout.pos;
      if (ZSTD_isError(zr)) {
        in->eof = 1;
        return set_err(in, ERR_CORRUPT, "%s: corrupt zstd data (%s)",
                       ZSTD_getErrorName(zr));
      }
      in->zstd_hint = zr;
    }
  }
  return 0;
}

int input_next(struct input *in, const char **line, size_t *len) {
  for (;;) {
    char *base = in->buf + in->start;
    size_t have = in->end - in->start;
    char *nl = have ? memchr(base, '\n', have) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - base);
      in->start += n + 1;
      in->bytes += n + 1;
      in->line_no++;
      if (in->skipping || n > INPUT_MAX_LINE) {
        in->skipping = 0;
        return INPUT_LONG;
      }
      if (n && base[n - 1] == '\r') n--;
      *line = base;
      *len = n;
      return INPUT_LINE;
    }
    if (in->eof) {
      if (have == 0 && !in->skipping) return INPUT_EOF;
      /* The last line has no newline. */
      in->start = in->end;
      in->bytes += have;
      in->line_no++;
      if (in->skipping || have > INPUT_MAX_LINE) {
        in->skipping = 0;
        return INPUT_LONG;
      }
      if (have && base[have - 1] == '\r') have--;
      *line = base;
      *len = have;
      return INPUT_LINE;
    }
    if (have >= INPUT_MAX_LINE) {
      /* Drop what we have of the over-long line and keep reading. */
      in->bytes += have;
      in->start = in->end = 0;
      in->skipping = 1;
    } else if (in->start > 0) {
      memmove(in->buf, base, have);
      in->start = 0;
      in->end = have;
    }
    int rc = produce(in);
    if (rc) return rc;
  }
}

int input_peek(struct input *in, size_t n, const unsigned char **p,
               size_t *got) {
  if (n > BUF_CAP / 2) n = BUF_CAP / 2;
  while (in->end - in->start < n && !in->eof) {
    if (in->start > 0) {
      memmove(in->buf, in->buf + in->start, in->end - in->start);
      in->end -= in->start;
      in->start = 0;
    }
    int rc = produce(in);
    if (rc) return rc;
  }
  *p = (const unsigned char *)in->buf + in->start;
  *got = in->end - in->start;
  return 0;
}

long input_read(struct input *in, void *buf, size_t len) {
  while (in->start == in->end) {
    /* An error after the last good bytes is reported once they are read. */
    if (in->read_err) {
      int rc = in->read_err;
      in->read_err = 0;
      return rc;
    }
    if (in->eof) return 0;
    in->start = in->end = 0;
    int rc = produce(in);
    if (rc == ERR_INTERRUPTED && in->start == in->end) return rc;
    if (rc && rc != ERR_INTERRUPTED) in->read_err = rc;
  }
  size_t have = in->end - in->start;
  if (have > len) have = len;
  memcpy(buf, in->buf + in->start, have);
  in->start += have;
  in->bytes += have;
  return (long)have;
}

uint64_t input_line_no(const struct input *in) {
  return in->line_no;
}
uint64_t input_bytes(const struct input *in) {
  return in->bytes;
}
const char *input_error(const struct input *in) {
  return in->errmsg;
}
const char *input_path(const struct input *in) {
  return in->path;
}

const char *input_compression(const struct input *in) {
  switch (in->codec) {
  case GZIP: return "gzip";
  case ZSTD: return "zstd";
  default: return "plain";
  }
}

void input_close(struct input *in) {
  if (!in) return;
  if (in->zs_ready) inflateEnd(&in->zs);
  ZSTD_freeDStream(in->zds);
  if (in->own_fd && in->fd >= 0) close(in->fd);
  free(in->path);
  free(in->buf);
  free(in->raw);
  free(in);
}
