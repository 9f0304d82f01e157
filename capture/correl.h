/* correl: values a response gives and later requests of the same session
 * send back (ids in JSON bodies or Location headers, bearer tokens from a
 * login, cookies from Set-Cookie), learned as correlation rules for replay:
 * "the access_token of POST /login's answer is the Authorization of GET
 * /me". Sessions are the client key with an inactivity timeout, followed
 * in the order exchanges complete. Memory is bounded: values remembered
 * per session, sessions followed, rules kept. Values are compared by a
 * 64-bit hash; none is stored. */
#ifndef MIMIC_CORREL_H
#define MIMIC_CORREL_H

#include <stddef.h>
#include <stdint.h>

struct correl;

enum correl_loc {
  CL_PATH = 0, /* name: "segment:N" (1-based) */
  CL_QUERY,    /* name: the parameter */
  CL_JSON,     /* name: "$.path" (form fields too) */
  CL_HEADER,   /* name: lower-case header ("authorization": its token) */
  CL_COOKIE,   /* name: the cookie (Cookie / Set-Cookie) */
  CL_LOCATION, /* name: "location" or "segment:N" of its path */
  CL_LOCS
};

const char *correl_loc_name(enum correl_loc loc);

struct correl_rule {
  uint32_t src_ep; /* endpoint handle whose response gave the value */
  uint8_t src_loc;
  char src_name[64];
  uint32_t dst_ep; /* endpoint handle whose request sent it back */
  uint8_t dst_loc;
  char dst_name[64];
  uint64_t count;
};

/* Where a value came from, for the trace's references. */
struct correl_src {
  uint32_t index; /* request index in the session whose response gave it */
  uint8_t loc;
  char name[64];
};

struct correl_opts {
  int64_t idle_us;     /* a session ends after this (30 min) */
  size_t max_sessions; /* followed at once (100,000) */
  size_t values;       /* remembered per session (128) */
  size_t max_rules;    /* (1,000) */
};

int correl_new(const struct correl_opts *o, struct correl **out);
void correl_free(struct correl *c);

/* Starts the next exchange of client `key` at ts. Its session number and
 * its index in that session are returned. Returns 0 or -ENOMEM. */
int correl_begin(struct correl *c, uint64_t key, int64_t ts, uint64_t *session,
                 uint32_t *index);

/* The current request sends value v at (loc, name) of endpoint ep: if an
 * earlier response of the session gave it, the rule is counted and 1 is
 * returned with *src; else 0. */
int correl_find(struct correl *c, uint32_t ep, enum correl_loc loc,
                const char *name, const char *v, size_t n,
                struct correl_src *src);

/* The current exchange's response (of endpoint ep) gives value v at
 * (loc, name). Returns 0 or -ENOMEM. */
int correl_give(struct correl *c, uint32_t ep, enum correl_loc loc,
                const char *name, const char *v, size_t n);

/* 1 when the current exchange's session has values earlier responses
 * gave (else no request value can match: callers skip the search). */
int correl_has_values(const struct correl *c);

/* 1 when a value is worth following: 4+ characters, or a number of 3+
 * digits; not "true", "false", "null". */
int correl_worth(const char *v, size_t n);

size_t correl_nrules(const struct correl *c);
const struct correl_rule *correl_rule(const struct correl *c, size_t i);
uint64_t correl_sessions(const struct correl *c);

#endif
