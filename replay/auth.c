#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "model.h"

#define CRED_ROWS_MAX 1000000
#define CRED_FIELD_MAX 1024

struct auth {
  enum auth_role *role; /* per endpoint */
  size_t nep;
  int64_t login;
  char *login_method, *login_path;
  struct auth_cred *creds;
  size_t ncreds;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt,
                const char *a, long b) {
  if (err && errlen) snprintf(err, errlen, fmt, a, b);
  return rc;
}

/* The last segment of a template, lower-cased into buf ("" when it is a
 * parameter or the template ends in '/'). */
static void last_segment(const char *t, char *buf, size_t cap) {
  const char *end = t + strlen(t);
  const char *s = end;
  while (s > t && s[-1] != '/') s--;
  size_t n = (size_t)(end - s);
  if (n == 0 || n >= cap || *s == '{') {
    buf[0] = '\0';
    return;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    buf[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  buf[n] = '\0';
}

static int in(const char *w, const char *const *set) {
  for (; *set; set++)
    if (strcmp(w, *set) == 0) return 1;
  return 0;
}

static const char *const login_words[] = {
    "login", "log-in", "signin",  "sign-in",  "sign_in", "authenticate",
    "token", "tokens", "session", "sessions", NULL};
static const char *const refresh_words[] = {"refresh", "refresh-token",
                                            "refresh_token", NULL};
static const char *const logout_words[] = {"logout",   "log-out",  "signout",
                                           "sign-out", "sign_out", NULL};
static const char *const signup_words[] = {
    "signup",       "sign-up", "sign_up",  "register",
    "registration", "users",   "accounts", NULL};

static void free_cred(struct auth_cred *c) {
  free(c->user);
  free(c->password);
  for (size_t i = 0; i < c->nextra; i++) free(c->extra[i]);
  free(c->extra);
}

void auth_free(struct auth *a) {
  if (!a) return;
  for (size_t i = 0; i < a->ncreds; i++) free_cred(&a->creds[i]);
  free(a->creds);
  free(a->role);
  free(a->login_method);
  free(a->login_path);
  free(a);
}

/* Splits one CSV line into fields (double quotes with "" escapes). The
 * fields are written into buf, NUL-separated; returns how many, or -1 for
 * a broken quote or a field over CRED_FIELD_MAX. */
static int csv_split(const char *line, char *buf, size_t cap, char **fields,
                     int max) {
  int n = 0;
  size_t o = 0;
  const char *p = line;
  for (;;) {
    if (n == max || o + 1 >= cap) return -1;
    fields[n++] = buf + o;
    size_t start = o;
    if (*p == '"') {
      p++;
      for (;;) {
        if (!*p) return -1;
        if (*p == '"' && p[1] == '"') {
          buf[o++] = '"';
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          buf[o++] = *p++;
        }
        if (o + 1 >= cap) return -1;
      }
    }
    while (*p && *p != ',') {
      buf[o++] = *p++;
      if (o + 1 >= cap) return -1;
    }
    if (o - start > CRED_FIELD_MAX) return -1;
    buf[o++] = '\0';
    if (*p != ',') break;
    p++;
  }
  return n;
}

static int load_creds(struct auth *a, const char *path, char *err,
                      size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (err && errlen)
      snprintf(err, errlen, "--credentials %s: %s", path, strerror(errno));
    return ERR_USAGE;
  }
  char *line = NULL, *buf = NULL;
  size_t lcap = 0, cap = 0;
  ssize_t len;
  long lineno = 0;
  int rc = 0;
  char *fields[64];
  while ((len = getline(&line, &lcap, f)) > 0) {
    lineno++;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0 || line[0] == '#') continue;
    if ((size_t)len * 2 + 2 > cap) {
      cap = (size_t)len * 2 + 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        rc = -ENOMEM;
        goto out;
      }
      buf = nb;
    }
    int n = csv_split(line, buf, cap, fields, 64);
    if (n < 2 || !fields[0][0]) {
      rc = fail(err, errlen, ERR_PARSE,
                "--credentials %s:%ld: expected username,password[,...]", path,
                lineno);
      goto out;
    }
    if (a->ncreds == 0 && lineno == 1 && strcasecmp(fields[1], "password") == 0)
      continue; /* a header line */
    if (a->ncreds == CRED_ROWS_MAX) {
      rc = fail(err, errlen, ERR_LIMIT, "--credentials %s: more than %ld rows",
                path, (long)CRED_ROWS_MAX);
      goto out;
    }
    if (a->ncreds % 256 == 0) {
      struct auth_cred *nc = realloc(a->creds, (a->ncreds + 256) * sizeof *nc);
      if (!nc) {
        rc = -ENOMEM;
        goto out;
      }
      a->creds = nc;
    }
    struct auth_cred *c = &a->creds[a->ncreds++];
    memset(c, 0, sizeof *c);
    c->user = strdup(fields[0]);
    c->password = strdup(fields[1]);
    if (n > 2) {
      c->extra = calloc((size_t)(n - 2), sizeof *c->extra);
      if (c->extra)
        for (int i = 2; i < n; i++)
          if ((c->extra[c->nextra] = strdup(fields[i]))) c->nextra++;
    }
    if (!c->user || !c->password || c->nextra != (size_t)(n > 2 ? n - 2 : 0)) {
      rc = -ENOMEM;
      goto out;
    }
  }
  if (a->ncreds == 0)
    rc = fail(err, errlen, ERR_PARSE, "--credentials %s: no rows", path, 0);
