#include "run.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cleanup.h"
#include "engine.h"
#include "err.h"
#include "faults.h"
#include "flow.h"
#include "hash.h"
#include "hist.h"
#include "metrics.h"
#include "metrics_server.h"
#include "journal.h"
#include "model.h"
#include "rng.h"
#include "scenario.h"
#include "stats.h"
#include "synth.h"
#include "units.h"

#define NONE UINT32_MAX
#define UNLIMITED UINT32_MAX
#define TARGET_MAX 2048
#define LOGBUF (64u << 10)
#define SLOTS_MAX 1024
#define TIMER_SLACK_US 200 /* events this close are due now (ms timers) */
/* The rate cap's window: a second, plus room for the jitter between a
 * request leaving (on_sent) and the target's clock on an idle machine. (A
 * target that is itself late, on a busy machine, catches up and can log a
 * few more in one of its seconds: the tests count the cap as requests
 * leave, tests/integration/wire.sh.) */
#define RATE_WINDOW_US 1010000
/* Sends the pacing grid may fall behind while requests wait for it (a
 * timer that fires late on a busy machine) are caught up, as far back as
 * this: else every late wake-up costs the rate what it missed. */
#define RATE_CATCHUP_US 100000
#define STOP_GRACE_US                                                          \
  4000000 /* after a signal, in-flight requests get                            \
             this long before they are aborted */

enum ustate { U_FREE, U_WAIT, U_READY, U_FLIGHT, U_DONE };
enum { STOP_NONE, STOP_SOFT, STOP_ABORT };

/* A virtual user: what it needs while thinking, and nothing more (no curl
 * handle, buffer or uv handle: those belong to the requests in flight). */
struct vuser {
  struct rng rng; /* its own stream: the plan never depends on
                     timing, thread or other users */
  struct synth_walk walk;
  uint64_t id;        /* 1-based user number (open: arrival number) */
  int64_t due_us;     /* intended send time of its next request */
  uint32_t session;   /* 1-based session number */
  uint32_t budget;    /* requests left, or UNLIMITED */
  uint32_t heap_pos;  /* index in the due heap while waiting */
  uint32_t next_free; /* free list (open model) */
  uint8_t state;
  uint8_t in_session; /* its session has sent a request (metrics) */
  uint32_t vs; /* its stateful-session state in the worker's flow, or NONE
                  (fits the struct's padding: thinking users stay small) */
};

struct due {
  int64_t due_us;
  uint64_t user_id; /* ties broken by user: the dry-run plan is stable */
  uint32_t user;
};

/* A request in flight: what the completion needs to know. */
struct flight {
  uint32_t user, ep, next_free;
  int64_t intended_us;
  struct flow_note note; /* note.fault: the injected fault (FAULT_NONE, or
                            a kind: faults_name) of this request */
  uint64_t win_seq;      /* its entry in the rate window (0: none) */
  char target[TARGET_MAX];
};

/* Open model: a non-homogeneous Poisson process over the learned
 * per-minute curve times scale, sampled by inversion of the cumulative
 * intensity, and replayed time_scale times faster. Every worker runs the
 * same generator and takes every nworkers-th arrival. */
struct arrivals {
  const double *per_minute;
  size_t n;
  double scale, time_scale;
  struct rng rng;
  double t;    /* seconds of log time since the curve's first minute */
  double from; /* where the replay began in it (--from) */
  uint64_t k;
  int none; /* the curve is all zeros */
  /* A load shape: arrivals are drawn at scale x its peak factor and each
   * kept with probability factor(t) / peak (thinning), which keeps a
   * non-homogeneous Poisson process of intensity curve x scale x factor. */
  const struct scenario *sc;
  double peak;
};

struct snap {
  uint64_t requests, responses, errors, ok, sessions, active;
  struct hist window;
};

struct shared;

struct worker {
  struct shared *sh;
  unsigned index;
  pthread_t thread;
  uv_loop_t loop;
  struct engine *engine;
  struct flow_worker *fw; /* NULL without a flow */
  uv_timer_t timer, tick;
  uv_async_t wake;
  int handles_open, finishing, failed;
  int64_t armed_us;
  /* users */
  struct vuser *users;
  size_t nusers, cap_users;
  uint32_t free_user;
  uint64_t active;
  /* waiting for their time */
  struct due *heap;
  size_t nheap, cap_heap;
  /* waiting for a slot or a token */
  uint32_t *ready;
  size_t ready_head, ready_len, ready_cap;
  /* requests in flight */
  struct flight *flights;
  size_t nflights;
  uint32_t free_flight;
  /* open model */
  struct arrivals arr;
  int64_t next_arrival_us; /* INT64_MAX: none */
  uint64_t planned_sessions, dropped_sessions;
  /* closed model */
  uint64_t planned_requests;
  /* rate cap: sends paced on a grid of interval_us (a late timer catches
   * up by one interval at most), and a ring of the last sends' times that
   * holds the hard cap: no 1-second window gets more than win_cap sends */
  int64_t interval_us, next_allowed_us;
  int64_t *win;
  size_t win_cap, win_len, win_head;
  uint64_t win_total; /* entries ever made (the newest one's number) */
  uint64_t win_taken; /* the entry of the send just allowed (0: none) */
  /* phase */
  int stop_sessions, stop_requests;
  int64_t drain_at_us;
  /* results */
  struct stats stats;
  struct hist window;
  uint64_t ok;
  pthread_mutex_t lock; /* guards snap and alive */
  struct snap snap;
  int alive;
  /* access log */
  char *logbuf;
  size_t loglen;
  int64_t log_second;
  char log_time[40];
  /* load shape: the point in force (evaluated at shape_us) */
  struct scenario_point pt;
  int64_t shape_us;
  /* metrics: this worker's shard and the totals it publishes there */
  struct metrics_shard *ms;
  struct metrics_worker mw;
  /* dry run */
  int dry;
  int64_t vnow;
  char err[512];
  int inited; /* worker_init got as far as the mutex */
};

struct shared {
  const struct run_opts *o;
  struct model *model;
  struct synth *synth;
  struct worker *w;
  unsigned nworkers;
  uint32_t nstats;   /* endpoints in the statistics: the model's, then
                        the flow's extras */
  struct flow *flow; /* stateful sessions, faults, journal; NULL: none */
  struct cleanup_result cleanup;  /* at the end (--cleanup) */
  struct cleanup_result interval; /* summed over --cleanup-interval */
  int cleaned, interval_runs;
  atomic_int stop;
  atomic_uint finished;
  pthread_mutex_t log_lock;
  FILE *log;
  uint64_t t0_hr_us; /* uv_hrtime()/1000 at the start */
  int64_t wall0_us;  /* wall clock at the start */
  /* The start: the clock starts once every worker is set up (its engine
   * makes a curl handle per slot: tens of ms, more on a busy machine),
   * else the arrivals due meanwhile would all go at once, late. */
  pthread_mutex_t start_lock;
  pthread_cond_t start_cond;
  unsigned ready; /* workers set up, or failed */
  int go;
  int64_t end_us;  /* no new sessions after this (INT64_MAX: none) */
  int closed;      /* closed model */
  int64_t span_us; /* the learned curve's length, replayed */
  struct metrics *metrics;
  struct metrics_server *msrv;
  struct scenario *sc; /* --scenario / --phases; NULL: none */
  struct scenario_watch *watch;
  double *curve; /* the shape's base arrival curve (NULL: the learned) */
  size_t ncurve;
};

/* ---- time -------------------------------------------------------------- */

static int64_t now_us(const struct worker *w) {
  if (w->dry) return w->vnow;
  return (int64_t)(uv_hrtime() / 1000 - w->sh->t0_hr_us);
}

static int64_t rel_us(const struct worker *w, uint64_t engine_us) {
  return (int64_t)(engine_us - w->sh->t0_hr_us);
}

/* ---- arrivals ---------------------------------------------------------- */

static void arrivals_init(struct arrivals *a, const double *per_minute,
                          size_t n, double scale, double time_scale,
                          double from, uint64_t seed) {
  memset(a, 0, sizeof *a);
  a->t = a->from = from;
  a->per_minute = per_minute;
  a->n = n;
  a->scale = scale;
  a->time_scale = time_scale;
  rng_seed(&a->rng, hash_mix(seed, 0x6172726976616cULL));
  double total = 0;
  for (size_t i = 0; i < n; i++) total += per_minute[i];
  a->none = !(total > 0) || !(scale > 0);
}

/* Log-time (seconds) of the next arrival; the curve repeats after its end. */
static double arrivals_next(struct arrivals *a) {
  double e = -log(1.0 - rng_double(&a->rng)); /* Exp(1) of intensity */
  for (;;) {
    size_t minute = (size_t)(a->t / 60.0);
    double rate = a->per_minute[minute % a->n] * a->scale / 60.0;
    double left = (double)(minute + 1) * 60.0 - a->t;
    if (rate * left >= e) {
      a->t += e / rate;
      break;
    }
    e -= rate * left;
    a->t = (double)(minute + 1) * 60.0;
  }
  a->k++;
  return a->t;
}

/* Replay time (us) of the next arrival that belongs to worker w. */
static int64_t next_own_arrival(struct worker *w) {
  struct arrivals *a = &w->arr;
  if (a->none) return INT64_MAX;
  for (;;) {
    uint64_t k = a->k;
    double t = arrivals_next(a);
    int64_t at = (int64_t)((t - a->from) / a->time_scale * 1e6);
    if (at >= w->sh->end_us) return INT64_MAX;
    if (a->sc) {
      /* Every worker draws the same decision: same stream, same order. */
      struct scenario_point pt;
      scenario_at(a->sc, at, &pt);
      if (rng_double(&a->rng) * a->peak >= pt.rate) continue;
    }
    if (k % w->sh->nworkers == w->index) return at;
  }
}

/* ---- the due heap ------------------------------------------------------- */

static int due_less(const struct due *a, const struct due *b) {
  if (a->due_us != b->due_us) return a->due_us < b->due_us;
  return a->user_id < b->user_id;
}

static void heap_set(struct worker *w, size_t i, struct due d) {
  w->heap[i] = d;
  w->users[d.user].heap_pos = (uint32_t)i;
}

static void heap_up(struct worker *w, size_t i) {
  struct due d = w->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!due_less(&d, &w->heap[p])) break;
    heap_set(w, i, w->heap[p]);
    i = p;
  }
  heap_set(w, i, d);
}

static void heap_down(struct worker *w, size_t i) {
  struct due d = w->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= w->nheap) break;
    if (c + 1 < w->nheap && due_less(&w->heap[c + 1], &w->heap[c])) c++;
    if (!due_less(&w->heap[c], &d)) break;
    heap_set(w, i, w->heap[c]);
    i = c;
  }
  heap_set(w, i, d);
}

static int heap_push(struct worker *w, uint32_t user) {
  if (w->nheap == w->cap_heap) {
    size_t ncap = w->cap_heap ? w->cap_heap * 2 : 1024;
    struct due *nh = realloc(w->heap, ncap * sizeof *nh);
    if (!nh) return -ENOMEM;
    w->heap = nh;
    w->cap_heap = ncap;
  }
  struct vuser *u = &w->users[user];
  w->heap[w->nheap] = (struct due){u->due_us, u->id, user};
  heap_up(w, w->nheap++);
  u->state = U_WAIT;
  return 0;
}

static uint32_t heap_pop(struct worker *w) {
  uint32_t user = w->heap[0].user;
  if (--w->nheap) {
    w->heap[0] = w->heap[w->nheap];
    heap_down(w, 0);
  }
  w->users[user].heap_pos = NONE;
  return user;
}

/* ---- the ready queue (waiting for a slot or a token) ------------------- */

