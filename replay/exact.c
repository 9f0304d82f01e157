#include "exact.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "hist.h"
#include "model.h"
#include "trace.h"
#include "units.h"

#define KEEP_BODY (64 << 10) /* response bytes kept for references */
#define KEEP_HDRS (16 << 10)
#define MAX_COPIES 100000

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag++;
  if (stop_flag > 1) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }
}

struct xref {
  char key[8];
  uint32_t src; /* request index in the session */
  char loc[12];
  char *name, *fake;
  int literal;
};

struct xreq {
  uint32_t index;
  int64_t t; /* us since the first recorded request */
  char *method, *url, *body;
  int body_json;
  char **hdrs; /* "Name: value" */
  size_t nhdrs;
  struct xref *refs;
  size_t nrefs;
  int needed; /* a later request refers to its response */
};

struct xsession {
  uint64_t id;
  struct xreq *reqs;
  size_t n, cap;
};

/* A copy of a session being played. */
struct play {
  struct xsession *s;
  uint32_t copy;
  uint64_t gen; /* --loop round */
  size_t next;  /* next request to send */
  int64_t base; /* monotonic us at which t = 0 plays */
  int busy;
  struct inflight *f; /* the request in flight, if busy */
  /* responses kept for references: body and headers per request index */
  char **body, **headers;
};

struct inflight {
  struct play *p;
  CURL *easy;
  struct curl_slist *hdrs;
  char *url, *body;
  char *rbody, *rhdrs;
  size_t rblen, rhlen;
  int64_t sent;
  char errbuf[CURL_ERROR_SIZE];
};

struct opts {
  const char *model, *target, *report, *session_header;
  double speed;
  uint32_t scale;
  int loop, quiet, insecure;
  int64_t duration_us, timeout_ms, stagger_us;
  long max_connections;
  const char **extra;
  size_t nextra;
};

struct run {
  struct opts o;
  struct xsession *sess;
  size_t nsess;
  struct play *plays;
  size_t nplays;
  CURLM *multi;
  int64_t t_start;
  uint64_t sent, answered, errors, resolved, fallback, cls[6];
  struct hist lat;
};

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- loading the trace ----------------------------------------------------
 */

static char *dup_str(json_t *v) {
  const char *s = json_string_value(v);
  return strdup(s ? s : "");
}

static int load_request(json_t *j, struct xreq *r) {
  memset(r, 0, sizeof *r);
  r->index = (uint32_t)json_integer_value(json_object_get(j, "i"));
  r->t = json_integer_value(json_object_get(j, "t"));
  r->method = dup_str(json_object_get(j, "m"));
  r->url = dup_str(json_object_get(j, "u"));
  json_t *b = json_object_get(j, "bj");
  r->body_json = b != NULL;
  if (!b) b = json_object_get(j, "b");
  if (b) r->body = dup_str(b);
  if (!r->method || !r->url || (b && !r->body)) return -ENOMEM;
  json_t *h = json_object_get(j, "h");
  r->nhdrs = json_array_size(h);
  r->hdrs = calloc(r->nhdrs ? r->nhdrs : 1, sizeof *r->hdrs);
  if (!r->hdrs) return -ENOMEM;
  for (size_t i = 0; i < r->nhdrs; i++) {
    json_t *pair = json_array_get(h, i);
    const char *n = json_string_value(json_array_get(pair, 0));
    const char *v = json_string_value(json_array_get(pair, 1));
    size_t len = (n ? strlen(n) : 0) + (v ? strlen(v) : 0) + 3;
    r->hdrs[i] = malloc(len);
    if (!r->hdrs[i]) return -ENOMEM;
    snprintf(r->hdrs[i], len, "%s: %s", n ? n : "x", v ? v : "");
  }
  json_t *refs = json_object_get(j, "r");
  r->nrefs = json_array_size(refs);
  r->refs = calloc(r->nrefs ? r->nrefs : 1, sizeof *r->refs);
  if (!r->refs) return -ENOMEM;
  for (size_t i = 0; i < r->nrefs; i++) {
    json_t *x = json_array_get(refs, i);
    struct xref *f = &r->refs[i];
    snprintf(f->key, sizeof f->key, "%s",
             json_string_value(json_object_get(x, "k"))
                 ? json_string_value(json_object_get(x, "k"))
                 : "");
    f->src = (uint32_t)json_integer_value(json_object_get(x, "i"));
    snprintf(f->loc, sizeof f->loc, "%s",
             json_string_value(json_object_get(x, "loc"))
                 ? json_string_value(json_object_get(x, "loc"))
                 : "");
    f->name = dup_str(json_object_get(x, "name"));
    f->fake = dup_str(json_object_get(x, "f"));
    f->literal = json_is_true(json_object_get(x, "q"));
    if (!f->name || !f->fake) return -ENOMEM;
  }
  return 0;
}

