/*
 * The -kernel entry.  QEMU finds the PVH note below, loads the ELF and jumps
 * to pvh_start in 32-bit protected mode: flat segments, paging off,
 * interrupts off, %ebx = physical address of the hvm_start_info block.
 * We build a bootstrap identity map of the first GiB (2 MiB pages), enter
 * long mode and call pvh_main(start_info) in C.  kernel/mm.c later replaces
 * these tables with the real ones.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

	.section .note.pvh, "a", @note
	.p2align 2
	.long 4				/* name size: "Xen\0" */
	.long 4				/* descriptor size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_start

	.section .boot.text, "ax", @progbits
	.code32
	.global pvh_start
pvh_start:
	cli
	cld
	mov %ebx, %edi			/* start_info: first argument of pvh_main */
	mov $boot_pml4, %eax
	mov $boot_pdpt, %edx
	or $(PTE_P | PTE_W), %edx
	mov %edx, (%eax)
	mov $boot_pdpt, %eax
	mov $boot_pd, %edx
	or $(PTE_P | PTE_W), %edx
	mov %edx, (%eax)
	/* boot_pd[i] = i * 2 MiB, present, writable, large page */
	mov $boot_pd, %eax
	mov $(PTE_P | PTE_W | PTE_PS), %edx
	mov $512, %ecx
1:	mov %edx, (%eax)
	movl $0, 4(%eax)
	add $0x200000, %edx
	add $8, %eax
	loop 1b

	/* PAE for long mode; OSFXSR and OSXMMEXCPT so compiled code may use SSE */
	mov %cr4, %eax
	or $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	and $~CR0_EM, %eax
	or $(CR0_PG | CR0_PE | CR0_MP), %eax
	mov %eax, %cr0
	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %fs
	mov %ax, %gs
	mov %edi, %edi			/* upper halves are undefined after the switch */
	lea boot_stack_top(%rip), %rsp
	xor %ebp, %ebp
	call pvh_main
2:	hlt
	jmp 2b

	.section .boot.data, "aw", @progbits
	.p2align 3
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF	/* 0x08: 64-bit code */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
boot_gdt_ptr:
	.word boot_gdt_ptr - boot_gdt - 1
	.long boot_gdt

	.section .boot.bss, "aw", @nobits
	.p2align 12
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4096
	.p2align 4
	.skip 65536
	.global boot_stack_top
boot_stack_top:
