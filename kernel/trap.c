/*
 * GDT, TSS and IDT, and the C side of every interrupt: exceptions print the
 * CPU state and end the machine (status 3); device vectors run their handler
 * and then acknowledge the local APIC.
 *
 * After boot the kernel runs in ring 3 (see trap.h: why) and enters ring 0
 * only through interrupts and kcall().  The TSS gives ring 3 every I/O port
 * (its I/O bitmap is all zeros) and the stack that traps from ring 3 use.
 */
#include "kernel/trap.h"

#include <stddef.h>
#include <string.h>

#include "kernel/apic.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/power.h"

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define SEL_USER_DATA 0x2B /* GDT entry 5, RPL 3 */
#define SEL_USER_CODE 0x33 /* GDT entry 6, RPL 3 */
#define RFLAGS_IF (1u << 9)
#define VEC_BREAKPOINT 3
#define VEC_FIRST_DEVICE 0x30
#define VEC_LAST_DEVICE 0xEF

struct __attribute__((packed)) tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t iomap[8192 + 1]; /* a clear bit allows a port; the 0xFF byte ends it */
};

struct __attribute__((packed)) idt_entry {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
};

struct __attribute__((packed)) table_ptr {
	uint16_t limit;
	uint64_t base;
};

static uint64_t gdt[7];
static struct tss tss;
static struct idt_entry idt[256];
static _Alignas(16) uint8_t double_fault_stack[16384];
static _Alignas(16) uint8_t ring0_stack[32768]; /* for traps from ring 3 */

static struct {
	irq_handler fn;
	void *arg;
	uint64_t count;
} vectors[256];
static volatile uint64_t taken; /* interrupts of every vector */
static int next_vector = VEC_FIRST_DEVICE;

static void set_gate(int vec, uint8_t ist, uint8_t dpl)
{
	extern char isr_stubs[];
	uint64_t addr = (uint64_t)(uintptr_t)(isr_stubs + 16 * vec);

	idt[vec] = (struct idt_entry){
		.offset_lo = (uint16_t)addr,
		.selector = SEL_CODE,
		.ist = ist,
		.type = (uint8_t)(0x8E | dpl << 5), /* present, 64-bit interrupt gate */
		.offset_mid = (uint16_t)(addr >> 16),
		.offset_hi = (uint32_t)(addr >> 32),
	};
}

void trap_init(void)
{
	uint64_t tss_base = (uint64_t)(uintptr_t)&tss;
	uint64_t tss_limit = sizeof(tss) - 1;

	gdt[1] = 0x00AF9A000000FFFFull; /* 64-bit code */
	gdt[2] = 0x00CF92000000FFFFull; /* data */
	gdt[3] = (tss_limit & 0xFFFF) | ((tss_base & 0xFFFFFF) << 16) | (0x89ull << 40) |
		 (((tss_limit >> 16) & 0xF) << 48) | (((tss_base >> 24) & 0xFF) << 56);
	gdt[4] = tss_base >> 32;
	gdt[5] = 0x00CFF2000000FFFFull; /* data, DPL 3 */
	gdt[6] = 0x00AFFA000000FFFFull; /* 64-bit code, DPL 3 */
	tss.rsp[0] = (uint64_t)(uintptr_t)(ring0_stack + sizeof(ring0_stack));
	tss.ist[0] = (uint64_t)(uintptr_t)(double_fault_stack + sizeof(double_fault_stack));
	tss.iomap_base = offsetof(struct tss, iomap);
	tss.iomap[8192] = 0xFF;

	struct table_ptr gp = {sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt};
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %w2, %%ds\n\t"
			 "mov %w2, %%es\n\t"
			 "mov %w2, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(gp), "i"(SEL_CODE), "r"(SEL_DATA), "r"(SEL_TSS)
			 : "rax", "memory");

	/* #BP with DPL 3: ring 3's int3 is kcall()'s way in. */
	for (int v = 0; v < 256; v++)
		set_gate(v, v == 8 ? 1 : 0, v == VEC_BREAKPOINT ? 3 : 0);
	struct table_ptr ip = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
	__asm__ volatile("lidt %0" : : "m"(ip));
}

