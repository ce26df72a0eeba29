/*
 * common/bytes.h - little-endian loads and stores, overflow-checked sizes.
 */
#ifndef HZ_COMMON_BYTES_H
#define HZ_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t hz_load16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t hz_load32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static inline uint64_t hz_load64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)hz_load32(b) | (uint64_t)hz_load32(b + 4) << 32;
}

static inline void hz_store16(void *p, uint16_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void hz_store32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void hz_store64(void *p, uint64_t v)
{
	hz_store32(p, (uint32_t)v);
	hz_store32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* *out = a + b; returns true on overflow (as git's unsigned_add_overflows). */
static inline bool hz_add_overflow(uint64_t *out, uint64_t a, uint64_t b)
{
	return __builtin_add_overflow(a, b, out);
}

/* *out = a * b; returns true on overflow. */
static inline bool hz_mul_overflow(uint64_t *out, uint64_t a, uint64_t b)
{
	return __builtin_mul_overflow(a, b, out);
}

#endif
