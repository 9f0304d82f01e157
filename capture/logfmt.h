/* logfmt: access-log formats: compiling a format, detecting one from sample
 * lines, and parsing lines into logrec.
 *
 * Formats (names accepted by logfmt_new, as with `--format NAME`):
 *   clf        Common Log Format
 *   combined   Combined (Apache/nginx), extra trailing fields tolerated;
 *              a trailing request time is picked up when detected (nginx
 *              $request_time seconds, Apache %D microseconds)
 *   ingress-nginx  ingress-nginx default (combined + request_length
 *              request_time [upstream] ... req_id)
 *   nginx      any nginx log_format, given as opts->log_format
 *   w3c        W3C extended (IIS), driven by the #Fields: directive
 *   alb, elb   AWS Application / Classic Load Balancer access logs
 *   json       one JSON object per line (nginx JSON logs and others),
 *              keys found by name, overridable with opts->json_map
 *   regex      PCRE2 pattern with named groups, given as opts->regex
 *   generic    anything with a quoted request line, a timestamp, a status
 * Aliases: common = clf, iis = w3c, ingress = ingress-nginx. "auto" is not
 * a name: use logfmt_detect.
 * ts_is_end is 1 for formats that log when the response ended (nginx
 * variables and combined + $request_time, ingress-nginx, w3c, alb, elb,
 * JSON whose time is time_local/time_iso8601/msec), else 0.
 * A struct logfmt holds per-stream state (the W3C #Fields: line), so use one
 * per input file. */
#ifndef MIMIC_LOGFMT_H
#define MIMIC_LOGFMT_H

#include <stddef.h>

#include "logrec.h"

struct logfmt;

struct logfmt_opts {
  const char *log_format;     /* nginx log_format text, for "nginx" */
  const char *regex;          /* PCRE2 pattern with named groups, for "regex":
                                 client ip host user time method path uri
                                 request query status bytes ua referer
                                 latency_s latency_ms latency_us session */
  const char *json_map;       /* "field=key,..." overriding JSON key names;
                                 fields: time client user request method path
                                 query status bytes ua referer latency_s
                                 latency_ms latency_us host session; keys may be
                                 dotted paths into nested objects */
  const char *session_header; /* lower-case header name whose value goes to
                                 logrec.session (e.g. "x-mimic-session") */
  const char *session_cookie; /* cookie name whose value goes to
                                 logrec.session */
};

/* Line outcome, besides negative errors. */
enum {
  LOGFMT_OK = 0,        /* *rec holds a request */
  LOGFMT_DIRECTIVE = 1, /* a comment or directive (W3C "#..."): not a request
                           and not malformed; state may have changed */
};

/* Compiles format `name` (see above). On failure returns ERR_USAGE or
 * ERR_PARSE and writes a reason into err (size errlen). */
int logfmt_new(const char *name, const struct logfmt_opts *opts,
               struct logfmt **out, char *err, size_t errlen);

/* Picks the format that parses the most of the n sample lines (ties go to
 * the most specific format), for `--format auto`. Directive lines count for
 * W3C. Returns 0 and a new logfmt in *out, or ERR_FORMAT when no format
 * parses at least half of the non-empty sample lines (or, in a damaged log,
 * at least 32 lines and a tenth of them). For the CLF family
 * the samples also decide clf vs combined and where a trailing request
 * time is; a detected W3C logfmt has already read the samples' #Fields. */
int logfmt_detect(const char *const *lines, const size_t *lens, size_t n,
                  const struct logfmt_opts *opts, struct logfmt **out);

/* Parses one line (without its newline; a trailing '\r' is ignored).
 * Returns LOGFMT_OK, LOGFMT_DIRECTIVE, or ERR_PARSE with *reason set to a
 * short static description ("bad status", "no request line", ...).
 * The slices in *rec point into line or, where a value had to be decoded
 * (JSON strings, W3C '+' in agents), into memory owned by f: they are
 * valid while line is and until the next logfmt_parse on f. */
int logfmt_parse(struct logfmt *f, const char *line, size_t len,
                 struct logrec *rec, const char **reason);

/* Short name ("combined", "nginx", ...) and a one-line human description
 * of what was compiled or detected (e.g. "combined + $request_time (s)"). */
const char *logfmt_name(const struct logfmt *f);
const char *logfmt_describe(const struct logfmt *f);

void logfmt_free(struct logfmt *f);

#endif
