#include "scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "metrics.h"
#include "run.h"
#include "units.h"

#define MAX_PHASES 1000
#define RECHECK_US 250000 /* parked closed users look again this often */

/* latency-degradation: pauses grow to this by the end; slow reads start
 * at a quarter of the run at SLOW_START bytes/s and end 32 times slower. */
#define LAT_MAX_EXTRA_US 1000000
#define SLOW_START (1024.0 * 1024)
#define SLOW_END (32.0 * 1024)
/* stress: the rate steps up by STRESS_GROWTH every tenth of the run. */
#define STRESS_STEPS 10
#define STRESS_GROWTH 1.5
/* burst: on at twice the mean, then off, six times per run (each period
 * at least 2 s). */
#define BURST_ON 2.0
#define BURST_PERIODS 6
#define BURST_MIN_PERIOD_US 2000000
/* demo: eight incidents per (compressed) day, each a tenth of the time
 * between them, alternately an error burst and a latency spike. */
#define DEMO_INCIDENTS 8
#define DEMO_ERROR_RATE 0.3
#define DEMO_SURGE 3.0
#define DEMO_SLOW_BPS (16 * 1024)
#define DAY_US (86400LL * 1000000)

enum kind {
  K_NORMAL,
  K_PEAK,
  K_ERROR,
  K_LATENCY,
  K_STRESS,
  K_BURST,
  K_SOAK,
  K_DIURNAL,
  K_DEMO,
  K_COUNT
};

static const struct {
  const char *name, *help;
  int needs_duration, in_phases;
} presets[K_COUNT] = {
    {"normal", "steady at the model's mean rate", 0, 1},
    {"peak",
     "ramp up over the first 25% to the peak (the model's busiest hour, "
     "at least 2x the mean), hold, ramp down over the last 25%",
     1, 1},
    {"error-injection",
     "steady, with faults on 15% of requests (--error-rate; needs fault "
     "injection, not built yet: warns)",
     0, 1},
    {"latency-degradation",
     "steady arrivals; pauses before each request grow to 1 s and "
     "responses are read ever slower (1 MiB/s to 32 KiB/s) as the run goes",
     1, 1},
    {"stress",
     "no think time; the rate steps up 1.5x every tenth of the run until "
     "errors (5%) or p99 latency (1 s) cross a limit; reports the knee",
     1, 0},
    {"burst", "on/off: twice the mean rate, then nothing, six times per run", 1,
     1},
    {"soak",
     "long steady run; reports memory (RSS) and rate stability over time", 0,
     0},
    {"diurnal",
     "the learned day (time-of-day profile) from 00:00, compressed by "
     "--time-scale",
     0, 0},
    {"demo",
     "runs until stopped: the learned day, compressed, with an incident "
     "(error burst or latency spike) eight times a day",
     0, 0},
};

struct phase {
  int kind;
  int64_t start_us, dur_us;
  double scale;
  uint64_t users;
  double max_rps;
  double error_rate; /* < 0: the preset's */
};

struct scenario {
  char name[32];
  int is_phases;
  struct scenario_params p;
  double peak_factor;
  struct phase *ph;
  size_t nph;
  int64_t total_us; /* phases: their sum */
  double peak;
};

const char *scenario_preset_name(size_t i) {
  return i < K_COUNT ? presets[i].name : NULL;
}

const char *scenario_preset_help(size_t i) {
  return i < K_COUNT ? presets[i].help : NULL;
}

static int find_kind(const char *name) {
  for (int k = 0; k < K_COUNT; k++)
    if (strcmp(presets[k].name, name) == 0) return k;
  return -1;
}

static void list_names(char *err, size_t errlen, size_t at) {
  for (int k = 0; k < K_COUNT && at < errlen; k++)
    at += (size_t)snprintf(err + at, errlen - at, "%s%s", k ? ", " : "",
                           presets[k].name);
}

/* ---- the shapes -----------------------------------------------------------
 */

static double kind_peak(const struct scenario *s, int kind) {
  switch (kind) {
  case K_PEAK: return s->peak_factor;
  case K_STRESS: return pow(STRESS_GROWTH, STRESS_STEPS - 1);
  case K_BURST: return BURST_ON;
  case K_DEMO: return DEMO_SURGE;
  default: return 1;
  }
}

