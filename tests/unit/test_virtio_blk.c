/* Host unit tests for the virtio-blk driver and the block API, against the
 * simulated device of tests/unit/vsim*.c. */
// clang-format off
// SOURCES: drivers/virtio/virtio_blk.c drivers/virtio/wait_way.c drivers/virtio/virtio.c drivers/virtio/virtio_pci.c drivers/virtio/virtq.c drivers/virtio/virtq_split.c drivers/virtio/virtq_packed.c drivers/virtio/virtio_pci_modern.c drivers/virtio/virtio_pci_legacy.c drivers/pci/pci.c drivers/block/blk.c tests/unit/vsim_platform.c tests/unit/vsim_ring.c tests/unit/vsim_blk.c
// clang-format on
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/block/blk.h"
#include "drivers/virtio/virtio_blk.h"
#include "tests/unit/vsim.h"

#define SECTORS 4096 /* 2 MiB disk, in 512-byte sectors */
#define F(bit) (1ull << (bit))
#define F_COMMON (F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH))
#define F_ALL                                                                                                \
	(F_COMMON | F(VIRTIO_BLK_F_SIZE_MAX) | F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_F_INDIRECT_DESC) |         \
	 F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_RING_PACKED))

static struct pci_device pci;
static struct vsim_blk sim;
static struct virtio_blk vb;
static struct blk_device *dev;
static _Alignas(4096) uint8_t ring_mem[VIRTQ_MEM_MAX];
static _Alignas(64) struct virtio_blk_slot slots[VIRTQ_MAX];
static uint8_t buf[256 * 1024], buf2[256 * 1024];

struct conf {
	uint64_t features;
	unsigned qmax;
	int modern, msix, use_irq, packed;
	uint32_t blk_size;
	uint64_t timeout_ns;
};

/* A device as conf says, not yet started. */
static void make(const struct conf *c)
{
	vsim_platform_reset(&pci, c->msix);
	vsim_blk_init(&sim, SECTORS, c->blk_size ? c->blk_size : 512, c->features, c->modern);
	sim.queue_max = c->qmax ? c->qmax : 256;
	vsim_blk_set_size_max(&sim, 64 * 1024, 126);
	memcpy(sim.serial, "sim-disk-0123", 13);
	memset(&vb, 0, sizeof(vb));
	vsim_blk_bind(&sim, &vb.vdev, &pci);
	vsim_blk_attach_idle(&sim);
}

static int start(const struct conf *c)
{
	struct virtio_blk_options opt = {
		.use_irq = c->use_irq, .allow_packed = c->packed, .timeout_ns = c->timeout_ns};
	const char *why = NULL;
	int err = virtio_blk_start(&vb, &opt, ring_mem, slots, &why);
	dev = &vb.blk;
	return err;
}

static void up(const struct conf *c)
{
	make(c);
	assert_int_equal(start(c), 0);
}

static void down(void) { assert_int_equal(sim.bad_requests, 0); }

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		s ^= s << 13, s ^= s >> 17, s ^= s << 5;
		p[i] = (uint8_t)s;
	}
}

/* The device answers again: sector 0, filled with seed's pattern on the
 * disk, reads back through the driver. */
static void reads_back(unsigned seed)
{
	fill(sim.disk, 512, seed);
	assert_int_equal(blk_read(dev, 0, 1, buf), 0);
	assert_memory_equal(buf, sim.disk, 512);
}

static const struct conf base = {.features = F_ALL, .modern = 1, .packed = 1};

/* ---- start-up ---- */

static void test_only_allowlisted_features_are_accepted(void **state)
{
	(void)state;
	struct conf c = base;
	c.features = ~0ull;
	up(&c);
	uint64_t wanted = virtio_blk_wanted_features(&vb.opt);
	assert_int_equal(vb.vdev.features & ~wanted, 0);
	assert_true(vb.vdev.features & F(VIRTIO_F_VERSION_1));
	assert_false(vb.vdev.features & F(35)); /* IN_ORDER: not implemented, not taken */
	assert_int_equal(sim.negotiated, vb.vdev.features);
	assert_true(sim.status & VIRTIO_STATUS_DRIVER_OK);
	assert_string_equal(vb.serial, "sim-disk-0123");
	assert_int_equal(dev->sector_size, 512);
	assert_int_equal(dev->sectors, SECTORS);
	assert_string_equal(vb.mode, "poll");
	down();
}

static void test_serial_of_twenty_bytes_is_terminated(void **state)
{
	(void)state;
	make(&base);
	memcpy(sim.serial, "ABCDEFGHIJKLMNOPQRST", 20);
	assert_int_equal(start(&base), 0);
	assert_string_equal(vb.serial, "ABCDEFGHIJKLMNOPQRST");
	down();
}

static void test_features_ok_refused_marks_failed(void **state)
{
	(void)state;
	make(&base);
	sim.refuse_features_ok = 1;
	assert_true(start(&base) < 0);
	assert_true(sim.status & VIRTIO_STATUS_FAILED);
	assert_false(sim.status & VIRTIO_STATUS_DRIVER_OK);
	down();
}

static void test_reset_that_never_completes_is_bounded(void **state)
{
	(void)state;
	make(&base);
	sim.stuck_in_reset = 1;
	uint64_t t0 = vsim_plat.now_ns;
	assert_int_equal(start(&base), -ENODEV);
	assert_true(vsim_plat.now_ns - t0 < 3000000000ull);
	down();
}

/* A configuration that changes under the read is read again; one that never
 * settles fails the start instead of being used half-read. */
static void test_config_generation_loop_is_bounded(void **state)
{
	(void)state;
	make(&base);
	sim.config_churn = 5;
	assert_int_equal(start(&base), 0);
	assert_int_equal(sim.config_churn, 0);
	assert_int_equal(dev->sectors, SECTORS);
	make(&base);
	sim.config_churn = 1000000;
	assert_int_equal(start(&base), -EIO);
	assert_true(sim.status & VIRTIO_STATUS_FAILED);
	assert_false(sim.status & VIRTIO_STATUS_DRIVER_OK);
	assert_true(sim.config_reads < 1000);
	down();
}

/* A ring too short for header, data and status is refused, indirect tables
 * or not: no chain may be longer than the queue, counting an indirect
 * table's descriptors (spec 2.7.5.3.1).  A ring of 4 with indirect tables
 * carries requests in chains of at most 4 (an 8 KiB write in 4 KiB
 * pieces). */
static void test_queue_too_short_for_a_request_is_refused(void **state)
{
	(void)state;
	for (int k = 0; k < 8; k++) {
		struct conf c = base;
		c.packed = k & 1;
		c.qmax = 1 + (k >> 1 & 1);
		c.features = F_COMMON | (c.packed ? F(VIRTIO_F_RING_PACKED) : 0) |
			     (k & 4 ? F(VIRTIO_F_INDIRECT_DESC) : 0);
		make(&c);
		assert_int_equal(start(&c), -EIO);
		assert_true(sim.status & VIRTIO_STATUS_FAILED);
		assert_false(sim.status & VIRTIO_STATUS_DRIVER_OK);
	}
	for (int packed = 0; packed < 2; packed++) {
		struct conf c = base;
		c.packed = packed;
		c.qmax = 4;
		c.features = F_COMMON | F(VIRTIO_F_INDIRECT_DESC) | (packed ? F(VIRTIO_F_RING_PACKED) : 0);
		up(&c);
		assert_int_equal(virtq_max_chain(&vb.vq), 4);
		fill(buf, 8192, 4);
		assert_int_equal(blk_write(dev, 3, 16, buf), 0);
		assert_int_equal(blk_read(dev, 3, 16, buf2), 0);
		assert_memory_equal(buf2, buf, 8192);
		down();
	}
}

/* ---- data through every kind of queue ---- */

