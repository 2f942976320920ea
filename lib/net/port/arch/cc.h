/* lwIP's compiler and platform glue (src/include/lwip/arch.h): newlib's
 * headers, a little-endian CPU, diagnostics on the console, and a random
 * source for port numbers and DHCP transaction ids. */
#ifndef LIB_NET_PORT_ARCH_CC_H
#define LIB_NET_PORT_ARCH_CC_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "lib/net/port/sys_port.h"

/* sys/types.h has ssize_t; lwIP wants SSIZE_MAX to say so (newlib's
 * limits.h leaves it out; the host tests' C library has it). */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif
#define LWIP_NO_UNISTD_H 1

#define LWIP_PLATFORM_DIAG(x)                                                                                \
	do {                                                                                                 \
		printf x;                                                                                    \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) lwip_port_assert(x, __FILE__, __LINE__)
#define LWIP_RAND() lwip_port_rand()

#endif
