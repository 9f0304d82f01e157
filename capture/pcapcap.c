#include "pcapcap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "input.h"
#include "model.h"

struct pcapcap {
  struct pcapcap_opts o;
  struct pcapsrc *src;
  struct httpflow *hf;
  int live, ended;
  int read_rc; /* a read error, returned once the records before it are */
  uint64_t packets;
  int64_t t_stop; /* live: monotonic time to stop at (0: none) */
  uint64_t unlearnable;
  char user[128];    /* Basic auth user of the current record */
  char hdr_name[64]; /* session header, lower case */
  char desc[160];
  char errmsg[512];
};

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int setup(struct pcapcap *c, const struct pcapcap_opts *o, char *err,
                 size_t errlen) {
  c->o = *o;
  if (o->session_header) {
    size_t i = 0;
    for (; o->session_header[i] && i < sizeof c->hdr_name - 1; i++) {
      char ch = o->session_header[i];
      c->hdr_name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch | 0x20) : ch;
    }
    c->hdr_name[i] = '\0';
  }
  if (o->filter) {
    int rc = pcapsrc_set_filter(c->src, o->filter, err, errlen);
    if (rc) return rc;
  }
  struct httpflow_opts ho = {.keep_req_bodies = o->keep_req_bodies};
  if (httpflow_new(&ho, &c->hf)) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  return 0;
}

int pcapcap_open_file(struct input *in, const char *name,
                      const struct pcapcap_opts *o, struct pcapcap **out,
                      char *err, size_t errlen) {
  struct pcapcap *c = calloc(1, sizeof *c);
  if (!c) {
    input_close(in);
    snprintf(err, errlen, "%s: out of memory", name);
    return -ENOMEM;
  }
  int rc = pcapsrc_open_input(in, name, &c->src, err, errlen);
  if (!rc) rc = setup(c, o, err, errlen);
  if (rc) {
    pcapcap_free(c);
    return rc;
  }
  const char *comp = pcapsrc_compression(c->src);
  snprintf(c->desc, sizeof c->desc, "%s, %s%s%s", pcapsrc_kind(c->src),
           pcapsrc_link_name(c->src), strcmp(comp, "plain") ? ", " : "",
           strcmp(comp, "plain") ? comp : "");
  *out = c;
  return 0;
}

int pcapcap_open_live(const char *iface, const struct pcapcap_opts *o,
                      struct pcapcap **out, char *err, size_t errlen) {
  struct pcapcap *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  c->live = 1;
  int rc = pcapsrc_open_live(iface, &c->src, err, errlen);
  if (!rc) rc = setup(c, o, err, errlen);
  if (rc) {
    pcapcap_free(c);
    return rc;
  }
  if (o->duration_us > 0) c->t_stop = mono_us() + o->duration_us;
  snprintf(c->desc, sizeof c->desc, "live %s, %s", iface,
           pcapsrc_link_name(c->src));
  *out = c;
  return 0;
}

void pcapcap_free(struct pcapcap *c) {
  if (!c) return;
  httpflow_free(c->hf);
  pcapsrc_free(c->src);
  free(c);
}

/* The user name of "Basic base64(user:password)"; the password is never
 * decoded past the colon. */
static size_t basic_user(const char *v, size_t n, char *out, size_t cap) {
  if (n < 6 || strncasecmp(v, "basic ", 6) != 0) return 0;
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 6; i < n && o < cap - 1; i++) {
    const char *k = v[i] ? strchr(b64, v[i]) : NULL;
    if (!k) break;
    acc = acc << 6 | (uint32_t)(k - b64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char ch = (char)(acc >> bits & 0xff);
      if (ch == ':') break;
      out[o++] = ch;
    }
  }
  out[o] = '\0';
  return o;
}

static void set_slice(struct slice *s, const char *p, size_t n) {
  if (p) {
    s->p = p;
    s->len = n;
  }
}

/* Fills rec from a transaction. Returns 0, or ERR_PARSE with *why when
 * the request cannot be learned. */
