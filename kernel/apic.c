/*
 * The local APIC (xAPIC, memory mapped) takes every interrupt; the 8259s are
 * remapped out of the exception range and masked.  IOAPIC pins start masked
 * and are unmasked one by one as drivers route them.
 */
#include "kernel/apic.h"

#include <errno.h>

#include "kernel/acpi.h"
#include "kernel/cpu.h"
#include "kernel/time.h"
#include "kernel/trap.h"

#define LAPIC_DEFAULT 0xFEE00000u
#define IOAPIC_DEFAULT 0xFEC00000u
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TPR 0x80
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0
#define TIMER_PERIODIC (1u << 17)
#define MSR_APIC_BASE 0x1B

#define IOREDTBL(n) (0x10 + 2 * (n))
#define RED_MASKED (1u << 16)
#define RED_LEVEL (1u << 15)
#define RED_ACTIVE_LOW (1u << 13)

static volatile uint32_t *lapic;

static void lapic_write(unsigned reg, uint32_t v) { lapic[reg / 4] = v; }
static uint32_t lapic_read(unsigned reg) { return lapic[reg / 4]; }

static uint32_t ioapic_read(uint32_t base, uint32_t reg)
{
	volatile uint32_t *io = (volatile uint32_t *)(uintptr_t)base;
	io[0] = reg;
	return io[4];
}

static void ioapic_write(uint32_t base, uint32_t reg, uint32_t v)
{
	volatile uint32_t *io = (volatile uint32_t *)(uintptr_t)base;
	io[0] = reg;
	io[4] = v;
}

static void pic_disable(void)
{
	/* ICW1-4: vectors 0x20-0x2F, cascade, 8086 mode; then mask all. */
	outb(0x20, 0x11);
	outb(0xA0, 0x11);
	outb(0x21, 0x20);
	outb(0xA1, 0x28);
	outb(0x21, 0x04);
	outb(0xA1, 0x02);
	outb(0x21, 0x01);
	outb(0xA1, 0x01);
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}

static unsigned ioapic_pins(uint32_t base) { return ((ioapic_read(base, 1) >> 16) & 0xFF) + 1; }

void apic_init(void)
{
	pic_disable();
	if (!acpi.lapic_addr)
		acpi.lapic_addr = LAPIC_DEFAULT;
	if (!acpi.ioapic_count) {
		acpi.ioapic_count = 1;
		acpi.ioapic[0].addr = IOAPIC_DEFAULT;
	}
	/* The registers below are the xAPIC's, in memory.  Firmware may have
	 * left x2APIC mode on (bit 10), which answers only MSRs; it can be left
	 * only through the disabled state (SDM vol. 3, 11.12.5). */
	uint64_t base = rdmsr(MSR_APIC_BASE);
	if (base & (1 << 10))
		wrmsr(MSR_APIC_BASE, base & ~(uint64_t)((1 << 11) | (1 << 10)));
	wrmsr(MSR_APIC_BASE, (base & 0xFFF & ~(uint64_t)(1 << 10)) | (1 << 11) | acpi.lapic_addr);
	lapic = (volatile uint32_t *)(uintptr_t)acpi.lapic_addr;
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_LINT0, RED_MASKED);
	lapic_write(LAPIC_LVT_LINT1, RED_MASKED);
	lapic_write(LAPIC_SVR, 0x100 | APIC_SPURIOUS_VECTOR);

	for (int i = 0; i < acpi.ioapic_count; i++) {
		uint32_t base = acpi.ioapic[i].addr;
		for (unsigned pin = 0; pin < ioapic_pins(base); pin++)
			ioapic_write(base, IOREDTBL(pin), RED_MASKED);
	}
}

void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

static void tick(void *arg) { (void)arg; }

void lapic_timer_start(unsigned hz)
{
	int vec = irq_alloc_vector(tick, NULL);

	if (vec < 0)
		return;
	/* Count down from the maximum for 10 ms of TSC time to learn the rate. */
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_LVT_TIMER, RED_MASKED);
	lapic_write(LAPIC_TIMER_INIT, 0xFFFFFFFFu);
	uint64_t end = time_ns() + 10000000;
	while (time_ns() < end)
		;
	uint32_t per_10ms = 0xFFFFFFFFu - lapic_read(LAPIC_TIMER_CUR);
	uint32_t count = (uint32_t)((uint64_t)per_10ms * 100 / hz);
	lapic_write(LAPIC_LVT_TIMER, (uint32_t)vec | TIMER_PERIODIC);
	lapic_write(LAPIC_TIMER_INIT, count ? count : 1);
}

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

static int ioapic_route(uint32_t gsi, int vector, uint32_t mode)
{
	for (int i = 0; i < acpi.ioapic_count; i++) {
		uint32_t base = acpi.ioapic[i].addr;
		uint32_t first = acpi.ioapic[i].gsi_base;
		if (gsi < first || gsi >= first + ioapic_pins(base))
			continue;
		uint32_t pin = gsi - first;
		ioapic_write(base, IOREDTBL(pin) + 1, lapic_id() << 24);
		ioapic_write(base, IOREDTBL(pin), (uint32_t)vector | mode);
		return 0;
	}
	return -ENODEV;
}

/* MPS INTI flags: polarity 1 = high, 3 = low; trigger 1 = edge, 3 = level. */
static uint32_t inti_mode(uint16_t flags, uint32_t deflt)
{
	uint32_t mode = deflt;
	if ((flags & 3) == 1)
		mode &= ~RED_ACTIVE_LOW;
	else if ((flags & 3) == 3)
		mode |= RED_ACTIVE_LOW;
	if (((flags >> 2) & 3) == 1)
		mode &= ~RED_LEVEL;
	else if (((flags >> 2) & 3) == 3)
		mode |= RED_LEVEL;
	return mode;
}

int ioapic_route_isa(unsigned irq, int vector)
{
	uint32_t gsi = irq;
	uint32_t mode = 0; /* ISA default: edge, active high */

	for (int i = 0; i < acpi.override_count; i++) {
		if (acpi.override[i].isa_irq == irq) {
			gsi = acpi.override[i].gsi;
			mode = inti_mode(acpi.override[i].flags, mode);
		}
	}
	return ioapic_route(gsi, vector, mode);
}

int ioapic_route_pci(unsigned gsi, int vector)
{
	uint32_t mode = RED_LEVEL | RED_ACTIVE_LOW;

	/* QEMU's PIIX/ICH9 route PCI interrupts to ISA IRQs and describe them
	 * with overrides (level, active high); honour those. */
	for (int i = 0; i < acpi.override_count; i++) {
		if (acpi.override[i].gsi == gsi)
			mode = inti_mode(acpi.override[i].flags, mode);
	}
	return ioapic_route(gsi, vector, mode);
}
