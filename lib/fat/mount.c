/*
 * Mounting: find the volume, check the boot sector's BPB field by field,
 * tell FAT12/16/32 apart by the number of data clusters (the Microsoft
 * specification's rule; the type string means nothing), read FSInfo, count
 * the free clusters.  Nothing is written until the first change, which first
 * marks the volume in use on disk (FAT[1]'s clean bit off, FSInfo's free
 * count "unknown"); sync writes everything back and marks it clean again.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define FSINFO_LEAD 0x41615252u
#define FSINFO_STRUCT 0x61417272u
#define FSINFO_TRAIL 0xAA550000u
#define CLEAN_FAT16 0x8000u
#define CLEAN_FAT32 0x08000000u

static _Alignas(64) uint8_t scratch[FAT_SECTOR_MAX];

static int bad(const char **why, const char *what)
{
	*why = what;
	return -EBADMSG;
}

/* Checks the BPB in b against a volume of part_sectors device sectors. */
static int parse_bpb(struct fat_volume *v, const uint8_t *b, uint64_t part_sectors, const char **why)
{
	uint32_t dev_sec = v->dev->sector_size;

	if (b[510] != 0x55 || b[511] != 0xAA)
		return bad(why, "boot sector lacks the 0x55AA signature");
	v->sec_bytes = le16(b + 11);
	v->sec_per_clus = b[13];
	v->reserved = le16(b + 14);
	v->nfats = b[16];
	v->root_entries = le16(b + 17);
	uint32_t tot16 = le16(b + 19), fat16 = le16(b + 22), tot32 = le32(b + 32), fat32 = le32(b + 36);
	if (!pow2(v->sec_bytes) || v->sec_bytes < 512 || v->sec_bytes > FAT_SECTOR_MAX)
		return bad(why, "bytes per sector is not a power of two from 512 to 4096");
	if (v->sec_bytes < dev_sec)
		return bad(why, "the volume's sectors are smaller than the disk's");
	if (!pow2(v->sec_per_clus))
		return bad(why, "sectors per cluster is not a power of two");
	if (v->reserved == 0)
		return bad(why, "no reserved sectors");
	if (v->nfats == 0)
		return bad(why, "no FAT");
	v->dev_per_sec = v->sec_bytes / dev_sec;
	v->clus_bytes = v->sec_bytes * v->sec_per_clus;
	if (v->clus_bytes > 65536)
		return bad(why, "clusters larger than 64 KiB");
	v->fat_sectors = fat16 ? fat16 : fat32;
	v->total_sectors = tot16 ? tot16 : tot32;
	if (v->fat_sectors == 0 || v->total_sectors == 0)
		return bad(why, "FAT size or total sectors is zero");
	if ((uint64_t)v->total_sectors * v->dev_per_sec > part_sectors)
		return bad(why, "the volume is larger than its disk or partition");
	v->root_sectors = (v->root_entries * 32 + v->sec_bytes - 1) / v->sec_bytes;
	uint64_t meta = v->reserved + (uint64_t)v->nfats * v->fat_sectors + v->root_sectors;
	if (meta >= v->total_sectors)
		return bad(why, "no room for data after the FATs");
	v->root_sector = v->reserved + v->nfats * v->fat_sectors;
	v->active_fat = 0;
	v->mirror = 1;
	v->data_sector = (uint32_t)meta;
	v->clusters = (v->total_sectors - v->data_sector) / v->sec_per_clus;
	if (v->clusters == 0)
		return bad(why, "no data clusters");
	if (v->clusters > 0x0FFFFFF5) /* clusters 2 .. 0x0FFFFFF6 */
		return bad(why, "more clusters than FAT32 can number");
	v->type = v->clusters < 4085 ? 12 : v->clusters < 65525 ? 16 : 32;
	uint64_t need = v->type == 12	? (((uint64_t)v->clusters + 2) * 3 + 1) / 2
			: v->type == 16 ? ((uint64_t)v->clusters + 2) * 2
					: ((uint64_t)v->clusters + 2) * 4;
	if ((uint64_t)v->fat_sectors * v->sec_bytes < need)
		return bad(why, "the FAT is too small for the clusters");
	if (v->type == 32) {
		v->root_cluster = le32(b + 44);
		v->fsinfo_sector = le16(b + 48);
		if (v->root_entries != 0 || fat16 != 0)
			return bad(why, "a FAT32 volume (by cluster count) with a FAT12/16 BPB");
		if (!clus_valid(v, v->root_cluster))
			return bad(why, "root cluster out of range");
		if (v->fsinfo_sector == 0 || v->fsinfo_sector >= v->reserved)
			v->fsinfo_sector = 0;
		/* BPB_ExtFlags: bit 7 set means "mirroring off: only FAT number
		 * bits 0-3 is in use". */
		uint16_t ext = le16(b + 40);
		if (ext & 0x80) {
			v->active_fat = ext & 0x0F;
			v->mirror = 0;
			if (v->active_fat >= v->nfats)
				return bad(why, "the active FAT (BPB_ExtFlags) does not exist");
		}
	} else {
		if (fat16 == 0)
			return bad(why, "a FAT12/16 volume (by cluster count) without a 16-bit FAT size");
		if (v->root_entries == 0)
			return bad(why, "a FAT12/16 volume without root directory entries");
		v->root_cluster = 0;
		v->fsinfo_sector = 0;
	}
	return 0;
}

