#include "logfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"

#define TRAIL_MAX 8

void logfmt_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int dup_opt(const char *s, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (!s || !*s) return 0;
  *len = strlen(s);
  *out = malloc(*len + 1);
  if (!*out) return -ENOMEM;
  memcpy(*out, s, *len + 1);
  return 0;
}

void logfmt_free(struct logfmt *f) {
  if (!f) return;
  if (f->impl_free) f->impl_free(f->impl);
  free(f->session_header);
  free(f->session_cookie);
  free(f->arena);
  free(f);
}

int logfmt_new(const char *name, const struct logfmt_opts *opts,
               struct logfmt **out, char *err, size_t errlen) {
  static const struct logfmt_opts no_opts = {0};
  struct logfmt *f = NULL;
  int rc = 0;
  if (!opts) opts = &no_opts;
  if (!name) {
    logfmt_set_err(err, errlen, "no format name");
    return ERR_USAGE;
  }
  f = calloc(1, sizeof *f);
  if (!f) return -ENOMEM;
  rc =
      dup_opt(opts->session_header, &f->session_header, &f->session_header_len);
  if (rc == 0)
    rc = dup_opt(opts->session_cookie, &f->session_cookie,
                 &f->session_cookie_len);
  if (rc < 0) {
    logfmt_set_err(err, errlen, "out of memory");
    goto out;
  }
  if (!strcmp(name, "clf") || !strcmp(name, "common")) {
    logfmt_clf_init(f, "clf", LOGFMT_RT_NONE, 0, 0);
  } else if (!strcmp(name, "combined")) {
    /* Without samples, a decimal first trailing field is the usual nginx
     * "combined + $request_time"; anything else there is ignored. */
    logfmt_clf_init(f, "combined", LOGFMT_RT_SECONDS, 0, 0);
  } else if (!strcmp(name, "ingress-nginx") || !strcmp(name, "ingress")) {
    logfmt_ingress_init(f);
  } else if (!strcmp(name, "nginx")) {
    if (!opts->log_format || !*opts->log_format) {
      logfmt_set_err(err, errlen, "format nginx needs a log_format");
      rc = ERR_USAGE;
      goto out;
    }
    rc = logfmt_nginx_compile(f, opts->log_format, err, errlen);
  } else if (!strcmp(name, "w3c") || !strcmp(name, "iis")) {
    rc = logfmt_w3c_init(f);
  } else if (!strcmp(name, "alb")) {
    logfmt_aws_init(f, 1);
  } else if (!strcmp(name, "elb")) {
    logfmt_aws_init(f, 0);
  } else if (!strcmp(name, "json")) {
    rc = logfmt_json_compile(f, opts->json_map, err, errlen);
  } else if (!strcmp(name, "regex")) {
    if (!opts->regex || !*opts->regex) {
      logfmt_set_err(err, errlen, "format regex needs a pattern");
      rc = ERR_USAGE;
      goto out;
    }
    rc = logfmt_regex_compile(f, opts->regex, err, errlen);
  } else if (!strcmp(name, "generic")) {
    logfmt_generic_init(f);
  } else {
    logfmt_set_err(err, errlen,
                   "unknown log format '%s' (known: clf combined ingress-nginx "
                   "nginx w3c alb elb json regex generic; auto detects)",
                   name);
    rc = ERR_USAGE;
  }
  if (rc == -ENOMEM) logfmt_set_err(err, errlen, "out of memory");
out:
  if (rc < 0) {
    logfmt_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

static size_t trim_len(const char *p, size_t len) {
  while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n')) len--;
  return len;
}

static int blank(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != ' ' && p[i] != '\t') return 0;
  return 1;
}

int logfmt_parse(struct logfmt *f, const char *line, size_t len,
                 struct logrec *rec, const char **reason) {
  const char *why = NULL;
  int rc;
  logrec_clear(rec);
  len = trim_len(line, len);
  if (blank(line, len)) {
    why = "empty line";
    rc = ERR_PARSE;
    goto out;
  }
  f->arena_len = 0;
  rc = f->parse(f, line, len, rec, &why);
  if (rc != LOGFMT_OK) goto out;
  /* Invariants every format promises, checked once here. */
  if (rec->ts_us == LOGREC_NO_TIME) {
    why = "no time";
    rc = ERR_PARSE;
  } else if (rec->status != 0 && (rec->status < 100 || rec->status > 599)) {
    why = "bad status";
    rc = ERR_PARSE;
  } else if (rec->method.len == 0 || rec->path.len == 0) {
    why = "no request line";
    rc = ERR_PARSE;
  }
  if (rec->ts_res_us <= 0) rec->ts_res_us = 1000000;
out:
  if (rc < 0 && reason) *reason = why ? why : "malformed line";
  return rc;
}

const char *logfmt_name(const struct logfmt *f) {
  return f->name;
}

const char *logfmt_describe(const struct logfmt *f) {
  return f->desc;
}

/* Detection ---------------------------------------------------------- */

static int is_decimal(struct slice s) {
  size_t i = 0, d = 0;
  while (i < s.len && logfmt_is_digit(s.p[i])) i++;
  if (i == 0 || i == s.len || s.p[i] != '.') return 0;
  for (i++; i < s.len && logfmt_is_digit(s.p[i]); i++) d++;
  return i == s.len && d > 0;
}

static int is_integer(struct slice s) {
  if (s.len == 0 || s.len > 12) return 0;
  for (size_t i = 0; i < s.len; i++)
    if (!logfmt_is_digit(s.p[i])) return 0;
  return 1;
}

/* Finds a request time among the fields after the user agent: the field
 * that is a decimal in at least half of the lines is nginx
 * $request_time; failing that, an integer that ends the line is Apache
 * %D, but only when it is the sole integer field, since two (as in
 * Apache's combinedio "%I %O") are byte counts. */
static void pick_request_time(const char *const *lines, const size_t *lens,
                              size_t n, int *unit, int *index) {
  size_t dec[TRAIL_MAX] = {0}, num[TRAIL_MAX] = {0}, last[TRAIL_MAX] = {0};
  size_t ok = 0;
  struct slice tok[TRAIL_MAX];
  *unit = LOGFMT_RT_NONE;
  *index = 0;
  for (size_t i = 0; i < n; i++) {
    int k = logfmt_clf_trailing(lines[i], trim_len(lines[i], lens[i]), tok,
                                TRAIL_MAX);
    if (k < 0) continue;
    ok++;
    for (int j = 0; j < k; j++) {
      dec[j] += is_decimal(tok[j]);
      num[j] += is_integer(tok[j]);
      if (j == k - 1) last[j] += is_integer(tok[j]);
    }
  }
  if (ok == 0) return;
  size_t best = 0;
  for (int j = 0; j < TRAIL_MAX; j++) {
    if (dec[j] * 2 >= ok && dec[j] > best) {
      best = dec[j];
      *unit = LOGFMT_RT_SECONDS;
      *index = j;
    }
  }
  if (*unit != LOGFMT_RT_NONE) return;
  int ints = 0, at = -1;
  for (int j = 0; j < TRAIL_MAX; j++) {
    if (num[j] * 2 >= ok && num[j] > 0) {
      ints++;
      at = j;
    }
  }
  if (ints == 1 && last[at] * 2 >= ok) {
    *unit = LOGFMT_RT_MICROS;
    *index = at;
  }
}

/* Any sample line with a referer and user agent makes it "combined". */
static int has_referer(const char *const *lines, const size_t *lens, size_t n) {
  struct slice tok[1];
  for (size_t i = 0; i < n; i++)
    if (logfmt_clf_trailing(lines[i], trim_len(lines[i], lens[i]), tok, 0) >= 0)
      return 1;
  return 0;
}

static size_t score(struct logfmt *f, const char *const *lines,
                    const size_t *lens, size_t n, int directives) {
  struct logrec r;
  const char *why;
  size_t ok = 0;
  for (size_t i = 0; i < n; i++) {
    int rc = logfmt_parse(f, lines[i], lens[i], &r, &why);
    if (rc == LOGFMT_OK || (directives && rc == LOGFMT_DIRECTIVE)) ok++;
  }
  return ok;
}

#define DETECT_MIN_LINES 32

int logfmt_detect(const char *const *lines, const size_t *lens, size_t n,
                  const struct logfmt_opts *opts, struct logfmt **out) {
  /* Tie order: the most specific first, so that a format which parses
   * the same lines as a looser one wins. */
  static const char *const cands[] = {
      "w3c", "alb", "elb", "json", "ingress-nginx", "combined", "generic"};
  struct logfmt *best = NULL;
  size_t best_ok = 0, nonempty = 0;
  int w3c = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = trim_len(lines[i], lens[i]);
    if (!blank(lines[i], len)) nonempty++;
    if (len >= 8 && memcmp(lines[i], "#Fields:", 8) == 0) w3c = 1;
  }
  if (nonempty == 0) return ERR_FORMAT;
  for (size_t c = 0; c < sizeof cands / sizeof cands[0]; c++) {
    struct logfmt *f;
    if (w3c && c > 0) break;
    int rc = logfmt_new(cands[c], opts, &f, NULL, 0);
    if (rc == -ENOMEM) {
      logfmt_free(best);
      return rc;
    }
    if (rc < 0) continue;
    size_t ok = score(f, lines, lens, n, c == 0);
    if (ok > best_ok) {
      logfmt_free(best);
      best = f;
      best_ok = ok;
    } else {
      logfmt_free(f);
    }
  }
  /* Half the lines decide. A large sample in which a strict format still
   * parses DETECT_MIN_LINES lines and a tenth of the lines is also clear:
   * such a log is damaged (fragments, binary junk), not of another
   * format, since garbage parses as none of them. */
  if (!best || (best_ok * 2 < nonempty &&
                (best_ok < DETECT_MIN_LINES || best_ok * 10 < nonempty))) {
    logfmt_free(best);
    return ERR_FORMAT;
  }
  if (!strcmp(best->name, "combined")) {
    int unit, index;
    pick_request_time(lines, lens, n, &unit, &index);
    const char *name = has_referer(lines, lens, n) ? "combined" : "clf";
    logfmt_clf_init(best, name, unit, index, 1);
  }
  *out = best;
  return 0;
}

