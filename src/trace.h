/* trace: the recorded request trace of a model (`capture --record`), for
 * exact replay. Requests are JSON objects, one per line, in the order the
 * capture saw them complete, stored as zstd-compressed chunks of lines:
 *
 *   {"s": session, "i": index in the session, "t": start (us since the
 *    first request of the capture), "m": method, "u": target,
 *    "h": [[name, value], ...], "b": body (text, optional),
 *    "st": status seen (0: none),
 *    "r": [{"k": "c1", "i": source request index, "loc": "json|header|
 *           cookie|location", "name": "$.token", "f": fake}, ...]}
 *
 * Values in u, h and b that came from an earlier response of the same
 * session appear as "{{c1}}" and are described in "r": replay puts in the
 * value its own run got back (or the fake, a format-preserving stand-in,
 * when it got nothing). Secrets are never stored: they are fakes or such
 * references (see capture/httplearn.c). */
#ifndef MIMIC_TRACE_H
#define MIMIC_TRACE_H

#include <stddef.h>
#include <stdint.h>

struct trace_chunk {
  uint8_t *data; /* zstd frame */
  size_t len;
  uint64_t requests; /* lines in it */
  uint64_t raw_bytes;
};

struct trace_writer;

int trace_writer_new(struct trace_writer **out);
void trace_writer_free(struct trace_writer *w);
/* Appends one line (a JSON text without newline; copied). Returns 0 or
 * -ENOMEM / ERR_LIMIT (the trace is over its cap: 1 GiB raw). */
int trace_writer_add(struct trace_writer *w, const char *line, size_t len);
/* Compresses what is pending and hands the chunks over: *chunks (owned by
 * the caller, each data too) and *n. Returns 0 or -ENOMEM. */
int trace_writer_finish(struct trace_writer *w, struct trace_chunk **chunks,
                        size_t *n);

/* Iterates over the lines of chunks. Returns 1 with *line / *len (valid
 * until the next call), 0 at the end, ERR_CORRUPT when a chunk does not
 * decompress. */
struct trace_reader;
int trace_reader_new(const struct trace_chunk *chunks, size_t n,
                     struct trace_reader **out);
int trace_reader_next(struct trace_reader *r, const char **line, size_t *len);
void trace_reader_free(struct trace_reader *r);

#endif
