/* templ: learns endpoint templates from a stream of (method, path) pairs,
 * e.g. GET /api/v1/users/8127/profile -> GET /api/v1/users/{id}/profile.
 *
 * Two stages, both streaming:
 *  A. typed masks per path segment (the stem before a trailing ".ext" is
 *     masked, the extension kept): uuid -> {uuid}, integer -> {id}, decimal
 *     -> {num}, 32/40/64 hex -> {hash}, other hex of 16+ chars with a digit
 *     -> {hex}, ISO date/time -> {date}, e-mail -> {email}, IPv4/IPv6 ->
 *     {ip}, base64/base64url-like token of 20+ chars with a digit, or a JWT
 *     -> {token} (redact_is_token / redact_is_jwt); "v1"-style version
 *     segments stay literal, percent-encoded text is kept as it is;
 *  B. cardinality: a prefix tree per method counts hits per node. A
 *     position with more than `collapse_children` distinct literal
 *     children becomes a variable {name} (kept extension: {name}.csv, one
 *     variable per extension) and its literal children are merged into it,
 *     whole subtrees included, except those far more popular than a
 *     typical value: more than 4 times the median hits of the literal
 *     children, or `keep_share` of the node's hits, and at least 8 hits
 *     (/users/me, /cart and /login stay; ids, slugs and scanner junk seen a
 *     few times each fold). Files: `collapse_files` distinct file names of
 *     one extension in one folder fold into {name}.ext the same way,
 *     without making the folder a variable for its other children.
 *     These decisions wait for full counts: they are made by
 *     templ_finalize, except that a position reaching `collapse_hard`
 *     distinct literals (a memory bound) collapses at once; later literals
 *     at a collapsed position go to the variable directly, and its kept
 *     literals are judged again each time its hits double, against the
 *     median grown with the traffic. The empty segment is never folded:
 *     "/a/" (trailing slash) stays apart from "/a" and from "/a/{name}".
 * Because of B an endpoint handle issued early may later be merged into
 * another; templ_resolve() follows merges (union-find), and the merged
 * endpoint's hits and parameter pools add up (a folded literal becomes a
 * value of the new variable, counted as often as it was hit).
 *
 * Parameter values (path positions that are variables) are kept in bounded
 * pools (topk). Values of secret-like types (email, token, hash) are never
 * stored in clear: the pool holds format-preserving fakes made with
 * redact_fake() under the salt, and the parameter is flagged redacted.
 *
 * Memory is bounded: at most max_endpoints live endpoints (plus one
 * catch-all per method), 4 x max_endpoints handles in all, and max_nodes
 * tree nodes. Past a cap, a new path is mapped to its method's catch-all
 * endpoint "/{path}" and counted (templ_capped); so are paths longer than
 * 8192 bytes or of more than 64 segments. The catch-all has one parameter
 * "path" (type "path") whose pool holds the paths without their leading
 * '/', secret-like segments replaced by fakes. Methods are kept as given
 * (up to 32 distinct); further methods, and methods that are not 1-31
 * visible ASCII characters, share the method "OTHER".
 *
 * templ_add never allocates for a path whose nodes and endpoint already
 * exist (only a pool may grow, up to pool_cap). */
#ifndef MIMIC_TEMPL_H
#define MIMIC_TEMPL_H

#include <stddef.h>
#include <stdint.h>

struct templ;
struct topk;

struct templ_opts {
  unsigned collapse_children; /* default 20 when 0 */
  double keep_share;          /* default 0.25 when 0 */
  unsigned collapse_hard;     /* distinct literals at which a position
                                 collapses while streaming (a memory bound;
                                 below it decisions wait for
                                 templ_finalize); default 8 x
                                 collapse_children */
  unsigned collapse_files;    /* distinct files of one extension in a
                                 folder before they become {name}.ext;
                                 default collapse_children / 4, at least 3 */
  size_t max_endpoints;       /* default 20000 when 0 */
  size_t max_nodes;           /* default 200000 when 0 */
  size_t pool_cap;            /* values kept per parameter; default 256 */
  uint64_t salt[2];           /* key for redact_fake */
};

int templ_new(const struct templ_opts *opts, struct templ **out);
void templ_free(struct templ *t);

/* Maps a request to an endpoint handle and records its path parameter
 * values. method is upper-case; path starts with '/' (no query). Handles are
 * dense: 0 .. templ_handles()-1. Returns 0 or -ENOMEM. */
int templ_add(struct templ *t, const char *method, size_t mlen,
              const char *path, size_t plen, uint32_t *ep);

/* Makes the template decisions that wait for full counts: positions with
 * more than collapse_children distinct literals, and folders with
 * collapse_files files of one kind, fold (see B above), judged on every
 * request seen. Call once after the last templ_add; handles issued before
 * resolve to their final endpoints afterwards. Returns 0 or -ENOMEM. */
int templ_finalize(struct templ *t);

/* templ_add for a request whose answer is known: ok = 0 when it failed
 * (4xx/5xx). Popularity that decides which literals stay counts answered
 * requests only, so a scanner's many failing probes never outweigh a real
 * section of the site. templ_add counts every request as ok. */
int templ_add_status(struct templ *t, const char *method, size_t mlen,
                     const char *path, size_t plen, int ok, uint32_t *out);

/* Number of handles issued so far (merged ones included). */
uint32_t templ_handles(const struct templ *t);
/* The live endpoint a handle now belongs to (itself when never merged);
 * compresses the path, hence not const. */
uint32_t templ_resolve(struct templ *t, uint32_t ep);
/* 1 if ep is live (templ_resolve(ep) == ep). */
int templ_is_live(const struct templ *t, uint32_t ep);

/* Of a live endpoint: method, template text ("/users/{id}/profile"), hits.
 * Strings are owned by t and valid until the next templ_add. Given a
 * merged handle, these and the parameter accessors answer for the live
 * endpoint it resolves to; out-of-range handles give NULL / 0. */
const char *templ_method(const struct templ *t, uint32_t ep);
const char *templ_text(const struct templ *t, uint32_t ep);
uint64_t templ_hits(const struct templ *t, uint32_t ep);

/* Path parameters of a live endpoint, in path order. Names are unique
 * within a template ("id", "id2", "name", ...); types are "int", "num",
 * "uuid", "hex", "hash", "date", "email", "ip", "token", "word" (and
 * "path" for the catch-all). A pool is NULL only after an allocation
 * failure lost it. */
size_t templ_nparams(const struct templ *t, uint32_t ep);
const char *templ_param_name(const struct templ *t, uint32_t ep, size_t i);
const char *templ_param_type(const struct templ *t, uint32_t ep, size_t i);
int templ_param_redacted(const struct templ *t, uint32_t ep, size_t i);
const struct topk *templ_param_pool(const struct templ *t, uint32_t ep,
                                    size_t i);

/* Verifies the internal invariants (tree links, child index, endpoint and
 * parameter bookkeeping, union-find roots). For tests and fuzzing; walks
 * everything. Returns 0, or ERR_CORRUPT (src/err.h) on a bug. */
int templ_check(const struct templ *t);

/* Requests mapped to a catch-all endpoint because a cap was reached. */
uint64_t templ_capped(const struct templ *t);
/* Values replaced by fakes, by type name; returns counts for "email",
 * "token", "hash" (other names: 0). */
uint64_t templ_redacted(const struct templ *t, const char *type);

#endif
