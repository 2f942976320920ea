#include "kernel/heap.h"

void *heap_sbrk(struct heap *h, intptr_t incr)
{
	size_t old = h->brk;

	if (incr > 0 ? (size_t)incr > h->size - old : -(size_t)incr > old)
		return NULL;
	h->brk = old + (size_t)incr;
	return h->base + old;
}
