/*
 * A small write-back cache of FAT and directory sectors, in static memory.
 * File data never goes through it (it moves straight between the caller and
 * the device), so the cache holds only metadata, and writes it back in the
 * order that keeps a crash harmless: every dirty FAT sector (to every FAT
 * copy) before any dirty directory sector, with a FLUSH between them
 * (fat_order) when the device has a volatile cache.  A new chain is
 * therefore on the medium before the entry that points at it.
 *
 * The FAT is cached in windows of WINDOW_BYTES (read in one request, dirty
 * sectors tracked one by one and written back in runs, one request per run
 * and FAT copy), so that a large file's chain is read, allocated and written
 * back in few requests.  Directory sectors are cached one by one.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define DIR_ENTRIES 64
#define WINDOWS 8
#define WINDOW_BYTES (64 * 1024)
#define WINDOW_SECTORS_MAX (WINDOW_BYTES / 512)

struct centry {
	struct fat_volume *vol; /* NULL: empty */
	uint32_t sector;
	uint8_t dirty;
	uint32_t stamp; /* last use, for LRU */
};

struct window {
	struct fat_volume *vol; /* NULL: empty */
	uint32_t first; /* first sector, counted from the start of the FAT */
	uint32_t count; /* sectors held */
	uint32_t stamp;
	uint32_t ndirty;
	uint8_t dirty[WINDOW_SECTORS_MAX / 8]; /* one bit per sector */
};

static struct centry entries[DIR_ENTRIES];
static _Alignas(64) uint8_t data[DIR_ENTRIES][FAT_SECTOR_MAX];
static struct window windows[WINDOWS];
static _Alignas(64) uint8_t wdata[WINDOWS][WINDOW_BYTES];
static uint32_t clock;
static int last_entry, last_window; /* where the previous hit was */

int fat_dev_read(struct fat_volume *v, uint32_t sector, uint32_t count, void *buf)
{
	return blk_read(v->dev, v->part_lba + (uint64_t)sector * v->dev_per_sec, count * v->dev_per_sec, buf);
}

int fat_dev_write(struct fat_volume *v, uint32_t sector, uint32_t count, const void *buf)
{
	return blk_write(v->dev, v->part_lba + (uint64_t)sector * v->dev_per_sec, count * v->dev_per_sec,
			 buf);
}

int fat_dev_flush(struct fat_volume *v)
{
	int err = blk_flush(v->dev);

	if (err == 0)
		v->unflushed = 0;
	return err;
}

int fat_order(struct fat_volume *v, int cls)
{
	int err = 0;

	if (v->unflushed & ~cls)
		err = fat_dev_flush(v);
	if (err == 0)
		v->unflushed |= cls;
	return err;
}

int fat_barrier(struct fat_volume *v) { return v->unflushed ? fat_dev_flush(v) : 0; }

static int is_fat_sector(const struct fat_volume *v, uint32_t sector)
{
	return sector >= v->reserved && sector - v->reserved < v->fat_sectors;
}

/* ---- FAT windows ---- */

static int bit(const struct window *w, uint32_t i) { return w->dirty[i / 8] >> (i % 8) & 1; }

/* Writes the dirty sectors of window i in [from, to) to every FAT copy (the
 * active one only when mirroring is off), a run of consecutive sectors per
 * request. */
static int window_write(int i, uint32_t from, uint32_t to)
{
	struct window *w = &windows[i];
	struct fat_volume *v = w->vol;

	for (uint32_t s = from; s < to && w->ndirty;) {
		if (!bit(w, s)) {
			s++;
			continue;
		}
		uint32_t e = s + 1;
		while (e < to && bit(w, e))
			e++;
		int err = fat_order(v, FAT_ORDER_LINKED);
		if (err < 0)
			return err;
		for (uint32_t copy = 0; copy < v->nfats; copy++) {
			if (!v->mirror && copy != v->active_fat)
				continue;
			err = fat_dev_write(v, v->reserved + copy * v->fat_sectors + w->first + s, e - s,
					    wdata[i] + (size_t)s * v->sec_bytes);
			if (err < 0)
				return err;
		}
		for (; s < e; s++) {
			w->dirty[s / 8] &= (uint8_t) ~(1u << (s % 8));
			w->ndirty--;
		}
	}
	return 0;
}

static int window_find(struct fat_volume *v, uint32_t first)
{
	if (windows[last_window].vol == v && windows[last_window].first == first)
		return last_window;
	for (int i = 0; i < WINDOWS; i++)
		if (windows[i].vol == v && windows[i].first == first)
			return last_window = i;
	return -1;
}

/* Sets *i to the window holding FAT sector fs (counted from the FAT's
 * start), reading it if needed. */
static int window_get(struct fat_volume *v, uint32_t fs, int *out)
{
	uint32_t per = WINDOW_BYTES / v->sec_bytes, first = fs - fs % per;
	int i = window_find(v, first), err;

	if (i < 0) {
		i = 0;
		for (int k = 0; k < WINDOWS; k++) {
			if (!windows[k].vol) {
				i = k;
				break;
			}
			if (windows[k].stamp < windows[i].stamp)
				i = k;
		}
		struct window *w = &windows[i];
		if (w->vol && (err = window_write(i, 0, w->count)) < 0)
			return err;
		w->vol = NULL;
		uint32_t count = v->fat_sectors - first < per ? v->fat_sectors - first : per;
		if ((err = fat_dev_read(v, fat_first_sector(v) + first, count, wdata[i])) < 0)
			return err;
		*w = (struct window){.vol = v, .first = first, .count = count};
		last_window = i;
	}
	windows[i].stamp = ++clock;
	*out = i;
	return 0;
}

