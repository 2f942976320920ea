/*
 * Directories: arrays of 32-byte entries, either the fixed root of FAT12/16
 * or a cluster chain.  A file with a long name has a set of entries: the
 * long-name pieces (13 UTF-16 units each, last piece first, each carrying
 * the checksum of the short name) and then its short entry, which holds the
 * attributes, times, first cluster and size.
 */
#include <errno.h>
#include <string.h>

#include "drivers/platform.h"
#include "lib/fat/fat_internal.h"

#define DIR_ENTRIES_MAX 65536 /* the most a FAT directory may hold */
#define LFN_LAST 0x40
#define LFN_UNITS 13

static const uint8_t lfn_offsets[LFN_UNITS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};

uint32_t dir_root(const struct fat_volume *v) { return v->type == 32 ? v->root_cluster : 0; }

void dir_open(struct fat_volume *v, uint32_t cluster, struct fat_dir *d)
{
	*d = (struct fat_dir){.vol = v, .cluster = cluster, .cur_cluster = cluster};
}

/* Where entry `index` is.  Returns 0, 1 past the end of the directory, or
 * an error (a chain that is damaged or longer than any directory may be). */
static int entry_pos(struct fat_dir *d, uint32_t index, struct fat_entry_pos *pos)
{
	struct fat_volume *v = d->vol;
	uint32_t per_sec = v->sec_bytes / DIRENT_SIZE;

	if (index >= DIR_ENTRIES_MAX)
		return -ELOOP;
	if (d->cluster == 0) { /* FAT12/16 root: a fixed run of sectors */
		if (index >= v->root_entries)
			return 1;
		pos->sector = v->root_sector + index / per_sec;
		pos->offset = (uint16_t)(index % per_sec * DIRENT_SIZE);
		return 0;
	}
	uint32_t per_clus = v->clus_bytes / DIRENT_SIZE;
	if (index < d->cur_base) { /* backwards: start over */
		d->cur_cluster = d->cluster;
		d->cur_base = 0;
	}
	while (index >= d->cur_base + per_clus) {
		uint32_t next;
		int err = fat_get(v, d->cur_cluster, &next);
		if (err < 0)
			return err;
		if (next == EOC)
			return 1;
		if (!clus_valid(v, next))
			return -EBADMSG;
		d->cur_cluster = next;
		d->cur_base += per_clus;
	}
	uint32_t in = index - d->cur_base;
	pos->sector = clus_sector(v, d->cur_cluster) + in / per_sec;
	pos->offset = (uint16_t)(in % per_sec * DIRENT_SIZE);
	return 0;
}

int dir_read_entry(struct fat_volume *v, struct fat_entry_pos pos, uint8_t raw[DIRENT_SIZE])
{
	uint8_t *s;
	int err = cache_get(v, pos.sector, CACHE_DIR, &s);

	if (err < 0)
		return err;
	memcpy(raw, s + pos.offset, DIRENT_SIZE);
	return 0;
}

int dir_write_entry(struct fat_volume *v, struct fat_entry_pos pos, const uint8_t raw[DIRENT_SIZE])
{
	uint8_t *s;
	int err = cache_get(v, pos.sector, CACHE_DIR, &s);

	if (err < 0)
		return err;
	memcpy(s + pos.offset, raw, DIRENT_SIZE);
	cache_dirty(v, pos.sector);
	return 0;
}

void dir_stat(const struct fat_volume *v, const uint8_t *raw, struct fat_stat *st)
{
	st->attr = raw[11];
	st->is_dir = !!(raw[11] & FAT_ATTR_DIR);
	st->size = st->is_dir ? 0 : ent_size(raw);
	st->cluster = ent_cluster(v, raw);
	st->wtime = (uint16_t)(raw[22] | raw[23] << 8);
	st->wdate = (uint16_t)(raw[24] | raw[25] << 8);
}

