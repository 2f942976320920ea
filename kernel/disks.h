/* Finding the disks: PCI enumeration, then every virtio-blk function. */
#ifndef KERNEL_DISKS_H
#define KERNEL_DISKS_H

#include "kernel/options.h"

/* Probes PCI and starts a driver for each virtio-blk device, printing one
 * line per disk (or per failure). */
void disks_init(const struct kernel_options *o);

#endif
