/* Host unit tests for lib/net/http_parse.c: what the HTTP server takes
 * from a request head, and what it refuses. */
// SOURCES: lib/net/http_parse.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/net/http_parse.h"

static struct http_request r;

static int parse(const char *s) { return http_parse_request(s, strlen(s), &r); }

static void test_get_with_fields(void **state)
{
	(void)state;
	const char *s = "GET /docs/a%20b.txt?x=1#f HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\nNEXT";
	assert_int_equal(parse(s), (int)(strstr(s, "NEXT") - s));
	assert_int_equal(r.method, HTTP_GET);
	assert_string_equal(r.path, "/docs/a b.txt");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.keep_alive, 1);
	assert_false(r.has_length);
}

static void test_methods(void **state)
{
	(void)state;
	assert_true(parse("HEAD / HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_HEAD);
	assert_true(parse("PUT /f HTTP/1.1\r\nContent-Length: 0\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_PUT);
	assert_true(parse("DELETE /f HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_DELETE);
	assert_true(parse("POST /f HTTP/1.1\r\n\r\n") > 0);
	assert_int_equal(r.method, HTTP_OTHER);
	assert_true(parse("get /f HTTP/1.1\r\n\r\n") > 0); /* methods are case-sensitive */
	assert_int_equal(r.method, HTTP_OTHER);
}

static void test_incomplete_heads_ask_for_more(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n"), 0);
	assert_int_equal(parse("\r\n\r\nGET / HTTP/1.1\r\n"), 0); /* empty lines before are skipped */
	assert_true(parse("\r\nGET / HTTP/1.1\r\n\r\n") > 0);
}

static void test_bare_lf_line_ends(void **state)
{
	(void)state;
	assert_int_equal(parse("GET /a HTTP/1.0\nConnection: keep-alive\n\n"), 40);
	assert_int_equal(r.keep_alive, 1);
	assert_string_equal(r.path, "/a");
}

static void test_keep_alive_defaults_and_tokens(void **state)
{
	(void)state;
	assert_true(parse("GET / HTTP/1.0\r\n\r\n") > 0);
	assert_int_equal(r.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n") > 0);
	assert_int_equal(r.keep_alive, 0);
	assert_true(parse("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n") > 0);
	assert_int_equal(r.keep_alive, 1);
}

static void test_lengths(void **state)
{
	(void)state;
	assert_true(parse("PUT /f HTTP/1.1\r\nContent-Length: 3145729\r\n\r\n") > 0);
	assert_true(r.has_length);
	assert_int_equal(r.length, 3145729);
	assert_true(parse("PUT /f HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n") > 0);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -400);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), -400);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), -400);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), -400);
	assert_true(parse("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
	assert_true(r.chunked);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
			 -400);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), -400);
	assert_int_equal(parse("PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), -400);
	assert_true(parse("PUT /f HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n") > 0);
	assert_true(r.expect_continue);
}

static void test_paths_that_escape_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"/..",		 "/../x",     "/a/../../x", "/%2e%2e/x", "/%2E%2e",
		"/a/%2e%2e%2fb", "/..%2fetc", "/.",	    "/a/./b",	 "/%2e/b",
		"/a%00b",	 "/a%01",     "/a%7f",	    "/a%",	 "/a%4",
		"/a%zz",	 "*",	      "x/y",	    "http://h/", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char head[128];
		snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\n\r\n", bad[i]);
		assert_int_equal(parse(head), -400);
	}
	/* Dots that are parts of names are names. */
	assert_true(parse("GET /a..b/.c/..d/...%2e HTTP/1.1\r\n\r\n") > 0);
	assert_string_equal(r.path, "/a..b/.c/..d/....");
}

static void test_long_paths_and_heads(void **state)
{
	(void)state;
	static char head[HTTP_HEAD_MAX + 64];
	char *p = head + sprintf(head, "GET /");
	memset(p, 'a', HTTP_PATH_MAX - 2); /* with '/': the longest path that fits */
	strcpy(p + HTTP_PATH_MAX - 2, " HTTP/1.1\r\n\r\n");
	assert_true(parse(head) > 0);
	assert_int_equal(strlen(r.path), HTTP_PATH_MAX - 1);
	p[0] = '%', p[1] = '4', p[2] = '1'; /* the same length decoded, longer encoded */
	assert_true(parse(head) > 0);
	strcpy(p + HTTP_PATH_MAX - 1, "b HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(head), -400);
	/* A head that never ends within HTTP_HEAD_MAX. */
	p = head + sprintf(head, "GET / HTTP/1.1\r\nX: ");
	memset(p, 'x', sizeof(head) - (size_t)(p - head));
	assert_int_equal(http_parse_request(head, sizeof(head), &r), -400);
	assert_int_equal(http_parse_request(head, HTTP_HEAD_MAX - 1, &r), 0);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"GET / HTTP/1.1 x\r\n\r\n",
		"GET /  HTTP/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.x\r\n\r\n",
		"GET /\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\001b\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i]), -400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_with_fields),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_incomplete_heads_ask_for_more),
		cmocka_unit_test(test_bare_lf_line_ends),
		cmocka_unit_test(test_keep_alive_defaults_and_tokens),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_paths_that_escape_are_refused),
		cmocka_unit_test(test_long_paths_and_heads),
		cmocka_unit_test(test_malformed_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
