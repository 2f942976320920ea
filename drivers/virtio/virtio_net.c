/*
 * The virtio-net driver.  Three queues, each a ring of descriptor chains:
 *
 *   receive (0)   [header | frame ...]  2048 bytes, device writes
 *                 (legacy without MRG_RXBUF: [header][frame] in two
 *                 descriptors, the header alone in the first)
 *   transmit (1)  [header][segment]...  device reads: the header from our
 *                 per-id array, the segments where the stack keeps them
 *   control (2N)  [class, command][data][ack]  the ack byte written
 *
 * Receive buffers are static, indexed 0..VIRTIO_NET_RX_BUFS-1, and each is
 * in one of three places: free (on rx_free), posted (in the ring, found by
 * its chain id through rx_id_buf), or held by the stack (from rx() to
 * net_rx_release()).  Poll takes used chains off the ring, hands the
 * frames to the stack in place, and posts free buffers back; the ring is
 * refilled before it can run dry, and the device is notified after each
 * refill (it waits for that once it has used every buffer).
 *
 * The device is not trusted: a used length past its buffer, a num_buffers
 * past what is posted, a frame cut short are counted (device_errors) and
 * dropped; an id that is not in flight means the ring can no longer be
 * read, and the device is reset and started again.  Nothing it says makes
 * the driver write outside its buffers, or hand the stack memory that is
 * not the stack's or a frame that breaks these rules.
 *
 * Everything runs in the caller's loop (net_poll, net_transmit); the
 * interrupt handlers only count and set a flag.
 */
#include "drivers/virtio/virtio_net.h"

#include <errno.h>
#include <string.h>

#include "drivers/platform.h"

#define F(bit) (1ull << (bit))
#define ETH_HLEN 14
#define MTU_MIN 68 /* the smallest MTU IPv4 allows; a device saying less is not believed */
#define TX_ROOM_WAIT_NS 20000000ull /* a full transmit ring: how long a sender waits for room */
#define CTRL_TIMEOUT_NS 1000000000ull /* for one control command */
#define RX_BUDGET 256 /* frames one poll takes at most, so timers and the console get their turn */
#define CTRL_QUEUE_SIZE 16 /* commands go one at a time (a legacy device's own size is taken) */
#define Q_RX 0
#define Q_TX 1

_Static_assert(VIRTIO_NET_RX_BUFS <= NET_RX_BUFS_MAX, "more receive buffers than the interface allows");

uint64_t virtio_net_wanted_features(const struct virtio_net_options *opt)
{
	uint64_t f = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
		     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MAC) |
		     F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ) |
		     F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ) |
		     F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_VERSION_1);
	if (opt->allow_packed)
		f |= F(VIRTIO_F_RING_PACKED);
	return f;
}

static int has(const struct virtio_net *vn, unsigned bit) { return virtio_has(&vn->vdev, bit); }

/* Tells the device about what was added to queue q, if it wants to be told. */
static void kick(struct virtio_net *vn, struct virtq *vq, unsigned q)
{
	if (virtq_kick_prepare(vq)) {
		vn->net.stats.notifies++;
		vn->vdev.t->notify(&vn->vdev, q);
	}
}

/* The device broke the protocol where the ring cannot be read on (an id
 * not in flight): the next poll resets it. */
static void device_error(struct virtio_net *vn)
{
	vn->net.stats.device_errors++;
	vn->needs_reset = 1;
}

/* ---- receive ---- */

/* Posts free buffers until the ring holds rx_target of them.  The caller
 * notifies the device (kick), once DRIVER_OK is set. */
static void rx_fill(struct virtio_net *vn)
{
	unsigned n = vn->rx_split_hdr ? 2 : 1;

	while (vn->rx_nfree && vn->rx_posted < vn->rx_target && virtq_has_room(&vn->rxq, n)) {
		uint16_t i = vn->rx_free[--vn->rx_nfree], id;
		uint8_t *m = vn->mem->rx[i];
		struct virtq_buf bufs[2] = {
			{plat_virt_to_phys(m), n == 2 ? vn->hdr_len : VIRTIO_NET_RX_BUF_BYTES, 1},
			{plat_virt_to_phys(m + vn->hdr_len), VIRTIO_NET_RX_BUF_BYTES - vn->hdr_len, 1},
		};
		if (virtq_add(&vn->rxq, bufs, n, &id) < 0) { /* room was checked: cannot happen */
			vn->rx_free[vn->rx_nfree++] = i;
			return;
		}
		vn->rx_id_buf[id] = i;
		vn->rx_state[i] = RXB_POSTED;
		vn->rx_posted++;
	}
}