static void free_request(struct xreq *r) {
  free(r->method);
  free(r->url);
  free(r->body);
  for (size_t i = 0; i < r->nhdrs; i++) free(r->hdrs[i]);
  free(r->hdrs);
  for (size_t i = 0; i < r->nrefs; i++) {
    free(r->refs[i].name);
    free(r->refs[i].fake);
  }
  free(r->refs);
}

static int sess_cmp(const void *a, const void *b) {
  const struct xsession *x = a, *y = b;
  int64_t tx = x->n ? x->reqs[0].t : 0, ty = y->n ? y->reqs[0].t : 0;
  return (tx > ty) - (tx < ty);
}

static int req_cmp(const void *a, const void *b) {
  const struct xreq *x = a, *y = b;
  return (x->index > y->index) - (x->index < y->index);
}

static int load_trace(struct run *r, const struct model *m, char *err,
                      size_t errlen) {
  struct trace_chunk *chunks =
      calloc(m->ntraces ? m->ntraces : 1, sizeof *chunks);
  if (!chunks) return -ENOMEM;
  for (size_t i = 0; i < m->ntraces; i++)
    chunks[i] =
        (struct trace_chunk){m->traces[i].data, m->traces[i].len,
                             m->traces[i].requests, m->traces[i].raw_bytes};
  struct trace_reader *rd;
  int rc = trace_reader_new(chunks, m->ntraces, &rd);
  if (rc) goto out;
  const char *line;
  size_t len;
  size_t cap = 0;
  while ((rc = trace_reader_next(rd, &line, &len)) == 1) {
    json_t *j = json_loadb(line, len, 0, NULL);
    if (!j) {
      snprintf(err, errlen, "the recorded trace has a damaged line");
      rc = ERR_CORRUPT;
      break;
    }
    uint64_t sid = (uint64_t)json_integer_value(json_object_get(j, "s"));
    struct xsession *s = NULL;
    /* Lines come in completion order; sessions are few at a time. */
    for (size_t k = r->nsess; k > 0 && k + 64 > r->nsess; k--)
      if (r->sess[k - 1].id == sid) {
        s = &r->sess[k - 1];
        break;
      }
    if (!s) {
      if (r->nsess == cap) {
        cap = cap ? cap * 2 : 64;
        struct xsession *ns = realloc(r->sess, cap * sizeof *ns);
        if (!ns) {
          json_decref(j);
          rc = -ENOMEM;
          break;
        }
        r->sess = ns;
      }
      s = &r->sess[r->nsess++];
      memset(s, 0, sizeof *s);
      s->id = sid;
    }
    if (s->n == s->cap) {
      size_t nc = s->cap ? s->cap * 2 : 8;
      struct xreq *nr = realloc(s->reqs, nc * sizeof *nr);
      if (!nr) {
        json_decref(j);
        rc = -ENOMEM;
        break;
      }
      s->reqs = nr;
      s->cap = nc;
    }
    rc = load_request(j, &s->reqs[s->n++]);
    json_decref(j);
    if (rc) break;
  }
  trace_reader_free(rd);
  if (rc == ERR_CORRUPT && !err[0])
    snprintf(err, errlen, "the recorded trace does not decompress");
  if (rc < 0) goto out;
  rc = 0;
  for (size_t k = 0; k < r->nsess; k++) {
    struct xsession *s = &r->sess[k];
    qsort(s->reqs, s->n, sizeof *s->reqs, req_cmp);
    /* Requests whose answers later ones refer to keep their answers. */
    for (size_t i = 0; i < s->n; i++)
      for (size_t f = 0; f < s->reqs[i].nrefs; f++)
        for (size_t q = 0; q < i; q++)
          if (s->reqs[q].index == s->reqs[i].refs[f].src) s->reqs[q].needed = 1;
  }
  qsort(r->sess, r->nsess, sizeof *r->sess, sess_cmp);
out:
  free(chunks);
  return rc;
}

