#include "flow.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bodies.h"
#include "correl.h"
#include "err.h"
#include "hash.h"
#include "journal.h"
#include "jpath.h"
#include "model.h"
#include "rng.h"
#include "rules.h"
#include "shapes.h"
#include "synth.h"
#include "vstate.h"

#define NONE UINT32_MAX
#define BODY_BUF (256u * 1024)
#define URL_MAX 4096
#define MAXP 16

/* What an answer feeds (flow_note.role). */
enum {
  R_CREATE = 1,
  R_DELETE = 2,
  R_LOGIN = 4,
  R_REFRESH = 8,
  R_LOGOUT = 16,
};

/* A --cleanup-map rule: how to delete what a create endpoint made. */
struct cmap {
  char *method, *path; /* path with {created.id} and the create's {names} */
};

struct flow {
  const struct model *m;
  const struct synth *s;
  struct correl *correl;
  struct rules *rules;   /* learned from packets (may have none) */
  struct shapes *shapes; /* request bodies learned from packets */
  struct auth *auth;
  struct bodies *bodies;
  struct faults faults;
  struct journal *journal;
  char *journal_path;
  int journal_temp;
  char run_id[32];
  char *base; /* target without trailing '/' */
  uint32_t nep;
  int64_t login;      /* model endpoint, AUTH_EXTRA or AUTH_NO_LOGIN */
  int32_t *create_of; /* per slot: its create endpoint */
  int64_t any_create; /* the most requested create, or -1 */
  int32_t *uid_sub;   /* per endpoint without a path param: a GET with one
                         to send an unknown id to, or -1 */
  int64_t auth_sub;   /* a GET that is no login, for no-auth and
                         expired-token faults drawn on a login, or -1 */
  struct cmap *cmap;  /* per endpoint (creates) */
};

struct flow_worker {
  struct flow *f;
  struct vstate **vs;
  uint32_t nvs, capvs;
  uint32_t *free_vs;
  uint32_t nfree;
  struct flow_counts counts;
  const char *hdrs[ENGINE_REQ_HEADERS];
  char auth_hdr[VSTATE_VALUE_MAX + 96];
  char cookie_hdr[VSTATE_JAR_MAX + VSTATE_VALUE_MAX + 16];
  char jar[VSTATE_JAR_MAX + VSTATE_VALUE_MAX + 2];
  char lhdr[2][VSTATE_VALUE_MAX + 80]; /* headers learned rules put */
  char tag[160];
  char url[URL_MAX], del[URL_MAX], jhdr[VSTATE_TOKEN_MAX + VSTATE_JAR_MAX + 64];
  char nx[96];
  char body[BODY_BUF];
};

/* ---- set-up ---------------------------------------------------------- */

static void cmap_free(struct flow *f) {
  for (uint32_t i = 0; f->cmap && i < f->nep; i++) {
    free(f->cmap[i].method);
    free(f->cmap[i].path);
  }
  free(f->cmap);
}

void flow_free(struct flow *f) {
  if (!f) return;
  journal_close(f->journal);
  correl_free(f->correl);
  rules_free(f->rules);
  shapes_free(f->shapes);
  auth_free(f->auth);
  bodies_free(f->bodies);
  cmap_free(f);
  free(f->create_of);
  free(f->uid_sub);
  free(f->base);
  free(f->journal_path);
  free(f);
}

static int load_cmap(struct flow *f, const char *path, char *err,
                     size_t errlen) {
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  int rc = ERR_PARSE;
  if (!json_is_object(doc)) {
    snprintf(err, errlen,
             "--cleanup-map %s: %s (expected {\"POST /path\": \"DELETE "
             "/path/{created.id}\"})",
             path, doc ? "not an object" : je.text);
    goto out;
  }
  f->cmap = calloc(f->nep ? f->nep : 1, sizeof *f->cmap);
  if (!f->cmap) {
    rc = -ENOMEM;
    goto out;
  }
  const char *key;
  json_t *v;
  json_object_foreach(doc, key, v) {
    const char *sp = strchr(key, ' ');
    const char *val = json_string_value(v);
    const char *vs = val ? strchr(val, ' ') : NULL;
    if (!sp || !vs || vs[1] != '/' || !strstr(val, "{created.id}")) {
      snprintf(err, errlen,
               "--cleanup-map %s: '%s': expected \"METHOD /path\": "
               "\"METHOD /path/{created.id}\"",
               path, key);
      goto out;
    }
    uint32_t e = 0;
    for (; e < f->nep; e++) {
      const struct model_endpoint *me = &f->m->endpoints[e];
      if (me->method && me->templ && strlen(me->method) == (size_t)(sp - key) &&
          memcmp(me->method, key, (size_t)(sp - key)) == 0 &&
          strcmp(me->templ, sp + 1) == 0)
        break;
    }
    if (e == f->nep) {
      snprintf(err, errlen, "--cleanup-map %s: no endpoint '%s' in the model",
               path, key);
      goto out;
    }
    free(f->cmap[e].method);
    free(f->cmap[e].path);
    f->cmap[e].method = strndup(val, (size_t)(vs - val));
    f->cmap[e].path = strdup(vs + 1);
    if (!f->cmap[e].method || !f->cmap[e].path) {
      rc = -ENOMEM;
      goto out;
    }
  }
  rc = 0;
out:
  json_decref(doc);
  return rc;
}

/* Substitutes for the faults: the create of each collection, and for each
 * endpoint without a path parameter a GET with one (under it if possible,
 * else the most requested). */