static void roundtrip(const struct conf *c, const char *what)
{
	up(c);
	uint32_t bs = dev->sector_size;
	static const struct {
		uint64_t lba;
		uint32_t bytes;
	} io[] = {{0, 4096}, {8, 512 * 1024 / 4}, {200, 4096 * 3}, {SECTORS - 8, 4096}};
	for (unsigned i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		uint64_t lba = io[i].lba * 512 / bs;
		uint32_t count = io[i].bytes / bs;
		fill(buf, io[i].bytes, i + 1);
		assert_int_equal(blk_write(dev, lba, count, buf), 0);
		assert_memory_equal(sim.disk + lba * bs, buf, io[i].bytes);
		memset(buf2, 0xEE, io[i].bytes);
		assert_int_equal(blk_read(dev, lba, count, buf2), 0);
		assert_memory_equal(buf2, buf, io[i].bytes);
	}
	assert_int_equal(blk_flush(dev), 0);
	assert_int_equal(sim.flushes, 1);
	assert_int_equal(vb.vq.packed, c->packed && c->modern);
	if (c->use_irq) {
		assert_string_equal(vb.mode, c->msix ? "msix" : "intx");
		assert_true(sim.interrupts > 0);
		/* Every sleep ended by the device's interrupt, none by the tick. */
		if (vsim_plat.tick_wakes)
			fail_msg("%s: %llu sleeps missed their interrupt", what,
				 (unsigned long long)vsim_plat.tick_wakes);
	} else {
		assert_string_equal(vb.mode, "poll");
		assert_int_equal(sim.interrupts, 0);
	}
	down();
}

static void test_roundtrip_every_ring_and_wait(void **state)
{
	(void)state;
	uint64_t ring_feats[] = {0, F(VIRTIO_F_INDIRECT_DESC), F(VIRTIO_F_EVENT_IDX),
				 F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX)};
	for (int modern = 0; modern < 2; modern++)
		for (int packed = 0; packed <= modern; packed++)
			for (unsigned f = 0; f < 4; f++)
				for (int irq = 0; irq < 3; irq++)
					for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
						struct conf c = {
							.features = F_COMMON | ring_feats[f] |
								    (packed ? F(VIRTIO_F_RING_PACKED) : 0),
							.modern = modern,
							.packed = packed,
							.use_irq = irq > 0,
							.msix = irq == 2,
							.blk_size = bs,
							.qmax = modern ? 1024 : 128,
						};
						char what[96];
						snprintf(what, sizeof(what),
							 "modern=%d packed=%d feats=%u irq=%d bs=%u", modern,
							 packed, f, irq, bs);
						roundtrip(&c, what);
					}
}

static void test_4096_byte_blocks_address_in_512_byte_sectors(void **state)
{
	(void)state;
	struct conf c = base;
	c.blk_size = 4096;
	up(&c);
	assert_int_equal(dev->sectors, SECTORS / 8);
	assert_int_equal(blk_read(dev, 3, 1, buf), 0);
	assert_int_equal(sim.last_sector, 24);
	down();
}

/* ---- indices, queue full, order ---- */

static void many_reads(const struct conf *c, unsigned n)
{
	up(c);
	fill(sim.disk, SECTORS * 512, 7);
	for (unsigned i = 0; i < n; i++) {
		uint64_t lba = (i * 7) % SECTORS;
		assert_int_equal(blk_read(dev, lba, 1, buf), 0);
		if (memcmp(buf, sim.disk + lba * 512, 512) != 0)
			fail_msg("read %u (lba %llu) returned wrong data", i, (unsigned long long)lba);
	}
	down();
}

static void test_split_indices_wrap_at_2_16(void **state)
{
	(void)state;
	struct conf c = base;
	c.packed = 0;
	c.qmax = 16;
	for (int ev = 0; ev < 2; ev++) {
		c.features = F_ALL & ~(ev ? 0 : F(VIRTIO_F_EVENT_IDX));
		many_reads(&c, 70000);
		/* GET_ID and 70000 reads: the 16-bit indices went round. */
		assert_true(sim.ring.used_idx < 70000 - 65536 + 2);
		assert_int_equal(sim.requests, 70001);
	}
}

static void test_packed_wrap_counters_many_laps(void **state)
{
	(void)state;
	struct conf c = base;
	c.qmax = 16;
	c.features = F_ALL & ~F(VIRTIO_F_INDIRECT_DESC); /* 3 descriptors a request: laps at odd places */
	many_reads(&c, 70000);
}

static struct blk_request reqs[64];
static int order[64], norder;
static void record(struct blk_request *r) { order[norder++] = (int)(r - reqs); }

static void test_queue_full_makes_submitter_wait(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ind = 0; ind < 2; ind++) {
			struct conf c = base;
			c.packed = packed;
			c.qmax = 4; /* without indirect: one 3-descriptor request at a time */
			c.features = F_COMMON | (packed ? F(VIRTIO_F_RING_PACKED) : 0) |
				     (ind ? F(VIRTIO_F_INDIRECT_DESC) : 0);
			up(&c);
			for (int i = 0; i < 64; i++) {
				fill(buf + i * 1024, 1024, 100 + i);
				reqs[i] = (struct blk_request){.op = BLK_WRITE,
							       .lba = 2 * (uint64_t)i,
							       .count = 2,
							       .buf = buf + i * 1024};
				assert_int_equal(blk_submit(dev, &reqs[i]), 0);
			}
			for (int i = 0; i < 64; i++)
				assert_int_equal(blk_wait(dev, &reqs[i]), 0);
			assert_memory_equal(sim.disk, buf, 64 * 1024);
			assert_int_equal(sim.writes, 64);
			assert_true(sim.max_in_flight <= (ind ? 4u : 1u));
			assert_true(vb.stats.waits >= (ind ? 15u : 60u)); /* it waited for room */
			down();
		}
}

static void test_out_of_order_completion(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ind = 0; ind < 2; ind++) {
			struct conf c = base;
			c.packed = packed;
			c.qmax = 16;
			c.features = F_COMMON | F(VIRTIO_F_EVENT_IDX) |
				     (packed ? F(VIRTIO_F_RING_PACKED) : 0) |
				     (ind ? F(VIRTIO_F_INDIRECT_DESC) : 0);
			up(&c);
			fill(sim.disk, SECTORS * 512, 3);
			sim.mode = VSIM_HOLD;
			sim.reverse = 1;
			unsigned depth = ind ? 16 : 5;
			for (unsigned round = 0; round < 40; round++) {
				unsigned n = 1 + round % depth;
				for (unsigned i = 0; i < n; i++) {
					reqs[i] = (struct blk_request){.op = BLK_READ,
								       .lba = (round * 31 + i * 5) % SECTORS,
								       .count = 1,
								       .buf = buf + i * 512,
								       .done = record};
					assert_int_equal(blk_submit(dev, &reqs[i]), 0);
				}
				assert_int_equal(blk_poll(dev), 0);
				for (unsigned i = 0; i < n; i++)
					assert_false(reqs[i].complete);
				norder = 0;
				assert_int_equal(vsim_release(&sim), n);
				assert_int_equal(blk_poll(dev), (int)n);
				for (unsigned i = 0; i < n; i++) {
					assert_int_equal(order[i], (int)(n - 1 - i));
					assert_int_equal(blk_wait(dev, &reqs[i]), 0);
					assert_memory_equal(buf + i * 512, sim.disk + reqs[i].lba * 512, 512);
				}
			}
			down();
		}
}

/* BLK_F_MORE holds the notification until the batch's last submit, or until
 * the submitter polls or waits; the device sees every request all the same. */
