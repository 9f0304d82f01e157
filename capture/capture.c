#include "capture.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <inttypes.h>
#include <pcre2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hash.h"
#include "half.h"
#include "httplearn.h"
#include "input.h"
#include "learn.h"
#include "model.h"
#include "pcapcap.h"
#include "persona.h"
#include "redact.h"
#include "sessionize.h"
#include "units.h"

#define SAMPLE_LINES 64        /* lines used to detect a format first */
#define SAMPLE_MAX 2048        /* ... and at most, when the first are unclear */
#define MAX_EXAMPLES 5         /* malformed lines shown on stderr */
#define MAX_STORED 20          /* malformed locations stored in the model */
#define REORDER_CAP (1u << 21) /* events held for reordering, at most */
#define EXCERPT 120

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted++;
  if (interrupted > 1) {
    /* A second Ctrl-C: give up without writing anything. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }
}

struct sample_line {
  char *text;
  size_t len;
  uint64_t line_no;
};

struct source {
  uint32_t id;
  const char *name;
  struct input *in;
  struct logfmt *fmt;
  struct sample_line *samples;
  size_t nsamples, cap_samples, next_sample;
  int sample_eof;    /* the input ended inside the sample */
  int sample_rc;     /* error that ended the sample read, if any */
  uint64_t cur_line; /* line number of the current record */
  struct logrec rec; /* current record, valid while has_rec */
  int has_rec, done;
  uint64_t lines, requests, malformed, filtered, directives, long_lines;
  char *error;
  struct pcapcap *pc;         /* a packet source (then in and fmt are NULL) */
  const struct http_txn *txn; /* ... the exchange behind rec */
  int64_t end_us;             /* ... when its response ended */
};

struct example {
  uint32_t file;
  uint64_t line;
  const char *reason;
  char excerpt[EXCERPT + 8];
};

struct heap_item {
  struct sess_event ev;
  uint64_t seq;
};

struct run {
  const struct capture_opts *o;
  struct source *src;
  size_t nsrc;
  struct learn *learn;
  struct httplearn *hl; /* packets: headers, bodies, correlations, trace */
  struct sessionizer *sess;
  struct half *half; /* split-half baseline for compare */
  pcre2_code *include, *exclude;
  pcre2_match_data *md;
  struct heap_item *heap;
  size_t nheap, cap_heap;
  uint64_t seq;
  int64_t max_ts, last_popped;
  uint64_t late, key_missing, users_dropped, sessions_dropped;
  int64_t t_min, t_max;
  int have_latency;
  uint32_t res_max;
  struct example examples[MAX_EXAMPLES];
  size_t nexamples;
  struct model_malformed stored[MAX_STORED];
  size_t nstored;
  uint64_t malformed_total;
  char *spill_dir; /* folder of the learner's temporary session file */
};

/* ---- messages -------------------------------------------------------- */

static void vmessage(const struct run *r, const char *fmt, va_list ap) {
  fputs("mimic capture: ", r->o->log);
  vfprintf(r->o->log, fmt, ap);
  fputc('\n', r->o->log);
}