static int plan_substitutes(struct flow *f) {
  uint32_t nslots = correl_slots(f->correl);
  f->create_of = calloc(nslots ? nslots : 1, sizeof *f->create_of);
  f->uid_sub = calloc(f->nep ? f->nep : 1, sizeof *f->uid_sub);
  if (!f->create_of || !f->uid_sub) return -ENOMEM;
  f->any_create = -1;
  for (uint32_t e = 0; e < f->nep; e++) {
    int32_t slot = correl_creates(f->correl, e);
    if (slot < 0) continue;
    f->create_of[slot] = (int32_t)e;
    if (f->any_create < 0) f->any_create = e;
  }
  f->auth_sub = -1;
  for (uint32_t e = 0; e < f->nep && f->auth_sub < 0; e++)
    if (strcmp(synth_method(f->s, e), "GET") == 0 &&
        auth_role(f->auth, e) == AUTH_NONE)
      f->auth_sub = e;
  int64_t any_get = -1;
  for (uint32_t e = 0; e < f->nep && any_get < 0; e++)
    if (correl_nparams(f->correl, e) &&
        strcmp(synth_method(f->s, e), "GET") == 0)
      any_get = e;
  for (uint32_t e = 0; e < f->nep; e++) {
    f->uid_sub[e] = -1;
    if (correl_nparams(f->correl, e)) continue;
    const char *t = synth_template(f->s, e);
    size_t tl = strlen(t);
    for (uint32_t g = 0; g < f->nep; g++) {
      const char *gt = synth_template(f->s, g);
      if (correl_nparams(f->correl, g) &&
          strcmp(synth_method(f->s, g), "GET") == 0 &&
          strncmp(gt, t, tl) == 0 && gt[tl] == '/' && gt[tl + 1] == '{') {
        f->uid_sub[e] = (int32_t)g;
        break;
      }
    }
    if (f->uid_sub[e] < 0) f->uid_sub[e] = (int32_t)any_get;
  }
  return 0;
}

static void make_run_id(char *buf, size_t len, uint64_t seed) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  uint64_t h =
      hash_mix(hash_mix((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec,
                        (uint64_t)getpid()),
               seed);
  snprintf(buf, len, "%08" PRIx64, h & 0xffffffffu);
}