long kcall(long (*fn)(void *arg), void *arg)
{
	long r;

	if (cpu_ring() == 0) {
		uint64_t flags = irq_save();
		r = fn(arg);
		irq_restore(flags);
		return r;
	}
	__asm__ volatile("int3" : "=a"(r) : "D"(fn), "S"(arg) : "memory", "cc");
	return r;
}

_Noreturn void enter_ring3(void (*fn)(void))
{
	/* fn starts on this stack, aligned as after a call. */
	__asm__ volatile(
		"mov %%rsp, %%rax\n\t"
		"and $-16, %%rax\n\t"
		"sub $8, %%rax\n\t"
		"pushq %[ss]\n\t"
		"pushq %%rax\n\t"
		"pushq %[flags]\n\t"
		"pushq %[cs]\n\t"
		"pushq %[fn]\n\t"
		"iretq"
		:
		: [ss] "i"(SEL_USER_DATA), [flags] "i"(RFLAGS_IF | 2), [cs] "i"(SEL_USER_CODE), [fn] "r"(fn)
		: "rax", "memory");
	__builtin_unreachable();
}

int irq_alloc_vector(irq_handler fn, void *arg)
{
	if (next_vector > VEC_LAST_DEVICE)
		return -1;
	int v = next_vector++;
	vectors[v].fn = fn;
	vectors[v].arg = arg;
	return v;
}

uint64_t irq_count(int vector) { return vector >= 0 && vector < 256 ? vectors[vector].count : 0; }

uint64_t irq_taken(void) { return taken; }

static const char *const exception_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM device not available",
	"#DF double fault",
	"coprocessor overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD error",
	"#VE virtualization",
	"#CP control protection",
};

_Noreturn static void exception(const struct trap_frame *f)
{
	const char *name = exception_names[f->vector];

	kprintf("\npanic: exception %llu (%s) error=%#llx\n", (unsigned long long)f->vector,
		name ? name : "reserved", (unsigned long long)f->error);
	kprintf("  rip=%016llx cs=%04llx rflags=%016llx cr2=%016llx\n", (unsigned long long)f->rip,
		(unsigned long long)f->cs, (unsigned long long)f->rflags, (unsigned long long)read_cr2());
	kprintf("  rsp=%016llx ss=%04llx cr3=%016llx\n", (unsigned long long)f->rsp,
		(unsigned long long)f->ss, (unsigned long long)read_cr3());
	kprintf("  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", (unsigned long long)f->rax,
		(unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n", (unsigned long long)f->rsi,
		(unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->r8);
	kprintf("  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n", (unsigned long long)f->r9,
		(unsigned long long)f->r10, (unsigned long long)f->r11, (unsigned long long)f->r12);
	kprintf("  r13=%016llx r14=%016llx r15=%016llx\n", (unsigned long long)f->r13,
		(unsigned long long)f->r14, (unsigned long long)f->r15);
	panic_exit();
}

void trap_dispatch(struct trap_frame *f);
void trap_dispatch(struct trap_frame *f)
{
	if (f->vector == VEC_BREAKPOINT && (f->cs & 3)) {
		long (*fn)(void *) = (long (*)(void *))(uintptr_t)f->rdi;
		f->rax = (uint64_t)fn((void *)(uintptr_t)f->rsi);
		return;
	}
	if (f->vector < 32)
		exception(f);
	taken++;
	vectors[f->vector].count++;
	if (vectors[f->vector].fn)
		vectors[f->vector].fn(vectors[f->vector].arg);
	if (f->vector != APIC_SPURIOUS_VECTOR)
		lapic_eoi();
}
