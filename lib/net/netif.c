/*
 * The netif: where lwIP meets a network device (drivers/net/net.h).
 *
 * Out: lwIP's linkoutput hands us a frame as a pbuf chain; each pbuf
 * becomes one segment of the transmit, read by the device where it lies
 * (the chain is referenced until the device is done: tx_done frees it; TCP
 * will not retransmit a segment the driver still holds).  A chain of more
 * pieces than the device takes is copied once into one pbuf.  Where the
 * device finishes TCP checksums, lwIP leaves them out and we write the
 * pseudo-header sum the device adds the rest to.
 *
 * In: each received piece becomes a custom pbuf around the driver's own
 * memory, so a frame reaches lwIP without a copy, and goes back to the
 * driver when lwIP frees it.  When the driver runs short (NET_RX_LOW) the
 * frame is copied into lwIP's pool instead and the pieces go back at once,
 * so what lwIP holds for long (out-of-order segments, unread data) never
 * starves the ring.  A frame the device has checked (NET_RX_CSUM_OK) skips
 * lwIP's TCP and UDP checksum checks.
 */
#include <errno.h>
#include <string.h>

#include "lib/net/netif_glue.h"
#include "lwip/etharp.h"
#include "lwip/ip.h"
#include "netif/ethernet.h"

#define ETH_HLEN 14
#define TCP_CHECKSUM_AT 16 /* byte offset of the checksum in a TCP header */

/* ---- transmit ---- */

static uint32_t sum16(const uint8_t *p, unsigned n, uint32_t sum)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	return sum;
}

/* An IPv4 TCP frame whose headers are all in its first pbuf (lwIP builds
 * TCP segments so) gets the pseudo-header sum in its checksum field, and
 * *cs says where the device is to finish it.  Returns 1, or 0 for a frame
 * that is not TCP over IPv4 (its checksums were made by lwIP), or -1 for
 * a TCP frame that cannot be finished that way (never built by lwIP). */
static int tcp_checksum_to_device(struct pbuf *p, struct net_tx_csum *cs)
{
	uint8_t *f = p->payload;

	if (p->len < ETH_HLEN + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 ||
	    f[ETH_HLEN + 9] != IP_PROTO_TCP)
		return 0;
	unsigned ihl = (f[ETH_HLEN] & 0x0F) * 4u;
	unsigned total = (unsigned)f[ETH_HLEN + 2] << 8 | f[ETH_HLEN + 3];
	unsigned start = ETH_HLEN + ihl;
	if (ihl < 20 || total < ihl + 20 || p->len < start + 20 ||
	    ((f[ETH_HLEN + 6] & 0x3F) | f[ETH_HLEN + 7]))
		return -1; /* bad header, or a fragment */
	/* Source and destination, protocol, TCP length: folded, not inverted. */
	uint32_t sum = sum16(f + ETH_HLEN + 12, 8, IP_PROTO_TCP + (total - ihl));
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	f[start + TCP_CHECKSUM_AT] = (uint8_t)(sum >> 8);
	f[start + TCP_CHECKSUM_AT + 1] = (uint8_t)sum;
	cs->start = (uint16_t)start;
	cs->offset = TCP_CHECKSUM_AT;
	return 1;
}

static err_t linkoutput(struct netif *netif, struct pbuf *p)
{
	struct netif_glue *g = netif->state;
	struct net_device *d = g->dev;
	struct net_seg segs[NET_MAX_SEGS];
	struct net_tx_csum cs;
	unsigned n = 0;

	int offload = (d->offloads & NET_OFF_TX_CSUM) ? tcp_checksum_to_device(p, &cs) : 0;
	if (offload < 0) {
		d->stats.tx_dropped++;
		return ERR_IF;
	}
	for (struct pbuf *q = p; q && n <= d->max_segs; q = q->next)
		if (q->len) {
			if (n < d->max_segs)
				segs[n] = (struct net_seg){q->payload, q->len};
			n++;
		}
	struct pbuf *out = p;
	if (n > d->max_segs) { /* more pieces than one transmit takes: one copy */
		out = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
		if (!out) {
			d->stats.tx_dropped++;
			return ERR_MEM;
		}
		segs[0] = (struct net_seg){out->payload, out->len};
		n = 1;
	} else {
		pbuf_ref(p);
	}
	int err = net_transmit(d, segs, n, offload ? &cs : NULL, out);
	if (err < 0) {
		pbuf_free(out);
		return err == -ENOBUFS ? ERR_MEM : ERR_IF;
	}
	return ERR_OK;
}

static void tx_done(struct net_device *d, void *cookie)
{
	(void)d;
	pbuf_free(cookie);
}

