/* Host unit tests for kernel/options.c (options_parse). */
// SOURCES: kernel/options.c lib/net/addr.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kernel/options.h"

#define MAX_WARNINGS 8
#define WARN_LEN 512

static char warnings[MAX_WARNINGS][WARN_LEN];
static int nwarnings;

static void capture_warn(const char *line)
{
	assert_true(nwarnings < MAX_WARNINGS);
	assert_true(strlen(line) < WARN_LEN);
	strcpy(warnings[nwarnings++], line);
}

static const struct kernel_options defaults = {.virtio_mode = VIRTIO_MODE_IRQ, .virtio_packed = 1};

static int setup(void **state)
{
	(void)state;
	memset(warnings, 0, sizeof(warnings));
	nwarnings = 0;
	return 0;
}

static void assert_defaults(const struct kernel_options *o)
{
	assert_int_equal(o->virtio_mode, VIRTIO_MODE_IRQ);
	assert_int_equal(o->virtio_packed, 1);
	assert_string_equal(o->test_fault, "");
	assert_int_equal(o->net_mode, VIRTIO_MODE_IRQ);
	assert_int_equal(o->net_ip.how, NET_IP_DHCP);
}

static void test_empty_line_keeps_defaults(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("", &o, capture_warn), 0);
	assert_int_equal(nwarnings, 0);
	assert_defaults(&o);
}

static void test_blank_line_keeps_defaults(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("  \t \t ", &o, capture_warn), 0);
	assert_int_equal(nwarnings, 0);
	assert_defaults(&o);
}

static void test_mode_poll(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.mode=poll", &o, capture_warn), 0);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_POLL);
	assert_int_equal(o.virtio_packed, 1);
}

static void test_mode_irq(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	o.virtio_mode = VIRTIO_MODE_POLL;
	assert_int_equal(options_parse("virtio.mode=irq", &o, capture_warn), 0);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ);
}

static void test_packed_0_and_1(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.packed=0", &o, capture_warn), 0);
	assert_int_equal(o.virtio_packed, 0);
	assert_int_equal(options_parse("virtio.packed=1", &o, capture_warn), 0);
	assert_int_equal(o.virtio_packed, 1);
	assert_int_equal(nwarnings, 0);
}

static void test_fault_kinds(void **state)
{
	(void)state;
	static const char *const kinds[] = {"de", "ud", "gp", "pf", "df"};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct kernel_options o = defaults;
		char cmd[32];

		strcpy(cmd, "test.fault=");
		strcat(cmd, kinds[i]);
		assert_int_equal(options_parse(cmd, &o, capture_warn), 0);
		assert_string_equal(o.test_fault, kinds[i]);
		assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ);
		assert_int_equal(o.virtio_packed, 1);
	}
	assert_int_equal(nwarnings, 0);
}

static void test_bad_fault_kind(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("test.fault=xx", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: bad value for test.fault: xx");
	assert_string_equal(o.test_fault, "");
}

static void test_several_options(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.mode=poll virtio.packed=0 test.fault=gp", &o, capture_warn),
			 0);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_POLL);
	assert_int_equal(o.virtio_packed, 0);
	assert_string_equal(o.test_fault, "gp");
}

static void test_spaces_and_tabs_between_words(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("  \tvirtio.mode=poll   \t\t virtio.packed=0\t  ", &o, capture_warn),
			 0);
	assert_int_equal(nwarnings, 0);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_POLL);
	assert_int_equal(o.virtio_packed, 0);
}

static void test_unknown_option(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("foo.bar=baz", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: unknown option foo.bar");
	assert_defaults(&o);
}

static void test_unknown_option_among_known(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.mode=poll quiet=1 virtio.packed=0", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: unknown option quiet");
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_POLL);
	assert_int_equal(o.virtio_packed, 0);
}

static void test_unknown_option_without_equals(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("quiet", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: unknown option quiet");
	assert_defaults(&o);
}

static void test_bad_mode_value(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.mode=xyz", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: bad value for virtio.mode: xyz");
	assert_defaults(&o);
}

