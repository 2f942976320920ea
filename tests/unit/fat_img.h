/*
 * Host helpers for the FAT tests: a block device over an image file (any
 * logical sector size, optionally read-only, every request done at submit),
 * images made by mkfs.fat, and the host tools (fsck.fat, mtools) that check
 * what lib/fat wrote.
 */
#ifndef TESTS_UNIT_FAT_IMG_H
#define TESTS_UNIT_FAT_IMG_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/block/blk.h"
#include "lib/fat/fat.h"
#include "tests/host_blk.h"

struct img_dev {
	struct blk_device dev;
	int fd;
	unsigned flushes;
	unsigned reads, writes; /* requests so far */
	/* Injected errors: the read or write request with this number (1: the
	 * next one) and every one after it fail with -EIO; 0: none. */
	unsigned fail_read_from, fail_write_from;
	uint64_t fail_lo, fail_hi; /* only requests touching sectors [lo, hi) */
	struct {
		enum blk_op op;
		uint64_t lba;
	} log[1024]; /* the requests, in order (the first 1024 since the reset) */
	unsigned nlog;
};

static int img_fails(struct img_dev *d, unsigned n, unsigned from, const struct blk_request *r)
{
	return from && n >= from && r->lba < d->fail_hi && r->lba + r->count > d->fail_lo;
}

static int img_xfer(struct blk_device *dev, struct blk_request *r)
{
	struct img_dev *d = dev->priv;
	size_t bytes = (size_t)r->count * dev->sector_size;
	off_t off = (off_t)(r->lba * dev->sector_size);

	if (d->nlog < sizeof(d->log) / sizeof(d->log[0])) {
		d->log[d->nlog].op = r->op;
		d->log[d->nlog++].lba = r->lba;
	}
	switch (r->op) {
	case BLK_READ:
		if (img_fails(d, ++d->reads, d->fail_read_from, r))
			return -EIO;
		return pread(d->fd, r->buf, bytes, off) == (ssize_t)bytes ? 0 : -EIO;
	case BLK_WRITE:
		if (img_fails(d, ++d->writes, d->fail_write_from, r))
			return -EIO;
		return pwrite(d->fd, r->buf, bytes, off) == (ssize_t)bytes ? 0 : -EIO;
	case BLK_FLUSH:
		d->flushes++;
		return 0;
	default:
		return -ENOTSUP;
	}
}

/* Injects errors from the nth read (or write) from now on, in the sectors
 * img_fail_range names (all of them unless set); 0 stops them. */
static inline void img_fail_range(struct img_dev *d, uint64_t lo, uint64_t hi)
{
	d->fail_lo = lo, d->fail_hi = hi;
}
static inline void img_fail_reads(struct img_dev *d, unsigned n) { d->fail_read_from = n ? d->reads + n : 0; }
static inline void img_fail_writes(struct img_dev *d, unsigned n)
{
	d->fail_write_from = n ? d->writes + n : 0;
}

static inline void img_open(struct img_dev *d, const char *path, uint32_t sector_size, int read_only)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->fd = open(path, read_only ? O_RDONLY : O_RDWR);
	if (d->fd < 0 || fstat(d->fd, &st) < 0) {
		perror(path);
		abort();
	}
	d->fail_hi = UINT64_MAX;
	d->dev.sector_size = sector_size;
	d->dev.sectors = (uint64_t)st.st_size / sector_size;
	d->dev.read_only = read_only;
	d->dev.has_flush = 1;
	d->dev.ops = &host_ops;
	host_xfer = img_xfer;
	d->dev.priv = d;
	strcpy(d->dev.name, "img");
}

static inline void img_close(struct img_dev *d) { close(d->fd); }

/* Runs a shell command; returns its exit status. */
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Output of a shell command, NUL-terminated, in a malloc'd buffer; its
 * length (it may hold NULs) in run_output_len. */
static size_t run_output_len;
static char *run_output(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (!p)
		abort();
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	size_t n;
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2)
			out = realloc(out, cap *= 2);
	}
	out[len] = '\0';
	run_output_len = len;
	pclose(p);
	return out;
}

/* A fresh scratch file name under the build directory. */
static void img_path(char *out, size_t size, const char *tag)
{
	mkdir("build", 0777);
	mkdir("build/unit", 0777);
	mkdir("build/unit/img", 0777);
	snprintf(out, size, "build/unit/img/%s-%d.img", tag, (int)getpid());
}

/* fsck.fat -n passes with nothing to say about the volume at byte offset. */
static inline int fsck_ok(const char *img, uint64_t offset)
{
	char *out;
	int rc;

	if (offset) {
		/* fsck.fat takes no offset: check a copy of the partition. */
		char part[512];
		snprintf(part, sizeof(part), "%s.part", img);
		run("dd if=%s of=%s bs=512 skip=%llu status=none", img, part,
		    (unsigned long long)(offset / 512));
		out = run_output("fsck.fat -n %s 2>&1; echo rc=$?", part);
		unlink(part);
	} else {
		out = run_output("fsck.fat -n %s 2>&1; echo rc=$?", img);
	}
	/* Clean: the version line, the summary line, and the status. */
	int lines = 0;
	for (const char *c = out; *c; c++)
		lines += *c == '\n';
	rc = strstr(out, "rc=0") != NULL && lines == 3;
	if (!rc)
		fprintf(stderr, "fsck.fat -n %s:\n%s\n", img, out);
	free(out);
	return rc;
}

#endif
