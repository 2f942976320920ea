/* Host unit tests for kernel/line.c (line_feed, the shell's line editor). */
// SOURCES: kernel/line.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kernel/line.h"

static char echoed[4 * LINE_MAX_BYTES];
static size_t echoed_len;
static int echo_calls;

static void capture_echo(const char *s, size_t n)
{
	assert_true(echoed_len + n <= sizeof(echoed));
	memcpy(echoed + echoed_len, s, n);
	echoed_len += n;
	echo_calls++;
}

static struct line_editor le;

static int setup(void **state)
{
	(void)state;
	memset(&le, 0, sizeof(le));
	le.echo = capture_echo;
	memset(echoed, 0, sizeof(echoed));
	echoed_len = 0;
	echo_calls = 0;
	return 0;
}

/* Feeds n bytes; returns how many of them completed a line. */
static int feed(const char *s, size_t n)
{
	int lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += line_feed(&le, (unsigned char)s[i]);
	return lines;
}

#define FEED(lit) feed(lit, sizeof(lit) - 1)

static void assert_echoed(const char *s, size_t n)
{
	assert_int_equal(echoed_len, n);
	assert_memory_equal(echoed, s, n);
}

#define ASSERT_ECHOED(lit) assert_echoed(lit, sizeof(lit) - 1)

static void reset_echo(void)
{
	echoed_len = 0;
	echo_calls = 0;
}

static void test_line_ends_at_cr(void **state)
{
	(void)state;

	assert_int_equal(FEED("ls /"), 0);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "ls /");
	assert_int_equal(le.len, 4);
	ASSERT_ECHOED("ls /\n");
}

static void test_line_ends_at_lf(void **state)
{
	(void)state;

	assert_int_equal(FEED("help"), 0);
	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_string_equal(le.buf, "help");
	assert_int_equal(le.len, 4);
	ASSERT_ECHOED("help\n");
}

static void test_crlf_is_one_line_end(void **state)
{
	(void)state;

	assert_int_equal(FEED("abc"), 0);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "abc");
	/* The LF of the CRLF completes nothing and echoes nothing. */
	assert_int_equal(line_feed(&le, '\n'), 0);
	ASSERT_ECHOED("abc\n");
	assert_int_equal(FEED("de"), 0);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "de");
	assert_int_equal(line_feed(&le, '\n'), 0);
	ASSERT_ECHOED("abc\nde\n");
}

static void test_lf_cr_is_two_lines(void **state)
{
	(void)state;

	assert_int_equal(FEED("x"), 0);
	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_string_equal(le.buf, "x");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "");
	assert_int_equal(le.len, 0);
	ASSERT_ECHOED("x\n\n");
}

static void test_cr_cr_is_two_lines(void **state)
{
	(void)state;

	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "");
	ASSERT_ECHOED("\n\n");
}

static void test_crlf_many_lines(void **state)
{
	(void)state;

	assert_int_equal(FEED("a\r\nb\r\n\r\nc\n"), 4);
	assert_string_equal(le.buf, "c");
	ASSERT_ECHOED("a\nb\n\nc\n");
}

static void test_cr_then_text_then_lf(void **state)
{
	(void)state;

	/* Only an LF right after the CR belongs to it. */
	assert_int_equal(FEED("a\rb"), 1);
	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_string_equal(le.buf, "b");
}

static void test_bs_erases_last_char(void **state)
{
	(void)state;

	assert_int_equal(FEED("abc\b"), 0);
	ASSERT_ECHOED("abc\b \b");
	assert_int_equal(le.len, 2);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "ab");
}

static void test_del_erases_last_char(void **state)
{
	(void)state;

	assert_int_equal(FEED("abc\x7f\x7f"
			      "d"),
			 0);
	ASSERT_ECHOED("abc\b \b\b \bd");
	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_string_equal(le.buf, "ad");
}

static void test_bs_on_empty_line(void **state)
{
	(void)state;

	assert_int_equal(FEED("\b\x7f\b"), 0);
	assert_int_equal(echo_calls, 0);
	assert_int_equal(echoed_len, 0);
	assert_int_equal(le.len, 0);
	assert_int_equal(FEED("a\b\b"), 0);
	ASSERT_ECHOED("a\b \b");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "");
}

static void test_utf8_2byte(void **state)
{
	(void)state;

	/* é = C3 A9: nothing echoed until the sequence is whole, then all of it once. */
	assert_int_equal(line_feed(&le, 0xC3), 0);
	assert_int_equal(echoed_len, 0);
	assert_int_equal(line_feed(&le, 0xA9), 0);
	ASSERT_ECHOED("\xC3\xA9");
	assert_int_equal(echo_calls, 1);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "\xC3\xA9");
}

