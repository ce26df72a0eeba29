/*
 * Fuzz target for http_range_parse (api/http.c).  The first 8 input bytes
 * are the file size (little-endian; the top byte is masked by the next one
 * so that small sizes, where the clamping is, come up often), the rest is
 * the Range header, NUL-terminated in its own allocation so that ASan sees
 * any read past it.  Checked:
 *   - a 206 range lies inside the file and is not empty;
 *   - the answer agrees with an independent reading of RFC 9110 14.1.2
 *     (written differently on purpose: sscanf-free, one pass per form);
 *   - a 206 range, printed back as "bytes=A-B", parses to itself.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/http_range.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *hdr, uint64_t fsize)
{
	fprintf(stderr, "fuzz_http_range: %s (Range '%s', size %llu)\n", what, hdr,
		(unsigned long long)fsize);
	abort();
}

/* Digits at s[*i..]: their value, saturated; -1 when there are none. */
static int digits(const char *s, size_t *i, uint64_t *v)
{
	size_t start = *i;

	*v = 0;
	while (isdigit((unsigned char)s[*i])) {
		unsigned d = (unsigned)(s[*i] - '0');

		*v = *v > (UINT64_MAX - d) / 10 ? UINT64_MAX : *v * 10 + d;
		(*i)++;
	}
	return *i > start ? 0 : -1;
}

/* The reference: the same contract as http_int.h states it. */
static int reference(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	size_t i = 0;
	uint64_t a, b = UINT64_MAX;
	int suffix;

	while (h[i] == ' ' || h[i] == '\t')
		i++;
	if (strncasecmp(h + i, "bytes=", 6))
		return HTTP_RANGE_NONE;
	i += 6;
	if (strchr(h + i, ','))
		return HTTP_RANGE_NONE;
	while (h[i] == ' ')
		i++;
	suffix = h[i] == '-';
	if (suffix) {
		i++;
		if (digits(h, &i, &b))
			return HTTP_RANGE_INVALID;
	} else {
		if (digits(h, &i, &a) || h[i++] != '-')
			return HTTP_RANGE_INVALID;
		if (isdigit((unsigned char)h[i]) && (digits(h, &i, &b), b < a))
			return HTTP_RANGE_INVALID;
	}
	while (h[i] == ' ')
		i++;
	if (h[i])
		return HTTP_RANGE_INVALID;
	if (suffix) {
		if (!b || !size)
			return HTTP_RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*off = size - *len;
		return HTTP_RANGE_OK;
	}
	if (a >= size)
		return HTTP_RANGE_UNSATISFIABLE;
	*off = a;
	*len = (b < size ? b : size - 1) - a + 1;
	return HTTP_RANGE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t fsize = 0, off = 7, len = 7, roff = 9, rlen = 9, off2, len2;
	char *hdr, again[64];
	int rc, ref;

	if (size < 8)
		return 0;
	for (int k = 7; k >= 0; k--)
		fsize = fsize << 8 | data[k];
	if (data[7] & 0x80) /* mostly small files */
		fsize &= 0xffff;
	hdr = malloc(size - 8 + 1);
	if (!hdr)
		return 0;
	memcpy(hdr, data + 8, size - 8);
	hdr[size - 8] = '\0';

	rc = http_range_parse(hdr, fsize, &off, &len);
	ref = reference(hdr, fsize, &roff, &rlen);
	if (rc != ref)
		fail("disagrees with the reference", hdr, fsize);
	if (rc == HTTP_RANGE_OK) {
		if (!len || off >= fsize || len > fsize - off)
			fail("a range outside the file", hdr, fsize);
		if (off != roff || len != rlen)
			fail("another range than the reference", hdr, fsize);
		snprintf(again, sizeof(again), "bytes=%llu-%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
		if (http_range_parse(again, fsize, &off2, &len2) != HTTP_RANGE_OK ||
		    off2 != off || len2 != len)
			fail("a range that does not parse back", hdr, fsize);
	} else if (off != 7 || len != 7) {
		fail("outputs written without a range", hdr, fsize);
	}
	free(hdr);
	return 0;
}
