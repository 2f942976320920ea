/*
 * The platform seam: everything drivers/ and lib/ need from the machine they
 * run on, and nothing else.  The kernel implements it in kernel/platform.c;
 * the host unit tests implement it over a simulated device.  To lift the
 * drivers into other firmware, write this one file's functions.
 */
#ifndef DRIVERS_PLATFORM_H
#define DRIVERS_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* Port I/O (legacy virtio-pci and PCI configuration mechanism #1). */
uint8_t plat_inb(uint16_t port);
uint16_t plat_inw(uint16_t port);
uint32_t plat_inl(uint16_t port);
void plat_outb(uint16_t port, uint8_t v);
void plat_outw(uint16_t port, uint16_t v);
void plat_outl(uint16_t port, uint32_t v);

/* Returns a pointer through which [phys, phys + size) of device memory can
 * be read and written uncached, or NULL if it cannot be mapped. */
volatile void *plat_map_mmio(uint64_t phys, uint64_t size);

/* The bus address the device must be given for a driver buffer. */
uint64_t plat_virt_to_phys(const void *p);

/* Memory barriers for memory shared with a device.  wmb orders stores
 * before stores, rmb loads before loads, mb everything (a store before a
 * later load too: needed before reading the device's event index). */
void plat_mb(void);
void plat_rmb(void);
void plat_wmb(void);

/* Monotonic nanoseconds, for timeouts and benchmarks. */
uint64_t plat_time_ns(void);

/* Waiting.  plat_wait_until(ready, arg, deadline) returns once ready(arg) is
 * true (returns 0) or plat_time_ns() passes deadline (returns -ETIMEDOUT).
 * With interrupts it halts between checks, but not if an interrupt has
 * come since the check began, so a wake-up cannot slip between check and
 * halt as long as ready(), when it says no, has asked for its interrupt
 * before it last looked; when polling it spins.  Either way ready() may
 * run with interrupts on (so an interrupt handler may change what ready()
 * reads only by setting a flag).  ready() runs the driver's completion
 * processing. */
int plat_wait_until(int (*ready)(void *arg), void *arg, uint64_t deadline, int use_irq);

/* Interrupts.  An MSI(-X) message for a new vector that calls fn(arg):
 * fills *addr and *data for the MSI-X table entry.  Returns 0, or -ENOSPC
 * when no vector is left. */
int plat_msi_alloc(void (*fn)(void *arg), void *arg, uint64_t *addr, uint32_t *data);
/* A level-triggered PCI INTx line (the GSI in the interrupt-line register)
 * that calls fn(arg).  Lines are shared: every fn attached to the GSI runs
 * for its interrupt, and each must quiet its own device.  Returns 0,
 * -ENODEV (no interrupt controller routes that GSI), or -ENOSPC (no vector
 * or handler slot is left). */
int plat_intx_attach(unsigned gsi, void (*fn)(void *arg), void *arg);

/* Wall-clock time, for file timestamps: seconds since 1970-01-01 UTC. */
int64_t plat_time_unix(void);

#endif
