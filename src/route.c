#include "route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define MAX_METHODS 64

/* What a variable accepts, from its name as the templater writes it
 * ("{id}", "{uuid2}"): typed ones are tried before the others, so that
 * "/a/{id}.html" takes "/a/17.html" and "/a/{name}.html" the rest. */
enum kind { K_ANY, K_INT, K_NUM, K_UUID, K_HEX, K_DATE, K_EMAIL, K_IP };

/* A child edge: literal text, or a pattern prefix{var}suffix (a bare
 * variable has both empty). */
struct edge {
  char *text;         /* literal, or prefix followed by suffix (owned) */
  uint32_t len, plen; /* text length; prefix length (patterns) */
  uint32_t child;
  enum kind kind;
};

struct node {
  struct edge *lit, *pat; /* sorted by route_build */
  uint32_t nlit, cap_lit, npat, cap_pat;
  int64_t id; /* endpoint ending here, or -1 */
};

struct root {
  char *method;
  uint32_t node;
  int64_t catch_all; /* or -1 */
};

struct route {
  struct node *nodes;
  uint32_t nnodes, cap_nodes;
  struct root roots[MAX_METHODS];
  uint32_t nroots;
  int built;
};

int route_new(struct route **out) {
  struct route *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  *out = r;
  return 0;
}

void route_free(struct route *r) {
  if (!r) return;
  for (uint32_t i = 0; i < r->nnodes; i++) {
    struct node *n = &r->nodes[i];
    for (uint32_t k = 0; k < n->nlit; k++) free(n->lit[k].text);
    for (uint32_t k = 0; k < n->npat; k++) free(n->pat[k].text);
    free(n->lit);
    free(n->pat);
  }
  free(r->nodes);
  for (uint32_t i = 0; i < r->nroots; i++) free(r->roots[i].method);
  free(r);
}

static int new_node(struct route *r, uint32_t *out) {
  if (r->nnodes == r->cap_nodes) {
    uint32_t ncap = r->cap_nodes ? r->cap_nodes * 2 : 64;
    struct node *nn = realloc(r->nodes, ncap * sizeof *nn);
    if (!nn) return -ENOMEM;
    r->nodes = nn;
    r->cap_nodes = ncap;
  }
  struct node *n = &r->nodes[r->nnodes];
  memset(n, 0, sizeof *n);
  n->id = -1;
  *out = r->nnodes++;
  return 0;
}

static struct root *find_root(const struct route *r, const char *m,
                              size_t mlen) {
  for (uint32_t i = 0; i < r->nroots; i++) {
    const struct root *x = &r->roots[i];
    if (strlen(x->method) == mlen && memcmp(x->method, m, mlen) == 0)
      return (struct root *)x;
  }
  return NULL;
}

/* The segments of a path or template: skip one leading '/', split on '/'
 * ("/" is one empty segment, "/a/" is "a" and ""). Returns the count, or
 * -1 beyond max. */
static int split(const char *p, size_t len, const char **seg, uint32_t *slen,
                 int max) {
  size_t i = len && p[0] == '/' ? 1 : 0;
  int n = 0;
  for (;;) {
    const char *s = memchr(p + i, '/', len - i);
    size_t end = s ? (size_t)(s - p) : len;
    if (n == max) return -1;
    seg[n] = p + i;
    slen[n] = (uint32_t)(end - i);
    n++;
    if (!s) break;
    i = end + 1;
  }
  return n;
}

/* The kind of variable "{name}" (name[0..len), braces excluded). */
static enum kind kind_of(const char *name, size_t len) {
  static const struct {
    const char *name;
    enum kind kind;
  } map[] = {
      {"id", K_INT},   {"num", K_NUM},   {"uuid", K_UUID},   {"hex", K_HEX},
      {"hash", K_HEX}, {"date", K_DATE}, {"email", K_EMAIL}, {"ip", K_IP},
  };
  while (len && name[len - 1] >= '0' && name[len - 1] <= '9') len--;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strlen(map[i].name) == len && memcmp(map[i].name, name, len) == 0)
      return map[i].kind;
  return K_ANY;
}

