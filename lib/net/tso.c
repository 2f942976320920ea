/*
 * TCP frames on their way out.  lwIP cannot leave a checksum partial, nor
 * build a segment larger than the peer's MSS, so both offloads are done
 * here, below it.
 *
 * Checksum: with the device's CSUM, lwIP leaves TCP checksums out (the
 * netif's flags), and the frame's field gets the pseudo-header sum that
 * the device adds the rest to (spec 5.1.6.2).
 *
 * Segmentation (TSO): lwIP sends a burst of MSS-sized segments of one
 * connection back to back (a file being served).  Each costs the device
 * model and the host as much as a 64 KiB one would, so while the segments
 * continue each other they are copied into one frame, and the device cuts
 * it again into segments of the first one's size (HOST_TSO4): the same
 * bytes on the wire, a fortieth of the frames through the ring.  A frame
 * that does not continue the pending one (another connection, a SYN, FIN
 * or RST, an ARP, a gap) sends the pending one first, so the order on the
 * wire is lwIP's.  What is pending goes out at the latest at the end of
 * the loop's turn (netstack_poll).
 */
#include "lib/net/tso.h"

#include <string.h>

#include "lwip/prot/ip.h"
#include "lwip/prot/tcp.h"

#define ETH_HLEN 14
#define IP_AT ETH_HLEN
#define TCP_CHECKSUM_AT 16 /* in the TCP header */
#define TSO_FRAMES 8 /* coalesced frames in flight at once, all devices */
#define TSO_BYTES (ETH_HLEN + 0xFFFF) /* an IP packet's largest */

static uint8_t frames[TSO_FRAMES][TSO_BYTES];
static uint8_t busy[TSO_FRAMES];

static uint32_t be(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t sum16(const uint8_t *p, unsigned n, uint32_t sum)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	return sum;
}

int tcp_frame_parse(const uint8_t *f, unsigned len, struct tcp_frame *t)
{
	if (len < IP_AT + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[IP_AT] >> 4) != 4 ||
	    f[IP_AT + 9] != IP_PROTO_TCP)
		return 0;
	t->ihl = (f[IP_AT] & 0x0F) * 4u;
	t->ip_len = be(f + IP_AT + 2, 2);
	unsigned tcp = IP_AT + t->ihl;
	if (t->ihl < 20 || len < tcp + 20 || ((f[IP_AT + 6] & 0x3F) | f[IP_AT + 7]))
		return -1; /* bad header, or a fragment */
	t->thl = (f[tcp + 12] >> 4) * 4u;
	t->hlen = tcp + t->thl;
	if (t->thl < 20 || len < t->hlen || t->ip_len < t->ihl + t->thl)
		return -1;
	t->seq = be(f + tcp + 4, 4);
	t->flags = f[tcp + 13];
	return 1;
}

void tcp_frame_to_device(uint8_t *f, const struct tcp_frame *t, struct net_tx_offload *off)
{
	unsigned tcp = IP_AT + t->ihl;
	/* Source and destination, protocol, TCP length: folded, not inverted. */
	uint16_t sum = fold(sum16(f + IP_AT + 12, 8, IP_PROTO_TCP + (t->ip_len - t->ihl)));

	f[tcp + TCP_CHECKSUM_AT] = (uint8_t)(sum >> 8);
	f[tcp + TCP_CHECKSUM_AT + 1] = (uint8_t)sum;
	*off = (struct net_tx_offload){(uint16_t)tcp, TCP_CHECKSUM_AT, 0, 0};
}

/* The headers of two segments of one flow differ only in the IP length,
 * id and checksum, the sequence number, PSH and the TCP checksum. */
