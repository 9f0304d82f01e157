/* nginx: any log_format, compiled into literals and variables. A variable
 * takes the text up to the next literal, so the line is read in one pass
 * with memchr; quoted variables honour backslash escapes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "logfmt_impl.h"
#include "logtime.h"

#define FORMAT_MAX 65536

enum nvar {
  NV_LITERAL,
  NV_SKIP,
  NV_REMOTE_ADDR,
  NV_REMOTE_USER,
  NV_TIME_LOCAL,
  NV_TIME_ISO,
  NV_MSEC,
  NV_REQUEST,
  NV_METHOD,
  NV_REQUEST_URI,
  NV_URI,
  NV_ARGS,
  NV_STATUS,
  NV_BODY_BYTES,
  NV_BYTES_SENT,
  NV_REQUEST_LENGTH,
  NV_REQUEST_TIME,
  NV_UPSTREAM_TIME,
  NV_REFERER,
  NV_UA,
  NV_XFF,
  NV_HOST,
  NV_SERVER_NAME,
  NV_SESSION,
  NV_HTTP_COOKIE,
};

struct nitem {
  enum nvar var;
  const char *lit; /* NV_LITERAL: text (in nfmt.text) and its length */
  size_t len;
  int quoted; /* between '"' literals: the end honours escapes */
  int list;   /* $upstream_*: values may be "a, b" or "a : b" */
};

struct nfmt {
  struct nitem *items;
  size_t n;
  char *text; /* literal storage */
};

static const struct {
  const char *name;
  enum nvar var;
} vars[] = {
    {"remote_addr", NV_REMOTE_ADDR},
    {"binary_remote_addr", NV_SKIP},
    {"remote_user", NV_REMOTE_USER},
    {"time_local", NV_TIME_LOCAL},
    {"time_iso8601", NV_TIME_ISO},
    {"msec", NV_MSEC},
    {"request", NV_REQUEST},
    {"request_method", NV_METHOD},
    {"request_uri", NV_REQUEST_URI},
    {"uri", NV_URI},
    {"document_uri", NV_URI},
    {"args", NV_ARGS},
    {"query_string", NV_ARGS},
    {"status", NV_STATUS},
    {"body_bytes_sent", NV_BODY_BYTES},
    {"bytes_sent", NV_BYTES_SENT},
    {"request_length", NV_REQUEST_LENGTH},
    {"request_time", NV_REQUEST_TIME},
    {"upstream_response_time", NV_UPSTREAM_TIME},
    {"http_referer", NV_REFERER},
    {"http_user_agent", NV_UA},
    {"http_x_forwarded_for", NV_XFF},
    {"host", NV_HOST},
    {"http_host", NV_HOST},
    {"server_name", NV_SERVER_NAME},
};

static logfmt_parse_fn nginx_parse;

static void nfmt_free(void *p) {
  struct nfmt *nf = p;
  if (!nf) return;
  free(nf->items);
  free(nf->text);
  free(nf);
}

static int is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

static int has_prefix(const char *p, size_t len, const char *pre) {
  size_t n = strlen(pre);
  return len >= n && memcmp(p, pre, n) == 0;
}

static enum nvar lookup(const struct logfmt *f, const char *name, size_t len) {
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    if (strlen(vars[i].name) == len && !memcmp(vars[i].name, name, len))
      return vars[i].var;
  if (len == 11 && !memcmp(name, "http_cookie", 11))
    return f->session_cookie ? NV_HTTP_COOKIE : NV_SKIP;
  if (has_prefix(name, len, "http_") && f->session_header &&
      logfmt_name_eq(name + 5, len - 5, f->session_header,
                     f->session_header_len))
    return NV_SESSION;
  if (has_prefix(name, len, "cookie_") && f->session_cookie &&
      len - 7 == f->session_cookie_len &&
      !memcmp(name + 7, f->session_cookie, len - 7))
    return NV_SESSION;
  return NV_SKIP;
}

/* People paste from nginx.conf: "log_format main '...' '...';" or just the
 * quoted pieces. Joins the pieces into out (NUL-terminated, at most the
 * input's length); plain text is copied as is. */