int dir_next(struct fat_dir *d, struct fat_dirent *e, struct dir_slot *slot)
{
	uint16_t units[20 * LFN_UNITS + 1];
	int lfn_left = 0; /* pieces still expected; 0: no long name being read */
	int lfn_count = 0;
	uint8_t lfn_sum = 0;
	uint32_t first = 0;

	for (;;) {
		struct fat_entry_pos pos;
		uint8_t raw[DIRENT_SIZE];
		uint32_t index = d->index;
		int err = entry_pos(d, index, &pos);
		if (err)
			return err < 0 ? err : 0;
		if ((err = dir_read_entry(d->vol, pos, raw)) < 0)
			return err;
		if (raw[0] == 0x00)
			return 0; /* the end marker: nothing follows */
		d->index++;
		if (raw[0] == 0xE5) {
			lfn_left = 0;
			continue;
		}
		if ((raw[11] & 0x3F) == FAT_ATTR_LFN) {
			int ord = raw[0] & 0x1F;
			if (raw[0] & LFN_LAST) {
				lfn_left = ord >= 1 && ord <= 20 ? ord : 0;
				lfn_count = lfn_left;
				lfn_sum = raw[13];
				first = index;
			} else if (!lfn_left || ord != lfn_left || raw[13] != lfn_sum) {
				lfn_left = 0; /* an orphaned or out-of-order piece: ignore the set */
				continue;
			}
			if (lfn_left) {
				for (int i = 0; i < LFN_UNITS; i++)
					units[(ord - 1) * LFN_UNITS + i] =
						(uint16_t)(raw[lfn_offsets[i]] | raw[lfn_offsets[i] + 1]
											 << 8);
				lfn_left--;
				if (lfn_left == 0)
					lfn_left = -1; /* complete: the short entry must come next */
			}
			continue;
		}
		int have_lfn = lfn_left == -1 && short_name_checksum(raw) == lfn_sum;
		lfn_left = 0;
		if ((raw[11] & FAT_ATTR_VOLUME) && !(raw[11] & FAT_ATTR_DIR))
			continue; /* the volume label */
		if (raw[0] == '.' && (raw[1] == ' ' || (raw[1] == '.' && raw[2] == ' ')))
			continue; /* "." and ".." */
		e->name[0] = '\0';
		if (have_lfn) {
			int n = 0;
			while (n < lfn_count * LFN_UNITS && units[n] != 0x0000 && units[n] != 0xFFFF)
				n++;
			if (utf16_to_utf8(units, n, e->name, sizeof(e->name)) < 0)
				e->name[0] = '\0';
		}
		if (!e->name[0])
			short_name_display(raw, raw[12], e->name);
		dir_stat(d->vol, raw, &e->st);
		if (slot) {
			slot->dir_cluster = d->cluster;
			slot->index = index;
			slot->first = have_lfn ? first : index;
			slot->pos = pos;
			memcpy(slot->raw, raw, DIRENT_SIZE);
		}
		return 1;
	}
}

int dir_lookup(struct fat_volume *v, uint32_t dir_cluster, const char *name, struct dir_slot *slot)
{
	static struct fat_dirent e; /* large (a 766-byte name): kept off the stack */
	struct fat_dir d;
	char short_form[13];
	int rc;

	dir_open(v, dir_cluster, &d);
	while ((rc = dir_next(&d, &e, slot)) == 1) {
		short_name_display(slot->raw, 0, short_form);
		if (name_equal(e.name, name) || name_equal(short_form, name))
			return 0;
	}
	return rc < 0 ? rc : -ENOENT;
}