static void test_utf8_3byte(void **state)
{
	(void)state;

	/* € = E2 82 AC */
	assert_int_equal(FEED("a\xE2\x82"), 0);
	ASSERT_ECHOED("a");
	assert_int_equal(line_feed(&le, 0xAC), 0);
	ASSERT_ECHOED("a\xE2\x82\xAC");
	assert_int_equal(echo_calls, 2);
	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_string_equal(le.buf, "a\xE2\x82\xAC");
}

static void test_utf8_4byte(void **state)
{
	(void)state;

	/* U+1F600 = F0 9F 98 80 */
	assert_int_equal(FEED("\xF0\x9F\x98"), 0);
	assert_int_equal(echoed_len, 0);
	assert_int_equal(line_feed(&le, 0x80), 0);
	ASSERT_ECHOED("\xF0\x9F\x98\x80");
	assert_int_equal(echo_calls, 1);
	assert_int_equal(FEED("z\r"), 1);
	assert_string_equal(le.buf, "\xF0\x9F\x98\x80z");
}

static void test_bs_erases_whole_utf8_2byte(void **state)
{
	(void)state;

	assert_int_equal(FEED("a\xC3\xA9"), 0);
	reset_echo();
	assert_int_equal(line_feed(&le, 0x08), 0);
	ASSERT_ECHOED("\b \b");
	assert_int_equal(le.len, 1);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "a");
}

static void test_bs_erases_whole_utf8_3byte(void **state)
{
	(void)state;

	assert_int_equal(FEED("a\xE2\x82\xAC"), 0);
	reset_echo();
	assert_int_equal(line_feed(&le, 0x7F), 0);
	ASSERT_ECHOED("\b \b");
	assert_int_equal(le.len, 1);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "a");
}

static void test_bs_erases_whole_utf8_4byte(void **state)
{
	(void)state;

	/* Also as the first character of the line. */
	assert_int_equal(FEED("\xF0\x9F\x98\x80"), 0);
	reset_echo();
	assert_int_equal(line_feed(&le, 0x08), 0);
	ASSERT_ECHOED("\b \b");
	assert_int_equal(le.len, 0);
	assert_int_equal(FEED("ok\r"), 1);
	assert_string_equal(le.buf, "ok");
}

static void test_bs_twice_over_mixed_text(void **state)
{
	(void)state;

	assert_int_equal(FEED("x\xC3\xA9\xE2\x82\xAC"), 0);
	reset_echo();
	assert_int_equal(FEED("\b\b"), 0);
	ASSERT_ECHOED("\b \b\b \b");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "x");
}

/* A stray continuation byte is a character of its own, echoed as it came:
 * BS takes it alone, and the screen and the line still agree. */
static void test_bs_after_stray_continuation_byte(void **state)
{
	(void)state;

	assert_int_equal(FEED("ab\x80"), 0);
	reset_echo();
	assert_int_equal(FEED("\b"), 0);
	ASSERT_ECHOED("\b \b");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "ab");
}

static void test_exactly_1024_bytes_accepted(void **state)
{
	(void)state;
	char in[LINE_MAX_BYTES];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	assert_int_equal(feed(in, sizeof(in)), 0);
	assert_int_equal(le.len, LINE_MAX_BYTES);
	assert_echoed(in, sizeof(in));
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_int_equal(le.len, LINE_MAX_BYTES);
	assert_memory_equal(le.buf, in, sizeof(in));
	assert_int_equal(le.buf[LINE_MAX_BYTES], '\0');
	assert_false(le.too_long);
}

/* Bytes past 1024 are dropped, and the line says so: the shell refuses to
 * run it (part of a path or text could name something else). */
static void test_bytes_past_1024_dropped(void **state)
{
	(void)state;
	char in[LINE_MAX_BYTES];

	memset(in, 'q', sizeof(in));
	assert_int_equal(feed(in, sizeof(in)), 0);
	reset_echo();
	assert_int_equal(FEED("XYZ\xC3\xA9"), 0);
	assert_int_equal(echoed_len, 0);
	assert_int_equal(echo_calls, 0);
	assert_int_equal(le.len, LINE_MAX_BYTES);
	assert_int_equal(line_feed(&le, '\n'), 1);
	ASSERT_ECHOED("\n");
	assert_int_equal(le.len, LINE_MAX_BYTES);
	assert_memory_equal(le.buf, in, sizeof(in));
	assert_int_equal(le.buf[LINE_MAX_BYTES], '\0');
	assert_true(le.too_long);
	assert_int_equal(FEED("ok\n"), 1); /* the next line starts afresh */
	assert_string_equal(le.buf, "ok");
	assert_false(le.too_long);
}

