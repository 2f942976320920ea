/*
 * What a crash can leave (docs/fat.md, "Writing without making a crash
 * worse"), checked rather than argued.  A scenario of file-system calls runs
 * against a device that logs every write and FLUSH.  Then, for every write,
 * the disk as a crash right after it could leave it is rebuilt and given to
 * fsck.fat -n:
 *
 *   - a guest crash: every write so far reached the host (nothing is lost);
 *   - a host crash: everything before the last FLUSH is durable, and of the
 *     writes since, any one may be lost (a volatile cache keeps no order).
 *
 * Every complaint fsck.fat makes must be one the document allows.
 */
// SOURCES: lib/fat/*.c drivers/block/blk.c
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/fat/fat_internal.h"
#include "tests/unit/fat_img.h"

#define LOG_MAX 4096

/* What was being done when a write went out. */
enum op { OP_CREATE, OP_WRITE, OP_MKDIR, OP_RENAME, OP_REMOVE, OP_TRUNCATE, OP_SYNC };
static const char *const op_names[] = {"create", "write", "mkdir", "rename", "remove", "truncate", "sync"};

static struct rec {
	int flush;
	enum op op;
	int renaming; /* a rename since the last sync */
	uint64_t lba;
	uint32_t count;
	uint8_t *data;
} recs[LOG_MAX];
static int nrecs;
static enum op doing;
static int renaming;
static uint8_t *disk; /* what the device holds, every write applied */
static size_t disk_bytes;
static char img[256];
static int img_fd;

static int logging_xfer(struct blk_device *dev, struct blk_request *r)
{
	size_t off = r->lba * dev->sector_size, bytes = (size_t)r->count * dev->sector_size;

	switch (r->op) {
	case BLK_READ:
		memcpy(r->buf, disk + off, bytes);
		return 0;
	case BLK_WRITE:
		memcpy(disk + off, r->buf, bytes);
		assert_true(nrecs < LOG_MAX);
		recs[nrecs] = (struct rec){0, doing, renaming, r->lba, r->count, malloc(bytes)};
		memcpy(recs[nrecs++].data, r->buf, bytes);
		return 0;
	case BLK_FLUSH:
		assert_true(nrecs < LOG_MAX);
		recs[nrecs++] = (struct rec){.flush = 1, .op = doing, .renaming = renaming};
		return 0;
	default:
		return -ENOTSUP;
	}
}

/* The image file holds `durable` plus some of the writes since: it is
 * patched in place, sector runs only (rebuilding it whole each time would
 * cost more than fsck.fat). */
static uint8_t *durable;

static void put(uint64_t lba, uint32_t count, const uint8_t *from)
{
	assert_int_equal(pwrite(img_fd, from, (size_t)count * 512, (off_t)(lba * 512)), (ssize_t)count * 512);
}

/* fsck.fat -n's complaints, one per line (a message's indented lines and
 * the second path of "A and B" joined to it); "" when it has none. */
static char *complaints(void)
{
	return run_output(
		"fsck.fat -n %s 2>&1 | sed -n '2,$p' | grep -v '^Leaving filesystem unchanged' | "
		"grep -v '^%s: ' | grep -v '^$' | "
		"awk '/^ / || m ~ / and$/ { m = m \" \" $0; next } "
		"{ if (m != \"\") print m; m = $0 } END { if (m != \"\") print m }' | sed 's/  */ /g'",
		img, img);
}

/* Whether a complaint is one docs/fat.md allows after a crash; renaming:
 * a rename since the last sync. */
static int allowed(const char *line, int renaming)
{
	static const char *const always[] = {
		"Dirty bit is set", /* the clean bit is written last, after the FLUSH */
		"Free cluster summary", /* FSInfo: a hint, counted at mount */
		"FATs differ but appear to be intact", /* between the FAT copies */
		"unused cluster", /* lost clusters: a chain no entry points at */
		"cluster chain length is >", /* a chain longer than its file */
		"Orphaned long file name part", /* a long name written or removed */
		"found outside a LFN sequence", /* part way */
	};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (strstr(line, always[i]))
			return 1;
	unsigned long size, chain;
	const char *p = strstr(line, "File size is ");
	if (p && sscanf(p, "File size is %lu bytes, cluster chain length is %lu bytes", &size, &chain) == 2)
		return chain > size || renaming; /* longer than the file: allowed */
	/* A rename between its steps: the chain under both names (fsck.fat
	 * keeps it under the first), a moved directory's ".." naming its new
	 * parent already. */
	return renaming && (strstr(line, "share clusters") || strstr(line, "Invalid '..' entry"));
}