static int to_record(struct pcapcap *c, const struct http_txn *t,
                     struct logrec *rec, int64_t *end_us, const char **why) {
  logrec_clear(rec);
  rec->ts_us = t->t_req_first;
  rec->ts_is_end = 0;
  rec->ts_res_us = 1;
  rec->client.p = t->client_ip;
  rec->client.len = strlen(t->client_ip);
  rec->method.p = t->method;
  rec->method.len = t->method_len;
  size_t n;
  const char *v;
  /* Host first: an absolute-form target only fills host when empty. */
  if ((v = httpflow_header(t->req_hdrs, t->nreq_hdrs, "host", &n)))
    set_slice(&rec->host, v, n);
  if (t->target_len == 0 ||
      logrec_set_target(rec, t->target, t->target_len) < 0) {
    *why = t->target_len ? "request target is not a path" : "no request target";
    return ERR_PARSE;
  }
  if ((v = httpflow_header(t->req_hdrs, t->nreq_hdrs, "user-agent", &n)))
    set_slice(&rec->ua, v, n);
  if ((v = httpflow_header(t->req_hdrs, t->nreq_hdrs, "referer", &n)))
    set_slice(&rec->referer, v, n);
  if ((v = httpflow_header(t->req_hdrs, t->nreq_hdrs, "authorization", &n))) {
    size_t un = basic_user(v, n, c->user, sizeof c->user);
    if (un) set_slice(&rec->user, c->user, un);
  }
  if (c->o.session_cookie && (v = httpflow_cookie(t, c->o.session_cookie, &n)))
    set_slice(&rec->session, v, n);
  else if (c->hdr_name[0] &&
           (v = httpflow_header(t->req_hdrs, t->nreq_hdrs, c->hdr_name, &n)))
    set_slice(&rec->session, v, n);
  rec->proto.p =
      t->http_major == 1 && t->http_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
  rec->proto.len = 8;
  rec->status = t->status >= 100 && t->status <= 599 ? t->status : 0;
  rec->req_bytes = (int64_t)t->req_bytes;
  rec->resp_bytes = rec->status ? t->resp_body_bytes : -1;
  if (rec->status) {
    int64_t lat = t->t_resp_first - t->t_req_last;
    rec->latency_us = lat > 0 ? lat : 0;
    *end_us = t->t_resp_last > t->t_req_first ? t->t_resp_last : t->t_req_first;
  } else {
    rec->latency_us = -1;
    *end_us = t->t_req_last;
  }
  return 0;
}

int pcapcap_next(struct pcapcap *c, struct logrec *rec,
                 const struct http_txn **txn, int64_t *end_us,
                 const char **why) {
  for (;;) {
    const struct http_txn *t = httpflow_next(c->hf);
    if (t) {
      *txn = t;
      if (to_record(c, t, rec, end_us, why)) {
        c->unlearnable++;
        return PCAPCAP_BAD;
      }
      return PCAPCAP_RECORD;
    }
    if (c->ended) {
      int rc = c->read_rc;
      c->read_rc = 0;
      return rc ? rc : PCAPCAP_END;
    }
    int stop = c->o.stop && *c->o.stop;
    if (!stop && c->live && c->t_stop && mono_us() >= c->t_stop) stop = 1;
    if (!stop && c->o.count && c->packets >= c->o.count) stop = 1;
    if (stop) {
      httpflow_flush(c->hf);
      c->ended = 1;
      continue;
    }
    struct pkt p;
    int rc = pcapsrc_next(c->src, &p);
    if (rc == PCAPSRC_SEGMENT) {
      c->packets++;
      if ((rc = httpflow_feed(c->hf, &p))) {
        snprintf(c->errmsg, sizeof c->errmsg, "%s", err_str(rc));
        return rc;
      }
      continue;
    }
    if (rc == PCAPSRC_IDLE || rc == ERR_INTERRUPTED) continue;
    httpflow_flush(c->hf);
    c->ended = 1;
    if (rc < 0) {
      /* What was read before stays good: hand it out, then the error. */
      snprintf(c->errmsg, sizeof c->errmsg, "%s", pcapsrc_error(c->src));
      c->read_rc = rc;
    }
  }
}

const char *pcapcap_describe(const struct pcapcap *c) {
  return c->desc;
}

int pcapcap_live(const struct pcapcap *c) {
  return c->live;
}

uint64_t pcapcap_bytes(const struct pcapcap *c) {
  return pcapsrc_file_bytes(c->src);
}

const char *pcapcap_error(const struct pcapcap *c) {
  return c->errmsg;
}

