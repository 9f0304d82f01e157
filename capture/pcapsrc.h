/* pcapsrc: TCP segments from a packet capture file (pcap or pcapng, plain,
 * gzip or zstd, read as a stream) or a live interface (libpcap, BPF
 * filter). Frames are decoded down to TCP: link layers Ethernet, Linux
 * cooked (SLL and SLL2), loopback/NULL and raw IP; 802.1Q / 802.1ad VLAN
 * tags; IPv4 and IPv6 (with extension headers). Every read of packet bytes
 * goes through bounds-checked getters; frames that are not TCP or cannot be
 * decoded are counted, never fatal. */
#ifndef MIMIC_PCAPSRC_H
#define MIMIC_PCAPSRC_H

#include <stddef.h>
#include <stdint.h>

struct input;
struct pcapsrc;

/* TCP flags, as in the header. */
enum {
  PKT_FIN = 0x01,
  PKT_SYN = 0x02,
  PKT_RST = 0x04,
  PKT_PSH = 0x08,
  PKT_ACK = 0x10,
};

/* One decoded TCP segment. */
struct pkt {
  int64_t ts_us; /* capture time, microseconds since the epoch */
  uint8_t af;    /* 4 or 6 */
  uint8_t flags; /* PKT_* */
  uint16_t sport, dport;
  uint8_t src[16], dst[16]; /* IPv4 addresses use the first 4 bytes */
  uint32_t seq, ack;
  const uint8_t *payload; /* TCP payload as captured; borrowed: valid until
                             the next pcapsrc_next / the frame's lifetime */
  uint32_t len;           /* captured payload bytes */
  uint32_t missing;       /* payload bytes the IP header announces beyond
                             the captured ones (snapshot length) */
};

/* What a frame turned out to be. */
enum pkt_kind {
  PKT_TCP = 0,   /* a TCP segment: the pkt is filled in */
  PKT_NOT_IP,    /* ARP, LLDP, STP, ... */
  PKT_NOT_TCP,   /* UDP, ICMP, ... */
  PKT_FRAGMENT,  /* an IP fragment (not reassembled) */
  PKT_MALFORMED, /* headers truncated or inconsistent */
  PKT_KINDS
};

/* libpcap DLT_* values of the supported link layers. */
int pcapsrc_link_supported(int dlt);

/* Decodes one frame of link type dlt (caplen bytes captured). Fills out
 * (payload points into frame) for PKT_TCP. Pure: for tests and fuzzing. */
enum pkt_kind pcapsrc_decode(int dlt, const uint8_t *frame, size_t caplen,
                             struct pkt *out);

/* 1 when the first bytes (at least 4) start a pcap or pcapng file. */
int pcapsrc_is_capture(const unsigned char *p, size_t n);

struct pcapsrc_stats {
  uint64_t frames;          /* frames read */
  uint64_t bytes;           /* captured bytes of those frames */
  uint64_t kind[PKT_KINDS]; /* frames by pkt_kind */
  uint64_t snapped;         /* TCP segments cut by the snapshot length */
  uint64_t dropped;         /* live: dropped by the kernel or interface */
};

/* Opens a capture read from in (which the source takes over, also on
 * failure). name is for messages. Returns 0, ERR_FORMAT (not a capture
 * libpcap reads, or an unsupported link type) or -ENOMEM, with a message in
 * err. */
int pcapsrc_open_input(struct input *in, const char *name, struct pcapsrc **out,
                       char *err, size_t errlen);

/* Opens a live capture on interface iface. Fails with -EPERM and a message
 * saying that root or CAP_NET_RAW is needed when libpcap is refused, -ENODEV
 * for an unknown interface, ERR_FORMAT for an unsupported link type. */
int pcapsrc_open_live(const char *iface, struct pcapsrc **out, char *err,
                      size_t errlen);

/* Applies a BPF filter (tcpdump syntax) to a live or file source. 0 or
 * ERR_USAGE with libpcap's message in err. */
int pcapsrc_set_filter(struct pcapsrc *s, const char *filter, char *err,
                       size_t errlen);

enum {
  PCAPSRC_EOF = 0,
  PCAPSRC_SEGMENT = 1, /* *out holds the next TCP segment */
  PCAPSRC_IDLE = 2,    /* live: nothing arrived for about 100 ms */
};

/* Reads up to the next TCP segment (frames of other kinds are counted and
 * skipped). Returns a PCAPSRC_* value or a negative code: ERR_TRUNCATED /
 * ERR_CORRUPT when the file ends in the middle or is damaged (the segments
 * before stay valid), ERR_INTERRUPTED when a read was interrupted by a
 * signal; pcapsrc_error() tells more. */
int pcapsrc_next(struct pcapsrc *s, struct pkt *out);

void pcapsrc_stats(struct pcapsrc *s, struct pcapsrc_stats *out);
/* "pcap", "pcapng" or "live". */
const char *pcapsrc_kind(const struct pcapsrc *s);
/* Link layer name ("Ethernet", "Linux cooked v2", ...). */
const char *pcapsrc_link_name(const struct pcapsrc *s);
/* Compression of the file ("plain", "gzip", "zstd"; "" when live). */
const char *pcapsrc_compression(const struct pcapsrc *s);
/* Uncompressed bytes read from the file (captured bytes when live). */
uint64_t pcapsrc_file_bytes(const struct pcapsrc *s);
const char *pcapsrc_error(const struct pcapsrc *s);

void pcapsrc_free(struct pcapsrc *s);

#endif