static void unquote_config(const char *s, char *out) {
  const char *p = s;
  size_t o = 0;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  int config = 0;
  if (!strncmp(p, "log_format", 10) && (p[10] == ' ' || p[10] == '\t')) {
    config = 1;
    p += 10;
    /* name, then an optional escape=... */
    for (int w = 0; w < 2; w++) {
      while (*p == ' ' || *p == '\t' || *p == '\n') p++;
      if (*p == '\'' || *p == '"') break;
      if (w == 1 && strncmp(p, "escape=", 7) != 0) break;
      while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
  } else if (*p == '\'') {
    config = 1;
  }
  if (!config) {
    strcpy(out, s);
    return;
  }
  while (*p) {
    char q = *p;
    if (q == '\'' || q == '"') {
      p++;
      while (*p && *p != q) {
        if (*p == '\\' && p[1] == q) p++;
        out[o++] = *p++;
      }
      if (*p) p++;
    } else if (q == ';') {
      break;
    } else if (q == ' ' || q == '\t' || q == '\n' || q == '\r') {
      p++;
    } else {
      /* An unquoted word: nginx takes it as text too. */
      while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != ';')
        out[o++] = *p++;
    }
  }
  out[o] = '\0';
}

int logfmt_nginx_compile(struct logfmt *f, const char *text, char *err,
                         size_t errlen) {
  size_t tl = strlen(text);
  struct nfmt *nf = NULL;
  char *src = NULL;
  int rc = 0;
  if (tl > FORMAT_MAX) {
    logfmt_set_err(err, errlen, "log_format longer than %d bytes", FORMAT_MAX);
    return ERR_PARSE;
  }
  nf = calloc(1, sizeof *nf);
  src = malloc(tl + 1);
  if (!nf || !src) {
    rc = -ENOMEM;
    goto out;
  }
  unquote_config(text, src);
  size_t sl = strlen(src);
  /* At most one item per character; literal text never grows. */
  nf->items = calloc(sl + 1, sizeof *nf->items);
  nf->text = malloc(sl + 1);
  if (!nf->items || !nf->text) {
    rc = -ENOMEM;
    goto out;
  }
  size_t t = 0;
  int have_request = 0, have_method = 0, have_target = 0, have_time = 0;
  for (size_t i = 0; i < sl;) {
    size_t ns = 0, nl = 0, next = i + 1;
    if (src[i] == '$' && i + 1 < sl && src[i + 1] == '{') {
      const char *cb = memchr(src + i + 2, '}', sl - i - 2);
      if (cb) {
        ns = i + 2;
        nl = (size_t)(cb - src) - ns;
        next = (size_t)(cb - src) + 1;
      }
    } else if (src[i] == '$') {
      ns = i + 1;
      while (ns + nl < sl && is_name_char(src[ns + nl])) nl++;
      next = ns + nl;
    }
    if (nl == 0) {
      /* Literal character: extend the current literal. */
      struct nitem *last = nf->n ? &nf->items[nf->n - 1] : NULL;
      if (!last || last->var != NV_LITERAL) {
        last = &nf->items[nf->n++];
        last->var = NV_LITERAL;
        last->lit = nf->text + t;
        last->len = 0;
      }
      nf->text[t++] = src[i];
      last->len++;
      i++;
      continue;
    }
    struct nitem *it = &nf->items[nf->n++];
    it->var = lookup(f, src + ns, nl);
    it->list = has_prefix(src + ns, nl, "upstream_");
    switch (it->var) {
    case NV_REQUEST: have_request = 1; break;
    case NV_METHOD: have_method = 1; break;
    case NV_REQUEST_URI:
    case NV_URI: have_target = 1; break;
    case NV_TIME_LOCAL:
    case NV_TIME_ISO:
    case NV_MSEC: have_time = 1; break;
    default: break;
    }
    i = next;
  }
  for (size_t i = 0; i < nf->n; i++) {
    struct nitem *it = &nf->items[i];
    if (it->var == NV_LITERAL || i == 0 || i + 1 >= nf->n) continue;
    const struct nitem *a = &nf->items[i - 1], *b = &nf->items[i + 1];
    it->quoted = a->var == NV_LITERAL && b->var == NV_LITERAL &&
                 a->lit[a->len - 1] == '"' && b->lit[0] == '"';
  }
  if (!have_request && !(have_method && have_target)) {
    logfmt_set_err(err, errlen,
                   "log_format has no $request (nor $request_method with "
                   "$request_uri or $uri): requests cannot be read");
    rc = ERR_PARSE;
    goto out;
  }
  if (!have_time) {
    logfmt_set_err(err, errlen,
                   "log_format has no time ($time_local, $time_iso8601 or "
                   "$msec)");
    rc = ERR_PARSE;
    goto out;
  }
  f->name = "nginx";
  snprintf(f->desc, sizeof f->desc, "nginx log_format '%.100s%s'", src,
           sl > 100 ? "..." : "");
  f->parse = nginx_parse;
  f->impl = nf;
  f->impl_free = nfmt_free;
  nf = NULL;
out:
  free(src);
  nfmt_free(nf);
  return rc;
}

