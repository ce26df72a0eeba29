/*
 * common/utf8.h - well-formed UTF-8 (Unicode 15, Table 3-7): no overlong
 * forms, no surrogates, nothing above U+10FFFF.  Paths, messages and log
 * lines are JSON strings, which must be UTF-8: bytes from a client are
 * checked (or made safe) with these before they go into one.
 */
#ifndef HZ_COMMON_UTF8_H
#define HZ_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the well-formed sequence at p, of which avail bytes may
 * be read (at least 1), or 0 if there is none there. */
size_t hz_utf8_len(const uint8_t *p, size_t avail);

/* Whether s[0..n) is well-formed UTF-8. */
bool hz_utf8_valid(const char *s, size_t n);

/* Replaces, in place, every byte of the NUL-terminated s that is not part
 * of a well-formed sequence with '?'.  Returns s. */
char *hz_utf8_sanitize(char *s);

#endif
