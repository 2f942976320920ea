/*
 * A simulated virtio-net device behind a struct virtio_transport (see
 * vsim_net.h), written from the virtio 1.x specification (section 5.1)
 * and QEMU's behaviour where the specification leaves room: the header
 * comes first in every buffer, merged buffers are filled in order and all
 * made used together, a frame that finds the receive ring empty waits for
 * the driver's notification, transmits and commands are taken at the
 * notification.
 *
 * What it checks of the driver, failing the test on the spot: feature
 * dependencies and the allow-list (what was not offered), configuration
 * fields read with their own width and only when they exist, queues set
 * up after FEATURES_OK and notified only after DRIVER_OK, receive buffers
 * device-writable and big enough (1526 bytes, or mtu + 14 and the header,
 * without MRG_RXBUF; the header alone in its own descriptor on a legacy
 * device without MRG_RXBUF), transmit chains device-readable, with the
 * header alone in its first descriptor on a legacy device, num_buffers 0,
 * NEEDS_CSUM only with CSUM and inside the frame, never DATA_VALID, never
 * a frame longer than the MTU allows; GSO only with HOST_TSO4, and then
 * a TCP/IPv4 segment of at most 14 + 65535 bytes whose header says what
 * the device needs to cut it (NEEDS_CSUM at the TCP checksum, which holds
 * the pseudo-header sum, hdr_len the headers' length, gso_size nonzero,
 * less than the payload, and segments within the MTU); receive buffers
 * for 64 KiB segments where GUEST_TSO4 is taken without MRG_RXBUF;
 * control commands framed as a legacy device needs them; and a transmit
 * chain held by the device not changed before it completes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/platform.h"
#include "tests/unit/vsim_net.h"
#include "tests/unit/wire.h"

#define F(bit) (1ull << (bit))
#define ETH_HLEN 14
#define VIRTIO_NET_F_SPEED_DUPLEX 63
#define CTRL_ERR 1
#define MAX_SIMS 4
#define GUEST_GSO_BUF 65589u /* the largest incoming packet with GUEST_TSO (spec 5.1.6.3) */
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static struct vsim_net *sim_of(struct virtio_dev *d) { return d->sim; }
static int neg(const struct vsim_net *s, unsigned bit) { return (s->negotiated >> bit) & 1; }
static int offered(const struct vsim_net *s, unsigned bit) { return (s->offered >> bit) & 1; }

static uint16_t cfg16(const struct vsim_net *s, unsigned off)
{
	uint16_t v;
	memcpy(&v, &s->cfg[off], 2);
	return v;
}

static void set_cfg16(struct vsim_net *s, unsigned off, uint16_t v) { memcpy(&s->cfg[off], &v, 2); }

void vsim_net_init(struct vsim_net *s, uint64_t features, int modern)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

	memset(s, 0, sizeof(*s));
	s->modern = modern;
	s->offered = features | (modern ? F(VIRTIO_F_VERSION_1) : 0);
	s->queue_max = 256;
	s->ctrl_queue_max = 64;
	s->config_vector = VIRTIO_NO_VECTOR;
	s->rxq.vector = s->txq.vector = s->ctrlq.vector = VIRTIO_NO_VECTOR;
	s->promisc = 1; /* as QEMU after a reset */
	memcpy(&s->cfg[VIRTIO_NET_CFG_MAC], mac, 6);
	set_cfg16(s, VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
	set_cfg16(s, VIRTIO_NET_CFG_MAX_PAIRS, 1);
	set_cfg16(s, VIRTIO_NET_CFG_MTU, 1500);
}

void vsim_net_set_mac(struct vsim_net *s, const uint8_t mac[6])
{
	memcpy(&s->cfg[VIRTIO_NET_CFG_MAC], mac, 6);
}
void vsim_net_set_mtu(struct vsim_net *s, uint16_t mtu) { set_cfg16(s, VIRTIO_NET_CFG_MTU, mtu); }
void vsim_net_set_max_pairs(struct vsim_net *s, uint16_t pairs)
{
	set_cfg16(s, VIRTIO_NET_CFG_MAX_PAIRS, pairs);
}

unsigned vsim_net_hdr_len(const struct vsim_net *s)
{
	return neg(s, VIRTIO_F_VERSION_1) || neg(s, VIRTIO_NET_F_MRG_RXBUF) ? 12 : 10;
}

/* The largest frame either way: mtu + 14 with MTU negotiated, else a
 * standard 1514. */
static uint32_t frame_max(const struct vsim_net *s)
{
	return (neg(s, VIRTIO_NET_F_MTU) ? cfg16(s, VIRTIO_NET_CFG_MTU) : 1500u) + ETH_HLEN;
}

static unsigned ctrl_index(const struct vsim_net *s)
{
	return 2u * (neg(s, VIRTIO_NET_F_MQ) ? cfg16(s, VIRTIO_NET_CFG_MAX_PAIRS) : 1u);
}

/* The function may read and write memory only while bus mastering is on. */
static int dma_allowed(void) { return (vsim_plat.cfg[4] & 4) != 0; }

static int live(const struct vsim_net *s)
{
	return (s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_NEEDS_RESET) &&
	       !(s->status & VIRTIO_STATUS_FAILED) && dma_allowed();
}

static void queue_reset(struct vsim_netq *q)
{
	memset(q, 0, sizeof(*q));
	q->vector = VIRTIO_NO_VECTOR;
}

