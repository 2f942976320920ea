/*
 * File data moves straight between the caller's buffer and the device, in
 * requests as large as the clusters are contiguous (up to IO_MAX), with up
 * to FAT_IO_QD of them in flight: the same shape as a sequential benchmark
 * of the raw disk, so a file streams at the disk's speed.
 */
#include <errno.h>

#include "lib/fat/fat_internal.h"

#define IO_MAX_BYTES (1u << 20)

void fat_io_start(struct fat_io *io, struct fat_volume *v, enum blk_op op)
{
	io->vol = v;
	io->op = op;
	io->next = 0;
	io->err = 0;
	io->pend_count = 0;
	for (int i = 0; i < FAT_IO_QD; i++)
		io->busy[i] = 0;
}

static void reap(struct fat_io *io, unsigned i)
{
	if (io->busy[i]) {
		int err = blk_wait(io->vol->dev, &io->req[i]);
		io->busy[i] = 0;
		if (err < 0 && !io->err)
			io->err = err;
	}
}

static void send(struct fat_io *io)
{
	struct fat_volume *v = io->vol;
	unsigned i = io->next;

	if (!io->pend_count)
		return;
	io->next = (io->next + 1) % FAT_IO_QD;
	reap(io, i); /* the oldest request frees its slot */
	io->req[i] = (struct blk_request){.op = io->op,
					  .lba = v->part_lba + (uint64_t)io->pend_sector * v->dev_per_sec,
					  .count = io->pend_count * v->dev_per_sec,
					  .buf = io->pend_buf};
	io->pend_count = 0;
	if (io->err)
		return;
	int err = blk_submit(v->dev, &io->req[i]);
	if (err < 0)
		io->err = err;
	else
		io->busy[i] = 1;
}

int fat_io_add(struct fat_io *io, uint32_t sector, uint32_t count, void *buf)
{
	uint32_t max = IO_MAX_BYTES / io->vol->sec_bytes;

	while (count) {
		if (io->pend_count && (io->pend_sector + io->pend_count != sector ||
				       io->pend_buf + (size_t)io->pend_count * io->vol->sec_bytes != buf ||
				       io->pend_count == max))
			send(io);
		if (!io->pend_count) {
			io->pend_sector = sector;
			io->pend_buf = buf;
		}
		uint32_t take = max - io->pend_count < count ? max - io->pend_count : count;
		io->pend_count += take;
		sector += take;
		count -= take;
		buf = (uint8_t *)buf + (size_t)take * io->vol->sec_bytes;
	}
	return io->err;
}

int fat_io_finish(struct fat_io *io)
{
	send(io);
	for (unsigned i = 0; i < FAT_IO_QD; i++)
		reap(io, i);
	return io->err;
}
