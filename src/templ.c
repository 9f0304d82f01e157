#include "templ.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hash.h"
#include "redact.h"
#include "topk.h"

#define NONE UINT32_MAX
/* Longer paths, or paths with more segments, are not templated: they go
 * to the catch-all (they are scanners and garbage, not API calls). */
#define PATH_MAX_LEN 8192
#define SEGS_MAX 64
#define METHODS_MAX 32
#define METHOD_LEN_MAX 31
#define EXT_MAX 16
/* Values are truncated to this by topk anyway. */
#define VALUE_MAX 256
/* Handles (live or merged) per allowed live endpoint: merges free live
 * slots, so the handle count needs its own bound. */
#define HANDLES_PER_EP 4
#define SEED UINT64_C(0x74656d706c617465)

enum {
  T_LIT,
  T_INT,
  T_NUM,
  T_UUID,
  T_HEX,
  T_HASH,
  T_DATE,
  T_EMAIL,
  T_IP,
  T_TOKEN,
  T_WORD,
  T_PATH,
  T_COUNT
};

static const char *const type_name[T_COUNT] = {
    "literal", "int",   "num", "uuid",  "hex",  "hash",
    "date",    "email", "ip",  "token", "word", "path",
};
static const char *const var_name[T_COUNT] = {
    "",     "id",    "num", "uuid",  "hex",  "hash",
    "date", "email", "ip",  "token", "name", "path",
};

static int type_is_redacted(int type) {
  return type == T_EMAIL || type == T_TOKEN || type == T_HASH;
}

/* A tree node is one path position: the literal segment it stands for, or
 * a variable (type + kept extension, the label then holding the extension
 * such as ".csv" or ""). Children are found through the table below, and
 * linked in a list for the rare walks (collapse, merge). */
struct node {
  uint64_t key;      /* hash of (parent, type, label) */
  uint64_t hits;     /* requests that went through this node */
  uint64_t ok_hits;  /* those answered without an error status: what tells
                        a real section from a scanner's probes, which are
                        frequent too but fail */
  uint64_t recheck;  /* collapsed: hits at which kept literals are judged */
  uint64_t typ_hits; /* collapsed: hits of a typical value (the median
                        literal) when the position collapsed ... */
  uint64_t typ_base; /* ... and the node's hits then */
  char *label;       /* owned; NUL-terminated */
  uint32_t label_len;
  uint32_t ext_off; /* literal: start of its ".ext" (label_len if none) */
  uint32_t parent;
  uint32_t child; /* first child */
  uint32_t next;  /* next sibling; next free node when dead */
  uint32_t prev;
  uint32_t ep;       /* live endpoint of paths ending here, or NONE */
  uint32_t nlit;     /* literal children, the empty one excepted */
  uint32_t seen_lit; /* distinct literal children ever made (folded ones
                        too): the cardinality of the position */
  uint8_t type;      /* T_LIT or a variable type */
  uint8_t depth;     /* root 0 */
  uint8_t collapsed; /* new literal children go to the {name} variables */
  uint8_t live;
};

struct param {
  struct topk *pool; /* NULL only after an allocation failure */
  uint8_t type;
  uint8_t depth;
  uint8_t redacted;
  char name[12];
};

struct endpoint {
  uint32_t parent; /* union-find: itself when live */
  uint32_t node;   /* terminal node, NONE for a catch-all */
  uint64_t hits;
  struct param *params; /* room for one per path segment */
  uint8_t nparams;
  uint8_t capparams;
  uint8_t method;
  char *text;
  size_t textcap;
};

struct method {
  char name[METHOD_LEN_MAX + 1];
  size_t len;
  uint32_t root;     /* NONE until the first path */
  uint32_t catchall; /* NONE until the first capped path */
};

struct templ {
  struct templ_opts o;
  struct node *nodes;
  size_t nodes_alloc, nodes_used, nodes_live;
  uint32_t free_nodes;
  /* Child index: open addressing over node indices, linear probing with
   * backward-shift deletion. Its own table rather than hmap because a
   * collapse re-keys nodes (delete + insert) and must never allocate
   * halfway: without tombstones the load stays the same. */
  uint32_t *tab;
  size_t tab_mask, tab_len;
  struct endpoint *eps;
  size_t eps_alloc, neps, eps_live;
  struct method methods[METHODS_MAX + 1];
  size_t nmethods;
  uint64_t capped;
  uint64_t redacted[T_COUNT];
  int finalizing; /* inside templ_finalize: the soft limits apply */
};

#define N(t, i) (&(t)->nodes[(i)])

/* Distinct literals before a position collapses: while streaming only the
 * hard limit (a memory bound) applies, so that decisions wait for full
 * counts; templ_finalize applies collapse_children. */
static uint32_t collapse_limit(const struct templ *t) {
  return t->finalizing ? t->o.collapse_children : t->o.collapse_hard;
}

/* ---- segment classification (stage A) -------------------------------- */

static int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
static int is_lower(unsigned char c) {
  return c >= 'a' && c <= 'z';
}
static int is_upper(unsigned char c) {
  return c >= 'A' && c <= 'Z';
}
static int is_alpha(unsigned char c) {
  return is_lower(c) || is_upper(c);
}
static int is_alnum(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}
static int hex_val(unsigned char c) {
  if (is_digit(c)) return 1;
  if (c >= 'a' && c <= 'f') return 2;
  if (c >= 'A' && c <= 'F') return 4;
  return 0;
}

static int is_int(const char *s, size_t n) {
  size_t i = n > 1 && s[0] == '-';
  if (i == n) return 0;
  for (; i < n; i++)
    if (!is_digit((unsigned char)s[i])) return 0;
  return 1;
}

static int is_decimal(const char *s, size_t n) {
  size_t i = n > 1 && s[0] == '-', a = 0, b = 0;
  while (i < n && is_digit((unsigned char)s[i])) i++, a++;
  if (i == n || s[i] != '.') return 0;
  i++;
  while (i < n && is_digit((unsigned char)s[i])) i++, b++;
  return i == n && a && b;
}

/* All hex digits, letters of one case; *has_d and *has_l tell what
 * it has. */
static int is_hexstr(const char *s, size_t n, int *has_d, int *has_l) {
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    int v = hex_val((unsigned char)s[i]);
    if (!v) return 0;
    seen |= v;
  }
  if ((seen & 6) == 6) return 0; /* mixed case: a word, not hex */
  *has_d = seen & 1;
  *has_l = (seen & 6) != 0;
  return 1;
}

static int is_uuid(const char *s, size_t n) {
  if (n != 36) return 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!hex_val((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

static int is_ipv4(const char *s, size_t n) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    unsigned v = 0, digits = 0;
    while (i < n && is_digit((unsigned char)s[i]) && digits < 4) {
      v = v * 10 + (unsigned)(s[i] - '0');
      i++;
      digits++;
    }
    if (digits == 0 || digits > 3 || v > 255) return 0;
    if (part < 3) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n;
}

static int is_ipv6(const char *s, size_t n) {
  size_t colons = 0;
  int digit = 0;
  if (n < 3 || n > 45) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ':')
      colons++;
    else if (!hex_val(c))
      return 0;
    else if (is_digit(c))
      digit = 1;
  }
  return colons >= 2 && colons <= 7 && digit;
}

/* Reads n digits at *i; -1 when they are not there. */
static int digits(const char *s, size_t len, size_t *i, int n) {
  int v = 0;
  for (int k = 0; k < n; k++) {
    if (*i >= len || !is_digit((unsigned char)s[*i])) return -1;
    v = v * 10 + (s[(*i)++] - '0');
  }
  return v;
}