static void device_reset(struct vsim_net *s)
{
	s->resets++;
	s->status = 0;
	s->negotiated = 0;
	s->isr = 0;
	s->config_vector = VIRTIO_NO_VECTOR;
	queue_reset(&s->rxq);
	queue_reset(&s->txq);
	queue_reset(&s->ctrlq);
	s->nrxbufs = 0;
	for (unsigned i = 0; i < s->nbacklog; i++) {
		free(s->backlog[i].big);
		s->backlog[i].big = NULL;
	}
	s->nbacklog = 0;
	s->rx_waiting = 0;
	s->ntxhold = 0; /* what it held is forgotten, never completed */
	s->promisc = 1;
	s->allmulti = 0;
	set_cfg16(s, VIRTIO_NET_CFG_STATUS, cfg16(s, VIRTIO_NET_CFG_STATUS) & ~VIRTIO_NET_S_ANNOUNCE);
}

/* ---- the transport ---- */

static uint8_t t_get_status(struct virtio_dev *d)
{
	struct vsim_net *s = sim_of(d);
	return s->stuck_in_reset && s->status == 0 ? VIRTIO_STATUS_ACKNOWLEDGE : s->status;
}

static void t_set_status(struct virtio_dev *d, uint8_t v)
{
	struct vsim_net *s = sim_of(d);

	if (v == 0) {
		device_reset(s);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK)) {
		if (!s->modern)
			fail_msg("FEATURES_OK written to a legacy device");
		if (s->refuse_features_ok)
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FAILED) && s->modern &&
	    !(v & VIRTIO_STATUS_FEATURES_OK))
		fail_msg("DRIVER_OK without FEATURES_OK");
	/* DEVICE_NEEDS_RESET is the device's: a driver writing back what it
	 * read neither sets nor clears it. */
	s->status = (uint8_t)((v & ~VIRTIO_STATUS_NEEDS_RESET) | (s->status & VIRTIO_STATUS_NEEDS_RESET));
}

static uint64_t t_get_features(struct virtio_dev *d)
{
	struct vsim_net *s = sim_of(d);
	return s->modern ? s->offered : s->offered & 0xFFFFFFFFull;
}

/* Section 5.1.3.1: what a feature needs. */
static void check_dependencies(uint64_t f)
{
	static const struct {
		unsigned bit, needs;
	} dep[] = {
		{VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_VQ},
		{VIRTIO_NET_F_GUEST_ANNOUNCE, VIRTIO_NET_F_CTRL_VQ},
		{VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_VQ},
		{19 /* CTRL_VLAN */, VIRTIO_NET_F_CTRL_VQ},
		{23 /* CTRL_MAC_ADDR */, VIRTIO_NET_F_CTRL_VQ},
		{7 /* GUEST_TSO4 */, VIRTIO_NET_F_GUEST_CSUM},
		{8 /* GUEST_TSO6 */, VIRTIO_NET_F_GUEST_CSUM},
		{10 /* GUEST_UFO */, VIRTIO_NET_F_GUEST_CSUM},
		{11 /* HOST_TSO4 */, VIRTIO_NET_F_CSUM},
		{12 /* HOST_TSO6 */, VIRTIO_NET_F_CSUM},
		{14 /* HOST_UFO */, VIRTIO_NET_F_CSUM},
	};
	for (unsigned i = 0; i < sizeof(dep) / sizeof(dep[0]); i++)
		if ((f & F(dep[i].bit)) && !(f & F(dep[i].needs)))
			fail_msg("driver accepted feature %u without %u (spec 5.1.3.1)", dep[i].bit,
				 dep[i].needs);
}

static void t_set_features(struct virtio_dev *d, uint64_t f)
{
	struct vsim_net *s = sim_of(d);

	if (f & ~t_get_features(d))
		fail_msg("driver accepted features %#llx that were not offered",
			 (unsigned long long)(f & ~t_get_features(d)));
	check_dependencies(f);
	s->negotiated = f;
}

/* Each field with its own width, and only a field that exists (5.1.4):
 * mac always, status with STATUS, max_virtqueue_pairs with MQ, mtu with
 * MTU, speed and duplex with SPEED_DUPLEX (offered, for a driver may read
 * before it accepts). */
static int t_read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width)
{
	struct vsim_net *s = sim_of(d);
	int ok;

	if (off < 6)
		ok = width == 1;
	else if (off == VIRTIO_NET_CFG_STATUS)
		ok = width == 2 && offered(s, VIRTIO_NET_F_STATUS);
	else if (off == VIRTIO_NET_CFG_MAX_PAIRS)
		ok = width == 2 && offered(s, VIRTIO_NET_F_MQ);
	else if (off == VIRTIO_NET_CFG_MTU)
		ok = width == 2 && offered(s, VIRTIO_NET_F_MTU);
	else if (off == 12)
		ok = width == 4 && offered(s, VIRTIO_NET_F_SPEED_DUPLEX);
	else if (off == 16)
		ok = width == 1 && offered(s, VIRTIO_NET_F_SPEED_DUPLEX);
	else
		ok = 0;
	if (!ok)
		fail_msg("config read of %u bytes at %u: no such field on this device (spec 5.1.4)", width,
			 off);
	memcpy(buf, &s->cfg[off], width);
	return 0;
}

/* A legacy device has no generation counter (the transport reads 0). */
static uint8_t t_config_generation(struct virtio_dev *d)
{
	struct vsim_net *s = sim_of(d);
	return s->modern ? s->generation : 0;
}

static unsigned t_queue_max(struct virtio_dev *d, unsigned q)
{
	struct vsim_net *s = sim_of(d);
	/* Without MQ the device has one pair, whatever the field says. */
	unsigned pairs = neg(s, VIRTIO_NET_F_MQ) ? cfg16(s, VIRTIO_NET_CFG_MAX_PAIRS) : 1;

	if (neg(s, VIRTIO_NET_F_CTRL_VQ) && q == ctrl_index(s))
		return s->ctrl_queue_max;
	return q < 2 * pairs ? s->queue_max : 0;
}

