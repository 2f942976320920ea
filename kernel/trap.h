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

/*
 * Rings.  The nested hypervisor of our build machines (kvm_pvm) runs a
 * guest's ring 0 through its instruction emulator, one instruction at a time
 * (about 3000 times slower than TCG), and only ring 3 on the CPU.  So once
 * booted the kernel leaves ring 0: enter_ring3(fn) goes on at fn in ring 3,
 * with interrupts on, on the current stack, every I/O port allowed and every
 * page user-accessible (ring 3 here is for speed, not protection).  What only
 * ring 0 may do (hlt, cli/sti, control registers) goes through kcall().
 */
_Noreturn void enter_ring3(void (*fn)(void));

/* Runs fn(arg) in ring 0 with interrupts disabled and returns its result.
 * fn may enable them (cpu_idle()) but must return with them disabled.  From
 * ring 3 it traps in through int3 (vector 3 is the one gate the nested
 * hypervisor delivers from ring 3: INT 0x80 and SYSCALL fail there); in
 * ring 0 it is a plain call. */
long kcall(long (*fn)(void *arg), void *arg);

/* Reserves a free vector for a device interrupt and routes it to fn(arg).
 * Returns the vector, or -1 when none is left.  The handler runs with
 * interrupts disabled; the local APIC EOI is sent after it returns. */
int irq_alloc_vector(irq_handler fn, void *arg);

/* Count of interrupts taken on a vector (for statistics and tests). */
uint64_t irq_count(int vector);
/* Count of interrupts taken on every vector since boot: a waiter reads it
 * before it looks, and halts only if it has not moved since. */
uint64_t irq_taken(void);

#endif
