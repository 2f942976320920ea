/*
 * A small write-back cache of FAT and directory sectors, in static memory.
 * File data never goes through it (it moves straight between the caller and
 * the device), so the cache holds only metadata, and writes it back in the
 * order that keeps a crash harmless: every dirty FAT sector (to every FAT
 * copy) before any dirty directory sector.  A new chain is therefore on
 * disk before the entry that points at it; at worst a crash loses clusters.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define CACHE_ENTRIES 64

struct centry {
	struct fat_volume *vol; /* NULL: empty */
	uint32_t sector;
	uint8_t kind;
	uint8_t dirty;
	uint32_t stamp; /* last use, for LRU */
};

static struct centry entries[CACHE_ENTRIES];
static _Alignas(64) uint8_t data[CACHE_ENTRIES][FAT_SECTOR_MAX];
static uint32_t clock;

int fat_dev_read(struct fat_volume *v, uint32_t sector, uint32_t count, void *buf)
{
	return blk_read(v->dev, v->part_lba + (uint64_t)sector * v->dev_per_sec, count * v->dev_per_sec, buf);
}

int fat_dev_write(struct fat_volume *v, uint32_t sector, uint32_t count, const void *buf)
{
	return blk_write(v->dev, v->part_lba + (uint64_t)sector * v->dev_per_sec, count * v->dev_per_sec,
			 buf);
}

static int write_back(int i)
{
	struct centry *e = &entries[i];
	struct fat_volume *v = e->vol;
	int err = 0;

	if (e->kind == CACHE_FAT) {
		for (uint32_t copy = 0; copy < v->nfats && !err; copy++)
			err = fat_dev_write(v, e->sector + copy * v->fat_sectors, 1, data[i]);
	} else {
		err = fat_dev_write(v, e->sector, 1, data[i]);
	}
	if (err == 0)
		e->dirty = 0;
	return err;
}

int cache_flush(struct fat_volume *v, int dirs)
{
	for (int pass = CACHE_FAT; pass <= (dirs ? CACHE_DIR : CACHE_FAT); pass++) {
		for (int i = 0; i < CACHE_ENTRIES; i++) {
			if (entries[i].vol == v && entries[i].dirty && entries[i].kind == pass) {
				int err = write_back(i);
				if (err < 0)
					return err;
			}
		}
	}
	return 0;
}

static int lookup(struct fat_volume *v, uint32_t sector)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (entries[i].vol == v && entries[i].sector == sector)
			return i;
	return -1;
}

/* Picks a slot to reuse: an empty one, else the least recently used, written
 * back first (a directory sector only after every dirty FAT sector). */
static int victim(int *err)
{
	int best = 0;

	for (int i = 0; i < CACHE_ENTRIES; i++) {
		if (!entries[i].vol)
			return i;
		if (entries[i].stamp < entries[best].stamp)
			best = i;
	}
	struct centry *e = &entries[best];
	if (e->dirty) {
		if (e->kind == CACHE_DIR)
			*err = cache_flush(e->vol, 0);
		if (*err == 0)
			*err = write_back(best);
		if (*err < 0)
			return -1;
	}
	e->vol = NULL;
	return best;
}

int cache_get(struct fat_volume *v, uint32_t sector, enum cache_kind kind, uint8_t **out)
{
	int err = 0;
	int i = lookup(v, sector);

	if (i < 0) {
		i = victim(&err);
		if (i < 0)
			return err;
		err = fat_dev_read(v, sector, 1, data[i]);
		if (err < 0)
			return err;
		entries[i] = (struct centry){.vol = v, .sector = sector, .kind = (uint8_t)kind};
	}
	entries[i].stamp = ++clock;
	*out = data[i];
	return 0;
}

void cache_dirty(struct fat_volume *v, uint32_t sector)
{
	int i = lookup(v, sector);

	if (i >= 0)
		entries[i].dirty = 1;
}

void cache_forget(struct fat_volume *v)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (entries[i].vol == v)
			entries[i].vol = NULL;
}

void cache_discard(struct fat_volume *v, uint32_t sector, uint32_t count)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (entries[i].vol == v && entries[i].sector - sector < count)
			entries[i].vol = NULL;
}

int cache_write(struct fat_volume *v, uint32_t sector)
{
	int i = lookup(v, sector);

	if (i < 0 || !entries[i].dirty)
		return 0;
	if (entries[i].kind == CACHE_DIR) {
		int err = cache_flush(v, 0);
		if (err < 0)
			return err;
	}
	return write_back(i);
}
