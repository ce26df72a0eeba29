/*
 * Fuzz target for the base64 decoders of api/http.c: http_b64_decode (the
 * "content" of a file in the hub's NDJSON commit) and http_basic_password
 * (Authorization: Basic).  The input is used three ways:
 *   - as base64 text: http_b64_decode accepts it exactly when it is
 *     standard, padded base64 (checked against OpenSSL's encoder: the
 *     decoded bytes encode back to the input, up to the unused bits of a
 *     padded last group), and never reads past it (its own allocation);
 *   - as bytes: their OpenSSL encoding decodes back to them;
 *   - as Basic credentials: the password, if any, is a NUL-terminated
 *     string inside the output buffer.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/base64.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"
#include "common/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_base64: %s\n", what);
	abort();
}

/* Standard base64 with padding, as OpenSSL writes it (n + 1 bytes out). */
static char *encode(const uint8_t *p, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);

	if (s)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static int is_b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Whether s[0..n) is padded standard base64 (up to the unused bits). */
static int valid(const char *s, size_t n)
{
	size_t pad = n && s[n - 1] == '=' ? (n > 1 && s[n - 2] == '=' ? 2 : 1) : 0;

	if (n % 4)
		return 0;
	for (size_t i = 0; i < n - pad; i++)
		if (!is_b64char(s[i]))
			return 0;
	return 1;
}

static void as_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1), *again;
	uint8_t *out = NULL;
	size_t n = 0;
	int rc;

	if (!s)
		return;
	memcpy(s, data, size);
	rc = http_b64_decode(&out, &n, s, size);
	if ((rc == 0) != valid(s, size))
		fail(rc ? "valid base64 refused" : "invalid base64 accepted");
	if (rc) {
		if (rc != HZ_EINVAL || out || n)
			fail("a refusal with output");
		free(s);
		return;
	}
	if (n != size / 4 * 3 - (size && s[size - 1] == '=') - (size > 1 && s[size - 2] == '='))
		fail("a decoded length that does not follow from the input");
	again = encode(out, n);
	if (again) {
		/* the same but for the last character before the padding,
		 * whose unused bits the encoder zeroes */
		size_t pad = size && s[size - 1] == '=' ? 1 + (s[size - 2] == '=') : 0;
		size_t same = pad ? size - pad - 1 : size;

		if (strlen(again) != size || memcmp(again, s, same) ||
		    memcmp(again + size - pad, s + size - pad, pad))
			fail("decoded bytes that do not encode back to the input");
	}
	free(again);
	free(out);
	free(s);
}

static void as_bytes(const uint8_t *data, size_t size)
{
	char *s = encode(data, size);
	uint8_t *out = NULL;
	size_t n = 0;

	if (!s)
		return;
	if (http_b64_decode(&out, &n, s, strlen(s)))
		fail("OpenSSL's encoding refused");
	if (n != size || (n && memcmp(out, data, n)))
		fail("OpenSSL's encoding decoded to other bytes");
	free(out);
	free(s);
}

static void as_basic(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[64];

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(out, 'x', sizeof(out));
	if (!http_basic_password(out, sizeof(out), s) && !memchr(out, '\0', sizeof(out)))
		fail("a Basic password without its NUL");
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_text(data, size);
	as_bytes(data, size);
	as_basic(data, size);
	return 0;
}