/* ':' or its percent-encoding, as clients often escape it in paths. */
static int colon(const char *s, size_t len, size_t *i) {
  if (*i < len && s[*i] == ':') {
    (*i)++;
    return 1;
  }
  if (*i + 2 < len && s[*i] == '%' && s[*i + 1] == '3' &&
      (s[*i + 2] == 'A' || s[*i + 2] == 'a')) {
    *i += 3;
    return 1;
  }
  return 0;
}

/* ISO 8601: YYYY-MM-DD, optionally followed by THH:MM[:SS[.frac]] and a
 * zone (Z or +HH[:MM]). */
static int is_date(const char *s, size_t n) {
  size_t i = 0;
  int y = digits(s, n, &i, 4);
  if (y < 0 || i >= n || s[i++] != '-') return 0;
  int mo = digits(s, n, &i, 2);
  if (mo < 1 || mo > 12 || i >= n || s[i++] != '-') return 0;
  int d = digits(s, n, &i, 2);
  if (d < 1 || d > 31) return 0;
  if (i == n) return 1;
  if (s[i] != 'T' && s[i] != 't' && s[i] != '_') return 0;
  i++;
  if (digits(s, n, &i, 2) < 0 || !colon(s, n, &i) || digits(s, n, &i, 2) < 0)
    return 0;
  if (colon(s, n, &i)) {
    if (digits(s, n, &i, 2) < 0) return 0;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
      size_t f = ++i;
      while (i < n && is_digit((unsigned char)s[i])) i++;
      if (i == f) return 0;
    }
  }
  if (i == n) return 1;
  if (s[i] == 'Z' || s[i] == 'z') return i + 1 == n;
  if (s[i] != '+' && s[i] != '-') return 0;
  i++;
  if (digits(s, n, &i, 2) < 0) return 0;
  if (i == n) return 1;
  colon(s, n, &i);
  return digits(s, n, &i, 2) >= 0 && i == n;
}

/* Start of a trailing ".ext" (1-16 letters/digits with a letter, after a
 * non-empty stem), or n. */
static size_t ext_split(const char *s, size_t n) {
  size_t dot = n;
  for (size_t i = n; i > 0 && n - i <= EXT_MAX; i--) {
    if (s[i - 1] == '.') {
      dot = i - 1;
      break;
    }
  }
  if (dot == n || dot == 0 || dot + 1 == n) return n;
  int alpha = 0;
  for (size_t i = dot + 1; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!is_alnum(c)) return n;
    if (is_alpha(c)) alpha = 1;
  }
  return alpha ? dot : n;
}

static int classify_stem(const char *s, size_t n) {
  int dg, lt;
  if (is_uuid(s, n)) return T_UUID;
  if (is_int(s, n)) return T_INT;
  if (is_decimal(s, n)) return T_NUM;
  if (is_hexstr(s, n, &dg, &lt)) {
    if (n == 32 || n == 40 || n == 64) return T_HASH;
    if (n >= 16 && dg && lt) return T_HEX;
  }
  if (is_date(s, n)) return T_DATE;
  if (redact_is_token(s, n) || redact_is_jwt(s, n)) return T_TOKEN;
  return T_LIT;
}

/* Stage A: the type of segment s and where its kept extension starts
 * (*ext; n when the whole segment is the value). */
static int classify(const char *s, size_t n, size_t *ext) {
  *ext = n;
  int digit = 0, at = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_digit(c))
      digit = 1;
    else if (c == '@' || c == '%')
      at = 1;
  }
  /* Every mask needs a digit, except e-mail addresses: most segments are
   * plain words and leave here. */
  if (!digit && !at) return T_LIT;
  if (at && redact_is_email(s, n)) return T_EMAIL;
  if (!digit) return T_LIT;
  /* Types whose text holds dots are tried on the whole segment, before a
   * ".ext" could be cut off them. */
  if (is_int(s, n)) return T_INT;
  if (is_decimal(s, n)) return T_NUM;
  if (is_ipv4(s, n) || is_ipv6(s, n)) return T_IP;
  if (is_date(s, n)) return T_DATE;
  if (redact_is_jwt(s, n)) return T_TOKEN;
  size_t e = ext_split(s, n);
  int type = classify_stem(s, e);
  if (type != T_LIT) *ext = e;
  return type;
}

/* ---- child index ----------------------------------------------------- */

static uint64_t child_key(uint32_t parent, int type, const char *label,
                          size_t len) {
  return hash_mix(((uint64_t)parent << 8) | (uint64_t)type,
                  hash64(label, len, SEED));
}

static int tab_reserve(struct templ *t, size_t more) {
  size_t need = (t->tab_len + more) * 2;
  size_t cap = t->tab ? t->tab_mask + 1 : 0;
  if (need <= cap) return 0;
  size_t ncap = cap ? cap : 64;
  while (ncap < need) ncap *= 2;
  uint32_t *nt = malloc(ncap * sizeof *nt);
  if (!nt) return -ENOMEM;
  for (size_t i = 0; i < ncap; i++) nt[i] = NONE;
  for (size_t i = 0; i < cap; i++) {
    uint32_t v = t->tab[i];
    if (v == NONE) continue;
    size_t j = (size_t)N(t, v)->key & (ncap - 1);
    while (nt[j] != NONE) j = (j + 1) & (ncap - 1);
    nt[j] = v;
  }
  free(t->tab);
  t->tab = nt;
  t->tab_mask = ncap - 1;
  return 0;
}

static uint32_t tab_find(const struct templ *t, uint32_t parent, int type,
                         const char *label, size_t len) {
  if (!t->tab) return NONE;
  uint64_t key = child_key(parent, type, label, len);
  for (size_t i = (size_t)key & t->tab_mask;; i = (i + 1) & t->tab_mask) {
    uint32_t v = t->tab[i];
    if (v == NONE) return NONE;
    const struct node *n = &t->nodes[v];
    if (n->key == key && n->parent == parent && n->type == type &&
        n->label_len == len && memcmp(n->label, label, len) == 0)
      return v;
  }
}

/* The caller has reserved room. */
static void tab_insert(struct templ *t, uint32_t v) {
  size_t i = (size_t)N(t, v)->key & t->tab_mask;
  while (t->tab[i] != NONE) i = (i + 1) & t->tab_mask;
  t->tab[i] = v;
  t->tab_len++;
}

static void tab_delete(struct templ *t, uint32_t v) {
  size_t i = (size_t)N(t, v)->key & t->tab_mask;
  while (t->tab[i] != v) {
    if (t->tab[i] == NONE) return;
    i = (i + 1) & t->tab_mask;
  }
  /* Backward shift: move later entries of the cluster into the hole when
   * their home slot does not lie cyclically in (hole, their slot]. */
  for (size_t j = i;;) {
    j = (j + 1) & t->tab_mask;
    uint32_t w = t->tab[j];
    if (w == NONE) break;
    size_t home = (size_t)N(t, w)->key & t->tab_mask;
    int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    t->tab[i] = w;
    i = j;
  }
  t->tab[i] = NONE;
  t->tab_len--;
}

/* ---- nodes ----------------------------------------------------------- */

static void link_child(struct templ *t, uint32_t parent, uint32_t c) {
  struct node *n = N(t, c);
  n->parent = parent;
  n->key = child_key(parent, n->type, n->label, n->label_len);
  n->prev = NONE;
  n->next = N(t, parent)->child;
  if (n->next != NONE) N(t, n->next)->prev = c;
  N(t, parent)->child = c;
  if (n->type == T_LIT && n->label_len) {
    N(t, parent)->nlit++;
    N(t, parent)->seen_lit++;
  }
  tab_insert(t, c);
}

