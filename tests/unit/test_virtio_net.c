/* Host unit tests for the virtio-net driver and the network-device
 * interface, against the simulated device of tests/unit/vsim_net.c. */
// clang-format off
// SOURCES: drivers/virtio/virtio_net.c drivers/virtio/virtio.c drivers/virtio/virtio_pci.c drivers/virtio/virtq.c drivers/virtio/virtq_split.c drivers/virtio/virtq_packed.c drivers/virtio/virtio_pci_modern.c drivers/virtio/virtio_pci_legacy.c drivers/pci/pci.c drivers/net/net.c tests/unit/vsim_platform.c tests/unit/vsim_ring.c tests/unit/vsim_net.c
// clang-format on
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/net/net.h"
#include "drivers/virtio/virtio_net.h"
#include "tests/unit/vsim_net.h"
#include "tests/unit/wire.h"

#define F(bit) (1ull << (bit))
#define ETH_HLEN 14
/* What QEMU's virtio-net-pci offers that this driver knows, less CSUM and
 * GUEST_CSUM (tested on their own). */
#define F_STD                                                                                                \
	(F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |                          \
	 F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) | F(VIRTIO_NET_F_GUEST_ANNOUNCE) |                \
	 F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC))

static struct pci_device pci;
static struct vsim_net sim;
static struct virtio_net vn;
static struct virtio_net_mem mem;
static struct net_device *dev;

struct conf {
	uint64_t features; /* RING_PACKED added when packed */
	unsigned qmax;
	int legacy, packed, use_irq, msix;
	unsigned msix_entries; /* 0: the platform's default of 2 */
	uint16_t mtu, pairs;
};

static const struct conf base = {.features = F_STD};

/* ---- the stack's side: what rx(), tx_done() and event() saw ---- */

#define LOG_FRAMES 64
#define MAX_COOKIES 80000
#define HELD_MAX VIRTIO_NET_RX_BUFS

struct got_frame {
	uint32_t len;
	unsigned pieces, flags;
	uint64_t hash; /* of its bytes (FNV-1a) */
	uint8_t data[VSIM_NET_FRAME_MAX]; /* a larger frame (a large segment) is in big_rx, if the last */
	uint16_t index[64];
};

struct got_event {
	unsigned what;
	int link_up;
	unsigned cmds_before; /* control commands the device had executed by then */
};

static struct {
	struct got_frame frame[LOG_FRAMES];
	unsigned nframes, total;
	int hold; /* keep each frame (held[]) instead of releasing it at once */
	struct net_rx_buf *held[HELD_MAX];
	unsigned nheld;
	uint8_t done[MAX_COOKIES];
	unsigned ndone;
	struct got_event event[16];
	unsigned nevents;
} stack;

/* Every piece lies inside the receive buffer its index names. */
static void check_piece(const struct net_rx_buf *b)
{
	if (b->index >= dev->rx_bufs)
		fail_msg("piece index %u of %u", b->index, dev->rx_bufs);
	const uint8_t *lo = mem.rx[b->index], *hi = lo + VIRTIO_NET_RX_BUF_BYTES;
	if (b->data < lo || b->data + b->len > hi || b->len == 0)
		fail_msg("piece %u: %u bytes at offset %td, outside its buffer", b->index, b->len,
			 b->data - lo);
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* The last frame longer than got_frame.data holds (a large segment). */
static uint8_t big_rx[VSIM_NET_GSO_MAX];

static void on_rx(struct net_device *d, struct net_rx_buf *frame, unsigned flags)
{
	struct got_frame *g = &stack.frame[stack.nframes++ % LOG_FRAMES];
	uint32_t total = 0;

	assert_ptr_equal(d, dev);
	for (struct net_rx_buf *b = frame; b; b = b->next)
		total += b->len;
	if (total > VSIM_NET_GSO_MAX)
		fail_msg("frame longer than any the test sent");
	uint8_t *to = total > VSIM_NET_FRAME_MAX ? big_rx : g->data;
	g->len = 0;
	g->pieces = 0;
	g->flags = flags;
	for (struct net_rx_buf *b = frame; b; b = b->next) {
		check_piece(b);
		for (unsigned i = 0; i < g->pieces && i < 64; i++)
			if (g->index[i] == b->index)
				fail_msg("piece %u twice in one frame", b->index);
		if (g->pieces < 64)
			g->index[g->pieces] = b->index;
		memcpy(to + g->len, b->data, b->len);
		g->len += b->len;
		g->pieces++;
	}
	g->hash = fnv(to, g->len);
	stack.total++;
	for (struct net_rx_buf *b = frame, *next; b; b = next) {
		next = b->next;
		if (stack.hold) {
			if (stack.nheld == HELD_MAX)
				fail_msg("the stack holds more pieces than the driver has");
			stack.held[stack.nheld++] = b;
		} else {
			net_rx_release(d, b);
		}
	}
}

static void on_tx_done(struct net_device *d, void *cookie)
{
	uintptr_t i = (uintptr_t)cookie;

	assert_ptr_equal(d, dev);
	if (i == 0 || i > MAX_COOKIES)
		fail_msg("tx_done with a cookie never given: %p", cookie);
	if (stack.done[i - 1]++)
		fail_msg("cookie %lu came back twice", (unsigned long)i);
	stack.ndone++;
}

static void on_event(struct net_device *d, unsigned what)
{
	assert_ptr_equal(d, dev);
	if (stack.nevents < 16)
		stack.event[stack.nevents++] = (struct got_event){what, d->link_up, sim.ncmds};
}

static struct got_frame *last_frame(void) { return &stack.frame[(stack.nframes - 1) % LOG_FRAMES]; }

static void release_held(unsigned n)
{
	while (n-- && stack.nheld)
		net_rx_release(dev, stack.held[--stack.nheld]);
}

/* ---- set-up ---- */

static void make(const struct conf *c)
{
	vsim_platform_reset(&pci, c->msix);
	if (c->msix_entries)
		vsim_platform_msix_entries(c->msix_entries);
	vsim_net_init(&sim, c->features | (c->packed ? F(VIRTIO_F_RING_PACKED) : 0), !c->legacy);
	if (c->qmax)
		sim.queue_max = c->qmax;
	if (c->mtu)
		vsim_net_set_mtu(&sim, c->mtu);
	if (c->pairs)
		vsim_net_set_max_pairs(&sim, c->pairs);
	memset(&vn, 0, sizeof(vn));
	memset(&stack, 0, sizeof(stack));
	vsim_net_bind(&sim, &vn.vdev, &pci);
	vsim_net_attach_idle(&sim);
}

static int start(const struct conf *c)
{
	struct virtio_net_options opt = {.use_irq = c->use_irq, .allow_packed = c->packed};
	const char *why = NULL;
	int err = virtio_net_start(&vn, &opt, &mem, &why);

	dev = &vn.net;
	dev->rx = on_rx;
	dev->tx_done = on_tx_done;
	dev->event = on_event;
	return err;
}

static void up(const struct conf *c)
{
	make(c);
	assert_int_equal(start(c), 0);
}

/* ---- frames ---- */

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x5E, 0x10, 0x20, 0x30};

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13, s ^= s >> 17, s ^= s << 5;
		p[i] = (uint8_t)s;
	}
}

/* An Ethernet frame to us from the peer (local experimental EtherType),
 * its payload from seed. */
static void make_frame(uint8_t *p, uint32_t len, unsigned seed)
{
	fill(p, len, seed);
	memcpy(p, dev->mac, 6);
	memcpy(p + 6, peer_mac, 6);
	p[12] = 0x88, p[13] = 0xB5;
}

static uint8_t frame_buf[VSIM_NET_FRAME_MAX];

/* The device receives a frame; one poll hands it to rx() whole. */
static void rx_and_check(uint32_t len, unsigned seed, const struct vsim_net_rx_opts *o)
{
	unsigned before = stack.total;

	make_frame(frame_buf, len, seed);
	assert_int_equal(vsim_net_rx(&sim, frame_buf, len, o), 1);
	assert_int_equal(net_poll(dev), 1);
	assert_int_equal(stack.total, before + 1);
	struct got_frame *g = last_frame();
	assert_int_equal(g->len, len);
	if (memcmp(g->data, frame_buf, len) != 0)
		fail_msg("frame of %u bytes (seed %u) arrived changed", len, seed);
}

static uint8_t tx_store[64][VSIM_NET_FRAME_MAX];
static struct vsim_net_frame seen;

/* Sends frame `seed` (its bytes in tx_store[slot]) as one segment. */
static int tx_frame(unsigned slot, uint32_t len, unsigned seed, const struct net_tx_offload *cs,
		    unsigned cookie)
{
	make_frame(tx_store[slot], len, seed);
	memcpy(tx_store[slot], peer_mac, 6);
	memcpy(tx_store[slot] + 6, dev->mac, 6);
	struct net_seg seg = {tx_store[slot], len};
	return net_transmit(dev, &seg, 1, cs, (void *)(uintptr_t)cookie);
}

/* The device sent exactly that frame, with a plain header. */
static void tx_seen(unsigned slot, uint32_t len)
{
	assert_true(vsim_net_tx_take(&sim, &seen));
	assert_int_equal(seen.len, len);
	if (memcmp(seen.data, tx_store[slot], len) != 0)
		fail_msg("transmitted frame of %u bytes arrived changed", len);
	assert_int_equal(seen.hdr.flags, 0);
	assert_int_equal(seen.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(seen.hdr_len, vn.hdr_len);
}

/* ---- start-up and negotiation ---- */

static void test_only_allowlisted_features_are_accepted(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++) {
			struct conf c = {.features = ~0ull, .legacy = legacy, .packed = packed};
			up(&c);
			uint64_t wanted = virtio_net_wanted_features(&vn.opt);
			uint64_t expect = wanted & (legacy ? 0xFFFFFFFFull : ~0ull);
			/* Everything it wants was offered: it takes all of that, nothing else. */
			assert_int_equal(vn.vdev.features, expect);
			assert_int_equal(sim.negotiated, vn.vdev.features);
			static const unsigned never[] = {2,  8,	 9,  10, 12, 13, 14, 19,
							 20, 23, 27, 35, 57, 60, 63};
			for (unsigned i = 0; i < sizeof(never) / sizeof(never[0]); i++)
				if (vn.vdev.features & F(never[i]))
					fail_msg("feature %u taken", never[i]);
			assert_int_equal(!!(vn.vdev.features & F(VIRTIO_F_VERSION_1)), !legacy);
			assert_int_equal(!!(vn.vdev.features & F(VIRTIO_F_RING_PACKED)), packed);
			assert_true(sim.status & VIRTIO_STATUS_DRIVER_OK);
			assert_string_equal(vn.mode, "poll");
			assert_int_equal(dev->mtu, 1500);
			assert_int_equal(dev->link_up, 1);
			assert_true(vn.rxq.packed == packed && vn.txq.packed == packed);
		}
	/* Packed offered, not allowed: split. */
	struct conf c = {.features = F_STD | F(VIRTIO_F_RING_PACKED)};
	up(&c);
	assert_false(vn.vdev.features & F(VIRTIO_F_RING_PACKED));
	assert_false(vn.rxq.packed);
}

static void test_features_ok_refused_marks_failed(void **state)
{
	(void)state;
	make(&base);
	sim.refuse_features_ok = 1;
	assert_true(start(&base) < 0);
	assert_true(sim.status & VIRTIO_STATUS_FAILED);
	assert_false(sim.status & VIRTIO_STATUS_DRIVER_OK);
}

