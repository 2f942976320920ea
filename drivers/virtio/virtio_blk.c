/*
 * The virtio-blk driver.  A block request becomes one or more virtio
 * requests ("parts"), each a descriptor chain:
 *
 *   [header: type, sector]  device reads     16 bytes, in the request's slot
 *   [data ...]              device reads (write) or writes (read)
 *   [status]                device writes    1 byte, in the same slot
 *
 * The chain's id (its head descriptor, or its buffer id on a packed ring)
 * indexes the slot and the owning request, so completion is a table lookup.
 * Every wait is bounded: a device that stops answering is reset and its
 * requests fail with -ETIMEDOUT.
 */
#include "drivers/virtio/virtio_blk.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "drivers/platform.h"

#define PART_MAX_BYTES (4u << 20) /* a piece this big already streams at full speed */
#define DEFAULT_TIMEOUT_NS 30000000000ull

uint64_t virtio_blk_wanted_features(const struct virtio_blk_options *opt)
{
	uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
		     1ull << VIRTIO_BLK_F_GEOMETRY | 1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_BLK_SIZE |
		     1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_TOPOLOGY |
		     1ull << VIRTIO_BLK_F_CONFIG_WCE | 1ull << VIRTIO_BLK_F_MQ |
		     1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES |
		     1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1;
	if (opt->allow_packed)
		f |= 1ull << VIRTIO_F_RING_PACKED;
	return f;
}

static void finish(struct blk_request *r)
{
	r->complete = 1;
	if (r->done)
		r->done(r);
}

/* One part of r is done with err; returns 1 if it was the last. */
static int account_part(struct blk_request *r, int err)
{
	if (err && !r->status)
		r->status = err; /* the first error wins; none is swallowed */
	return --r->parts_left == 0;
}

static void complete_part(struct blk_request *r, int err)
{
	if (account_part(r, err))
		finish(r);
}

/* Fails every request still in flight (the device was reset under them).
 * All are taken off first and only then completed: a done callback that
 * submits again gets a fresh id, which the loop must not fail too. */
static void fail_all(struct virtio_blk *vb, int err)
{
	struct blk_request *failed = NULL;

	for (unsigned id = 0; id < VIRTQ_MAX; id++) {
		struct blk_request *r = vb->owner[id];
		if (r) {
			vb->owner[id] = NULL;
			vb->in_flight--;
			if (account_part(r, err)) {
				r->link = failed;
				failed = r;
			}
		}
	}
	while (failed) {
		struct blk_request *r = failed;
		failed = r->link;
		finish(r);
	}
}

/* The device misbehaved: stop it for good.  Every later request fails with
 * -EIO at once.  What it holds fails with err once the device can no longer
 * write into those buffers: after a reset that completed (reset_ok), or,
 * when it did not, with bus mastering switched off.  Without a PCI function
 * to switch off, the requests stay incomplete (their buffers may still be
 * written) and waiting for them returns -EIO. */
static void give_up(struct virtio_blk *vb, const char *why, int err, int reset_ok)
{
	vb->live = 0;
	vb->needs_reset = 0;
	vb->broken = 1;
	vb->broken_why = why;
	if (reset_ok) {
		fail_all(vb, err);
	} else if (vb->vdev.pci) {
		pci_stop_dma(vb->vdev.pci);
		vb->broken_why = "reset failed, bus mastering off";
		fail_all(vb, err);
	} else {
		vb->broken_why = "reset failed, requests held";
	}
}

