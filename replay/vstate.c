#include "vstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct ids {
  uint8_t n;
  char *id[VSTATE_IDS]; /* oldest first */
  int64_t seq[VSTATE_IDS];
};

/* The values of one learned variable, oldest first. */
struct vvals {
  uint8_t n;
  uint8_t flags[VSTATE_VALS];
  uint32_t seq[VSTATE_VALS];
  char *v[VSTATE_VALS];
};

struct vstate {
  char *token, *refresh;
  struct vvals **vars; /* made on the first value; each on its own first */
  uint32_t nvars, setno;
  char *jar;         /* "a=1; b=2" */
  struct ids *slots; /* made on the first bound id */
  uint32_t nslots;
  int32_t last_slot; /* where the newest id went, or -1 */
  uint32_t creates, journalled;
  uint8_t need_login;
  uint8_t pending_fault;
};

int vstate_new(uint32_t nslots, uint32_t nvars, struct vstate **out) {
  struct vstate *v = calloc(1, sizeof *v);
  if (!v) return -ENOMEM;
  v->nslots = nslots;
  v->nvars = nvars;
  v->last_slot = -1;
  *out = v;
  return 0;
}

static void clear_ids(struct vstate *v) {
  for (uint32_t s = 0; v->slots && s < v->nslots; s++) {
    for (uint8_t i = 0; i < v->slots[s].n; i++) free(v->slots[s].id[i]);
    v->slots[s].n = 0;
  }
  v->last_slot = -1;
}

/* Forgets the values of every variable (sticky ones too when all). */
static void clear_values(struct vstate *v, int all) {
  for (uint32_t i = 0; v->vars && i < v->nvars; i++) {
    struct vvals *x = v->vars[i];
    if (!x) continue;
    uint8_t w = 0;
    for (uint8_t k = 0; k < x->n; k++) {
      if (!all && (x->flags[k] & VSTATE_STICKY)) {
        x->v[w] = x->v[k];
        x->seq[w] = x->seq[k];
        x->flags[w++] = x->flags[k];
      } else {
        free(x->v[k]);
      }
    }
    x->n = w;
  }
}

void vstate_free(struct vstate *v) {
  if (!v) return;
  clear_ids(v);
  clear_values(v, 1);
  for (uint32_t i = 0; v->vars && i < v->nvars; i++) free(v->vars[i]);
  free(v->vars);
  free(v->slots);
  free(v->token);
  free(v->refresh);
  free(v->jar);
  free(v);
}

void vstate_session_reset(struct vstate *v) {
  clear_ids(v);
  clear_values(v, 0);
  v->creates = 0;
}

static int set_str(char **dst, const char *t, size_t n, size_t max) {
  if (!t || !n) {
    free(*dst);
    *dst = NULL;
    return 0;
  }
  if (n > max) return ERR_LIMIT;
  char *c = strndup(t, n);
  if (!c) return -ENOMEM;
  free(*dst);
  *dst = c;
  return 0;
}

int vstate_set_token(struct vstate *v, const char *t, size_t n) {
  return set_str(&v->token, t, n, VSTATE_TOKEN_MAX);
}

const char *vstate_token(const struct vstate *v) {
  return v->token;
}

int vstate_set_refresh(struct vstate *v, const char *t, size_t n) {
  return set_str(&v->refresh, t, n, VSTATE_TOKEN_MAX);
}

const char *vstate_refresh(const struct vstate *v) {
  return v->refresh;
}

void vstate_set_need_login(struct vstate *v, int need) {
  v->need_login = need != 0;
}

int vstate_need_login(const struct vstate *v) {
  return v->need_login;
}

void vstate_set_pending_fault(struct vstate *v, uint8_t kind) {
  v->pending_fault = kind;
}

uint8_t vstate_pending_fault(const struct vstate *v) {
  return v->pending_fault;
}

/* ---- cookies ---- */

/* Finds "name=" at the start of a pair of the jar; returns its offset and
 * the pair's length, or -1. */
