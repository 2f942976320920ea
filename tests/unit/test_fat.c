/* Host tests of lib/fat against images made by mkfs.fat and mtools, checked
 * afterwards with fsck.fat -n and mtools. */
// SOURCES: lib/fat/*.c drivers/block/blk.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/fat_img.h"

/* A volume layout to test. */
struct layout {
	const char *tag;
	int fat; /* expected type */
	uint32_t sector; /* logical sector size of the disk */
	const char *mkfs; /* mkfs.fat options */
	uint64_t bytes; /* image size */
	enum { WHOLE, MBR, GPT } table;
};

static const struct layout layouts[] = {
	{"fat12", 12, 512, "-F 12", 1440 * 1024, WHOLE},
	{"fat16", 16, 512, "-F 16", 32 << 20, WHOLE},
	{"fat32", 32, 512, "-F 32 -s 1", 40 << 20, WHOLE},
	{"fat32-4k", 32, 4096, "-F 32 -S 4096 -s 1", 300 << 20, WHOLE},
	{"fat16-4k", 16, 4096, "-F 16 -S 4096 -s 1", 64 << 20, WHOLE},
	{"mbr16", 16, 512, "-F 16", 34 << 20, MBR},
	{"gpt32", 32, 512, "-F 32 -s 1", 48 << 20, GPT},
};

#define PART_START (1 << 20) /* partitions start at 1 MiB */

struct vol {
	char img[256];
	uint64_t offset; /* where the volume starts, bytes */
	struct img_dev dev;
	struct fat_volume v;
};

/* mtools -i names the volume; with an offset it takes "img@@offset". */
static const char *mt(const struct vol *t)
{
	static char spec[300];
	if (t->offset)
		snprintf(spec, sizeof(spec), "%s@@%llu", t->img, (unsigned long long)t->offset);
	else
		snprintf(spec, sizeof(spec), "%s", t->img);
	return spec;
}

static void make_image(struct vol *t, const struct layout *l)
{
	img_path(t->img, sizeof(t->img), l->tag);
	unlink(t->img);
	assert_int_equal(run("truncate -s %llu %s", (unsigned long long)l->bytes, t->img), 0);
	t->offset = 0;
	if (l->table == WHOLE) {
		assert_int_equal(run("mkfs.fat %s %s >/dev/null", l->mkfs, t->img), 0);
		return;
	}
	t->offset = PART_START;
	uint64_t part_bytes = l->bytes - PART_START - (l->table == GPT ? 1 << 20 : 0);
	if (l->table == MBR)
		assert_int_equal(run("echo 'start=2048, size=%llu, type=6' | sfdisk -q %s >/dev/null",
				     (unsigned long long)(part_bytes / 512), t->img),
				 0);
	else
		assert_int_equal(run("sgdisk -n 1:2048:+%lluK -t 1:0700 %s >/dev/null",
				     (unsigned long long)(part_bytes / 1024 - 1), t->img),
				 0);
	char part[300];
	snprintf(part, sizeof(part), "%s.p", t->img);
	assert_int_equal(
		run("truncate -s %llu %s && mkfs.fat %s %s >/dev/null && dd if=%s of=%s bs=1M seek=1 "
		    "conv=notrunc status=none && rm %s",
		    (unsigned long long)(part_bytes - (l->table == GPT ? 1024 : 0)), part, l->mkfs, part,
		    part, t->img, part),
		0);
}

static void mount_vol(struct vol *t, uint32_t sector, int ro)
{
	const char *why = NULL;
	img_open(&t->dev, t->img, sector, ro);
	int err = fat_mount(&t->v, &t->dev.dev, &why);
	if (err)
		fprintf(stderr, "mount %s: %d %s\n", t->img, err, why);
	assert_int_equal(err, 0);
}

static void unmount_vol(struct vol *t)
{
	assert_int_equal(fat_unmount(&t->v), 0);
	img_close(&t->dev);
}

