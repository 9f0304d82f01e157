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

/* 1 if a query/header/cookie/body field name looks like it carries a secret,
 * else 0. The name is split into word parts at '_', '-', '.', other
 * punctuation and camelCase boundaries ("X-Auth-Token" -> x auth token,
 * "apiKey" -> api key, "APIKey" -> api key), compared case-insensitively:
 *  - a part containing token, secret, passw, passphrase, credential,
 *    signature, session, sessid, apikey, accesskey, privatekey, secretkey,
 *    jwt, bearer, cookie, csrf, xsrf or authorization;
 *  - or a part equal (ignoring trailing digits and one plural 's') to key,
 *    pass, pwd, pw, sid, auth, authn, authz, oauth, sig, otp, totp, hotp,
 *    mfa, 2fa, pin, nonce, hmac, salt, cred, creds, email, mail, phone,
 *    mobile, msisdn, ssn, iban, cvv, cvc;
 *  - or a part "code" when the name is just "code" or names an auth-like
 *    code (auth_code, otpCode, verification-code, reset_code, ...);
 *  - or the whole name "s" or "k".
 * So "monkey", "inside", "keyword", "author", "country_code" are not
 * secret. */
int redact_is_secret_name(const char *name, size_t len);

/* 1 if a value looks like a secret whatever its name (JWT "xxx.yyy.zzz",
 * long base64/hex tokens, e-mail addresses, "Bearer ..." / "Basic ..."
 * credentials), else 0. */
int redact_is_secret_value(const char *value, size_t len);

/* The value detectors redact_is_secret_value combines, for callers that need
 * to know which kind matched (the path templater masks them as types).
 * redact_is_email: local@domain.tld ('@' may be percent-encoded as %40).
 * redact_is_jwt: three base64url parts joined by '.', the first starting
 *   "eyJ" or all three long enough and mixed-class to look random.
 * redact_is_token: 20+ characters of the base64/base64url alphabet ('='
 *   padding only at the end) with a digit and frequent changes between
 *   lower/upper/digit classes, as random strings have and words, slugs
 *   ("logstash-monitorama-2013") and CamelCase names do not. */
int redact_is_email(const char *value, size_t len);
int redact_is_jwt(const char *value, size_t len);
int redact_is_token(const char *value, size_t len);

/* Writes a NUL-terminated fake of value into out (size outlen, >= 64):
 *  - e-mail: "u<12 hex>@example.invalid"
 *  - otherwise the same length (up to outlen-1) and the same character class
 *    at each position (digit -> digit, lower -> lower, upper -> upper, other
 *    characters kept), prefixed by nothing; short values (< 4 chars) become
 *    "<redacted>". Refinements that keep the shape parseable: a value made
 *    only of hex digits stays hex (letters map into a-f / A-F), and the
 *    first digit of a digit run stays non-zero when it was.
 * The same (salt, value) always gives the same fake. Returns the length
 * written (0 when outlen is 0). */
size_t redact_fake(const uint64_t salt[2], const char *value, size_t len,
                   char *out, size_t outlen);

/* Fills salt with fresh randomness (getrandom / /dev/urandom). 0 or -errno. */
int redact_new_salt(uint64_t salt[2]);

#endif
