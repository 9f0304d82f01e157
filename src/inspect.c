#include "inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "persona.h"
#include "units.h"

static const char *const SPARK[] = {
    "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
    "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};

static uint64_t status_class_counts(const struct model *m, uint64_t cls[6]) {
  uint64_t total = 0;
  memset(cls, 0, 6 * sizeof *cls);
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    for (size_t j = 0; j < e->nstatus; j++) {
      int c = e->status[j].status / 100;
      if (c < 1 || c > 5) c = 0;
      cls[c] += e->status[j].count;
      total += e->status[j].count;
    }
  }
  return total;
}

static const struct model_backoff *pooled_think(const struct model *m,
                                                uint32_t persona) {
  for (size_t i = 0; i < m->nbackoffs; i++)
    if (m->backoffs[i].from == MODEL_ANY && m->backoffs[i].persona == persona)
      return &m->backoffs[i];
  return NULL;
}

/* ---- personas ---------------------------------------------------------- */

#define PERSONA_TOP 5 /* endpoints shown per persona */

/* What inspect shows of each persona, from the model's tables. */
struct persona_view {
  uint64_t requests;
  const struct hist *think; /* pooled think time, or NULL */
  uint32_t top[PERSONA_TOP];
  uint64_t top_n[PERSONA_TOP];
  size_t ntop;
  /* Its most frequent user agent (persona_user_agent): index into m->uas,
   * its sessions and the sessions counted; ua_sessions = 0 when none. */
  uint32_t top_ua;
  uint64_t top_ua_n, ua_sessions;
};

/* The model-wide distributions: with several personas, their merge. */
struct totals {
  struct hist think, length, duration;
};

static void totals_cleanup(struct totals *t) {
  hist_cleanup(&t->think);
  hist_cleanup(&t->length);
  hist_cleanup(&t->duration);
}

static int totals_of(const struct model *m, struct totals *t) {
  hist_init(&t->think);
  hist_init(&t->length);
  hist_init(&t->duration);
  int rc = 0;
  for (uint32_t c = 0; c < m->npersonas && !rc; c++) {
    const struct model_persona *p = &m->personas[c];
    const struct model_backoff *b = pooled_think(m, c);
    if (b) rc = hist_merge(&t->think, &b->think);
    if (!rc && p->length.has) rc = hist_merge(&t->length, &p->length.h);
    if (!rc && p->duration.has) rc = hist_merge(&t->duration, &p->duration.h);
  }
  /* A model without personas still has its pooled think time. */
  const struct model_backoff *b = pooled_think(m, 0);
  if (!rc && m->npersonas == 0 && b) rc = hist_merge(&t->think, &b->think);
  if (rc) totals_cleanup(t);
  return rc;
}

/* Requests and most requested endpoints per persona (v has npersonas
 * entries). Returns 0 or -ENOMEM. */
static int persona_views(const struct model *m, struct persona_view *v) {
  uint64_t *n = calloc(m->nendpoints ? m->nendpoints : 1, sizeof *n);
  if (!n) return -ENOMEM;
  for (uint32_t c = 0; c < m->npersonas; c++) {
    struct persona_view *pv = &v[c];
    memset(pv, 0, sizeof *pv);
    memset(n, 0, (m->nendpoints ? m->nendpoints : 1) * sizeof *n);
    for (size_t i = 0; i < m->ntransitions; i++) {
      const struct model_transition *t = &m->transitions[i];
      if (t->persona != c || t->to < 0 || (size_t)t->to >= m->nendpoints)
        continue;
      n[t->to] += t->count;
      pv->requests += t->count;
    }
    for (uint32_t e = 0; e < m->nendpoints; e++) {
      if (!n[e]) continue;
      size_t at = pv->ntop;
      while (at > 0 && n[e] > pv->top_n[at - 1]) at--;
      if (at >= PERSONA_TOP) continue;
      if (pv->ntop < PERSONA_TOP) pv->ntop++;
      for (size_t q = pv->ntop - 1; q > at; q--) {
        pv->top[q] = pv->top[q - 1];
        pv->top_n[q] = pv->top_n[q - 1];
      }
      pv->top[at] = e;
      pv->top_n[at] = n[e];
    }
    const struct model_backoff *b = pooled_think(m, c);
    pv->think = b ? &b->think : NULL;
    for (size_t i = 0; i < m->npersona_uas; i++) {
      const struct model_persona_ua *x = &m->persona_uas[i];
      if (x->persona != c || x->ua >= m->nuas) continue;
      pv->ua_sessions += x->count;
      /* Ties: the user agent more frequent overall (the lower index). */
      if (x->count > pv->top_ua_n ||
          (x->count == pv->top_ua_n && x->ua < pv->top_ua)) {
        pv->top_ua = x->ua;
        pv->top_ua_n = x->count;
      }
    }
  }
  free(n);
  return 0;
}

