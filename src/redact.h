/* redact: privacy by default. Decides which names carry secrets and makes
 * format-preserving fakes, so a model can be copied out of production. A fake
 * is a keyed hash (SipHash under a per-capture random salt that is never
 * stored) rendered in the shape of the original: the same input gives the
 * same fake within one capture (distinct counts and frequencies survive),
 * and the original cannot be recovered from the model. */
#ifndef MIMIC_REDACT_H
#define MIMIC_REDACT_H

#include <stddef.h>
#include <stdint.h>

/* 1 if a query/header/cookie/body field name looks like it carries a secret
 * (case-insensitive substring: token, key, secret, pass, pwd, session, sid,
 * auth, sig, signature, credential, code, otp, jwt, bearer, cookie, email,
 * phone, ssn; whole names: "s", "k"), else 0. */
int redact_is_secret_name(const char *name, size_t len);

/* 1 if a value looks like a secret whatever its name (JWT "xxx.yyy.zzz",
 * long base64/hex tokens, e-mail addresses), else 0. */
int redact_is_secret_value(const char *value, size_t len);

/* Writes a NUL-terminated fake of value into out (size outlen, >= 64):
 *  - e-mail: "u<12 hex>@example.invalid"
 *  - otherwise the same length (up to outlen-1) and the same character class
 *    at each position (digit -> digit, lower -> lower, upper -> upper, other
 *    characters kept), prefixed by nothing; short values (< 4 chars) become
 *    "<redacted>".
 * Returns the length written. */
size_t redact_fake(const uint64_t salt[2], const char *value, size_t len,
                   char *out, size_t outlen);

/* Fills salt with fresh randomness (getrandom / /dev/urandom). 0 or -errno. */
int redact_new_salt(uint64_t salt[2]);

#endif
