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

#endif