/* ---- receive ---- */

static void rx_pbuf_free(struct pbuf *p)
{
	struct rx_pbuf *r = (struct rx_pbuf *)p;

	net_rx_release(r->dev, r->buf);
}

/* The frame as a chain of custom pbufs over the driver's pieces. */
static struct pbuf *rx_wrap(struct netif_glue *g, struct net_rx_buf *frame)
{
	struct pbuf *head = NULL;

	for (struct net_rx_buf *b = frame; b; b = b->next) {
		struct rx_pbuf *r = &g->rx[b->index];
		r->pc.custom_free_function = rx_pbuf_free;
		r->dev = g->dev;
		r->buf = b;
		struct pbuf *q = pbuf_alloced_custom(PBUF_RAW, (u16_t)b->len, PBUF_REF, &r->pc, b->data,
						     (u16_t)b->len);
		if (head)
			pbuf_cat(head, q);
		else
			head = q;
	}
	return head;
}

/* The frame copied into lwIP's pool; the pieces go back at once. */
static struct pbuf *rx_copy(struct net_device *d, struct net_rx_buf *frame, uint32_t total)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)total, PBUF_POOL);
	u16_t off = 0;

	for (struct net_rx_buf *b = frame, *next; b; b = next) {
		next = b->next;
		if (p)
			pbuf_take_at(p, b->data, (u16_t)b->len, off);
		off = (u16_t)(off + b->len);
		net_rx_release(d, b);
	}
	if (p)
		d->stats.rx_copied++;
	return p;
}

static void rx(struct net_device *d, struct net_rx_buf *frame, unsigned flags)
{
	struct netif_glue *g = d->stack;
	uint32_t total = 0;

	for (struct net_rx_buf *b = frame; b; b = b->next)
		total += b->len;
	if (total > 0xFFFF) { /* more than a pbuf chain can say */
		for (struct net_rx_buf *b = frame, *next; b; b = next) {
			next = b->next;
			net_rx_release(d, b);
		}
		d->stats.rx_dropped++;
		return;
	}
	struct pbuf *p = (flags & NET_RX_LOW) ? rx_copy(d, frame, total) : rx_wrap(g, frame);
	if (!p) {
		d->stats.rx_dropped++;
		return;
	}
	/* lwIP looks at the interface's flags while this frame is processed;
	 * the frame is processed to the end right here. */
	u16_t checks = g->chksum;
	if (flags & NET_RX_CSUM_OK)
		checks &= (u16_t) ~(NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP);
	NETIF_SET_CHECKSUM_CTRL(&g->netif, checks);
	if (g->netif.input(p, &g->netif) != ERR_OK)
		pbuf_free(p);
	NETIF_SET_CHECKSUM_CTRL(&g->netif, g->chksum);
}

/* ---- link events ---- */

static void event(struct net_device *d, unsigned what)
{
	struct netif_glue *g = d->stack;

	if (what & NET_EV_LINK) {
		if (d->link_up)
			netif_set_link_up(&g->netif);
		else
			netif_set_link_down(&g->netif);
	}
	if ((what & NET_EV_ANNOUNCE) && !ip4_addr_isany_val(*netif_ip4_addr(&g->netif)))
		etharp_gratuitous(&g->netif);
}

/* ---- attaching ---- */

static err_t glue_init(struct netif *netif)
{
	struct netif_glue *g = netif->state;
	struct net_device *d = g->dev;

	netif->name[0] = 'e';
	netif->name[1] = 't';
	netif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(netif->hwaddr, d->mac, ETH_HWADDR_LEN);
	netif->mtu = d->mtu;
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	netif->output = etharp_output;
	netif->linkoutput = linkoutput;
	netif_set_hostname(netif, "tinyvio");
	g->chksum = NETIF_CHECKSUM_ENABLE_ALL;
	if (d->offloads & NET_OFF_TX_CSUM)
		g->chksum &= (u16_t)~NETIF_CHECKSUM_GEN_TCP;
	NETIF_SET_CHECKSUM_CTRL(netif, g->chksum);
	return ERR_OK;
}

int netif_glue_attach(struct netif_glue *g, struct net_device *d)
{
	if (d->rx_bufs > NET_RX_BUFS_MAX)
		return -EINVAL;
	memset(&g->netif, 0, sizeof(g->netif));
	g->dev = d;
	d->stack = g;
	d->rx = rx;
	d->tx_done = tx_done;
	d->event = event;
	if (!netif_add(&g->netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4, g, glue_init, ethernet_input))
		return -ENOMEM;
	netif_set_up(&g->netif);
	if (d->link_up)
		netif_set_link_up(&g->netif);
	return 0;
}