static void test_batched_submits_notify_once(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ev = 0; ev < 2; ev++) {
			struct conf c = base;
			c.packed = packed;
			c.features = F_ALL & ~(ev ? 0 : F(VIRTIO_F_EVENT_IDX));
			up(&c);
			fill(sim.disk, SECTORS * 512, 9);
			for (int ending = 0; ending < 3; ending++) { /* last submit, wait, poll */
				unsigned n = 8, notifies = sim.notifies, seen = sim.requests;
				uint64_t counted = vb.stats.notifies;
				for (unsigned i = 0; i < n; i++) {
					reqs[i] = (struct blk_request){
						.op = BLK_READ,
						.lba = (ending * 97 + i * 13) % SECTORS,
						.count = 1,
						.buf = buf + i * 512,
						.flags = i < n - 1 || ending ? BLK_F_MORE : 0};
					assert_int_equal(blk_submit(dev, &reqs[i]), 0);
					if (i < n - 1 || ending) { /* not told yet */
						assert_int_equal(sim.notifies, notifies);
						assert_int_equal(sim.requests, seen);
					}
				}
				if (ending == 1)
					assert_int_equal(blk_wait(dev, &reqs[0]), 0);
				else if (ending == 2)
					assert_true(blk_poll(dev) >= 0);
				assert_int_equal(sim.notifies, notifies + 1);
				assert_int_equal(sim.requests, seen + n);
				assert_int_equal(vb.stats.notifies, counted + 1);
				for (unsigned i = 0; i < n; i++) {
					assert_int_equal(blk_wait(dev, &reqs[i]), 0);
					assert_memory_equal(buf + i * 512, sim.disk + reqs[i].lba * 512, 512);
				}
				/* Nothing held: waiting and polling do not ring again. */
				assert_int_equal(blk_poll(dev), 0);
				assert_int_equal(sim.notifies, notifies + 1);
			}
			down();
		}
}

/* n one-sector reads, `stride` sectors apart (wrapping), each checked
 * against the disk. */
static void read_scattered(unsigned n, unsigned stride)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t lba = (uint64_t)i * stride % SECTORS;
		assert_int_equal(blk_read(dev, lba, 1, buf), 0);
		assert_memory_equal(buf, sim.disk + lba * 512, 512);
	}
}

/* A device with MSI-X, driven in irq mode. */
static void up_irq(int packed)
{
	struct conf c = base;
	c.packed = packed;
	c.use_irq = 1;
	c.msix = 1;
	up(&c);
}

/* In irq mode a wait either halts at once or spins first, whichever the
 * driver's trials found cheaper: where waking from a halt
 * costs more than the request (a quiet host under a hypervisor), waits
 * spin; where spinning holds the device back (a busy host), they halt, and
 * spin only in the trials (8 waits in 256 at first).  Either way every
 * request completes with its data. */
static void test_irq_waits_take_the_faster_way(void **state)
{
	(void)state;
	for (int busy_host = 0; busy_host < 2; busy_host++) {
		up_irq(0);
		vsim_plat.halt_wake_ns = busy_host ? 2000 : 60000;
		vsim_plat.spin_ns = busy_host ? 50000 : 1000;
		fill(sim.disk, SECTORS * 512, 6);
		memset(&vb.stats, 0, sizeof(vb.stats)); /* start-up's GET_ID waited too */
		unsigned n = 320;
		read_scattered(n, 37);
		assert_int_equal(vb.stats.waits, n);
		assert_true(vb.stats.spin_hits <= vb.stats.spun);
		if (busy_host) {
			assert_false(vb.way[WAIT_DRAIN].spin);
			assert_true(vb.stats.spin_hits >= 8 && vb.stats.spin_hits <= n / 16);
			assert_true(vb.stats.sleeps >= n - n / 16);
		} else {
			assert_true(vb.way[WAIT_DRAIN].spin);
			assert_true(vb.stats.spin_hits >= n - n / 16);
			assert_true(vb.stats.sleeps <= n / 16);
		}
		assert_int_equal(vsim_plat.tick_wakes, 0);
		down();
	}
}

/* On a steady host the trials thin out (each that keeps the verdict
 * doubles the gap to the next), so the slower way's waits become rare; a
 * host that changes is still followed, within WAIT_TRIAL_GAP_MAX waits. */
static void test_trials_thin_out_yet_follow_the_host(void **state)
{
	(void)state;
	up_irq(0);
	vsim_plat.halt_wake_ns = 60000; /* a quiet host: spinning wins */
	vsim_plat.spin_ns = 1000;
	fill(sim.disk, SECTORS * 512, 8);
	memset(&vb.stats, 0, sizeof(vb.stats));
	unsigned n = 4 * WAIT_TRIAL_GAP_MAX;
	read_scattered(n, 41);
	assert_true(vb.way[WAIT_DRAIN].spin);
	/* Trials began at waits 0, 256, 768, ... 7936, then every 8192: 9 of
	 * them, 8 halts each (a fixed gap of 256 would have halted 1024 times). */
	assert_true(vb.stats.sleeps <= 9 * WAIT_TRIAL_WAITS);
	assert_int_equal(vb.way[WAIT_DRAIN].gap, WAIT_TRIAL_GAP_MAX);

	vsim_plat.halt_wake_ns = 2000; /* the host turns busy: halting wins */
	vsim_plat.spin_ns = 50000;
	read_scattered(WAIT_TRIAL_GAP_MAX + 2 * WAIT_TRIAL_WAITS, 43);
	assert_false(vb.way[WAIT_DRAIN].spin);
	/* The trial that changed the verdict brought the gap back to 256 (the
	 * one after it, keeping the new verdict, may have doubled it). */
	assert_true(vb.way[WAIT_DRAIN].gap <= 2 * WAIT_TRIAL_EVERY);
	down();
}

/* A spin that the device does not answer in time ends in a halt, which the
 * device's interrupt (not the timer tick) ends; such a device soon gets
 * halting waits, and no wait is mistaken for a timeout. */
static void test_unanswered_spin_halts_until_the_interrupt(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		up_irq(packed);
		vsim_plat.halt_wake_ns = 20000;
		sim.slow_while_spun = 1;
		fill(sim.disk, SECTORS * 512, 7);
		memset(&vb.stats, 0, sizeof(vb.stats));
		unsigned n = 300;
		read_scattered(n, 53);
		assert_true(vb.stats.spun >= 8); /* the trials spun */
		assert_int_equal(vb.stats.spin_hits, 0);
		assert_true(vb.stats.sleeps >= n);
		assert_false(vb.way[WAIT_DRAIN].spin);
		assert_int_equal(vb.stats.resets, 0);
		assert_int_equal(vsim_plat.tick_wakes, 0);
		down();
	}
}

/* Waits for the last request in flight and waits with more behind it keep
 * apart verdicts.  Here the device completes nothing while the CPU spins
 * with several requests pending (spinning there only wastes the spin),
 * but a halt costs far more than a spin (a quiet host): batches of four
 * reads come to halt, the single reads after each batch to spin, however
 * many singles come between the batches and with the guest away now and
 * then (a deep wait's cost counts its own time and completions only). */
static void test_drain_and_deep_waits_choose_apart(void **state)
{
	(void)state;
	for (unsigned singles = 1; singles <= 8; singles += 7) {
		up_irq(0);
		vsim_plat.halt_wake_ns = 60000;
		vsim_plat.spin_ns = 1000;
		sim.slow_while_spun_deep = 1;
		fill(sim.disk, SECTORS * 512, 8);
		memset(&vb.stats, 0, sizeof(vb.stats));
		for (unsigned i = 0; i < 300; i++) {
			for (unsigned j = 0; j < 4; j++) {
				reqs[j] = (struct blk_request){.op = BLK_READ,
							       .lba = (i * 13 + j) % SECTORS,
							       .count = 1,
							       .buf = buf + j * 512,
							       .flags = j < 3 ? BLK_F_MORE : 0};
				assert_int_equal(blk_submit(dev, &reqs[j]), 0);
			}
			for (unsigned j = 0; j < 4; j++) {
				assert_int_equal(blk_wait(dev, &reqs[j]), 0);
				assert_memory_equal(buf + j * 512, sim.disk + (i * 13 + j) % SECTORS * 512,
						    512);
			}
			for (unsigned j = 0; j < singles; j++) {
				uint64_t lba = (i * 13 + 4 + j) % SECTORS;
				assert_int_equal(blk_read(dev, lba, 1, buf2), 0);
				assert_memory_equal(buf2, sim.disk + lba * 512, 512);
			}
			if (i % 37 == 36)
				vsim_plat.now_ns += 2000000; /* the guest did something else */
		}
		assert_true(vb.way[WAIT_DEEP].waits >= 300 && vb.way[WAIT_DRAIN].waits >= 300 * singles);
		assert_false(vb.way[WAIT_DEEP].spin);
		assert_true(vb.way[WAIT_DRAIN].spin);
		assert_int_equal(vb.in_flight, 0);
		assert_int_equal(vb.stats.resets, 0);
		assert_int_equal(vsim_plat.tick_wakes, 0);
		down();
	}
}