static int ready_push(struct worker *w, uint32_t user) {
  if (w->ready_len == w->ready_cap) {
    size_t ncap = w->ready_cap ? w->ready_cap * 2 : 1024;
    uint32_t *nr = malloc(ncap * sizeof *nr);
    if (!nr) return -ENOMEM;
    for (size_t i = 0; i < w->ready_len; i++)
      nr[i] = w->ready[(w->ready_head + i) % w->ready_cap];
    free(w->ready);
    w->ready = nr;
    w->ready_cap = ncap;
    w->ready_head = 0;
  }
  w->ready[(w->ready_head + w->ready_len) % w->ready_cap] = user;
  w->ready_len++;
  w->users[user].state = U_READY;
  return 0;
}

static uint32_t ready_pop(struct worker *w) {
  uint32_t user = w->ready[w->ready_head];
  w->ready_head = (w->ready_head + 1) % w->ready_cap;
  w->ready_len--;
  return user;
}

/* ---- users ------------------------------------------------------------- */

/* The name and template of a statistics endpoint (the flow's extras are
 * numbered after the model's endpoints). */
static const char *ep_method(const struct shared *sh, uint32_t ep) {
  uint32_t n = synth_endpoints(sh->synth);
  return ep < n ? synth_method(sh->synth, ep)
                : flow_extra_method(sh->flow, ep - n);
}

static const char *ep_template(const struct shared *sh, uint32_t ep) {
  uint32_t n = synth_endpoints(sh->synth);
  return ep < n ? synth_template(sh->synth, ep)
                : flow_extra_template(sh->flow, ep - n);
}

static const struct scenario_point *shape(struct worker *w, int64_t now);

static struct flow_user flow_user_of(struct worker *w, uint32_t i) {
  struct vuser *u = &w->users[i];
  /* A load shape's share of faults of the moment, unless --error-rate
   * fixed one. */
  double rate = w->sh->sc && !w->sh->o->have_error_rate
                    ? shape(w, now_us(w))->error_rate
                    : -1;
  return (struct flow_user){u->id, u->session, &u->vs, &u->rng, rate};
}

static void finish_user(struct worker *w, uint32_t i) {
  struct vuser *u = &w->users[i];
  if (w->fw) {
    struct flow_user fu = flow_user_of(w, i);
    flow_session_end(w->fw, &fu);
    flow_user_end(w->fw, &fu);
  }
  u->state = w->sh->closed ? U_DONE : U_FREE;
  w->active--;
  if (u->in_session) w->mw.sessions_active--;
  u->in_session = 0;
  if (!w->sh->closed) {
    u->next_free = w->free_user;
    w->free_user = i;
  }
}

static int64_t scaled_think(const struct worker *w, int64_t think) {
  const struct run_opts *o = w->sh->o;
  if (o->time_scale > 0 && o->time_scale != 1 && !o->keep_think_time)
    think = (int64_t)((double)think / o->time_scale);
  return think;
}

static int64_t delay_override(struct vuser *u, const struct run_opts *o) {
  int64_t span = o->delay_max_us - o->delay_min_us;
  return o->delay_min_us +
         (span > 0 ? (int64_t)rng_below(&u->rng, (uint64_t)span + 1) : 0);
}

static void log_line(struct worker *w, const struct flight *f,
                     const struct vuser *u, const struct engine_result *res,
                     int64_t end_us);

static int dispatch(struct worker *w, uint32_t i);

/* ---- the load shape ----------------------------------------------------- */

static void set_rate_cap(struct worker *w, double rps);

/* The shape's point at `now` (re-evaluated when 10 ms old); a phase change
 * brings its rate cap. */
static const struct scenario_point *shape(struct worker *w, int64_t now) {
  const struct shared *sh = w->sh;
  if (!sh->sc) return &w->pt;
  if (now - w->shape_us < 10000 && now >= w->shape_us) return &w->pt;
  unsigned phase = w->pt.phase;
  double cap = w->pt.max_rps;
  scenario_at(sh->sc, now, &w->pt);
  w->shape_us = now;
  if (w->pt.phase != phase || w->pt.max_rps != cap)
    set_rate_cap(w, w->pt.max_rps > 0 ? w->pt.max_rps : sh->o->max_rps);
  return &w->pt;
}

/* A think time bent by the shape: scaled (stress: none) plus the pause it
 * adds. */
static int64_t shaped_think(struct worker *w, int64_t at, int64_t think) {
  if (!w->sh->sc) return think;
  const struct scenario_point *pt = shape(w, at);
  return (int64_t)((double)think * pt->think) + pt->extra_delay_us;
}

/* Closed workloads: a user beyond the shape's allowance waits until it
 * may go (1 when parked or finished). */
static int parked(struct worker *w, uint32_t i, int64_t now, int *rc) {
  const struct shared *sh = w->sh;
  struct vuser *u = &w->users[i];
  if (!sh->sc || !sh->closed) return 0;
  const struct scenario_point *pt = shape(w, now);
  if (!pt->users || u->id <= pt->users) return 0;
  int64_t again = scenario_next_change(sh->sc, now);
  if (again == INT64_MAX || again >= sh->end_us) {
    finish_user(w, i);
    *rc = 0;
    return 1;
  }
  u->due_us = again;
  *rc = heap_push(w, i);
  if (!*rc && again < w->armed_us) w->armed_us = INT64_MIN;
  return 1;
}

/* The user's next request is intended at due: send it now or wait. */
static int schedule(struct worker *w, uint32_t i, int64_t due) {
  struct vuser *u = &w->users[i];
  u->due_us = due;
  /* In a dry run nothing is sent at once: the loop takes every request
   * from the heap in time order, so zero think times cannot recurse. */
  if (!w->dry && due <= now_us(w)) return dispatch(w, i);
  int rc = heap_push(w, i);
  if (!rc && due < w->armed_us) w->armed_us = INT64_MIN; /* re-arm */
  return rc;
}

/* A session begins: the walk's first endpoint, and the flow's state. */
static int begin_walk(struct worker *w, uint32_t i) {
  struct vuser *u = &w->users[i];
  synth_begin(w->sh->synth, &u->rng, &u->walk);
  w->stats.sessions++;
  if (!w->fw) return 0;
  struct flow_user fu = flow_user_of(w, i);
  return flow_session_begin(w->fw, &fu);
}

static int start_session(struct worker *w, uint32_t i, int64_t due) {
  int rc = begin_walk(w, i);
  return rc ? rc : schedule(w, i, due);
}

/* Decides what the user does after a request completed at end_us; repeat:
 * the walk's step was not done (a fault broke it, or the flow sent
 * something before it), so it is sent again after a pause. */
static int after_request(struct worker *w, uint32_t i, int64_t end_us,
                         int repeat) {
  struct vuser *u = &w->users[i];
  const struct run_opts *o = w->sh->o;
  if (u->budget != UNLIMITED) u->budget--;
  if (w->stop_requests || w->finishing || u->budget == 0) {
    if (u->budget == 0) w->stats.sessions_done++, w->mw.sessions_completed++;
    finish_user(w, i);
    return 0;
  }
  if (repeat) {
    int64_t pause = o->have_delay
                        ? delay_override(u, o)
                        : scaled_think(w, synth_pause(w->sh->synth, &u->rng));
    return schedule(w, i, end_us + pause);
  }
  int64_t think;
  if (synth_step(w->sh->synth, &u->rng, &u->walk, &think)) {
    think = o->have_delay ? delay_override(u, o) : scaled_think(w, think);
    return schedule(w, i, end_us + shaped_think(w, end_us, think));
  }
  w->stats.sessions_done++;
  w->mw.sessions_completed++;
  w->mw.sessions_active--;
  u->in_session = 0;
  if (!w->sh->closed || w->stop_sessions) {
    finish_user(w, i);
    return 0;
  }
  if (w->fw) {
    struct flow_user fu = flow_user_of(w, i);
    flow_session_end(w->fw, &fu);
  }
  u->session++;
  int64_t pause = o->have_delay
                      ? delay_override(u, o)
                      : scaled_think(w, synth_pause(w->sh->synth, &u->rng));
  return start_session(w, i, end_us + shaped_think(w, end_us, pause));
}

/* ---- sending ----------------------------------------------------------- */

static void on_done(void *arg, const struct engine_result *res);
static void publish(struct worker *w);

/* "<user>.<session>" into buf (at least 42 bytes). */
static void session_id(char *buf, uint64_t user, uint32_t session) {
  char *p = units_put_u64(buf, user);
  *p++ = '.';
  p = units_put_u64(p, session);
  *p = '\0';
}

static int submit(struct worker *w, uint32_t i) {
  struct vuser *u = &w->users[i];
  const struct synth *s = w->sh->synth;
  uint32_t fi = w->free_flight;
  struct flight *f = &w->flights[fi];
  w->free_flight = f->next_free;
  f->user = i;
  f->ep = (uint32_t)u->walk.ep;
  f->intended_us = u->due_us;
  f->win_seq = w->win_taken;
  w->win_taken = 0;
  f->note.fault = FAULT_NONE;
  struct engine_req req;
  if (w->fw) {
    /* The flow decides what is sent for this step (maybe a login first,
     * maybe a fault) and fills in ids, body, token and cookies. */
    struct flow_user fu = flow_user_of(w, i);
    int rc = flow_prepare(w->fw, s, &fu, f->ep, f->target, sizeof f->target,
                          &req, &f->note);
    if (rc) {
      f->next_free = w->free_flight;
      w->free_flight = fi;
      return rc;
    }
    f->ep = f->note.ep;
  } else {
    synth_target(s, &u->rng, f->ep, f->target, sizeof f->target);
    req = (struct engine_req){.method = synth_method(s, f->ep)};
  }
  req.target = f->target;
  char session[48];
  session_id(session, u->id, u->session);
  const char *ua = synth_ua(s, u->walk.ua);
  u->state = U_FLIGHT;
  stats_sent(&w->stats, f->ep);
  if (!u->in_session) {
    u->in_session = 1;
    w->mw.sessions_started++;
    w->mw.sessions_active++;
  }
  if (w->dry) {
    const struct run_opts *o = w->sh->o;
    const char *inj = faults_name(f->note.fault);
    fprintf(o->out, "+%.6f %s %s %s \"%s\"%s%s\n", (double)u->due_us / 1e6,
            session, req.method, f->target, ua, inj ? " injected=" : "",
            inj ? inj : "");
    struct engine_result res = {.ctx = (void *)(uintptr_t)fi,
                                .status = 200,
                                .start_us = w->sh->t0_hr_us + (uint64_t)w->vnow,
                                .end_us = w->sh->t0_hr_us + (uint64_t)w->vnow};
    if (inj) {
      /* A fault is planned as failing (then its step is sent again). */
      res.status = 0;
      res.err = ENGINE_E_OTHER;
      res.err_text = "dry run";
    }
    on_done(w, &res);
    return 0;
  }
  req.ua = ua;
  req.session = session;
  req.ctx = (void *)(uintptr_t)fi;
  req.max_recv_bps = w->sh->sc ? shape(w, now_us(w))->recv_bps : 0;
  int rc = engine_submit(w->engine, &req);
  if (rc) {
    /* Cannot happen while flights and slots are sized alike; be safe. */
    f->next_free = w->free_flight;
    w->free_flight = fi;
    return ready_push(w, i);
  }
  return 0;
}

static int slot_free(const struct worker *w) {
  if (w->free_flight == NONE) return 0;
  return w->dry || engine_free_slots(w->engine) > 0;
}

/* When the rate cap lets the next request go (0: no cap). */
static int64_t rate_next(const struct worker *w) {
  if (!w->interval_us) return 0;
  int64_t t = w->next_allowed_us;
  if (w->win_cap && w->win_len == w->win_cap) {
    int64_t oldest = w->win[w->win_head];
    if (oldest + RATE_WINDOW_US > t) t = oldest + RATE_WINDOW_US;
  }
  return t;
}

/* A request finds nothing waiting: the grid restarts from now, so that an
 * idle spell earns no burst. */
static void rate_rest(struct worker *w, int64_t now) {
  if (w->interval_us && w->next_allowed_us < now - w->interval_us)
    w->next_allowed_us = now - w->interval_us;
}

