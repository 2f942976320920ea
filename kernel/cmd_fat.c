/*
 * Shell commands on files: ls, stat, cat, sha256, write, append, fill,
 * truncate, mkdir, rm, mv, cp, df, sync, bench file.  Each resolves its
 * paths to a mounted volume (kernel/volumes.c) and calls lib/fat; every
 * failure ends in one "error: PATH: why" line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernel/commands.h"
#include "kernel/console.h"
#include "kernel/errstr.h"
#include "kernel/time.h"
#include "kernel/volumes.h"
#include "lib/fat/fat.h"
#include "lib/pattern.h"
#include "lib/sha256.h"

#define FILE_BUF_BYTES (4u << 20)

/* One static buffer and file for the commands (they run one at a time). */
static _Alignas(4096) uint8_t file_buf[FILE_BUF_BYTES];
static struct fat_file file, file2;

static int fail(const char *path, int err)
{
	if (err == -ENODEV)
		return shell_error("%s: no FAT volume is mounted there", path);
	if (err == -EINVAL && path[0] != '/')
		return shell_error("%s: paths are absolute (they start with /)", path);
	return shell_error("%s: %s", path, errstr(err));
}

/* Resolves path; on failure prints the error line and returns -1. */
static int resolve(const char *path, struct fat_volume **v, const char **rel)
{
	int err = volume_resolve(path, v, rel);
	return err < 0 ? fail(path, err) : 0;
}

static int open_path(const char *path, int flags, struct fat_file *f)
{
	struct fat_volume *v;
	const char *rel;

	if (resolve(path, &v, &rel) < 0)
		return -1;
	int err = fat_open(v, rel, flags, f);
	return err < 0 ? fail(path, err) : 0;
}

static int parse_size(const char *cmd, const char *s, uint32_t *out)
{
	uint64_t n;
	if (parse_u64(s, &n) < 0 || n > UINT32_MAX)
		return shell_error("%s: SIZE must be a number below 4 GiB", cmd);
	*out = (uint32_t)n;
	return 0;
}

static const char *leaf_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

int cmd_ls(struct args *a)
{
	const char *path = a->argc > 1 ? a->argv[1] : "/";
	struct fat_volume *v;
	const char *rel;
	struct fat_stat st;
	static struct fat_dir d;
	static struct fat_dirent e;
	int err;

	if (a->argc > 2)
		return shell_error("usage: ls [PATH]");
	if (resolve(path, &v, &rel) < 0)
		return -1;
	if ((err = fat_stat(v, rel, &st)) < 0)
		return fail(path, err);
	if (!st.is_dir) {
		kprintf("f %" PRIu32 " %s\n", st.size, leaf_of(path));
		return 0;
	}
	if ((err = fat_opendir(v, rel, &d)) < 0)
		return fail(path, err);
	while ((err = fat_readdir(&d, &e)) > 0)
		kprintf("%c %" PRIu32 " %s\n", e.st.is_dir ? 'd' : 'f', e.st.is_dir ? 0 : e.st.size, e.name);
	return err < 0 ? fail(path, err) : 0;
}

int cmd_stat(struct args *a)
{
	static const struct {
		uint8_t bit;
		char letter;
	} attrs[] = {{FAT_ATTR_RO, 'R'},
		     {FAT_ATTR_HIDDEN, 'H'},
		     {FAT_ATTR_SYSTEM, 'S'},
		     {FAT_ATTR_DIR, 'D'},
		     {FAT_ATTR_ARCHIVE, 'A'}};
	struct fat_volume *v;
	const char *rel;
	struct fat_stat st;
	char letters[8];
	size_t n = 0;

	if (a->argc != 2)
		return shell_error("usage: stat PATH");
	if (resolve(a->argv[1], &v, &rel) < 0)
		return -1;
	int err = fat_stat(v, rel, &st);
	if (err < 0)
		return fail(a->argv[1], err);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (st.attr & attrs[i].bit)
			letters[n++] = attrs[i].letter;
	if (!n)
		letters[n++] = '-';
	letters[n] = 0;
	/* A date of 0 (the root, which has no entry) reads as FAT's epoch. */
	unsigned month = (st.wdate >> 5) & 15u, day = st.wdate & 31u;
	kprintf("type=%c size=%" PRIu32 " cluster=%" PRIu32 " attr=%s mtime=%04u-%02u-%02u %02u:%02u:%02u\n",
		st.is_dir ? 'd' : 'f', st.is_dir ? 0 : st.size, st.cluster, letters, 1980u + (st.wdate >> 9),
		month ? month : 1, day ? day : 1, st.wtime >> 11, (st.wtime >> 5) & 63u,
		(st.wtime & 31u) * 2);
	return 0;
}