int flow_new(const struct model *m, const struct synth *s,
             const struct flow_opts *o, struct flow **out, char *err,
             size_t errlen) {
  struct flow *f = calloc(1, sizeof *f);
  int rc = -ENOMEM;
  *out = NULL;
  if (!f) return rc;
  err[0] = '\0';
  f->m = m;
  f->s = s;
  f->nep = synth_endpoints(s);
  if (o->run_id) {
    size_t n = strlen(o->run_id);
    if (n == 0 || n > 24 ||
        strspn(o->run_id, "abcdefghijklmnopqrstuvwxyz"
                          "0123456789") != n) {
      snprintf(err, errlen,
               "--run-id '%s': expected 1 to 24 lower-case letters or "
               "digits",
               o->run_id);
      rc = ERR_USAGE;
      goto bad;
    }
    snprintf(f->run_id, sizeof f->run_id, "%s", o->run_id);
  } else if (o->dry_run) {
    /* The same seed prints the same plan, made-up values included. */
    snprintf(f->run_id, sizeof f->run_id, "%08" PRIx64,
             hash_mix(o->seed, 0x72756e6964) & 0xffffffffu);
  } else {
    make_run_id(f->run_id, sizeof f->run_id, o->seed);
  }
  const char *t = o->target ? o->target : "";
  size_t tl = strlen(t);
  while (tl && t[tl - 1] == '/') tl--;
  if (!(f->base = strndup(t, tl))) goto bad;
  if ((rc = correl_new(m, &f->correl))) goto bad;
  if ((rc = auth_new(m, o->credentials, o->login, &f->auth, err, errlen)))
    goto bad;
  f->login = auth_login(f->auth);
  if ((rc = faults_parse(&f->faults, o->error_rate, o->faults, err, errlen)))
    goto bad;
  if (o->fault_timeout_ms > 0) f->faults.timeout_ms = o->fault_timeout_ms;
  if (f->login == AUTH_NO_LOGIN &&
      (rc = faults_drop(&f->faults, FAULT_BAD_LOGIN,
                        "the model has no login endpoint (name one with "
                        "--login 'POST /path')",
                        err, errlen)))
    goto bad;
  /* Kinds this model cannot play would only relabel normal requests as
   * injected (a request "without its token" to an API that takes none is
   * an ordinary request): they are left out. */
  int has_id = 0, has_body = o->bodies != NULL;
  for (uint32_t ep = 0; ep < f->nep; ep++) {
    const char *tp = synth_template(s, ep), *mt = synth_method(s, ep);
    if (strchr(tp, '{')) has_id = 1;
    if (strcmp(mt, "POST") == 0 || strcmp(mt, "PUT") == 0 ||
        strcmp(mt, "PATCH") == 0)
      has_body = 1;
  }
  int has_auth = f->login != AUTH_NO_LOGIN || auth_ncreds(f->auth) > 0;
  if ((!has_id &&
       (rc = faults_drop(&f->faults, FAULT_UNKNOWN_ID,
                         "the model's paths have no ids", err, errlen))) ||
      (!has_body &&
       (rc = faults_drop(&f->faults, FAULT_INVALID_BODY,
                         "the model has no request with a body (give "
                         "--bodies)",
                         err, errlen))) ||
      (!has_auth &&
       (rc = faults_drop(&f->faults, FAULT_NO_AUTH,
                         "the model has no login and no --credentials", err,
                         errlen))) ||
      (!has_auth &&
       (rc = faults_drop(&f->faults, FAULT_EXPIRED_TOKEN,
                         "the model has no login and no --credentials", err,
                         errlen))))
    goto bad;
  char warn[256];
  if ((rc = bodies_new(o->bodies, m, auth_login_method(f->auth),
                       auth_login_path(f->auth), f->correl, f->run_id,
                       &f->bodies, err, errlen, warn, sizeof warn)))
    goto bad;
  if (warn[0] && !o->quiet && o->err)
    fprintf(o->err, "mimic replay: warning: %s\n", warn);
  /* What capture learned from packets: correlation rules and body
   * shapes (none in a model from logs). */
  if ((rc = rules_new(m, &f->rules)) ||
      (rc = shapes_new(m, bodies_marker(f->bodies), &f->shapes)))
    goto bad;
  if (o->cleanup_map && (rc = load_cmap(f, o->cleanup_map, err, errlen)))
    goto bad;
  int needed = correl_slots(f->correl) > 0 || rules_count(f->rules) > 0 ||
               shapes_count(f->shapes) > 0 || f->login != AUTH_NO_LOGIN ||
               auth_ncreds(f->auth) > 0 || bodies_given(f->bodies) > 0 ||
               faults_on(&f->faults) || o->may_fault || o->journal ||
               o->temp_journal;
  if (!needed) {
    flow_free(f);
    return 0;
  }
  if ((rc = plan_substitutes(f))) goto bad;
  if ((o->journal || o->temp_journal) && !o->dry_run) {
    if (o->journal) {
      f->journal_path = strdup(o->journal);
    } else {
      const char *tmp = getenv("TMPDIR");
      char p[4096];
      snprintf(p, sizeof p, "%s/mimic-journal-%s.db",
               tmp && *tmp ? tmp : "/tmp", f->run_id);
      f->journal_path = strdup(p);
      f->journal_temp = 1;
    }
    if (!f->journal_path) goto bad;
    struct journal_run run = {
        .run_id = f->run_id, .target = f->base, .model = o->model_path};
    if ((rc = journal_open(f->journal_path, &run, &f->journal, err, errlen)))
      goto bad;
  }
  *out = f;
  return 0;
bad:
  if (rc == -ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
  flow_free(f);
  return rc;
}

size_t flow_rules(const struct flow *f) {
  return f ? rules_count(f->rules) : 0;
}

size_t flow_shapes(const struct flow *f) {
  return f ? shapes_count(f->shapes) : 0;
}

const char *flow_run_id(const struct flow *f) {
  return f->run_id;
}

struct journal *flow_journal(const struct flow *f) {
  return f->journal;
}

const char *flow_journal_path(const struct flow *f) {
  return f->journal_path;
}

int flow_journal_is_temp(const struct flow *f) {
  return f->journal_temp;
}

const struct faults *flow_faults(const struct flow *f) {
  return &f->faults;
}

uint32_t flow_extra_endpoints(const struct flow *f) {
  return f->login == AUTH_EXTRA ? 1 : 0;
}

const char *flow_extra_method(const struct flow *f, uint32_t i) {
  return i < flow_extra_endpoints(f) ? auth_login_method(f->auth) : NULL;
}

const char *flow_extra_template(const struct flow *f, uint32_t i) {
  return i < flow_extra_endpoints(f) ? auth_login_path(f->auth) : NULL;
}

/* ---- users' states ---------------------------------------------------- */

int flow_worker_new(struct flow *f, struct flow_worker **out) {
  struct flow_worker *fw = calloc(1, sizeof *fw);
  if (!fw) return -ENOMEM;
  fw->f = f;
  *out = fw;
  return 0;
}

void flow_worker_free(struct flow_worker *fw) {
  if (!fw) return;
  for (uint32_t i = 0; i < fw->nvs; i++) vstate_free(fw->vs[i]);
  free(fw->vs);
  free(fw->free_vs);
  free(fw);
}

static struct vstate *get_vs(struct flow_worker *fw, struct flow_user *u,
                             int make) {
  if (*u->vs != NONE) return fw->vs[*u->vs];
  if (!make) return NULL;
  uint32_t i;
  if (fw->nfree) {
    i = fw->free_vs[--fw->nfree];
  } else {
    if (fw->nvs == fw->capvs) {
      uint32_t cap = fw->capvs ? fw->capvs * 2 : 256;
      struct vstate **nv = realloc(fw->vs, cap * sizeof *nv);
      if (!nv) return NULL;
      fw->vs = nv;
      uint32_t *nf = realloc(fw->free_vs, cap * sizeof *nf);
      if (!nf) return NULL;
      fw->free_vs = nf;
      fw->capvs = cap;
    }
    i = fw->nvs;
  }
  struct vstate *v;
  if (vstate_new(correl_slots(fw->f->correl), rules_nvars(fw->f->rules), &v)) {
    if (i < fw->nvs) fw->free_vs[fw->nfree++] = i;
    return NULL;
  }
  fw->vs[i] = v;
  if (i == fw->nvs) fw->nvs++;
  *u->vs = i;
  fw->counts.states++;
  return v;
}

int flow_session_begin(struct flow_worker *fw, struct flow_user *u) {
  struct vstate *v = get_vs(fw, u, 0);
  if (v) vstate_session_reset(v);
  if (fw->f->login == AUTH_EXTRA) {
    if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
    if (!vstate_token(v)) vstate_set_need_login(v, 1);
  }
  return 0;
}

void flow_session_end(struct flow_worker *fw, struct flow_user *u) {
  struct vstate *v = get_vs(fw, u, 0);
  if (v && vstate_creates(v) && fw->f->journal &&
      journal_session_done(fw->f->journal, u->id, u->session))
    fw->counts.journal_errors++;
}

void flow_user_end(struct flow_worker *fw, struct flow_user *u) {
  if (*u->vs == NONE) return;
  uint32_t i = *u->vs;
  vstate_free(fw->vs[i]);
  fw->vs[i] = NULL;
  fw->free_vs[fw->nfree++] = i;
  *u->vs = NONE;
}

/* ---- building a request ----------------------------------------------- */

/* The values of a path's parameters named in a template ("/posts/{id}/c"
 * against "/posts/7/c": id = 7), by segments. Returns the value of name
 * into out, or 0 when the path does not match. */
static size_t path_value(const char *templ, const char *path, const char *name,
                         size_t nlen, char *out, size_t cap) {
  const char *t = templ, *p = path;
  while (*t && *p) {
    size_t tl = strcspn(t, "/"), pl = strcspn(p, "/?");
    const char *open = memchr(t, '{', tl);
    const char *close =
        open ? memchr(open, '}', tl - (size_t)(open - t)) : NULL;
    if (close) {
      size_t pre = (size_t)(open - t), post = tl - (size_t)(close - t) - 1;
      if (pl >= pre + post && (size_t)(close - open - 1) == nlen &&
          memcmp(open + 1, name, nlen) == 0) {
        size_t vl = pl - pre - post;
        if (vl + 1 > cap) return 0;
        memcpy(out, p + pre, vl);
        out[vl] = '\0';
        return vl;
      }
    } else if (tl != pl || memcmp(t, p, tl) != 0) {
      return 0;
    }
    t += tl;
    p += pl;
    if (*t == '/') t++;
    if (*p == '/') p++;
  }
  return 0;
}

/* The URL that deletes what a create sent to path makes, with
 * "{created.id}" left for the journal: --cleanup-map's rule, or DELETE on
 * the created resource's path (the collection's path + "/" + id). */
static void delete_of(struct flow_worker *fw, uint32_t ep, const char *path,
                      size_t plen, const char **method) {
  struct flow *f = fw->f;
  const struct cmap *c = f->cmap && ep < f->nep ? &f->cmap[ep] : NULL;
  if (!c || !c->method) {
    *method = "DELETE";
    snprintf(fw->del, sizeof fw->del, "%s%.*s/{created.id}", f->base, (int)plen,
             path);
    return;
  }
  *method = c->method;
  size_t o = (size_t)snprintf(fw->del, sizeof fw->del, "%s", f->base);
  for (const char *p = c->path; *p && o + 1 < sizeof fw->del;) {
    const char *close = *p == '{' ? strchr(p, '}') : NULL;
    if (close && strncmp(p, "{created.id}", 12) != 0) {
      char v[256];
      size_t n = path_value(synth_template(f->s, ep), path, p + 1,
                            (size_t)(close - p - 1), v, sizeof v);
      if (n) {
        o += (size_t)snprintf(fw->del + o, sizeof fw->del - o, "%s", v);
        p = close + 1;
        continue;
      }
    }
    fw->del[o++] = *p++;
  }
  fw->del[o < sizeof fw->del ? o : sizeof fw->del - 1] = '\0';
}

static size_t render(struct flow_worker *fw, const struct bodies_tpl *t,
                     struct flow_user *u, const struct vstate *v,
                     int wrong_password) {
  struct bodies_ctx ctx = {.rng = u->rng,
                           .user = u->id,
                           .cred = auth_cred(fw->f->auth, u->id),
                           .vs = v,
                           .wrong_password = wrong_password};
  size_t n = bodies_render(fw->f->bodies, t, &ctx, fw->body, sizeof fw->body,
                           fw->tag, sizeof fw->tag);
  if (n == (size_t)-1) {
    fw->counts.body_errors++;
    return 0;
  }
  return n;
}

/* The invalid-body fault's object, its "id" one that exists already. */
static size_t violating(struct flow_worker *fw, const struct bodies_tpl *t,
                        const struct vstate *v, int32_t slot) {
  const char *text = bodies_violating(fw->f->bodies, t);
  const char *id = NULL;
  if (v && slot >= 0) id = vstate_id(v, (uint32_t)slot);
  if (!id && v) id = vstate_last_id(v);
  if (!id) id = "1";
  const char *at = strstr(text, "\"{{id}}\"");
  if (!at) return (size_t)snprintf(fw->body, sizeof fw->body, "%s", text);
  int num = strspn(id, "0123456789") == strlen(id) && strlen(id) < 16;
  int n = snprintf(fw->body, sizeof fw->body, "%.*s%s%s%s%s", (int)(at - text),
                   text, num ? "" : "\"", id, num ? "" : "\"", at + 8);
  return n > 0 && (size_t)n < sizeof fw->body ? (size_t)n : 0;
}

/* Values of learned rules into the request's path and query (after the
 * heuristic's ids: a learned rule wins where both apply). *seg gets the
 * last path segment put (a DELETE forgets its value once answered). */
static int put_url(struct flow_worker *fw, const struct vstate *v, uint32_t ep,
                   char *target, size_t cap, uint8_t *seg) {
  size_t n;
  const struct rules_put *p = rules_puts(fw->f->rules, ep, &n);
  int put = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i].loc != RL_PATH && p[i].loc != RL_QUERY) continue;
    const char *val = v ? rules_value(&p[i], v, NULL) : NULL;
    size_t len = 0;
    if (val)
      len = p[i].loc == RL_PATH ? rules_set_segment(target, cap, p[i].seg, val)
                                : rules_set_query(target, cap, p[i].name, val);
    if (!len) {
      fw->counts.learned_missing++;
      continue;
    }
    fw->counts.learned_put++;
    put = 1;
    if (p[i].loc == RL_PATH && p[i].seg <= UINT8_MAX) *seg = (uint8_t)p[i].seg;
  }
  return put;
}