/* Takes the cap's permission for a send at now (rate_next(w) <= now). */
static void rate_take(struct worker *w, int64_t now) {
  w->win_taken = 0;
  if (!w->interval_us) return;
  /* On the grid: while requests wait, a late timer (by a millisecond's
   * rounding, or by tens of them on a busy machine) does not push the
   * next sends later too, else the rate runs low: the sends it missed go
   * now, up to RATE_CATCHUP_US of them (the window below still holds the
   * cap). */
  int64_t back =
      w->interval_us > RATE_CATCHUP_US ? w->interval_us : RATE_CATCHUP_US;
  int64_t next = w->next_allowed_us + w->interval_us;
  if (next < now - back) next = now - back;
  w->next_allowed_us = next;
  if (!w->win_cap) return;
  size_t slot = (w->win_head + w->win_len) % w->win_cap;
  if (w->win_len == w->win_cap) {
    slot = w->win_head;
    w->win_head = (w->win_head + 1) % w->win_cap;
  } else {
    w->win_len++;
  }
  w->win[slot] = now;
  w->win_taken = ++w->win_total;
}

/* engine_opts.sent: a request goes out now. Its entry in the rate window
 * moves from when it was allowed to when it left: a busy machine can
 * delay that by tens of ms (more than RATE_WINDOW_US's margin), and the
 * sends that follow must keep clear of when it really left. (The oldest
 * entry stays the one checked: a later one moved past it only makes the
 * check stricter.) */
static void on_sent(void *arg, void *ctx, uint64_t t_us) {
  struct worker *w = arg;
  const struct flight *f = &w->flights[(uint32_t)(uintptr_t)ctx];
  if (!f->win_seq || !w->win_cap || f->win_seq + w->win_len <= w->win_total)
    return; /* no entry, or already pushed out of the window */
  size_t k = (size_t)(f->win_seq + w->win_len - 1 - w->win_total);
  size_t slot = (w->win_head + k) % w->win_cap;
  int64_t t = rel_us(w, t_us);
  if (t > w->win[slot]) w->win[slot] = t;
}

static int dispatch(struct worker *w, uint32_t i) {
  int prc;
  if (parked(w, i, now_us(w), &prc)) return prc;
  w->mw.planned_requests++; /* its intended send time has come */
  if (w->stop_requests) {
    w->mw.dropped_requests++;
    finish_user(w, i);
    return 0;
  }
  int64_t now = now_us(w);
  if (!w->ready_len) rate_rest(w, now);
  if (w->ready_len || !slot_free(w) || now < rate_next(w))
    return ready_push(w, i);
  rate_take(w, now);
  return submit(w, i);
}

/* Sends what waits for a slot or a token, as far as both allow. */
static int pump(struct worker *w) {
  while (w->ready_len && slot_free(w) && !w->stop_requests) {
    int64_t now = now_us(w);
    if (now < rate_next(w)) break;
    rate_take(w, now);
    int rc = submit(w, ready_pop(w));
    if (rc) return rc;
  }
  return 0;
}

/* ---- completion --------------------------------------------------------- */

static void fail_worker(struct worker *w, int rc) {
  if (!w->failed) {
    w->failed = rc;
    snprintf(w->err, sizeof w->err, "worker %u: %s", w->index, err_str(rc));
  }
  w->stop_requests = w->stop_sessions = 1;
}

static void maybe_finish(struct worker *w);

static void on_done(void *arg, const struct engine_result *res) {
  struct worker *w = arg;
  uint32_t fi = (uint32_t)(uintptr_t)res->ctx;
  struct flight *f = &w->flights[fi];
  struct vuser *u = &w->users[f->user];
  int64_t end = rel_us(w, res->end_us), start = rel_us(w, res->start_us);
  uint64_t latency =
      end > f->intended_us ? (uint64_t)(end - f->intended_us) : 0;
  uint64_t service = end > start ? (uint64_t)(end - start) : 0;
  int rc = 0, step = FLOW_ADVANCE;
  if (w->fw) {
    /* The answer's ids, token and cookies, before the session moves on
     * (a create is confirmed in the journal here). */
    struct flow_user fu = flow_user_of(w, f->user);
    step = flow_done(w->fw, &fu, &f->note, f->target, res);
    if (step < 0) rc = step;
    /* A journalled create the target accepted: one more to clean up. */
    if (f->note.seq && res->err == ENGINE_OK && res->status >= 200 &&
        res->status < 300 && w->sh->metrics)
      metrics_cleanup_add(w->sh->metrics, METRICS_CLEANUP_JOURNALLED, 1);
  }
  if (f->note.fault)
    rc = stats_inject(&w->stats, f->ep, f->note.fault, res,
                      faults_expected(f->note.fault, res), latency, service);
  else if (!rc)
    rc = stats_done(&w->stats, f->ep, res, latency, service);
  if (!rc && !f->note.fault) rc = hist_record(&w->window, latency);
  metrics_request(w->ms, f->ep, u->walk.persona, (uint32_t)f->note.fault,
                  res->err == ENGINE_OK ? res->status : 0, latency, service);
  if (res->err == ENGINE_OK && res->status < 400) w->ok++;
  if (w->sh->log && res->err == ENGINE_OK) log_line(w, f, u, res, end);
  uint32_t user = f->user;
  f->next_free = w->free_flight;
  w->free_flight = fi;
  if (!rc) rc = after_request(w, user, end, step == FLOW_REPEAT);
  /* A dry run pumps from its own loop: here it would recurse. */
  if (!rc && !w->finishing && !w->dry) rc = pump(w);
  if (rc) fail_worker(w, rc);
  if (!w->dry && !w->finishing) maybe_finish(w);
  publish(w);
}

/* ---- the access log ------------------------------------------------------ */

static void log_flush(struct worker *w) {
  if (!w->loglen) return;
  pthread_mutex_lock(&w->sh->log_lock);
  fwrite(w->logbuf, 1, w->loglen, w->sh->log);
  pthread_mutex_unlock(&w->sh->log_lock);
  w->loglen = 0;
}

/* Combined Log Format + request time + session id, so that `mimic capture`
 * reads it back. The client address encodes the virtual user, so that the
 * default ip+ua session key tells users apart. */