/* ---- values from this run's responses --------------------------------------
 */

/* Finds a value at a JSON path "$.a.b[].c" (arrays: the first element). */
static json_t *json_at(json_t *root, const char *path) {
  if (strncmp(path, "$", 1) != 0) return NULL;
  const char *p = path + 1;
  json_t *v = root;
  while (*p && v) {
    if (p[0] == '[' && p[1] == ']') {
      v = json_array_get(v, 0);
      p += 2;
    } else if (*p == '.') {
      p++;
      size_t n = strcspn(p, ".[");
      char key[256];
      snprintf(key, sizeof key, "%.*s", (int)n, p);
      v = json_object_get(v, key);
      p += n;
    } else {
      return NULL;
    }
  }
  return v;
}

/* The value a reference points to in the kept response, as text (and as a
 * JSON literal when literal): malloc'd, or NULL. */
static char *resolve(const struct play *pl, const struct xref *f, int literal) {
  size_t idx = 0;
  int found = 0;
  for (; idx < pl->s->n; idx++)
    if (pl->s->reqs[idx].index == f->src) {
      found = 1;
      break;
    }
  if (!found) return NULL;
  const char *body = pl->body[idx], *hdrs = pl->headers[idx];
  if (!strcmp(f->loc, "json")) {
    if (!body) return NULL;
    json_t *root = json_loads(body, JSON_DECODE_ANY, NULL);
    json_t *v = root ? json_at(root, f->name) : NULL;
    char *out = NULL;
    if (v && literal)
      out = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    else if (json_is_string(v))
      out = strdup(json_string_value(v));
    else if (v && (json_is_integer(v) || json_is_real(v)))
      out = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(root);
    return out;
  }
  if (!hdrs) return NULL;
  /* Headers kept as "name: value\n", names lower case. */
  const char *want = !strcmp(f->loc, "cookie")     ? "set-cookie"
                     : !strcmp(f->loc, "location") ? "location"
                                                   : f->name;
  size_t wl = strlen(want);
  for (const char *line = hdrs; *line;) {
    const char *nl = strchr(line, '\n');
    size_t ll = nl ? (size_t)(nl - line) : strlen(line);
    if (ll > wl + 1 && !strncasecmp(line, want, wl) && line[wl] == ':') {
      const char *v = line + wl + 1;
      while (*v == ' ') v++;
      size_t vl = (size_t)(line + ll - v);
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
      if (!strcmp(f->loc, "cookie")) {
        size_t nn = strlen(f->name);
        if (vl > nn && !strncmp(v, f->name, nn) && v[nn] == '=') {
          const char *cv = v + nn + 1;
          size_t cl = strcspn(cv, ";\r\n");
          return strndup(cv, cl);
        }
      } else if (!strcmp(f->loc, "location") &&
                 strncmp(f->name, "segment:", 8) == 0) {
        int want_seg = atoi(f->name + 8), seg = 0;
        const char *p = v, *end = v + vl;
        const char *s3 = strstr(p, "://");
        if (s3 && s3 < end) {
          p = memchr(s3 + 3, '/', (size_t)(end - s3 - 3));
          if (!p) return NULL;
        }
        while (p < end) {
          while (p < end && *p == '/') p++;
          const char *e = p;
          while (e < end && *e != '/' && *e != '?') e++;
          if (++seg == want_seg) return strndup(p, (size_t)(e - p));
          if (e >= end || *e == '?') break;
          p = e;
        }
        return NULL;
      } else {
        return strndup(v, vl);
      }
    }
    line += ll + (nl ? 1 : 0);
  }
  return NULL;
}