/* A value for a JSON field: a number where the field took numbers (or,
 * when its type is unknown, where the answer gave one), else a string. */
static json_t *typed(const char *val, unsigned flags, unsigned types) {
  char *end;
  if (((types & (SH_INTEGER | SH_REAL)) ||
       (!types && (flags & VSTATE_NUMERIC))) &&
      *val) {
    long long iv = strtoll(val, &end, 10);
    if (!*end && strlen(val) < 19) return json_integer((json_int_t)iv);
    double dv = strtod(val, &end);
    if (!*end) return json_real(dv);
  }
  return json_string(val);
}

/* A body of ep's learned shape, with the values of learned rules put into
 * its fields; an identity when the shape carries one. Returns its length
 * (0: none, counted as a body error). */
static size_t shaped_body(struct flow_worker *fw, struct flow_user *u,
                          const struct vstate *v, uint32_t ep, int wrong_pw,
                          int *lbound) {
  struct flow *f = fw->f;
  struct shapes_ident si, *pid = NULL;
  struct bodies_ident id;
  if (shapes_credentials(f->shapes, ep)) {
    struct bodies_ctx ctx = {.rng = u->rng,
                             .user = u->id,
                             .cred = auth_cred(f->auth, u->id),
                             .vs = v,
                             .wrong_password = wrong_pw};
    bodies_identity(f->bodies, &ctx, &id);
    si = (struct shapes_ident){id.user, id.email, id.password};
    pid = &si;
  }
  json_t *doc =
      shapes_build(f->shapes, ep, u->rng, pid, fw->tag, sizeof fw->tag);
  if (!doc) {
    fw->counts.body_errors++;
    return 0;
  }
  size_t n;
  const struct rules_put *p = rules_puts(f->rules, ep, &n);
  for (size_t i = 0; i < n; i++) {
    if (p[i].loc != RL_JSON) continue;
    unsigned flags = 0;
    const char *val = v ? rules_value(&p[i], v, &flags) : NULL;
    if (!val || jpath_set_new(
                    doc, p[i].name,
                    typed(val, flags,
                          shapes_field_types(f->shapes, ep, p[i].name))) != 0) {
      fw->counts.learned_missing++;
      continue;
    }
    fw->counts.learned_put++;
    *lbound = 1;
  }
  size_t len = shapes_dump(f->shapes, ep, doc, fw->body, sizeof fw->body);
  json_decref(doc);
  if (len == (size_t)-1) {
    fw->counts.body_errors++;
    return 0;
  }
  fw->counts.shaped++;
  return len;
}

