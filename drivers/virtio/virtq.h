/*
 * Virtqueues: the rings a driver and a virtio device share.  One interface
 * over both layouts of the virtio 1.x specification: the split ring
 * (descriptor table + available ring + used ring) and the packed ring (one
 * ring of descriptors that both sides walk, with wrap counters).
 *
 * A driver adds a buffer chain and gets back an id (< queue size) that the
 * device hands back in the used ring when the chain is done.  All memory is
 * the caller's (static) block of virtq_mem_size() bytes, 4096-aligned.
 */
#ifndef DRIVERS_VIRTIO_VIRTQ_H
#define DRIVERS_VIRTIO_VIRTQ_H

#include <stddef.h>
#include <stdint.h>

#define VIRTQ_MAX 1024 /* largest queue size we set up */
#define VIRTQ_INDIRECT_MAX 8 /* descriptors in one indirect table */

/* Memory layout sizes (see virtq_mem_size). */
#define VIRTQ_ALIGN_UP(x, a) (((x) + (a)-1) / (a) * (a))
#define VIRTQ_SPLIT_USED_OFFSET(n) VIRTQ_ALIGN_UP(16 * (size_t)(n) + 6 + 2 * (size_t)(n), 4096)
#define VIRTQ_RINGS_SIZE(n, packed)                                                                          \
	((packed) ? VIRTQ_ALIGN_UP(16 * (size_t)(n) + 8, 4096)                                               \
		  : VIRTQ_ALIGN_UP(VIRTQ_SPLIT_USED_OFFSET(n) + 6 + 8 * (size_t)(n), 4096))
#define VIRTQ_MEM_SIZE(n, packed) (VIRTQ_RINGS_SIZE(n, packed) + (size_t)(n)*VIRTQ_INDIRECT_MAX * 16)
/* Enough for any queue this code sets up, split or packed. */
#define VIRTQ_MEM_MAX VIRTQ_MEM_SIZE(VIRTQ_MAX, 0)

/* One buffer of a chain: device-readable ones first, then device-writable. */
struct virtq_buf {
	uint64_t addr; /* bus address */
	uint32_t len;
	int writable; /* the device writes it */
};

/* Split ring layout (virtio 1.x section 2.7). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* then used_event */
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* then avail_event */
};
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Packed ring layout (section 2.8). */
struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
#define PVIRTQ_DESC_F_AVAIL (1u << 7)
#define PVIRTQ_DESC_F_USED (1u << 15)

struct pvirtq_event {
	uint16_t off_wrap; /* ring offset, bit 15 = wrap counter */
	uint16_t flags;
};
#define PVIRTQ_EVENT_ENABLE 0
#define PVIRTQ_EVENT_DISABLE 1
#define PVIRTQ_EVENT_DESC 2

/* The notification rule of VIRTIO_F_EVENT_IDX: notify if the other side's
 * event index lies in (old, new], computed modulo 2^16. */
static inline int vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

struct virtq {
	unsigned size;
	int packed;
	int event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
	int indirect; /* VIRTIO_F_INDIRECT_DESC negotiated: chains use one slot */
	int trust_len; /* used lengths are exact (virtio 1.x); a legacy device's
			* may count the whole chain, so they are not checked */
	/* Packed: take a used descriptor's length even without the WRITE flag.
	 * The specification reserves it then (2.8.4), but QEMU writes the
	 * length and never the flag, and a network driver cannot do without
	 * the length of what it received. */
	int len_without_write;
	unsigned num_free; /* free ring descriptors */
	unsigned added; /* split: chains, packed: descriptors added since the last kick decision */

	/* split */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t free_head;
	/* The free list and each chain's links: the driver's own copy of the
	 * descriptors' next fields, which the device could overwrite. */
	uint16_t next[VIRTQ_MAX];
	uint16_t avail_idx; /* our copy of avail->idx */
	uint16_t last_used;

	/* packed */
	struct pvirtq_desc *ring;
	struct pvirtq_event *driver_event; /* we write: when to interrupt us */
	struct pvirtq_event *device_event; /* device writes: when to notify it */
	uint16_t next_avail, next_used;
	int avail_wrap, used_wrap;
	uint16_t free_ids[VIRTQ_MAX];
	unsigned nfree_ids;

	/* per id: ring descriptors used, device-writable bytes, in flight */
	uint16_t chain_len[VIRTQ_MAX];
	uint32_t writable_len[VIRTQ_MAX];
	uint8_t in_flight[VIRTQ_MAX];
	struct virtq_desc *indirect_split; /* [size][VIRTQ_INDIRECT_MAX] */
	struct pvirtq_desc *indirect_packed; /* [size][VIRTQ_INDIRECT_MAX] */

	uint64_t mem_phys;
	void *mem;
};

/* Bytes of 4096-aligned memory a queue of `size` needs (rings, the event
 * slots that exist even without EVENT_IDX, and the indirect tables).  The
 * split layout is the legacy one: used ring on the next 4096 boundary. */
size_t virtq_mem_size(unsigned size, int packed);

/* Lays the rings out in mem (zeroed here) and resets all indices.  size must
 * be a power of two for split rings, any value 1..VIRTQ_MAX for packed.
 * Returns 0 or -EINVAL. */
int virtq_init(struct virtq *vq, unsigned size, int packed, int event_idx, int indirect, void *mem,
	       uint64_t mem_phys);

/* Bus addresses of the three areas, for the transport. */
void virtq_addrs(const struct virtq *vq, uint64_t *desc, uint64_t *driver, uint64_t *device);

/* The most buffers one chain may have. */
unsigned virtq_max_chain(const struct virtq *vq);

/* 1 if a chain of n buffers would fit now. */
int virtq_has_room(const struct virtq *vq, unsigned n);

/* The id the next virtq_add() will return (when there is room), so that a
 * driver can fill the per-id memory its chain points at before adding it. */
uint16_t virtq_next_id(const struct virtq *vq);

/* Makes a chain of n buffers available.  Returns 0 with *id set, -ENOSPC when
 * the ring has no room now (retry after completions), -EINVAL when n can
 * never fit. */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id);

/* After adding: returns 1 if the device wants a notification now (from its
 * flags or event index), 0 if it will look anyway or nothing was added since
 * the last call. */
int virtq_kick_prepare(struct virtq *vq);

/* Takes one used chain: returns 1 with *id and *len (bytes written) set, 0 if
 * none is ready, -EIO if the device returned an id that is out of range or
 * not in flight (nothing is taken: the ring cannot go on), -EMSGSIZE if it
 * claimed more bytes than the chain's writable buffers (with trust_len;
 * the chain is taken back all the same, *id and *len set). */
int virtq_get_used(struct virtq *vq, uint16_t *id, uint32_t *len);

/* 1 if a used chain is waiting (a cheap check, no state changes). */
int virtq_has_used(const struct virtq *vq);

/* Interrupt suppression.  enable asks for an interrupt at the next used
 * chain and returns 1 if one is already there (so do not sleep). */
int virtq_enable_irq(struct virtq *vq);
void virtq_disable_irq(struct virtq *vq);

#endif