/* Reads f whole in buffer-sized pieces, handing each to fn.  Returns 0 or
 * prints the error line for path and returns -1. */
static int read_all(struct fat_file *f, const char *path, void (*fn)(const void *p, size_t n, void *arg),
		    void *arg)
{
	for (uint32_t off = 0; off < f->size;) {
		ssize_t n = fat_read(f, off, file_buf, FILE_BUF_BYTES);
		if (n < 0)
			return fail(path, (int)n);
		if (n == 0)
			break;
		fn(file_buf, (size_t)n, arg);
		off += (uint32_t)n;
	}
	return 0;
}

static void to_console(const void *p, size_t n, void *arg)
{
	(void)arg;
	console_write(p, n);
}

int cmd_cat(struct args *a)
{
	if (a->argc != 2)
		return shell_error("usage: cat PATH");
	if (open_path(a->argv[1], 0, &file) < 0)
		return -1;
	return read_all(&file, a->argv[1], to_console, NULL);
}

static void to_sha256(const void *p, size_t n, void *arg) { sha256_update(arg, p, n); }

int cmd_sha256(struct args *a)
{
	struct sha256 h;
	uint8_t digest[32];
	char hex[65];

	if (a->argc != 2)
		return shell_error("usage: sha256 PATH");
	if (open_path(a->argv[1], 0, &file) < 0)
		return -1;
	sha256_init(&h);
	if (read_all(&file, a->argv[1], to_sha256, &h) < 0)
		return -1;
	sha256_final(&h, digest);
	sha256_hex(digest, hex);
	kprintf("%s  %s\n", hex, a->argv[1]);
	return 0;
}

/* write and append: TEXT and a newline, at 0 after truncating or at the end. */
static int put_text(struct args *a, int flags)
{
	size_t len = strlen(a->rest);

	if (len + 1 > FILE_BUF_BYTES)
		return shell_error("%s: text too long", a->argv[0]);
	if (open_path(a->argv[1], FAT_O_WRITE | FAT_O_CREATE | flags, &file) < 0)
		return -1;
	memcpy(file_buf, a->rest, len);
	file_buf[len] = '\n';
	ssize_t n = fat_write(&file, (flags & FAT_O_TRUNC) ? 0 : file.size, file_buf, len + 1);
	return n < 0 ? fail(a->argv[1], (int)n) : 0;
}

int cmd_write(struct args *a) { return put_text(a, FAT_O_TRUNC); }
int cmd_append(struct args *a) { return put_text(a, 0); }

/* Writes size bytes of the reference pattern from seed to f. */
static int write_pattern(struct fat_file *f, const char *path, uint32_t size, uint32_t seed)
{
	struct pattern p;

	pattern_init(&p, seed);
	for (uint32_t off = 0; off < size;) {
		uint32_t n = size - off < FILE_BUF_BYTES ? size - off : FILE_BUF_BYTES;
		pattern_fill(&p, file_buf, n);
		ssize_t w = fat_write(f, off, file_buf, n);
		if (w < 0)
			return fail(path, (int)w);
		off += n;
	}
	return 0;
}

int cmd_fill(struct args *a)
{
	uint32_t size = 0;
	uint64_t seed;

	if (a->argc != 4)
		return shell_error("usage: fill PATH SIZE SEED");
	if (parse_size("fill", a->argv[2], &size) < 0)
		return -1;
	if (parse_u64(a->argv[3], &seed) < 0 || seed > UINT32_MAX)
		return shell_error("fill: SEED must be a 32-bit number");
	if (open_path(a->argv[1], FAT_O_WRITE | FAT_O_CREATE | FAT_O_TRUNC, &file) < 0)
		return -1;
	return write_pattern(&file, a->argv[1], size, (uint32_t)seed);
}

int cmd_truncate(struct args *a)
{
	uint32_t size = 0;

	if (a->argc != 3)
		return shell_error("usage: truncate PATH SIZE");
	if (parse_size("truncate", a->argv[2], &size) < 0 || open_path(a->argv[1], FAT_O_WRITE, &file) < 0)
		return -1;
	int err = fat_truncate(&file, size);
	return err < 0 ? fail(a->argv[1], err) : 0;
}