/* How the number of personas came about, from capture's meta. */
static const char *personas_how(const struct model *m) {
  const char *note = model_meta_get(m, "persona_note");
  if (note && *note) return note;
  const char *req = model_meta_get(m, "personas");
  if (!req) return "";
  if (strcmp(req, "auto") == 0)
    return m->npersonas > 1 ? "k chosen by BIC"
           : model_meta_i64(m, "sessions", 0) < 2 * PERSONA_MIN_SESSIONS
               ? "too few sessions to tell behaviours apart"
               : "one behaviour found";
  return "forced with --personas";
}

static void print_personas(const struct model *m, FILE *out) {
  struct persona_view *v = calloc(m->npersonas ? m->npersonas : 1, sizeof *v);
  if (!v || persona_views(m, v)) {
    free(v);
    fprintf(out, "%-17s (out of memory)\n", "personas");
    return;
  }
  const char *how = personas_how(m);
  fprintf(out, "\n%-17s %zu%s%s%s\n", "personas", m->npersonas,
          *how ? " (" : "", how, *how ? ")" : "");
  fprintf(out, "  %-26s %6s %9s %8s %10s\n", "name", "weight", "sessions",
          "len p50", "think p50");
  for (uint32_t c = 0; c < m->npersonas; c++) {
    const struct model_persona *p = &m->personas[c];
    const struct persona_view *pv = &v[c];
    char a[32], b[32], len[32];
    snprintf(len, sizeof len, "%" PRIu64,
             p->length.has ? hist_quantile(&p->length.h, 0.5) : 0);
    fprintf(out, "  %-26s %5.1f%% %9s %8s %10s\n    ", p->name,
            100.0 * p->weight, units_count(p->sessions, a, sizeof a),
            p->length.has ? len : "-",
            pv->think && pv->think->n
                ? units_duration((int64_t)hist_quantile(pv->think, 0.5), b,
                                 sizeof b)
                : "-");
    for (size_t i = 0; i < pv->ntop && i < 3; i++) {
      const struct model_endpoint *e = &m->endpoints[pv->top[i]];
      fprintf(out, "%s%s %s %.0f%%", i ? ", " : "", e->method, e->templ,
              pv->requests ? 100.0 * (double)pv->top_n[i] / (double)pv->requests
                           : 0.0);
    }
    fputc('\n', out);
    if (pv->ua_sessions)
      fprintf(out, "    user agent %.60s %.0f%%%s\n", m->uas[pv->top_ua].value,
              100.0 * (double)pv->top_ua_n / (double)pv->ua_sessions,
              m->uas[pv->top_ua].is_bot ? " (bot)" : "");
  }
  free(v);
}

static json_t *personas_json(const struct model *m);

/* Sessions per hour over the captured span (at most 48 buckets, so a
 * longer span folds more hours into one character). */
