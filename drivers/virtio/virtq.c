/*
 * Virtqueue entry points: memory layout, the checks both ring layouts share,
 * and dispatch to virtq_split.c or virtq_packed.c.
 */
#include "drivers/virtio/virtq.h"

#include <errno.h>
#include <string.h>

#include "drivers/virtio/virtq_internal.h"

size_t virtq_mem_size(unsigned size, int packed) { return VIRTQ_MEM_SIZE(size, packed); }

int virtq_init(struct virtq *vq, unsigned size, int packed, int event_idx, int indirect, void *mem,
	       uint64_t mem_phys)
{
	if (size == 0 || size > VIRTQ_MAX || (!packed && (size & (size - 1))))
		return -EINVAL;
	memset(mem, 0, virtq_mem_size(size, packed));
	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->packed = packed;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->mem = mem;
	vq->mem_phys = mem_phys;
	uint8_t *m = mem;
	void *tables = m + VIRTQ_RINGS_SIZE(size, packed);
	if (packed) {
		vq->ring = (struct pvirtq_desc *)m;
		vq->driver_event = (struct pvirtq_event *)(m + 16 * (size_t)size);
		vq->device_event = vq->driver_event + 1;
		vq->indirect_packed = tables;
		virtq_packed_init(vq);
	} else {
		vq->desc = (struct virtq_desc *)m;
		vq->avail = (struct virtq_avail *)(m + 16 * (size_t)size);
		vq->used = (struct virtq_used *)(m + VIRTQ_SPLIT_USED_OFFSET(size));
		vq->indirect_split = tables;
		virtq_split_init(vq);
	}
	return 0;
}

void virtq_addrs(const struct virtq *vq, uint64_t *desc, uint64_t *driver, uint64_t *device)
{
	uint64_t base = vq->mem_phys;

	*desc = base;
	if (vq->packed) {
		*driver = base + 16 * (uint64_t)vq->size;
		*device = *driver + sizeof(struct pvirtq_event);
	} else {
		*driver = base + 16 * (uint64_t)vq->size;
		*device = base + VIRTQ_SPLIT_USED_OFFSET(vq->size);
	}
}

/* No chain may be longer than the queue, counting the descriptors of an
 * indirect table (spec 2.7.5.3.1; packed: "Driver Requirements:
 * Scatter-Gather Support"). */
unsigned virtq_max_chain(const struct virtq *vq)
{
	if (vq->indirect && vq->size > VIRTQ_INDIRECT_MAX)
		return VIRTQ_INDIRECT_MAX;
	return vq->size;
}

uint32_t virtq_writable_bytes(const struct virtq_buf *bufs, unsigned n)
{
	uint32_t total = 0;

	for (unsigned i = 0; i < n; i++)
		if (bufs[i].writable)
			total += bufs[i].len;
	return total;
}

int virtq_retire(struct virtq *vq, uint32_t id, uint32_t len)
{
	if (id >= vq->size || !vq->in_flight[id])
		return -EIO;
	vq->in_flight[id] = 0;
	return vq->trust_len && len > vq->writable_len[id] ? -EMSGSIZE : 0;
}

int virtq_has_room(const struct virtq *vq, unsigned n)
{
	unsigned need = vq->indirect && n > 1 ? 1 : n;

	return vq->num_free >= need && (!vq->packed || vq->nfree_ids > 0);
}

uint16_t virtq_next_id(const struct virtq *vq)
{
	if (vq->packed)
		return vq->nfree_ids ? vq->free_ids[vq->nfree_ids - 1] : 0;
	return vq->free_head;
}

int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id)
{
	if (n == 0 || n > virtq_max_chain(vq))
		return -EINVAL;
	return vq->packed ? virtq_packed_add(vq, bufs, n, id) : virtq_split_add(vq, bufs, n, id);
}

int virtq_kick_prepare(struct virtq *vq)
{
	if (vq->added == 0)
		return 0; /* nothing new since the last decision */
	if (vq->added >= vq->size) {
		/* More than a lap: the indices no longer tell which event index
		 * was passed.  A notification too many is harmless. */
		vq->added = 0;
		return 1;
	}
	return vq->packed ? virtq_packed_kick_prepare(vq) : virtq_split_kick_prepare(vq);
}

int virtq_get_used(struct virtq *vq, uint16_t *id, uint32_t *len)
{
	return vq->packed ? virtq_packed_get_used(vq, id, len) : virtq_split_get_used(vq, id, len);
}

int virtq_has_used(const struct virtq *vq)
{
	return vq->packed ? virtq_packed_has_used(vq) : virtq_split_has_used(vq);
}

int virtq_enable_irq(struct virtq *vq)
{
	return vq->packed ? virtq_packed_enable_irq(vq) : virtq_split_enable_irq(vq);
}

void virtq_disable_irq(struct virtq *vq)
{
	if (vq->packed)
		virtq_packed_disable_irq(vq);
	else
		virtq_split_disable_irq(vq);
}