static int same_flow(const uint8_t *a, const uint8_t *b, const struct tcp_frame *t)
{
	unsigned tcp = IP_AT + t->ihl;

	for (unsigned i = 0; i < t->hlen; i++) {
		int skip = (i >= IP_AT + 2 && i < IP_AT + 6) || i == IP_AT + 10 || i == IP_AT + 11 ||
			   (i >= tcp + 4 && i < tcp + 8) || i == tcp + TCP_CHECKSUM_AT ||
			   i == tcp + TCP_CHECKSUM_AT + 1;
		uint8_t mask = i == tcp + 13 ? (uint8_t)~TCP_PSH : 0xFF;
		if (!skip && (a[i] & mask) != (b[i] & mask))
			return 0;
	}
	return 1;
}

static uint8_t *grab(void)
{
	for (int i = 0; i < TSO_FRAMES; i++)
		if (!busy[i]) {
			busy[i] = 1;
			return frames[i];
		}
	return NULL;
}

int tso_is_frame(const void *cookie)
{
	return (const uint8_t *)cookie >= frames[0] && (const uint8_t *)cookie < frames[TSO_FRAMES];
}

void tso_done(void *cookie) { busy[((uint8_t *)cookie - frames[0]) / TSO_BYTES] = 0; }

int tso_take(struct tso_frame *t, struct net_device *d, struct pbuf *p)
{
	struct tcp_frame f;
	const uint8_t *h = p->payload;

	if (tcp_frame_parse(h, p->len, &f) != 1 || p->tot_len < IP_AT + f.ip_len) {
		tso_flush(t, d);
		return 0;
	}
	unsigned payload = f.ip_len - f.ihl - f.thl;
	/* Plain data: no SYN, FIN, RST or URG (a device cuts those wrong). */
	if (!payload || (f.flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG)) || !(f.flags & TCP_ACK)) {
		tso_flush(t, d);
		return 0;
	}
	int full = t->buf && t->len - t->t.hlen == t->segs * (uint32_t)t->mss;
	if (!(full && f.seq == t->seq_next && payload <= t->mss && t->len + payload <= TSO_BYTES &&
	      f.hlen == t->t.hlen && f.ihl == t->t.ihl && same_flow(t->buf, h, &f))) {
		tso_flush(t, d);
		t->buf = grab();
		if (!t->buf)
			return 0; /* every coalesced frame is in flight: this one goes alone */
		pbuf_copy_partial(p, t->buf, (u16_t)f.hlen, 0);
		t->len = f.hlen;
		t->mss = (uint16_t)payload;
		t->segs = 0;
		t->t = f;
	}
	pbuf_copy_partial(p, t->buf + t->len, (u16_t)payload, (u16_t)f.hlen);
	t->len += payload;
	t->segs++;
	t->seq_next = f.seq + payload;
	t->buf[IP_AT + t->t.ihl + 13] |= f.flags & TCP_PSH; /* the device leaves it on the last segment */
	return 1;
}

int tso_flush(struct tso_frame *t, struct net_device *d)
{
	struct net_tx_offload off;
	uint8_t *f = t->buf;

	if (!f)
		return 0;
	t->buf = NULL;
	if (t->segs > 1) { /* the IP header of the whole */
		t->t.ip_len = t->len - IP_AT;
		f[IP_AT + 2] = (uint8_t)(t->t.ip_len >> 8);
		f[IP_AT + 3] = (uint8_t)t->t.ip_len;
		f[IP_AT + 10] = f[IP_AT + 11] = 0;
		uint16_t sum = (uint16_t)~fold(sum16(f + IP_AT, t->t.ihl, 0));
		f[IP_AT + 10] = (uint8_t)(sum >> 8);
		f[IP_AT + 11] = (uint8_t)sum;
	}
	tcp_frame_to_device(f, &t->t, &off);
	if (t->segs > 1) {
		off.gso_size = t->mss;
		off.hdr_len = (uint16_t)t->t.hlen;
	}
	struct net_seg seg = {f, t->len};
	int err = net_transmit(d, &seg, 1, &off, f);
	if (err < 0)
		tso_done(f);
	return err;
}
