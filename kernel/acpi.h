/* The few ACPI tables the kernel reads: MADT (APICs), MCFG (ECAM), FADT (power-off). */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H

#include <stdint.h>

#define ACPI_MAX_IOAPICS 4
#define ACPI_MAX_OVERRIDES 16

struct acpi_ioapic {
	uint8_t id;
	uint32_t addr;
	uint32_t gsi_base;
};

/* An ISA IRQ that the firmware wired to another GSI or polarity/trigger. */
struct acpi_override {
	uint8_t isa_irq;
	uint32_t gsi;
	uint16_t flags; /* MPS INTI flags: bits 0-1 polarity, 2-3 trigger */
};

struct acpi_info {
	uint64_t lapic_addr;
	int ioapic_count;
	struct acpi_ioapic ioapic[ACPI_MAX_IOAPICS];
	int override_count;
	struct acpi_override override[ACPI_MAX_OVERRIDES];
	uint64_t ecam_base; /* PCI segment 0, 0 if there is no MCFG */
	uint8_t ecam_bus_start, ecam_bus_end;
	uint32_t pm1a_cnt; /* I/O port of PM1a_CNT, 0 if unknown */
	uint16_t slp_typ_s5; /* SLP_TYPa value of \_S5, valid if have_s5 */
	int have_s5;
};

extern struct acpi_info acpi;

/* Reads the tables reachable from the RSDP (found by the boot path, else
 * searched for in the BIOS areas).  Returns 0, or -ENOENT without ACPI. */
int acpi_init(uint64_t rsdp);

#endif
