/* logrec: one parsed access-log line, as the log formats produce it. Every
 * text field is a slice borrowed from the line buffer or, for decoded
 * values, from the logfmt that parsed it (valid until the next line is
 * read); an absent field has len 0 and points at "" (never NULL). */
#ifndef MIMIC_LOGREC_H
#define MIMIC_LOGREC_H

#include <stddef.h>
#include <stdint.h>

#define LOGREC_NO_TIME INT64_MIN

struct slice {
  const char *p;
  size_t len;
};

struct logrec {
  int64_t ts_us;       /* logged time, microseconds since the Unix epoch, UTC;
                          LOGREC_NO_TIME when the line has none */
  int ts_is_end;       /* 1: the format logs when the response ended (nginx,
                          IIS, ALB); 0: when the request arrived (Apache %t) */
  int64_t ts_res_us;   /* resolution of ts_us: 1000000 for [10/Oct/2000:..],
                          1000 for $msec, 1 for ALB microseconds */
  struct slice client; /* remote address or host name (port stripped) */
  struct slice user;   /* authenticated user ($remote_user), "-" -> empty */
  struct slice method; /* e.g. "GET"; validated: A-Z, 1..16 chars */
  struct slice path;   /* path only, starts with '/' (absolute-form URIs are
                          reduced to their path; their host goes to host) */
  struct slice query;  /* after '?', without it; empty when none */
  struct slice proto;  /* e.g. "HTTP/1.1"; may be empty */
  struct slice host;   /* Host header / vhost / ALB domain, when logged */
  struct slice referer;
  struct slice ua;      /* user agent; "-" -> empty */
  struct slice session; /* value of the header or cookie named by the
                           session key (logfmt_opts), when the format has it */
  int status;           /* 100..599, or 0 when unknown */
  int64_t resp_bytes;   /* body bytes sent, -1 unknown ("-" means 0) */
  int64_t req_bytes;    /* request length, -1 unknown */
  int64_t latency_us;   /* request time in microseconds, -1 unknown */
};

/* Sets every field to "absent". */
void logrec_clear(struct logrec *r);

/* Splits a request target (origin-form "/p?q" or absolute-form
 * "http://h:80/p?q") into r->path, r->query and, for absolute-form, r->host
 * (when not already set). Returns 0, or ERR_PARSE when it is neither. */
int logrec_set_target(struct logrec *r, const char *p, size_t len);

/* Parses a request line "METHOD TARGET[ PROTO]" into method, path, query,
 * proto. Returns 0 or ERR_PARSE (bad method, no target, binary junk). */
int logrec_set_request(struct logrec *r, const char *p, size_t len);

/* logrec_set_request that also says why a line was refused: *reason gets
 * a static string ("no request line" for "-", "- - HTTP/1.0" and binary
 * junk such as "\x16\x03..."; "bad method"; "no request target"; "bad
 * request target"). reason may be NULL. */
int logrec_parse_request(struct logrec *r, const char *p, size_t len,
                         const char **reason);

/* Sets r->method after checking it is 1..16 characters of A-Z. Returns 0
 * or ERR_PARSE. */
int logrec_set_method(struct logrec *r, const char *p, size_t len);

#endif
