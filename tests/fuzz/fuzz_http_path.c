/*
 * Fuzz target for request path decoding (api/http.c) and the checks the
 * router applies to what comes out of it (store/store.c).  The input, up
 * to its first NUL, is a raw request path as libmicrohttpd hands it over
 * (no unescaping).  Checked:
 *   - http_path_split succeeds exactly when a reference decoder (written
 *     independently here) finds a path starting with '/', within
 *     HTTP_PATH_MAX bytes and HTTP_SEGS_MAX segments, with every %XX
 *     escape complete and no encoded NUL; and then gives the same segments;
 *   - http_path_join of the segments is as long as they are with their
 *     separators, and a path store_path_check accepts has no empty, "." or
 *     ".." segment, no backslash or control byte (what could escape a
 *     directory or fool a filesystem), whatever the encoding was;
 *   - every segment survives http_pct_encode + http_pct_decode;
 *   - http_pct_decode of the whole input as a query value (with '+' as
 *     space) agrees with the reference;
 *   - repo, ref and path checks of a decoded segment never crash.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/http_path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"
#include "common/error.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *raw)
{
	fprintf(stderr, "fuzz_http_path: %s ('%.200s')\n", what, raw);
	abort();
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..n) into out (n + 1 bytes); -1 for a bad escape or NUL. */
static int ref_decode(char *out, const char *s, size_t n, int plus_space)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -1;
			out[o] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			if (!out[o++])
				return -1;
			i += 2;
		} else {
			out[o++] = plus_space && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return 0;
}

/* What store_path_check must ensure, checked segment by segment. */
static void check_safe_path(const char *path, const char *raw)
{
	const char *seg = path;

	if (!*path || strlen(path) > 4096)
		fail("an accepted path of a bad length", raw);
	for (const char *p = path;; p++) {
		if (*p == '/' || !*p) {
			size_t l = (size_t)(p - seg);

			if (!l || (l == 1 && seg[0] == '.') ||
			    (l == 2 && seg[0] == '.' && seg[1] == '.'))
				fail("an accepted path with an empty, . or .. segment", raw);
			if (!*p)
				break;
			seg = p + 1;
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
			fail("an accepted path with a control byte or backslash", raw);
		}
	}
}

static void check_split(const char *raw, size_t n)
{
	struct http_path p;
	size_t nseg = 1, want = 0, k = 0;
	int ok = raw[0] == '/' && n <= HTTP_PATH_MAX, rc;
	char *ref = malloc(n + 1), *joined;
	const char *seg;

	if (!ref)
		return;
	for (size_t i = 1; i < n; i++)
		nseg += raw[i] == '/';
	if (n <= 1 || nseg > HTTP_SEGS_MAX)
		ok = ok && n == 1;
	for (seg = raw + 1; ok && n > 1;) {
		const char *e = strchr(seg, '/');
		size_t l = e ? (size_t)(e - seg) : strlen(seg);

		if (ref_decode(ref, seg, l, 0))
			ok = 0;
		if (!e)
			break;
		seg = e + 1;
	}
	hz_error_clear();
	rc = http_path_split(&p, raw);
	if ((rc == 0) != ok)
		fail(ok ? "a good path refused" : "a bad path accepted", raw);
	if (rc) {
		if (rc != HZ_EINVAL || !*hz_error_msg() || p.n || p.seg)
			fail("a refusal without HZ_EINVAL, a message, or an empty result", raw);
		free(ref);
		return;
	}
	if (p.n != (n == 1 ? 0 : nseg))
		fail("a wrong number of segments", raw);
	for (seg = raw + 1; k < p.n; k++) {
		const char *e = strchr(seg, '/');
		size_t l = e ? (size_t)(e - seg) : strlen(seg);
		char *enc, *dec = NULL;

		ref_decode(ref, seg, l, 0);
		if (strcmp(ref, p.seg[k]))
			fail("a segment decoded differently", raw);
		want += strlen(p.seg[k]) + (k > 0);
		enc = http_pct_encode(p.seg[k], 0);
		if (enc) {
			if (strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789-_.~%") != strlen(enc))
				fail("an encoding with reserved characters", raw);
			if (http_pct_decode(&dec, enc, strlen(enc), 0) || strcmp(dec, p.seg[k]))
				fail("a segment that does not survive encoding", raw);
		}
		free(enc);
		free(dec);
		/* the router's checks of captured segments */
		store_repo_name_check(p.seg[k]);
		store_ref_name_check(p.seg[k]);
		if (!store_path_check(p.seg[k]))
			check_safe_path(p.seg[k], raw);
		seg = e ? e + 1 : seg + l;
	}
	joined = http_path_join(&p, 0);
	if (joined) {
		if (strlen(joined) != want)
			fail("a joined path of the wrong length", raw);
		if (!store_path_check(joined))
			check_safe_path(joined, raw);
		free(joined);
	}
	if (p.n >= 2) {
		joined = http_path_join(&p, 2);
		if (joined && !store_path_check(joined))
			check_safe_path(joined, raw);
		free(joined);
	}
	joined = http_path_join(&p, p.n);
	if (joined && *joined)
		fail("joining past the end is not empty", raw);
	free(joined);
	http_path_release(&p);
	free(ref);
}

static void check_query(const char *raw, size_t n)
{
	char *ref = malloc(n + 1), *out = NULL;
	int want, rc;

	if (!ref)
		return;
	want = ref_decode(ref, raw, n, 1);
	rc = http_pct_decode(&out, raw, n, 1);
	if ((rc == 0) != (want == 0) || (!rc && strcmp(out, ref)))
		fail("query decoding disagrees with the reference", raw);
	if (rc && out)
		fail("a refused decoding left output", raw);
	free(out);
	free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = malloc(size + 1);
	size_t n;

	if (!raw)
		return 0;
	memcpy(raw, data, size);
	raw[size] = '\0';
	n = strlen(raw);
	check_split(raw, n);
	check_query(raw, n);
	free(raw);
	return 0;
}
