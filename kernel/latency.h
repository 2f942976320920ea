/* Latencies the benchmark commands record, one run at a time (bench blk,
 * bench net ping), and the figures they print. */
#ifndef KERNEL_LATENCY_H
#define KERNEL_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#define LATENCY_MAX (1u << 20) /* samples one run keeps; more are not recorded */

/* Starts a run: no samples. */
void latency_reset(void);
/* Records one sample (nanoseconds). */
void latency_add(uint64_t ns);
/* Samples recorded in this run. */
unsigned latency_count(void);
/* The median and 99th percentile of the run, in tenths of a microsecond
 * (0 without samples). */
void latency_percentiles(uint64_t *p50_tenths_us, uint64_t *p99_tenths_us);
/* Formats a count of tenths as N.N. */
void fmt_tenths(char *out, size_t n, uint64_t tenths);

#endif
