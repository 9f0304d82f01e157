#include "bodies.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "correl.h"
#include "err.h"
#include "hash.h"
#include "model.h"
#include "rng.h"
#include "vstate.h"

#define TEMPLATE_MAX 65536 /* serialized template */

enum ph {
  PH_USER,
  PH_EMAIL,
  PH_PASSWORD,
  PH_USER_ID,
  PH_EXTRA,
  PH_RINT,
  PH_RWORD,
  PH_RTEXT,
  PH_REMAIL,
  PH_RUUID,
  PH_RBOOL,
  PH_CREATED, /* arg: slot, or -1 for the newest of any */
  PH_RUN_ID,
  PH_MARKER,
  PH_REFRESH,
};

/* Literal text text[off, off+len), then (when ph >= 0) a placeholder. */
struct piece {
  uint32_t off, len;
  int16_t ph;    /* enum ph, or -1: none */
  uint8_t whole; /* the placeholder is a whole JSON string */
  int32_t arg;
};

struct bodies_tpl {
  char *text;
  struct piece *pieces;
  size_t n;
  char *violating;
};

struct bodies {
  struct bodies_tpl **byep; /* per model endpoint, then the login extra */
  size_t nep;
  size_t given;
  struct bodies_tpl *login, *signup, *refresh;
  char run_id[32];
  char marker[48];
  char malformed[160];
  char *violating_default;
};

static const struct {
  const char *name;
  enum ph ph;
} names[] = {
    {"user.username", PH_USER},
    {"user.name", PH_USER},
    {"user.email", PH_EMAIL},
    {"user.password", PH_PASSWORD},
    {"user.id", PH_USER_ID},
    {"random.int", PH_RINT},
    {"random.word", PH_RWORD},
    {"random.text", PH_RTEXT},
    {"random.email", PH_REMAIL},
    {"random.uuid", PH_RUUID},
    {"random.bool", PH_RBOOL},
    {"created.id", PH_CREATED},
    {"run.id", PH_RUN_ID},
    {"run.marker", PH_MARKER},
    {"session.refresh_token", PH_REFRESH},
};

static void tpl_free(struct bodies_tpl *t) {
  if (!t) return;
  free(t->text);
  free(t->pieces);
  free(t->violating);
  free(t);
}

void bodies_free(struct bodies *b) {
  if (!b) return;
  for (size_t i = 0; b->byep && i <= b->nep; i++) tpl_free(b->byep[i]);
  free(b->byep);
  tpl_free(b->login);
  tpl_free(b->signup);
  tpl_free(b->refresh);
  free(b->violating_default);
  free(b);
}

static int lookup(const struct correl *c, const char *name, size_t len,
                  enum ph *ph, int32_t *arg) {
  *arg = -1;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
      *ph = names[i].ph;
      return 0;
    }
  }
  if (len > 10 && memcmp(name, "user.extra", 10) == 0) {
    int k = atoi(name + 10);
    if (k >= 1 && k <= 64) {
      *ph = PH_EXTRA;
      *arg = k - 1;
      return 0;
    }
  }
  /* created.NAME.id */
  if (len > 11 && memcmp(name, "created.", 8) == 0 &&
      memcmp(name + len - 3, ".id", 3) == 0 && c) {
    int32_t slot = correl_slot_by_name(c, name + 8, len - 11);
    if (slot >= 0) {
      *ph = PH_CREATED;
      *arg = slot;
      return 0;
    }
  }
  return -1;
}

/* A JSON object of v's shape with every value of the wrong type. */
static json_t *violate(const json_t *v) {
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
        json_object_set_new(o, k, violate(x));
    return o;
  }
  if (json_is_array(v)) return json_string("not-a-list");
  if (json_is_string(v)) return json_integer(0);
  if (json_is_number(v)) return json_string("not-a-number");
  if (json_is_boolean(v)) return json_string("not-a-boolean");
  return json_object();
}

/* Compiles one template; "{{id}}" in the violating text is where the id
 * of the invalid-body fault goes. */