/* Progress and results: silenced by --quiet. */
static void say(const struct run *r, const char *fmt, ...) {
  if (r->o->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  vmessage(r, fmt, ap);
  va_end(ap);
}

/* Warnings and errors: always shown. */
static void warn(const struct run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(r, fmt, ap);
  va_end(ap);
}

static void excerpt(char *out, const char *p, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && o < EXCERPT; i++) {
    unsigned char c = (unsigned char)p[i];
    out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (len > EXCERPT) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

static void note_malformed(struct run *r, struct source *s, uint64_t line,
                           const char *reason, const char *text, size_t len) {
  s->malformed++;
  r->malformed_total++;
  if (r->nexamples < MAX_EXAMPLES) {
    struct example *e = &r->examples[r->nexamples++];
    e->file = s->id;
    e->line = line;
    e->reason = reason;
    excerpt(e->excerpt, text, len);
  }
  if (r->nstored < MAX_STORED) {
    r->stored[r->nstored].file = s->id;
    r->stored[r->nstored].line = line;
    r->stored[r->nstored].reason = (char *)reason;
    r->nstored++;
  }
}

/* ---- sources --------------------------------------------------------- */

/* Reads sample lines until the sample holds `want` lines or the input ends. */
static int read_samples(struct run *r, struct source *s, size_t want) {
  if (want > s->cap_samples) {
    struct sample_line *ns = realloc(s->samples, want * sizeof *ns);
    if (!ns) return -ENOMEM;
    s->samples = ns;
    s->cap_samples = want;
  }
  while (s->nsamples < want && !s->sample_eof) {
    const char *line;
    size_t len;
    int rc = input_next(s->in, &line, &len);
    if (rc == INPUT_EOF) {
      s->sample_eof = 1;
      return 0;
    }
    if (rc < 0) {
      s->sample_eof = 1;
      s->sample_rc = rc;
      return 0;
    }
    struct sample_line *sl = &s->samples[s->nsamples];
    sl->line_no = input_line_no(s->in);
    if (rc == INPUT_LONG) {
      sl->text = NULL; /* remembered as an over-long line */
      sl->len = 0;
    } else {
      sl->text = malloc(len + 1);
      if (!sl->text) return -ENOMEM;
      memcpy(sl->text, line, len);
      sl->text[len] = '\0';
      sl->len = len;
    }
    s->nsamples++;
  }
  (void)r;
  return 0;
}

/* "combined + $request_time (s)" or "clf: Common Log Format": the name
 * users pass to --format, then what was detected when that says more. */
static const char *format_label(const struct logfmt *f, char *buf, size_t len) {
  const char *name = logfmt_name(f), *desc = logfmt_describe(f);
  if (strncmp(desc, name, strlen(name)) == 0) return desc;
  snprintf(buf, len, "%s: %s", name, desc);
  return buf;
}

static int open_format(struct run *r, struct source *s) {
  const struct capture_opts *o = r->o;
  char err[512] = "", label[256];
  int rc;
  if (o->format && strcmp(o->format, "auto") != 0) {
    rc = logfmt_new(o->format, &o->fmt, &s->fmt, err, sizeof err);
    if (rc) {
      warn(r, "error: --format %s: %s", o->format, err);
      return rc;
    }
    say(r, "%s: format %s", s->name, format_label(s->fmt, label, sizeof label));
    return 0;
  }
  const char **lines = NULL;
  size_t *lens = NULL, n = 0;
  /* A damaged head (e.g. redaction fragments) can hide the format in the
   * first lines: look further before giving up. */
  for (size_t want = SAMPLE_LINES;; want *= 4) {
    if ((rc = read_samples(r, s, want))) return rc;
    const char **nl = realloc(lines, s->nsamples * sizeof *nl + 1);
    size_t *nn = realloc(lens, s->nsamples * sizeof *nn + 1);
    if (nl) lines = nl;
    if (nn) lens = nn;
    if (!nl || !nn) {
      free(lines);
      free(lens);
      return -ENOMEM;
    }
    n = 0;
    for (size_t i = 0; i < s->nsamples; i++) {
      if (!s->samples[i].text) continue;
      lines[n] = s->samples[i].text;
      lens[n] = s->samples[i].len;
      n++;
    }
    rc = logfmt_detect(lines, lens, n, &o->fmt, &s->fmt);
    if (rc != ERR_FORMAT || s->sample_eof || want >= SAMPLE_MAX) break;
  }
  free(lines);
  free(lens);
  if (rc == ERR_FORMAT || (rc == 0 && n == 0)) {
    if (n == 0 && s->nsamples == 0) {
      warn(r, "error: %s is empty", s->name);
      return ERR_NODATA;
    }
    warn(r,
         "error: cannot determine the format of %s from its first %zu "
         "lines; give it with --format, --log-format or --log-regex",
         s->name, n);
    return ERR_FORMAT;
  }
  if (rc) {
    warn(r, "error: %s: %s", s->name, err_str(rc));
    return rc;
  }
  say(r, "%s: format %s (detected from %zu lines)", s->name,
      format_label(s->fmt, label, sizeof label), n);
  return 0;
}

/* Advances s to its next request record (or done). Malformed lines,
 * directives and filtered lines are counted on the way. */
static int pcap_advance(struct run *r, struct source *s);

static int source_advance(struct run *r, struct source *s) {
  s->has_rec = 0;
  if (s->pc) return pcap_advance(r, s);
  while (!s->done) {
    const char *line = NULL;
    size_t len = 0;
    uint64_t line_no;
    int rc;
    if (s->next_sample < s->nsamples) {
      struct sample_line *sl = &s->samples[s->next_sample++];
      line_no = sl->line_no;
      if (!sl->text) {
        rc = INPUT_LONG;
      } else {
        rc = INPUT_LINE;
        line = sl->text;
        len = sl->len;
      }
    } else if (s->sample_eof) {
      rc = s->sample_rc ? s->sample_rc : INPUT_EOF;
      s->sample_rc = 0;
      if (rc == INPUT_EOF) {
        s->done = 1;
        break;
      }
      line_no = 0;
    } else {
      rc = input_next(s->in, &line, &len);
      line_no = input_line_no(s->in);
    }
    if (rc == INPUT_EOF) {
      s->done = 1;
      break;
    }
    if (rc == ERR_INTERRUPTED) {
      if (interrupted) break; /* the run stops; the line stays unread */
      continue;
    }
    if (rc < 0) {
      /* Reading stopped early (truncated, corrupt, I/O error): keep what
       * was learned, report the file. */
      s->error =
          strdup(input_error(s->in)[0] ? input_error(s->in) : err_str(rc));
      warn(r, "error: %s (learned from the %" PRIu64 " lines before)",
           s->error ? s->error : err_str(rc), s->lines);
      s->done = 1;
      break;
    }
    s->lines++;
    if (rc == INPUT_LONG) {
      s->long_lines++;
      note_malformed(r, s, line_no, "line too long", "", 0);
      continue;
    }
    const char *reason = NULL;
    rc = logfmt_parse(s->fmt, line, len, &s->rec, &reason);
    if (rc == LOGFMT_DIRECTIVE) {
      s->directives++;
      continue;
    }
    if (rc == 0 && s->rec.ts_us == LOGREC_NO_TIME) {
      rc = ERR_PARSE;
      reason = "no timestamp";
    }
    if (rc == 0 && s->rec.path.len == 0) {
      rc = ERR_PARSE;
      reason = "no request path";
    }
    if (rc < 0) {
      note_malformed(r, s, line_no, reason ? reason : "unparsable line", line,
                     len);
      continue;
    }
    s->cur_line = line_no;
    s->has_rec = 1;
    return 0;
  }
  return 0;
}

/* Advances a packet source to its next learnable request. Requests that
 * cannot be learned (no path) count as malformed, located by their
 * request's number. */
static int pcap_advance(struct run *r, struct source *s) {
  while (!s->done) {
    const char *why = NULL;
    int rc = pcapcap_next(s->pc, &s->rec, &s->txn, &s->end_us, &why);
    if (rc == PCAPCAP_END) {
      s->done = 1;
      break;
    }
    if (rc < 0) {
      if (rc == -ENOMEM) return rc;
      const char *e = pcapcap_error(s->pc);
      s->error = strdup(e[0] ? e : err_str(rc));
      warn(r, "error: %s: %s (learned from the packets before)", s->name,
           s->error ? s->error : err_str(rc));
      s->done = 1;
      break;
    }
    s->lines++;
    if (rc == PCAPCAP_BAD) {
      note_malformed(r, s, s->lines, why, s->txn->target, s->txn->target_len);
      continue;
    }
    s->cur_line = s->lines;
    s->has_rec = 1;
    return 0;
  }
  return 0;
}

/* ---- filters and keys ------------------------------------------------ */

static int compile_re(struct run *r, const char *what, const char *pattern,
                      pcre2_code **out) {
  int code;
  PCRE2_SIZE off;
  *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code,
                       &off, NULL);
  if (!*out) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    warn(r, "error: %s '%s': %s at offset %zu", what, pattern, (char *)msg,
         (size_t)off);
    return ERR_USAGE;
  }
  pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
  return 0;
}

