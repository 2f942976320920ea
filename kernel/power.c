/*
 * QEMU's isa-debug-exit device ends QEMU with status (v << 1) | 1 when v is
 * written to port 0xF4: 0 gives 1 (power-off), 1 gives 3 (panic).  Without
 * that device the write is ignored and we fall back to ACPI S5, then halt.
 */
#include "kernel/power.h"

#include <stdarg.h>
#include <stdio.h>

#include "kernel/acpi.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/trap.h"

#define DEBUG_EXIT_PORT 0xF4
#define SLP_EN (1u << 13)

static void (*hook)(void);

void power_set_hook(void (*fn)(void)) { hook = fn; }

/* In ring 0 (hlt), interrupts off: never returns. */
_Noreturn static long leave_step(void *code)
{
	outl(DEBUG_EXIT_PORT, (uint32_t)(uintptr_t)code);
	if (acpi.pm1a_cnt && acpi.have_s5)
		outw((uint16_t)acpi.pm1a_cnt, (uint16_t)((acpi.slp_typ_s5 << 10) | SLP_EN));
	for (;;)
		__asm__ volatile("hlt");
}

_Noreturn static void leave(uint8_t code)
{
	kcall(leave_step, (void *)(uintptr_t)code);
	__builtin_unreachable();
}

_Noreturn void power_off(void)
{
	if (hook)
		hook();
	leave(0);
}

_Noreturn void panic_exit(void) { leave(1); }

_Noreturn void panic(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kprintf("\npanic: %s\n", buf);
	panic_exit();
}
