/* What a boot path hands to kernel_main: the same for -kernel (PVH) and UEFI. */
#ifndef KERNEL_BOOT_INFO_H
#define KERNEL_BOOT_INFO_H

#include <stdint.h>

enum mem_type { MEM_RAM = 1, MEM_RESERVED = 2, MEM_ACPI = 3, MEM_NVS = 4 };

struct mem_region {
	uint64_t base;
	uint64_t size;
	uint32_t type; /* enum mem_type */
};

#define BOOT_MEM_MAX 128
#define BOOT_CMDLINE_MAX 1024

struct boot_info {
	const char *loader; /* "pvh" or "uefi" */
	const char *early_log; /* the loader's own messages, printed first; NULL: none */
	char cmdline[BOOT_CMDLINE_MAX]; /* NUL-terminated, may be empty */
	uint64_t rsdp; /* physical address of the ACPI RSDP, 0 if unknown */
	unsigned mem_count;
	struct mem_region mem[BOOT_MEM_MAX];
};

_Noreturn void kernel_main(const struct boot_info *bi);

#endif