/* A drain for 64 KiB or more is told apart from a short one: its spin
 * would hold the host's CPU for longer. */
static void test_long_drains_are_a_kind_of_their_own(void **state)
{
	(void)state;
	up_irq(0);
	fill(sim.disk, SECTORS * 512, 9);
	memset(&vb.stats, 0, sizeof(vb.stats));
	uint32_t before[WAIT_KINDS];
	for (int k = 0; k < WAIT_KINDS; k++)
		before[k] = vb.way[k].waits;
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(blk_read(dev, 0, 128, buf), 0); /* 64 KiB */
		assert_memory_equal(buf, sim.disk, 128 * 512);
		assert_int_equal(blk_read(dev, 200 + i, 127, buf2), 0);
		assert_memory_equal(buf2, sim.disk + (200 + i) * 512, 127 * 512);
	}
	assert_int_equal(vb.way[WAIT_DRAIN_LONG].waits - before[WAIT_DRAIN_LONG], 20);
	assert_int_equal(vb.way[WAIT_DRAIN].waits - before[WAIT_DRAIN], 20);
	assert_int_equal(vb.way[WAIT_DEEP].waits - before[WAIT_DEEP], 0);
	down();
}

static void test_indirect_used_when_offered(void **state)
{
	(void)state;
	struct conf c = base;
	for (int packed = 0; packed < 2; packed++) {
		c.packed = packed;
		c.features = F_ALL;
		up(&c);
		assert_int_equal(blk_read(dev, 0, 64, buf), 0);
		assert_int_equal(sim.ring.indirect_seen, sim.ring.chains_seen);
		down();
		c.features = F_ALL & ~F(VIRTIO_F_INDIRECT_DESC);
		up(&c);
		assert_int_equal(blk_read(dev, 0, 64, buf), 0);
		assert_int_equal(sim.ring.indirect_seen, 0);
		down();
	}
}

static void test_device_that_polls_is_not_notified(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++)
		for (int ev = 0; ev < 2; ev++) {
			struct conf c = base;
			c.packed = packed;
			c.features = F_ALL & ~(ev ? 0 : F(VIRTIO_F_EVENT_IDX));
			make(&c);
			sim.device_polls = 1;
			assert_int_equal(start(&c), 0);
			for (int i = 0; i < 20; i++)
				assert_int_equal(blk_read(dev, (uint64_t)i, 1, buf), 0);
			assert_int_equal(sim.notifies, 0);
			assert_int_equal(sim.requests, 21);
			down();
		}
}

/* ---- splitting and refusals ---- */

static void test_requests_split_at_size_max_and_seg_max(void **state)
{
	(void)state;
	for (int ind = 0; ind < 2; ind++) {
		struct conf c = base;
		c.features = F_ALL & ~(ind ? 0 : F(VIRTIO_F_INDIRECT_DESC));
		make(&c);
		vsim_blk_set_size_max(&sim, 4096, 2);
		assert_int_equal(start(&c), 0);
		fill(buf, 64 * 1024, 9);
		assert_int_equal(blk_write(dev, 16, 128, buf), 0);
		assert_memory_equal(sim.disk + 16 * 512, buf, 64 * 1024);
		assert_int_equal(blk_read(dev, 16, 128, buf2), 0);
		assert_memory_equal(buf2, buf, 64 * 1024);
		assert_int_equal(sim.requests, 1 + 2 * 8); /* GET_ID, then 8 KiB pieces */
		assert_int_equal(sim.max_segs, 2);
		assert_int_equal(sim.max_seg_bytes, 4096);
		down();
	}
}

static void test_out_of_range_is_einval_before_the_device(void **state)
{
	(void)state;
	up(&base);
	unsigned before = sim.requests;
	assert_int_equal(blk_read(dev, SECTORS, 1, buf), -EINVAL);
	assert_int_equal(blk_read(dev, SECTORS - 1, 2, buf), -EINVAL);
	assert_int_equal(blk_read(dev, UINT64_MAX, 2, buf), -EINVAL);
	assert_int_equal(blk_write(dev, 1, UINT32_MAX, buf), -EINVAL);
	assert_int_equal(blk_read(dev, 0, 0, buf), -EINVAL);
	assert_int_equal(blk_read(dev, 0, 1, NULL), -EINVAL);
	struct blk_request r = {.op = BLK_FLUSH, .count = 1};
	assert_int_equal(blk_submit(dev, &r), -EINVAL);
	r = (struct blk_request){.op = (enum blk_op)99, .count = 1, .buf = buf};
	assert_int_equal(blk_submit(dev, &r), -EINVAL);
	assert_int_equal(sim.requests, before);
	assert_int_equal(blk_read(dev, SECTORS - 1, 1, buf), 0); /* the last sector is fine */
	down();
}

static void test_read_only_device_refuses_writes(void **state)
{
	(void)state;
	struct conf c = base;
	c.features = F_ALL | F(VIRTIO_BLK_F_RO);
	up(&c);
	assert_true(dev->read_only);
	unsigned before = sim.requests;
	assert_int_equal(blk_write(dev, 0, 1, buf), -EROFS);
	struct blk_request r = {.op = BLK_DISCARD, .lba = 0, .count = 1};
	assert_int_equal(blk_submit(dev, &r), -EROFS);
	assert_int_equal(sim.requests, before);
	assert_int_equal(sim.writes, 0);
	assert_int_equal(blk_read(dev, 0, 1, buf), 0);
	down();
}

static void test_flush_sent_only_when_offered(void **state)
{
	(void)state;
	up(&base);
	assert_int_equal(blk_flush(dev), 0);
	assert_int_equal(sim.flushes, 1);
	down();
	struct conf c = base;
	c.features = F_ALL & ~F(VIRTIO_BLK_F_FLUSH);
	up(&c);
	unsigned before = sim.requests;
	assert_int_equal(blk_flush(dev), 0);
	assert_int_equal(sim.requests, before);
	down();
}

/* ---- discard, write zeroes, configuration ---- */