/* Reads FSInfo's next-free hint.  Its free count is not used: Linux never
 * clears FAT[1]'s clean bit, so a volume it did not shut down cleanly can
 * look clean with a stale count, and nothing else tells the two apart. */
static int read_fsinfo(struct fat_volume *v)
{
	if (!v->fsinfo_sector)
		return 0;
	int err = fat_dev_read(v, v->fsinfo_sector, 1, scratch);
	if (err < 0)
		return err;
	if (le32(scratch) != FSINFO_LEAD || le32(scratch + 484) != FSINFO_STRUCT ||
	    le32(scratch + 508) != FSINFO_TRAIL) {
		v->fsinfo_sector = 0; /* not there: never write one */
		return 0;
	}
	uint32_t hint = le32(scratch + 492);
	if (clus_valid(v, hint))
		v->next_free = hint;
	return 0;
}

int fat_mount(struct fat_volume *v, struct blk_device *dev, const char **why)
{
	uint64_t lba, count;
	int err;

	cache_forget(v); /* nothing cached from an earlier volume here */
	memset(v, 0, sizeof(*v));
	v->dev = dev;
	*why = "";
	if (dev->sector_size > FAT_SECTOR_MAX)
		return bad(why, "disk sectors larger than 4096 bytes");
	if ((err = fat_find_volume(dev, scratch, &lba, &count, why)) < 0)
		return err;
	if ((err = blk_read(dev, lba, 1, scratch)) < 0)
		return err;
	v->part_lba = lba;
	if ((err = parse_bpb(v, scratch, count, why)) < 0)
		return err;
	v->next_free = 2;
	v->read_only = dev->read_only;
	if ((err = read_fsinfo(v)) < 0)
		return err;
	/* The free clusters are always counted (the FAT streams in 64 KiB
	 * reads: the 8 MiB FAT of a 1 GiB volume with 512-byte clusters adds
	 * about 20 ms to boot under TCG), so that the count
	 * sync writes to FSInfo is exact. */
	if ((err = fat_count_free(v, &v->free_count)) < 0) {
		*why = "cannot read the FAT";
		cache_forget(v);
		return err;
	}
	return 0;
}

/* FAT[1]'s clean-shutdown bit (FAT16/32): off while changes are in flight. */
static int set_clean(struct fat_volume *v, int clean)
{
	uint32_t bit = v->type == 16 ? CLEAN_FAT16 : CLEAN_FAT32;
	uint32_t width = (uint32_t)v->type / 8;
	int err;

	if (v->type == 12)
		return 0;
	uint8_t *s;
	if ((err = cache_get(v, v->reserved, CACHE_FAT, &s)) < 0)
		return err;
	uint32_t val = le32(s + width) & (width == 2 ? 0xFFFF : 0xFFFFFFFF);
	val = clean ? val | bit : val & ~bit;
	for (uint32_t i = 0; i < width; i++)
		s[width + i] = (uint8_t)(val >> (8 * i));
	cache_dirty(v, v->reserved);
	return cache_write(v, v->reserved);
}

static int write_fsinfo(struct fat_volume *v, uint32_t free, uint32_t next)
{
	if (!v->fsinfo_sector)
		return 0;
	int err = fat_dev_read(v, v->fsinfo_sector, 1, scratch);
	if (err < 0)
		return err;
	put32(scratch + 488, free);
	put32(scratch + 492, next);
	return fat_dev_write(v, v->fsinfo_sector, 1, scratch);
}

int fat_begin_change(struct fat_volume *v)
{
	int err;

	if (v->read_only)
		return -EROFS;
	if (v->dirty)
		return 0;
	/* Before anything else reaches the disk: the free count is about to go
	 * stale, and the volume is no longer cleanly shut down.  The FLUSH makes
	 * both durable before the changes they warn of (one per clean-to-dirty
	 * change, not per write). */
	if ((err = write_fsinfo(v, 0xFFFFFFFF, v->next_free)) < 0 || (err = set_clean(v, 0)) < 0 ||
	    (err = fat_dev_flush(v)) < 0)
		return err;
	v->dirty = 1;
	return 0;
}

int fat_sync(struct fat_volume *v)
{
	int err;

	if (v->dirty) {
		/* FAT copies, a FLUSH, directories (cache_flush and fat_order
		 * keep that order), then FSInfo; only once that is durable, the
		 * clean bit. */
		if ((err = cache_flush(v, 1)) < 0 ||
		    (err = write_fsinfo(v, v->free_count, v->next_free)) < 0 ||
		    (err = fat_dev_flush(v)) < 0 || (err = set_clean(v, 1)) < 0)
			return err;
		v->dirty = 0;
	}
	if (v->read_only)
		return 0;
	return fat_dev_flush(v);
}

int fat_unmount(struct fat_volume *v)
{
	int err = fat_sync(v);

	cache_forget(v);
	return err;
}

int fat_statfs(struct fat_volume *v, struct fat_statfs *s)
{
	s->type = v->type;
	s->cluster_bytes = v->clus_bytes;
	s->clusters = v->clusters;
	s->free = v->free_count;
	return 0;
}
