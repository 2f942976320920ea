#include "kernel/latency.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t samples[LATENCY_MAX];
static unsigned nsamples;

void latency_reset(void) { nsamples = 0; }

void latency_add(uint64_t ns)
{
	if (nsamples < LATENCY_MAX)
		samples[nsamples++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

unsigned latency_count(void) { return nsamples; }

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

void latency_percentiles(uint64_t *p50, uint64_t *p99)
{
	*p50 = *p99 = 0;
	if (nsamples == 0)
		return;
	qsort(samples, nsamples, sizeof(samples[0]), cmp_u32);
	*p50 = samples[nsamples / 2] / 100;
	*p99 = samples[(uint64_t)nsamples * 99 / 100] / 100;
}

void fmt_tenths(char *out, size_t n, uint64_t tenths)
{
	snprintf(out, n, "%" PRIu64 ".%" PRIu64, tenths / 10, tenths % 10);
}
