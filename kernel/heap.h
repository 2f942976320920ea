/* The bounded heap behind newlib's malloc (sbrk over a static array). */
#ifndef KERNEL_HEAP_H
#define KERNEL_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap {
	char *base;
	size_t size;
	size_t brk; /* bytes handed out */
};

/* Moves the break by incr bytes.  Returns the old break, or NULL (the heap
 * unchanged) when the result would leave [base, base + size]. */
void *heap_sbrk(struct heap *h, intptr_t incr);

#endif