static void rx_refill(struct virtio_net *vn)
{
	rx_fill(vn);
	kick(vn, &vn->rxq, Q_RX);
}

/* The buffer behind used chain id, now ours (held) and empty. */
static struct net_rx_buf *rx_take(struct virtio_net *vn, uint16_t id)
{
	uint16_t i = vn->rx_id_buf[id];
	struct net_rx_buf *b = &vn->rx_buf[i];

	vn->rx_state[i] = RXB_HELD;
	vn->rx_posted--;
	b->next = NULL;
	b->data = vn->mem->rx[i];
	b->len = 0;
	return b;
}

static void rx_put(struct virtio_net *vn, struct net_rx_buf *b)
{
	vn->rx_state[b->index] = RXB_FREE;
	vn->rx_free[vn->rx_nfree++] = b->index;
}

static void rx_drop(struct virtio_net *vn, struct net_rx_buf *first)
{
	vn->net.stats.rx_dropped++;
	while (first) {
		struct net_rx_buf *next = first->next;
		rx_put(vn, first);
		first = next;
	}
}

/* Takes one frame off the ring: its first used chain and, with MRG_RXBUF,
 * the num_buffers - 1 after it.  Hands it to the stack, or drops it if the
 * device lied about it.  Returns 1 (a frame was taken), 0 (none waiting),
 * or -EIO (the ring cannot be read on). */
static int rx_one(struct virtio_net *vn)
{
	unsigned posted = vn->rx_posted;
	uint16_t id;
	uint32_t len;
	int rc = virtq_get_used(&vn->rxq, &id, &len);

	if (rc == 0 || rc == -EIO)
		return rc;
	struct net_rx_buf *first = rx_take(vn, id), *last = first;
	/* The header is read once, here: the buffer is ours now. */
	struct virtio_net_hdr h;
	memcpy(&h, first->data, sizeof(h));
	unsigned nbufs = has(vn, VIRTIO_NET_F_MRG_RXBUF) ? h.num_buffers : 1;
	int bad = rc < 0 || len < vn->hdr_len;
	if (nbufs == 0 || nbufs > posted) {
		bad = 1;
		nbufs = 1; /* which buffers are this frame's is unknown: only this one goes */
	}
	uint32_t total = 0;
	if (!bad) {
		first->data += vn->hdr_len;
		first->len = total = len - vn->hdr_len;
	}
	/* Every buffer of a frame is made used together (spec 5.1.6.4): its
	 * followers are taken, and dropped with it when anything about the
	 * frame is wrong; one missing now was never coming. */
	for (unsigned k = 1; k < nbufs; k++) {
		rc = virtq_get_used(&vn->rxq, &id, &len);
		if (rc == -EIO) {
			rx_drop(vn, first);
			return rc;
		}
		if (rc == 0) {
			bad = 1;
			break;
		}
		last = last->next = rx_take(vn, id);
		last->len = len;
		total += len;
		bad |= rc < 0;
	}
	if (bad) {
		vn->net.stats.device_errors++;
		rx_drop(vn, first);
		return 1;
	}
	if (total < ETH_HLEN) { /* not even an Ethernet header */
		rx_drop(vn, first);
		return 1;
	}
	unsigned flags = 0;
	if (has(vn, VIRTIO_NET_F_GUEST_CSUM) &&
	    (h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)))
		flags |= NET_RX_CSUM_OK;
	if (vn->rx_nfree + vn->rx_posted < vn->rx_target / 2)
		flags |= NET_RX_LOW;
	vn->net.stats.rx_frames++;
	vn->net.stats.rx_bytes += total;
	vn->net.rx(&vn->net, first, flags);
	return 1;
}

static void vnet_release(struct net_device *nd, struct net_rx_buf *b)
{
	struct virtio_net *vn = nd->priv;

	/* A piece not held (given back twice) is ignored: it is posted or free already. */
	if (b >= vn->rx_buf && b < vn->rx_buf + VIRTIO_NET_RX_BUFS && vn->rx_state[b->index] == RXB_HELD)
		rx_put(vn, b);
}

/* ---- transmit ---- */

/* Takes finished transmits off the ring and gives their cookies back. */
static void tx_reclaim(struct virtio_net *vn)
{
	uint16_t id;
	uint32_t len;
	int rc;

	while ((rc = virtq_get_used(&vn->txq, &id, &len)) != 0) {
		if (rc == -EIO) {
			device_error(vn);
			return;
		}
		vn->net.tx_done(&vn->net, vn->tx_cookie[id]);
	}
}

struct room_wait {
	struct virtio_net *vn;
	unsigned need;
};

