#include "redact.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hash.h"

/* Names longer than this are only matched on their first bytes: real field
 * names are short, and a bound keeps the check allocation-free. */
#define NAME_MAX_SCAN 256
#define PART_MAX 64

static int is_lower(unsigned char c) {
  return c >= 'a' && c <= 'z';
}
static int is_upper(unsigned char c) {
  return c >= 'A' && c <= 'Z';
}
static int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
static int is_alpha(unsigned char c) {
  return is_lower(c) || is_upper(c);
}
static int is_alnum(unsigned char c) {
  return is_alpha(c) || is_digit(c);
}
static int is_hex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_b64url(unsigned char c) {
  return is_alnum(c) || c == '-' || c == '_';
}
static unsigned char to_lower(unsigned char c) {
  return is_upper(c) ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ---- secret names ---------------------------------------------------- */

/* Contained anywhere in a part: long and specific enough that a match
 * inside a bigger word ("accesstoken", "jsessionid") is still a secret. */
static const char *const strong_words[] = {
    "token",   "secret", "passw",  "passphrase", "credential", "signature",
    "session", "sessid", "apikey", "accesskey",  "privatekey", "secretkey",
    "jwt",     "bearer", "cookie", "csrf",       "xsrf",       "authorization",
};

/* Equal to a whole part: short words that are common inside innocent words
 * ("monkey", "inside", "author"). */
static const char *const exact_words[] = {
    "key",    "pass",   "pwd",  "pw",   "sid",   "auth",  "authn", "authz",
    "oauth",  "sig",    "otp",  "totp", "hotp",  "mfa",   "2fa",   "pin",
    "nonce",  "hmac",   "salt", "cred", "creds", "email", "mail",  "phone",
    "mobile", "msisdn", "ssn",  "iban", "cvv",   "cvc",
};

/* Parts that make a neighbouring "code" an authentication code rather than
 * a country, zip or status code. */
static const char *const code_context[] = {
    "auth",         "authorization", "oauth",        "otp",      "mfa",
    "2fa",          "sms",           "verification", "verify",   "confirm",
    "confirmation", "reset",         "activation",   "recovery", "login",
    "access",       "security",      "invite",       "magic",    "pairing",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct part {
  const char *s; /* lower-cased */
  size_t len;
};

static int part_is(const struct part *p, const char *w) {
  size_t n = strlen(w);
  return p->len == n && memcmp(p->s, w, n) == 0;
}

static int contains(const char *s, size_t len, const char *w) {
  size_t n = strlen(w);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(s + i, w, n) == 0) return 1;
  return 0;
}

static int in_list(const char *s, size_t len, const char *const *list,
                   size_t n) {
  for (size_t i = 0; i < n; i++) {
    size_t wl = strlen(list[i]);
    if (wl == len && memcmp(s, list[i], len) == 0) return 1;
  }
  return 0;
}

/* Exact match ignoring trailing digits ("key2", "oauth2") and one plural
 * 's' ("keys", "tokens"). */
static int part_exact_secret(const struct part *p) {
  size_t len = p->len;
  while (len > 1 && is_digit((unsigned char)p->s[len - 1])) len--;
  if (in_list(p->s, len, exact_words, NELEM(exact_words))) return 1;
  if (len > 2 && p->s[len - 1] == 's' &&
      in_list(p->s, len - 1, exact_words, NELEM(exact_words)))
    return 1;
  return 0;
}

/* Splits lower-cased name into parts; returns how many (at most max). */
static size_t split_parts(const char *name, size_t len, char *low,
                          struct part *parts, size_t max) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i < len; i++)
    low[i] = (char)to_lower((unsigned char)name[i]);
  for (size_t i = 0; i <= len && n < max; i++) {
    int cut = 0, skip = 0;
    if (i == len) {
      cut = 1;
    } else {
      unsigned char c = (unsigned char)name[i];
      if (!is_alnum(c)) {
        cut = 1;
        skip = 1;
      } else if (i > start && is_upper(c)) {
        unsigned char prev = (unsigned char)name[i - 1];
        /* "apiKey", "key2Name" | "APIKey": an upper-case letter starts a
         * word after a lower-case letter or digit, or when it is the last
         * capital of an acronym followed by a lower-case letter. */
        if (is_lower(prev) || is_digit(prev))
          cut = 1;
        else if (is_upper(prev) && i + 1 < len &&
                 is_lower((unsigned char)name[i + 1]))
          cut = 1;
      }
    }
    if (!cut) continue;
    if (i > start) {
      parts[n].s = low + start;
      parts[n].len = i - start;
      n++;
    }
    start = skip ? i + 1 : i;
  }
  return n;
}

