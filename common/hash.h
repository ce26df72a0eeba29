/*
 * common/hash.h - SHA-256 (OpenSSL) and XXH3-64 (xxHash) wrappers.
 *
 * SHA-256 names files and tensors (the id hub clients use, and one a
 * malicious uploader cannot collide on purpose).  XXH3-64 checksums the
 * original bytes of every block.
 */
#ifndef HZ_COMMON_HASH_H
#define HZ_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HZ_SHA256_LEN 32
#define HZ_SHA256_HEX 65 /* 64 hex digits and a NUL */

struct hz_sha256 {
	void *md; /* SHA256_CTX */
};

/* Initialises ctx; returns 0 or HZ_ENOMEM.  Release with hz_sha256_release. */
int hz_sha256_init(struct hz_sha256 *ctx);
void hz_sha256_update(struct hz_sha256 *ctx, const void *p, size_t n);
/* Writes the digest to out and resets ctx for another message. */
void hz_sha256_final(struct hz_sha256 *ctx, uint8_t out[HZ_SHA256_LEN]);
void hz_sha256_release(struct hz_sha256 *ctx);
/* One-shot digest. */
void hz_sha256(uint8_t out[HZ_SHA256_LEN], const void *p, size_t n);

#define HZ_SHA1_LEN 20

/* One-shot SHA-1: only for git object ids the hub API reports (the oid of
 * a file's LFS pointer), never for integrity. */
void hz_sha1(uint8_t out[HZ_SHA1_LEN], const void *p, size_t n);

/* XXH3-64 of p[0..n) with seed 0. */
uint64_t hz_xxh3(const void *p, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void hz_hex(char *out, const uint8_t *p, size_t n);
/* The value of one hex digit (either case), or -1. */
int hz_hexval(char c);
/* Parses exactly 2n hex digits (either case) into out; returns 0 or HZ_EINVAL. */
int hz_unhex(uint8_t *out, const char *hex, size_t n);

#endif