static int compile(const json_t *v, const struct correl *c, const char *key,
                   struct bodies_tpl **out, char *err, size_t errlen) {
  struct bodies_tpl *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  int rc = -ENOMEM;
  t->text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_t *bad = json_is_object(v) ? violate(v) : json_object();
  if (bad) json_object_set_new(bad, "id", json_string("{{id}}"));
  t->violating =
      bad ? json_dumps(bad, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(bad);
  if (!t->text || !t->violating) goto bad;
  size_t len = strlen(t->text);
  if (len > TEMPLATE_MAX) {
    if (err && errlen)
      snprintf(err, errlen, "--bodies: the template of '%s' is over %d bytes",
               key, TEMPLATE_MAX);
    rc = ERR_LIMIT;
    goto bad;
  }
  size_t cap = 1;
  for (const char *p = t->text; (p = strstr(p, "{{")); p += 2) cap++;
  t->pieces = calloc(cap, sizeof *t->pieces);
  if (!t->pieces) goto bad;
  const char *s = t->text, *lit = s;
  for (const char *p = s; (p = strstr(p, "{{"));) {
    const char *close = strstr(p + 2, "}}");
    if (!close) break;
    const char *a = p + 2, *z = close;
    while (a < z && *a == ' ') a++;
    while (z > a && z[-1] == ' ') z--;
    enum ph ph;
    int32_t arg;
    if (lookup(c, a, (size_t)(z - a), &ph, &arg)) {
      if (err && errlen)
        snprintf(err, errlen, "--bodies: '%s': unknown placeholder {{%.*s}}",
                 key, (int)(z - a), a);
      rc = ERR_USAGE;
      goto bad;
    }
    int whole = p > s && p[-1] == '"' && close[2] == '"';
    const char *lit_end = whole ? p - 1 : p;
    struct piece *pc = &t->pieces[t->n++];
    pc->off = (uint32_t)(lit - s);
    pc->len = (uint32_t)(lit_end - lit);
    pc->ph = (int16_t)ph;
    pc->whole = (uint8_t)whole;
    pc->arg = arg;
    p = close + 2 + (whole ? 1 : 0);
    lit = p;
  }
  struct piece *pc = &t->pieces[t->n++];
  pc->off = (uint32_t)(lit - s);
  pc->len = (uint32_t)strlen(lit);
  pc->ph = -1;
  *out = t;
  return 0;
bad:
  if (rc == -ENOMEM && err && errlen) snprintf(err, errlen, "out of memory");
  tpl_free(t);
  return rc;
}

static int compile_text(const char *json, const struct correl *c,
                        struct bodies_tpl **out) {
  json_t *v = json_loads(json, 0, NULL);
  if (!v) return -ENOMEM;
  int rc = compile(v, c, "(built-in)", out, NULL, 0);
  json_decref(v);
  return rc;
}

/* Matches "METHOD /template" to an endpoint: its id, -2 for the login
 * extra, or -1. */
static int64_t find_ep(const struct model *m, const char *key,
                       const char *login_method, const char *login_path) {
  const char *sp = strchr(key, ' ');
  if (!sp) return -1;
  size_t ml = (size_t)(sp - key);
  for (size_t i = 0; i < m->nendpoints; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    if (e->method && e->templ && strlen(e->method) == ml &&
        memcmp(e->method, key, ml) == 0 && strcmp(e->templ, sp + 1) == 0)
      return (int64_t)i;
  }
  if (login_method && login_path && strlen(login_method) == ml &&
      memcmp(login_method, key, ml) == 0 && strcmp(login_path, sp + 1) == 0)
    return AUTH_EXTRA;
  return -1;
}

int bodies_new(const char *path, const struct model *m,
               const char *login_method, const char *login_path,
               const struct correl *c, const char *run_id, struct bodies **out,
               char *err, size_t errlen, char *warn, size_t warnlen) {
  struct bodies *b = calloc(1, sizeof *b);
  json_t *doc = NULL;
  int rc = -ENOMEM;
  if (!b) return rc;
  if (warn && warnlen) warn[0] = '\0';
  b->nep = m->nendpoints;
  b->byep = calloc(b->nep + 1, sizeof *b->byep);
  if (!b->byep) goto out;
  snprintf(b->run_id, sizeof b->run_id, "%s", run_id);
  snprintf(b->marker, sizeof b->marker, "sim_%s", run_id);
  snprintf(b->malformed, sizeof b->malformed,
           "{\"%s_malformed\": [1, 2, {\"unclosed\": ", b->marker);
  b->violating_default = strdup("{\"id\":\"{{id}}\"}");
  if (!b->violating_default) goto out;
  if ((rc = compile_text("{\"username\":\"{{user.username}}\","
                         "\"password\":\"{{user.password}}\"}",
                         c, &b->login)) ||
      (rc = compile_text("{\"username\":\"{{user.username}}\","
                         "\"email\":\"{{user.email}}\","
                         "\"password\":\"{{user.password}}\"}",
                         c, &b->signup)) ||
      (rc = compile_text("{\"refresh_token\":\"{{session.refresh_token}}\"}", c,
                         &b->refresh)))
    goto out;
  if (path) {
    json_error_t je;
    doc = json_load_file(path, 0, &je);
    if (!doc) {
      if (err && errlen && je.line > 0)
        snprintf(err, errlen, "--bodies %s:%d: %s", path, je.line, je.text);
      else if (err && errlen)
        snprintf(err, errlen, "--bodies %s: %s", path, je.text);
      rc = ERR_PARSE;
      goto out;
    }
    if (!json_is_object(doc)) {
      if (err && errlen)
        snprintf(err, errlen,
                 "--bodies %s: expected an object of \"METHOD /path\": "
                 "template",
                 path);
      rc = ERR_PARSE;
      goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
      int64_t ep = find_ep(m, key, login_method, login_path);
      if (ep == -1) {
        if (warn && warnlen && !warn[0])
          snprintf(warn, warnlen, "--bodies: no endpoint '%s' in the model",
                   key);
        continue;
      }
      size_t slot = ep == AUTH_EXTRA ? b->nep : (size_t)ep;
      tpl_free(b->byep[slot]);
      b->byep[slot] = NULL;
      if ((rc = compile(v, c, key, &b->byep[slot], err, errlen))) goto out;
      b->given++;
    }
  }
  *out = b;
  b = NULL;
  rc = 0;
out:
  if (rc == -ENOMEM && err && errlen && !err[0])
    snprintf(err, errlen, "out of memory");
  json_decref(doc);
  bodies_free(b);
  return rc;
}

size_t bodies_given(const struct bodies *b) {
  return b->given;
}

const struct bodies_tpl *bodies_for(const struct bodies *b, int64_t ep) {
  if (ep == AUTH_EXTRA) return b->byep[b->nep];
  return ep >= 0 && (size_t)ep < b->nep ? b->byep[ep] : NULL;
}

const struct bodies_tpl *bodies_login(const struct bodies *b) {
  return b->login;
}

const struct bodies_tpl *bodies_signup(const struct bodies *b) {
  return b->signup;
}

const struct bodies_tpl *bodies_refresh(const struct bodies *b) {
  return b->refresh;
}

const char *bodies_marker(const struct bodies *b) {
  return b->marker;
}

const char *bodies_malformed(const struct bodies *b) {
  return b->malformed;
}

const char *bodies_violating(const struct bodies *b,
                             const struct bodies_tpl *t) {
  return t ? t->violating : b->violating_default;
}

/* ---- rendering ------------------------------------------------------- */

struct w {
  char *buf;
  size_t cap, len;
  int over;
};

static void put(struct w *w, const char *p, size_t n) {
  if (w->over || w->len + n + 1 > w->cap) {
    w->over = 1;
    return;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}

/* A string value inside JSON quotes: escaped. */
static void put_esc(struct w *w, const char *p) {
  static const char hex[] = "0123456789abcdef";
  for (; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '"' || ch == '\\') {
      char e[2] = {'\\', (char)ch};
      put(w, e, 2);
    } else if (ch < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
      put(w, e, 6);
    } else {
      put(w, (const char *)p, 1);
    }
  }
}

static int is_number(const char *v) {
  const char *p = v;
  if (*p == '-') p++;
  size_t n = strspn(p, "0123456789");
  return n > 0 && n <= 15 && p[n] == '\0' && (n == 1 || *p != '0');
}

static void word(struct rng *r, char *out, size_t n) {
  static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (size_t i = 0; i < n; i++) out[i] = al[rng_below(r, 36)];
  out[n] = '\0';
}

static void hexs(struct rng *r, char *out, size_t n) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[i] = hx[rng_below(r, 16)];
  out[n] = '\0';
}

