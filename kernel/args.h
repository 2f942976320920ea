/* Splitting a shell line into arguments: spaces separate, double quotes
 * group, a backslash escapes the next byte. */
#ifndef KERNEL_ARGS_H
#define KERNEL_ARGS_H

#include <stddef.h>

#include "kernel/line.h"

#define ARGS_MAX 16

struct args {
	int argc;
	char *argv[ARGS_MAX + 1];
	const char *rest; /* the raw line after the last argument taken */
	char store[LINE_MAX_BYTES + ARGS_MAX + 1];
};

/* Takes at most max arguments from line (all of them if max is 0); rest then
 * points at what follows, past the separating spaces, byte for byte.
 * Returns argc, -EINVAL for an unterminated quote or a trailing backslash,
 * -E2BIG for more than ARGS_MAX arguments. */
int args_split(struct args *a, const char *line, int max);

#endif
