/* libFuzzer: an arbitrary request head, given to the HTTP parser whole and
 * in every prefix a slow client could send.  Whatever it says, a parsed
 * head lies within the input and names a path that stays inside the
 * volumes. */
#include <assert.h>
#include <string.h>

#include "lib/net/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request r;
	const char *buf = (const char *)data;
	int whole = http_parse_request(buf, size, &r);

	assert(whole <= (int)size && whole <= HTTP_HEAD_MAX);
	if (whole > 0) {
		assert(r.path[0] == '/' && strlen(r.path) < HTTP_PATH_MAX);
		assert(http_path_check(r.path) == 0);
		assert(!strstr(r.path, "/../") && !strstr(r.path, "/./"));
		assert(r.method <= HTTP_OTHER && (r.keep_alive == 0 || r.keep_alive == 1));
		assert(!(r.has_length && r.chunked));
	}
	/* A prefix never gives a head that the whole does not: the head ends at
	 * the same byte, or the prefix says "more". */
	for (size_t n = 1; n < size && n <= 64; n++) {
		int part = http_parse_request(buf, n, &r);
		assert(part == 0 || part == whole || part < 0);
	}
	return 0;
}