/* The identity of a user the run made up: the same for the same run and
 * user, so that a later login finds what the sign-up sent. */
static void made_up(const struct bodies *b, uint64_t user, enum ph ph,
                    char *out, size_t cap) {
  uint64_t h = hash_mix(hash64(b->run_id, strlen(b->run_id), 0x6964), user);
  if (ph == PH_PASSWORD)
    snprintf(out, cap, "%s_p%016" PRIx64, b->marker, h);
  else if (ph == PH_EMAIL)
    snprintf(out, cap, "%s_u%" PRIu64 "@example.invalid", b->marker, user);
  else
    snprintf(out, cap, "%s_u%" PRIu64, b->marker, user);
}

void bodies_identity(const struct bodies *b, const struct bodies_ctx *ctx,
                     struct bodies_ident *out) {
  const struct auth_cred *c = ctx->cred;
  if (c && c->user) {
    snprintf(out->user, sizeof out->user, "%s", c->user);
    if (strchr(c->user, '@'))
      snprintf(out->email, sizeof out->email, "%s", c->user);
    else
      snprintf(out->email, sizeof out->email, "%.250s@example.invalid",
               c->user);
    snprintf(out->password, sizeof out->password, "%s",
             c->password ? c->password : "");
  } else {
    made_up(b, ctx->user, PH_USER, out->user, sizeof out->user);
    made_up(b, ctx->user, PH_EMAIL, out->email, sizeof out->email);
    made_up(b, ctx->user, PH_PASSWORD, out->password, sizeof out->password);
  }
  if (ctx->wrong_password) {
    char wd[9];
    word(ctx->rng, wd, 8);
    snprintf(out->password, sizeof out->password, "%s_wrong_%s", b->marker, wd);
  }
}