static void test_bad_packed_value(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.packed=2", &o, capture_warn), 1);
	assert_int_equal(options_parse("virtio.packed=10", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 2);
	assert_string_equal(warnings[0], "warning: bad value for virtio.packed: 2");
	assert_string_equal(warnings[1], "warning: bad value for virtio.packed: 10");
	assert_defaults(&o);
}

static void test_known_option_without_equals(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	/* No '=': the value is empty, which no known option accepts. */
	assert_int_equal(options_parse("virtio.mode", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: bad value for virtio.mode: ");
	assert_defaults(&o);
}

static void test_known_option_empty_value(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.packed=", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: bad value for virtio.packed: ");
	assert_defaults(&o);
}

static void test_very_long_unknown_word(void **state)
{
	(void)state;
	struct kernel_options o = defaults;
	static const char prefix[] = "warning: unknown option ";
	char cmd[600];

	/* A 300-byte name with a value: far past the parser's 128-byte word. */
	memset(cmd, 'n', 300);
	strcpy(cmd + 300, "=value virtio.mode=poll");
	assert_int_equal(options_parse(cmd, &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_memory_equal(warnings[0], prefix, sizeof(prefix) - 1);
	/* Whatever the length reported, it names (a prefix of) that word, not the value. */
	const char *name = warnings[0] + sizeof(prefix) - 1;
	assert_true(strlen(name) > 0);
	assert_true(strlen(name) <= 300);
	assert_int_equal(strspn(name, "n"), strlen(name));
	/* The word after it is still parsed. */
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_POLL);
}

static void test_very_long_bad_value(void **state)
{
	(void)state;
	struct kernel_options o = defaults;
	static const char prefix[] = "warning: bad value for virtio.mode: ";
	char cmd[600];

	strcpy(cmd, "virtio.mode=");
	memset(cmd + strlen(cmd), 'p', 400);
	strcpy(cmd + 12 + 400, " virtio.packed=0");
	assert_int_equal(options_parse(cmd, &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_memory_equal(warnings[0], prefix, sizeof(prefix) - 1);
	const char *value = warnings[0] + sizeof(prefix) - 1;
	assert_int_equal(strspn(value, "p"), strlen(value));
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ);
	assert_int_equal(o.virtio_packed, 0);
}

static void test_long_word_of_valid_prefix_not_accepted(void **state)
{
	(void)state;
	struct kernel_options o = defaults;
	char cmd[300];

	/* "virtio.mode=poll" followed by junk past 128 bytes must not read as poll. */
	strcpy(cmd, "virtio.mode=poll");
	memset(cmd + 16, 'x', 200);
	cmd[216] = '\0';
	assert_int_equal(options_parse(cmd, &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ);
}

static void test_several_warnings_counted(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(
		options_parse("a=1 virtio.mode=fast virtio.packed=1 b virtio.packed=yes test.fault=zz", &o,
			      capture_warn),
		5);
	assert_int_equal(nwarnings, 5);
	assert_string_equal(warnings[0], "warning: unknown option a");
	assert_string_equal(warnings[1], "warning: bad value for virtio.mode: fast");
	assert_string_equal(warnings[2], "warning: unknown option b");
	assert_string_equal(warnings[3], "warning: bad value for virtio.packed: yes");
	assert_string_equal(warnings[4], "warning: bad value for test.fault: zz");
	assert_defaults(&o);
}

static void test_later_word_wins(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("virtio.mode=poll virtio.mode=irq", &o, capture_warn), 0);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ);
}

static void test_value_with_equals(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	/* The name ends at the first '='; the rest is the value. */
	assert_int_equal(options_parse("virtio.mode=poll=1", &o, capture_warn), 1);
	assert_int_equal(nwarnings, 1);
	assert_string_equal(warnings[0], "warning: bad value for virtio.mode: poll=1");
	assert_defaults(&o);
}

static void test_net_mode(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("net.mode=poll", &o, capture_warn), 0);
	assert_int_equal(o.net_mode, VIRTIO_MODE_POLL);
	assert_int_equal(o.virtio_mode, VIRTIO_MODE_IRQ); /* the disks' mode is apart */
	assert_int_equal(options_parse("net.mode=irq", &o, capture_warn), 0);
	assert_int_equal(o.net_mode, VIRTIO_MODE_IRQ);
	assert_int_equal(options_parse("net.mode=intx", &o, capture_warn), 1);
	assert_string_equal(warnings[0], "warning: bad value for net.mode: intx");
}

static void test_net_ip_forms(void **state)
{
	(void)state;
	struct kernel_options o = defaults;

	assert_int_equal(options_parse("net.ip=192.168.76.2/24", &o, capture_warn), 0);
	assert_int_equal(o.net_ip.how, NET_IP_STATIC);
	assert_int_equal(o.net_ip.ip, 0xC0A84C02);
	assert_int_equal(o.net_ip.prefix, 24);
	assert_int_equal(o.net_ip.gw, 0);
	assert_int_equal(options_parse("net.ip=10.1.2.3/8,10.0.0.1", &o, capture_warn), 0);
	assert_int_equal(o.net_ip.ip, 0x0A010203);
	assert_int_equal(o.net_ip.prefix, 8);
	assert_int_equal(o.net_ip.gw, 0x0A000001);
	assert_int_equal(options_parse("net.ip=none", &o, capture_warn), 0);
	assert_int_equal(o.net_ip.how, NET_IP_NONE);
	assert_int_equal(options_parse("net.ip=dhcp", &o, capture_warn), 0);
	assert_int_equal(o.net_ip.how, NET_IP_DHCP);
	assert_int_equal(nwarnings, 0);
}

static void test_net_ip_bad_values(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"net.ip=10.0.2.15",	 "net.ip=10.0.2.15/33",	 "net.ip=10.0.2.256/24",
		"net.ip=10.0.2/24",	 "net.ip=10.0.2.15/24,", "net.ip=10.0.2.15/24,1.2.3",
		"net.ip=1.2.3.4/24x",	 "net.ip=DHCP",		 "net.ip=10.0.2.15/24,1.2.3.4,5",
		"net.ip=0010.0.2.15/24",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kernel_options o = defaults;
		nwarnings = 0;
		assert_int_equal(options_parse(bad[i], &o, capture_warn), 1);
		assert_int_equal(nwarnings, 1);
		assert_non_null(strstr(warnings[0], "warning: bad value for net.ip: "));
		assert_int_equal(o.net_ip.how, NET_IP_DHCP);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_line_keeps_defaults, setup),
		cmocka_unit_test_setup(test_blank_line_keeps_defaults, setup),
		cmocka_unit_test_setup(test_mode_poll, setup),
		cmocka_unit_test_setup(test_mode_irq, setup),
		cmocka_unit_test_setup(test_packed_0_and_1, setup),
		cmocka_unit_test_setup(test_fault_kinds, setup),
		cmocka_unit_test_setup(test_bad_fault_kind, setup),
		cmocka_unit_test_setup(test_several_options, setup),
		cmocka_unit_test_setup(test_spaces_and_tabs_between_words, setup),
		cmocka_unit_test_setup(test_unknown_option, setup),
		cmocka_unit_test_setup(test_unknown_option_among_known, setup),
		cmocka_unit_test_setup(test_unknown_option_without_equals, setup),
		cmocka_unit_test_setup(test_bad_mode_value, setup),
		cmocka_unit_test_setup(test_bad_packed_value, setup),
		cmocka_unit_test_setup(test_known_option_without_equals, setup),
		cmocka_unit_test_setup(test_known_option_empty_value, setup),
		cmocka_unit_test_setup(test_very_long_unknown_word, setup),
		cmocka_unit_test_setup(test_very_long_bad_value, setup),
		cmocka_unit_test_setup(test_long_word_of_valid_prefix_not_accepted, setup),
		cmocka_unit_test_setup(test_several_warnings_counted, setup),
		cmocka_unit_test_setup(test_later_word_wins, setup),
		cmocka_unit_test_setup(test_value_with_equals, setup),
		cmocka_unit_test_setup(test_net_mode, setup),
		cmocka_unit_test_setup(test_net_ip_forms, setup),
		cmocka_unit_test_setup(test_net_ip_bad_values, setup),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
