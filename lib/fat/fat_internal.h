/* Shared between the files of lib/fat; not part of the interface. */
#ifndef LIB_FAT_INTERNAL_H
#define LIB_FAT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/fat/fat.h"

#define FAT_SECTOR_MAX 4096
#define DIRENT_SIZE 32
#define EOC 0x0FFFFFFF /* end of chain, as get_entry returns it for every type */
#define BAD 0x0FFFFFF7

/* Little-endian fields of on-disk structures. */
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static inline int pow2(uint32_t x) { return x && !(x & (x - 1)); }

/* ---- part.c: where the volume starts ---- */
/* Sets *lba and *count (device sectors) of the first FAT volume; buf holds
 * FAT_SECTOR_MAX bytes of scratch.  Returns 0, or -EBADMSG with *why (no
 * FAT volume, a damaged GPT), or a device error. */
int fat_find_volume(struct blk_device *dev, uint8_t *buf, uint64_t *lba, uint64_t *count, const char **why);
/* 1 if the sector looks like a FAT boot sector (jump, sane BPB fields). */
int fat_looks_like_bpb(const uint8_t *s);
uint32_t fat_crc32(uint32_t crc, const void *data, size_t len);

/* ---- cache.c: FAT and directory sectors ---- */
/* The cache names a FAT sector by its place in the first FAT (reserved +
 * n); it is read from the active FAT, which starts here. */
static inline uint32_t fat_first_sector(const struct fat_volume *v)
{
	return v->reserved + v->active_fat * v->fat_sectors;
}
enum cache_kind { CACHE_FAT = 1, CACHE_DIR = 2 };
/* Sets *out to the cached copy of sector (reading it if needed); returns 0
 * or an error.  The pointer is valid until the next cache call. */
int cache_get(struct fat_volume *v, uint32_t sector, enum cache_kind kind, uint8_t **out);
/* Marks sector dirty (it must be cached: call right after cache_get). */
void cache_dirty(struct fat_volume *v, uint32_t sector);
/* Writes dirty sectors: all FAT sectors (to every FAT copy) first, then, if
 * dirs, directory sectors.  The order keeps a crash harmless. */
int cache_flush(struct fat_volume *v, int dirs);
void cache_forget(struct fat_volume *v);
/* Writes one dirty sector now (a directory sector only after every dirty
 * FAT sector): for changes whose order on disk matters. */
int cache_write(struct fat_volume *v, uint32_t sector);
/* Drops count sectors from sector on, dirty or not: the device copy was
 * just overwritten directly, or the sectors were freed. */
void cache_discard(struct fat_volume *v, uint32_t sector, uint32_t count);
/* Sets *p to byte off of the (first) FAT in the cache, and *bytes to how
 * many follow it in the same cached window (at least the rest of its
 * sector).  Valid until the next cache call. */
int cache_fat_span(struct fat_volume *v, uint32_t off, uint8_t **p, uint32_t *bytes);
/* Marks bytes of the FAT from off dirty (call right after cache_fat_span). */
void cache_fat_dirty(struct fat_volume *v, uint32_t off, uint32_t bytes);

/* ---- order on disk ----
 * Writes come in two classes that must reach the medium in order: file
 * data and the FAT (new clusters) before the directory entries that point
 * at them, and directory entries that stop pointing at clusters before the
 * FAT frees them.  Before a write of one class, if the other was written
 * since the last FLUSH, a FLUSH makes it durable first (blk_flush does
 * nothing on a device without a volatile cache). */
enum { FAT_ORDER_LINKED = 1, FAT_ORDER_ENTRY = 2 };
int fat_order(struct fat_volume *v, int cls);
/* A FLUSH if anything was written since the last one: for steps of one
 * class that must not be reordered (rename's three). */
int fat_barrier(struct fat_volume *v);
/* blk_flush, noting that nothing is pending. */
int fat_dev_flush(struct fat_volume *v);

/* ---- io: whole sectors straight to the device ---- */
int fat_dev_read(struct fat_volume *v, uint32_t sector, uint32_t count, void *buf);
int fat_dev_write(struct fat_volume *v, uint32_t sector, uint32_t count, const void *buf);
/* Marks the volume dirty on disk before its first change since a sync. */
int fat_begin_change(struct fat_volume *v);

