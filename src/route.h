/* route: finds the endpoint template a request path belongs to
 * ("/users/8127/profile" -> "/users/{id}/profile"), for the mock server
 * and for matching one model's endpoints onto another's in compare.
 *
 * Templates are split into '/' segments; a segment is literal text, a
 * variable ("{name}": any non-empty text; the templater's typed names
 * "{id}", "{uuid}", "{hex}", "{hash}", "{num}", "{date}", "{email}",
 * "{ip}" accept only text of their type) or a pattern with one variable
 * and literal text around it ("{name}.csv", "v{n}"). Per method, the
 * templates form a segment trie built once. At each segment a literal
 * child wins over patterns (longer literal text first, typed variables
 * before untyped ones), and patterns over a bare variable; when a branch
 * leads nowhere the next one is tried, so
 * "/users/me" and "/users/{id}/posts" coexist. A catch-all endpoint (the
 * templater's "/{path}", whose variable takes the whole rest of the path)
 * is the last resort of its method. A template text can be matched like
 * a path: "{id}" in it fits variables named id and untyped ones
 * ("/blog/{id}" finds "/blog/{id}" before "/blog/{name}"). */
#ifndef MIMIC_ROUTE_H
#define MIMIC_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_SEGMENTS 64 /* longer paths only reach a catch-all */

struct route;

int route_new(struct route **out);
void route_free(struct route *r);

/* Adds endpoint `id` with method and template (both copied). catch_all:
 * the template's single variable spans the rest of the path (any number of
 * segments). The first template added wins over an identical later one.
 * Returns 0, -ENOMEM, or ERR_LIMIT for a template of more than
 * ROUTE_MAX_SEGMENTS segments. Not after route_build. */
int route_add(struct route *r, const char *method, const char *templ,
              int catch_all, uint32_t id);

/* Orders every node's children for matching. Call once, after the last
 * route_add and before route_match. Returns 0 or -ENOMEM. */
int route_build(struct route *r);

/* The endpoint id of method + path (path[0..plen), without the query
 * string), or -1 when nothing matches. Allocates nothing; a built route
 * may be shared by threads. */
int64_t route_match(const struct route *r, const char *method, size_t mlen,
                    const char *path, size_t plen);

#endif
