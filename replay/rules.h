/* rules: the correlation rules capture learned from packets (the model's
 * `correlation` table), compiled for replay. A rule says that a value an
 * answer of src_endpoint gave (a JSON path of its body, a header, a
 * Set-Cookie, its Location or a segment of it) was sent back by a later
 * request of the same session to dst_endpoint (as a path segment, a query
 * parameter, a JSON or form field, a header such as Authorization, or a
 * cookie).
 *
 * Each distinct source (endpoint, where, name) is a variable: answers of
 * the source endpoint set it in the virtual user's state (replay/vstate),
 * and each place a request puts a value (a "put") has the variables that
 * fed it in the capture as candidates, of which the one set last is used
 * (the capture, too, credits the newest answer that gave the value).
 * Rules seen for less than RULES_MIN_SHARE of their destination's
 * requests are dropped as coincidences. Variables that feed a header or a
 * cookie are credentials: they stay with the user across sessions; the
 * others (ids) are forgotten when a session ends.
 *
 * Read-only after rules_new: shared by the worker threads. */
#ifndef MIMIC_RULES_H
#define MIMIC_RULES_H

#include <stddef.h>
#include <stdint.h>

struct model;
struct vstate;
struct engine_result;
struct rules;

#define RULES_MIN_SHARE 0.05

/* Where a value is taken or put (the model's src_loc / dst_loc). */
enum rules_loc {
  RL_PATH = 0, /* put: a path segment */
  RL_QUERY,    /* put: a query parameter */
  RL_JSON,     /* a JSON path of the body (form fields too) */
  RL_HEADER,   /* a header ("authorization": the credential after the
                  scheme) */
  RL_COOKIE,   /* take: a Set-Cookie; put: a Cookie pair */
  RL_LOCATION, /* take: the Location, or a segment of its path */
  RL_LOCS
};

/* One place where requests of an endpoint put a value. */
struct rules_put {
  uint8_t loc;          /* RL_PATH .. RL_COOKIE */
  uint32_t seg;         /* RL_PATH: the segment, 1-based */
  const char *name;     /* query parameter, "$.path", lower-case header,
                           cookie ("segment:N" for RL_PATH) */
  const char *scheme;   /* "authorization": the learned scheme ("Bearer") */
  const uint32_t *vars; /* candidate variables, most seen first */
  uint32_t nvars;
};

/* Compiles the rules of m. *out is set also when m has none (then
 * rules_count is 0). Returns 0 or -ENOMEM. */
int rules_new(const struct model *m, struct rules **out);
void rules_free(struct rules *r);

/* Rules kept, and the variables they read. */
size_t rules_count(const struct rules *r);
uint32_t rules_nvars(const struct rules *r);
/* 1 when variable var feeds a header or cookie (kept across sessions). */
int rules_sticky(const struct rules *r, uint32_t var);

/* What answers of ep must capture for the rules: ENGINE_CAP_* bits (0:
 * nothing, ep is no source), and the lower-case names of the headers
 * beyond Location and Set-Cookie (*names, *n; may be NULL). */
unsigned rules_capture(const struct rules *r, uint32_t ep,
                       const char *const **names, size_t *n);

/* Takes the values an answer of ep gives (res: its status must be 2xx or
 * 3xx, checked here) into v. Returns how many variables were set, or
 * -ENOMEM. */
int rules_take(const struct rules *r, uint32_t ep,
               const struct engine_result *res, struct vstate *v);

/* The puts of ep's requests (NULL, *n = 0 when none). */
const struct rules_put *rules_puts(const struct rules *r, uint32_t ep,
                                   size_t *n);
/* The value for p in v: of its candidates, the one set last; NULL when
 * none has a value. *flags (may be NULL) gets its VSTATE_* flags. */
const char *rules_value(const struct rules_put *p, const struct vstate *v,
                        unsigned *flags);

/* ---- putting values into a request (buffers NUL-terminated) ---------- */

/* Replaces segment seg (1-based) of target's path with val,
 * percent-encoded. Returns the new length, or 0 (target unchanged) when
 * the path has no such segment or the result does not fit in cap. */
size_t rules_set_segment(char *target, size_t cap, uint32_t seg,
                         const char *val);
/* Sets query parameter name of target to val (replacing its first
 * occurrence, else appending), percent-encoded. Returns the new length,
 * or 0 (unchanged) when it does not fit. */
size_t rules_set_query(char *target, size_t cap, const char *name,
                       const char *val);
/* The Cookie value of jar (may be NULL) with name=val set (replaced or
 * appended) into out. Returns its length, 0 when it does not fit or the
 * value holds a ';', CR, LF or blank. */
size_t rules_set_cookie(char *out, size_t cap, const char *jar,
                        const char *name, const char *val);

/* ---- taking values out of answers (for tests and the fuzz target) ---- */

/* The value of cookie name in Set-Cookie lines ("a=1; Path=/\n..."), of
 * header name in "name: value\n" lines, or of location (whole, or
 * "segment:N"). Each writes it NUL-terminated into out and returns its
 * length; 0 when absent, empty or not fitting in cap-1. */
size_t rules_cookie_value(const char *lines, const char *name, char *out,
                          size_t cap);
size_t rules_header_value(const char *lines, const char *name, char *out,
                          size_t cap);
size_t rules_location_value(const char *location, const char *name, char *out,
                            size_t cap);

#endif
