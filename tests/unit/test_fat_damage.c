/* lib/fat on damaged volumes, read-only devices and a full volume: clear
 * errors, nothing written into what is damaged, nothing lost. */
// SOURCES: lib/fat/*.c drivers/block/blk.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/fat/fat_internal.h"
#include "tests/unit/fat_img.h"

static char img[256];
static struct img_dev dev;
static struct fat_volume vol;

/* A fresh FAT16 image with /a.txt (3 clusters of 2 KiB) and /dir/b.txt. */
static void make(void)
{
	img_path(img, sizeof(img), "damage");
	unlink(img);
	assert_int_equal(
		run("mkfs.fat -C -F 16 -s 4 %s 16384 >/dev/null && head -c 5000 /dev/zero | tr '\\0' a > "
		    "%s.a && mcopy -i %s %s.a ::/a.txt && mmd -i %s ::/dir && mcopy -i %s %s.a ::/dir/b.txt "
		    "&& rm "
		    "%s.a",
		    img, img, img, img, img, img, img, img),
		0);
}

static int mount_img(int ro, const char **why)
{
	img_open(&dev, img, 512, ro);
	return fat_mount(&vol, &dev.dev, why);
}

static uint32_t first_cluster(const char *path)
{
	struct fat_stat st;
	assert_int_equal(fat_stat(&vol, path, &st), 0);
	return st.cluster;
}

/* Sets FAT16 entry c in both FATs of the image. */
static void poke_fat16(uint32_t c, uint16_t val)
{
	for (uint32_t k = 0; k < vol.nfats; k++) {
		uint64_t off = ((uint64_t)vol.reserved + k * vol.fat_sectors) * 512 + c * 2;
		uint8_t b[2] = {(uint8_t)val, (uint8_t)(val >> 8)};
		assert_int_equal(pwrite(dev.fd, b, 2, (off_t)off), 2);
	}
}

static char *image_sum(void) { return run_output("sha256sum < %s", img); }

static void finish(void)
{
	img_close(&dev);
	unlink(img);
}

/* Unmounts the volume and closes the image, which fsck.fat -n must find
 * clean. */
static void unmount_and_check(void)
{
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	assert_true(fsck_ok(img, 0));
}

static void test_bad_signature(void **s)
{
	(void)s;
	const char *why = NULL;
	make();
	assert_int_equal(run("printf '\\0\\0' | dd of=%s bs=1 seek=510 conv=notrunc status=none", img), 0);
	char *before = image_sum();
	assert_int_equal(mount_img(0, &why), -EBADMSG);
	assert_non_null(strstr(why, "0x55AA"));
	char *after = image_sum();
	assert_string_equal(before, after);
	free(before), free(after);
	finish();
}

static void test_bad_bpb(void **s)
{
	(void)s;
	const char *why = NULL;
	make();
	/* 3 sectors per cluster: not a power of two. */
	assert_int_equal(run("printf '\\003' | dd of=%s bs=1 seek=13 conv=notrunc status=none", img), 0);
	assert_int_equal(mount_img(0, &why), -EBADMSG);
	assert_non_null(strstr(why, "sectors per cluster"));
	finish();
}

/* Damages a.txt's chain with f(vol, clusters of a.txt); every operation that
 * meets the chain fails with want, and the image is not changed. */