static int t_queue_setup(struct virtio_dev *d, unsigned q, unsigned size, uint64_t desc, uint64_t driver,
			 uint64_t device, uint16_t vector)
{
	struct vsim_net *s = sim_of(d);
	struct vsim_netq *nq;
	unsigned max = t_queue_max(d, q);

	if (s->modern && !(s->status & VIRTIO_STATUS_FEATURES_OK))
		fail_msg("queue %u set up before FEATURES_OK", q);
	if (s->status & VIRTIO_STATUS_DRIVER_OK)
		fail_msg("queue %u set up after DRIVER_OK", q);
	if (max == 0 || size == 0 || size > max || (!s->modern && size != max))
		return -EINVAL;
	if (q == 0)
		nq = &s->rxq;
	else if (q == 1)
		nq = &s->txq;
	else if (neg(s, VIRTIO_NET_F_CTRL_VQ) && q == ctrl_index(s))
		nq = &s->ctrlq;
	else {
		s->extra_queues++;
		return 0;
	}
	if (nq->enabled)
		fail_msg("queue %u set up twice without a reset", q);
	int packed = neg(s, VIRTIO_F_RING_PACKED);
	if (desc % 16 || driver % (packed ? 4 : 2) || device % 4)
		fail_msg("queue areas misaligned (spec 2.7.2 / 2.8.10)");
	nq->index = q;
	nq->size = size;
	nq->vector = vector;
	vsim_ring_init(&nq->ring, size, packed, neg(s, VIRTIO_F_EVENT_IDX), desc, driver, device);
	nq->enabled = 1;
	if (q == 0 && s->link_down_at_setup) {
		s->link_down_at_setup = 0;
		set_cfg16(s, VIRTIO_NET_CFG_STATUS, cfg16(s, VIRTIO_NET_CFG_STATUS) & ~VIRTIO_NET_S_LINK_UP);
		s->generation++;
	}
	return 0;
}

static int t_set_config_vector(struct virtio_dev *d, uint16_t vector)
{
	sim_of(d)->config_vector = vector;
	return 0;
}

static uint8_t t_isr(struct virtio_dev *d)
{
	struct vsim_net *s = sim_of(d);
	uint8_t v = s->isr;

	s->isr = 0;
	return v;
}

static void t_msix_changed(struct virtio_dev *d, int on) { (void)d, (void)on; }

/* ---- interrupts ---- */

/* A used-buffer notification: MSI-X on the queue's vector (none if MSI-X
 * is on and the queue has none), else ISR bit 0 and INTx; none at all for
 * a device without the PCI function (the platform models one). */
static int interrupt(struct vsim_net *s, struct vsim_netq *q)
{
	int delivered;

	if (!s->wired)
		return 0;
	if (vsim_msix_enabled()) {
		if (q->vector == VIRTIO_NO_VECTOR)
			return 0;
		delivered = vsim_raise_msix(q->vector);
		if (delivered && q->vector < VSIM_MSIX_MAX)
			s->msix_irqs[q->vector]++;
	} else {
		s->isr |= 1;
		delivered = vsim_raise_intx();
		if (delivered && s->isr)
			fail_msg("INTx handler left the line high (ISR not read)");
		s->intx_irqs += (unsigned)delivered;
	}
	q->interrupts += (unsigned)delivered;
	s->interrupts += (unsigned)delivered;
	return delivered;
}

int vsim_net_config_change(struct vsim_net *s)
{
	int delivered;

	s->generation++;
	if (!s->wired)
		return 0;
	if (vsim_msix_enabled()) {
		delivered = s->config_vector != VIRTIO_NO_VECTOR && vsim_raise_msix(s->config_vector);
		if (delivered && s->config_vector < VSIM_MSIX_MAX)
			s->msix_irqs[s->config_vector]++;
	} else {
		s->isr |= 2;
		delivered = vsim_raise_intx();
		if (delivered && s->isr)
			fail_msg("INTx handler left the line high (ISR not read)");
		s->intx_irqs += (unsigned)delivered;
	}
	s->config_interrupts += (unsigned)delivered;
	return delivered;
}

int vsim_net_set_link(struct vsim_net *s, int up)
{
	uint16_t st = cfg16(s, VIRTIO_NET_CFG_STATUS);
	set_cfg16(s, VIRTIO_NET_CFG_STATUS, up ? st | VIRTIO_NET_S_LINK_UP : st & ~VIRTIO_NET_S_LINK_UP);
	return vsim_net_config_change(s);
}

int vsim_net_announce(struct vsim_net *s)
{
	set_cfg16(s, VIRTIO_NET_CFG_STATUS, cfg16(s, VIRTIO_NET_CFG_STATUS) | VIRTIO_NET_S_ANNOUNCE);
	return vsim_net_config_change(s);
}

int vsim_net_needs_reset(struct vsim_net *s)
{
	if (!s->modern)
		fail_msg("a legacy device has no DEVICE_NEEDS_RESET");
	s->status |= VIRTIO_STATUS_NEEDS_RESET;
	return vsim_net_config_change(s);
}

/* ---- receive ---- */

/* Takes the next available receive buffer off the ring, checking it.
 * Returns 1, or 0 if the ring has none. */
