/* Kernel command-line options (-append), as the console contract lists them. */
#ifndef KERNEL_OPTIONS_H
#define KERNEL_OPTIONS_H

enum virtio_mode { VIRTIO_MODE_IRQ, VIRTIO_MODE_POLL };

struct kernel_options {
	enum virtio_mode virtio_mode; /* virtio.mode=irq|poll, default irq */
	int virtio_packed; /* virtio.packed=1|0, default 1 */
	char test_fault[8]; /* test.fault=de|ud|gp|pf|df: fault before the prompt */
};

/* Parses space-separated NAME=VALUE words into o (which starts at the
 * defaults).  Each unknown NAME or bad VALUE is reported through
 * warn(line), with line "warning: unknown option NAME" or "warning: bad
 * value for NAME: VALUE", and otherwise ignored.  Returns the number of
 * warnings. */
int options_parse(const char *cmdline, struct kernel_options *o, void (*warn)(const char *line));

#endif