static void damaged_chain(void (*f)(uint32_t first), int want)
{
	const char *why;
	struct fat_file file;
	char buf[64];
	make();
	assert_int_equal(mount_img(0, &why), 0);
	uint32_t c = first_cluster("/a.txt");
	f(c);
	fat_unmount(&vol);
	img_close(&dev);
	char *before = image_sum();
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_open(&vol, "/a.txt", 0, &file), want);
	assert_int_equal(fat_open(&vol, "/a.txt", FAT_O_WRITE, &file), want);
	assert_int_equal(fat_remove(&vol, "/a.txt"), want);
	/* The rest of the volume still works; reading does not write. */
	assert_int_equal(fat_open(&vol, "/dir/b.txt", 0, &file), 0);
	assert_int_equal(fat_read(&file, 0, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	char *after = image_sum();
	assert_string_equal(before, after);
	free(before), free(after);
	unlink(img);
}

static void loop_chain(uint32_t c) { poke_fat16(c + 2, (uint16_t)c); }
static void out_of_range(uint32_t c) { poke_fat16(c + 1, 0xFFF0); }
static void to_free(uint32_t c) { poke_fat16(c + 1, 0); }
static void short_chain(uint32_t c) { poke_fat16(c + 1, 0xFFFF); }

static void test_looped_chain(void **s) { (void)s, damaged_chain(loop_chain, -ELOOP); }
static void test_out_of_range(void **s) { (void)s, damaged_chain(out_of_range, -EBADMSG); }
static void test_chain_to_free(void **s) { (void)s, damaged_chain(to_free, -EBADMSG); }
static void test_short_chain(void **s) { (void)s, damaged_chain(short_chain, -EBADMSG); }

static void test_dir_contains_itself(void **s)
{
	(void)s;
	const char *why;
	struct fat_dir d;
	struct fat_stat st;
	make();
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_mkdir(&vol, "/dir/loop"), 0);
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	/* /dir/loop's entry now names /dir's own cluster. */
	assert_int_equal(mount_img(0, &why), 0);
	uint32_t dirc = first_cluster("/dir"), loopc = first_cluster("/dir/loop");
	/* Find the entry in /dir's first cluster and rewrite its cluster. */
	uint8_t sec[512];
	uint64_t base = (uint64_t)(vol.data_sector + (dirc - 2) * vol.sec_per_clus) * 512;
	int patched = 0;
	for (uint32_t off = 0; off < vol.clus_bytes && !patched; off += 32) {
		assert_int_equal(pread(dev.fd, sec, 32, (off_t)(base + off)), 32);
		if ((uint32_t)(sec[26] | sec[27] << 8) == loopc && sec[0] != '.') {
			sec[26] = (uint8_t)dirc, sec[27] = (uint8_t)(dirc >> 8);
			assert_int_equal(pwrite(dev.fd, sec, 32, (off_t)(base + off)), 32);
			patched = 1;
		}
	}
	assert_true(patched);
	fat_unmount(&vol);
	img_close(&dev);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_opendir(&vol, "/dir/loop", &d), -ELOOP);
	assert_int_equal(fat_stat(&vol, "/dir/loop/loop/x", &st), -ELOOP);
	assert_int_equal(fat_remove(&vol, "/dir/loop"), -ELOOP);
	assert_int_equal(fat_unmount(&vol), 0);
	finish();
}

static void test_read_only(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	make();
	char *before = image_sum();
	assert_int_equal(mount_img(1, &why), 0);
	assert_int_equal(fat_open(&vol, "/a.txt", 0, &f), 0);
	assert_int_equal(fat_open(&vol, "/a.txt", FAT_O_WRITE, &f), -EROFS);
	assert_int_equal(fat_open(&vol, "/new", FAT_O_WRITE | FAT_O_CREATE, &f), -EROFS);
	assert_int_equal(fat_mkdir(&vol, "/new"), -EROFS);
	assert_int_equal(fat_remove(&vol, "/a.txt"), -EROFS);
	assert_int_equal(fat_rename(&vol, "/a.txt", "/b.txt"), -EROFS);
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	char *after = image_sum();
	assert_string_equal(before, after);
	free(before), free(after);
	unlink(img);
}