static size_t arrival_curve(const struct model *m, uint64_t *buckets,
                            size_t max, int64_t *bucket_minutes,
                            int64_t *first_minute) {
  if (m->narrivals == 0) return 0;
  int64_t lo = m->arrivals[0].minute, hi = lo;
  for (size_t i = 0; i < m->narrivals; i++) {
    if (m->arrivals[i].minute < lo) lo = m->arrivals[i].minute;
    if (m->arrivals[i].minute > hi) hi = m->arrivals[i].minute;
  }
  int64_t span = hi - lo + 1, width = 60;
  while ((span + width - 1) / width > (int64_t)max) width *= 2;
  if (span < 60 * 4) width = span >= 48 ? (span + 47) / 48 : 1;
  size_t n = (size_t)((span + width - 1) / width);
  if (n > max) n = max;
  memset(buckets, 0, max * sizeof *buckets);
  for (size_t i = 0; i < m->narrivals; i++) {
    size_t b = (size_t)((m->arrivals[i].minute - lo) / width);
    if (b >= n) b = n - 1;
    buckets[b] += m->arrivals[i].sessions;
  }
  *bucket_minutes = width;
  *first_minute = lo;
  return n;
}

static void fmt_time(int64_t us, char *buf, size_t len) {
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_dist_line(FILE *out, const char *label, const struct hist *h,
                            int is_time) {
  char a[32], b[32], c[32], d[32];
  if (!h || h->n == 0) {
    fprintf(out, "%-17s (no data)\n", label);
    return;
  }
  if (is_time) {
    fprintf(out, "%-17s p50 %s  p90 %s  p99 %s  max %s  (n=%" PRIu64 ")\n",
            label, units_duration((int64_t)hist_quantile(h, 0.5), a, sizeof a),
            units_duration((int64_t)hist_quantile(h, 0.9), b, sizeof b),
            units_duration((int64_t)hist_quantile(h, 0.99), c, sizeof c),
            units_duration((int64_t)h->max, d, sizeof d), h->n);
  } else {
    fprintf(out,
            "%-17s p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
            "  max %" PRIu64 "  mean %.1f  (n=%" PRIu64 ")\n",
            label, hist_quantile(h, 0.5), hist_quantile(h, 0.9),
            hist_quantile(h, 0.99), h->max, hist_mean(h), h->n);
  }
}

static const char *meta_or(const struct model *m, const char *key) {
  const char *v = model_meta_get(m, key);
  return v ? v : "?";
}

/* Completeness of a packet capture (meta pcap_*): what was found and what
 * was lost, so that a lossy capture is visible. */
static void print_packets(const struct model *m, FILE *out) {
  if (!model_meta_get(m, "pcap_packets")) return;
  char a[32], b[32], c[32], d[32], e[32], f[32];
#define PM(k) ((uint64_t)model_meta_i64(m, "pcap_" k, 0))
  fprintf(out, "%-17s %s frames, %s TCP flows (%s HTTP, %s not HTTP, %s TLS)\n",
          "packets", units_count(PM("packets"), a, sizeof a),
          units_count(PM("flows"), b, sizeof b),
          units_count(PM("http_flows"), c, sizeof c),
          units_count(PM("non_http_flows"), d, sizeof d),
          units_count(PM("tls_flows"), e, sizeof e));
  fprintf(out,
          "%-17s %s requests, %s responses; %s requests without response, "
          "%s responses without request\n",
          "HTTP found",
          units_count(PM("requests") + PM("notifications"), a, sizeof a),
          units_count(PM("responses"), b, sizeof b),
          units_count(PM("unanswered"), c, sizeof c),
          units_count(PM("orphan_responses"), d, sizeof d));
  fprintf(out,
          "%-17s %s bytes in %s gaps; dropped %s requests, %s responses; "
          "%s reassembly timeouts; %s kernel drops\n",
          "losses", units_count(PM("gap_bytes"), a, sizeof a),
          units_count(PM("gaps"), b, sizeof b),
          units_count(PM("dropped_requests"), c, sizeof c),
          units_count(PM("dropped_responses"), d, sizeof d),
          units_count(PM("reassembly_timeouts"), e, sizeof e),
          units_count(PM("kernel_drops"), f, sizeof f));
#undef PM
}

/* What packets added: body shapes, correlation rules, the trace. */
static void print_packet_learning(const struct model *m, FILE *out) {
  char a[32];
  if (m->nfields) {
    size_t eps = 0;
    for (size_t i = 0; i < m->nbodies; i++)
      if (m->bodies[i].bodies) eps++;
    fprintf(out, "%-17s %zu fields in the JSON bodies of %zu endpoint sides\n",
            "body shapes", m->nfields, eps);
  }
  for (size_t i = 0; i < m->ncorrels && i < 5; i++) {
    const struct model_correl *c = &m->correls[i];
    const struct model_endpoint *s = &m->endpoints[c->src_endpoint];
    const struct model_endpoint *d = &m->endpoints[c->dst_endpoint];
    fprintf(out, "%-17s %s %.30s %s %s -> %s %.30s %s %s (%s)\n",
            i ? "" : "correlations", s->method, s->templ, c->src_loc,
            c->src_name, d->method, d->templ, c->dst_loc, c->dst_name,
            units_count(c->count, a, sizeof a));
  }
  if (m->ncorrels > 5)
    fprintf(out, "%-17s ... and %zu more\n", "", m->ncorrels - 5);
  if (m->ntraces) {
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->ntraces; i++) bytes += m->traces[i].len;
    fprintf(out, "%-17s %s requests of %s sessions recorded (%s zstd)\n",
            "trace", meta_or(m, "trace_requests"), meta_or(m, "trace_sessions"),
            units_bytes((double)bytes, a, sizeof a));
  }
}

