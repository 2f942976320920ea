/*
 * What the host FAT tests (tests/unit) and the fuzz targets (tests/fuzz)
 * share: a fixed clock, and the frame of a block device whose requests are
 * done at submit (each device supplies only the transfer itself).
 */
#ifndef TESTS_HOST_BLK_H
#define TESTS_HOST_BLK_H

#include <stdint.h>

#include "drivers/block/blk.h"

int64_t plat_time_unix(void) { return 1700000000; /* 2023-11-14 22:13:20 UTC */ }

/* Moves the request's data; returns 0 or the request's error. */
typedef int (*host_xfer_fn)(struct blk_device *dev, struct blk_request *r);

static host_xfer_fn host_xfer;

static int host_submit(struct blk_device *dev, struct blk_request *r)
{
	int err = host_xfer(dev, r);

	if (err < 0)
		r->status = err;
	r->complete = 1;
	if (r->done)
		r->done(r);
	return 0;
}

static int host_poll(struct blk_device *dev)
{
	(void)dev;
	return 0;
}

static int host_wait(struct blk_device *dev, struct blk_request *r)
{
	(void)dev;
	return r->status;
}

static const struct blk_ops host_ops = {host_submit, host_poll, host_wait};

#endif