static void test_full_volume(void **s)
{
	(void)s;
	static char buf[64 * 1024];
	const char *why;
	struct fat_file f;
	struct fat_statfs sf;
	make();
	assert_int_equal(mount_img(0, &why), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fat_open(&vol, "/fill", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	uint32_t off = 0;
	ssize_t n;
	while ((n = fat_write(&f, off, buf, sizeof(buf))) > 0)
		off += (uint32_t)n;
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(fat_statfs(&vol, &sf), 0);
	/* The last partial cluster's worth still fits. */
	while ((n = fat_write(&f, off, buf, 512)) > 0)
		off += (uint32_t)n;
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(fat_mkdir(&vol, "/nomore"), -ENOSPC);
	unmount_and_check();
	char *a = run_output("mtype -i %s ::/a.txt | wc -c; mtype -i %s ::/fill | wc -c", img, img);
	char expect[64];
	snprintf(expect, sizeof(expect), "5000\n%u\n", off);
	assert_string_equal(a, expect);
	free(a);
	unlink(img);
}

/* Sets FAT32 entries [from, to) to val in every FAT of the image. */
static void poke_fat32(uint32_t from, uint32_t to, uint32_t val)
{
	uint32_t n = to - from;
	uint8_t *b = malloc((size_t)n * 4);
	for (uint32_t i = 0; i < n; i++)
		b[4 * i] = (uint8_t)val, b[4 * i + 1] = (uint8_t)(val >> 8),
		      b[4 * i + 2] = (uint8_t)(val >> 16), b[4 * i + 3] = (uint8_t)(val >> 24);
	for (uint32_t k = 0; k < vol.nfats; k++) {
		off_t off = ((off_t)vol.reserved + k * vol.fat_sectors) * 512 + (off_t)from * 4;
		assert_int_equal(pwrite(dev.fd, b, (size_t)n * 4, off), (ssize_t)n * 4);
	}
	free(b);
}

/* An allocation whose link to the file's tail fails (the FAT sector of the
 * tail cannot be read back after the search for free clusters pushed it out
 * of the cache) leaves the free count as it was. */
static void test_failed_link_keeps_free_count(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	struct fat_statfs before, after;
	img_path(img, sizeof(img), "link");
	unlink(img);
	assert_int_equal(
		run("mkfs.fat -C -F 32 -s 1 %s 81920 >/dev/null && echo a | mcopy -i %s - ::/a", img, img),
		0);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(first_cluster("/a"), 3);
	/* Clusters 4 .. 9 windows of the cache on are bad: the search for a
	 * free cluster after 3 reads every window and evicts the first. */
	poke_fat32(4, 9 * 16384, 0x0FFFFFF7);
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_open(&vol, "/a", FAT_O_WRITE, &f), 0);
	assert_int_equal(fat_statfs(&vol, &before), 0);
	img_fail_range(&dev, vol.reserved, vol.reserved + 128); /* the FAT's first window */
	img_fail_reads(&dev, 1);
	static char buf[512];
	assert_int_equal(fat_write(&f, 512, buf, sizeof(buf)), -EIO);
	assert_int_equal(fat_statfs(&vol, &after), 0);
	assert_int_equal(after.free, before.free);
	img_fail_reads(&dev, 0);
	assert_int_equal(fat_unmount(&vol), 0);
	finish();
}

/* FSInfo's free count of a volume that looks cleanly shut down (as Linux
 * leaves one after a crash: it never clears FAT[1]'s clean bit) may be
 * stale: the FAT is counted, and the count sync writes is exact. */
static void test_stale_fsinfo_not_trusted(void **s)
{
	(void)s;
	const char *why;
	struct fat_statfs sf;
	uint8_t b[4];
	img_path(img, sizeof(img), "fsinfo");
	unlink(img);
	assert_int_equal(run("mkfs.fat -C -F 32 -s 1 %s 81920 >/dev/null", img), 0);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_statfs(&vol, &sf), 0);
	uint32_t real = sf.free;
	off_t at = (off_t)vol.fsinfo_sector * 512 + 488;
	assert_int_equal(fat_unmount(&vol), 0);
	/* A stale count, below the real one; FAT[1]'s clean bit is still set. */
	put32(b, real - 1000);
	assert_int_equal(pwrite(dev.fd, b, 4, at), 4);
	img_close(&dev);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_statfs(&vol, &sf), 0);
	assert_int_equal(sf.free, real);
	assert_int_equal(fat_mkdir(&vol, "/d"), 0); /* one cluster */
	assert_int_equal(fat_sync(&vol), 0);
	assert_int_equal(pread(dev.fd, b, 4, at), 4);
	assert_int_equal(le32(b), real - 1);
	assert_int_equal(fat_unmount(&vol), 0);
	finish();
}