static int print_text(const struct model *m, const char *path, FILE *out,
                      size_t top) {
  char a[48], b[48], c[48], d[48];
  uint64_t requests = (uint64_t)model_meta_i64(m, "requests", 0);
  uint64_t lines = (uint64_t)model_meta_i64(m, "lines", 0);
  uint64_t malformed = (uint64_t)model_meta_i64(m, "malformed", 0);
  fprintf(out, "model             %s (schema %s, mimic %s, created %s)\n", path,
          meta_or(m, "schema_version"), meta_or(m, "tool_version"),
          meta_or(m, "created_utc"));
  for (size_t i = 0; i < m->nsources; i++) {
    const struct model_source *s = &m->sources[i];
    fprintf(out, "%-17s %s: %s, %s lines, %s%s%s\n", i ? "" : "source", s->name,
            s->format, units_count(s->lines, a, sizeof a),
            units_bytes((double)s->bytes, b, sizeof b),
            s->error ? "; stopped early: " : "", s->error ? s->error : "");
  }
  int64_t t0 = model_meta_i64(m, "time_start_us", 0);
  int64_t t1 = model_meta_i64(m, "time_end_us", 0);
  fmt_time(t0, a, sizeof a);
  fmt_time(t1, b, sizeof b);
  fprintf(out, "%-17s %s .. %s UTC (%s)\n", "span", a, b,
          units_duration(t1 - t0, c, sizeof c));
  fprintf(out, "%-17s %s  sessions %s  clients %s  endpoints %zu\n", "requests",
          units_count(requests, a, sizeof a),
          units_count((uint64_t)model_meta_i64(m, "sessions", 0), b, sizeof b),
          units_count((uint64_t)model_meta_i64(m, "clients", 0), c, sizeof c),
          m->nendpoints);
  fprintf(out, "%-17s %s (%.2f%% of %s lines)  filtered %s\n", "malformed",
          units_count(malformed, a, sizeof a),
          lines ? 100.0 * (double)malformed / (double)lines : 0.0,
          units_count(lines, b, sizeof b),
          units_count((uint64_t)model_meta_i64(m, "filtered", 0), c, sizeof c));
  for (size_t i = 0; i < m->nmalformed && i < 5; i++) {
    const struct model_malformed *x = &m->malformed[i];
    fprintf(out, "%-17s %s:%" PRIu64 ": %s\n", "",
            x->file < m->nsources ? m->sources[x->file].name : "?", x->line,
            x->reason);
  }
  print_packets(m, out);
  int64_t capped = model_meta_i64(m, "capped_requests", 0);
  if (capped)
    fprintf(out,
            "%-17s %" PRId64 " requests folded into catch-all "
            "endpoints (endpoint limit)\n",
            "capped", capped);

  fprintf(out,
          "\ntop endpoints %*s share     count   p50 lat   p99 lat  "
          "resp p50  errors\n",
          32, "");
  for (size_t i = 0; i < m->nendpoints && i < top; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    char name[512];
    snprintf(name, sizeof name, "%s %s", e->method, e->templ);
    uint64_t errs = 0, tot = 0;
    for (size_t j = 0; j < e->nstatus; j++) {
      tot += e->status[j].count;
      if (e->status[j].status >= 400) errs += e->status[j].count;
    }
    const struct hist *lat = e->latency.has ? &e->latency.h : NULL;
    fprintf(out, "  %-44.44s %5.1f%% %9s %9s %9s %9s %6.1f%%\n", name,
            requests ? 100.0 * (double)e->count / (double)requests : 0.0,
            units_count(e->count, a, sizeof a),
            lat ? units_duration((int64_t)hist_quantile(lat, 0.5), b, sizeof b)
                : "-",
            lat ? units_duration((int64_t)hist_quantile(lat, 0.99), c, sizeof c)
                : "-",
            e->resp_bytes.has
                ? units_bytes((double)hist_quantile(&e->resp_bytes.h, 0.5), d,
                              sizeof d)
                : "-",
            tot ? 100.0 * (double)errs / (double)tot : 0.0);
  }
  if (m->nendpoints > top)
    fprintf(out, "  ... and %zu more (--top N)\n", m->nendpoints - top);

  uint64_t cls[6];
  uint64_t total = status_class_counts(m, cls);
  fprintf(out, "\n%-17s", "status mix");
  for (int k = 1; k <= 5; k++)
    fprintf(out, " %dxx %.1f%% ", k,
            total ? 100.0 * (double)cls[k] / (double)total : 0.0);
  fputc('\n', out);
  struct totals tot;
  if (totals_of(m, &tot)) return -ENOMEM;
  print_dist_line(out, "think time", &tot.think, 1);
  fprintf(out, "%-17s (%s)\n", "", meta_or(m, "think_basis"));
  print_dist_line(out, "session length", &tot.length, 0);
  print_dist_line(out, "session duration", &tot.duration, 1);
  totals_cleanup(&tot);

  uint64_t buckets[48];
  int64_t width = 60, first = 0;
  size_t nb = arrival_curve(m, buckets, 48, &width, &first);
  if (nb) {
    uint64_t peak = 0;
    size_t peak_at = 0;
    for (size_t i = 0; i < nb; i++)
      if (buckets[i] > peak) peak = buckets[i], peak_at = i;
    fprintf(out, "%-17s ", "arrivals");
    for (size_t i = 0; i < nb; i++) {
      size_t lvl = peak ? (size_t)((buckets[i] * 7 + peak / 2) / peak) : 0;
      fputs(SPARK[lvl > 7 ? 7 : lvl], out);
    }
    fmt_time((first + (int64_t)peak_at * width) * 60000000LL, a, sizeof a);
    fprintf(out, "\n%-17s sessions per %s; peak %" PRIu64 " at %s UTC\n", "",
            units_duration(width * 60000000LL, b, sizeof b), peak, a);
  }
  print_personas(m, out);
  fputc('\n', out);
  if (m->nuas) {
    fprintf(out, "%-17s", "user agents");
    for (size_t i = 0; i < m->nuas && i < 3; i++)
      fprintf(out, "%s %.40s (%s)", i ? "," : "", m->uas[i].value,
              units_count(m->uas[i].count, a, sizeof a));
    fputc('\n', out);
  }
  print_packet_learning(m, out);
  if (m->nredactions == 0) {
    fprintf(out, "%-17s none needed\n", "redactions");
  } else {
    for (size_t i = 0; i < m->nredactions; i++) {
      const struct model_redaction *r = &m->redactions[i];
      fprintf(out, "%-17s %s %s: %s values %s\n", i ? "" : "redactions", r->loc,
              r->name, units_count(r->count, a, sizeof a),
              strcmp(r->action, "fake") == 0
                  ? "replaced by format-preserving fakes"
                  : "never stored");
    }
  }
  return ferror(out) ? -EIO : 0;
}

