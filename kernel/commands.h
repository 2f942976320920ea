/* The shell's commands, grouped by the layer they drive. */
#ifndef KERNEL_COMMANDS_H
#define KERNEL_COMMANDS_H

#include <stdint.h>

#include "kernel/shell.h"

/* cmd_blk.c: raw disks */
int cmd_blk(struct args *a);
int cmd_blkstat(struct args *a);
int cmd_blkhash(struct args *a);
int cmd_blkfill(struct args *a);
int cmd_bench_blk(struct args *a);

/* cmd_fat.c: files on mounted volumes */
int cmd_ls(struct args *a);
int cmd_stat(struct args *a);
int cmd_cat(struct args *a);
int cmd_sha256(struct args *a);
int cmd_write(struct args *a);
int cmd_append(struct args *a);
int cmd_fill(struct args *a);
int cmd_truncate(struct args *a);
int cmd_mkdir(struct args *a);
int cmd_rm(struct args *a);
int cmd_mv(struct args *a);
int cmd_cp(struct args *a);
int cmd_df(struct args *a);
int cmd_sync(struct args *a);
int cmd_bench_file(struct args *a);

/* cmd_net.c: the network */
int cmd_net(struct args *a);
int cmd_netstat(struct args *a);
int cmd_ip(struct args *a);
int cmd_dhcp(struct args *a);
int cmd_ping(struct args *a);
int cmd_bench_net(struct args *a);
int cmd_httpd(struct args *a);
int cmd_iperf(struct args *a);
int cmd_tftpd(struct args *a);
int cmd_http(struct args *a);

/* Parses a decimal (or 0x-prefixed hex) unsigned number that fills the whole string.
 * Returns 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *out);

#endif
