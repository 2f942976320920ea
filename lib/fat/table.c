/*
 * The file allocation table: one entry per data cluster, holding the next
 * cluster of its chain, 0 (free), a bad-cluster mark or end-of-chain.
 * FAT12 packs entries in 12 bits (an entry may straddle two sectors),
 * FAT16 uses 16, FAT32 the low 28 of 32 (the top 4 bits are preserved).
 * Entries are read and written through the sector cache, which reads the
 * active FAT and writes each FAT sector to every FAT copy (only to the
 * active one when FAT32's BPB_ExtFlags turns mirroring off).
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

static int entry_byte(struct fat_volume *v, uint32_t off, uint8_t **p)
{
	uint32_t bytes;

	return cache_fat_span(v, off, p, &bytes);
}

/* FAT16/32 entries in a cached span: whole, aligned, never split. */
static uint32_t load(const uint8_t *p, uint32_t width) { return width == 2 ? le16(p) : le32(p) & 0x0FFFFFFF; }

static void store(uint8_t *p, uint32_t width, uint32_t val)
{
	p[0] = (uint8_t)val, p[1] = (uint8_t)(val >> 8);
	if (width == 4) /* FAT32 keeps the top 4 bits */
		p[2] = (uint8_t)(val >> 16), p[3] = (uint8_t)((p[3] & 0xF0) | ((val >> 24) & 0x0F));
}

/* The span of FAT16/32 entries from c on: *p at entry c, *n entries (at
 * least 1, none past the last cluster). */
static int span(struct fat_volume *v, uint32_t c, uint8_t **p, uint32_t *n)
{
	uint32_t width = (uint32_t)v->type / 8, bytes;
	int err = cache_fat_span(v, c * width, p, &bytes);

	if (err < 0)
		return err;
	*n = bytes / width;
	if (*n > v->clusters + 2 - c)
		*n = v->clusters + 2 - c;
	return 0;
}

static int raw_get(struct fat_volume *v, uint32_t c, uint32_t *val)
{
	uint8_t *p;
	uint32_t n;
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
		return 0;
	}
	if ((err = span(v, c, &p, &n)) < 0)
		return err;
	*val = load(p, (uint32_t)v->type / 8);
	return 0;
}

static uint32_t normalise(const struct fat_volume *v, uint32_t val)
{
	uint32_t bad = v->type == 12 ? 0xFF7 : v->type == 16 ? 0xFFF7 : 0x0FFFFFF7;
	return val > bad ? EOC : val == bad ? BAD : val;
}

int fat_get(struct fat_volume *v, uint32_t c, uint32_t *next)
{
	uint32_t val;
	int err = raw_get(v, c, &val);

	if (err < 0)
		return err;
	*next = normalise(v, val);
	return 0;
}

static int put_byte(struct fat_volume *v, uint32_t off, uint8_t mask, uint8_t bits)
{
	uint8_t *p;
	int err = entry_byte(v, off, &p);

	if (err < 0)
		return err;
	*p = (uint8_t)((*p & ~mask) | (bits & mask));
	cache_fat_dirty(v, off, 1);
	return 0;
}

static uint32_t eoc_mark(const struct fat_volume *v)
{
	return v->type == 12 ? 0xFFF : v->type == 16 ? 0xFFFF : 0x0FFFFFFF;
}

int fat_set(struct fat_volume *v, uint32_t c, uint32_t value)
{
	uint32_t width = (uint32_t)v->type / 8, n;
	uint8_t *p;
	int err;

	if (value == EOC)
		value = eoc_mark(v);
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
	if ((err = span(v, c, &p, &n)) < 0)
		return err;
	store(p, width, value);
	cache_fat_dirty(v, c * width, width);
	return 0;
}

int fat_run(struct fat_volume *v, uint32_t c, uint32_t max, uint32_t *k)
{
	uint32_t width = (uint32_t)v->type / 8, done = 0, last = v->clusters + 1;

	while (done < max && c < last) {
		uint32_t next, n;
		uint8_t *p;
		int err;
		if (v->type == 12) {
			if ((err = fat_get(v, c, &next)) < 0)
				return err;
			if (next != c + 1)
				break;
			c++, done++;
			continue;
		}
		if ((err = span(v, c, &p, &n)) < 0)
			return err;
		/* Entry c + i must hold c + i + 1, a valid cluster. */
		uint32_t m = n < max - done ? n : max - done, i = 0;
		if (m > last - c)
			m = last - c;
		if (width == 4) {
			while (i < m && load(p + 4 * i, 4) == c + i + 1)
				i++;
		} else {
			while (i < m && load(p + 2 * i, 2) == c + i + 1)
				i++;
		}
		c += i, done += i;
		if (i < m)
			break; /* the run ends inside this span */
	}
	*k = done;
	return 0;
}

