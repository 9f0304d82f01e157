/* urlenc: decoding of percent-encoded text (paths, query strings and form
 * bodies), shared by the log learner and the packet learners. */
#ifndef MIMIC_URLENC_H
#define MIMIC_URLENC_H

#include <stddef.h>

/* Decodes p[0..n) into out (at most cap bytes): "%XX" with two hex digits
 * becomes that byte, '+' a space (form encoding); anything else, a '%'
 * without two hex digits included, is copied. Returns the bytes written. */
size_t urlenc_decode(const char *p, size_t n, char *out, size_t cap);

#endif