static int rx_take_one(struct vsim_net *s)
{
	static struct vsim_chain c;
	unsigned hl = vsim_net_hdr_len(s);

	if (!vsim_ring_pop(&s->rxq.ring, &c))
		return 0;
	if (s->nrxbufs == VIRTQ_MAX)
		fail_msg("more receive buffers than a ring holds");
	if (c.n > VSIM_NET_RX_SEGS)
		fail_msg("receive buffer of %u descriptors", c.n);
	struct vsim_rxbuf *b = &s->rxbufs[s->nrxbufs++];
	memset(b, 0, sizeof(*b));
	b->id = c.id;
	b->ndescs = c.ndescs;
	b->n = c.n;
	for (unsigned i = 0; i < c.n; i++) {
		if (!c.seg[i].writable)
			fail_msg("device-readable descriptor in a receive buffer");
		b->seg[i] = c.seg[i];
		b->cap += c.seg[i].len;
	}
	if (neg(s, VIRTIO_NET_F_MRG_RXBUF)) {
		if (b->cap < hl)
			fail_msg(
				"mergeable receive buffer of %u bytes, less than the header (spec 5.1.6.3.1)",
				b->cap);
	} else {
		if (b->cap < hl + frame_max(s))
			fail_msg("receive buffer of %u bytes cannot hold a %u-byte frame and its header",
				 b->cap, frame_max(s));
		/* QEMU breaks the device (virtio_error) at a segment that does
		 * not fit; the specification asks for 65589 bytes and the header
		 * (5.1.6.3.1). */
		if (neg(s, VIRTIO_NET_F_GUEST_TSO4) && b->cap < hl + GUEST_GSO_BUF)
			fail_msg("GUEST_TSO4 without MRG_RXBUF: a receive buffer of %u bytes cannot hold a "
				 "64 KiB segment",
				 b->cap);
		if (!s->modern && b->seg[0].len != hl)
			fail_msg("legacy receive buffer: the %u-byte header is not alone in its descriptor "
				 "(%u "
				 "bytes)",
				 hl, b->seg[0].len);
	}
	return 1;
}

/* Bytes [off, off + n) of buffer b, scattered over its descriptors. */
static void rx_write(struct vsim_rxbuf *b, uint32_t off, const uint8_t *p, uint32_t n)
{
	for (unsigned i = 0; i < b->n && n; i++) {
		if (off >= b->seg[i].len) {
			off -= b->seg[i].len;
			continue;
		}
		uint32_t k = b->seg[i].len - off < n ? b->seg[i].len - off : n;
		memcpy(b->seg[i].p + off, p, k);
		p += k, n -= k, off = 0;
	}
	if (n)
		fail_msg("simulator wrote past a receive buffer");
}

/* Puts one frame into the ring: 1, or 0 when the buffers it needs are not
 * there (nothing is used then). */
static int rx_deliver(struct vsim_net *s, const uint8_t *frame, uint32_t len,
		      const struct vsim_net_rx_opts *o)
{
	unsigned hl = vsim_net_hdr_len(s);
	uint32_t total = hl + len;
	int mrg = neg(s, VIRTIO_NET_F_MRG_RXBUF);
	unsigned nb = 0;
	uint32_t room = 0;

	if (!live(s) || !s->rxq.enabled)
		return 0;
	/* The buffers the frame needs, from those already taken and then
	 * the ring. */
	for (;;) {
		while (nb < s->nrxbufs && room < total && (mrg || nb == 0))
			room += s->rxbufs[nb++].cap;
		if (nb && (room >= total || !mrg))
			break;
		if (!rx_take_one(s)) {
			vsim_ring_arm_notify(&s->rxq.ring);
			s->rx_waiting = 1; /* until the driver notifies */
			return 0;
		}
	}
	vsim_ring_arm_notify(&s->rxq.ring);
	if (!mrg && room < total)
		fail_msg("a %u-byte frame does not fit the %u-byte receive buffer", len, room);

	enum vsim_net_lie lie = s->lie;
	s->lie = VSIM_NET_HONEST;
	struct virtio_net_hdr h = {.flags = o ? o->flags : 0,
				   .gso_type = o ? o->gso_type : VIRTIO_NET_HDR_GSO_NONE,
				   .hdr_len = o ? o->hdr_len : 0,
				   .gso_size = o ? o->gso_size : 0,
				   .csum_start = o ? o->csum_start : 0,
				   .csum_offset = o ? o->csum_offset : 0,
				   .num_buffers = (uint16_t)nb};
	if (lie == VSIM_NET_RX_NUM_BUFFERS_HUGE)
		h.num_buffers = 0x7FFF;
	else if (lie == VSIM_NET_RX_NUM_BUFFERS_ZERO)
		h.num_buffers = 0;
	else if (lie == VSIM_NET_RX_NUM_BUFFERS_SHORT)
		h.num_buffers = (uint16_t)(nb + 1);

	/* Header then frame, each buffer filled before the next (5.1.6.4). */
	uint32_t used[VIRTQ_MAX];
	uint32_t done = 0;
	for (unsigned k = 0; k < nb; k++) {
		struct vsim_rxbuf *b = &s->rxbufs[k];
		uint32_t at = 0;
		if (k == 0) {
			rx_write(b, 0, (const uint8_t *)&h, hl);
			at = hl;
		}
		uint32_t n = b->cap - at < len - done ? b->cap - at : len - done;
		rx_write(b, at, frame + done, n);
		done += n;
		used[k] = at + n;
	}
	if (done != len)
		fail_msg("simulator lost %u bytes of a frame", len - done);
	if (lie == VSIM_NET_RX_LONG_LEN)
		used[0] = s->rxbufs[0].cap + 1;
	if (lie == VSIM_NET_RX_LONG_LEN_2ND) {
		if (nb < 2)
			fail_msg("VSIM_NET_RX_LONG_LEN_2ND needs a frame over two buffers");
		used[1] = s->rxbufs[1].cap + 1;
	}
	if (lie == VSIM_NET_RX_NUM_BUFFERS_SHORT && !mrg)
		fail_msg("VSIM_NET_RX_NUM_BUFFERS_SHORT needs MRG_RXBUF");

	int irq = 0;
	plat_wmb();
	for (unsigned k = 0; k < nb; k++) {
		uint16_t id = s->rxbufs[k].id;
		if (k == 0 && lie == VSIM_NET_RX_BAD_ID)
			id = (uint16_t)(s->rxq.size + 3);
		irq |= vsim_ring_push(&s->rxq.ring, id, used[k], s->rxbufs[k].ndescs);
	}
	if (lie == VSIM_NET_RX_DOUBLE_ID)
		irq |= vsim_ring_push(&s->rxq.ring, s->rxbufs[nb - 1].id, used[nb - 1],
				      s->rxbufs[nb - 1].ndescs);
	memmove(&s->rxbufs[0], &s->rxbufs[nb], (s->nrxbufs - nb) * sizeof(s->rxbufs[0]));
	s->nrxbufs -= nb;
	s->rx_frames++;
	if (nb > s->max_num_buffers)
		s->max_num_buffers = nb;
	if (irq)
		interrupt(s, &s->rxq);
	return 1;
}

