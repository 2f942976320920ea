/* Time: the TSC, calibrated at boot, and the CMOS real-time clock. */
#ifndef KERNEL_TIME_H
#define KERNEL_TIME_H

#include <stdint.h>

/* Calibrates the TSC (CPUID leaf 0x15 or the hypervisor's leaf when they
 * give a frequency, else 10 ms of PIT channel 2) and reads the RTC once. */
void time_init(void);

/* Nanoseconds since time_init(). */
uint64_t time_ns(void);

/* TSC ticks per second, and which source said so ("cpuid", "hypervisor", "pit"). */
uint64_t time_tsc_hz(void);
const char *time_source(void);

/* Seconds since 1970-01-01 UTC: the RTC at boot plus the TSC since. */
int64_t time_unix(void);

#endif