static void unlink_child(struct templ *t, uint32_t c) {
  struct node *n = N(t, c);
  struct node *p = N(t, n->parent);
  tab_delete(t, c);
  if (n->prev != NONE)
    N(t, n->prev)->next = n->next;
  else
    p->child = n->next;
  if (n->next != NONE) N(t, n->next)->prev = n->prev;
  if (n->type == T_LIT && n->label_len) p->nlit--;
  n->next = n->prev = NONE;
}

/* A new node (parent NONE: a root); NONE on ENOMEM. */
static uint32_t node_new(struct templ *t, uint32_t parent, int type,
                         const char *label, size_t len, size_t ext_off) {
  if (tab_reserve(t, 1)) return NONE;
  char *lab = malloc(len + 1);
  if (!lab) return NONE;
  uint32_t i;
  if (t->free_nodes != NONE) {
    i = t->free_nodes;
    t->free_nodes = N(t, i)->next;
  } else {
    if (t->nodes_used == t->nodes_alloc) {
      size_t n = t->nodes_alloc ? t->nodes_alloc * 2 : 64;
      struct node *nn = realloc(t->nodes, n * sizeof *nn);
      if (!nn) {
        free(lab);
        return NONE;
      }
      t->nodes = nn;
      t->nodes_alloc = n;
    }
    i = (uint32_t)t->nodes_used++;
  }
  struct node *n = N(t, i);
  memset(n, 0, sizeof *n);
  if (len) memcpy(lab, label, len);
  lab[len] = '\0';
  n->label = lab;
  n->label_len = (uint32_t)len;
  n->ext_off = (uint32_t)ext_off;
  n->type = (uint8_t)type;
  n->parent = n->child = n->next = n->prev = NONE;
  n->ep = NONE;
  n->live = 1;
  t->nodes_live++;
  if (parent != NONE) {
    n->depth = (uint8_t)(N(t, parent)->depth + 1);
    link_child(t, parent, i);
  }
  return i;
}

static void node_free(struct templ *t, uint32_t i) {
  struct node *n = N(t, i);
  if (n->parent != NONE) unlink_child(t, i);
  free(n->label);
  n->label = NULL;
  n->live = 0;
  n->next = t->free_nodes;
  t->free_nodes = i;
  t->nodes_live--;
}

/* Fills chain[0..depth] with the ancestors of node i (root first). */
static void get_chain(const struct templ *t, uint32_t i, uint32_t *chain) {
  for (int d = t->nodes[i].depth; d >= 0; d--) {
    chain[d] = i;
    i = t->nodes[i].parent;
  }
}

/* Pre-order walk of the subtree under root: the node after i, or NONE. */
static uint32_t subtree_next(const struct templ *t, uint32_t root, uint32_t i) {
  if (t->nodes[i].child != NONE) return t->nodes[i].child;
  while (i != root) {
    if (t->nodes[i].next != NONE) return t->nodes[i].next;
    i = t->nodes[i].parent;
  }
  return NONE;
}

/* ---- endpoints ------------------------------------------------------- */

/* Renders an endpoint's template and names its parameters ("id", "id2")
 * from its node chain. textcap was sized at creation for the worst case,
 * so this never allocates; the bounded writes are a second guard. */
static void ep_render(struct templ *t, uint32_t e) {
  struct endpoint *ep = &t->eps[e];
  uint32_t chain[SEGS_MAX + 1];
  unsigned seen[T_COUNT] = {0};
  size_t pos = 0, pi = 0;
  get_chain(t, ep->node, chain);
  int depth = N(t, ep->node)->depth;
  for (int d = 1; d <= depth; d++) {
    const struct node *n = N(t, chain[d]);
    if (pos + 1 < ep->textcap) ep->text[pos++] = '/';
    if (n->type == T_LIT) {
      size_t k = n->label_len;
      if (k > ep->textcap - 1 - pos) k = ep->textcap - 1 - pos;
      memcpy(ep->text + pos, n->label, k);
      pos += k;
      continue;
    }
    char nm[12];
    if (seen[n->type]++ == 0)
      snprintf(nm, sizeof nm, "%s", var_name[n->type]);
    else
      snprintf(nm, sizeof nm, "%s%u", var_name[n->type], seen[n->type]);
    if (pi < ep->nparams) {
      memcpy(ep->params[pi].name, nm, sizeof nm);
      ep->params[pi].type = n->type;
      pi++;
    }
    int w = snprintf(ep->text + pos, ep->textcap - pos, "{%s}%s", nm, n->label);
    if (w > 0)
      pos += (size_t)w < ep->textcap - pos ? (size_t)w : ep->textcap - 1 - pos;
  }
  ep->text[pos] = '\0';
}

static void ep_release(struct endpoint *ep) {
  for (size_t i = 0; i < ep->nparams; i++) topk_free(ep->params[i].pool);
  free(ep->params);
  free(ep->text);
  ep->params = NULL;
  ep->text = NULL;
  ep->nparams = ep->capparams = 0;
}

static int eps_grow(struct templ *t) {
  if (t->neps < t->eps_alloc) return 0;
  size_t n = t->eps_alloc ? t->eps_alloc * 2 : 64;
  struct endpoint *ne = realloc(t->eps, n * sizeof *ne);
  if (!ne) return -ENOMEM;
  t->eps = ne;
  t->eps_alloc = n;
  return 0;
}

/* One path segment as seen by templ_add. */
struct seg {
  const char *s;
  size_t len;
  size_t ext; /* end of the value (start of the kept extension) */
  int type;   /* T_LIT or the mask type */
};

/* New endpoint at node `at`, reached by segs[0..nseg) whose variable
 * positions are listed in chain. */
static int ep_new(struct templ *t, uint32_t at, const uint32_t *chain,
                  const struct seg *segs, size_t nseg, int method,
                  uint32_t *out) {
  int rc = eps_grow(t);
  if (rc) return rc;
  uint32_t e = (uint32_t)t->neps;
  struct endpoint *ep = &t->eps[e];
  memset(ep, 0, sizeof *ep);
  ep->parent = e;
  ep->node = at;
  ep->method = (uint8_t)method;
  ep->capparams = (uint8_t)nseg;
  ep->textcap = 2;
  for (size_t k = 0; k < nseg; k++) ep->textcap += segs[k].len + 12;
  ep->params = calloc(nseg, sizeof *ep->params);
  ep->text = malloc(ep->textcap);
  if (!ep->params || !ep->text) goto fail;
  for (size_t d = 1; d <= nseg; d++) {
    const struct node *n = N(t, chain[d]);
    if (n->type == T_LIT) continue;
    struct param *p = &ep->params[ep->nparams++];
    p->type = n->type;
    p->depth = (uint8_t)d;
    p->redacted = (uint8_t)type_is_redacted(n->type);
    if (topk_new(t->o.pool_cap, &p->pool)) goto fail;
  }
  ep_render(t, e);
  N(t, at)->ep = e;
  t->neps++;
  t->eps_live++;
  *out = e;
  return 0;
fail:
  ep_release(ep);
  return -ENOMEM;
}

/* A position gained by an endpoint when the literal it had at `depth`
 * became a variable. */
struct gain {
  int depth;
  int type;
  const char *value;
  size_t len;
};

/* Inserts the gained positions into an endpoint's parameters (kept in
 * depth order); each new pool starts with the old literal counted as many
 * times as the endpoint was hit. Returns 0 or -ENOMEM (the position is
 * then kept without a pool). */
