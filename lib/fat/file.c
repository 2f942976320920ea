/*
 * Files and directories by path: stat, listing, open/read/write/truncate,
 * mkdir, remove, rename.
 *
 * File data never enters the sector cache: whole sectors move between the
 * caller's buffer and the device (fat_io merges contiguous clusters into
 * large requests and keeps several in flight); only a sector cut by the
 * start or end of a request goes through a bounce buffer.
 *
 * Order on disk, so that a crash is harmless: new clusters are written
 * before the FAT that links them (the cache writes FAT sectors only at
 * sync or eviction), and the FAT before the directory entry that points at
 * the chain.  Freeing goes the other way: the entry that stops pointing at
 * clusters is written before the FAT frees them.  A FLUSH separates the
 * two (fat_order) on a device with a volatile cache, so this holds against
 * a host crash too.  A rename writes the new entry before it deletes the
 * old.  What a crash can leave: lost clusters, a chain longer than its
 * file's size (a FAT window evicted while the file grew, before its entry's
 * new size was written: fsck truncates the chain, no byte within the size
 * is lost), a renamed file under both names; never what was synced lost,
 * nor an entry pointing at a free cluster (docs/fat.md has the full list,
 * which tests/unit/test_fat_crash.c checks).
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define ZERO_BYTES (64 * 1024) /* at least one cluster */

static _Alignas(64) uint8_t bounce[FAT_SECTOR_MAX];
static _Alignas(64) uint8_t zeros[ZERO_BYTES];
static struct fat_path path_a, path_b; /* large: kept off the stack */

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* The root, or a path ending in "." or "..": a directory without an entry. */
static void dir_only_stat(struct fat_volume *v, uint32_t dir, struct fat_stat *st)
{
	*st = (struct fat_stat){.is_dir = 1, .cluster = dir ? dir : dir_root(v), .attr = FAT_ATTR_DIR};
}

int fat_stat(struct fat_volume *v, const char *path, struct fat_stat *st)
{
	struct dir_slot slot;
	int err = path_walk(v, path, &path_a);

	if (err < 0)
		return err;
	if (!path_a.leaf[0]) {
		dir_only_stat(v, path_a.dir, st);
		return 0;
	}
	if ((err = dir_lookup(v, path_a.dir, path_a.leaf, &slot)) < 0)
		return err;
	dir_stat(v, slot.raw, st);
	return 0;
}

int fat_opendir(struct fat_volume *v, const char *path, struct fat_dir *d)
{
	struct dir_slot slot;
	int err = path_walk(v, path, &path_a);

	if (err < 0)
		return err;
	uint32_t c = path_a.dir;
	if (path_a.leaf[0]) {
		if ((err = dir_lookup(v, path_a.dir, path_a.leaf, &slot)) < 0)
			return err;
		if (!(slot.raw[11] & FAT_ATTR_DIR))
			return -ENOTDIR;
		c = ent_cluster(v, slot.raw);
		if ((err = path_check_dir(v, &path_a, c)) < 0)
			return err;
	}
	dir_open(v, c, d);
	return 0;
}

int fat_readdir(struct fat_dir *d, struct fat_dirent *e) { return dir_next(d, e, NULL); }

/* Sets *out to the index-th cluster of the file (index < nclusters). */
static int seek(struct fat_file *f, uint32_t index, uint32_t *out)
{
	struct fat_volume *v = f->vol;

	if (index == f->nclusters - 1) {
		*out = f->last_cluster;
		return 0;
	}
	if (!f->pos_cluster || index < f->pos_index) {
		f->pos_index = 0;
		f->pos_cluster = f->first_cluster;
	}
	while (f->pos_index < index) {
		uint32_t next, k;
		int err = fat_run(v, f->pos_cluster, index - f->pos_index, &k);
		if (err < 0)
			return err;
		f->pos_cluster += k;
		f->pos_index += k;
		if (f->pos_index == index)
			break;
		if ((err = fat_get(v, f->pos_cluster, &next)) < 0)
			return err;
		if (!clus_valid(v, next))
			return -EBADMSG;
		f->pos_cluster = next;
		f->pos_index++;
	}
	*out = f->pos_cluster;
	return 0;
}

