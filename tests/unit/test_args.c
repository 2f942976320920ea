/* Host unit tests for kernel/args.c (args_split). */
// SOURCES: kernel/args.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kernel/args.h"

static struct args a;

static int setup(void **state)
{
	(void)state;
	memset(&a, 0x5a, sizeof(a));
	return 0;
}

static void test_empty_line(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "", 0), 0);
	assert_int_equal(a.argc, 0);
	assert_null(a.argv[0]);
	assert_string_equal(a.rest, "");
}

static void test_only_spaces(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "     ", 0), 0);
	assert_null(a.argv[0]);
	assert_string_equal(a.rest, "");
}

static void test_spaces_separate(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "ls /a b", 0), 3);
	assert_int_equal(a.argc, 3);
	assert_string_equal(a.argv[0], "ls");
	assert_string_equal(a.argv[1], "/a");
	assert_string_equal(a.argv[2], "b");
	assert_null(a.argv[3]);
}

static void test_runs_of_spaces(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "mv    /x      /y   ", 0), 3);
	assert_string_equal(a.argv[0], "mv");
	assert_string_equal(a.argv[1], "/x");
	assert_string_equal(a.argv[2], "/y");
	assert_null(a.argv[3]);
	assert_string_equal(a.rest, "");
}

static void test_leading_spaces_ignored(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "   help", 0), 1);
	assert_string_equal(a.argv[0], "help");
	assert_null(a.argv[1]);
}

static void test_quotes_group(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "cat \"/My File.txt\"", 0), 2);
	assert_string_equal(a.argv[0], "cat");
	assert_string_equal(a.argv[1], "/My File.txt");
	assert_null(a.argv[2]);
}

static void test_quotes_keep_runs_of_spaces(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "\"  a  b  \"", 0), 1);
	assert_string_equal(a.argv[0], "  a  b  ");
}

static void test_quotes_inside_word(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "a\"b c\"d e", 0), 2);
	assert_string_equal(a.argv[0], "ab cd");
	assert_string_equal(a.argv[1], "e");
}

static void test_backslash_escapes_space(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "cat /My\\ File.txt", 0), 2);
	assert_string_equal(a.argv[1], "/My File.txt");
}

static void test_backslash_escapes_quote(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "say \\\"hi\\\"", 0), 2);
	assert_string_equal(a.argv[1], "\"hi\"");
}

static void test_backslash_escapes_backslash(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "a\\\\b \\\\", 0), 2);
	assert_string_equal(a.argv[0], "a\\b");
	assert_string_equal(a.argv[1], "\\");
}

static void test_backslash_inside_quotes(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "\"a \\\" b\\\\\"", 0), 1);
	assert_string_equal(a.argv[0], "a \" b\\");
}

static void test_backslash_escapes_ordinary_byte(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "\\a\\b", 0), 1);
	assert_string_equal(a.argv[0], "ab");
}

static void test_empty_quoted_arg(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "x \"\" y", 0), 3);
	assert_string_equal(a.argv[0], "x");
	assert_string_equal(a.argv[1], "");
	assert_string_equal(a.argv[2], "y");
	assert_null(a.argv[3]);
}

static void test_empty_quoted_arg_alone_and_last(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "\"\"", 0), 1);
	assert_string_equal(a.argv[0], "");
	assert_int_equal(args_split(&a, "touch \"\"", 0), 2);
	assert_string_equal(a.argv[1], "");
	assert_null(a.argv[2]);
}

static void test_unterminated_quote(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "cat \"/My File.txt", 0), -EINVAL);
	assert_int_equal(args_split(&a, "\"", 0), -EINVAL);
	assert_int_equal(args_split(&a, "a b\"", 0), -EINVAL);
}

static void test_trailing_backslash(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "cat /a\\", 0), -EINVAL);
	assert_int_equal(args_split(&a, "\\", 0), -EINVAL);
	assert_int_equal(args_split(&a, "\"a\\", 0), -EINVAL);
}

static void test_args_max_accepted(void **state)
{
	(void)state;
	char line[3 * ARGS_MAX + 1] = "";

	for (int i = 0; i < ARGS_MAX; i++)
		strcat(line, i ? " a" : "a");
	assert_int_equal(args_split(&a, line, 0), ARGS_MAX);
	for (int i = 0; i < ARGS_MAX; i++)
		assert_string_equal(a.argv[i], "a");
	assert_null(a.argv[ARGS_MAX]);
}

static void test_too_many_args(void **state)
{
	(void)state;
	char line[3 * (ARGS_MAX + 1) + 1] = "";

	for (int i = 0; i < ARGS_MAX + 1; i++)
		strcat(line, "a ");
	assert_int_equal(args_split(&a, line, 0), -E2BIG);
}

static void test_too_many_args_ok_with_max(void **state)
{
	(void)state;
	char line[3 * 40 + 1] = "";

	for (int i = 0; i < 40; i++)
		strcat(line, "a ");
	assert_int_equal(args_split(&a, line, 2), 2);
	assert_null(a.argv[2]);
	assert_ptr_equal(a.rest, line + 4);
}

