/*
 * Mounted FAT volumes and the shell's paths.  The first FAT volume on vda is
 * "/", the first on vdb is "/vdb", and so on (console contract).
 */
#ifndef KERNEL_VOLUMES_H
#define KERNEL_VOLUMES_H

#include "drivers/block/blk.h"
#include "lib/fat/fat.h"

/* Mounts the first FAT volume of every disk, printing one line per disk. */
void volumes_init(void);

/* Splits an absolute shell path into its volume and the volume-relative
 * path (which starts with '/').  Returns 0, -EINVAL for a relative path, or
 * -ENODEV when no volume is mounted there. */
int volume_resolve(const char *path, struct fat_volume **v, const char **rel);

/* 1 if dev holds a mounted volume. */
int volume_on_disk(const struct blk_device *dev);

/* Syncs every mounted volume; returns the first error (all are tried). */
int volumes_sync(void);

#endif