static int matches(struct run *r, pcre2_code *re, const char *p, size_t n) {
  return pcre2_match(re, (PCRE2_SPTR)p, n, 0, 0, r->md, NULL) >= 0;
}

/* 1 when the record is dropped by --include / --exclude. */
static int filtered_out(struct run *r, const struct logrec *rec) {
  if (!r->include && !r->exclude) return 0;
  const char *p = rec->path.p;
  size_t n = rec->path.len;
  char buf[8192];
  if (rec->query.len) {
    if (rec->query.p == p + n + 1) {
      n += 1 + rec->query.len; /* path?query is contiguous in the line */
    } else if (n + 1 + rec->query.len < sizeof buf) {
      memcpy(buf, p, n);
      buf[n] = '?';
      memcpy(buf + n + 1, rec->query.p, rec->query.len);
      n += 1 + rec->query.len;
      p = buf;
    }
  }
  if (r->include && !matches(r, r->include, p, n)) return 1;
  if (r->exclude && matches(r, r->exclude, p, n)) return 1;
  return 0;
}

/* uah: learn_ua_hash of the request's user agent. */
static uint64_t client_key(struct run *r, const struct logrec *rec,
                           uint64_t uah) {
  const struct slice *k = NULL;
  switch (r->o->key) {
  case CAPTURE_KEY_IP: k = &rec->client; break;
  case CAPTURE_KEY_USER: k = &rec->user; break;
  case CAPTURE_KEY_COOKIE:
  case CAPTURE_KEY_HEADER: k = &rec->session; break;
  default: break;
  }
  if (k && k->len) return hash64(k->p, k->len, 0x6d696d6963ULL);
  if (k) r->key_missing++; /* fall back to ip+ua */
  uint64_t h = hash64(rec->client.p, rec->client.len, 0x6970ULL);
  return hash_mix(h, uah);
}

/* ---- reordering ------------------------------------------------------ */

static int heap_less(const struct heap_item *a, const struct heap_item *b) {
  if (a->ev.ts_us != b->ev.ts_us) return a->ev.ts_us < b->ev.ts_us;
  return a->seq < b->seq;
}

static int heap_push(struct run *r, const struct sess_event *ev) {
  if (r->nheap == r->cap_heap) {
    size_t ncap = r->cap_heap ? r->cap_heap * 2 : 4096;
    struct heap_item *nh = realloc(r->heap, ncap * sizeof *nh);
    if (!nh) return -ENOMEM;
    r->heap = nh;
    r->cap_heap = ncap;
  }
  size_t i = r->nheap++;
  struct heap_item it = {*ev, r->seq++};
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!heap_less(&it, &r->heap[parent])) break;
    r->heap[i] = r->heap[parent];
    i = parent;
  }
  r->heap[i] = it;
  return 0;
}

static struct sess_event heap_pop(struct run *r) {
  struct sess_event top = r->heap[0].ev;
  struct heap_item last = r->heap[--r->nheap];
  size_t i = 0, n = r->nheap;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_less(&r->heap[c + 1], &r->heap[c])) c++;
    if (!heap_less(&r->heap[c], &last)) break;
    r->heap[i] = r->heap[c];
    i = c;
  }
  if (n) r->heap[i] = last;
  return top;
}

/* Hands events older than the reorder window (or beyond the cap, or all
 * with drain) to the sessionizer. */
static int release(struct run *r, int drain) {
  while (r->nheap) {
    if (!drain && r->nheap < REORDER_CAP &&
        r->heap[0].ev.ts_us > r->max_ts - r->o->reorder_us)
      break;
    struct sess_event ev = heap_pop(r);
    if (ev.ts_us < r->last_popped)
      r->late++;
    else
      r->last_popped = ev.ts_us;
    int rc = sess_feed(r->sess, &ev);
    if (rc) return rc;
  }
  return 0;
}