static long jar_find(const char *jar, const char *name, size_t nlen,
                     size_t *plen) {
  if (!jar) return -1;
  const char *p = jar;
  while (*p) {
    const char *end = strstr(p, "; ");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
      *plen = len;
      return p - jar;
    }
    if (!end) break;
    p = end + 2;
  }
  return -1;
}

/* Removes a pair (offset, length) and its separator. */
static void jar_cut(char *jar, size_t off, size_t len) {
  size_t total = strlen(jar);
  size_t end = off + len;
  if (end < total)
    end += 2; /* "; " after it */
  else if (off >= 2)
    off -= 2; /* the last pair: the "; " before it */
  memmove(jar + off, jar + end, total - end + 1);
}

static int ci_prefix(const char *p, const char *end, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != word[i]) return 0;
  }
  return 1;
}

/* Whether the attributes (after the first ';') say the cookie is gone. */
static int expired(const char *attrs, const char *end) {
  for (const char *p = attrs; p && p < end;) {
    while (p < end && (*p == ';' || *p == ' ')) p++;
    if (ci_prefix(p, end, "max-age=")) {
      p += 8;
      return *p == '0' || *p == '-';
    }
    p = memchr(p, ';', (size_t)(end - p));
  }
  return 0;
}

static int take_one(struct vstate *v, const char *line, const char *end) {
  if (end <= line) return 0;
  const char *semi = memchr(line, ';', (size_t)(end - line));
  const char *pair_end = semi ? semi : end;
  while (pair_end > line && pair_end[-1] == ' ') pair_end--;
  const char *eq = memchr(line, '=', (size_t)(pair_end - line));
  if (!eq || eq == line) return 0;
  size_t nlen = (size_t)(eq - line);
  size_t plen = (size_t)(pair_end - line);
  for (size_t i = 0; i < plen; i++)
    if (line[i] == '\r' || line[i] == '\n') return 0;
  int gone = eq + 1 == pair_end || (semi && expired(semi, end));
  size_t old_len = 0;
  long at = jar_find(v->jar, line, nlen, &old_len);
  if (at >= 0) {
    if (!gone && old_len == plen && memcmp(v->jar + at, line, plen) == 0)
      return 0; /* unchanged */
    jar_cut(v->jar, (size_t)at, old_len);
  }
  if (gone) return at >= 0;
  size_t cur = v->jar ? strlen(v->jar) : 0;
  size_t need = cur + (cur ? 2 : 0) + plen;
  if (need > VSTATE_JAR_MAX) return at >= 0;
  char *j = realloc(v->jar, need + 1);
  if (!j) return -ENOMEM;
  if (!v->jar) j[0] = '\0';
  v->jar = j;
  if (cur) memcpy(j + cur, "; ", 2);
  memcpy(j + cur + (cur ? 2 : 0), line, plen);
  j[need] = '\0';
  return 1;
}

int vstate_take_cookies(struct vstate *v, const char *lines) {
  int changed = 0;
  for (const char *p = lines; p && *p;) {
    const char *nl = strchr(p, '\n');
    const char *end = nl ? nl : p + strlen(p);
    while (p < end && *p == ' ') p++;
    int rc = take_one(v, p, end);
    if (rc < 0) return rc;
    changed += rc;
    p = nl ? nl + 1 : NULL;
  }
  if (v->jar && !v->jar[0]) {
    free(v->jar);
    v->jar = NULL;
  }
  return changed;
}

const char *vstate_cookies(const struct vstate *v) {
  return v->jar && v->jar[0] ? v->jar : NULL;
}

/* ---- ids ---- */

int vstate_push_id(struct vstate *v, uint32_t slot, const char *id,
                   int64_t seq) {
  if (slot >= v->nslots) return ERR_LIMIT;
  size_t n = strlen(id);
  if (n == 0 || n >= VSTATE_ID_MAX) return ERR_LIMIT;
  if (!v->slots && !(v->slots = calloc(v->nslots, sizeof *v->slots)))
    return -ENOMEM;
  struct ids *s = &v->slots[slot];
  char *c = strdup(id);
  if (!c) return -ENOMEM;
  if (s->n == VSTATE_IDS) {
    free(s->id[0]);
    memmove(s->id, s->id + 1, (VSTATE_IDS - 1) * sizeof *s->id);
    memmove(s->seq, s->seq + 1, (VSTATE_IDS - 1) * sizeof *s->seq);
    s->n--;
  }
  s->seq[s->n] = seq;
  s->id[s->n++] = c;
  v->last_slot = (int32_t)slot;
  return 0;
}

