/* Fuzz target for what replay takes out of a target's answers: the first
 * line is a Location header, the second the Set-Cookie values (';'-joined
 * lines become separate cookies with '|'), the rest a response body. They
 * go through correl_response_id, vstate_take_cookies and auth_tokens, and
 * the invariants are checked:
 *  - an id fits its buffer, is not empty and holds no '/', '?', '#',
 *    blank, quote or control byte (it goes into a path);
 *  - the cookie jar stays within VSTATE_JAR_MAX and holds no CR or LF
 *    (it goes into a header line);
 *  - tokens fit their buffers and are NUL-terminated;
 *  - what learned rules take (replay/rules.h: a cookie, a header, a
 *    Location segment, a JSON path of the body) fits its buffer, is not
 *    empty and is as long as it says; putting values back into a body and
 *    a target keeps them well-formed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "correl.h"
#include "jpath.h"
#include "rules.h"
#include "vstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok) abort();
}

static void check_id(const char *id, size_t n, size_t cap) {
  if (!n) return;
  check(n < cap && strlen(id) == n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    check(c > ' ' && c < 0x7f && !strchr("/?#\"\\", c));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *loc = text, *cookies = NULL, *body = NULL;
  char *nl = memchr(text, '\n', size);
  if (nl) {
    *nl = '\0';
    cookies = nl + 1;
    char *nl2 = strchr(cookies, '\n');
    if (nl2) {
      *nl2 = '\0';
      body = nl2 + 1;
    }
  }
  size_t blen = body ? size - (size_t)(body - text) : 0;

  char id[64];
  size_t n = correl_response_id(loc, body, blen, id, sizeof id);
  check_id(id, n, sizeof id);
  n = correl_location_id(loc, id, 8);
  check_id(id, n, 8);

  struct vstate *v;
  if (cookies && vstate_new(1, 0, &v) == 0) {
    for (char *p = cookies; *p; p++)
      if (*p == '|') *p = '\n';
    for (int round = 0; round < 2; round++) {
      check(vstate_take_cookies(v, cookies) >= 0);
      const char *jar = vstate_cookies(v);
      if (jar) {
        check(strlen(jar) <= VSTATE_JAR_MAX);
        check(!strchr(jar, '\r') && !strchr(jar, '\n'));
      }
    }
    vstate_free(v);
  }

  char out[24];
  static const char *const names[] = {"sid", "x-csrf", "location", "segment:1",
                                      "segment:3"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t k = rules_cookie_value(cookies, names[i], out, sizeof out);
    check(!k || (k < sizeof out && strlen(out) == k));
    k = rules_header_value(cookies, names[i], out, sizeof out);
    check(!k || (k < sizeof out && strlen(out) == k));
    k = rules_location_value(loc, names[i], out, sizeof out);
    check(!k || (k < sizeof out && strlen(out) == k));
  }
  json_t *doc = body ? json_loadb(body, blen, JSON_DECODE_ANY, NULL) : NULL;
  if (doc) {
    static const char *const paths[] = {"$.id", "$.data.id", "$[].id",
                                        "$.a[].b[]", "$.session.key"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
      int num;
      size_t k = jpath_text(jpath_get(doc, paths[i]), out, sizeof out, &num);
      check(!k || (k < sizeof out && out[k] == '\0'));
      jpath_set_new(doc, paths[i], json_string("v"));
    }
    char *txt = json_dumps(doc, JSON_ENCODE_ANY);
    check(txt != NULL);
    free(txt);
    json_decref(doc);
  }
  char target[64];
  snprintf(target, sizeof target, "/a/%.20s?q=1", loc);
  if (strlen(target) < sizeof target - 1) {
    size_t k = rules_set_segment(target, sizeof target, 2, loc);
    check(k < sizeof target && strlen(target) < sizeof target);
    k = rules_set_query(target, sizeof target, "q", loc);
    check(k < sizeof target && strlen(target) < sizeof target);
  }

  char tok[32], rt[16];
  if (auth_tokens(body, blen, tok, sizeof tok, rt, sizeof rt))
    check(tok[0] && strlen(tok) < sizeof tok);
  check(strlen(rt) < sizeof rt);
  free(text);
  return 0;
}
