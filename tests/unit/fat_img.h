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

int64_t plat_time_unix(void) { return 1700000000; /* 2023-11-14 22:13:20 UTC */ }

struct img_dev {
	struct blk_device dev;
	int fd;
	unsigned flushes;
	unsigned writes;
};

static int img_submit(struct blk_device *dev, struct blk_request *r)
{
	struct img_dev *d = dev->priv;
	size_t bytes = (size_t)r->count * dev->sector_size;
	off_t off = (off_t)(r->lba * dev->sector_size);
	ssize_t n = 0;

	switch (r->op) {
	case BLK_READ:
		n = pread(d->fd, r->buf, bytes, off);
		break;
	case BLK_WRITE:
		n = pwrite(d->fd, r->buf, bytes, off);
		d->writes++;
		break;
	case BLK_FLUSH:
		d->flushes++;
		break;
	default:
		r->status = -ENOTSUP;
		break;
	}
	if ((r->op == BLK_READ || r->op == BLK_WRITE) && n != (ssize_t)bytes)
		r->status = -EIO;
	r->complete = 1;
	if (r->done)
		r->done(r);
	return 0;
}

static int img_poll(struct blk_device *dev)
{
	(void)dev;
	return 0;
}

static int img_wait(struct blk_device *dev, struct blk_request *r)
{
	(void)dev;
	return r->status;
}

static const struct blk_ops img_ops = {img_submit, img_poll, img_wait};

static void img_open(struct img_dev *d, const char *path, uint32_t sector_size, int read_only)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->fd = open(path, read_only ? O_RDONLY : O_RDWR);
	if (d->fd < 0 || fstat(d->fd, &st) < 0) {
		perror(path);
		abort();
	}
	d->dev.sector_size = sector_size;
	d->dev.sectors = (uint64_t)st.st_size / sector_size;
	d->dev.read_only = read_only;
	d->dev.has_flush = 1;
	d->dev.ops = &img_ops;
	d->dev.priv = d;
	strcpy(d->dev.name, "img");
}

static void img_close(struct img_dev *d) { close(d->fd); }

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
static int fsck_ok(const char *img, uint64_t offset)
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
