/*
 * The file allocation table: one entry per data cluster, holding the next
 * cluster of its chain, 0 (free), a bad-cluster mark or end-of-chain.
 * FAT12 packs entries in 12 bits (an entry may straddle two sectors),
 * FAT16 uses 16, FAT32 the low 28 of 32 (the top 4 bits are preserved).
 * Entries are read and written through the sector cache; the cache writes
 * each FAT sector to every FAT copy.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

static int entry_byte(struct fat_volume *v, uint32_t off, uint8_t **p)
{
	uint8_t *s;
	int err = cache_get(v, v->reserved + off / v->sec_bytes, CACHE_FAT, &s);

	if (err < 0)
		return err;
	*p = s + off % v->sec_bytes;
	return 0;
}

static int raw_get(struct fat_volume *v, uint32_t c, uint32_t *val)
{
	uint8_t *p;
	int err;

	if (v->type == 12) {
		uint32_t off = c + c / 2;
		if ((err = entry_byte(v, off, &p)) < 0)
			return err;
		uint32_t w = *p;
		if ((err = entry_byte(v, off + 1, &p)) < 0)
			return err;
		w |= (uint32_t)*p << 8;
		*val = c & 1 ? w >> 4 : w & 0xFFF;
	} else if (v->type == 16) {
		if ((err = entry_byte(v, c * 2, &p)) < 0)
			return err;
		*val = p[0] | p[1] << 8;
	} else {
		if ((err = entry_byte(v, c * 4, &p)) < 0)
			return err;
		*val = ((uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) & 0x0FFFFFFF;
	}
	return 0;
}

int fat_get(struct fat_volume *v, uint32_t c, uint32_t *next)
{
	uint32_t val;
	int err = raw_get(v, c, &val);

	if (err < 0)
		return err;
	uint32_t bad = v->type == 12 ? 0xFF7 : v->type == 16 ? 0xFFF7 : 0x0FFFFFF7;
	if (val > bad)
		val = EOC;
	else if (val == bad)
		val = BAD;
	*next = val;
	return 0;
}

static int put_byte(struct fat_volume *v, uint32_t off, uint8_t mask, uint8_t bits)
{
	uint8_t *p;
	int err = entry_byte(v, off, &p);

	if (err < 0)
		return err;
	*p = (uint8_t)((*p & ~mask) | (bits & mask));
	cache_dirty(v, v->reserved + off / v->sec_bytes);
	return 0;
}

int fat_set(struct fat_volume *v, uint32_t c, uint32_t value)
{
	int err;

	if (value == EOC)
		value = v->type == 12 ? 0xFFF : v->type == 16 ? 0xFFFF : 0x0FFFFFFF;
	if (v->type == 12) {
		uint32_t off = c + c / 2;
		if (c & 1) {
			if ((err = put_byte(v, off, 0xF0, (uint8_t)(value << 4))) < 0)
				return err;
			return put_byte(v, off + 1, 0xFF, (uint8_t)(value >> 4));
		}
		if ((err = put_byte(v, off, 0xFF, (uint8_t)value)) < 0)
			return err;
		return put_byte(v, off + 1, 0x0F, (uint8_t)(value >> 8));
	}
	uint32_t width = v->type == 16 ? 2 : 4;
	for (uint32_t i = 0; i < width; i++) {
		uint8_t mask = v->type == 32 && i == 3 ? 0x0F : 0xFF; /* FAT32 keeps the top 4 bits */
		if ((err = put_byte(v, c * width + i, mask, (uint8_t)(value >> (8 * i)))) < 0)
			return err;
	}
	return 0;
}

int fat_chain_check(struct fat_volume *v, uint32_t first, uint32_t *len, uint32_t *last)
{
	/* Brent's cycle detection: the tortoise jumps to the hare at every power
	 * of two, so a loop anywhere in the chain is found with O(1) memory. */
	uint32_t tortoise = first, hare = first, power = 1, lam = 1, n = 1;

	if (!clus_valid(v, first))
		return -EBADMSG;
	for (;;) {
		uint32_t next;
		int err = fat_get(v, hare, &next);
		if (err < 0)
			return err;
		if (next == EOC)
			break;
		if (!clus_valid(v, next))
			return -EBADMSG; /* free, bad, or outside the data area */
		hare = next;
		if (++n > v->clusters || hare == tortoise)
			return -ELOOP;
		if (power == lam) {
			tortoise = hare;
			power *= 2;
			lam = 0;
		}
		lam++;
	}
	*len = n;
	*last = hare;
	return 0;
}

int fat_walk(struct fat_volume *v, uint32_t c, uint32_t n, uint32_t *out)
{
	while (n--) {
		int err = fat_get(v, c, &c);
		if (err < 0)
			return err;
		if (!clus_valid(v, c))
			return -EBADMSG;
	}
	*out = c;
	return 0;
}

/* The next free cluster at or after `from`, wrapping once.  FAT16/32
 * entries are scanned a cached sector at a time; the search starts at the
 * next-free hint, so filling a volume in order never rescans what it
 * already used. */