/* Moves len bytes at off between buf and the file's clusters (which must
 * exist), a run of contiguous clusters at a time.  A write with buf NULL
 * writes zeros.  A sector cut by the end of a write is read first only if
 * the file has data after the written bytes in it. */
static int data_io(struct fat_file *f, enum blk_op op, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct fat_volume *v = f->vol;
	uint32_t sb = v->sec_bytes, cb = v->clus_bytes;
	struct fat_io io;
	int err = op == BLK_WRITE ? fat_order(v, FAT_ORDER_LINKED) : 0;

	if (err < 0)
		return err;
	fat_io_start(&io, v, op);
	while (len && !err) {
		uint32_t c, k = 0, index = off / cb, in = off % cb;
		if ((err = seek(f, index, &c)) < 0)
			break;
		/* How many of the further clusters this request touches follow c
		 * on disk. */
		uint32_t want = (uint32_t)(((uint64_t)in + len + cb - 1) / cb) - 1;
		if (want && (err = fat_run(v, c, want, &k)) < 0)
			break;
		if (k) {
			f->pos_cluster = c + k;
			f->pos_index = index + k;
		}
		uint64_t avail = (uint64_t)(k + 1) * cb - in;
		uint32_t n = avail < len ? (uint32_t)avail : len;
		uint32_t sector = clus_sector(v, c) + in / sb, soff = in % sb;
		if (soff == 0 && n >= sb) { /* whole sectors: straight to the device */
			if (!buf && n > ZERO_BYTES)
				n = ZERO_BYTES;
			n -= n % sb;
			err = fat_io_add(&io, sector, n / sb, buf ? buf : zeros);
		} else { /* part of a sector: read (if it matters), modify, write */
			n = min32(n, sb - soff);
			if (op == BLK_WRITE && soff == 0 && off + n >= f->size)
				memset(bounce, 0, sb); /* no byte of the file follows */
			else
				err = fat_dev_read(v, sector, 1, bounce);
			if (!err && op == BLK_READ) {
				memcpy(buf, bounce + soff, n);
			} else if (!err) {
				if (buf)
					memcpy(bounce + soff, buf, n);
				else
					memset(bounce + soff, 0, n);
				err = fat_dev_write(v, sector, 1, bounce);
			}
		}
		off += n;
		len -= n;
		if (buf)
			buf += n;
	}
	int done = fat_io_finish(&io);
	return err ? err : done;
}

/* Writes the file's first cluster, size and modification time into its
 * directory entry (in the cache). */
static int update_entry(struct fat_file *f)
{
	uint8_t raw[DIRENT_SIZE];
	uint16_t date, time;
	int err = dir_read_entry(f->vol, f->entry, raw);

	if (err < 0)
		return err;
	fat_now(&date, &time);
	ent_set_cluster(raw, f->first_cluster);
	ent_set_size(raw, f->size);
	raw[11] |= FAT_ATTR_ARCHIVE;
	raw[18] = (uint8_t)date, raw[19] = (uint8_t)(date >> 8); /* access date */
	raw[22] = (uint8_t)time, raw[23] = (uint8_t)(time >> 8);
	raw[24] = (uint8_t)date, raw[25] = (uint8_t)(date >> 8);
	return dir_write_entry(f->vol, f->entry, raw);
}

/* Makes the chain long enough for size bytes; all-or-nothing. */
static int grow_chain(struct fat_file *f, uint32_t size)
{
	struct fat_volume *v = f->vol;
	uint32_t need = (uint32_t)(((uint64_t)size + v->clus_bytes - 1) / v->clus_bytes), first, last;

	if (need <= f->nclusters)
		return 0;
	int err = fat_alloc(v, f->last_cluster, need - f->nclusters, &first, &last);
	if (err < 0)
		return err;
	if (!f->first_cluster)
		f->first_cluster = first;
	f->last_cluster = last;
	f->nclusters = need;
	return 0;
}

/* Cuts the chain to keep clusters (FAT changes in the cache only). */
static int cut_chain(struct fat_file *f, uint32_t keep)
{
	struct fat_volume *v = f->vol;
	uint32_t c, next;
	int err;

	if (keep >= f->nclusters)
		return 0;
	if (keep == 0) {
		err = fat_free_chain(v, f->first_cluster);
		f->first_cluster = f->last_cluster = 0;
	} else {
		if ((err = seek(f, keep - 1, &c)) < 0 || (err = fat_get(v, c, &next)) < 0 ||
		    (err = fat_set(v, c, EOC)) < 0)
			return err;
		f->last_cluster = c;
		if (clus_valid(v, next))
			err = fat_free_chain(v, next);
	}
	f->nclusters = keep;
	f->pos_index = 0;
	f->pos_cluster = 0;
	return err;
}

