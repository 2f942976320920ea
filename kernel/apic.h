/* Local APIC and IOAPIC: where device interrupts arrive. */
#ifndef KERNEL_APIC_H
#define KERNEL_APIC_H

#include <stdint.h>

#define APIC_SPURIOUS_VECTOR 0xFF

/* Masks the 8259 pair, enables this CPU's local APIC and masks every IOAPIC
 * pin.  Needs acpi_init() first (falls back to the standard addresses). */
void apic_init(void);

void lapic_eoi(void);

/* Starts the local APIC timer as a periodic tick of hz interrupts a second
 * (calibrated against the TSC).  The tick does nothing but end a halt, so
 * every wait that halts also sees its deadline. */
void lapic_timer_start(unsigned hz);
uint32_t lapic_id(void);

/* Routes ISA IRQ irq (after the MADT's overrides) to vector, unmasked.
 * Returns 0 or -ENODEV when no IOAPIC serves it. */
int ioapic_route_isa(unsigned irq, int vector);

/* Routes a PCI INTx line (a GSI, level triggered, active low unless the
 * firmware says otherwise) to vector.  Returns 0 or -ENODEV. */
int ioapic_route_pci(unsigned gsi, int vector);

#endif
