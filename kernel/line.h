/* The shell's line editor: echo, BS/DEL, and CR, LF or CRLF line ends. */
#ifndef KERNEL_LINE_H
#define KERNEL_LINE_H

#include <stddef.h>

#define LINE_MAX_BYTES 1024

struct line_editor {
	char buf[LINE_MAX_BYTES + 1];
	size_t len;
	int after_cr; /* the last byte ended a line with CR: a following LF is part of it */
	int done; /* buf holds a finished line; the next byte starts a new one */
	int too_long; /* bytes past LINE_MAX_BYTES were dropped from this line */
	void (*echo)(const char *s, size_t n);
};

/* Feeds one input byte.  Printable bytes (and UTF-8) are stored and echoed;
 * BS and DEL erase the last character (a whole UTF-8 sequence); other
 * control bytes are dropped, and so are bytes past LINE_MAX_BYTES, which
 * set too_long: such a line is not to be run.  Returns 1 when the byte
 * completed a line: buf is then NUL-terminated and len is its length. */
int line_feed(struct line_editor *le, unsigned char c);

#endif