/* The preset `kind` at t_us into a span of d_us (0: not known). */
static void kind_at(const struct scenario *s, int kind, int64_t t, int64_t d,
                    struct scenario_point *pt) {
  double x = d > 0 ? (double)t / (double)d : 0;
  if (x < 0) x = 0;
  if (x > 1) x = 1;
  switch (kind) {
  case K_PEAK: {
    double P = s->peak_factor;
    if (x < 0.25)
      pt->rate = 1 + (P - 1) * x / 0.25;
    else if (x <= 0.75)
      pt->rate = P;
    else
      pt->rate = 1 + (P - 1) * (1 - x) / 0.25;
    break;
  }
  case K_ERROR: pt->error_rate = 0.15; break;
  case K_LATENCY:
    pt->extra_delay_us = (int64_t)(x * LAT_MAX_EXTRA_US);
    if (x >= 0.25)
      pt->recv_bps =
          (int64_t)(SLOW_START * pow(SLOW_END / SLOW_START, (x - 0.25) / 0.75));
    break;
  case K_STRESS: {
    int k = (int)(x * STRESS_STEPS);
    if (k > STRESS_STEPS - 1) k = STRESS_STEPS - 1;
    pt->rate = pow(STRESS_GROWTH, k);
    pt->think = 0;
    break;
  }
  case K_BURST: {
    int64_t period = d / BURST_PERIODS;
    if (period < BURST_MIN_PERIOD_US) period = BURST_MIN_PERIOD_US;
    pt->rate = (t % period) < period / 2 ? BURST_ON : 0;
    break;
  }
  case K_DEMO: {
    double ts = s->p.time_scale > 0 ? s->p.time_scale : 1;
    int64_t every = (int64_t)((double)DAY_US / ts / DEMO_INCIDENTS);
    if (every < 1000) every = 1000;
    /* Incident i runs from (i + 0.5) * every for every / 10. */
    int64_t shifted = t - every / 2;
    if (shifted >= 0 && shifted % every < every / 10) {
      int64_t i = shifted / every;
      pt->incident = i % 2 == 0 ? SCENARIO_ERROR_BURST : SCENARIO_LATENCY_SPIKE;
      if (pt->incident == SCENARIO_ERROR_BURST) {
        pt->error_rate = DEMO_ERROR_RATE;
      } else {
        pt->rate = DEMO_SURGE;
        pt->recv_bps = DEMO_SLOW_BPS;
      }
    }
    break;
  }
  default: break;
  }
}

void scenario_at(const struct scenario *s, int64_t t,
                 struct scenario_point *pt) {
  memset(pt, 0, sizeof *pt);
  pt->rate = 1;
  pt->think = 1;
  size_t i = 0;
  /* Phases are few and checked in order; after the last, it holds. */
  while (i + 1 < s->nph && t >= s->ph[i].start_us + s->ph[i].dur_us) i++;
  const struct phase *ph = &s->ph[i];
  kind_at(s, ph->kind, t - ph->start_us, ph->dur_us, pt);
  pt->rate *= ph->scale;
  pt->phase = (unsigned)i;
  pt->max_rps = ph->max_rps;
  /* --error-rate replaces the presets' rate (in demo, that of its error
   * bursts); a phase's own error_rate wins over both. */
  if (s->p.have_error_rate) {
    if (ph->kind == K_DEMO)
      pt->error_rate =
          pt->incident == SCENARIO_ERROR_BURST ? s->p.error_rate : 0;
    else
      pt->error_rate = s->p.error_rate;
  }
  if (ph->error_rate >= 0) pt->error_rate = ph->error_rate;
  if (ph->users)
    pt->users = ph->users;
  else if (s->p.users)
    pt->users = (uint64_t)ceil((double)s->p.users * pt->rate / s->peak);
}

double scenario_rate_peak(const struct scenario *s) {
  return s->peak;
}

enum scenario_base scenario_base(const struct scenario *s) {
  if (s->is_phases) return SCENARIO_BASE_MEAN;
  int k = s->ph[0].kind;
  return k == K_DIURNAL || k == K_DEMO ? SCENARIO_BASE_DAY : SCENARIO_BASE_MEAN;
}

