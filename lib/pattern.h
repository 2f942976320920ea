/* The console contract's reference pattern: a 32-bit xorshift stream,
 * 4 little-endian bytes per step, seed 0 meaning 0x9E3779B9. */
#ifndef LIB_PATTERN_H
#define LIB_PATTERN_H

#include <stddef.h>
#include <stdint.h>

struct pattern {
	uint32_t s;
	uint8_t pending[4];
	unsigned npending;
};

void pattern_init(struct pattern *p, uint32_t seed);
/* Writes the next len bytes of the stream to out. */
void pattern_fill(struct pattern *p, void *out, size_t len);

#endif
