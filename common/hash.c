/*
 * SHA-256 goes through OpenSSL's low-level SHA256_* functions rather than
 * EVP: the first EVP digest of a process loads the provider tables, which
 * costs ~1.5 ms of CPU, a tenth of what a `hubzip restore` of a small repo
 * spends in all.  Both use the CPU's SHA extensions for the hashing itself.
 * The functions are deprecated in OpenSSL 3 but present; if they go, this
 * file is the only one to change.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/hash.h"
#include "common/error.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <xxhash.h>

int hz_sha256_init(struct hz_sha256 *ctx)
{
	SHA256_CTX *c = malloc(sizeof(*c));

	ctx->md = c;
	if (!c)
		return hz_error_set(HZ_ENOMEM, "cannot initialise sha256");
	SHA256_Init(c);
	return 0;
}

void hz_sha256_update(struct hz_sha256 *ctx, const void *p, size_t n)
{
	if (n)
		SHA256_Update(ctx->md, p, n);
}

void hz_sha256_final(struct hz_sha256 *ctx, uint8_t out[HZ_SHA256_LEN])
{
	SHA256_Final(out, ctx->md);
	SHA256_Init(ctx->md);
}

void hz_sha1(uint8_t out[HZ_SHA1_LEN], const void *p, size_t n)
{
	SHA1(p, n, out);
}

void hz_sha256_release(struct hz_sha256 *ctx)
{
	free(ctx->md);
	ctx->md = NULL;
}

void hz_sha256(uint8_t out[HZ_SHA256_LEN], const void *p, size_t n)
{
	SHA256(p, n, out);
}

uint64_t hz_xxh3(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

void hz_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int hz_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hz_unhex(uint8_t *out, const char *hex, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = hz_hexval(hex[2 * i]), lo;

		if (hi < 0)
			return HZ_EINVAL;
		lo = hz_hexval(hex[2 * i + 1]);
		if (lo < 0)
			return HZ_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : HZ_EINVAL;
}
