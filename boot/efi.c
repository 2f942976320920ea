/*
 * The UEFI entry: the kernel as an EFI application (gnu-efi).  gnu-efi's
 * crt0 applies our relocations and calls efi_main(image, system table);
 * here we collect what the -kernel path gets from PVH (command line, ACPI
 * RSDP, memory map) into the same struct boot_info, leave the firmware with
 * ExitBootServices, and call kernel_main on our own stack.  From then on the
 * kernel owns the machine: its own GDT/IDT, page tables, APIC, and it resets
 * and takes over the virtio disk the firmware loaded us from.  Nothing the
 * firmware allocated is freed or reused: the kernel allocates no memory from
 * the map, so the memory the firmware's tables live in stays intact.
 */
#include <efi.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernel/boot_info.h"
#include "kernel/console.h"

#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_LA57 (1ull << 12)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define MAP_BUF_BYTES (64u << 10)
#define MAP_MAX (MAP_BUF_BYTES / sizeof(EFI_MEMORY_DESCRIPTOR))
#define EBS_TRIES 8

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab);

static EFI_SYSTEM_TABLE *sys;
static struct boot_info info;
static _Alignas(16) uint8_t map_buf[MAP_BUF_BYTES];
static struct mem_region regions[MAP_MAX];
static _Alignas(16) uint8_t stack[64 << 10];
static EFI_GUID loaded_image_guid = EFI_LOADED_IMAGE_PROTOCOL_GUID;
static EFI_GUID shell_params_guid = EFI_SHELL_PARAMETERS_PROTOCOL_GUID;
static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

/* What the application has to say before ExitBootServices waits in
 * info.early_log for the kernel to print on COM1: nothing goes out through
 * ConOut on the way to the kernel, because OVMF's serial terminal reads
 * COM1 until boot services end, and bytes typed after our first output
 * would be lost with it (the console contract keeps every byte from the
 * kernel's first output on). */
static char early_log[1024];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	size_t used = strlen(early_log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(early_log + used, sizeof(early_log) - used, fmt, ap);
	va_end(ap);
}

/* One line through ConOut, for an error that returns to the firmware
 * (before ExitBootServices only): ASCII in, "\n" becomes CRLF. */
static void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void con_printf(const char *fmt, ...)
{
	char line[256];
	CHAR16 wide[2 * sizeof(line)];
	va_list ap;
	size_t n = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (const char *p = line; *p; p++) {
		if (*p == '\n')
			wide[n++] = '\r';
		wide[n++] = (unsigned char)*p;
	}
	wide[n] = 0;
	sys->ConOut->OutputString(sys->ConOut, wide);
}

/* Appends UCS-2 text to info.cmdline as ASCII (non-ASCII becomes '?').
 * Returns -1, appending nothing, when the text has control characters:
 * then it is binary data (a boot option's optional data), not a command
 * line. */
static int cmdline_append(const CHAR16 *s, size_t max_chars)
{
	size_t len = strlen(info.cmdline), n = 0;

	while (n < max_chars && s[n])
		n++;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 && s[i] != '\t')
			return -1;
	for (size_t i = 0; i < n && len < sizeof(info.cmdline) - 1; i++)
		info.cmdline[len++] = s[i] == '\t' ? ' ' : s[i] < 0x7F ? (char)s[i] : '?';
	info.cmdline[len] = 0;
	return 0;
}

/* The command line.  Started from the UEFI shell, the shell's parameters
 * protocol gives argv: argv[1..] are ours.  Otherwise LoadOptions is the
 * text (a boot entry's options; OVMF's default boot of /EFI/BOOT/BOOTX64.EFI
 * gives none, or binary data), and a loader may put the program's path
 * first: a first word ending in ".efi" is skipped. */
