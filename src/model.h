/* model: the traffic model in memory, and its SQLite file (models/schema.sql
 * is the contract; this struct mirrors it table by table).
 *
 * The struct is deliberately plain data rather than opaque: it *is* the
 * schema, the learner fills it, inspect/replay/compare read it, and the
 * round-trip test compares two of them field by field. Every pointer in it
 * is owned by the model and freed by model_free. */
#ifndef MIMIC_MODEL_H
#define MIMIC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define MODEL_SCHEMA_VERSION 1
#define MODEL_START (-1) /* transition.from_ep: the session begins */
#define MODEL_END (-2)   /* transition.to_ep: the session ends */
#define MODEL_ANY (-3)   /* think_backoff.from_ep: pooled over the persona */

struct model_kv {
  char *key, *value;
};

struct model_source {
  char *name, *format, *error; /* error may be NULL */
  uint64_t bytes, lines, requests, malformed, filtered, directives;
};

struct model_malformed {
  uint32_t file; /* index into sources */
  uint64_t line;
  char *reason;
};

struct model_status {
  int status;
  uint64_t count;
};

/* A histogram that may be absent (has == 0: the input lacked the data). */
struct model_dist {
  int has;
  struct hist h;
};

struct model_endpoint {
  char *method, *host, *templ;
  uint64_t count;
  struct model_dist latency, resp_bytes, req_bytes;
  struct model_status *status; /* sorted by status */
  size_t nstatus;
};

struct model_value {
  char *value;
  uint64_t count;
};

struct model_param {
  uint32_t endpoint;
  char loc[8]; /* "path" or "query" */
  uint32_t position;
  char *name, *type;
  double presence;
  uint64_t distinct;
  int distinct_exact, redacted;
  struct model_value *values; /* sorted by count desc */
  size_t nvalues;
};

struct model_persona {
  char *name;
  double weight;
  uint64_t sessions;
  struct model_dist length, duration;
};

struct model_transition {
  uint32_t persona;
  int32_t from, to; /* endpoint ids, MODEL_START / MODEL_END */
  uint64_t count;
  struct model_dist think;
};

struct model_backoff {
  uint32_t persona;
  int32_t from; /* endpoint id or MODEL_ANY */
  struct hist think;
};

/* Session durations of one persona's sessions of lo..hi requests. */
struct model_shape {
  uint32_t persona;
  uint32_t lo, hi;
  struct hist duration;
};

struct model_arrival {
  uint32_t persona;
  int64_t minute; /* unix minutes, UTC */
  uint64_t sessions;
};

struct model_profile {
  uint32_t persona;
  char kind[12]; /* "tod15" or "dow_hour" */
  uint32_t bucket;
  uint64_t sessions;
};

struct model_ua {
  char *value;
  uint64_t count;
  int is_bot;
};

/* Sessions of a persona that sent one of the user agents. */
struct model_persona_ua {
  uint32_t persona, ua; /* indexes into personas and uas */
  uint64_t count;
};

struct model_redaction {
  char *loc, *name, *action;
  uint64_t count;
};

/* Learned from packets (see the packet capture block of schema.sql). */
struct model_header {
  uint32_t endpoint;
  char dir[12]; /* "request" or "response" */
  char *name, *value;
  uint64_t count;
};

struct model_body {
  uint32_t endpoint;
  char dir[12];
  uint64_t bodies, invalid;
};

struct model_field {
  uint32_t endpoint;
  char dir[12];
  char *path, *type;
  double presence;
  int redacted;
  struct model_value *values; /* sorted by count desc */
  size_t nvalues;
};

struct model_correl {
  uint32_t src_endpoint, dst_endpoint;
  char *src_loc, *src_name, *dst_loc, *dst_name;
  uint64_t count;
};

struct model_trace {
  uint8_t *data; /* zstd frame of JSON lines (src/trace.h) */
  size_t len;
  uint64_t requests, raw_bytes;
};

