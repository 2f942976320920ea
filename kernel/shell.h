/* The serial shell of the console contract. */
#ifndef KERNEL_SHELL_H
#define KERNEL_SHELL_H

#include "kernel/args.h"

/* A command gets its arguments (argv[0] is its name) and, for commands that
 * take TEXT, the rest of the line byte for byte in a->rest.  It returns 0,
 * or prints its one error line with shell_error() and returns -1. */
struct shell_command {
	const char *name;
	const char *usage;
	int fixed_args; /* arguments before TEXT, counting the name; 0: no TEXT */
	int (*run)(struct args *a);
};

/* Prints "error: " and the message as one line; returns -1. */
int shell_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs one line; returns the command's result (0 for an empty line). */
int shell_execute(const char *line);

/* Reads and runs lines from the console forever. */
_Noreturn void shell_run(void);

#endif