/* ---- JSON ------------------------------------------------------------ */

static json_t *dist_json(const struct hist *h, const char *unit) {
  if (!h || h->n == 0) return json_null();
  return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "unit", unit,
                   "n", (json_int_t)h->n, "min", (json_int_t)h->min, "p50",
                   (json_int_t)hist_quantile(h, 0.5), "p90",
                   (json_int_t)hist_quantile(h, 0.9), "p99",
                   (json_int_t)hist_quantile(h, 0.99), "max",
                   (json_int_t)h->max, "mean", hist_mean(h));
}

static json_t *meta_int(const struct model *m, const char *key) {
  return json_integer((json_int_t)model_meta_i64(m, key, 0));
}

static int print_json(const struct model *m, FILE *out) {
  json_t *root = json_object();
  if (!root) return -ENOMEM;
  const char *v;
  json_object_set_new(root, "schema_version", meta_int(m, "schema_version"));
  v = model_meta_get(m, "tool_version");
  json_object_set_new(root, "tool_version", json_string(v ? v : ""));
  static const char *const ints[] = {
      "requests",        "sessions",      "clients",    "malformed",
      "filtered",        "lines",         "directives", "late_events",
      "capped_requests", "time_start_us", "time_end_us"};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    json_object_set_new(root, ints[i], meta_int(m, ints[i]));
  v = model_meta_get(m, "span_seconds");
  json_object_set_new(root, "span_seconds", json_real(v ? atof(v) : 0));
  json_t *meta = json_object();
  for (size_t i = 0; i < m->nmeta; i++)
    json_object_set_new(meta, m->meta[i].key, json_string(m->meta[i].value));
  json_object_set_new(root, "meta", meta);
  if (model_meta_get(m, "pcap_packets")) {
    /* Completeness of a packet capture, as numbers. */
    json_t *cap = json_object();
    for (size_t i = 0; i < m->nmeta; i++)
      if (strncmp(m->meta[i].key, "pcap_", 5) == 0)
        json_object_set_new(cap, m->meta[i].key + 5,
                            meta_int(m, m->meta[i].key));
    json_object_set_new(root, "capture", cap);
  }

  json_t *sources = json_array();
  for (size_t i = 0; i < m->nsources; i++) {
    const struct model_source *s = &m->sources[i];
    json_array_append_new(
        sources,
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "name",
                  s->name, "format", s->format, "bytes", (json_int_t)s->bytes,
                  "lines", (json_int_t)s->lines, "requests",
                  (json_int_t)s->requests, "malformed",
                  (json_int_t)s->malformed, "filtered", (json_int_t)s->filtered,
                  "directives", (json_int_t)s->directives, "error",
                  s->error ? json_string(s->error) : json_null()));
  }
  json_object_set_new(root, "sources", sources);
  json_t *mal = json_array();
  for (size_t i = 0; i < m->nmalformed; i++) {
    const struct model_malformed *x = &m->malformed[i];
    json_array_append_new(
        mal, json_pack("{s:s, s:I, s:s}", "file",
                       x->file < m->nsources ? m->sources[x->file].name : "",
                       "line", (json_int_t)x->line, "reason", x->reason));
  }
  json_object_set_new(root, "malformed_samples", mal);

  json_t *eps = json_array();
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    json_t *st = json_object();
    for (size_t j = 0; j < e->nstatus; j++) {
      char k[16];
      snprintf(k, sizeof k, "%d", e->status[j].status);
      json_object_set_new(st, k, json_integer((json_int_t)e->status[j].count));
    }
    json_t *params = json_array();
    for (size_t j = 0; j < m->nparams; j++) {
      const struct model_param *p = &m->params[j];
      if (p->endpoint != i) continue;
      json_array_append_new(
          params, json_pack("{s:s, s:s, s:s, s:f, s:I, s:b}", "loc", p->loc,
                            "name", p->name, "type", p->type, "presence",
                            p->presence, "distinct", (json_int_t)p->distinct,
                            "redacted", p->redacted));
    }
    json_array_append_new(
        eps,
        json_pack(
            "{s:I, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id",
            (json_int_t)i, "method", e->method, "template", e->templ, "count",
            (json_int_t)e->count, "status", st, "latency_us",
            dist_json(e->latency.has ? &e->latency.h : NULL, "us"),
            "response_bytes",
            dist_json(e->resp_bytes.has ? &e->resp_bytes.h : NULL, "bytes"),
            "request_bytes",
            dist_json(e->req_bytes.has ? &e->req_bytes.h : NULL, "bytes"),
            "params", params));
  }
  json_object_set_new(root, "endpoints", eps);

  uint64_t cls[6];
  status_class_counts(m, cls);
  json_object_set_new(root, "status_classes",
                      json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "1xx",
                                (json_int_t)cls[1], "2xx", (json_int_t)cls[2],
                                "3xx", (json_int_t)cls[3], "4xx",
                                (json_int_t)cls[4], "5xx", (json_int_t)cls[5],
                                "other", (json_int_t)cls[0]));
  struct totals tot;
  if (totals_of(m, &tot)) {
    json_decref(root);
    return -ENOMEM;
  }
  json_object_set_new(root, "think_time_us", dist_json(&tot.think, "us"));
  json_t *personas = personas_json(m);
  if (!personas) {
    totals_cleanup(&tot);
    json_decref(root);
    return -ENOMEM;
  }
  json_object_set_new(root, "personas", personas);
  json_object_set_new(root, "session_length", dist_json(&tot.length, "count"));
  json_object_set_new(root, "session_duration_us",
                      dist_json(&tot.duration, "us"));
  totals_cleanup(&tot);
  json_t *arr = json_array();
  for (size_t i = 0; i < m->narrivals; i++)
    json_array_append_new(arr, json_pack("{s:I, s:I}", "minute",
                                         (json_int_t)m->arrivals[i].minute,
                                         "sessions",
                                         (json_int_t)m->arrivals[i].sessions));
  json_object_set_new(root, "arrivals", arr);
  json_t *red = json_array();
  for (size_t i = 0; i < m->nredactions; i++) {
    const struct model_redaction *r = &m->redactions[i];
    json_array_append_new(red, json_pack("{s:s, s:s, s:s, s:I}", "loc", r->loc,
                                         "name", r->name, "action", r->action,
                                         "count", (json_int_t)r->count));
  }
  json_object_set_new(root, "redactions", red);
  if (m->nheaders || m->nfields || m->ncorrels || m->ntraces) {
    /* What packets added. */
    json_t *hs = json_array(), *fs = json_array(), *cs = json_array();
    for (size_t i = 0; i < m->nheaders; i++) {
      const struct model_header *h = &m->headers[i];
      json_array_append_new(
          hs, json_pack("{s:I, s:s, s:s, s:s, s:I}", "endpoint",
                        (json_int_t)h->endpoint, "dir", h->dir, "name", h->name,
                        "value", h->value, "count", (json_int_t)h->count));
    }
    for (size_t i = 0; i < m->nfields; i++) {
      const struct model_field *f = &m->fields[i];
      json_array_append_new(
          fs, json_pack("{s:I, s:s, s:s, s:s, s:f, s:b}", "endpoint",
                        (json_int_t)f->endpoint, "dir", f->dir, "path", f->path,
                        "type", f->type, "presence", f->presence, "redacted",
                        f->redacted));
    }
    for (size_t i = 0; i < m->ncorrels; i++) {
      const struct model_correl *c = &m->correls[i];
      json_array_append_new(
          cs,
          json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:I}", "src_endpoint",
                    (json_int_t)c->src_endpoint, "src_loc", c->src_loc,
                    "src_name", c->src_name, "dst_endpoint",
                    (json_int_t)c->dst_endpoint, "dst_loc", c->dst_loc,
                    "dst_name", c->dst_name, "count", (json_int_t)c->count));
    }
    json_object_set_new(root, "headers", hs);
    json_object_set_new(root, "body_fields", fs);
    json_object_set_new(root, "correlations", cs);
    json_object_set_new(root, "trace_requests", meta_int(m, "trace_requests"));
  }
  json_t *uas = json_array();
  for (size_t i = 0; i < m->nuas; i++)
    json_array_append_new(
        uas, json_pack("{s:s, s:I, s:b}", "value", m->uas[i].value, "count",
                       (json_int_t)m->uas[i].count, "bot", m->uas[i].is_bot));
  json_object_set_new(root, "user_agents", uas);

  int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', out);
  json_decref(root);
  return rc || ferror(out) ? -EIO : 0;
}