/* Headers and cookies learned rules put (Authorization with its learned
 * scheme, X-... headers, Cookie pairs), after the flow's own: lines go to
 * fw->hdrs from *nh on. A no-auth fault sends none of them, an
 * expired-token fault garbage in their place. */
static void put_headers(struct flow_worker *fw, const struct vstate *v,
                        int64_t send, int noauth, int garbage, size_t *nh,
                        int *have_auth, const char **jar) {
  size_t n = 0;
  const struct rules_put *p =
      send >= 0 ? rules_puts(fw->f->rules, (uint32_t)send, &n) : NULL;
  int nl = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i].loc != RL_HEADER && p[i].loc != RL_COOKIE) continue;
    const char *val = v ? rules_value(&p[i], v, NULL) : NULL;
    if (!val) {
      fw->counts.learned_missing++;
      continue;
    }
    if (noauth) continue;
    if (garbage) val = "expired";
    if (p[i].loc == RL_COOKIE) {
      size_t len = rules_set_cookie(fw->cookie_hdr, sizeof fw->cookie_hdr, *jar,
                                    p[i].name, val);
      if (!len) {
        fw->counts.learned_missing++;
        continue;
      }
      memcpy(fw->jar, fw->cookie_hdr, len + 1);
      *jar = fw->jar;
    } else if (!strcmp(p[i].name, "authorization")) {
      if (garbage) continue; /* the fault's own garbage token is there */
      snprintf(fw->auth_hdr, sizeof fw->auth_hdr, "Authorization: %s %s",
               p[i].scheme ? p[i].scheme : "Bearer", val);
      if (!*have_auth) fw->hdrs[(*nh)++] = fw->auth_hdr;
      *have_auth = 1;
    } else {
      if (nl == 2 || *nh + 2 > ENGINE_REQ_HEADERS) {
        fw->counts.learned_missing++;
        continue;
      }
      snprintf(fw->lhdr[nl], sizeof fw->lhdr[nl], "%s: %s", p[i].name, val);
      fw->hdrs[(*nh)++] = fw->lhdr[nl++];
    }
    fw->counts.learned_put++;
  }
}

static int is_login(const struct flow *f, int64_t ep) {
  return ep == AUTH_EXTRA ||
         (ep >= 0 && auth_role(f->auth, (uint32_t)ep) == AUTH_LOGIN);
}