static void log_line(struct worker *w, const struct flight *f,
                     const struct vuser *u, const struct engine_result *res,
                     int64_t end_us) {
  int64_t wall = w->sh->wall0_us + end_us;
  int64_t sec = wall / 1000000;
  if (sec != w->log_second) {
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(w->log_time, sizeof w->log_time, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    w->log_second = sec;
  }
  const char *ua = synth_ua(w->sh->synth, u->walk.ua);
  char uaq[512];
  size_t o = 0;
  for (size_t i = 0; ua[i] && o + 2 < sizeof uaq; i++) {
    if (ua[i] == '"' || ua[i] == '\\') uaq[o++] = '\\';
    uaq[o++] = ua[i];
  }
  uaq[o] = '\0';
  if (w->loglen + TARGET_MAX + 1024 > LOGBUF) log_flush(w);
  double secs = (double)(res->end_us - res->start_us) / 1e6;
  int n = snprintf(w->logbuf + w->loglen, LOGBUF - w->loglen,
                   "10.%u.%u.%u - - [%s] \"%s %s HTTP/1.1\" %d %" PRIu64
                   " \"-\" \"%s\" %.3f \"%" PRIu64 ".%" PRIu32 "\"\n",
                   (unsigned)((u->id >> 16) & 255),
                   (unsigned)((u->id >> 8) & 255), (unsigned)(u->id & 255),
                   w->log_time, ep_method(w->sh, f->ep), f->target, res->status,
                   res->resp_bytes, uaq, secs, u->id, u->session);
  if (n > 0 && (size_t)n < LOGBUF - w->loglen) w->loglen += (size_t)n;
}

/* ---- events -------------------------------------------------------------- */

static void stop_waiting_users(struct worker *w) {
  while (w->nheap) finish_user(w, heap_pop(w));
  w->mw.dropped_requests += w->ready_len; /* due, never sent */
  while (w->ready_len) finish_user(w, ready_pop(w));
}

/* Handles everything due by `now`: phase changes, arrivals, users whose
 * think time is over, and what waits for a token. */
static int process_due(struct worker *w, int64_t now) {
  const struct run_opts *o = w->sh->o;
  int rc = 0;
  int stop = atomic_load(&w->sh->stop);
  if (stop && !w->stop_requests) {
    w->stop_sessions = w->stop_requests = 1;
    stop_waiting_users(w);
  }
  if (!w->stop_sessions && now >= w->sh->end_us) {
    w->stop_sessions = 1;
    w->drain_at_us = w->sh->end_us + o->drain_timeout_us;
  }
  if (w->stop_sessions && !w->stop_requests && now >= w->drain_at_us) {
    w->stop_requests = 1;
    stop_waiting_users(w);
  }
  if (w->stop_sessions && w->next_arrival_us != INT64_MAX) {
    /* Arrivals that were due but could not start are dropped; later ones
     * were never part of the run. */
    while (w->next_arrival_us <= now) {
      w->planned_sessions++;
      w->dropped_sessions++;
      w->next_arrival_us = next_own_arrival(w);
    }
    w->next_arrival_us = INT64_MAX;
  }
  while (!w->stop_sessions && w->next_arrival_us <= now) {
    uint32_t i;
    if (w->free_user != NONE) {
      i = w->free_user;
      w->free_user = w->users[i].next_free;
    } else {
      if (w->nusers == w->cap_users) {
        size_t ncap = w->cap_users ? w->cap_users * 2 : 1024;
        struct vuser *nu = realloc(w->users, ncap * sizeof *nu);
        if (!nu) return -ENOMEM;
        w->users = nu;
        w->cap_users = ncap;
      }
      i = (uint32_t)w->nusers++;
    }
    struct vuser *u = &w->users[i];
    uint64_t k = w->arr.k - 1; /* the arrival just taken */
    memset(u, 0, sizeof *u);
    u->vs = NONE;
    u->id = k + 1;
    u->session = 1;
    u->budget = UNLIMITED;
    u->heap_pos = NONE;
    rng_seed(&u->rng, hash_mix(o->seed, 0x6f70656e00000000ULL ^ k));
    w->active++;
    w->planned_sessions++;
    int64_t at = w->next_arrival_us;
    w->next_arrival_us = next_own_arrival(w);
    if ((rc = start_session(w, i, at))) return rc;
  }
  while (w->nheap && w->heap[0].due_us <= now)
    if ((rc = dispatch(w, heap_pop(w)))) return rc;
  return pump(w);
}

/* When the next event is due (INT64_MAX: nothing left to wait for). */
static int64_t next_event(const struct worker *w) {
  int64_t t = INT64_MAX;
  if (w->nheap) t = w->heap[0].due_us;
  if (w->next_arrival_us < t) t = w->next_arrival_us;
  if (w->ready_len && w->interval_us && slot_free(w) && rate_next(w) < t)
    t = rate_next(w);
  if (!w->stop_sessions && w->sh->end_us < t && w->active) t = w->sh->end_us;
  if (w->stop_sessions && !w->stop_requests && w->drain_at_us < t && w->active)
    t = w->drain_at_us;
  return t;
}

static int worker_done(const struct worker *w) {
  return w->active == 0 && w->next_arrival_us == INT64_MAX;
}

/* ---- the loop (real runs) ------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h) {
  struct worker *w = h->data;
  w->handles_open--;
}

static void on_engine_closed(void *arg) {
  struct worker *w = arg;
  w->handles_open--;
}

/* Hands the worker's totals to its metrics shard (no lock: the metrics
 * thread reads them with relaxed loads). */
static void publish(struct worker *w) {
  if (!w->ms) return;
  w->mw.planned_sessions = w->planned_sessions;
  w->mw.dropped_sessions = w->dropped_sessions;
  w->mw.users = w->active;
  w->mw.in_flight = w->engine && !w->finishing ? engine_inflight(w->engine) : 0;
  w->mw.queued = w->ready_len;
  metrics_worker_set(w->ms, &w->mw);
}

static void take_snapshot(struct worker *w) {
  pthread_mutex_lock(&w->lock);
  struct stats_total t;
  stats_total(&w->stats, &t, NULL, NULL);
  w->snap.requests = t.requests;
  w->snap.responses = t.responses;
  w->snap.errors = t.errors;
  w->snap.ok = w->ok;
  w->snap.sessions = w->stats.sessions;
  w->snap.active = w->active;
  hist_merge(&w->snap.window, &w->window);
  pthread_mutex_unlock(&w->lock);
  hist_cleanup(&w->window);
  publish(w);
}

static void finish_worker(struct worker *w) {
  if (w->finishing) return;
  w->finishing = 1;
  w->stop_requests = w->stop_sessions = 1;
  stop_waiting_users(w);
  take_snapshot(w);
  uv_timer_stop(&w->timer);
  uv_timer_stop(&w->tick);
  uv_close((uv_handle_t *)&w->timer, on_handle_closed);
  uv_close((uv_handle_t *)&w->tick, on_handle_closed);
  pthread_mutex_lock(&w->lock);
  w->alive = 0;
  uv_close((uv_handle_t *)&w->wake, on_handle_closed);
  pthread_mutex_unlock(&w->lock);
  /* Aborts what is still in flight; its callbacks finish the users. */
  engine_close(w->engine, on_engine_closed, w);
}

static void arm(struct worker *w);

static void maybe_finish(struct worker *w) {
  if (w->finishing) return;
  if (worker_done(w) || atomic_load(&w->sh->stop) == STOP_ABORT || w->failed) {
    finish_worker(w);
    return;
  }
  if (w->armed_us == INT64_MIN) arm(w);
}

static void on_timer(uv_timer_t *t) {
  struct worker *w = t->data;
  w->armed_us = INT64_MAX;
  int rc = process_due(w, now_us(w) + TIMER_SLACK_US);
  if (rc) fail_worker(w, rc);
  maybe_finish(w);
  if (!w->finishing) arm(w);
}

static void arm(struct worker *w) {
  int64_t next = next_event(w);
  if (next == INT64_MAX) {
    uv_timer_stop(&w->timer);
    w->armed_us = INT64_MAX;
    return;
  }
  int64_t wait = next - now_us(w);
  uint64_t ms = wait <= 0 ? 0 : (uint64_t)((wait + 999) / 1000);
  w->armed_us = next;
  uv_timer_start(&w->timer, on_timer, ms, 0);
}

static void on_tick(uv_timer_t *t) {
  struct worker *w = t->data;
  take_snapshot(w);
  if (w->sh->log) log_flush(w);
}

static void on_wake(uv_async_t *a) {
  struct worker *w = a->data;
  int stop = atomic_load(&w->sh->stop);
  if (stop == STOP_ABORT) {
    finish_worker(w);
    return;
  }
  int rc = process_due(w, now_us(w));
  if (rc) fail_worker(w, rc);
  maybe_finish(w);
  if (!w->finishing) arm(w);
}

/* ---- worker set-up ------------------------------------------------------- */

static int worker_seed_users(struct worker *w) {
  struct shared *sh = w->sh;
  const struct run_opts *o = sh->o;
  if (!sh->closed) {
    size_t n;
    int64_t first;
    const double *curve = synth_arrivals(sh->synth, &n, &first);
    (void)first;
    double scale = o->scale > 0 ? o->scale : 1;
    if (sh->curve) {
      curve = sh->curve;
      n = sh->ncurve;
    }
    if (sh->sc) scale *= scenario_rate_peak(sh->sc);
    arrivals_init(&w->arr, curve, n, scale,
                  o->time_scale > 0 ? o->time_scale : 1,
                  (double)o->from_us / 1e6, o->seed);
    if (sh->sc) {
      w->arr.sc = sh->sc;
      w->arr.peak = scenario_rate_peak(sh->sc);
    }
    w->next_arrival_us = next_own_arrival(w);
    return 0;
  }
  w->next_arrival_us = INT64_MAX;
  size_t mine = 0;
  for (uint64_t id = w->index + 1; id <= o->users; id += sh->nworkers) mine++;
  w->users = calloc(mine ? mine : 1, sizeof *w->users);
  if (!w->users) return -ENOMEM;
  w->cap_users = mine;
  uint32_t span = o->max_requests - o->min_requests;
  for (uint64_t id = w->index + 1; id <= o->users; id += sh->nworkers) {
    uint32_t i = (uint32_t)w->nusers++;
    struct vuser *u = &w->users[i];
    u->id = id;
    u->session = 1;
    u->heap_pos = NONE;
    u->vs = NONE;
    rng_seed(&u->rng, hash_mix(o->seed, id));
    u->budget =
        o->min_requests + (uint32_t)rng_below(&u->rng, (uint64_t)span + 1);
    w->planned_requests += u->budget;
    w->active++;
    if (u->budget == 0) {
      finish_user(w, i);
      continue;
    }
    int64_t at = o->spawn_rate > 0
                     ? (int64_t)((double)(id - 1) / o->spawn_rate * 1e6)
                     : 0;
    int rc = begin_walk(w, i);
    if (rc) return rc;
    u->due_us = at;
    rc = heap_push(w, i);
    if (rc) return rc;
  }
  return 0;
}

static void set_rate_cap(struct worker *w, double rps) {
  const struct shared *sh = w->sh;
  if (!(rps > 0)) {
    w->interval_us = 0;
    return;
  }
  /* Whole shares per worker (they add up to the cap, never above); a
   * hair of margin against the jitter between sending and logging. A
   * phase's cap below one per worker is shared evenly instead. */
  double whole = floor(rps);
  double per = sh->nworkers == 1 || whole < sh->nworkers
                   ? rps / sh->nworkers
                   : floor(whole / sh->nworkers) +
                         (w->index < fmod(whole, sh->nworkers) ? 1 : 0);
  w->interval_us = (int64_t)ceil(1e6 * 1.001 / per);
  /* The window's size is this worker's whole share of a second (a share
   * below one is held by the interval alone; too large a share, millions
   * a second, by the pacing alone). A new size keeps the latest sends, so
   * a phase change does not reopen the window. */
  size_t cap = per >= 1 && per <= (double)(1u << 20) ? (size_t)floor(per) : 0;
  if (cap == w->win_cap) return;
  int64_t *win = cap ? malloc(cap * sizeof *win) : NULL;
  if (cap && !win) cap = 0; /* the pacing still holds the rate */
  size_t keep = w->win_len < cap ? w->win_len : cap;
  for (size_t k = 0; k < keep; k++)
    win[k] = w->win[(w->win_head + w->win_len - keep + k) % w->win_cap];
  free(w->win);
  w->win = win;
  w->win_cap = cap;
  w->win_len = keep;
  w->win_head = 0;
}

static int worker_init(struct worker *w) {
  struct shared *sh = w->sh;
  const struct run_opts *o = sh->o;
  int rc = stats_init(&w->stats, sh->nstats);
  if (rc) return rc;
  if (sh->flow && (rc = flow_worker_new(sh->flow, &w->fw))) return rc;
  hist_init(&w->window);
  hist_init(&w->snap.window);
  pthread_mutex_init(&w->lock, NULL);
  w->inited = 1;
  w->free_user = NONE;
  w->next_arrival_us = INT64_MAX;
  w->armed_us = INT64_MIN;
  w->drain_at_us = INT64_MAX;
  set_rate_cap(w, o->max_rps);
  if (sh->sc) {
    w->shape_us = INT64_MIN / 2;
    shape(w, 0);
  }
  size_t users_here =
      sh->closed ? (size_t)(o->users / sh->nworkers + 1) : SLOTS_MAX;
  w->nflights = users_here < SLOTS_MAX ? users_here : SLOTS_MAX;
  if (w->dry) w->nflights = 1;
  w->flights = malloc(w->nflights * sizeof *w->flights);
  if (!w->flights) return -ENOMEM;
  for (size_t i = 0; i < w->nflights; i++)
    w->flights[i].next_free = i + 1 < w->nflights ? (uint32_t)(i + 1) : NONE;
  w->free_flight = 0;
  if (sh->log) {
    w->logbuf = malloc(LOGBUF);
    if (!w->logbuf) return -ENOMEM;
    w->log_second = -1;
  }
  return worker_seed_users(w);
}

static void worker_cleanup(struct worker *w) {
  flow_worker_free(w->fw);
  stats_cleanup(&w->stats);
  hist_cleanup(&w->window);
  hist_cleanup(&w->snap.window);
  free(w->users);
  free(w->heap);
  free(w->ready);
  free(w->flights);
  free(w->win);
  free(w->logbuf);
  if (w->inited) pthread_mutex_destroy(&w->lock);
}

static struct engine_opts engine_opts_of(const struct run_opts *o) {
  struct engine_opts eo = {
      .target = o->target,
      .http2 = o->http2,
      .timeout_ms = o->timeout_ms,
      .max_connections = o->max_connections,
      .headers = o->headers,
      .nheaders = o->nheaders,
      .insecure = o->insecure,
      .session_header = o->session_header,
  };
  return eo;
}

/* Says the worker is set up (or failed: then it does not wait), and waits
 * for the run's clock to start. */
static void worker_ready(struct worker *w, int wait) {
  struct shared *sh = w->sh;
  pthread_mutex_lock(&sh->start_lock);
  sh->ready++;
  pthread_cond_broadcast(&sh->start_cond);
  while (wait && !sh->go) pthread_cond_wait(&sh->start_cond, &sh->start_lock);
  pthread_mutex_unlock(&sh->start_lock);
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct shared *sh = w->sh;
  const struct run_opts *o = sh->o;
  int rc = uv_loop_init(&w->loop);
  if (rc) {
    snprintf(w->err, sizeof w->err, "event loop: %s", uv_strerror(rc));
    w->failed = ERR_USAGE;
    worker_ready(w, 0);
    goto out;
  }
  struct engine_opts eo = engine_opts_of(o);
  eo.slots = w->nflights;
  /* A rate cap (--max-rps, or a phase's) wants to know when requests
   * leave. */
  if (o->max_rps > 0 || o->phases_path) eo.sent = on_sent;
  rc = engine_new(&w->loop, &eo, on_done, w, &w->engine, w->err, sizeof w->err);
  if (rc) {
    w->failed = rc;
    uv_loop_close(&w->loop);
    worker_ready(w, 0);
    goto out;
  }
  uv_timer_init(&w->loop, &w->timer);
  uv_timer_init(&w->loop, &w->tick);
  uv_async_init(&w->loop, &w->wake, on_wake);
  w->timer.data = w->tick.data = w->wake.data = w;
  w->handles_open = 4; /* timer, tick, wake, engine */
  pthread_mutex_lock(&w->lock);
  w->alive = 1;
  pthread_mutex_unlock(&w->lock);
  worker_ready(w, 1);
  uv_update_time(&w->loop); /* the loop's clock stood still meanwhile */
  uv_timer_start(&w->tick, on_tick, 1000, 1000);
  rc = process_due(w, now_us(w));
  if (rc) fail_worker(w, rc);
  maybe_finish(w);
  if (!w->finishing) arm(w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&w->loop) != 0 && !w->failed)
    snprintf(w->err, sizeof w->err, "worker %u: handles left open", w->index);
  if (sh->log) log_flush(w);
out:
  atomic_fetch_add(&sh->finished, 1);
  return NULL;
}

/* ---- dry run ---------------------------------------------------------------
 */

static int dry_run(struct worker *w) {
  for (;;) {
    int rc = process_due(w, w->vnow);
    if (rc) return rc;
    if (worker_done(w)) return 0;
    int64_t next = next_event(w);
    if (next == INT64_MAX) return 0;
    if (next > w->vnow) w->vnow = next;
  }
}