/* CTRL_RX, GUEST_ANNOUNCE and MQ need CTRL_VQ (spec 5.1.3.1): offered
 * without it, they are not taken, no control queue is set up, and what
 * they would do is refused or not done. */
static void test_ctrl_features_need_the_control_queue(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++) {
		struct conf c = {.features = ~0ull & ~F(VIRTIO_NET_F_CTRL_VQ), .legacy = legacy, .pairs = 2};
		up(&c);
		assert_false(vn.vdev.features & F(VIRTIO_NET_F_CTRL_VQ));
		assert_false(vn.vdev.features & F(VIRTIO_NET_F_CTRL_RX));
		assert_false(vn.vdev.features & F(VIRTIO_NET_F_GUEST_ANNOUNCE));
		assert_false(vn.vdev.features & F(VIRTIO_NET_F_MQ));
		assert_false(sim.ctrlq.enabled);
		assert_int_equal(sim.extra_queues, 0);
		assert_int_equal(sim.ncmds, 0);
		assert_int_equal(net_set_rx_mode(dev, 1, 1), -ENOTSUP);
		assert_int_equal(vsim_net_announce(&sim), 1);
		assert_true(net_poll(dev) >= 0);
		assert_int_equal(stack.nevents, 0);
		assert_int_equal(sim.ncmds, 0);
		rx_and_check(100, 1, NULL);
	}
	/* A control queue without CTRL_RX: no receive-mode commands. */
	struct conf c = {.features = F_STD & ~F(VIRTIO_NET_F_CTRL_RX)};
	up(&c);
	assert_true(sim.ctrlq.enabled);
	assert_int_equal(sim.ncmds, 0);
	assert_int_equal(net_set_rx_mode(dev, 1, 0), -ENOTSUP);
	assert_int_equal(sim.ncmds, 0);
}

/* MTU is taken when the device's value is sane (68 or more) and the
 * receive buffers hold such a frame: with MRG_RXBUF any value, without it
 * only what one buffer holds with its header. */
static void test_mtu_negotiation(void **state)
{
	(void)state;
	const unsigned one_buffer = VIRTIO_NET_RX_BUF_BYTES - ETH_HLEN - 12;
	static const struct {
		uint16_t mtu;
		int mrg, taken;
	} cases[] = {
		{9000, 1, 1}, {9000, 0, 0}, {67, 1, 0}, {67, 0, 0},    {68, 1, 1},
		{68, 0, 1},   {1500, 0, 1}, {0, 1, 0},	{65535, 1, 1},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int legacy = 0; legacy < 2; legacy++) {
			struct conf c = {.features = (F_STD | F(VIRTIO_NET_F_MTU)) &
						     ~(cases[i].mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)),
					 .legacy = legacy};
			make(&c);
			vsim_net_set_mtu(&sim, cases[i].mtu);
			assert_int_equal(start(&c), 0);
			assert_int_equal(!!(vn.vdev.features & F(VIRTIO_NET_F_MTU)), cases[i].taken);
			assert_int_equal(dev->mtu, cases[i].taken ? cases[i].mtu : 1500);
		}
	/* The boundary without MRG_RXBUF: what one buffer holds. */
	for (unsigned extra = 0; extra < 2; extra++) {
		struct conf c = {.features = (F_STD | F(VIRTIO_NET_F_MTU)) & ~F(VIRTIO_NET_F_MRG_RXBUF),
				 .mtu = (uint16_t)(one_buffer + extra)};
		up(&c);
		assert_int_equal(dev->mtu, extra ? 1500 : one_buffer);
		if (!extra) { /* a frame of mtu + 14 bytes goes both ways */
			rx_and_check(one_buffer + ETH_HLEN, 3, NULL);
			assert_int_equal(last_frame()->pieces, 1);
			assert_int_equal(tx_frame(0, one_buffer + ETH_HLEN, 4, NULL, 1), 0);
			tx_seen(0, one_buffer + ETH_HLEN);
			assert_int_equal(tx_frame(0, one_buffer + ETH_HLEN + 1, 4, NULL, 2), -EINVAL);
			assert_false(vsim_net_tx_take(&sim, &seen));
		}
	}
}

/* ---- header length ---- */

/* 10 bytes for a legacy device without MRG_RXBUF, else 12 (spec 5.1.6.1),
 * the same both ways: a received frame starts right after it, and a
 * transmitted one's header is that long (on a legacy device, alone in its
 * descriptor: the simulator checks). */
static void test_header_length_both_ways(void **state)
{
	(void)state;
	static const struct {
		int legacy, mrg;
		unsigned len;
	} cases[] = {{1, 0, 10}, {1, 1, 12}, {0, 0, 12}, {0, 1, 12}};
	for (unsigned i = 0; i < 4; i++)
		for (int ind = 0; ind < 2; ind++) {
			struct conf c = {.features = (F_STD | F(VIRTIO_NET_F_CSUM)) &
						     ~(cases[i].mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)) &
						     ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
					 .legacy = cases[i].legacy};
			up(&c);
			assert_int_equal(vn.hdr_len, cases[i].len);
			assert_int_equal(vsim_net_hdr_len(&sim), cases[i].len);
			for (unsigned k = 0; k < 4; k++)
				rx_and_check(60 + 450 * k, 10 + k, NULL);
			assert_int_equal(tx_frame(0, 1514, 20, NULL, 1), 0);
			tx_seen(0, 1514);
			/* The checksum fields sit in the first 10 bytes either way. */
			struct net_tx_offload cs = {34, 16, 0, 0};
			assert_int_equal(tx_frame(1, 200, 21, &cs, 2), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
			assert_int_equal(seen.hdr_len, cases[i].len);
			assert_int_equal(seen.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(seen.hdr.csum_start, 34);
			assert_int_equal(seen.hdr.csum_offset, 16);
			assert_int_equal(seen.len, 200);
			assert_memory_equal(seen.data, tx_store[1], 200);
		}
}

/* ---- receive ---- */

/* Frames of every size reach rx() whole and in order, through every ring
 * and transport, polled or woken by interrupts; packed rings also as
 * QEMU writes them (used descriptors without WRITE, their length taken
 * all the same). */
static void test_receive_every_ring(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++)
			for (int mrg = 0; mrg < 2; mrg++)
				for (int irq = 0; irq < 2; irq++)
					for (int nowrite = 0; nowrite <= packed; nowrite++) {
						struct conf c = {
							.features = F_STD &
								    ~(mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)),
							.legacy = legacy,
							.packed = packed,
							.use_irq = irq,
							.msix = irq,
							.msix_entries = 3,
						};
						up(&c);
						sim.rxq.ring.no_write_flag = nowrite;
						for (unsigned k = 0; k < 40; k++) {
							uint32_t len = 14 + (k * 131) % 1501;
							if (irq) /* the loop would halt: the frame interrupts
								  */
								assert_int_equal(net_arm(dev), 0);
							unsigned irqs = sim.rxq.interrupts;
							rx_and_check(len, k, NULL);
							assert_int_equal(last_frame()->pieces, 1);
							assert_int_equal(last_frame()->flags, 0);
							if (irq)
								assert_int_equal(sim.rxq.interrupts,
										 irqs + 1);
						}
						assert_int_equal(dev->stats.rx_frames, 40);
						assert_int_equal(dev->stats.device_errors, 0);
						assert_int_equal(dev->stats.rx_dropped, 0);
						assert_int_equal(dev->stats.resets, 0);
						if (!irq)
							assert_int_equal(sim.rxq.interrupts, 0);
					}
}

/* With MRG_RXBUF a frame larger than one buffer fills several: rx()
 * gets them as one chain, in order, with the right bytes, the header
 * stripped from the first only. */
static void test_mergeable_frame_arrives_as_a_chain(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++) {
			struct conf c = {.features = F_STD | F(VIRTIO_NET_F_MTU),
					 .legacy = legacy,
					 .packed = packed,
					 .mtu = 9000};
			up(&c);
			assert_int_equal(dev->mtu, 9000);
			sim.rxq.ring.no_write_flag = packed;
			static const uint32_t lens[] = {9014, 2036, 2037, 4084, 4085, 60, 6000};
			static const unsigned pieces[] = {5, 1, 2, 2, 3, 1, 3};
			for (unsigned k = 0; k < 7; k++) {
				rx_and_check(lens[k], 40 + k, NULL);
				struct got_frame *g = last_frame();
				assert_int_equal(g->pieces, pieces[k]);
			}
			assert_int_equal(sim.max_num_buffers, 5);
			assert_int_equal(dev->stats.rx_bytes, 9014 + 2036 + 2037 + 4084 + 4085 + 60 + 6000);
			/* And a jumbo frame goes out. */
			assert_int_equal(tx_frame(0, 9014, 50, NULL, 1), 0);
			tx_seen(0, 9014);
		}
}

/* The stack holds every frame it is given.  While the driver has free
 * memory the ring is topped up at each poll (never left empty); NET_RX_LOW
 * appears before the last buffers go, and stays; once the ring ran dry
 * the device waits, and buffers given back are posted again and the
 * device told, so the frame that waited arrives. */
static void test_refill_under_pressure(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++)
			for (int mrg = 0; mrg < 2; mrg++)
				for (int ind = 0; ind < 2; ind++) {
					struct conf c = {.features = F_STD &
								     ~(mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)) &
								     ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
							 .legacy = legacy,
							 .packed = packed};
					up(&c);
					const unsigned total = dev->rx_bufs;
					/* What the ring holds (a legacy buffer without MRG_RXBUF or
					 * indirect tables takes two descriptors), at most half the
					 * buffers: the rest is for the stack to hold. */
					unsigned chains = legacy && !mrg && !ind ? 128 : 256;
					unsigned target = chains < total / 2 ? chains : total / 2;
					assert_int_equal(total, VIRTIO_NET_RX_BUFS);
					assert_int_equal(vsim_net_rx_avail(&sim), target);
					stack.hold = 1;
					int low_seen = 0;
					for (unsigned k = 1; k <= total; k++) {
						make_frame(frame_buf, 64, k);
						assert_int_equal(vsim_net_rx(&sim, frame_buf, 64, NULL), 1);
						assert_int_equal(net_poll(dev), 1);
						struct got_frame *g = last_frame();
						assert_int_equal(g->len, 64);
						assert_memory_equal(g->data, frame_buf, 64);
						int low = !!(g->flags & NET_RX_LOW);
						if (low_seen && !low)
							fail_msg("NET_RX_LOW went away while the stack held "
								 "more");
						low_seen |= low;
						if (k <= total - target)
							assert_false(low); /* a whole ring's worth is spare */
						if (k >= total - 32)
							assert_true(low);
						unsigned left = total - k;
						assert_int_equal(vsim_net_rx_avail(&sim),
								 left < target ? left : target);
					}
					assert_int_equal(stack.nheld, total);
					/* The ring is empty: the next frame waits in the device. */
					make_frame(frame_buf, 80, 9999);
					assert_int_equal(vsim_net_rx(&sim, frame_buf, 80, NULL), 0);
					assert_int_equal(net_poll(dev), 0);
					assert_int_equal(net_arm(dev), 0);
					unsigned notifies = sim.rxq.notifies;
					release_held(10);
					assert_int_equal(net_arm(dev), 1); /* buffers to post: do not halt */
					net_poll(dev);
					assert_true(sim.rxq.notifies > notifies);
					assert_int_equal(net_poll(dev), 1);
					assert_int_equal(last_frame()->len, 80);
					assert_memory_equal(last_frame()->data, frame_buf, 80);
					stack.hold = 0;
					release_held(total);
					net_poll(dev);
					assert_int_equal(vsim_net_rx_avail(&sim), target);
					rx_and_check(1514, 7, NULL);
					assert_int_equal(dev->stats.rx_dropped, 0);
					assert_int_equal(dev->stats.device_errors, 0);
				}
}

