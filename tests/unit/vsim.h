/*
 * Simulated virtio devices for the host unit tests, in parts:
 *
 *   vsim_platform.c  drivers/platform.h for Linux: a virtual clock, waits
 *                    that let the device run, PCI configuration ports for
 *                    one function (with or without MSI-X), interrupt delivery
 *   vsim_ring.c      the device's side of a split or packed ring, consuming
 *                    descriptors as QEMU does and checking every one
 *   vsim_blk.c       a virtio-blk device over a RAM disk behind a
 *                    struct virtio_transport, with knobs to fail, stall,
 *                    reorder or lie
 *   vsim_net.c       a virtio-net device (vsim_net.h): frames in and out,
 *                    control commands, link and announce, and lies
 *
 * Bus addresses are host pointers (plat_virt_to_phys is the identity), so
 * AddressSanitizer sees every byte the "device" touches.
 */
#ifndef TESTS_UNIT_VSIM_H
#define TESTS_UNIT_VSIM_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/virtq.h"

/* ---- platform ---- */

#define VSIM_TICK_NS 10000000ull /* an idle halt ends at the next 100 Hz tick */
#define VSIM_PCI_BAR1 0xFE000000ull /* where the MSI-X table lives */
#define VSIM_MSIX_MAX 4 /* MSI-X table entries the function can have */

struct vsim_platform {
	uint64_t now_ns;
	/* Runs the devices while the CPU waits; returns 1 if it delivered an
	 * interrupt. */
	int (*idle)(void);
	uint64_t waits, halts, tick_wakes, irq_wakes;
	/* Simulated cost of waiting: time one look of a polling loop takes
	 * (default 1 us), and time a halted CPU takes to wake for an interrupt
	 * (default 0). */
	uint64_t spin_ns, halt_wake_ns;
	int halting; /* set while idle() runs for a halted CPU */
	/* Configuration space of the one PCI function at 00:01.0. */
	uint8_t cfg[256];
	uint32_t cf8;
	uint32_t msix_table[VSIM_MSIX_MAX * 4];
	/* Interrupt handlers the driver hooked up. */
	void (*msi_fn[4])(void *);
	void *msi_arg[4];
	unsigned nmsi;
	void (*intx_fn)(void *);
	void *intx_arg;
	unsigned intx_gsi;
};
extern struct vsim_platform vsim_plat;

/* Resets the platform; with msix, the PCI function has an MSI-X capability
 * (2 entries, table in BAR 1).  Fills *pci to describe it. */
void vsim_platform_reset(struct pci_device *pci, int msix);
/* Sets the MSI-X table's size to n entries (1 .. VSIM_MSIX_MAX). */
void vsim_platform_msix_entries(unsigned n);
/* Delivers MSI-X entry `entry` if the function has MSI-X enabled and the
 * entry unmasked; returns 1 if a handler ran. */
int vsim_raise_msix(unsigned entry);
/* Runs the INTx handler (the line is level-triggered: the handler must
 * lower it, checked by the caller). */
int vsim_raise_intx(void);
int vsim_msix_enabled(void);

/* ---- device side of a ring ---- */

#define VSIM_MAX_SEGS 1024

struct vsim_seg {
	uint8_t *p;
	uint32_t len;
	int writable;
};

struct vsim_chain {
	uint16_t id; /* split: head index; packed: buffer id */
	uint16_t ndescs; /* ring descriptors the chain took */
	int indirect;
	unsigned n;
	struct vsim_seg seg[VSIM_MAX_SEGS];
};

struct vsim_ring {
	unsigned size;
	int packed, event_idx;
	uint8_t *desc, *driver, *device;
	/* split */
	uint16_t last_avail, used_idx;
	/* packed */
	uint16_t avail_pos, used_pos;
	int avail_wrap, used_wrap;
	/* set to ask the driver for no notifications (the device polls) */
	int no_notify;
	/* packed: leave WRITE out of used descriptors, as QEMU does (their
	 * length is then reserved, spec 2.8.4) */
	int no_write_flag;
	unsigned chains_seen, indirect_seen;
};

void vsim_ring_init(struct vsim_ring *r, unsigned size, int packed, int event_idx, uint64_t desc,
		    uint64_t driver, uint64_t device);
/* Takes the next available chain; 1 if one was there, 0 if none.  A chain
 * that breaks the specification fails the test. */
int vsim_ring_pop(struct vsim_ring *r, struct vsim_chain *c);
/* After popping: tells the driver when to notify next (its event index or
 * flags), as QEMU does once it has emptied the ring. */
void vsim_ring_arm_notify(struct vsim_ring *r);
/* Returns one used chain; returns 1 if the driver asked for an interrupt
 * for it (flags or event index). */
int vsim_ring_push(struct vsim_ring *r, uint16_t id, uint32_t len, uint16_t ndescs);

/* ---- the virtio-blk device ---- */