int redact_is_secret_name(const char *name, size_t len) {
  char low[NAME_MAX_SCAN];
  struct part parts[NAME_MAX_SCAN / 2 + 1];
  if (len > NAME_MAX_SCAN) len = NAME_MAX_SCAN;
  if (len == 1 && (to_lower((unsigned char)name[0]) == 's' ||
                   to_lower((unsigned char)name[0]) == 'k'))
    return 1;
  size_t n = split_parts(name, len, low, parts, NELEM(parts));
  int has_code = 0, code_ctx = 0;
  for (size_t i = 0; i < n; i++) {
    const struct part *p = &parts[i];
    for (size_t j = 0; j < NELEM(strong_words); j++)
      if (contains(p->s, p->len, strong_words[j])) return 1;
    if (part_exact_secret(p)) return 1;
    if (part_is(p, "code") || part_is(p, "codes"))
      has_code = 1;
    else if (in_list(p->s, p->len, code_context, NELEM(code_context)))
      code_ctx = 1;
  }
  if (has_code && (n == 1 || code_ctx)) return 1;
  return 0;
}

/* ---- secret values --------------------------------------------------- */

int redact_is_email(const char *v, size_t len) {
  size_t at = len, atlen = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] == '@') {
      if (at != len) return 0;
      at = i;
      atlen = 1;
    } else if (v[i] == '%' && i + 2 < len && v[i + 1] == '4' &&
               v[i + 2] == '0') {
      if (at != len) return 0;
      at = i;
      atlen = 3;
      i += 2;
    }
  }
  if (at == len || at == 0 || at > 64) return 0;
  for (size_t i = 0; i < at; i++) {
    unsigned char c = (unsigned char)v[i];
    if (!is_alnum(c) && !strchr("._%+-'", c)) return 0;
  }
  /* Domain: labels of letters, digits and '-', at least two, the last
   * (top-level) made of 2+ letters. */
  size_t d = at + atlen, labels = 0, lab = 0, tld_alpha = 1;
  if (d >= len) return 0;
  for (size_t i = d; i <= len; i++) {
    if (i == len || v[i] == '.') {
      if (lab == 0) return 0;
      labels++;
      if (i == len && (lab < 2 || !tld_alpha)) return 0;
      lab = 0;
      tld_alpha = 1;
      continue;
    }
    unsigned char c = (unsigned char)v[i];
    if (!is_alnum(c) && c != '-') return 0;
    if (!is_alpha(c)) tld_alpha = 0;
    lab++;
  }
  return labels >= 2;
}

/* Counts changes between lower / upper / digit classes of adjacent
 * characters, except upper -> lower, which starts every CamelCase word. */
static size_t class_changes(const char *v, size_t len, size_t *alnum,
                            int *digit, int *lower, int *upper) {
  size_t changes = 0;
  int prev = 0; /* 0 none, 1 lower, 2 upper, 3 digit */
  *alnum = 0;
  *digit = *lower = *upper = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    int cls = is_lower(c) ? 1 : is_upper(c) ? 2 : is_digit(c) ? 3 : 0;
    if (cls == 1) *lower = 1;
    if (cls == 2) *upper = 1;
    if (cls == 3) *digit = 1;
    if (cls) (*alnum)++;
    if (cls && prev && cls != prev && !(prev == 2 && cls == 1)) changes++;
    prev = cls;
  }
  return changes;
}

int redact_is_token(const char *v, size_t len) {
  if (len < 20) return 0;
  size_t pad = 0;
  while (pad < len && v[len - 1 - pad] == '=') pad++;
  if (pad > 2) return 0;
  for (size_t i = 0; i < len - pad; i++) {
    unsigned char c = (unsigned char)v[i];
    if (!is_b64url(c) && c != '+' && c != '/') return 0;
  }
  size_t alnum;
  int digit, lower, upper;
  size_t ch = class_changes(v, len - pad, &alnum, &digit, &lower, &upper);
  (void)lower;
  (void)upper;
  return digit && ch >= 3 && ch * 4 >= alnum;
}