/* A burst larger than the ring: the device fills every posted buffer and
 * keeps the rest waiting.  One poll takes more frames than the ring held
 * (it refills and notifies before the ring runs dry, so the device goes
 * on), but not without bound (the loop's other work gets its turn); the
 * next takes the rest; every frame arrives, in order. */
static void test_burst_larger_than_the_ring(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ev = 0; ev < 2; ev++) {
			struct conf c = {.features = F_STD & ~(ev ? 0 : F(VIRTIO_F_EVENT_IDX)),
					 .packed = packed};
			up(&c);
			const unsigned target = vn.rx_target, n = target + 200;
			static uint8_t frames[400][128];
			assert_true(n <= 400 && n - target <= VSIM_NET_BACKLOG);
			for (unsigned k = 0; k < n; k++) {
				make_frame(frames[k], 128, 1000 + k);
				assert_int_equal(vsim_net_rx(&sim, frames[k], 128, NULL), k < target);
			}
			int first = net_poll(dev);
			assert_true(first > (int)target && first < (int)n);
			int second = net_poll(dev);
			assert_int_equal(first + second, n);
			assert_int_equal(stack.total, n);
			for (unsigned k = n - LOG_FRAMES; k < n; k++)
				assert_memory_equal(stack.frame[k % LOG_FRAMES].data, frames[k], 128);
			assert_int_equal(dev->stats.rx_dropped, 0);
			assert_int_equal(sim.nbacklog, 0);
		}
}

/* A piece given back twice is ignored (it is posted or free already). */
static void test_double_release_is_ignored(void **state)
{
	(void)state;
	up(&base);
	stack.hold = 1;
	rx_and_check(100, 1, NULL);
	struct net_rx_buf *b = stack.held[--stack.nheld];
	net_rx_release(dev, b);
	net_poll(dev);
	unsigned avail = vsim_net_rx_avail(&sim);
	net_rx_release(dev, b);
	net_poll(dev);
	assert_int_equal(vsim_net_rx_avail(&sim), avail);
	stack.hold = 0;
	for (unsigned k = 0; k < 600; k++) /* every buffer used twice over: none is posted twice */
		rx_and_check(64 + k % 900, k, NULL);
}

/* More than 2^16 frames each way through a ring of 16: the split ring's
 * 16-bit indices and the packed ring's wrap counters go round many times
 * (with and without event indices), and every frame is intact. */
static void test_ring_wrap_past_2_16(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ev = 0; ev < 2; ev++) {
			struct conf c = {.features = F_STD & ~(ev ? 0 : F(VIRTIO_F_EVENT_IDX)),
					 .packed = packed,
					 .qmax = 16};
			up(&c);
			const unsigned n = 70000;
			for (unsigned i = 0; i < n; i++) {
				uint32_t len = 60 + i % 200;
				make_frame(frame_buf, len, i);
				assert_int_equal(vsim_net_rx(&sim, frame_buf, len, NULL), 1);
				assert_int_equal(net_poll(dev), 1);
				struct got_frame *g = last_frame();
				if (g->len != len || memcmp(g->data, frame_buf, len) != 0)
					fail_msg("received frame %u changed", i);
				assert_int_equal(tx_frame(i % 64, len, i + 1, NULL, i + 1), 0);
				assert_true(vsim_net_tx_take(&sim, &seen));
				if (seen.len != len || memcmp(seen.data, tx_store[i % 64], len) != 0)
					fail_msg("transmitted frame %u changed", i);
				if (i >= 64 && !stack.done[i - 64])
					fail_msg("frame %u not given back before its buffer was reused",
						 i - 64);
			}
			net_poll(dev);
			assert_int_equal(stack.ndone, n);
			assert_int_equal(dev->stats.rx_frames, n);
			assert_int_equal(dev->stats.tx_frames, n);
			assert_int_equal(dev->stats.device_errors, 0);
			assert_int_equal(sim.tx_lost, 0);
			assert_int_equal(sim.rxq.ring.chains_seen, n);
			assert_int_equal(sim.txq.ring.chains_seen, n);
			if (!packed) /* the 16-bit indices went round */
				assert_int_equal(sim.txq.ring.used_idx, n - 65536);
		}
}

/* ---- transmit ---- */

/* A frame in several segments goes out as one chain, gathered in order;
 * what the device cannot take is refused before it sees anything. */
static void test_transmit_gathers_segments_and_refuses_bad_frames(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++)
			for (int ind = 0; ind < 2; ind++) {
				struct conf c = {.features = F_STD & ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
						 .legacy = legacy,
						 .packed = packed};
				up(&c);
				/* An indirect table holds the header and 7 segments; a
				 * ring of 256 takes NET_MAX_SEGS and the header. */
				const unsigned max = ind ? VIRTQ_INDIRECT_MAX - 1 : NET_MAX_SEGS;
				assert_int_equal(dev->max_segs, max);
				make_frame(tx_store[0], 1514, 77);
				struct net_seg segs[NET_MAX_SEGS + 1];
				uint32_t cut[] = {0, 6, 14, 34, 54, 100, 1000, 1400, 1514};
				for (unsigned i = 0; i < max; i++)
					segs[i] = (struct net_seg){tx_store[0] + cut[i], cut[i + 1] - cut[i]};
				segs[max - 1].len = 1514 - cut[max - 1];
				assert_int_equal(net_transmit(dev, segs, max, NULL, (void *)1), 0);
				assert_true(vsim_net_tx_take(&sim, &seen));
				assert_int_equal(seen.len, 1514);
				assert_memory_equal(seen.data, tx_store[0], 1514);
				assert_int_equal(seen.segs, max + 1); /* the header, then each segment */
				assert_int_equal(seen.descs, ind ? 1 : max + 1);
				unsigned frames = sim.tx_frames;
				segs[max] = (struct net_seg){tx_store[1], 10};
				assert_int_equal(net_transmit(dev, segs, max + 1, NULL, (void *)2), -EINVAL);
				assert_int_equal(net_transmit(dev, segs, 0, NULL, (void *)2), -EINVAL);
				struct net_seg empty[2] = {{tx_store[0], 60}, {tx_store[1], 0}};
				assert_int_equal(net_transmit(dev, empty, 2, NULL, (void *)2), -EINVAL);
				struct net_seg shorty = {tx_store[0], 13};
				assert_int_equal(net_transmit(dev, &shorty, 1, NULL, (void *)2), -EINVAL);
				struct net_seg longy = {tx_store[0], 1515};
				assert_int_equal(net_transmit(dev, &longy, 1, NULL, (void *)2), -EINVAL);
				net_poll(dev);
				assert_int_equal(sim.tx_frames, frames);
				assert_int_equal(stack.done[0], 1);
				assert_int_equal(stack.done[1], 0); /* refused: never given back */
				assert_int_equal(dev->stats.tx_frames, 1);
				assert_int_equal(dev->stats.tx_bytes, 1514);
			}
}

/* The ring full of transmits the device holds: the next one waits, a
 * bounded time, then is refused with -ENOBUFS and counted; nothing the
 * device holds changes meanwhile (the simulator checks each held chain's
 * bytes when it completes); every accepted cookie comes back exactly
 * once, the refused one never. */
static void test_full_transmit_ring_waits_then_refuses(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int irq = 0; irq < 2; irq++)
			for (int ind = 0; ind < 2; ind++) {
				struct conf c = {.features = F_STD & ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
						 .packed = packed,
						 .use_irq = irq,
						 .msix = irq,
						 .msix_entries = 3,
						 .qmax = 8};
				up(&c);
				sim.tx_mode = VSIM_TX_HOLD;
				unsigned fits =
					ind ? 8 : 4; /* header and one segment: 2 descriptors, or 1 slot */
				for (unsigned i = 0; i < fits; i++)
					assert_int_equal(tx_frame(i, 100 + i, i, NULL, i + 1), 0);
				for (unsigned k = 0; k < 3; k++) {
					uint64_t t0 = vsim_plat.now_ns;
					assert_int_equal(tx_frame(fits + k, 300, 50 + k, NULL, 100 + k),
							 -ENOBUFS);
					uint64_t waited = vsim_plat.now_ns - t0;
					assert_true(waited >= 5000000ull && waited < 200000000ull);
				}
				assert_int_equal(dev->stats.tx_dropped, 3);
				assert_int_equal(dev->stats.tx_frames, fits);
				assert_int_equal(sim.tx_frames, fits);
				assert_int_equal(stack.ndone, 0);
				net_poll(dev);
				assert_int_equal(stack.ndone, 0);
				assert_int_equal(vsim_net_tx_release(&sim), fits);
				net_poll(dev);
				assert_int_equal(stack.ndone, fits);
				for (unsigned i = 0; i < fits; i++) {
					assert_int_equal(stack.done[i], 1);
					tx_seen(i, 100 + i);
				}
				for (unsigned k = 0; k < 3; k++)
					assert_int_equal(stack.done[99 + k], 0);
				/* Room again. */
				sim.tx_mode = VSIM_TX_AT_ONCE;
				assert_int_equal(tx_frame(0, 1000, 9, NULL, 200), 0);
				tx_seen(0, 1000);
				net_poll(dev);
				assert_int_equal(stack.done[199], 1);
				assert_int_equal(dev->stats.resets, 0);
			}
}

/* A transmit the device keeps while hundreds after it complete: its id
 * is not reused and its header not rewritten (the simulator compares its
 * bytes when it finally completes), and its cookie comes back then, once. */
static void test_transmit_kept_long_is_never_overwritten(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ind = 0; ind < 2; ind++) {
			struct conf c = {.features = (F_STD | F(VIRTIO_NET_F_CSUM)) &
						     ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
					 .packed = packed,
					 .qmax = 8};
			up(&c);
			sim.tx_mode = VSIM_TX_HOLD;
			struct net_tx_offload cs = {34, 16, 0, 0};
			assert_int_equal(tx_frame(63, 500, 1, &cs, 1), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
			assert_int_equal(seen.len, 500);
			sim.tx_mode = VSIM_TX_AT_ONCE;
			for (unsigned i = 0; i < 300; i++) {
				assert_int_equal(tx_frame(i % 60, 60 + i, i + 2, NULL, i + 2), 0);
				tx_seen(i % 60, 60 + i);
			}
			net_poll(dev);
			assert_int_equal(stack.done[0], 0);
			assert_int_equal(stack.ndone, 300);
			assert_int_equal(vsim_net_tx_release(&sim), 1);
			net_poll(dev);
			assert_int_equal(stack.done[0], 1);
			assert_int_equal(stack.ndone, 301);
		}
}

/* A device slower than the sender: the ring fills, the sender waits for
 * room (halting for the transmit interrupt in irq mode, on the queue's
 * own MSI-X entry or the shared one), and every frame goes out in order. */