static int status_to_errno(uint8_t status)
{
	switch (status) {
	case VIRTIO_BLK_S_OK:
		return 0;
	case VIRTIO_BLK_S_UNSUPP:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

/* Takes every finished chain off the used ring.  Returns how many, or -EIO
 * if the device broke the protocol (it is then stopped). */
static int reap(struct virtio_blk *vb)
{
	int n = 0;
	uint16_t id;
	uint32_t len;

	if (vb->broken)
		return -EIO;
	for (;;) {
		int rc = virtq_get_used(&vb->vq, &id, &len);
		if (rc == 0)
			return n;
		if (rc < 0) {
			/* A used id that is not ours, or a length past the buffers: stop
			 * the device before it writes anywhere else. */
			give_up(vb, "protocol violation", -EIO, virtio_reset(&vb->vdev) == 0);
			return -EIO;
		}
		struct blk_request *r = vb->owner[id];
		vb->owner[id] = NULL;
		vb->in_flight--;
		/* len counts the bytes the device wrote from the first writable
		 * buffer on; nothing past it may be trusted (spec 2.7.8.1).  The
		 * status byte is the last of them: a shorter len leaves the data
		 * incomplete and the status unwritten, a device error.  A legacy
		 * device's len is not checked (spec 5.2.6.4). */
		int short_len = vb->vq.trust_len && len < vb->want_len[id];
		complete_part(r, short_len ? -EIO : status_to_errno(vb->slots[id].status));
		vb->stats.completions++;
		if (n++ == 0)
			vb->stats.reaps++;
	}
}

static int bring_up(struct virtio_blk *vb, const char **why);

/* The device did not answer in time (err -ETIMEDOUT), or asked to be reset
 * (-EIO): reset it, fail what it held with err, start over.  A device that
 * does not even reset is given up (see give_up). */
static void recover(struct virtio_blk *vb, int err)
{
	const char *why;

	vb->stats.resets++;
	vb->live = 0;
	if (virtio_reset(&vb->vdev) < 0) {
		give_up(vb, "reset failed", -EIO, 0);
		return;
	}
	vb->needs_reset = 0; /* what it asked for is done */
	/* Up again before the old requests fail: their done callbacks may
	 * submit again, and that must reach a live ring (or fail at once). */
	if (bring_up(vb, &why) < 0) {
		vb->broken = 1;
		vb->broken_why = why;
	}
	fail_all(vb, err);
}

/* The device has asked to be reset (config_changed): reset it now; what it
 * held fails with -EIO.  Returns 1 if it did. */
static int reset_if_asked(struct virtio_blk *vb)
{
	if (!vb->needs_reset || vb->broken)
		return 0;
	recover(vb, -EIO);
	return 1;
}

/* Tells the device about what was added, if it wants to be told. */
static void kick(struct virtio_blk *vb)
{
	if (!vb->broken && virtq_kick_prepare(&vb->vq)) {
		vb->stats.notifies++;
		vb->vdev.t->notify(&vb->vdev, 0);
	}
}

/* The kind of a wait for r (NULL: for room in the ring): each kind learns
 * to spin or halt on its own (wait_way.h), because what a halt and a spin
 * cost differs.  A wait with only r's own parts in flight (a drain) leaves
 * the device idle until the CPU wakes: the wake-up is all lost.  Its spin
 * holds the host's CPU for as long as the request takes, so a drain for
 * WAIT_LONG_BYTES or more (WAIT_DRAIN_LONG) is told apart from a short one
 * (WAIT_DRAIN), and has its own spin window.  A wait with more in flight
 * behind it (WAIT_DEEP) loses little to a wake-up, since the device works
 * on meanwhile.  (A file write of 1 MiB requests, four in flight, ends each
 * call with a long drain: under one verdict the deep waits outvoted it, and
 * under the verdict and spin window of 4 KiB reads at queue depth 1 it
 * halted all the same; either way the write lost a tenth of the raw disk's
 * speed.) */
#define WAIT_LONG_BYTES (64u * 1024)

static int wait_kind(const struct virtio_blk *vb, const struct blk_request *r)
{
	if (!r || vb->in_flight > (unsigned)r->parts_left)
		return WAIT_DEEP;
	return (uint64_t)r->count * vb->blk.sector_size >= WAIT_LONG_BYTES ? WAIT_DRAIN_LONG : WAIT_DRAIN;
}

struct wait_ctx {
	struct virtio_blk *vb;
	struct blk_request *r; /* wait for this one, or */
	unsigned room; /* for room for a chain of this many buffers */
	int sleep; /* halt for an interrupt when nothing is done; else look again (poll) */
};

static int ready(void *arg)
{
	struct wait_ctx *w = arg;
	struct virtio_blk *vb = w->vb;

	for (;;) {
		if (reap(vb) < 0 || vb->needs_reset)
			return 1;
		if (w->r ? w->r->complete : virtq_has_room(&vb->vq, w->room))
			return 1;
		if (!w->sleep) {
			vb->stats.spins++;
			return 0;
		}
		/* About to sleep: ask for an interrupt, and look once more in case
		 * the completion landed before the request for it. */
		if (!virtq_enable_irq(&vb->vq)) {
			vb->stats.sleeps++;
			return 0;
		}
	}
}

/* Waits, bounded, for r to complete or for room for a chain of `room`
 * buffers.  In poll mode it spins.  In irq mode it may spin first (see
 * wait_way.h), then halts between interrupts, which are switched off again
 * after (a completion that the waiter reaps anyway needs none). */
static int wait_for(struct virtio_blk *vb, struct blk_request *r, unsigned room)
{
	struct wait_ctx w = {vb, r, room, 0};
	int err;

	kick(vb); /* a notification held for a batch must go before waiting on it */
	vb->stats.waits++;
	uint64_t start = plat_time_ns(), deadline = start + vb->opt.timeout_ns;
	if (!vb->opt.use_irq) {
		err = plat_wait_until(ready, &w, deadline, 0);
	} else {
		struct wait_way *way = &vb->way[wait_kind(vb, r)];
		/* Flushes, discards and the like follow the verdict but stay out
		 * of the trials: their times say nothing about data requests'. */
		int trial = !r || (r->count && (r->op == BLK_READ || r->op == BLK_WRITE));
		uint64_t spin_ns, reaped = vb->stats.completions; /* blkstat clears them, never mid-wait */
		int spin = wait_way_begin(way, trial, &spin_ns);
		err = -ETIMEDOUT;
		if (spin) {
			uint64_t spin_end = start + spin_ns;
			vb->stats.spun++;
			err = plat_wait_until(ready, &w, spin_end < deadline ? spin_end : deadline, 0);
			if (err == 0 && !vb->broken)
				vb->stats.spin_hits++;
		}
		if (err != 0) {
			w.sleep = 1;
			err = plat_wait_until(ready, &w, deadline, 1);
			virtq_disable_irq(&vb->vq);
		}
		wait_way_end(way, trial, spin, plat_time_ns() - start, vb->stats.completions - reaped);
	}
	if (reset_if_asked(vb))
		return -EIO;
	if (err == -ETIMEDOUT)
		recover(vb, -ETIMEDOUT);
	return err;
}

/* Queues one part: header, data segments of at most size_max bytes (or,
 * given seg, the one discard/write-zeroes segment, kept in the slot),
 * status.  Waits for room when the ring is full.  Returns 0 or a negative
 * errno. */
static int queue_part(struct virtio_blk *vb, struct blk_request *r, uint32_t type, uint64_t sector,
		      void *data, uint32_t bytes, int data_writable,
		      const struct virtio_blk_discard_write_zeroes *seg)
{
	struct virtq_buf bufs[VIRTQ_INDIRECT_MAX];
	unsigned n = 1;

	if (seg)
		n++; /* bufs[1] is the slot's segment, filled below */
	for (uint32_t off = 0; off < bytes; n++) {
		uint32_t chunk = bytes - off < vb->size_max ? bytes - off : vb->size_max;
		bufs[n] = (struct virtq_buf){plat_virt_to_phys((uint8_t *)data + off), chunk, data_writable};
		off += chunk;
	}
	n++; /* the status byte */
	while (!virtq_has_room(&vb->vq, n)) {
		int err = wait_for(vb, NULL, n);
		if (err < 0)
			return err;
		/* A device stopped for lying never gives room back: do not wait on. */
		if (vb->broken)
			return -EIO;
	}
	if (vb->broken)
		return -EIO;

	uint16_t id = virtq_next_id(&vb->vq);
	struct virtio_blk_slot *slot = &vb->slots[id];
	slot->hdr = (struct virtio_blk_outhdr){.type = type, .ioprio = 0, .sector = sector};
	slot->status = 0xFF; /* anything but OK, in case the device never writes it */
	bufs[0] = (struct virtq_buf){plat_virt_to_phys(&slot->hdr), sizeof(slot->hdr), 0};
	if (seg) {
		slot->range = *seg;
		bufs[1] = (struct virtq_buf){plat_virt_to_phys(&slot->range), sizeof(slot->range), 0};
	}
	bufs[n - 1] = (struct virtq_buf){plat_virt_to_phys(&slot->status), 1, 1};
	vb->owner[id] = r;
	vb->want_len[id] = (data_writable ? bytes : 0) + 1; /* read data, then status */
	r->parts_left++;
	vb->stats.requests++;
	if (virtq_add(&vb->vq, bufs, n, &id) < 0) { /* room was checked: cannot happen */
		vb->owner[id] = NULL;
		r->parts_left--;
		return -EIO;
	}
	vb->in_flight++;
	return 0;
}

/* DISCARD or WRITE_ZEROES over r's blocks: one segment per virtio request,
 * as many requests as max_sectors (512-byte sectors, 0: no limit) demands.
 * Where a range is split, the split falls on a multiple of `align` sectors
 * when it can, so every piece but the first starts aligned.  One segment
 * each is within any max_*_seg (at least 1 by the specification). */
static int queue_ranges(struct virtio_blk *vb, struct blk_request *r, uint32_t type, uint32_t max_sectors,
			uint32_t align, uint32_t flags)
{
	uint32_t per_block = vb->blk.sector_size / 512;
	uint64_t sector = r->lba * per_block, left = (uint64_t)r->count * per_block;
	uint64_t cap = max_sectors ? max_sectors : UINT32_MAX;
	int err = 0;

	cap -= cap % per_block; /* whole logical blocks only */
	if (cap == 0)
		return -ENOTSUP; /* the device cannot take even one block */
	while (left && !err) {
		uint64_t n = left < cap ? left : cap;
		if (n < left && align > 1) {
			uint64_t end = sector + n, aligned = end - end % align;
			uint64_t cut = aligned > sector ? aligned - sector : 0;
			cut -= cut % per_block;
			if (cut)
				n = cut;
		}
		struct virtio_blk_discard_write_zeroes seg = {sector, (uint32_t)n, flags};
		err = queue_part(vb, r, type, 0, NULL, 0, 0, &seg);
		sector += n;
		left -= n;
	}
	return err;
}

/* Splits r into parts and queues them all, then notifies the device once
 * (or, with BLK_F_MORE, leaves that to whatever comes next).
 * If queuing fails part way, the parts already queued still complete and
 * carry the error (r->status) to the caller through the normal path. */
static int vblk_submit(struct blk_device *dev, struct blk_request *r)
{
	struct virtio_blk *vb = dev->priv;
	uint32_t per_block = dev->sector_size / 512;
	int err = 0;

	reset_if_asked(vb); /* before queuing: this request was never sent to it */
	if (vb->broken)
		return -EIO;
	r->parts_left = 1; /* held until every part is queued */
	if (r->op == BLK_READ || r->op == BLK_WRITE) {
		uint64_t total = (uint64_t)r->count * dev->sector_size;
		for (uint64_t off = 0; off < total && !err;) {
			uint32_t bytes =
				total - off < vb->part_bytes ? (uint32_t)(total - off) : vb->part_bytes;
			uint64_t sector = (r->lba + off / dev->sector_size) * per_block;
			err = queue_part(vb, r, r->op == BLK_READ ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
					 sector, (uint8_t *)r->buf + off, bytes, r->op == BLK_READ, NULL);
			off += bytes;
		}
	} else if (r->op == BLK_FLUSH) {
		if (virtio_has(&vb->vdev, VIRTIO_BLK_F_FLUSH))
			err = queue_part(vb, r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0, NULL);
	} else if (r->op == BLK_DISCARD) {
		err = !virtio_has(&vb->vdev, VIRTIO_BLK_F_DISCARD)
			      ? -ENOTSUP
			      : queue_ranges(vb, r, VIRTIO_BLK_T_DISCARD, vb->max_discard_sectors,
					     vb->discard_alignment, 0);
	} else {
		/* Unmapping is asked for when the device says it may do it
		 * (write_zeroes_may_unmap); zeroes read back either way. */
		err = !virtio_has(&vb->vdev, VIRTIO_BLK_F_WRITE_ZEROES)
			      ? -ENOTSUP
			      : queue_ranges(vb, r, VIRTIO_BLK_T_WRITE_ZEROES, vb->max_write_zeroes_sectors,
					     0, vb->write_zeroes_may_unmap ? VIRTIO_BLK_WZ_UNMAP : 0);
	}
	/* Without BLK_F_MORE the batch ends here: what earlier submits held
	 * goes out even if this one failed (kick sends nothing if nothing was
	 * added). */
	if (!(r->flags & BLK_F_MORE))
		kick(vb);
	complete_part(r, err);
	return 0;
}

static int vblk_poll(struct blk_device *dev)
{
	struct virtio_blk *vb = dev->priv;

	kick(vb);
	return reap(vb);
}

static int vblk_wait(struct blk_device *dev, struct blk_request *r)
{
	struct virtio_blk *vb = dev->priv;

	if (!r->complete)
		wait_for(vb, r, 0);
	if (r->complete)
		return r->status;
	return vb->broken ? -EIO : -ETIMEDOUT;
}

static const struct blk_ops vblk_ops = {
	.submit = vblk_submit,
	.poll = vblk_poll,
	.wait = vblk_wait,
};

/* Reads the field at off into *p if feature `bit` was negotiated (bit < 0:
 * always), unless an earlier read failed (*err). */
static void cfg_field(struct virtio_blk *vb, int bit, unsigned off, void *p, unsigned width, int *err)
{
	if (*err == 0 && (bit < 0 || virtio_has(&vb->vdev, (unsigned)bit)))
		*err = virtio_read_config(&vb->vdev, off, p, width);
}

/* The device's configuration changed.  What a device changes by itself is
 * its capacity (a disk resized on the host) and, with CONFIG_WCE, its
 * write-cache mode: the block layer sees them at once (single stores that
 * blk_submit() and blk_flush() load once).  A cache once seen is flushed
 * from then on: data written while it was on may still sit in it.  A
 * device that has set DEVICE_NEEDS_RESET says so the same way (spec 2.1.2):
 * the next submit, or the wait in progress, resets it, and what it held
 * fails with -EIO.  Nothing is read while the device is not live (before
 * DRIVER_OK, being reset, given up): bring_up() looks again after. */
static void config_changed(struct virtio_blk *vb)
{
	uint64_t capacity;
	uint8_t writeback = vb->writeback;
	int err = 0;

	vb->stats.config_changes++;
	if (!vb->live)
		return;
	if (vb->vdev.t->modern && (vb->vdev.t->get_status(&vb->vdev) & VIRTIO_STATUS_NEEDS_RESET)) {
		vb->needs_reset = 1;
		return;
	}
	cfg_field(vb, -1, VIRTIO_BLK_CFG_CAPACITY, &capacity, 8, &err);
	cfg_field(vb, VIRTIO_BLK_F_CONFIG_WCE, VIRTIO_BLK_CFG_WRITEBACK, &writeback, 1, &err);
	if (err < 0)
		return;
	vb->capacity = capacity;
	__atomic_store_n(&vb->blk.sectors, capacity / (vb->blk.sector_size / 512), __ATOMIC_RELAXED);
	vb->writeback = writeback;
	if (writeback && virtio_has(&vb->vdev, VIRTIO_BLK_F_FLUSH))
		__atomic_store_n(&vb->blk.has_flush, 1, __ATOMIC_RELAXED);
}

static void msix_interrupt(void *arg)
{
	struct virtio_blk *vb = arg;

	vb->stats.interrupts++; /* waking the halted waiter is all it takes */
}

static void msix_config_interrupt(void *arg) { config_changed(arg); }

/* INTx lines are shared: the ISR status says whether this device raised
 * it (bit 0: the queue; bit 1: configuration, which QEMU sends with bit 0
 * set too), and reading it lowers the device's (level-triggered) line. */
static void intx_interrupt(void *arg)
{
	struct virtio_blk *vb = arg;
	uint8_t isr = vb->vdev.t->isr(&vb->vdev);

	if (isr)
		vb->stats.interrupts++;
	if (isr & 2)
		config_changed(vb);
}

/* Interrupts.  MSI-X, where the device has two entries or more: entry 1
 * for configuration changes, in either mode (a polled queue still learns of
 * a resize), and in irq mode entry 0 for queue 0.  Otherwise INTx through
 * the IOAPIC serves both (the ISR status tells them apart), and without
 * that an irq-mode driver polls after all.  A polled queue asks for no
 * completion interrupts.  The platform cannot take a vector back, so none
 * is asked for that might go unused: the queue's first (without it MSI-X
 * is not used in irq mode), then the configuration's (without it an
 * irq-mode queue keeps MSI-X and does without resize news).  Only a device
 * that then refuses its configuration vector leaves one CPU vector unused:
 * at most one per device. */
static void setup_interrupts(struct virtio_blk *vb)
{
	struct pci_device *pci = vb->vdev.pci;
	int want_irq = vb->opt.use_irq, msix = pci && pci_msix_init(pci, &vb->msix) == 0;
	uint64_t addr;
	uint32_t data;

	vb->mode = "poll";
	vb->opt.use_irq = 0;
	vb->config_vector = VIRTIO_NO_VECTOR;
	if (msix && vb->msix.table_size >= 2 &&
	    (!want_irq || plat_msi_alloc(msix_interrupt, vb, &addr, &data) == 0)) {
		if (want_irq) {
			pci_msix_set(&vb->msix, 0, addr, data);
			vb->mode = "msix";
			vb->opt.use_irq = 1;
		}
		if (plat_msi_alloc(msix_config_interrupt, vb, &addr, &data) == 0) {
			pci_msix_set(&vb->msix, 1, addr, data);
			vb->config_vector = 1;
		}
		if (want_irq || vb->config_vector == 1) {
			pci_msix_enable(pci, &vb->msix, 1);
			vb->vdev.t->msix_changed(&vb->vdev, 1);
			return;
		}
	}
	if (msix)
		pci_msix_enable(pci, &vb->msix, 0); /* firmware may have left it on: INTx is off then */
	if (pci && pci->irq_pin && pci->irq_line != 0xFF &&
	    plat_intx_attach(pci->irq_line, intx_interrupt, vb) == 0 && want_irq) {
		vb->mode = "intx";
		vb->opt.use_irq = 1;
	}
}

/* Returns 0, or a negative errno when the configuration cannot be read. */
static int read_config(struct virtio_blk *vb)
{
	struct virtio_dev *d = &vb->vdev;
	uint32_t blk_size = 512;
	int err = 0;

	vb->config_gen = d->t->config_generation(d); /* bring_up() looks again after DRIVER_OK */
	vb->size_max = vb->seg_max = 0;
	vb->cylinders = vb->heads = vb->sectors_per_track = 0;
	vb->physical_block_exp = vb->alignment_offset = 0;
	vb->min_io_size = 0;
	vb->opt_io_size = 0;
	vb->max_discard_sectors = vb->max_discard_seg = vb->discard_alignment = 0;
	vb->max_write_zeroes_sectors = vb->max_write_zeroes_seg = 0;
	vb->write_zeroes_may_unmap = 0;
	/* Without CONFIG_WCE a device with FLUSH is taken to cache writes. */
	vb->writeback = (uint8_t)virtio_has(d, VIRTIO_BLK_F_FLUSH);
	cfg_field(vb, -1, VIRTIO_BLK_CFG_CAPACITY, &vb->capacity, 8, &err);
	cfg_field(vb, VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_CFG_SIZE_MAX, &vb->size_max, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_CFG_SEG_MAX, &vb->seg_max, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_GEOMETRY, VIRTIO_BLK_CFG_CYLINDERS, &vb->cylinders, 2, &err);
	cfg_field(vb, VIRTIO_BLK_F_GEOMETRY, VIRTIO_BLK_CFG_HEADS, &vb->heads, 1, &err);
	cfg_field(vb, VIRTIO_BLK_F_GEOMETRY, VIRTIO_BLK_CFG_SECTORS, &vb->sectors_per_track, 1, &err);
	cfg_field(vb, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_CFG_BLK_SIZE, &blk_size, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_TOPOLOGY, VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, &vb->physical_block_exp, 1,
		  &err);
	cfg_field(vb, VIRTIO_BLK_F_TOPOLOGY, VIRTIO_BLK_CFG_ALIGNMENT_OFFSET, &vb->alignment_offset, 1, &err);
	cfg_field(vb, VIRTIO_BLK_F_TOPOLOGY, VIRTIO_BLK_CFG_MIN_IO_SIZE, &vb->min_io_size, 2, &err);
	cfg_field(vb, VIRTIO_BLK_F_TOPOLOGY, VIRTIO_BLK_CFG_OPT_IO_SIZE, &vb->opt_io_size, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_CONFIG_WCE, VIRTIO_BLK_CFG_WRITEBACK, &vb->writeback, 1, &err);
	cfg_field(vb, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, &vb->max_discard_sectors, 4,
		  &err);
	cfg_field(vb, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, &vb->max_discard_seg, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, &vb->discard_alignment,
		  4, &err);
	cfg_field(vb, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS,
		  &vb->max_write_zeroes_sectors, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG,
		  &vb->max_write_zeroes_seg, 4, &err);
	cfg_field(vb, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP,
		  &vb->write_zeroes_may_unmap, 1, &err);
	if (err < 0)
		return err;

	vb->blk.sector_size = blk_size;
	vb->blk.sectors = vb->capacity / (blk_size / 512);
	vb->blk.read_only = virtio_has(d, VIRTIO_BLK_F_RO);
	/* Flush only a volatile cache: FLUSH, and writeback not known to be 0.
	 * A cache seen before a reset stays flushed: a device that comes back
	 * write-through (spec 5.2.6.2 lets it) may still hold what was
	 * written while it cached. */
	vb->blk.has_flush = virtio_has(d, VIRTIO_BLK_F_FLUSH) && (vb->writeback || vb->blk.has_flush);
	return 0;
}

/* How big one part may be: data segments are bounded by SEG_MAX and by the
 * chain the ring allows (less header and status; bring_up made sure it
 * holds at least 3), each by SIZE_MAX. */
static int size_parts(struct virtio_blk *vb)
{
	unsigned segs = virtq_max_chain(&vb->vq) - 2;
	if (vb->seg_max && vb->seg_max < segs)
		segs = vb->seg_max;
	if (segs > VIRTQ_INDIRECT_MAX - 2)
		segs = VIRTQ_INDIRECT_MAX - 2; /* our bufs[] on the stack */
	if (!vb->size_max || vb->size_max > PART_MAX_BYTES)
		vb->size_max = PART_MAX_BYTES;
	uint64_t bytes = (uint64_t)segs * vb->size_max;
	if (bytes > PART_MAX_BYTES)
		bytes = PART_MAX_BYTES;
	bytes -= bytes % vb->blk.sector_size;
	if (bytes == 0)
		return -EINVAL;
	vb->part_bytes = (uint32_t)bytes;
	return 0;
}

/* Everything between reset and DRIVER_OK; also the way back after a reset. */
static int bring_up(struct virtio_blk *vb, const char **why)
{
	struct virtio_dev *d = &vb->vdev;
	int err = virtio_negotiate(d, virtio_blk_wanted_features(&vb->opt));

	if (err < 0) {
		*why = err == -ENODEV ? "reset did not complete" : "device refused our features";
		return err;
	}
	if (read_config(vb) < 0) {
		*why = "device configuration unreadable or never settles";
		goto fail;
	}
	if (vb->blk.sector_size < 512 || vb->blk.sector_size > 65536 ||
	    (vb->blk.sector_size & (vb->blk.sector_size - 1))) {
		*why = "bad logical block size";
		goto fail;
	}
	unsigned max = d->t->queue_max(d, 0);
	unsigned size = max < VIRTQ_MAX ? max : VIRTQ_MAX;
	int packed = virtio_has(d, VIRTIO_F_RING_PACKED);
	if (!packed)
		while (size & (size - 1))
			size &= size - 1; /* split rings are a power of two */
	if (size == 0 || (!d->t->modern && size != max)) {
		*why = "queue 0 missing or larger than this driver supports";
		goto fail;
	}
	err = virtq_init(&vb->vq, size, packed, virtio_has(d, VIRTIO_F_EVENT_IDX),
			 virtio_has(d, VIRTIO_F_INDIRECT_DESC), vb->ring_mem,
			 plat_virt_to_phys(vb->ring_mem));
	/* Spec 5.2.6.4: through the legacy interface, used lengths are not
	 * to be relied on (some devices count the whole chain). */
	vb->vq.trust_len = d->t->modern;
	/* A request is at least three buffers (header, data, status): a chain
	 * that cannot hold them (a ring of 1 or 2 descriptors without indirect
	 * tables) could carry no read or write at all. */
	if (err == 0 && virtq_max_chain(&vb->vq) < 3) {
		*why = "queue too small for a request (3 descriptors)";
		goto fail;
	}
	if (err == 0)
		err = size_parts(vb);
	if (err < 0) {
		*why = "cannot lay out the queue";
		goto fail;
	}
	uint64_t desc, driver, device;
	virtq_addrs(&vb->vq, &desc, &driver, &device);
	uint16_t vector = strcmp(vb->mode, "msix") == 0 ? 0 : VIRTIO_NO_VECTOR;
	/* A device that refuses the configuration vector (it reads back
	 * NO_VECTOR) still works: it just cannot tell of a resize. */
	if (d->t->set_config_vector(d, vb->config_vector) < 0)
		vb->config_vector = VIRTIO_NO_VECTOR;
	if (d->t->queue_setup(d, 0, size, desc, driver, device, vector) < 0) {
		*why = "queue set-up refused";
		goto fail;
	}
	virtq_disable_irq(&vb->vq); /* a wait asks for interrupts when it sleeps */
	virtio_driver_ok(d);
	vb->broken = 0;
	vb->broken_why = NULL;
	vb->live = 1;
	/* A change since read_config() was not announced: the device may not
	 * notify before DRIVER_OK (spec 2.1.2). */
	if (d->t->config_generation(d) != vb->config_gen)
		config_changed(vb);
	return 0;
fail:
	virtio_fail(d);
	return -EIO;
}

static void get_id(struct virtio_blk *vb)
{
	static _Alignas(64) char id[VIRTIO_BLK_ID_BYTES];
	struct blk_request r = {.op = BLK_READ};

	memset(id, 0, sizeof(id));
	r.parts_left = 1;
	int err = queue_part(vb, &r, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), 1, NULL);
	if (err == 0) {
		kick(vb);
		complete_part(&r, 0);
		err = vblk_wait(&vb->blk, &r);
	}
	/* The serial is up to 20 bytes, NUL-terminated only if shorter. */
	if (err == 0)
		memcpy(vb->serial, id, sizeof(id));
	vb->serial[VIRTIO_BLK_ID_BYTES] = '\0';
}

int virtio_blk_start(struct virtio_blk *vb, const struct virtio_blk_options *opt, void *ring_mem,
		     struct virtio_blk_slot *slots, const char **why)
{
	vb->opt = *opt;
	if (!vb->opt.timeout_ns)
		vb->opt.timeout_ns = DEFAULT_TIMEOUT_NS;
	vb->ring_mem = ring_mem;
	vb->slots = slots;
	memset(vb->owner, 0, sizeof(vb->owner));
	vb->in_flight = 0;
	vb->live = vb->needs_reset = 0;
	memset(&vb->stats, 0, sizeof(vb->stats));
	vb->serial[0] = '\0';
	/* Reset first, so a device the firmware left running stops before its
	 * interrupts are rewired. */
	if (virtio_reset(&vb->vdev) < 0) {
		virtio_fail(&vb->vdev);
		*why = "reset did not complete";
		return -ENODEV;
	}
	setup_interrupts(vb);
	int err = bring_up(vb, why);
	if (err < 0)
		return err;
	vb->blk.ops = &vblk_ops;
	vb->blk.priv = vb;
	get_id(vb);
	return 0;
}

static struct virtio_blk devices[VIRTIO_BLK_MAX_DEVICES];
static _Alignas(4096) uint8_t rings[VIRTIO_BLK_MAX_DEVICES][VIRTQ_MEM_MAX];
static _Alignas(64) struct virtio_blk_slot slots[VIRTIO_BLK_MAX_DEVICES][VIRTQ_MAX];
static int ndevices;

static struct virtio_dev *slot_dev(int i)
{
	memset(&devices[i], 0, sizeof(devices[i]));
	return &devices[i].vdev;
}

static int slot_start(int i, const void *opt, const char **why)
{
	struct virtio_blk *vb = &devices[i];
	int err = virtio_blk_start(vb, opt, rings[i], slots[i], why);

	if (err == 0 && (err = blk_register(&vb->blk)) < 0) {
		*why = "too many block devices";
		vb->live = 0;
		if (virtio_reset(&vb->vdev) < 0)
			virtio_fail(&vb->vdev);
	}
	return err;
}

static int slot_kept(int i) { return devices[i].mode != NULL; }

int virtio_blk_probe_all(const struct virtio_blk_options *opt,
			 void (*report)(const struct pci_device *pci, int err, const char *why))
{
	static const struct virtio_probe probe = {
		0x1001,
		0x1042,
		"too many virtio-blk devices",
		VIRTIO_BLK_MAX_DEVICES,
		&ndevices,
		slot_dev,
		slot_start,
		slot_kept,
	};

	return virtio_pci_probe(&probe, opt, report);
}

struct virtio_blk *virtio_blk_of(struct blk_device *dev)
{
	return dev && dev->ops == &vblk_ops ? dev->priv : NULL;
}