static void test_full_line_bs_makes_room(void **state)
{
	(void)state;
	char in[LINE_MAX_BYTES];

	memset(in, 'q', sizeof(in));
	assert_int_equal(feed(in, sizeof(in)), 0);
	assert_int_equal(FEED("X\bY"), 0);
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_int_equal(le.len, LINE_MAX_BYTES);
	assert_memory_equal(le.buf, in, LINE_MAX_BYTES - 1);
	assert_int_equal(le.buf[LINE_MAX_BYTES - 1], 'Y');
}

static void test_control_bytes_dropped(void **state)
{
	(void)state;

	assert_int_equal(FEED("a\x01\x1b[A\x00\x07\x1f"
			      "b"),
			 0);
	/* ESC is dropped; the printable "[A" that followed it is ordinary text. */
	ASSERT_ECHOED("a[Ab");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "a[Ab");
	assert_int_equal(le.len, 4);
}

static void test_tab_kept(void **state)
{
	(void)state;

	assert_int_equal(FEED("a\tb"), 0);
	ASSERT_ECHOED("a\tb");
	assert_int_equal(line_feed(&le, '\r'), 1);
	assert_string_equal(le.buf, "a\tb");
}

static void test_next_byte_starts_fresh_line(void **state)
{
	(void)state;

	assert_int_equal(FEED("first\n"), 1);
	assert_string_equal(le.buf, "first");
	assert_int_equal(FEED("2nd\n"), 1);
	assert_string_equal(le.buf, "2nd");
	assert_int_equal(le.len, 3);
	/* A BS right after a finished line does not reach back into it. */
	assert_int_equal(FEED("\b"), 0);
	assert_int_equal(le.len, 0);
	assert_int_equal(FEED("\r"), 1);
	assert_string_equal(le.buf, "");
	ASSERT_ECHOED("first\n2nd\n\n");
}

static void test_empty_line(void **state)
{
	(void)state;

	assert_int_equal(line_feed(&le, '\n'), 1);
	assert_int_equal(le.len, 0);
	assert_string_equal(le.buf, "");
	ASSERT_ECHOED("\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_line_ends_at_cr, setup),
		cmocka_unit_test_setup(test_line_ends_at_lf, setup),
		cmocka_unit_test_setup(test_crlf_is_one_line_end, setup),
		cmocka_unit_test_setup(test_lf_cr_is_two_lines, setup),
		cmocka_unit_test_setup(test_cr_cr_is_two_lines, setup),
		cmocka_unit_test_setup(test_crlf_many_lines, setup),
		cmocka_unit_test_setup(test_cr_then_text_then_lf, setup),
		cmocka_unit_test_setup(test_bs_erases_last_char, setup),
		cmocka_unit_test_setup(test_del_erases_last_char, setup),
		cmocka_unit_test_setup(test_bs_on_empty_line, setup),
		cmocka_unit_test_setup(test_utf8_2byte, setup),
		cmocka_unit_test_setup(test_utf8_3byte, setup),
		cmocka_unit_test_setup(test_utf8_4byte, setup),
		cmocka_unit_test_setup(test_bs_erases_whole_utf8_2byte, setup),
		cmocka_unit_test_setup(test_bs_erases_whole_utf8_3byte, setup),
		cmocka_unit_test_setup(test_bs_erases_whole_utf8_4byte, setup),
		cmocka_unit_test_setup(test_bs_twice_over_mixed_text, setup),
		cmocka_unit_test_setup(test_bs_after_stray_continuation_byte, setup),
		cmocka_unit_test_setup(test_exactly_1024_bytes_accepted, setup),
		cmocka_unit_test_setup(test_bytes_past_1024_dropped, setup),
		cmocka_unit_test_setup(test_full_line_bs_makes_room, setup),
		cmocka_unit_test_setup(test_control_bytes_dropped, setup),
		cmocka_unit_test_setup(test_tab_kept, setup),
		cmocka_unit_test_setup(test_next_byte_starts_fresh_line, setup),
		cmocka_unit_test_setup(test_empty_line, setup),
	};

	return cmocka_run_group_tests_name("line", tests, NULL, NULL);
}