/* Helpers shared by the formats -------------------------------------- */

int logfmt_arena_reset(struct logfmt *f, size_t need) {
  f->arena_len = 0;
  if (f->arena_cap >= need) return 0;
  size_t cap = f->arena_cap ? f->arena_cap : 1024;
  while (cap < need) cap *= 2;
  /* The old contents belong to the previous line: no need to keep them. */
  char *a = malloc(cap);
  if (!a) return -ENOMEM;
  free(f->arena);
  f->arena = a;
  f->arena_cap = cap;
  return 0;
}

char *logfmt_arena_put(struct logfmt *f, const char *p, size_t len) {
  if (f->arena_cap - f->arena_len < len) return NULL;
  char *d = f->arena + f->arena_len;
  if (len) memcpy(d, p, len);
  f->arena_len += len;
  return d;
}

int logfmt_slice_ok(const struct logfmt *f, const char *line, size_t len,
                    struct slice s) {
  if (s.len == 0) return s.p != NULL;
  if (s.len == 1 && s.p[0] == '/') return 1;
  if (s.p >= line && s.len <= len && s.p - line <= (ptrdiff_t)(len - s.len))
    return 1;
  if (f->arena && s.p >= f->arena && s.len <= f->arena_len &&
      s.p - f->arena <= (ptrdiff_t)(f->arena_len - s.len))
    return 1;
  return 0;
}