static void rx_flush_backlog(struct vsim_net *s)
{
	while (s->nbacklog && !s->rx_waiting) {
		struct vsim_net_backlog *b = &s->backlog[0];
		if (!rx_deliver(s, b->big ? b->big : b->data, b->len, &b->opts))
			return;
		free(b->big);
		memmove(&s->backlog[0], &s->backlog[1], (s->nbacklog - 1) * sizeof(s->backlog[0]));
		s->nbacklog--;
	}
}

int vsim_net_rx(struct vsim_net *s, const void *frame, uint32_t len, const struct vsim_net_rx_opts *opts)
{
	static const struct vsim_net_rx_opts plain;

	if (!opts)
		opts = &plain;
	if (opts->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		/* What a device may send (5.1.6.4.1): only what was negotiated,
		 * always with NEEDS_CSUM and an MSS. */
		if (opts->gso_type != VIRTIO_NET_HDR_GSO_TCPV4 || !neg(s, VIRTIO_NET_F_GUEST_TSO4))
			fail_msg("test error: gso_type %u, the device may not send it (GUEST_TSO4 %s)",
				 opts->gso_type, neg(s, VIRTIO_NET_F_GUEST_TSO4) ? "taken" : "not taken");
		if (!(opts->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || opts->gso_size == 0)
			fail_msg("test error: a large segment needs NEEDS_CSUM and a gso_size");
		if (len > VSIM_NET_GSO_MAX)
			fail_msg("test error: a %u-byte segment is larger than an IPv4 packet can be", len);
	} else if (len > VSIM_NET_FRAME_MAX) {
		fail_msg("test frame of %u bytes is larger than the simulator takes", len);
	}
	if (!s->nbacklog && !s->rx_waiting && rx_deliver(s, frame, len, opts))
		return 1;
	if (s->nbacklog == VSIM_NET_BACKLOG) {
		s->rx_dropped++;
		return 0;
	}
	struct vsim_net_backlog *b = &s->backlog[s->nbacklog++];
	b->len = len;
	b->opts = *opts;
	b->big = NULL;
	if (len > sizeof(b->data)) {
		b->big = malloc(len);
		if (!b->big)
			fail_msg("out of memory for a waiting segment");
		memcpy(b->big, frame, len);
	} else {
		memcpy(b->data, frame, len);
	}
	return 0;
}

unsigned vsim_net_rx_avail(struct vsim_net *s)
{
	if (!s->rxq.enabled || !dma_allowed())
		return 0;
	while (rx_take_one(s))
		;
	vsim_ring_arm_notify(&s->rxq.ring);
	return s->nrxbufs;
}

/* ---- transmit ---- */

static uint64_t hash_segs(const struct vsim_seg *seg, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (unsigned i = 0; i < n; i++)
		for (uint32_t k = 0; k < seg[i].len; k++)
			h = (h ^ seg[i].p[k]) * 0x100000001b3ull;
	return h;
}

/* The next place in the capture list (the oldest goes when it is full). */
static struct vsim_net_frame *capture_slot(struct vsim_net *s)
{
	if (s->ncaptured == VSIM_NET_CAPTURE) {
		s->cap_head = (s->cap_head + 1) % VSIM_NET_CAPTURE;
		s->ncaptured--;
		s->tx_lost++;
	}
	return &s->capture[(s->cap_head + s->ncaptured++) % VSIM_NET_CAPTURE];
}

/* A frame is on the wire: counted, ordered, and shown to the test's peer. */
static void wire_out(struct vsim_net *s, struct vsim_net_frame *f)
{
	f->seq = s->seq++;
	s->tx_frames++;
	if (s->on_tx)
		s->on_tx(s, f);
}

/* The headers of a TCP/IPv4 frame that asks for segmentation. */
struct tso_layout {
	unsigned ihl, thl, hlen; /* IP and TCP header bytes; Ethernet, IP and TCP: where the payload starts */
	uint32_t payload;
};

/* A GSO transmit (gso_type set) as the specification (5.1.6.2.1) and the
 * device that cuts it need it; anything else fails the test. */
static void tso_check(const struct vsim_net *s, const struct virtio_net_hdr *h, const uint8_t *p,
		      uint32_t len, struct tso_layout *t)
{
	if (!neg(s, VIRTIO_NET_F_HOST_TSO4))
		fail_msg("transmit header with gso_type %u: no HOST_TSO/UFO negotiated", h->gso_type);
	if (h->gso_type != VIRTIO_NET_HDR_GSO_TCPV4)
		fail_msg("transmit header with gso_type %#x: only TCPV4 (HOST_TSO4) was negotiated",
			 h->gso_type);
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		fail_msg("GSO transmit without NEEDS_CSUM (spec 5.1.6.2.1)");
	if (h->gso_size == 0)
		fail_msg("GSO transmit with gso_size 0 (spec 5.1.6.2.1: the MSS)");
	const uint8_t *ip = p + ETH_HLEN;
	if (len < ETH_HLEN + 20 || get16(p + 12) != 0x0800 || (ip[0] >> 4) != 4 || ip[9] != 6)
		fail_msg("TCPV4 segmentation asked for a frame that is not TCP over IPv4");
	t->ihl = (ip[0] & 15) * 4u;
	if (t->ihl < 20 || len < ETH_HLEN + t->ihl + 20)
		fail_msg("GSO transmit: IP header of %u bytes in a %u-byte frame", t->ihl, len);
	if ((get16(ip + 6) & 0x3FFF) != 0)
		fail_msg("GSO transmit of an IP fragment");
	/* Linux (behind the tap) trims a packet to its IP length, and drops
	 * one whose header checksum is wrong. */
	if (get16(ip + 2) != len - ETH_HLEN)
		fail_msg("GSO transmit: IP total length %u, the frame carries %u", get16(ip + 2),
			 len - ETH_HLEN);
	if (fold(sum16(ip, t->ihl, 0)) != 0xFFFF)
		fail_msg("GSO transmit: wrong IP header checksum");
	const uint8_t *tcp = ip + t->ihl;
	t->thl = (tcp[12] >> 4) * 4u;
	t->hlen = ETH_HLEN + t->ihl + t->thl;
	if (t->thl < 20 || t->hlen > len)
		fail_msg("GSO transmit: TCP header of %u bytes in a %u-byte frame", t->thl, len);
	if (h->csum_start != ETH_HLEN + t->ihl || h->csum_offset != 16)
		fail_msg("GSO transmit: checksum at %u + %u, not the TCP checksum (%u + 16)", h->csum_start,
			 h->csum_offset, ETH_HLEN + t->ihl);
	if (h->hdr_len != t->hlen)
		fail_msg("GSO transmit: hdr_len %u, the headers are %u bytes", h->hdr_len, t->hlen);
	/* The pseudo-header sum for the whole TCP length: the device (Linux's
	 * tcp_gso_segment) adjusts it to each segment's. */
	uint16_t want = fold(sum16(ip + 12, 8, 6u + (len - ETH_HLEN - t->ihl)));
	if (get16(tcp + 16) != want)
		fail_msg("GSO transmit: TCP checksum field %#06x, the pseudo-header sum is %#06x",
			 get16(tcp + 16), want);
	t->payload = len - t->hlen;
	if (t->payload <= h->gso_size)
		fail_msg("GSO transmit of %u payload bytes, no more than gso_size %u: nothing to cut",
			 t->payload, h->gso_size);
	if (t->hlen + h->gso_size > frame_max(s))
		fail_msg("GSO transmit: segments of %u bytes, more than the MTU allows (%u)",
			 t->hlen + h->gso_size, frame_max(s));
}

/* Cuts a checked GSO transmit into its segments, as Linux does behind a
 * tap (inet_gso_segment, tcp_gso_segment): each gets the headers, its IP
 * total length, the IP id counted up from the frame's, a new IP header
 * checksum, its sequence number; FIN and PSH stay on the last segment
 * only, CWR on the first; and the TCP checksum the device finishes from
 * the pseudo-header sum, adjusted to the segment's length. */
static void tso_cut(struct vsim_net *s, const struct vsim_net_frame *tmpl, const uint8_t *p,
		    const struct tso_layout *t)
{
	const uint32_t mss = tmpl->hdr.gso_size, n = (t->payload + mss - 1) / mss;
	const uint8_t *ip0 = p + ETH_HLEN, *tcp0 = ip0 + t->ihl;
	const uint16_t id = get16(ip0 + 4), partial = get16(tcp0 + 16);
	const uint32_t seq = get32(tcp0 + 4), whole = t->payload + t->thl;

	s->tx_gso++;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = t->payload - i * mss < mss ? t->payload - i * mss : mss;
		struct vsim_net_frame *f = capture_slot(s);
		memcpy(f, tmpl, offsetof(struct vsim_net_frame, len));
		f->gso_seg = i;
		f->gso_segs = n;
		f->len = t->hlen + k;
		memcpy(f->data, p, t->hlen);
		memcpy(f->data + t->hlen, p + t->hlen + i * mss, k);
		uint8_t *ip = f->data + ETH_HLEN, *tcp = ip + t->ihl;
		put16(ip + 2, (uint16_t)(t->ihl + t->thl + k));
		put16(ip + 4, (uint16_t)(id + i));
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~fold(sum16(ip, t->ihl, 0)));
		put32(tcp + 4, seq + i * mss);
		if (i + 1 < n)
			tcp[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
		if (i > 0)
			tcp[13] &= (uint8_t)~TCP_CWR;
		uint16_t field = fold((uint32_t)partial + (uint16_t)~whole + t->thl + k);
		put16(tcp + 16, field);
		put16(tcp + 16, (uint16_t)~fold(sum16(tcp, t->thl + k, 0)));
		s->tx_gso_segs++;
		wire_out(s, f);
	}
}