static int tx_room_ready(void *arg)
{
	struct room_wait *w = arg;
	struct virtio_net *vn = w->vn;

	for (;;) {
		tx_reclaim(vn);
		if (vn->needs_reset || virtq_has_room(&vn->txq, w->need))
			return 1;
		if (!vn->opt.use_irq || !virtq_enable_irq(&vn->txq))
			return 0; /* about to halt: the interrupt was asked for before this last look */
	}
}

/* The ring is full: waits, bounded, for the device to finish some.
 * Returns 0 when there is room. */
static int tx_wait_room(struct virtio_net *vn, unsigned need)
{
	struct room_wait w = {vn, need};
	int err = plat_wait_until(tx_room_ready, &w, plat_time_ns() + TX_ROOM_WAIT_NS, vn->opt.use_irq);
	virtq_disable_irq(&vn->txq);
	return err == 0 && !vn->needs_reset ? 0 : -ENOBUFS;
}

static int vnet_transmit(struct net_device *nd, const struct net_seg *segs, unsigned n,
			 const struct net_tx_offload *off, void *cookie)
{
	struct virtio_net *vn = nd->priv;
	struct virtq_buf bufs[NET_MAX_SEGS + 1];
	uint32_t total = 0;
	uint16_t id;
	int gso = off && off->gso_size;

	if (n == 0 || n > nd->max_segs || (off && !(nd->offloads & NET_OFF_TX_CSUM)) ||
	    (gso && !(nd->offloads & NET_OFF_TSO4)))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (segs[i].len == 0)
			return -EINVAL;
		bufs[i + 1] = (struct virtq_buf){plat_virt_to_phys(segs[i].data), segs[i].len, 0};
		total += segs[i].len;
	}
	if (total < ETH_HLEN || total > (gso ? 0xFFFFu : nd->mtu) + ETH_HLEN ||
	    (off && (uint32_t)off->start + off->offset + 2 > total) || (gso && off->hdr_len >= total))
		return -EINVAL;
	if (!vn->live || vn->needs_reset) {
		nd->stats.tx_dropped++;
		return -EIO;
	}
	tx_reclaim(vn);
	if (!virtq_has_room(&vn->txq, n + 1) && tx_wait_room(vn, n + 1) < 0) {
		nd->stats.tx_dropped++;
		return vn->needs_reset ? -EIO : -ENOBUFS;
	}
	struct virtio_net_hdr *h = &vn->mem->tx_hdr[virtq_next_id(&vn->txq)];
	memset(h, 0, sizeof(*h)); /* GSO_NONE; num_buffers 0 on transmit */
	if (off) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = off->start;
		h->csum_offset = off->offset;
	}
	if (gso) { /* spec 5.1.6.2: the device cuts it into gso_size-byte segments */
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = off->gso_size;
		h->hdr_len = off->hdr_len;
	}
	bufs[0] = (struct virtq_buf){plat_virt_to_phys(h), vn->hdr_len, 0};
	if (virtq_add(&vn->txq, bufs, n + 1, &id) < 0) { /* room was checked: cannot happen */
		nd->stats.tx_dropped++;
		return -ENOBUFS;
	}
	vn->tx_cookie[id] = cookie;
	nd->stats.tx_frames++;
	nd->stats.tx_bytes += total;
	kick(vn, &vn->txq, Q_TX);
	return 0;
}

/* ---- control queue ---- */

static int ctrl_ready(void *arg) { return virtq_has_used(&((struct virtio_net *)arg)->ctrlq); }

/* Sends one command and waits, bounded, for its ack (spinning: commands
 * are rare, and QEMU answers at the notification).  Returns 0, -ENOTSUP
 * (no control queue), -EIO (refused, or the device is not live), or
 * -ETIMEDOUT (no answer: no command is sent again until a reset). */
static int ctrl_cmd(struct virtio_net *vn, uint8_t class, uint8_t cmd, const uint8_t *data, unsigned len)
{
	struct virtio_net_ctrl *c = &vn->mem->ctrl;
	struct virtq_buf bufs[3];
	unsigned n = 0;
	uint16_t id;
	uint32_t used_len;

	if (!has(vn, VIRTIO_NET_F_CTRL_VQ))
		return -ENOTSUP;
	if (!vn->live || vn->ctrl_broken || len > sizeof(c->data))
		return -EIO;
	c->class = class;
	c->cmd = cmd;
	if (len)
		memcpy(c->data, data, len);
	c->ack = 0xFF; /* anything but OK, in case the device never writes it */
	/* Class and command, data, ack: three descriptors, as a legacy device
	 * without ANY_LAYOUT needs them. */
	bufs[n++] = (struct virtq_buf){plat_virt_to_phys(&c->class), 2, 0};
	if (len)
		bufs[n++] = (struct virtq_buf){plat_virt_to_phys(c->data), len, 0};
	bufs[n++] = (struct virtq_buf){plat_virt_to_phys(&c->ack), 1, 1};
	if (virtq_add(&vn->ctrlq, bufs, n, &id) < 0)
		return -EIO;
	kick(vn, &vn->ctrlq, vn->ctrl_index);
	if (plat_wait_until(ctrl_ready, vn, plat_time_ns() + CTRL_TIMEOUT_NS, 0) < 0) {
		vn->ctrl_broken = 1;
		return -ETIMEDOUT;
	}
	if (virtq_get_used(&vn->ctrlq, &id, &used_len) < 0) {
		device_error(vn);
		return -EIO;
	}
	return *(volatile uint8_t *)&c->ack == VIRTIO_NET_OK ? 0 : -EIO;
}