static int process(struct run *r, struct source *s) {
  const struct logrec *rec = &s->rec;
  if (filtered_out(r, rec)) {
    s->filtered++;
    return 0;
  }
  uint32_t ep;
  int rc = learn_request(r->learn, rec, &ep);
  if (rc) return rc;
  s->requests++;
  if (rec->user.len) r->users_dropped++;
  if (rec->session.len) r->sessions_dropped++;
  if (rec->latency_us >= 0) r->have_latency = 1;
  uint64_t uah = learn_ua_hash(rec->ua.p, rec->ua.len);
  struct sess_event ev = {
      .ts_us = rec->ts_us,
      .lat_us = rec->latency_us,
      .client = client_key(r, rec, uah),
      .ua = learn_ua_key(rec->ua.p, rec->ua.len, uah),
      .ep = ep,
      .res_us = rec->ts_res_us > 0 && rec->ts_res_us < UINT32_MAX
                    ? (uint32_t)rec->ts_res_us
                    : 1,
      .ts_is_end = (uint8_t)(rec->ts_is_end != 0),
      .status =
          rec->status > 0 && rec->status < 1000 ? (uint16_t)rec->status : 0,
  };
  if (s->txn) { /* think time starts when the response ended */
    ev.lat_us = s->end_us >= rec->ts_us ? s->end_us - rec->ts_us : -1;
    if (r->hl &&
        (rc = httplearn_add(r->hl, s->txn, ep, ev.client, rec->path.p,
                            rec->path.len, rec->query.p, rec->query.len)))
      return rc;
  }
  if (ev.res_us > r->res_max) r->res_max = ev.res_us;
  if (rec->ts_us < r->t_min) r->t_min = rec->ts_us;
  if (rec->ts_us > r->t_max) r->t_max = rec->ts_us;
  if (rec->ts_us > r->max_ts) r->max_ts = rec->ts_us;
  if ((rc = heap_push(r, &ev))) return rc;
  return release(r, 0);
}

/* ---- the run --------------------------------------------------------- */

int capture_parse_key(const char *spec, struct capture_opts *o) {
  o->fmt.session_cookie = NULL;
  o->fmt.session_header = NULL;
  o->key_name = NULL;
  if (strcmp(spec, "ip+ua") == 0)
    o->key = CAPTURE_KEY_IP_UA;
  else if (strcmp(spec, "ip") == 0)
    o->key = CAPTURE_KEY_IP;
  else if (strcmp(spec, "user") == 0)
    o->key = CAPTURE_KEY_USER;
  else if (strncmp(spec, "cookie:", 7) == 0 && spec[7]) {
    o->key = CAPTURE_KEY_COOKIE;
    o->key_name = spec + 7;
    o->fmt.session_cookie = spec + 7;
  } else if (strcmp(spec, "authorization") == 0) {
    o->key = CAPTURE_KEY_HEADER;
    o->key_name = "Authorization";
    o->fmt.session_header = "Authorization";
  } else if (strncmp(spec, "header:", 7) == 0 && spec[7]) {
    o->key = CAPTURE_KEY_HEADER;
    o->key_name = spec + 7;
    o->fmt.session_header = spec + 7;
  } else {
    return ERR_USAGE;
  }
  return 0;
}

