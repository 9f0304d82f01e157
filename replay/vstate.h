/* vstate: what one virtual user keeps between requests once its session
 * is stateful: its bearer token, its cookies, the ids of what its session
 * created (a few live ones per collection, newest last), and the values
 * that learned correlation rules took from answers (replay/rules.h). (Its
 * identity needs no room: a row of --credentials, or made up from the run
 * id and the user number.)
 *
 * A user gets one only when it needs it (replay/flow.c allocates it at the
 * first stateful step), so the thinking users of a stateless model stay as
 * small as before. Everything is bounded: ids are at most VSTATE_IDS per
 * collection and VSTATE_ID_MAX bytes, the cookie jar VSTATE_JAR_MAX bytes,
 * the token VSTATE_TOKEN_MAX.
 *
 * Cookies are kept here rather than in curl's cookie engine: curl keeps
 * cookies per easy handle (or per share handle), and easy handles belong to
 * the request slots that all users share; a share handle per user would
 * cost kilobytes and a lock per request. One target means no domain to
 * match, so the jar is name=value pairs sent back as one Cookie header. */
#ifndef MIMIC_VSTATE_H
#define MIMIC_VSTATE_H

#include <stddef.h>
#include <stdint.h>

#define VSTATE_IDS 8
#define VSTATE_ID_MAX 256
#define VSTATE_JAR_MAX 4096
#define VSTATE_TOKEN_MAX 8192
#define VSTATE_VALS 4 /* values kept per learned variable */
#define VSTATE_VALUE_MAX 8192

struct vstate;

/* A state for a model with nslots collections and nvars variables of
 * learned rules. Room for ids and values is made on their first use.
 * 0 or -ENOMEM. */
int vstate_new(uint32_t nslots, uint32_t nvars, struct vstate **out);
void vstate_free(struct vstate *v);

/* A new session: its created ids and the values of learned variables not
 * marked VSTATE_STICKY are forgotten; token, cookies and sticky values stay
 * with the user. */
void vstate_session_reset(struct vstate *v);

/* ---- token ---- */
/* Sets the bearer token (NULL or n == 0 clears it). 0, ERR_LIMIT (too
 * long: the old one is kept) or -ENOMEM. */
int vstate_set_token(struct vstate *v, const char *t, size_t n);
const char *vstate_token(const struct vstate *v);
int vstate_set_refresh(struct vstate *v, const char *t, size_t n);
const char *vstate_refresh(const struct vstate *v);
/* Login state: 1 while a login the run must send first is due. */
void vstate_set_need_login(struct vstate *v, int need);
int vstate_need_login(const struct vstate *v);

/* A fault drawn while the user was logging in, kept for its next request
 * (FAULT_NONE: none). */
void vstate_set_pending_fault(struct vstate *v, uint8_t kind);
uint8_t vstate_pending_fault(const struct vstate *v);

/* ---- cookies ---- */
/* Takes the Set-Cookie values of an answer (one per line): sets or
 * replaces each name=value, removes those with Max-Age=0 or an empty
 * value. A cookie that would grow the jar past VSTATE_JAR_MAX is dropped.
 * Returns how many cookies changed, or -ENOMEM. */
int vstate_take_cookies(struct vstate *v, const char *lines);
/* The Cookie header value ("a=1; b=2"), or NULL when the jar is empty. */
const char *vstate_cookies(const struct vstate *v);

/* ---- created ids ---- */
/* Binds id as the newest of slot (the oldest goes beyond VSTATE_IDS),
 * with seq, its row in the journal (0: none). 0, ERR_LIMIT (too long:
 * ignored) or -ENOMEM. */
int vstate_push_id(struct vstate *v, uint32_t slot, const char *id,
                   int64_t seq);
/* The newest live id of slot, or NULL. */
const char *vstate_id(const struct vstate *v, uint32_t slot);
/* The newest id bound in any slot this session, or NULL. */
const char *vstate_last_id(const struct vstate *v);
/* Forgets id in slot (it was deleted); returns its journal row (0: none,
 * or not one of the session's ids). */
int64_t vstate_drop_id(struct vstate *v, uint32_t slot, const char *id);
/* Creates journalled for this user, over its sessions (so that a new
 * token is worth telling the journal). */
void vstate_count_journalled(struct vstate *v);
uint32_t vstate_journalled(const struct vstate *v);
/* Creates journalled in the current session (so that its end is worth
 * telling the journal). */
void vstate_count_create(struct vstate *v);
uint32_t vstate_creates(const struct vstate *v);

/* ---- values of learned correlation rules ---- */
enum {
  VSTATE_NUMERIC = 1, /* the answer gave a JSON number */
  VSTATE_STICKY = 2,  /* kept across sessions (a credential) */
};
/* Binds val (n bytes) as the newest value of variable var (the oldest
 * goes beyond VSTATE_VALS; a value already bound moves up). Every set
 * gets the next number of the user's sets, so that of two variables the
 * one set last can be told. 0, ERR_LIMIT (too long, or var out of range:
 * ignored) or -ENOMEM. */
int vstate_set_value(struct vstate *v, uint32_t var, const char *val, size_t n,
                     unsigned flags);
/* The newest value of var, or NULL; *seq (when set, may be NULL) is the
 * number of its set, *flags its flags. */
const char *vstate_value(const struct vstate *v, uint32_t var, uint32_t *seq,
                         unsigned *flags);
/* Forgets val in every variable (the resource it named was deleted): the
 * older values of those variables come up. Returns how many went. */
uint32_t vstate_drop_value(struct vstate *v, const char *val, size_t n);

#endif