size_t bodies_render(const struct bodies *b, const struct bodies_tpl *t,
                     const struct bodies_ctx *ctx, char *buf, size_t cap,
                     char *tag, size_t tagcap) {
  struct w w = {buf, cap, 0, 0};
  if (tag && tagcap) tag[0] = '\0';
  const struct vstate *vs = ctx->vs;
  for (size_t i = 0; i < t->n; i++) {
    const struct piece *pc = &t->pieces[i];
    put(&w, t->text + pc->off, pc->len);
    if (pc->ph < 0) continue;
    char val[512];
    const char *v = val;
    int bare_ok = 0, invented = 0;
    val[0] = '\0';
    switch ((enum ph)pc->ph) {
    case PH_USER:
    case PH_EMAIL:
    case PH_PASSWORD: {
      const char *u = ctx->cred ? ctx->cred->user : NULL;
      if (pc->ph == PH_PASSWORD && ctx->wrong_password) {
        char wd[9];
        word(ctx->rng, wd, 8);
        snprintf(val, sizeof val, "%s_wrong_%s", b->marker, wd);
        invented = 1;
      } else if (u && pc->ph == PH_USER) {
        v = u;
      } else if (u && pc->ph == PH_PASSWORD) {
        v = ctx->cred->password;
      } else if (u && pc->ph == PH_EMAIL) {
        if (strchr(u, '@'))
          v = u;
        else
          snprintf(val, sizeof val, "%.400s@example.invalid", u);
      } else {
        made_up(b, ctx->user, (enum ph)pc->ph, val, sizeof val);
        invented = pc->ph != PH_PASSWORD;
      }
      break;
    }
    case PH_USER_ID:
      snprintf(val, sizeof val, "%" PRIu64, ctx->user);
      bare_ok = 1;
      break;
    case PH_EXTRA:
      v = ctx->cred && (size_t)pc->arg < ctx->cred->nextra
              ? ctx->cred->extra[pc->arg]
              : "";
      break;
    case PH_RINT:
      snprintf(val, sizeof val, "%" PRIu64, 1 + rng_below(ctx->rng, 1000000));
      bare_ok = 1;
      break;
    case PH_RWORD: {
      char wd[9];
      word(ctx->rng, wd, 8);
      snprintf(val, sizeof val, "%s_%s", b->marker, wd);
      invented = 1;
      break;
    }
    case PH_RTEXT: {
      char a[9], c2[7], d[5];
      word(ctx->rng, a, 8);
      word(ctx->rng, c2, 6);
      word(ctx->rng, d, 4);
      snprintf(val, sizeof val, "%s_%s %s %s", b->marker, a, c2, d);
      invented = 1;
      break;
    }
    case PH_REMAIL: {
      char wd[9];
      word(ctx->rng, wd, 8);
      snprintf(val, sizeof val, "%s_%s@example.invalid", b->marker, wd);
      invented = 1;
      break;
    }
    case PH_RUUID: {
      char h1[5], h2[4], h3[4], h4[13];
      hexs(ctx->rng, h1, 4);
      hexs(ctx->rng, h2, 3);
      hexs(ctx->rng, h3, 3);
      hexs(ctx->rng, h4, 12);
      snprintf(val, sizeof val, "%.8s-%s-4%s-%c%s-%s", b->run_id, h1, h2,
               "89ab"[rng_below(ctx->rng, 4)], h3, h4);
      break;
    }
    case PH_RBOOL:
      v = rng_below(ctx->rng, 2) ? "true" : "false";
      bare_ok = 1;
      break;
    case PH_CREATED: {
      const char *id = NULL;
      if (vs)
        id =
            pc->arg < 0 ? vstate_last_id(vs) : vstate_id(vs, (uint32_t)pc->arg);
      v = id ? id : "";
      bare_ok = 1;
      break;
    }
    case PH_RUN_ID: v = b->run_id; break;
    case PH_MARKER: v = b->marker; break;
    case PH_REFRESH:
      v = vs && vstate_refresh(vs) ? vstate_refresh(vs) : "";
      break;
    }
    if (invented && tag && tagcap && !tag[0]) snprintf(tag, tagcap, "%s", v);
    int bare =
        pc->whole && bare_ok &&
        (is_number(v) || strcmp(v, "true") == 0 || strcmp(v, "false") == 0);
    if (pc->whole && !bare) put(&w, "\"", 1);
    if (bare)
      put(&w, v, strlen(v));
    else
      put_esc(&w, v);
    if (pc->whole && !bare) put(&w, "\"", 1);
  }
  if (w.over) return (size_t)-1;
  buf[w.len] = '\0';
  return w.len;
}
