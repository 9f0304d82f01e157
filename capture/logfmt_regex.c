/* regex: a user's PCRE2 pattern with named groups, for formats nothing else
 * reads. Compiled once (JIT when available); the match data and a bounded
 * match context are reused for every line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

/* A pattern that backtracks catastrophically on some line fails that line
 * ("regex match limit") instead of stalling the capture. */
#define MATCH_LIMIT 1000000
#define DUP_MAX 8

enum rgroup {
  RG_CLIENT,
  RG_IP,
  RG_HOST,
  RG_USER,
  RG_TIME,
  RG_METHOD,
  RG_PATH,
  RG_URI,
  RG_REQUEST,
  RG_QUERY,
  RG_STATUS,
  RG_BYTES,
  RG_UA,
  RG_REFERER,
  RG_LAT_S,
  RG_LAT_MS,
  RG_LAT_US,
  RG_SESSION,
  RG_COUNT,
};

static const char *const group_names[RG_COUNT] = {
    "client", "ip",      "host",      "user",       "time",       "method",
    "path",   "uri",     "request",   "query",      "status",     "bytes",
    "ua",     "referer", "latency_s", "latency_ms", "latency_us", "session",
};

struct rfmt {
  pcre2_code *code;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  pcre2_jit_stack *jit_stack;
  /* Group numbers per field; (?J) allows a name on several groups, and
   * the first that took part in the match wins. */
  uint32_t groups[RG_COUNT][DUP_MAX];
  int ngroups[RG_COUNT];
};

static logfmt_parse_fn regex_parse;

static void rfmt_free(void *p) {
  struct rfmt *x = p;
  if (!x) return;
  pcre2_match_data_free(x->md);
  pcre2_match_context_free(x->mctx);
  pcre2_jit_stack_free(x->jit_stack);
  pcre2_code_free(x->code);
  free(x);
}

static void find_groups(struct rfmt *x) {
  uint32_t entry_size = 0;
  pcre2_pattern_info(x->code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  for (int g = 0; g < RG_COUNT; g++) {
    PCRE2_SPTR first, last;
    int rc = pcre2_substring_nametable_scan(x->code, (PCRE2_SPTR)group_names[g],
                                            &first, &last);
    if (rc < 0) continue;
    for (PCRE2_SPTR e = first; e <= last && x->ngroups[g] < DUP_MAX;
         e += entry_size)
      x->groups[g][x->ngroups[g]++] = ((uint32_t)e[0] << 8) | e[1];
  }
}

int logfmt_regex_compile(struct logfmt *f, const char *pattern, char *err,
                         size_t errlen) {
  struct rfmt *x = calloc(1, sizeof *x);
  int rc = 0, ec;
  PCRE2_SIZE off;
  if (!x) return -ENOMEM;
  x->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &ec,
                          &off, NULL);
  if (!x->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof msg);
    logfmt_set_err(err, errlen, "regex: %s at offset %zu", (char *)msg,
                   (size_t)off);
    rc = ERR_PARSE;
    goto out;
  }
  find_groups(x);
  int has_target = x->ngroups[RG_PATH] || x->ngroups[RG_URI];
  if (!x->ngroups[RG_TIME]) {
    logfmt_set_err(err, errlen, "regex has no (?<time>...) group");
    rc = ERR_PARSE;
    goto out;
  }
  if (!x->ngroups[RG_REQUEST] && !(x->ngroups[RG_METHOD] && has_target)) {
    logfmt_set_err(err, errlen,
                   "regex has no (?<request>...) group (nor (?<method>...) "
                   "with (?<path>...) or (?<uri>...))");
    rc = ERR_PARSE;
    goto out;
  }
  /* JIT is an optimisation: without it (unsupported CPU, no executable
   * memory) pcre2_match interprets. */
  if (pcre2_jit_compile(x->code, PCRE2_JIT_COMPLETE) == 0) {
    x->jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
  }
  x->md = pcre2_match_data_create_from_pattern(x->code, NULL);
  x->mctx = pcre2_match_context_create(NULL);
  if (!x->md || !x->mctx) {
    rc = -ENOMEM;
    goto out;
  }
  pcre2_set_match_limit(x->mctx, MATCH_LIMIT);
  if (x->jit_stack) pcre2_jit_stack_assign(x->mctx, NULL, x->jit_stack);
  f->name = "regex";
  snprintf(f->desc, sizeof f->desc, "regex /%.120s%s/", pattern,
           strlen(pattern) > 120 ? "..." : "");
  f->parse = regex_parse;
  f->impl = x;
  f->impl_free = rfmt_free;
  x = NULL;