static int range_op(enum blk_op op, uint64_t lba, uint32_t count)
{
	struct blk_request r = {.op = op, .lba = lba, .count = count};
	int err = blk_submit(dev, &r);
	return err < 0 ? err : blk_wait(dev, &r);
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

#define F_RANGES (F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES))

static void test_discard_and_write_zeroes_reach_the_disk(void **state)
{
	(void)state;
	for (uint32_t bs = 512; bs <= 4096; bs *= 8)
		for (int packed = 0; packed < 2; packed++) {
			struct conf c = base;
			c.features = F_ALL | F_RANGES;
			c.blk_size = bs;
			c.packed = packed;
			up(&c);
			uint32_t per = bs / 512;
			fill(sim.disk, SECTORS * 512, 21);
			memcpy(buf, sim.disk, 64 * 1024);
			assert_int_equal(range_op(BLK_WRITE_ZEROES, 3, 5), 0);
			assert_true(all_bytes(sim.disk + 3 * bs, 5 * bs, 0));
			assert_memory_equal(sim.disk, buf, 3 * bs);
			assert_memory_equal(sim.disk + 8 * bs, buf + 8 * bs, 2 * bs);
			assert_int_equal(range_op(BLK_DISCARD, 10, 4), 0);
			assert_true(all_bytes(sim.disk + 10 * bs, 4 * bs, VSIM_DISCARDED));
			assert_memory_equal(sim.disk + 14 * bs, buf + 14 * bs, bs);
			assert_int_equal(sim.nranges, 2);
			assert_int_equal(sim.ranges[0].type, VIRTIO_BLK_T_WRITE_ZEROES);
			assert_int_equal(sim.ranges[0].sector, 3 * per);
			assert_int_equal(sim.ranges[0].num_sectors, 5 * per);
			assert_int_equal(sim.ranges[0].flags, VIRTIO_BLK_WZ_UNMAP); /* the device may unmap */
			assert_int_equal(sim.ranges[1].type, VIRTIO_BLK_T_DISCARD);
			assert_int_equal(sim.ranges[1].sector, 10 * per);
			assert_int_equal(sim.ranges[1].num_sectors, 4 * per);
			assert_int_equal(sim.ranges[1].flags, 0);
			/* The last block, and one past it (refused before the device). */
			assert_int_equal(range_op(BLK_WRITE_ZEROES, dev->sectors - 1, 1), 0);
			assert_int_equal(range_op(BLK_DISCARD, dev->sectors - 1, 2), -EINVAL);
			down();
		}
}

/* Pieces of at most the device's maximum, split on its discard alignment. */
static void test_discard_and_write_zeroes_split_at_device_limits(void **state)
{
	(void)state;
	struct conf c = base;
	c.features = F_ALL | F_RANGES;
	make(&c);
	vsim_blk_set_discard(&sim, 64, 1, 16);
	vsim_blk_set_write_zeroes(&sim, 48, 1, 0);
	assert_int_equal(start(&c), 0);
	assert_int_equal(range_op(BLK_DISCARD, 5, 200), 0);
	static const uint64_t cuts[] = {5, 64, 128, 192, 205};
	assert_int_equal(sim.nranges, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(sim.ranges[i].sector, cuts[i]);
		assert_int_equal(sim.ranges[i].num_sectors, cuts[i + 1] - cuts[i]);
	}
	fill(sim.disk, 128 * 512, 3);
	sim.nranges = 0;
	assert_int_equal(range_op(BLK_WRITE_ZEROES, 0, 100), 0);
	assert_true(all_bytes(sim.disk, 100 * 512, 0));
	assert_false(all_bytes(sim.disk + 100 * 512, 512, 0));
	static const uint64_t wz[] = {0, 48, 96, 100};
	assert_int_equal(sim.nranges, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(sim.ranges[i].sector, wz[i]);
		assert_int_equal(sim.ranges[i].num_sectors, wz[i + 1] - wz[i]);
		assert_int_equal(sim.ranges[i].flags, 0); /* may_unmap is 0: no unmap asked */
	}
	down();
}

static void test_discard_and_write_zeroes_not_negotiated_are_enotsup(void **state)
{
	(void)state;
	up(&base);
	unsigned before = sim.requests;
	assert_int_equal(range_op(BLK_DISCARD, 0, 8), -ENOTSUP);
	assert_int_equal(range_op(BLK_WRITE_ZEROES, 0, 8), -ENOTSUP);
	assert_int_equal(sim.requests, before);
	assert_int_equal(blk_read(dev, 0, 1, buf), 0);
	down();
}

static void test_geometry_and_topology_are_read(void **state)
{
	(void)state;
	for (int offered = 0; offered < 2; offered++) {
		struct conf c = base;
		c.features = F_ALL | (offered ? F(VIRTIO_BLK_F_GEOMETRY) | F(VIRTIO_BLK_F_TOPOLOGY) : 0);
		make(&c);
		uint16_t cyl = 1023, min_io = 8;
		uint32_t opt_io = 128;
		memcpy(&sim.cfg[VIRTIO_BLK_CFG_CYLINDERS], &cyl, 2);
		sim.cfg[VIRTIO_BLK_CFG_HEADS] = 16;
		sim.cfg[VIRTIO_BLK_CFG_SECTORS] = 63;
		sim.cfg[VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP] = 3;
		sim.cfg[VIRTIO_BLK_CFG_ALIGNMENT_OFFSET] = 1;
		memcpy(&sim.cfg[VIRTIO_BLK_CFG_MIN_IO_SIZE], &min_io, 2);
		memcpy(&sim.cfg[VIRTIO_BLK_CFG_OPT_IO_SIZE], &opt_io, 4);
		assert_int_equal(start(&c), 0);
		assert_int_equal(vb.cylinders, offered ? 1023 : 0);
		assert_int_equal(vb.heads, offered ? 16 : 0);
		assert_int_equal(vb.sectors_per_track, offered ? 63 : 0);
		assert_int_equal(vb.physical_block_exp, offered ? 3 : 0);
		assert_int_equal(vb.alignment_offset, offered ? 1 : 0);
		assert_int_equal(vb.min_io_size, offered ? 8 : 0);
		assert_int_equal(vb.opt_io_size, offered ? 128 : 0);
		down();
	}
}

/* A flush is sent only to a volatile cache: CONFIG_WCE with writeback 0
 * says completed writes are already durable; when the host turns the
 * cache on and announces it, flushes start, and do not stop. */
static void test_write_through_device_gets_no_flush(void **state)
{
	(void)state;
	for (int wce = 0; wce < 3; wce++) { /* not offered, writeback 1, writeback 0 */
		struct conf c = base;
		c.features = F_ALL | (wce ? F(VIRTIO_BLK_F_CONFIG_WCE) : 0);
		make(&c);
		sim.cfg[VIRTIO_BLK_CFG_WRITEBACK] = wce == 2 ? 0 : 1;
		assert_int_equal(start(&c), 0);
		assert_int_equal(vb.writeback, wce != 2);
		assert_int_equal(dev->has_flush, wce != 2);
		assert_int_equal(blk_flush(dev), 0);
		assert_int_equal(sim.flushes, wce != 2);
		if (wce == 2) { /* the host turns the cache on and says so, then off */
			sim.cfg[VIRTIO_BLK_CFG_WRITEBACK] = 1;
			assert_int_equal(vsim_blk_config_change(&sim), 1);
			assert_int_equal(dev->has_flush, 1);
			assert_int_equal(blk_flush(dev), 0);
			assert_int_equal(sim.flushes, 1);
			sim.cfg[VIRTIO_BLK_CFG_WRITEBACK] = 0;
			assert_int_equal(vsim_blk_config_change(&sim), 1);
			assert_int_equal(vb.writeback, 0);
			assert_int_equal(dev->has_flush, 1); /* what it cached may still be there */
		}
		down();
	}
}

/* The same across a reset: a device that comes back write-through (spec
 * 5.2.6.2 lets it choose) may still hold what it cached before. */
static void test_cache_seen_before_a_reset_is_still_flushed(void **state)
{
	(void)state;
	struct conf c = base;
	c.features = F_ALL | F(VIRTIO_BLK_F_CONFIG_WCE);
	up(&c);
	assert_int_equal(dev->has_flush, 1);
	fill(buf, 512, 22);
	assert_int_equal(blk_write(dev, 0, 1, buf), 0);
	sim.cfg[VIRTIO_BLK_CFG_WRITEBACK] = 0; /* how it will come back */
	sim.stop_at_request = 1;
	assert_int_equal(blk_read(dev, 0, 1, buf2), -EIO);
	assert_int_equal(vb.stats.resets, 1);
	assert_int_equal(vb.writeback, 0);
	assert_int_equal(dev->has_flush, 1);
	unsigned flushes = sim.flushes;
	assert_int_equal(blk_flush(dev), 0);
	assert_int_equal(sim.flushes, flushes + 1);
	down();
}

/* ---- device status codes ---- */

static void test_every_status_code_reaches_the_caller(void **state)
{
	(void)state;
	static const struct {
		uint8_t status;
		int err;
	} codes[] = {{VIRTIO_BLK_S_OK, 0},
		     {VIRTIO_BLK_S_IOERR, -EIO},
		     {VIRTIO_BLK_S_UNSUPP, -ENOTSUP},
		     {0x7F, -EIO}};
	for (unsigned i = 0; i < 4; i++)
		for (int type = 0; type < 3; type++) {
			up(&base);
			sim.fail_type = type == 2 ? VIRTIO_BLK_T_FLUSH : type;
			sim.fail_lo = 0, sim.fail_hi = SECTORS;
			sim.fail_status = codes[i].status;
			int err = type == 0   ? blk_read(dev, 5, 1, buf)
				  : type == 1 ? blk_write(dev, 5, 1, buf)
					      : blk_flush(dev);
			assert_int_equal(err, codes[i].err);
			/* The error was the request's, not the device's: the next one works. */
			sim.fail_type = -1;
			assert_int_equal(blk_read(dev, 5, 1, buf), 0);
			down();
		}
}

static void test_error_in_one_piece_fails_the_whole_request(void **state)
{
	(void)state;
	make(&base);
	vsim_blk_set_size_max(&sim, 4096, 1);
	assert_int_equal(start(&base), 0);
	sim.fail_type = VIRTIO_BLK_T_IN;
	sim.fail_lo = 40, sim.fail_hi = 41; /* in the 4th 4 KiB piece of the read below */
	sim.fail_status = VIRTIO_BLK_S_IOERR;
	assert_int_equal(blk_read(dev, 16, 64, buf), -EIO);
	assert_int_equal(sim.requests, 1 + 8);
	down();
}

/* ---- a silent device ---- */

static void test_silent_device_times_out_and_is_reset(void **state)
{
	(void)state;
	for (int irq = 0; irq < 2; irq++)
		for (int packed = 0; packed < 2; packed++) {
			struct conf c = base;
			c.use_irq = irq;
			c.msix = 1;
			c.packed = packed;
			c.timeout_ns = irq ? 0 : 50000000ull; /* irq: the driver's default */
			up(&c);
			uint64_t timeout = vb.opt.timeout_ns;
			sim.mode = VSIM_SILENT;
			for (int i = 0; i < 3; i++) {
				reqs[i] = (struct blk_request){
					.op = BLK_READ, .lba = (uint64_t)i, .count = 1, .buf = buf};
				assert_int_equal(blk_submit(dev, &reqs[i]), 0);
			}
			unsigned resets = sim.resets;
			uint64_t t0 = vsim_plat.now_ns;
			assert_int_equal(blk_wait(dev, &reqs[0]), -ETIMEDOUT);
			uint64_t took = vsim_plat.now_ns - t0;
			assert_true(took >= timeout);
			assert_true(took <= timeout + 2 * VSIM_TICK_NS);
			/* Everything it held failed with it; it was reset and set up again. */
			assert_int_equal(blk_wait(dev, &reqs[1]), -ETIMEDOUT);
			assert_int_equal(blk_wait(dev, &reqs[2]), -ETIMEDOUT);
			assert_true(sim.resets > resets);
			assert_int_equal(vb.stats.resets, 1);
			assert_int_equal(vb.in_flight, 0);
			assert_true(sim.status & VIRTIO_STATUS_DRIVER_OK);
			sim.mode = VSIM_NORMAL;
			reads_back(5);
			down();
		}
}

/* A silent device that then does not even reset: the driver cannot take its
 * buffers back by resetting it, so it switches bus mastering off before it
 * fails the requests (or, with no PCI function to switch off, keeps them
 * incomplete), and refuses everything after. */
static void test_device_that_will_not_reset_is_given_up(void **state)
{
	(void)state;
	for (int has_pci = 0; has_pci < 2; has_pci++) {
		struct conf c = base;
		c.timeout_ns = 50000000ull;
		make(&c);
		if (!has_pci)
			vb.vdev.pci = NULL;
		assert_int_equal(start(&c), 0);
		sim.mode = VSIM_SILENT;
		for (int i = 0; i < 2; i++) {
			reqs[i] = (struct blk_request){
				.op = BLK_READ, .lba = (uint64_t)i, .count = 1, .buf = buf};
			assert_int_equal(blk_submit(dev, &reqs[i]), 0);
		}
		sim.stuck_in_reset = 1;
		assert_int_equal(blk_wait(dev, &reqs[0]), -EIO);
		assert_int_equal(blk_wait(dev, &reqs[1]), -EIO);
		assert_true(vb.broken);
		assert_non_null(vb.broken_why);
		if (has_pci) {
			assert_false(vsim_plat.cfg[4] & 4); /* bus mastering off */
			assert_true(reqs[0].complete && reqs[1].complete);
		} else {
			assert_true(vsim_plat.cfg[4] & 4);
			assert_false(reqs[0].complete ||
				     reqs[1].complete); /* the device may still own them */
		}
		uint64_t t0 = vsim_plat.now_ns;
		assert_int_equal(blk_read(dev, 0, 1, buf), -EIO);
		assert_true(vsim_plat.now_ns - t0 < 1000000ull);
		down();
	}
}

static void test_silent_device_with_full_queue_times_out(void **state)
{
	(void)state;
	struct conf c = base;
	c.qmax = 4;
	c.features = F_COMMON; /* one request fills the ring */
	c.timeout_ns = 50000000ull;
	up(&c);
	sim.mode = VSIM_SILENT;
	reqs[0] = (struct blk_request){.op = BLK_READ, .lba = 0, .count = 1, .buf = buf};
	reqs[1] = reqs[0];
	assert_int_equal(blk_submit(dev, &reqs[0]), 0);
	/* No room: the submitter waits, the device never answers, both fail. */
	assert_int_equal(blk_submit(dev, &reqs[1]), 0);
	assert_int_equal(blk_wait(dev, &reqs[1]), -ETIMEDOUT);
	assert_int_equal(blk_wait(dev, &reqs[0]), -ETIMEDOUT);
	down();
}

/* ---- a hostile device ---- */

static void hostile(enum vsim_lie lie, int packed, int first_err)
{
	struct conf c = base;
	c.packed = packed;
	up(&c);
	static uint8_t guarded[3 * 512];
	memset(guarded, 0xA5, sizeof(guarded));
	fill(sim.disk, 512, 11);
	unsigned resets = sim.resets;
	sim.lie = lie;
	assert_int_equal(blk_read(dev, 0, 1, guarded + 512), first_err);
	/* The driver stopped the device and wrote nowhere it should not. */
	assert_true(vb.broken);
	assert_true(sim.resets > resets);
	assert_int_equal(vb.in_flight, 0);
	for (unsigned i = 0; i < 512; i++)
		if (guarded[i] != 0xA5 || guarded[1024 + i] != 0xA5)
			fail_msg("bytes around the buffer changed");
	uint64_t t0 = vsim_plat.now_ns;
	assert_int_equal(blk_read(dev, 0, 1, buf), -EIO);
	assert_int_equal(blk_write(dev, 0, 1, buf), -EIO);
	assert_true(vsim_plat.now_ns - t0 < 1000000ull); /* refused at once, no wait */
	down();
}

static void test_hostile_device_is_stopped(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		hostile(VSIM_BAD_ID, packed, -EIO);
		hostile(VSIM_STRAY_ID, packed, -EIO);
		hostile(VSIM_LONG_LEN, packed, -EIO);
		/* The first completion is genuine; the repeat is caught. */
		hostile(VSIM_DOUBLE, packed, 0);
	}
}