int64_t scenario_duration(const struct scenario *s) {
  if (s->is_phases) return s->total_us;
  if (s->ph[0].kind == K_DEMO) return INT64_MAX;
  return 0;
}

int scenario_wants_faults(const struct scenario *s) {
  if (s->p.have_error_rate && s->p.error_rate > 0) return 1;
  for (size_t i = 0; i < s->nph; i++)
    if (s->ph[i].kind == K_ERROR || s->ph[i].kind == K_DEMO ||
        s->ph[i].error_rate > 0)
      return 1;
  return 0;
}

const char *scenario_name(const struct scenario *s) {
  return s->name;
}

size_t scenario_phases(const struct scenario *s) {
  return s->nph;
}

int64_t scenario_next_change(const struct scenario *s, int64_t t) {
  int64_t end = s->is_phases ? s->total_us : s->ph[0].dur_us;
  if (end > 0 && t >= end) return INT64_MAX;
  return t + RECHECK_US;
}

static void compute_peak(struct scenario *s) {
  s->peak = 1e-9;
  for (size_t i = 0; i < s->nph; i++) {
    double v = s->ph[i].scale * kind_peak(s, s->ph[i].kind);
    if (v > s->peak) s->peak = v;
  }
}

/* ---- construction -------------------------------------------------------- */

static struct scenario *alloc_scenario(const struct scenario_params *p,
                                       size_t nph) {
  struct scenario *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->ph = calloc(nph ? nph : 1, sizeof *s->ph);
  if (!s->ph) {
    free(s);
    return NULL;
  }
  s->p = *p;
  s->peak_factor = p->peak_factor >= 1 ? p->peak_factor : 2;
  return s;
}

int scenario_new(const char *name, const struct scenario_params *p,
                 struct scenario **out, char *err, size_t errlen) {
  int k = find_kind(name);
  if (k < 0) {
    int n =
        snprintf(err, errlen, "unknown scenario '%s'; the presets are: ", name);
    list_names(err, errlen, n > 0 ? (size_t)n : 0);
    return ERR_NOTFOUND;
  }
  struct scenario *s = alloc_scenario(p, 1);
  if (!s) return -ENOMEM;
  snprintf(s->name, sizeof s->name, "%s", name);
  s->nph = 1;
  s->ph[0] = (struct phase){
      .kind = k, .dur_us = p->duration_us, .scale = 1, .error_rate = -1};
  compute_peak(s);
  *out = s;
  return 0;
}

int scenario_set_duration(struct scenario *s, int64_t d, char *err,
                          size_t errlen) {
  if (s->is_phases) return 0;
  if (d <= 0 && presets[s->ph[0].kind].needs_duration) {
    snprintf(err, errlen,
             "--scenario %s is shaped over the run's length: give "
             "--duration",
             s->name);
    return ERR_USAGE;
  }
  s->ph[0].dur_us = d;
  s->p.duration_us = d;
  return 0;
}

void scenario_free(struct scenario *s) {
  if (!s) return;
  free(s->ph);
  free(s);
}

/* A duration: seconds as a JSON number, or a string with a unit. */
static int json_duration(json_t *v, int64_t *us) {
  if (json_is_number(v)) {
    double d = json_number_value(v);
    if (!(d > 0) || d > 1e9) return ERR_PARSE;
    *us = (int64_t)(d * 1e6);
    return 0;
  }
  if (json_is_string(v))
    return units_parse_duration(json_string_value(v), us) || *us <= 0
               ? ERR_PARSE
               : 0;
  return ERR_PARSE;
}

static int json_nonneg(json_t *v, double max, double *out) {
  if (!json_is_number(v)) return ERR_PARSE;
  double d = json_number_value(v);
  if (!(d >= 0) || d > max) return ERR_PARSE;
  *out = d;
  return 0;
}

