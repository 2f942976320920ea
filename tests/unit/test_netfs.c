/* Host tests of lib/net/netfs.c (the services' uploads) on images made by
 * mkfs.fat, checked with fsck.fat and mtools: a file appears only whole,
 * a replaced file is never lost, and a failed upload leaves nothing. */
// SOURCES: lib/net/netfs.c lib/net/http_parse.c lib/fat/*.c drivers/block/blk.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/net/netfs.h"
#include "tests/unit/fat_img.h"

static char img[256];
static struct img_dev dev;
static struct fat_volume vol;
static uint8_t data[256 * 1024];

/* The whole image is one volume at "/". */
static int resolve(const char *path, struct fat_volume **v, const char **rel)
{
	if (path[0] != '/')
		return -EINVAL;
	*v = &vol;
	*rel = path;
	return 0;
}

/* A fresh 8 MiB FAT16 volume (mkfs options extra), mounted; hello.txt and a
 * directory d in it. */
static void setup_volume(const char *extra)
{
	const char *why;

	img_path(img, sizeof(img), "netfs");
	assert_int_equal(run("rm -f %s && mkfs.fat -C -F 16 -s 1 %s %s 8192 >/dev/null", img, extra, img), 0);
	assert_int_equal(
		run("echo hello > %s.h && mcopy -i %s %s.h ::/hello.txt && mmd -i %s ::/d && rm %s.h", img,
		    img, img, img, img),
		0);
	img_open(&dev, img, 512, 0);
	assert_int_equal(fat_mount(&vol, &dev.dev, &why), 0);
	netfs_init(resolve);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
}

/* Unmounts and checks the volume with fsck.fat; then the file's bytes on
 * the host (mtype), or that it is not there (want NULL). */
static void check_on_host(const char *path, const void *want, size_t len)
{
	assert_int_equal(fat_unmount(&vol), 0);
	img_close(&dev);
	assert_true(fsck_ok(img, 0));
	char *out = run_output("MTOOLS_SKIP_CHECK=1 mtype -i %s ::%s 2>/dev/null", img, path);
	if (want) {
		assert_int_equal(run_output_len, len);
		assert_memory_equal(out, want, len);
	} else {
		assert_int_equal(run_output_len, 0);
	}
	free(out);
	/* No temporary file is left anywhere. */
	char *ls = run_output("MTOOLS_SKIP_CHECK=1 mdir -/ -a -i %s :: 2>/dev/null", img);
	assert_null(strstr(ls, ".upload"));
	free(ls);
	unlink(img);
}

static void test_new_file_appears_only_whole(void **state)
{
	(void)state;
	struct netfs_upload u;
	struct fat_stat st;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/d/new.bin", "test", 3), 0);
	assert_false(u.existed);
	assert_int_equal(netfs_upload_write(&u, 0, data, 100000), 0);
	assert_int_equal(netfs_upload_write(&u, 100000, data + 100000, 50000), 0);
	assert_int_equal(fat_stat(&vol, "/d/new.bin", &st), -ENOENT); /* not yet */
	assert_int_equal(fat_stat(&vol, "/d/.upload-test-3", &st), 0);
	assert_int_equal(netfs_upload_commit(&u), 0);
	assert_int_equal(fat_stat(&vol, "/d/new.bin", &st), 0);
	assert_int_equal(st.size, 150000);
	assert_int_equal(fat_stat(&vol, "/d/.upload-test-3", &st), -ENOENT);
	assert_true(dev.flushes > 0); /* synced: on the disk once commit returns */
	check_on_host("/d/new.bin", data, 150000);
}

static void test_replacing_keeps_nothing_old(void **state)
{
	(void)state;
	struct netfs_upload u;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt", "test", 0), 0);
	assert_true(u.existed);
	assert_int_equal(netfs_upload_write(&u, 0, "bye\n", 4), 0);
	assert_int_equal(netfs_upload_commit(&u), 0);
	check_on_host("/hello.txt", "bye\n", 4);
}

static void test_abort_leaves_the_old_file(void **state)
{
	(void)state;
	struct netfs_upload u;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt", "test", 0), 0);
	assert_int_equal(netfs_upload_write(&u, 0, data, 20000), 0);
	netfs_upload_abort(&u);
	check_on_host("/hello.txt", "hello\n", 6);
}

