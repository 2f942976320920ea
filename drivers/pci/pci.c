/*
 * PCI configuration access and enumeration.  Configuration space is read
 * through ECAM (memory mapped, from the ACPI MCFG table) when the platform
 * has it, else through the 0xCF8/0xCFC port pair.  Enumeration starts at bus
 * 0 and follows PCI-to-PCI bridges, so only buses that exist are scanned.
 */
#include "drivers/pci/pci.h"

#include <errno.h>
#include <stddef.h>

#include "drivers/platform.h"

#define CFG_ADDR 0xCF8
#define CFG_DATA 0xCFC
#define PCI_COMMAND 0x04
#define CMD_IO (1u << 0)
#define CMD_MEM (1u << 1)
#define CMD_MASTER (1u << 2)
#define CMD_INTX_DISABLE (1u << 10)
#define PCI_STATUS_CAPS (1u << 4)
#define MSIX_CTRL_ENABLE (1u << 15)
#define MSIX_CTRL_MASK (1u << 14)

static volatile uint8_t *ecam;
static uint8_t ecam_first, ecam_last;
static struct pci_device devices[PCI_MAX_DEVICES];
static int ndevices;

static volatile uint8_t *ecam_at(uint8_t bus, uint8_t dev, uint8_t fn, unsigned off)
{
	if (!ecam || bus < ecam_first || bus > ecam_last)
		return NULL;
	return ecam + (((uint64_t)(bus - ecam_first) << 20) | ((uint64_t)dev << 15) | ((uint64_t)fn << 12)) +
	       off;
}

static uint32_t cfg_read32(uint8_t bus, uint8_t dev, uint8_t fn, unsigned off)
{
	volatile uint8_t *p = ecam_at(bus, dev, fn, off & ~3u);

	if (p)
		return *(volatile uint32_t *)p;
	plat_outl(CFG_ADDR,
		  0x80000000u | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (off & 0xFC));
	return plat_inl(CFG_DATA);
}

static void cfg_write32(uint8_t bus, uint8_t dev, uint8_t fn, unsigned off, uint32_t v)
{
	volatile uint8_t *p = ecam_at(bus, dev, fn, off & ~3u);

	if (p) {
		*(volatile uint32_t *)p = v;
		return;
	}
	plat_outl(CFG_ADDR,
		  0x80000000u | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (off & 0xFC));
	plat_outl(CFG_DATA, v);
}

uint32_t pci_read32(const struct pci_device *d, unsigned off)
{
	return cfg_read32(d->bus, d->dev, d->fn, off);
}

uint16_t pci_read16(const struct pci_device *d, unsigned off)
{
	return (uint16_t)(pci_read32(d, off) >> ((off & 2) * 8));
}

uint8_t pci_read8(const struct pci_device *d, unsigned off)
{
	return (uint8_t)(pci_read32(d, off) >> ((off & 3) * 8));
}

void pci_write32(const struct pci_device *d, unsigned off, uint32_t v)
{
	cfg_write32(d->bus, d->dev, d->fn, off, v);
}

/* Narrow writes as read-modify-write of the dword.  Safe for the registers
 * we touch (command, MSI-X control, virtio's config window): none of their
 * neighbours are write-one-to-clear except the status register, which is
 * masked out of command writes below. */
void pci_write16(const struct pci_device *d, unsigned off, uint16_t v)
{
	unsigned shift = (off & 2) * 8;
	uint32_t old = pci_read32(d, off);

	if ((off & ~3u) == PCI_COMMAND)
		old &= 0xFFFF; /* status bits are write-one-to-clear */
	pci_write32(d, off, (old & ~(0xFFFFu << shift)) | ((uint32_t)v << shift));
}

void pci_write8(const struct pci_device *d, unsigned off, uint8_t v)
{
	unsigned shift = (off & 3) * 8;
	uint32_t old = pci_read32(d, off);

	if ((off & ~3u) == PCI_COMMAND)
		old &= 0xFFFF;
	pci_write32(d, off, (old & ~(0xFFu << shift)) | ((uint32_t)v << shift));
}

/* Sizes BAR i by writing all ones, with decoding off so the device does not
 * answer at a half-written address.  Returns how many BAR slots it used. */
static int probe_bar(struct pci_device *d, int i)
{
	unsigned off = 0x10 + 4 * (unsigned)i;
	uint32_t lo = pci_read32(d, off);
	struct pci_bar *b = &d->bar[i];

	if (lo & 1) {
		pci_write32(d, off, 0xFFFFFFFF);
		uint32_t mask = pci_read32(d, off) & ~3u & 0xFFFF;
		pci_write32(d, off, lo);
		b->is_io = 1;
		b->addr = lo & ~3u;
		b->size = mask ? (~mask & 0xFFFF) + 1 : 0;
		return 1;
	}
	int is64 = ((lo >> 1) & 3) == 2;
	uint64_t addr = lo & ~0xFull;
	uint64_t mask;
	pci_write32(d, off, 0xFFFFFFFF);
	mask = pci_read32(d, off) & ~0xFull;
	pci_write32(d, off, lo);
	if (is64 && i < 5) {
		uint32_t hi = pci_read32(d, off + 4);
		pci_write32(d, off + 4, 0xFFFFFFFF);
		mask |= (uint64_t)pci_read32(d, off + 4) << 32;
		pci_write32(d, off + 4, hi);
		addr |= (uint64_t)hi << 32;
	} else {
		mask |= 0xFFFFFFFF00000000ull;
	}
	b->addr = addr;
	b->size = (mask & ~0xFull) ? ~(mask & ~0xFull) + 1 : 0;
	return is64 ? 2 : 1;
}

