/*
 * virtio-blk: a virtio device that is a disk.  Binds a PCI function (or, in
 * the host tests, a simulated transport), sets up one request queue, and
 * serves the block interface of drivers/block/blk.h.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_BLK_H
#define DRIVERS_VIRTIO_VIRTIO_BLK_H

#include <stdint.h>

#include "drivers/block/blk.h"
#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/virtq.h"
#include "drivers/virtio/wait_way.h"

/* As many as the block layer names (vda..vdh).  Each costs about 242 KiB
 * of static memory (ring, request slots, driver state). */
#define VIRTIO_BLK_MAX_DEVICES BLK_MAX_DEVICES

/* Feature bits (virtio 1.x section 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20

/* Byte offsets of the fields of struct virtio_blk_config (section 5.2.4),
 * the device configuration; each is read with its own width. */
#define VIRTIO_BLK_CFG_CAPACITY 0 /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 8 /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX 12 /* le32 */
#define VIRTIO_BLK_CFG_CYLINDERS 16 /* le16, GEOMETRY */
#define VIRTIO_BLK_CFG_HEADS 18 /* u8, GEOMETRY */
#define VIRTIO_BLK_CFG_SECTORS 19 /* u8, GEOMETRY */
#define VIRTIO_BLK_CFG_BLK_SIZE 20 /* le32 */
#define VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP 24 /* u8, TOPOLOGY */
#define VIRTIO_BLK_CFG_ALIGNMENT_OFFSET 25 /* u8, TOPOLOGY */
#define VIRTIO_BLK_CFG_MIN_IO_SIZE 26 /* le16, TOPOLOGY */
#define VIRTIO_BLK_CFG_OPT_IO_SIZE 28 /* le32, TOPOLOGY */
#define VIRTIO_BLK_CFG_WRITEBACK 32 /* u8, CONFIG_WCE */
#define VIRTIO_BLK_CFG_NUM_QUEUES 34 /* le16, MQ */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36 /* le32, DISCARD */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40 /* le32, DISCARD */
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44 /* le32, DISCARD */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48 /* le32, WRITE_ZEROES */
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52 /* le32, WRITE_ZEROES */
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56 /* u8, WRITE_ZEROES */

/* The device-readable request header.  sector is always in 512-byte units,
 * whatever the device's logical block size. */
struct virtio_blk_outhdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

/* One segment of a DISCARD or WRITE_ZEROES request: the device-readable
 * data after the header (whose sector field is then unused).  sector and
 * num_sectors are in 512-byte units. */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};
#define VIRTIO_BLK_WZ_UNMAP 1u /* write zeroes: the device may deallocate the range */

/* Per-request memory the device reads and writes: 64-byte aligned, so the
 * header never straddles a page. */
struct virtio_blk_slot {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes range;
	uint8_t status;
	uint8_t pad[31];
};

struct virtio_blk_options {
	int use_irq; /* sleep for interrupts (MSI-X, else INTx); else poll */
	int allow_packed; /* accept VIRTIO_F_RING_PACKED when offered */
	uint64_t timeout_ns; /* how long a request may take before the device is reset */
};

/* What the driver did since start (or since the counters were zeroed). */
struct virtio_blk_stats {
	uint64_t requests; /* virtio requests queued (one block request may be several) */
	uint64_t notifies; /* doorbell writes to the device */
	uint64_t interrupts; /* queue interrupts taken (INTx: every one that was this device's) */
	uint64_t completions; /* used chains taken off the ring */
	uint64_t reaps; /* ring scans that found at least one completion */
	uint64_t waits; /* bounded waits entered (for a request, or for room) */
	uint64_t spins; /* times a polling wait found nothing done and looked again */
	uint64_t sleeps; /* times a wait asked for an interrupt and halted */
	uint64_t spun; /* irq-mode waits that spun before halting */
	uint64_t spin_hits; /* of those, waits answered while spinning */
	uint64_t resets; /* device resets after a timeout or at the device's request */
	uint64_t config_changes; /* configuration-change interrupts taken */
};

