#include "common/hash.h"
#include "common/error.h"

#include <openssl/evp.h>
#include <xxhash.h>

int hz_sha256_init(struct hz_sha256 *ctx)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		ctx->md = NULL;
		return hz_error_set(HZ_ENOMEM, "cannot initialise sha256");
	}
	ctx->md = md;
	return 0;
}

void hz_sha256_update(struct hz_sha256 *ctx, const void *p, size_t n)
{
	if (n)
		EVP_DigestUpdate(ctx->md, p, n);
}

void hz_sha256_final(struct hz_sha256 *ctx, uint8_t out[HZ_SHA256_LEN])
{
	unsigned int len = HZ_SHA256_LEN;

	EVP_DigestFinal_ex(ctx->md, out, &len);
	EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL);
}

void hz_sha256_release(struct hz_sha256 *ctx)
{
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
}

void hz_sha256(uint8_t out[HZ_SHA256_LEN], const void *p, size_t n)
{
	unsigned int len = HZ_SHA256_LEN;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
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

static int hexval(char c)
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
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return HZ_EINVAL;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return HZ_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[2 * n] == '\0' ? 0 : HZ_EINVAL;
}
