/*
 * FAT12/16/32 with long names, over the block interface only
 * (drivers/block/blk.h), so the same code runs in the kernel on virtio-blk
 * and on the host against image files.
 *
 * Paths are volume-relative, '/'-separated, looked up case-insensitively for
 * ASCII letters; names are UTF-8.  Every function returns 0 (or a count)
 * or a negative errno:
 *   -ENOENT   a path component does not exist
 *   -ENOTDIR  a component that must be a directory is a file
 *   -EISDIR   a file operation on a directory
 *   -EEXIST   the target name exists
 *   -ENOTEMPTY rm of a non-empty directory
 *   -EINVAL   one of exactly these (the call's comment says which apply):
 *             - a new name that cannot be stored: not UTF-8, "." or "..",
 *               ending in a dot or a space, or holding
 *               / \ : * ? " < > | or a control character
 *               (fat_open with CREATE, fat_mkdir, fat_rename's target);
 *             - fat_open's flags: CREATE or TRUNC without WRITE;
 *             - fat_remove of the root (or a path ending in "." or "..");
 *             - fat_rename from the root (or a path ending in "." or
 *               ".."), or of a directory into itself or a directory below
 *               it (the target's parent is it or lies inside it)
 *   -ENAMETOOLONG a name past 255 UTF-16 units
 *   -ENOSPC   the volume (or a FAT12/16 root directory) is full; nothing
 *             that was there is lost
 *   -EFBIG    a file past 4 GiB - 1
 *   -EROFS    the volume or device is read-only
 *   -EBADMSG  damaged metadata: a bad boot sector, a cluster chain that
 *             leaves the data area, reaches a free or bad cluster, or is
 *             shorter than the file; nothing is written into it
 *   -ELOOP    a cluster chain that loops, or a directory inside itself
 *   -EBADF    fat_write/fat_truncate on a file not opened for writing
 *   -EIO, -ETIMEDOUT ... from the device
 */
#ifndef LIB_FAT_FAT_H
#define LIB_FAT_FAT_H

#include <stdint.h>
#include <sys/types.h>

#include "drivers/block/blk.h"

#define FAT_NAME_MAX 255 /* UTF-16 units in a long name */
#define FAT_NAME_BYTES (FAT_NAME_MAX * 3 + 1)

#define FAT_ATTR_RO 0x01
#define FAT_ATTR_HIDDEN 0x02
#define FAT_ATTR_SYSTEM 0x04
#define FAT_ATTR_VOLUME 0x08
#define FAT_ATTR_DIR 0x10
#define FAT_ATTR_ARCHIVE 0x20
#define FAT_ATTR_LFN 0x0F

struct fat_volume {
	struct blk_device *dev;
	uint64_t part_lba; /* first device sector of the volume */
	uint32_t dev_per_sec; /* device sectors per FAT sector */
	uint32_t sec_bytes; /* bytes per sector (BPB) */
	uint32_t sec_per_clus;
	uint32_t clus_bytes;
	uint32_t reserved; /* sectors before the first FAT */
	uint32_t nfats;
	uint32_t fat_sectors; /* sectors per FAT */
	uint32_t active_fat; /* the FAT read (FAT32 BPB_ExtFlags; else 0) */
	int mirror; /* changes go to every FAT (else to the active one only) */
	uint32_t root_entries; /* FAT12/16 fixed root directory */
	uint32_t root_sector; /* FAT12/16: its first sector */
	uint32_t root_sectors;
	uint32_t root_cluster; /* FAT32 */
	uint32_t data_sector; /* first sector of cluster 2 */
	uint32_t total_sectors;
	uint32_t clusters; /* data clusters: valid numbers are 2 .. clusters + 1 */
	int type; /* 12, 16 or 32 */
	uint32_t fsinfo_sector; /* 0: none */
	uint32_t free_count; /* exact: counted at mount, kept since */
	uint32_t next_free; /* where the next allocation search starts */
	int read_only;
	int dirty; /* changed since the last sync: the on-disk clean bit is off */
	int unflushed; /* FAT_ORDER_* classes written since the last FLUSH */
};

struct fat_stat {
	int is_dir;
	uint32_t size;
	uint32_t cluster;
	uint8_t attr;
	uint16_t wdate, wtime; /* FAT-encoded modification date and time */
};

/* Where a directory entry lives: its sector and byte offset in it. */
struct fat_entry_pos {
	uint32_t sector;
	uint16_t offset;
};

struct fat_file {
	struct fat_volume *vol;
	struct fat_entry_pos entry; /* the short entry, rewritten on change */
	uint32_t first_cluster;
	uint32_t size;
	uint32_t nclusters; /* length of the chain (validated at open) */
	uint32_t pos_index; /* cluster index of pos_cluster in the chain */
	uint32_t pos_cluster;
	uint32_t last_cluster; /* the chain's tail, 0 if empty */
	int writable;
};

struct fat_dirent {
	char name[FAT_NAME_BYTES];
	struct fat_stat st;
};

struct fat_dir {
	struct fat_volume *vol;
	uint32_t cluster; /* 0: the FAT12/16 root */
	uint32_t index; /* next entry number */
	uint32_t guard; /* entries visited, bounds a looping chain */
	uint32_t cur_cluster;
	uint32_t cur_base; /* entry number where cur_cluster starts */
};

