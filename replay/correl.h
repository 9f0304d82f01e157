/* correl: correlation rules: which values a session takes from the
 * target's answers, and where it uses them.
 *
 * For a model learned from logs the rule is the REST one: a POST on a
 * collection C (an endpoint "POST C" where the model also has endpoints
 * "C/{param}...") creates a resource; its id (the last segment of the
 * Location header, or an id-like field of the JSON answer) is bound to the
 * session, and later requests of the same session on "C/{param}..." use it
 * for that {param} (the newest live one). A DELETE on "C/{param}" ends it.
 * Nested collections work the same way ("POST /posts/{id}/comments" feeds
 * "/posts/{id}/comments/{cid}", its {id} fed by posts).
 *
 * Collections are numbered (slots); a session keeps a few live ids per
 * slot (replay/vstate.h). Rules are read-only after correl_new. */
#ifndef MIMIC_CORREL_H
#define MIMIC_CORREL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct correl;

/* The i-th path parameter of an endpoint's template (counted as the
 * synthesizer counts them: only {name}s naming a path parameter of the
 * endpoint) takes its value from slot. */
struct correl_use {
  uint32_t index;
  uint32_t slot;
};

/* Compiles the rules of m. Returns 0 or -ENOMEM. */
int correl_new(const struct model *m, struct correl **out);
void correl_free(struct correl *c);

/* Collections found (0: the model has no create to correlate). */
uint32_t correl_slots(const struct correl *c);
/* Template of a slot's collection ("/api/posts") and its last literal
 * segment ("posts": the name of {{created.posts.id}}). */
const char *correl_slot_template(const struct correl *c, uint32_t slot);
const char *correl_slot_name(const struct correl *c, uint32_t slot);
/* The slot of a name, or -1. */
int32_t correl_slot_by_name(const struct correl *c, const char *name,
                            size_t len);

/* The slot endpoint ep creates in, or -1 when it is no create. */
int32_t correl_creates(const struct correl *c, uint32_t ep);
/* For a DELETE on "C/{param}": C's slot, and the index of that param;
 * -1 otherwise. */
int32_t correl_deletes(const struct correl *c, uint32_t ep, uint32_t *index);
/* The path parameters of ep fed by sessions' values (n of them). */
const struct correl_use *correl_uses(const struct correl *c, uint32_t ep,
                                     size_t *n);
/* Path parameters of ep in all (the size an override array needs). */
uint32_t correl_nparams(const struct correl *c, uint32_t ep);
/* The index of ep's path parameter that is last in its template, or -1. */
int32_t correl_last_param(const struct correl *c, uint32_t ep);

/* ---- values out of answers ------------------------------------------ */

/* The id of a created resource: the last path segment of location (an
 * absolute or relative URL), else an id-like field of the JSON body
 * ("id", "uuid", "_id", "ID", "Id", also inside "data"/"item"/"result").
 * Writes it NUL-terminated into out; returns its length, 0 when none (or
 * longer than cap-1, or not a plain token). */
size_t correl_response_id(const char *location, const char *body,
                          size_t body_len, char *out, size_t cap);
/* The same for a parsed JSON object. */
size_t correl_json_id(const json_t *obj, char *out, size_t cap);
/* The last path segment of a URL. */
size_t correl_location_id(const char *location, char *out, size_t cap);

#endif