static void test_sender_waits_for_a_slow_device(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int mode = 0; mode < 4; mode++) { /* poll, msix x3, msix x2, intx */
			struct conf c = {.features = F_STD,
					 .packed = packed,
					 .use_irq = mode > 0,
					 .msix = mode == 1 || mode == 2,
					 .msix_entries = mode == 1 ? 3 : 2,
					 .qmax = 8};
			up(&c);
			sim.tx_mode = VSIM_TX_AT_IDLE;
			for (unsigned i = 0; i < 200; i++) {
				assert_int_equal(tx_frame(i % 64, 60 + i, i, NULL, i + 1), 0);
				assert_true(vsim_net_tx_take(&sim, &seen));
				assert_int_equal(seen.len, 60 + i);
				if (i >= 64)
					assert_int_equal(stack.done[i - 64], 1);
			}
			assert_true(vsim_plat.waits > 0);
			assert_int_equal(dev->stats.tx_dropped, 0);
			if (mode > 0) {
				assert_true(sim.txq.interrupts > 0);
				assert_int_equal(vsim_plat.tick_wakes,
						 0); /* every halt ended by its interrupt */
			}
			if (mode == 1)
				assert_true(sim.msix_irqs[2] > 0 && sim.msix_irqs[0] == 0);
			if (mode == 2)
				assert_true(sim.msix_irqs[0] > 0);
			if (mode == 3)
				assert_true(sim.intx_irqs > 0);
		}
}

/* ---- checksum offload ---- */

/* With CSUM, a frame sent with a net_tx_csum goes out with NEEDS_CSUM and
 * its start and offset; without one, flags 0.  Without CSUM the offload is
 * not offered and asking for it is refused. */
static void test_transmit_checksum_offload(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int csum = 0; csum < 2; csum++) {
			struct conf c = {.features = F_STD | (csum ? F(VIRTIO_NET_F_CSUM) : 0),
					 .legacy = legacy};
			up(&c);
			assert_int_equal(!!(dev->offloads & NET_OFF_TX_CSUM), csum);
			assert_false(dev->offloads & NET_OFF_RX_CSUM);
			struct net_tx_offload cs = {34, 16, 0, 0};
			unsigned frames = sim.tx_frames;
			if (!csum) {
				assert_int_equal(tx_frame(0, 100, 1, &cs, 1), -EINVAL);
				assert_int_equal(sim.tx_frames, frames);
				continue;
			}
			assert_int_equal(tx_frame(0, 100, 1, &cs, 1), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
			assert_int_equal(seen.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(seen.hdr.csum_start, 34);
			assert_int_equal(seen.hdr.csum_offset, 16);
			assert_int_equal(seen.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
			assert_int_equal(seen.hdr.num_buffers, 0);
			assert_memory_equal(seen.data, tx_store[0], 100);
			/* UDP's: 34 and 6; the next frame on the same id is plain again. */
			cs = (struct net_tx_offload){34, 6, 0, 0};
			assert_int_equal(tx_frame(1, 42, 2, &cs, 2), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
			assert_int_equal(seen.hdr.csum_offset, 6);
			for (unsigned i = 0; i < 2 * 256; i++) {
				assert_int_equal(tx_frame(2, 60, 3, NULL, 3 + i), 0);
				tx_seen(2, 60);
			}
			/* A checksum field past the frame's end. */
			cs = (struct net_tx_offload){34, 16, 0, 0};
			assert_int_equal(tx_frame(3, 51, 4, &cs, 600), -EINVAL);
			assert_int_equal(tx_frame(3, 52, 4, &cs, 601), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
		}
}

/* With GUEST_CSUM, a frame the device marks NEEDS_CSUM (partial checksum,
 * the rest checked) or DATA_VALID reaches the stack with NET_RX_CSUM_OK;
 * one without either, or with only a flag the driver does not know, does
 * not.  Without GUEST_CSUM the same flags (a device breaking the rule
 * that it sends 0) never give NET_RX_CSUM_OK. */
static void test_receive_checksum_flags(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int gcsum = 0; gcsum < 2; gcsum++) {
			struct conf c = {.features = F_STD | (gcsum ? F(VIRTIO_NET_F_GUEST_CSUM) : 0),
					 .legacy = legacy};
			up(&c);
			assert_int_equal(!!(dev->offloads & NET_OFF_RX_CSUM), gcsum);
			static const struct vsim_net_rx_opts opts[] = {
				{.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16},
				{.flags = VIRTIO_NET_HDR_F_DATA_VALID},
				{.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID,
				 .csum_start = 34,
				 .csum_offset = 6},
				{.flags = 0},
				{.flags = 0x80},
			};
			static const int ok[] = {1, 1, 1, 0, 0};
			for (unsigned i = 0; i < 5; i++) {
				rx_and_check(200, i, &opts[i]);
				assert_int_equal(!!(last_frame()->flags & NET_RX_CSUM_OK), gcsum && ok[i]);
			}
		}
}

/* ---- segmentation offload (TSO), both ways ---- */

/* Everything of F_STD, and both checksum offloads and both TSO4 features. */
#define F_TSO                                                                                                \
	(F_STD | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |            \
	 F(VIRTIO_NET_F_HOST_TSO4))
#define IP_AT ETH_HLEN
#define TCP_AT (ETH_HLEN + 20)
#define TH_FIN 0x01
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_CWR 0x80

/* Addresses, protocol and a TCP length: the pseudo-header's sum. */
static uint32_t pseudo_sum(const uint8_t *f, uint32_t tcp_len)
{
	return sum16(f + IP_AT + 12, 8, 6 + tcp_len);
}

/* The shape of a TCP segment the tests build. */
struct tcp_seg {
	uint32_t len; /* the whole frame */
	unsigned thl; /* TCP header bytes: 20, or more with options */
	uint16_t id;
	uint32_t seq;
	uint8_t flags;
	unsigned seed; /* of the payload */
};

/* A TCP/IPv4 frame as a stack hands it over for the device to finish (or
 * as a device hands over a coalesced one): the IP header whole (DF, its
 * checksum right), the TCP checksum field holding the pseudo-header sum
 * for the whole TCP length, folded, not inverted.  out: from us to the
 * peer, else from the peer to us. */
static void make_tcp(uint8_t *f, const struct tcp_seg *t, int out)
{
	uint8_t *ip = f + IP_AT, *tcp = ip + 20;

	make_frame(f, t->len, t->seed);
	memcpy(f, out ? peer_mac : dev->mac, 6);
	memcpy(f + 6, out ? dev->mac : peer_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(t->len - ETH_HLEN));
	put16(ip + 4, t->id);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, out ? 0x0A000002 : 0x0A000001);
	put32(ip + 16, out ? 0x0A000001 : 0x0A000002);
	put16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	memset(tcp, 0, 20);
	put16(tcp, out ? 80 : 40000);
	put16(tcp + 2, out ? 40000 : 80);
	put32(tcp + 4, t->seq);
	put32(tcp + 8, 0x01020304);
	tcp[12] = (uint8_t)(t->thl / 4 << 4);
	tcp[13] = t->flags;
	put16(tcp + 14, 0x7000);
	for (unsigned i = 20; i < t->thl; i++)
		tcp[i] = 1; /* NOPs */
	put16(tcp + 16, fold(pseudo_sum(f, t->len - TCP_AT)));
}

static uint8_t big_tx[VSIM_NET_GSO_MAX + 1];

/* The device put the transmit of `orig` (t, cut at mss) on the wire as
 * segments: each the headers (IP total length, id counted up, the IP
 * checksum new; sequence number moved on; FIN and PSH only on the last,
 * CWR only on the first) and its part of the payload, both checksums
 * right; the header the chain had is the offload asked for. */
static void expect_cut(const uint8_t *orig, const struct tcp_seg *t, unsigned mss)
{
	const unsigned hlen = TCP_AT + t->thl;
	const uint32_t payload = t->len - hlen, n = (payload + mss - 1) / mss;
	static uint8_t want[VSIM_NET_FRAME_MAX];

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = payload - i * mss < mss ? payload - i * mss : mss;
		if (!vsim_net_tx_take(&sim, &seen))
			fail_msg("segment %u of %u never reached the wire", i, n);
		assert_int_equal(seen.hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
		assert_int_equal(seen.hdr.gso_size, mss);
		assert_int_equal(seen.hdr.hdr_len, hlen);
		assert_int_equal(seen.hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(seen.hdr.csum_start, TCP_AT);
		assert_int_equal(seen.hdr.csum_offset, 16);
		assert_int_equal(seen.hdr.num_buffers, 0);
		assert_int_equal(seen.hdr_len, vn.hdr_len);
		assert_int_equal(seen.gso_seg, i);
		assert_int_equal(seen.gso_segs, n);
		assert_int_equal(seen.len, hlen + k);
		memcpy(want, orig, hlen);
		memcpy(want + hlen, orig + hlen + i * mss, k);
		put16(want + IP_AT + 2, (uint16_t)(20 + t->thl + k));
		put16(want + IP_AT + 4, (uint16_t)(t->id + i));
		put16(want + IP_AT + 10, 0);
		put16(want + IP_AT + 10, (uint16_t)~fold(sum16(want + IP_AT, 20, 0)));
		put32(want + TCP_AT + 4, t->seq + i * mss);
		uint8_t fl = t->flags;
		if (i + 1 < n)
			fl &= (uint8_t) ~(TH_FIN | TH_PSH);
		if (i > 0)
			fl &= (uint8_t)~TH_CWR;
		want[TCP_AT + 13] = fl;
		put16(want + TCP_AT + 16, 0);
		put16(want + TCP_AT + 16,
		      (uint16_t)~fold(sum16(want + TCP_AT, t->thl + k, pseudo_sum(want, t->thl + k))));
		if (memcmp(seen.data, want, hlen + k) != 0) {
			for (unsigned b = 0; b < hlen + k; b++)
				if (seen.data[b] != want[b])
					fail_msg("segment %u of %u: byte %u is %#x, not %#x", i, n, b,
						 seen.data[b], want[b]);
		}
	}
}

/* Sends orig (t) for the device to cut at mss, as nseg pieces. */
static int tx_gso(const uint8_t *orig, const struct tcp_seg *t, unsigned mss, unsigned nseg, unsigned cookie)
{
	struct net_seg segs[NET_MAX_SEGS];
	struct net_tx_offload off = {TCP_AT, 16, (uint16_t)mss, (uint16_t)(TCP_AT + t->thl)};
	uint32_t at = 0;

	for (unsigned i = 0; i < nseg; i++) {
		uint32_t n = i + 1 < nseg ? (t->len / nseg) & ~7u : t->len - at;
		segs[i] = (struct net_seg){orig + at, n};
		at += n;
	}
	return net_transmit(dev, segs, nseg, &off, (void *)(uintptr_t)cookie);
}

/* Which of GUEST_TSO4 and HOST_TSO4 are taken when offered: GUEST_TSO4
 * only with MRG_RXBUF (each buffer would need 64 KiB) and GUEST_CSUM (the
 * specification's dependency), HOST_TSO4 only with CSUM; NET_OFF_TSO4
 * follows HOST_TSO4.  Frames flow either way; a large segment is refused
 * where the device cannot cut it. */
static void test_tso_features_and_their_dependencies(void **state)
{
	(void)state;
	static const struct {
		uint64_t offered;
		int guest, host;
	} cases[] = {
		{F_TSO, 1, 1},
		{F_TSO & ~F(VIRTIO_NET_F_MRG_RXBUF), 0, 1},
		{F_TSO & ~F(VIRTIO_NET_F_GUEST_CSUM), 0, 1},
		{F_TSO & ~F(VIRTIO_NET_F_CSUM), 1, 0},
		{F_TSO & ~(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM)), 0, 0},
		{F_TSO & ~(F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM)), 0, 0},
		{F_TSO & ~(F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_HOST_TSO4)), 0, 0},
		{F_TSO & ~F(VIRTIO_NET_F_GUEST_TSO4), 0, 1},
		{F_TSO & ~F(VIRTIO_NET_F_HOST_TSO4), 1, 0},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int legacy = 0; legacy < 2; legacy++) {
			struct conf c = {.features = cases[i].offered, .legacy = legacy};
			up(&c);
			uint64_t f = vn.vdev.features;
			assert_int_equal(!!(f & F(VIRTIO_NET_F_GUEST_TSO4)), cases[i].guest);
			assert_int_equal(!!(f & F(VIRTIO_NET_F_HOST_TSO4)), cases[i].host);
			unsigned off = (f & F(VIRTIO_NET_F_CSUM) ? NET_OFF_TX_CSUM : 0) |
				       (f & F(VIRTIO_NET_F_GUEST_CSUM) ? NET_OFF_RX_CSUM : 0) |
				       (cases[i].host ? NET_OFF_TSO4 : 0);
			assert_int_equal(dev->offloads, off);
			rx_and_check(1514, i, NULL);
			struct tcp_seg t = {3 * 1460 + 54, 20, 7, 1000, TH_ACK, i};
			make_tcp(big_tx, &t, 1);
			unsigned frames = sim.tx_frames;
			if (cases[i].host) {
				assert_int_equal(tx_gso(big_tx, &t, 1460, 1, 1), 0);
				expect_cut(big_tx, &t, 1460);
			} else {
				assert_int_equal(tx_gso(big_tx, &t, 1460, 1, 1), -EINVAL);
				assert_int_equal(sim.tx_frames, frames);
			}
			if (cases[i].guest) {
				struct tcp_seg r = {20000, 20, 9, 5000, TH_ACK | TH_PSH, 100 + i};
				make_tcp(big_tx, &r, 0);
				struct vsim_net_rx_opts o = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
							     .csum_start = TCP_AT,
							     .csum_offset = 16,
							     .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
							     .gso_size = 1460,
							     .hdr_len = TCP_AT + 20};
				assert_int_equal(vsim_net_rx(&sim, big_tx, r.len, &o), 1);
				assert_int_equal(net_poll(dev), 1);
				assert_int_equal(last_frame()->len, r.len);
				assert_int_equal(last_frame()->hash, fnv(big_tx, r.len));
			}
			assert_int_equal(dev->stats.device_errors, 0);
		}
}