static int ep_gain(struct templ *t, uint32_t e, const struct gain *g,
                   size_t ng) {
  struct endpoint *ep = &t->eps[e];
  int rc = 0;
  for (size_t k = 0; k < ng; k++) {
    if (ep->nparams >= ep->capparams) return ERR_CORRUPT;
    size_t at = ep->nparams;
    while (at > 0 && ep->params[at - 1].depth > g[k].depth) at--;
    memmove(&ep->params[at + 1], &ep->params[at],
            (ep->nparams - at) * sizeof *ep->params);
    ep->nparams++;
    struct param *p = &ep->params[at];
    memset(p, 0, sizeof *p);
    p->type = (uint8_t)g[k].type;
    p->depth = (uint8_t)g[k].depth;
    if (topk_new(t->o.pool_cap, &p->pool) == 0) {
      if (ep->hits && topk_add(p->pool, g[k].value, g[k].len, ep->hits))
        rc = -ENOMEM;
    } else {
      p->pool = NULL;
      rc = -ENOMEM;
    }
  }
  return rc;
}

/* Merges endpoint e into live endpoint f (same template shape). */
static int ep_absorb(struct templ *t, uint32_t f, uint32_t e) {
  struct endpoint *fe = &t->eps[f], *ee = &t->eps[e];
  int rc = 0;
  fe->hits += ee->hits;
  for (size_t i = 0; i < fe->nparams && i < ee->nparams; i++) {
    struct param *fp = &fe->params[i], *ep = &ee->params[i];
    fp->redacted |= ep->redacted;
    if (!ep->pool) continue;
    if (!fp->pool) {
      fp->pool = ep->pool;
      ep->pool = NULL;
    } else if (topk_merge(fp->pool, ep->pool)) {
      rc = -ENOMEM;
    }
  }
  ep_release(ee);
  ee->parent = f;
  ee->node = NONE;
  t->eps_live--;
  return rc;
}

/* Positions where the chain of `from` holds a literal and the chain of
 * `to` (same depth) a variable, for depths 1..depth(to). */
static size_t chain_gains(const struct templ *t, uint32_t from, uint32_t to,
                          struct gain *g) {
  uint32_t a[SEGS_MAX + 1], b[SEGS_MAX + 1];
  size_t ng = 0;
  get_chain(t, from, a);
  get_chain(t, to, b);
  for (int d = 1; d <= t->nodes[to].depth; d++) {
    const struct node *x = &t->nodes[a[d]], *y = &t->nodes[b[d]];
    if (x->type != T_LIT || y->type == T_LIT) continue;
    /* A variable's label is the extension the literal ended with. */
    size_t len = x->label_len;
    if (y->label_len < len) len -= y->label_len;
    g[ng++] = (struct gain){d, y->type, x->label, len};
  }
  return ng;
}

/* ---- collapse and merge (stage B) ------------------------------------ */

static int collapse(struct templ *t, uint32_t p);

static uint32_t find_var(const struct templ *t, uint32_t p, int type,
                         const char *ext, size_t len) {
  return tab_find(t, p, type, ext, len);
}

/* Gains positions `g` for every endpoint under node `top`. */
static int subtree_gain(struct templ *t, uint32_t top, const struct gain *g,
                        size_t ng) {
  int rc = 0;
  if (ng == 0) return 0;
  for (uint32_t i = top; i != NONE; i = subtree_next(t, top, i))
    if (N(t, i)->ep != NONE) {
      int r = ep_gain(t, N(t, i)->ep, g, ng);
      if (r && !rc) rc = r;
    }
  return rc;
}

static void subtree_render(struct templ *t, uint32_t top) {
  for (uint32_t i = top; i != NONE; i = subtree_next(t, top, i))
    if (N(t, i)->ep != NONE) ep_render(t, N(t, i)->ep);
}

/* Turns literal node c into the {name} variable of its extension, in
 * place: no allocation, its subtree stays. */
static int convert_to_var(struct templ *t, uint32_t c) {
  struct node *n = N(t, c);
  struct gain g = {n->depth, T_WORD, n->label, n->ext_off};
  int rc = subtree_gain(t, c, &g, 1);
  uint32_t parent = n->parent;
  unlink_child(t, c);
  n = N(t, c);
  size_t elen = n->label_len - n->ext_off;
  memmove(n->label, n->label + n->ext_off, elen);
  n->label[elen] = '\0';
  n->label_len = (uint32_t)elen;
  n->ext_off = 0;
  n->type = T_WORD;
  link_child(t, parent, c);
  subtree_render(t, c);
  return rc;
}

/* Re-parents node s (with its subtree) under dst, at the same depth; a
 * literal moved under a collapsed node becomes its {name} variable. */
static int move_node(struct templ *t, uint32_t s, uint32_t dst) {
  struct gain g[SEGS_MAX + 1];
  size_t ng = chain_gains(t, N(t, s)->parent, dst, g);
  int convert =
      N(t, s)->type == T_LIT && N(t, s)->label_len && N(t, dst)->collapsed;
  if (convert)
    g[ng++] =
        (struct gain){N(t, s)->depth, T_WORD, N(t, s)->label, N(t, s)->ext_off};
  int rc = subtree_gain(t, s, g, ng);
  unlink_child(t, s);
  struct node *n = N(t, s);
  if (convert) {
    size_t elen = n->label_len - n->ext_off;
    memmove(n->label, n->label + n->ext_off, elen);
    n->label[elen] = '\0';
    n->label_len = (uint32_t)elen;
    n->ext_off = 0;
    n->type = T_WORD;
  }
  link_child(t, dst, s);
  subtree_render(t, s);
  return rc;
}

/* The existing child of dst that node s (a child elsewhere) maps to. */
static uint32_t route_existing(const struct templ *t, uint32_t dst,
                               uint32_t s) {
  const struct node *n = &t->nodes[s];
  uint32_t c = tab_find(t, dst, n->type, n->label, n->label_len);
  if (c != NONE || n->type != T_LIT || !n->label_len ||
      !t->nodes[dst].collapsed)
    return c;
  return find_var(t, dst, T_WORD, n->label + n->ext_off,
                  n->label_len - n->ext_off);
}

/* Merges node src (and its subtree) into dst, a node at the same depth
 * elsewhere, then frees src. Never allocates nodes: children of src that
 * dst lacks are moved over whole. */
static int merge_node(struct templ *t, uint32_t dst, uint32_t src) {
  int rc = 0, r;
  N(t, dst)->hits += N(t, src)->hits;
  N(t, dst)->ok_hits += N(t, src)->ok_hits;
  uint32_t e = N(t, src)->ep;
  if (e != NONE) {
    struct gain g[SEGS_MAX + 1];
    size_t ng = chain_gains(t, src, dst, g);
    N(t, src)->ep = NONE;
    rc = ep_gain(t, e, g, ng);
    uint32_t f = N(t, dst)->ep;
    if (f == NONE) {
      N(t, dst)->ep = e;
      t->eps[e].node = dst;
      ep_render(t, e);
    } else {
      r = ep_absorb(t, f, e);
      if (r && !rc) rc = r;
    }
  }
  for (uint32_t s = N(t, src)->child, next; s != NONE; s = next) {
    next = N(t, s)->next;
    uint32_t d = route_existing(t, dst, s);
    r = d != NONE ? merge_node(t, d, s) : move_node(t, s, dst);
    if (r && !rc) rc = r;
  }
  node_free(t, src);
  if (!N(t, dst)->collapsed && N(t, dst)->nlit > collapse_limit(t)) {
    r = collapse(t, dst);
    if (r && !rc) rc = r;
  }
  return rc;
}

/* Folds literal child c of collapsed node p into p's {name} variable. */
static int fold_literal(struct templ *t, uint32_t p, uint32_t c) {
  const struct node *n = N(t, c);
  uint32_t v =
      find_var(t, p, T_WORD, n->label + n->ext_off, n->label_len - n->ext_off);
  if (v == NONE) return convert_to_var(t, c);
  return merge_node(t, v, c);
}