/* FAT32's BPB_ExtFlags with mirroring off (bit 7) and FAT 1 active (bits
 * 0-3): FAT 1 is read and written, FAT 0 is left as it is. */
static void test_active_fat_without_mirroring(void **s)
{
	(void)s;
	const char *why;
	struct fat_statfs sf;
	struct fat_file f;
	static char data[1500], back[1500];
	img_path(img, sizeof(img), "extflags");
	unlink(img);
	assert_int_equal(run("mkfs.fat -C -F 32 -s 1 %s 81920 >/dev/null", img), 0);
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_statfs(&vol, &sf), 0);
	uint32_t free_all = sf.free, fat_bytes = vol.fat_sectors * 512;
	off_t fat0 = (off_t)vol.reserved * 512;
	assert_int_equal(fat_unmount(&vol), 0);
	/* FAT 0 says 100 clusters are bad; FAT 1 (the active one) does not. */
	uint8_t b[4];
	put32(b, 0x0FFFFFF7);
	for (int c = 3; c < 103; c++)
		assert_int_equal(pwrite(dev.fd, b, 4, fat0 + 4 * c), 4);
	uint8_t ext[2] = {0x81, 0x00};
	assert_int_equal(pwrite(dev.fd, ext, 2, 40), 2);
	char *fat0_before = malloc(fat_bytes);
	assert_int_equal(pread(dev.fd, fat0_before, fat_bytes, fat0), (ssize_t)fat_bytes);
	img_close(&dev);

	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(vol.active_fat, 1);
	assert_int_equal(fat_statfs(&vol, &sf), 0);
	assert_int_equal(sf.free, free_all);
	memset(data, 'e', sizeof(data));
	assert_int_equal(fat_open(&vol, "/e.txt", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	assert_int_equal(fat_write(&f, 0, data, sizeof(data)), (ssize_t)sizeof(data));
	assert_int_equal(f.first_cluster, 3); /* free in FAT 1 */
	assert_int_equal(fat_unmount(&vol), 0);
	char *fat0_after = malloc(fat_bytes);
	assert_int_equal(pread(dev.fd, fat0_after, fat_bytes, fat0), (ssize_t)fat_bytes);
	assert_memory_equal(fat0_before, fat0_after, fat_bytes);
	free(fat0_before);
	free(fat0_after);
	img_close(&dev);

	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_open(&vol, "/e.txt", 0, &f), 0);
	assert_int_equal(fat_read(&f, 0, back, sizeof(back)), (ssize_t)sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(fat_unmount(&vol), 0);
	char *sum =
		run_output("mtype -i %s ::/e.txt | tr -d e | wc -c; mtype -i %s ::/e.txt | wc -c", img, img);
	assert_string_equal(sum, "0\n1500\n");
	free(sum);
	finish();
}

/* On a device with a volatile cache, the FAT that links a new file's
 * clusters is flushed before its directory entry is written. */
static void test_flush_between_fat_and_entries(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	static char data[8192];
	make();
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_open(&vol, "/new.txt", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	assert_int_equal(fat_write(&f, 0, data, sizeof(data)), (ssize_t)sizeof(data));
	dev.nlog = 0;
	assert_int_equal(fat_sync(&vol), 0);
	uint64_t fat_lo = vol.reserved, fat_hi = vol.reserved + vol.nfats * vol.fat_sectors;
	uint64_t root_lo = vol.root_sector, root_hi = vol.root_sector + vol.root_sectors;
	int fat_pending = 0, fat_writes = 0, dir_writes = 0;
	for (unsigned i = 0; i < dev.nlog; i++) {
		uint64_t lba = dev.log[i].lba;
		if (dev.log[i].op == BLK_FLUSH)
			fat_pending = 0;
		else if (dev.log[i].op == BLK_WRITE && lba >= fat_lo + 1 && lba < fat_hi)
			fat_pending = 1, fat_writes++; /* not FAT[1]'s clean bit */
		else if (dev.log[i].op == BLK_WRITE && lba >= root_lo && lba < root_hi) {
			assert_false(fat_pending);
			dir_writes++;
		}
	}
	assert_true(fat_writes > 0 && dir_writes > 0);
	assert_int_equal(fat_unmount(&vol), 0);
	finish();
}

/* A directory of exactly 65536 entries (2 MiB, as large as FAT allows and
 * fsck.fat accepts) is whole: it lists to its end, a name not in it is not
 * found, and a new one takes a free slot.  Only a chain that goes on past
 * 2 MiB is a loop. */
static void test_directory_of_2_mib(void **s)
{
	(void)s;
	const char *why;
	static uint8_t deleted[2048];
	static struct fat_dirent e;
	struct fat_dir d;
	struct fat_stat st;
	struct fat_file f;
	uint32_t first, last, next;

	make();
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_mkdir(&vol, "/big"), 0);
	first = first_cluster("/big");
	/* Every entry but "." and ".." deleted (0xE5): none ends the listing. */
	memset(deleted, ' ', sizeof(deleted));
	for (size_t i = 0; i < sizeof(deleted); i += DIRENT_SIZE)
		deleted[i] = 0xE5;
	uint32_t per_clus = vol.clus_bytes / DIRENT_SIZE;
	assert_true(vol.sec_bytes * vol.sec_per_clus <= sizeof(deleted));
	assert_int_equal(fat_alloc(&vol, first, 65536 / per_clus - 1, &next, &last), 0);
	assert_int_equal(fat_sync(&vol), 0);
	for (uint32_t c = next;; c = next) {
		assert_int_equal(fat_dev_write(&vol, clus_sector(&vol, c), vol.sec_per_clus, deleted), 0);
		if (c == last)
			break;
		assert_int_equal(fat_get(&vol, c, &next), 0);
	}
	static uint8_t head[512];
	assert_int_equal(fat_dev_read(&vol, clus_sector(&vol, first), 1, head), 0);
	memcpy(head + 2 * DIRENT_SIZE, deleted, sizeof(head) - 2 * DIRENT_SIZE); /* after "." and ".." */
	assert_int_equal(fat_dev_write(&vol, clus_sector(&vol, first), 1, head), 0);
	assert_int_equal(fat_dev_write(&vol, clus_sector(&vol, first) + 1, vol.sec_per_clus - 1, deleted), 0);
	unmount_and_check();

	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_opendir(&vol, "/big", &d), 0);
	assert_int_equal(fat_readdir(&d, &e), 0);
	assert_int_equal(fat_stat(&vol, "/big/x", &st), -ENOENT);
	assert_int_equal(fat_open(&vol, "/big/x", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	assert_int_equal(fat_stat(&vol, "/big/x", &st), 0);
	unmount_and_check();
	/* One cluster more, and the chain is past any directory's size. */
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_alloc(&vol, last, 1, &next, &next), 0);
	assert_int_equal(fat_sync(&vol), 0);
	assert_int_equal(fat_stat(&vol, "/big/y", &st), -ELOOP);
	assert_int_equal(fat_unmount(&vol), 0);
	finish();
}

/* A name that cannot be stored is refused before anything is written: the
 * image is byte for byte what it was. */
static void test_bad_names_change_nothing(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	char long_name[300];

	make();
	char *before = image_sum();
	assert_int_equal(mount_img(0, &why), 0);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[0] = '/';
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(fat_open(&vol, "/trailing.", FAT_O_WRITE | FAT_O_CREATE, &f), -EINVAL);
	assert_int_equal(fat_open(&vol, "/trailing ", FAT_O_WRITE | FAT_O_CREATE, &f), -EINVAL);
	assert_int_equal(fat_open(&vol, long_name, FAT_O_WRITE | FAT_O_CREATE, &f), -ENAMETOOLONG);
	assert_int_equal(fat_mkdir(&vol, "/a*b"), -EINVAL);
	assert_int_equal(fat_mkdir(&vol, long_name), -ENAMETOOLONG);
	assert_int_equal(fat_rename(&vol, "/a.txt", "/dir/what?"), -EINVAL);
	assert_int_equal(fat_rename(&vol, "/a.txt", long_name), -ENAMETOOLONG);
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	char *after = image_sum();
	assert_string_equal(after, before);
	free(before);
	free(after);
	unlink(img);
}

/* A shrink whose entry cannot be written leaves the file as it was, in
 * memory and on disk: its clusters are neither lost nor freed. */
static void test_failed_shrink_keeps_the_file(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	static char want[5000];

	make();
	assert_int_equal(mount_img(0, &why), 0);
	assert_int_equal(fat_open(&vol, "/a.txt", FAT_O_WRITE, &f), 0);
	img_fail_range(&dev, vol.root_sector, vol.root_sector + vol.root_sectors);
	img_fail_writes(&dev, 1);
	assert_int_equal(fat_truncate(&f, 0), -EIO);
	img_fail_writes(&dev, 0);
	img_fail_range(&dev, 0, 0);
	assert_int_equal(f.size, 5000);
	assert_true(f.first_cluster != 0);
	unmount_and_check();
	memset(want, 'a', sizeof(want));
	char *out = run_output("mtype -i %s ::/a.txt", img);
	assert_int_equal(run_output_len, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	free(out);
	unlink(img);
}

/* A directory that cannot have its new cluster zeroed does not keep it. */
static void test_failed_grow_gives_the_cluster_back(void **s)
{
	(void)s;
	const char *why;
	struct fat_file f;
	char name[32];
	uint32_t len, last, free_before, free_after;

	make();
	assert_int_equal(mount_img(0, &why), 0);
	uint32_t per_clus = vol.clus_bytes / DIRENT_SIZE;
	for (uint32_t i = 3; i < per_clus; i++) { /* ".", "..", b.txt, then these */
		snprintf(name, sizeof(name), "/dir/f%u", i);
		assert_int_equal(fat_open(&vol, name, FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	}
	assert_int_equal(fat_count_free(&vol, &free_before), 0);
	img_fail_range(&dev, vol.data_sector, vol.total_sectors);
	img_fail_writes(&dev, 1);
	assert_int_equal(fat_open(&vol, "/dir/one too many", FAT_O_WRITE | FAT_O_CREATE, &f), -EIO);
	img_fail_writes(&dev, 0);
	img_fail_range(&dev, 0, 0);
	assert_int_equal(fat_chain_check(&vol, first_cluster("/dir"), &len, &last), 0);
	assert_int_equal(len, 1);
	assert_int_equal(fat_count_free(&vol, &free_after), 0);
	assert_int_equal(free_after, free_before);
	unmount_and_check();
	unlink(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_bad_bpb),
		cmocka_unit_test(test_looped_chain),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_chain_to_free),
		cmocka_unit_test(test_short_chain),
		cmocka_unit_test(test_dir_contains_itself),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_full_volume),
		cmocka_unit_test(test_failed_link_keeps_free_count),
		cmocka_unit_test(test_stale_fsinfo_not_trusted),
		cmocka_unit_test(test_active_fat_without_mirroring),
		cmocka_unit_test(test_flush_between_fat_and_entries),
		cmocka_unit_test(test_directory_of_2_mib),
		cmocka_unit_test(test_bad_names_change_nothing),
		cmocka_unit_test(test_failed_shrink_keeps_the_file),
		cmocka_unit_test(test_failed_grow_gives_the_cluster_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
