/* httplearn: what only packets can teach, on top of what the learner takes
 * from every request: per endpoint the headers that matter (content type,
 * auth scheme, cookie names - never a secret), the Host most used, JSON
 * body shapes (jshape), which response values later requests of the same
 * session send back (reuse), and, with --record, the request trace for
 * exact replay (src/trace.h) with secrets replaced by fakes or by
 * references to the values earlier responses gave. */
#ifndef MIMIC_HTTPLEARN_H
#define MIMIC_HTTPLEARN_H

#include <stddef.h>
#include <stdint.h>

struct http_txn;
struct httplearn;
struct learn;
struct model;

struct httplearn_opts {
  uint64_t salt[2]; /* redaction key (the capture's) */
  int record;       /* keep the request trace */
  int64_t idle_us;  /* session inactivity timeout */
};

int httplearn_new(const struct httplearn_opts *o, struct httplearn **out);
void httplearn_free(struct httplearn *h);

/* Learns one exchange of endpoint handle ep (from learn_request) by the
 * client with key client_key; path/query are the request's (as the
 * record has them). Returns 0 or -ENOMEM. */
int httplearn_add(struct httplearn *h, const struct http_txn *t, uint32_t ep,
                  uint64_t client_key, const char *path, size_t plen,
                  const char *query, size_t qlen);

/* Writes headers, hosts, body shapes, correlation rules and the trace into
 * m, whose endpoints learn_finish has written (handles are mapped with
 * learn_endpoint_id). Adds the redactions it made and meta trace_*.
 * Returns 0 or -ENOMEM. */
int httplearn_finish(struct httplearn *h, const struct learn *l,
                     struct model *m);

#endif
