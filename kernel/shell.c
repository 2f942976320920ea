/*
 * The line shell: reads a line, looks the first word up in the command
 * table, splits the rest as the command wants and runs it.  Every failure
 * ends in exactly one "error: ..." line.
 */
#include "kernel/shell.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "kernel/commands.h"
#include "kernel/console.h"
#include "kernel/line.h"
#include "kernel/power.h"

static int cmd_help(struct args *a);

#define BENCH_USAGE                                                                                          \
	"bench blk OP PATTERN BS QD COUNT [DISK] | bench file OP PATH SIZE | bench file create DIR COUNT | " \
	"bench net ping ADDR COUNT"

static int cmd_echo(struct args *a)
{
	console_write(a->rest, strlen(a->rest));
	console_write("\n", 1);
	return 0;
}

/* power_off() runs the hook that syncs every volume (kernel/main.c). */
static int cmd_poweroff(struct args *a)
{
	(void)a;
	power_off();
}

static int cmd_bench(struct args *a)
{
	if (a->argc >= 2 && strcmp(a->argv[1], "blk") == 0)
		return cmd_bench_blk(a);
	if (a->argc >= 2 && strcmp(a->argv[1], "file") == 0)
		return cmd_bench_file(a);
	if (a->argc >= 2 && strcmp(a->argv[1], "net") == 0)
		return cmd_bench_net(a);
	return shell_error("usage: %s", BENCH_USAGE);
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	errno = 0;
	unsigned long long v = strtoull(s, &end, hex ? 16 : 10);
	if (*end || errno)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct shell_command commands[] = {
	{"help", "help", 0, cmd_help},
	{"echo", "echo TEXT", 1, cmd_echo},
	{"ls", "ls [PATH]", 0, cmd_ls},
	{"stat", "stat PATH", 0, cmd_stat},
	{"cat", "cat PATH", 0, cmd_cat},
	{"sha256", "sha256 PATH", 0, cmd_sha256},
	{"write", "write PATH TEXT", 2, cmd_write},
	{"append", "append PATH TEXT", 2, cmd_append},
	{"fill", "fill PATH SIZE SEED", 0, cmd_fill},
	{"truncate", "truncate PATH SIZE", 0, cmd_truncate},
	{"mkdir", "mkdir PATH", 0, cmd_mkdir},
	{"rm", "rm PATH", 0, cmd_rm},
	{"mv", "mv SRC DST", 0, cmd_mv},
	{"cp", "cp SRC DST", 0, cmd_cp},
	{"df", "df [PATH]", 0, cmd_df},
	{"sync", "sync", 0, cmd_sync},
	{"blk", "blk", 0, cmd_blk},
	{"blkstat", "blkstat [DISK] [clear]", 0, cmd_blkstat},
	{"blkhash", "blkhash DISK LBA COUNT", 0, cmd_blkhash},
	{"blkfill", "blkfill DISK LBA COUNT SEED", 0, cmd_blkfill},
	{"net", "net", 0, cmd_net},
	{"netstat", "netstat [DEV] [clear]", 0, cmd_netstat},
	{"ip", "ip DEV A.B.C.D/P [GW]", 0, cmd_ip},
	{"dhcp", "dhcp DEV", 0, cmd_dhcp},
	{"ping", "ping ADDR [COUNT]", 0, cmd_ping},
	{"httpd", "httpd start [PORT] [rw] | httpd stop", 0, cmd_httpd},
	{"tftpd", "tftpd start [PORT] [rw] | tftpd stop", 0, cmd_tftpd},
	{"iperf", "iperf start [PORT] | iperf stop", 0, cmd_iperf},
	{"http", "http get URL PATH", 0, cmd_http},
	{"bench", BENCH_USAGE, 0, cmd_bench},
	{"poweroff", "poweroff", 0, cmd_poweroff},
};

static int cmd_help(struct args *a)
{
	(void)a;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		kprintf("%s\n", commands[i].usage);
	return 0;
}

int shell_error(const char *fmt, ...)
{
	va_list ap;

	/* The error line starts a line of its own, even after part of a file. */
	if (!console_at_line_start())
		console_write("\n", 1);
	console_write("error: ", 7);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	console_write("\n", 1);
	return -1;
}

int shell_execute(const char *line)
{
	static struct args a;
	int n = args_split(&a, line, 1);

	if (n == 0)
		return 0;
	if (n < 0)
		return shell_error("%s", n == -E2BIG ? "too many arguments"
						     : "unbalanced quote or trailing backslash");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct shell_command *c = &commands[i];
		if (strcmp(a.argv[0], c->name) != 0)
			continue;
		n = args_split(&a, line, c->fixed_args);
		if (n == -E2BIG)
			return shell_error("%s: too many arguments", c->name);
		if (n < 0)
			return shell_error("%s: unbalanced quote or trailing backslash", c->name);
		if (c->fixed_args && n < c->fixed_args)
			return shell_error("usage: %s", c->usage);
		return c->run(&a);
	}
	return shell_error("%s: unknown command (try help)", a.argv[0]);
}

_Noreturn void shell_run(void)
{
	static struct line_editor le = {.echo = console_write};

	for (;;) {
		/* The prompt starts a line, even after a file without a final newline. */
		if (!console_at_line_start())
			console_write("\n", 1);
		console_write("> ", 2);
		while (!line_feed(&le, (unsigned char)console_getc()))
			;
		if (le.too_long) /* run part of a line, and a path or text could be another */
			shell_error("line too long (at most %d bytes); not run", LINE_MAX_BYTES);
		else
			shell_execute(le.buf);
	}
}