/* ---- io.c: file data, many requests in flight ---- */
#define FAT_IO_QD 4
struct fat_io {
	struct fat_volume *vol;
	enum blk_op op;
	struct blk_request req[FAT_IO_QD];
	int busy[FAT_IO_QD];
	unsigned next;
	int err;
	uint32_t pend_sector, pend_count; /* an extent not yet sent, growing */
	uint8_t *pend_buf;
};
void fat_io_start(struct fat_io *io, struct fat_volume *v, enum blk_op op);
/* Adds count whole sectors at sector <-> buf; merges with the extent before
 * it when both are contiguous. */
int fat_io_add(struct fat_io *io, uint32_t sector, uint32_t count, void *buf);
/* Sends what is pending and waits for everything; the first error. */
int fat_io_finish(struct fat_io *io);

/* ---- table.c: the FAT ---- */
static inline uint32_t clus_sector(const struct fat_volume *v, uint32_t c)
{
	return v->data_sector + (c - 2) * v->sec_per_clus;
}
static inline int clus_valid(const struct fat_volume *v, uint32_t c)
{
	return c >= 2 && c <= v->clusters + 1;
}

/* The entry of cluster c, normalised: 0 free, 2.. next cluster, BAD, EOC. */
int fat_get(struct fat_volume *v, uint32_t c, uint32_t *next);
int fat_set(struct fat_volume *v, uint32_t c, uint32_t value);
/* How many steps k <= max the chain from c takes to c+1, c+2, ... c+k
 * (contiguous clusters); sets *k. */
int fat_run(struct fat_volume *v, uint32_t c, uint32_t max, uint32_t *k);
/* Walks the chain from first: *len clusters, *last the tail.  Fails with
 * -EBADMSG (leaves the data area, reaches a free or bad cluster) or -ELOOP. */
int fat_chain_check(struct fat_volume *v, uint32_t first, uint32_t *len, uint32_t *last);
/* Allocates n clusters linked after `after` (0: a new chain), preferring the
 * clusters right after it; *first and *last get the first and last new
 * ones.  All-or-nothing: -ENOSPC leaves the FAT as it was. */
int fat_alloc(struct fat_volume *v, uint32_t after, uint32_t n, uint32_t *first, uint32_t *last);
/* Frees the chain from c on (c itself included). */
int fat_free_chain(struct fat_volume *v, uint32_t c);
/* The cluster n steps along from c (validated chains only). */
int fat_walk(struct fat_volume *v, uint32_t c, uint32_t n, uint32_t *out);
int fat_count_free(struct fat_volume *v, uint32_t *free);

/* ---- name.c ---- */
/* Splits UTF-8 into UTF-16 units; returns the count or -EINVAL/-ENAMETOOLONG. */
int utf8_to_utf16(const char *s, uint16_t *out, int max);
/* Appends UTF-16 units as UTF-8 to out (size bytes); returns 0 or -EINVAL. */
int utf16_to_utf8(const uint16_t *u, int n, char *out, size_t size);
/* The 8.3 form of name if it has one, possibly with NT lower-case flags
 * (*nt); returns 1 if name fits 8.3 exactly, 0 if it needs a long entry. */
int short_name_exact(const char *name, uint8_t sfn[11], uint8_t *nt);
/* The basis of a generated short name (upper case, invalid bytes as '_'). */
void short_name_basis(const char *name, uint8_t sfn[11]);
/* Replaces the tail of sfn with ~n (n >= 1). */
void short_name_tail(uint8_t sfn[11], unsigned n);
uint8_t short_name_checksum(const uint8_t sfn[11]);
/* The display form of a short entry, with NT case flags applied. */
void short_name_display(const uint8_t sfn[11], uint8_t nt, char *out);
/* 1 if name equals the display form of sfn (case-insensitively): the same
 * as name_equal() against short_name_display(), without building it. */
int short_name_equal(const uint8_t sfn[11], const char *name);
/* Case-insensitive (ASCII) equality of UTF-8 names. */
int name_equal(const char *a, const char *b);
/* 1 if the UTF-8 name is a valid long name (no / \ : * ? " < > | or control). */
int name_valid(const char *name);

/* ---- dir.c ---- */
struct dir_slot {
	uint32_t dir_cluster; /* the directory it is in (0: FAT12/16 root) */
	uint32_t index; /* entry number of the short entry */
	uint32_t first; /* entry number of the set's first entry */
	struct fat_entry_pos pos; /* where the short entry is */
	uint8_t raw[DIRENT_SIZE]; /* the short entry */
	/* After dir_lookup found nothing (planned set): where dir_add puts the
	 * name, found in the same pass. */
	int planned;
	uint32_t room; /* entry number of the new set's first entry */
	uint8_t sfn[11], nt; /* its short name and NT case flags */
};
/* Looks name up in the directory that starts at dir_cluster (0: FAT12/16
 * root).  Returns 0 with *slot filled, -ENOENT (with *slot holding a plan
 * for dir_add), or an error. */
