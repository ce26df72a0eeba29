/*
 * api/http_int.h - HTTP details with no server in them: percent-decoding
 * of path segments and query values, Range headers, Basic credentials.
 * Pure functions, unit-tested in tests/unit/api/.
 */
#ifndef HZ_API_HTTP_INT_H
#define HZ_API_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

/* Longest raw request path accepted (before decoding). */
#define HTTP_PATH_MAX 8192
#define HTTP_SEGS_MAX 256

/*
 * Decodes %XX escapes of s[0..n) into a malloc'd, NUL-terminated *out
 * (with plus_space, '+' becomes ' ', as in query strings).  HZ_EINVAL for
 * a '%' not followed by two hex digits or a decoded NUL byte; HZ_ENOMEM.
 */
int http_pct_decode(char **out, const char *s, size_t n, int plus_space);

/* A request path split at '/' and each segment decoded on its own, so an
 * encoded "%2F" stays inside its segment (refs%2Fpr%2F1 is one revision). */
struct http_path {
	char **seg;
	size_t n;
};

/*
 * Splits the raw path (which must start with '/') into decoded segments:
 * "/a/b%2Fc/" gives "a", "b/c", "".  A path of just "/" has no segments.
 * HZ_EINVAL for a bad escape, a NUL, a path over HTTP_PATH_MAX bytes or
 * HTTP_SEGS_MAX segments.  Release with http_path_release.
 */
int http_path_split(struct http_path *out, const char *raw);
void http_path_release(struct http_path *p);

/* seg[from..n) joined with '/' (malloc'd), or NULL when out of memory.
 * "" when from >= n. */
char *http_path_join(const struct http_path *p, size_t from);

enum {
	HTTP_RANGE_NONE = 0,	/* no usable Range: send the whole file */
	HTTP_RANGE_OK = 1,	/* send [*off, *off + *len) as 206 */
	HTTP_RANGE_UNSATISFIABLE = 2, /* 416 with Content-Range: bytes STAR/size */
	HTTP_RANGE_INVALID = 3,	/* a bytes range that does not parse: 416 too */
};

/*
 * Interprets a Range header (NULL if absent) against a file of size bytes:
 * "bytes=a-b" (b clamped to the end), "bytes=a-", "bytes=-n" (the last n
 * bytes, all of them if n >= size); numbers past 2^64 - 1 count as
 * 2^64 - 1.  Another unit, or several ranges (',' anywhere), is ignored,
 * as RFC 9110 14.2 lets a server do: HTTP_RANGE_NONE, the whole file.  A
 * bytes range that does not parse (no digits, junk, b < a) is
 * HTTP_RANGE_INVALID: rejected (RFC 9110 allows that too) rather than
 * answered with a whole file the client did not ask for.  A start at or
 * past the end, or "-0", is HTTP_RANGE_UNSATISFIABLE.
 */
int http_range_parse(const char *hdr, uint64_t size, uint64_t *off, uint64_t *len);

/*
 * The password of an "Authorization: Basic base64(user:password)" value
 * (the part after "Basic "), decoded into out (outsz bytes, NUL-terminated).
 * HZ_EINVAL if it does not decode or has no ':'.
 */
int http_basic_password(char *out, size_t outsz, const char *b64);

/*
 * Percent-encodes s for a URL (malloc'd): every byte but the unreserved
 * ones (RFC 3986), and '/' too unless keep_slash.  NULL when out of memory.
 */
char *http_pct_encode(const char *s, int keep_slash);

/*
 * Decodes s[0..n), standard base64 (RFC 4648 4: A-Z a-z 0-9 + /, padded
 * with '=' to a multiple of 4, no line breaks), into a malloc'd *out of
 * *out_len bytes.  HZ_EINVAL for another length or character, or an '='
 * anywhere but in the last two places (the bits a short last group leaves
 * over are not checked); HZ_ENOMEM.
 */
int http_b64_decode(uint8_t **out, size_t *out_len, const char *s, size_t n);

/* true for "true", "True", "1", "yes"; false otherwise (and for NULL). */
int http_bool(const char *v);

#endif