/* Growable array fields: ptr + n (+ cap private to the builders). */
#define MODEL_ARRAY(type, name)                                                \
  type *name;                                                                  \
  size_t n##name, cap_##name

struct model {
  MODEL_ARRAY(struct model_kv, meta);
  MODEL_ARRAY(struct model_source, sources);
  MODEL_ARRAY(struct model_malformed, malformed);
  MODEL_ARRAY(struct model_endpoint, endpoints);
  MODEL_ARRAY(struct model_param, params);
  MODEL_ARRAY(struct model_persona, personas);
  MODEL_ARRAY(struct model_transition, transitions);
  MODEL_ARRAY(struct model_backoff, backoffs);
  MODEL_ARRAY(struct model_arrival, arrivals);
  MODEL_ARRAY(struct model_shape, shapes);
  MODEL_ARRAY(struct model_profile, profiles);
  MODEL_ARRAY(struct model_ua, uas);
  /* By persona, then user agent; empty in a model without the table
   * (replay then draws every persona's user agents from uas). */
  MODEL_ARRAY(struct model_persona_ua, persona_uas);
  MODEL_ARRAY(struct model_redaction, redactions);
  /* Split-half baseline (compare): the sessions of each half of the
   * source as a small model of its own, holding endpoints (A's ids and
   * templates, with that half's counts and status mix), transitions with
   * think times (persona 0) and one persona "all" with sessions, length
   * and duration. Both NULL when the file has none (tables half_*). */
  struct model *half[2];
  /* Packets only (empty for models learned from logs). */
  MODEL_ARRAY(struct model_header, headers);
  MODEL_ARRAY(struct model_body, bodies);
  MODEL_ARRAY(struct model_field, fields);
  MODEL_ARRAY(struct model_correl, correls);
  MODEL_ARRAY(struct model_trace, traces);
};

/* The length class of a session of n >= 1 requests (table session_shape):
 * its index, and its bounds in *lo..*hi. */
uint32_t model_length_class(uint32_t n, uint32_t *lo, uint32_t *hi);

/* An empty model. Returns 0 or -ENOMEM. */
int model_new(struct model **out);
void model_free(struct model *m);

/* Appends a zeroed element to one of the arrays and returns it (NULL on
 * -ENOMEM), e.g. struct model_endpoint *e = model_push(m, endpoints). */
#define model_push(m, name)                                                    \
  model_grow(&(m)->name, &(m)->n##name, &(m)->cap_##name, sizeof *(m)->name)
/* arrp points to the array's pointer field (read and written with memcpy,
 * so any element pointer type works without aliasing casts). */
void *model_grow(void *arrp, size_t *n, size_t *cap, size_t elem);

/* Sets meta key to a copy of value (replacing an earlier one). 0/-ENOMEM. */
int model_meta_set(struct model *m, const char *key, const char *value);
int model_meta_set_i64(struct model *m, const char *key, int64_t value);
int model_meta_set_f64(struct model *m, const char *key, double value);
/* Value of meta key, or NULL. */
const char *model_meta_get(const struct model *m, const char *key);
/* Integer value of meta key, or def when absent or not a number. */
int64_t model_meta_i64(const struct model *m, const char *key, int64_t def);

/* Writes m to path as one transaction into a temporary file beside it,
 * renamed over path only when complete, so an interrupted or failed save
 * never leaves a half-written model. Refuses an existing path unless force
 * (ERR_EXISTS). On failure returns a negative code and a message naming the
 * file and the cause in err (size errlen). */
int model_save(const struct model *m, const char *path, int force, char *err,
               size_t errlen);

/* Reads a model. Fails with ERR_VERSION for a model from a newer schema,
 * ERR_CORRUPT for damaged content, ERR_SQLITE / -errno otherwise; err gets a
 * message naming the file. */
int model_load(const char *path, struct model **out, char *err, size_t errlen);

/* Checks before a long capture that path can be written: refuses an
 * existing file without force, and a directory that is missing or not
 * writable. 0 or a negative code with a message in err. */
int model_check_writable(const char *path, int force, char *err, size_t errlen);

#endif
