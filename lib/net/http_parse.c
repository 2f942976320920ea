/*
 * Reading an HTTP/1.x request head (RFC 9112): the request line, then
 * header fields, then an empty line.  Strict where a lax reading could be
 * abused (a path that climbs out with "..", however it is spelt; a body
 * whose length two fields disagree on; folded lines), lenient where
 * clients differ harmlessly (bare LF line ends, empty lines before the
 * request line, the case of field names).
 */
#include "lib/net/http_parse.h"

#include <string.h>

#define BAD (-400)

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 9110 tchar: what a method or a field name is made of. */
static int is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Case-insensitive: s[0..n) equals the lower-case word w. */
static int word_is(const char *s, size_t n, const char *w)
{
	if (strlen(w) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != w[i])
			return 0;
	return 1;
}

int http_decode_path(const char *t, size_t len, char *out, size_t size)
{
	size_t n = 0;

	if (len == 0 || t[0] != '/')
		return BAD; /* origin form only: no "*", no absolute URI */
	for (size_t i = 0; i < len && t[i] != '?' && t[i] != '#'; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(t[i + 1]) : -1, lo = hi >= 0 ? hexval(t[i + 2]) : -1;
			if (lo < 0)
				return BAD;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == 0 || n + 1 >= size)
			return BAD; /* NUL; too long */
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return http_path_check(out); /* once decoded: "%2e%2e" and "..%2f" are caught */
}

int http_path_check(const char *path)
{
	if (path[0] != '/')
		return BAD;
	for (const char *s = path; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			return BAD;
	for (const char *s = path; *s;) {
		s++; /* past '/' */
		size_t seg = strcspn(s, "/");
		if ((seg == 1 && s[0] == '.') || (seg == 2 && s[0] == '.' && s[1] == '.'))
			return BAD;
		s += seg;
	}
	return 0;
}

static int parse_request_line(const char *s, size_t n, struct http_request *r)
{
	size_t m = 0;

	while (m < n && is_tchar(s[m]))
		m++;
	if (m == 0 || m >= n || s[m] != ' ')
		return BAD;
	r->method = m == 3 && !memcmp(s, "GET", 3)	? HTTP_GET
		    : m == 4 && !memcmp(s, "HEAD", 4)	? HTTP_HEAD
		    : m == 3 && !memcmp(s, "PUT", 3)	? HTTP_PUT
		    : m == 6 && !memcmp(s, "DELETE", 6) ? HTTP_DELETE
							: HTTP_OTHER;
	const char *target = s + m + 1;
	const char *sp = memchr(target, ' ', n - m - 1);
	if (!sp)
		return BAD;
	const char *version = sp + 1;
	size_t vlen = (size_t)(s + n - version);
	if (vlen != 8 || memcmp(version, "HTTP/1.", 7) || version[7] < '0' || version[7] > '9')
		return BAD;
	r->minor = version[7] - '0';
	return http_decode_path(target, (size_t)(sp - target), r->path, sizeof(r->path));
}

/* Content-Length: digits only; a second one must agree with the first. */
static int parse_length(const char *v, size_t n, struct http_request *r)
{
	uint64_t x = 0;

	if (n == 0 || n > 18)
		return BAD;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return BAD;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (r->has_length && r->length != x)
		return BAD;
	r->has_length = 1;
	r->length = x;
	return 0;
}

/* Comma-separated tokens of a field value, each passed to fn. */
static int each_token(const char *v, size_t n, struct http_request *r,
		      int (*fn)(const char *t, size_t tn, int last, struct http_request *r))
{
	size_t i = 0;

	while (i < n) {
		size_t end = i;
		while (end < n && v[end] != ',')
			end++;
		size_t a = i, b = end;
		while (a < b && (v[a] == ' ' || v[a] == '\t'))
			a++;
		while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
			b--;
		if (b > a && fn(v + a, b - a, end == n, r) < 0)
			return BAD;
		i = end + 1;
	}
	return 0;
}

static int connection_token(const char *t, size_t n, int last, struct http_request *r)
{
	(void)last;
	if (word_is(t, n, "close"))
		r->keep_alive = 0;
	else if (word_is(t, n, "keep-alive"))
		r->keep_alive = 1;
	return 0;
}

/* Only "chunked", and last, can frame a request body we could read. */
static int coding_token(const char *t, size_t n, int last, struct http_request *r)
{
	if (!last || !word_is(t, n, "chunked"))
		return BAD;
	r->chunked = 1;
	return 0;
}

static int parse_field(const char *s, size_t n, struct http_request *r)
{
	size_t m = 0;

	while (m < n && is_tchar(s[m]))
		m++;
	if (m == 0 || m >= n || s[m] != ':')
		return BAD; /* also a space before the colon, and folded lines */
	const char *v = s + m + 1;
	size_t vn = n - m - 1;
	while (vn && (*v == ' ' || *v == '\t'))
		v++, vn--;
	while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
		vn--;
	for (size_t i = 0; i < vn; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7F)
			return BAD;
	if (word_is(s, m, "content-length"))
		return parse_length(v, vn, r);
	if (word_is(s, m, "transfer-encoding"))
		return each_token(v, vn, r, coding_token);
	if (word_is(s, m, "connection"))
		return each_token(v, vn, r, connection_token);
	if (word_is(s, m, "expect") && word_is(v, vn, "100-continue"))
		r->expect_continue = 1;
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *r)
{
	size_t pos = 0;
	int line = 0;

	memset(r, 0, sizeof(*r));
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;
	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			return len == HTTP_HEAD_MAX ? BAD : 0;
		size_t n = (size_t)(nl - (buf + pos));
		const char *s = buf + pos;
		if (n && s[n - 1] == '\r')
			n--;
		pos = (size_t)(nl - buf) + 1;
		if (n == 0) {
			if (line == 0)
				continue; /* empty lines before the request line */
			break;
		}
		int err;
		if (line++ == 0) {
			err = parse_request_line(s, n, r);
			r->keep_alive = -1; /* not said yet */
		} else {
			err = parse_field(s, n, r);
		}
		if (err < 0)
			return err;
	}
	if (r->has_length && r->chunked)
		return BAD; /* two framings: whichever we chose, a proxy may choose the other */
	/* HTTP/1.1 keeps the connection unless told; 1.0 closes unless told. */
	if (r->keep_alive < 0)
		r->keep_alive = r->minor >= 1;
	return (int)pos;
}