/* Gathers a transmit chain into a captured frame (or, for a GSO chain,
 * the segments the device cuts from it), checking it. */
static void tx_capture(struct vsim_net *s, const struct vsim_chain *c)
{
	static uint8_t whole[VSIM_NET_GSO_MAX];
	static struct vsim_net_frame tmpl;
	unsigned hl = vsim_net_hdr_len(s);
	uint8_t hdr[12] = {0};
	uint32_t got = 0, len = 0;

	if (c->n > VSIM_NET_TX_SEGS)
		fail_msg("transmit chain of %u descriptors", c->n);
	if (!s->modern && c->seg[0].len != hl)
		fail_msg("legacy transmit: the %u-byte header is not alone in its descriptor (%u bytes)", hl,
			 c->seg[0].len);
	for (unsigned i = 0; i < c->n; i++) {
		const struct vsim_seg *g = &c->seg[i];
		if (g->writable)
			fail_msg("device-writable descriptor in a transmit chain");
		for (uint32_t k = 0; k < g->len; k++, got++) {
			if (got < hl)
				hdr[got] = g->p[k];
			else if (len < sizeof(whole))
				whole[len++] = g->p[k];
			else
				fail_msg("transmitted frame longer than %d bytes", VSIM_NET_GSO_MAX);
		}
	}
	if (got < hl)
		fail_msg("transmit chain of %u bytes, shorter than the header", got);
	struct vsim_net_frame *f = &tmpl;
	memset(&f->hdr, 0, sizeof(f->hdr));
	memcpy(&f->hdr, hdr, hl);
	f->hdr_len = hl;
	f->descs = c->ndescs;
	f->segs = c->n;
	f->chain = s->tx_chains++;
	f->gso_seg = f->gso_segs = 0;

	/* Packet Transmission, driver requirements (5.1.6.2.1). */
	const struct virtio_net_hdr *h = &f->hdr;
	if (hl == 12 && h->num_buffers != 0)
		fail_msg("transmit header with num_buffers %u (must be 0)", h->num_buffers);
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		fail_msg("transmit header with flags %#x (DATA_VALID and RSC_INFO are the device's)",
			 h->flags);
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!neg(s, VIRTIO_NET_F_CSUM))
			fail_msg("NEEDS_CSUM without VIRTIO_NET_F_CSUM");
		if ((uint32_t)h->csum_start + h->csum_offset + 2 > len)
			fail_msg("checksum at %u + %u is outside the %u-byte frame", h->csum_start,
				 h->csum_offset, len);
	}
	if (len < ETH_HLEN)
		fail_msg("transmitted frame of %u bytes, no Ethernet header", len);
	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		struct tso_layout t;
		tso_check(s, h, whole, len, &t);
		tso_cut(s, f, whole, &t);
		return;
	}
	if (len > frame_max(s))
		fail_msg("transmitted frame of %u bytes, more than the MTU allows (%u)", len, frame_max(s));
	if (len > VSIM_NET_FRAME_MAX)
		fail_msg("transmitted frame longer than %d bytes", VSIM_NET_FRAME_MAX);
	struct vsim_net_frame *out = capture_slot(s);
	memcpy(out, f, offsetof(struct vsim_net_frame, len));
	out->len = len;
	memcpy(out->data, whole, len);
	wire_out(s, out);
}