/* Without a device MAC the filter is left promiscuous: it could not know
 * the address we made up. */
static int apply_rx_mode(struct virtio_net *vn)
{
	uint8_t on = (uint8_t)(vn->promisc || !has(vn, VIRTIO_NET_F_MAC));
	int err = ctrl_cmd(vn, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1);

	if (err == 0) {
		on = (uint8_t)vn->allmulti;
		err = ctrl_cmd(vn, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1);
	}
	return err;
}

static int vnet_set_rx_mode(struct net_device *nd, int promisc, int allmulti)
{
	struct virtio_net *vn = nd->priv;

	if (!has(vn, VIRTIO_NET_F_CTRL_RX))
		return -ENOTSUP;
	vn->promisc = !!promisc;
	vn->allmulti = !!allmulti;
	return apply_rx_mode(vn);
}

/* ---- configuration changes and interrupts ---- */

/* Runs in poll, after a configuration-change interrupt: the link went up
 * or down, the device asks for an announcement (it acks that once the
 * stack has sent it), or it asks to be reset (DEVICE_NEEDS_RESET). */
static void config_changed(struct virtio_net *vn)
{
	uint16_t status;

	vn->config_pending = 0; /* before reading: a change after the read comes again */
	if (!vn->live)
		return;
	if (vn->vdev.t->modern && (vn->vdev.t->get_status(&vn->vdev) & VIRTIO_STATUS_NEEDS_RESET)) {
		vn->needs_reset = 1;
		return;
	}
	if (!has(vn, VIRTIO_NET_F_STATUS) ||
	    virtio_read_config(&vn->vdev, VIRTIO_NET_CFG_STATUS, &status, 2) < 0)
		return;
	vn->status = status;
	int up = !!(status & VIRTIO_NET_S_LINK_UP);
	if (up != vn->net.link_up) {
		vn->net.link_up = up;
		vn->net.event(&vn->net, NET_EV_LINK);
	}
	if ((status & VIRTIO_NET_S_ANNOUNCE) && has(vn, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
		vn->net.event(&vn->net, NET_EV_ANNOUNCE);
		ctrl_cmd(vn, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0);
	}
}

static void queue_interrupt(void *arg)
{
	struct virtio_net *vn = arg;

	vn->net.stats.interrupts++; /* waking the halted loop is all it takes */
}

static void config_interrupt(void *arg)
{
	struct virtio_net *vn = arg;

	vn->net.stats.config_changes++;
	vn->config_pending = 1;
}

/* INTx lines are shared: the ISR status says whether this device raised
 * it (bit 0: a queue; bit 1: configuration), and reading it lowers the
 * line. */
static void intx_interrupt(void *arg)
{
	struct virtio_net *vn = arg;
	uint8_t isr = vn->vdev.t->isr(&vn->vdev);

	if (isr & 1)
		queue_interrupt(vn);
	if (isr & 2)
		config_interrupt(vn);
}

/* MSI-X entries: 0 receive, 1 configuration, 2 transmit (with a table of
 * two, transmit shares entry 0).  As in virtio_blk.c, no CPU vector is
 * asked for that might go unused: the receive queue's first (without it
 * an irq-mode driver does not use MSI-X), then the configuration's, then
 * the transmit queue's.  A polling driver asks only for the configuration
 * vector: link changes still interrupt.  Without MSI-X, INTx serves
 * everything (the ISR status tells them apart); without that, the driver
 * polls.  The control queue never interrupts: a command is waited for by
 * spinning. */
static void setup_interrupts(struct virtio_net *vn)
{
	struct pci_device *pci = vn->vdev.pci;
	int want_irq = vn->opt.use_irq, msix = pci && pci_msix_init(pci, &vn->msix) == 0;
	uint64_t addr;
	uint32_t data;

	vn->mode = "poll";
	vn->opt.use_irq = 0;
	vn->config_vector = vn->vector[0] = vn->vector[1] = vn->vector[2] = VIRTIO_NO_VECTOR;
	if (msix && vn->msix.table_size >= 2 &&
	    (!want_irq || plat_msi_alloc(queue_interrupt, vn, &addr, &data) == 0)) {
		if (want_irq) {
			pci_msix_set(&vn->msix, 0, addr, data);
			vn->vector[Q_RX] = vn->vector[Q_TX] = 0;
			vn->mode = "msix";
			vn->opt.use_irq = 1;
		}
		if (plat_msi_alloc(config_interrupt, vn, &addr, &data) == 0) {
			pci_msix_set(&vn->msix, 1, addr, data);
			vn->config_vector = 1;
		}
		if (want_irq && vn->msix.table_size >= 3 &&
		    plat_msi_alloc(queue_interrupt, vn, &addr, &data) == 0) {
			pci_msix_set(&vn->msix, 2, addr, data);
			vn->vector[Q_TX] = 2;
		}
		if (want_irq || vn->config_vector == 1) {
			pci_msix_enable(pci, &vn->msix, 1);
			vn->vdev.t->msix_changed(&vn->vdev, 1);
			return;
		}
	}
	if (msix)
		pci_msix_enable(pci, &vn->msix, 0); /* firmware may have left it on: INTx is off then */
	if (pci && pci->irq_pin && pci->irq_line != 0xFF &&
	    plat_intx_attach(pci->irq_line, intx_interrupt, vn) == 0 && want_irq) {
		vn->mode = "intx";
		vn->opt.use_irq = 1;
	}
}

/* ---- bring-up ---- */

/* Our subset of what the device offers, with the specification's
 * dependencies (5.1.3.1): the control queue's features only with it, MTU
 * only when the device's value is sane and fits our buffers, MQ only when
 * the control queue's number (2 x max_virtqueue_pairs) fits 16 bits:
 * without MQ the one pair we use is all the same, and the control queue is
 * number 2.  (The configuration may be read before accepting, to decide:
 * spec 3.1.1.) */
static uint64_t choose_features(struct virtio_net *vn, uint64_t offered)
{
	uint64_t want = virtio_net_wanted_features(&vn->opt) & offered;
	uint16_t mtu, pairs;

	if (!(want & F(VIRTIO_NET_F_CTRL_VQ)))
		want &= ~(F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_NET_F_MQ));
	/* Large segments only into mergeable buffers (else each buffer would
	 * need 64 KiB), and only with their partial checksums accepted. */
	if (!(want & F(VIRTIO_NET_F_MRG_RXBUF)) || !(want & F(VIRTIO_NET_F_GUEST_CSUM)))
		want &= ~F(VIRTIO_NET_F_GUEST_TSO4);
	if (!(want & F(VIRTIO_NET_F_CSUM)))
		want &= ~F(VIRTIO_NET_F_HOST_TSO4); /* segments the device cuts, it checksums */
	if ((want & F(VIRTIO_NET_F_MQ)) &&
	    (virtio_read_config(&vn->vdev, VIRTIO_NET_CFG_MAX_PAIRS, &pairs, 2) < 0 || pairs == 0 ||
	     pairs > 0x7FFF))
		want &= ~F(VIRTIO_NET_F_MQ);
	if ((want & F(VIRTIO_NET_F_MTU)) &&
	    (virtio_read_config(&vn->vdev, VIRTIO_NET_CFG_MTU, &mtu, 2) < 0 || mtu < MTU_MIN ||
	     (!(want & F(VIRTIO_NET_F_MRG_RXBUF)) &&
	      mtu + ETH_HLEN + sizeof(struct virtio_net_hdr) > VIRTIO_NET_RX_BUF_BYTES)))
		want &= ~F(VIRTIO_NET_F_MTU);
	return want;
}

