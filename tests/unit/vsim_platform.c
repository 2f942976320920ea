/*
 * drivers/platform.h for the host unit tests.  Time is virtual: each look at
 * the clock costs a microsecond, a busy-poll step another, and a halt with
 * no interrupt lasts until the next 10 ms tick, so every bounded wait in the
 * driver ends quickly and deterministically.  The simulated device runs
 * whenever the CPU waits (plat_wait_until), the way a real one runs while
 * the guest halts or spins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "drivers/platform.h"
#include "tests/unit/vsim.h"

struct vsim_platform vsim_plat;

#define CFG_ADDR 0xCF8
#define CFG_DATA 0xCFC
#define MSIX_CAP 0x40

void vsim_platform_reset(struct pci_device *pci, int msix)
{
	memset(&vsim_plat, 0, sizeof(vsim_plat));
	vsim_plat.now_ns = 1000000000ull;
	vsim_plat.spin_ns = 1000;
	uint8_t *c = vsim_plat.cfg;
	c[0] = 0xF4, c[1] = 0x1A, c[2] = 0x42, c[3] = 0x10; /* 1AF4:1042 */
	c[0x3C] = 11, c[0x3D] = 1; /* INTA# on GSI 11 */
	c[0x04] = 0x06; /* command: memory decoding and bus mastering on */
	if (msix) {
		c[0x06] = 0x10; /* status: capability list */
		c[0x34] = MSIX_CAP;
		c[MSIX_CAP] = PCI_CAP_MSIX;
		c[MSIX_CAP + 1] = 0;
		c[MSIX_CAP + 2] = 1; /* table size 2 (encoded N-1) */
		c[MSIX_CAP + 4] = 1; /* table in BAR 1 at offset 0 */
	}
	for (unsigned i = 0; i < VSIM_MSIX_MAX; i++)
		vsim_plat.msix_table[4 * i + 3] = 1; /* masked */
	memset(pci, 0, sizeof(*pci));
	pci->bus = 0, pci->dev = 1, pci->fn = 0;
	pci->vendor = 0x1AF4, pci->device = 0x1042;
	pci->irq_line = 11, pci->irq_pin = 1;
	pci->bar[1] = (struct pci_bar){VSIM_PCI_BAR1, 0x1000, 0};
}

void vsim_platform_msix_entries(unsigned n)
{
	if (n < 1 || n > VSIM_MSIX_MAX)
		fail_msg("the simulated MSI-X table has 1 to %d entries, not %u", VSIM_MSIX_MAX, n);
	vsim_plat.cfg[MSIX_CAP + 2] = (uint8_t)(n - 1);
}

/* Only configuration mechanism #1 for 00:01.0 exists on this machine. */
static int cfg_selected(void) { return (vsim_plat.cf8 & 0xFFFFFF00u) == (0x80000000u | 1u << 11); }

uint32_t plat_inl(uint16_t port)
{
	if (port == CFG_DATA) {
		if (!cfg_selected())
			return 0xFFFFFFFFu;
		uint32_t v;
		memcpy(&v, &vsim_plat.cfg[vsim_plat.cf8 & 0xFC], 4);
		return v;
	}
	fail_msg("inl from port %#x: the simulated machine has no such port", port);
	return 0;
}

void plat_outl(uint16_t port, uint32_t v)
{
	if (port == CFG_ADDR) {
		vsim_plat.cf8 = v;
		return;
	}
	if (port == CFG_DATA) {
		unsigned off = vsim_plat.cf8 & 0xFC;
		if (!cfg_selected())
			return;
		if (off == 0x04) /* command (status is read-only here) */
			memcpy(&vsim_plat.cfg[off], &v, 2);
		if (off == MSIX_CAP) /* MSI-X control: enable and function mask */
			vsim_plat.cfg[MSIX_CAP + 3] = (uint8_t)((v >> 24) & 0xC0);
		return;
	}
	fail_msg("outl to port %#x: the simulated machine has no such port", port);
}