/* Where the literal after variable v starts, searching from p. */
static const char *find_end(const struct nitem *v, const struct nitem *lit,
                            const char *p, const char *e) {
  const char *q = p;
  char c0 = lit->lit[0];
  /* Unquoted values with spaces of their own: the time's zone and the
   * request's method and target are not ends. */
  if (!v->quoted && c0 == ' ') {
    if (v->var == NV_TIME_LOCAL) {
      const char *sp = memchr(p, ' ', (size_t)(e - p));
      if (sp) q = sp + 1;
    } else if (v->var == NV_REQUEST) {
      for (const char *h = p; e - h > 6; h++)
        if (h[0] == ' ' && !memcmp(h + 1, "HTTP/", 5)) q = h + 1;
    }
  }
  while ((size_t)(e - q) >= lit->len) {
    q = memchr(q, c0, (size_t)(e - q) - lit->len + 1);
    if (!q) return NULL;
    if (memcmp(q, lit->lit, lit->len) == 0) {
      int ok = 1;
      if (v->quoted) {
        const char *b = q;
        while (b > p && b[-1] == '\\') b--;
        ok = ((q - b) & 1) == 0;
      }
      if (v->list && q > p &&
          (q[-1] == ',' || q[-1] == ':' || (q + 1 < e && q[1] == ':')))
        ok = 0;
      if (ok) return q;
    }
    q++;
  }
  return NULL;
}

/* Two variables in a row ("$status$body_bytes_sent"): nothing marks the
 * end, so the first takes what its kind can hold. */
static const char *word_end(const struct nitem *v, const char *p,
                            const char *e) {
  const char *q = p;
  switch (v->var) {
  case NV_STATUS: return e - p >= 3 ? p + 3 : e;
  case NV_BODY_BYTES:
  case NV_BYTES_SENT:
  case NV_REQUEST_LENGTH:
  case NV_REQUEST_TIME:
  case NV_MSEC:
    while (q < e && (logfmt_is_digit(*q) || *q == '.' || *q == '-')) q++;
    return q;
  default:
    while (q < e && *q != ' ') q++;
    return q;
  }
}

struct nvals {
  struct slice request, method, ruri, uri, args, bytes_sent, upstream, xff,
      server_name, cookie;
};

static int assign(const struct nitem *it, const char *p, size_t len,
                  struct logrec *r, struct nvals *v, const char **why) {
  size_t used;
  switch (it->var) {
  case NV_LITERAL:
  case NV_SKIP: break;
  case NV_REMOTE_ADDR: r->client = logfmt_dash(p, len); break;
  case NV_REMOTE_USER: r->user = logfmt_dash(p, len); break;
  case NV_TIME_LOCAL:
    if (logtime_clf(p, len, &r->ts_us, &used) < 0 || used != len) {
      r->ts_us = LOGREC_NO_TIME;
      *why = "bad time";
      return ERR_PARSE;
    }
    r->ts_res_us = logtime_resolution(p, len);
    break;
  case NV_TIME_ISO:
    if (logtime_iso8601(p, len, &r->ts_us, &used) < 0 || used != len) {
      r->ts_us = LOGREC_NO_TIME;
      *why = "bad time";
      return ERR_PARSE;
    }
    r->ts_res_us = logtime_resolution(p, len);
    break;
  case NV_MSEC:
    if (logtime_epoch(p, len, &r->ts_us, &used) < 0 || used != len) {
      r->ts_us = LOGREC_NO_TIME;
      *why = "bad time";
      return ERR_PARSE;
    }
    r->ts_res_us = logtime_resolution(p, len);
    break;
  case NV_REQUEST: v->request = (struct slice){p, len}; break;
  case NV_METHOD: v->method = (struct slice){p, len}; break;
  case NV_REQUEST_URI: v->ruri = logfmt_dash(p, len); break;
  case NV_URI: v->uri = logfmt_dash(p, len); break;
  case NV_ARGS: v->args = logfmt_dash(p, len); break;
  case NV_STATUS:
    r->status = logfmt_status(p, len);
    if (r->status < 0) {
      *why = "bad status";
      return ERR_PARSE;
    }
    break;
  case NV_BODY_BYTES: r->resp_bytes = logfmt_uint(p, len); break;
  case NV_BYTES_SENT: v->bytes_sent = (struct slice){p, len}; break;
  case NV_REQUEST_LENGTH: r->req_bytes = logfmt_uint(p, len); break;
  case NV_REQUEST_TIME: r->latency_us = logfmt_seconds_us(p, len); break;
  case NV_UPSTREAM_TIME: v->upstream = (struct slice){p, len}; break;
  case NV_REFERER: r->referer = logfmt_dash(p, len); break;
  case NV_UA: r->ua = logfmt_dash(p, len); break;
  case NV_XFF: v->xff = (struct slice){p, len}; break;
  case NV_HOST:
    if (r->host.len == 0) r->host = logfmt_dash(p, len);
    break;
  case NV_SERVER_NAME: v->server_name = logfmt_dash(p, len); break;
  case NV_SESSION:
    if (r->session.len == 0) r->session = logfmt_dash(p, len);
    break;
  case NV_HTTP_COOKIE: v->cookie = (struct slice){p, len}; break;
  }
  return 0;
}

