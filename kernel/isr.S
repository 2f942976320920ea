/*
 * Interrupt entry stubs: one 16-byte stub per vector, at isr_stubs + 16 * n,
 * so the IDT can be filled without a table of absolute addresses.  Each stub
 * makes the frame uniform (a zero where the CPU pushes no error code), pushes
 * its vector and jumps to isr_common, which saves the general registers and
 * calls trap_dispatch(struct trap_frame *).  The kernel is built with
 * -mgeneral-regs-only, so no handler touches SSE state and none is saved.
 */
	.text
	.code64
	.p2align 4
	.global isr_stubs
isr_stubs:
	vec = 0
	.rept 256
	.p2align 4
	.if (vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	vec = vec + 1
	.endr

isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi			/* the trap_frame */
	mov %rsp, %rbx			/* rbx survives the call */
	and $-16, %rsp			/* the ABI's call alignment */
	cld
	call trap_dispatch
	mov %rbx, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp			/* vector and error code */
	iretq