static int parse_phase(struct scenario *s, json_t *o, size_t i, int64_t start,
                       char *err, size_t errlen) {
  struct phase *ph = &s->ph[i];
  *ph = (struct phase){
      .kind = K_NORMAL, .start_us = start, .scale = 1, .error_rate = -1};
  if (!json_is_object(o)) {
    snprintf(err, errlen, "phase %zu: expected an object", i + 1);
    return ERR_PARSE;
  }
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    double d;
    if (strcmp(key, "duration") == 0) {
      if (json_duration(v, &ph->dur_us)) {
        snprintf(err, errlen,
                 "phase %zu: \"duration\" must be seconds or a duration "
                 "such as \"30s\"",
                 i + 1);
        return ERR_PARSE;
      }
    } else if (strcmp(key, "scale") == 0) {
      if (json_nonneg(v, 1e6, &ph->scale)) {
        snprintf(err, errlen, "phase %zu: \"scale\" must be a factor >= 0",
                 i + 1);
        return ERR_PARSE;
      }
    } else if (strcmp(key, "users") == 0) {
      if (json_nonneg(v, 1e9, &d) || d < 1 || d != floor(d)) {
        snprintf(err, errlen, "phase %zu: \"users\" must be a count >= 1",
                 i + 1);
        return ERR_PARSE;
      }
      if (!s->p.users) {
        snprintf(err, errlen,
                 "phase %zu: \"users\" needs a closed workload (--users); "
                 "an open one uses \"scale\"",
                 i + 1);
        return ERR_PARSE;
      }
      ph->users = (uint64_t)d;
    } else if (strcmp(key, "max_rps") == 0) {
      if (json_nonneg(v, 1e9, &ph->max_rps)) {
        snprintf(err, errlen, "phase %zu: \"max_rps\" must be a rate >= 0",
                 i + 1);
        return ERR_PARSE;
      }
    } else if (strcmp(key, "error_rate") == 0) {
      if (json_nonneg(v, 1, &ph->error_rate)) {
        snprintf(err, errlen,
                 "phase %zu: \"error_rate\" must be a share in [0, 1]", i + 1);
        return ERR_PARSE;
      }
    } else if (strcmp(key, "scenario") == 0) {
      int k = json_is_string(v) ? find_kind(json_string_value(v)) : -1;
      if (k < 0 || !presets[k].in_phases) {
        int n = snprintf(err, errlen,
                         "phase %zu: \"scenario\" must be one of: normal, "
                         "peak, error-injection, latency-degradation, burst",
                         i + 1);
        (void)n;
        return ERR_PARSE;
      }
      ph->kind = k;
    } else if (strcmp(key, "name") != 0 && strcmp(key, "comment") != 0) {
      snprintf(err, errlen, "phase %zu: unknown key \"%s\"", i + 1, key);
      return ERR_PARSE;
    }
  }
  if (!ph->dur_us) {
    snprintf(err, errlen, "phase %zu: \"duration\" is required", i + 1);
    return ERR_PARSE;
  }
  return 0;
}

int scenario_phases_parse(const char *text, const struct scenario_params *p,
                          struct scenario **out, char *err, size_t errlen) {
  json_error_t je;
  json_t *root = json_loads(text, 0, &je);
  if (!root) {
    snprintf(err, errlen, "line %d, column %d: %s", je.line, je.column,
             je.text);
    return ERR_PARSE;
  }
  json_t *list = json_is_object(root) ? json_object_get(root, "phases") : root;
  int rc = ERR_PARSE;
  struct scenario *s = NULL;
  if (!json_is_array(list) || json_array_size(list) == 0 ||
      json_array_size(list) > MAX_PHASES) {
    snprintf(err, errlen,
             "expected a list of 1 to %d phases (or {\"phases\": [...]})",
             MAX_PHASES);
    goto out;
  }
  size_t n = json_array_size(list);
  if (!(s = alloc_scenario(p, n))) {
    rc = -ENOMEM;
    goto out;
  }
  s->is_phases = 1;
  snprintf(s->name, sizeof s->name, "phases");
  int64_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if ((rc = parse_phase(s, json_array_get(list, i), i, start, err, errlen)))
      goto out;
    if (INT64_MAX - start <= s->ph[i].dur_us) {
      snprintf(err, errlen, "phase %zu: the phases last too long", i + 1);
      rc = ERR_PARSE;
      goto out;
    }
    start += s->ph[i].dur_us;
    s->nph = i + 1;
  }
  s->total_us = start;
  s->p.duration_us = start;
  compute_peak(s);
  *out = s;
  s = NULL;
  rc = 0;
