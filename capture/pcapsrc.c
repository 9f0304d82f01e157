/* fopencookie() lets libpcap read a capture through our decompressing
 * input reader, streamed, whatever its compression. */
#define _GNU_SOURCE
#include "pcapsrc.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "input.h"

/* Link types as libpcap reports them (pcap_datalink). Some are defined
 * differently on other systems; these are Linux's, and the LINKTYPE_*
 * values of capture files are mapped onto them by libpcap. */
#define L_NULL 0
#define L_EN10MB 1
#define L_RAW 12
#define L_RAW_LT 101
#define L_LOOP 108
#define L_SLL 113
#define L_IPV4 228
#define L_IPV6 229
#define L_SLL2 276

#define SNAPLEN 262144
#define MAX_VLAN 4 /* stacked tags followed at most */

struct pcapsrc {
  pcap_t *pcap;
  FILE *fp;
  struct input *in;
  int dlt;
  int live, pcapng;
  int direct; /* a plain file read by libpcap itself (in is closed) */
  struct pcapsrc_stats st;
  int read_errno;
  char compression[8];
  char errmsg[512];
};

/* ---- bounds-checked reads --------------------------------------------- */

/* A view of the bytes not yet decoded. Every getter checks the offset
 * against the captured length and fails instead of reading past it. */
struct view {
  const uint8_t *p;
  size_t len;
};

static int get_u8(const struct view *v, size_t off, uint8_t *out) {
  if (off >= v->len) return -1;
  *out = v->p[off];
  return 0;
}

static int get_be16(const struct view *v, size_t off, uint16_t *out) {
  if (off > v->len || v->len - off < 2) return -1;
  *out = (uint16_t)(v->p[off] << 8 | v->p[off + 1]);
  return 0;
}

static int get_le16(const struct view *v, size_t off, uint16_t *out) {
  if (off > v->len || v->len - off < 2) return -1;
  *out = (uint16_t)(v->p[off + 1] << 8 | v->p[off]);
  return 0;
}

static int get_be32(const struct view *v, size_t off, uint32_t *out) {
  if (off > v->len || v->len - off < 4) return -1;
  *out = (uint32_t)v->p[off] << 24 | (uint32_t)v->p[off + 1] << 16 |
         (uint32_t)v->p[off + 2] << 8 | v->p[off + 3];
  return 0;
}

static int get_bytes(const struct view *v, size_t off, size_t n, uint8_t *out) {
  if (off > v->len || v->len - off < n) return -1;
  memcpy(out, v->p + off, n);
  return 0;
}

/* Drops the first n bytes of the view. */
static int skip(struct view *v, size_t n) {
  if (n > v->len) return -1;
  v->p += n;
  v->len -= n;
  return 0;
}

/* ---- decoding ---------------------------------------------------------- */

int pcapsrc_link_supported(int dlt) {
  switch (dlt) {
  case L_NULL:
  case L_EN10MB:
  case L_RAW:
  case L_RAW_LT:
  case L_LOOP:
  case L_SLL:
  case L_IPV4:
  case L_IPV6:
  case L_SLL2: return 1;
  default: return 0;
  }
}

static const char *link_name(int dlt) {
  switch (dlt) {
  case L_NULL: return "loopback (NULL)";
  case L_EN10MB: return "Ethernet";
  case L_RAW:
  case L_RAW_LT: return "raw IP";
  case L_LOOP: return "loopback (LOOP)";
  case L_SLL: return "Linux cooked";
  case L_SLL2: return "Linux cooked v2";
  case L_IPV4: return "raw IPv4";
  case L_IPV6: return "raw IPv6";
  default: return "unsupported";
  }
}