int fat_chain_check(struct fat_volume *v, uint32_t first, uint32_t *len, uint32_t *last)
{
	/* Runs of contiguous clusters cannot loop, so they are skipped whole;
	 * Brent's cycle detection runs on the clusters the chain jumps to: the
	 * tortoise jumps to the hare at every power of two, so a loop anywhere
	 * in the chain is found with O(1) memory. */
	uint32_t tortoise = first, hare = first, power = 1, lam = 1, n = 1;

	if (!clus_valid(v, first))
		return -EBADMSG;
	for (;;) {
		uint32_t next, k;
		int err = fat_run(v, hare, v->clusters, &k);
		if (err < 0)
			return err;
		hare += k;
		if ((n += k) > v->clusters)
			return -ELOOP;
		if ((err = fat_get(v, hare, &next)) < 0)
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
 * entries are scanned a cached window at a time; the search starts at the
 * next-free hint, so filling a volume in order never rescans what it
 * already used. */
static int find_free(struct fat_volume *v, uint32_t from, uint32_t *out)
{
	uint32_t c = clus_valid(v, from) ? from : 2, left = v->clusters, width = (uint32_t)v->type / 8;

	while (left) {
		uint32_t val, n;
		uint8_t *p;
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
		if ((err = span(v, c, &p, &n)) < 0)
			return err;
		for (uint32_t i = 0; i < n && left; i++, c++, left--) {
			if (load(p + i * width, width) == 0) {
				*out = c;
				return 0;
			}
		}
		if (c > v->clusters + 1)
			c = 2;
	}
	return -ENOSPC;
}

/* Claims up to n free clusters from c (which is free) on, consecutive ones
 * in one cached window, linked to each other, the last end-of-chain; *k
 * gets how many. */
static int claim_run(struct fat_volume *v, uint32_t c, uint32_t n, uint32_t *k)
{
	uint32_t width = (uint32_t)v->type / 8, m;
	uint8_t *p;
	int err;

	if (v->type == 12) {
		*k = 1;
		return fat_set(v, c, EOC);
	}
	if ((err = span(v, c, &p, &m)) < 0)
		return err;
	uint32_t j = 1;
	while (j < m && j < n && load(p + j * width, width) == 0)
		j++;
	for (uint32_t i = 0; i + 1 < j; i++)
		store(p + i * width, width, c + i + 1);
	store(p + (j - 1) * width, width, eoc_mark(v));
	cache_fat_dirty(v, c * width, j * width);
	*k = j;
	return 0;
}

int fat_alloc(struct fat_volume *v, uint32_t after, uint32_t n, uint32_t *first, uint32_t *last)
{
	uint32_t prev = after, got = 0, head = 0;
	int err = 0;

	if (v->free_count < n)
		return -ENOSPC;
	while (got < n) {
		uint32_t c, k;
		err = find_free(v, prev ? prev + 1 : v->next_free, &c);
		if (err < 0)
			break;
		/* A run ending in end-of-chain, then linked: the chain is always
		 * well formed. */
		if ((err = claim_run(v, c, n - got, &k)) < 0)
			break;
		/* Debited as soon as they are claimed, so that freeing them again
		 * (below, or in the undo) credits only what was debited. */
		v->free_count -= k;
		v->next_free = c + k;
		if (prev && (err = fat_set(v, prev, c)) < 0) {
			fat_free_chain(v, c);
			break;
		}
		if (!head)
			head = c;
		prev = c + k - 1;
		got += k;
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

static void freed(struct fat_volume *v, uint32_t c)
{
	v->free_count++;
	if (c < v->next_free)
		v->next_free = c;
}

int fat_free_chain(struct fat_volume *v, uint32_t c)
{
	uint32_t width = (uint32_t)v->type / 8;

	for (uint32_t i = 0; i < v->clusters && clus_valid(v, c);) {
		uint32_t next, n;
		uint8_t *p;
		int err;
		if (v->type == 12) {
			if ((err = fat_get(v, c, &next)) < 0 || (err = fat_set(v, c, 0)) < 0)
				return err;
			freed(v, c);
			i++;
			if (next == EOC)
				break;
			c = next;
			continue;
		}
		/* Free the chain's clusters that lie in this cached window, a
		 * run of contiguous ones at a time. */
		if ((err = span(v, c, &p, &n)) < 0)
			return err;
		uint32_t base = c, lo = c, hi = c;
		for (;;) {
			uint32_t j = c - base;
			while (j + 1 < n && i + (j - (c - base)) + 1 < v->clusters &&
			       load(p + j * width, width) == base + j + 1)
				j++;
			next = normalise(v, load(p + j * width, width));
			for (uint32_t e = c - base; e <= j; e++)
				store(p + e * width, width, 0);
			v->free_count += j - (c - base) + 1;
			if (c < v->next_free)
				v->next_free = c;
			i += j - (c - base) + 1;
			lo = c < lo ? c : lo;
			hi = base + j > hi ? base + j : hi;
			if (next == EOC || next - base >= n || i >= v->clusters || !clus_valid(v, next))
				break;
			c = next;
		}
		cache_fat_dirty(v, lo * width, (hi - lo + 1) * width);
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
		if ((err = cache_flush(v, 0)) < 0 || (err = fat_dev_read(v, fat_first_sector(v), n, buf)) < 0)
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
		if ((err = fat_dev_read(v, fat_first_sector(v) + s, n, buf)) < 0)
			return err;
		uint32_t first = s * v->sec_bytes / width, count = n * v->sec_bytes / width;
		for (uint32_t i = 0; i < count; i++) {
			uint32_t c = first + i;
			if (c < 2 || c > v->clusters + 1)
				continue;
			free += load(buf + i * width, width) == 0;
		}
	}
	*free_out = free;
	return 0;
}
