/*
 * The smallest kernel QEMU's -kernel loader takes: a 32-bit ELF with a PVH
 * entry note, whose first instruction powers the machine off through
 * isa-debug-exit (port 0xf4; QEMU then exits with status 1).  `make bench`
 * times it to measure what QEMU and its firmware cost before any kernel runs.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define DEBUG_EXIT_PORT 0xf4

	.section .note.pvh, "a", @note
	.p2align 2
	.long 4				/* name size: "Xen\0" */
	.long 4				/* descriptor size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long minimal_start

	.text
	.code32
	.global minimal_start
minimal_start:
	xor %eax, %eax
	outb %al, $DEBUG_EXIT_PORT	/* QEMU exits: status (0 << 1) | 1 */
1:	hlt				/* without isa-debug-exit: stay halted */
	jmp 1b
