/* auth: identities and logins of virtual users.
 *
 * --credentials FILE (CSV: username,password[,extra fields]; a first line
 * "username,password,..." is a header) gives user n the row (n-1) mod rows.
 * The login endpoint is named with --login 'POST /path', or found in the
 * model: a POST whose last segment is login, log-in, signin, sign-in,
 * authenticate, token, tokens, session or sessions. Its answer's token
 * (JSON "token", "access_token", "accessToken", "jwt", "id_token",
 * "auth_token", also inside "data") is sent afterwards as "Authorization:
 * Bearer"; cookies it sets are kept too. A refresh endpoint (last segment
 * refresh, refresh-token, refresh_token) replaces the token, a logout
 * (logout, log-out, signout, sign-out) drops it. Without credentials, a
 * sign-up (a POST on signup, sign-up, register, registration, users or
 * accounts) makes up an identity that later logins use. */
#ifndef MIMIC_AUTH_H
#define MIMIC_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct model;
struct auth;

enum auth_role {
  AUTH_NONE = 0,
  AUTH_LOGIN,
  AUTH_REFRESH,
  AUTH_LOGOUT,
  AUTH_SIGNUP,
};

struct auth_cred {
  char *user, *password;
  char **extra;
  size_t nextra;
};

#define AUTH_NO_LOGIN (-1)
#define AUTH_EXTRA (-2) /* --login names an endpoint the model lacks */

/* Loads credentials (cred_path may be NULL) and finds the login, refresh,
 * logout and sign-up endpoints of m; login_spec ("POST /path", may be
 * NULL) overrides the login found. Returns 0, or ERR_USAGE / ERR_PARSE /
 * -errno with a message in err. */
int auth_new(const struct model *m, const char *cred_path,
             const char *login_spec, struct auth **out, char *err,
             size_t errlen);
void auth_free(struct auth *a);

/* What endpoint ep does for authentication. */
enum auth_role auth_role(const struct auth *a, uint32_t ep);
/* The login endpoint: a model endpoint, AUTH_EXTRA or AUTH_NO_LOGIN. */
int64_t auth_login(const struct auth *a);
/* Method and path of the login (also for AUTH_EXTRA), or NULL. */
const char *auth_login_method(const struct auth *a);
const char *auth_login_path(const struct auth *a);

/* Credentials: how many rows, and user id's (1-based) row (NULL: none). */
size_t auth_ncreds(const struct auth *a);
const struct auth_cred *auth_cred(const struct auth *a, uint64_t user_id);

/* The bearer token and refresh token of a login or refresh answer.
 * Writes NUL-terminated strings (truncated answers or missing fields give
 * ""). Returns 1 when a token was found, else 0. */
int auth_tokens(const char *body, size_t len, char *token, size_t tcap,
                char *refresh, size_t rcap);

#endif
