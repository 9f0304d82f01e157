/* shapes: request bodies synthesized from the shapes capture learned from
 * packets (the model's body_shape, body_field and body_value of direction
 * 'request'), for endpoints that have one and no --bodies template.
 *
 * A body has the learned fields by their presence (a field's presence is
 * over all bodies; inside its parent it is drawn as presence / parent's),
 * nested objects ("$.user.name") and arrays ("$.items[].id", one to three
 * elements), values drawn from the learned pools by frequency (secrets
 * there are fakes already) with their learned JSON types, and values made
 * up where a pool is empty (strings carry the run marker "sim_<runid>_").
 * In a body that has a password field (a login, a sign-up), the password,
 * user-name and e-mail fields get the virtual user's identity instead.
 * Bodies are sent with the learned Content-Type: JSON, or a form
 * (application/x-www-form-urlencoded: the top-level fields).
 *
 * Read-only after shapes_new: shared by the worker threads. */
#ifndef MIMIC_SHAPES_H
#define MIMIC_SHAPES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct rng;
struct shapes;

/* JSON types (the same bits as capture's jshape). */
enum {
  SH_STRING = 1,
  SH_INTEGER = 2,
  SH_REAL = 4,
  SH_BOOL = 8,
  SH_NULL = 16,
  SH_OBJECT = 32,
  SH_ARRAY = 64,
};

/* The identity a credentials body gets (NULL members: made up). */
struct shapes_ident {
  const char *user, *email, *password;
};

/* Compiles the request shapes of m; marker is the run marker
 * ("sim_<runid>"). Returns 0 or -ENOMEM. */
int shapes_new(const struct model *m, const char *marker, struct shapes **out);
void shapes_free(struct shapes *s);

/* Endpoints with a request shape. */
size_t shapes_count(const struct shapes *s);
int shapes_has(const struct shapes *s, uint32_t ep);
/* The learned Content-Type ("application/json" when none was learned),
 * and whether it is a form. */
const char *shapes_content_type(const struct shapes *s, uint32_t ep);
int shapes_is_form(const struct shapes *s, uint32_t ep);
/* 1 when ep's shape has a password field (its body carries an identity). */
int shapes_credentials(const struct shapes *s, uint32_t ep);
/* The learned types (SH_* bits) of field path of ep's requests, 0 when
 * unknown. */
unsigned shapes_field_types(const struct shapes *s, uint32_t ep,
                            const char *path);
/* SH_* bits of a type text ("string|null"). */
unsigned shapes_parse_types(const char *text);

/* A body of ep's shape: a new JSON value (an object, an array or a
 * scalar, as learned), or NULL (-ENOMEM, or no shape). id may be NULL
 * (identity fields then take pool values). tag receives the first string
 * the body made up ("" when none). */
json_t *shapes_build(const struct shapes *s, uint32_t ep, struct rng *rng,
                     const struct shapes_ident *id, char *tag, size_t tagcap);

/* Writes doc as ep sends it into buf (NUL-terminated): compact JSON, or
 * for a form its top-level fields as name=value pairs, percent-encoded.
 * Returns the length, or (size_t)-1 when it does not fit in cap. */
size_t shapes_dump(const struct shapes *s, uint32_t ep, const json_t *doc,
                   char *buf, size_t cap);

#endif
