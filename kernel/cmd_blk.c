/*
 * Shell commands on raw disks: blk, blkstat, blkhash, blkfill, bench blk.  They go
 * through the block API only, exactly as a filesystem would.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/block/blk.h"
#include "drivers/virtio/virtio_blk.h"
#include "kernel/commands.h"
#include "kernel/console.h"
#include "kernel/errstr.h"
#include "kernel/latency.h"
#include "kernel/time.h"
#include "kernel/volumes.h"
#include "lib/pattern.h"
#include "lib/sha256.h"

#define IO_BUF_BYTES (8u << 20)
#define BENCH_MAX_QD 256
#define BENCH_HOLD_MAX 8 /* refills at most that share one notification */
#define BENCH_MAX_COUNT LATENCY_MAX

/* One static buffer for the commands (they run one at a time). */
static _Alignas(4096) uint8_t io_buf[IO_BUF_BYTES];

int cmd_blk(struct args *a)
{
	(void)a;
	for (int i = 0; i < blk_count(); i++) {
		struct blk_device *b = blk_get(i);
		struct virtio_blk *vb = virtio_blk_of(b);
		if (!vb) { /* a disk of another driver: what the block layer knows */
			kprintf("%s capacity=%" PRIu64 " sector=%" PRIu32 " ro=%d\n", b->name,
				b->sectors * (b->sector_size / 512), b->sector_size, b->read_only);
			continue;
		}
		kprintf("%s capacity=%" PRIu64 " sector=%" PRIu32
			" transport=%s ring=%s queues=1 qsize=%u mode=%s "
			"features=%" PRIx64 " ro=%d id=%s\n",
			b->name, vb->capacity, b->sector_size, vb->vdev.t->name,
			vb->vq.packed ? "packed" : "split", vb->vq.size, vb->mode, vb->vdev.features,
			b->read_only, vb->serial);
	}
	return 0;
}

/* n / d with one decimal, or "-" when d is 0. */
static void fmt_ratio(char *out, size_t size, uint64_t n, uint64_t d)
{
	if (d == 0)
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%" PRIu64 ".%" PRIu64, n / d, n * 10 / d % 10);
}

static void print_stats(struct blk_device *b, int clear)
{
	struct virtio_blk *vb = virtio_blk_of(b);
	char per_notify[24], per_irq[24], per_reap[24];

	if (!vb) {
		kprintf("%s no driver counters (not a virtio disk)\n", b->name);
		return;
	}
	struct virtio_blk_stats *s = &vb->stats;

	fmt_ratio(per_notify, sizeof(per_notify), s->requests, s->notifies);
	fmt_ratio(per_irq, sizeof(per_irq), s->completions, s->interrupts);
	fmt_ratio(per_reap, sizeof(per_reap), s->completions, s->reaps);
	kprintf("%s requests=%" PRIu64 " notifies=%" PRIu64 " interrupts=%" PRIu64 " completions=%" PRIu64
		" reaps=%" PRIu64 " waits=%" PRIu64 " spins=%" PRIu64 " sleeps=%" PRIu64 " spun=%" PRIu64
		" spin_hits=%" PRIu64 " spin_drain=%d spin_drain_long=%d spin_deep=%d halt_drain_ns=%" PRIu64
		" halt_drain_long_ns=%" PRIu64 " halt_deep_ns=%" PRIu64 " resets=%" PRIu64
		" config_changes=%" PRIu64
		" requests_per_notify=%s completions_per_interrupt=%s completions_per_reap=%s\n",
		b->name, s->requests, s->notifies, s->interrupts, s->completions, s->reaps, s->waits,
		s->spins, s->sleeps, s->spun, s->spin_hits, vb->way[WAIT_DRAIN].spin,
		vb->way[WAIT_DRAIN_LONG].spin, vb->way[WAIT_DEEP].spin, vb->way[WAIT_DRAIN].halt_mean_ns,
		vb->way[WAIT_DRAIN_LONG].halt_mean_ns, vb->way[WAIT_DEEP].halt_mean_ns, s->resets,
		s->config_changes, per_notify, per_irq, per_reap);
	if (clear)
		memset(s, 0, sizeof(*s));
	/* What the device said about itself, and the driver's verdict on it. */
	kprintf("%s device geometry=%u/%u/%u topology=%u/%u/%u/%" PRIu32 " writeback=%u flush=%d"
		" discard=%" PRIu32 "/%" PRIu32 "/%" PRIu32 " write_zeroes=%" PRIu32 "/%" PRIu32
		"/%u state=%s\n",
		b->name, vb->cylinders, vb->heads, vb->sectors_per_track, vb->physical_block_exp,
		vb->alignment_offset, vb->min_io_size, vb->opt_io_size, vb->writeback, b->has_flush,
		vb->max_discard_sectors, vb->max_discard_seg, vb->discard_alignment,
		vb->max_write_zeroes_sectors, vb->max_write_zeroes_seg, vb->write_zeroes_may_unmap,
		vb->broken ? vb->broken_why : "ok");
}

