/* input: reads an input file (or stdin) line by line, plain, gzip or zstd
 * (recognised by their magic bytes, not the file name), streamed through a
 * bounded buffer so memory never depends on the input size. */
#ifndef MIMIC_INPUT_H
#define MIMIC_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define INPUT_MAX_LINE                                                         \
  (1u << 20) /* longer lines are skipped, see INPUT_LONG                       \
              */

struct input;

enum {
  INPUT_EOF = 0,  /* no more lines */
  INPUT_LINE = 1, /* *line / *len hold the next line */
  INPUT_LONG = 2, /* a line over INPUT_MAX_LINE bytes was skipped */
};

/* Opens path ("-" = standard input). On failure returns -errno and writes
 * a message naming the file into err. */
int input_open(const char *path, struct input **out, char *err, size_t errlen);

/* Reads the next line, without its "\n" or "\r\n". The line is valid until
 * the next call. Returns INPUT_LINE, INPUT_LONG, INPUT_EOF, or a negative
 * code (ERR_TRUNCATED, ERR_CORRUPT, -errno) with input_error() telling why;
 * lines returned before an error stay valid input. A read interrupted by a
 * signal returns ERR_INTERRUPTED with nothing consumed: call again to go
 * on, or stop. */
int input_next(struct input *in, const char **line, size_t *len);

/* Binary access, for inputs that are not text (packet captures): the
 * decompressed bytes in order, without line splitting. Do not mix with
 * input_next on the same input.
 * input_peek makes at least n bytes available (fewer only at the end of the
 * input) without consuming them: *p and *got describe them, valid until the
 * next call. Returns 0 or a negative code as input_next.
 * input_read copies up to len bytes into buf: returns the number copied (0
 * at the end) or a negative code (ERR_TRUNCATED, ERR_CORRUPT, -errno,
 * ERR_INTERRUPTED). */
int input_peek(struct input *in, size_t n, const unsigned char **p,
               size_t *got);
long input_read(struct input *in, void *buf, size_t len);

/* Line number of the last line returned (1-based). */
uint64_t input_line_no(const struct input *in);
/* Uncompressed bytes consumed so far. */
uint64_t input_bytes(const struct input *in);
/* "plain", "gzip" or "zstd". */
const char *input_compression(const struct input *in);
/* Message of the last error, naming the file ("" when none). */
const char *input_error(const struct input *in);
const char *input_path(const struct input *in);

void input_close(struct input *in);

#endif
