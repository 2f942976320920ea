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
 * an error (a chain that is damaged or longer than any directory may be:
 * a directory of exactly DIR_ENTRIES_MAX entries, 2 MiB, is whole). */
static int entry_pos(struct fat_dir *d, uint32_t index, struct fat_entry_pos *pos)
{
	struct fat_volume *v = d->vol;
	uint32_t per_sec = v->sec_bytes / DIRENT_SIZE;

	if (index > DIR_ENTRIES_MAX)
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
	if (index == DIR_ENTRIES_MAX)
		return -ELOOP; /* the chain goes on past 2 MiB */
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
	st->wtime = le16(raw + 22);
	st->wdate = le16(raw + 24);
}

/* Where a long name is being read, entry by entry. */
struct lfn_state {
	int left; /* pieces still expected; 0: no set being read; -1: complete */
	int count; /* pieces in the set */
	uint8_t sum; /* the short name checksum they carry */
	uint32_t first; /* entry number of the set's first piece */
};

/* Takes the long-name entry raw (entry number index); returns its ord
 * (1..20) if it belongs to the set being read, 0 if it is ignored. */
static int lfn_piece(struct lfn_state *st, const uint8_t *raw, uint32_t index)
{
	int ord = raw[0] & 0x1F;

	if (raw[0] & LFN_LAST) {
		st->left = ord >= 1 && ord <= 20 ? ord : 0;
		st->count = st->left;
		st->sum = raw[13];
		st->first = index;
		if (!st->left)
			return 0;
	} else if (st->left <= 0 || ord != st->left || raw[13] != st->sum) {
		st->left = 0; /* an orphaned or out-of-order piece: ignore the set */
		return 0;
	}
	if (--st->left == 0)
		st->left = -1; /* complete: the short entry must come next */
	return ord;
}

/* At the short entry raw: 1 if a complete set with its checksum came right
 * before it.  Either way no set is being read after it. */
static int lfn_end(struct lfn_state *st, const uint8_t *raw)
{
	int ok = st->left == -1 && short_name_checksum(raw) == st->sum;
	st->left = 0;
	return ok;
}

static uint16_t lfn_unit(const uint8_t *raw, int i) { return le16(raw + lfn_offsets[i]); }

/* Neither shown nor found: the volume label, "." and "..". */
static int entry_hidden(const uint8_t *raw)
{
	return ((raw[11] & FAT_ATTR_VOLUME) && !(raw[11] & FAT_ATTR_DIR)) ||
	       (raw[0] == '.' && (raw[1] == ' ' || (raw[1] == '.' && raw[2] == ' ')));
}

int dir_next(struct fat_dir *d, struct fat_dirent *e, struct dir_slot *slot)
{
	uint16_t units[20 * LFN_UNITS + 1];
	struct lfn_state st = {0};

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
			st.left = 0;
			continue;
		}
		if ((raw[11] & 0x3F) == FAT_ATTR_LFN) {
			int ord = lfn_piece(&st, raw, index);
			for (int i = 0; ord && i < LFN_UNITS; i++)
				units[(ord - 1) * LFN_UNITS + i] = lfn_unit(raw, i);
			continue;
		}
		int have_lfn = lfn_end(&st, raw);
		if (entry_hidden(raw))
			continue;
		e->name[0] = '\0';
		if (have_lfn) {
			int n = 0;
			while (n < st.count * LFN_UNITS && units[n] != 0x0000 && units[n] != 0xFFFF)
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
			slot->first = have_lfn ? st.first : index;
			slot->pos = pos;
			memcpy(slot->raw, raw, DIRENT_SIZE);
		}
		return 1;
	}
}

/* Points *e at entry index of d's directory and returns how many entries
 * its sector holds from there on; 0 past the end, or an error.  *e is valid
 * until the next cache call. */
static int entry_run(struct fat_dir *d, uint32_t index, uint8_t **e)
{
	struct fat_entry_pos pos;
	uint8_t *s;
	int rc = entry_pos(d, index, &pos);

	if (rc)
		return rc < 0 ? rc : 0;
	if ((rc = cache_get(d->vol, pos.sector, CACHE_DIR, &s)) < 0)
		return rc;
	*e = s + pos.offset;
	return (int)((d->vol->sec_bytes - pos.offset) / DIRENT_SIZE);
}

