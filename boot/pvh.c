/* Turns QEMU's PVH start_info into a struct boot_info. */
#include <stddef.h>
#include <string.h>

#include "kernel/boot_info.h"

#define PVH_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Noreturn void pvh_main(const struct hvm_start_info *si);

static struct boot_info info;

_Noreturn void pvh_main(const struct hvm_start_info *si)
{
	/* QEMU's ELF loader zero-fills .bss (memsz beyond filesz). */
	info.loader = "pvh";
	if (si->magic == PVH_MAGIC) {
		if (si->cmdline_paddr) {
			const char *c = (const char *)(uintptr_t)si->cmdline_paddr;
			strncpy(info.cmdline, c, sizeof(info.cmdline) - 1);
		}
		info.rsdp = si->rsdp_paddr;
		if (si->version >= 1) {
			const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
			for (uint32_t i = 0; i < si->memmap_entries && info.mem_count < BOOT_MEM_MAX; i++) {
				struct mem_region *r = &info.mem[info.mem_count++];
				r->base = e[i].addr;
				r->size = e[i].size;
				r->type = e[i].type;
			}
		}
	}
	kernel_main(&info);
}
