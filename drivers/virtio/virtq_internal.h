/* Shared between virtq.c and the two ring layouts; not for drivers. */
#ifndef DRIVERS_VIRTIO_VIRTQ_INTERNAL_H
#define DRIVERS_VIRTIO_VIRTQ_INTERNAL_H

#include "drivers/virtio/virtq.h"

/* One untorn access to memory the device shares, never cached in a register
 * or merged by the compiler. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

void virtq_split_init(struct virtq *vq);
int virtq_split_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id);
int virtq_split_kick_prepare(struct virtq *vq);
int virtq_split_get_used(struct virtq *vq, uint16_t *id, uint32_t *len);
int virtq_split_has_used(const struct virtq *vq);
int virtq_split_enable_irq(struct virtq *vq);
void virtq_split_disable_irq(struct virtq *vq);

void virtq_packed_init(struct virtq *vq);
int virtq_packed_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned n, uint16_t *id);
int virtq_packed_kick_prepare(struct virtq *vq);
int virtq_packed_get_used(struct virtq *vq, uint16_t *id, uint32_t *len);
int virtq_packed_has_used(const struct virtq *vq);
int virtq_packed_enable_irq(struct virtq *vq);
void virtq_packed_disable_irq(struct virtq *vq);

/* Checks a used element against what is in flight: -EIO for an id that is
 * out of range or not in flight (nothing changes); else the id is no
 * longer in flight, and the result is 0, or -EMSGSIZE when len is more than
 * the chain's device-writable bytes (a lie, with trust_len). */
int virtq_retire(struct virtq *vq, uint32_t id, uint32_t len);

/* Total device-writable bytes of a chain. */
uint32_t virtq_writable_bytes(const struct virtq_buf *bufs, unsigned n);

#endif
