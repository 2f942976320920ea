/* IPv4 addresses as text: parsing for the shell and the kernel options.
 * An address is a uint32_t in host order (10.0.2.15 is 0x0A00020F). */
#ifndef LIB_NET_ADDR_H
#define LIB_NET_ADDR_H

#include <stdint.h>

/* "A.B.C.D": four decimal parts of 1 to 3 digits, each 0..255, nothing
 * else.  Returns 0 or -EINVAL. */
int ip4_parse(const char *s, uint32_t *ip);

/* "A.B.C.D/P", P 0..32.  Returns 0 or -EINVAL. */
int ip4_parse_cidr(const char *s, uint32_t *ip, unsigned *prefix);

/* "A.B.C.D" into out (at least IP4_TEXT_MAX bytes); returns out. */
#define IP4_TEXT_MAX 16
char *ip4_format(uint32_t ip, char *out);

#endif