int fat_open(struct fat_volume *v, const char *path, int flags, struct fat_file *f)
{
	struct dir_slot slot;
	int err;

	if ((flags & (FAT_O_CREATE | FAT_O_TRUNC)) && !(flags & FAT_O_WRITE))
		return -EINVAL;
	if ((err = path_walk(v, path, &path_a)) < 0)
		return err;
	if (!path_a.leaf[0])
		return -EISDIR;
	err = dir_lookup(v, path_a.dir, path_a.leaf, &slot);
	if (err == -ENOENT && (flags & FAT_O_CREATE)) {
		if ((err = dir_name_check(path_a.leaf)) < 0 || (err = fat_begin_change(v)) < 0)
			return err;
		err = dir_add(v, path_a.dir, path_a.leaf, FAT_ATTR_ARCHIVE, 0, 0, &slot);
	} else if (err == 0 && (flags & FAT_O_CREATE) && (flags & FAT_O_EXCL)) {
		return -EEXIST;
	}
	if (err < 0)
		return err;
	if (slot.raw[11] & FAT_ATTR_DIR)
		return -EISDIR;
	if ((flags & FAT_O_WRITE) && v->read_only)
		return -EROFS;
	*f = (struct fat_file){.vol = v,
			       .entry = slot.pos,
			       .first_cluster = ent_cluster(v, slot.raw),
			       .size = ent_size(slot.raw),
			       .writable = !!(flags & FAT_O_WRITE)};
	if (f->first_cluster) {
		if ((err = fat_chain_check(v, f->first_cluster, &f->nclusters, &f->last_cluster)) < 0)
			return err;
	}
	if ((uint64_t)f->nclusters * v->clus_bytes < f->size)
		return -EBADMSG; /* the chain is shorter than the file */
	if (flags & FAT_O_TRUNC)
		return fat_truncate(f, 0);
	return 0;
}

ssize_t fat_read(struct fat_file *f, uint32_t off, void *buf, size_t len)
{
	if (off >= f->size)
		return 0;
	uint32_t n = (uint32_t)(len < f->size - off ? len : f->size - off);
	int err = data_io(f, BLK_READ, off, buf, n);
	return err < 0 ? err : (ssize_t)n;
}

ssize_t fat_write(struct fat_file *f, uint32_t off, const void *buf, size_t len)
{
	struct fat_volume *v = f->vol;
	uint32_t old_clusters = f->nclusters;
	int err;

	if (!f->writable)
		return -EBADF;
	if (len == 0)
		return 0;
	if (len > 0xFFFFFFFFu - off)
		return -EFBIG;
	uint32_t end = off + (uint32_t)len;
	if ((err = fat_begin_change(v)) < 0 || (err = grow_chain(f, end)) < 0)
		return err;
	if (off > f->size)
		err = data_io(f, BLK_WRITE, f->size, NULL, off - f->size);
	if (!err)
		err = data_io(f, BLK_WRITE, off, (uint8_t *)buf, (uint32_t)len);
	if (err < 0) {
		/* The entry never pointed at the new clusters: give them back. */
		cut_chain(f, old_clusters);
		return err;
	}
	if (end > f->size)
		f->size = end;
	if ((err = update_entry(f)) < 0)
		return err;
	return (ssize_t)len;
}

