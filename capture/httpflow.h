/* httpflow: HTTP/1.x exchanges from TCP segments. It owns the TCP
 * reassembly (reasm), finds which side of each connection is the client,
 * parses both directions with libhttp-parser (keep-alive, pipelining,
 * Content-Length and chunked bodies, bodies delimited by the end of the
 * connection, 1xx interim responses, HEAD, Upgrade/CONNECT tunnels), pairs
 * each response with its request, decodes JSON and form bodies
 * (Content-Encoding gzip/deflate, with zlib) and hands out complete
 * transactions.
 *
 * Captures are messy, and losses are counted, never silent: a gap in a
 * stream drops the message it falls in and the direction resynchronises on
 * the next request (or status) line; a request line libhttp-parser refuses
 * but that starts with a known method ("GET / HTTP/1.", "CCM_POST ...") is
 * still a request, recognised leniently, as Wireshark does; TLS and other
 * non-HTTP connections are counted and skipped. */
#ifndef MIMIC_HTTPFLOW_H
#define MIMIC_HTTPFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "reasm.h"

struct httpflow;
struct pkt;

struct http_hdr {
  const char *name; /* lower case */
  const char *value;
  size_t nlen, vlen;
};

/* One request and its response. Everything it points to belongs to the
 * httpflow and stays valid until the next httpflow_next call. */
struct http_txn {
  uint8_t af; /* 4 or 6 */
  uint8_t client[16], server[16];
  uint16_t client_port, server_port;
  char client_ip[48]; /* text form of client */

  /* Request. */
  const char *method; /* "GET", or the token of a lenient request */
  size_t method_len;
  const char *target; /* request target as sent ("/a?b"); may be empty */
  size_t target_len;
  const struct http_hdr *req_hdrs;
  size_t nreq_hdrs;
  const uint8_t *req_body; /* decoded body when kept (see opts), else NULL */
  size_t req_body_len;
  int req_body_cut;    /* the kept body is not whole (cap, damage) */
  uint64_t req_bytes;  /* header + body bytes on the wire */
  int64_t t_req_first; /* time of the request's first byte */
  int64_t t_req_last;  /* ... and of its last byte */
  int lenient;         /* the request line was recognised leniently */
  int http_major, http_minor;

  /* Response (status 0: none was seen, or its code was not 100-599). */
  int status;
  const struct http_hdr *resp_hdrs;
  size_t nresp_hdrs;
  const uint8_t *resp_body; /* decoded JSON body when kept, else NULL */
  size_t resp_body_len;
  int resp_body_cut;
  int64_t resp_body_bytes; /* body bytes on the wire (-1: unknown) */
  int64_t t_resp_first;    /* time of the response's first byte */
  int64_t t_resp_last;     /* ... and of its last byte */
};

struct httpflow_opts {
  struct reasm_opts reasm;
  size_t body_cap;     /* decoded bytes kept per body (default 64 KiB) */
  int keep_req_bodies; /* keep request bodies whatever their type
                          (default: JSON and form bodies only) */
  size_t max_pending;  /* requests waiting for their response per
                          connection (default 1024); older ones are handed
                          out unanswered */
};

/* Completeness: how much of the capture was understood. */
struct httpflow_stats {
  struct reasm_stats tcp;
  uint64_t requests;          /* request heads recognised */
  uint64_t notifications;     /* UPnP NOTIFY / (UN)SUBSCRIBE requests,
                                 counted apart as Wireshark does */
  uint64_t lenient;           /* ... of which leniently */
  uint64_t responses;         /* response heads recognised (1xx too) */
  uint64_t interim;           /* ... of which 1xx */
  uint64_t unanswered;        /* requests handed out without a response */
  uint64_t orphans;           /* responses without a request */
  uint64_t dropped_requests;  /* requests cut by a gap or damaged */
  uint64_t dropped_responses; /* responses cut by a gap or damaged */
  uint64_t junk;              /* message starts neither HTTP nor known */
  uint64_t resyncs;           /* times a direction had to resynchronise */
  uint64_t http_flows;        /* connections with HTTP in them */
  uint64_t non_http_flows;    /* connections without */
  uint64_t tls_flows;         /* ... of which TLS */
  uint64_t tunnels;           /* Upgrade / CONNECT: the rest not parsed */
  uint64_t bodies_decoded;    /* gzip/deflate bodies inflated */
  uint64_t decode_errors;     /* ... that failed */
};

int httpflow_new(const struct httpflow_opts *opts, struct httpflow **out);
/* Frees everything; transactions not yet handed out are lost. */
void httpflow_free(struct httpflow *h);

/* Feeds one TCP segment. Returns 0 or -ENOMEM. */
int httpflow_feed(struct httpflow *h, const struct pkt *p);
/* End of input: finishes every connection (unanswered requests are
 * handed out). */
void httpflow_flush(struct httpflow *h);

/* The next complete transaction, in the order they completed, or NULL.
 * The previous one is released. */
const struct http_txn *httpflow_next(struct httpflow *h);
/* Transactions ready to be handed out. */
size_t httpflow_ready(const struct httpflow *h);

void httpflow_stats(const struct httpflow *h, struct httpflow_stats *out);

/* The value of the first header named name (lower case) among n headers,
 * or NULL; *len gets its length. */
const char *httpflow_header(const struct http_hdr *hdrs, size_t n,
                            const char *name, size_t *len);
/* The value of cookie name in the request's Cookie headers, or NULL. */
const char *httpflow_cookie(const struct http_txn *t, const char *name,
                            size_t *len);

/* 1 when the token p[0..n) is an HTTP method Wireshark or libhttp-parser
 * knows ("GET", "PROPFIND", "CCM_POST", ...). */
int httpflow_is_method(const char *p, size_t n);

#endif