/* 1 if some entry of the directory has this short name. */
static int short_name_taken(struct fat_volume *v, uint32_t dir_cluster, const uint8_t sfn[11], int *err)
{
	struct fat_dir d;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];

	dir_open(v, dir_cluster, &d);
	for (uint32_t i = 0;; i++) {
		int rc = entry_pos(&d, i, &pos);
		if (rc)
			return rc < 0 ? (*err = rc, 1) : 0;
		if ((rc = dir_read_entry(v, pos, raw)) < 0)
			return *err = rc, 1;
		if (raw[0] == 0x00)
			return 0;
		if (raw[0] != 0xE5 && (raw[11] & 0x3F) != FAT_ATTR_LFN && memcmp(raw, sfn, 11) == 0)
			return 1;
	}
}

/* A short name for a long one: the basis with ~1..~4, then two characters
 * of the basis, four hex digits of a hash of the name and ~1..~9, as
 * Windows does; each candidate is checked against the directory. */
static int make_short_name(struct fat_volume *v, uint32_t dir_cluster, const char *name, uint8_t sfn[11])
{
	uint8_t basis[11];
	uint32_t hash = 2166136261u;
	int err = 0;

	short_name_basis(name, basis);
	for (const char *p = name; *p; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	for (unsigned n = 1; n < 1000; n++) {
		memcpy(sfn, basis, 11);
		if (n <= 4) {
			short_name_tail(sfn, n);
		} else {
			static const char hex[] = "0123456789ABCDEF";
			uint32_t h = (hash + (n - 5) / 9 * 0x9E37u) & 0xFFFF;
			if (sfn[1] == ' ')
				sfn[1] = '_';
			for (int i = 0; i < 4; i++)
				sfn[2 + i] = (uint8_t)hex[(h >> (12 - 4 * i)) & 15];
			sfn[6] = sfn[7] = ' ';
			short_name_tail(sfn, (n - 5) % 9 + 1);
		}
		if (!short_name_taken(v, dir_cluster, sfn, &err))
			return 0;
		if (err < 0)
			return err;
	}
	return -EEXIST;
}

void fat_now(uint16_t *date, uint16_t *time)
{
	int64_t t = plat_time_unix();
	int64_t days = t / 86400, secs = t % 86400;

	/* Civil date from days since 1970-01-01 (proleptic Gregorian). */
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (y < 1980)
		y = 1980, m = 1, d = 1, secs = 0;
	if (y > 2107)
		y = 2107;
	*date = (uint16_t)((y - 1980) << 9 | m << 5 | d);
	*time = (uint16_t)((secs / 3600) << 11 | (secs / 60 % 60) << 5 | (secs % 60) / 2);
}

/* Appends a zeroed cluster to the directory whose last cluster is `last`. */
static int grow(struct fat_volume *v, uint32_t last)
{
	static _Alignas(64) uint8_t zero[FAT_SECTOR_MAX];
	uint32_t c;
	int err = fat_alloc(v, last, 1, &c, &c);

	if (err < 0)
		return err;
	/* Zeros reach the disk at once, before the FAT that links them. */
	for (uint32_t i = 0; i < v->sec_per_clus && !err; i++)
		err = fat_dev_write(v, clus_sector(v, c) + i, 1, zero);
	cache_discard(v, clus_sector(v, c), v->sec_per_clus);
	return err;
}

/* Finds `need` consecutive free entries; grows the directory if it must. */
static int find_room(struct fat_volume *v, uint32_t dir_cluster, unsigned need, uint32_t *start)
{
	struct fat_dir d;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];
	unsigned run = 0;

	dir_open(v, dir_cluster, &d);
	for (uint32_t i = 0;; i++) {
		if (i >= DIR_ENTRIES_MAX)
			return -ENOSPC; /* as large as a directory may be */
		int rc = entry_pos(&d, i, &pos);
		if (rc < 0)
			return rc;
		if (rc == 1) { /* past the last cluster */
			if (dir_cluster == 0)
				return -ENOSPC; /* the FAT12/16 root cannot grow */
			if ((rc = grow(v, d.cur_cluster)) < 0)
				return rc;
			i--; /* look at entry i again, now in the new cluster */
			continue;
		}
		if ((rc = dir_read_entry(v, pos, raw)) < 0)
			return rc;
		run = raw[0] == 0x00 || raw[0] == 0xE5 ? run + 1 : 0;
		if (run == need) {
			*start = i + 1 - need;
			return 0;
		}
	}
}