static void read_cmdline(EFI_HANDLE image)
{
	EFI_BOOT_SERVICES *bs = sys->BootServices;
	EFI_SHELL_PARAMETERS_PROTOCOL *sp = NULL;
	EFI_LOADED_IMAGE *li = NULL;

	if (bs->HandleProtocol(image, &shell_params_guid, (void **)&sp) == EFI_SUCCESS && sp) {
		for (UINTN i = 1; i < sp->Argc; i++) {
			if (i > 1)
				cmdline_append((const CHAR16[]){' ', 0}, 1);
			cmdline_append(sp->Argv[i], (size_t)-1);
		}
		return;
	}
	if (bs->HandleProtocol(image, &loaded_image_guid, (void **)&li) != EFI_SUCCESS || !li)
		return;
	if (!li->LoadOptions || li->LoadOptionsSize < sizeof(CHAR16))
		return;
	if (cmdline_append(li->LoadOptions, li->LoadOptionsSize / sizeof(CHAR16)) < 0) {
		note("tinyvio: LoadOptions (%u bytes) are not text: no command line\n",
		     (unsigned)li->LoadOptionsSize);
		return;
	}
	char *c = info.cmdline;
	while (*c == ' ')
		c++;
	char *end = c + strcspn(c, " ");
	if (end - c >= 4 && strncasecmp(end - 4, ".efi", 4) == 0) {
		c = end;
		while (*c == ' ')
			c++;
	}
	memmove(info.cmdline, c, strlen(c) + 1);
}

static uint64_t find_rsdp(void)
{
	uint64_t v1 = 0;

	for (UINTN i = 0; i < sys->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &sys->ConfigurationTable[i];
		if (memcmp(&t->VendorGuid, &acpi20_guid, sizeof(EFI_GUID)) == 0)
			return (uint64_t)(uintptr_t)t->VendorTable;
		if (memcmp(&t->VendorGuid, &acpi10_guid, sizeof(EFI_GUID)) == 0)
			v1 = (uint64_t)(uintptr_t)t->VendorTable;
	}
	return v1;
}

static uint32_t mem_type(UINT32 efi_type)
{
	switch (efi_type) {
	case EfiConventionalMemory:
	case EfiBootServicesCode:
	case EfiBootServicesData:
	case EfiLoaderCode:
	case EfiLoaderData:
		return MEM_RAM; /* free once boot services are gone */
	case EfiACPIReclaimMemory:
		return MEM_ACPI;
	case EfiACPIMemoryNVS:
		return MEM_NVS;
	default:
		return MEM_RESERVED; /* runtime services, MMIO, unusable, ... */
	}
}

/* Drops entries of one type, from the smallest up, until n <= max. */
static unsigned drop_type(struct mem_region *r, unsigned n, uint32_t type, unsigned max)
{
	while (n > max) {
		unsigned victim = n;
		for (unsigned i = 0; i < n; i++)
			if (r[i].type == type && (victim == n || r[i].size < r[victim].size))
				victim = i;
		if (victim == n)
			break;
		memmove(&r[victim], &r[victim + 1], (n - victim - 1) * sizeof(*r));
		n--;
	}
	return n;
}

/* The firmware's memory map (after ExitBootServices) as boot_info.mem:
 * sorted, contiguous ranges of one type merged.  If that is still more
 * than BOOT_MEM_MAX, non-RAM ranges go first (the kernel treats anything
 * the map does not call RAM alike), RAM last.  Returns the entries lost. */
static unsigned convert_map(const uint8_t *map, UINTN map_size, UINTN desc_size)
{
	unsigned n = 0;

	for (UINTN off = 0; off + desc_size <= map_size && n < MAP_MAX; off += desc_size) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)(map + off);
		struct mem_region r = {d->PhysicalStart, d->NumberOfPages << 12, mem_type(d->Type)};
		if (!r.size)
			continue;
		unsigned i = n++;
		for (; i > 0 && regions[i - 1].base > r.base; i--)
			regions[i] = regions[i - 1];
		regions[i] = r;
	}
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		struct mem_region *last = m ? &regions[m - 1] : NULL;
		if (last && last->type == regions[i].type && last->base + last->size == regions[i].base)
			last->size += regions[i].size;
		else
			regions[m++] = regions[i];
	}
	unsigned lost = 0;
	if (m > BOOT_MEM_MAX) {
		unsigned before = m;
		m = drop_type(regions, m, MEM_RESERVED, BOOT_MEM_MAX);
		m = drop_type(regions, m, MEM_NVS, BOOT_MEM_MAX);
		m = drop_type(regions, m, MEM_ACPI, BOOT_MEM_MAX);
		m = drop_type(regions, m, MEM_RAM, BOOT_MEM_MAX);
		lost = before - m;
	}
	memcpy(info.mem, regions, m * sizeof(*regions));
	info.mem_count = m;
	return lost;
}

static uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

/* Interrupts off, SSE on for newlib (UEFI leaves it on; make sure), SMEP
 * and SMAP off (the kernel's pages are user pages: it runs in ring 3 after
 * boot, kernel/trap.h), then kernel_main on our stack.  The firmware's
 * stack is left behind. */
_Noreturn static void enter_kernel(void)
{
	__asm__ volatile("cli");
	uint64_t cr0 = (read_cr0() & ~CR0_EM) | CR0_MP;
	uint64_t cr4 = (read_cr4() & ~(CR4_SMEP | CR4_SMAP)) | CR4_OSFXSR | CR4_OSXMMEXCPT;
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%1\n"
			 "1:\thlt\n\t"
			 "jmp 1b"
			 :
			 : "r"(stack + sizeof(stack)), "r"(kernel_main), "D"(&info)
			 : "memory");
	__builtin_unreachable();
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	/* .bss is already zero: the PE loader fills what the file does not hold
	 * (boot/efi.lds). */
	sys = systab;
	EFI_BOOT_SERVICES *bs = sys->BootServices;
	EFI_LOADED_IMAGE *li = NULL;
	bs->HandleProtocol(image, &loaded_image_guid, (void **)&li);

	note("tinyvio: UEFI entry, image at %#llx (%llu KiB)\n",
	     li ? (unsigned long long)(uintptr_t)li->ImageBase : 0ull,
	     li ? (unsigned long long)(li->ImageSize >> 10) : 0ull);
	if (read_cr4() & CR4_LA57) {
		con_printf("error: 5-level paging is on; tinyvio builds 4-level page tables\n");
		return EFI_UNSUPPORTED;
	}
	info.loader = "uefi";
	info.early_log = early_log;
	read_cmdline(image);
	info.rsdp = find_rsdp();
	if (!info.rsdp)
		note("tinyvio: no ACPI RSDP in the configuration table\n");
	note("tinyvio: left boot services\n");

	/* ExitBootServices needs the key of the current map; an event may change
	 * the map in between (EFI_INVALID_PARAMETER): fetch it again and retry.
	 * After the first failure only GetMemoryMap and ExitBootServices may be
	 * called, so nothing is printed in the loop. */
	UINTN map_size = 0, key = 0, desc_size = 0;
	UINT32 desc_version = 0;
	EFI_STATUS st = EFI_SUCCESS;
	int tries = 0;
	while (tries < EBS_TRIES) {
		map_size = sizeof(map_buf);
		st = bs->GetMemoryMap(&map_size, (EFI_MEMORY_DESCRIPTOR *)map_buf, &key, &desc_size,
				      &desc_version);
		if (st != EFI_SUCCESS)
			break;
		tries++;
		st = bs->ExitBootServices(image, key);
		if (st != EFI_INVALID_PARAMETER)
			break;
	}
	if (st != EFI_SUCCESS) {
		if (!tries) { /* boot services are still ours */
			con_printf("error: GetMemoryMap: status %#llx\n", (unsigned long long)st);
			return st;
		}
		/* The firmware's console may be half gone: say it on COM1. */
		console_init();
		kprintf("\n%serror: ExitBootServices failed after %d tries: status %#llx\n", early_log, tries,
			(unsigned long long)st);
		return st;
	}
	sys = NULL; /* boot services are gone */

	unsigned lost = convert_map(map_buf, map_size, desc_size);
	if (lost) {
		console_init();
		kprintf("warning: memory map: %u ranges left out (more than %d)\n", lost, BOOT_MEM_MAX);
	}
	enter_kernel();
}