static enum pkt_kind decode_tcp(struct view v, uint32_t announced,
                                struct pkt *out) {
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t off_byte, flags;
  if (get_be16(&v, 0, &sport) || get_be16(&v, 2, &dport) ||
      get_be32(&v, 4, &seq) || get_be32(&v, 8, &ack) ||
      get_u8(&v, 12, &off_byte) || get_u8(&v, 13, &flags))
    return PKT_MALFORMED;
  size_t hlen = (size_t)(off_byte >> 4) * 4;
  if (hlen < 20 || hlen > announced || skip(&v, hlen)) return PKT_MALFORMED;
  out->sport = sport;
  out->dport = dport;
  out->seq = seq;
  out->ack = ack;
  out->flags = flags & 0x3f;
  out->payload = v.p;
  /* The IP header says how much payload was sent; Ethernet padding after
   * it is not payload, and a snapshot length may have cut some of it. */
  uint32_t want = announced - (uint32_t)hlen;
  out->len = v.len < want ? (uint32_t)v.len : want;
  out->missing = want - out->len;
  return PKT_TCP;
}

static enum pkt_kind decode_ipv4(struct view v, struct pkt *out) {
  uint8_t vihl, proto;
  uint16_t total, frag;
  if (get_u8(&v, 0, &vihl) || get_be16(&v, 2, &total) ||
      get_be16(&v, 6, &frag) || get_u8(&v, 9, &proto) ||
      get_bytes(&v, 12, 4, out->src) || get_bytes(&v, 16, 4, out->dst))
    return PKT_MALFORMED;
  if (vihl >> 4 != 4) return PKT_MALFORMED;
  size_t ihl = (size_t)(vihl & 15) * 4;
  if (ihl < 20) return PKT_MALFORMED;
  /* A capture taken on the sending host with segmentation offload shows
   * total length 0 (or a length larger than the frame): trust the frame. */
  if (total == 0) total = v.len > 65535 ? 65535 : (uint16_t)v.len;
  if (total < ihl) return PKT_MALFORMED;
  if ((frag & 0x3fff) != 0) return PKT_FRAGMENT; /* MF set or offset */
  if (proto != 6) return PKT_NOT_TCP;
  out->af = 4;
  memset(out->src + 4, 0, 12);
  memset(out->dst + 4, 0, 12);
  if (skip(&v, ihl)) return PKT_MALFORMED;
  return decode_tcp(v, total - (uint32_t)ihl, out);
}

static enum pkt_kind decode_ipv6(struct view v, struct pkt *out) {
  uint8_t ver, next;
  uint16_t plen;
  if (get_u8(&v, 0, &ver) || get_be16(&v, 4, &plen) || get_u8(&v, 6, &next) ||
      get_bytes(&v, 8, 16, out->src) || get_bytes(&v, 24, 16, out->dst))
    return PKT_MALFORMED;
  if (ver >> 4 != 6) return PKT_MALFORMED;
  if (skip(&v, 40)) return PKT_MALFORMED;
  uint32_t remain = plen ? plen : (uint32_t)(v.len > 65535 ? 65535 : v.len);
  /* Walk the extension headers up to TCP. */
  for (int hops = 0; hops < 8; hops++) {
    uint8_t nh, hl;
    size_t len;
    switch (next) {
    case 6: out->af = 6; return decode_tcp(v, remain, out);
    case 0:  /* hop-by-hop options */
    case 43: /* routing */
    case 60: /* destination options */
      if (get_u8(&v, 0, &nh) || get_u8(&v, 1, &hl)) return PKT_MALFORMED;
      len = ((size_t)hl + 1) * 8;
      break;
    case 51: /* authentication header */
      if (get_u8(&v, 0, &nh) || get_u8(&v, 1, &hl)) return PKT_MALFORMED;
      len = ((size_t)hl + 2) * 4;
      break;
    case 44: { /* fragment: only an unfragmented "atomic" one goes on */
      uint16_t fo;
      if (get_u8(&v, 0, &nh) || get_be16(&v, 2, &fo)) return PKT_MALFORMED;
      if ((fo & 0xfff9) != 0) return PKT_FRAGMENT;
      len = 8;
      break;
    }
    default: return PKT_NOT_TCP;
    }
    if (len > remain || skip(&v, len)) return PKT_MALFORMED;
    remain -= (uint32_t)len;
    next = nh;
  }
  return PKT_MALFORMED;
}

