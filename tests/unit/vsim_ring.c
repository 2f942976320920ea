/*
 * The device's side of a virtqueue, written from the virtio 1.x
 * specification (sections 2.7 and 2.8) the way a device such as QEMU reads
 * it.  It is deliberately strict: whatever the driver publishes that a
 * device could misread (an index that runs ahead, a chain that loops, a
 * nested indirect table, a device-readable buffer after a device-writable
 * one, a packed descriptor whose flags do not match the wrap counter) fails
 * the test on the spot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "drivers/platform.h"
#include "drivers/virtio/virtq_internal.h"
#include "tests/unit/vsim.h"

void vsim_ring_init(struct vsim_ring *r, unsigned size, int packed, int event_idx, uint64_t desc,
		    uint64_t driver, uint64_t device)
{
	memset(r, 0, sizeof(*r));
	r->size = size;
	r->packed = packed;
	r->event_idx = event_idx;
	r->desc = (uint8_t *)(uintptr_t)desc;
	r->driver = (uint8_t *)(uintptr_t)driver;
	r->device = (uint8_t *)(uintptr_t)device;
	r->avail_wrap = r->used_wrap = 1;
}

static void add_seg(struct vsim_chain *c, uint64_t addr, uint32_t len, int writable)
{
	if (c->n == VSIM_MAX_SEGS)
		fail_msg("chain longer than %d buffers", VSIM_MAX_SEGS);
	if (c->n && c->seg[c->n - 1].writable && !writable)
		fail_msg("device-readable buffer after a device-writable one (spec 2.7.4.2)");
	if (addr == 0 || len == 0)
		fail_msg("buffer %u of the chain has address %#llx length %u", c->n, (unsigned long long)addr,
			 len);
	c->seg[c->n++] = (struct vsim_seg){(uint8_t *)(uintptr_t)addr, len, writable};
}

/* An indirect table: its entries, linked by NEXT (split) or in order (packed). */
static void walk_split_table(struct vsim_chain *c, const struct virtq_desc *t, unsigned n, unsigned first)
{
	unsigned i = first;

	for (unsigned k = 0;; k++) {
		if (k == n)
			fail_msg("descriptor chain loops");
		const struct virtq_desc *d = &t[i];
		if (d->flags & VIRTQ_DESC_F_INDIRECT)
			fail_msg("indirect descriptor inside a chain or table (spec 2.7.5.3.1)");
		add_seg(c, d->addr, d->len, !!(d->flags & VIRTQ_DESC_F_WRITE));
		if (!(d->flags & VIRTQ_DESC_F_NEXT))
			return;
		i = d->next;
		if (i >= n)
			fail_msg("next %u is outside the table of %u", i, n);
	}
}

static int pop_split(struct vsim_ring *r, struct vsim_chain *c)
{
	struct virtq_avail *avail = (struct virtq_avail *)r->driver;
	uint16_t idx = READ_ONCE(avail->idx);

	if (idx == r->last_avail)
		return 0;
	if ((uint16_t)(idx - r->last_avail) > r->size)
		fail_msg("avail idx %u is more than a ring ahead of %u", idx, r->last_avail);
	plat_rmb();
	uint16_t head = READ_ONCE(avail->ring[r->last_avail % r->size]);
	r->last_avail++;
	if (head >= r->size)
		fail_msg("avail ring names descriptor %u of %u", head, r->size);
	const struct virtq_desc *desc = (const struct virtq_desc *)r->desc;
	memset(c, 0, offsetof(struct vsim_chain, seg));
	c->id = head;
	if (desc[head].flags & VIRTQ_DESC_F_INDIRECT) {
		if (desc[head].flags & VIRTQ_DESC_F_NEXT)
			fail_msg("indirect descriptor with NEXT (spec 2.7.5.3.1)");
		if (desc[head].len == 0 || desc[head].len % 16)
			fail_msg("indirect table of %u bytes", desc[head].len);
		c->indirect = 1;
		c->ndescs = 1;
		r->indirect_seen++;
		walk_split_table(c, (const struct virtq_desc *)(uintptr_t)desc[head].addr,
				 desc[head].len / 16, 0);
		if (c->n > r->size)
			fail_msg("indirect chain of %u longer than the queue of %u (spec 2.7.5.3.1)", c->n,
				 r->size);
	} else {
		walk_split_table(c, desc, r->size, head);
		c->ndescs = (uint16_t)c->n;
	}
	r->chains_seen++;
	return 1;
}

static int avail_at(const struct vsim_ring *r, uint16_t flags, int wrap)
{
	(void)r;
	return !!(flags & PVIRTQ_DESC_F_AVAIL) == wrap && !!(flags & PVIRTQ_DESC_F_USED) != wrap;
}

static void step_avail(struct vsim_ring *r)
{
	if (++r->avail_pos == r->size) {
		r->avail_pos = 0;
		r->avail_wrap ^= 1;
	}
}