/* Median of the hits of p's literal children (the first MEDIAN_MAX of
 * them: a collapse normally sees collapse_children + 1). */
#define MEDIAN_MAX 256
static uint64_t literal_median(const struct templ *t, uint32_t p) {
  uint64_t v[MEDIAN_MAX];
  size_t n = 0;
  for (uint32_t c = t->nodes[p].child; c != NONE && n < MEDIAN_MAX;
       c = t->nodes[c].next) {
    const struct node *x = &t->nodes[c];
    if (x->type != T_LIT || !x->label_len) continue;
    size_t j = n++;
    while (j > 0 && v[j - 1] > x->ok_hits) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x->ok_hits;
  }
  return n ? v[n / 2] : 0;
}

/* A literal stays next to the variable when it is far more popular than a
 * typical value of that position: KEEP_MULT times the median, and at least
 * KEEP_MIN hits (or keep_share of all the position's traffic, with
 * KEEP_MIN hits). Sections of
 * a site (/cart, /login, /users/me) pass; ids, slugs and scanner junk, each
 * seen a few times, fold. */
#define KEEP_MULT 4
#define KEEP_MIN 8

static int keeps(const struct templ *t, uint64_t hits, uint64_t typical,
                 uint64_t node_hits) {
  if (hits < KEEP_MIN) return 0;
  return (double)hits >= t->o.keep_share * (double)node_hits ||
         hits > KEEP_MULT * typical;
}

/* Judges the literal children of p. At the collapse (`tail`) the typical
 * value is the median of the literals; afterwards it is that median grown
 * with the node's traffic, so a literal that was only an early fluke folds
 * once the real values have caught up. The empty segment (a trailing
 * slash, the index) is never folded: "/a/" is not a value of "/a/{name}". */
static int fold_shapes(struct templ *t, uint32_t n);

static int judge_literals(struct templ *t, uint32_t p, int tail) {
  int rc = 0;
  struct node *np = N(t, p);
  if (tail) {
    np->typ_hits = literal_median(t, p);
    np->typ_base = np->ok_hits ? np->ok_hits : 1;
    /* Folders shaped like their siblings are values however popular one
     * of them is (the mission of the day is still a mission). */
    if ((rc = fold_shapes(t, p))) return rc;
    np = N(t, p);
  }
  uint64_t typical =
      np->typ_base ? (uint64_t)((double)np->typ_hits * (double)np->ok_hits /
                                (double)np->typ_base)
                   : 0;
  uint64_t node_hits = np->ok_hits;
  for (uint32_t c = N(t, p)->child, next; c != NONE; c = next) {
    const struct node *n = N(t, c);
    next = n->next;
    if (n->type != T_LIT || !n->label_len) continue;
    if (keeps(t, n->ok_hits, typical, node_hits)) continue;
    int r = fold_literal(t, p, c);
    if (r && !rc) rc = r;
  }
  N(t, p)->recheck = N(t, p)->hits * 2 > 16 ? N(t, p)->hits * 2 : 16;
  return rc;
}

/* Position p has seen more than collapse_children distinct literals: it
 * becomes a variable; see judge_literals for which literals stay. Literals
 * first seen after the collapse go to the variable. */
static int collapse(struct templ *t, uint32_t p) {
  N(t, p)->collapsed = 1;
  return judge_literals(t, p, 1);
}

/* Files (leaf literals with the extension ext) under p. */
static size_t file_leaves(const struct templ *t, uint32_t p, const char *ext,
                          size_t elen, uint64_t *median) {
  uint64_t v[MEDIAN_MAX];
  size_t n = 0;
  for (uint32_t c = t->nodes[p].child; c != NONE; c = t->nodes[c].next) {
    const struct node *x = &t->nodes[c];
    if (x->type != T_LIT || x->child != NONE || x->ext_off == 0 ||
        x->label_len - x->ext_off != elen ||
        memcmp(x->label + x->ext_off, ext, elen) != 0)
      continue;
    if (n < MEDIAN_MAX) {
      size_t j = n;
      while (j > 0 && v[j - 1] > x->ok_hits) {
        v[j] = v[j - 1];
        j--;
      }
      v[j] = x->ok_hits;
    }
    n++;
  }
  if (median) *median = n ? v[(n < MEDIAN_MAX ? n : MEDIAN_MAX) / 2] : 0;
  return n;
}

/* Distinct files of one kind in one folder (images, pages, data sets) are
 * values of one endpoint long before a folder reaches collapse_children
 * entries: fold the files with extension ext into {name}.ext, keeping the
 * ones far above their median. Other children of p are not touched and p
 * does not become a variable. */
static int collapse_files(struct templ *t, uint32_t p, const char *ext,
                          size_t elen) {
  uint64_t median = 0;
  file_leaves(t, p, ext, elen, &median);
  int rc = 0;
  for (uint32_t c = N(t, p)->child, next; c != NONE; c = next) {
    const struct node *x = N(t, c);
    next = x->next;
    if (x->type != T_LIT || x->child != NONE || x->ext_off == 0 ||
        x->label_len - x->ext_off != elen ||
        memcmp(x->label + x->ext_off, ext, elen) != 0)
      continue;
    if (x->ok_hits >= KEEP_MIN && x->ok_hits > KEEP_MULT * median) continue;
    int r = fold_literal(t, p, c);
    if (r && !rc) rc = r;
  }
  return rc;
}

/* ---- public ---------------------------------------------------------- */

int templ_new(const struct templ_opts *opts, struct templ **out) {
  struct templ *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  if (opts) t->o = *opts;
  if (t->o.collapse_children == 0) t->o.collapse_children = 20;
  if (!(t->o.keep_share > 0)) t->o.keep_share = 0.25;
  if (t->o.collapse_hard < t->o.collapse_children)
    t->o.collapse_hard = t->o.collapse_hard ? t->o.collapse_children
                                            : 8 * t->o.collapse_children;
  if (t->o.collapse_files == 0)
    t->o.collapse_files =
        t->o.collapse_children / 4 > 3 ? t->o.collapse_children / 4 : 3;
  if (t->o.max_endpoints == 0) t->o.max_endpoints = 20000;
  if (t->o.max_nodes == 0) t->o.max_nodes = 200000;
  if (t->o.pool_cap == 0) t->o.pool_cap = 256;
  /* Handles and node indices are 32-bit, with NONE reserved. */
  if (t->o.max_endpoints > (NONE - METHODS_MAX - 2) / HANDLES_PER_EP)
    t->o.max_endpoints = (NONE - METHODS_MAX - 2) / HANDLES_PER_EP;
  if (t->o.max_nodes > NONE - 1) t->o.max_nodes = NONE - 1;
  t->free_nodes = NONE;
  *out = t;
  return 0;
}

void templ_free(struct templ *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nodes_used; i++) free(t->nodes[i].label);
  for (size_t i = 0; i < t->neps; i++) ep_release(&t->eps[i]);
  free(t->nodes);
  free(t->tab);
  free(t->eps);
  free(t);
}

static int method_ok(const char *m, size_t len) {
  if (len == 0 || len > METHOD_LEN_MAX) return 0;
  for (size_t i = 0; i < len; i++)
    if (m[i] <= ' ' || m[i] > '~') return 0;
  return 1;
}

/* Index of the method's entry. Beyond METHODS_MAX distinct methods, or for
 * garbage, the shared entry "OTHER" (one slot is kept for it). */
