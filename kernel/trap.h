/* CPU tables (GDT, TSS, IDT) and interrupt dispatch. */
#ifndef KERNEL_TRAP_H
#define KERNEL_TRAP_H

#include <stdint.h>

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

typedef void (*irq_handler)(void *arg);

/* Loads the GDT (with a TSS whose IST1 stack serves double faults) and the IDT. */
void trap_init(void);

/* Reserves a free vector for a device interrupt and routes it to fn(arg).
 * Returns the vector, or -1 when none is left.  The handler runs with
 * interrupts disabled; the local APIC EOI is sent after it returns. */
int irq_alloc_vector(irq_handler fn, void *arg);

/* Count of interrupts taken on a vector (for statistics and tests). */
uint64_t irq_count(int vector);

#endif