static int problems;

/* Counts a problem found in the disk a crash after write k (losing write
 * lost, if not negative) leaves, and says where. */
static void problem(int k, int lost, const char *what)
{
	problems++;
	print_message("crash after write %d (%s)%s%s: %s\n", k, op_names[recs[k].op],
		      lost >= 0 ? ", losing the write of " : "", lost >= 0 ? op_names[recs[lost].op] : "",
		      what);
}

/* Bytes of whichever of two names a repaired copy of the image holds. */
static long bytes_under(const char *fixed, const char *a, const char *b)
{
	char *out = run_output("(mtype -i %s '::%s' || mtype -i %s '::%s') 2>/dev/null | wc -c", fixed, a,
			       fixed, b);
	long n = atol(out);
	free(out);
	return n;
}

/* What a rename moves must survive any crash under one name or the other:
 * after fsck.fat -a has repaired a copy, it is still there, whole. */
static void check_renamed(int k, int lost)
{
	static const struct {
		const char *from, *to;
		long bytes;
	} moved[] = {
		{"/old.txt", "/dir2/moved.txt", 100},
		{"/dir1/sub/x", "/dir2/sub moved/x", 10},
		{"/A long name for a file.txt", "/a long name for a file.TXT", 3000},
	};
	char fixed[300];

	snprintf(fixed, sizeof(fixed), "%s.fixed", img);
	run("cp %s %s && fsck.fat -a %s >/dev/null 2>&1", img, fixed, fixed);
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++)
		if (bytes_under(fixed, moved[i].from, moved[i].to) != moved[i].bytes)
			problem(k, lost, moved[i].from); /* lost under both names */
	unlink(fixed);
}

static void check(int k, int lost)
{
	if (recs[k].renaming)
		check_renamed(k, lost);
	char *out = complaints();
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (!allowed(line, recs[k].renaming))
			problem(k, lost, line);
	free(out);
}

/* Every crash point of the log, as the header says. */
static void crash_everywhere(void)
{
	int since = 0; /* first record after the last FLUSH */

	put(0, (uint32_t)(disk_bytes / 512), durable);
	for (int k = 0; k < nrecs; k++) {
		if (recs[k].flush) {
			for (int i = since; i < k; i++)
				memcpy(durable + recs[i].lba * 512, recs[i].data,
				       (size_t)recs[i].count * 512);
			since = k + 1;
			continue;
		}
		put(recs[k].lba, recs[k].count, recs[k].data); /* the file now holds since..k */
		check(k, -1);
		for (int lost = since; lost <= k; lost++) {
			if (recs[lost].flush)
				continue;
			/* Without `lost`: its sectors as the durable state and the
			 * other pending writes (in order) leave them. */
			put(recs[lost].lba, recs[lost].count, durable + recs[lost].lba * 512);
			for (int i = since; i <= k; i++)
				if (i != lost && recs[i].lba < recs[lost].lba + recs[lost].count &&
				    recs[lost].lba < recs[i].lba + recs[i].count)
					put(recs[i].lba, recs[i].count, recs[i].data);
			check(k, lost);
			for (int i = since; i <= k; i++) /* back to since..k */
				if (i == lost || (recs[i].lba < recs[lost].lba + recs[lost].count &&
						  recs[lost].lba < recs[i].lba + recs[i].count))
					put(recs[i].lba, recs[i].count, recs[i].data);
		}
	}
}

static struct fat_volume vol;
static struct fat_file file;
static char text[3000];

static void make(const char *path, size_t bytes)
{
	doing = OP_CREATE;
	assert_int_equal(fat_open(&vol, path, FAT_O_WRITE | FAT_O_CREATE | FAT_O_EXCL, &file), 0);
	doing = OP_WRITE;
	assert_int_equal(fat_write(&file, 0, text, bytes), (ssize_t)bytes);
}

static void sync_all(void)
{
	doing = OP_SYNC;
	assert_int_equal(fat_sync(&vol), 0);
	renaming = 0;
}

/* A deleted file (mtools writes and deletes it before the volume is
 * mounted, so its clusters are the first free ones) whose clusters hold
 * what reads as directory entries, 8.3 names pointing at a live file's
 * cluster: a directory that grows into one of them must never show those,
 * whatever a crash loses. */
