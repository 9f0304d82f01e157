/* inspect: a readable summary of a model (`mimic inspect`), as text or as
 * a JSON object for scripts. */
#ifndef MIMIC_INSPECT_H
#define MIMIC_INSPECT_H

#include <stddef.h>
#include <stdio.h>

struct model;

/* Prints m (read from path) to out: text with the `top` most requested
 * endpoints, or JSON with all of them. Returns 0 or -EIO. */
int inspect_print(const struct model *m, const char *path, FILE *out, int json,
                  size_t top);

#endif