static int pop_packed(struct vsim_ring *r, struct vsim_chain *c)
{
	struct pvirtq_desc *ring = (struct pvirtq_desc *)r->desc;

	if (!avail_at(r, READ_ONCE(ring[r->avail_pos].flags), r->avail_wrap))
		return 0;
	plat_rmb();
	memset(c, 0, offsetof(struct vsim_chain, seg));
	const struct pvirtq_desc *d = &ring[r->avail_pos];
	if (d->flags & VIRTQ_DESC_F_INDIRECT) {
		if (d->flags & VIRTQ_DESC_F_NEXT)
			fail_msg("packed indirect descriptor with NEXT");
		if (d->len == 0 || d->len % 16)
			fail_msg("indirect table of %u bytes", d->len);
		const struct pvirtq_desc *t = (const struct pvirtq_desc *)(uintptr_t)d->addr;
		for (unsigned i = 0; i < d->len / 16; i++) {
			if (t[i].flags & VIRTQ_DESC_F_INDIRECT)
				fail_msg("indirect descriptor inside an indirect table");
			add_seg(c, t[i].addr, t[i].len, !!(t[i].flags & VIRTQ_DESC_F_WRITE));
		}
		if (c->n > r->size)
			fail_msg("indirect chain of %u longer than the queue of %u", c->n, r->size);
		c->id = d->id;
		c->indirect = 1;
		c->ndescs = 1;
		r->indirect_seen++;
		step_avail(r);
	} else {
		for (;;) {
			d = &ring[r->avail_pos];
			if (c->ndescs == r->size)
				fail_msg("packed chain longer than the ring");
			/* Every descriptor of the chain carries this lap's AVAIL/USED bits. */
			if (!avail_at(r, READ_ONCE(d->flags), r->avail_wrap))
				fail_msg("descriptor %u of a chain is not available", r->avail_pos);
			add_seg(c, d->addr, d->len, !!(d->flags & VIRTQ_DESC_F_WRITE));
			c->id = d->id; /* the buffer id is the last descriptor's (spec 2.8.6) */
			c->ndescs++;
			step_avail(r);
			if (!(d->flags & VIRTQ_DESC_F_NEXT))
				break;
		}
	}
	r->chains_seen++;
	return 1;
}

int vsim_ring_pop(struct vsim_ring *r, struct vsim_chain *c)
{
	return r->packed ? pop_packed(r, c) : pop_split(r, c);
}

void vsim_ring_arm_notify(struct vsim_ring *r)
{
	if (r->packed) {
		struct pvirtq_event *dev_event = (struct pvirtq_event *)r->device;
		if (r->no_notify) {
			WRITE_ONCE(dev_event->flags, PVIRTQ_EVENT_DISABLE);
		} else if (r->event_idx) {
			WRITE_ONCE(dev_event->off_wrap, (uint16_t)(r->avail_pos | r->avail_wrap << 15));
			plat_wmb();
			WRITE_ONCE(dev_event->flags, PVIRTQ_EVENT_DESC);
		} else {
			WRITE_ONCE(dev_event->flags, PVIRTQ_EVENT_ENABLE);
		}
	} else {
		struct virtq_used *used = (struct virtq_used *)r->device;
		uint16_t *avail_event = (uint16_t *)&used->ring[r->size];
		if (r->event_idx) /* notify me when you publish past what I have taken */
			WRITE_ONCE(*avail_event, (uint16_t)(r->last_avail + (r->no_notify ? 0x8000 : 0)));
		WRITE_ONCE(used->flags, r->no_notify ? VIRTQ_USED_F_NO_NOTIFY : 0);
	}
	plat_mb();
}

int vsim_ring_push(struct vsim_ring *r, uint16_t id, uint32_t len, uint16_t ndescs)
{
	plat_mb();
	if (r->packed) {
		struct pvirtq_desc *d = &((struct pvirtq_desc *)r->desc)[r->used_pos];
		struct pvirtq_event *drv_event = (struct pvirtq_event *)r->driver;
		/* Every virtio-blk chain ends in the status byte the device wrote. */
		uint16_t write = r->no_write_flag ? 0 : VIRTQ_DESC_F_WRITE;
		d->id = id;
		d->len = len;
		plat_wmb();
		WRITE_ONCE(d->flags,
			   (uint16_t)((r->used_wrap ? PVIRTQ_DESC_F_AVAIL | PVIRTQ_DESC_F_USED : 0) | write));
		plat_mb();
		uint16_t flags = READ_ONCE(drv_event->flags), off_wrap = READ_ONCE(drv_event->off_wrap);
		int irq = flags == PVIRTQ_EVENT_ENABLE ||
			  (flags == PVIRTQ_EVENT_DESC && r->event_idx && (off_wrap & 0x7FFF) == r->used_pos &&
			   (off_wrap >> 15) == r->used_wrap);
		r->used_pos = (uint16_t)(r->used_pos + ndescs);
		if (r->used_pos >= r->size) {
			r->used_pos = (uint16_t)(r->used_pos - r->size);
			r->used_wrap ^= 1;
		}
		return irq;
	}
	struct virtq_used *used = (struct virtq_used *)r->device;
	struct virtq_avail *avail = (struct virtq_avail *)r->driver;
	used->ring[r->used_idx % r->size] = (struct virtq_used_elem){id, len};
	plat_wmb();
	r->used_idx++;
	WRITE_ONCE(used->idx, r->used_idx);
	plat_mb();
	if (r->event_idx)
		return vring_need_event(READ_ONCE(avail->ring[r->size]), r->used_idx,
					(uint16_t)(r->used_idx - 1));
	return !(READ_ONCE(avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
