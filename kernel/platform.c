/* The kernel's side of drivers/platform.h: identity-mapped x86_64. */
#include "drivers/platform.h"

#include <errno.h>

#include "kernel/apic.h"
#include "kernel/cpu.h"
#include "kernel/mm.h"
#include "kernel/time.h"
#include "kernel/trap.h"

uint8_t plat_inb(uint16_t port) { return inb(port); }
uint16_t plat_inw(uint16_t port) { return inw(port); }
uint32_t plat_inl(uint16_t port) { return inl(port); }
void plat_outb(uint16_t port, uint8_t v) { outb(port, v); }
void plat_outw(uint16_t port, uint16_t v) { outw(port, v); }
void plat_outl(uint16_t port, uint32_t v) { outl(port, v); }

volatile void *plat_map_mmio(uint64_t phys, uint64_t size)
{
	if (mm_map_mmio(phys, size) < 0)
		return NULL;
	return (volatile void *)(uintptr_t)phys;
}

uint64_t plat_virt_to_phys(const void *p) { return (uint64_t)(uintptr_t)p; }

/* x86 keeps stores in order and loads in order; only a store followed by a
 * load needs a fence.  The others stop the compiler from reordering. */
void plat_mb(void) { __asm__ volatile("mfence" ::: "memory"); }
void plat_rmb(void) { __asm__ volatile("" ::: "memory"); }
void plat_wmb(void) { __asm__ volatile("" ::: "memory"); }

uint64_t plat_time_ns(void) { return time_ns(); }

/* In ring 0, interrupts off: halts until the next interrupt, unless one
 * has come since *mark (its wake-up is then already here). */
static long halt_step(void *mark)
{
	if (irq_taken() == *(const uint64_t *)mark)
		cpu_idle();
	return 0;
}

/* ready() runs here, in ring 3, with interrupts on: under the nested
 * hypervisor of our build machines ring 0 is emulated an instruction at a
 * time, and reaping a ring's completions there cost as much as the I/O
 * (KVM, QD32: half the IOPS of a polling wait).  The interrupt count
 * taken before each look is what keeps a wake-up from slipping between the
 * look and the halt: ready() asks for its interrupt before it looks for
 * the last time, so a completion after that look is an interrupt after the
 * mark. */
int plat_wait_until(int (*ready)(void *arg), void *arg, uint64_t deadline, int use_irq)
{
	for (;;) {
		uint64_t mark = irq_taken();
		if (ready(arg))
			return 0;
		if (time_ns() >= deadline)
			return -ETIMEDOUT;
		/* The periodic tick bounds each halt, so the deadline is seen.  A
		 * polling loop spins without `pause`: under QEMU's TCG that
		 * instruction leaves the translated code and takes the global lock
		 * the device model needs, and the device then crawls (null-co QD32:
		 * 112k IOPS, p99 3.6 ms with it; 592k, p99 77 us without). */
		if (use_irq)
			kcall(halt_step, &mark);
	}
}

int plat_msi_alloc(void (*fn)(void *arg), void *arg, uint64_t *addr, uint32_t *data)
{
	int vec = irq_alloc_vector(fn, arg);

	if (vec < 0)
		return -ENOSPC;
	*addr = 0xFEE00000u | (lapic_id() << 12); /* fixed delivery to this CPU */
	*data = (uint32_t)vec; /* edge triggered */
	return 0;
}

/* PCI INTx lines are shared (on QEMU's pc machine four lines serve every
 * slot): one vector per line, whose handler runs every handler attached
 * to it. */
#define INTX_LINES 8
#define INTX_HANDLERS 8

static struct intx_line {
	unsigned gsi;
	int vector; /* 0 until allocated; kept by the slot if routing fails */
	int count;
	struct {
		void (*fn)(void *arg);
		void *arg;
	} handler[INTX_HANDLERS];
} intx_lines[INTX_LINES];
static int intx_nlines;

static void intx_line_interrupt(void *arg)
{
	struct intx_line *line = arg;

	for (int i = 0; i < line->count; i++)
		line->handler[i].fn(line->handler[i].arg);
}

static int add_handler(struct intx_line *line, void (*fn)(void *arg), void *arg)
{
	if (line->count == INTX_HANDLERS)
		return -ENOSPC;
	line->handler[line->count].fn = fn;
	line->handler[line->count].arg = arg;
	__atomic_store_n(&line->count, line->count + 1, __ATOMIC_RELEASE); /* filled before it runs */
	return 0;
}

int plat_intx_attach(unsigned gsi, void (*fn)(void *arg), void *arg)
{
	for (int i = 0; i < intx_nlines; i++)
		if (intx_lines[i].gsi == gsi)
			return add_handler(&intx_lines[i], fn, arg);
	if (intx_nlines == INTX_LINES)
		return -ENOSPC;
	struct intx_line *line = &intx_lines[intx_nlines];
	if (!line->vector) {
		int vec = irq_alloc_vector(intx_line_interrupt, line);
		if (vec < 0)
			return -ENOSPC;
		line->vector = vec;
	}
	/* The handler before the pin is unmasked: a line already asserted
	 * interrupts at once, and one that no handler quiets storms. */
	line->gsi = gsi;
	line->count = 0;
	add_handler(line, fn, arg);
	int err = ioapic_route_pci(gsi, line->vector);
	if (err < 0) {
		line->count = 0;
		return err; /* the slot, and its vector, serve the next line */
	}
	intx_nlines++;
	return 0;
}

int64_t plat_time_unix(void) { return time_unix(); }