static int tx_complete(struct vsim_net *s, uint16_t id, uint16_t ndescs)
{
	int irq = vsim_ring_push(&s->txq.ring, id, 0, ndescs);

	if (s->lie == VSIM_NET_TX_DOUBLE_ID) {
		s->lie = VSIM_NET_HONEST;
		irq |= vsim_ring_push(&s->txq.ring, id, 0, ndescs);
	}
	return irq;
}

static void tx_fetch(struct vsim_net *s)
{
	static struct vsim_chain c;
	int irq = 0;

	while (vsim_ring_pop(&s->txq.ring, &c)) {
		tx_capture(s, &c);
		if (s->tx_mode == VSIM_TX_AT_ONCE) {
			irq |= tx_complete(s, c.id, c.ndescs);
			continue;
		}
		struct vsim_txhold *t = &s->txhold[s->ntxhold++];
		t->id = c.id;
		t->ndescs = c.ndescs;
		t->n = c.n;
		memcpy(t->seg, c.seg, c.n * sizeof(c.seg[0]));
		t->hash = hash_segs(t->seg, t->n);
	}
	vsim_ring_arm_notify(&s->txq.ring);
	if (irq)
		interrupt(s, &s->txq);
}

unsigned vsim_net_tx_release(struct vsim_net *s)
{
	unsigned n = s->ntxhold;
	int irq = 0;

	if (!live(s))
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct vsim_txhold *t = &s->txhold[i];
		if (hash_segs(t->seg, t->n) != t->hash)
			fail_msg("transmit chain %u changed while the device held it", t->id);
		irq |= tx_complete(s, t->id, t->ndescs);
	}
	s->ntxhold = 0;
	if (irq)
		interrupt(s, &s->txq);
	return n;
}

int vsim_net_tx_take(struct vsim_net *s, struct vsim_net_frame *f)
{
	if (!s->ncaptured)
		return 0;
	*f = s->capture[s->cap_head];
	s->cap_head = (s->cap_head + 1) % VSIM_NET_CAPTURE;
	s->ncaptured--;
	return 1;
}

/* ---- control ---- */

