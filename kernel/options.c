#include "kernel/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/net/addr.h"

#define WORD_MAX 128

static int parse_mode(enum virtio_mode *mode, const char *v)
{
	if (strcmp(v, "irq") == 0)
		*mode = VIRTIO_MODE_IRQ;
	else if (strcmp(v, "poll") == 0)
		*mode = VIRTIO_MODE_POLL;
	else
		return -1;
	return 0;
}

static int set_mode(struct kernel_options *o, const char *v) { return parse_mode(&o->virtio_mode, v); }
static int set_net_mode(struct kernel_options *o, const char *v) { return parse_mode(&o->net_mode, v); }

/* dhcp, none, A.B.C.D/P or A.B.C.D/P,GW */
static int set_net_ip(struct kernel_options *o, const char *v)
{
	char cidr[WORD_MAX];
	const char *comma = strchr(v, ',');
	uint32_t ip, gw = 0;
	unsigned prefix;

	if (strcmp(v, "dhcp") == 0 || strcmp(v, "none") == 0) {
		o->net_ip.how = v[0] == 'd' ? NET_IP_DHCP : NET_IP_NONE;
		return 0;
	}
	snprintf(cidr, sizeof(cidr), "%.*s", comma ? (int)(comma - v) : (int)strlen(v), v);
	if (ip4_parse_cidr(cidr, &ip, &prefix) < 0 || (comma && ip4_parse(comma + 1, &gw) < 0))
		return -1;
	o->net_ip.how = NET_IP_STATIC;
	o->net_ip.ip = ip;
	o->net_ip.prefix = prefix;
	o->net_ip.gw = gw;
	return 0;
}

static int set_packed(struct kernel_options *o, const char *v)
{
	if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return -1;
	o->virtio_packed = v[0] == '1';
	return 0;
}

/* http:PORT,tftp:PORT,iperf:PORT, any of them, in any order */
static int set_net_serve(struct kernel_options *o, const char *v)
{
	static const char *const names[NET_SERVICES] = {"http", "tftp", "iperf"};
	uint16_t ports[NET_SERVICES] = {0};

	while (*v) {
		size_t n = strcspn(v, ":,");
		int which = -1;
		for (int i = 0; i < NET_SERVICES; i++)
			if (strlen(names[i]) == n && strncmp(v, names[i], n) == 0)
				which = i;
		if (which < 0 || v[n] != ':')
			return -1;
		char *end;
		unsigned long port = strtoul(v + n + 1, &end, 10);
		if (end == v + n + 1 || port == 0 || port > 65535 || (*end && *end != ','))
			return -1;
		ports[which] = (uint16_t)port;
		v = *end ? end + 1 : end;
	}
	memcpy(o->net_serve, ports, sizeof(ports));
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
	{"virtio.mode", set_mode}, {"virtio.packed", set_packed}, {"test.fault", set_fault},
	{"net.ip", set_net_ip},	   {"net.mode", set_net_mode},	  {"net.serve", set_net_serve},
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
