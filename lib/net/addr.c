/* IPv4 addresses as text. */
#include "lib/net/addr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One decimal part of 1..3 digits (0..255) at *s, which moves past it. */
static int part(const char **s, unsigned *out)
{
	unsigned v = 0, digits = 0;

	while (**s >= '0' && **s <= '9') {
		if (++digits > 3)
			return -EINVAL;
		v = v * 10 + (unsigned)(*(*s)++ - '0');
	}
	if (digits == 0 || v > 255)
		return -EINVAL;
	*out = v;
	return 0;
}

int ip4_parse(const char *s, uint32_t *ip)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned x;
		if (part(&s, &x) < 0 || *s != (i < 3 ? '.' : '\0'))
			return -EINVAL;
		s += i < 3;
		v = v << 8 | x;
	}
	*ip = v;
	return 0;
}

int ip4_parse_cidr(const char *s, uint32_t *ip, unsigned *prefix)
{
	const char *slash = strchr(s, '/');
	char addr[IP4_TEXT_MAX];
	const char *p;
	unsigned bits;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	p = slash + 1;
	if (ip4_parse(addr, ip) < 0 || part(&p, &bits) < 0 || *p || bits > 32)
		return -EINVAL;
	*prefix = bits;
	return 0;
}

char *ip4_format(uint32_t ip, char *out)
{
	snprintf(out, IP4_TEXT_MAX, "%u.%u.%u.%u", (unsigned)(ip >> 24), (unsigned)(ip >> 16 & 255),
		 (unsigned)(ip >> 8 & 255), (unsigned)(ip & 255));
	return out;
}
