/* spill: a temporary file of finished sessions, so that capture can cluster
 * sessions into personas after the whole input was read while memory holds
 * only the sessions still live.
 *
 * A live session is built in a small buffer (struct spill_buf, one per live
 * session) as compact varints: per request the endpoint handle with its
 * status class, and the think time before it. When the session ends, the
 * buffer goes to the file behind a short header (start time, duration,
 * request count, the key of its user agent); then it is empty again. The file
 * is unlinked right after it is created, so nothing is left behind whatever
 * happens to the process, and its space is returned when the spill is freed.
 *
 * Errors are sticky: after a failed write (a full disk) every later call
 * returns the same code, and the caller is expected to free the spill. */
#ifndef MIMIC_SPILL_H
#define MIMIC_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct spill;

/* One live session being built. Zero-initialised memory is a valid empty
 * buffer (spill_buf_init does just that). */
struct spill_buf {
  uint8_t *p; /* owned */
  uint32_t len, cap;
  uint32_t n;  /* requests so far */
  uint32_t ua; /* user agent key (learn_ua_key), 0 = none */
  int64_t start_us;
};

/* A session read back. The arrays are owned by the struct, reused from one
 * spill_get to the next, and freed by spill_session_cleanup. */
struct spill_session {
  int64_t start_us, duration_us;
  uint32_t n;        /* requests */
  uint32_t ua;       /* user agent key, as given to spill_buf_begin */
  uint32_t *ep;      /* endpoint handles, n of them */
  uint8_t *cls;      /* status / 100 (1..5), 0 when unknown or odd */
  int64_t *think_us; /* think time before request i; think_us[0] = 0 */
  uint32_t cap;
};

/* Longest session accepted, in encoded bytes (the sessionizer caps sessions
 * at 10000 requests, a few dozen KB). */
#define SPILL_MAX_SESSION_BYTES (16u << 20)

/* Creates an unlinked temporary file in dir. Returns 0, or -errno (the
 * folder is missing or not writable) or -ENOMEM. */
int spill_new(const char *dir, struct spill **out);
/* Closes the file (returning its space) and frees s. NULL is a no-op. */
void spill_free(struct spill *s);

void spill_buf_init(struct spill_buf *b);
void spill_buf_cleanup(struct spill_buf *b);
/* Starts a session in b (dropping what it held): its first request, and
 * the key of the session's user agent (any 32-bit value, kept as is). */
int spill_buf_begin(struct spill_buf *b, int64_t start_us, uint32_t ep,
                    int status, uint32_t ua);
/* Adds a request; think_us < 0 is stored as 0. Returns 0, -ENOMEM, or
 * ERR_LIMIT past SPILL_MAX_SESSION_BYTES. */
int spill_buf_step(struct spill_buf *b, uint32_t ep, int status,
                   int64_t think_us);

/* Appends the session in b to the file and empties b (a large buffer is
 * released, a small one kept for the next session). Returns 0, -errno of
 * the failed write (-ENOSPC for a full disk), or the sticky error. */
int spill_put(struct spill *s, struct spill_buf *b, int64_t duration_us);

/* Flushes what was written and starts reading from the first session; may
 * be called again to read once more. Returns 0 or -errno (a full disk may
 * show only here, when buffered data is flushed). */
int spill_rewind(struct spill *s);
/* Reads the next session into out. Returns 1, 0 at the end, ERR_CORRUPT
 * when the file does not hold what was written, -errno, -ENOMEM. */
int spill_get(struct spill *s, struct spill_session *out);
void spill_session_cleanup(struct spill_session *ss);

/* Sessions and bytes written so far; the sticky error (0 when none). */
uint64_t spill_sessions(const struct spill *s);
uint64_t spill_bytes(const struct spill *s);
int spill_error(const struct spill *s);

#endif