int fat_truncate(struct fat_file *f, uint32_t size)
{
	struct fat_volume *v = f->vol;
	int err;

	if (!f->writable)
		return -EBADF;
	if (size == f->size && (size || !f->first_cluster))
		return 0;
	if ((err = fat_begin_change(v)) < 0)
		return err;
	if (size > f->size) {
		uint32_t old_clusters = f->nclusters;
		if ((err = grow_chain(f, size)) < 0)
			return err;
		if ((err = data_io(f, BLK_WRITE, f->size, NULL, size - f->size)) < 0) {
			cut_chain(f, old_clusters);
			return err;
		}
		f->size = size;
		return update_entry(f);
	}
	/* Shrinking: the entry stops pointing at the clusters first. */
	uint32_t keep = (uint32_t)(((uint64_t)size + v->clus_bytes - 1) / v->clus_bytes);
	uint32_t first = f->first_cluster, old_size = f->size;
	f->size = size;
	if (keep == 0)
		f->first_cluster = 0;
	if ((err = update_entry(f)) < 0 || (err = cache_write(v, f->entry.sector)) < 0) {
		/* The file as it was, in memory and in the cached entry. */
		f->size = old_size;
		f->first_cluster = first;
		update_entry(f);
		return err;
	}
	f->first_cluster = first;
	return cut_chain(f, keep);
}

/* Writes a new directory's first cluster: "." and "..", then zeros. */
static int init_dir_cluster(struct fat_volume *v, uint32_t c, uint32_t parent)
{
	uint16_t date, time;
	uint32_t sector = clus_sector(v, c);
	int err = 0;

	if ((err = fat_order(v, FAT_ORDER_LINKED)) < 0)
		return err;
	fat_now(&date, &time);
	memset(bounce, 0, v->sec_bytes);
	for (int i = 0; i < 2; i++) {
		uint8_t *e = bounce + i * DIRENT_SIZE;
		memset(e, ' ', 11);
		memset(e, '.', (size_t)i + 1);
		e[11] = FAT_ATTR_DIR;
		e[14] = e[22] = (uint8_t)time, e[15] = e[23] = (uint8_t)(time >> 8);
		e[16] = e[18] = e[24] = (uint8_t)date, e[17] = e[19] = e[25] = (uint8_t)(date >> 8);
		ent_set_cluster(e, i == 0 ? c : parent);
	}
	err = fat_dev_write(v, sector, 1, bounce);
	if (!err && v->sec_per_clus > 1)
		err = fat_dev_write(v, sector + 1, v->sec_per_clus - 1, zeros);
	cache_discard(v, sector, v->sec_per_clus);
	return err;
}

/* The cluster a ".." entry names for the directory dir: 0 for the root. */
static uint32_t dotdot_of(const struct fat_volume *v, uint32_t dir) { return dir == dir_root(v) ? 0 : dir; }

int fat_mkdir(struct fat_volume *v, const char *path)
{
	struct dir_slot slot;
	uint32_t c;
	int err;

	if ((err = path_walk(v, path, &path_a)) < 0)
		return err;
	if (!path_a.leaf[0])
		return -EEXIST;
	err = dir_lookup(v, path_a.dir, path_a.leaf, &slot);
	if (err == 0)
		return -EEXIST;
	if (err != -ENOENT)
		return err;
	if ((err = dir_name_check(path_a.leaf)) < 0 || (err = fat_begin_change(v)) < 0 ||
	    (err = fat_alloc(v, 0, 1, &c, &c)) < 0)
		return err;
	if ((err = init_dir_cluster(v, c, dotdot_of(v, path_a.dir))) < 0 ||
	    (err = dir_add(v, path_a.dir, path_a.leaf, FAT_ATTR_DIR, c, 0, &slot)) < 0) {
		fat_free_chain(v, c);
		return err;
	}
	return 0;
}

/* 0 if the directory at cluster c holds nothing but "." and "..". */
static int dir_empty(struct fat_volume *v, uint32_t c)
{
	static struct fat_dirent e;
	struct fat_dir d;

	dir_open(v, c, &d);
	int rc = dir_next(&d, &e, NULL);
	return rc < 0 ? rc : rc ? -ENOTEMPTY : 0;
}

