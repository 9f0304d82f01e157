#include "faults.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

static const char *const names[FAULT_KINDS] = {
    NULL,           "bad-login",  "no-auth", "expired-token",
    "invalid-body", "unknown-id", "timeout", "abort",
};

const char *faults_name(enum fault_kind k) {
  return k > FAULT_NONE && k < FAULT_KINDS ? names[k] : NULL;
}

enum fault_kind faults_kind(const char *name, size_t len) {
  for (int k = 1; k < FAULT_KINDS; k++)
    if (strlen(names[k]) == len && memcmp(names[k], name, len) == 0)
      return (enum fault_kind)k;
  return FAULT_NONE;
}

static void fail(char *err, size_t errlen, const char *fmt, const char *a) {
  if (err && errlen) snprintf(err, errlen, fmt, a);
}

static int rebuild(struct faults *f, char *err, size_t errlen) {
  double total = 0;
  for (int k = 1; k < FAULT_KINDS; k++) total += f->weight[k];
  if (f->rate > 0 && !(total > 0)) {
    fail(err, errlen, "%s", "--error-rate needs at least one fault kind");
    return ERR_USAGE;
  }
  double cum = 0;
  for (int k = 1; k < FAULT_KINDS; k++) {
    cum += total > 0 ? f->weight[k] / total : 0;
    f->cum[k] = cum;
  }
  return 0;
}

int faults_parse(struct faults *f, double pct, const char *spec, char *err,
                 size_t errlen) {
  memset(f, 0, sizeof *f);
  f->timeout_ms = 200;
  if (!(pct >= 0 && pct <= 100)) {
    fail(err, errlen, "%s", "--error-rate: expected a percentage, 0 to 100");
    return ERR_USAGE;
  }
  f->rate = pct / 100.0;
  if (!spec) {
    for (int k = 1; k < FAULT_KINDS; k++) f->weight[k] = 1;
    return rebuild(f, err, errlen);
  }
  const char *p = spec;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    size_t nlen = colon ? (size_t)(colon - p) : len;
    enum fault_kind k = faults_kind(p, nlen);
    char item[64];
    snprintf(item, sizeof item, "%.*s", (int)(len < 60 ? len : 60), p);
    if (k == FAULT_NONE) {
      fail(err, errlen,
           "--faults: unknown kind '%s' (kinds: bad-login, no-auth, "
           "expired-token, invalid-body, unknown-id, timeout, abort)",
           item);
      return ERR_USAGE;
    }
    double w = 1;
    if (colon) {
      char num[32], *e;
      size_t wl = len - nlen - 1;
      if (wl == 0 || wl >= sizeof num) goto bad;
      memcpy(num, colon + 1, wl);
      num[wl] = '\0';
      w = strtod(num, &e);
      if (*e || !(w >= 0) || !isfinite(w)) goto bad;
    }
    if (f->given[k]) {
      fail(err, errlen, "--faults: '%s' is named twice", item);
      return ERR_USAGE;
    }
    f->weight[k] = w;
    f->given[k] = 1;
    p += len;
    if (*p == ',') p++;
    continue;
  bad:
    fail(err, errlen, "--faults: '%s': expected KIND or KIND:WEIGHT", item);
    return ERR_USAGE;
  }
  return rebuild(f, err, errlen);
}

int faults_drop(struct faults *f, enum fault_kind k, const char *why, char *err,
                size_t errlen) {
  if (k <= FAULT_NONE || k >= FAULT_KINDS || f->weight[k] == 0) return 0;
  if (f->given[k] && f->rate > 0) {
    if (err && errlen)
      snprintf(err, errlen, "--faults %s: %s", names[k], why ? why : "");
    return ERR_USAGE;
  }
  f->weight[k] = 0;
  return rebuild(f, err, errlen);
}

int faults_on(const struct faults *f) {
  return f->rate > 0;
}

enum fault_kind faults_pick(const struct faults *f, struct rng *r) {
  return faults_pick_rate(f, f->rate, r);
}

enum fault_kind faults_pick_rate(const struct faults *f, double rate,
                                 struct rng *r) {
  if (!(rate > 0)) return FAULT_NONE;
  double u = rng_double(r);
  if (u >= rate) return FAULT_NONE;
  /* u / rate is uniform in [0, 1) again: it picks the kind. */
  double v = u / rate;
  for (int k = 1; k < FAULT_KINDS; k++)
    if (f->weight[k] > 0 && v < f->cum[k]) return (enum fault_kind)k;
  for (int k = FAULT_KINDS - 1; k > 0; k--) /* rounding at the top */
    if (f->weight[k] > 0) return (enum fault_kind)k;
  return FAULT_NONE;
}

int faults_expected(enum fault_kind k, const struct engine_result *res) {
  int st = res->err == ENGINE_OK ? res->status : 0;
  switch (k) {
  case FAULT_BAD_LOGIN:
  case FAULT_NO_AUTH:
  case FAULT_EXPIRED_TOKEN: return st == 401 || st == 403;
  case FAULT_INVALID_BODY: return st >= 400 && st < 500;
  case FAULT_UNKNOWN_ID: return st == 404 || st == 410;
  case FAULT_TIMEOUT: return res->err == ENGINE_E_TIMEOUT;
  case FAULT_ABORT: return res->err == ENGINE_E_ABORT;
  default: return 0;
  }
}

double faults_share(const struct faults *f, enum fault_kind k) {
  if (k <= FAULT_NONE || k >= FAULT_KINDS) return 0;
  double prev = k > 1 ? f->cum[k - 1] : 0;
  return f->rate * (f->cum[k] - prev);
}