out:
  scenario_free(s);
  json_decref(root);
  return rc;
}

int scenario_phases_load(const char *path, const struct scenario_params *p,
                         struct scenario **out, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
    return -e;
  }
  /* Phase files are small: a hard cap keeps a wrong file from eating
   * memory. */
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    fclose(f);
    return -ENOMEM;
  }
  len = fread(buf, 1, cap + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || len > cap) {
    snprintf(err, errlen, "%s: %s", path,
             bad ? "read error" : "larger than 1 MiB");
    free(buf);
    return bad ? -EIO : ERR_LIMIT;
  }
  buf[len] = '\0';
  char msg[256];
  int rc = scenario_phases_parse(buf, p, out, msg, sizeof msg);
  if (rc) snprintf(err, errlen, "%s: %s", path, msg);
  free(buf);
  return rc;
}

/* ---- watching a run --------------------------------------------------------
 */

#define SOAK_SAMPLES_MAX 4096
#define STEPS_MAX 64

struct step {
  double factor, seconds, rps, error_ratio, p99_s;
  uint64_t requests;
};

struct soak_sample {
  double t, rss_mb, rps;
};

struct scenario_watch {
  const struct scenario *s;
  struct scenario_limits lim;
  int kind; /* of a preset, or -1 for phases */
  /* stress */
  struct metrics_sum at_step;
  int64_t step_start_us;
  int step;
  struct step steps[STEPS_MAX];
  int nsteps;
  int stopped, knee_step; /* knee_step: the last step within the limits */
  char stopped_by[16];
  /* soak */
  int64_t every_us, next_us;
  uint64_t last_requests;
  int64_t last_us;
  struct soak_sample *samples;
  size_t nsamples;
};

int scenario_watch_new(const struct scenario *s, const struct metrics *m,
                       const struct scenario_limits *lim,
                       struct scenario_watch **out) {
  struct scenario_watch *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  w->s = s;
  w->lim.max_error_ratio =
      lim && lim->max_error_ratio > 0 ? lim->max_error_ratio : 0.05;
  w->lim.max_p99_s = lim && lim->max_p99_s > 0 ? lim->max_p99_s : 1.0;
  w->kind = s->is_phases ? -1 : s->ph[0].kind;
  w->knee_step = -1;
  metrics_sum(m, &w->at_step);
  if (w->kind == K_SOAK) {
    int64_t d = s->ph[0].dur_us;
    w->every_us = d > 0 ? d / 20 : 10000000;
    if (w->every_us < 1000000) w->every_us = 1000000;
    if (w->every_us > 60000000) w->every_us = 60000000;
    w->next_us = w->every_us;
    w->samples = calloc(SOAK_SAMPLES_MAX, sizeof *w->samples);
    if (!w->samples) {
      free(w);
      return -ENOMEM;
    }
  }
  *out = w;
  return 0;
}

void scenario_watch_free(struct scenario_watch *w) {
  if (!w) return;
  free(w->samples);
  free(w);
}

/* Resident memory of this process, MiB (0 when unknown). */
static double rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  if (n != 2) return 0;
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024);
}