/* A used length short of data and status fails that request (the status
 * byte past len is not looked at: the device did write OK there), but the
 * id was genuine: the device goes on. */
static void test_short_used_length_fails_the_request(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct conf c = base;
		c.packed = packed;
		up(&c);
		fill(sim.disk, 4096, 12);
		for (int op = 0; op < 3; op++) {
			sim.lie = VSIM_SHORT_LEN;
			int err = op == 0   ? blk_read(dev, 0, 8, buf)
				  : op == 1 ? blk_write(dev, 0, 1, buf)
					    : blk_flush(dev);
			assert_int_equal(err, -EIO);
			assert_false(vb.broken);
		}
		assert_int_equal(blk_read(dev, 0, 8, buf), 0);
		assert_memory_equal(buf, sim.disk, 4096);
		down();
	}
}

/* Through the legacy interface used lengths are not relied on (spec
 * 5.2.6.4: some devices count the whole chain): a length too short or too
 * long is neither an error nor a reason to give the device up. */
static void test_legacy_used_length_is_not_checked(void **state)
{
	(void)state;
	struct conf c = base;
	c.modern = 0;
	c.packed = 0;
	c.features = F_ALL & ~F(VIRTIO_F_RING_PACKED);
	up(&c);
	fill(sim.disk, 4096, 13);
	for (int lie = 0; lie < 2; lie++) {
		sim.lie = lie ? VSIM_LONG_LEN : VSIM_SHORT_LEN;
		memset(buf, 0, 4096);
		assert_int_equal(blk_read(dev, 0, 8, buf), 0);
		assert_memory_equal(buf, sim.disk, 4096);
		assert_int_equal(blk_write(dev, 8, 1, buf), 0);
		assert_false(vb.broken);
	}
	down();
}

