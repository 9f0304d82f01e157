/* Fuzz target for templ (and redact_fake): the input is lines of
 * "METHOD /path", fed to a templater with small caps so collapses, merges
 * and catch-alls all happen; then the invariants are checked:
 *  - templ_check passes (tree, index and endpoint bookkeeping);
 *  - every handle resolves to a live endpoint;
 *  - every live template starts with '/';
 *  - the hits of live endpoints sum to the number of successful adds.
 * The first input byte picks the options, so the corpus can reach the
 * interesting cap combinations. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "templ.h"
#include "topk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct templ_opts o = {.salt = {0x1234, 0x5678}};
  unsigned sel = size ? data[0] : 0;
  o.collapse_children = 1 + (sel & 7);
  o.max_endpoints = 2 + ((sel >> 3) & 7) * 3;
  o.max_nodes = 8 + ((sel >> 6) & 3) * 24;
  o.pool_cap = 1 + (sel & 3);
  o.keep_share = (sel & 0x80) ? 0.3 : 0;

  struct templ *t = NULL;
  if (templ_new(&o, &t)) return 0;
  uint64_t adds = 0;
  const char *p = (const char *)data, *end = p + size;
  if (size) p++;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    const char *sp = memchr(p, ' ', (size_t)(eol - p));
    const char *m = p, *path = sp ? sp + 1 : p;
    size_t mlen = sp ? (size_t)(sp - p) : 3;
    if (!sp) m = "GET";
    size_t plen = (size_t)(eol - path);

    uint32_t ep;
    if (templ_add(t, m, mlen, path, plen, &ep) == 0) {
      adds++;
      check(ep < templ_handles(t));
      check(templ_is_live(t, templ_resolve(t, ep)));
    }
    char fake[300];
    size_t fl = redact_fake(o.salt, path, plen, fake, sizeof fake);
    check(fl < sizeof fake && fake[fl] == '\0');
    (void)redact_is_secret_name(path, plen);
    (void)redact_is_secret_value(path, plen);
    p = nl ? nl + 1 : end;
  }

  /* The same invariants hold before and after the deferred decisions. */
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) check(templ_finalize(t) == 0);
    check(templ_check(t) == 0);
    uint64_t sum = 0;
    for (uint32_t e = 0; e < templ_handles(t); e++) {
      uint32_t r = templ_resolve(t, e);
      check(templ_is_live(t, r));
      if (!templ_is_live(t, e)) continue;
      const char *text = templ_text(t, e);
      check(text && text[0] == '/');
      check(templ_method(t, e) != NULL);
      sum += templ_hits(t, e);
      uint64_t ptotal = 0;
      for (size_t i = 0; i < templ_nparams(t, e); i++) {
        const struct topk *pool = templ_param_pool(t, e, i);
        check(templ_param_name(t, e, i) && templ_param_type(t, e, i));
        if (!pool) continue;
        /* Each request records one value per parameter. */
        ptotal = topk_total(pool);
        check(ptotal == templ_hits(t, e));
        struct topk_item it[4];
        size_t n = topk_items(pool, it, 4);
        for (size_t k = 1; k < n; k++) check(it[k - 1].count >= it[k].count);
      }
    }
    check(sum == adds);
  }
  templ_free(t);
  return 0;
}