/* A stress step is over: measure it against the limits. */
static int stress_step_end(struct scenario_watch *w, const struct metrics *m,
                           int64_t t, char *why, size_t whylen) {
  struct metrics_sum now;
  metrics_sum(m, &now);
  struct step st = {0};
  struct scenario_point pt;
  scenario_at(w->s, w->step_start_us, &pt);
  st.factor = pt.rate;
  st.seconds = (double)(t - w->step_start_us) / 1e6;
  st.requests = now.requests - w->at_step.requests;
  uint64_t bad =
      (now.errors - w->at_step.errors) + (now.http_5xx - w->at_step.http_5xx);
  st.rps = st.seconds > 0 ? (double)st.requests / st.seconds : 0;
  st.error_ratio = st.requests ? (double)bad / (double)st.requests : 0;
  st.p99_s = metrics_sum_quantile(&w->at_step, &now, 0.99);
  if (w->nsteps < STEPS_MAX) w->steps[w->nsteps++] = st;
  w->at_step = now;
  w->step_start_us = t;
  const char *by = NULL;
  if (st.requests && st.error_ratio > w->lim.max_error_ratio)
    by = "errors";
  else if (st.requests && st.p99_s > w->lim.max_p99_s)
    by = "latency";
  if (!by) {
    w->knee_step = w->nsteps - 1;
    return 0;
  }
  w->stopped = 1;
  snprintf(w->stopped_by, sizeof w->stopped_by, "%s", by);
  snprintf(why, whylen,
           "stress: step %d (x%.2f) crossed the %s limit (errors %.1f%%, "
           "p99 %.3f s at %.0f requests/s): knee %s",
           w->nsteps, st.factor, by, 100 * st.error_ratio, st.p99_s, st.rps,
           w->knee_step >= 0 ? "found" : "below the first step");
  return 1;
}

int scenario_watch_tick(struct scenario_watch *w, struct metrics *m, int64_t t,
                        char *why, size_t whylen) {
  struct scenario_point pt;
  scenario_at(w->s, t, &pt);
  metrics_gauge_set(m, METRICS_RATE_MULTIPLIER, pt.rate);
  metrics_gauge_set(m, METRICS_ERROR_RATE, pt.error_rate);
  metrics_gauge_set(m, METRICS_PHASE, pt.phase);
  if (w->kind == K_STRESS && !w->stopped) {
    int64_t d = w->s->ph[0].dur_us;
    int step = d > 0 ? (int)((double)t / (double)d * STRESS_STEPS) : 0;
    if (step > STRESS_STEPS) step = STRESS_STEPS;
    if (step != w->step) {
      w->step = step;
      return stress_step_end(w, m, t, why, whylen);
    }
  }
  if (w->kind == K_SOAK && t >= w->next_us && w->nsamples < SOAK_SAMPLES_MAX) {
    struct metrics_sum now;
    metrics_sum(m, &now);
    double dt = (double)(t - w->last_us) / 1e6;
    struct soak_sample *s = &w->samples[w->nsamples++];
    s->t = (double)t / 1e6;
    s->rss_mb = rss_mb();
    s->rps = dt > 0 ? (double)(now.requests - w->last_requests) / dt : 0;
    w->last_requests = now.requests;
    w->last_us = t;
    w->next_us = t + w->every_us;
  }
  return 0;
}

static json_t *stress_json(const struct scenario_watch *w) {
  json_t *steps = json_array();
  for (int i = 0; i < w->nsteps; i++) {
    const struct step *s = &w->steps[i];
    json_array_append_new(
        steps,
        json_pack("{s:i, s:f, s:f, s:I, s:f, s:f, s:o}", "step", i + 1,
                  "factor", s->factor, "seconds", s->seconds, "requests",
                  (json_int_t)s->requests, "requests_per_second", s->rps,
                  "error_ratio", s->error_ratio, "p99_ms",
                  isnan(s->p99_s) ? json_null() : json_real(s->p99_s * 1e3)));
  }
  json_t *o = json_object();
  json_object_set_new(o, "steps", steps);
  json_object_set_new(o, "stopped_by",
                      json_string(w->stopped ? w->stopped_by : "duration"));
  json_object_set_new(o, "knee_requests_per_second",
                      w->stopped && w->knee_step >= 0
                          ? json_real(w->steps[w->knee_step].rps)
                          : json_null());
  json_object_set_new(o, "knee_factor",
                      w->stopped && w->knee_step >= 0
                          ? json_real(w->steps[w->knee_step].factor)
                          : json_null());
  json_object_set_new(o, "max_error_ratio", json_real(w->lim.max_error_ratio));
  json_object_set_new(o, "max_p99_ms", json_real(w->lim.max_p99_s * 1e3));
  return o;
}

