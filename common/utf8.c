/*
 * common/utf8.c - UTF-8 well-formedness (common/utf8.h).
 */
#include "common/utf8.h"

#include <string.h>

size_t hz_utf8_len(const uint8_t *p, size_t avail)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len > avail || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool hz_utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;

	for (size_t i = 0, k; i < n; i += k) {
		k = hz_utf8_len(p + i, n - i);
		if (!k)
			return false;
	}
	return true;
}

char *hz_utf8_sanitize(char *s)
{
	uint8_t *p = (uint8_t *)s;
	size_t n = strlen(s);

	for (size_t i = 0, k; i < n; i += k) {
		k = hz_utf8_len(p + i, n - i);
		if (!k) {
			p[i] = '?';
			k = 1;
		}
	}
	return s;
}