/* A packed used descriptor without WRITE has a reserved length (spec
 * 2.8.4; QEMU never sets the flag): whatever it holds, the request stands
 * or falls by its status byte, and the device is not given up. */
static void test_packed_length_without_write_flag_is_ignored(void **state)
{
	(void)state;
	struct conf c = base;
	c.packed = 1;
	up(&c);
	sim.ring.no_write_flag = 1;
	fill(sim.disk, 4096, 14);
	for (int lie = 0; lie < 2; lie++) {
		sim.lie = lie ? VSIM_LONG_LEN : VSIM_SHORT_LEN;
		memset(buf, 0, 4096);
		assert_int_equal(blk_read(dev, 0, 8, buf), 0);
		assert_memory_equal(buf, sim.disk, 4096);
		assert_false(vb.broken);
	}
	sim.fail_type = VIRTIO_BLK_T_IN;
	sim.fail_lo = 0, sim.fail_hi = 1;
	sim.fail_status = VIRTIO_BLK_S_IOERR;
	assert_int_equal(blk_read(dev, 0, 8, buf), -EIO);
	down();
}

static void test_hostile_device_while_submitter_waits_for_room(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct conf c = base;
		c.packed = packed;
		c.qmax = 4;
		c.features = F_COMMON | (packed ? F(VIRTIO_F_RING_PACKED) : 0);
		up(&c);
		sim.lie = VSIM_BAD_ID;
		/* The second submit finds the ring full and waits; the lie comes
		 * while it waits.  Every request ends with -EIO, none hangs. */
		int err[3];
		for (int i = 0; i < 3; i++) {
			reqs[i] = (struct blk_request){
				.op = BLK_READ, .lba = (uint64_t)i, .count = 1, .buf = buf};
			err[i] = blk_submit(dev, &reqs[i]);
		}
		for (int i = 0; i < 3; i++) {
			if (err[i] == 0)
				err[i] = blk_wait(dev, &reqs[i]);
			assert_int_equal(err[i], -EIO);
		}
		assert_true(vb.broken);
		down();
	}
}

/* ---- configuration changes ---- */

/* The host resizes the disk: the configuration-change interrupt (MSI-X
 * entry 1, or INTx with ISR bit 1, also where the MSI-X table has only one
 * entry) brings the new size to the block layer at once, polled or not,
 * through either transport, in 512-byte sectors whatever the logical
 * block. */
static void test_resize_reaches_the_block_layer(void **state)
{
	(void)state;
	for (int modern = 0; modern < 2; modern++)
		for (int irq = 0; irq < 2; irq++)
			for (unsigned entries = 0; entries <= 2; entries++)
				for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
					struct conf c = {.features = F_COMMON | F(VIRTIO_F_EVENT_IDX),
							 .modern = modern,
							 .use_irq = irq,
							 .msix = entries > 0,
							 .blk_size = bs};
					make(&c);
					if (entries == 1)
						vsim_platform_msix_entries(1);
					assert_int_equal(start(&c), 0);
					assert_string_equal(vb.mode, !irq	    ? "poll"
								     : entries == 2 ? "msix"
										    : "intx");
					assert_int_equal(vsim_msix_enabled(), entries == 2);
					uint32_t per = bs / 512;
					assert_int_equal(dev->sectors, SECTORS / per);
					assert_int_equal(vsim_blk_resize(&sim, SECTORS / 2), 1);
					assert_int_equal(vb.capacity, SECTORS / 2);
					assert_int_equal(dev->sectors, SECTORS / 2 / per);
					assert_int_equal(blk_read(dev, SECTORS / 2 / per, 1, buf), -EINVAL);
					assert_int_equal(vsim_blk_resize(&sim, SECTORS), 1);
					assert_int_equal(dev->sectors, SECTORS / per);
					fill(buf, bs, 21);
					assert_int_equal(blk_write(dev, SECTORS / per - 1, 1, buf), 0);
					assert_memory_equal(sim.disk + (SECTORS - per) * 512, buf, bs);
					assert_int_equal(vb.stats.config_changes, 2);
					assert_int_equal(vb.stats.resets, 0);
					down();
				}
}

/* A resize between reading the configuration and DRIVER_OK cannot be
 * announced (the device may not notify before DRIVER_OK): the driver sees
 * the generation move and reads again. */
static void test_resize_during_set_up_is_seen(void **state)
{
	(void)state;
	struct conf c = base;
	make(&c);
	sim.resize_at_queue_setup = SECTORS / 2;
	assert_int_equal(start(&c), 0);
	assert_int_equal(dev->sectors, SECTORS / 2);
	down();
}

/* A device that refuses the configuration vector still works; it only
 * cannot tell of a resize. */
static void test_refused_config_vector_leaves_the_device_working(void **state)
{
	(void)state;
	for (int irq = 0; irq < 2; irq++) {
		struct conf c = base;
		c.msix = 1;
		c.use_irq = irq;
		make(&c);
		sim.refuse_config_vector = 1;
		assert_int_equal(start(&c), 0);
		assert_int_equal(vb.config_vector, VIRTIO_NO_VECTOR);
		assert_int_equal(vsim_blk_resize(&sim, SECTORS / 2), 0);
		assert_int_equal(dev->sectors, SECTORS);
		fill(sim.disk, 4096, 3);
		assert_int_equal(blk_read(dev, 0, 8, buf), 0);
		assert_memory_equal(buf, sim.disk, 4096);
		down();
	}
}

/* The platform cannot take a vector back, so none is asked for that might
 * go unused.  With one vector left an irq-mode queue takes it (and does
 * without resize news); a polled queue takes it for configuration changes;
 * with none left both fall back to INTx. */
static void test_scarce_vectors_are_not_wasted(void **state)
{
	(void)state;
	for (int left = 0; left < 2; left++)
		for (int irq = 0; irq < 2; irq++) {
			struct conf c = base;
			c.msix = 1;
			c.use_irq = irq;
			make(&c);
			vsim_plat.nmsi = 4 - (unsigned)left;
			assert_int_equal(start(&c), 0);
			assert_int_equal(vsim_plat.nmsi, 4);
			assert_string_equal(vb.mode, !irq ? "poll" : left ? "msix" : "intx");
			assert_int_equal(vb.config_vector, left && !irq ? 1 : VIRTIO_NO_VECTOR);
			assert_int_equal(vsim_msix_enabled(), left);
			reads_back(24);
			down();
		}
}