static json_t *soak_json(const struct scenario_watch *w) {
  json_t *o = json_object(), *arr = json_array();
  double sum = 0, sum2 = 0, first = 0, second = 0;
  size_t n = w->nsamples, nf = 0, ns = 0;
  for (size_t i = 0; i < n; i++) {
    const struct soak_sample *s = &w->samples[i];
    json_array_append_new(arr,
                          json_pack("{s:f, s:f, s:f}", "t", s->t, "rss_mb",
                                    s->rss_mb, "requests_per_second", s->rps));
    sum += s->rps;
    sum2 += s->rps * s->rps;
    if (i < n / 2)
      first += s->rps, nf++;
    else
      second += s->rps, ns++;
  }
  double mean = n ? sum / (double)n : 0;
  double var = n ? sum2 / (double)n - mean * mean : 0;
  json_object_set_new(o, "samples", arr);
  json_object_set_new(o, "rate_mean", json_real(mean));
  json_object_set_new(o, "rate_cv",
                      mean > 0 ? json_real(sqrt(var > 0 ? var : 0) / mean)
                               : json_null());
  json_object_set_new(o, "rate_second_half_over_first",
                      nf && ns && first > 0 ? json_real((second / (double)ns) /
                                                        (first / (double)nf))
                                            : json_null());
  json_object_set_new(o, "rss_start_mb",
                      n ? json_real(w->samples[0].rss_mb) : json_null());
  json_object_set_new(o, "rss_end_mb",
                      n ? json_real(w->samples[n - 1].rss_mb) : json_null());
  json_object_set_new(
      o, "rss_growth_mb",
      n ? json_real(w->samples[n - 1].rss_mb - w->samples[0].rss_mb)
        : json_null());
  return o;
}

json_t *scenario_watch_report(const struct scenario_watch *w) {
  if (!w) return NULL;
  const struct scenario *s = w->s;
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(s->name));
  json_object_set_new(o, "phases", json_integer((json_int_t)s->nph));
  json_object_set_new(o, "rate_peak_factor", json_real(s->peak));
  if (w->kind == K_PEAK)
    json_object_set_new(o, "peak_factor", json_real(s->peak_factor));
  if (w->kind == K_STRESS) json_object_set_new(o, "stress", stress_json(w));
  if (w->kind == K_SOAK) json_object_set_new(o, "soak", soak_json(w));
  return o;
}

/* ---- the command line ---------------------------------------------------- */

static int usage(FILE *err, const char *what, const char *arg) {
  fprintf(err,
          "mimic replay: %s '%s'\nRun 'mimic replay --help' for the "
          "options.\n",
          what, arg);
  return 2;
}

int scenario_option(const char *name, const char *arg, struct run_opts *o,
                    FILE *err) {
  if (strcmp(name, "scenario") == 0) {
    if (find_kind(arg) < 0) {
      char msg[512];
      int n = snprintf(msg, sizeof msg, "unknown scenario: the presets are ");
      list_names(msg, sizeof msg, n > 0 ? (size_t)n : 0);
      return usage(err, msg, arg);
    }
    o->scenario = arg;
  } else if (strcmp(name, "phases") == 0) {
    o->phases_path = arg;
  } else if (strcmp(name, "error-rate") == 0) {
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (*end == '%') end++;
    if (errno || *end || end == arg || !(v >= 0) || v > 100)
      return usage(err, "--error-rate: expected a percentage 0..100, got", arg);
    o->error_rate = v; /* percent, as --error-rate */
    o->have_error_rate = 1;
  } else if (strcmp(name, "metrics-addr") == 0) {
    if (!strchr(arg, ':'))
      return usage(err, "--metrics-addr: expected HOST:PORT, got", arg);
    o->metrics_addr = arg;
  } else if (strcmp(name, "linger") == 0) {
    int64_t us;
    if (units_parse_duration(arg, &us) || us < 0)
      return usage(err, "--linger: expected a duration such as 30s, got", arg);
    o->linger_us = us;
  } else {
    return usage(err, "unknown option", name);
  }
  return 0;
}

int scenario_main(int argc, char **argv) {
  if (argc > 1 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fputs("usage: mimic scenarios\n\nLists the load shapes of 'mimic replay "
          "--scenario NAME', one a line.\n",
          stdout);
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "mimic scenarios: takes no arguments\n");
    return 2;
  }
  for (int k = 0; k < K_COUNT; k++)
    printf("%-20s %s\n", presets[k].name, presets[k].help);
  return 0;
}