int flow_prepare(struct flow_worker *fw, const struct synth *s,
                 struct flow_user *u, uint32_t ep, char *target, size_t cap,
                 struct engine_req *req, struct flow_note *note) {
  struct flow *f = fw->f;
  struct vstate *v = get_vs(fw, u, 0);
  enum fault_kind kind =
      u->fault_rate >= 0 ? faults_pick_rate(&f->faults, u->fault_rate, u->rng)
                         : faults_pick(&f->faults, u->rng);
  int64_t send = ep;
  int planned = 1;
  if (v && vstate_need_login(v) && f->login == AUTH_EXTRA) {
    send = AUTH_EXTRA;
    planned = 0;
  }
  /* Faults that break an authenticated request (a missing or garbage
   * token, an unknown id, a bad body) cannot be played while the user is
   * logging in: the target would refuse them for want of a login, not for
   * the fault. Such a fault waits for the user's next request (if that one
   * draws a fault too, the two trade places, so none is lost). */
  enum fault_kind waiting =
      v ? (enum fault_kind)vstate_pending_fault(v) : FAULT_NONE;
  if (waiting && !is_login(f, send)) {
    vstate_set_pending_fault(v, kind);
    kind = waiting;
  }
  if ((kind == FAULT_NO_AUTH || kind == FAULT_EXPIRED_TOKEN ||
       kind == FAULT_UNKNOWN_ID || kind == FAULT_INVALID_BODY) &&
      is_login(f, send)) {
    if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
    if (!vstate_pending_fault(v)) {
      vstate_set_pending_fault(v, kind);
      kind = FAULT_NONE;
    }
  }
  int wrong_pw = 0, noauth = 0, garbage = 0, bad_body = 0, unknown = 0;
  int append_nx = 0;
  enum engine_fault efault = ENGINE_FAULT_NONE;
  switch (kind) {
  case FAULT_BAD_LOGIN:
    wrong_pw = 1;
    if (!is_login(f, send)) {
      send = f->login;
      planned = 0;
    }
    break;
  case FAULT_NO_AUTH:
  case FAULT_EXPIRED_TOKEN:
    noauth = kind == FAULT_NO_AUTH;
    garbage = kind == FAULT_EXPIRED_TOKEN;
    /* A login carries no token to drop: break a request that would. */
    if (is_login(f, send) && f->auth_sub >= 0) {
      send = f->auth_sub;
      planned = 0;
    }
    break;
  case FAULT_INVALID_BODY: {
    bad_body = 1 + (int)rng_below(u->rng, 2);
    if (send >= 0 && correl_creates(f->correl, (uint32_t)send) >= 0) break;
    /* A create of the same collection, else the most requested one. */
    int64_t c = f->any_create;
    size_t nu;
    const struct correl_use *uses =
        send >= 0 ? correl_uses(f->correl, (uint32_t)send, &nu) : NULL;
    if (uses && nu) c = f->create_of[uses[nu - 1].slot];
    if (c >= 0) {
      send = c;
      planned = 0;
    }
    break;
  }
  case FAULT_UNKNOWN_ID:
    unknown = 1;
    if (send >= 0 && correl_nparams(f->correl, (uint32_t)send)) break;
    if (send >= 0 && f->uid_sub[send] >= 0) {
      send = f->uid_sub[send];
      planned = 0;
    } else {
      append_nx = 1;
    }
    break;
  case FAULT_TIMEOUT: efault = ENGINE_FAULT_STALL; break;
  case FAULT_ABORT: efault = ENGINE_FAULT_ABORT; break;
  default: break;
  }
  if (unknown)
    snprintf(fw->nx, sizeof fw->nx, "%s_nx%08" PRIx64, bodies_marker(f->bodies),
             rng_next(u->rng) & 0xffffffffu);

  /* Method and path. */
  const char *method;
  uint8_t role = 0, bound = 0, lseg = 0;
  int lbound = 0;
  int32_t slot = -1;
  if (send == AUTH_EXTRA) {
    method = auth_login_method(f->auth);
    snprintf(target, cap, "%s", auth_login_path(f->auth));
  } else {
    uint32_t e = (uint32_t)send;
    method = synth_method(s, e);
    const char *vals[MAXP] = {0};
    uint32_t np = correl_nparams(f->correl, e);
    size_t nu;
    const struct correl_use *uses = correl_uses(f->correl, e, &nu);
    for (size_t i = 0; i < nu; i++) {
      const char *id = v ? vstate_id(v, uses[i].slot) : NULL;
      if (uses[i].index < MAXP) vals[uses[i].index] = id;
      if (id)
        fw->counts.bound++, bound = 1;
      else
        fw->counts.unbound++;
    }
    int32_t last = correl_last_param(f->correl, e);
    if (unknown && last >= 0 && last < MAXP) vals[last] = fw->nx;
    synth_target_with(s, u->rng, e, vals, np < MAXP ? np : MAXP, target, cap);
    if (append_nx) {
      /* No endpoint with an id: the same path with one that does not
       * exist, read with GET. */
      size_t q = strcspn(target, "?"), len = strlen(target);
      size_t add = strlen(fw->nx) + 1;
      if (len + add < cap) {
        memmove(target + q + add, target + q, len - q + 1);
        target[q] = '/';
        memcpy(target + q + 1, fw->nx, add - 1);
      }
      method = "GET";
    }
    if (!unknown && !append_nx) lbound = put_url(fw, v, e, target, cap, &lseg);
    if (strcmp(method, "DELETE") != 0) lseg = 0;
    if (!unknown && !append_nx) {
      slot = correl_creates(f->correl, e);
      if (slot >= 0) role |= R_CREATE;
      uint32_t di;
      int32_t ds = correl_deletes(f->correl, e, &di);
      if (ds >= 0) {
        role |= R_DELETE;
        slot = ds;
      }
    }
    switch (auth_role(f->auth, e)) {
    case AUTH_REFRESH: role |= R_REFRESH; break;
    case AUTH_LOGOUT: role |= R_LOGOUT; break;
    default: break;
    }
  }
  if (is_login(f, send)) role |= R_LOGIN;
  if (unknown) bound = 0;

  /* Body. */
  size_t blen = 0;
  const char *ctype = "application/json";
  fw->tag[0] = '\0';
  const struct bodies_tpl *tpl = bodies_for(f->bodies, send);
  if (bad_body == 1) {
    blen = (size_t)snprintf(fw->body, sizeof fw->body, "%s",
                            bodies_malformed(f->bodies));
  } else if (bad_body == 2) {
    blen = violating(fw, tpl, v, slot);
  } else if (!tpl && send >= 0 && shapes_has(f->shapes, (uint32_t)send)) {
    /* No --bodies template: the body capture learned (also for a login
     * or sign-up: its fields name what the target wants). */
    blen = shaped_body(fw, u, v, (uint32_t)send, wrong_pw, &lbound);
    ctype = shapes_content_type(f->shapes, (uint32_t)send);
  } else {
    if (!tpl && (role & R_LOGIN)) tpl = bodies_login(f->bodies);
    if (!tpl && send >= 0 && auth_role(f->auth, (uint32_t)send) == AUTH_SIGNUP)
      tpl = bodies_signup(f->bodies);
    if (!tpl && (role & R_REFRESH) && v && vstate_refresh(v))
      tpl = bodies_refresh(f->bodies);
    if (tpl) blen = render(fw, tpl, u, v, wrong_pw);
  }

  /* Headers. */
  size_t nh = 0;
  const char *tok = v ? vstate_token(v) : NULL;
  int have_auth = 0;
  if (garbage) {
    snprintf(fw->auth_hdr, sizeof fw->auth_hdr,
             "Authorization: Bearer %s_expired_%016" PRIx64,
             bodies_marker(f->bodies), rng_next(u->rng));
    fw->hdrs[nh++] = fw->auth_hdr;
    have_auth = 1;
  } else if (tok && !noauth) {
    snprintf(fw->auth_hdr, sizeof fw->auth_hdr, "Authorization: Bearer %s",
             tok);
    fw->hdrs[nh++] = fw->auth_hdr;
    have_auth = 1;
  }
  const char *jar = v && !noauth ? vstate_cookies(v) : NULL;
  if (rules_count(f->rules)) {
    /* A learned Authorization replaces the token the login heuristic
     * found (the slot stays where it was). */
    if (have_auth && !garbage) have_auth = 0, nh--;
    put_headers(fw, v, send, noauth, garbage, &nh, &have_auth, &jar);
    if (!have_auth && tok && !noauth && !garbage) {
      snprintf(fw->auth_hdr, sizeof fw->auth_hdr, "Authorization: Bearer %s",
               tok);
      fw->hdrs[nh++] = fw->auth_hdr;
    }
  }
  if (jar) {
    snprintf(fw->cookie_hdr, sizeof fw->cookie_hdr, "Cookie: %s", jar);
    fw->hdrs[nh++] = fw->cookie_hdr;
  }

  memset(note, 0, sizeof *note);
  note->ep = send == AUTH_EXTRA ? f->nep : (uint32_t)send;
  note->fault = (uint8_t)kind;
  note->planned = (uint8_t)planned;
  note->role = role;
  note->bound = bound;
  note->lbound = (uint8_t)(lbound && !unknown);
  note->lseg = lseg;
  note->engine_fault = (uint8_t)efault;
  note->slot = slot;

  /* A create is written down before it is sent (a fault that never
   * completes its request makes nothing). */
  if ((role & R_CREATE) && f->journal && efault == ENGINE_FAULT_NONE) {
    size_t plen = strcspn(target, "?#");
    const char *dm;
    delete_of(fw, note->ep, target, plen, &dm);
    snprintf(fw->url, sizeof fw->url, "%s%.*s", f->base, (int)plen, target);
    size_t o = 0;
    fw->jhdr[0] = '\0';
    for (size_t i = 0; i < nh; i++)
      o += (size_t)snprintf(fw->jhdr + o,
                            o < sizeof fw->jhdr ? sizeof fw->jhdr - o : 0,
                            "%s%s", i ? "\n" : "", fw->hdrs[i]);
    struct journal_intent in = {.user = u->id,
                                .session = u->session,
                                .method = method,
                                .url = fw->url,
                                .tag = fw->tag[0] ? fw->tag : NULL,
                                .del_method = dm,
                                .del_url = fw->del,
                                .headers = nh && o < sizeof fw->jhdr ? fw->jhdr
                                                                     : NULL};
    int rc = journal_intent(f->journal, &in, &note->seq);
    if (rc) return rc;
    if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
    vstate_count_journalled(v);
  }
  if ((role & R_CREATE) && !kind) fw->counts.creates++;
  if (role & R_LOGIN) fw->counts.logins++;

  const char *const *cnames = NULL;
  size_t ncn = 0;
  unsigned lcap =
      send >= 0 ? rules_capture(f->rules, (uint32_t)send, &cnames, &ncn) : 0;
  *req = (struct engine_req){
      .method = method,
      .target = target,
      .body = blen ? fw->body : NULL,
      .body_len = blen,
      .content_type = blen ? ctype : NULL,
      .headers = fw->hdrs,
      .nheaders = nh,
      .capture =
          ENGINE_CAP_HEADERS | lcap |
          (role & (R_CREATE | R_LOGIN | R_REFRESH) ? ENGINE_CAP_BODY : 0),
      .capture_names = cnames,
      .ncapture_names = ncn,
      .timeout_ms = efault == ENGINE_FAULT_STALL ? f->faults.timeout_ms : 0,
      .fault = efault,
  };
  return 0;
}