/* Each persona: name, weight, sessions, requests, its length, duration
 * and think time, its most requested endpoints and its most frequent user
 * agent (null when the model has none per persona). NULL on -ENOMEM. */
static json_t *personas_json(const struct model *m) {
  struct persona_view *v = calloc(m->npersonas ? m->npersonas : 1, sizeof *v);
  json_t *arr = json_array();
  if (!v || !arr || persona_views(m, v)) {
    free(v);
    json_decref(arr);
    return NULL;
  }
  for (uint32_t c = 0; c < m->npersonas; c++) {
    const struct model_persona *p = &m->personas[c];
    const struct persona_view *pv = &v[c];
    json_t *top = json_array();
    for (size_t i = 0; i < pv->ntop; i++) {
      const struct model_endpoint *e = &m->endpoints[pv->top[i]];
      json_array_append_new(
          top,
          json_pack("{s:I, s:s, s:s, s:I, s:f}", "id", (json_int_t)pv->top[i],
                    "method", e->method, "template", e->templ, "count",
                    (json_int_t)pv->top_n[i], "share",
                    pv->requests ? (double)pv->top_n[i] / (double)pv->requests
                                 : 0.0));
    }
    json_t *ua = json_null();
    if (pv->ua_sessions) {
      const struct model_ua *u = &m->uas[pv->top_ua];
      ua = json_pack("{s:s, s:I, s:f, s:b}", "value", u->value, "sessions",
                     (json_int_t)pv->top_ua_n, "share",
                     (double)pv->top_ua_n / (double)pv->ua_sessions, "bot",
                     u->is_bot);
    }
    json_array_append_new(
        arr, json_pack("{s:s, s:f, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "name",
                       p->name, "weight", p->weight, "sessions",
                       (json_int_t)p->sessions, "requests",
                       (json_int_t)pv->requests, "session_length",
                       dist_json(p->length.has ? &p->length.h : NULL, "count"),
                       "session_duration_us",
                       dist_json(p->duration.has ? &p->duration.h : NULL, "us"),
                       "think_time_us", dist_json(pv->think, "us"),
                       "top_endpoints", top, "top_user_agent", ua));
  }
  free(v);
  return arr;
}

int inspect_print(const struct model *m, const char *path, FILE *out, int json,
                  size_t top) {
  return json ? print_json(m, out) : print_text(m, path, out, top);
}
