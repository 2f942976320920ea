/*
 * Where the FAT volume is: the whole disk (a "superfloppy" whose sector 0 is
 * the boot sector), the first FAT partition among the four MBR primaries,
 * or the first Microsoft basic data or EFI system partition of a GPT (whose
 * header and entry array must pass their CRC32 checks).
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define GPT_ENTRIES_MAX 1024

static const uint8_t guid_basic_data[16] = {0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44,
					    0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7};
static const uint8_t guid_efi_system[16] = {0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11,
					    0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B};

uint32_t fat_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
	}
	return ~crc;
}

int fat_looks_like_bpb(const uint8_t *s)
{
	uint32_t bps = s[11] | s[12] << 8;

	return (s[0] == 0xEB || s[0] == 0xE9) && pow2(bps) && bps >= 512 && bps <= 4096 && pow2(s[13]) &&
	       (s[14] | s[15] << 8) != 0 && s[16] != 0;
}

static int mbr_type_is_fat(uint8_t t)
{
	return t == 0x01 || t == 0x04 || t == 0x06 || t == 0x0B || t == 0x0C || t == 0x0E || t == 0xEF;
}

static int find_gpt(struct blk_device *dev, uint8_t *buf, uint64_t *lba, uint64_t *count, const char **why)
{
	int err = blk_read(dev, 1, 1, buf);
	if (err < 0)
		return err;
	uint32_t hsize = le32(buf + 12);
	if (memcmp(buf, "EFI PART", 8) != 0 || hsize < 92 || hsize > dev->sector_size) {
		*why = "GPT header missing or damaged";
		return -EBADMSG;
	}
	uint32_t want = le32(buf + 16);
	memset(buf + 16, 0, 4);
	if (fat_crc32(0, buf, hsize) != want) {
		*why = "GPT header CRC mismatch";
		return -EBADMSG;
	}
	uint64_t entries_lba = le64(buf + 72);
	uint32_t n = le32(buf + 80), esize = le32(buf + 84), array_crc = le32(buf + 88);
	if (esize < 128 || esize > dev->sector_size || dev->sector_size % esize || n > GPT_ENTRIES_MAX ||
	    entries_lba >= dev->sectors) {
		*why = "GPT entry array out of range";
		return -EBADMSG;
	}
	uint32_t per_sector = dev->sector_size / esize;
	uint32_t crc = 0;
	uint64_t found_lba = 0, found_count = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (i % per_sector == 0) {
			err = blk_read(dev, entries_lba + i / per_sector, 1, buf);
			if (err < 0)
				return err;
		}
		const uint8_t *e = buf + (i % per_sector) * esize;
		crc = fat_crc32(crc, e, esize);
		uint64_t first = le64(e + 32), last = le64(e + 40);
		if (!found_count && (!memcmp(e, guid_basic_data, 16) || !memcmp(e, guid_efi_system, 16)) &&
		    first <= last && last < dev->sectors) {
			found_lba = first;
			found_count = last - first + 1;
		}
	}
	if (crc != array_crc) {
		*why = "GPT partition array CRC mismatch";
		return -EBADMSG;
	}
	if (!found_count) {
		*why = "no FAT partition in the GPT";
		return -EBADMSG;
	}
	*lba = found_lba;
	*count = found_count;
	return 0;
}

int fat_find_volume(struct blk_device *dev, uint8_t *buf, uint64_t *lba, uint64_t *count, const char **why)
{
	int err = blk_read(dev, 0, 1, buf);

	if (err < 0)
		return err;
	int signed_ok = buf[510] == 0x55 && buf[511] == 0xAA;
	if (fat_looks_like_bpb(buf)) { /* a whole-disk volume */
		*lba = 0;
		*count = dev->sectors;
		return 0; /* the boot sector itself is checked by mount */
	}
	if (!signed_ok) {
		*why = "no FAT boot sector or partition table (no 0x55AA signature)";
		return -EBADMSG;
	}
	for (int i = 0; i < 4; i++) {
		const uint8_t *p = buf + 446 + 16 * i;
		if (p[4] == 0xEE)
			return find_gpt(dev, buf, lba, count, why);
	}
	for (int i = 0; i < 4; i++) {
		const uint8_t *p = buf + 446 + 16 * i;
		uint64_t start = le32(p + 8), n = le32(p + 12);
		if (mbr_type_is_fat(p[4]) && n && start < dev->sectors && n <= dev->sectors - start) {
			*lba = start;
			*count = n;
			return 0;
		}
	}
	if (buf[0] == 0xEB || buf[0] == 0xE9) { /* a boot sector, but a bad one: mount says why */
		*lba = 0;
		*count = dev->sectors;
		return 0;
	}
	*why = "no FAT partition in the MBR";
	return -EBADMSG;
}