static int method_index(struct templ *t, const char *m, size_t len) {
  if (!method_ok(m, len)) {
    m = "OTHER";
    len = 5;
  }
  for (;;) {
    for (size_t i = 0; i < t->nmethods; i++)
      if (t->methods[i].len == len && memcmp(t->methods[i].name, m, len) == 0)
        return (int)i;
    int other = len == 5 && memcmp(m, "OTHER", 5) == 0;
    if (t->nmethods < METHODS_MAX || (other && t->nmethods <= METHODS_MAX)) {
      struct method *me = &t->methods[t->nmethods];
      memcpy(me->name, m, len);
      me->name[len] = '\0';
      me->len = len;
      me->root = me->catchall = NONE;
      return (int)t->nmethods++;
    }
    m = "OTHER";
    len = 5;
  }
}

/* The catch-all's pool holds the path with secret-like segments faked. */
static size_t masked_path(struct templ *t, const char *path, size_t plen,
                          char *out, int *redacted) {
  size_t o = 0;
  char fake[VALUE_MAX + 1];
  if (plen && path[0] == '/') path++, plen--;
  for (size_t i = 0; i <= plen && o < VALUE_MAX;) {
    size_t j = i;
    while (j < plen && path[j] != '/') j++;
    size_t ext;
    int type = classify(path + i, j - i, &ext);
    const char *v = path + i;
    size_t vl = j - i;
    if (type_is_redacted(type)) {
      vl = redact_fake(t->o.salt, path + i, ext, fake, sizeof fake);
      t->redacted[type]++;
      *redacted = 1;
      v = fake;
    }
    for (size_t k = 0; k < vl && o < VALUE_MAX; k++) out[o++] = v[k];
    if (type_is_redacted(type))
      for (size_t k = i + ext; k < j && o < VALUE_MAX; k++) out[o++] = path[k];
    if (j < plen && o < VALUE_MAX) out[o++] = '/';
    i = j + 1;
  }
  return o;
}

static int to_catchall(struct templ *t, int mi, const char *path, size_t plen,
                       uint32_t *out) {
  struct method *m = &t->methods[mi];
  uint32_t e = m->catchall;
  if (e == NONE) {
    int rc = eps_grow(t);
    if (rc) return rc;
    e = (uint32_t)t->neps;
    struct endpoint *ep = &t->eps[e];
    memset(ep, 0, sizeof *ep);
    ep->parent = e;
    ep->node = NONE;
    ep->method = (uint8_t)mi;
    ep->params = calloc(1, sizeof *ep->params);
    ep->text = malloc(sizeof "/{path}");
    if (!ep->params || !ep->text ||
        topk_new(t->o.pool_cap, &ep->params[0].pool)) {
      ep_release(ep);
      return -ENOMEM;
    }
    ep->nparams = ep->capparams = 1;
    ep->params[0].type = T_PATH;
    memcpy(ep->params[0].name, "path", 5);
    memcpy(ep->text, "/{path}", sizeof "/{path}");
    ep->textcap = sizeof "/{path}";
    m->catchall = e;
    t->neps++;
    t->eps_live++;
  }
  char buf[VALUE_MAX];
  int red = 0;
  size_t n = masked_path(t, path, plen, buf, &red);
  struct endpoint *ep = &t->eps[e];
  ep->hits++;
  t->capped++;
  if (red) ep->params[0].redacted = 1;
  *out = e;
  return topk_add(ep->params[0].pool, buf, n, 1);
}

static int split_path(const char *path, size_t plen, struct seg *segs,
                      size_t *nseg) {
  size_t n = 0;
  if (plen && path[0] == '/') path++, plen--;
  for (size_t i = 0;;) {
    size_t j = i;
    while (j < plen && path[j] != '/') j++;
    if (n == SEGS_MAX) return -1;
    segs[n].s = path + i;
    segs[n].len = j - i;
    n++;
    if (j >= plen) break;
    i = j + 1;
  }
  *nseg = n;
  return 0;
}

/* Room for `more` new nodes under the node cap. */
static int nodes_room(const struct templ *t, size_t more) {
  return t->nodes_live + more <= t->o.max_nodes;
}

int templ_add(struct templ *t, const char *method, size_t mlen,
              const char *path, size_t plen, uint32_t *out) {
  return templ_add_status(t, method, mlen, path, plen, 1, out);
}

int templ_add_status(struct templ *t, const char *method, size_t mlen,
                     const char *path, size_t plen, int ok, uint32_t *out) {
  int mi = method_index(t, method, mlen);
  struct method *m = &t->methods[mi];
  struct seg segs[SEGS_MAX];
  uint32_t chain[SEGS_MAX + 1];
  size_t nseg;
  int rc;

  if (plen > PATH_MAX_LEN || split_path(path, plen, segs, &nseg))
    return to_catchall(t, mi, path, plen, out);
  if (m->root == NONE) {
    if (!nodes_room(t, 1 + nseg)) return to_catchall(t, mi, path, plen, out);
    uint32_t r = node_new(t, NONE, T_LIT, "", 0, 0);
    if (r == NONE) return -ENOMEM;
    m->root = r;
  }
  uint32_t cur = m->root;
  chain[0] = cur;
  for (size_t k = 0; k < nseg; k++) {
    struct seg *sg = &segs[k];
    struct node *n = N(t, cur);
    if (n->collapsed && n->hits >= n->recheck) {
      rc = judge_literals(t, cur, 0);
      if (rc) return rc;
    }
    sg->type = classify(sg->s, sg->len, &sg->ext);
    uint32_t c = NONE;
    int vtype = sg->type;
    const char *ext = sg->s + sg->ext;
    size_t elen = sg->len - sg->ext;
    if (sg->type == T_LIT) {
      c = tab_find(t, cur, T_LIT, sg->s, sg->len);
      if (c == NONE) {
        sg->ext = ext_split(sg->s, sg->len);
        ext = sg->s + sg->ext;
        elen = sg->len - sg->ext;
        if (!N(t, cur)->collapsed && sg->len &&
            N(t, cur)->seen_lit >= t->o.collapse_hard) {
          rc = collapse(t, cur);
          if (rc) return rc;
        }
        if (N(t, cur)->collapsed && sg->len) {
          vtype = sg->type = T_WORD;
          c = find_var(t, cur, T_WORD, ext, elen);
        } else if (k + 1 == nseg && sg->ext > 0 && elen > 1) {
          /* A file name: its folder may hold values of one endpoint. */
          c = find_var(t, cur, T_WORD, ext, elen);
          if (c == NONE &&
              file_leaves(t, cur, ext, elen, NULL) + 1 >= t->o.collapse_hard) {
            rc = collapse_files(t, cur, ext, elen);
            if (rc) return rc;
            c = find_var(t, cur, T_WORD, ext, elen);
          }
          if (c != NONE)
            vtype = sg->type = T_WORD;
          else
            sg->ext = sg->len;
        } else {
          sg->ext = sg->len;
        }
      }
    } else {
      c = find_var(t, cur, vtype, ext, elen);
    }
    if (c == NONE) {
      if (!nodes_room(t, nseg - k)) return to_catchall(t, mi, path, plen, out);
      if (vtype == T_LIT)
        c = node_new(t, cur, T_LIT, sg->s, sg->len, ext_split(sg->s, sg->len));
      else
        c = node_new(t, cur, vtype, ext, elen, 0);
      if (c == NONE) return -ENOMEM;
    }
    cur = c;
    chain[k + 1] = cur;
  }

  uint32_t e = N(t, cur)->ep;
  if (e == NONE) {
    if (t->eps_live >= t->o.max_endpoints ||
        t->neps >= t->o.max_endpoints * HANDLES_PER_EP)
      return to_catchall(t, mi, path, plen, out);
    rc = ep_new(t, cur, chain, segs, nseg, mi, &e);
    if (rc) return rc;
  }
  for (size_t k = 0; k <= nseg; k++) {
    N(t, chain[k])->hits++;
    N(t, chain[k])->ok_hits += ok != 0;
  }
  struct endpoint *ep = &t->eps[e];
  ep->hits++;
  *out = e;

  /* Parameters are the variable nodes of the chain, in order. */
  rc = 0;
  size_t pi = 0;
  for (size_t k = 0; k < nseg && pi < ep->nparams; k++) {
    const struct seg *sg = &segs[k];
    if (N(t, chain[k + 1])->type == T_LIT) continue;
    struct param *p = &ep->params[pi++];
    if (!p->pool) continue;
    int r;
    if (type_is_redacted(sg->type)) {
      char fake[VALUE_MAX + 1];
      size_t fl = redact_fake(t->o.salt, sg->s, sg->ext, fake, sizeof fake);
      t->redacted[sg->type]++;
      r = topk_add(p->pool, fake, fl, 1);
    } else {
      r = topk_add(p->pool, sg->s, sg->ext, 1);
    }
    if (r && !rc) rc = r;
  }
  return rc;
}

