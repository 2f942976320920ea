/* Page tables: an identity map of RAM (write-back) and device memory (uncached). */
#ifndef KERNEL_MM_H
#define KERNEL_MM_H

#include <stdint.h>

#include "kernel/boot_info.h"

/* Builds the kernel's own tables (the boot path's are left behind): the low
 * 4 GiB and all RAM in the memory map, 2 MiB pages, write-back where the map
 * says RAM and uncached elsewhere. */
void mm_init(const struct boot_info *bi);

/* Makes [phys, phys + size) reachable and uncached (for BARs above 4 GiB).
 * Returns 0, or -ENOMEM when the static page-table pool is exhausted. */
int mm_map_mmio(uint64_t phys, uint64_t size);

/* Bytes of RAM in the memory map. */
uint64_t mm_ram_bytes(void);

#endif
