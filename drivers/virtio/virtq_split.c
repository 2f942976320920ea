/*
 * The split ring.  The driver owns the descriptor table and the available
 * ring; the device owns the used ring.  Free descriptors are linked through
 * vq->next, the driver's own copy of the next fields (the device can write
 * the table: a chain is never walked by reading it back).  Making a chain
 * available is: fill descriptors, put the head in avail->ring, barrier,
 * bump avail->idx.  Reading one back is: see used->idx move, barrier, read
 * the element.  (x86 and virtio are both little-endian, so fields are used
 * as they are.)
 */
#include <errno.h>

#include "drivers/platform.h"
#include "drivers/virtio/virtq_internal.h"

/* The event-index slots sit after each ring; they exist even without
 * VIRTIO_F_EVENT_IDX (the layout does not change). */
static uint16_t *used_event(struct virtq *vq) { return &vq->avail->ring[vq->size]; }
static uint16_t *avail_event(const struct virtq *vq) { return (uint16_t *)&vq->used->ring[vq->size]; }

void virtq_split_init(struct virtq *vq)
{
	for (unsigned i = 0; i < vq->size; i++)
		vq->next[i] = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = vq->size;
}

static void fill(struct virtq_desc *d, const struct virtq_buf *b, uint16_t next, int last)
{
	d->addr = b->addr;
	d->len = b->len;
	d->flags = (uint16_t)((b->writable ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT));
	d->next = last ? 0 : next;
}

int virtq_split_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id)
{
	int use_indirect = vq->indirect && n > 1;
	unsigned need = use_indirect ? 1 : n;

	if (vq->num_free < need)
		return -ENOSPC;
	uint16_t head = vq->free_head;
	if (use_indirect) {
		/* The chain goes in this head's own table; the ring holds one descriptor. */
		struct virtq_desc *table = vq->indirect_split + (size_t)head * VIRTQ_INDIRECT_MAX;
		for (unsigned i = 0; i < n; i++)
			fill(&table[i], &bufs[i], (uint16_t)(i + 1), i == n - 1);
		struct virtq_desc *d = &vq->desc[head];
		vq->free_head = vq->next[head];
		d->addr = plat_virt_to_phys(table);
		d->len = n * (uint32_t)sizeof(*table);
		d->flags = VIRTQ_DESC_F_INDIRECT;
	} else {
		uint16_t i = head;
		for (unsigned k = 0; k < n; k++) {
			uint16_t next = vq->next[i];
			fill(&vq->desc[i], &bufs[k], next, k == n - 1);
			i = next;
		}
		vq->free_head = i;
	}
	vq->num_free -= need;
	vq->chain_len[head] = (uint16_t)need;
	vq->writable_len[head] = virtq_writable_bytes(bufs, n);
	vq->in_flight[head] = 1;

	/* Publish: the ring slot first, then (after a barrier, so the device
	 * never sees the index before the slot) the index. */
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	plat_wmb();
	vq->avail_idx++;
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
	vq->added++;
	*id = head;
	return 0;
}

int virtq_split_kick_prepare(struct virtq *vq)
{
	uint16_t new_idx = vq->avail_idx;
	uint16_t old_idx = (uint16_t)(new_idx - vq->added);

	vq->added = 0;
	/* Our index store must be visible before we read the device's wishes. */
	plat_mb();
	if (vq->event_idx)
		return vring_need_event(READ_ONCE(*avail_event(vq)), new_idx, old_idx);
	return !(READ_ONCE(vq->used->flags) & VIRTQ_USED_F_NO_NOTIFY);
}

int virtq_split_has_used(const struct virtq *vq) { return READ_ONCE(vq->used->idx) != vq->last_used; }

int virtq_split_get_used(struct virtq *vq, uint16_t *id, uint32_t *len)
{
	if (!virtq_split_has_used(vq))
		return 0;
	plat_rmb(); /* the element is read only after the index that covers it */
	struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
	uint32_t eid = READ_ONCE(e->id), elen = READ_ONCE(e->len);
	int rc = virtq_retire(vq, eid, elen);
	if (rc == -EIO)
		return rc;
	vq->last_used++;

	/* Give the chain's descriptors back: to its tail by our own links, and
	 * the whole chain onto the front of the free list. */
	uint16_t tail = (uint16_t)eid;
	for (unsigned k = 1; k < vq->chain_len[eid]; k++)
		tail = vq->next[tail];
	vq->next[tail] = vq->free_head;
	vq->free_head = (uint16_t)eid;
	vq->num_free += vq->chain_len[eid];
	*id = (uint16_t)eid;
	*len = elen;
	return rc < 0 ? rc : 1;
}

int virtq_split_enable_irq(struct virtq *vq)
{
	if (vq->event_idx)
		WRITE_ONCE(*used_event(vq), vq->last_used); /* interrupt at the next one */
	else
		WRITE_ONCE(vq->avail->flags, 0);
	plat_mb(); /* publish before checking, or a completion could slip past */
	return virtq_split_has_used(vq);
}

void virtq_split_disable_irq(struct virtq *vq)
{
	if (vq->event_idx) /* an index the device will not reach for 2^15 completions */
		WRITE_ONCE(*used_event(vq), (uint16_t)(vq->last_used + 0x8000));
	else
		WRITE_ONCE(vq->avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
}
