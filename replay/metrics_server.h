/* metrics_server: serves a struct metrics at /metrics over HTTP/1.x, from
 * its own thread and libuv loop, so that a scrape never runs on (or
 * waits for) a replay worker. It answers GET and HEAD of /metrics (the
 * text exposition) and / (a pointer to it), one request per connection
 * (Connection: close), at most 64 connections at a time, each given 10 s
 * to send its request and read the answer. */
#ifndef MIMIC_METRICS_SERVER_H
#define MIMIC_METRICS_SERVER_H

#include <stddef.h>

struct metrics;
struct metrics_server;

/* Listens on addr ("127.0.0.1:9464", "[::1]:9464", ":9464" for every
 * IPv4 address; port 0 picks a free one) and starts serving m, which must
 * outlive the server. Returns 0, ERR_USAGE for an address it cannot parse,
 * or a libuv error (UV_EADDRINUSE, ...), with a message in err. */
int metrics_server_start(struct metrics *m, const char *addr,
                         struct metrics_server **out, char *err, size_t errlen);

/* The address actually bound ("127.0.0.1:40123"). */
const char *metrics_server_addr(const struct metrics_server *s);

/* Scrapes answered so far. */
unsigned long metrics_server_scrapes(const struct metrics_server *s);

/* What a request head asks for (exposed for tests and fuzzing): req is
 * the head as received, len bytes, NUL-terminated at req[len]; it is
 * parsed in place. */
enum metrics_route {
  METRICS_ROUTE_BAD,      /* no request line: 400 */
  METRICS_ROUTE_METHOD,   /* not GET or HEAD: 405 */
  METRICS_ROUTE_METRICS,  /* /metrics */
  METRICS_ROUTE_INDEX,    /* / */
  METRICS_ROUTE_NOTFOUND, /* anything else: 404 */
};
enum metrics_route metrics_server_route(char *req, size_t len, int *head);

/* Stops serving (connections in progress are closed), joins the thread
 * and frees the server. NULL is a no-op. */
void metrics_server_stop(struct metrics_server *s);

#endif