/* mkdir and rm: one path, one call. */
/* 1 if a volume-relative path names the root ("/", "//"). */
static int is_root(const char *rel)
{
	while (*rel == '/')
		rel++;
	return !*rel;
}

/* 1 if rel2 lies inside the directory rel (ASCII case-insensitively). */
static int is_inside(const char *rel, const char *rel2)
{
	size_t n = strlen(rel);
	while (n > 1 && rel[n - 1] == '/')
		n--;
	return strncasecmp(rel, rel2, n) == 0 && rel2[n] == '/';
}

static int one_path(struct args *a, int (*op)(struct fat_volume *v, const char *path))
{
	struct fat_volume *v;
	const char *rel;

	if (a->argc != 2)
		return shell_error("usage: %s PATH", a->argv[0]);
	if (resolve(a->argv[1], &v, &rel) < 0)
		return -1;
	int err = op(v, rel);
	if (err == -EINVAL && is_root(rel)) /* rm: mkdir of the root is -EEXIST */
		return shell_error("%s: the root directory cannot be removed", a->argv[1]);
	return err < 0 ? fail(a->argv[1], err) : 0;
}

int cmd_mkdir(struct args *a) { return one_path(a, fat_mkdir); }
int cmd_rm(struct args *a) { return one_path(a, fat_remove); }

int cmd_mv(struct args *a)
{
	struct fat_volume *v, *v2;
	const char *rel, *rel2;

	if (a->argc != 3)
		return shell_error("usage: mv SRC DST");
	if (resolve(a->argv[1], &v, &rel) < 0 || resolve(a->argv[2], &v2, &rel2) < 0)
		return -1;
	if (v != v2)
		return fail(a->argv[2], -EXDEV);
	int err = fat_rename(v, rel, rel2);
	if (err == -EINVAL && (is_root(rel) || is_root(rel2)))
		return shell_error("%s: the root directory cannot be moved or replaced", a->argv[1]);
	if (err == -EINVAL && is_inside(rel, rel2))
		return shell_error("%s: a directory cannot move into itself", a->argv[2]);
	if (err < 0) { /* blame the source only if it is not there to move */
		struct fat_stat st;
		return fail(fat_stat(v, rel, &st) == 0 ? a->argv[2] : a->argv[1], err);
	}
	return 0;
}

/* cp: a new file (never over an existing one), also across volumes.  A
 * copy that fails part way is removed, so no half file is left behind. */
int cmd_cp(struct args *a)
{
	struct fat_volume *v;
	const char *rel;

	if (a->argc != 3)
		return shell_error("usage: cp SRC DST");
	if (open_path(a->argv[1], 0, &file) < 0 || resolve(a->argv[2], &v, &rel) < 0)
		return -1;
	int err = fat_open(v, rel, FAT_O_WRITE | FAT_O_CREATE | FAT_O_EXCL, &file2);
	if (err < 0)
		return fail(a->argv[2], err);
	const char *where = a->argv[1];
	for (uint32_t off = 0; off < file.size && err >= 0;) {
		ssize_t n = fat_read(&file, off, file_buf, FILE_BUF_BYTES);
		if (n <= 0) {
			err = n < 0 ? (int)n : -EIO;
			break;
		}
		ssize_t w = fat_write(&file2, off, file_buf, (size_t)n);
		if (w < 0) {
			err = (int)w;
			where = a->argv[2];
		}
		off += (uint32_t)n;
	}
	if (err < 0) {
		fat_remove(v, rel);
		return fail(where, err);
	}
	return 0;
}

int cmd_df(struct args *a)
{
	const char *path = a->argc > 1 ? a->argv[1] : "/";
	struct fat_volume *v;
	const char *rel;
	struct fat_statfs s;

	if (a->argc > 2)
		return shell_error("usage: df [PATH]");
	if (resolve(path, &v, &rel) < 0)
		return -1;
	int err = fat_statfs(v, &s);
	if (err < 0)
		return fail(path, err);
	kprintf("fat=%d cluster=%" PRIu32 " total=%" PRIu32 " free=%" PRIu32 "\n", s.type, s.cluster_bytes,
		s.clusters, s.free);
	return 0;
}