static int find_free(struct fat_volume *v, uint32_t from, uint32_t *out)
{
	uint32_t c = clus_valid(v, from) ? from : 2, left = v->clusters;

	while (left) {
		uint32_t val;
		int err;
		if (v->type == 12) {
			if ((err = fat_get(v, c, &val)) < 0)
				return err;
			if (val == 0) {
				*out = c;
				return 0;
			}
			left--;
			if (++c > v->clusters + 1)
				c = 2;
			continue;
		}
		uint32_t width = (uint32_t)v->type / 8, per_sec = v->sec_bytes / width;
		uint8_t *s;
		if ((err = cache_get(v, v->reserved + c / per_sec, CACHE_FAT, &s)) < 0)
			return err;
		uint32_t stop = (c / per_sec + 1) * per_sec; /* the first entry of the next sector */
		if (stop > v->clusters + 2)
			stop = v->clusters + 2;
		for (; c < stop && left; c++, left--) {
			const uint8_t *p = s + (c % per_sec) * width;
			val = width == 2 ? (uint32_t)(p[0] | p[1] << 8)
					 : ((uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) &
						   0x0FFFFFFF;
			if (val == 0) {
				*out = c;
				return 0;
			}
		}
		if (c > v->clusters + 1)
			c = 2;
	}
	return -ENOSPC;
}

int fat_alloc(struct fat_volume *v, uint32_t after, uint32_t n, uint32_t *first, uint32_t *last)
{
	uint32_t prev = after, got = 0, head = 0;
	int err = 0;

	if (v->free_count != 0xFFFFFFFF && v->free_count < n)
		return -ENOSPC;
	while (got < n) {
		uint32_t c;
		err = find_free(v, prev ? prev + 1 : v->next_free, &c);
		if (err < 0)
			break;
		/* Mark the new cluster end-of-chain, then link it: the chain is
		 * always well formed. */
		if ((err = fat_set(v, c, EOC)) < 0)
			break;
		if (prev && (err = fat_set(v, prev, c)) < 0) {
			fat_set(v, c, 0);
			break;
		}
		if (!head)
			head = c;
		prev = c;
		got++;
		if (v->free_count != 0xFFFFFFFF)
			v->free_count--;
		v->next_free = c + 1;
	}
	if (err < 0) {
		/* Undo: the chain ends where it ended, the new clusters are free. */
		if (after)
			fat_set(v, after, EOC);
		if (head)
			fat_free_chain(v, head);
		return err;
	}
	*first = head;
	*last = prev;
	return 0;
}

int fat_free_chain(struct fat_volume *v, uint32_t c)
{
	for (uint32_t i = 0; i < v->clusters && clus_valid(v, c); i++) {
		uint32_t next;
		int err = fat_get(v, c, &next);
		if (err < 0)
			return err;
		if ((err = fat_set(v, c, 0)) < 0)
			return err;
		if (v->free_count != 0xFFFFFFFF)
			v->free_count++;
		if (c < v->next_free)
			v->next_free = c;
		if (next == EOC)
			break;
		c = next;
	}
	return 0;
}

int fat_count_free(struct fat_volume *v, uint32_t *free_out)
{
	static _Alignas(64) uint8_t buf[64 * 1024];
	uint32_t free = 0;
	uint64_t fat_bytes = (uint64_t)v->fat_sectors * v->sec_bytes;
	uint64_t need = v->type == 12 ? (((uint64_t)v->clusters + 2) * 3 + 1) / 2
				      : ((uint64_t)v->clusters + 2) * (uint32_t)(v->type / 8);
	int err;

	if (need > fat_bytes)
		return -EBADMSG;
	if (v->type == 12) { /* small enough to take whole; entries straddle sectors */
		uint32_t n = (uint32_t)((need + v->sec_bytes - 1) / v->sec_bytes);
		if ((err = cache_flush(v, 0)) < 0 || (err = fat_dev_read(v, v->reserved, n, buf)) < 0)
			return err;
		for (uint32_t c = 2; c < v->clusters + 2; c++) {
			uint32_t w = buf[c + c / 2] | buf[c + c / 2 + 1] << 8;
			free += ((c & 1 ? w >> 4 : w & 0xFFF) == 0);
		}
		*free_out = free;
		return 0;
	}
	/* Read the FAT in big pieces straight from the device, after writing
	 * back whatever the cache has changed. */
	if ((err = cache_flush(v, 0)) < 0)
		return err;
	uint32_t width = (uint32_t)v->type / 8, per_chunk = sizeof(buf) / v->sec_bytes;
	uint32_t sectors = (uint32_t)((need + v->sec_bytes - 1) / v->sec_bytes);
	for (uint32_t s = 0; s < sectors; s += per_chunk) {
		uint32_t n = sectors - s < per_chunk ? sectors - s : per_chunk;
		if ((err = fat_dev_read(v, v->reserved + s, n, buf)) < 0)
			return err;
		uint32_t first = s * v->sec_bytes / width, count = n * v->sec_bytes / width;
		for (uint32_t i = 0; i < count; i++) {
			uint32_t c = first + i;
			if (c < 2 || c > v->clusters + 1)
				continue;
			uint32_t val = width == 2 ? (uint32_t)(buf[2 * i] | buf[2 * i + 1] << 8)
						  : ((uint32_t)buf[4 * i] | buf[4 * i + 1] << 8 |
						     buf[4 * i + 2] << 16 | (uint32_t)buf[4 * i + 3] << 24) &
							    0x0FFFFFFF;
			free += val == 0;
		}
	}
	*free_out = free;
	return 0;
}