int cache_fat_span(struct fat_volume *v, uint32_t off, uint8_t **p, uint32_t *bytes)
{
	uint32_t fs = off / v->sec_bytes;
	int i, err = window_get(v, fs, &i);

	if (err < 0)
		return err;
	uint32_t in = off - windows[i].first * v->sec_bytes;
	*p = wdata[i] + in;
	*bytes = windows[i].count * v->sec_bytes - in;
	return 0;
}

void cache_fat_dirty(struct fat_volume *v, uint32_t off, uint32_t bytes)
{
	uint32_t fs = off / v->sec_bytes, fe = (off + bytes - 1) / v->sec_bytes;
	uint32_t per = WINDOW_BYTES / v->sec_bytes;

	for (uint32_t s = fs; s <= fe; s++) {
		int i = window_find(v, s - s % per);
		if (i < 0)
			continue;
		struct window *w = &windows[i];
		uint32_t k = s - w->first;
		if (!bit(w, k)) {
			w->dirty[k / 8] |= (uint8_t)(1u << (k % 8));
			w->ndirty++;
		}
	}
}

/* ---- directory sectors ---- */

static int dir_write_back(int i)
{
	int err = fat_order(entries[i].vol, FAT_ORDER_ENTRY);

	if (err == 0)
		err = fat_dev_write(entries[i].vol, entries[i].sector, 1, data[i]);

	if (err == 0)
		entries[i].dirty = 0;
	return err;
}

static int fat_flush(struct fat_volume *v)
{
	for (int i = 0; i < WINDOWS; i++) {
		if (windows[i].vol == v && windows[i].ndirty) {
			int err = window_write(i, 0, windows[i].count);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

int cache_flush(struct fat_volume *v, int dirs)
{
	int err = fat_flush(v);

	for (int i = 0; i < DIR_ENTRIES && dirs && err == 0; i++)
		if (entries[i].vol == v && entries[i].dirty)
			err = dir_write_back(i);
	return err;
}

static int lookup(struct fat_volume *v, uint32_t sector)
{
	if (entries[last_entry].vol == v && entries[last_entry].sector == sector)
		return last_entry;
	for (int i = 0; i < DIR_ENTRIES; i++)
		if (entries[i].vol == v && entries[i].sector == sector)
			return last_entry = i;
	return -1;
}

/* Picks a slot to reuse: an empty one, else the least recently used, written
 * back first (only after every dirty FAT sector). */
static int victim(int *err)
{
	int best = 0;

	for (int i = 0; i < DIR_ENTRIES; i++) {
		if (!entries[i].vol)
			return i;
		if (entries[i].stamp < entries[best].stamp)
			best = i;
	}
	struct centry *e = &entries[best];
	if (e->dirty) {
		*err = fat_flush(e->vol);
		if (*err == 0)
			*err = dir_write_back(best);
		if (*err < 0)
			return -1;
	}
	e->vol = NULL;
	return best;
}

int cache_get(struct fat_volume *v, uint32_t sector, enum cache_kind kind, uint8_t **out)
{
	int err = 0;

	if (kind == CACHE_FAT) {
		uint8_t *p;
		uint32_t bytes;
		err = cache_fat_span(v, (sector - v->reserved) * v->sec_bytes, &p, &bytes);
		if (err == 0)
			*out = p;
		return err;
	}
	int i = lookup(v, sector);
	if (i < 0) {
		i = victim(&err);
		if (i < 0)
			return err;
		err = fat_dev_read(v, sector, 1, data[i]);
		if (err < 0)
			return err;
		entries[i] = (struct centry){.vol = v, .sector = sector};
		last_entry = i;
	}
	entries[i].stamp = ++clock;
	*out = data[i];
	return 0;
}

void cache_dirty(struct fat_volume *v, uint32_t sector)
{
	if (is_fat_sector(v, sector)) {
		cache_fat_dirty(v, (sector - v->reserved) * v->sec_bytes, 1);
		return;
	}
	int i = lookup(v, sector);
	if (i >= 0)
		entries[i].dirty = 1;
}

void cache_forget(struct fat_volume *v)
{
	for (int i = 0; i < DIR_ENTRIES; i++)
		if (entries[i].vol == v)
			entries[i].vol = NULL;
	for (int i = 0; i < WINDOWS; i++)
		if (windows[i].vol == v)
			windows[i].vol = NULL;
}

void cache_discard(struct fat_volume *v, uint32_t sector, uint32_t count)
{
	for (int i = 0; i < DIR_ENTRIES; i++)
		if (entries[i].vol == v && entries[i].sector - sector < count)
			entries[i].vol = NULL;
}

int cache_write(struct fat_volume *v, uint32_t sector)
{
	if (is_fat_sector(v, sector)) {
		uint32_t fs = sector - v->reserved, per = WINDOW_BYTES / v->sec_bytes;
		int i = window_find(v, fs - fs % per);
		return i < 0 ? 0 : window_write(i, fs - windows[i].first, fs - windows[i].first + 1);
	}
	int i = lookup(v, sector);
	if (i < 0 || !entries[i].dirty)
		return 0;
	int err = fat_flush(v);
	return err < 0 ? err : dir_write_back(i);
}
