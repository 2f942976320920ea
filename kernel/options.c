#include "kernel/options.h"

#include <stdio.h>
#include <string.h>

#define WORD_MAX 128

static int set_mode(struct kernel_options *o, const char *v)
{
	if (strcmp(v, "irq") == 0)
		o->virtio_mode = VIRTIO_MODE_IRQ;
	else if (strcmp(v, "poll") == 0)
		o->virtio_mode = VIRTIO_MODE_POLL;
	else
		return -1;
	return 0;
}

static int set_packed(struct kernel_options *o, const char *v)
{
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return -1;
	o->virtio_packed = v[0] == '1';
	return 0;
}

static int set_fault(struct kernel_options *o, const char *v)
{
	static const char *const kinds[] = {"de", "ud", "gp", "pf", "df"};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(v, kinds[i]) == 0) {
			strcpy(o->test_fault, v);
			return 0;
		}
	}
	return -1;
}

static const struct {
	const char *name;
	int (*set)(struct kernel_options *o, const char *value);
} table[] = {
	{"virtio.mode", set_mode},
	{"virtio.packed", set_packed},
	{"test.fault", set_fault},
};

static int apply(const char *word, struct kernel_options *o, void (*warn)(const char *line))
{
	char name[WORD_MAX];
	const char *eq = strchr(word, '=');
	const char *value = eq ? eq + 1 : "";
	size_t n = eq ? (size_t)(eq - word) : strlen(word);
	char line[2 * WORD_MAX + 40];

	snprintf(name, sizeof(name), "%.*s", (int)n, word);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(name, table[i].name) != 0)
			continue;
		if (table[i].set(o, value) == 0)
			return 0;
		snprintf(line, sizeof(line), "warning: bad value for %s: %s", name, value);
		warn(line);
		return 1;
	}
	snprintf(line, sizeof(line), "warning: unknown option %s", name);
	warn(line);
	return 1;
}

int options_parse(const char *cmdline, struct kernel_options *o, void (*warn)(const char *line))
{
	int warnings = 0;
	const char *p = cmdline;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, " \t");
		if (n == 0)
			break;
		char word[WORD_MAX];
		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		warnings += apply(word, o, warn);
		p += n;
	}
	return warnings;
}