uint32_t templ_handles(const struct templ *t) {
  return (uint32_t)t->neps;
}

static uint32_t find_root(const struct templ *t, uint32_t e) {
  if (e >= t->neps) return e;
  while (t->eps[e].parent != e) e = t->eps[e].parent;
  return e;
}

uint32_t templ_resolve(struct templ *t, uint32_t e) {
  if (e >= t->neps) return e;
  /* Path halving keeps later look-ups short. */
  while (t->eps[e].parent != e) {
    t->eps[e].parent = t->eps[t->eps[e].parent].parent;
    e = t->eps[e].parent;
  }
  return e;
}

int templ_is_live(const struct templ *t, uint32_t e) {
  return e < t->neps && t->eps[e].parent == e;
}

static const struct endpoint *live_ep(const struct templ *t, uint32_t e) {
  e = find_root(t, e);
  return e < t->neps ? &t->eps[e] : NULL;
}

const char *templ_method(const struct templ *t, uint32_t e) {
  const struct endpoint *ep = live_ep(t, e);
  return ep ? t->methods[ep->method].name : NULL;
}

const char *templ_text(const struct templ *t, uint32_t e) {
  const struct endpoint *ep = live_ep(t, e);
  return ep ? ep->text : NULL;
}

uint64_t templ_hits(const struct templ *t, uint32_t e) {
  const struct endpoint *ep = live_ep(t, e);
  return ep ? ep->hits : 0;
}

size_t templ_nparams(const struct templ *t, uint32_t e) {
  const struct endpoint *ep = live_ep(t, e);
  return ep ? ep->nparams : 0;
}

static const struct param *param_at(const struct templ *t, uint32_t e,
                                    size_t i) {
  const struct endpoint *ep = live_ep(t, e);
  return ep && i < ep->nparams ? &ep->params[i] : NULL;
}

const char *templ_param_name(const struct templ *t, uint32_t e, size_t i) {
  const struct param *p = param_at(t, e, i);
  return p ? p->name : NULL;
}

const char *templ_param_type(const struct templ *t, uint32_t e, size_t i) {
  const struct param *p = param_at(t, e, i);
  return p ? type_name[p->type] : NULL;
}

int templ_param_redacted(const struct templ *t, uint32_t e, size_t i) {
  const struct param *p = param_at(t, e, i);
  return p ? p->redacted : 0;
}

const struct topk *templ_param_pool(const struct templ *t, uint32_t e,
                                    size_t i) {
  const struct param *p = param_at(t, e, i);
  return p ? p->pool : NULL;
}

uint64_t templ_capped(const struct templ *t) {
  return t->capped;
}

uint64_t templ_redacted(const struct templ *t, const char *type) {
  for (int i = 0; i < T_COUNT; i++)
    if (type_is_redacted(i) && strcmp(type, type_name[i]) == 0)
      return t->redacted[i];
  return 0;
}

/* ---- finalizing ------------------------------------------------------ */

/* Folds the file kinds of node n: every extension with collapse_files or
 * more distinct leaf files. */
static int finalize_files(struct templ *t, uint32_t n) {
  char done[64][EXT_MAX + 1];
  size_t ndone = 0;
  for (;;) {
    uint32_t pick = NONE;
    for (uint32_t c = N(t, n)->child; c != NONE; c = N(t, c)->next) {
      const struct node *x = N(t, c);
      if (x->type != T_LIT || x->child != NONE || x->ext_off == 0 ||
          x->label_len - x->ext_off > EXT_MAX || x->label_len - x->ext_off < 2)
        continue;
      const char *ext = x->label + x->ext_off;
      size_t elen = x->label_len - x->ext_off, i;
      for (i = 0; i < ndone; i++)
        if (strlen(done[i]) == elen && memcmp(done[i], ext, elen) == 0) break;
      if (i < ndone) continue;
      pick = c;
      break;
    }
    if (pick == NONE || ndone == 64) return 0;
    const struct node *x = N(t, pick);
    size_t elen = x->label_len - x->ext_off;
    char ext[EXT_MAX + 1];
    memcpy(ext, x->label + x->ext_off, elen);
    ext[elen] = '\0';
    memcpy(done[ndone++], ext, elen + 1);
    /* A collapsed folder has judged its literals already (against all of
     * its values, not just the few literals left). */
    if (!N(t, n)->collapsed &&
        file_leaves(t, n, ext, elen, NULL) >= t->o.collapse_files) {
      int rc = collapse_files(t, n, ext, elen);
      if (rc) return rc;
    }
  }
}

/* Sibling folders with the same inside are values of one position even
 * when there are few of them: /missions/sts-71/{images/, sts-71-info.html}
 * and /missions/sts-70/{images/, sts-70-info.html}, or /users/alice/profile
 * and /users/bob/profile. A folder's shape is the set of its literal
 * children's labels, with the folder's own name inside them replaced by a
 * marker; variables are left out, since REST collections share them
 * (/api/orders/{id} and /api/users/{id} are different endpoints). Two
 * shapes match when they overlap by SHAPE_SIM of the smaller one (a log
 * shows only part of each folder). Folders fold into {name} when SHAPE_MIN
 * of them match on a label holding the marker (their own name inside: the
 * mark of a value). Plain labels alone are no evidence: /blog/, /files/
 * and /projects/ all hold an index and are still sections. */
#define SHAPE_MIN 3
#define SHAPE_SIM 0.5
#define SHAPE_KIDS 64
#define SHAPE_LABELS 32

/* Hash of a grandchild's label as seen from its folder; the low bit tells
 * whether the folder's name was inside it. */
static uint64_t shape_hash(const struct node *dir, const struct node *g) {
  char buf[VALUE_MAX];
  size_t o = 0, dl = dir->label_len;
  int marked = 0;
  for (size_t i = 0; i < g->label_len && o < sizeof buf;) {
    if (dl && i + dl <= g->label_len &&
        memcmp(g->label + i, dir->label, dl) == 0) {
      buf[o++] = '\x01';
      i += dl;
      marked = 1;
    } else {
      buf[o++] = g->label[i++];
    }
  }
  return (hash64(buf, o, SEED ^ 0x5348415045ULL) & ~UINT64_C(1)) |
         (uint64_t)marked;
}

static size_t shape_of(const struct templ *t, uint32_t dir, uint64_t *out) {
  size_t n = 0;
  for (uint32_t g = N(t, dir)->child; g != NONE; g = N(t, g)->next) {
    if (N(t, g)->type != T_LIT) continue;
    uint64_t h = shape_hash(N(t, dir), N(t, g));
    size_t j = n;
    while (j > 0 && out[j - 1] > h) j--;
    if (j > 0 && out[j - 1] == h) continue;
    if (n == SHAPE_LABELS) break;
    memmove(out + j + 1, out + j, (n - j) * sizeof *out);
    out[j] = h;
    n++;
  }
  return n;
}