static void write_file(struct fat_volume *v, const char *path, const void *data, size_t len)
{
	struct fat_file f;
	assert_int_equal(fat_open(v, path, FAT_O_WRITE | FAT_O_CREATE | FAT_O_TRUNC, &f), 0);
	assert_int_equal(fat_write(&f, 0, data, len), (ssize_t)len);
}

/* The file's bytes as mtype extracts them equal data. */
static void assert_mtools_file(const struct vol *t, const char *path, const void *data, size_t len)
{
	char *out = run_output("mtype -i %s '::%s' 2>&1", mt(t), path);
	if (run_output_len != len || memcmp(out, data, len) != 0)
		fprintf(stderr, "mtype %s: got %zu bytes: %.200s\n", path, run_output_len, out);
	assert_int_equal(run_output_len, len);
	assert_memory_equal(out, data, len);
	free(out);
}

static void fill_text(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7 + seed + i / 26) % 26);
}

/* One write sequence on every layout: files, long names, NT case, dirs,
 * offsets, truncate, rename, move, remove; then fsck and mtools. */
static void test_layout(const struct layout *l)
{
	static char big[300 * 1024], got[300 * 1024];
	struct vol t;
	struct fat_file f;
	struct fat_stat st;
	struct fat_statfs sf;

	make_image(&t, l);
	assert_int_equal(
		run("echo 'from mtools' > %s.txt && mcopy -i %s %s.txt ::/Host.txt && mmd -i %s ::/hostdir",
		    t.img, mt(&t), t.img, mt(&t)),
		0);
	mount_vol(&t, l->sector, 0);
	assert_int_equal(fat_statfs(&t.v, &sf), 0);
	assert_int_equal(sf.type, l->fat);
	uint32_t free0 = sf.free;

	/* Reading what mtools wrote, by any case. */
	assert_int_equal(fat_open(&t.v, "/HOST.TXT", 0, &f), 0);
	assert_int_equal(fat_read(&f, 0, got, sizeof(got)), 12);
	assert_memory_equal(got, "from mtools\n", 12);
	assert_int_equal(fat_stat(&t.v, "/hostdir", &st), 0);
	assert_true(st.is_dir);

	fill_text(big, sizeof(big), 1);
	write_file(&t.v, "/readme.txt", "hello\n", 6); /* 8.3 with NT flags */
	write_file(&t.v, "/lower.txt", "lower\n", 6);
	write_file(&t.v, "/A Long File Name.text", big, 5000); /* LFN */
	assert_int_equal(fat_mkdir(&t.v, "/sub"), 0);
	assert_int_equal(fat_mkdir(&t.v, "/sub/deeper dir"), 0);
	write_file(&t.v, "/sub/deeper dir/big.bin", big, sizeof(big)); /* many clusters */
	assert_int_equal(fat_mkdir(&t.v, "/sub"), -EEXIST);
	assert_int_equal(fat_open(&t.v, "/nothere/x", FAT_O_WRITE | FAT_O_CREATE, &f), -ENOENT);
	assert_int_equal(fat_open(&t.v, "/readme.txt/x", 0, &f), -ENOTDIR);
	assert_int_equal(fat_open(&t.v, "/sub", 0, &f), -EISDIR);

	/* Writes at an offset, past the end (zero gap), append. */
	assert_int_equal(fat_open(&t.v, "/gap.bin", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	assert_int_equal(fat_write(&f, 10000, "XYZ", 3), 3);
	assert_int_equal(fat_write(&f, 5, "ab", 2), 2);
	assert_int_equal(fat_write(&f, 10003, "end", 3), 3);
	char expect_gap[10006];
	memset(expect_gap, 0, sizeof(expect_gap));
	memcpy(expect_gap + 5, "ab", 2);
	memcpy(expect_gap + 10000, "XYZend", 6);

	/* Truncate down and up. */
	write_file(&t.v, "/trunc.txt", big, 9000);
	assert_int_equal(fat_open(&t.v, "/trunc.txt", FAT_O_WRITE, &f), 0);
	assert_int_equal(fat_truncate(&f, 700), 0);
	assert_int_equal(fat_truncate(&f, 1000), 0);
	char expect_trunc[1000];
	memcpy(expect_trunc, big, 700);
	memset(expect_trunc + 700, 0, 300);

	/* Many long names in one directory: numeric tails, then hashed tails. */
	for (int i = 0; i < 12; i++) {
		char name[64];
		snprintf(name, sizeof(name), "/sub/Same Prefix Number %d.data", i);
		write_file(&t.v, name, name, strlen(name));
	}

	/* Rename in place (case only), rename, move across dirs, move a dir. */
	assert_int_equal(fat_rename(&t.v, "/readme.txt", "/README.TXT"), 0);
	assert_int_equal(fat_rename(&t.v, "/trunc.txt", "/sub/moved and renamed.txt"), 0);
	assert_int_equal(fat_mkdir(&t.v, "/mover"), 0);
	write_file(&t.v, "/mover/inside.txt", "inside\n", 7);
	assert_int_equal(fat_rename(&t.v, "/mover", "/sub/deeper dir/mover"), 0);
	assert_int_equal(fat_rename(&t.v, "/sub", "/sub/deeper dir/x"), -EINVAL);
	assert_int_equal(fat_rename(&t.v, "/sub", "/hostdir"), -EEXIST);
	assert_int_equal(fat_stat(&t.v, "/sub/deeper dir/mover/../../moved and renamed.txt", &st), 0);
	assert_int_equal(st.size, 1000);

	/* Remove: a file, an empty dir; a full dir is refused. */
	write_file(&t.v, "/doomed.txt", big, 3000);
	assert_int_equal(fat_remove(&t.v, "/doomed.txt"), 0);
	assert_int_equal(fat_remove(&t.v, "/sub"), -ENOTEMPTY);
	assert_int_equal(fat_mkdir(&t.v, "/empty"), 0);
	assert_int_equal(fat_remove(&t.v, "/empty"), 0);
	assert_int_equal(fat_stat(&t.v, "/empty", &st), -ENOENT);

	/* Listing, in directory order. */
	struct fat_dir d;
	static struct fat_dirent e;
	int n = 0;
	assert_int_equal(fat_opendir(&t.v, "/sub", &d), 0);
	while (fat_readdir(&d, &e) == 1)
		n++;
	assert_int_equal(n, 1 + 12 + 1);

	unmount_vol(&t);
	assert_true(fsck_ok(t.img, t.offset));

	/* mtools sees exactly that. */
	char *ls = run_output("mdir -i %s -b -/ ::/ 2>&1", mt(&t));
	assert_non_null(strstr(ls, "::/README.TXT"));
	assert_non_null(strstr(ls, "::/A Long File Name.text"));
	assert_non_null(strstr(ls, "::/sub/deeper dir/mover/inside.txt"));
	assert_non_null(strstr(ls, "::/sub/Same Prefix Number 11.data"));
	assert_null(strstr(ls, "doomed"));
	assert_null(strstr(ls, "empty"));
	free(ls);
	ls = run_output("mdir -i %s ::/ 2>&1", mt(&t));
	assert_non_null(strstr(ls, "lower    txt")); /* NT lower-case flags, no LFN */
	assert_null(strstr(ls, "LOWER"));
	assert_null(strstr(ls, "LOWER")); /* no long entry (mdir would list the short form) */
	free(ls);
	assert_mtools_file(&t, "/README.TXT", "hello\n", 6);
	assert_mtools_file(&t, "/A Long File Name.text", big, 5000);
	assert_mtools_file(&t, "/sub/deeper dir/big.bin", big, sizeof(big));
	assert_mtools_file(&t, "/sub/moved and renamed.txt", expect_trunc, sizeof(expect_trunc));
	assert_mtools_file(&t, "/sub/deeper dir/mover/inside.txt", "inside\n", 7);
	assert_int_equal(run("mcopy -n -i %s ::/gap.bin %s.gap", mt(&t), t.img), 0);
	{
		char path[300];
		snprintf(path, sizeof(path), "%s.gap", t.img);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		assert_int_equal(fread(got, 1, sizeof(got), fp), sizeof(expect_gap));
		fclose(fp);
		unlink(path);
		assert_memory_equal(got, expect_gap, sizeof(expect_gap));
	}

	/* Mounted again: the free count went where it should, and is kept. */
	mount_vol(&t, l->sector, 0);
	assert_int_equal(fat_statfs(&t.v, &sf), 0);
	assert_true(sf.free < free0);
	assert_int_equal(fat_remove(&t.v, "/sub/deeper dir/big.bin"), 0);
	unmount_vol(&t);
	assert_true(fsck_ok(t.img, t.offset));
	mount_vol(&t, l->sector, 0);
	struct fat_statfs sf2;
	assert_int_equal(fat_statfs(&t.v, &sf2), 0);
	assert_int_equal(sf2.free, sf.free + (sizeof(big) + sf.cluster_bytes - 1) / sf.cluster_bytes);
	unmount_vol(&t);
	unlink(t.img);
	char txt[300];
	snprintf(txt, sizeof(txt), "%s.txt", t.img);
	unlink(txt);
}

static void test_fat12(void **s) { (void)s, test_layout(&layouts[0]); }
static void test_fat16(void **s) { (void)s, test_layout(&layouts[1]); }
static void test_fat32(void **s) { (void)s, test_layout(&layouts[2]); }
static void test_fat32_4k(void **s) { (void)s, test_layout(&layouts[3]); }
static void test_fat16_4k(void **s) { (void)s, test_layout(&layouts[4]); }
static void test_mbr(void **s) { (void)s, test_layout(&layouts[5]); }
static void test_gpt(void **s) { (void)s, test_layout(&layouts[6]); }

/* A volume with exactly `clusters` data clusters: mkfs.fat makes one near
 * the count (it keeps off the type boundaries itself), then the BPB's total
 * sector count is moved to reach it (the FAT is large enough either way). */
static void make_boundary(struct vol *t, const char *mkfs, uint32_t sectors, uint32_t clusters)
{
	uint8_t b[512];
	img_path(t->img, sizeof(t->img), "boundary");
	t->offset = 0;
	unlink(t->img);
	assert_int_equal(
		run("truncate -s %u %s && mkfs.fat %s %s >/dev/null", sectors * 512, t->img, mkfs, t->img),
		0);
	int fd = open(t->img, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, 512, 0), 512);
	uint32_t spc = b[13], reserved = b[14] | b[15] << 8, nfats = b[16], root = b[17] | b[18] << 8;
	uint32_t fatsz = b[22] | b[23] << 8;
	if (!fatsz)
		fatsz = b[36] | b[37] << 8 | b[38] << 16 | (uint32_t)b[39] << 24;
	uint32_t total = reserved + nfats * fatsz + (root * 32 + 511) / 512 + clusters * spc;
	if (b[19] | b[20] << 8) {
		assert_true(total < 65536);
		b[19] = (uint8_t)total, b[20] = (uint8_t)(total >> 8);
	} else {
		b[32] = (uint8_t)total, b[33] = (uint8_t)(total >> 8), b[34] = (uint8_t)(total >> 16),
		b[35] = 0;
	}
	assert_int_equal(pwrite(fd, b, 512, 0), 512);
	if (fatsz == (uint32_t)(b[36] | b[37] << 8 | b[38] << 16 | (uint32_t)b[39] << 24)) /* FAT32 backup */
		assert_int_equal(pwrite(fd, b, 512, 6 * 512), 512);
	assert_int_equal(ftruncate(fd, (off_t)total * 512), 0);
	close(fd);
}

/* Fills the volume with one file (its last cluster is the volume's last),
 * then checks it with fsck.fat and mtools. */
static void test_boundary(const char *mkfs, uint32_t sectors, uint32_t clusters, int type)
{
	struct vol t;
	struct fat_statfs sf;
	struct fat_file f;
	make_boundary(&t, mkfs, sectors, clusters);
	mount_vol(&t, 512, 0);
	assert_int_equal(fat_statfs(&t.v, &sf), 0);
	assert_int_equal(sf.type, type);
	assert_int_equal(sf.clusters, clusters);
	size_t len = (size_t)sf.free * sf.cluster_bytes;
	char *data = malloc(len);
	fill_text(data, len, 3);
	assert_int_equal(fat_open(&t.v, "/all of it.txt", FAT_O_WRITE | FAT_O_CREATE, &f), 0);
	assert_int_equal(fat_write(&f, 0, data, len), (ssize_t)len);
	assert_int_equal(fat_write(&f, (uint32_t)len, "x", 1), -ENOSPC);
	unmount_vol(&t);
	assert_true(fsck_ok(t.img, 0));
	assert_mtools_file(&t, "/all of it.txt", data, len);
	free(data);
	unlink(t.img);
}

static void test_4084(void **s) { (void)s, test_boundary("-F 12 -s 1", 4141, 4084, 12); }
static void test_4085(void **s) { (void)s, test_boundary("-F 16 -s 1", 4300, 4085, 16); }
static void test_65524(void **s) { (void)s, test_boundary("-F 16 -s 1", 66000, 65524, 16); }
static void test_65525(void **s) { (void)s, test_boundary("-F 32 -s 1", 67000, 65525, 32); }

/* The names of /dir's entries in directory order, '|'-joined. */
static void list_names(struct fat_volume *v, const char *dir, char *out, size_t size)
{
	static struct fat_dirent e;
	struct fat_dir d;

	out[0] = '\0';
	assert_int_equal(fat_opendir(v, dir, &d), 0);
	while (fat_readdir(&d, &e) == 1)
		snprintf(out + strlen(out), size - strlen(out), "%s|", e.name);
}

/* A failed lookup also plans the new entry set: a free run of the right
 * length (a freed gap, else the end, growing the directory), and the first
 * generated short name no entry has, however many tails are in use. */
static void test_lookup_plans_new_entries(void **s)
{
	(void)s;
	struct vol t;
	struct fat_stat st;
	char names[2048];

	make_image(&t, &layouts[2]); /* FAT32, 512-byte clusters: 16 entries each */
	mount_vol(&t, 512, 0);
	assert_int_equal(fat_mkdir(&t.v, "/d"), 0);
	/* Tails: ~1..~4, then the hashed form. */
	for (int i = 0; i < 7; i++) {
		char name[64];
		snprintf(name, sizeof(name), "/d/Same Prefix %d.data", i);
		write_file(&t.v, name, name, strlen(name));
	}
	/* Looked up by its short form too, in any case. */
	assert_int_equal(fat_stat(&t.v, "/d/samepr~2.dat", &st), 0);
	assert_int_equal(st.size, strlen("/d/Same Prefix 1.data"));
	/* A freed tail is taken again, the set going into the freed entries. */
	assert_int_equal(fat_remove(&t.v, "/d/Same Prefix 1.data"), 0);
	write_file(&t.v, "/d/Same Prefix 7.data", "x", 1);
	assert_int_equal(fat_stat(&t.v, "/d/SAMEPR~2.DAT", &st), 0);
	assert_int_equal(st.size, 1);
	/* A one-entry gap takes an 8.3 name; a long name goes past it. */
	assert_int_equal(fat_remove(&t.v, "/d/Same Prefix 3.data"), 0); /* frees 3 entries */
	write_file(&t.v, "/d/a.txt", "a", 1);
	write_file(&t.v, "/d/A much longer name than fits in the gap.txt", "b", 1);
	list_names(&t.v, "/d", names, sizeof(names));
	assert_string_equal(names, "Same Prefix 0.data|Same Prefix 7.data|Same Prefix 2.data|a.txt|"
				   "Same Prefix 4.data|Same Prefix 5.data|Same Prefix 6.data|"
				   "A much longer name than fits in the gap.txt|");
	/* Entries 2..27 are used but the gap's last two, which f0 and f1
	 * fill; f2 and f3 take 28 and 29, and the next set (4 entries, 30..33)
	 * spans into a third cluster. */
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "/d/f%d.txt", i);
		write_file(&t.v, name, "f", 1);
	}
	write_file(&t.v, "/d/Into the third cluster of it.txt", "c", 1);
	assert_int_equal(fat_stat(&t.v, "/d/Into the third cluster of it.txt", &st), 0);
	assert_int_equal(
		fat_open(&t.v, "/d/f0.txt", FAT_O_WRITE | FAT_O_CREATE | FAT_O_EXCL, &(struct fat_file){0}),
		-EEXIST);
	/* A hashed tail in use is skipped: rename the entry that has one to
	 * exactly its short name (an 8.3 name: the short entry keeps it), then,
	 * ~1..~4 all taken, create its long name again. */
	unmount_vol(&t);
	char *line = run_output(
		"mdir -i %s ::/d 2>&1 | grep 'Same Prefix 6.data' | awk '{print $1 \".\" $2}'", t.img);
	assert_int_equal(strlen(line), 13); /* e.g. "SA1234~1.DAT\n" */
	assert_memory_equal(line + 6, "~1.DAT", 6);
	char hashed[32], second[32];
	snprintf(hashed, sizeof(hashed), "/d/%.12s", line);
	snprintf(second, sizeof(second), "%.7s2.DAT", line);
	free(line);
	mount_vol(&t, 512, 0);
	assert_int_equal(fat_rename(&t.v, "/d/Same Prefix 6.data", hashed), 0);
	write_file(&t.v, "/d/Same Prefix 8.data", "8", 1); /* ~4, freed with 3, taken again */
	write_file(&t.v, "/d/Same Prefix 6.data", "again", 5);
	unmount_vol(&t);
	assert_true(fsck_ok(t.img, 0));
	char *ls = run_output("mdir -i %s ::/d 2>&1", t.img);
	char want[64];
	snprintf(want, sizeof(want), "%.8s DAT         5", second);
	assert_non_null(strstr(ls, want));
	assert_non_null(strstr(ls, "SAMEPR~2 DAT         1"));
	assert_non_null(strstr(ls, "Into the third cluster of it.txt"));
	free(ls);
	assert_mtools_file(&t, "/d/Same Prefix 6.data", "again", 5);
	assert_mtools_file(&t, "/d/Into the third cluster of it.txt", "c", 1);
	unlink(t.img);
}