int cmd_sync(struct args *a)
{
	(void)a;
	int err = volumes_sync();
	return err < 0 ? shell_error("sync: %s", errstr(err)) : 0;
}

#define SMALL_FILE_BYTES 1024

/* bench file create DIR COUNT: COUNT new files f0, f1, ... of 1 KiB each
 * (1023 'x' and a newline, as the Linux guest's benchmark writes them) in
 * the existing directory DIR, then a sync, all timed: the file system's
 * own cost, with no console traffic per file. */
static int bench_create(const char *dir, uint32_t count)
{
	char path[LINE_MAX_BYTES + 16];
	struct fat_volume *v;
	const char *rel;
	int err = 0;

	if (resolve(dir, &v, &rel) < 0)
		return -1;
	memset(file_buf, 'x', SMALL_FILE_BYTES - 1);
	file_buf[SMALL_FILE_BYTES - 1] = '\n';
	uint64_t t0 = time_ns();
	for (uint32_t i = 0; i < count; i++) {
		int n = snprintf(path, sizeof(path), "%s/f%" PRIu32, strcmp(rel, "/") ? rel : "", i);
		err = (size_t)n >= sizeof(path)
			      ? -ENAMETOOLONG
			      : fat_open(v, path, FAT_O_WRITE | FAT_O_CREATE | FAT_O_EXCL, &file);
		if (err == 0) {
			ssize_t w = fat_write(&file, 0, file_buf, SMALL_FILE_BYTES);
			err = w < 0 ? (int)w : 0;
		}
		if (err < 0)
			return shell_error("%s/f%" PRIu32 ": %s", strcmp(dir, "/") ? dir : "", i,
					   errstr(err));
	}
	err = fat_sync(v);
	uint64_t ns = time_ns() - t0;
	if (err < 0)
		return shell_error("sync: %s", errstr(err));
	kprintf("bench file op=create count=%" PRIu32 " size=%u ns=%" PRIu64 " files_per_s=%" PRIu64 "\n",
		count, SMALL_FILE_BYTES, ns, ns ? (uint64_t)count * 1000000000u / ns : 0);
	return 0;
}

/* bench file write PATH SIZE: the same buffer of the pattern written over
 * and over, then a sync, all timed; bench file read PATH SIZE: the first
 * SIZE bytes (at most the file) read back; bench file create DIR COUNT:
 * above. */
int cmd_bench_file(struct args *a)
{
	uint32_t size = 0;
	struct fat_volume *v;
	const char *rel;
	int is_write;

	if (a->argc == 5 && strcmp(a->argv[2], "create") == 0)
		return parse_size("bench", a->argv[4], &size) < 0 ? -1 : bench_create(a->argv[3], size);
	if (a->argc != 5 ||
	    (!(is_write = strcmp(a->argv[2], "write") == 0) && strcmp(a->argv[2], "read") != 0))
		return shell_error("usage: bench file read|write PATH SIZE | bench file create DIR COUNT");
	const char *path = a->argv[3];
	if (parse_size("bench", a->argv[4], &size) < 0 || resolve(path, &v, &rel) < 0)
		return -1;
	if (is_write) {
		struct pattern p;
		pattern_init(&p, 1);
		pattern_fill(&p, file_buf, FILE_BUF_BYTES);
	}
	uint64_t t0 = time_ns();
	int err = fat_open(v, rel, is_write ? FAT_O_WRITE | FAT_O_CREATE | FAT_O_TRUNC : 0, &file);
	if (!is_write && err == 0 && size > file.size)
		size = file.size;
	for (uint32_t off = 0; err == 0 && off < size;) {
		uint32_t n = size - off < FILE_BUF_BYTES ? size - off : FILE_BUF_BYTES;
		ssize_t r = is_write ? fat_write(&file, off, file_buf, n) : fat_read(&file, off, file_buf, n);
		if (r < 0)
			err = (int)r;
		off += n;
	}
	if (err == 0 && is_write)
		err = fat_sync(v);
	uint64_t ns = time_ns() - t0;
	if (err < 0)
		return fail(path, err);
	uint64_t tenths = ns ? (uint64_t)((unsigned __int128)size * 10 * 1000000000u / ns >> 20) : 0;
	kprintf("bench file op=%s size=%" PRIu32 " ns=%" PRIu64 " mibps=%" PRIu64 ".%" PRIu64 "\n",
		is_write ? "write" : "read", size, ns, tenths / 10, tenths % 10);
	return 0;
}
