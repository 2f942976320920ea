/*
 * The netif: where lwIP meets a network device (drivers/net/net.h).
 *
 * Out: lwIP's linkoutput hands us a frame as a pbuf chain; each pbuf
 * becomes one segment of the transmit, read by the device where it lies
 * (the chain is referenced until the device is done: tx_done frees it; TCP
 * will not retransmit a segment the driver still holds).  A chain of more
 * pieces than the device takes is copied once into one pbuf.  Where the
 * device finishes TCP checksums, lwIP leaves them out and we write the
 * pseudo-header sum the device adds the rest to; where it also cuts large
 * segments, back-to-back segments are coalesced for it (tso.c).
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
#include "lwip/ip4.h"
#include "netif/ethernet.h"

static err_t linkoutput(struct netif *netif, struct pbuf *p)
{
	struct netif_glue *g = netif->state;
	struct net_device *d = g->dev;
	struct net_seg segs[NET_MAX_SEGS];
	struct net_tx_offload off;
	struct tcp_frame t;
	unsigned n = 0;
	int offload = 0;

	if ((d->offloads & NET_OFF_TSO4) && tso_take(&g->tso, d, p))
		return ERR_OK; /* coalesced (copied): goes out with the segments after it */
	if (d->offloads & NET_OFF_TX_CSUM) {
		offload = tcp_frame_parse(p->payload, p->len, &t);
		if (offload < 0) {
			d->stats.tx_dropped++;
			return ERR_IF;
		}
		if (offload)
			tcp_frame_to_device(p->payload, &t, &off);
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
	int err = net_transmit(d, segs, n, offload ? &off : NULL, out);
	if (err < 0) {
		pbuf_free(out);
		return err == -ENOBUFS ? ERR_MEM : ERR_IF;
	}
	return ERR_OK;
}

static void tx_done(struct net_device *d, void *cookie)
{
	(void)d;
	if (tso_is_frame(cookie))
		tso_done(cookie);
	else
		pbuf_free(cookie);
}

void netif_glue_flush(struct netif_glue *g) { tso_flush(&g->tso, g->dev); }

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

/* A frame longer than a pbuf chain can count (0xFFFF): a coalesced TCP
 * segment of an IP packet of nearly 64 KiB (GUEST_TSO4).  It goes to IP
 * without its Ethernet header, once that says it is IPv4 and for us (what
 * ethernet_input() would check before taking it off).  Returns 1 if it
 * does, 0 if it is to be dropped. */
static int strip_ethernet(struct netif_glue *g, struct net_rx_buf *first, uint32_t *total)
{
	const uint8_t *e = first->data;

	if (first->len < SIZEOF_ETH_HDR || memcmp(e, g->netif.hwaddr, ETH_HWADDR_LEN) != 0 || e[12] != 0x08 ||
	    e[13] != 0x00 || *total - SIZEOF_ETH_HDR > 0xFFFF)
		return 0;
	first->data += SIZEOF_ETH_HDR;
	first->len -= SIZEOF_ETH_HDR;
	*total -= SIZEOF_ETH_HDR;
	return 1;
}

static void rx(struct net_device *d, struct net_rx_buf *frame, unsigned flags)
{
	struct netif_glue *g = d->stack;
	uint32_t total = 0;

	for (struct net_rx_buf *b = frame; b; b = b->next)
		total += b->len;
	int ip_only = total > 0xFFFF;
	if (ip_only && !strip_ethernet(g, frame, &total)) {
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
	if (ip_only)
		ip4_input(p, &g->netif); /* takes p, whatever it does with it */
	else if (g->netif.input(p, &g->netif) != ERR_OK)
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
