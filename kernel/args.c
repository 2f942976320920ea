#include "kernel/args.h"

#include <errno.h>

int args_split(struct args *a, const char *line, int max)
{
	const char *p = line;
	char *out = a->store;

	a->argc = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || (max && a->argc == max))
			break;
		if (a->argc == ARGS_MAX)
			return -E2BIG;
		a->argv[a->argc++] = out;
		int quoted = 0;
		for (; *p && (quoted || *p != ' '); p++) {
			if (*p == '\\') {
				if (!*++p)
					return -EINVAL;
				*out++ = *p;
			} else if (*p == '"') {
				quoted = !quoted;
			} else {
				*out++ = *p;
			}
		}
		if (quoted)
			return -EINVAL;
		*out++ = '\0';
	}
	a->argv[a->argc] = NULL;
	a->rest = p;
	return a->argc;
}