/* A device that sets DEVICE_NEEDS_RESET and says so by a configuration
 * change (as QEMU does when it finds the driver at fault) is reset at once,
 * not after the timeout: what it held fails with -EIO, and the next request
 * works. */
static void test_device_that_needs_reset_is_reset_at_once(void **state)
{
	(void)state;
	for (int irq = 0; irq < 2; irq++)
		for (int msix = 0; msix < 2; msix++)
			for (int packed = 0; packed < 2; packed++) {
				struct conf c = base;
				c.use_irq = irq;
				c.msix = msix;
				c.packed = packed;
				up(&c);
				sim.stop_at_request = 1;
				reqs[0] = (struct blk_request){
					.op = BLK_READ, .lba = 0, .count = 1, .buf = buf};
				reqs[1] = (struct blk_request){
					.op = BLK_READ, .lba = 1, .count = 1, .buf = buf2};
				assert_int_equal(blk_submit(dev, &reqs[0]), 0);
				assert_int_equal(blk_submit(dev, &reqs[1]), 0);
				uint64_t t0 = vsim_plat.now_ns;
				assert_int_equal(blk_wait(dev, &reqs[0]), -EIO);
				assert_true(vsim_plat.now_ns - t0 < vb.opt.timeout_ns / 100);
				assert_int_equal(blk_wait(dev, &reqs[1]), -EIO);
				assert_int_equal(vb.stats.config_changes, 1);
				assert_int_equal(vb.stats.resets, 1);
				assert_int_equal(vb.in_flight, 0);
				assert_false(vb.broken);
				assert_int_equal(sim.status & VIRTIO_STATUS_NEEDS_RESET, 0);
				reads_back(8);
				down();
			}
}

/* A done callback may submit again, even as its request fails in a reset:
 * by then the device is up again, so the new request goes to a live ring,
 * keeps its own fresh id (the failing loop does not take it for one of the
 * old), and completes without waiting out a timeout. */
static struct blk_request retries[4];

static void retry_once(struct blk_request *r)
{
	struct blk_request *again = &retries[r - reqs];
	*again = (struct blk_request){.op = r->op, .lba = r->lba, .count = r->count, .buf = r->buf};
	assert_int_equal(blk_submit(dev, again), 0);
}

static void test_done_callback_may_submit_again_during_a_reset(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct conf c = base;
		c.packed = packed;
		up(&c);
		fill(sim.disk, 4 * 512, 23);
		sim.stop_at_request = 1;
		for (int i = 0; i < 4; i++) {
			reqs[i] = (struct blk_request){.op = BLK_READ,
						       .lba = (uint64_t)i,
						       .count = 1,
						       .buf = buf + 512 * i,
						       .done = retry_once};
			assert_int_equal(blk_submit(dev, &reqs[i]), 0);
		}
		uint64_t t0 = vsim_plat.now_ns;
		for (int i = 0; i < 4; i++)
			assert_int_equal(blk_wait(dev, &reqs[i]), -EIO);
		for (int i = 0; i < 4; i++)
			assert_int_equal(blk_wait(dev, &retries[i]), 0);
		assert_true(vsim_plat.now_ns - t0 < vb.opt.timeout_ns / 100);
		assert_memory_equal(buf, sim.disk, 4 * 512);
		assert_int_equal(vb.stats.resets, 1);
		assert_int_equal(vb.in_flight, 0);
		down();
	}
}

/* DEVICE_NEEDS_RESET announced while nothing waits: the next submit
 * resets the device first, so its own request is not lost. */
static void test_device_that_needs_reset_between_requests_is_reset_first(void **state)
{
	(void)state;
	for (int irq = 0; irq < 2; irq++) {
		struct conf c = base;
		c.use_irq = irq;
		c.msix = 1;
		up(&c);
		sim.status |= VIRTIO_STATUS_NEEDS_RESET;
		assert_int_equal(vsim_blk_config_change(&sim), 1);
		assert_true(vb.needs_reset);
		reads_back(9);
		assert_int_equal(vb.stats.resets, 1);
		assert_false(vb.needs_reset);
		down();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_allowlisted_features_are_accepted),
		cmocka_unit_test(test_serial_of_twenty_bytes_is_terminated),
		cmocka_unit_test(test_features_ok_refused_marks_failed),
		cmocka_unit_test(test_reset_that_never_completes_is_bounded),
		cmocka_unit_test(test_config_generation_loop_is_bounded),
		cmocka_unit_test(test_queue_too_short_for_a_request_is_refused),
		cmocka_unit_test(test_roundtrip_every_ring_and_wait),
		cmocka_unit_test(test_4096_byte_blocks_address_in_512_byte_sectors),
		cmocka_unit_test(test_split_indices_wrap_at_2_16),
		cmocka_unit_test(test_packed_wrap_counters_many_laps),
		cmocka_unit_test(test_queue_full_makes_submitter_wait),
		cmocka_unit_test(test_out_of_order_completion),
		cmocka_unit_test(test_batched_submits_notify_once),
		cmocka_unit_test(test_irq_waits_take_the_faster_way),
		cmocka_unit_test(test_trials_thin_out_yet_follow_the_host),
		cmocka_unit_test(test_drain_and_deep_waits_choose_apart),
		cmocka_unit_test(test_long_drains_are_a_kind_of_their_own),
		cmocka_unit_test(test_unanswered_spin_halts_until_the_interrupt),
		cmocka_unit_test(test_indirect_used_when_offered),
		cmocka_unit_test(test_device_that_polls_is_not_notified),
		cmocka_unit_test(test_requests_split_at_size_max_and_seg_max),
		cmocka_unit_test(test_out_of_range_is_einval_before_the_device),
		cmocka_unit_test(test_read_only_device_refuses_writes),
		cmocka_unit_test(test_flush_sent_only_when_offered),
		cmocka_unit_test(test_discard_and_write_zeroes_reach_the_disk),
		cmocka_unit_test(test_discard_and_write_zeroes_split_at_device_limits),
		cmocka_unit_test(test_discard_and_write_zeroes_not_negotiated_are_enotsup),
		cmocka_unit_test(test_geometry_and_topology_are_read),
		cmocka_unit_test(test_write_through_device_gets_no_flush),
		cmocka_unit_test(test_cache_seen_before_a_reset_is_still_flushed),
		cmocka_unit_test(test_every_status_code_reaches_the_caller),
		cmocka_unit_test(test_error_in_one_piece_fails_the_whole_request),
		cmocka_unit_test(test_silent_device_times_out_and_is_reset),
		cmocka_unit_test(test_silent_device_with_full_queue_times_out),
		cmocka_unit_test(test_device_that_will_not_reset_is_given_up),
		cmocka_unit_test(test_hostile_device_is_stopped),
		cmocka_unit_test(test_short_used_length_fails_the_request),
		cmocka_unit_test(test_legacy_used_length_is_not_checked),
		cmocka_unit_test(test_packed_length_without_write_flag_is_ignored),
		cmocka_unit_test(test_hostile_device_while_submitter_waits_for_room),
		cmocka_unit_test(test_resize_reaches_the_block_layer),
		cmocka_unit_test(test_device_that_needs_reset_is_reset_at_once),
		cmocka_unit_test(test_device_that_needs_reset_between_requests_is_reset_first),
		cmocka_unit_test(test_done_callback_may_submit_again_during_a_reset),
		cmocka_unit_test(test_resize_during_set_up_is_seen),
		cmocka_unit_test(test_refused_config_vector_leaves_the_device_working),
		cmocka_unit_test(test_scarce_vectors_are_not_wasted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