/* Leading periods are not part of a generated short name's basis: ".bashrc"
 * is BASHRC (no extension), "..x.tar.gz" is XTAR~1.GZ. */
static void test_leading_dot_short_name(void **s)
{
	(void)s;
	struct vol t;

	make_image(&t, &layouts[1]);
	mount_vol(&t, 512, 0);
	write_file(&t.v, "/.bashrc", "rc", 2);
	write_file(&t.v, "/..x.tar.gz", "gz", 2);
	unmount_vol(&t);
	assert_true(fsck_ok(t.img, 0));
	char *ls = run_output("mdir -i %s :: 2>&1", t.img);
	if (!strstr(ls, "BASHRC~1             2") || !strstr(ls, "XTAR~1   GZ          2"))
		fprintf(stderr, "%s", ls);
	assert_non_null(strstr(ls, "BASHRC~1             2"));
	assert_non_null(strstr(ls, "XTAR~1   GZ          2"));
	free(ls);
	assert_mtools_file(&t, "/.bashrc", "rc", 2);
	assert_mtools_file(&t, "/..x.tar.gz", "gz", 2);
	unlink(t.img);
}

/* Counts the FAT12/16 root's entries in use and deleted, on disk. */
static void root_entries(struct vol *t, int *used, int *deleted)
{
	uint8_t e[32];
	*used = *deleted = 0;
	for (uint32_t i = 0; i < t->v.root_entries; i++) {
		assert_int_equal(pread(t->dev.fd, e, 32, (off_t)(t->v.root_sector * 512 + i * 32)), 32);
		if (e[0] == 0)
			break;
		if (e[0] == 0xE5)
			++*deleted;
		else
			++*used;
	}
}

