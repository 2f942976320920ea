/*
 * Identity-mapped paging with 2 MiB pages.  Virtual = physical everywhere,
 * so drivers can hand the device the address of any static buffer.  Tables
 * come from a static pool; nothing is ever unmapped.  Every page is
 * user-accessible: the kernel runs in ring 3 after boot (kernel/trap.h).
 */
#include "kernel/mm.h"

#include <errno.h>
#include <string.h>

#include "kernel/cpu.h"
#include "kernel/trap.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PAGE_2M (2ull << 20)
#define ADDR_MASK 0x000FFFFFFFFFF000ull
#define POOL_TABLES 64

static _Alignas(4096) uint64_t pool[POOL_TABLES][512];
static int pool_used;
static uint64_t *pml4;
static uint64_t ram_bytes;

static uint64_t *table_alloc(void)
{
	if (pool_used == POOL_TABLES)
		return NULL;
	uint64_t *t = pool[pool_used++];
	memset(t, 0, 4096);
	return t;
}

/* Returns the table that entry e points to, creating it if needed. */
static uint64_t *next_level(uint64_t *e)
{
	if (!(*e & PTE_P)) {
		uint64_t *t = table_alloc();
		if (!t)
			return NULL;
		*e = (uint64_t)(uintptr_t)t | PTE_P | PTE_W | PTE_U;
	}
	return (uint64_t *)(uintptr_t)(*e & ADDR_MASK);
}

static int map_2m(uint64_t phys, int uncached)
{
	uint64_t *pdpt = next_level(&pml4[(phys >> 39) & 511]);
	uint64_t *pd = pdpt ? next_level(&pdpt[(phys >> 30) & 511]) : NULL;
	if (!pd)
		return -ENOMEM;
	pd[(phys >> 21) & 511] = phys | PTE_P | PTE_W | PTE_U | PTE_PS | (uncached ? PTE_PCD | PTE_PWT : 0);
	return 0;
}

static int range_has_ram(const struct boot_info *bi, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < bi->mem_count; i++) {
		const struct mem_region *r = &bi->mem[i];
		if (r->type == MEM_RAM && r->base < base + size && base < r->base + r->size)
			return 1;
	}
	return 0;
}

void mm_init(const struct boot_info *bi)
{
	pml4 = table_alloc();
	for (uint64_t a = 0; a < (4ull << 30); a += PAGE_2M)
		map_2m(a, !range_has_ram(bi, a, PAGE_2M));
	for (unsigned i = 0; i < bi->mem_count; i++) {
		const struct mem_region *r = &bi->mem[i];
		if (r->type != MEM_RAM)
			continue;
		ram_bytes += r->size;
		for (uint64_t a = r->base & ~(PAGE_2M - 1); a < r->base + r->size; a += PAGE_2M)
			if (a >= (4ull << 30))
				map_2m(a, 0);
	}
	write_cr3((uint64_t)(uintptr_t)pml4);
}

static long flush_tlb(void *unused)
{
	(void)unused;
	write_cr3(read_cr3());
	return 0;
}

int mm_map_mmio(uint64_t phys, uint64_t size)
{
	for (uint64_t a = phys & ~(PAGE_2M - 1); a < phys + size; a += PAGE_2M) {
		if (a < (4ull << 30))
			continue; /* mapped, uncached, by mm_init */
		if (map_2m(a, 1) < 0)
			return -ENOMEM;
	}
	kcall(flush_tlb, NULL);
	return 0;
}

uint64_t mm_ram_bytes(void) { return ram_bytes; }
