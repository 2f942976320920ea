/* The network at boot: virtio-net cards found and started, lwIP over them,
 * eth0 addressed as net.ip says, and the stack served while the shell
 * waits for input. */
#ifndef KERNEL_NETWORK_H
#define KERNEL_NETWORK_H

#include "kernel/options.h"

/* After disks_init() (which scans PCI). */
void network_init(const struct kernel_options *o);

#endif