static void scan_bus(uint8_t bus, int depth);

static void add_function(uint8_t bus, uint8_t dev, uint8_t fn, int depth)
{
	uint32_t id = cfg_read32(bus, dev, fn, 0);
	uint8_t header = (uint8_t)(cfg_read32(bus, dev, fn, 0x0C) >> 16) & 0x7F;

	if (header == 1) { /* PCI-to-PCI bridge: scan its secondary bus */
		uint8_t secondary = (uint8_t)(cfg_read32(bus, dev, fn, 0x18) >> 8);
		if (secondary > bus && depth < 16)
			scan_bus(secondary, depth + 1);
		return;
	}
	if (header != 0 || ndevices == PCI_MAX_DEVICES)
		return;
	struct pci_device *d = &devices[ndevices++];
	*d = (struct pci_device){.bus = bus, .dev = dev, .fn = fn};
	d->vendor = (uint16_t)id;
	d->device = (uint16_t)(id >> 16);
	uint32_t irq = pci_read32(d, 0x3C);
	d->irq_line = (uint8_t)irq;
	d->irq_pin = (uint8_t)(irq >> 8);

	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	pci_write16(d, PCI_COMMAND, cmd & ~(CMD_IO | CMD_MEM));
	for (int i = 0; i < 6;)
		i += probe_bar(d, i);
	pci_write16(d, PCI_COMMAND, cmd);
}

static void scan_bus(uint8_t bus, int depth)
{
	for (uint8_t dev = 0; dev < 32; dev++) {
		if ((uint16_t)cfg_read32(bus, dev, 0, 0) == 0xFFFF)
			continue;
		int multi = (cfg_read32(bus, dev, 0, 0x0C) >> 16) & 0x80;
		for (uint8_t fn = 0; fn < (multi ? 8 : 1); fn++) {
			if ((uint16_t)cfg_read32(bus, dev, fn, 0) != 0xFFFF)
				add_function(bus, dev, fn, depth);
		}
	}
}

int pci_init(uint64_t ecam_base, uint8_t bus_start, uint8_t bus_end)
{
	ndevices = 0;
	ecam = NULL;
	if (ecam_base && bus_end >= bus_start) {
		/* MCFG's base address is where bus 0 would be, whatever bus the
		 * range starts at. */
		ecam = plat_map_mmio(ecam_base + ((uint64_t)bus_start << 20),
				     ((uint64_t)(bus_end - bus_start) + 1) << 20);
		ecam_first = bus_start;
		ecam_last = bus_end;
	}
	scan_bus(0, 0);
	return ndevices;
}

int pci_count(void) { return ndevices; }

struct pci_device *pci_get(int i) { return i >= 0 && i < ndevices ? &devices[i] : NULL; }

void pci_enable(const struct pci_device *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	pci_write16(d, PCI_COMMAND, (cmd | CMD_IO | CMD_MEM | CMD_MASTER) & ~CMD_INTX_DISABLE);
}

void pci_stop_dma(const struct pci_device *d)
{
	/* INTx off too: a wedged device must not hold its level-triggered
	 * line asserted and keep the CPU in its handler. */
	pci_write16(d, PCI_COMMAND, (pci_read16(d, PCI_COMMAND) & ~CMD_MASTER) | CMD_INTX_DISABLE);
}

unsigned pci_find_cap(const struct pci_device *d, uint8_t id, unsigned after)
{
	if (!(pci_read16(d, 0x06) & PCI_STATUS_CAPS))
		return 0;
	unsigned off = after ? pci_read8(d, after + 1) : pci_read8(d, 0x34);
	for (int guard = 0; guard < 48 && off >= 0x40; guard++) {
		off &= ~3u;
		if (pci_read8(d, off) == id)
			return off;
		off = pci_read8(d, off + 1);
	}
	return 0;
}

volatile void *pci_map_bar(const struct pci_device *d, unsigned bar, uint64_t off, uint64_t len)
{
	if (bar >= 6)
		return NULL;
	const struct pci_bar *b = &d->bar[bar];
	if (b->is_io || !b->size || !b->addr || off + len > b->size)
		return NULL;
	volatile uint8_t *p = plat_map_mmio(b->addr + off, len);
	return p;
}

int pci_msix_init(const struct pci_device *d, struct pci_msix *m)
{
	m->cap = pci_find_cap(d, PCI_CAP_MSIX, 0);
	if (!m->cap)
		return -ENODEV;
	m->table_size = (pci_read16(d, m->cap + 2) & 0x7FF) + 1;
	uint32_t table = pci_read32(d, m->cap + 4);
	m->table = pci_map_bar(d, table & 7, table & ~7u, 16ull * m->table_size);
	return m->table ? 0 : -ENODEV;
}

void pci_msix_set(struct pci_msix *m, unsigned i, uint64_t addr, uint32_t data)
{
	volatile uint32_t *e = m->table + 4 * i;

	e[3] = 1; /* masked while it changes */
	e[0] = (uint32_t)addr;
	e[1] = (uint32_t)(addr >> 32);
	e[2] = data;
	e[3] = 0;
}

void pci_msix_enable(const struct pci_device *d, struct pci_msix *m, int on)
{
	uint16_t ctrl = pci_read16(d, m->cap + 2);

	ctrl &= ~MSIX_CTRL_MASK;
	ctrl = on ? ctrl | MSIX_CTRL_ENABLE : ctrl & ~MSIX_CTRL_ENABLE;
	pci_write16(d, m->cap + 2, ctrl);
}