/* Replaces every "{{key}}" (and, for JSON literals, "\"{{key}}\"") in s. */
static char *substitute(char *s, const char *key, const char *val,
                        int json_literal, int in_json_string) {
  char pat[24];
  snprintf(pat, sizeof pat, json_literal ? "\"{{%s}}\"" : "{{%s}}", key);
  size_t pl = strlen(pat);
  char *esc = NULL;
  const char *ins = val;
  if (in_json_string && !json_literal) {
    /* Inside a JSON string: escape the value as JSON text. */
    json_t *js = json_string(val);
    esc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    if (esc) {
      size_t el = strlen(esc);
      memmove(esc, esc + 1, el - 2);
      esc[el - 2] = '\0';
      ins = esc;
    }
  }
  size_t il = strlen(ins), from = 0;
  for (;;) {
    char *at = strstr(s + from, pat);
    if (!at) break;
    size_t before = (size_t)(at - s), after = strlen(at + pl);
    char *ns = malloc(before + il + after + 1);
    if (!ns) break;
    memcpy(ns, s, before);
    memcpy(ns + before, ins, il);
    memcpy(ns + before + il, at + pl, after + 1);
    free(s);
    s = ns;
    from = before + il; /* never inside what was put in */
  }
  free(esc);
  return s;
}

/* ---- sending
 * ------------------------------------------------------------------ */

/* Appends p to buf (NUL-terminated, cap bytes with the NUL) when it fits
 * whole: what is kept is a prefix of whole chunks. */
static void keep(char *buf, size_t *used, size_t cap, const char *p,
                 size_t len) {
  if (!buf || *used + len >= cap) return;
  memcpy(buf + *used, p, len);
  *used += len;
  buf[*used] = '\0';
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct inflight *f = arg;
  keep(f->rbody, &f->rblen, KEEP_BODY, p, size * n);
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  struct inflight *f = arg;
  keep(f->rhdrs, &f->rhlen, KEEP_HDRS, p, size * n);
  return size * n;
}