#define SFN_TRIES 1000 /* generated short names tried: ~1..~999 */

/* A lookup's single pass over a directory: it compares each entry with the
 * name (raw bytes, no name decoded) and, should the name be missing, plans
 * where dir_add puts it: the first free run long enough, and for a name
 * without an 8.3 form the first generated short name no entry has. */
struct scan {
	uint16_t units[20 * LFN_UNITS];
	int nunits; /* the name in UTF-16 units; -1: no long name can equal it */
	int lmatch; /* the set being read equals the name so far */
	unsigned need; /* entries a new set takes; 0: no plan (not a valid new name) */
	uint32_t run; /* free entries right before the current one */
	int gen; /* the short name is to be generated */
	uint8_t basis[11];
	uint32_t hash;
	uint8_t cand[4][11]; /* the basis with ~1..~4 */
	uint8_t taken[(SFN_TRIES + 8) / 8 + 1]; /* generated names already present */
	uint64_t key, mask; /* the name's start as a short entry's base must hold it */
};

/* The 8 bytes at p (as one word) with ASCII a-z upper-cased. */
static uint64_t upper8(const uint8_t *p)
{
	const uint64_t ones = 0x0101010101010101u, high = ones * 0x80;
	uint64_t w;

	memcpy(&w, p, 8);
	uint64_t low7 = w & ~high;
	uint64_t ge_a = low7 + ones * (0x80 - 'a'); /* top bit: low7 >= 'a' */
	uint64_t gt_z = low7 + ones * (0x7F - 'z'); /* top bit: low7 > 'z' */
	return w ^ ((ge_a & ~gt_z & ~w & high) >> 2);
}

/* Sets the quick test for short entries: the name's first b bytes before
 * any '.' (at most 8), which a short entry whose display form equals the
 * name has in bytes 0..b-1 of its base, the same up to case.  (A '?' may
 * stand for a byte the display form replaces: then nothing is tested.) */
static void set_key(struct scan *s, const char *name)
{
	uint8_t k[8] = {0}, m[8] = {0};

	for (int i = 0; i < 8 && name[i] && name[i] != '.'; i++) {
		if (name[i] == '?') {
			memset(m, 0, sizeof(m));
			break;
		}
		k[i] = (uint8_t)name[i];
		m[i] = 0xFF;
	}
	s->key = upper8(k);
	memcpy(&s->mask, m, 8);
}

/* Generated short name n (1 <= n < SFN_TRIES): the basis with ~1..~4,
 * then two characters of the basis, four hex digits of a hash of the name
 * and ~1..~9, as Windows does. */
static void sfn_candidate(const uint8_t basis[11], uint32_t hash, unsigned n, uint8_t sfn[11])
{
	static const char hex[] = "0123456789ABCDEF";

	memcpy(sfn, basis, 11);
	if (n <= 4) {
		short_name_tail(sfn, n);
		return;
	}
	uint32_t h = (hash + (n - 5) / 9 * 0x9E37u) & 0xFFFF;
	if (sfn[1] == ' ')
		sfn[1] = '_';
	for (int i = 0; i < 4; i++)
		sfn[2 + i] = (uint8_t)hex[(h >> (12 - 4 * i)) & 15];
	sfn[6] = sfn[7] = ' ';
	short_name_tail(sfn, (n - 5) % 9 + 1);
}

static void set_taken(struct scan *s, unsigned n) { s->taken[n / 8] |= (uint8_t)(1u << (n % 8)); }