/* Whether two shapes match; *marked tells if a shared label held the
 * marker. */
static int shapes_match(const uint64_t *a, size_t na, const uint64_t *b,
                        size_t nb, int *marked) {
  size_t i = 0, j = 0, both = 0;
  *marked = 0;
  while (i < na && j < nb) {
    if (a[i] == b[j]) {
      if (a[i] & 1) *marked = 1;
      both++, i++, j++;
    } else if (a[i] < b[j]) {
      i++;
    } else {
      j++;
    }
  }
  size_t small = na < nb ? na : nb;
  return small && (double)both >= SHAPE_SIM * (double)small;
}

static int uf_find(int *up, int i) {
  while (up[i] != i) i = up[i] = up[up[i]];
  return i;
}

/* Groups the folders by shapes matching on a marked label and reports in
 * fold[] those in groups of `min` or more. */
static void shape_groups(const uint64_t (*sig)[SHAPE_LABELS], const size_t *ns,
                         size_t nk, int min, int *fold) {
  int up[SHAPE_KIDS], size[SHAPE_KIDS];
  for (size_t i = 0; i < nk; i++) up[i] = (int)i, size[i] = 1;
  for (size_t i = 0; i < nk; i++)
    for (size_t j = i + 1; j < nk; j++) {
      int marked;
      if (!shapes_match(sig[i], ns[i], sig[j], ns[j], &marked) || !marked)
        continue;
      int a = uf_find(up, (int)i), b = uf_find(up, (int)j);
      if (a == b) continue;
      up[b] = a;
      size[a] += size[b];
    }
  for (size_t i = 0; i < nk; i++)
    if (size[uf_find(up, (int)i)] >= min) fold[i] = 1;
}

/* The literal folders under n that belong to a group of same-shaped
 * siblings: kids[] gets up to SHAPE_KIDS folders, fold[] marks members.
 * Returns how many kids were examined. */
static size_t shape_members(const struct templ *t, uint32_t n, uint32_t *kids,
                            int *fold) {
  size_t nk = 0;
  for (uint32_t c = N(t, n)->child; c != NONE && nk < SHAPE_KIDS;
       c = N(t, c)->next) {
    const struct node *x = N(t, c);
    if (x->type == T_LIT && x->label_len && x->child != NONE) kids[nk++] = c;
  }
  memset(fold, 0, SHAPE_KIDS * sizeof *fold);
  if (nk < SHAPE_MIN) return nk;
  uint64_t sig[SHAPE_KIDS][SHAPE_LABELS];
  size_t ns[SHAPE_KIDS];
  for (size_t i = 0; i < nk; i++) ns[i] = shape_of(t, kids[i], sig[i]);
  shape_groups((const uint64_t(*)[SHAPE_LABELS])sig, ns, nk, SHAPE_MIN, fold);
  return nk;
}

/* Folds the same-shaped sibling folders under n into {name}. */
static int fold_shapes(struct templ *t, uint32_t n) {
  uint32_t kids[SHAPE_KIDS];
  int fold[SHAPE_KIDS];
  size_t nk = shape_members(t, n, kids, fold);
  int rc = 0;
  for (size_t i = 0; i < nk; i++) {
    if (!fold[i]) continue;
    int r = fold_literal(t, n, kids[i]);
    if (r && !rc) rc = r;
  }
  return rc;
}

int templ_finalize(struct templ *t) {
  int rc = 0;
  uint32_t *stack = NULL;
  size_t len = 0, cap = 0;
  t->finalizing = 1;
  for (size_t m = 0; m < t->nmethods; m++) {
    if (t->methods[m].root == NONE) continue;
    if (len == cap) {
      cap = cap ? cap * 2 : 256;
      uint32_t *ns = realloc(stack, cap * sizeof *ns);
      if (!ns) {
        rc = -ENOMEM;
        goto out;
      }
      stack = ns;
    }
    stack[len++] = t->methods[m].root;
  }
  /* Top down: a folder's own fate first (its collapse merges the subtrees
   * below it), then what its children have become. */
  while (len) {
    uint32_t n = stack[--len];
    if (!N(t, n)->live) continue;
    if (!N(t, n)->collapsed && N(t, n)->nlit > t->o.collapse_children)
      rc = collapse(t, n);
    else if (N(t, n)->collapsed)
      rc = judge_literals(t, n, 0);
    if (!rc && !N(t, n)->collapsed) rc = fold_shapes(t, n);
    if (!rc) rc = finalize_files(t, n);
    if (rc) goto out;
    for (uint32_t c = N(t, n)->child; c != NONE; c = N(t, c)->next) {
      if (len == cap) {
        cap = cap ? cap * 2 : 256;
        uint32_t *ns = realloc(stack, cap * sizeof *ns);
        if (!ns) {
          rc = -ENOMEM;
          goto out;
        }
        stack = ns;
      }
      stack[len++] = c;
    }
  }
out:
  t->finalizing = 0;
  free(stack);
  return rc;
}

/* ---- self-check ------------------------------------------------------ */

int templ_check(const struct templ *t) {
  size_t live_nodes = 0, live_eps = 0;
  for (size_t i = 0; i < t->nodes_used; i++) {
    const struct node *n = &t->nodes[i];
    if (!n->live) continue;
    live_nodes++;
    size_t nlit = 0;
    for (uint32_t c = n->child; c != NONE; c = t->nodes[c].next) {
      const struct node *x = &t->nodes[c];
      if (!x->live || x->parent != i || x->depth != n->depth + 1)
        return ERR_CORRUPT;
      if (x->type == T_LIT && x->label_len) nlit++;
      if (x->type >= T_PATH) return ERR_CORRUPT;
      if (tab_find(t, (uint32_t)i, x->type, x->label, x->label_len) != c)
        return ERR_CORRUPT;
    }
    if (nlit != n->nlit) return ERR_CORRUPT;
    if (n->ep != NONE) {
      if (n->ep >= t->neps || t->eps[n->ep].parent != n->ep ||
          t->eps[n->ep].node != i)
        return ERR_CORRUPT;
    }
  }
  /* Roots are found through the method table, not the child index. */
  size_t roots = 0;
  for (size_t m = 0; m < t->nmethods; m++)
    if (t->methods[m].root != NONE) roots++;
  if (live_nodes != t->nodes_live || t->tab_len + roots != live_nodes)
    return ERR_CORRUPT;
  for (uint32_t e = 0; e < t->neps; e++) {
    const struct endpoint *ep = &t->eps[e];
    if (find_root(t, e) >= t->neps) return ERR_CORRUPT;
    if (ep->parent != e) continue;
    live_eps++;
    if (!ep->text || ep->text[0] != '/') return ERR_CORRUPT;
    if (ep->node == NONE) {
      if (t->methods[ep->method].catchall != e) return ERR_CORRUPT;
      continue;
    }
    const struct node *n = &t->nodes[ep->node];
    if (!n->live || n->ep != e) return ERR_CORRUPT;
    uint32_t chain[SEGS_MAX + 1];
    get_chain(t, ep->node, chain);
    if (chain[0] != t->methods[ep->method].root) return ERR_CORRUPT;
    size_t pi = 0;
    for (int d = 1; d <= n->depth; d++) {
      const struct node *x = &t->nodes[chain[d]];
      if (x->type == T_LIT) continue;
      if (pi >= ep->nparams || ep->params[pi].depth != d ||
          ep->params[pi].type != x->type)
        return ERR_CORRUPT;
      pi++;
    }
    if (pi != ep->nparams) return ERR_CORRUPT;
  }
  if (live_eps != t->eps_live) return ERR_CORRUPT;
  return 0;
}