/* With HOST_TSO4, a frame sent with a gso_size goes out with the header
 * the specification asks for (NEEDS_CSUM at the TCP checksum, gso_type
 * TCPV4, gso_size, hdr_len the headers' length, num_buffers 0), whatever
 * pieces it is given in, and the device cuts it as Linux does (the
 * simulator checks the request and cuts it; expect_cut checks the cut);
 * one transmit, one cookie, one chain.  The next frames on the same ids
 * go out plain again: no gso field left behind. */
static void test_tso_transmit_header_and_segments(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++)
			for (int ind = 0; ind < 2; ind++) {
				struct conf c = {.features = F_TSO & ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC)),
						 .legacy = legacy,
						 .packed = packed,
						 .qmax = 16};
				up(&c);
				assert_true(dev->offloads & NET_OFF_TSO4);
				static const struct {
					struct tcp_seg t;
					unsigned mss, nseg;
				} cases[] = {
					/* 3 full segments and a short one; the sequence number wraps */
					{{54 + 3 * 1460 + 100, 20, 0x1234, 0xFFFFF000u, TH_ACK | TH_PSH, 1},
					 1460,
					 1},
					/* FIN and PSH on the last only; the IP id wraps; in 3 pieces */
					{{54 + 5 * 1000, 20, 0xFFFE, 77, TH_ACK | TH_PSH | TH_FIN, 2},
					 1000,
					 3},
					/* CWR on the first only; TCP options (hdr_len 66); odd sizes */
					{{66 + 7 * 1448 + 1, 32, 9, 1u << 31, TH_ACK | TH_CWR, 3}, 1448, 2},
					/* two segments exactly */
					{{54 + 2 * 536, 20, 100, 5, TH_ACK, 4}, 536, 1},
				};
				unsigned chains = sim.tx_chains, ncases = sizeof(cases) / sizeof(cases[0]);
				for (unsigned k = 0; k < ncases; k++) {
					make_tcp(big_tx, &cases[k].t, 1);
					unsigned nseg =
						cases[k].nseg < dev->max_segs ? cases[k].nseg : dev->max_segs;
					assert_int_equal(
						tx_gso(big_tx, &cases[k].t, cases[k].mss, nseg, k + 1), 0);
					expect_cut(big_tx, &cases[k].t, cases[k].mss);
					assert_false(vsim_net_tx_take(&sim, &seen));
					assert_int_equal(sim.tx_chains, chains + k + 1);
				}
				net_poll(dev);
				assert_int_equal(stack.ndone, ncases);
				assert_int_equal(sim.tx_gso, ncases);
				/* Plain frames, checksummed or not, on every id after. */
				struct net_tx_offload cs = {TCP_AT, 16, 0, 0};
				for (unsigned i = 0; i < 2 * 16; i++) {
					assert_int_equal(tx_frame(i % 64, 200, i, i % 2 ? &cs : NULL, 10 + i),
							 0);
					assert_true(vsim_net_tx_take(&sim, &seen));
					assert_int_equal(seen.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
					assert_int_equal(seen.hdr.gso_size, 0);
					assert_int_equal(seen.hdr.hdr_len, 0);
					assert_int_equal(seen.hdr.flags,
							 i % 2 ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0);
					assert_int_equal(seen.gso_segs, 0);
					assert_int_equal(seen.len, 200);
					assert_memory_equal(seen.data, tx_store[i % 64], 200);
				}
				assert_int_equal(dev->stats.tx_dropped, 0);
				assert_int_equal(sim.tx_lost, 0);
			}
}

/* How long a frame may be: with gso_size, 14 + 65535 bytes (the largest
 * IP packet), one more refused; without, mtu + 14, with or without the
 * checksum offload, on a device that segments or not; a gso frame with
 * no payload past its headers, or on a device without HOST_TSO4,
 * refused.  Nothing refused reaches the device or comes back. */
static void test_tso_transmit_size_limits(void **state)
{
	(void)state;
	for (int jumbo = 0; jumbo < 2; jumbo++) {
		struct conf c = {.features = F_TSO | (jumbo ? F(VIRTIO_NET_F_MTU) : 0), .mtu = 9000};
		up(&c);
		const unsigned mtu = jumbo ? 9000 : 1500, mss = mtu - 40;
		assert_int_equal(dev->mtu, mtu);
		struct tcp_seg t = {VSIM_NET_GSO_MAX, 20, 1, 1, TH_ACK, 5};
		make_tcp(big_tx, &t, 1);
		unsigned frames = sim.tx_frames;
		for (unsigned nseg = 1; nseg <= dev->max_segs; nseg += dev->max_segs - 1) {
			assert_int_equal(tx_gso(big_tx, &t, mss, nseg, nseg), 0);
			expect_cut(big_tx, &t, mss);
		}
		assert_int_equal(sim.tx_frames, frames + 2 * ((65535 - 40 + mss - 1) / mss));
		frames = sim.tx_frames;
		/* One byte more than an IP packet can be. */
		struct net_seg one = {big_tx, VSIM_NET_GSO_MAX + 1};
		struct net_tx_offload off = {TCP_AT, 16, (uint16_t)mss, TCP_AT + 20};
		assert_int_equal(net_transmit(dev, &one, 1, &off, (void *)100), -EINVAL);
		struct net_seg two[2] = {{big_tx, 54}, {big_tx + 54, VSIM_NET_GSO_MAX + 1 - 54}};
		assert_int_equal(net_transmit(dev, two, 2, &off, (void *)101), -EINVAL);
		/* Headers and nothing to cut. */
		struct net_seg hdrs = {big_tx, TCP_AT + 20};
		assert_int_equal(net_transmit(dev, &hdrs, 1, &off, (void *)102), -EINVAL);
		/* Without gso_size: mtu + 14, checksum offload or not. */
		struct net_tx_offload cs = {TCP_AT, 16, 0, 0};
		for (int csum = 0; csum < 2; csum++) {
			assert_int_equal(tx_frame(0, mtu + ETH_HLEN + 1, 1, csum ? &cs : NULL, 103), -EINVAL);
			assert_int_equal(tx_frame(0, mtu + ETH_HLEN, 1, csum ? &cs : NULL, 104 + csum), 0);
			assert_true(vsim_net_tx_take(&sim, &seen));
			assert_int_equal(seen.len, mtu + ETH_HLEN);
			assert_int_equal(seen.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
		}
		assert_false(vsim_net_tx_take(&sim, &seen));
		assert_int_equal(sim.tx_frames, frames + 2);
		net_poll(dev);
		assert_int_equal(stack.ndone, 4);
		for (unsigned i = 100; i <= 103; i++)
			assert_int_equal(stack.done[i - 1], 0);
	}
	/* CSUM without HOST_TSO4: no segmentation. */
	for (int legacy = 0; legacy < 2; legacy++) {
		struct conf c = {.features = F_TSO & ~F(VIRTIO_NET_F_HOST_TSO4), .legacy = legacy};
		up(&c);
		assert_false(dev->offloads & NET_OFF_TSO4);
		struct tcp_seg t = {54 + 3000, 20, 1, 1, TH_ACK, 6};
		make_tcp(big_tx, &t, 1);
		assert_int_equal(tx_gso(big_tx, &t, 1460, 1, 1), -EINVAL);
		assert_int_equal(sim.tx_frames, 0);
		assert_int_equal(dev->stats.tx_frames, 0);
	}
}

/* With GUEST_TSO4 the device hands over a TCP segment of up to 64 KiB
 * (coalesced by the host: gso_type TCPV4, NEEDS_CSUM and the partial
 * checksum) in as many mergeable buffers as it fills: rx() gets it as
 * one chain, in order, the header stripped from the first piece only,
 * with NET_RX_CSUM_OK.  A burst of them, more buffers than the ring
 * holds, arrives whole as the driver reposts (every frame intact, in
 * order), and every buffer comes back. */
static void test_tso_receive_large_segment_as_a_chain(void **state)
{
	(void)state;
	static uint8_t segs[8][VSIM_NET_GSO_MAX];
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++) {
			struct conf c = {.features = F_TSO, .legacy = legacy, .packed = packed};
			up(&c);
			static const uint32_t lens[] = {VSIM_NET_GSO_MAX, 54 + 44 * 1460, 54 + 1461, 30000};
			for (unsigned k = 0; k < 4; k++) {
				struct tcp_seg r = {lens[k],	     20,   (uint16_t)k, 1000 * k,
						    TH_ACK | TH_PSH, 7 + k};
				make_tcp(big_tx, &r, 0);
				struct vsim_net_rx_opts o = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
							     .csum_start = TCP_AT,
							     .csum_offset = 16,
							     .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
							     .gso_size = 1460,
							     .hdr_len = TCP_AT + 20};
				unsigned before = stack.total;
				assert_int_equal(vsim_net_rx(&sim, big_tx, r.len, &o), 1);
				assert_int_equal(net_poll(dev), 1);
				assert_int_equal(stack.total, before + 1);
				struct got_frame *g = last_frame();
				assert_int_equal(g->len, r.len);
				unsigned bufs = (vn.hdr_len + r.len + VIRTIO_NET_RX_BUF_BYTES - 1) /
						VIRTIO_NET_RX_BUF_BYTES;
				assert_int_equal(g->pieces, bufs);
				assert_int_equal(sim.max_num_buffers, (vn.hdr_len + lens[0] + 2047) / 2048);
				assert_true(g->flags & NET_RX_CSUM_OK);
				if (r.len > VSIM_NET_FRAME_MAX)
					assert_memory_equal(big_rx, big_tx, r.len);
				else
					assert_memory_equal(g->data, big_tx, r.len);
			}
			/* A burst: 8 of them need some 260 buffers; the ring has 128. */
			unsigned target = vn.rx_target, total = stack.total, landed = 0;
			assert_int_equal(vsim_net_rx_avail(&sim), target);
			struct vsim_net_rx_opts o = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
						     .csum_start = TCP_AT,
						     .csum_offset = 16,
						     .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
						     .gso_size = 1460,
						     .hdr_len = TCP_AT + 20};
			for (unsigned k = 0; k < 8; k++) {
				struct tcp_seg r = {
					VSIM_NET_GSO_MAX - 100 * k, 20, (uint16_t)k, 0, TH_ACK, 50 + k};
				make_tcp(segs[k], &r, 0);
				landed += (unsigned)vsim_net_rx(&sim, segs[k], r.len, &o);
			}
			assert_true(landed < 8);
			for (unsigned round = 0; round < 20 && stack.total < total + 8; round++)
				net_poll(dev);
			assert_int_equal(stack.total, total + 8);
			for (unsigned k = 0; k < 8; k++) {
				struct got_frame *g = &stack.frame[(total + k) % LOG_FRAMES];
				assert_int_equal(g->len, VSIM_NET_GSO_MAX - 100 * k);
				assert_int_equal(g->hash, fnv(segs[k], g->len));
			}
			assert_int_equal(dev->stats.rx_dropped, 0);
			assert_int_equal(dev->stats.device_errors, 0);
			assert_int_equal(sim.nbacklog, 0);
			net_poll(dev);
			assert_int_equal(vsim_net_rx_avail(&sim), target);
		}
}