static void test_targets_refused(void **state)
{
	(void)state;
	struct netfs_upload u;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/nodir/x", "test", 0), -ENOENT);
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt/x", "test", 0), -ENOTDIR);
	assert_int_equal(netfs_upload_begin(&u, "/d", "test", 0), -EISDIR);
	assert_int_equal(netfs_upload_begin(&u, "/d/", "test", 0), -EISDIR);
	assert_int_equal(netfs_upload_begin(&u, "relative", "test", 0), -EINVAL);
	check_on_host("/hello.txt", "hello\n", 6);
}

static void test_full_disk_loses_nothing(void **state)
{
	(void)state;
	struct netfs_upload u;
	int err = 0;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt", "test", 0), 0);
	for (uint32_t off = 0; err == 0 && off < (16u << 20); off += sizeof(data))
		err = netfs_upload_write(&u, off, data, sizeof(data));
	assert_int_equal(err, -ENOSPC);
	netfs_upload_abort(&u);
	check_on_host("/hello.txt", "hello\n", 6);
}

static void test_device_error_loses_nothing(void **state)
{
	(void)state;
	struct netfs_upload u;
	int err = 0;

	setup_volume("");
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt", "test", 0), 0);
	img_fail_writes(&dev, 3);
	for (uint32_t off = 0; err == 0 && off < (2u << 20); off += sizeof(data))
		err = netfs_upload_write(&u, off, data, sizeof(data));
	assert_int_equal(err, -EIO);
	img_fail_writes(&dev, 0);
	netfs_upload_abort(&u);
	check_on_host("/hello.txt", "hello\n", 6);
}

/* The old file must step aside to be replaced; in a full root directory
 * (16 entries) its new name has no room: the upload fails and the old
 * file stays, whole.  (The root: hello.txt, d, and 8.3 files to the brim;
 * three freed take the temporary name's two entries, and leave one, where
 * ".upload-t-0.old" needs three.) */
static void test_failed_replace_keeps_the_old_file(void **state)
{
	(void)state;
	struct netfs_upload u;

	setup_volume("-r 16");
	char name[32];
	int made = 0;
	for (int i = 0;; i++) { /* fill the root: 8.3 names take one entry each */
		struct fat_file f;
		snprintf(name, sizeof(name), "/F%d.TXT", i);
		if (fat_open(&vol, name, FAT_O_WRITE | FAT_O_CREATE, &f) < 0)
			break;
		made++;
	}
	assert_true(made > 0);
	fat_remove(&vol, "/F0.TXT"); /* room for the temporary file's entries, not for more */
	fat_remove(&vol, "/F1.TXT");
	fat_remove(&vol, "/F2.TXT");
	assert_int_equal(netfs_upload_begin(&u, "/hello.txt", "t", 0), 0);
	assert_int_equal(netfs_upload_write(&u, 0, "new\n", 4), 0);
	assert_int_equal(netfs_upload_commit(&u), -ENOSPC);
	check_on_host("/hello.txt", "hello\n", 6);
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(netfs_content_type("/a/index.HTML"), "text/html; charset=utf-8");
	assert_string_equal(netfs_content_type("/notes.txt"), "text/plain; charset=utf-8");
	assert_string_equal(netfs_content_type("/p.png"), "image/png");
	assert_string_equal(netfs_content_type("/disk.img"), "application/octet-stream");
	assert_string_equal(netfs_content_type("/dir.d/noext"), "application/octet-stream");
	assert_string_equal(netfs_content_type("/README"), "application/octet-stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_file_appears_only_whole),
		cmocka_unit_test(test_replacing_keeps_nothing_old),
		cmocka_unit_test(test_abort_leaves_the_old_file),
		cmocka_unit_test(test_targets_refused),
		cmocka_unit_test(test_full_disk_loses_nothing),
		cmocka_unit_test(test_device_error_loses_nothing),
		cmocka_unit_test(test_failed_replace_keeps_the_old_file),
		cmocka_unit_test(test_content_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