static void test_max_rest_byte_for_byte(void **state)
{
	(void)state;
	static const char line[] = "write /a  hello  \"world\"";

	assert_int_equal(args_split(&a, line, 2), 2);
	assert_int_equal(a.argc, 2);
	assert_string_equal(a.argv[0], "write");
	assert_string_equal(a.argv[1], "/a");
	assert_null(a.argv[2]);
	assert_string_equal(a.rest, "hello  \"world\"");
	/* rest points into the caller's line itself. */
	assert_ptr_equal(a.rest, line + 10);
}

static void test_max_rest_keeps_escapes_and_trailing_spaces(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "echo   a\\ b \"c  \" \\\\  ", 1), 1);
	assert_string_equal(a.argv[0], "echo");
	assert_string_equal(a.rest, "a\\ b \"c  \" \\\\  ");
}

static void test_max_rest_empty(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "write /a", 2), 2);
	assert_string_equal(a.rest, "");
	assert_int_equal(args_split(&a, "write /a    ", 2), 2);
	assert_string_equal(a.rest, "");
	assert_int_equal(args_split(&a, "echo", 1), 1);
	assert_string_equal(a.rest, "");
}

static void test_max_fewer_args_than_max(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "write", 2), 1);
	assert_string_equal(a.argv[0], "write");
	assert_null(a.argv[1]);
	assert_string_equal(a.rest, "");
}

static void test_max_does_not_parse_rest(void **state)
{
	(void)state;

	/* What follows the arguments taken is not split, so its quotes cannot fail. */
	assert_int_equal(args_split(&a, "echo \"unbalanced \\", 1), 1);
	assert_string_equal(a.rest, "\"unbalanced \\");
}

static void test_quoted_word_then_rest(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "write \"/My File\" x y", 2), 2);
	assert_string_equal(a.argv[1], "/My File");
	assert_string_equal(a.rest, "x y");
}

static void test_utf8_bytes_kept(void **state)
{
	(void)state;

	assert_int_equal(args_split(&a, "cat /caf\xC3\xA9 \"/\xE2\x82\xAC x\"", 0), 3);
	assert_string_equal(a.argv[1], "/caf\xC3\xA9");
	assert_string_equal(a.argv[2], "/\xE2\x82\xAC x");
}

static void test_longest_line_fits_store(void **state)
{
	(void)state;
	char line[LINE_MAX_BYTES + 1];

	/* 16 single-byte arguments padded out to a full line: the worst case for store. */
	memset(line, 'x', LINE_MAX_BYTES);
	line[LINE_MAX_BYTES] = '\0';
	for (int i = 1; i < ARGS_MAX; i++)
		line[i * 2 - 1] = ' ';
	assert_int_equal(args_split(&a, line, 0), ARGS_MAX);
	assert_int_equal(strlen(a.argv[ARGS_MAX - 1]), LINE_MAX_BYTES - 2 * (ARGS_MAX - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_line, setup),
		cmocka_unit_test_setup(test_only_spaces, setup),
		cmocka_unit_test_setup(test_spaces_separate, setup),
		cmocka_unit_test_setup(test_runs_of_spaces, setup),
		cmocka_unit_test_setup(test_leading_spaces_ignored, setup),
		cmocka_unit_test_setup(test_quotes_group, setup),
		cmocka_unit_test_setup(test_quotes_keep_runs_of_spaces, setup),
		cmocka_unit_test_setup(test_quotes_inside_word, setup),
		cmocka_unit_test_setup(test_backslash_escapes_space, setup),
		cmocka_unit_test_setup(test_backslash_escapes_quote, setup),
		cmocka_unit_test_setup(test_backslash_escapes_backslash, setup),
		cmocka_unit_test_setup(test_backslash_inside_quotes, setup),
		cmocka_unit_test_setup(test_backslash_escapes_ordinary_byte, setup),
		cmocka_unit_test_setup(test_empty_quoted_arg, setup),
		cmocka_unit_test_setup(test_empty_quoted_arg_alone_and_last, setup),
		cmocka_unit_test_setup(test_unterminated_quote, setup),
		cmocka_unit_test_setup(test_trailing_backslash, setup),
		cmocka_unit_test_setup(test_args_max_accepted, setup),
		cmocka_unit_test_setup(test_too_many_args, setup),
		cmocka_unit_test_setup(test_too_many_args_ok_with_max, setup),
		cmocka_unit_test_setup(test_max_rest_byte_for_byte, setup),
		cmocka_unit_test_setup(test_max_rest_keeps_escapes_and_trailing_spaces, setup),
		cmocka_unit_test_setup(test_max_rest_empty, setup),
		cmocka_unit_test_setup(test_max_fewer_args_than_max, setup),
		cmocka_unit_test_setup(test_max_does_not_parse_rest, setup),
		cmocka_unit_test_setup(test_quoted_word_then_rest, setup),
		cmocka_unit_test_setup(test_utf8_bytes_kept, setup),
		cmocka_unit_test_setup(test_longest_line_fits_store, setup),
	};

	return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}
