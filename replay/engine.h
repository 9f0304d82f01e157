/* engine: sends HTTP requests for the replay: one libuv loop driving
 * libcurl's multi_socket API (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION on
 * uv_poll / uv_timer), with keep-alive connection reuse, HTTP/1.1 or
 * HTTP/2, and no allocation per request: a fixed pool of request slots,
 * each with its reused curl easy handle, URL and header buffers; one
 * uv_poll per socket, kept while the socket lives (curl's CURL_POLL_REMOVE
 * only stops it) and closed when curl closes the socket.
 *
 * One engine per loop (and per thread); it knows nothing of users or
 * sessions: the caller submits requests and gets one callback per request
 * with its outcome and timings. */
#ifndef MIMIC_ENGINE_H
#define MIMIC_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct engine;

struct engine_opts {
  const char *target;      /* base URL: "http://127.0.0.1:8080" (a path
                              prefix is kept: "http://h/api" + "/x") */
  int http2;               /* negotiate HTTP/2 (h2c prior knowledge on
                              http://, ALPN on https://) */
  int64_t timeout_ms;      /* whole-request timeout (0: 30000) */
  long max_connections;    /* total connections to the target (0: no cap) */
  const char *const *headers; /* extra "Name: value" lines, sent on every
                                 request */
  size_t nheaders;
  int insecure;            /* skip TLS verification */
  const char *session_header; /* header name carrying engine_req.session;
                                 NULL: none */
  size_t slots;            /* requests in flight at most (0: 1024) */
};

/* One request. Strings are copied at submit; nothing is kept. */
struct engine_req {
  const char *method;  /* "GET", "POST", ... */
  const char *target;  /* path and query, starting with '/' */
  const char *ua;      /* User-Agent; NULL or "" sends none */
  const char *session; /* value of the session header (e.g. "17.3") */
  void *ctx;           /* handed back in the result */
  int64_t max_recv_bps; /* slow reads: the response is read at most this
                           fast, in bytes/s (0: no limit) */
};

/* Why a request failed before an HTTP status came back. */
enum engine_error {
  ENGINE_OK = 0,
  ENGINE_E_CONNECT,  /* refused / unreachable */
  ENGINE_E_TIMEOUT,  /* --timeout or connect timeout */
  ENGINE_E_DNS,      /* name resolution */
  ENGINE_E_TLS,      /* handshake or certificate */
  ENGINE_E_RESET,    /* connection reset / closed mid-request */
  ENGINE_E_OTHER,
  ENGINE_E_COUNT
};

struct engine_result {
  void *ctx;
  int status;            /* HTTP status, 0 when err != ENGINE_OK */
  enum engine_error err;
  const char *err_text;  /* curl's message when err != ENGINE_OK (static
                            or valid during the callback only) */
  uint64_t start_us;     /* when the request was handed to curl
                            (uv_hrtime()/1000 clock) */
  uint64_t end_us;       /* when it completed */
  uint64_t resp_bytes;   /* body bytes received */
};

typedef void engine_done_fn(void *arg, const struct engine_result *res);

/* Creates an engine on loop. done(arg, result) is called once per
 * submitted request, from the loop. Returns 0, or -ENOMEM / ERR_USAGE (bad
 * target URL) with a message in err. */
int engine_new(uv_loop_t *loop, const struct engine_opts *opts,
               engine_done_fn *done, void *arg, struct engine **out,
               char *err, size_t errlen);

/* Starts a request. Returns 0, or -EAGAIN when every slot is in flight
 * (submit again after a completion). */
int engine_submit(struct engine *e, const struct engine_req *req);

/* Requests in flight; slots free. */
size_t engine_inflight(const struct engine *e);
size_t engine_free_slots(const struct engine *e);

/* Aborts every request in flight (their callbacks fire with
 * ENGINE_E_OTHER, err_text "aborted") and releases curl; the uv handles
 * are closed asynchronously: run the loop until closed(arg) is called,
 * then the engine is freed. */
void engine_close(struct engine *e, void (*closed)(void *), void *arg);

/* The short name of an error ("connect", "timeout", "dns", "tls",
 * "reset", "other"). */
const char *engine_error_name(enum engine_error err);

#endif