static int send_next(struct run *r, struct play *pl) {
  struct xreq *q = &pl->s->reqs[pl->next];
  struct inflight *f = calloc(1, sizeof *f);
  if (!f) return -ENOMEM;
  f->p = pl;
  char *url = strdup(q->url), *body = q->body ? strdup(q->body) : NULL;
  char **hv = calloc(q->nhdrs ? q->nhdrs : 1, sizeof *hv);
  if (!url || (q->body && !body) || !hv) goto nomem;
  for (size_t i = 0; i < q->nhdrs; i++)
    if (!(hv[i] = strdup(q->hdrs[i]))) goto nomem;
  for (size_t i = 0; i < q->nrefs; i++) {
    const struct xref *x = &q->refs[i];
    char *v = resolve(pl, x, 0);
    char *lit = x->literal ? resolve(pl, x, 1) : NULL;
    if (v)
      r->resolved++;
    else
      r->fallback++;
    const char *use = v ? v : x->fake;
    url = substitute(url, x->key, use, 0, 0);
    for (size_t k = 0; k < q->nhdrs; k++)
      hv[k] = substitute(hv[k], x->key, use, 0, 0);
    if (body && q->body_json) {
      if (x->literal) {
        json_t *fk = json_string(x->fake);
        char *fl = fk ? json_dumps(fk, JSON_ENCODE_ANY) : NULL;
        json_decref(fk);
        body = substitute(body, x->key, lit ? lit : fl ? fl : "null", 1, 0);
        free(fl);
      }
      body = substitute(body, x->key, use, 0, 1);
    } else if (body) {
      body = substitute(body, x->key, use, 0, 0);
    }
    free(v);
    free(lit);
  }
  size_t tl = strlen(r->o.target);
  f->url = malloc(tl + strlen(url) + 1);
  if (!f->url) goto nomem;
  memcpy(f->url, r->o.target, tl);
  if (tl && r->o.target[tl - 1] == '/' && url[0] == '/') tl--;
  strcpy(f->url + tl, url);
  free(url);
  url = NULL;
  for (size_t k = 0; k < q->nhdrs; k++) {
    struct curl_slist *n = curl_slist_append(f->hdrs, hv[k]);
    if (!n) goto nomem;
    f->hdrs = n;
  }
  for (size_t k = 0; k < r->o.nextra; k++)
    f->hdrs = curl_slist_append(f->hdrs, r->o.extra[k]);
  if (r->o.session_header) {
    char sh[160];
    snprintf(sh, sizeof sh, "%s: %" PRIu64 ".%" PRIu32, r->o.session_header,
             (uint64_t)(pl->s->id + pl->gen * 1000000000ULL), pl->copy);
    f->hdrs = curl_slist_append(f->hdrs, sh);
  }
  /* No "Expect: 100-continue" round trip: the recording had its own. */
  f->hdrs = curl_slist_append(f->hdrs, "Expect:");
  if (q->needed) {
    f->rbody = malloc(KEEP_BODY);
    f->rhdrs = malloc(KEEP_HDRS);
    if (!f->rbody || !f->rhdrs) goto nomem;
    f->rbody[0] = f->rhdrs[0] = '\0';
  }
  f->body = body;
  body = NULL;
  CURL *e = f->easy = curl_easy_init();
  if (!e) goto nomem;
  curl_easy_setopt(e, CURLOPT_URL, f->url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
  if (!strcmp(q->method, "HEAD")) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
  if (f->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
  curl_easy_setopt(e, CURLOPT_PRIVATE, f);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->o.timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (r->o.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  f->sent = mono_us();
  if (curl_multi_add_handle(r->multi, e) != CURLM_OK) goto nomem;
  for (size_t k = 0; k < q->nhdrs; k++) free(hv[k]);
  free(hv);
  pl->busy = 1;
  pl->f = f;
  r->sent++;
  return 0;
nomem:
  if (hv)
    for (size_t k = 0; k < q->nhdrs; k++) free(hv[k]);
  free(hv);
  free(url);
  free(body);
  if (f->easy) curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->hdrs);
  free(f->url);
  free(f->body);
  free(f->rbody);
  free(f->rhdrs);
  free(f);
  return -ENOMEM;
}

static void finish(struct run *r, CURLMsg *msg) {
  struct inflight *f;
  curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
  struct play *pl = f->p;
  long status = 0;
  if (msg->data.result == CURLE_OK) {
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    r->answered++;
    int c = (int)(status / 100);
    r->cls[c >= 1 && c <= 5 ? c : 0]++;
    int64_t lat = mono_us() - f->sent;
    hist_record(&r->lat, lat > 0 ? (uint64_t)lat : 0);
  } else {
    r->errors++;
  }
  size_t i = pl->next;
  if (f->rbody) {
    free(pl->body[i]);
    free(pl->headers[i]);
    pl->body[i] = f->rbody;
    pl->headers[i] = f->rhdrs;
    f->rbody = f->rhdrs = NULL;
  }
  pl->next++;
  pl->busy = 0;
  pl->f = NULL;
  curl_multi_remove_handle(r->multi, msg->easy_handle);
  curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->hdrs);
  free(f->url);
  free(f->body);
  free(f->rbody);
  free(f->rhdrs);
  free(f);
}

static void reset_play(struct play *pl, int64_t base, uint64_t gen) {
  for (size_t i = 0; i < pl->s->n; i++) {
    free(pl->body[i]);
    free(pl->headers[i]);
    pl->body[i] = pl->headers[i] = NULL;
  }
  pl->next = 0;
  pl->busy = 0;
  pl->base = base;
  pl->gen = gen;
}

static int write_report(struct run *r, double secs) {
  FILE *f = fopen(r->o.report, "w");
  if (!f) return -errno;
  json_t *j = json_pack(
      "{s:s, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, "
      "s:I, s:f, s:f, s:I}",
      "mode", "exact", "sessions", (json_int_t)r->nsess, "copies",
      (json_int_t)r->o.scale, "requests", (json_int_t)r->sent, "responses",
      (json_int_t)r->answered, "errors", (json_int_t)r->errors, "status", "1xx",
      (json_int_t)r->cls[1], "2xx", (json_int_t)r->cls[2], "3xx",
      (json_int_t)r->cls[3], "4xx", (json_int_t)r->cls[4], "5xx",
      (json_int_t)r->cls[5], "references_resolved", (json_int_t)r->resolved,
      "references_fallback", (json_int_t)r->fallback, "speed", r->o.speed,
      "seconds", secs, "latency_p50_us",
      (json_int_t)hist_quantile(&r->lat, 0.5));
  int rc = j ? json_dumpf(j, f, JSON_INDENT(2)) : -1;
  fputc('\n', f);
  json_decref(j);
  if (fclose(f) != 0 || rc) return -EIO;
  return 0;
}

int exact_wanted(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--exact")) return 1;
  return 0;
}

static int usage(const char *fmt, const char *arg) {
  fprintf(stderr, "mimic replay --exact: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nRun 'mimic replay --help' for the options.\n");
  return 2;
}

int exact_main(int argc, char **argv) {
  enum {
    O_EXACT = 300,
    O_SPEED,
    O_SCALE,
    O_LOOP,
    O_DURATION,
    O_TIMEOUT,
    O_REPORT,
    O_SESSHDR,
    O_NOSESSHDR,
    O_STAGGER,
    O_MAXCONN
  };
  static const struct option longopts[] = {
      {"exact", no_argument, NULL, O_EXACT},
      {"target", required_argument, NULL, 't'},
      {"speed", required_argument, NULL, O_SPEED},
      {"scale", required_argument, NULL, O_SCALE},
      {"loop", no_argument, NULL, O_LOOP},
      {"duration", required_argument, NULL, O_DURATION},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"report", required_argument, NULL, O_REPORT},
      {"session-header", required_argument, NULL, O_SESSHDR},
      {"no-session-header", no_argument, NULL, O_NOSESSHDR},
      {"stagger", required_argument, NULL, O_STAGGER},
      {"max-connections", required_argument, NULL, O_MAXCONN},
      {"header", required_argument, NULL, 'H'},
      {"insecure", no_argument, NULL, 'k'},
      {"quiet", no_argument, NULL, 'q'},
      {0, 0, 0, 0},
  };
  struct run r = {0};
  r.o.speed = 1;
  r.o.scale = 1;
  r.o.timeout_ms = 30000;
  r.o.stagger_us = 100000;
  r.o.session_header = "X-Mimic-Session";
  const char **extra = calloc((size_t)argc, sizeof *extra);
  if (!extra) return 1;
  r.o.extra = extra;
  int c, status = 2;
  char *end;
  int64_t us;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:H:kq", longopts, NULL)) != -1) {
    switch (c) {
    case O_EXACT: break;
    case 't': r.o.target = optarg; break;
    case O_SPEED:
      r.o.speed = strtod(optarg, &end);
      if (*end || !(r.o.speed > 0)) {
        status = usage("--speed '%s': expected a positive factor", optarg);
        goto out;
      }
      break;
    case O_SCALE: {
      unsigned long k = strtoul(optarg, &end, 10);
      if (*end || k == 0 || k > MAX_COPIES) {
        status = usage("--scale '%s': expected copies per session (1 to "
                       "100000)",
                       optarg);
        goto out;
      }
      r.o.scale = (uint32_t)k;
      break;
    }
    case O_LOOP: r.o.loop = 1; break;
    case O_DURATION:
    case O_TIMEOUT:
    case O_STAGGER:
      if (units_parse_duration(optarg, &us) || us < 0) {
        status = usage("'%s': expected a duration such as 30s", optarg);
        goto out;
      }
      if (c == O_DURATION) r.o.duration_us = us;
      if (c == O_TIMEOUT) r.o.timeout_ms = us / 1000 > 0 ? us / 1000 : 1;
      if (c == O_STAGGER) r.o.stagger_us = us;
      break;
    case O_REPORT: r.o.report = optarg; break;
    case O_SESSHDR: r.o.session_header = optarg; break;
    case O_NOSESSHDR: r.o.session_header = NULL; break;
    case O_MAXCONN: r.o.max_connections = strtol(optarg, NULL, 10); break;
    case 'H': extra[r.o.nextra++] = optarg; break;
    case 'k': r.o.insecure = 1; break;
    case 'q': r.o.quiet = 1; break;
    default:
      fprintf(stderr, "Run 'mimic replay --help' for the options.\n");
      goto out;
    }
  }
  if (optind != argc - 1) {
    status = usage("%s", "expected exactly one MODEL.db");
    goto out;
  }
  if (!r.o.target) {
    status = usage("%s", "--target URL is required");
    goto out;
  }
  if (r.o.loop && !r.o.duration_us)
    fprintf(stderr, "mimic replay: --loop runs until Ctrl-C (or --duration)\n");
  r.o.model = argv[optind];
  status = 1;
  struct model *m = NULL;
  char err[1024] = "";
  int rc = model_load(r.o.model, &m, err, sizeof err);
  if (rc) {
    fprintf(stderr, "mimic replay: error: %s\n", err[0] ? err : err_str(rc));
    goto out;
  }
  if (!m->ntraces) {
    fprintf(stderr,
            "mimic replay: error: %s has no recorded trace; capture with "
            "--record (from packets) for --exact\n",
            r.o.model);
    model_free(m);
    goto out;
  }
  rc = load_trace(&r, m, err, sizeof err);
  model_free(m);
  if (rc) {
    fprintf(stderr, "mimic replay: error: %s\n", err[0] ? err : err_str(rc));
    goto cleanup;
  }
  hist_init(&r.lat);
  r.nplays = r.nsess * r.o.scale;
  r.plays = calloc(r.nplays ? r.nplays : 1, sizeof *r.plays);
  if (!r.plays) goto cleanup;
  for (size_t k = 0; k < r.nplays; k++) {
    struct play *pl = &r.plays[k];
    pl->s = &r.sess[k / r.o.scale];
    pl->copy = (uint32_t)(k % r.o.scale);
    pl->body = calloc(pl->s->n ? pl->s->n : 1, sizeof *pl->body);
    pl->headers = calloc(pl->s->n ? pl->s->n : 1, sizeof *pl->headers);
    if (!pl->body || !pl->headers) goto cleanup;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto cleanup;
  r.multi = curl_multi_init();
  if (!r.multi) goto cleanup;
  if (r.o.max_connections > 0)
    curl_multi_setopt(r.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      r.o.max_connections);
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  stop_flag = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  int64_t t0 = r.nsess && r.sess[0].n ? r.sess[0].reqs[0].t : 0;
  r.t_start = mono_us();
  uint64_t gen = 0;
  for (size_t k = 0; k < r.nplays; k++)
    reset_play(&r.plays[k],
               r.t_start + (int64_t)r.plays[k].copy * r.o.stagger_us, gen);
  if (!r.o.quiet)
    fprintf(
        stderr, "mimic replay: exact: %zu sessions x %u, %s speed %g, to %s\n",
        r.nsess, r.o.scale, r.o.loop ? "looping," : "", r.o.speed, r.o.target);
  for (;;) {
    int64_t now = mono_us();
    int stopping =
        stop_flag || (r.o.duration_us && now - r.t_start >= r.o.duration_us);
    int64_t next_due = INT64_MAX;
    int pending = 0;
    for (size_t k = 0; k < r.nplays && !stopping; k++) {
      struct play *pl = &r.plays[k];
      if (pl->busy || pl->next >= pl->s->n) continue;
      pending = 1;
      int64_t due =
          pl->base +
          (int64_t)((double)(pl->s->reqs[pl->next].t - t0) / r.o.speed);
      if (due <= now) {
        if (send_next(&r, pl)) goto cleanup_sig;
      } else if (due < next_due) {
        next_due = due;
      }
    }
    int running = 0;
    curl_multi_perform(r.multi, &running);
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(r.multi, &q)))
      if (msg->msg == CURLMSG_DONE) finish(&r, msg);
    int busy = 0;
    for (size_t k = 0; k < r.nplays; k++) {
      if (r.plays[k].busy) busy = 1;
      /* A request that finished just now may let its session go on. */
      if (!r.plays[k].busy && r.plays[k].next < r.plays[k].s->n && !stopping)
        pending = 1;
    }
    if (!busy && !pending) {
      if (r.o.loop && !stopping) {
        /* Again, as new sessions. */
        gen++;
        int64_t base = mono_us();
        for (size_t k = 0; k < r.nplays; k++)
          reset_play(&r.plays[k],
                     base + (int64_t)r.plays[k].copy * r.o.stagger_us, gen);
        continue;
      }
      break;
    }
    if (stopping && !busy) break;
    int64_t wait = next_due == INT64_MAX ? 100000 : next_due - mono_us();
    if (wait > 100000) wait = 100000;
    if (wait < 0) wait = 0;
    curl_multi_poll(r.multi, NULL, 0, (int)(wait / 1000), NULL);
  }
  double secs = (double)(mono_us() - r.t_start) / 1e6;
  if (!r.o.quiet) {
    char a[32], b[32];
    fprintf(stderr,
            "mimic replay: %" PRIu64 " requests, %" PRIu64
            " answered (2xx %" PRIu64 ", 3xx %" PRIu64 ", 4xx %" PRIu64
            ", 5xx %" PRIu64 "), %" PRIu64 " failed, in %.2f s; latency p50 %s"
            " p99 %s\n",
            r.sent, r.answered, r.cls[2], r.cls[3], r.cls[4], r.cls[5],
            r.errors, secs,
            units_duration((int64_t)hist_quantile(&r.lat, 0.5), a, sizeof a),
            units_duration((int64_t)hist_quantile(&r.lat, 0.99), b, sizeof b));
    fprintf(stderr,
            "mimic replay: %" PRIu64 " values from earlier responses put in, "
            "%" PRIu64 " recorded fakes sent instead\n",
            r.resolved, r.fallback);
  }
  status = r.sent && !r.answered ? 4 : 0;
  if (r.o.report && write_report(&r, secs)) {
    fprintf(stderr, "mimic replay: error: cannot write %s\n", r.o.report);
    status = 1;
  }
cleanup_sig:
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
cleanup:
  for (size_t k = 0; k < r.nplays; k++) {
    /* Requests still in flight (an error stopped the run): let go. */
    struct inflight *f = r.plays[k].f;
    if (!f) continue;
    curl_multi_remove_handle(r.multi, f->easy);
    curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->hdrs);
    free(f->url);
    free(f->body);
    free(f->rbody);
    free(f->rhdrs);
    free(f);
  }
  if (r.multi) curl_multi_cleanup(r.multi);
  for (size_t k = 0; k < r.nplays; k++) {
    struct play *pl = &r.plays[k];
    if (pl->body)
      for (size_t i = 0; i < pl->s->n; i++) {
        free(pl->body[i]);
        free(pl->headers[i]);
      }
    free(pl->body);
    free(pl->headers);
  }
  free(r.plays);
  for (size_t k = 0; k < r.nsess; k++) {
    for (size_t i = 0; i < r.sess[k].n; i++) free_request(&r.sess[k].reqs[i]);
    free(r.sess[k].reqs);
  }
  free(r.sess);
  hist_cleanup(&r.lat);
out:
  free(extra);
  return status;
}
