/* What lib/net/sys.c gives lwIP besides sys_now(). */
#ifndef LIB_NET_PORT_SYS_PORT_H
#define LIB_NET_PORT_SYS_PORT_H

#include <stdint.h>

/* A pseudo-random 32-bit number (xorshift, seeded from the clock at the
 * first call): local port numbers and DHCP transaction ids, nothing that
 * needs to be secret. */
uint32_t lwip_port_rand(void);

/* An lwIP assertion failed: says where, and stops the kernel. */
_Noreturn void lwip_port_assert(const char *msg, const char *file, int line);

#endif