int logfmt_field(const char **pos, const char *end, struct slice *out,
                 int *quoted) {
  const char *p = *pos;
  if (p >= end) return 0;
  if (*p == '"') {
    const char *q = logfmt_qend(p + 1, end);
    if (!q) return -1;
    out->p = p + 1;
    out->len = (size_t)(q - p - 1);
    *quoted = 1;
    p = q + 1;
  } else {
    const char *s = p;
    /* key="a, b" (Apache's X-Forwarded-For="...") is one field. */
    while (p < end && *p != ' ' && *p != '\t') {
      if (*p == '"') {
        const char *q = logfmt_qend(p + 1, end);
        if (q) {
          p = q + 1;
          continue;
        }
      }
      p++;
    }
    out->p = s;
    out->len = (size_t)(p - s);
    *quoted = 0;
  }
  if (p < end) p++;
  *pos = p;
  return 1;
}

int64_t logfmt_seconds_us(const char *p, size_t len) {
  size_t i = 0;
  int64_t s = 0, frac = 0;
  int n = 0;
  while (i < len && logfmt_is_digit(p[i])) {
    if (i == 12) return -1;
    s = s * 10 + (p[i] - '0');
    i++;
  }
  if (i == 0) return -1;
  if (i < len && p[i] == '.') {
    i++;
    while (i < len && logfmt_is_digit(p[i])) {
      if (n < 6) {
        frac = frac * 10 + (p[i] - '0');
        n++;
      }
      i++;
    }
  }
  if (i != len) return -1;
  for (; n < 6; n++) frac *= 10;
  return s * 1000000 + frac;
}

