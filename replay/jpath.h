/* jpath: the JSON paths that capture writes for body fields and
 * correlation rules ("$", "$.user.name", "$.items[].id", "$[].id"):
 * reading a value out of a response, and putting one into a request body
 * being built. A path is "$" followed by ".key" and "[]" steps; a key runs
 * to the next '.' or '[' (capture writes keys as they are). */
#ifndef MIMIC_JPATH_H
#define MIMIC_JPATH_H

#include <jansson.h>
#include <stddef.h>

/* The value at path in root (borrowed), or NULL. A "[]" step takes the
 * first element of the array. */
json_t *jpath_get(const json_t *root, const char *path);

/* Puts val at path in root, making the objects and arrays on the way; a
 * "[]" step goes into every element of the array (a missing or empty one
 * gets one element). Takes val, also on failure. Returns 0, ERR_PARSE for
 * a path that is not of the form or that crosses a value of another kind
 * (a string where an object must be), or -ENOMEM. The root itself ("$")
 * is never replaced. */
int jpath_set_new(json_t *root, const char *path, json_t *val);

/* The text of a scalar: a string as it is, integers in decimal, reals in
 * the shortest form that reads back the same. *numeric (may be NULL) is 1
 * for numbers. Writes it NUL-terminated into out; returns its length, 0
 * when v is no string or number, is "", or does not fit in cap-1. */
size_t jpath_text(const json_t *v, char *out, size_t cap, int *numeric);

/* The last key of a path ("name" of "$.user.name", "tags" of "$.tags[]"),
 * *len bytes at the returned pointer ("" for "$"). */
const char *jpath_last_key(const char *path, size_t *len);

#endif