/* A locally administered unicast address (bit 1 of the first byte set, bit
 * 0 clear), made once per device from the clock and its PCI slot. */
static void make_mac(struct virtio_net *vn)
{
	uint64_t x = plat_time_ns() * 0x9E3779B97F4A7C15ull;

	if (vn->vdev.pci)
		x ^= (uint64_t)vn->vdev.pci->bus << 16 | (uint64_t)vn->vdev.pci->dev << 8 | vn->vdev.pci->fn;
	for (int i = 0; i < NET_ETH_ALEN; i++, x >>= 8)
		vn->net.mac[i] = (uint8_t)x;
	vn->net.mac[0] = (uint8_t)((vn->net.mac[0] & 0xFC) | 0x02);
}

/* Returns 0, or a negative errno when the configuration cannot be read or
 * makes no sense. */
static int read_config(struct virtio_net *vn, uint8_t *generation)
{
	struct virtio_dev *d = &vn->vdev;
	uint16_t mtu = 1500;
	int err = 0;

	*generation = d->t->config_generation(d);
	if (has(vn, VIRTIO_NET_F_MAC)) {
		for (unsigned i = 0; i < NET_ETH_ALEN && err == 0; i++)
			err = virtio_read_config(d, VIRTIO_NET_CFG_MAC + i, &vn->net.mac[i], 1);
	} else if (!vn->mac_made) {
		make_mac(vn);
		vn->mac_made = 1;
	}
	vn->status = VIRTIO_NET_S_LINK_UP; /* without STATUS the link is taken to be up */
	if (err == 0 && has(vn, VIRTIO_NET_F_STATUS))
		err = virtio_read_config(d, VIRTIO_NET_CFG_STATUS, &vn->status, 2);
	vn->max_pairs = 1;
	if (err == 0 && has(vn, VIRTIO_NET_F_MQ))
		err = virtio_read_config(d, VIRTIO_NET_CFG_MAX_PAIRS, &vn->max_pairs, 2);
	if (err == 0 && has(vn, VIRTIO_NET_F_MTU))
		err = virtio_read_config(d, VIRTIO_NET_CFG_MTU, &mtu, 2);
	if (err < 0)
		return err;
	if (vn->max_pairs == 0 || vn->max_pairs > 0x7FFF || mtu < MTU_MIN)
		return -EINVAL; /* changed since choose_features() looked */
	vn->net.mtu = mtu;
	vn->net.link_up = !!(vn->status & VIRTIO_NET_S_LINK_UP);
	return 0;
}