/* Finds the first FAT volume on dev (whole disk, MBR primaries, or GPT basic
 * data / EFI system partitions with their CRCs checked) and mounts it.
 * Nothing is written until the first change.  Returns:
 *   0         mounted; *why is ""
 *   -EBADMSG  no FAT volume, or a bad one (*why says what is wrong); the
 *             disk is left untouched
 *   device errors (-EIO, -ETIMEDOUT) while reading the boot sector or FAT */
int fat_mount(struct fat_volume *v, struct blk_device *dev, const char **why);

/* Writes every dirty buffer: the FAT copies, a device FLUSH (when the
 * device has a volatile write cache), the directories; then FSInfo, a
 * FLUSH, the clean-shutdown bit and another FLUSH.  Returns 0, or a device
 * error (the volume stays marked in use). */
int fat_sync(struct fat_volume *v);

/* Syncs and forgets the volume's cached sectors; returns fat_sync's result
 * (the cache is forgotten either way). */
int fat_unmount(struct fat_volume *v);

/* Fills *st for path (the root, or a path ending in "." or "..", is a
 * directory without attributes of its own).  Returns 0, -ENOENT, -ENOTDIR,
 * -ENAMETOOLONG, -EBADMSG/-ELOOP (a damaged directory on the way), or a
 * device error. */
int fat_stat(struct fat_volume *v, const char *path, struct fat_stat *st);

/* Starts listing the directory at path.  Returns 0, -ENOENT, -ENOTDIR,
 * -EBADMSG/-ELOOP (its chain is damaged, or it is inside itself), or a
 * device error. */
int fat_opendir(struct fat_volume *v, const char *path, struct fat_dir *d);
/* Next entry, in directory order, without "." and ".." and the volume
 * label.  Returns 1 with *e filled, 0 at the end, -EBADMSG/-ELOOP (the
 * chain breaks off or is longer than a directory may be), or a device
 * error. */
int fat_readdir(struct fat_dir *d, struct fat_dirent *e);

#define FAT_O_WRITE 1
#define FAT_O_CREATE 2 /* create if missing (needs WRITE) */
#define FAT_O_TRUNC 4 /* truncate to 0 (needs WRITE) */
#define FAT_O_EXCL 8 /* with CREATE: -EEXIST if it exists */

/* Opens the file at path; its cluster chain is checked against its size.
 * There is no close: every write updates the directory entry (in the
 * cache; fat_sync puts it on disk).  Returns 0, -ENOENT (without CREATE),
 * -EEXIST (CREATE|EXCL), -EISDIR, -ENOTDIR, -EINVAL (bad flags or name),
 * -ENAMETOOLONG, -EROFS (WRITE on a read-only volume), -ENOSPC (no room for
 * a new entry), -EBADMSG/-ELOOP (a damaged chain or directory), or a
 * device error.  -EINVAL: CREATE or TRUNC without WRITE, or (CREATE) a
 * name that cannot be stored. */
int fat_open(struct fat_volume *v, const char *path, int flags, struct fat_file *f);
/* Reads up to len bytes at off.  Returns the count (0 at or past the end),
 * -EBADMSG if the chain breaks off, or a device error. */
ssize_t fat_read(struct fat_file *f, uint32_t off, void *buf, size_t len);
/* Writes len bytes at off, zero-filling any gap past the end.  Returns len,
 * -EBADF (not opened for writing), -EFBIG (past 4 GiB - 1), -ENOSPC (the
 * file is unchanged), -EROFS, -EBADMSG, or a device error. */
ssize_t fat_write(struct fat_file *f, uint32_t off, const void *buf, size_t len);
/* Sets the size: shrinking frees the clusters past it, growing zero-fills.
 * Returns 0, -EBADF, -ENOSPC (unchanged), -EROFS, -EBADMSG, or a device
 * error. */
int fat_truncate(struct fat_file *f, uint32_t size);

/* Creates a directory.  Returns 0, -EEXIST (also for the root, "." and
 * ".."), -ENOENT/-ENOTDIR (the parent), -EINVAL/-ENAMETOOLONG (a name that
 * cannot be stored), -ENOSPC, -EROFS, -EBADMSG/-ELOOP, or a device error. */
int fat_mkdir(struct fat_volume *v, const char *path);
/* Removes a file or an empty directory.  Returns 0, -ENOENT, -ENOTDIR,
 * -ENOTEMPTY, -EINVAL (path is the root, or ends in "." or ".."; nothing
 * else), -EROFS, -EBADMSG/-ELOOP (its chain is
 * damaged or shorter than its size: left alone for fsck), or a device
 * error. */
int fat_remove(struct fat_volume *v, const char *path);
/* Renames or moves a file or directory (a moved directory's ".." follows).
 * Returns 0, -ENOENT, -ENOTDIR, -EEXIST (the target exists, or is the
 * root; a change of case only is allowed), -EINVAL (from is the root or
 * ends in "." or ".."; from is a directory and to's parent is it or lies
 * below it; to's last component cannot be stored as a name),
 * -ENAMETOOLONG, -ENOSPC, -EROFS, -EBADMSG/-ELOOP, or a device error. */
int fat_rename(struct fat_volume *v, const char *from, const char *to);

struct fat_statfs {
	int type;
	uint32_t cluster_bytes;
	uint32_t clusters;
	uint32_t free;
};
/* Fills *s (free is exact: counted at mount, kept since).  Returns 0. */
int fat_statfs(struct fat_volume *v, struct fat_statfs *s);

#endif