const char *vstate_id(const struct vstate *v, uint32_t slot) {
  if (!v->slots || slot >= v->nslots || !v->slots[slot].n) return NULL;
  return v->slots[slot].id[v->slots[slot].n - 1];
}

const char *vstate_last_id(const struct vstate *v) {
  return v->last_slot >= 0 ? vstate_id(v, (uint32_t)v->last_slot) : NULL;
}

int64_t vstate_drop_id(struct vstate *v, uint32_t slot, const char *id) {
  if (!v->slots || slot >= v->nslots) return 0;
  struct ids *s = &v->slots[slot];
  for (uint8_t i = s->n; i-- > 0;) {
    if (strcmp(s->id[i], id) != 0) continue;
    int64_t seq = s->seq[i];
    free(s->id[i]);
    memmove(s->id + i, s->id + i + 1, (size_t)(s->n - i - 1) * sizeof *s->id);
    memmove(s->seq + i, s->seq + i + 1,
            (size_t)(s->n - i - 1) * sizeof *s->seq);
    s->n--;
    return seq;
  }
  return 0;
}

void vstate_count_journalled(struct vstate *v) {
  v->journalled++;
}

uint32_t vstate_journalled(const struct vstate *v) {
  return v->journalled;
}

void vstate_count_create(struct vstate *v) {
  v->creates++;
}

uint32_t vstate_creates(const struct vstate *v) {
  return v->creates;
}

/* ---- values of learned rules ---- */

static void vals_cut(struct vvals *x, uint8_t i) {
  free(x->v[i]);
  uint8_t after = (uint8_t)(x->n - i - 1);
  memmove(x->v + i, x->v + i + 1, after * sizeof *x->v);
  memmove(x->seq + i, x->seq + i + 1, after * sizeof *x->seq);
  memmove(x->flags + i, x->flags + i + 1, after * sizeof *x->flags);
  x->n--;
}

int vstate_set_value(struct vstate *v, uint32_t var, const char *val, size_t n,
                     unsigned flags) {
  if (var >= v->nvars || n == 0 || n > VSTATE_VALUE_MAX) return ERR_LIMIT;
  if (!v->vars && !(v->vars = calloc(v->nvars, sizeof *v->vars)))
    return -ENOMEM;
  struct vvals *x = v->vars[var];
  if (!x && !(x = v->vars[var] = calloc(1, sizeof *x))) return -ENOMEM;
  char *c = strndup(val, n);
  if (!c) return -ENOMEM;
  for (uint8_t i = 0; i < x->n; i++)
    if (strcmp(x->v[i], c) == 0) {
      vals_cut(x, i);
      break;
    }
  if (x->n == VSTATE_VALS) vals_cut(x, 0);
  x->v[x->n] = c;
  x->seq[x->n] = ++v->setno;
  x->flags[x->n++] = (uint8_t)flags;
  return 0;
}

const char *vstate_value(const struct vstate *v, uint32_t var, uint32_t *seq,
                         unsigned *flags) {
  if (!v->vars || var >= v->nvars || !v->vars[var] || !v->vars[var]->n)
    return NULL;
  const struct vvals *x = v->vars[var];
  if (seq) *seq = x->seq[x->n - 1];
  if (flags) *flags = x->flags[x->n - 1];
  return x->v[x->n - 1];
}

uint32_t vstate_drop_value(struct vstate *v, const char *val, size_t n) {
  uint32_t gone = 0;
  for (uint32_t i = 0; v->vars && i < v->nvars; i++) {
    struct vvals *x = v->vars[i];
    for (uint8_t k = x ? x->n : 0; k-- > 0;)
      if (strlen(x->v[k]) == n && memcmp(x->v[k], val, n) == 0) {
        vals_cut(x, k);
        gone++;
      }
  }
  return gone;
}
