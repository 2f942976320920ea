#include "lib/pattern.h"

void pattern_init(struct pattern *p, uint32_t seed)
{
	p->s = seed ? seed : 0x9E3779B9u;
	p->npending = 0;
}

static uint32_t step(struct pattern *p)
{
	uint32_t s = p->s;

	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	p->s = s;
	return s;
}

void pattern_fill(struct pattern *p, void *out, size_t len)
{
	uint8_t *o = out;

	while (len && p->npending) { /* the rest of a group cut by the last call */
		*o++ = p->pending[4 - p->npending--];
		len--;
	}
	for (; len >= 4; len -= 4, o += 4) {
		uint32_t v = step(p);
		o[0] = (uint8_t)v;
		o[1] = (uint8_t)(v >> 8);
		o[2] = (uint8_t)(v >> 16);
		o[3] = (uint8_t)(v >> 24);
	}
	if (len) {
		uint32_t v = step(p);
		for (unsigned i = 0; i < 4; i++)
			p->pending[i] = (uint8_t)(v >> (8 * i));
		p->npending = 4;
		while (len--)
			*o++ = p->pending[4 - p->npending--];
	}
}