static int all_of(const char *s, size_t len, const char *set) {
  for (size_t i = 0; i < len; i++)
    if (!strchr(set, s[i]) || !s[i]) return 0;
  return 1;
}

/* Whether text (a variable's part of a path segment) fits kind k. Text
 * that is itself a variable ("{id}", a template matched like a path) fits
 * the variables of its own kind and the untyped ones. */
static int fits(enum kind k, const char *s, size_t len) {
  if (len >= 2 && s[0] == '{' && s[len - 1] == '}')
    return k == K_ANY || kind_of(s + 1, len - 2) == k;
  switch (k) {
  case K_INT: return all_of(s, len, "0123456789");
  case K_NUM: return all_of(s, len, "0123456789.-");
  case K_UUID: return len == 36 && all_of(s, len, "0123456789abcdefABCDEF-");
  case K_HEX: return all_of(s, len, "0123456789abcdefABCDEF");
  case K_DATE: return all_of(s, len, "0123456789-:T.Z+");
  case K_EMAIL: return memchr(s, '@', len) != NULL;
  case K_IP: return all_of(s, len, "0123456789abcdefABCDEF.:");
  default: return 1;
  }
}

/* Finds or adds the edge for one template segment under node `at`. */
static int add_edge(struct route *r, uint32_t at, const char *s, uint32_t len,
                    uint32_t *child) {
  const char *open = memchr(s, '{', len);
  const char *close = open ? memchr(open, '}', len - (size_t)(open - s)) : NULL;
  /* One variable makes a pattern; none, or several, a literal. */
  int is_pat =
      open && close && !memchr(close + 1, '{', len - (size_t)(close + 1 - s));
  uint32_t plen = 0;
  char *text = NULL;
  uint32_t tlen = len;
  enum kind kind = K_ANY;
  if (is_pat) {
    plen = (uint32_t)(open - s);
    uint32_t slen = (uint32_t)(len - (uint32_t)(close + 1 - s));
    kind = kind_of(open + 1, (size_t)(close - open - 1));
    tlen = plen + slen;
    text = malloc(tlen + 1);
    if (!text) return -ENOMEM;
    memcpy(text, s, plen);
    memcpy(text + plen, close + 1, slen);
    text[tlen] = '\0';
  }
  struct node *n = &r->nodes[at];
  struct edge *list = is_pat ? n->pat : n->lit;
  uint32_t cnt = is_pat ? n->npat : n->nlit;
  for (uint32_t k = 0; k < cnt; k++) {
    struct edge *e = &list[k];
    if (e->len == tlen && (!is_pat || (e->plen == plen && e->kind == kind)) &&
        memcmp(e->text, is_pat ? text : s, tlen) == 0) {
      free(text);
      *child = e->child;
      return 0;
    }
  }
  if (!is_pat && !(text = strndup(s, len))) return -ENOMEM;
  uint32_t c;
  int rc = new_node(r, &c);
  if (rc) {
    free(text);
    return rc;
  }
  n = &r->nodes[at]; /* new_node may have moved the array */
  uint32_t *cap = is_pat ? &n->cap_pat : &n->cap_lit;
  struct edge **arr = is_pat ? &n->pat : &n->lit;
  if (cnt == *cap) {
    uint32_t ncap = *cap ? *cap * 2 : 4;
    struct edge *na = realloc(*arr, ncap * sizeof *na);
    if (!na) {
      free(text);
      return -ENOMEM;
    }
    *arr = na;
    *cap = ncap;
  }
  (*arr)[cnt] = (struct edge){text, tlen, plen, c, kind};
  if (is_pat)
    n->npat++;
  else
    n->nlit++;
  *child = c;
  return 0;
}

