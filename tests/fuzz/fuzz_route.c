/* Fuzz target for route (the mock's request routing and compare's
 * endpoint matching): the input is lines; those before the first empty
 * line are templates ("METHOD /path/{id}/x", a leading '*' marks a
 * catch-all), those after it request lines ("METHOD /path"). Invariants:
 *  - adding never fails but for ERR_LIMIT (too many segments) or memory;
 *  - every match is -1 or the id of an added template of that method;
 *  - a template without braces, added first of its text, finds itself
 *    (texts compare without a leading '/': "/x" and "x" are one path);
 *  - matching is repeatable (same answer twice). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXT 64

static void check(int ok) {
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct route *r = NULL;
  if (route_new(&r)) return 0;
  char *buf = malloc(size + 1);
  if (!buf) {
    route_free(r);
    return 0;
  }
  memcpy(buf, data, size);
  buf[size] = '\0';
  char *methods[MAXT], *templs[MAXT];
  int added[MAXT];
  size_t nt = 0;
  char *p = buf, *end = buf + size;
  /* Templates. */
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *le = nl ? nl : end;
    *le = '\0';
    if (le == p) { /* empty line: requests follow */
      p = le + 1;
      break;
    }
    int catch_all = *p == '*';
    char *line = p + catch_all, *sp = strchr(line, ' ');
    p = le + 1;
    if (!sp || nt == MAXT || strlen(sp + 1) == 0) continue;
    *sp = '\0';
    int rc = route_add(r, line, sp + 1, catch_all, (uint32_t)nt);
    check(rc == 0 || rc == ERR_LIMIT || rc == -12 /* ENOMEM */);
    methods[nt] = line;
    templs[nt] = sp + 1;
    added[nt] = rc == 0 && !catch_all;
    nt++;
  }
  check(route_build(r) == 0);
  /* Templates find themselves when literal and first of their text. */
  for (size_t i = 0; i < nt; i++) {
    if (!added[i] || strchr(templs[i], '{')) continue;
    int first = 1;
    for (size_t k = 0; k < i; k++)
      if (added[k] && !strcmp(methods[k], methods[i]) &&
          !strcmp(templs[k] + (templs[k][0] == '/'),
                  templs[i] + (templs[i][0] == '/')))
        first = 0;
    int64_t id = route_match(r, methods[i], strlen(methods[i]), templs[i],
                             strlen(templs[i]));
    if (first) check(id == (int64_t)i);
  }
  /* Requests. */
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *le = nl ? nl : end;
    char *sp = memchr(p, ' ', (size_t)(le - p));
    if (sp) {
      size_t ml = (size_t)(sp - p), pl = (size_t)(le - sp - 1);
      int64_t id = route_match(r, p, ml, sp + 1, pl);
      check(id == route_match(r, p, ml, sp + 1, pl));
      check(id >= -1 && id < (int64_t)nt);
      if (id >= 0)
        check(strlen(methods[id]) == ml && !memcmp(methods[id], p, ml));
    }
    p = le + 1;
  }
  free(buf);
  route_free(r);
  return 0;
}
