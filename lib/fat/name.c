/*
 * Names.  Long names are UTF-16 on disk and UTF-8 here.  Short (8.3) names
 * are 11 bytes, upper case, space padded; Windows NT marks a short name
 * whose base or extension was typed in lower case with two bits (0x08,
 * 0x10) so that "readme.txt" needs no long entry.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

#define NT_LOWER_BASE 0x08
#define NT_LOWER_EXT 0x10

int utf8_to_utf16(const char *s, uint16_t *out, int max)
{
	const uint8_t *p = (const uint8_t *)s;
	int n = 0;

	while (*p) {
		uint32_t cp;
		int more;
		if (*p < 0x80)
			cp = *p, more = 0;
		else if ((*p & 0xE0) == 0xC0)
			cp = *p & 0x1F, more = 1;
		else if ((*p & 0xF0) == 0xE0)
			cp = *p & 0x0F, more = 2;
		else if ((*p & 0xF8) == 0xF0)
			cp = *p & 0x07, more = 3;
		else
			return -EINVAL;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xC0) != 0x80)
				return -EINVAL;
			cp = cp << 6 | (*p & 0x3F);
		}
		static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
		if (cp < min[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return -EINVAL; /* overlong, out of range, or a surrogate */
		if (n + (cp >= 0x10000 ? 2 : 1) > max)
			return -ENAMETOOLONG;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out[n++] = (uint16_t)(0xD800 | cp >> 10);
			out[n++] = (uint16_t)(0xDC00 | (cp & 0x3FF));
		} else {
			out[n++] = (uint16_t)cp;
		}
	}
	return n;
}

int utf16_to_utf8(const uint16_t *u, int n, char *out, size_t size)
{
	size_t o = 0;

	for (int i = 0; i < n; i++) {
		uint32_t cp = u[i];
		if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF)
			cp = 0x10000 + ((cp - 0xD800) << 10) + (u[++i] - 0xDC00);
		else if (cp >= 0xD800 && cp <= 0xDFFF)
			return -EINVAL; /* a lone surrogate */
		uint8_t b[4];
		size_t len;
		if (cp < 0x80)
			b[0] = (uint8_t)cp, len = 1;
		else if (cp < 0x800)
			b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F)), len = 2;
		else if (cp < 0x10000)
			b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
			b[2] = (uint8_t)(0x80 | (cp & 0x3F)), len = 3;
		else
			b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), b[3] = (uint8_t)(0x80 | (cp & 0x3F)),
			len = 4;
		if (o + len >= size)
			return -ENAMETOOLONG;
		memcpy(out + o, b, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

/* Bytes allowed in a short name besides letters and digits. */
static int sfn_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("$%'-_@~`!(){}^#&", c));
}

static int is_lower(uint8_t c) { return c >= 'a' && c <= 'z'; }
static int is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }
static uint8_t upper(uint8_t c) { return is_lower(c) ? (uint8_t)(c - 32) : c; }

/* Copies part (len bytes) into dst upper-cased; returns its case: 1 all
 * lower, 2 all upper, 0 no letters, -1 mixed. */
static int copy_part(uint8_t *dst, const char *part, size_t len)
{
	int lower = 0, up = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)part[i];
		lower |= is_lower(c);
		up |= is_upper(c);
		dst[i] = upper(c);
	}
	return lower && up ? -1 : lower ? 1 : up ? 2 : 0;
}

int short_name_exact(const char *name, uint8_t sfn[11], uint8_t *nt)
{
	const char *dot = strrchr(name, '.');
	size_t len = strlen(name);
	size_t base = dot ? (size_t)(dot - name) : len;
	size_t ext = dot ? len - base - 1 : 0;

	if (base == 0 || base > 8 || ext > 3 || (dot && ext == 0))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (name + i != dot && !sfn_char((uint8_t)name[i]))
			return 0;
	memset(sfn, ' ', 11);
	int bc = copy_part(sfn, name, base);
	int ec = copy_part(sfn + 8, dot ? dot + 1 : "", ext);
	if (bc < 0 || ec < 0)
		return 0; /* mixed case within a part: only a long name keeps it */
	*nt = (uint8_t)((bc == 1 ? NT_LOWER_BASE : 0) | (ec == 1 ? NT_LOWER_EXT : 0));
	return 1;
}