/* ---- progress --------------------------------------------------------------
 */

struct progress {
  uint64_t requests, responses, errors, ok, sessions, active;
  struct hist window;
};

static void collect(struct shared *sh, struct progress *p) {
  memset(p, 0, offsetof(struct progress, window));
  for (unsigned i = 0; i < sh->nworkers; i++) {
    struct worker *w = &sh->w[i];
    pthread_mutex_lock(&w->lock);
    p->requests += w->snap.requests;
    p->responses += w->snap.responses;
    p->errors += w->snap.errors;
    p->ok += w->snap.ok;
    p->sessions += w->snap.sessions;
    p->active += w->snap.active;
    hist_merge(&p->window, &w->snap.window);
    hist_cleanup(&w->snap.window);
    pthread_mutex_unlock(&w->lock);
  }
}

static void show_progress(struct shared *sh, struct progress *p,
                          uint64_t last_requests, double dt, double elapsed,
                          int tty) {
  char a[32], b[32], c[32], d[32], e[32];
  double rps = dt > 0 ? (double)(p->requests - last_requests) / dt : 0;
  double done = (double)(p->responses + p->errors);
  char remaining[48] = "";
  if (sh->end_us != INT64_MAX && elapsed * 1e6 > (double)sh->end_us)
    snprintf(remaining, sizeof remaining, " (draining)");
  else if (sh->end_us != INT64_MAX)
    snprintf(remaining, sizeof remaining, " / %s",
             units_duration(sh->end_us, e, sizeof e));
  fprintf(sh->o->err,
          "%smimic replay: %.0fs%s  users %s  requests %s  %.0f rps  ok "
          "%.1f%%  p50 %s  p99 %s%s",
          tty ? "\r\033[K" : "", elapsed, remaining,
          units_count(p->active, a, sizeof a),
          units_count(p->requests, b, sizeof b), rps,
          done > 0 ? 100.0 * (double)p->ok / done : 100.0,
          p->window.n ? units_duration((int64_t)hist_quantile(&p->window, 0.5),
                                       c, sizeof c)
                      : "-",
          p->window.n ? units_duration((int64_t)hist_quantile(&p->window, 0.99),
                                       d, sizeof d)
                      : "-",
          tty ? "" : "\n");
  fflush(sh->o->err);
}

/* ---- the report ------------------------------------------------------------
 */

static json_t *ms_json(const struct hist *h) {
  if (!h->n) return json_null();
  return json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50",
                   (double)hist_quantile(h, 0.5) / 1e3, "p90",
                   (double)hist_quantile(h, 0.9) / 1e3, "p99",
                   (double)hist_quantile(h, 0.99) / 1e3, "max",
                   (double)h->max / 1e3, "mean", hist_mean(h) / 1e3);
}

static json_t *errors_json(const uint64_t *by_error, const uint64_t *cls) {
  json_t *o = json_object();
  for (int k = 1; k < ENGINE_E_COUNT; k++)
    if (by_error[k])
      json_object_set_new(o, engine_error_name((enum engine_error)k),
                          json_integer((json_int_t)by_error[k]));
  if (cls[4])
    json_object_set_new(o, "http_4xx", json_integer((json_int_t)cls[4]));
  if (cls[5])
    json_object_set_new(o, "http_5xx", json_integer((json_int_t)cls[5]));
  return o;
}

/* Injected faults by kind, and the real traffic (all minus injected): the
 * errors a run asked for are kept apart from those it found. */
static void faults_totals(const struct stats *st, struct stats_injected *sum) {
  memset(sum, 0, sizeof *sum);
  for (int k = 1; k < STATS_FAULT_KINDS; k++) {
    const struct stats_injected *f = &st->injected[k];
    sum->requests += f->requests;
    sum->responses += f->responses;
    sum->errors += f->errors;
    sum->expected += f->expected;
    for (int x = 0; x < ENGINE_E_COUNT; x++) sum->by_error[x] += f->by_error[x];
    for (int x = 0; x < 6; x++) sum->by_class[x] += f->by_class[x];
  }
}

static json_t *classes_json(const uint64_t *c) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I}", "1xx", (json_int_t)c[1], "2xx",
                   (json_int_t)c[2], "3xx", (json_int_t)c[3], "4xx",
                   (json_int_t)c[4], "5xx", (json_int_t)c[5]);
}

static void state_json(const struct shared *sh, const struct stats *st,
                       const struct stats_total *t, json_t *root) {
  struct flow *fl = sh->flow;
  json_object_set_new(root, "run_id",
                      fl ? json_string(flow_run_id(fl)) : json_null());
  json_object_set_new(root, "journal",
                      fl && flow_journal(fl)
                          ? json_string(flow_journal_path(fl))
                          : json_null());
  struct stats_injected sum;
  faults_totals(st, &sum);
  const struct faults *fs = fl ? flow_faults(fl) : NULL;
  /* A load shape's share of faults changes over the run: there is no
   * single share asked for (the kinds keep their weights). */
  int shaped = sh->sc && !sh->o->have_error_rate;
  json_t *kinds = json_object();
  for (int k = 1; k < STATS_FAULT_KINDS; k++) {
    const struct stats_injected *f = &st->injected[k];
    double asked = fs ? faults_share(fs, (enum fault_kind)k) : 0;
    if (!f->requests && !(asked > 0)) continue;
    json_t *asked_j = shaped ? json_null() : json_real(asked);
    json_t *status = json_object();
    for (uint32_t x = 0; x < f->nstatus; x++) {
      char code[8];
      snprintf(code, sizeof code, "%u", f->status[x].status);
      json_object_set_new(status, code,
                          json_integer((json_int_t)f->status[x].count));
    }
    json_object_set_new(
        kinds, faults_name((enum fault_kind)k),
        json_pack("{s:o, s:f, s:I, s:I, s:I, s:I, s:o, s:o}", "asked_share",
                  asked_j, "share",
                  t->requests ? (double)f->requests / (double)t->requests : 0,
                  "requests", (json_int_t)f->requests, "responses",
                  (json_int_t)f->responses, "errors", (json_int_t)f->errors,
                  "expected", (json_int_t)f->expected, "status", status,
                  "error_reasons", errors_json(f->by_error, f->by_class)));
  }
  json_object_set_new(root, "injected",
                      json_pack("{s:I, s:I, s:I, s:I, s:o}", "requests",
                                (json_int_t)sum.requests, "responses",
                                (json_int_t)sum.responses, "errors",
                                (json_int_t)sum.errors, "expected",
                                (json_int_t)sum.expected, "kinds", kinds));
  uint64_t cls[6], errs[ENGINE_E_COUNT];
  for (int x = 0; x < 6; x++) cls[x] = t->by_class[x] - sum.by_class[x];
  for (int x = 0; x < ENGINE_E_COUNT; x++)
    errs[x] = t->by_error[x] - sum.by_error[x];
  json_object_set_new(
      root, "real",
      json_pack("{s:I, s:I, s:I, s:o, s:o}", "requests",
                (json_int_t)(t->requests - sum.requests), "responses",
                (json_int_t)(t->responses - sum.responses), "errors",
                (json_int_t)(t->errors - sum.errors), "status_classes",
                classes_json(cls), "error_reasons", errors_json(errs, cls)));
  if (fl) {
    struct flow_counts c = {0};
    for (unsigned i = 0; i < sh->nworkers; i++)
      if (sh->w[i].fw) flow_counts_add(sh->w[i].fw, &c);
    json_object_set_new(
        root, "stateful",
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                  "s:I, s:I}",
                  "creates", (json_int_t)c.creates, "created",
                  (json_int_t)c.created, "created_without_id",
                  (json_int_t)c.created_noid, "deleted_by_sessions",
                  (json_int_t)c.deleted, "ids_bound", (json_int_t)c.bound,
                  "ids_from_pool", (json_int_t)c.unbound, "bound_404",
                  (json_int_t)c.bound_404, "logins", (json_int_t)c.logins,
                  "logins_ok", (json_int_t)c.login_ok, "tokens",
                  (json_int_t)c.tokens, "cookies", (json_int_t)c.cookies,
                  "user_states", (json_int_t)c.states, "body_errors",
                  (json_int_t)c.body_errors));
    json_object_set_new(json_object_get(root, "stateful"), "learned",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                                  "rules", (json_int_t)flow_rules(fl),
                                  "shaped_endpoints",
                                  (json_int_t)flow_shapes(fl), "values_taken",
                                  (json_int_t)c.learned_taken, "values_put",
                                  (json_int_t)c.learned_put, "values_missing",
                                  (json_int_t)c.learned_missing, "put_404",
                                  (json_int_t)c.learned_404, "shaped_bodies",
                                  (json_int_t)c.shaped));
  }
  json_t *cl = sh->cleaned ? cleanup_json(&sh->cleanup) : json_null();
  if (sh->interval_runs)
    json_object_set_new(root, "cleanup_interval", cleanup_json(&sh->interval));
  json_object_set_new(root, "cleanup", cl);
}

static void state_settings(const struct shared *sh, json_t *set) {
  const struct run_opts *o = sh->o;
  const struct faults *fs = sh->flow ? flow_faults(sh->flow) : NULL;
  json_t *mix = json_object();
  for (int k = 1; fs && k < FAULT_KINDS; k++)
    if (fs->weight[k] > 0)
      json_object_set_new(mix, faults_name((enum fault_kind)k),
                          json_real(fs->weight[k]));
  json_object_set_new(set, "error_rate", json_real(o->error_rate));
  json_object_set_new(set, "faults", mix);
  json_object_set_new(set, "faults_spec",
                      o->faults ? json_string(o->faults) : json_null());
  json_object_set_new(set, "fault_timeout_ms",
                      json_integer(fs ? fs->timeout_ms : 0));
  json_object_set_new(set, "credentials",
                      o->credentials ? json_string(o->credentials)
                                     : json_null());
  json_object_set_new(set, "login",
                      o->login ? json_string(o->login) : json_null());
  json_object_set_new(set, "bodies",
                      o->bodies ? json_string(o->bodies) : json_null());
  json_object_set_new(set, "cleanup_map",
                      o->cleanup_map ? json_string(o->cleanup_map)
                                     : json_null());
  json_object_set_new(set, "journal",
                      o->journal ? json_string(o->journal) : json_null());
  json_object_set_new(set, "cleanup", json_boolean(o->cleanup));
  json_object_set_new(set, "cleanup_interval_seconds",
                      o->cleanup_interval_us
                          ? json_real((double)o->cleanup_interval_us / 1e6)
                          : json_null());
}

