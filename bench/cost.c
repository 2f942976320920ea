/*
 * The driver's own cost per request, in instructions, for the benchmark
 * report: the same drivers/ sources as the kernel, built for the host and
 * run against the simulated device of the unit tests (tests/unit/vsim*.c).
 * bench/run.py runs it under callgrind and counts only the instructions
 * spent in drivers/, so the figure leaves out the device, the hypervisor and
 * the host's load: it is what a driver change costs or saves.
 *
 *   cost RING INDIRECT QD COUNT
 *
 * RING is split or packed; INDIRECT 0 or 1 (VIRTIO_F_INDIRECT_DESC
 * offered); COUNT 4 KiB reads are kept QD deep, in poll mode, submitted and
 * reaped the way `bench blk` does it.  Exits 0 when every read completed
 * with the right data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/block/blk.h"
#include "drivers/virtio/virtio_blk.h"
#include "tests/unit/vsim.h"

#define SECTORS 8192 /* 4 MiB disk */
#define BLOCK 4096
#define MAX_QD 64
#define F(bit) (1ull << (bit))

static struct pci_device pci;
static struct vsim_blk sim;
static struct virtio_blk vb;
static _Alignas(4096) uint8_t ring_mem[VIRTQ_MEM_MAX];
static _Alignas(64) struct virtio_blk_slot slots[VIRTQ_MAX];
static uint8_t bufs[MAX_QD][BLOCK];
static struct blk_request reqs[MAX_QD];

static int usage(void)
{
	fprintf(stderr, "usage: cost split|packed 0|1 QD(1..%d) COUNT\n", MAX_QD);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return usage();
	int packed = strcmp(argv[1], "packed") == 0;
	int indirect = atoi(argv[2]);
	unsigned qd = (unsigned)atoi(argv[3]);
	unsigned long count = strtoul(argv[4], NULL, 10);
	if ((!packed && strcmp(argv[1], "split") != 0) || qd < 1 || qd > MAX_QD || count == 0)
		return usage();

	uint64_t features = F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_SEG_MAX) |
			    F(VIRTIO_F_EVENT_IDX) | (packed ? F(VIRTIO_F_RING_PACKED) : 0) |
			    (indirect ? F(VIRTIO_F_INDIRECT_DESC) : 0);
	vsim_platform_reset(&pci, 0);
	vsim_blk_init(&sim, SECTORS, 512, features, 1);
	sim.queue_max = 256;
	vsim_blk_set_size_max(&sim, 1 << 20, 126);
	memset(&vb, 0, sizeof(vb));
	vsim_blk_bind(&sim, &vb.vdev, &pci);
	vsim_blk_attach_idle(&sim);
	struct virtio_blk_options opt = {.use_irq = 0, .allow_packed = packed, .timeout_ns = 1000000000ull};
	const char *why = NULL;
	if (virtio_blk_start(&vb, &opt, ring_mem, slots, &why) < 0) {
		fprintf(stderr, "cost: device start failed: %s\n", why ? why : "?");
		return 1;
	}
	for (uint32_t i = 0; i < SECTORS * 512u; i++)
		sim.disk[i] = (uint8_t)(i * 2654435761u >> 24);

	struct blk_device *dev = &vb.blk;
	uint64_t rng = 0x9E3779B97F4A7C15ull;
	unsigned long submitted = 0, busy = 0;
	for (unsigned i = 0; busy || submitted < count; i = (i + 1) % qd) {
		if (reqs[i].buf) { /* in flight: wait, check, free the slot */
			if (blk_wait(dev, &reqs[i]) < 0 ||
			    memcmp(bufs[i], sim.disk + reqs[i].lba * 512, BLOCK) != 0) {
				fprintf(stderr, "cost: read %lu failed\n", submitted);
				return 1;
			}
			reqs[i].buf = NULL;
			busy--;
		}
		if (submitted < count) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			const struct blk_request *next = &reqs[(i + 1) % qd];
			reqs[i] = (struct blk_request){.op = BLK_READ,
						       .lba = rng % (SECTORS / 8) * 8,
						       .count = BLOCK / 512,
						       .buf = bufs[i]};
			if (qd > 1 && submitted + 1 < count && (!next->buf || next->complete))
				reqs[i].flags = BLK_F_MORE;
			if (blk_submit(dev, &reqs[i]) < 0) {
				fprintf(stderr, "cost: submit %lu failed\n", submitted);
				return 1;
			}
			submitted++;
			busy++;
		}
	}
	return 0;
}