/* Lays out and enables queue q, at most `limit` entries (the device's own
 * size on a legacy transport, which cannot be told another). */
static int setup_queue(struct virtio_net *vn, struct virtq *vq, unsigned q, unsigned limit, void *mem,
		       uint16_t vector)
{
	struct virtio_dev *d = &vn->vdev;
	unsigned max = d->t->queue_max(d, q);
	unsigned size = max < limit ? max : limit;
	int packed = has(vn, VIRTIO_F_RING_PACKED);
	uint64_t desc, driver, device;

	if (!packed)
		while (size & (size - 1))
			size &= size - 1; /* split rings are a power of two */
	if (size == 0 || (!d->t->modern && size != max))
		return -EINVAL;
	int err = virtq_init(vq, size, packed, has(vn, VIRTIO_F_EVENT_IDX), has(vn, VIRTIO_F_INDIRECT_DESC),
			     mem, plat_virt_to_phys(mem));
	if (err < 0)
		return err;
	virtq_addrs(vq, &desc, &driver, &device);
	if (d->t->queue_setup(d, q, size, desc, driver, device, vector) < 0)
		return -EIO;
	virtq_disable_irq(vq); /* interrupts are asked for only before a halt */
	return 0;
}

/* Everything between reset and DRIVER_OK; also the way back after a reset.
 * What the device held must already be ours again (reclaim_all). */
