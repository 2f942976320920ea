/*
 * HTTP/1.x request heads, parsed: the part of the HTTP server that reads
 * what a client sent, kept apart (no lwIP, no files) so the host tests and
 * the fuzzer run it alone.
 */
#ifndef LIB_NET_HTTP_PARSE_H
#define LIB_NET_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 8192 /* request line and header fields, with their line ends */
#define HTTP_PATH_MAX 1024 /* a decoded path, with its NUL */

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_DELETE, HTTP_OTHER };

struct http_request {
	enum http_method method;
	char path[HTTP_PATH_MAX]; /* decoded: absolute, no "." or ".." segment, no NUL or control byte */
	int minor; /* HTTP/1.minor */
	int keep_alive; /* the connection stays open after the response */
	int has_length;
	uint64_t length; /* Content-Length, if has_length */
	int chunked; /* Transfer-Encoding: chunked */
	int expect_continue; /* Expect: 100-continue */
};

/* Parses the head at the start of buf[0..len): the request line and the
 * header fields up to the empty line (CRLF line ends, or bare LF).
 * Returns the head's length in bytes once it is all there (the body, or
 * the next request, follows), 0 if more is needed, or -400 for a head that
 * is malformed, too long (HTTP_HEAD_MAX), names a path that escapes (".."
 * or "." segments, decoded from %2e too), has a bad %-escape, a NUL or a
 * control byte, is longer than HTTP_PATH_MAX, or is not HTTP/1.x. */
int http_parse_request(const char *buf, size_t len, struct http_request *r);

/* 0 if path is absolute and has no "." or ".." segment, no NUL or control
 * byte; else -400. */
int http_path_check(const char *path);

/* Decodes a request target ("/a%20b?q" -> "/a b") into out[size], checking
 * it as http_parse_request does.  Returns 0 or -400. */
int http_decode_path(const char *target, size_t len, char *out, size_t size);

#endif
