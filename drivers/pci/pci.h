/* PCI: configuration space, enumeration, BARs, capabilities, MSI-X. */
#ifndef DRIVERS_PCI_H
#define DRIVERS_PCI_H

#include <stdint.h>

#define PCI_MAX_DEVICES 64

#define PCI_CAP_MSIX 0x11
#define PCI_CAP_VENDOR 0x09

struct pci_bar {
	uint64_t addr; /* bus address (I/O port number for I/O BARs) */
	uint64_t size; /* 0: not implemented */
	int is_io;
};

struct pci_device {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint8_t irq_line; /* interrupt-line register (the firmware's routing), 0xFF if none */
	uint8_t irq_pin; /* 1 = INTA# ... 4 = INTD#, 0 none */
	struct pci_bar bar[6];
};

/* Uses ECAM for buses [bus_start, bus_end] when ecam_base (as ACPI's MCFG
 * gives it: where bus 0's space would be) is nonzero, else configuration mechanism #1 (ports 0xCF8/0xCFC).
 * Then walks every bus reachable through bridges from bus 0 and records each function (BARs sized with
 * decoding switched off).  Returns how many were found. */
int pci_init(uint64_t ecam_base, uint8_t bus_start, uint8_t bus_end);

int pci_count(void);
struct pci_device *pci_get(int i);

uint32_t pci_read32(const struct pci_device *d, unsigned off);
uint16_t pci_read16(const struct pci_device *d, unsigned off);
uint8_t pci_read8(const struct pci_device *d, unsigned off);
void pci_write32(const struct pci_device *d, unsigned off, uint32_t v);
void pci_write16(const struct pci_device *d, unsigned off, uint16_t v);
void pci_write8(const struct pci_device *d, unsigned off, uint8_t v);

/* Turns on I/O and memory decoding and bus mastering; INTx stays enabled. */
void pci_enable(const struct pci_device *d);

/* Turns bus mastering and INTx off: the function can no longer read or
 * write memory or interrupt (the way to stop a device that does not obey a
 * reset). */
void pci_stop_dma(const struct pci_device *d);

/* Offset of the first capability with this id at or after `after`'s
 * successor (after = 0 starts at the head of the list), 0 if none.  The
 * walk is bounded, so a looping list ends. */
unsigned pci_find_cap(const struct pci_device *d, uint8_t id, unsigned after);

/* MSI-X: msix_init maps the table (needs the capability); msix_set programs
 * entry i; msix_enable turns MSI-X on (INTx off).  Return 0 or -errno. */
struct pci_msix {
	unsigned cap;
	unsigned table_size;
	volatile uint32_t *table;
};
int pci_msix_init(const struct pci_device *d, struct pci_msix *m);
void pci_msix_set(struct pci_msix *m, unsigned i, uint64_t addr, uint32_t data);
void pci_msix_enable(const struct pci_device *d, struct pci_msix *m, int on);

/* Maps a memory BAR; returns a pointer to offset off within it, or NULL. */
volatile void *pci_map_bar(const struct pci_device *d, unsigned bar, uint64_t off, uint64_t len);

#endif