/* ---- configuration changes ---- */

/* The link goes down and up: the configuration-change interrupt (MSI-X
 * entry 1, or INTx with ISR bit 1, polled or not) makes the next poll
 * read the status, report NET_EV_LINK once per change, and link_up
 * follows; in irq mode the loop is told not to halt.  Without STATUS the
 * link is up and stays so. */
static void test_link_change_reaches_the_stack(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int irq = 0; irq < 2; irq++)
			for (int msix = 0; msix < 2; msix++) {
				struct conf c = {
					.features = F_STD, .legacy = legacy, .use_irq = irq, .msix = msix};
				up(&c);
				assert_string_equal(vn.mode, !irq ? "poll" : msix ? "msix" : "intx");
				assert_int_equal(sim.config_vector, msix ? 1 : VIRTIO_NO_VECTOR);
				assert_int_equal(dev->link_up, 1);
				for (int round = 0; round < 2; round++) {
					assert_int_equal(vsim_net_set_link(&sim, 0), 1);
					if (irq)
						assert_int_equal(net_arm(dev), 1);
					assert_int_equal(stack.nevents, 2 * round); /* not in the interrupt */
					net_poll(dev);
					assert_int_equal(stack.nevents, 2 * round + 1);
					assert_int_equal(stack.event[2 * round].what, NET_EV_LINK);
					assert_int_equal(stack.event[2 * round].link_up, 0);
					assert_int_equal(dev->link_up, 0);
					assert_int_equal(vsim_net_set_link(&sim, 1), 1);
					net_poll(dev);
					assert_int_equal(stack.nevents, 2 * round + 2);
					assert_int_equal(stack.event[2 * round + 1].what, NET_EV_LINK);
					assert_int_equal(dev->link_up, 1);
				}
				/* A change that changes nothing is no event. */
				assert_int_equal(vsim_net_config_change(&sim), 1);
				net_poll(dev);
				assert_int_equal(stack.nevents, 4);
				if (msix)
					assert_int_equal(sim.msix_irqs[1], 5);
				else
					assert_int_equal(sim.intx_irqs, 5);
				assert_int_equal(dev->stats.config_changes, 5);
				assert_int_equal(dev->stats.resets, 0);
				rx_and_check(100, 1, NULL);
			}
	/* No STATUS: up, whatever happens. */
	struct conf c = {.features = F_STD & ~F(VIRTIO_NET_F_STATUS), .msix = 1};
	up(&c);
	assert_int_equal(dev->link_up, 1);
	vsim_net_set_link(&sim, 0);
	net_poll(dev);
	assert_int_equal(dev->link_up, 1);
	assert_int_equal(stack.nevents, 0);
}

/* The link goes down between reading the configuration and DRIVER_OK
 * (the device cannot say so then): the driver sees the generation moved
 * and the first poll reports it. */
static void test_link_change_during_set_up_is_seen(void **state)
{
	(void)state;
	struct conf c = {.features = F_STD, .msix = 1};
	make(&c);
	sim.link_down_at_setup = 1;
	assert_int_equal(start(&c), 0);
	assert_int_equal(sim.config_interrupts, 0);
	net_poll(dev);
	assert_int_equal(dev->link_up, 0);
	assert_int_equal(stack.nevents, 1);
	assert_int_equal(stack.event[0].what, NET_EV_LINK);
}

/* max_virtqueue_pairs is 1 to 0x8000 (spec 5.1.4.1).  0 is insane, and
 * 0x8000 puts the control queue at 0x10000, which no 16-bit queue index
 * reaches: for either the driver declines MQ (as Linux takes such a
 * device to have one pair) and drives the device with its one pair, the
 * control queue at 2.  0x7FFF puts the control queue at 0xFFFE.  Never is
 * another queue set up in the control queue's place. */
static void test_queue_pairs_limits(void **state)
{
	(void)state;
	static const uint16_t pairs[] = {0, 0x7FFF, 0x8000};
	for (unsigned i = 0; i < 3; i++) {
		struct conf c = {.features = F_STD | F(VIRTIO_NET_F_MQ)};
		make(&c);
		vsim_net_set_max_pairs(&sim, pairs[i]);
		assert_int_equal(start(&c), 0);
		int mq = pairs[i] == 0x7FFF;
		assert_int_equal(!!(vn.vdev.features & F(VIRTIO_NET_F_MQ)), mq);
		assert_int_equal(sim.ctrlq.index, mq ? 0xFFFE : 2);
		assert_int_equal(sim.extra_queues, 0);
		assert_int_equal(net_set_rx_mode(dev, 1, 1), 0);
		rx_and_check(100, 1, NULL);
		assert_int_equal(tx_frame(0, 100, 2, NULL, 1), 0);
		tx_seen(0, 100);
	}
}

/* MSI-X entries: receive 0, configuration 1, transmit 2 (with a table of
 * two, transmit shares entry 0); the control queue none.  A polling
 * driver maps only the configuration.  A received frame interrupts on
 * its entry once the driver asked (net_arm). */
static void test_msix_entries_per_queue(void **state)
{
	(void)state;
	for (unsigned entries = 2; entries <= 3; entries++)
		for (int irq = 0; irq < 2; irq++) {
			struct conf c = {
				.features = F_STD, .use_irq = irq, .msix = 1, .msix_entries = entries};
			up(&c);
			assert_true(vsim_msix_enabled());
			assert_int_equal(sim.rxq.vector, irq ? 0 : VIRTIO_NO_VECTOR);
			assert_int_equal(sim.txq.vector, !irq ? VIRTIO_NO_VECTOR : entries == 3 ? 2 : 0);
			assert_int_equal(sim.ctrlq.vector, VIRTIO_NO_VECTOR);
			assert_int_equal(sim.config_vector, 1);
			assert_int_equal(net_arm(dev), 0);
			make_frame(frame_buf, 200, 5);
			assert_int_equal(vsim_net_rx(&sim, frame_buf, 200, NULL), 1);
			assert_int_equal(sim.msix_irqs[0], irq ? 1u : 0u);
			assert_int_equal(net_arm(dev), 1); /* a frame waits: do not halt */
			assert_int_equal(dev->stats.interrupts, irq ? 1u : 0u);
			assert_int_equal(net_poll(dev), 1);
		}
}

/* The platform cannot take a vector back, so none is asked for that
 * might go unused: with MSI-X vectors scarce (or a table of one entry) an
 * irq-mode driver takes what it can use (the receive queue's first, then
 * the configuration's, then the transmit queue's) or falls back to INTx;
 * a polling one takes only the configuration's.  Frames flow either way,
 * and a link change is seen wherever a vector (or INTx) carries it. */
static void test_scarce_vectors_are_not_wasted(void **state)
{
	(void)state;
	for (unsigned entries = 1; entries <= 3; entries += 2)
		for (unsigned left = 0; left <= 3; left++)
			for (int irq = 0; irq < 2; irq++) {
				struct conf c = {.features = F_STD,
						 .use_irq = irq,
						 .msix = 1,
						 .msix_entries = entries};
				make(&c);
				vsim_plat.nmsi = 4 - left;
				assert_int_equal(start(&c), 0);
				unsigned usable = entries == 1 ? 0 : left; /* a table of one is not used */
				unsigned want = irq ? 3 : 1;
				unsigned taken = vsim_plat.nmsi - (4 - left);
				int msix = usable >= 1;
				assert_string_equal(vn.mode, !irq ? "poll" : msix ? "msix" : "intx");
				assert_int_equal(vsim_msix_enabled(), msix);
				assert_int_equal(taken, msix ? (usable < want ? usable : want) : 0);
				int config_vec = msix && (irq ? usable >= 2 : 1);
				assert_int_equal(sim.config_vector, config_vec ? 1 : VIRTIO_NO_VECTOR);
				if (irq && msix)
					assert_int_equal(sim.txq.vector, usable >= 3 ? 2 : 0);
				rx_and_check(300, left, NULL);
				assert_int_equal(tx_frame(0, 300, 1, NULL, 1), 0);
				tx_seen(0, 300);
				/* A link change: by MSI-X, by INTx, or not at all (MSI-X
				 * on and no vector for it: the device cannot say). */
				int told = vsim_net_set_link(&sim, 0);
				assert_int_equal(told, !msix || config_vec);
				net_poll(dev);
				assert_int_equal(dev->link_up, !told);
			}
}

/* ---- the control queue ---- */

static void assert_cmd(unsigned i, uint8_t class, uint8_t cmd, int value)
{
	assert_true(i < sim.ncmds);
	assert_int_equal(sim.cmds[i].class, class);
	assert_int_equal(sim.cmds[i].cmd, cmd);
	if (value < 0) {
		assert_int_equal(sim.cmds[i].len, 0);
	} else {
		assert_int_equal(sim.cmds[i].len, 1);
		assert_int_equal(sim.cmds[i].data[0], value);
	}
}

/* At start the filter is set: not promiscuous and all-multicast when the
 * device has a MAC; net_set_rx_mode changes it (both commands, in order);
 * a refused command is -EIO; an unanswered one -ETIMEDOUT after a bounded
 * wait, and no command is sent after it until the device is reset. */
