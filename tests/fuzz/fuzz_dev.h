/*
 * The libFuzzer targets' disk: the input bytes as a 512-byte-sector device
 * (padded with zeros to whole sectors), read-only so nothing is changed.
 */
#ifndef TESTS_FUZZ_FUZZ_DEV_H
#define TESTS_FUZZ_FUZZ_DEV_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/block/blk.h"
#include "lib/fat/fat.h"

int64_t plat_time_unix(void) { return 1700000000; }

struct mem_dev {
	struct blk_device dev;
	uint8_t *data;
};

static int mem_submit(struct blk_device *dev, struct blk_request *r)
{
	struct mem_dev *m = dev->priv;

	if (r->op == BLK_READ)
		memcpy(r->buf, m->data + r->lba * 512, (size_t)r->count * 512);
	else if (r->op != BLK_FLUSH)
		r->status = -EROFS;
	r->complete = 1;
	return 0;
}

static int mem_poll(struct blk_device *dev)
{
	(void)dev;
	return 0;
}

static int mem_wait(struct blk_device *dev, struct blk_request *r)
{
	(void)dev;
	return r->status;
}

static const struct blk_ops mem_ops = {mem_submit, mem_poll, mem_wait};

/* Mounts the bytes; returns 0 with *m to free by mem_close, or an error. */
static int mem_mount(struct mem_dev *m, struct fat_volume *v, const uint8_t *data, size_t size)
{
	size_t sectors = (size + 511) / 512;
	const char *why;

	memset(m, 0, sizeof(*m));
	if (sectors == 0)
		return -EINVAL;
	m->data = calloc(sectors, 512);
	memcpy(m->data, data, size);
	m->dev = (struct blk_device){
		.sector_size = 512, .sectors = sectors, .read_only = 1, .ops = &mem_ops, .priv = m};
	int err = fat_mount(v, &m->dev, &why);
	if (err < 0)
		free(m->data);
	return err;
}

static void mem_close(struct mem_dev *m, struct fat_volume *v)
{
	fat_unmount(v);
	free(m->data);
}

#endif