static int request_from_parts(struct logrec *r, const struct nvals *v,
                              const char **why) {
  if (v->request.len)
    return logrec_parse_request(r, v->request.p, v->request.len, why);
  if (v->method.len == 0 || (v->method.len == 1 && v->method.p[0] == '-')) {
    *why = "no request line";
    return ERR_PARSE;
  }
  if (logrec_set_method(r, v->method.p, v->method.len) < 0) {
    *why = "bad method";
    return ERR_PARSE;
  }
  if (v->ruri.len) {
    if (logrec_set_target(r, v->ruri.p, v->ruri.len) < 0) {
      *why = "bad request target";
      return ERR_PARSE;
    }
  } else if (v->uri.len && v->uri.p[0] == '/') {
    r->path = v->uri;
  } else {
    *why = "no request target";
    return ERR_PARSE;
  }
  if (r->query.len == 0 && v->args.len) r->query = v->args;
  return 0;
}

static int nginx_parse(struct logfmt *f, const char *line, size_t len,
                       struct logrec *r, const char **why) {
  const struct nfmt *nf = f->impl;
  const char *p = line, *e = line + len;
  struct nvals v;
  const struct slice none = {"", 0};
  v.request = v.method = v.ruri = v.uri = v.args = v.bytes_sent = none;
  v.upstream = v.xff = v.server_name = v.cookie = none;
  for (size_t i = 0; i < nf->n; i++) {
    const struct nitem *it = &nf->items[i];
    if (it->var == NV_LITERAL) {
      if ((size_t)(e - p) < it->len || memcmp(p, it->lit, it->len) != 0) {
        *why = "line does not match log_format";
        return ERR_PARSE;
      }
      p += it->len;
      continue;
    }
    const char *ve;
    if (i + 1 == nf->n) {
      ve = e;
    } else if (nf->items[i + 1].var == NV_LITERAL) {
      ve = find_end(it, &nf->items[i + 1], p, e);
      if (!ve) {
        *why = "line does not match log_format";
        return ERR_PARSE;
      }
    } else {
      ve = word_end(it, p, e);
    }
    if (assign(it, p, (size_t)(ve - p), r, &v, why) < 0) return ERR_PARSE;
    p = ve;
  }
  if (request_from_parts(r, &v, why) < 0) return ERR_PARSE;
  if (r->resp_bytes < 0 && v.bytes_sent.len)
    r->resp_bytes = logfmt_uint(v.bytes_sent.p, v.bytes_sent.len);
  if (r->latency_us < 0 && v.upstream.len)
    r->latency_us = logfmt_seconds_list_us(v.upstream.p, v.upstream.len);
  if (v.xff.len &&
      (r->client.len == 0 || logfmt_is_loopback(r->client.p, r->client.len))) {
    struct slice x = logfmt_xff_first(v.xff.p, v.xff.len);
    if (x.len) r->client = x;
  }
  if (r->host.len == 0 && v.server_name.len) r->host = v.server_name;
  if (r->session.len == 0 && v.cookie.len)
    logfmt_cookie(v.cookie.p, v.cookie.len, f->session_cookie,
                  f->session_cookie_len, &r->session);
  /* nginx writes the line when the response is done. */
  r->ts_is_end = 1;
  return LOGFMT_OK;
}