/* Dispatches on an ethertype, following VLAN tags. */
static enum pkt_kind decode_ether(struct view v, uint16_t type,
                                  struct pkt *out) {
  for (int tags = 0;; tags++) {
    switch (type) {
    case 0x0800: return decode_ipv4(v, out);
    case 0x86dd: return decode_ipv6(v, out);
    case 0x8100: /* 802.1Q */
    case 0x88a8: /* 802.1ad */
    case 0x9100: /* old QinQ */
      if (tags >= MAX_VLAN || get_be16(&v, 2, &type) || skip(&v, 4))
        return PKT_MALFORMED;
      continue;
    default: return PKT_NOT_IP;
    }
  }
}

/* The address family word of NULL/LOOP headers: AF_INET is 2 everywhere,
 * AF_INET6 differs by system (Linux 10, BSDs 24/28, macOS 30). */
static enum pkt_kind decode_af(struct view v, uint32_t af, struct pkt *out) {
  if (af == 2) return decode_ipv4(v, out);
  if (af == 10 || af == 24 || af == 28 || af == 30) return decode_ipv6(v, out);
  return PKT_NOT_IP;
}

enum pkt_kind pcapsrc_decode(int dlt, const uint8_t *frame, size_t caplen,
                             struct pkt *out) {
  struct view v = {frame, caplen};
  uint16_t type, lo, hi;
  uint32_t af;
  uint8_t ver;
  switch (dlt) {
  case L_EN10MB:
    if (get_be16(&v, 12, &type) || skip(&v, 14)) return PKT_MALFORMED;
    return decode_ether(v, type, out);
  case L_SLL:
    if (get_be16(&v, 14, &type) || skip(&v, 16)) return PKT_MALFORMED;
    return decode_ether(v, type, out);
  case L_SLL2:
    if (get_be16(&v, 0, &type) || skip(&v, 20)) return PKT_MALFORMED;
    return decode_ether(v, type, out);
  case L_NULL:
    /* The family is in the byte order of the machine that captured:
     * whichever reading names a known family is the right one. */
    if (get_le16(&v, 0, &lo) || get_le16(&v, 2, &hi) || skip(&v, 4))
      return PKT_MALFORMED;
    af = (uint32_t)hi << 16 | lo;
    if (af > 255)
      af = (uint32_t)(lo & 0xff) << 24 | (uint32_t)(lo >> 8) << 16 |
           (uint32_t)(hi & 0xff) << 8 | (uint32_t)(hi >> 8);
    return decode_af(v, af, out);
  case L_LOOP:
    if (get_be32(&v, 0, &af) || skip(&v, 4)) return PKT_MALFORMED;
    return decode_af(v, af, out);
  case L_RAW:
  case L_RAW_LT:
    if (get_u8(&v, 0, &ver)) return PKT_MALFORMED;
    if (ver >> 4 == 4) return decode_ipv4(v, out);
    if (ver >> 4 == 6) return decode_ipv6(v, out);
    return PKT_MALFORMED;
  case L_IPV4: return decode_ipv4(v, out);
  case L_IPV6: return decode_ipv6(v, out);
  default: return PKT_NOT_IP;
  }
}