int cmd_blkstat(struct args *a)
{
	int clear = a->argc > 1 && strcmp(a->argv[a->argc - 1], "clear") == 0;
	int named = a->argc - clear > 1;

	if (a->argc - clear > 2)
		return shell_error("usage: blkstat [DISK] [clear]");
	if (named) {
		struct blk_device *b = blk_find(a->argv[1]);
		if (!b)
			return shell_error("blkstat: %s: no such disk", a->argv[1]);
		print_stats(b, clear);
		return 0;
	}
	for (int i = 0; i < blk_count(); i++)
		print_stats(blk_get(i), clear);
	return 0;
}

/* DISK LBA COUNT, checked against the disk. */
static int disk_range(struct args *a, struct blk_device **dev, uint64_t *lba, uint64_t *count)
{
	*dev = blk_find(a->argv[1]);
	if (!*dev)
		return shell_error("%s: no such disk", a->argv[1]);
	if (parse_u64(a->argv[2], lba) < 0 || parse_u64(a->argv[3], count) < 0)
		return shell_error("%s: LBA and COUNT must be numbers", a->argv[0]);
	if (*lba > (*dev)->sectors || *count > (*dev)->sectors - *lba)
		return shell_error("%s: sectors %" PRIu64 "+%" PRIu64 " are past the end of %s (%" PRIu64
				   " sectors)",
				   a->argv[0], *lba, *count, (*dev)->name, (*dev)->sectors);
	return 0;
}

int cmd_blkhash(struct args *a)
{
	struct blk_device *dev;
	uint64_t lba, count;
	struct sha256 h;
	uint8_t digest[32];
	char hex[65];

	if (a->argc != 4)
		return shell_error("usage: blkhash DISK LBA COUNT");
	if (disk_range(a, &dev, &lba, &count) < 0)
		return -1;
	sha256_init(&h);
	uint32_t chunk = IO_BUF_BYTES / dev->sector_size;
	while (count) {
		uint32_t n = count < chunk ? (uint32_t)count : chunk;
		int err = blk_read(dev, lba, n, io_buf);
		if (err < 0)
			return shell_error("blkhash: %s: read at sector %" PRIu64 ": %s", dev->name, lba,
					   errstr(err));
		sha256_update(&h, io_buf, (size_t)n * dev->sector_size);
		lba += n;
		count -= n;
	}
	sha256_final(&h, digest);
	sha256_hex(digest, hex);
	kprintf("%s\n", hex);
	return 0;
}

int cmd_blkfill(struct args *a)
{
	struct blk_device *dev;
	uint64_t lba, count, seed;
	struct pattern p;

	if (a->argc != 5)
		return shell_error("usage: blkfill DISK LBA COUNT SEED");
	if (disk_range(a, &dev, &lba, &count) < 0)
		return -1;
	if (volume_on_disk(dev))
		return shell_error("blkfill: %s: %s", dev->name, errstr(-EBUSY));
	if (parse_u64(a->argv[4], &seed) < 0 || seed > UINT32_MAX)
		return shell_error("blkfill: SEED must be a 32-bit number");
	pattern_init(&p, (uint32_t)seed);
	uint32_t chunk = IO_BUF_BYTES / dev->sector_size;
	while (count) {
		uint32_t n = count < chunk ? (uint32_t)count : chunk;
		pattern_fill(&p, io_buf, (size_t)n * dev->sector_size);
		int err = blk_write(dev, lba, n, io_buf);
		if (err < 0)
			return shell_error("blkfill: %s: write at sector %" PRIu64 ": %s", dev->name, lba,
					   errstr(err));
		lba += n;
		count -= n;
	}
	int err = blk_flush(dev);
	if (err < 0)
		return shell_error("blkfill: %s: flush: %s", dev->name, errstr(err));
	return 0;
}

/* ---- bench blk OP PATTERN BS QD COUNT [DISK] ---- */

struct bench_io {
	struct blk_request r;
	uint64_t start_ns;
	int busy;
};

static struct bench_io ios[BENCH_MAX_QD];

static void bench_done(struct blk_request *r)
{
	struct bench_io *io = r->ctx;

	latency_add(time_ns() - io->start_ns);
}

static uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int cmd_bench_blk(struct args *a)
{
	uint64_t bs, qd, count;
	struct blk_device *dev = blk_find(a->argc > 7 ? a->argv[7] : "vda");

	if (a->argc < 7 || a->argc > 8)
		return shell_error("usage: bench blk read|write seq|rand BS QD COUNT [DISK]");
	int is_write = strcmp(a->argv[2], "write") == 0;
	int is_rand = strcmp(a->argv[3], "rand") == 0;
	if ((!is_write && strcmp(a->argv[2], "read") != 0) || (!is_rand && strcmp(a->argv[3], "seq") != 0))
		return shell_error("bench: OP is read or write, PATTERN is seq or rand");
	if (!dev)
		return shell_error("bench: %s: no such disk", a->argc > 7 ? a->argv[7] : "vda");
	if (is_write && volume_on_disk(dev))
		return shell_error("bench: %s: %s", dev->name, errstr(-EBUSY));
	if (parse_u64(a->argv[4], &bs) < 0 || parse_u64(a->argv[5], &qd) < 0 ||
	    parse_u64(a->argv[6], &count) < 0)
		return shell_error("bench: BS, QD and COUNT must be numbers");
	if (bs == 0 || bs % dev->sector_size || qd == 0 || qd > BENCH_MAX_QD || bs > IO_BUF_BYTES / qd ||
	    count == 0 || count > BENCH_MAX_COUNT || bs / dev->sector_size > dev->sectors)
		return shell_error("bench: need BS a multiple of %" PRIu32
				   ", QD 1..%d, QD*BS <= %u, COUNT 1..%u",
				   dev->sector_size, BENCH_MAX_QD, IO_BUF_BYTES, BENCH_MAX_COUNT);

	uint32_t blocks = (uint32_t)(bs / dev->sector_size);
	uint64_t slots = dev->sectors / blocks; /* bs-aligned positions on the disk */
	uint64_t rng = 0x9E3779B97F4A7C15ull, next_seq = 0;
	if (is_write) {
		struct pattern p;
		pattern_init(&p, 1);
		pattern_fill(&p, io_buf, (size_t)(qd * bs));
	}
	latency_reset();
	memset(ios, 0, sizeof(ios));
	uint64_t submitted = 0, busy = 0, held = 0;
	int err = 0;
	uint64_t t0 = time_ns();
	/* Keep qd requests in flight: wait for each slot in turn and refill it.
	 * Completions may come in any order; each latency is taken in the done
	 * callback.  While the next slot is free too (it completed in the same
	 * batch), the refill is marked BLK_F_MORE: the device hears once about
	 * several.  But at most BENCH_HOLD_MAX are held: then the notification
	 * goes, and the device starts on those while the rest of the batch is
	 * prepared (with EVENT_IDX a device at work asks for no more
	 * notifications; it finds the rest itself).  Holding all of a large
	 * batch left the device idle meanwhile (QEMU, null-co, QD32: 0.7x the
	 * IOPS).  After an error nothing new is sent, but what is in
	 * flight is waited for: the requests and buffers are reused by the next
	 * run. */
	for (uint64_t i = 0; busy || (submitted < count && !err); i = (i + 1) % qd) {
		struct bench_io *io = &ios[i];
		if (io->busy) {
			int e = blk_wait(dev, &io->r);
			io->busy = 0;
			busy--;
			if (e < 0 && !err)
				err = e;
		}
		if (submitted < count && !err) {
			uint64_t pos = is_rand ? xorshift64(&rng) % slots : next_seq++ % slots;
			io->r = (struct blk_request){.op = is_write ? BLK_WRITE : BLK_READ,
						     .lba = pos * blocks,
						     .count = blocks,
						     .buf = io_buf + i * bs,
						     .done = bench_done,
						     .ctx = io};
			struct bench_io *next = &ios[(i + 1) % qd];
			if (qd > 1 && submitted + 1 < count && (!next->busy || next->r.complete) &&
			    held + 1 < BENCH_HOLD_MAX)
				io->r.flags = BLK_F_MORE;
			held = io->r.flags ? held + 1 : 0;
			io->start_ns = time_ns();
			err = blk_submit(dev, &io->r);
			if (err == 0) {
				io->busy = 1;
				busy++;
			}
			submitted++;
		}
	}
	uint64_t ns = time_ns() - t0;
	if (err < 0)
		return shell_error("bench: %s: %s", dev->name, errstr(err));
	uint64_t p50, p99;
	char mibps[24], p50s[24], p99s[24];
	latency_percentiles(&p50, &p99);
	fmt_tenths(mibps, sizeof(mibps),
		   (uint64_t)((unsigned __int128)count * bs * 10 * 1000000000u / ns >> 20));
	fmt_tenths(p50s, sizeof(p50s), p50);
	fmt_tenths(p99s, sizeof(p99s), p99);
	kprintf("bench blk op=%s pattern=%s bs=%" PRIu64 " qd=%" PRIu64 " count=%" PRIu64 " ns=%" PRIu64
		" iops=%" PRIu64 " mibps=%s p50_us=%s p99_us=%s\n",
		is_write ? "write" : "read", is_rand ? "rand" : "seq", bs, qd, count, ns,
		(uint64_t)((unsigned __int128)count * 1000000000u / ns), mibps, p50s, p99s);
	return 0;
}