static uint8_t ctrl_execute(struct vsim_net *s, const struct vsim_net_cmd *c)
{
	if (s->ctrl_nak)
		return CTRL_ERR;
	if (c->class == VIRTIO_NET_CTRL_RX) {
		if (!neg(s, VIRTIO_NET_F_CTRL_RX) || c->len != 1 || c->cmd > VIRTIO_NET_CTRL_RX_ALLMULTI)
			return CTRL_ERR;
		if (c->data[0] > 1)
			fail_msg("receive-mode command with value %u (0 or 1)", c->data[0]);
		if (c->cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			s->promisc = c->data[0];
		else
			s->allmulti = c->data[0];
		return VIRTIO_NET_OK;
	}
	if (c->class == VIRTIO_NET_CTRL_ANNOUNCE && c->cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK && c->len == 0) {
		uint16_t st = cfg16(s, VIRTIO_NET_CFG_STATUS);
		if (!neg(s, VIRTIO_NET_F_GUEST_ANNOUNCE) || !(st & VIRTIO_NET_S_ANNOUNCE))
			return CTRL_ERR;
		set_cfg16(s, VIRTIO_NET_CFG_STATUS, st & ~VIRTIO_NET_S_ANNOUNCE);
		return VIRTIO_NET_OK;
	}
	return CTRL_ERR;
}

static void ctrl_fetch(struct vsim_net *s)
{
	static struct vsim_chain c;

	while (vsim_ring_pop(&s->ctrlq.ring, &c)) {
		struct vsim_net_cmd cmd = {0};
		unsigned readable = 0, got = 0;
		while (readable < c.n && !c.seg[readable].writable)
			readable++;
		if (readable == 0 || readable == c.n)
			fail_msg("control command without a device-readable part and an ack");
		if (readable != c.n - 1 || c.seg[c.n - 1].len != 1)
			fail_msg("control command: the ack is not one device-writable byte, last");
		if (!s->modern && (c.seg[0].len != 2 || readable > 2))
			fail_msg("legacy control command: class and command not in a 2-byte descriptor of "
				 "their "
				 "own, or data in more than one");
		for (unsigned i = 0; i < readable; i++)
			for (uint32_t k = 0; k < c.seg[i].len; k++, got++) {
				if (got == 0)
					cmd.class = c.seg[i].p[k];
				else if (got == 1)
					cmd.cmd = c.seg[i].p[k];
				else if (got - 2 < sizeof(cmd.data))
					cmd.data[got - 2] = c.seg[i].p[k];
				else
					fail_msg("control command with more than %zu data bytes",
						 sizeof(cmd.data));
			}
		if (got < 2)
			fail_msg("control command of %u bytes", got);
		cmd.len = got - 2;
		cmd.ack = ctrl_execute(s, &cmd);
		cmd.seq = s->seq++;
		if (s->ncmds < VSIM_NET_CMDS)
			s->cmds[s->ncmds++] = cmd;
		if (s->ctrl_silent)
			continue;
		c.seg[c.n - 1].p[0] = cmd.ack;
		if (vsim_ring_push(&s->ctrlq.ring, c.id, 1, c.ndescs))
			interrupt(s, &s->ctrlq);
	}
	vsim_ring_arm_notify(&s->ctrlq.ring);
}

/* ---- notifications ---- */

static void t_notify(struct virtio_dev *d, unsigned q)
{
	struct vsim_net *s = sim_of(d);

	if (!(s->status & VIRTIO_STATUS_DRIVER_OK))
		fail_msg("queue %u notified before DRIVER_OK (spec 3.1.1)", q);
	if (q == 0 && s->rxq.enabled) {
		s->rxq.notifies++;
		if (!live(s))
			return;
		s->rx_waiting = 0;
		rx_flush_backlog(s);
	} else if (q == 1 && s->txq.enabled) {
		s->txq.notifies++;
		if (live(s))
			tx_fetch(s);
	} else if (s->ctrlq.enabled && q == s->ctrlq.index) {
		s->ctrlq.notifies++;
		if (live(s))
			ctrl_fetch(s);
	} else {
		fail_msg("notify for queue %u, which is not set up", q);
	}
}

/* The simulated device answers both interfaces the same way; only the name
 * and the modern flag (which the driver's legacy rules key on) differ. */
#define SIM_TRANSPORT(nm, is_modern)                                                                         \
	{                                                                                                    \
		.name = nm, .modern = is_modern, .get_status = t_get_status, .set_status = t_set_status,     \
		.get_features = t_get_features, .set_features = t_set_features,                              \
		.read_config = t_read_config, .config_generation = t_config_generation,                      \
		.queue_max = t_queue_max, .queue_setup = t_queue_setup,                                      \
		.set_config_vector = t_set_config_vector, .notify = t_notify, .isr = t_isr,                  \
		.msix_changed = t_msix_changed,                                                              \
	}

static const struct virtio_transport sim_transport_modern = SIM_TRANSPORT("modern", 1);
static const struct virtio_transport sim_transport_legacy = SIM_TRANSPORT("legacy", 0);

void vsim_net_bind(struct vsim_net *s, struct virtio_dev *d, struct pci_device *pci)
{
	memset(d, 0, sizeof(*d));
	d->t = s->modern ? &sim_transport_modern : &sim_transport_legacy;
	d->sim = s;
	d->pci = pci;
	s->wired = pci != NULL;
}

/* ---- the CPU waits ---- */

static struct vsim_net *sims[MAX_SIMS];
static unsigned nsims;

static int idle(void)
{
	unsigned before = 0, after = 0;

	for (unsigned i = 0; i < nsims; i++) {
		struct vsim_net *s = sims[i];
		before += s->interrupts + s->config_interrupts;
		if (s->tx_mode == VSIM_TX_AT_IDLE && s->ntxhold)
			vsim_net_tx_release(s);
		after += s->interrupts + s->config_interrupts;
	}
	return after != before;
}

void vsim_net_attach_idle(struct vsim_net *s)
{
	if (vsim_plat.idle != idle)
		nsims = 0;
	if (nsims == MAX_SIMS)
		fail_msg("more than %d simulated network devices", MAX_SIMS);
	sims[nsims++] = s;
	vsim_plat.idle = idle;
}
