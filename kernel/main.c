/*
 * kernel_main: both boot paths end here with the same struct boot_info.
 * Order matters: the console first (so everything after can report), then
 * the CPU tables (so faults are caught), paging, ACPI, interrupts, time.
 */
#include <stdio.h>
#include <string.h>

#include "kernel/acpi.h"
#include "kernel/apic.h"
#include "kernel/boot_info.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/disks.h"
#include "kernel/errstr.h"
#include "kernel/mm.h"
#include "kernel/network.h"
#include "kernel/options.h"
#include "kernel/power.h"
#include "kernel/shell.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/volumes.h"

struct kernel_options kernel_options = {.virtio_mode = VIRTIO_MODE_IRQ, .virtio_packed = 1};

static void print_line(const char *line) { kprintf("%s\n", line); }

/* poweroff leaves every volume clean on disk; a failure is the command's
 * error line, though the machine still goes off. */
static void sync_before_poweroff(void)
{
	int err = volumes_sync();
	if (err < 0)
		kprintf("error: poweroff: sync failed: %s\n", errstr(err));
}

/* test.fault=KIND: raise one exception on purpose, for the tests of the
 * exception path.  "df" loads an unmapped stack so the #UD cannot be
 * delivered: #PF, then #DF on its own stack (IST1). */
static void test_fault(const char *kind)
{
	if (!kind[0])
		return;
	kprintf("test.fault=%s: faulting now\n", kind);
	if (strcmp(kind, "de") == 0) {
		__asm__ volatile("xor %%ecx, %%ecx; div %%ecx" : : : "rax", "rcx", "rdx");
	} else if (strcmp(kind, "ud") == 0) {
		__asm__ volatile("ud2");
	} else if (strcmp(kind, "gp") == 0) {
		*(volatile uint64_t *)0x8000000000000000ull = 1; /* non-canonical */
	} else if (strcmp(kind, "pf") == 0) {
		*(volatile uint64_t *)0x7ff000000000ull = 1; /* canonical, unmapped */
	} else if (strcmp(kind, "df") == 0) {
		__asm__ volatile("mov $0x7ff000001000, %rsp; ud2");
	}
}

/* The rest, in ring 3 (kernel/trap.h: why). */
_Noreturn static void kernel_run(void)
{
	disks_init(&kernel_options);
	volumes_init();
	network_init(&kernel_options);
	power_set_hook(sync_before_poweroff);
	shell_run();
}

_Noreturn void kernel_main(const struct boot_info *bi)
{
	console_init();
	if (bi->early_log && bi->early_log[0])
		kprintf("\n%s", bi->early_log);
	kprintf("\ntinyvio: booting via %s\n", bi->loader);
	trap_init();
	mm_init(bi);
	if (acpi_init(bi->rsdp) < 0)
		kprintf("warning: no ACPI tables; using the standard APIC addresses\n");
	apic_init();
	time_init();
	lapic_timer_start(100);
	console_enable_irq();
	irq_enable();
	kprintf("tinyvio: %llu MiB RAM, TSC %llu MHz (%s)\n", (unsigned long long)(mm_ram_bytes() >> 20),
		(unsigned long long)(time_tsc_hz() / 1000000), time_source());
	options_parse(bi->cmdline, &kernel_options, print_line);
	test_fault(kernel_options.test_fault);
	enter_ring3(kernel_run);
}