static void test_receive_mode_commands(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++) {
			struct conf c = {.features = F_STD, .legacy = legacy, .packed = packed};
			up(&c);
			assert_int_equal(sim.ncmds, 2);
			assert_cmd(0, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0);
			assert_cmd(1, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
			assert_int_equal(sim.promisc, 0);
			assert_int_equal(sim.allmulti, 1);
			assert_int_equal(net_set_rx_mode(dev, 1, 0), 0);
			assert_int_equal(sim.ncmds, 4);
			assert_cmd(2, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1);
			assert_cmd(3, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 0);
			assert_int_equal(sim.promisc, 1);
			assert_int_equal(sim.allmulti, 0);
			assert_int_equal(net_set_rx_mode(dev, 0, 1), 0);
			assert_int_equal(sim.promisc, 0);
			assert_int_equal(sim.allmulti, 1);
			sim.ctrl_nak = 1;
			assert_int_equal(net_set_rx_mode(dev, 1, 1), -EIO);
			assert_int_equal(sim.ncmds, 7); /* the first refused, the second not sent */
			sim.ctrl_nak = 0;
			sim.ctrl_silent = 1;
			uint64_t t0 = vsim_plat.now_ns;
			assert_int_equal(net_set_rx_mode(dev, 1, 1), -ETIMEDOUT);
			assert_true(vsim_plat.now_ns - t0 < 3000000000ull);
			assert_int_equal(sim.ncmds, 8);
			sim.ctrl_silent = 0;
			t0 = vsim_plat.now_ns;
			assert_int_equal(net_set_rx_mode(dev, 0, 1), -EIO);
			assert_true(vsim_plat.now_ns - t0 < 1000000ull);
			assert_int_equal(sim.ncmds, 8);
			/* Frames still flow. */
			rx_and_check(300, 3, NULL);
			assert_int_equal(tx_frame(0, 300, 4, NULL, 1), 0);
			tx_seen(0, 300);
			assert_int_equal(dev->stats.resets, 0);
		}
}

/* Without a MAC from the device the driver makes a locally administered
 * unicast address (bit 1 set, bit 0 clear in the first byte), keeps it
 * across a reset, and leaves the filter promiscuous (the device could not
 * know the address). */
static void test_no_mac_makes_a_local_address(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++) {
		struct conf c = {.features = F_STD & ~F(VIRTIO_NET_F_MAC), .legacy = legacy};
		up(&c);
		assert_int_equal(dev->mac[0] & 3, 2);
		static const uint8_t zero[6];
		assert_memory_not_equal(dev->mac, zero, 6);
		assert_memory_not_equal(dev->mac, &sim.cfg[VIRTIO_NET_CFG_MAC], 6);
		assert_int_equal(sim.ncmds, 2);
		assert_cmd(0, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1);
		assert_cmd(1, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 1);
		uint8_t mac[6];
		memcpy(mac, dev->mac, 6);
		sim.lie = VSIM_NET_RX_DOUBLE_ID; /* a reset */
		make_frame(frame_buf, 100, 1);
		vsim_net_rx(&sim, frame_buf, 100, NULL);
		net_poll(dev);
		net_poll(dev);
		assert_int_equal(dev->stats.resets, 1);
		assert_memory_equal(dev->mac, mac, 6);
		assert_int_equal(sim.promisc, 1);
		rx_and_check(100, 2, NULL);
	}
	/* With one, it is the device's. */
	up(&base);
	assert_memory_equal(dev->mac, &sim.cfg[VIRTIO_NET_CFG_MAC], 6);
}

/* After a migration the device sets ANNOUNCE: the stack hears
 * NET_EV_ANNOUNCE first (to send its gratuitous ARP), then the driver
 * acknowledges, which clears the bit; one announcement, one ack. */
static void test_announce_then_ack(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int irq = 0; irq < 2; irq++) {
			struct conf c = {.features = F_STD, .legacy = legacy, .use_irq = irq, .msix = 1};
			up(&c);
			unsigned cmds = sim.ncmds;
			assert_int_equal(vsim_net_announce(&sim), 1);
			net_poll(dev);
			assert_int_equal(stack.nevents, 1);
			assert_int_equal(stack.event[0].what, NET_EV_ANNOUNCE);
			assert_int_equal(stack.event[0].cmds_before, cmds); /* event before the ack */
			assert_int_equal(sim.ncmds, cmds + 1);
			assert_cmd(cmds, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, -1);
			assert_int_equal(sim.cmds[cmds].ack, VIRTIO_NET_OK);
			assert_false(sim.cfg[VIRTIO_NET_CFG_STATUS] & VIRTIO_NET_S_ANNOUNCE);
			net_poll(dev);
			assert_int_equal(stack.nevents, 1);
			assert_int_equal(sim.ncmds, cmds + 1);
			assert_int_equal(dev->link_up, 1);
		}
	/* GUEST_ANNOUNCE not offered: the bit is not acted on. */
	struct conf c = {.features = F_STD & ~F(VIRTIO_NET_F_GUEST_ANNOUNCE), .msix = 1};
	up(&c);
	unsigned cmds = sim.ncmds;
	vsim_net_announce(&sim);
	net_poll(dev);
	assert_int_equal(stack.nevents, 0);
	assert_int_equal(sim.ncmds, cmds);
}

/* A device with several queue pairs: the control queue is number
 * 2 x max_virtqueue_pairs, and only the first pair is set up and used. */
static void test_multiqueue_uses_the_first_pair(void **state)
{
	(void)state;
	for (uint16_t pairs = 1; pairs <= 8; pairs *= 2)
		for (int packed = 0; packed < 2; packed++) {
			struct conf c = {
				.features = F_STD | F(VIRTIO_NET_F_MQ), .packed = packed, .pairs = pairs};
			up(&c);
			assert_true(vn.vdev.features & F(VIRTIO_NET_F_MQ));
			assert_int_equal(vn.max_pairs, pairs);
			assert_int_equal(sim.ctrlq.index, 2 * pairs);
			assert_int_equal(sim.extra_queues, 0);
			assert_int_equal(sim.ncmds, 2);
			assert_int_equal(net_set_rx_mode(dev, 1, 1), 0);
			assert_int_equal(sim.ctrlq.notifies, 4);
			rx_and_check(500, pairs, NULL);
			assert_int_equal(tx_frame(0, 500, 9, NULL, 1), 0);
			tx_seen(0, 500);
		}
}

/* ---- a hostile device ---- */

/* Guards around the receive memory: a driver that let the device's word
 * on a length reach rx() would hand the stack bytes past a buffer (the
 * test's check_piece fails) or read them (ASan, for the last buffer). */

/* One lie about a received frame: the frame never reaches rx(), it is
 * counted (device_errors, rx_dropped), the ring is not reset (the ids
 * were genuine), and the next frame arrives intact. */
static void lie_about_a_frame(const struct conf *c, enum vsim_net_lie lie, uint32_t len)
{
	up(c);
	unsigned resets = sim.resets;
	rx_and_check(100, 1, NULL);
	unsigned before = stack.total;
	make_frame(frame_buf, len, 2);
	sim.lie = lie;
	assert_int_equal(vsim_net_rx(&sim, frame_buf, len, NULL), 1);
	net_poll(dev);
	if (stack.total != before)
		fail_msg("lie %d: a frame reached rx() (%u bytes)", lie, last_frame()->len);
	assert_true(dev->stats.device_errors >= 1);
	assert_true(dev->stats.rx_dropped >= 1);
	assert_int_equal(dev->stats.resets, 0);
	assert_int_equal(sim.resets, resets);
	for (unsigned k = 0; k < 3; k++)
		rx_and_check(60 + 700 * k, 3 + k, NULL);
	/* Nothing leaked: every buffer comes back into the ring. */
	net_poll(dev);
	assert_int_equal(vsim_net_rx_avail(&sim), vn.rx_target);
}

static void test_used_length_beyond_the_buffer(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++)
			for (int mrg = 0; mrg < 2; mrg++)
				for (int nowrite = 0; nowrite <= packed; nowrite++) {
					struct conf c = {.features = F_STD &
								     ~(mrg ? 0 : F(VIRTIO_NET_F_MRG_RXBUF)),
							 .legacy = legacy,
							 .packed = packed};
					make(&c);
					sim.rxq.ring.no_write_flag = nowrite;
					lie_about_a_frame(&c, VSIM_NET_RX_LONG_LEN, 1514);
				}
}

/* With MRG_RXBUF: num_buffers 0 or far beyond what is posted, and a
 * second buffer claiming more than it holds. */
static void test_num_buffers_lies(void **state)
{
	(void)state;
	for (int legacy = 0; legacy < 2; legacy++)
		for (int packed = 0; packed < 2 - legacy; packed++) {
			struct conf c = {.features = F_STD | F(VIRTIO_NET_F_MTU),
					 .legacy = legacy,
					 .packed = packed,
					 .mtu = 9000};
			lie_about_a_frame(&c, VSIM_NET_RX_NUM_BUFFERS_HUGE, 300);
			lie_about_a_frame(&c, VSIM_NET_RX_NUM_BUFFERS_HUGE, 5000);
			lie_about_a_frame(&c, VSIM_NET_RX_NUM_BUFFERS_ZERO, 300);
			lie_about_a_frame(&c, VSIM_NET_RX_LONG_LEN_2ND, 3000);
			lie_about_a_frame(&c, VSIM_NET_RX_LONG_LEN_2ND, 9014);
			/* The first buffer lies, num_buffers is sane: its followers
			 * go with it, and are not taken for frames of their own. */
			lie_about_a_frame(&c, VSIM_NET_RX_LONG_LEN, 5000);
			assert_int_equal(dev->stats.device_errors, 1);
			assert_int_equal(dev->stats.rx_dropped, 1);
		}
}

/* num_buffers one more than the buffers made used: the frame is dropped
 * (the missing buffer was never coming), counted, and what came next is
 * not taken for its tail. */
static void test_fewer_buffers_than_num_buffers(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (uint32_t len = 300; len <= 6000; len += 5700) {
			struct conf c = {
				.features = F_STD | F(VIRTIO_NET_F_MTU), .packed = packed, .mtu = 9000};
			lie_about_a_frame(&c, VSIM_NET_RX_NUM_BUFFERS_SHORT, len);
		}
}

/* Without MRG_RXBUF num_buffers means nothing (the driver does not read
 * it): a device writing garbage there still delivers. */
static void test_num_buffers_ignored_without_mrg(void **state)
{
	(void)state;
	struct conf c = {.features = F_STD & ~F(VIRTIO_NET_F_MRG_RXBUF)};
	up(&c);
	sim.lie = VSIM_NET_RX_NUM_BUFFERS_HUGE;
	rx_and_check(700, 1, NULL);
	assert_int_equal(dev->stats.device_errors, 0);
}

/* A used id that is not in flight (a buffer returned twice, an id beyond
 * the ring, a transmit completed twice): the ring cannot be read on, so
 * the driver resets the device and starts it again; what was in flight is
 * given back once (transmits to tx_done, receive buffers to the ring), the
 * filter is set again, and traffic flows. */