static void leave_junk(void)
{
	static uint8_t junk[64 * 1024];
	char path[300];

	for (size_t i = 0; i < sizeof(junk); i += DIRENT_SIZE) {
		memcpy(junk + i, "JUNK    TXT", 11);
		junk[i + 4] = (uint8_t)('A' + i / DIRENT_SIZE % 26);
		junk[i + 11] = FAT_ATTR_ARCHIVE;
		ent_set_cluster(junk + i, 3);
		ent_set_size(junk + i, 4096);
	}
	snprintf(path, sizeof(path), "%s.junk", img);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	assert_int_equal(run("mcopy -i %s %s ::/keep.bin && mcopy -i %s %s ::/junk && mdel -i %s ::/junk",
			     img, path, img, path, img),
			 0);
	unlink(path);
}

static void scenario(void)
{
	char path[64];

	memset(text, 'q', sizeof(text));
	make("/A long name for a file.txt", sizeof(text));
	make("/old.txt", 100);
	doing = OP_MKDIR;
	assert_int_equal(fat_mkdir(&vol, "/dir1"), 0);
	assert_int_equal(fat_mkdir(&vol, "/dir1/sub"), 0);
	make("/dir1/sub/x", 10);
	sync_all();
	doing = OP_MKDIR;
	assert_int_equal(fat_mkdir(&vol, "/dir2"), 0);
	sync_all();
	for (int i = 0; i < 24; i++) { /* clusters of entries: the directory grows */
		snprintf(path, sizeof(path), "/dir2/file number %d", i);
		make(path, 700);
	}
	sync_all();
	doing = OP_RENAME;
	renaming = 1;
	assert_int_equal(fat_rename(&vol, "/old.txt", "/dir2/moved.txt"), 0);
	assert_int_equal(fat_rename(&vol, "/dir1/sub", "/dir2/sub moved"), 0);
	assert_int_equal(fat_rename(&vol, "/A long name for a file.txt", "/a long name for a file.TXT"), 0);
	sync_all();
	doing = OP_TRUNCATE;
	assert_int_equal(fat_open(&vol, "/dir2/file number 5", FAT_O_WRITE, &file), 0);
	assert_int_equal(fat_truncate(&file, 100), 0);
	assert_int_equal(fat_truncate(&file, 5000), 0);
	doing = OP_REMOVE;
	assert_int_equal(fat_remove(&vol, "/dir2/file number 3"), 0);
	assert_int_equal(fat_remove(&vol, "/dir2/sub moved/x"), 0);
	assert_int_equal(fat_remove(&vol, "/dir2/sub moved"), 0);
	make("/reuse", sizeof(text));
	sync_all();
}

static void run_on(const char *mkfs_args, unsigned kib)
{
	const char *why;
	struct blk_device dev = {.sector_size = 512, .has_flush = 1, .ops = &host_ops};

	img_path(img, sizeof(img), "crash");
	assert_int_equal(run("rm -f %s && mkfs.fat -C %s %s %u >/dev/null", img, mkfs_args, img, kib), 0);
	leave_junk();
	disk_bytes = (size_t)kib * 1024;
	disk = malloc(disk_bytes);
	durable = malloc(disk_bytes);
	img_fd = open(img, O_RDWR);
	assert_true(img_fd >= 0);
	assert_int_equal(pread(img_fd, disk, disk_bytes, 0), (ssize_t)disk_bytes);
	dev.sectors = disk_bytes / 512;
	host_xfer = logging_xfer;
	memcpy(durable, disk, disk_bytes);
	nrecs = 0;
	assert_int_equal(fat_mount(&vol, &dev, &why), 0);
	scenario();
	problems = 0;
	crash_everywhere();
	print_message("%s: %d writes and FLUSHes, %d complaints not allowed\n", mkfs_args, nrecs, problems);
	assert_int_equal(problems, 0);
	for (int i = 0; i < nrecs; i++)
		free(recs[i].data);
	close(img_fd);
	unlink(img);
	free(disk);
	free(durable);
}

static void test_fat16_crash_leaves_only_what_the_document_allows(void **state)
{
	(void)state;
	run_on("-F 16 -s 1", 4096);
}

static void test_fat32_crash_leaves_only_what_the_document_allows(void **state)
{
	(void)state;
	run_on("-F 32 -s 1", 34 * 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fat16_crash_leaves_only_what_the_document_allows),
		cmocka_unit_test(test_fat32_crash_leaves_only_what_the_document_allows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