int pcapsrc_is_capture(const unsigned char *p, size_t n) {
  if (n < 4) return 0;
  uint32_t be =
      (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  return be == 0xa1b2c3d4 || be == 0xd4c3b2a1 || /* pcap, microseconds */
         be == 0xa1b23c4d || be == 0x4d3cb2a1 || /* pcap, nanoseconds */
         be == 0x0a0d0d0a;                       /* pcapng section */
}

/* ---- sources ----------------------------------------------------------- */

static ssize_t cookie_read(void *cookie, char *buf, size_t size) {
  struct pcapsrc *s = cookie;
  for (;;) {
    long got = input_read(s->in, buf, size);
    if (got >= 0) return got;
    if (got == ERR_INTERRUPTED) continue;
    s->read_errno = (int)got;
    errno = EIO;
    return -1;
  }
}

static int cookie_close(void *cookie) {
  (void)cookie; /* the input is closed by pcapsrc_free */
  return 0;
}

int pcapsrc_open_input(struct input *in, const char *name, struct pcapsrc **out,
                       char *err, size_t errlen) {
  struct pcapsrc *s = calloc(1, sizeof *s);
  if (!s) {
    input_close(in);
    snprintf(err, errlen, "%s: out of memory", name);
    return -ENOMEM;
  }
  s->in = in;
  snprintf(s->compression, sizeof s->compression, "%s", input_compression(in));
  const unsigned char *head;
  size_t got = 0;
  if (input_peek(in, 4, &head, &got) == 0 && got >= 4)
    s->pcapng = head[0] == 0x0a && head[1] == 0x0d && head[2] == 0x0d &&
                head[3] == 0x0a;
  const char *path = input_path(in);
  if (!strcmp(s->compression, "plain") && strcmp(path, "-") != 0 &&
      (s->fp = fopen(path, "rb"))) {
    /* A plain file: libpcap reads it directly (one copy less). */
    s->direct = 1;
    input_close(s->in);
    s->in = NULL;
  } else {
    cookie_io_functions_t io = {.read = cookie_read, .close = cookie_close};
    s->fp = fopencookie(s, "r", io);
  }
  if (!s->fp) {
    snprintf(err, errlen, "%s: out of memory", name);
    pcapsrc_free(s);
    return -ENOMEM;
  }
  setvbuf(s->fp, NULL, _IOFBF, 1 << 20);
  char perr[PCAP_ERRBUF_SIZE] = "";
  s->pcap = pcap_fopen_offline_with_tstamp_precision(
      s->fp, PCAP_TSTAMP_PRECISION_MICRO, perr);
  if (!s->pcap) {
    snprintf(err, errlen, "%s: not a capture libpcap can read: %s", name, perr);
    pcapsrc_free(s);
    return ERR_FORMAT;
  }
  s->dlt = pcap_datalink(s->pcap);
  if (!pcapsrc_link_supported(s->dlt)) {
    const char *d = pcap_datalink_val_to_name(s->dlt);
    snprintf(err, errlen,
             "%s: link type %s (%d) is not supported (Ethernet, Linux "
             "cooked, loopback and raw IP are)",
             name, d ? d : "?", s->dlt);
    pcapsrc_free(s);
    return ERR_FORMAT;
  }
  *out = s;
  return 0;
}

int pcapsrc_open_live(const char *iface, struct pcapsrc **out, char *err,
                      size_t errlen) {
  struct pcapsrc *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->live = 1;
  char perr[PCAP_ERRBUF_SIZE] = "";
  int rc;
  s->pcap = pcap_create(iface, perr);
  if (!s->pcap) {
    snprintf(err, errlen, "cannot capture on %s: %s", iface, perr);
    rc = -ENODEV;
    goto fail;
  }
  pcap_set_snaplen(s->pcap, SNAPLEN);
  pcap_set_promisc(s->pcap, 0);
  pcap_set_timeout(s->pcap, 100);
  pcap_set_buffer_size(s->pcap, 32 << 20);
  pcap_set_tstamp_precision(s->pcap, PCAP_TSTAMP_PRECISION_MICRO);
  int st = pcap_activate(s->pcap);
  if (st == PCAP_ERROR_PERM_DENIED ||
      (st < 0 && strstr(pcap_geterr(s->pcap), "ermission"))) {
    snprintf(err, errlen,
             "capturing on %s needs root or the CAP_NET_RAW capability "
             "(run as root, or: setcap cap_net_raw,cap_net_admin=eip "
             "mimic); libpcap: %s",
             iface, pcap_geterr(s->pcap));
    rc = -EPERM;
    goto fail;
  }
  if (st == PCAP_ERROR_NO_SUCH_DEVICE) {
    snprintf(err, errlen, "cannot capture on %s: no such interface (%s)", iface,
             pcap_geterr(s->pcap));
    rc = -ENODEV;
    goto fail;
  }
  if (st < 0) {
    snprintf(err, errlen, "cannot capture on %s: %s", iface,
             pcap_statustostr(st));
    rc = -EIO;
    goto fail;
  }
  s->dlt = pcap_datalink(s->pcap);
  if (!pcapsrc_link_supported(s->dlt)) {
    const char *d = pcap_datalink_val_to_name(s->dlt);
    snprintf(err, errlen, "%s: link type %s (%d) is not supported", iface,
             d ? d : "?", s->dlt);
    rc = ERR_FORMAT;
    goto fail;
  }
  /* Non-blocking with poll() below: Ctrl-C, --duration and --count are
   * checked at least every 100 ms even when no packet comes. */
  if (pcap_setnonblock(s->pcap, 1, perr) != 0) {
    snprintf(err, errlen, "%s: %s", iface, perr);
    rc = -EIO;
    goto fail;
  }
  *out = s;
  return 0;
fail:
  pcapsrc_free(s);
  return rc;
}

int pcapsrc_set_filter(struct pcapsrc *s, const char *filter, char *err,
                       size_t errlen) {
  struct bpf_program prog;
  if (pcap_compile(s->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    snprintf(err, errlen, "--filter '%s': %s", filter, pcap_geterr(s->pcap));
    return ERR_USAGE;
  }
  int rc = pcap_setfilter(s->pcap, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    snprintf(err, errlen, "--filter '%s': %s", filter, pcap_geterr(s->pcap));
    return ERR_USAGE;
  }
  return 0;
}

int pcapsrc_next(struct pcapsrc *s, struct pkt *out) {
  for (;;) {
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(s->pcap, &h, &data);
    if (rc == 1) {
      s->st.frames++;
      s->st.bytes += h->caplen;
      enum pkt_kind k = pcapsrc_decode(s->dlt, data, h->caplen, out);
      s->st.kind[k]++;
      if (k != PKT_TCP) continue;
      out->ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
      if (out->missing) s->st.snapped++;
      return PCAPSRC_SEGMENT;
    }
    if (rc == PCAP_ERROR_BREAK) return PCAPSRC_EOF;
    if (rc == 0) {
      /* Live, non-blocking: wait a little for the next packets. */
      int fd = pcap_get_selectable_fd(s->pcap);
      struct pollfd pfd = {.fd = fd, .events = POLLIN};
      int n = fd >= 0 ? poll(&pfd, 1, 100) : 0;
      if (n < 0 && errno == EINTR) return ERR_INTERRUPTED;
      if (n <= 0) return PCAPSRC_IDLE;
      continue;
    }
    /* An error: ours (decompression) or libpcap's (truncated record). */
    if (s->read_errno) {
      snprintf(s->errmsg, sizeof s->errmsg, "%s", input_error(s->in));
      return s->read_errno;
    }
    snprintf(s->errmsg, sizeof s->errmsg, "%s", pcap_geterr(s->pcap));
    return strstr(s->errmsg, "truncated") ? ERR_TRUNCATED : ERR_CORRUPT;
  }
}

void pcapsrc_stats(struct pcapsrc *s, struct pcapsrc_stats *out) {
  if (s->live) {
    struct pcap_stat ps;
    if (pcap_stats(s->pcap, &ps) == 0)
      s->st.dropped = (uint64_t)ps.ps_drop + ps.ps_ifdrop;
  }
  *out = s->st;
}

const char *pcapsrc_kind(const struct pcapsrc *s) {
  return s->live ? "live" : s->pcapng ? "pcapng" : "pcap";
}

const char *pcapsrc_link_name(const struct pcapsrc *s) {
  return link_name(s->dlt);
}

const char *pcapsrc_compression(const struct pcapsrc *s) {
  return s->compression;
}

uint64_t pcapsrc_file_bytes(const struct pcapsrc *s) {
  if (s->direct && s->fp) {
    off_t pos = ftello(s->fp);
    return pos > 0 ? (uint64_t)pos : 0;
  }
  return s->in ? input_bytes(s->in) : s->st.bytes;
}

const char *pcapsrc_error(const struct pcapsrc *s) {
  return s->errmsg;
}

void pcapsrc_free(struct pcapsrc *s) {
  if (!s) return;
  if (s->pcap)
    pcap_close(s->pcap); /* closes fp too */
  else if (s->fp)
    fclose(s->fp);
  input_close(s->in);
  free(s);
}