int route_add(struct route *r, const char *method, const char *templ,
              int catch_all, uint32_t id) {
  if (r->built) return -EINVAL;
  size_t mlen = strlen(method);
  struct root *root = find_root(r, method, mlen);
  int rc;
  if (!root) {
    if (r->nroots == MAX_METHODS) return ERR_LIMIT;
    root = &r->roots[r->nroots];
    if (!(root->method = strdup(method))) return -ENOMEM;
    root->catch_all = -1;
    if ((rc = new_node(r, &root->node))) {
      free(root->method);
      return rc;
    }
    r->nroots++;
  }
  if (catch_all) {
    if (root->catch_all < 0) root->catch_all = id;
    return 0;
  }
  const char *seg[ROUTE_MAX_SEGMENTS];
  uint32_t slen[ROUTE_MAX_SEGMENTS];
  int n = split(templ, strlen(templ), seg, slen, ROUTE_MAX_SEGMENTS);
  if (n < 0) return ERR_LIMIT;
  uint32_t at = root->node;
  for (int i = 0; i < n; i++)
    if ((rc = add_edge(r, at, seg[i], slen[i], &at))) return rc;
  if (r->nodes[at].id < 0) r->nodes[at].id = id;
  return 0;
}

static int lit_cmp(const void *a, const void *b) {
  const struct edge *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->text, y->text, n);
  if (c) return c;
  return (x->len > y->len) - (x->len < y->len);
}

/* More literal text first ("{name}.tar.gz" before "{name}.gz", bare
 * variables last), typed variables before untyped ones. */
static int pat_cmp(const void *a, const void *b) {
  const struct edge *x = a, *y = b;
  if (x->len != y->len) return x->len > y->len ? -1 : 1;
  if ((x->kind == K_ANY) != (y->kind == K_ANY)) return x->kind == K_ANY;
  int c = lit_cmp(a, b);
  return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

int route_build(struct route *r) {
  for (uint32_t i = 0; i < r->nnodes; i++) {
    struct node *n = &r->nodes[i];
    if (n->nlit > 1) qsort(n->lit, n->nlit, sizeof *n->lit, lit_cmp);
    if (n->npat > 1) qsort(n->pat, n->npat, sizeof *n->pat, pat_cmp);
  }
  r->built = 1;
  return 0;
}

static const struct edge *find_lit(const struct node *n, const char *s,
                                   uint32_t len) {
  uint32_t lo = 0, hi = n->nlit;
  struct edge key = {(char *)s, len, 0, 0, K_ANY};
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = lit_cmp(&key, &n->lit[mid]);
    if (c == 0) return &n->lit[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

static int64_t walk(const struct route *r, uint32_t at, const char **seg,
                    const uint32_t *slen, int i, int n) {
  const struct node *nd = &r->nodes[at];
  if (i == n) return nd->id;
  const char *s = seg[i];
  uint32_t len = slen[i];
  const struct edge *e = find_lit(nd, s, len);
  int64_t id;
  if (e && (id = walk(r, e->child, seg, slen, i + 1, n)) >= 0) return id;
  for (uint32_t k = 0; k < nd->npat; k++) {
    e = &nd->pat[k];
    uint32_t sl = e->len - e->plen;
    /* The variable takes at least one byte. */
    if (len <= e->len || memcmp(s, e->text, e->plen) != 0 ||
        memcmp(s + len - sl, e->text + e->plen, sl) != 0 ||
        !fits(e->kind, s + e->plen, len - e->len))
      continue;
    if ((id = walk(r, e->child, seg, slen, i + 1, n)) >= 0) return id;
  }
  return -1;
}

int64_t route_match(const struct route *r, const char *method, size_t mlen,
                    const char *path, size_t plen) {
  const struct root *root = find_root(r, method, mlen);
  if (!root) return -1;
  const char *seg[ROUTE_MAX_SEGMENTS];
  uint32_t slen[ROUTE_MAX_SEGMENTS];
  int n = split(path, plen, seg, slen, ROUTE_MAX_SEGMENTS);
  int64_t id = n < 0 ? -1 : walk(r, root->node, seg, slen, 0, n);
  return id >= 0 ? id : root->catch_all;
}
