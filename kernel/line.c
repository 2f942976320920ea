#include "kernel/line.h"

/* Bytes in the UTF-8 sequence that starts with this byte (1 for ASCII and strays). */
static size_t utf8_length(unsigned char lead)
{
	return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

/* Where the last UTF-8 sequence in buf might start: the nearest byte that
 * is not a continuation byte, looking back at most 3 bytes (len > 0). */
static size_t last_lead(const struct line_editor *le)
{
	size_t start = le->len - 1;

	while (start > 0 && (le->buf[start] & 0xC0) == 0x80 && le->len - start < 4)
		start--;
	return start;
}

int line_feed(struct line_editor *le, unsigned char c)
{
	if (le->done) {
		le->done = 0;
		le->len = 0;
		le->too_long = 0;
	}
	if (c == '\n' && le->after_cr) {
		le->after_cr = 0; /* the LF of a CRLF */
		return 0;
	}
	le->after_cr = c == '\r';
	if (c == '\r' || c == '\n') {
		le->buf[le->len] = '\0';
		le->done = 1;
		le->echo("\n", 1);
		return 1;
	}
	if (c == 0x08 || c == 0x7F) {
		if (le->len == 0)
			return 0;
		/* The last character: a lead byte and the continuation bytes of
		 * its sequence, or a stray continuation byte on its own (as it was
		 * echoed). */
		size_t end = le->len, start = last_lead(le);
		size_t want = utf8_length((unsigned char)le->buf[start]);
		int sequence = (le->buf[start] & 0xC0) != 0x80 && end - start <= want;
		if (!sequence)
			start = end - 1;
		le->len = start;
		/* A sequence still waiting for its last byte was never echoed. */
		if (!sequence || end - start >= want)
			le->echo("\b \b", 3);
		return 0;
	}
	if (c < 0x20 && c != '\t')
		return 0;
	if (le->len == LINE_MAX_BYTES) {
		le->too_long = 1;
		return 0;
	}
	le->buf[le->len++] = (char)c;
	/* Echo a UTF-8 sequence whole, once its last byte is in. */
	size_t start = last_lead(le), want = utf8_length((unsigned char)le->buf[start]);
	if (le->len - start >= want)
		le->echo(le->buf + le->len - want, want);
	return 0;
}