static int write_report(struct shared *sh, const struct stats *st,
                        double elapsed, uint64_t planned_sessions,
                        uint64_t dropped, uint64_t planned_requests) {
  const struct run_opts *o = sh->o;
  struct stats_total t;
  struct hist lat, svc;
  hist_init(&lat);
  hist_init(&svc);
  int rc = stats_total(st, &t, &lat, &svc);
  if (rc) goto out;
  json_t *root = json_object();
  json_object_set_new(root, "requests", json_integer((json_int_t)t.requests));
  json_object_set_new(root, "responses", json_integer((json_int_t)t.responses));
  json_object_set_new(root, "errors", json_integer((json_int_t)t.errors));
  json_object_set_new(root, "sessions", json_integer((json_int_t)st->sessions));
  json_object_set_new(root, "sessions_completed",
                      json_integer((json_int_t)st->sessions_done));
  json_object_set_new(root, "planned_sessions",
                      sh->closed ? json_null()
                                 : json_integer((json_int_t)planned_sessions));
  json_object_set_new(root, "dropped_sessions",
                      json_integer((json_int_t)dropped));
  json_object_set_new(root, "planned_requests",
                      sh->closed ? json_integer((json_int_t)planned_requests)
                                 : json_null());
  json_object_set_new(root, "elapsed_seconds", json_real(elapsed));
  json_object_set_new(
      root, "requests_per_second",
      json_real(elapsed > 0 ? (double)t.requests / elapsed : 0));
  json_object_set_new(
      root, "sessions_per_second",
      json_real(elapsed > 0 ? (double)st->sessions / elapsed : 0));
  json_object_set_new(root, "response_bytes",
                      json_integer((json_int_t)t.resp_bytes));
  json_object_set_new(
      root, "status_classes",
      json_pack("{s:I, s:I, s:I, s:I, s:I}", "1xx", (json_int_t)t.by_class[1],
                "2xx", (json_int_t)t.by_class[2], "3xx",
                (json_int_t)t.by_class[3], "4xx", (json_int_t)t.by_class[4],
                "5xx", (json_int_t)t.by_class[5]));
  json_object_set_new(root, "error_reasons",
                      errors_json(t.by_error, t.by_class));
  json_object_set_new(root, "latency_ms", ms_json(&lat));
  json_object_set_new(root, "service_time_ms", ms_json(&svc));
  json_object_set_new(root, "target_unreachable",
                      json_boolean(t.requests && !t.responses));
  json_object_set_new(root, "first_error",
                      st->first_error[0] ? json_string(st->first_error)
                                         : json_null());
  json_t *eps = json_array();
  for (size_t i = 0; i < st->nendpoints; i++) {
    const struct stats_endpoint *e = &st->ep[i];
    if (!e->requests) continue;
    json_t *status = json_object();
    for (uint32_t k = 0; k < e->nstatus; k++) {
      char code[8];
      snprintf(code, sizeof code, "%u", e->status[k].status);
      json_object_set_new(status, code,
                          json_integer((json_int_t)e->status[k].count));
    }
    json_array_append_new(
        eps,
        json_pack(
            "{s:I, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "id",
            (json_int_t)i, "method", ep_method(sh, (uint32_t)i), "template",
            ep_template(sh, (uint32_t)i), "requests", (json_int_t)e->requests,
            "responses", (json_int_t)e->responses, "errors",
            (json_int_t)e->errors, "status", status, "error_reasons",
            errors_json(e->by_error, e->by_class), "latency_ms",
            ms_json(&e->latency), "service_time_ms", ms_json(&e->service)));
    json_object_set_new(json_array_get(eps, json_array_size(eps) - 1),
                        "injected", json_integer((json_int_t)e->injected));
  }
  json_object_set_new(root, "endpoints", eps);
  if (sh->sc) {
    json_t *sj = scenario_watch_report(sh->watch);
    if (!sj) sj = json_pack("{s:s}", "name", scenario_name(sh->sc));
    json_object_set_new(root, "scenario", sj);
  }
  state_json(sh, st, &t, root);
  json_t *set = json_object();
  json_object_set_new(set, "model", json_string(o->model_path));
  json_object_set_new(set, "target", json_string(o->target));
  json_object_set_new(set, "workload",
                      json_string(sh->closed ? "closed" : "open"));
  json_object_set_new(set, "users", json_integer((json_int_t)o->users));
  json_object_set_new(set, "min_request_count", json_integer(o->min_requests));
  json_object_set_new(set, "max_request_count", json_integer(o->max_requests));
  json_object_set_new(set, "spawn_rate", json_real(o->spawn_rate));
  json_object_set_new(set, "scale", json_real(o->scale));
  json_object_set_new(set, "time_scale", json_real(o->time_scale));
  json_object_set_new(set, "from_seconds", json_real((double)o->from_us / 1e6));
  json_object_set_new(set, "keep_think_time", json_boolean(o->keep_think_time));
  json_object_set_new(set, "delay_min_ms",
                      o->have_delay ? json_real((double)o->delay_min_us / 1e3)
                                    : json_null());
  json_object_set_new(set, "delay_max_ms",
                      o->have_delay ? json_real((double)o->delay_max_us / 1e3)
                                    : json_null());
  json_object_set_new(set, "duration_seconds",
                      o->duration_us ? json_real((double)o->duration_us / 1e6)
                                     : json_null());
  json_object_set_new(set, "max_rps",
                      o->max_rps > 0 ? json_real(o->max_rps) : json_null());
  json_object_set_new(set, "threads", json_integer(sh->nworkers));
  json_object_set_new(set, "scenario",
                      o->scenario ? json_string(o->scenario) : json_null());
  json_object_set_new(set, "phases",
                      o->phases_path ? json_string(o->phases_path)
                                     : json_null());
  json_object_set_new(set, "http2", json_boolean(o->http2));
  json_object_set_new(set, "timeout_ms", json_integer(o->timeout_ms));
  json_object_set_new(set, "max_connections", json_integer(o->max_connections));
  json_object_set_new(set, "session_header",
                      o->session_header ? json_string(o->session_header)
                                        : json_null());
  state_settings(sh, set);
  json_object_set_new(root, "settings", set);
  json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
  rc =
      json_dump_file(root, o->report_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
          ? -EIO
          : 0;
  json_decref(root);
out:
  hist_cleanup(&lat);
  hist_cleanup(&svc);
  return rc;
}

static void summary(struct shared *sh, const struct stats *st, double elapsed,
                    uint64_t planned_sessions, uint64_t dropped) {
  const struct run_opts *o = sh->o;
  struct stats_total t;
  struct hist lat;
  hist_init(&lat);
  stats_total(st, &t, &lat, NULL);
  char a[32], b[32], c[32], d[32], e[32];
  if (!o->quiet) {
    fprintf(o->err,
            "mimic replay: %s requests in %.1f s (%.0f/s), %s responses, %s "
            "errors; %s sessions",
            units_count(t.requests, a, sizeof a), elapsed,
            elapsed > 0 ? (double)t.requests / elapsed : 0,
            units_count(t.responses, b, sizeof b),
            units_count(t.errors, c, sizeof c),
            units_count(st->sessions, d, sizeof d));
    if (!sh->closed)
      fprintf(o->err, " of %s planned",
              units_count(planned_sessions, e, sizeof e));
    if (dropped) fprintf(o->err, " (%" PRIu64 " dropped)", dropped);
    if (lat.n)
      fprintf(o->err, "; latency p50 %s p99 %s",
              units_duration((int64_t)hist_quantile(&lat, 0.5), a, sizeof a),
              units_duration((int64_t)hist_quantile(&lat, 0.99), b, sizeof b));
    fputc('\n', o->err);
  }
  if (t.requests && !t.responses) {
    fprintf(o->err,
            "mimic replay: the target %s was unreachable: all %s requests "
            "failed (",
            o->target, units_count(t.requests, a, sizeof a));
    int first = 1;
    for (int k = 1; k < ENGINE_E_COUNT; k++) {
      if (!t.by_error[k]) continue;
      fprintf(o->err, "%s%s %s", first ? "" : ", ",
              engine_error_name((enum engine_error)k),
              units_count(t.by_error[k], b, sizeof b));
      first = 0;
    }
    fprintf(o->err, ")%s%s\n", st->first_error[0] ? "; first: " : "",
            st->first_error);
  } else {
    struct stats_injected sum;
    faults_totals(st, &sum);
    if (t.errors > sum.errors && !o->quiet)
      fprintf(o->err, "mimic replay: %s transport errors; first: %s\n",
              units_count(t.errors - sum.errors, a, sizeof a), st->first_error);
    if (sum.requests && !o->quiet) {
      fprintf(o->err, "mimic replay: %s injected faults (",
              units_count(sum.requests, a, sizeof a));
      for (int k = 1, first = 1; k < STATS_FAULT_KINDS; k++) {
        if (!st->injected[k].requests) continue;
        fprintf(o->err, "%s%s %s", first ? "" : ", ",
                faults_name((enum fault_kind)k),
                units_count(st->injected[k].requests, b, sizeof b));
        first = 0;
      }
      fprintf(o->err,
              "), %s answered as the kind expects; real 4xx %s, 5xx "
              "%s\n",
              units_count(sum.expected, c, sizeof c),
              units_count(t.by_class[4] - sum.by_class[4], d, sizeof d),
              units_count(t.by_class[5] - sum.by_class[5], e, sizeof e));
    }
  }
  if (sh->flow && !flow_journal(sh->flow) && !o->quiet && !o->dry_run) {
    struct flow_counts fc = {0};
    for (unsigned i = 0; i < sh->nworkers; i++)
      if (sh->w[i].fw) flow_counts_add(sh->w[i].fw, &fc);
    uint64_t made = fc.created + fc.created_noid;
    if (made > fc.deleted)
      fprintf(o->err,
              "mimic replay: %s resources created and not deleted by their "
              "sessions are not tracked (--journal FILE or --cleanup would "
              "have)\n",
              units_count(made - fc.deleted, a, sizeof a));
  }
  if (sh->cleaned) {
    char line[512];
    cleanup_summary(&sh->cleanup, line, sizeof line);
    if (!o->quiet || sh->cleanup.failed || sh->cleanup.left)
      fprintf(o->err, "mimic replay: cleanup: %s (%.1f s)\n", line,
              sh->cleanup.seconds);
    for (size_t i = 0; i < sh->cleanup.nfailures && i < 20; i++)
      fprintf(o->err, "  not deleted: %s %s: %s\n",
              sh->cleanup.failures[i].method, sh->cleanup.failures[i].url,
              sh->cleanup.failures[i].why);
  }
  hist_cleanup(&lat);
}

/* ---- the run ---------------------------------------------------------------
 */

/* Bad HTTP options are usage errors, found before the model is read. */
static int check_http(const struct run_opts *o) {
  char err[512] = "";
  struct engine_opts eo = engine_opts_of(o);
  int rc = engine_check_opts(&eo, err, sizeof err);
  if (rc) {
    fprintf(o->err, "mimic replay: error: %s\n",
            rc == -ENOMEM ? err_str(rc) : err);
    return rc;
  }
  if (o->http2 && strncmp(o->target, "http://", 7) == 0 &&
      engine_h2c_reuse_broken() && !o->quiet)
    fprintf(o->err,
            "mimic replay: warning: this libcurl (%s) cannot reuse cleartext "
            "HTTP/2 connections (fixed in curl 8.0): every request opens "
            "its own connection; use an https:// target for HTTP/2 at "
            "speed\n",
            curl_version_info(CURLVERSION_NOW)->version);
  return 0;
}

/* ---- load shapes ------------------------------------------------------------
 */

/* The learned day: sessions per minute over 24 h from the model's
 * time-of-day profile (15-minute buckets, all personas), scaled to the
 * learned curve's mean. NULL (and n = 0) without a profile. */
static double *day_curve(const struct model *m, double mean, size_t *n) {
  double tod[96] = {0}, total = 0;
  for (size_t i = 0; i < m->nprofiles; i++) {
    const struct model_profile *p = &m->profiles[i];
    if (strcmp(p->kind, "tod15") != 0 || p->bucket >= 96) continue;
    tod[p->bucket] += (double)p->sessions;
    total += (double)p->sessions;
  }
  *n = 0;
  if (!(total > 0)) return NULL;
  double *c = malloc(1440 * sizeof *c);
  if (!c) return NULL;
  for (size_t k = 0; k < 1440; k++) c[k] = mean * tod[k / 15] / (total / 96);
  *n = 1440;
  return c;
}

/* --scenario / --phases: the shape, its base curve and the run's length. */
static int shape_start(struct shared *sh) {
  const struct run_opts *o = sh->o;
  char err[512] = "";
  int rc;
  if (!o->scenario && !o->phases_path) return 0;
  if (o->scenario && o->phases_path) {
    fprintf(o->err, "mimic replay: error: give --scenario or --phases, not "
                    "both (a phase names its own scenario)\n");
    return ERR_USAGE;
  }
  size_t n;
  int64_t first;
  const double *learned = synth_arrivals(sh->synth, &n, &first);
  double sum = 0, best = 0;
  for (size_t i = 0; i < n; i++) sum += learned[i];
  double mean = n ? sum / (double)n : 0;
  /* The busiest hour (or the whole curve when shorter), for peak. */
  size_t win = n < 60 ? n : 60;
  double run = 0;
  for (size_t i = 0; i < n; i++) {
    run += learned[i] - (i >= win ? learned[i - win] : 0);
    if (i + 1 >= win && run / (double)win > best) best = run / (double)win;
  }
  struct scenario_params p = {
      .duration_us = o->duration_us,
      .users = o->users,
      .peak_factor = mean > 0 && best / mean > 2 ? best / mean : 2,
      .time_scale = o->time_scale > 0 ? o->time_scale : 1,
      .have_error_rate = o->have_error_rate,
      .error_rate = o->error_rate / 100,
  };
  if (o->scenario)
    rc = scenario_new(o->scenario, &p, &sh->sc, err, sizeof err);
  else
    rc = scenario_phases_load(o->phases_path, &p, &sh->sc, err, sizeof err);
  if (rc) {
    fprintf(o->err, "mimic replay: error: %s\n", err[0] ? err : err_str(rc));
    return rc;
  }
  enum scenario_base base = scenario_base(sh->sc);
  double ts = o->time_scale > 0 ? o->time_scale : 1;
  if (!sh->closed && base == SCENARIO_BASE_MEAN) {
    if (!(sh->curve = malloc(sizeof *sh->curve))) return -ENOMEM;
    sh->curve[0] = mean;
    sh->ncurve = 1;
  } else if (!sh->closed && base == SCENARIO_BASE_DAY) {
    sh->curve = day_curve(sh->model, mean, &sh->ncurve);
    if (!sh->curve && !o->quiet)
      fprintf(o->err,
              "mimic replay: warning: %s has no time-of-day profile; "
              "%s follows the learned arrival curve instead\n",
              o->model_path, scenario_name(sh->sc));
    else if (!o->duration_us)
      sh->end_us = (int64_t)(1440 * 60e6 / ts); /* one day, compressed */
  }
  /* The shape's own length (phases, an endless demo) unless --duration. */
  int64_t want = scenario_duration(sh->sc);
  if (!o->duration_us && want) sh->end_us = want;
  if (o->dry_run && !sh->closed && sh->end_us == INT64_MAX) {
    fprintf(o->err,
            "mimic replay: error: %s runs until stopped: give a dry "
            "run --duration\n",
            scenario_name(sh->sc));
    return ERR_USAGE;
  }
  int64_t d = sh->end_us == INT64_MAX ? 0 : sh->end_us;
  if ((rc = scenario_set_duration(sh->sc, d, err, sizeof err))) {
    fprintf(o->err, "mimic replay: error: %s\n", err);
    return rc;
  }
  return 0;
}

/* ---- metrics ----------------------------------------------------------------
 */

/* The registry (always, outside dry runs: scenarios read it too) and,
 * with --metrics-addr, its HTTP server. */
static int observe_start(struct shared *sh) {
  const struct run_opts *o = sh->o;
  const struct model *m = sh->model;
  size_t nep = synth_endpoints(sh->synth);
  size_t np = m->npersonas ? m->npersonas : 1;
  const char **methods = calloc(nep + 1, sizeof *methods);
  const char **templates = calloc(nep + 1, sizeof *templates);
  uint64_t *counts = calloc(nep + 1, sizeof *counts);
  const char **personas = calloc(np, sizeof *personas);
  int rc = -ENOMEM;
  if (!methods || !templates || !counts || !personas) goto out;
  for (size_t i = 0; i < nep; i++) {
    methods[i] = synth_method(sh->synth, (uint32_t)i);
    templates[i] = synth_template(sh->synth, (uint32_t)i);
    counts[i] = i < m->nendpoints ? m->endpoints[i].count : 0;
  }
  for (size_t i = 0; i < np; i++) {
    const char *name = synth_persona_name(sh->synth, (uint16_t)i);
    personas[i] = name ? name : "";
  }
  char seed[32], threads[16];
  snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
  snprintf(threads, sizeof threads, "%u", sh->nworkers);
  const char *info_names[] = {"workload", "scenario", "model",
                              "target",   "seed",     "threads"};
  const char *info_values[] = {sh->closed ? "closed" : "open",
                               o->scenario ? o->scenario : "none",
                               o->model_path,
                               o->target,
                               seed,
                               threads};
  struct metrics_desc d = {
      .nendpoints = nep,
      .methods = methods,
      .templates = templates,
      .counts = counts,
      .npersonas = np,
      .personas = personas,
      .nshards = sh->nworkers,
      .ninfo = sizeof info_names / sizeof *info_names,
      .info_names = info_names,
      .info_values = info_values,
      .start_time = (double)sh->wall0_us / 1e6,
  };
  if ((rc = metrics_new(&d, &sh->metrics))) {
    fprintf(o->err, "mimic replay: error: %s\n", err_str(rc));
    goto out;
  }
  metrics_gauge_set(sh->metrics, METRICS_RATE_MULTIPLIER, 1);
  if (o->have_error_rate)
    metrics_gauge_set(sh->metrics, METRICS_ERROR_RATE, o->error_rate / 100);
  if (o->metrics_addr) {
    char err[256];
    rc = metrics_server_start(sh->metrics, o->metrics_addr, &sh->msrv, err,
                              sizeof err);
    if (rc) {
      fprintf(o->err, "mimic replay: error: %s\n", err);
      goto out;
    }
    if (!o->quiet)
      fprintf(o->err, "mimic replay: metrics on http://%s/metrics\n",
              metrics_server_addr(sh->msrv));
  }
  rc = 0;
out:
  free(methods);
  free(templates);
  free(counts);
  free(personas);
  return rc;
}

/* The run is over: the server keeps serving the totals for --linger, so
 * that the last scrape sees them; a signal ends the wait early. */
static void observe_linger(struct shared *sh) {
  const struct run_opts *o = sh->o;
  metrics_gauge_set(sh->metrics, METRICS_FINISHED, 1);
  if (!sh->msrv || o->linger_us <= 0) return;
  char d[32];
  if (!o->quiet)
    fprintf(o->err,
            "mimic replay: serving the final metrics for %s more (Ctrl-C "
            "to stop)\n",
            units_duration(o->linger_us, d, sizeof d));
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  uint64_t end = uv_hrtime() + (uint64_t)o->linger_us * 1000;
  for (;;) {
    uint64_t now = uv_hrtime();
    if (now >= end) break;
    uint64_t left = end - now;
    struct timespec wait = {(time_t)(left / 1000000000u),
                            (long)(left % 1000000000u)};
    int sig = sigtimedwait(&set, NULL, &wait);
    if (sig == SIGINT || sig == SIGTERM) break;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- stateful sessions and cleanup ------------------------------------ */

/* What a cleanup did, for mimic_cleanup_*: already gone counts as deleted
 * (the resource is no more), a failure as failed. */
static void observe_cleanup(struct shared *sh, const struct cleanup_result *r) {
  if (!sh->metrics) return;
  metrics_cleanup_add(sh->metrics, METRICS_CLEANUP_DELETED,
                      r->deleted + r->gone);
  metrics_cleanup_add(sh->metrics, METRICS_CLEANUP_FAILED, r->failed);
}

static int setup_flow(struct shared *sh, char *err, size_t errlen) {
  const struct run_opts *o = sh->o;
  struct flow_opts fo = {
      .target = o->target,
      .model_path = o->model_path,
      .credentials = o->credentials,
      .login = o->login,
      .bodies = o->bodies,
      .cleanup_map = o->cleanup_map,
      .journal = o->journal,
      .temp_journal = o->cleanup && !o->journal,
      .run_id = o->run_id,
      .error_rate = o->error_rate,
      .may_fault = sh->sc && scenario_wants_faults(sh->sc),
      .faults = o->faults,
      .fault_timeout_ms = o->fault_timeout_ms,
      .seed = o->seed,
      .dry_run = o->dry_run,
      .err = o->err,
      .quiet = o->quiet,
  };
  int rc = flow_new(sh->model, sh->synth, &fo, &sh->flow, err, errlen);
  if (rc || !sh->flow) return rc;
  sh->nstats += flow_extra_endpoints(sh->flow);
  if (!o->quiet && flow_journal(sh->flow))
    fprintf(o->err, "mimic replay: run %s journals what it creates in %s\n",
            flow_run_id(sh->flow), flow_journal_path(sh->flow));
  return 0;
}

/* The journal of --cleanup without --journal is a temporary file: it goes
 * when nothing is left to delete, else it stays for `mimic cleanup`. */
static void finish_flow(struct shared *sh, int status) {
  if (!sh->flow) return;
  const struct run_opts *o = sh->o;
  struct journal_counts jc = {0};
  struct journal *j = flow_journal(sh->flow);
  int counted = j && journal_counts(j, flow_run_id(sh->flow), &jc) == 0;
  char path[4096] = "";
  if (j) snprintf(path, sizeof path, "%s", flow_journal_path(sh->flow));
  int temp = flow_journal_is_temp(sh->flow);
  flow_free(sh->flow);
  sh->flow = NULL;
  if (!j || !counted) return;
  uint64_t left = jc.live + jc.pending;
  if (temp && left == 0 && status != RUN_FAILED) {
    static const char *const ext[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
      char p[4200];
      snprintf(p, sizeof p, "%s%s", path, ext[i]);
      unlink(p);
    }
  } else if (left && !o->quiet) {
    fprintf(o->err,
            "mimic replay: %" PRIu64 " created resources are still on the "
            "target; 'mimic cleanup %s' deletes them\n",
            left, path);
  }
}

struct cleanup_stop {
  struct shared *sh;
  const sigset_t *signals;
};

/* A signal (blocked, so pending) stops the cleanup at the end. */
static int final_should_stop(void *arg) {
  struct cleanup_stop *cs = arg;
  struct timespec zero = {0, 0};
  int sig = sigtimedwait(cs->signals, NULL, &zero);
  if (sig > 0 && !cs->sh->o->quiet)
    fprintf(cs->sh->o->err, "mimic replay: %s: cleanup stopped\n",
            sig == SIGINT ? "interrupted" : "terminated");
  return sig > 0;
}

static void final_cleanup(struct shared *sh, const sigset_t *signals) {
  const struct run_opts *o = sh->o;
  struct cleanup_stop cs = {sh, signals};
  struct cleanup_opts co = {
      .journal = flow_journal(sh->flow),
      .run_id = flow_run_id(sh->flow),
      .max_rps = o->max_rps,
      .retries = o->cleanup_retries ? o->cleanup_retries : 3,
      .timeout_ms = o->timeout_ms,
      .headers = o->headers,
      .nheaders = o->nheaders,
      .insecure = o->insecure,
      .should_stop = final_should_stop,
      .stop_arg = &cs,
  };
  char err[512] = "";
  if (!o->quiet)
    fprintf(o->err,
            "mimic replay: cleaning up what run %s created (Ctrl-C "
            "stops; 'mimic cleanup %s' finishes later)\n",
            flow_run_id(sh->flow), flow_journal_path(sh->flow));
  if (cleanup_run(&co, &sh->cleanup, err, sizeof err)) {
    fprintf(o->err, "mimic replay: error: cleanup: %s\n", err);
    sh->cleanup.left = sh->cleanup.todo;
  }
  sh->cleaned = 1;
  observe_cleanup(sh, &sh->cleanup);
}

/* --cleanup-interval: every so often, what sessions that have ended
 * created is deleted while the run goes on, at a tenth of --max-rps. */
static int interval_should_stop(void *arg) {
  const struct shared *sh = arg;
  return atomic_load(&sh->stop) != STOP_NONE;
}

static struct cleanup_interval *interval_start(struct shared *sh) {
  const struct run_opts *o = sh->o;
  if (!sh->flow || !flow_journal(sh->flow) || o->cleanup_interval_us <= 0)
    return NULL;
  struct cleanup_opts co = {
      .journal = flow_journal(sh->flow),
      .run_id = flow_run_id(sh->flow),
      .max_rps = o->max_rps > 0 ? o->max_rps / 10 : 0,
      .retries = o->cleanup_retries ? o->cleanup_retries : 3,
      .timeout_ms = o->timeout_ms,
      .headers = o->headers,
      .nheaders = o->nheaders,
      .insecure = o->insecure,
      .should_stop = interval_should_stop,
      .stop_arg = sh,
  };
  struct cleanup_interval *ci = NULL;
  if (cleanup_interval_start(&co, o->cleanup_interval_us, &ci) && !o->quiet)
    fprintf(o->err, "mimic replay: warning: no --cleanup-interval thread\n");
  return ci;
}

int run_replay(const struct run_opts *o) {
  struct shared sh = {.o = o, .end_us = INT64_MAX};
  char err[1024] = "";
  int status = RUN_FAILED, rc;
  atomic_init(&sh.stop, STOP_NONE);
  atomic_init(&sh.finished, 0);
  pthread_mutex_init(&sh.log_lock, NULL);
  pthread_mutex_init(&sh.start_lock, NULL);
  pthread_cond_init(&sh.start_cond, NULL);
  struct stats total;
  memset(&total, 0, sizeof total);
  int curl_ready = 0;

  if (!o->dry_run && (rc = check_http(o))) {
    if (rc == ERR_USAGE) status = RUN_USAGE;
    goto out;
  }
  if ((rc = model_load(o->model_path, &sh.model, err, sizeof err))) {
    fprintf(o->err, "mimic replay: error: %s\n", err);
    goto out;
  }
  struct synth_opts so = {.personas = o->personas, .npersonas = o->npersonas};
  if ((rc = synth_new(sh.model, &so, &sh.synth, err, sizeof err))) {
    if (rc == ERR_NOTFOUND) { /* --user-types named no persona of it */
      fprintf(o->err,
              "mimic replay: --user-types: %s\nRun 'mimic inspect %s' for "
              "the personas.\n",
              err, o->model_path);
      status = RUN_USAGE;
      goto out;
    }
    fprintf(o->err, "mimic replay: error: %s: %s\n", o->model_path, err);
    goto out;
  }
  sh.nstats = synth_endpoints(sh.synth);
  sh.closed = o->users > 0;
  size_t nmin;
  int64_t first_minute;
  synth_arrivals(sh.synth, &nmin, &first_minute);
  double ts = o->time_scale > 0 ? o->time_scale : 1;
  sh.span_us = (int64_t)(((double)nmin * 60e6 - (double)o->from_us) / ts);
  if (sh.span_us < 0) sh.span_us = 0;
  if (o->duration_us > 0)
    sh.end_us = o->duration_us;
  else if (!sh.closed)
    sh.end_us = sh.span_us;
  if (!sh.closed && nmin == 0) {
    fprintf(o->err,
            "mimic replay: error: %s has no session arrivals for an "
            "open workload; use --users for a closed one\n",
            o->model_path);
    goto out;
  }
  if ((rc = shape_start(&sh))) goto out;
  /* After the shape: a load shape that faults needs the flow. */
  if ((rc = setup_flow(&sh, err, sizeof err))) {
    fprintf(o->err, "mimic replay: error: %s\n", err);
    if (rc == ERR_USAGE) status = RUN_USAGE;
    goto out;
  }

  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  sh.nworkers = o->threads ? o->threads : (unsigned)(cores > 0 ? cores : 1);
  if (o->dry_run) sh.nworkers = 1;
  /* Each worker paces a whole share of --max-rps. */
  if (o->max_rps > 0 && floor(o->max_rps) < sh.nworkers)
    sh.nworkers = o->max_rps >= 1 ? (unsigned)floor(o->max_rps) : 1;
  if (sh.closed && o->users < sh.nworkers) sh.nworkers = (unsigned)o->users;
  sh.w = calloc(sh.nworkers, sizeof *sh.w);
  if (!sh.w) goto nomem;

  if (o->log_path) {
    sh.log = fopen(o->log_path, "w");
    if (!sh.log) {
      fprintf(o->err, "mimic replay: error: cannot write --log %s: %s\n",
              o->log_path, strerror(errno));
      goto out;
    }
  }
  /* (A real run sets both again when its workers are ready.) */
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  sh.wall0_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000;
  sh.t0_hr_us = uv_hrtime() / 1000;

  if (!o->dry_run && (rc = observe_start(&sh))) goto out;
  if (!o->dry_run && sh.sc &&
      (rc = scenario_watch_new(sh.sc, sh.metrics, NULL, &sh.watch)))
    goto nomem;
  for (unsigned i = 0; i < sh.nworkers; i++) {
    struct worker *w = &sh.w[i];
    w->sh = &sh;
    w->index = i;
    w->dry = o->dry_run;
    w->ms = metrics_shard(sh.metrics, i);
    if ((rc = worker_init(w))) goto nomem;
  }

  double elapsed;
  if (o->dry_run) {
    rc = dry_run(&sh.w[0]);
    if (rc) {
      fprintf(o->err, "mimic replay: error: %s\n", err_str(rc));
      goto out;
    }
    elapsed = (double)sh.w[0].vnow / 1e6;
  } else {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      fprintf(o->err, "mimic replay: error: libcurl failed to initialise\n");
      goto out;
    }
    curl_ready = 1;
    /* Signals go to this thread only: it turns them into flags the
     * workers poll, and keeps the progress line. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    unsigned started = 0;
    struct cleanup_interval *iv = interval_start(&sh);
    for (; started < sh.nworkers; started++) {
      if (pthread_create(&sh.w[started].thread, NULL, worker_main,
                         &sh.w[started]) != 0) {
        atomic_store(&sh.stop, STOP_ABORT);
        break;
      }
    }
    pthread_mutex_lock(&sh.start_lock);
    while (sh.ready < started)
      pthread_cond_wait(&sh.start_cond, &sh.start_lock);
    clock_gettime(CLOCK_REALTIME, &rt);
    sh.wall0_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_nsec / 1000;
    sh.t0_hr_us = uv_hrtime() / 1000;
    sh.go = 1;
    pthread_cond_broadcast(&sh.start_cond);
    pthread_mutex_unlock(&sh.start_lock);
    int tty = !o->quiet && isatty(fileno(o->err));
    struct progress p;
    hist_init(&p.window);
    uint64_t last_requests = 0;
    double last_show = 0, stopped_at = -1;
    uint64_t hr0 = sh.t0_hr_us * 1000;
    while (atomic_load(&sh.finished) < started) {
      struct timespec wait = {0, 200 * 1000000L};
      int sig = sigtimedwait(&set, NULL, &wait);
      double now = (double)(uv_hrtime() - hr0) / 1e9;
      int stop = atomic_load(&sh.stop);
      if (sig == SIGINT || sig == SIGTERM) {
        stop = stop == STOP_NONE ? STOP_SOFT : STOP_ABORT;
        if (stop == STOP_SOFT) stopped_at = now;
        if (!o->quiet)
          fprintf(o->err, "%smimic replay: %s: %s\n", tty ? "\n" : "",
                  sig == SIGINT ? "interrupted" : "terminated",
                  stop == STOP_SOFT ? "finishing the requests in flight "
                                      "(again to abort)"
                                    : "aborting");
      }
      char why[256];
      if (sh.watch && stop == STOP_NONE &&
          scenario_watch_tick(sh.watch, sh.metrics,
                              (int64_t)(uv_hrtime() / 1000 - sh.t0_hr_us), why,
                              sizeof why)) {
        /* The shape is done (a stress run found its knee): stop as a
         * Ctrl-C would. */
        if (!o->quiet)
          fprintf(o->err, "%smimic replay: %s\n", tty ? "\n" : "", why);
        stop = STOP_SOFT;
        stopped_at = now;
      }
      if (stop == STOP_SOFT && stopped_at >= 0 &&
          now - stopped_at > (double)STOP_GRACE_US / 1e6)
        stop = STOP_ABORT;
      if (stop != atomic_load(&sh.stop)) {
        atomic_store(&sh.stop, stop);
        for (unsigned i = 0; i < started; i++) {
          struct worker *w = &sh.w[i];
          pthread_mutex_lock(&w->lock);
          if (w->alive) uv_async_send(&w->wake);
          pthread_mutex_unlock(&w->lock);
        }
      }
      if (!o->quiet &&
          (tty ? now - last_show >= 1.0 : now - last_show >= 10.0)) {
        collect(&sh, &p);
        show_progress(&sh, &p, last_requests, now - last_show, now, tty);
        last_requests = p.requests;
        hist_cleanup(&p.window);
        last_show = now;
      }
    }
    for (unsigned i = 0; i < started; i++) pthread_join(sh.w[i].thread, NULL);
    sh.interval_runs = cleanup_interval_stop(iv, &sh.interval);
    observe_cleanup(&sh, &sh.interval);
    /* Still with SIGINT/SIGTERM blocked: one stops the cleanup. */
    if (sh.flow && flow_journal(sh.flow) && o->cleanup)
      final_cleanup(&sh, &set);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (tty && last_show > 0) fputc('\n', o->err);
    hist_cleanup(&p.window);
    elapsed = (double)(uv_hrtime() - hr0) / 1e9;
    for (unsigned i = 0; i < sh.nworkers; i++) {
      if (sh.w[i].failed) {
        fprintf(o->err, "mimic replay: error: %s\n", sh.w[i].err);
        goto out;
      }
    }
  }

  if ((rc = stats_init(&total, sh.nstats))) goto nomem;
  uint64_t planned_sessions = 0, dropped = 0, planned_requests = 0;
  for (unsigned i = 0; i < sh.nworkers; i++) {
    if ((rc = stats_merge(&total, &sh.w[i].stats))) goto nomem;
    planned_sessions += sh.w[i].planned_sessions;
    dropped += sh.w[i].dropped_sessions;
    planned_requests += sh.w[i].planned_requests;
  }
  if (o->dry_run) {
    if (!o->quiet)
      fprintf(o->err,
              "mimic replay: dry run: %" PRIu64 " sessions planned over "
              "%.1f s\n",
              total.sessions, elapsed);
    status = RUN_OK;
    goto out;
  }
  summary(&sh, &total, elapsed, planned_sessions, dropped);
  if (o->report_path && write_report(&sh, &total, elapsed, planned_sessions,
                                     dropped, planned_requests)) {
    fprintf(o->err, "mimic replay: error: cannot write --report %s\n",
            o->report_path);
    goto out;
  }
  struct stats_total t;
  stats_total(&total, &t, NULL, NULL);
  status = t.requests && !t.responses ? RUN_UNREACHABLE : RUN_OK;
  if (status == RUN_OK && sh.cleaned && (sh.cleanup.failed || sh.cleanup.left))
    status = RUN_LEFT;
  observe_linger(&sh);
  goto out;

nomem:
  fprintf(o->err, "mimic replay: error: %s\n", err_str(rc ? rc : -ENOMEM));
out:
  if (sh.log && fclose(sh.log) != 0 && status == RUN_OK) {
    fprintf(o->err, "mimic replay: error: cannot write --log %s: %s\n",
            o->log_path, strerror(errno));
    status = RUN_FAILED;
  }
  metrics_server_stop(sh.msrv);
  scenario_watch_free(sh.watch);
  scenario_free(sh.sc);
  free(sh.curve);
  for (unsigned i = 0; sh.w && i < sh.nworkers; i++) worker_cleanup(&sh.w[i]);
  free(sh.w);
  metrics_free(sh.metrics);
  stats_cleanup(&total);
  finish_flow(&sh, status);
  cleanup_result_free(&sh.cleanup);
  cleanup_result_free(&sh.interval);
  synth_free(sh.synth);
  model_free(sh.model);
  pthread_mutex_destroy(&sh.log_lock);
  pthread_mutex_destroy(&sh.start_lock);
  pthread_cond_destroy(&sh.start_cond);
  if (curl_ready) curl_global_cleanup();
  return status;
}