uint8_t plat_inb(uint16_t port)
{
	fail_msg("inb from port %#x: the simulated device is not legacy virtio-pci", port);
	return 0;
}
uint16_t plat_inw(uint16_t port)
{
	fail_msg("inw from port %#x: the simulated device is not legacy virtio-pci", port);
	return 0;
}
void plat_outb(uint16_t port, uint8_t v) { fail_msg("outb %#x to port %#x: no such port", v, port); }
void plat_outw(uint16_t port, uint16_t v) { fail_msg("outw %#x to port %#x: no such port", v, port); }

volatile void *plat_map_mmio(uint64_t phys, uint64_t size)
{
	if (phys >= VSIM_PCI_BAR1 && phys + size <= VSIM_PCI_BAR1 + sizeof(vsim_plat.msix_table))
		return (uint8_t *)vsim_plat.msix_table + (phys - VSIM_PCI_BAR1);
	return NULL;
}

uint64_t plat_virt_to_phys(const void *p) { return (uint64_t)(uintptr_t)p; }

void plat_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void plat_rmb(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
void plat_wmb(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

uint64_t plat_time_ns(void) { return vsim_plat.now_ns += 1000; }

int64_t plat_time_unix(void) { return 1700000000; }

int plat_wait_until(int (*ready)(void *arg), void *arg, uint64_t deadline, int use_irq)
{
	vsim_plat.waits++;
	for (;;) {
		if (ready(arg))
			return 0;
		if (plat_time_ns() >= deadline)
			return -ETIMEDOUT;
		/* Halt (or spin): the device gets to run. */
		vsim_plat.halts++;
		vsim_plat.halting = use_irq;
		int woke = vsim_plat.idle ? vsim_plat.idle() : 0;
		vsim_plat.halting = 0;
		if (!use_irq) {
			vsim_plat.now_ns += vsim_plat.spin_ns;
		} else if (woke) {
			vsim_plat.now_ns += vsim_plat.halt_wake_ns;
			vsim_plat.irq_wakes++;
		} else {
			vsim_plat.now_ns += VSIM_TICK_NS;
			vsim_plat.tick_wakes++;
		}
	}
}

int plat_msi_alloc(void (*fn)(void *arg), void *arg, uint64_t *addr, uint32_t *data)
{
	if (vsim_plat.nmsi == 4)
		return -ENOSPC;
	vsim_plat.msi_fn[vsim_plat.nmsi] = fn;
	vsim_plat.msi_arg[vsim_plat.nmsi] = arg;
	*addr = 0xFEE00000u;
	*data = 0x40 + vsim_plat.nmsi++;
	return 0;
}

int plat_intx_attach(unsigned gsi, void (*fn)(void *arg), void *arg)
{
	vsim_plat.intx_fn = fn;
	vsim_plat.intx_arg = arg;
	vsim_plat.intx_gsi = gsi;
	return 0;
}

int vsim_msix_enabled(void) { return (vsim_plat.cfg[MSIX_CAP + 3] & 0x80) != 0; }

/* Entries past the table's size (as the capability says) do not exist. */
int vsim_raise_msix(unsigned entry)
{
	if (!vsim_msix_enabled() || entry > vsim_plat.cfg[MSIX_CAP + 2])
		return 0;
	const uint32_t *e = &vsim_plat.msix_table[4 * entry];
	if (e[3] & 1 || e[0] != 0xFEE00000u || e[2] < 0x40 || e[2] >= 0x40 + vsim_plat.nmsi)
		return 0;
	vsim_plat.msi_fn[e[2] - 0x40](vsim_plat.msi_arg[e[2] - 0x40]);
	return 1;
}

int vsim_raise_intx(void)
{
	if (!vsim_plat.intx_fn)
		return 0;
	vsim_plat.intx_fn(vsim_plat.intx_arg);
	return 1;
}
