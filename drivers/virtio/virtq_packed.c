/*
 * The packed ring (VIRTIO_F_RING_PACKED).  One array of descriptors serves
 * both directions: the driver writes chains at next_avail, the device
 * overwrites them with used descriptors in the order it finishes, and both
 * sides tell old entries from new by wrap counters that flip each time an
 * index passes the end of the ring.  A descriptor is available when its
 * AVAIL bit equals the driver's wrap counter and its USED bit does not; it
 * is used when both bits equal the used wrap counter.  The head of a chain
 * gets its flags last, after a write barrier: that store hands the whole
 * chain to the device.
 */
#include <errno.h>

#include "drivers/platform.h"
#include "drivers/virtio/virtq_internal.h"

void virtq_packed_init(struct virtq *vq)
{
	vq->avail_wrap = 1;
	vq->used_wrap = 1;
	vq->num_free = vq->size;
	for (unsigned i = 0; i < vq->size; i++)
		vq->free_ids[i] = (uint16_t)(vq->size - 1 - i);
	vq->nfree_ids = vq->size;
}

static uint16_t avail_flags(int wrap) { return (uint16_t)(wrap ? PVIRTQ_DESC_F_AVAIL : PVIRTQ_DESC_F_USED); }

/* Steps next_avail, flipping the wrap counter at the end of the ring. */
static void advance_avail(struct virtq *vq)
{
	if (++vq->next_avail == vq->size) {
		vq->next_avail = 0;
		vq->avail_wrap ^= 1;
	}
}

int virtq_packed_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id_out)
{
	int use_indirect = vq->indirect && n > 1;
	unsigned need = use_indirect ? 1 : n;

	if (vq->num_free < need || vq->nfree_ids == 0)
		return -ENOSPC;
	uint16_t id = vq->free_ids[--vq->nfree_ids];
	uint16_t head = vq->next_avail;
	uint16_t head_flags;

	if (use_indirect) {
		struct pvirtq_desc *table = vq->indirect_packed + (size_t)id * VIRTQ_INDIRECT_MAX;
		for (unsigned i = 0; i < n; i++) {
			table[i].addr = bufs[i].addr;
			table[i].len = bufs[i].len;
			table[i].id = 0;
			table[i].flags = bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0;
		}
		struct pvirtq_desc *d = &vq->ring[head];
		d->addr = plat_virt_to_phys(table);
		d->len = n * (uint32_t)sizeof(*table);
		d->id = id;
		head_flags = (uint16_t)(VIRTQ_DESC_F_INDIRECT | avail_flags(vq->avail_wrap));
		advance_avail(vq);
	} else {
		head_flags = 0;
		for (unsigned k = 0; k < n; k++) {
			struct pvirtq_desc *d = &vq->ring[vq->next_avail];
			uint16_t f =
				(uint16_t)((bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0) |
					   (k < n - 1 ? VIRTQ_DESC_F_NEXT : 0) | avail_flags(vq->avail_wrap));
			d->addr = bufs[k].addr;
			d->len = bufs[k].len;
			d->id = id;
			if (k == 0)
				head_flags = f;
			else
				WRITE_ONCE(d->flags, f);
			advance_avail(vq);
		}
	}
	vq->num_free -= need;
	vq->chain_len[id] = (uint16_t)need;
	vq->writable_len[id] = virtq_writable_bytes(bufs, n);
	vq->in_flight[id] = 1;
	vq->added += need;
	plat_wmb(); /* the rest of the chain before the head that publishes it */
	WRITE_ONCE(vq->ring[head].flags, head_flags);
	*id_out = id;
	return 0;
}

int virtq_packed_kick_prepare(struct virtq *vq)
{
	uint16_t new_idx = vq->next_avail;
	uint16_t old_idx = (uint16_t)(new_idx - vq->added);

	vq->added = 0;
	plat_mb(); /* our descriptors visible before we read the device's wishes */
	uint16_t flags = READ_ONCE(vq->device_event->flags);
	if (!vq->event_idx || flags != PVIRTQ_EVENT_DESC)
		return flags != PVIRTQ_EVENT_DISABLE;
	uint16_t off_wrap = READ_ONCE(vq->device_event->off_wrap);
	uint16_t event = off_wrap & 0x7FFF;
	/* An event index from the other lap is one ring length behind ours. */
	if ((off_wrap >> 15) != vq->avail_wrap)
		event = (uint16_t)(event - vq->size);
	return vring_need_event(event, new_idx, old_idx);
}

static int is_used(const struct virtq *vq, uint16_t flags)
{
	int avail = !!(flags & PVIRTQ_DESC_F_AVAIL);
	int used = !!(flags & PVIRTQ_DESC_F_USED);

	return avail == used && used == vq->used_wrap;
}

int virtq_packed_has_used(const struct virtq *vq)
{
	return is_used(vq, READ_ONCE(vq->ring[vq->next_used].flags));
}

int virtq_packed_get_used(struct virtq *vq, uint16_t *id, uint32_t *len)
{
	struct pvirtq_desc *d = &vq->ring[vq->next_used];
	uint16_t flags = READ_ONCE(d->flags);

	if (!is_used(vq, flags))
		return 0;
	plat_rmb(); /* id and len only after the flags that say they are valid */
	uint16_t uid = READ_ONCE(d->id);
	/* Without WRITE the length is reserved and ignored (spec 2.8.4): the
	 * chain counts as written in full; unless the driver cannot do
	 * without it (len_without_write). */
	int has_len = (flags & VIRTQ_DESC_F_WRITE) || vq->len_without_write;
	uint32_t ulen = has_len ? READ_ONCE(d->len) : 0;
	int rc = virtq_retire(vq, uid, ulen);
	if (rc == -EIO)
		return rc;
	if (!has_len)
		ulen = vq->writable_len[uid];
	/* The device wrote one used descriptor for the chain; skip all of it. */
	vq->next_used = (uint16_t)(vq->next_used + vq->chain_len[uid]);
	if (vq->next_used >= vq->size) {
		vq->next_used = (uint16_t)(vq->next_used - vq->size);
		vq->used_wrap ^= 1;
	}
	vq->num_free += vq->chain_len[uid];
	vq->free_ids[vq->nfree_ids++] = uid;
	*id = uid;
	*len = ulen;
	return rc < 0 ? rc : 1;
}

int virtq_packed_enable_irq(struct virtq *vq)
{
	if (vq->event_idx) {
		WRITE_ONCE(vq->driver_event->off_wrap, (uint16_t)(vq->next_used | (vq->used_wrap << 15)));
		plat_wmb();
		WRITE_ONCE(vq->driver_event->flags, PVIRTQ_EVENT_DESC);
	} else {
		WRITE_ONCE(vq->driver_event->flags, PVIRTQ_EVENT_ENABLE);
	}
	plat_mb();
	return virtq_packed_has_used(vq);
}

void virtq_packed_disable_irq(struct virtq *vq) { WRITE_ONCE(vq->driver_event->flags, PVIRTQ_EVENT_DISABLE); }
