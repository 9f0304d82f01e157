/* logfmt_impl: what the logfmt_*.c files share and nobody else should use
 * (the fuzz target reads it to check where slices point). */
#ifndef MIMIC_LOGFMT_IMPL_H
#define MIMIC_LOGFMT_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "logfmt.h"
#include "logrec.h"

/* How the CLF family finds a trailing request time (decided from samples
 * by logfmt_detect, or defaulted by name). */
enum {
  LOGFMT_RT_NONE = 0,
  LOGFMT_RT_SECONDS, /* nginx $request_time: "0.003" */
  LOGFMT_RT_MICROS,  /* Apache %D: "3021" */
};

typedef int logfmt_parse_fn(struct logfmt *f, const char *line, size_t len,
                            struct logrec *r, const char **reason);

struct logfmt {
  const char *name; /* static */
  char desc[160];
  logfmt_parse_fn *parse; /* per format; line has no '\r' and len > 0 */
  void (*impl_free)(void *impl);
  void *impl;           /* per-format state, owned */
  int rt_unit;          /* CLF family: LOGFMT_RT_* */
  int rt_index;         /* CLF family: which trailing field */
  int rt_detected;      /* CLF family: chosen from samples */
  char *session_header; /* owned copies of the options, or NULL */
  size_t session_header_len;
  char *session_cookie;
  size_t session_cookie_len;
  /* Scratch for values that cannot be slices of the line (JSON strings,
   * W3C '+'-decoded agents). Reset per line, never moved within a line:
   * logfmt_arena_reset reserves room up front. */
  char *arena;
  size_t arena_len, arena_cap;
};

/* Format constructors: fill f->parse (and impl, name, desc). */
void logfmt_clf_init(struct logfmt *f, const char *name, int rt_unit,
                     int rt_index, int detected);
void logfmt_ingress_init(struct logfmt *f);
int logfmt_nginx_compile(struct logfmt *f, const char *text, char *err,
                         size_t errlen);
int logfmt_w3c_init(struct logfmt *f);
void logfmt_aws_init(struct logfmt *f, int alb);
int logfmt_json_compile(struct logfmt *f, const char *map, char *err,
                        size_t errlen);
int logfmt_regex_compile(struct logfmt *f, const char *pattern, char *err,
                         size_t errlen);
void logfmt_generic_init(struct logfmt *f);

/* The fields after the user agent of a CLF-family line (at most max, into
 * tok, quotes stripped). Returns how many; -2 when the line parses but has
 * no referer and user agent (Common Log Format); -1 when it does not
 * parse. Used by detection to find a trailing request time. */
int logfmt_clf_trailing(const char *line, size_t len, struct slice *tok,
                        int max);

/* 1 when p[0..len) lies within the line or within memory the logfmt owns
 * (its arena), or is one of logrec's static strings. For tests. */
int logfmt_slice_ok(const struct logfmt *f, const char *line, size_t len,
                    struct slice s);

/* snprintf into err when err is not NULL and errlen > 0. */
void logfmt_set_err(char *err, size_t errlen, const char *fmt, ...);

/* Arena: reserve at least need bytes for this line (drops the previous
 * line's values). Returns 0 or -ENOMEM. */
int logfmt_arena_reset(struct logfmt *f, size_t need);
/* Copies len bytes into the arena; NULL when the reservation is used up. */
char *logfmt_arena_put(struct logfmt *f, const char *p, size_t len);

/* Next field at *pos (fields are separated by single spaces or tabs; a
 * field opening with '"' runs to its closing quote, backslash escapes
 * honoured, and is returned without the quotes). Returns 1 and advances
 * *pos past the separator, 0 at the end, -1 on an unterminated quote. */
int logfmt_field(const char **pos, const char *end, struct slice *out,
                 int *quoted);

/* Decimal seconds ("0.003", "12") into microseconds; -1 for "-", empty or
 * junk. */
int64_t logfmt_seconds_us(const char *p, size_t len);
/* Sum of a comma-separated list of seconds ("0.000, 1.000"); -1 when
 * none is a number. */
int64_t logfmt_seconds_list_us(const char *p, size_t len);
/* Unsigned decimal (at most 18 digits) or -1. */
int64_t logfmt_uint(const char *p, size_t len);
/* Three-digit status 100..599, or -1. */
int logfmt_status(const char *p, size_t len);

/* 1 for 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
int logfmt_is_loopback(const char *p, size_t len);
/* First address of an X-Forwarded-For list, trimmed; len 0 when the list
 * holds no address ("-", empty). */
struct slice logfmt_xff_first(const char *p, size_t len);
/* Strips ":port" from "1.2.3.4:80" or "[::1]:80" (to "::1"); leaves bare
 * IPv6 addresses alone. */
struct slice logfmt_strip_port(const char *p, size_t len);

/* Value of cookie `name` in a Cookie header ("a=1; b=2"; '+' counts as a
 * space, as W3C logs write it). Returns 1 and sets *out when found. */
int logfmt_cookie(const char *p, size_t len, const char *name, size_t nlen,
                  struct slice *out);
/* 1 when header names a and b are equal ignoring case, with '_' and '-'
 * taken as the same character ($http_x_session vs "x-session"). */
int logfmt_name_eq(const char *a, size_t alen, const char *b, size_t blen);

/* p[0..len), with "-" read as absent (what every log writes for empty). */
static inline struct slice logfmt_dash(const char *p, size_t len) {
  struct slice s = {p, len};
  if (len == 1 && p[0] == '-') s.len = 0;
  return s;
}

/* The closing quote of a quoted field whose content starts at p: the first
 * '"' not escaped by an odd run of backslashes and followed by a space, a
 * tab or the end. A quote followed by anything else is taken as content,
 * which keeps lines of writers that do not escape quotes usable. */
static inline const char *logfmt_qend(const char *p, const char *end) {
  const char *q = p;
  while (q < end && (q = memchr(q, '"', (size_t)(end - q))) != NULL) {
    const char *b = q;
    while (b > p && b[-1] == '\\') b--;
    if (((q - b) & 1) == 0 && (q + 1 == end || q[1] == ' ' || q[1] == '\t'))
      return q;
    q++;
  }
  return NULL;
}

static inline int logfmt_is_digit(char c) {
  return c >= '0' && c <= '9';
}

#endif
