/*
 * The block-device interface that filesystems and the shell use.
 *
 * Asynchronous core: fill a struct blk_request, blk_submit() it, and it
 * completes later (r->done runs, r->complete becomes 1, r->status holds 0 or
 * a negative errno).  blk_submit() itself waits, bounded, while the device
 * queue is full: it never fails for lack of room and never drops a request.
 * blk_poll() reaps completions; blk_wait() waits for one request.  A batch
 * of submits with BLK_F_MORE on all but the last costs the device one
 * notification.
 *
 * Blocking API on top: blk_read(), blk_write(), blk_flush().  BLK_DISCARD
 * (the blocks' contents become undefined; the device may free them) and
 * BLK_WRITE_ZEROES (they read back as zeroes) take lba and count, no
 * buffer, through blk_submit(); a device without them answers -ENOTSUP.
 *
 * Addresses and counts are in the device's own logical blocks
 * (sector_size bytes: 512 or 4096).  Errors: -EINVAL (out of range,
 * misaligned), -EROFS (write to a read-only device), -EIO (the device
 * failed the request), -ENOTSUP (the device does not do this operation),
 * -ETIMEDOUT (the device stopped answering; it has been reset).
 *
 * A device that breaks the protocol, or will not even reset after a
 * timeout, is given up: its requests fail with -EIO, and so does every
 * later one, at once.  Its in-flight requests complete (with -EIO) only
 * once it can no longer write their buffers (reset, or PCI bus mastering
 * switched off); if it could not be stopped they never complete, blk_wait()
 * returns -EIO for them, and their buffers must not be reused.
 */
#ifndef DRIVERS_BLOCK_BLK_H
#define DRIVERS_BLOCK_BLK_H

#include <stddef.h>
#include <stdint.h>

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_DISCARD, BLK_WRITE_ZEROES };

/* Another blk_submit() follows at once: the driver may hold this request's
 * notification to the device and send one for the whole batch.  Whatever
 * is held goes out at the next submit without the flag, blk_poll(),
 * blk_wait(), or a wait for room.  The device cannot start on what it has
 * not heard of: hold a few requests, not dozens (bench blk holds at most
 * 8). */
#define BLK_F_MORE 1u

struct blk_request {
	enum blk_op op;
	uint64_t lba;
	uint32_t count; /* blocks; 0 for FLUSH */
	void *buf; /* count * sector_size bytes, for READ and WRITE */
	/* Optional; runs at completion, inside the driver's reaping: it may
	 * submit (even as r fails in a reset), but must not wait. */
	void (*done)(struct blk_request *r);
	void *ctx; /* for done */
	unsigned flags; /* BLK_F_* */
	int status;
	volatile int complete;
	uint32_t parts_left; /* driver's: pieces still in flight */
	struct blk_request *link; /* driver's: lists of its own */
};

struct blk_device;

struct blk_ops {
	int (*submit)(struct blk_device *dev, struct blk_request *r);
	int (*poll)(struct blk_device *dev);
	int (*wait)(struct blk_device *dev, struct blk_request *r);
};

struct blk_device {
	char name[8]; /* vda, vdb, ... (set by blk_register) */
	uint32_t sector_size;
	uint64_t sectors; /* capacity in sector_size blocks; a resize may change it */
	int read_only;
	/* The device has a volatile write cache, so a write is durable only
	 * after a flush.  0 when writes are durable on completion (virtio-blk:
	 * no FLUSH, or CONFIG_WCE with writeback 0): blk_flush() then sends
	 * nothing.  While the device runs it may turn this on, never off. */
	int has_flush;
	const struct blk_ops *ops;
	void *priv;
};

#define BLK_MAX_DEVICES 8

/* Names dev vda, vdb, ... in registration order.  Returns 0 or -ENOSPC. */
int blk_register(struct blk_device *dev);
int blk_count(void);
struct blk_device *blk_get(int i);
struct blk_device *blk_find(const char *name);

/* Checks r against the device (range, buffer, read-only) and queues it.
 * Returns 0 (it will complete) or a negative errno (it was not queued). */
int blk_submit(struct blk_device *dev, struct blk_request *r);
/* Reaps finished requests; returns how many, or a negative errno. */
int blk_poll(struct blk_device *dev);
/* Waits for r; returns r->status. */
int blk_wait(struct blk_device *dev, struct blk_request *r);

int blk_read(struct blk_device *dev, uint64_t lba, uint32_t count, void *buf);
int blk_write(struct blk_device *dev, uint64_t lba, uint32_t count, const void *buf);
/* Makes every completed write durable (a no-op returning 0 when the device
 * has no volatile cache to flush). */
int blk_flush(struct blk_device *dev);

#endif