int redact_is_jwt(const char *v, size_t len) {
  size_t seg[3] = {0, 0, 0}, n = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '.') {
      if (++n > 2) return 0;
      continue;
    }
    if (!is_b64url(c)) return 0;
    seg[n]++;
  }
  /* An unsigned JWT ("alg": "none") has an empty third part. */
  if (n != 2 || seg[0] < 4 || seg[1] < 4) return 0;
  if (len >= 3 && memcmp(v, "eyJ", 3) == 0) return 1;
  if (seg[0] < 10 || seg[1] < 10 || seg[2] < 10) return 0;
  size_t alnum;
  int digit, lower, upper;
  size_t ch = class_changes(v, len, &alnum, &digit, &lower, &upper);
  return digit && lower && upper && ch * 4 >= alnum;
}

static int has_prefix_ci(const char *v, size_t len, const char *p) {
  size_t n = strlen(p);
  if (len < n) return 0;
  for (size_t i = 0; i < n; i++)
    if (to_lower((unsigned char)v[i]) != (unsigned char)p[i]) return 0;
  return 1;
}

int redact_is_secret_value(const char *v, size_t len) {
  if ((has_prefix_ci(v, len, "bearer ") && len > 7) ||
      (has_prefix_ci(v, len, "basic ") && len > 6))
    return 1;
  /* Random hex (hashes, ids of 20+ digits) passes the token test, and
   * low-entropy runs such as "aaaa...1" are not secrets. */
  return redact_is_email(v, len) || redact_is_jwt(v, len) ||
         redact_is_token(v, len);
}

/* ---- fakes ----------------------------------------------------------- */

size_t redact_fake(const uint64_t salt[2], const char *value, size_t len,
                   char *out, size_t outlen) {
  if (outlen == 0) return 0;
  uint64_t h = hash_sip(salt, value, len);
  if (redact_is_email(value, len)) {
    int n = snprintf(out, outlen, "u%012" PRIx64 "@example.invalid",
                     h & UINT64_C(0xffffffffffff));
    if (n < 0) {
      out[0] = '\0';
      return 0;
    }
    return (size_t)n < outlen ? (size_t)n : outlen - 1;
  }
  if (len < 4) {
    static const char red[] = "<redacted>";
    size_t n = sizeof red - 1 < outlen - 1 ? sizeof red - 1 : outlen - 1;
    memcpy(out, red, n);
    out[n] = '\0';
    return n;
  }
  int hexonly = 1;
  for (size_t i = 0; i < len && hexonly; i++)
    hexonly = is_hex((unsigned char)value[i]);
  size_t n = len < outlen - 1 ? len : outlen - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)value[i];
    /* One keyed draw per position: h is a PRF of the value under the
     * secret salt, so the mixed stream tells nothing about the value. */
    uint64_t x = hash_mix(h, i);
    if (is_digit(c)) {
      int first = i == 0 || !is_digit((unsigned char)value[i - 1]);
      if (first && c != '0')
        out[i] = (char)('1' + x % 9);
      else
        out[i] = (char)('0' + x % 10);
    } else if (is_lower(c)) {
      out[i] = (char)('a' + x % (hexonly ? 6 : 26));
    } else if (is_upper(c)) {
      out[i] = (char)('A' + x % (hexonly ? 6 : 26));
    } else {
      out[i] = (char)c;
    }
  }
  out[n] = '\0';
  return n;
}

static int urandom_fill(void *buf, size_t len) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  unsigned char *p = buf;
  int rc = 0;
  while (len > 0) {
    ssize_t got = read(fd, p, len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      rc = got < 0 ? -errno : -EIO;
      break;
    }
    p += got;
    len -= (size_t)got;
  }
  close(fd);
  return rc;
}

int redact_new_salt(uint64_t salt[2]) {
  unsigned char buf[16];
  size_t have = 0;
  while (have < sizeof buf) {
    ssize_t got = getrandom(buf + have, sizeof buf - have, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      /* Old kernels (ENOSYS) or seccomp filters (EPERM): fall back. */
      int rc = urandom_fill(buf + have, sizeof buf - have);
      if (rc) return rc;
      break;
    }
    have += (size_t)got;
  }
  memcpy(&salt[0], buf, 8);
  memcpy(&salt[1], buf + 8, 8);
  return 0;
}