/* The kinds of wait: with only the awaited request's own parts in flight
 * (the device is idle after them), short or long (see WAIT_LONG_BYTES in
 * virtio_blk.c), or with more behind it. */
enum { WAIT_DRAIN, WAIT_DRAIN_LONG, WAIT_DEEP, WAIT_KINDS };

struct virtio_blk {
	struct virtio_dev vdev;
	struct virtq vq;
	struct blk_device blk;
	struct virtio_blk_options opt;
	struct pci_msix msix;
	const char *mode; /* "poll", "msix" or "intx" */
	int broken; /* the device misbehaved; requests fail with -EIO */
	const char *broken_why; /* and how, when broken */

	/* from the device configuration (a field whose feature was not
	 * negotiated reads 0, writeback excepted) */
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max, seg_max;
	uint16_t cylinders; /* GEOMETRY: the legacy BIOS view, for display */
	uint8_t heads, sectors_per_track;
	uint8_t physical_block_exp; /* TOPOLOGY: logical blocks per physical, log2 */
	uint8_t alignment_offset; /* first aligned logical block */
	uint16_t min_io_size; /* in logical blocks */
	uint32_t opt_io_size; /* in logical blocks */
	/* 1: a volatile write cache that FLUSH empties; 0: writes are durable
	 * when they complete (CONFIG_WCE says so, or there is no FLUSH) */
	uint8_t writeback;
	uint32_t max_discard_sectors, max_discard_seg, discard_alignment; /* DISCARD */
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg; /* WRITE_ZEROES */
	uint8_t write_zeroes_may_unmap;
	char serial[VIRTIO_BLK_ID_BYTES + 1];

	uint32_t part_bytes; /* largest piece one virtio request carries */
	struct virtio_blk_slot *slots; /* [VIRTQ_MAX] */
	struct blk_request *owner[VIRTQ_MAX]; /* by used id */
	uint32_t want_len[VIRTQ_MAX]; /* by used id: device-writable bytes, status included */
	void *ring_mem;
	struct virtio_blk_stats stats;
	/* irq mode, how waits wait (wait_way.h), apart for each kind of wait
	 * (WAIT_DRAIN, ...) */
	struct wait_way way[WAIT_KINDS];
	uint32_t in_flight; /* virtio requests queued and not yet completed */
	/* MSI-X entry for configuration changes, or VIRTIO_NO_VECTOR (see
	 * setup_interrupts in virtio_blk.c) */
	uint16_t config_vector;
	uint8_t config_gen; /* the configuration generation read_config() saw */
	volatile int live; /* DRIVER_OK, not being reset, not given up */
	volatile int needs_reset; /* the device set DEVICE_NEEDS_RESET */
};

/* Features this driver implements and asks for; nothing else is accepted. */
uint64_t virtio_blk_wanted_features(const struct virtio_blk_options *opt);

/* Drives the virtio-blk device behind an already bound transport: the
 * initialisation sequence, the queue, interrupts, GET_ID.  ring_mem and
 * slots are static storage (VIRTQ_MEM_MAX bytes 4096-aligned, VIRTQ_MAX
 * slots).  Returns 0, or a negative errno with *why naming the failing step
 * (the device is then marked FAILED and left alone). */
int virtio_blk_start(struct virtio_blk *vb, const struct virtio_blk_options *opt, void *ring_mem,
		     struct virtio_blk_slot *slots, const char **why);

/* Probes every virtio-blk PCI function (0x1AF4:0x1001 transitional, driven
 * through its modern interface when it has one; 0x1AF4:0x1042 modern) in
 * PCI order, registers each working one as a block device, and calls
 * report(pci, err, why) for each one that fails.  Returns the number
 * registered. */
int virtio_blk_probe_all(const struct virtio_blk_options *opt,
			 void (*report)(const struct pci_device *pci, int err, const char *why));

/* The driver behind a registered block device, or NULL if it is not ours. */
struct virtio_blk *virtio_blk_of(struct blk_device *dev);

#endif