int dir_add(struct fat_volume *v, uint32_t dir_cluster, const char *name, uint8_t attr, uint32_t cluster,
	    uint32_t size, struct dir_slot *slot)
{
	uint16_t units[FAT_NAME_MAX + LFN_UNITS];
	uint8_t sfn[11], nt = 0;
	int err;

	if (!name_valid(name) || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	int n = utf8_to_utf16(name, units, FAT_NAME_MAX);
	if (n < 0)
		return n;
	unsigned pieces = 0;
	if (!short_name_exact(name, sfn, &nt)) {
		if ((err = make_short_name(v, dir_cluster, name, sfn)) < 0)
			return err;
		pieces = ((unsigned)n + LFN_UNITS - 1) / LFN_UNITS;
		units[n] = 0x0000; /* terminator, then 0xFFFF padding */
		for (int i = n + 1; i < (int)pieces * LFN_UNITS; i++)
			units[i] = 0xFFFF;
	}
	uint32_t start;
	if ((err = find_room(v, dir_cluster, pieces + 1, &start)) < 0)
		return err;

	struct fat_dir d;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];
	uint8_t sum = short_name_checksum(sfn);
	dir_open(v, dir_cluster, &d);
	for (unsigned k = 0; k < pieces; k++) {
		unsigned ord = pieces - k; /* the last piece comes first */
		memset(raw, 0, sizeof(raw));
		raw[0] = (uint8_t)(ord | (k == 0 ? LFN_LAST : 0));
		raw[11] = FAT_ATTR_LFN;
		raw[13] = sum; /* type 0 and first cluster 0 stay zero */
		for (int i = 0; i < LFN_UNITS; i++) {
			uint16_t u = units[(ord - 1) * LFN_UNITS + i];
			raw[lfn_offsets[i]] = (uint8_t)u;
			raw[lfn_offsets[i] + 1] = (uint8_t)(u >> 8);
		}
		if ((err = entry_pos(&d, start + k, &pos)) != 0 || (err = dir_write_entry(v, pos, raw)) < 0)
			return err < 0 ? err : -EIO;
	}
	uint16_t date, time;
	fat_now(&date, &time);
	memset(raw, 0, sizeof(raw));
	memcpy(raw, sfn, 11);
	if (raw[0] == 0xE5)
		raw[0] = 0x05;
	raw[11] = attr;
	raw[12] = nt;
	raw[14] = raw[22] = (uint8_t)time, raw[15] = raw[23] = (uint8_t)(time >> 8);
	raw[16] = raw[18] = raw[24] = (uint8_t)date;
	raw[17] = raw[19] = raw[25] = (uint8_t)(date >> 8);
	ent_set_cluster(raw, cluster);
	ent_set_size(raw, size);
	uint32_t index = start + pieces;
	if ((err = entry_pos(&d, index, &pos)) != 0 || (err = dir_write_entry(v, pos, raw)) < 0)
		return err < 0 ? err : -EIO;
	slot->dir_cluster = dir_cluster;
	slot->index = index;
	slot->first = start;
	slot->pos = pos;
	memcpy(slot->raw, raw, DIRENT_SIZE);
	return 0;
}

int dir_remove(struct fat_volume *v, const struct dir_slot *slot)
{
	struct fat_dir d;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];

	dir_open(v, slot->dir_cluster, &d);
	for (uint32_t i = slot->first; i <= slot->index; i++) {
		int err = entry_pos(&d, i, &pos);
		if (err == 0)
			err = dir_read_entry(v, pos, raw);
		if (err)
			return err < 0 ? err : -EIO;
		raw[0] = 0xE5;
		if ((err = dir_write_entry(v, pos, raw)) < 0)
			return err;
	}
	return 0;
}