/* Notes which generated short name, if any, the short entry raw has. */
static void mark_taken(struct scan *s, const uint8_t *raw)
{
	if (raw[0] != s->basis[0] || memcmp(raw + 8, s->basis + 8, 3) != 0)
		return;
	for (unsigned n = 1; n <= 4; n++) {
		if (memcmp(raw, s->cand[n - 1], 11) == 0) {
			set_taken(s, n);
			return;
		}
	}
	/* The hashed form: its group from the four hex digits, then ~1..~9. */
	if (raw[1] != (s->basis[1] == ' ' ? '_' : s->basis[1]) || raw[6] != '~' || raw[7] < '1' ||
	    raw[7] > '9')
		return;
	uint32_t h = 0;
	for (int i = 2; i < 6; i++) {
		uint8_t c = raw[i];
		if (c >= '0' && c <= '9')
			h = h << 4 | (uint32_t)(c - '0');
		else if (c >= 'A' && c <= 'F')
			h = h << 4 | (uint32_t)(c - 'A' + 10);
		else
			return;
	}
	/* h = hash + g * 0x9E37 (mod 2^16), and 0x7787 * 0x9E37 = 1 (mod 2^16). */
	uint32_t g = ((h - s->hash) * 0x7787u) & 0xFFFF;
	if (5 + g * 9 < SFN_TRIES)
		set_taken(s, 5 + g * 9 + (unsigned)(raw[7] - '1'));
}

/* Fills slot's plan for name from what the scan saw; the set starts at
 * entry `room`. */
static void plan(struct scan *s, const char *name, uint32_t room, struct dir_slot *slot)
{
	slot->planned = 0;
	if (!s->need)
		return;
	if (!short_name_exact(name, slot->sfn, &slot->nt)) {
		unsigned n = 1;
		while (n < SFN_TRIES && (s->taken[n / 8] >> (n % 8) & 1))
			n++;
		if (n == SFN_TRIES)
			return; /* dir_add finds none either: -EEXIST */
		sfn_candidate(s->basis, s->hash, n, slot->sfn);
		slot->nt = 0;
	}
	slot->room = room;
	slot->planned = 1;
}

/* The pass itself: looks name up if match is set (returns 1 with slot
 * filled when found) and otherwise plans its addition (returns 0). */
static int scan_dir(struct fat_volume *v, uint32_t dir_cluster, const char *name, int match,
		    struct dir_slot *slot)
{
	static struct scan s; /* large: kept off the stack */
	struct lfn_state st = {0};
	struct fat_dir d;
	uint8_t sfn[11], nt;
	uint32_t room = 0;
	int have_room = 0;

	s.nunits = utf8_to_utf16(name, s.units, 20 * LFN_UNITS);
	s.need = 0;
	if (s.nunits > 0 && s.nunits <= FAT_NAME_MAX && name_valid(name) && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0) {
		s.gen = !short_name_exact(name, sfn, &nt);
		s.need = s.gen ? ((unsigned)s.nunits + LFN_UNITS - 1) / LFN_UNITS + 1 : 1;
	}
	for (int i = 0; i < s.nunits; i++)
		if (s.units[i] == 0xFFFF)
			s.nunits = -1; /* a long name's padding: it ends any name read */
	if (s.need && s.gen) {
		short_name_basis(name, s.basis);
		s.hash = 2166136261u;
		for (const char *p = name; *p; p++)
			s.hash = (s.hash ^ (uint8_t)*p) * 16777619u;
		for (unsigned n = 1; n <= 4; n++)
			sfn_candidate(s.basis, s.hash, n, s.cand[n - 1]);
		memset(s.taken, 0, sizeof(s.taken));
	}
	int gen = s.need && s.gen;
	set_key(&s, name);
	s.run = 0;
	slot->dir_cluster = dir_cluster;
	slot->planned = 0;
	dir_open(v, dir_cluster, &d);
	for (uint32_t index = 0;;) {
		uint8_t *raw;
		int n = entry_run(&d, index, &raw);
		if (n < 0)
			return n;
		if (n == 0 || raw[0] == 0x00) { /* the end: free from here on */
			plan(&s, name, have_room ? room : index - s.run, slot);
			return 0;
		}
		for (; n > 0 && raw[0] != 0x00; n--, index++, raw += DIRENT_SIZE) {
			if (raw[0] == 0xE5) {
				st.left = 0;
				if (++s.run == s.need && !have_room)
					room = index + 1 - s.need, have_room = 1;
				continue;
			}
			s.run = 0;
			if ((raw[11] & 0x3F) == FAT_ATTR_LFN) {
				int ord = lfn_piece(&st, raw, index);
				if (!match || !ord)
					continue;
				if (raw[0] & LFN_LAST)
					s.lmatch = s.nunits > 0 && st.count * LFN_UNITS >= s.nunits;
				for (int i = 0, k = (ord - 1) * LFN_UNITS; i < LFN_UNITS && s.lmatch;
				     i++, k++) {
					uint16_t u = lfn_unit(raw, i), w = k < s.nunits ? s.units[k] : 0;
					if (k < s.nunits)
						s.lmatch = (u >= 'a' && u <= 'z' ? u - 32 : u) ==
							   (w >= 'a' && w <= 'z' ? w - 32 : w);
					else if (k == s.nunits)
						s.lmatch =
							u == 0x0000 || u == 0xFFFF; /* the name ends there */
				}
				continue;
			}
			if (gen)
				mark_taken(&s, raw);
			int have_lfn = lfn_end(&st, raw), long_equal = have_lfn && s.lmatch;
			if (!match || (!long_equal && ((upper8(raw) ^ s.key) & s.mask)))
				continue; /* told apart by the quick test */
			if (entry_hidden(raw) || !(long_equal || short_name_equal(raw, name)))
				continue;
			slot->index = index;
			slot->first = have_lfn ? st.first : index;
			memcpy(slot->raw, raw, DIRENT_SIZE);
			int err = entry_pos(&d, index, &slot->pos);
			return err ? (err < 0 ? err : -EIO) : 1;
		}
	}
}

