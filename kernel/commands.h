/* The shell's commands, grouped by the layer they drive. */
#ifndef KERNEL_COMMANDS_H
#define KERNEL_COMMANDS_H

#include <stdint.h>

#include "kernel/shell.h"

/* cmd_blk.c: raw disks */
int cmd_blk(struct args *a);
int cmd_blkhash(struct args *a);
int cmd_blkfill(struct args *a);
int cmd_bench_blk(struct args *a);

/* Parses a decimal (or 0x-prefixed hex) unsigned number that fills the whole string.
 * Returns 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *out);

#endif
