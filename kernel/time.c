/*
 * The TSC gives nanoseconds for benchmarks and timeouts; the RTC, read once
 * at boot, anchors wall-clock time (FAT timestamps, gettimeofday).
 */
#include "kernel/time.h"

#include "kernel/cpu.h"

#define PIT_HZ 1193182
#define CAL_MS 10

static uint64_t tsc_hz;
static uint64_t tsc_boot;
static int64_t rtc_boot;
static const char *source;

static uint64_t tsc_from_cpuid(void)
{
	uint32_t r[4];

	cpuid(0, 0, r);
	if (r[0] >= 0x15) {
		cpuid(0x15, 0, r); /* eax = denominator, ebx = numerator, ecx = crystal Hz */
		if (r[0] && r[1] && r[2]) {
			source = "cpuid";
			return (uint64_t)r[2] * r[1] / r[0];
		}
	}
	cpuid(1, 0, r);
	if (r[2] & (1u << 31)) { /* running under a hypervisor */
		cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010) {
			cpuid(0x40000010, 0, r); /* eax = TSC kHz */
			if (r[0]) {
				source = "hypervisor";
				return (uint64_t)r[0] * 1000;
			}
		}
	}
	return 0;
}

static uint64_t tsc_from_pit(void)
{
	uint16_t count = PIT_HZ * CAL_MS / 1000;
	uint8_t gate = inb(0x61);

	outb(0x61, (gate & ~0x02) | 0x01); /* speaker off, channel 2 gate on */
	outb(0x43, 0xB0); /* channel 2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xFF);
	outb(0x42, count >> 8);
	gate = inb(0x61);
	outb(0x61, gate & ~0x01); /* a rising gate edge restarts the count */
	outb(0x61, gate | 0x01);
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < 100000000 && !(inb(0x61) & 0x20); i++)
		;
	uint64_t t1 = rdtsc();
	source = "pit";
	return (t1 - t0) * 1000 / CAL_MS;
}

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
	/* Days since 1970-01-01 of a proleptic Gregorian date. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t rtc_read(void)
{
	for (int i = 0; i < 100000 && (cmos(0x0A) & 0x80); i++)
		; /* update in progress */
	uint8_t sec = cmos(0x00), min = cmos(0x02), hour = cmos(0x04);
	uint8_t day = cmos(0x07), mon = cmos(0x08), year = cmos(0x09), cent = cmos(0x32);
	uint8_t b = cmos(0x0B);
	int pm = hour & 0x80;

	hour &= 0x7F;
	if (!(b & 0x04)) { /* BCD */
#define BCD(x) ((uint8_t)(((x) >> 4) * 10 + ((x)&0x0F)))
		sec = BCD(sec), min = BCD(min), hour = BCD(hour);
		day = BCD(day), mon = BCD(mon), year = BCD(year), cent = BCD(cent);
#undef BCD
	}
	if (!(b & 0x02)) /* 12-hour clock: 12 AM is hour 0, 12 PM hour 12 */
		hour = (uint8_t)(hour % 12 + (pm ? 12 : 0));
	int full_year = (cent >= 19 && cent <= 30 ? cent : 20) * 100 + year;
	if (mon < 1 || mon > 12 || day < 1 || day > 31)
		return 0;
	return days_from_civil(full_year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
}

void time_init(void)
{
	tsc_hz = tsc_from_cpuid();
	if (!tsc_hz)
		tsc_hz = tsc_from_pit();
	if (!tsc_hz)
		tsc_hz = 1000000000; /* never divide by zero */
	tsc_boot = rdtsc();
	rtc_boot = rtc_read();
}

uint64_t time_ns(void) { return (uint64_t)((unsigned __int128)(rdtsc() - tsc_boot) * 1000000000u / tsc_hz); }

uint64_t time_tsc_hz(void) { return tsc_hz; }

const char *time_source(void) { return source; }

int64_t time_unix(void) { return rtc_boot + (int64_t)(time_ns() / 1000000000u); }