/* ---- taking answers --------------------------------------------------- */

/* A user with resources in the journal got a new token: they are deleted
 * with it (what it created before it logged in, a sign-up, had none). */
static int update_auth(struct flow_worker *fw, struct flow_user *u,
                       const struct vstate *v) {
  const char *tok = vstate_token(v), *jar = vstate_cookies(v);
  int n = snprintf(fw->jhdr, sizeof fw->jhdr, "Authorization: Bearer %s%s%s",
                   tok ? tok : "", jar ? "\nCookie: " : "", jar ? jar : "");
  if (n < 0 || (size_t)n >= sizeof fw->jhdr) return 0;
  return journal_headers(fw->f->journal, u->id, fw->jhdr);
}

int flow_done(struct flow_worker *fw, struct flow_user *u,
              const struct flow_note *note, const char *target,
              const struct engine_result *res) {
  struct flow *f = fw->f;
  int st = res->err == ENGINE_OK ? res->status : 0;
  int ok = st >= 200 && st < 300;
  struct vstate *v = get_vs(fw, u, 0);
  if (res->set_cookie) {
    if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
    int n = vstate_take_cookies(v, res->set_cookie);
    if (n < 0) return n;
    fw->counts.cookies += (uint64_t)n;
  }
  if (note->role & R_CREATE) {
    char id[VSTATE_ID_MAX];
    size_t n = ok ? correl_response_id(res->location, res->body, res->body_len,
                                       id, sizeof id)
                  : 0;
    if (note->seq) {
      int rc = journal_confirm(f->journal, note->seq, n ? id : NULL, st,
                               note->engine_fault == ENGINE_FAULT_NONE);
      if (rc) {
        fw->counts.journal_errors++;
        return rc;
      }
    }
    if (ok && n) fw->counts.created++;
    if (ok && !n) fw->counts.created_noid++;
    if (ok && n && note->planned && note->slot >= 0) {
      if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
      int rc = vstate_push_id(v, (uint32_t)note->slot, id, note->seq);
      if (rc == -ENOMEM) return rc;
    }
    if (ok && n && v && note->seq) vstate_count_create(v);
  }
  if ((note->role & R_DELETE) && (ok || st == 404 || st == 410)) {
    size_t plen = strcspn(target, "?#");
    size_t s = plen;
    while (s && target[s - 1] != '/') s--;
    char id[VSTATE_ID_MAX];
    int64_t seq = 0;
    if (plen - s < sizeof id) {
      memcpy(id, target + s, plen - s);
      id[plen - s] = '\0';
      if (v) seq = vstate_drop_id(v, (uint32_t)note->slot, id);
    }
    if (f->journal && seq && journal_deleted(f->journal, seq, st)) {
      fw->counts.journal_errors++;
      return ERR_SQLITE;
    }
    fw->counts.deleted++;
  }
  if ((note->role & (R_LOGIN | R_REFRESH)) && note->fault != FAULT_BAD_LOGIN) {
    char tok[VSTATE_TOKEN_MAX], rt[VSTATE_TOKEN_MAX];
    if (ok) {
      if (note->role & R_LOGIN) fw->counts.login_ok++;
      if (auth_tokens(res->body, res->body_len, tok, sizeof tok, rt,
                      sizeof rt)) {
        if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
        if (vstate_set_token(v, tok, strlen(tok)) == 0) {
          fw->counts.tokens++;
          if (f->journal && vstate_journalled(v) && update_auth(fw, u, v)) {
            fw->counts.journal_errors++;
            return ERR_SQLITE;
          }
        }
        if (rt[0]) vstate_set_refresh(v, rt, strlen(rt));
      }
    }
    /* A login the flow put first is not tried again and again when it
     * fails for real: the session goes on without a token. */
    if (v && !note->fault) vstate_set_need_login(v, 0);
  }
  if ((note->role & R_LOGOUT) && ok && v) {
    vstate_set_token(v, NULL, 0);
    vstate_set_refresh(v, NULL, 0);
  }
  if (note->ep < f->nep && rules_capture(f->rules, note->ep, NULL, NULL) &&
      res->err == ENGINE_OK && st >= 200 && st < 400) {
    /* The values the learned rules take from this answer. */
    if (!v && !(v = get_vs(fw, u, 1))) return -ENOMEM;
    int n = rules_take(f->rules, note->ep, res, v);
    if (n < 0) return n;
    fw->counts.learned_taken += (uint64_t)n;
  }
  if (note->lseg && v && (ok || st == 404 || st == 410)) {
    /* What the DELETE named is gone: its value is not put again. */
    char name[24], seg[VSTATE_ID_MAX], dec[VSTATE_ID_MAX];
    snprintf(name, sizeof name, "segment:%u", (unsigned)note->lseg);
    size_t n = rules_location_value(target, name, seg, sizeof seg);
    size_t dl = 0;
    for (size_t i = 0; i < n; i++) {
      unsigned hi, lo;
      if (seg[i] == '%' && i + 2 < n &&
          sscanf(seg + i + 1, "%1x%1x", &hi, &lo) == 2) {
        dec[dl++] = (char)(hi * 16 + lo);
        i += 2;
      } else {
        dec[dl++] = seg[i];
      }
    }
    if (dl && dl < sizeof dec) {
      vstate_drop_value(v, dec, dl);
      /* ... nor by the heuristic, whose slot may hold it too. */
      dec[dl] = '\0';
      for (uint32_t k = 0; k < correl_slots(f->correl); k++) {
        int64_t seq = vstate_drop_id(v, k, dec);
        if (seq && f->journal && journal_deleted(f->journal, seq, st)) {
          fw->counts.journal_errors++;
          return ERR_SQLITE;
        }
      }
    }
  }
  if (note->bound && !note->fault && st == 404) fw->counts.bound_404++;
  if (note->lbound && !note->fault && st == 404) fw->counts.learned_404++;
  if (!note->planned) return FLOW_REPEAT;
  if (note->fault && (res->err != ENGINE_OK || st >= 400)) return FLOW_REPEAT;
  return FLOW_ADVANCE;
}

void flow_counts_add(const struct flow_worker *fw, struct flow_counts *c) {
  const struct flow_counts *a = &fw->counts;
  c->creates += a->creates;
  c->created += a->created;
  c->created_noid += a->created_noid;
  c->deleted += a->deleted;
  c->bound += a->bound;
  c->unbound += a->unbound;
  c->bound_404 += a->bound_404;
  c->logins += a->logins;
  c->login_ok += a->login_ok;
  c->tokens += a->tokens;
  c->cookies += a->cookies;
  c->states += a->states;
  c->body_errors += a->body_errors;
  c->learned_taken += a->learned_taken;
  c->learned_put += a->learned_put;
  c->learned_missing += a->learned_missing;
  c->learned_404 += a->learned_404;
  c->shaped += a->shaped;
  c->journal_errors += a->journal_errors;
}
