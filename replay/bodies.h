/* bodies: request bodies. --bodies FILE.json maps endpoints to JSON body
 * templates:
 *
 *   { "POST /api/posts": {"title": "{{random.text}}", "views":
 * "{{random.int}}"}, "POST /api/posts/{id}/comments": {"postId":
 * "{{created.posts.id}}"}, "POST /api/auth/login": {"user":
 * "{{user.username}}", "pass": "{{user.password}}"} }
 *
 * Placeholders (inside JSON strings): user.username user.name user.email
 * user.password user.id user.extra1..N; random.int random.word random.text
 * random.email random.uuid random.bool; created.id (the newest id the
 * session created) and created.NAME.id (of collection NAME); run.id
 * run.marker; session.refresh_token. A placeholder that is a whole string
 * ("{{random.int}}") becomes a bare JSON number or boolean when its value
 * is one. Every string the run makes up carries the run marker
 * ("sim_<runid>_..."; uuids start with the run id) so that what a run
 * created can be recognised later.
 *
 * Without a template, logins send {"username", "password"} and sign-ups
 * {"username", "email", "password"}; other endpoints send no body.
 * The module also makes the bodies of the invalid-body fault: malformed
 * JSON, or the template with every value of the wrong type and an "id"
 * that no schema accepts. Read-only after bodies_new. */
#ifndef MIMIC_BODIES_H
#define MIMIC_BODIES_H

#include <stddef.h>
#include <stdint.h>

struct model;
struct auth_cred;
struct correl;
struct rng;
struct vstate;
struct bodies;
struct bodies_tpl;

/* Bodies for the endpoints of m (and the login named login_method +
 * login_path when it is not one of them), from path (NULL: defaults
 * only). c names the collections of created.NAME.id (may be NULL).
 * Returns 0, or ERR_USAGE / ERR_PARSE with a message in err, -ENOMEM. A
 * key naming no endpoint is reported in warn (if not NULL) and skipped. */
int bodies_new(const char *path, const struct model *m,
               const char *login_method, const char *login_path,
               const struct correl *c, const char *run_id, struct bodies **out,
               char *err, size_t errlen, char *warn, size_t warnlen);
void bodies_free(struct bodies *b);

/* Templates given in the file. */
size_t bodies_given(const struct bodies *b);

/* The template of endpoint ep (the login: ep == -2), or NULL. */
const struct bodies_tpl *bodies_for(const struct bodies *b, int64_t ep);
/* The built-in login and sign-up templates. */
const struct bodies_tpl *bodies_login(const struct bodies *b);
const struct bodies_tpl *bodies_signup(const struct bodies *b);
const struct bodies_tpl *bodies_refresh(const struct bodies *b);

struct bodies_ctx {
  struct rng *rng;
  uint64_t user;                /* virtual user id */
  const struct auth_cred *cred; /* its credentials; NULL: made up from
                                   the run id and user (a sign-up) */
  const struct vstate *vs;      /* created ids, refresh token; may be
                                   NULL */
  int wrong_password;           /* user.password is made up (bad-login) */
};

/* Renders t into buf (NUL-terminated). tag receives the first made-up
 * marker string of the body ("" when none): the journal finds a create by
 * it. Returns the length, or (size_t)-1 when it does not fit in cap. */
size_t bodies_render(const struct bodies *b, const struct bodies_tpl *t,
                     const struct bodies_ctx *ctx, char *buf, size_t cap,
                     char *tag, size_t tagcap);

/* The identity user.username, user.email and user.password give in ctx
 * (a row of --credentials, or made up from the run and user; a wrong
 * password when ctx->wrong_password): for bodies made another way (replay/
 * shapes.h). */
struct bodies_ident {
  char user[256], email[320], password[256];
};
void bodies_identity(const struct bodies *b, const struct bodies_ctx *ctx,
                     struct bodies_ident *out);

/* Bodies of the invalid-body fault, for t (NULL: an endpoint without a
 * template): text that is not JSON; or a JSON object of the template's
 * shape with every value of the wrong type and an "id" that is a list. */
const char *bodies_malformed(const struct bodies *b);
const char *bodies_violating(const struct bodies *b,
                             const struct bodies_tpl *t);

/* The run marker: "sim_<runid>". */
const char *bodies_marker(const struct bodies *b);

#endif
