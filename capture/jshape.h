/* jshape: the shape of the JSON (or form) bodies of one endpoint and
 * direction: which fields appear ("$.user.name", "$.items[].id"), how
 * often, with which JSON types, and bounded pools of their values. Values
 * of secret fields (password, token, e-mail, ... by name, or secret-looking
 * values) are never kept: the pool holds format-preserving fakes
 * (src/redact.h). Memory is bounded by the field and pool caps. */
#ifndef MIMIC_JSHAPE_H
#define MIMIC_JSHAPE_H

#include <stddef.h>
#include <stdint.h>

struct jshape;
struct topk;

/* JSON types, as bits of jshape_field.types. */
enum {
  JS_STRING = 1,
  JS_INTEGER = 2,
  JS_REAL = 4,
  JS_BOOL = 8,
  JS_NULL = 16,
  JS_OBJECT = 32,
  JS_ARRAY = 64,
};

struct jshape_field {
  const char *path; /* "$.a.b", "$.list[].id" */
  unsigned types;
  uint64_t count;    /* bodies in which it appeared */
  uint64_t redacted; /* values replaced by fakes */
  const struct topk *pool;
};

int jshape_new(const uint64_t salt[2], struct jshape **out);
void jshape_free(struct jshape *j);

/* Learns one body: JSON, or (form = 1) application/x-www-form-urlencoded.
 * After 256 bodies, one in 16 is learned (shapes settle early; presence
 * and pools are over the bodies learned).
 * Returns 0, ERR_PARSE when it is not valid JSON (counted, nothing
 * learned), or -ENOMEM. */
int jshape_add(struct jshape *j, const uint8_t *body, size_t len, int form);

/* Bodies learned from, and offered in all. */
uint64_t jshape_bodies(const struct jshape *j);
uint64_t jshape_seen(const struct jshape *j);
uint64_t jshape_invalid(const struct jshape *j);
size_t jshape_nfields(const struct jshape *j);
const struct jshape_field *jshape_field(const struct jshape *j, size_t i);

/* "string", "integer", "string|null", ... into buf. */
const char *jshape_types(unsigned types, char *buf, size_t len);

/* 1 when the last part of a JSON path or form name names a secret. */
int jshape_secret_key(const char *key, size_t len);

#endif