static int bring_up(struct virtio_net *vn, const char **why)
{
	struct virtio_dev *d = &vn->vdev;
	uint64_t offered;
	uint8_t generation;
	int err = virtio_begin(d, &offered);

	if (err == 0)
		err = virtio_accept(d, choose_features(vn, offered));
	if (err < 0) {
		*why = err == -ENODEV ? "reset did not complete" : "device refused our features";
		return err;
	}
	/* 12 bytes whenever VERSION_1 or MRG_RXBUF, else 10 (spec 5.1.6.1). */
	vn->hdr_len = has(vn, VIRTIO_F_VERSION_1) || has(vn, VIRTIO_NET_F_MRG_RXBUF) ? 12 : 10;
	/* On a legacy device, where we never accept ANY_LAYOUT, the header sits
	 * alone in its descriptor (spec 5.1.6.6); with MRG_RXBUF each buffer is
	 * one descriptor, header included, as Linux posts them and QEMU takes
	 * them. */
	vn->rx_split_hdr = !d->t->modern && !has(vn, VIRTIO_NET_F_MRG_RXBUF);
	if (read_config(vn, &generation) < 0) {
		*why = "device configuration unreadable or insane";
		goto fail;
	}
	vn->ctrl_index = (uint16_t)(2 * vn->max_pairs);
	unsigned ctrl_limit = d->t->modern ? CTRL_QUEUE_SIZE : VIRTIO_NET_CTRL_QMAX;
	if (setup_queue(vn, &vn->rxq, Q_RX, VIRTQ_MAX, vn->mem->ring[0], vn->vector[Q_RX]) < 0 ||
	    setup_queue(vn, &vn->txq, Q_TX, VIRTQ_MAX, vn->mem->ring[1], vn->vector[Q_TX]) < 0 ||
	    (has(vn, VIRTIO_NET_F_CTRL_VQ) && setup_queue(vn, &vn->ctrlq, vn->ctrl_index, ctrl_limit,
							  vn->mem->ctrl_ring, VIRTIO_NO_VECTOR) < 0)) {
		*why = "queue set-up refused";
		goto fail;
	}
	unsigned chain_max = virtq_max_chain(&vn->txq);
	if ((vn->rx_split_hdr && virtq_max_chain(&vn->rxq) < 2) || chain_max < 2 ||
	    (has(vn, VIRTIO_NET_F_CTRL_VQ) && virtq_max_chain(&vn->ctrlq) < 3)) {
		*why = "queue too small for a frame";
		goto fail;
	}
	/* Lengths: a receive chain's are what the stack is handed, checked
	 * against the buffer (even on packed rings without WRITE: see
	 * virtq.h); transmit and control lengths carry nothing we read (and
	 * legacy devices' are unreliable, spec 2.7.8.2). */
	vn->rxq.trust_len = vn->rxq.len_without_write = 1;
	vn->net.max_segs = chain_max - 1 < NET_MAX_SEGS ? chain_max - 1 : NET_MAX_SEGS;
	vn->net.offloads = (has(vn, VIRTIO_NET_F_CSUM) ? NET_OFF_TX_CSUM : 0) |
			   (has(vn, VIRTIO_NET_F_GUEST_CSUM) ? NET_OFF_RX_CSUM : 0) |
			   (has(vn, VIRTIO_NET_F_HOST_TSO4) ? NET_OFF_TSO4 : 0);
	unsigned capacity = vn->rx_split_hdr && !vn->rxq.indirect ? vn->rxq.size / 2 : vn->rxq.size;
	vn->rx_target = capacity < VIRTIO_NET_RX_BUFS / 2 ? capacity : VIRTIO_NET_RX_BUFS / 2;
	if (d->t->set_config_vector(d, vn->config_vector) < 0)
		vn->config_vector = VIRTIO_NO_VECTOR; /* it works, but cannot tell of a link change */
	rx_fill(vn);
	vn->ctrl_broken = 0;
	virtio_driver_ok(d);
	vn->live = 1;
	kick(vn, &vn->rxq, Q_RX); /* no notification before DRIVER_OK (spec 3.1.1) */
	if (has(vn, VIRTIO_NET_F_CTRL_RX))
		apply_rx_mode(vn);
	/* A change since read_config() was not announced: the device may not
	 * notify before DRIVER_OK (spec 2.1.2). */
	if (d->t->config_generation(d) != generation)
		vn->config_pending = 1;
	return 0;
fail:
	virtio_fail(d);
	return -EIO;
}

/* After a reset: nothing is the device's any more.  Posted buffers are
 * free again, and every transmit in flight is given back (it may or may
 * not have gone out). */
static void reclaim_all(struct virtio_net *vn)
{
	for (unsigned id = 0; id < vn->txq.size; id++)
		if (vn->txq.in_flight[id]) {
			vn->txq.in_flight[id] = 0;
			vn->net.tx_done(&vn->net, vn->tx_cookie[id]);
		}
	for (uint16_t i = 0; i < VIRTIO_NET_RX_BUFS; i++)
		if (vn->rx_state[i] == RXB_POSTED)
			rx_put(vn, &vn->rx_buf[i]);
	vn->rx_posted = 0;
}

/* The device broke the protocol or asked for a reset: reset it and start
 * over (the stack hears of a link that came back different).  One that
 * does not even reset is given up: with its PCI function's bus mastering
 * off it can no longer touch our memory, and what it held is ours again;
 * without a PCI function (the host tests) its buffers stay where they are,
 * never reused. */
static void recover(struct virtio_net *vn)
{
	const char *why = NULL;
	int link = vn->net.link_up;

	vn->net.stats.resets++;
	vn->live = 0;
	vn->needs_reset = 0;
	if (virtio_reset(&vn->vdev) < 0) {
		why = "reset failed";
		if (vn->vdev.pci) {
			pci_stop_dma(vn->vdev.pci);
			reclaim_all(vn);
		}
	} else {
		reclaim_all(vn);
		bring_up(vn, &why);
	}
	if (!vn->live) {
		vn->broken = 1;
		vn->broken_why = why;
		vn->net.link_up = 0;
	}
	if (vn->net.link_up != link)
		vn->net.event(&vn->net, NET_EV_LINK);
}