int dir_lookup(struct fat_volume *v, uint32_t dir_cluster, const char *name, struct dir_slot *slot)
{
	int rc = scan_dir(v, dir_cluster, name, 1, slot);
	return rc < 0 ? rc : rc ? 0 : -ENOENT;
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
	/* The zeros are written now and made durable (a FLUSH, on a device
	 * with a volatile cache) before the FAT that links the cluster can be
	 * written back: never a directory cluster of stale bytes, which would
	 * read as entries.  If they fail, the cluster is unlinked again. */
	if ((err = fat_order(v, FAT_ORDER_LINKED)) == 0)
		for (uint32_t i = 0; i < v->sec_per_clus && !err; i++)
			err = fat_dev_write(v, clus_sector(v, c) + i, 1, zero);
	if (!err)
		err = fat_barrier(v);
	cache_discard(v, clus_sector(v, c), v->sec_per_clus);
	if (err < 0 && fat_set(v, last, EOC) == 0)
		fat_free_chain(v, c);
	return err;
}

/* Writes the long entries of the name units[0..n) (n > 0; units has room
 * for the padding) from entry `start` of d's directory on, with the short
 * name checksum sum. */
static int write_lfn(struct fat_volume *v, struct fat_dir *d, uint32_t start, uint16_t *units, int n,
		     uint8_t sum)
{
	unsigned pieces = ((unsigned)n + LFN_UNITS - 1) / LFN_UNITS;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];
	int err;

	units[n] = 0x0000; /* terminator, then 0xFFFF padding */
	for (int i = n + 1; i < (int)pieces * LFN_UNITS; i++)
		units[i] = 0xFFFF;
	for (unsigned k = 0; k < pieces; k++) {
		unsigned ord = pieces - k; /* the last piece comes first */
		memset(raw, 0, sizeof(raw));
		raw[0] = (uint8_t)(ord | (k == 0 ? LFN_LAST : 0));
		raw[11] = FAT_ATTR_LFN;
		raw[13] = sum; /* type 0 and first cluster 0 stay zero */
		for (int i = 0; i < LFN_UNITS; i++)
			put16(raw + lfn_offsets[i], units[(ord - 1) * LFN_UNITS + i]);
		if ((err = entry_pos(d, start + k, &pos)) != 0 || (err = dir_write_entry(v, pos, raw)) < 0)
			return err < 0 ? err : -EIO;
	}
	return 0;
}