void short_name_basis(const char *name, uint8_t sfn[11])
{
	size_t n = 0;

	/* Leading periods are dropped first (".bashrc" has the basis BASHRC,
	 * no extension); the extension follows the last period left. */
	while (*name == '.')
		name++;
	const char *dot = strrchr(name, '.');
	memset(sfn, ' ', 11);
	/* Base: everything before the last dot, without spaces and dots. */
	for (const char *p = name; *p && p != dot && n < 8; p++) {
		uint8_t c = (uint8_t)*p;
		if (c == ' ' || c == '.')
			continue;
		if ((c & 0xC0) == 0x80)
			continue; /* the tail of a multi-byte character: one '_' is enough */
		sfn[n++] = sfn_char(c) ? upper(c) : '_';
	}
	if (n == 0)
		sfn[n++] = '_';
	n = 0;
	for (const char *p = dot ? dot + 1 : ""; *p && n < 3; p++) {
		uint8_t c = (uint8_t)*p;
		if (c == ' ' || (c & 0xC0) == 0x80)
			continue;
		sfn[8 + n++] = sfn_char(c) ? upper(c) : '_';
	}
}

void short_name_tail(uint8_t sfn[11], unsigned n)
{
	char tail[12];
	int len = 0;

	tail[len++] = '~';
	char digits[10];
	int d = 0;
	do
		digits[d++] = (char)('0' + n % 10);
	while ((n /= 10) && d < 9);
	while (d)
		tail[len++] = digits[--d];
	int base = 8;
	while (base > 0 && sfn[base - 1] == ' ')
		base--;
	int at = base + len > 8 ? 8 - len : base;
	memcpy(sfn + at, tail, (size_t)len);
	for (int i = at + len; i < 8; i++)
		sfn[i] = ' ';
}

uint8_t short_name_checksum(const uint8_t sfn[11])
{
	uint8_t sum = 0;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sfn[i]);
	return sum;
}

/* The character the display form shows for byte i of a short name: an
 * OEM code page byte (0x05 in byte 0 stands for 0xE5) is not UTF-8, so '?'. */
static uint8_t shown(const uint8_t sfn[11], int i)
{
	return (i == 0 && sfn[0] == 0x05) || sfn[i] >= 0x80 ? '?' : sfn[i];
}

void short_name_display(const uint8_t sfn[11], uint8_t nt, char *out)
{
	int o = 0;

	for (int i = 0; i < 8 && sfn[i] != ' '; i++) {
		uint8_t c = shown(sfn, i);
		out[o++] = (char)((nt & NT_LOWER_BASE) && is_upper(c) ? c + 32 : c);
	}
	if (sfn[8] != ' ') {
		out[o++] = '.';
		for (int i = 8; i < 11 && sfn[i] != ' '; i++) {
			uint8_t c = shown(sfn, i);
			out[o++] = (char)((nt & NT_LOWER_EXT) && is_upper(c) ? c + 32 : c);
		}
	}
	out[o] = '\0';
}

int short_name_equal(const uint8_t sfn[11], const char *name)
{
	const uint8_t *p = (const uint8_t *)name;

	/* name_equal() against short_name_display(), a byte at a time and
	 * stopping at the first difference. */
	for (int i = 0; i < 8 && sfn[i] != ' '; i++) {
		uint8_t c = shown(sfn, i);
		if (c == 0)
			return *p == '\0'; /* a NUL ends the display form */
		if (upper(*p++) != upper(c))
			return 0;
	}
	if (sfn[8] != ' ') {
		if (*p++ != '.')
			return 0;
		for (int i = 8; i < 11 && sfn[i] != ' '; i++) {
			uint8_t c = shown(sfn, i);
			if (c == 0)
				return *p == '\0';
			if (upper(*p++) != upper(c))
				return 0;
		}
	}
	return *p == '\0';
}

int name_equal(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (upper((uint8_t)*a) != upper((uint8_t)*b))
			return 0;
	return *a == *b;
}

int name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || name[len - 1] == ' ' || name[len - 1] == '.')
		return 0;
	for (const uint8_t *p = (const uint8_t *)name; *p; p++)
		if (*p < 0x20 || strchr("/\\:*?\"<>|", *p))
			return 0;
	return 1;
}