static const char *key_spec(const struct capture_opts *o, char *buf,
                            size_t len) {
  switch (o->key) {
  case CAPTURE_KEY_IP: return "ip";
  case CAPTURE_KEY_USER: return "user";
  case CAPTURE_KEY_COOKIE:
    snprintf(buf, len, "cookie:%s", o->key_name);
    return buf;
  case CAPTURE_KEY_HEADER:
    snprintf(buf, len, "header:%s", o->key_name);
    return buf;
  default: return "ip+ua";
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fill_meta(struct run *r, struct model *m, uint64_t lines,
                     uint64_t requests, uint64_t filtered,
                     uint64_t directives) {
  const struct capture_opts *o = r->o;
  char buf[64], when[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  int64_t span_us = requests ? r->t_max - r->t_min : 0;
  size_t nfmt = 0;
  char formats[512] = "";
  size_t npcap = 0;
  struct pcapcap_stats ps = {0};
  for (size_t i = 0; i < r->nsrc; i++) {
    char kind[16] = "";
    const char *name;
    if (r->src[i].pc) {
      npcap++;
      pcapcap_stats_add(r->src[i].pc, &ps);
      const char *d = pcapcap_describe(r->src[i].pc);
      snprintf(kind, sizeof kind, "%.*s", (int)strcspn(d, ", "), d);
      name = kind;
    } else if (r->src[i].fmt) {
      name = logfmt_name(r->src[i].fmt);
    } else {
      continue;
    }
    if (strstr(formats, name)) continue;
    nfmt += (size_t)snprintf(formats + nfmt, sizeof formats - nfmt, "%s%s",
                             nfmt ? "," : "", name);
    if (nfmt >= sizeof formats) break;
  }
  uint64_t trans = sess_transitions(r->sess);
  int rc = 0;
  rc |= model_meta_set_i64(m, "schema_version", MODEL_SCHEMA_VERSION);
  rc |= model_meta_set(m, "tool_version", MIMIC_VERSION);
  rc |= model_meta_set(m, "created_utc", when);
  rc |= model_meta_set(m, "source_kind",
                       npcap == 0         ? "access-log"
                       : npcap == r->nsrc ? "pcap"
                                          : "mixed");
  if (npcap) rc |= pcapcap_meta(&ps, m);
  rc |= model_meta_set(m, "formats", formats);
  rc |= model_meta_set_i64(m, "time_start_us", requests ? r->t_min : 0);
  rc |= model_meta_set_i64(m, "time_end_us", requests ? r->t_max : 0);
  rc |= model_meta_set_f64(m, "span_seconds", (double)span_us / 1e6);
  rc |= model_meta_set_i64(m, "lines", (int64_t)lines);
  rc |= model_meta_set_i64(m, "requests", (int64_t)requests);
  rc |= model_meta_set_i64(m, "sessions", (int64_t)learn_sessions(r->learn));
  rc |= model_meta_set_i64(m, "clients", (int64_t)sess_clients(r->sess));
  rc |= model_meta_set_i64(m, "endpoints", (int64_t)m->nendpoints);
  rc |= model_meta_set_i64(m, "malformed", (int64_t)r->malformed_total);
  rc |= model_meta_set_i64(m, "filtered", (int64_t)filtered);
  rc |= model_meta_set_i64(m, "directives", (int64_t)directives);
  rc |= model_meta_set_i64(m, "late_events", (int64_t)r->late);
  rc |=
      model_meta_set_i64(m, "capped_requests", (int64_t)learn_capped(r->learn));
  rc |= model_meta_set_i64(m, "split_sessions", (int64_t)sess_split(r->sess));
  rc |= model_meta_set_i64(m, "session_key_missing", (int64_t)r->key_missing);
  rc |= model_meta_set_i64(m, "idle_timeout_s", o->idle_us / 1000000);
  rc |= model_meta_set(m, "session_key", key_spec(o, buf, sizeof buf));
  rc |= model_meta_set(m, "think_basis",
                       trans && sess_think_from_end(r->sess) * 2 >= trans
                           ? "end-to-start"
                           : "start-to-start");
  rc |= model_meta_set_i64(m, "time_resolution_us", r->res_max);
  rc |= model_meta_set_f64(m, "dist_alpha", HIST_ALPHA);
  rc |= model_meta_set_i64(m, "seed", (int64_t)o->seed);
  if (o->personas)
    rc |= model_meta_set_i64(m, "personas", (int64_t)o->personas);
  else
    rc |= model_meta_set(m, "personas", "auto");
  rc |= model_meta_set(m, "include", o->include ? o->include : "");
  rc |= model_meta_set(m, "exclude", o->exclude ? o->exclude : "");
  rc |= model_meta_set(m, "latency_known", r->have_latency ? "1" : "0");
  int64_t first, last;
  if (half_span(r->half, &first, &last)) {
    rc |= model_meta_set_i64(m, "first_session_us", first);
    rc |= model_meta_set_i64(m, "last_session_us", last);
  }
  return rc ? -ENOMEM : 0;
}

static int fill_sources(struct run *r, struct model *m) {
  for (size_t i = 0; i < r->nsrc; i++) {
    struct source *s = &r->src[i];
    struct model_source *f = model_push(m, sources);
    if (!f) return -ENOMEM;
    f->name = strdup(s->name);
    f->format = strdup(s->pc    ? pcapcap_describe(s->pc)
                       : s->fmt ? logfmt_describe(s->fmt)
                                : "");
    if (s->error && !(f->error = strdup(s->error))) return -ENOMEM;
    if (!f->name || !f->format) return -ENOMEM;
    f->bytes = s->pc ? pcapcap_bytes(s->pc) : s->in ? input_bytes(s->in) : 0;
    f->lines = s->lines;
    f->requests = s->requests;
    f->malformed = s->malformed;
    f->filtered = s->filtered;
    f->directives = s->directives;
  }
  for (size_t i = 0; i < r->nstored; i++) {
    struct model_malformed *x = model_push(m, malformed);
    if (!x) return -ENOMEM;
    x->file = r->stored[i].file;
    x->line = r->stored[i].line;
    x->reason = strdup(r->stored[i].reason);
    if (!x->reason) return -ENOMEM;
  }
  return 0;
}

static void report_malformed(struct run *r, uint64_t lines) {
  if (!r->malformed_total) return;
  char a[32], b[32];
  double share = lines ? 100.0 * (double)r->malformed_total / (double)lines : 0;
  /* Many failures mean a wrong format or a damaged log: say it loudly. */
  if (share >= 10.0)
    warn(r,
         "WARNING: %.1f%% of the lines (%s of %s) could not be "
         "understood; the model learned only from the rest. Check "
         "--format / --log-format.",
         share, units_count(r->malformed_total, a, sizeof a),
         units_count(lines, b, sizeof b));
  else
    warn(r, "warning: %s malformed lines (%.2f%%) skipped",
         units_count(r->malformed_total, a, sizeof a), share);
  for (size_t i = 0; i < r->nexamples; i++) {
    const struct example *e = &r->examples[i];
    warn(r, "  %s:%" PRIu64 ": %s: %s", r->src[e->file].name, e->line,
         e->reason, e->excerpt);
  }
}

/* What the packets held, and what was lost: a lossy capture is said
 * loudly, never silent. */
static void report_packets(struct run *r) {
  struct pcapcap_stats ps = {0};
  size_t n = 0;
  for (size_t i = 0; i < r->nsrc; i++)
    if (r->src[i].pc) {
      pcapcap_stats_add(r->src[i].pc, &ps);
      n++;
    }
  if (!n) return;
  const struct httpflow_stats *h = &ps.http;
  char a[32], b[32], c[32], d[32], e[32];
  say(r, "packets: %s frames, %s TCP flows (%s HTTP, %s not HTTP, %s TLS)",
      units_count(ps.pkt.frames, a, sizeof a),
      units_count(h->tcp.flows, b, sizeof b),
      units_count(h->http_flows, c, sizeof c),
      units_count(h->non_http_flows, d, sizeof d),
      units_count(h->tls_flows, e, sizeof e));
  say(r,
      "HTTP: %s requests, %s responses, %s requests without response, "
      "%s responses without request",
      units_count(h->requests + h->notifications, a, sizeof a),
      units_count(h->responses, b, sizeof b),
      units_count(h->unanswered, c, sizeof c),
      units_count(h->orphans, d, sizeof d));
  char buf[512];
  if (pcapcap_losses(&ps, buf, sizeof buf)) warn(r, "warning: %s", buf);
}

/* What became of the personas: a failed temporary file loudly (the model
 * is still written, with one persona), the personas found quietly. */
static int report_personas(struct run *r, struct model *m) {
  int err = learn_spill_error(r->learn);
  if (err) {
    char note[256];
    snprintf(note, sizeof note,
             "one persona: the temporary session file failed (%s)",
             err_str(err));
    if (model_meta_set(m, "persona_note", note)) return -ENOMEM;
    warn(r,
         "warning: sessions were not grouped into personas: the temporary "
         "session file in %s failed (%s%s); the model has one persona, "
         "\"all\"%s",
         r->spill_dir, err_str(err),
         err == -ENOSPC || err == -EDQUOT ? ": the disk is full" : "",
         err == -ENOSPC || err == -EDQUOT
             ? ". Free some space or point TMPDIR at a larger folder "
               "(it needs a few bytes per request)"
             : "");
  } else if (r->o->personas > 1 && m->npersonas < r->o->personas) {
    warn(r,
         "warning: --personas %u: the sessions show only %zu distinct "
         "behaviour%s",
         r->o->personas, m->npersonas, m->npersonas == 1 ? "" : "s");
  }
  if (m->npersonas < 2) {
    if (!err && r->o->personas == 0)
      say(r, "1 persona, \"all\": %s",
          learn_sessions(r->learn) < 2 * PERSONA_MIN_SESSIONS
              ? "too few sessions to tell behaviours apart"
              : "the sessions show one behaviour");
    return 0;
  }
  char line[1024];
  size_t n = 0;
  for (size_t i = 0; i < m->npersonas && n < sizeof line; i++)
    n += (size_t)snprintf(line + n, sizeof line - n, "%s%s %.1f%%",
                          i ? ", " : "", m->personas[i].name,
                          100.0 * m->personas[i].weight);
  say(r, "%zu personas%s: %s", m->npersonas,
      r->o->personas ? "" : " (chosen by BIC)", line);
  return 0;
}

static void cleanup_run(struct run *r) {
  for (size_t i = 0; i < r->nsrc; i++) {
    struct source *s = &r->src[i];
    for (size_t j = 0; j < s->nsamples; j++) free(s->samples[j].text);
    free(s->samples);
    logfmt_free(s->fmt);
    input_close(s->in);
    pcapcap_free(s->pc);
    free(s->error);
  }
  free(r->src);
  sess_free(r->sess);
  half_free(r->half);
  httplearn_free(r->hl);
  learn_free(r->learn);
  free(r->spill_dir);
  pcre2_code_free(r->include);
  pcre2_code_free(r->exclude);
  pcre2_match_data_free(r->md);
  free(r->heap);
}

int capture_run(const struct capture_opts *o) {
  struct run r = {.o = o,
                  .t_min = INT64_MAX,
                  .t_max = INT64_MIN,
                  .max_ts = INT64_MIN,
                  .last_popped = INT64_MIN};
  struct model *m = NULL;
  int status = CAPTURE_FAILED, rc;
  char err[1024] = "";
  double t0 = now_s();

  if ((rc = model_check_writable(o->output, o->force, err, sizeof err))) {
    warn(&r, "error: %s", err);
    return CAPTURE_FAILED;
  }
  if (o->include && compile_re(&r, "--include", o->include, &r.include))
    goto out;
  if (o->exclude && compile_re(&r, "--exclude", o->exclude, &r.exclude))
    goto out;
  r.md = pcre2_match_data_create(4, NULL);
  if (!r.md) goto nomem;

  /* The temporary session file (personas) goes to $TMPDIR when set, else
   * beside the model: /tmp is often a RAM disk, and the model's folder was
   * just checked to be writable. */
  const char *tmpdir = getenv("TMPDIR");
  if (tmpdir && *tmpdir) {
    r.spill_dir = strdup(tmpdir);
  } else {
    const char *slash = strrchr(o->output, '/');
    r.spill_dir = slash ? strndup(o->output, (size_t)(slash - o->output + 1))
                        : strdup(".");
  }
  if (!r.spill_dir) goto nomem;
  struct learn_opts lo = {.collapse_children = o->collapse_children,
                          .max_endpoints = o->max_endpoints,
                          .personas = o->personas,
                          .spill_dir = r.spill_dir,
                          .seed = o->seed};
  if ((rc = redact_new_salt(lo.salt))) {
    warn(&r, "error: no randomness for the redaction key: %s", err_str(rc));
    goto out;
  }
  if ((rc = learn_new(&lo, &r.learn))) goto nomem;
  if ((rc = half_new(o->seed, &r.half))) goto nomem;
  struct sess_opts so = {
      .idle_us = o->idle_us, .seed = o->seed, .half = r.half};
  if ((rc = sess_new(&so, r.learn, &r.sess))) goto nomem;

  r.src = calloc(o->ninputs + 1, sizeof *r.src);
  if (!r.src) goto nomem;
  size_t stdin_uses = 0;
  struct pcapcap_opts po = {
      .filter = o->filter,
      .duration_us = o->live_duration_us,
      .count = o->live_count,
      .keep_req_bodies = o->record,
      .session_cookie = o->key == CAPTURE_KEY_COOKIE ? o->key_name : NULL,
      .session_header = o->key == CAPTURE_KEY_HEADER ? o->key_name : NULL,
      .stop = &interrupted,
  };
  interrupted = 0;
  for (size_t i = 0; i < o->ninputs; i++) {
    if (strcmp(o->inputs[i], "-") == 0 && ++stdin_uses > 1) {
      warn(&r, "error: standard input (-) given more than once");
      goto out;
    }
    struct source *s = &r.src[r.nsrc++];
    s->id = (uint32_t)i;
    s->name = strcmp(o->inputs[i], "-") == 0 ? "(stdin)" : o->inputs[i];
    if ((rc = input_open(o->inputs[i], &s->in, err, sizeof err))) {
      warn(&r, "error: %s", err);
      goto out;
    }
    /* A packet capture (pcap / pcapng, also compressed) is recognised by
     * its magic bytes; anything else is a log. */
    const unsigned char *head;
    size_t got = 0;
    if (input_peek(s->in, 4, &head, &got) == 0 &&
        pcapsrc_is_capture(head, got)) {
      struct input *in = s->in;
      s->in = NULL;
      if ((rc = pcapcap_open_file(in, s->name, &po, &s->pc, err, sizeof err))) {
        warn(&r, "error: %s", err);
        goto out;
      }
      say(&r, "%s: packets (%s)", s->name, pcapcap_describe(s->pc));
      continue;
    }
    if (o->filter) {
      warn(&r, "error: --filter applies to packet captures; %s is not one",
           s->name);
      goto out;
    }
    if ((rc = open_format(&r, s))) goto out;
  }
  if (o->iface) {
    struct source *s = &r.src[r.nsrc];
    s->id = (uint32_t)r.nsrc++;
    s->name = o->iface;
    if ((rc = pcapcap_open_live(o->iface, &po, &s->pc, err, sizeof err))) {
      warn(&r, "error: %s", err);
      goto out;
    }
    say(&r, "capturing on %s%s%s (Ctrl-C to stop)", o->iface,
        o->filter ? ", filter " : "", o->filter ? o->filter : "");
  }
  for (size_t i = 0; i < r.nsrc && !r.hl; i++) {
    if (!r.src[i].pc) continue;
    struct httplearn_opts ho = {.record = o->record, .idle_us = o->idle_us};
    memcpy(ho.salt, lo.salt, sizeof ho.salt);
    if ((rc = httplearn_new(&ho, &r.hl))) goto nomem;
  }
  if (o->record && !r.hl) {
    warn(&r, "error: --record needs packets (a capture file or --iface)");
    goto out;
  }

  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  interrupted = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int live = 0;
  for (size_t i = 0; i < r.nsrc; i++)
    if (r.src[i].pc && pcapcap_live(r.src[i].pc)) live = 1;

  for (size_t i = 0; i < r.nsrc; i++)
    if ((rc = source_advance(&r, &r.src[i]))) goto nomem_sig;

  /* k-way merge: always take the earliest current record, so files that
   * cover different periods (rotated logs, several servers) interleave in
   * time order whatever order they were given in. */
  uint64_t processed = 0;
  double next_progress = now_s() + 1.0;
  int tty = !o->quiet && isatty(fileno(o->log));
  for (;;) {
    struct source *best = NULL;
    for (size_t i = 0; i < r.nsrc; i++) {
      struct source *s = &r.src[i];
      if (s->has_rec && (!best || s->rec.ts_us < best->rec.ts_us)) best = s;
    }
    /* A live capture ends with Ctrl-C: its sources stop reading packets
     * and hand out what is open, so keep merging until they are done. */
    if (!best || (interrupted && (!live || interrupted > 1))) break;
    if ((rc = process(&r, best))) goto nomem_sig;
    if ((rc = source_advance(&r, best))) goto nomem_sig;
    if (tty && (++processed & 0xffff) == 0 && now_s() >= next_progress) {
      uint64_t bytes = 0;
      for (size_t i = 0; i < r.nsrc; i++)
        bytes +=
            r.src[i].pc ? pcapcap_bytes(r.src[i].pc) : input_bytes(r.src[i].in);
      fprintf(o->log, "\rmimic capture: %" PRIu64 " requests, %.1f MB ...",
              processed, (double)bytes / 1e6);
      fflush(o->log);
      next_progress = now_s() + 1.0;
    }
  }
  if (tty && processed >= 0x10000) fputc('\n', o->log);
  if ((rc = release(&r, 1)) || (rc = sess_flush(r.sess))) goto nomem_sig;

  uint64_t lines = 0, requests = 0, filtered = 0, directives = 0, bytes = 0;
  int partial = 0;
  for (size_t i = 0; i < r.nsrc; i++) {
    lines += r.src[i].lines;
    requests += r.src[i].requests;
    filtered += r.src[i].filtered;
    directives += r.src[i].directives;
    bytes +=
        r.src[i].pc ? pcapcap_bytes(r.src[i].pc) : input_bytes(r.src[i].in);
    if (r.src[i].error) partial = 1;
  }
  if (interrupted && live) {
    say(&r, "stopped: writing the model from what was captured");
  } else if (interrupted) {
    warn(&r,
         "interrupted: writing the model from the %" PRIu64
         " lines read so far",
         lines);
    partial = 1;
  }
  report_malformed(&r, lines);
  double share = lines ? 100.0 * (double)r.malformed_total / (double)lines : 0;
  if (o->max_malformed_pct >= 0 && share > o->max_malformed_pct) {
    warn(&r,
         "error: %.2f%% malformed lines is over --max-malformed %.2f%%; "
         "no model written",
         share, o->max_malformed_pct);
    goto out_sig;
  }
  if (requests == 0) {
    warn(&r,
         "error: no request could be learned from the input%s; no "
         "model written",
         filtered ? " (all were filtered out)" : "");
    goto out_sig;
  }
  if (r.key_missing)
    warn(&r,
         "warning: %" PRIu64 " requests had no %s value; they were "
         "keyed by ip+ua instead%s",
         r.key_missing,
         o->key == CAPTURE_KEY_USER ? "remote user" : o->key_name,
         o->key == CAPTURE_KEY_COOKIE || o->key == CAPTURE_KEY_HEADER
             ? " (does the log format carry that field?)"
             : "");
  if (learn_capped(r.learn))
    warn(&r,
         "warning: endpoint limit reached: %" PRIu64 " requests were "
         "folded into catch-all endpoints (raise --max-endpoints or "
         "--exclude the noise)",
         learn_capped(r.learn));

  if ((rc = model_new(&m))) goto nomem_sig;
  if (r.users_dropped)
    learn_note_dropped(r.learn, "user", "remote_user", r.users_dropped);
  if (r.sessions_dropped && o->key_name)
    learn_note_dropped(r.learn, "session", o->key_name, r.sessions_dropped);
  if ((rc = learn_finish(r.learn, m)) || (rc = report_personas(&r, m)))
    goto nomem_sig;
  size_t nfinal;
  const int32_t *final = learn_final_ids(r.learn, &nfinal);
  if ((rc = half_finish(r.half, final, nfinal, m))) goto nomem_sig;
  if (r.hl && (rc = httplearn_finish(r.hl, r.learn, m))) goto nomem_sig;
  if ((rc = fill_meta(&r, m, lines, requests, filtered, directives)) ||
      (rc = fill_sources(&r, m)))
    goto nomem_sig;
  if ((rc = model_save(m, o->output, o->force, err, sizeof err))) {
    warn(&r, "error: %s", err);
    goto out_sig;
  }
  double dt = now_s() - t0;
  char a[32], b[32], c[32];
  /* Packet sources count packets; log sources lines. */
  uint64_t units = lines;
  const char *unit = "lines";
  size_t npc = 0;
  struct pcapcap_stats pst = {0};
  for (size_t i = 0; i < r.nsrc; i++)
    if (r.src[i].pc) {
      npc++;
      pcapcap_stats_add(r.src[i].pc, &pst);
    }
  if (npc == r.nsrc) {
    units = pst.pkt.frames;
    unit = "packets";
  }
  say(&r, "read %s %s (%.1f MB) in %.2f s: %.0f MB/s, %s %s/s",
      units_count(units, a, sizeof a), unit, (double)bytes / 1e6, dt,
      dt > 0 ? (double)bytes / 1e6 / dt : 0,
      units_count(dt > 0 ? (uint64_t)((double)units / dt) : 0, b, sizeof b),
      unit);
  say(&r, "%s requests, %s malformed, %s filtered",
      units_count(requests, a, sizeof a),
      units_count(r.malformed_total, b, sizeof b),
      units_count(filtered, c, sizeof c));
  say(&r, "%s sessions from %s clients, %zu endpoints",
      units_count(learn_sessions(r.learn), a, sizeof a),
      units_count(sess_clients(r.sess), b, sizeof b), m->nendpoints);
  if (r.late)
    say(&r,
        "%" PRIu64 " lines were more than the reorder window out of "
        "time order",
        r.late);
  report_packets(&r);
  say(&r, "wrote %s", o->output);
  status = partial ? CAPTURE_PARTIAL : CAPTURE_OK;
  goto out_sig;

nomem_sig:
  warn(&r, "error: %s", err_str(rc));
out_sig:
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  goto out;
nomem:
  warn(&r, "error: %s", err_str(rc ? rc : -ENOMEM));
out:
  model_free(m);
  cleanup_run(&r);
  return status;
}