out:
  rfmt_free(x);
  return rc;
}

/* The captured text of field g, or len 0 when no group of that name took
 * part in the match. */
static struct slice group(const struct rfmt *x, const char *line, int rc,
                          enum rgroup g) {
  struct slice s = {"", 0};
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
  for (int i = 0; i < x->ngroups[g]; i++) {
    uint32_t n = x->groups[g][i];
    if ((int)n >= rc || ov[2 * n] == PCRE2_UNSET) continue;
    s.p = line + ov[2 * n];
    s.len = ov[2 * n + 1] - ov[2 * n];
    return s;
  }
  return s;
}

static int regex_parse(struct logfmt *f, const char *line, size_t len,
                       struct logrec *r, const char **why) {
  const struct rfmt *x = f->impl;
  int rc = pcre2_match(x->code, (PCRE2_SPTR)line, len, 0, 0, x->md, x->mctx);
  if (rc < 0) {
    *why = rc == PCRE2_ERROR_NOMATCH ? "no match" : "regex match limit";
    return ERR_PARSE;
  }
  if (rc == 0) rc = (int)pcre2_get_ovector_count(x->md);
  struct slice s = group(x, line, rc, RG_TIME);
  size_t used;
  if (s.len == 0 || logtime_any(s.p, s.len, &r->ts_us, &used) < 0 ||
      used != s.len) {
    r->ts_us = LOGREC_NO_TIME;
    *why = s.len ? "bad time" : "no time";
    return ERR_PARSE;
  }
  r->ts_res_us = logtime_resolution(s.p, s.len);
  s = group(x, line, rc, RG_REQUEST);
  if (s.len) {
    if (logrec_parse_request(r, s.p, s.len, why) < 0) return ERR_PARSE;
  } else {
    s = group(x, line, rc, RG_METHOD);
    if (s.len == 0 || (s.len == 1 && s.p[0] == '-')) {
      *why = "no request line";
      return ERR_PARSE;
    }
    if (logrec_set_method(r, s.p, s.len) < 0) {
      *why = "bad method";
      return ERR_PARSE;
    }
    s = group(x, line, rc, RG_URI);
    if (s.len == 0) s = group(x, line, rc, RG_PATH);
    if (logrec_set_target(r, s.p, s.len) < 0) {
      *why = s.len ? "bad request target" : "no request target";
      return ERR_PARSE;
    }
  }
  if (r->query.len == 0) {
    s = group(x, line, rc, RG_QUERY);
    r->query = logfmt_dash(s.p, s.len);
  }
  s = group(x, line, rc, RG_STATUS);
  if (s.len) {
    r->status = logfmt_status(s.p, s.len);
    if (r->status < 0) {
      *why = "bad status";
      return ERR_PARSE;
    }
  }
  s = group(x, line, rc, RG_BYTES);
  if (s.len)
    r->resp_bytes = s.len == 1 && s.p[0] == '-' ? 0 : logfmt_uint(s.p, s.len);
  s = group(x, line, rc, RG_CLIENT);
  if (s.len == 0) s = group(x, line, rc, RG_IP);
  r->client = logfmt_dash(s.p, s.len);
  s = group(x, line, rc, RG_HOST);
  if (r->host.len == 0) r->host = logfmt_dash(s.p, s.len);
  s = group(x, line, rc, RG_USER);
  r->user = logfmt_dash(s.p, s.len);
  s = group(x, line, rc, RG_UA);
  r->ua = logfmt_dash(s.p, s.len);
  s = group(x, line, rc, RG_REFERER);
  r->referer = logfmt_dash(s.p, s.len);
  s = group(x, line, rc, RG_SESSION);
  r->session = logfmt_dash(s.p, s.len);
  /* Seconds, milliseconds or microseconds, decimals allowed in each. */
  static const int64_t per_us[3] = {1, 1000, 1000000};
  for (int u = 0; u < 3 && r->latency_us < 0; u++) {
    s = group(x, line, rc, (enum rgroup)(RG_LAT_S + u));
    int64_t v = s.len ? logfmt_seconds_us(s.p, s.len) : -1;
    if (v >= 0) r->latency_us = v / per_us[u];
  }
  return LOGFMT_OK;
}
