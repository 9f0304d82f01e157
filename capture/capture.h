/* capture: `mimic capture` from access logs: reads the inputs (merged in
 * time order), detects their formats, filters, learns, and writes the model
 * in one transaction, reporting what it understood and what it could not. */
#ifndef MIMIC_CAPTURE_H
#define MIMIC_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "logfmt.h"

enum capture_key {
  CAPTURE_KEY_IP_UA = 0, /* default */
  CAPTURE_KEY_IP,
  CAPTURE_KEY_USER,
  CAPTURE_KEY_COOKIE,
  CAPTURE_KEY_HEADER,
};

struct capture_opts {
  const char *const *inputs; /* file names, "-" = stdin */
  size_t ninputs;
  const char *output; /* model path */
  int force;          /* overwrite an existing model */
  int quiet;          /* only warnings and errors */
  const char *format; /* "auto" or a logfmt name */
  struct logfmt_opts fmt;
  enum capture_key key;
  const char *key_name;       /* cookie or header name for those keys */
  int64_t idle_us;            /* session inactivity timeout */
  int64_t reorder_us;         /* how far back out-of-order lines are sorted */
  const char *include;        /* PCRE2 on "path?query": keep only matches */
  const char *exclude;        /* PCRE2 on "path?query": drop matches */
  double max_malformed_pct;   /* fail above this share; < 0 = never */
  size_t max_endpoints;       /* 0 = default */
  unsigned collapse_children; /* 0 = default */
  uint64_t seed;              /* de-quantisation noise; same seed, same model */
  unsigned personas;          /* 0 = choose (BIC), K = exactly K */
  FILE *log;                  /* messages (stderr) */

  /* Packets (inputs that are pcap/pcapng files are recognised by content;
   * these add a live interface and settings). */
  const char *iface;        /* capture live on this interface, or NULL */
  const char *filter;       /* BPF filter for captures, or NULL */
  int64_t live_duration_us; /* stop the live capture after this (0: never) */
  uint64_t live_count;      /* stop after this many packets (0: never) */
  int record;               /* store the request trace for exact replay */
};

/* Exit statuses of a capture run. */
enum {
  CAPTURE_OK = 0,
  CAPTURE_FAILED = 1,  /* no model written */
  CAPTURE_PARTIAL = 3, /* model written, but an input could not be read to
                          its end (truncated, unreadable) */
};

/* Runs a capture; messages go to opts->log. Returns a CAPTURE_* status. */
int capture_run(const struct capture_opts *opts);

/* Parses a --session-key value into opts->key / opts->key_name (and the
 * logfmt session field); "authorization" is header:Authorization (its
 * value, hashed like every key, is never stored). Returns 0 or
 * ERR_USAGE. */
int capture_parse_key(const char *spec, struct capture_opts *opts);

#endif