int64_t logfmt_seconds_list_us(const char *p, size_t len) {
  /* ingress-nginx joins retries with ", " and internal redirects with
   * " : "; the request spent the sum of them upstream. */
  int64_t sum = -1;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && p[j] != ',' && p[j] != ':') j++;
    size_t a = i, b = j;
    while (a < b && p[a] == ' ') a++;
    while (b > a && p[b - 1] == ' ') b--;
    int64_t v = logfmt_seconds_us(p + a, b - a);
    if (v >= 0) sum = (sum < 0 ? 0 : sum) + v;
    i = j + 1;
  }
  return sum;
}

int64_t logfmt_uint(const char *p, size_t len) {
  if (len == 0 || len > 18) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!logfmt_is_digit(p[i])) return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

int logfmt_status(const char *p, size_t len) {
  if (len != 3 || !logfmt_is_digit(p[0]) || !logfmt_is_digit(p[1]) ||
      !logfmt_is_digit(p[2]))
    return -1;
  int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  return v >= 100 && v <= 599 ? v : -1;
}

static int has_prefix(const char *p, size_t len, const char *pre) {
  size_t n = strlen(pre);
  return len >= n && memcmp(p, pre, n) == 0;
}

int logfmt_is_loopback(const char *p, size_t len) {
  return has_prefix(p, len, "127.") || has_prefix(p, len, "::ffff:127.") ||
         (len == 3 && memcmp(p, "::1", 3) == 0) ||
         (len == 9 && memcmp(p, "localhost", 9) == 0);
}

struct slice logfmt_xff_first(const char *p, size_t len) {
  struct slice s = {p, 0};
  size_t i = 0, j;
  while (i < len && p[i] == ' ') i++;
  for (j = i; j < len && p[j] != ','; j++) {
  }
  while (j > i && p[j - 1] == ' ') j--;
  s.p = p + i;
  s.len = j - i;
  if ((s.len == 1 && s.p[0] == '-') ||
      (s.len == 7 && memcmp(s.p, "unknown", 7) == 0))
    s.len = 0;
  return s;
}

struct slice logfmt_strip_port(const char *p, size_t len) {
  struct slice s = {p, len};
  if (len > 0 && p[0] == '[') {
    const char *rb = memchr(p, ']', len);
    if (rb) {
      s.p = p + 1;
      s.len = (size_t)(rb - p - 1);
    }
    return s;
  }
  const char *c = memchr(p, ':', len);
  if (c && !memchr(c + 1, ':', len - (size_t)(c - p) - 1))
    s.len = (size_t)(c - p);
  return s;
}

int logfmt_cookie(const char *p, size_t len, const char *name, size_t nlen,
                  struct slice *out) {
  size_t i = 0;
  if (nlen == 0) return 0;
  while (i < len) {
    while (i < len && (p[i] == ' ' || p[i] == '+' || p[i] == ';')) i++;
    size_t k = i;
    while (k < len && p[k] != '=' && p[k] != ';') k++;
    size_t v = k < len && p[k] == '=' ? k + 1 : k;
    size_t e = v;
    while (e < len && p[e] != ';') e++;
    if (k - i == nlen && memcmp(p + i, name, nlen) == 0 && v > k) {
      size_t b = e;
      while (b > v && (p[b - 1] == ' ' || p[b - 1] == '+')) b--;
      out->p = p + v;
      out->len = b - v;
      return 1;
    }
    i = e;
  }
  return 0;
}

int logfmt_name_eq(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen) return 0;
  for (size_t i = 0; i < alen; i++) {
    char x = a[i], y = b[i];
    if (x == '_') x = '-';
    if (y == '_') y = '-';
    if (x >= 'A' && x <= 'Z') x = (char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}