int dir_lookup(struct fat_volume *v, uint32_t dir_cluster, const char *name, struct dir_slot *slot);
/* Starts an iteration over the directory at cluster (0: the root). */
void dir_open(struct fat_volume *v, uint32_t cluster, struct fat_dir *d);
/* Reads the next entry set (for readdir and lookup): 1, or 0 at the end. */
int dir_next(struct fat_dir *d, struct fat_dirent *e, struct dir_slot *slot);
/* The cluster a ".." or directory entry's 0 means: the root. */
uint32_t dir_root(const struct fat_volume *v);
/* 0 if name can be stored as a new entry's name; -EINVAL (see fat.h) or
 * -ENAMETOOLONG.  Creating calls check before they change anything. */
int dir_name_check(const char *name);
/* Adds an entry set for name with the given short-entry fields (attr,
 * cluster, size); fills *slot.  The directory grows by a cluster if needed.
 * *slot comes from a dir_lookup of name in this directory: its plan is used
 * if it has one (the directory must be unchanged since), otherwise the
 * directory is scanned for room. */
int dir_add(struct fat_volume *v, uint32_t dir_cluster, const char *name, uint8_t attr, uint32_t cluster,
	    uint32_t size, struct dir_slot *slot);
/* Renames the entry set in slot to name, which equals its name but for
 * case, in place when that can be done without writing a second entry:
 * the short name in other case (the long entries go, the NT case flags
 * change), or a long name as long as the old one (its entries rewritten).
 * Returns 1 if done, 0 if the new name needs long entries the set has no
 * room for, or an error.  No short name is ever written twice. */
int dir_rename_case(struct fat_volume *v, const struct dir_slot *slot, const char *name);
/* Marks an entry set deleted. */
int dir_remove(struct fat_volume *v, const struct dir_slot *slot);
/* Reads/writes the 32-byte short entry at pos. */
int dir_read_entry(struct fat_volume *v, struct fat_entry_pos pos, uint8_t raw[DIRENT_SIZE]);
int dir_write_entry(struct fat_volume *v, struct fat_entry_pos pos, const uint8_t raw[DIRENT_SIZE]);
/* The stat of a short entry. */
void dir_stat(const struct fat_volume *v, const uint8_t *raw, struct fat_stat *st);
/* Fills the FAT-encoded date and time of now. */
void fat_now(uint16_t *date, uint16_t *time);

/* Short-entry field access. */
/* The first cluster; FAT12/16 keep other data in the high word. */
static inline uint32_t ent_cluster(const struct fat_volume *v, const uint8_t *e)
{
	uint32_t hi = v->type == 32 ? le16(e + 20) : 0;
	return le16(e + 26) | hi << 16;
}
static inline void ent_set_cluster(uint8_t *e, uint32_t c)
{
	put16(e + 26, (uint16_t)c), put16(e + 20, (uint16_t)(c >> 16));
}
static inline uint32_t ent_size(const uint8_t *e) { return le32(e + 28); }
static inline void ent_set_size(uint8_t *e, uint32_t s) { put32(e + 28, s); }

/* ---- path.c: paths to directories ---- */
#define PATH_DEPTH_MAX 128
struct fat_path {
	uint32_t dir; /* the directory holding the leaf (0: FAT12/16 root) */
	uint32_t anc[PATH_DEPTH_MAX]; /* the directories above dir, the root first */
	int depth; /* how many of anc are used */
	char leaf[FAT_NAME_BYTES]; /* the last component; "" if path names dir itself */
};
/* Resolves all but the last component of path ("." and ".." understood;
 * a path naming the root or ending in "." or ".." leaves leaf empty).
 * Every directory entered has its chain checked and must not be one of the
 * directories above it. */
int path_walk(struct fat_volume *v, const char *path, struct fat_path *p);
/* Checks that c, the first cluster of a subdirectory of p->dir, may be
 * entered: a valid chain that is not p->dir or one of its ancestors. */
int path_check_dir(struct fat_volume *v, const struct fat_path *p, uint32_t c);

#endif