out:
  free(line);
  free(buf);
  fclose(f);
  return rc;
}

int auth_new(const struct model *m, const char *cred_path,
             const char *login_spec, struct auth **out, char *err,
             size_t errlen) {
  struct auth *a = calloc(1, sizeof *a);
  int rc = -ENOMEM;
  if (!a) return rc;
  a->nep = m->nendpoints;
  a->login = AUTH_NO_LOGIN;
  a->role = calloc(a->nep ? a->nep : 1, sizeof *a->role);
  if (!a->role) goto bad;
  char seg[64];
  for (size_t i = 0; i < a->nep; i++) {
    const struct model_endpoint *e = &m->endpoints[i];
    if (!e->templ || !e->method) continue;
    last_segment(e->templ, seg, sizeof seg);
    if (!seg[0]) continue;
    int post = strcmp(e->method, "POST") == 0;
    if (in(seg, logout_words))
      a->role[i] = AUTH_LOGOUT;
    else if (post && in(seg, refresh_words))
      a->role[i] = AUTH_REFRESH;
    else if (post && in(seg, login_words))
      a->role[i] = AUTH_LOGIN;
    else if (post && in(seg, signup_words))
      a->role[i] = AUTH_SIGNUP;
  }
  /* "token/refresh" and "auth/refresh" end in refresh: done. The login is
   * the most requested candidate (endpoint ids are by count). */
  for (size_t i = 0; i < a->nep && a->login == AUTH_NO_LOGIN; i++)
    if (a->role[i] == AUTH_LOGIN) a->login = (int64_t)i;
  if (login_spec) {
    const char *sp = strchr(login_spec, ' ');
    if (!sp || sp == login_spec || sp[1] != '/') {
      rc = fail(err, errlen, ERR_USAGE, "--login '%s': expected 'METHOD /path'",
                login_spec, 0);
      goto bad;
    }
    a->login_method = strndup(login_spec, (size_t)(sp - login_spec));
    a->login_path = strdup(sp + 1);
    if (!a->login_method || !a->login_path) goto bad;
    for (size_t i = 0; i < a->nep; i++)
      if (a->role[i] == AUTH_LOGIN) a->role[i] = AUTH_NONE;
    a->login = AUTH_EXTRA;
    for (size_t i = 0; i < a->nep; i++) {
      const struct model_endpoint *e = &m->endpoints[i];
      if (e->method && e->templ && strcmp(e->method, a->login_method) == 0 &&
          strcmp(e->templ, a->login_path) == 0) {
        a->login = (int64_t)i;
        a->role[i] = AUTH_LOGIN;
        break;
      }
    }
  } else if (a->login >= 0) {
    const struct model_endpoint *e = &m->endpoints[a->login];
    a->login_method = strdup(e->method);
    a->login_path = strdup(e->templ);
    if (!a->login_method || !a->login_path) goto bad;
  }
  if (cred_path && (rc = load_creds(a, cred_path, err, errlen))) goto bad;
  *out = a;
  return 0;
bad:
  if (rc == -ENOMEM && err && errlen) snprintf(err, errlen, "out of memory");
  auth_free(a);
  return rc;
}

enum auth_role auth_role(const struct auth *a, uint32_t ep) {
  return ep < a->nep ? a->role[ep] : AUTH_NONE;
}

int64_t auth_login(const struct auth *a) {
  return a->login;
}

const char *auth_login_method(const struct auth *a) {
  return a->login_method;
}

const char *auth_login_path(const struct auth *a) {
  return a->login_path;
}

size_t auth_ncreds(const struct auth *a) {
  return a->ncreds;
}

const struct auth_cred *auth_cred(const struct auth *a, uint64_t user_id) {
  if (!a->ncreds || user_id == 0) return NULL;
  return &a->creds[(user_id - 1) % a->ncreds];
}

static int get_str(const json_t *o, const char *const *keys, char *out,
                   size_t cap) {
  for (; *keys; keys++) {
    const json_t *v = json_object_get(o, *keys);
    if (json_is_string(v) && json_string_length(v) > 0 &&
        json_string_length(v) < cap) {
      memcpy(out, json_string_value(v), json_string_length(v) + 1);
      return 1;
    }
  }
  return 0;
}

int auth_tokens(const char *body, size_t len, char *token, size_t tcap,
                char *refresh, size_t rcap) {
  static const char *const tkeys[] = {
      "token",    "access_token", "accessToken", "jwt",
      "id_token", "auth_token",   "authToken",   NULL};
  static const char *const rkeys[] = {"refresh_token", "refreshToken", NULL};
  static const char *const wraps[] = {"data", "result", "auth", NULL};
  if (tcap) token[0] = '\0';
  if (rcap) refresh[0] = '\0';
  if (!body || !len) return 0;
  json_t *doc = json_loadb(body, len, 0, NULL);
  if (!json_is_object(doc)) {
    json_decref(doc);
    return 0;
  }
  const json_t *where[4] = {doc};
  size_t n = 1;
  for (const char *const *w = wraps; *w; w++) {
    const json_t *o = json_object_get(doc, *w);
    if (json_is_object(o)) where[n++] = o;
  }
  int found = 0;
  for (size_t i = 0; i < n && !found; i++)
    found = get_str(where[i], tkeys, token, tcap);
  for (size_t i = 0; i < n; i++)
    if (rcap && get_str(where[i], rkeys, refresh, rcap)) break;
  json_decref(doc);
  return found;
}
