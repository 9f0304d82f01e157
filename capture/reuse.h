/* reuse: values a response gives and later requests of the same session
 * send back (ids in JSON bodies or Location headers, bearer tokens from a
 * login, cookies from Set-Cookie), learned as correlation rules for replay:
 * "the access_token of POST /login's answer is the Authorization of GET
 * /me". Sessions are the client key with an inactivity timeout, followed
 * in the order exchanges complete. Memory is bounded: values remembered
 * per session, sessions followed, rules kept. Values are compared by a
 * 64-bit hash; none is stored. */
#ifndef MIMIC_REUSE_H
#define MIMIC_REUSE_H

#include <stddef.h>
#include <stdint.h>

struct reuse;

enum reuse_loc {
  CL_PATH = 0, /* name: "segment:N" (1-based) */
  CL_QUERY,    /* name: the parameter */
  CL_JSON,     /* name: "$.path" (form fields too) */
  CL_HEADER,   /* name: lower-case header ("authorization": its token) */
  CL_COOKIE,   /* name: the cookie (Cookie / Set-Cookie) */
  CL_LOCATION, /* name: "location" or "segment:N" of its path */
  CL_LOCS
};

const char *reuse_loc_name(enum reuse_loc loc);

struct reuse_rule {
  uint32_t src_ep; /* endpoint handle whose response gave the value */
  uint8_t src_loc;
  char src_name[64];
  uint32_t dst_ep; /* endpoint handle whose request sent it back */
  uint8_t dst_loc;
  char dst_name[64];
  uint64_t count;
};

/* Where a value came from, for the trace's references. */
struct reuse_src {
  uint32_t index; /* request index in the session whose response gave it */
  uint8_t loc;
  char name[64];
};

struct reuse_opts {
  int64_t idle_us;     /* a session ends after this (30 min) */
  size_t max_sessions; /* followed at once (100,000) */
  size_t values;       /* remembered per session (128) */
  size_t max_rules;    /* (1,000) */
};

int reuse_new(const struct reuse_opts *o, struct reuse **out);
void reuse_free(struct reuse *c);

/* Starts the next exchange of client `key` at ts. Its session number and
 * its index in that session are returned. Returns 0 or -ENOMEM. */
int reuse_begin(struct reuse *c, uint64_t key, int64_t ts, uint64_t *session,
                uint32_t *index);

/* The current request sends value v at (loc, name) of endpoint ep: if an
 * earlier response of the session gave it, the rule is counted and 1 is
 * returned with *src; else 0. */
int reuse_find(struct reuse *c, uint32_t ep, enum reuse_loc loc,
               const char *name, const char *v, size_t n,
               struct reuse_src *src);

/* The current exchange's response (of endpoint ep) gives value v at
 * (loc, name). Returns 0 or -ENOMEM. */
int reuse_give(struct reuse *c, uint32_t ep, enum reuse_loc loc,
               const char *name, const char *v, size_t n);

/* 1 when the current exchange's session has values earlier responses
 * gave (else no request value can match: callers skip the search). */
int reuse_has_values(const struct reuse *c);

/* 1 when a value is worth following: 4+ characters, or a number of 3+
 * digits; not "true", "false", "null". */
int reuse_worth(const char *v, size_t n);

size_t reuse_nrules(const struct reuse *c);
const struct reuse_rule *reuse_rule(const struct reuse *c, size_t i);
uint64_t reuse_sessions(const struct reuse *c);

#endif
