/* pcapcap: the packet side of `mimic capture`. A capture file or a live
 * interface becomes a stream of request records, like a log's lines:
 * pcapsrc (packets) -> httpflow (TCP reassembly, HTTP pairing) -> logrec,
 * with the transaction behind each record (headers, bodies) for what only
 * packets can teach. It also keeps the completeness counters that tell how
 * much of the capture was understood, and writes them into the model. */
#ifndef MIMIC_PCAPCAP_H
#define MIMIC_PCAPCAP_H

#include <stddef.h>
#include <stdint.h>

#include "httpflow.h"
#include "logrec.h"
#include "pcapsrc.h"

struct input;
struct model;
struct pcapcap;

struct pcapcap_opts {
  const char *filter;         /* BPF, or NULL */
  int64_t duration_us;        /* live: stop after this long (0: never) */
  uint64_t count;             /* stop after this many packets (0: never) */
  int keep_req_bodies;        /* keep every request body (--record) */
  const char *session_cookie; /* logrec.session from this cookie, or */
  const char *session_header; /* this header (any case), or NULL */
  volatile const int *stop;   /* set (e.g. by a signal handler): stop reading
                                 packets, finish what is open */
};

/* Totals of one or several packet sources. */
struct pcapcap_stats {
  struct pcapsrc_stats pkt;
  struct httpflow_stats http;
  uint64_t unlearnable; /* requests whose target is not a path ("*", "") */
};

/* Opens a capture file read from in (taken over, also on failure), or a
 * live interface. Returns 0 or a negative code with a message in err. */
int pcapcap_open_file(struct input *in, const char *name,
                      const struct pcapcap_opts *o, struct pcapcap **out,
                      char *err, size_t errlen);
int pcapcap_open_live(const char *iface, const struct pcapcap_opts *o,
                      struct pcapcap **out, char *err, size_t errlen);
void pcapcap_free(struct pcapcap *c);

enum {
  PCAPCAP_END = 0,    /* no more records */
  PCAPCAP_RECORD = 1, /* *rec and *txn hold the next request */
  PCAPCAP_BAD = 2,    /* a request that cannot be learned; *why says why */
};

/* The next request, in the order the exchanges completed. rec's slices and
 * txn are valid until the next call. rec->latency_us is the server's time
 * (request's last byte to response's first byte); *end_us gets the end of
 * the response (or of the request when unanswered), for think times.
 * Returns a PCAPCAP_* value, or a negative code when reading failed
 * (pcapcap_error says why; records before it were good). */
int pcapcap_next(struct pcapcap *c, struct logrec *rec,
                 const struct http_txn **txn, int64_t *end_us,
                 const char **why);

/* "pcapng, Ethernet, gzip" or "live lo, Ethernet". */
const char *pcapcap_describe(const struct pcapcap *c);
/* 1 for a live capture. */
int pcapcap_live(const struct pcapcap *c);
/* Bytes read from the file (uncompressed), or captured when live. */
uint64_t pcapcap_bytes(const struct pcapcap *c);
const char *pcapcap_error(const struct pcapcap *c);

/* Adds this source's counters to *sum. */
void pcapcap_stats_add(struct pcapcap *c, struct pcapcap_stats *sum);
/* Writes the completeness counters as meta keys pcap_* (see
 * models/schema.sql). Returns 0 or -ENOMEM. */
int pcapcap_meta(const struct pcapcap_stats *s, struct model *m);
/* A one-paragraph verdict on completeness for the user, or NULL when the
 * capture lost nothing worth saying; written into buf. */
const char *pcapcap_losses(const struct pcapcap_stats *s, char *buf,
                           size_t len);

#endif