/* A new entry's name in UTF-16: its length, or -EINVAL / -ENAMETOOLONG. */
static int name_units(const char *name, uint16_t *units)
{
	if (!name_valid(name) || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	return utf8_to_utf16(name, units, FAT_NAME_MAX);
}

int dir_name_check(const char *name)
{
	static uint16_t units[FAT_NAME_MAX];
	int n = name_units(name, units);

	return n < 0 ? n : 0;
}

int dir_add(struct fat_volume *v, uint32_t dir_cluster, const char *name, uint8_t attr, uint32_t cluster,
	    uint32_t size, struct dir_slot *slot)
{
	uint16_t units[FAT_NAME_MAX + LFN_UNITS];
	uint8_t sfn[11], nt;
	int err, n = name_units(name, units);

	if (n < 0)
		return n;
	if (!slot->planned || slot->dir_cluster != dir_cluster) {
		if ((err = scan_dir(v, dir_cluster, name, 0, slot)) < 0)
			return err;
		if (!slot->planned)
			return -EEXIST; /* every generated short name is taken */
	}
	slot->planned = 0;
	uint32_t start = slot->room;
	unsigned pieces = 0;
	if (!short_name_exact(name, sfn, &nt))
		pieces = ((unsigned)n + LFN_UNITS - 1) / LFN_UNITS;
	memcpy(sfn, slot->sfn, 11);
	nt = slot->nt;
	if (start + pieces + 1 > DIR_ENTRIES_MAX)
		return -ENOSPC; /* as large as a directory may be */

	struct fat_dir d;
	struct fat_entry_pos pos;
	uint8_t raw[DIRENT_SIZE];
	dir_open(v, dir_cluster, &d);
	/* The whole set must fit before any of it is written. */
	while ((err = entry_pos(&d, start + pieces, &pos)) != 0) {
		if (err < 0)
			return err;
		if (dir_cluster == 0)
			return -ENOSPC; /* the FAT12/16 root cannot grow */
		if ((err = grow(v, d.cur_cluster)) < 0)
			return err;
	}
	if (pieces && (err = write_lfn(v, &d, start, units, n, short_name_checksum(sfn))) < 0)
		return err;
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

int dir_rename_case(struct fat_volume *v, const struct dir_slot *slot, const char *name)
{
	uint16_t units[FAT_NAME_MAX + LFN_UNITS];
	uint8_t sfn[11], nt, raw[DIRENT_SIZE];
	unsigned pieces = slot->index - slot->first;
	struct fat_dir d;
	int err;

	if (!name_valid(name))
		return -EINVAL;
	memcpy(raw, slot->raw, DIRENT_SIZE);
	if (raw[0] == 0x05)
		raw[0] = 0xE5;
	if (short_name_exact(name, sfn, &nt) && memcmp(sfn, raw, 11) == 0) {
		/* The short name itself in other case: the long entries go (if
		 * any), then the case flags change.  Either write alone leaves a
		 * consistent entry under the old or the new name. */
		struct dir_slot lfn = *slot;
		if (pieces) {
			lfn.index = slot->index - 1;
			if ((err = dir_remove(v, &lfn)) < 0)
				return err;
		}
		memcpy(raw, slot->raw, DIRENT_SIZE);
		raw[12] = (uint8_t)((raw[12] & ~0x18) | nt);
		err = dir_write_entry(v, slot->pos, raw);
		return err < 0 ? err : 1;
	}
	int n = utf8_to_utf16(name, units, FAT_NAME_MAX);
	if (n < 0)
		return n;
	if (!pieces || ((unsigned)n + LFN_UNITS - 1) / LFN_UNITS != pieces)
		return 0;
	/* As many long entries as the old name: rewritten in place, with the
	 * same short name and checksum.  A crash part way leaves a long name
	 * with some pieces in the old case, still matching its short entry. */
	dir_open(v, slot->dir_cluster, &d);
	err = write_lfn(v, &d, slot->first, units, n, short_name_checksum(slot->raw));
	return err < 0 ? err : 1;
}
