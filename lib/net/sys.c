/* What lwIP needs of the platform besides the netif: the time in
 * milliseconds, a random number, and a stop when it finds itself broken. */
#include <stdio.h>
#include <stdlib.h>

#include "drivers/platform.h"
#include "lib/net/port/sys_port.h"
#include "lwip/sys.h"

u32_t sys_now(void) { return (u32_t)(plat_time_ns() / 1000000); }

uint32_t lwip_port_rand(void)
{
	static uint32_t s;

	if (s == 0)
		s = (uint32_t)(plat_time_ns() * 2654435761u) | 1;
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	return s;
}

_Noreturn void lwip_port_assert(const char *msg, const char *file, int line)
{
	printf("lwIP: assertion failed: %s (%s:%d)\n", msg, file, line);
	abort();
}