enum vsim_mode {
	VSIM_NORMAL, /* completes everything the next time the CPU waits */
	VSIM_HOLD, /* keeps completions until vsim_release() */
	VSIM_SILENT, /* takes requests and never answers */
};

enum vsim_lie {
	VSIM_HONEST,
	VSIM_BAD_ID, /* a used id beyond the ring */
	VSIM_STRAY_ID, /* an id in range that is not in flight */
	VSIM_DOUBLE, /* the same completion twice */
	VSIM_LONG_LEN, /* claims more bytes than the chain can hold */
	VSIM_SHORT_LEN, /* claims one byte less than it wrote: the status is past len */
};

struct vsim_pending {
	uint16_t id, ndescs;
	uint32_t len;
};

/* A DISCARD or WRITE_ZEROES segment the device executed. */
struct vsim_range {
	uint32_t type;
	uint64_t sector;
	uint32_t num_sectors, flags;
};

struct vsim_blk {
	struct vsim_ring ring;
	int modern;
	uint8_t status;
	int stuck_in_reset; /* status never reads back 0 */
	int refuse_features_ok;
	uint64_t offered, negotiated;
	uint8_t cfg[64];
	uint8_t generation;
	unsigned config_churn; /* the next this many config reads see the generation change */
	unsigned config_reads;
	unsigned queue_max;
	unsigned queue_size;
	uint16_t queue_vector, config_vector;
	uint64_t q_desc, q_driver, q_device;
	int queue_enabled;
	uint8_t isr;

	uint8_t *disk;
	uint64_t disk_bytes;
	uint32_t blk_size;
	char serial[20];

	enum vsim_mode mode;
	int reverse; /* complete in the opposite order */
	int device_polls; /* asks for no notifications and looks by itself */
	int slow_while_spun; /* completes nothing while the CPU spins, only while it halts */
	int slow_while_spun_deep; /* the same while more than one request is pending */
	enum vsim_lie lie;
	/* At the next request the device stops, as QEMU's virtio_error() does:
	 * it answers nothing, and the next time the CPU waits it sets
	 * DEVICE_NEEDS_RESET and signals a configuration change.  A reset
	 * brings it back. */
	int stop_at_request, stopped;
	int refuse_config_vector; /* reads back NO_VECTOR for any config vector */
	uint64_t resize_at_queue_setup; /* new capacity (sectors), unannounced, during set-up; 0: none */
	/* Injected failure: requests of this type touching [fail_lo, fail_hi)
	 * (512-byte sectors) answer fail_status.  fail_type < 0: none. */
	int fail_type;
	uint64_t fail_lo, fail_hi;
	uint8_t fail_status;

	struct vsim_pending pending[VIRTQ_MAX * 2];
	unsigned npending;
	unsigned in_flight, max_in_flight;

	/* what the device saw */
	unsigned notifies, requests, flushes, resets, interrupts, bad_requests;
	unsigned reads, writes, max_segs;
	struct vsim_range ranges[256];
	unsigned nranges;
	uint32_t max_seg_bytes;
	uint64_t last_sector;
};

/* A device with a zeroed RAM disk (at most 4 MiB) of `sectors` 512-byte sectors, logical
 * block blk_size, offering `features` (VERSION_1 added when modern). */
void vsim_blk_init(struct vsim_blk *s, uint64_t sectors, uint32_t blk_size, uint64_t features, int modern);
void vsim_blk_set_size_max(struct vsim_blk *s, uint32_t size_max, uint32_t seg_max);
/* DISCARD and WRITE_ZEROES limits (512-byte sectors). */
void vsim_blk_set_discard(struct vsim_blk *s, uint32_t max_sectors, uint32_t max_seg, uint32_t alignment);
void vsim_blk_set_write_zeroes(struct vsim_blk *s, uint32_t max_sectors, uint32_t max_seg, uint8_t may_unmap);
/* A discarded sector reads back as this byte (the specification leaves it open). */
#define VSIM_DISCARDED 0xDD
/* Binds d to the simulated transport of s (no PCI function unless pci). */
void vsim_blk_bind(struct vsim_blk *s, struct virtio_dev *d, struct pci_device *pci);
/* Posts what the device holds (HOLD mode); returns how many. */
unsigned vsim_release(struct vsim_blk *s);
/* Signals a configuration change (generation bumped): MSI-X on the config
 * vector (nothing if MSI-X is on and the driver mapped none), else ISR
 * bit 1 and INTx.  Returns 1 if a handler ran. */
int vsim_blk_config_change(struct vsim_blk *s);
/* The host resizes the disk (at most 4 MiB; new sectors read as zeroes),
 * then signals the change. */
int vsim_blk_resize(struct vsim_blk *s, uint64_t sectors);
/* The platform idle hook for one device (the tests use one at a time). */
void vsim_blk_attach_idle(struct vsim_blk *s);

#endif