/* A change of case only is made in place: no second entry with the same
 * short name is ever written (a crash would leave a duplicate). */
static void test_rename_case_in_place(void **s)
{
	(void)s;
	struct vol t;
	char names[512];
	int used, deleted;

	make_image(&t, &layouts[1]);
	assert_int_equal(run("echo a | mcopy -i %s - ::/README.TXT && echo b | mcopy -i %s - '::/Long File "
			     "Name.txt' && echo c | mcopy -i %s - ::/SHORT.TXT",
			     t.img, t.img, t.img),
			 0);
	mount_vol(&t, 512, 0);
	root_entries(&t, &used, &deleted);
	assert_int_equal(used, 1 + 3 + 1); /* "Long File Name.txt": 2 long entries */
	assert_int_equal(deleted, 0);
	/* 8.3 to 8.3: only the case flags change. */
	assert_int_equal(fat_rename(&t.v, "/README.TXT", "/readme.txt"), 0);
	/* A long name to the same length in other case: rewritten in place. */
	assert_int_equal(fat_rename(&t.v, "/long file name.txt", "/LONG file NAME.TXT"), 0);
	assert_int_equal(fat_sync(&t.v), 0);
	root_entries(&t, &used, &deleted);
	assert_int_equal(used, 5);
	assert_int_equal(deleted, 0);
	/* A long name to its own short name: the long entries go. */
	assert_int_equal(fat_rename(&t.v, "/LONG file NAME.TXT", "/longfi~1.txt"), 0);
	/* 8.3 to a mixed-case name, which needs a long entry: a new set with a
	 * generated short name, the old entry deleted. */
	assert_int_equal(fat_rename(&t.v, "/SHORT.TXT", "/Short.txt"), 0);
	list_names(&t.v, "/", names, sizeof(names));
	assert_string_equal(names, "readme.txt|Short.txt|longfi~1.txt|"); /* into the freed long entries */
	unmount_vol(&t);
	assert_true(fsck_ok(t.img, 0));
	char *ls = run_output("mdir -i %s :: 2>&1", t.img);
	assert_non_null(strstr(ls, "SHORT~1  TXT"));
	assert_null(strstr(ls, "SHORT    TXT"));
	free(ls);
	assert_mtools_file(&t, "/readme.txt", "a\n", 2);
	assert_mtools_file(&t, "/longfi~1.txt", "b\n", 2);
	assert_mtools_file(&t, "/Short.txt", "c\n", 2);
	unlink(t.img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fat12),
		cmocka_unit_test(test_fat16),
		cmocka_unit_test(test_fat32),
		cmocka_unit_test(test_fat32_4k),
		cmocka_unit_test(test_fat16_4k),
		cmocka_unit_test(test_mbr),
		cmocka_unit_test(test_gpt),
		cmocka_unit_test(test_4084),
		cmocka_unit_test(test_4085),
		cmocka_unit_test(test_65524),
		cmocka_unit_test(test_65525),
		cmocka_unit_test(test_lookup_plans_new_entries),
		cmocka_unit_test(test_leading_dot_short_name),
		cmocka_unit_test(test_rename_case_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