static void test_id_not_in_flight_resets_and_recovers(void **state)
{
	(void)state;
	static const enum vsim_net_lie lies[] = {VSIM_NET_RX_DOUBLE_ID, VSIM_NET_RX_BAD_ID,
						 VSIM_NET_TX_DOUBLE_ID};
	for (unsigned l = 0; l < 3; l++)
		for (int legacy = 0; legacy < 2; legacy++)
			for (int packed = 0; packed < 2 - legacy; packed++)
				for (int irq = 0; irq < 2; irq++) {
					struct conf c = {.features = F_STD,
							 .legacy = legacy,
							 .packed = packed,
							 .use_irq = irq,
							 .msix = 1};
					up(&c);
					unsigned resets = sim.resets;
					rx_and_check(100, 1, NULL);
					/* Two transmits the device holds when it lies. */
					sim.tx_mode = VSIM_TX_HOLD;
					assert_int_equal(tx_frame(0, 100, 10, NULL, 1), 0);
					assert_int_equal(tx_frame(1, 100, 11, NULL, 2), 0);
					sim.lie = lies[l];
					unsigned cmds = sim.ncmds;
					if (lies[l] == VSIM_NET_TX_DOUBLE_ID) {
						sim.tx_mode = VSIM_TX_AT_ONCE;
						assert_int_equal(tx_frame(2, 100, 12, NULL, 3), 0);
					} else {
						make_frame(frame_buf, 200, 2);
						assert_int_equal(vsim_net_rx(&sim, frame_buf, 200, NULL), 1);
					}
					unsigned frames = stack.total;
					net_poll(dev);
					net_poll(dev);
					assert_int_equal(dev->stats.resets, 1);
					assert_true(dev->stats.device_errors >= 1);
					assert_true(sim.resets > resets);
					assert_true(sim.status & VIRTIO_STATUS_DRIVER_OK);
					assert_false(vn.broken);
					/* A returned-twice rx buffer: its first return was a frame. */
					assert_int_equal(stack.total,
							 frames + (lies[l] == VSIM_NET_RX_DOUBLE_ID));
					/* Every transmit accepted came back exactly once. */
					unsigned sent = lies[l] == VSIM_NET_TX_DOUBLE_ID ? 3 : 2;
					assert_int_equal(stack.ndone, sent);
					for (unsigned i = 0; i < sent; i++)
						assert_int_equal(stack.done[i], 1);
					/* The filter again, and traffic. */
					assert_int_equal(sim.ncmds, cmds + 2);
					assert_cmd(cmds, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0);
					sim.tx_mode = VSIM_TX_AT_ONCE;
					while (vsim_net_tx_take(&sim, &seen))
						;
					assert_int_equal(vsim_net_rx_avail(&sim), vn.rx_target);
					for (unsigned k = 0; k < 300; k++) {
						rx_and_check(60 + k, 100 + k, NULL);
						assert_int_equal(tx_frame(k % 64, 60 + k, k, NULL, 10 + k),
								 0);
						tx_seen(k % 64, 60 + k);
					}
					net_poll(dev);
					assert_int_equal(stack.ndone, sent + 300);
					assert_int_equal(dev->stats.resets, 1);
				}
}

/* DEVICE_NEEDS_RESET announced by a configuration change (MSI-X or INTx,
 * polled or not) is handled as a broken ring: reset, restarted, traffic
 * flows, counted once; a frame the stack holds is not touched. */
static void test_device_needs_reset_is_handled(void **state)
{
	(void)state;
	for (int irq = 0; irq < 2; irq++)
		for (int msix = 0; msix < 2; msix++)
			for (int packed = 0; packed < 2; packed++) {
				struct conf c = {
					.features = F_STD, .packed = packed, .use_irq = irq, .msix = msix};
				up(&c);
				unsigned resets = sim.resets;
				stack.hold = 1;
				rx_and_check(1000, 1, NULL);
				stack.hold = 0;
				struct net_rx_buf *held = stack.held[0];
				uint8_t copy[1000];
				memcpy(copy, held->data, 1000);
				sim.tx_mode = VSIM_TX_HOLD;
				assert_int_equal(tx_frame(0, 100, 10, NULL, 1), 0);
				assert_int_equal(vsim_net_needs_reset(&sim), 1);
				if (irq)
					assert_int_equal(net_arm(dev), 1);
				/* The poll resets it. */
				net_poll(dev);
				assert_int_equal(dev->stats.resets, 1);
				assert_true(sim.resets > resets);
				assert_false(sim.status & VIRTIO_STATUS_NEEDS_RESET);
				assert_true(sim.status & VIRTIO_STATUS_DRIVER_OK);
				assert_int_equal(stack.done[0], 1);
				sim.tx_mode = VSIM_TX_AT_ONCE;
				for (unsigned k = 0; k < 600; k++)
					rx_and_check(60 + k, 10 + k, NULL);
				assert_memory_equal(held->data, copy, 1000);
				release_held(1);
				assert_int_equal(tx_frame(1, 200, 3, NULL, 2), 0);
				vsim_net_tx_take(&sim, &seen); /* the one held before */
				tx_seen(1, 200);
				assert_int_equal(dev->stats.resets, 1);
				assert_int_equal(dev->stats.config_changes, 1);
			}
}

/* The link went down while the device asked for a reset: the reset path
 * reads the status afresh, and the stack hears of the change all the
 * same. */
static void test_link_change_across_a_reset(void **state)
{
	(void)state;
	struct conf c = {.features = F_STD, .use_irq = 1, .msix = 1};
	up(&c);
	assert_true(dev->link_up);
	uint16_t st = (uint16_t)(sim.cfg[VIRTIO_NET_CFG_STATUS] | sim.cfg[VIRTIO_NET_CFG_STATUS + 1] << 8);
	st &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
	memcpy(&sim.cfg[VIRTIO_NET_CFG_STATUS], &st, 2); /* no interrupt of its own */
	assert_int_equal(vsim_net_needs_reset(&sim), 1);
	unsigned events = stack.nevents;
	net_poll(dev);
	assert_int_equal(dev->stats.resets, 1);
	assert_false(dev->link_up);
	assert_int_equal(stack.nevents, events + 1);
	assert_int_equal(stack.event[events].what, NET_EV_LINK);
	assert_int_equal(stack.event[events].link_up, 0);
}

/* A transmit while the device asks for a reset, before any poll: refused
 * (-EIO, counted), not queued to a device that will not send it. */
static void test_transmit_to_a_device_that_needs_reset(void **state)
{
	(void)state;
	struct conf c = {.features = F_STD, .msix = 1};
	up(&c);
	assert_int_equal(vsim_net_needs_reset(&sim), 1);
	unsigned frames = sim.tx_frames;
	int err = tx_frame(0, 100, 1, NULL, 1);
	assert_true(err == -EIO || err == 0);
	if (err == 0) { /* queued: it must come back once after the reset */
		net_poll(dev);
		assert_int_equal(stack.done[0], 1);
	} else {
		assert_int_equal(dev->stats.tx_dropped, 1);
		assert_int_equal(sim.tx_frames, frames);
	}
	net_poll(dev);
	assert_int_equal(dev->stats.resets, 1);
	assert_int_equal(tx_frame(1, 100, 2, NULL, 2), 0);
	tx_seen(1, 100);
}

/* A device that cannot be started again after its reset, or that does
 * not even reset, is given up: polls say -EIO, transmits are refused at
 * once, arming never keeps the loop awake.  Either way what it held is
 * the driver's again (one stuck in reset loses bus mastering: it can no
 * longer touch memory): transmits in flight come back, once. */
static void test_device_that_cannot_be_restarted_is_given_up(void **state)
{
	(void)state;
	for (int stuck = 0; stuck < 2; stuck++) {
		up(&base);
		sim.tx_mode = VSIM_TX_HOLD;
		assert_int_equal(tx_frame(0, 100, 1, NULL, 1), 0);
		sim.lie = VSIM_NET_RX_DOUBLE_ID;
		make_frame(frame_buf, 100, 1);
		vsim_net_rx(&sim, frame_buf, 100, NULL);
		if (stuck)
			sim.stuck_in_reset = 1;
		else
			sim.refuse_features_ok = 1; /* the restart fails */
		uint64_t t0 = vsim_plat.now_ns;
		net_poll(dev);
		assert_true(vsim_plat.now_ns - t0 < 3000000000ull);
		assert_true(vn.broken);
		assert_int_equal(dev->stats.resets, 1);
		if (stuck)
			assert_int_equal(vsim_plat.cfg[4] & 4, 0); /* bus mastering off */
		else
			assert_true(sim.status & VIRTIO_STATUS_FAILED);
		assert_int_equal(stack.done[0], 1);
		assert_int_equal(net_poll(dev), -EIO);
		t0 = vsim_plat.now_ns;
		assert_true(tx_frame(1, 100, 1, NULL, 2) < 0);
		assert_true(vsim_plat.now_ns - t0 < 1000000ull);
		assert_int_equal(stack.done[1], 0);
		assert_int_equal(net_arm(dev), 0);
		assert_int_equal(stack.ndone, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_allowlisted_features_are_accepted),
		cmocka_unit_test(test_features_ok_refused_marks_failed),
		cmocka_unit_test(test_ctrl_features_need_the_control_queue),
		cmocka_unit_test(test_mtu_negotiation),
		cmocka_unit_test(test_header_length_both_ways),
		cmocka_unit_test(test_receive_every_ring),
		cmocka_unit_test(test_mergeable_frame_arrives_as_a_chain),
		cmocka_unit_test(test_refill_under_pressure),
		cmocka_unit_test(test_burst_larger_than_the_ring),
		cmocka_unit_test(test_double_release_is_ignored),
		cmocka_unit_test(test_ring_wrap_past_2_16),
		cmocka_unit_test(test_transmit_gathers_segments_and_refuses_bad_frames),
		cmocka_unit_test(test_full_transmit_ring_waits_then_refuses),
		cmocka_unit_test(test_transmit_kept_long_is_never_overwritten),
		cmocka_unit_test(test_sender_waits_for_a_slow_device),
		cmocka_unit_test(test_transmit_checksum_offload),
		cmocka_unit_test(test_receive_checksum_flags),
		cmocka_unit_test(test_tso_features_and_their_dependencies),
		cmocka_unit_test(test_tso_transmit_header_and_segments),
		cmocka_unit_test(test_tso_transmit_size_limits),
		cmocka_unit_test(test_tso_receive_large_segment_as_a_chain),
		cmocka_unit_test(test_link_change_reaches_the_stack),
		cmocka_unit_test(test_link_change_during_set_up_is_seen),
		cmocka_unit_test(test_queue_pairs_limits),
		cmocka_unit_test(test_msix_entries_per_queue),
		cmocka_unit_test(test_scarce_vectors_are_not_wasted),
		cmocka_unit_test(test_receive_mode_commands),
		cmocka_unit_test(test_no_mac_makes_a_local_address),
		cmocka_unit_test(test_multiqueue_uses_the_first_pair),
		cmocka_unit_test(test_used_length_beyond_the_buffer),
		cmocka_unit_test(test_num_buffers_lies),
		cmocka_unit_test(test_fewer_buffers_than_num_buffers),
		cmocka_unit_test(test_num_buffers_ignored_without_mrg),
		cmocka_unit_test(test_id_not_in_flight_resets_and_recovers),
		cmocka_unit_test(test_device_needs_reset_is_handled),
		cmocka_unit_test(test_link_change_across_a_reset),
		cmocka_unit_test(test_transmit_to_a_device_that_needs_reset),
		cmocka_unit_test(test_device_that_cannot_be_restarted_is_given_up),
		/* Last: it finds a driver bug that UBSan stops the process for. */
		cmocka_unit_test(test_announce_then_ack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
