/* Block-device registry, request checks, and the blocking wrappers. */
#include "drivers/block/blk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct blk_device *devices[BLK_MAX_DEVICES];
static int ndevices;

int blk_register(struct blk_device *dev)
{
	if (ndevices == BLK_MAX_DEVICES)
		return -ENOSPC;
	snprintf(dev->name, sizeof(dev->name), "vd%c", 'a' + ndevices);
	devices[ndevices++] = dev;
	return 0;
}

int blk_count(void) { return ndevices; }

struct blk_device *blk_get(int i) { return i >= 0 && i < ndevices ? devices[i] : NULL; }

struct blk_device *blk_find(const char *name)
{
	for (int i = 0; i < ndevices; i++)
		if (strcmp(devices[i]->name, name) == 0)
			return devices[i];
	return NULL;
}

int blk_submit(struct blk_device *dev, struct blk_request *r)
{
	/* Loaded once: the driver may change it from an interrupt (a resize). */
	uint64_t sectors = __atomic_load_n(&dev->sectors, __ATOMIC_RELAXED);

	r->complete = 0;
	r->status = 0;
	switch (r->op) {
	case BLK_READ:
	case BLK_WRITE:
		if (!r->buf)
			return -EINVAL;
		/* fall through */
	case BLK_DISCARD:
	case BLK_WRITE_ZEROES:
		if (r->count == 0 || r->lba >= sectors || r->count > sectors - r->lba)
			return -EINVAL;
		if (r->op != BLK_READ && dev->read_only)
			return -EROFS;
		break;
	case BLK_FLUSH:
		if (r->count)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return dev->ops->submit(dev, r);
}

int blk_poll(struct blk_device *dev) { return dev->ops->poll(dev); }

int blk_wait(struct blk_device *dev, struct blk_request *r) { return dev->ops->wait(dev, r); }

static int do_sync(struct blk_device *dev, enum blk_op op, uint64_t lba, uint32_t count, void *buf)
{
	struct blk_request r = {.op = op, .lba = lba, .count = count, .buf = buf};
	int err = blk_submit(dev, &r);

	return err < 0 ? err : blk_wait(dev, &r);
}

int blk_read(struct blk_device *dev, uint64_t lba, uint32_t count, void *buf)
{
	return do_sync(dev, BLK_READ, lba, count, buf);
}

int blk_write(struct blk_device *dev, uint64_t lba, uint32_t count, const void *buf)
{
	return do_sync(dev, BLK_WRITE, lba, count, (void *)buf);
}

int blk_flush(struct blk_device *dev)
{
	if (!__atomic_load_n(&dev->has_flush, __ATOMIC_RELAXED))
		return 0;
	return do_sync(dev, BLK_FLUSH, 0, 0, NULL);
}