int fat_remove(struct fat_volume *v, const char *path)
{
	struct dir_slot slot;
	uint32_t len, last;
	int err;

	if ((err = path_walk(v, path, &path_a)) < 0)
		return err;
	if (!path_a.leaf[0])
		return -EINVAL; /* the root, "." or ".." */
	if ((err = dir_lookup(v, path_a.dir, path_a.leaf, &slot)) < 0)
		return err;
	uint32_t c = ent_cluster(v, slot.raw);
	int is_dir = !!(slot.raw[11] & FAT_ATTR_DIR);
	if (is_dir) {
		if ((err = path_check_dir(v, &path_a, c)) < 0 || (err = dir_empty(v, c)) < 0)
			return err;
	} else {
		len = 0;
		if (c && (err = fat_chain_check(v, c, &len, &last)) < 0)
			return err;
		if ((uint64_t)len * v->clus_bytes < ent_size(slot.raw))
			return -EBADMSG; /* shorter than the file: leave it for fsck */
	}
	/* The entry goes first (and reaches the disk), then the clusters.  The
	 * flush also leaves no dirty cached sector of a removed directory that
	 * could later land on its clusters' next owner. */
	if ((err = fat_begin_change(v)) < 0 || (err = dir_remove(v, &slot)) < 0 ||
	    (err = cache_flush(v, 1)) < 0)
		return err;
	return c ? fat_free_chain(v, c) : 0;
}

int fat_rename(struct fat_volume *v, const char *from, const char *to)
{
	struct dir_slot src, dst;
	int err;

	if ((err = path_walk(v, from, &path_a)) < 0)
		return err;
	if (!path_a.leaf[0])
		return -EINVAL;
	if ((err = dir_lookup(v, path_a.dir, path_a.leaf, &src)) < 0)
		return err;
	if ((err = path_walk(v, to, &path_b)) < 0)
		return err;
	if (!path_b.leaf[0])
		return -EEXIST;
	err = dir_lookup(v, path_b.dir, path_b.leaf, &dst);
	if (err == 0 && !(dst.dir_cluster == src.dir_cluster && dst.index == src.index))
		return -EEXIST;
	if (err < 0 && err != -ENOENT)
		return err;
	if (err == 0) {
		/* The same entry: a change of case, made in place if it can be.
		 * Otherwise the new name needs a long entry the old (8.3) one
		 * lacks; dir_add below then gives it a generated short name,
		 * which no entry has: never two equal short names on disk. */
		if ((err = fat_begin_change(v)) < 0 || (err = dir_rename_case(v, &src, path_b.leaf)) != 0)
			return err < 0 ? err : 0;
	}

	uint32_t c = ent_cluster(v, src.raw);
	int is_dir = !!(src.raw[11] & FAT_ATTR_DIR);
	int moved = path_a.dir != path_b.dir;
	uint8_t dotdot[DIRENT_SIZE];
	struct fat_entry_pos dotdot_pos = {0, DIRENT_SIZE};
	if (is_dir) {
		/* Never into itself: the target's parent must not be it or lie
		 * below it. */
		if (c == path_b.dir)
			return -EINVAL;
		for (int i = 0; i < path_b.depth; i++)
			if (path_b.anc[i] == c)
				return -EINVAL;
		if ((err = path_check_dir(v, &path_a, c)) < 0)
			return err;
		dotdot_pos.sector = clus_sector(v, c);
		if (moved && (err = dir_read_entry(v, dotdot_pos, dotdot)) < 0)
			return err;
		if (moved && (memcmp(dotdot, "..         ", 11) != 0 || !(dotdot[11] & FAT_ATTR_DIR)))
			return -EBADMSG; /* no ".." where it must be */
	}
	if ((err = dir_name_check(path_b.leaf)) < 0 || (err = fat_begin_change(v)) < 0)
		return err;
	/* Steps, each on disk before the next, so that no crash loses what is
	 * being renamed: the new entry, whole; a moved directory's ".."; the
	 * old entry deleted.  A crash between them leaves the chain under both
	 * names (fsck.fat keeps it under one), never under none. */
	if ((err = dir_add(v, path_b.dir, path_b.leaf, FAT_ATTR_ARCHIVE, 0, 0, &dst)) < 0)
		return err;
	memcpy(dst.raw + 13, src.raw + 13, DIRENT_SIZE - 13); /* times, cluster, size */
	dst.raw[11] = src.raw[11];
	if ((err = dir_write_entry(v, dst.pos, dst.raw)) < 0 || (err = cache_flush(v, 1)) < 0 ||
	    (err = fat_barrier(v)) < 0)
		return err;
	if (is_dir && moved) {
		ent_set_cluster(dotdot, dotdot_of(v, path_b.dir));
		if ((err = dir_write_entry(v, dotdot_pos, dotdot)) < 0 || (err = cache_flush(v, 1)) < 0 ||
		    (err = fat_barrier(v)) < 0)
			return err;
	}
	return dir_remove(v, &src);
}