/* ---- the interface ---- */

static int vnet_poll(struct net_device *nd)
{
	struct virtio_net *vn = nd->priv;
	int taken = 0, rc = 0;

	if (vn->config_pending)
		config_changed(vn);
	if (vn->needs_reset)
		recover(vn);
	if (vn->broken)
		return -EIO;
	virtq_disable_irq(&vn->rxq); /* busy now; net_arm asks again before a halt */
	tx_reclaim(vn);
	while (taken < RX_BUDGET && (rc = rx_one(vn)) > 0) {
		taken++;
		if (vn->rx_posted < vn->rx_target / 2)
			rx_refill(vn); /* a burst must not empty the ring before the end */
	}
	if (rc < 0)
		device_error(vn);
	if (vn->needs_reset)
		recover(vn);
	else
		rx_refill(vn);
	return taken;
}

static int vnet_arm(struct net_device *nd)
{
	struct virtio_net *vn = nd->priv;

	if (vn->config_pending || vn->needs_reset)
		return 1;
	if (!vn->live)
		return 0; /* given up: nothing will come */
	/* Buffers the stack gave back since the last poll: the ring may be
	 * starving for them, and no frame (no interrupt) comes until they
	 * are posted. */
	if (vn->rx_nfree && vn->rx_posted < vn->rx_target)
		return 1;
	return virtq_enable_irq(&vn->rxq);
}

static const struct net_ops vnet_ops = {
	.transmit = vnet_transmit,
	.poll = vnet_poll,
	.arm = vnet_arm,
	.release = vnet_release,
	.set_rx_mode = vnet_set_rx_mode,
};

int virtio_net_start(struct virtio_net *vn, const struct virtio_net_options *opt, struct virtio_net_mem *mem,
		     const char **why)
{
	vn->opt = *opt;
	vn->mem = mem;
	vn->live = vn->needs_reset = vn->config_pending = 0;
	vn->broken = 0;
	vn->rx_posted = 0;
	vn->rx_nfree = 0;
	for (uint16_t i = VIRTIO_NET_RX_BUFS; i-- > 0;) {
		vn->rx_buf[i].index = i;
		vn->rx_state[i] = RXB_FREE;
		vn->rx_free[vn->rx_nfree++] = i;
	}
	/* The filter: our own address, broadcast, all multicast (no table is
	 * kept). */
	vn->promisc = 0;
	vn->allmulti = 1;
	memset(&vn->net.stats, 0, sizeof(vn->net.stats));
	/* Reset first, so a device the firmware left running stops before its
	 * interrupts are rewired. */
	if (virtio_reset(&vn->vdev) < 0) {
		virtio_fail(&vn->vdev);
		*why = "reset did not complete";
		return -ENODEV;
	}
	setup_interrupts(vn);
	int err = bring_up(vn, why);
	if (err < 0)
		return err;
	vn->net.use_irq = vn->opt.use_irq;
	vn->net.rx_bufs = VIRTIO_NET_RX_BUFS;
	vn->net.ops = &vnet_ops;
	vn->net.priv = vn;
	return 0;
}

static struct virtio_net devices[VIRTIO_NET_MAX_DEVICES];
static struct virtio_net_mem mems[VIRTIO_NET_MAX_DEVICES];
static int ndevices;

static struct virtio_dev *slot_dev(int i)
{
	memset(&devices[i], 0, sizeof(devices[i]));
	return &devices[i].vdev;
}

static int slot_start(int i, const void *opt, const char **why)
{
	struct virtio_net *vn = &devices[i];
	int err = virtio_net_start(vn, opt, &mems[i], why);

	if (err == 0 && (err = net_register(&vn->net)) < 0) {
		*why = "too many network devices";
		vn->live = 0;
		if (virtio_reset(&vn->vdev) < 0)
			virtio_fail(&vn->vdev);
	}
	return err;
}

static int slot_kept(int i) { return devices[i].mode != NULL; }

int virtio_net_probe_all(const struct virtio_net_options *opt,
			 void (*report)(const struct pci_device *pci, int err, const char *why))
{
	static const struct virtio_probe probe = {
		0x1000,
		0x1041,
		"too many virtio-net devices",
		VIRTIO_NET_MAX_DEVICES,
		&ndevices,
		slot_dev,
		slot_start,
		slot_kept,
	};

	return virtio_pci_probe(&probe, opt, report);
}

struct virtio_net *virtio_net_of(struct net_device *dev)
{
	return dev && dev->ops == &vnet_ops ? dev->priv : NULL;
}
