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
#include "tests/host_blk.h"

struct mem_dev {
	struct blk_device dev;
	uint8_t *data;
};

static int mem_xfer(struct blk_device *dev, struct blk_request *r)
{
	struct mem_dev *m = dev->priv;

	if (r->op == BLK_READ)
		memcpy(r->buf, m->data + r->lba * 512, (size_t)r->count * 512);
	else if (r->op != BLK_FLUSH)
		return -EROFS;
	return 0;
}

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
		.sector_size = 512, .sectors = sectors, .read_only = 1, .ops = &host_ops, .priv = m};
	host_xfer = mem_xfer;
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
