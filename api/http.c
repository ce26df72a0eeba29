/*
 * api/http.c - percent-decoding, path splitting, Range and Basic parsing.
 *
 * libmicrohttpd would unescape the whole path before the handler sees it,
 * losing the boundaries between segments; the server registers an
 * identity unescaper and every segment is decoded here instead.
 */
#include "api/http_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hash.h"

int http_pct_decode(char **out, const char *s, size_t n, int plus_space)
{
	char *d = malloc(n + 1);
	size_t i, j = 0;

	*out = NULL;
	if (!d)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < n ? hz_hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hz_hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				free(d);
				return hz_error_set(HZ_EINVAL, "bad percent-encoding");
			}
			c = (char)(hi << 4 | lo);
			if (!c) {
				free(d);
				return hz_error_set(HZ_EINVAL, "encoded NUL byte");
			}
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		} else if (!c) {
			free(d);
			return hz_error_set(HZ_EINVAL, "NUL byte");
		}
		d[j++] = c;
	}
	d[j] = '\0';
	*out = d;
	return 0;
}

void http_path_release(struct http_path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->seg[i]);
	free(p->seg);
	p->seg = NULL;
	p->n = 0;
}

int http_path_split(struct http_path *out, const char *raw)
{
	size_t len = strlen(raw), nseg = 1, k = 0;
	const char *p, *seg;
	int rc;

	out->seg = NULL;
	out->n = 0;
	if (len > HTTP_PATH_MAX)
		return hz_error_set(HZ_EINVAL, "path longer than %d bytes", HTTP_PATH_MAX);
	if (raw[0] != '/')
		return hz_error_set(HZ_EINVAL, "path does not start with '/'");
	if (len == 1)
		return 0;
	for (p = raw + 1; *p; p++)
		nseg += *p == '/';
	if (nseg > HTTP_SEGS_MAX)
		return hz_error_set(HZ_EINVAL, "path has more than %d segments", HTTP_SEGS_MAX);
	out->seg = calloc(nseg, sizeof(*out->seg));
	if (!out->seg)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (seg = p = raw + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		rc = http_pct_decode(&out->seg[k], seg, (size_t)(p - seg), 0);
		if (rc) {
			out->n = k;
			http_path_release(out);
			return rc;
		}
		k++;
		if (!*p)
			break;
		seg = p + 1;
	}
	out->n = k;
	return 0;
}

char *http_path_join(const struct http_path *p, size_t from)
{
	size_t n = 1, o = 0;
	char *s;

	for (size_t i = from; i < p->n; i++)
		n += strlen(p->seg[i]) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	for (size_t i = from; i < p->n; i++) {
		size_t l = strlen(p->seg[i]);

		if (i > from)
			s[o++] = '/';
		memcpy(s + o, p->seg[i], l);
		o += l;
	}
	s[o] = '\0';
	return s;
}

/* Parses decimal digits at *p (at least one); advances *p.  A number
 * past 2^64 - 1 is 2^64 - 1: as a position it is past any file. */
static bool parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

int http_range_parse(const char *hdr, uint64_t size, uint64_t *off, uint64_t *len)
{
	const char *p = hdr;
	uint64_t a, b;

	if (!p)
		return HTTP_RANGE_NONE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bytes=", 6))
		return HTTP_RANGE_NONE;
	p += 6;
	if (strchr(p, ','))
		return HTTP_RANGE_NONE;
	while (*p == ' ')
		p++;
	if (*p == '-') { /* the last n bytes */
		p++;
		if (!parse_u64(&p, &b))
			return HTTP_RANGE_INVALID;
		while (*p == ' ')
			p++;
		if (*p)
			return HTTP_RANGE_INVALID;
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*off = size - *len;
		return HTTP_RANGE_OK;
	}
	if (!parse_u64(&p, &a) || *p++ != '-')
		return HTTP_RANGE_INVALID;
	b = UINT64_MAX;
	if (*p >= '0' && *p <= '9') {
		if (!parse_u64(&p, &b) || b < a)
			return HTTP_RANGE_INVALID;
	}
	while (*p == ' ')
		p++;
	if (*p)
		return HTTP_RANGE_INVALID;
	if (a >= size)
		return HTTP_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return HTTP_RANGE_OK;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int http_basic_password(char *out, size_t outsz, const char *b64)
{
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0;
	char *colon;

	while (*b64 == ' ')
		b64++;
	for (; *b64 && *b64 != '='; b64++) {
		int v = b64val(*b64);

		if (v < 0)
			return hz_error_set(HZ_EINVAL, "bad base64 in Basic credentials");
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outsz)
				return hz_error_set(HZ_EINVAL, "Basic credentials too long");
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	out[o] = '\0';
	if (strlen(out) != o)
		return hz_error_set(HZ_EINVAL, "NUL in Basic credentials");
	colon = strchr(out, ':');
	if (!colon)
		return hz_error_set(HZ_EINVAL, "Basic credentials without ':'");
	memmove(out, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* The value of a character of the standard alphabet (RFC 4648 4), or -1. */
static int b64std(unsigned char c)
{
	if (c == '-' || c == '_')
		return -1;
	return b64val((char)c);
}

int http_b64_decode(uint8_t **out, size_t *out_len, const char *s, size_t n)
{
	size_t pad = 0, o = 0;
	uint8_t *buf;

	*out = NULL;
	*out_len = 0;
	if (n % 4)
		return hz_error_set(HZ_EINVAL, "content is not base64 (%zu characters, not a"
				    " multiple of 4)", n);
	if (n && s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i += 4) {
		uint32_t acc = 0;

		for (size_t k = 0; k < 4; k++) {
			int v = i + k >= n - pad ? 0 : b64std((unsigned char)s[i + k]);

			if (v < 0) {
				free(buf);
				return hz_error_set(HZ_EINVAL, "content is not base64 (byte %zu"
						    " is 0x%02x)", i + k,
						    (unsigned char)s[i + k]);
			}
			acc = acc << 6 | (uint32_t)v;
		}
		buf[o++] = (uint8_t)(acc >> 16);
		buf[o++] = (uint8_t)(acc >> 8);
		buf[o++] = (uint8_t)acc;
	}
	*out = buf;
	*out_len = o - pad;
	return 0;
}

int http_bool(const char *v)
{
	return v && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1") ||
		     !strcmp(v, "yes"));
}

char *http_pct_encode(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *d = malloc(3 * n + 1);

	if (!d)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
			d[o++] = (char)c;
		} else {
			d[o++] = '%';
			d[o++] = hex[c >> 4];
			d[o++] = hex[c & 15];
		}
	}
	d[o] = '\0';
	return d;
}