void pcapcap_stats_add(struct pcapcap *c, struct pcapcap_stats *sum) {
  struct pcapsrc_stats ps;
  struct httpflow_stats hs;
  pcapsrc_stats(c->src, &ps);
  httpflow_stats(c->hf, &hs);
  sum->pkt.frames += ps.frames;
  sum->pkt.bytes += ps.bytes;
  for (int k = 0; k < PKT_KINDS; k++) sum->pkt.kind[k] += ps.kind[k];
  sum->pkt.snapped += ps.snapped;
  sum->pkt.dropped += ps.dropped;
  /* Every counter of httpflow_stats (and its reasm_stats) is a uint64_t:
   * add them field by field through arrays of the same layout. */
  _Static_assert(sizeof hs % sizeof(uint64_t) == 0, "counters only");
  uint64_t a[sizeof hs / sizeof(uint64_t)], b[sizeof hs / sizeof(uint64_t)];
  memcpy(a, &sum->http, sizeof a);
  memcpy(b, &hs, sizeof b);
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) a[i] += b[i];
  memcpy(&sum->http, a, sizeof a);
  sum->unlearnable += c->unlearnable;
}

int pcapcap_meta(const struct pcapcap_stats *s, struct model *m) {
  const struct httpflow_stats *h = &s->http;
  struct {
    const char *key;
    uint64_t v;
  } kv[] = {
      {"pcap_packets", s->pkt.frames},
      {"pcap_bytes", s->pkt.bytes},
      {"pcap_tcp_segments", s->pkt.kind[PKT_TCP]},
      {"pcap_not_tcp", s->pkt.kind[PKT_NOT_TCP] + s->pkt.kind[PKT_NOT_IP]},
      {"pcap_ip_fragments", s->pkt.kind[PKT_FRAGMENT]},
      {"pcap_malformed_packets", s->pkt.kind[PKT_MALFORMED]},
      {"pcap_snapped_segments", s->pkt.snapped},
      {"pcap_kernel_drops", s->pkt.dropped},
      {"pcap_flows", h->tcp.flows},
      {"pcap_http_flows", h->http_flows},
      {"pcap_non_http_flows", h->non_http_flows},
      {"pcap_tls_flows", h->tls_flows},
      {"pcap_tunnels", h->tunnels},
      {"pcap_requests", h->requests},
      {"pcap_notifications", h->notifications},
      {"pcap_lenient_requests", h->lenient},
      {"pcap_responses", h->responses},
      {"pcap_interim_responses", h->interim},
      {"pcap_unanswered", h->unanswered},
      {"pcap_orphan_responses", h->orphans},
      {"pcap_dropped_requests", h->dropped_requests},
      {"pcap_dropped_responses", h->dropped_responses},
      {"pcap_unlearnable_requests", s->unlearnable},
      {"pcap_junk_messages", h->junk},
      {"pcap_resyncs", h->resyncs},
      {"pcap_gaps", h->tcp.gaps},
      {"pcap_gap_bytes", h->tcp.gap_bytes},
      {"pcap_retransmitted_bytes", h->tcp.retrans_bytes},
      {"pcap_out_of_order_segments", h->tcp.ooo_segments},
      {"pcap_reassembly_timeouts", h->tcp.timeouts},
      {"pcap_idle_closed_flows", h->tcp.idle_closed},
      {"pcap_evicted_flows", h->tcp.evicted},
      {"pcap_forced_gaps", h->tcp.forced},
      {"pcap_late_segments", h->tcp.late_segments},
      {"pcap_held_bytes_peak", h->tcp.held_peak},
      {"pcap_bodies_decoded", h->bodies_decoded},
      {"pcap_body_decode_errors", h->decode_errors},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (model_meta_set_i64(m, kv[i].key, (int64_t)kv[i].v)) return -ENOMEM;
  return 0;
}

const char *pcapcap_losses(const struct pcapcap_stats *s, char *buf,
                           size_t len) {
  const struct httpflow_stats *h = &s->http;
  uint64_t lost = h->tcp.gap_bytes + h->dropped_requests +
                  h->dropped_responses + h->tcp.timeouts + s->pkt.dropped +
                  s->pkt.snapped;
  if (!lost) return NULL;
  snprintf(buf, len,
           "the capture is incomplete: %" PRIu64 " bytes lost in %" PRIu64
           " gaps, %" PRIu64 " requests and %" PRIu64
           " responses dropped, %" PRIu64 " flows timed out while holding "
           "data, %" PRIu64 " segments cut by the snapshot length, %" PRIu64
           " packets dropped by the kernel",
           h->tcp.gap_bytes, h->tcp.gaps, h->dropped_requests,
           h->dropped_responses, h->tcp.timeouts, s->pkt.snapped,
           s->pkt.dropped);
  return buf;
}
