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
  const char *target;         /* base URL: "http://127.0.0.1:8080" (a path
                                 prefix is kept: "http://h/api" + "/x") */
  int http2;                  /* negotiate HTTP/2 (h2c prior knowledge on
                                 http://, ALPN on https://) */
  int64_t timeout_ms;         /* whole-request timeout (0: 30000) */
  long max_connections;       /* total connections to the target (0: no cap) */
  const char *const *headers; /* extra "Name: value" lines, sent on every
                                 request */
  size_t nheaders;
  int insecure;               /* skip TLS verification */
  const char *session_header; /* header name carrying engine_req.session;
                                 NULL: none */
  size_t slots;               /* requests in flight at most (0: 1024) */
  size_t body_cap;            /* longest body prefix a request captures (0:
                                 ENGINE_BODY_CAP) */
  /* Optional: called just before each request goes out on its connection
   * (after connecting and TLS; again if curl resends it on a fresh one),
   * with engine_new's arg, the request's ctx and the time
   * (uv_hrtime()/1000 clock). It runs inside a curl callback: it must not
   * call the engine. NULL: no call, no cost. */
  void (*sent)(void *arg, void *ctx, uint64_t t_us);
};

/* Per-request header lines at most (engine_req.headers). */
#define ENGINE_REQ_HEADERS 4
/* Longest request body accepted by submit. */
#define ENGINE_BODY_MAX (1u << 20)
/* Bounds of what a request may capture of its response. */
#define ENGINE_BODY_CAP 65536    /* body prefix */
#define ENGINE_LOCATION_CAP 2048 /* Location value */
#define ENGINE_COOKIES_CAP 8192  /* Set-Cookie values, all together */
#define ENGINE_HEADERS_CAP 16384 /* named headers, all together */
#define ENGINE_CAP_NAMES 8       /* named headers a request captures */

/* What a request captures of its response (engine_req.capture). A request
 * that captures nothing (a plain GET) costs no header callback and no
 * copy. */
enum {
  ENGINE_CAP_HEADERS = 1, /* Location and Set-Cookie */
  ENGINE_CAP_BODY = 2,    /* a prefix of the body (engine_opts.body_cap) */
};

/* Client-side faults the engine can play (engine_req.fault). Both announce
 * a body (the request's own, or 64 filler bytes) and never complete it, so
 * the target never sees a whole request and does nothing it would have to
 * undo. */
enum engine_fault {
  ENGINE_FAULT_NONE = 0,
  ENGINE_FAULT_STALL, /* send none of the body: the request ends in its
                         timeout (engine_req.timeout_ms), ENGINE_E_TIMEOUT */
  ENGINE_FAULT_ABORT, /* send half of it, then close the connection:
                         ENGINE_E_ABORT */
};

/* One request. Strings are copied at submit; nothing is kept. */
struct engine_req {
  const char *method;  /* "GET", "POST", ... */
  const char *target;  /* path and query, starting with '/' */
  const char *ua;      /* User-Agent; NULL or "" sends none */
  const char *session; /* value of the session header (e.g. "17.3") */
  void *ctx;           /* handed back in the result */
  /* Optional; zero means none / the engine's default. */
  const char *body; /* request body (any method), body_len bytes */
  size_t body_len;
  const char *content_type;         /* sent with a body; NULL: none */
  const char *const *headers;       /* "Name: value" lines for this request only
                                       (CR and LF become spaces) */
  size_t nheaders;                  /* at most ENGINE_REQ_HEADERS */
  unsigned capture;                 /* ENGINE_CAP_* */
  const char *const *capture_names; /* with ENGINE_CAP_HEADERS: headers
                                       to capture beyond Location and
                                       Set-Cookie (at most
                                       ENGINE_CAP_NAMES, < 64 bytes) */
  size_t ncapture_names;
  int64_t timeout_ms; /* this request's whole timeout */
  enum engine_fault fault;
  int64_t max_recv_bps; /* slow reads: the response body is taken at most
                           this fast, in bytes/s from its first byte, also
                           when it is all buffered already: n bytes take
                           n / max_recv_bps s (0: no limit) */
};

/* Why a request failed before an HTTP status came back. */
enum engine_error {
  ENGINE_OK = 0,
  ENGINE_E_CONNECT, /* refused / unreachable */
  ENGINE_E_TIMEOUT, /* --timeout or connect timeout */
  ENGINE_E_DNS,     /* name resolution */
  ENGINE_E_TLS,     /* handshake or certificate */
  ENGINE_E_RESET,   /* connection reset / closed mid-request */
  ENGINE_E_OTHER,
  ENGINE_E_ABORT, /* closed by us mid-request (ENGINE_FAULT_ABORT) */
  ENGINE_E_COUNT
};

struct engine_result {
  void *ctx;
  int status; /* HTTP status, 0 when err != ENGINE_OK */
  enum engine_error err;
  const char *err_text; /* curl's message when err != ENGINE_OK (static
                           or valid during the callback only) */
  uint64_t start_us;    /* when the request was handed to curl
                           (uv_hrtime()/1000 clock) */
  uint64_t end_us;      /* when it completed */
  uint64_t resp_bytes;  /* body bytes received */
  /* What the request asked to capture, valid during the callback only
   * (NULL / 0 when absent or not asked for). */
  const char *location;   /* the Location header's value */
  const char *set_cookie; /* every Set-Cookie value, each ending in '\n' */
  const char *headers;    /* the capture_names headers present, as
                             "name: value\n" lines (names as asked) */
  const char *body;       /* the body's first body_len bytes, NUL-ended */
  size_t body_len;
  int body_truncated; /* the body was longer than the cap */
};

typedef void engine_done_fn(void *arg, const struct engine_result *res);

/* Creates an engine on loop. done(arg, result) is called once per
 * submitted request, from the loop. Returns 0, or -ENOMEM / ERR_USAGE (bad
 * target URL) with a message in err. */
int engine_new(uv_loop_t *loop, const struct engine_opts *opts,
               engine_done_fn *done, void *arg, struct engine **out, char *err,
               size_t errlen);

/* Checks opts as engine_new would (target URL, header lines, session
 * header name, HTTP/2 support) without creating anything. Returns 0, or
 * ERR_USAGE with a message in err, or -ENOMEM. */
int engine_check_opts(const struct engine_opts *opts, char *err, size_t errlen);

/* Starts a request. Returns 0, or -EAGAIN when every slot is in flight
 * (submit again after a completion), ERR_USAGE for a malformed request
 * (no method, a target not starting with '/', more than
 * ENGINE_REQ_HEADERS header lines), ERR_LIMIT for a body over
 * ENGINE_BODY_MAX or a field over 64 KiB, -ENOMEM. */
int engine_submit(struct engine *e, const struct engine_req *req);

/* Requests in flight; slots free. */
size_t engine_inflight(const struct engine *e);
size_t engine_free_slots(const struct engine *e);

/* Aborts every request in flight (their callbacks fire with
 * ENGINE_E_OTHER, err_text "aborted") and releases curl; the uv handles
 * are closed asynchronously: run the loop until closed(arg) is called,
 * then the engine is freed. */
void engine_close(struct engine *e, void (*closed)(void *), void *arg);

/* 1 when the libcurl in use cannot reuse a cleartext HTTP/2 connection
 * (prior knowledge, "h2c"): the engine then opens one connection per
 * request for http:// targets with http2 set. HTTP/2 over TLS is not
 * affected. */
int engine_h2c_reuse_broken(void);

/* The short name of an error ("connect", "timeout", "dns", "tls",
 * "reset", "other", "abort"). */
const char *engine_error_name(enum engine_error err);

#endif
