/* mock: `mimic mock`, a fake target driven by a model. Every learned
 * endpoint is answered with a status drawn from its learned status mix,
 * after a delay drawn from its learned response times, with a body of a
 * size drawn from its learned response sizes; unknown paths get 404. It
 * writes its own access log (Combined, millisecond timestamps, request
 * time and the session header), so that `capture` -> `replay` -> `compare`
 * runs on one machine with nothing else installed.
 *
 * The server: worker threads, each a libuv loop with its own listening
 * socket on the same address (SO_REUSEPORT: the kernel spreads the
 * connections), HTTP/1.x parsed by http-parser with keep-alive and
 * pipelining (answers leave in request order), delays kept in one timer
 * heap per worker, bodies written from one static buffer of filler bytes:
 * nothing is allocated per request. */
#ifndef MIMIC_MOCK_H
#define MIMIC_MOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct model;
struct rng;

/* ---- answers (the model side, testable without a socket) ---------------- */

struct mock_table;

/* Compiles m (which must outlive the table) into a router and per-endpoint
 * samplers. time_scale X divides the response times (a replay played X
 * times faster meets a target X times faster). Returns 0, -ENOMEM, or
 * ERR_NODATA with a message when m has no endpoint. */
int mock_table_new(const struct model *m, double time_scale,
                   struct mock_table **out, char *err, size_t errlen);
void mock_table_free(struct mock_table *t);

struct mock_answer {
  int64_t ep;        /* endpoint id, or -1 (not learned: 404) */
  int status;        /* HTTP status */
  uint64_t delay_us; /* before the answer leaves */
  uint64_t bytes;    /* body size (capped at MOCK_MAX_BODY) */
};

#define MOCK_MAX_BODY ((uint64_t)64 << 20)

/* What to answer to method + path (path without the query string). */
void mock_table_answer(const struct mock_table *t, struct rng *r,
                       const char *method, size_t mlen, const char *path,
                       size_t plen, struct mock_answer *a);

/* ---- the server ---------------------------------------------------------- */

struct mock_opts {
  const char *model_path;
  const char *listen;         /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
  unsigned threads;           /* workers (0: one per core) */
  uint64_t seed;              /* answers are drawn from per-worker streams */
  const char *log_path;       /* access log, or NULL */
  double time_scale;          /* response times / X (default 1) */
  const char *session_header; /* logged header (default X-Mimic-Session) */
  int64_t max_seconds;        /* stop by itself after this (0: never) */
  int quiet;
  FILE *err; /* messages */
};

enum {
  MOCK_OK = 0,
  MOCK_FAILED = 1, /* could not start (model, address, log) */
};

/* Serves until SIGINT/SIGTERM (or max_seconds): no new connections, the
 * answers due are sent, then it exits. Returns a MOCK_* status. */
int mock_run(const struct mock_opts *o);

/* `mimic mock`: options, usage, exit status. */
int mock_main(int argc, char **argv);

/* ---- a seam for tests: one connection without a socket ------------------ */

#define MOCK_RING 8       /* answers queued per connection (pipelining) */
#define MOCK_URL_MAX 4096 /* longer request targets get 414 */

/* For the fuzz target and tests only, not the server: one worker with one
 * connection whose reads the caller supplies and whose answers leave when
 * the caller says. The bytes go through the server's own code (parsing,
 * answer queue, held input, timer heap, access log); only the socket and
 * the loop are missing: every write succeeds at once, and delays pass
 * when the caller says. */
struct mock_probe;

struct mock_probe_answer {
  const char *head; /* status line and headers */
  size_t hlen;
  uint64_t bytes; /* body bytes that would follow */
  int keep;       /* the connection stays open after it */
};

struct mock_probe_state {
  uint64_t requests; /* answered (the worker's count) */
  uint32_t queued;   /* answers in the ring, not yet sent */
  uint32_t ready;    /* of them, due and not sent */
  uint32_t in_heap;  /* timer entries for this connection */
  size_t held;       /* input held back while the ring is full */
  int paused, last;  /* parsing paused; the last request came */
  int closed;        /* the server closed the connection */
};

/* A worker answering from t (borrowed, must outlive the probe), each
 * connection with the same random stream (from seed); session_header as
 * --session-header (NULL: the default). Returns 0, -ENOMEM or -EINVAL
 * (the header is too long). */
int mock_probe_new(struct mock_table *t, const char *session_header,
                   uint64_t seed, struct mock_probe **out);
void mock_probe_free(struct mock_probe *p);

/* Opens a new connection (ending the one there was) whose access log
 * goes to log, or nowhere (NULL). */
void mock_probe_open(struct mock_probe *p, FILE *log);

/* Ends the connection: its delays pass, its log lines are written and the
 * log flushed. */
void mock_probe_close(struct mock_probe *p);

/* One read of len bytes (len > 0), as the read callback takes it.
 * Returns 0 when the connection reads on, 1 when it reads no more for
 * now (the ring is full, or the last request came), -1 when it is
 * closed. The bytes are taken only when the connection reads (the
 * previous call, or mock_probe_send, returned 0). */
int mock_probe_read(struct mock_probe *p, const void *data, size_t len);

/* The delays of the answers queued pass: they are due (the timer fires). */
void mock_probe_elapse(struct mock_probe *p);

/* Sends up to max answers that are due, in request order, as the server
 * does (fn sees each), parsing held input as the ring frees. Returns as
 * mock_probe_read. */
int mock_probe_send(struct mock_probe *p, unsigned max,
                    void (*fn)(void *arg, const struct mock_probe_answer *a),
                    void *arg);

/* What the connection holds now. */
void mock_probe_state(const struct mock_probe *p, struct mock_probe_state *s);

#endif
