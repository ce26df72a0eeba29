/*
 * tests/unit/delta/testdata.h - deterministic test data for the block
 * coder: a fixed PRNG, gaussian weights in every float dtype, and
 * skewed or Markov symbol streams.  Shared by test_delta.c and
 * gen_fixtures.c, so the fixtures can be regenerated bit for bit.
 */
#ifndef HZ_TESTS_DELTA_TESTDATA_H
#define HZ_TESTS_DELTA_TESTDATA_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"

struct td_rng {
	uint64_t s;
};

static inline uint64_t td_next(struct td_rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static inline double td_unit(struct td_rng *r)
{
	return (double)(td_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double td_gauss(struct td_rng *r)
{
	double u = td_unit(r) + 1e-300, v = td_unit(r);

	return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static inline uint32_t td_f32_bits(float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	return x;
}

/* Round to nearest even, NaN kept quiet. */
static inline uint16_t td_bf16(float f)
{
	uint32_t x = td_f32_bits(f);

	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(x >> 16 | 0x40);
	return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
}

/* IEEE half, round to nearest even, with subnormals, Inf and NaN. */
static inline uint16_t td_f16(float f)
{
	uint32_t x = td_f32_bits(f), s = x >> 16 & 0x8000, m = x & 0x7fffff;
	int e = (int)(x >> 23 & 0xff) - 127 + 15;

	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(s | 0x7e00);
	if (e >= 31)
		return (uint16_t)(s | 0x7c00);
	if (e <= 0) {
		uint32_t sh, r;

		if (e < -10)
			return (uint16_t)s;
		m |= 0x800000;
		sh = (uint32_t)(14 - e);
		r = m >> sh;
		if ((m >> (sh - 1) & 1) && ((m & ((1u << (sh - 1)) - 1)) || (r & 1)))
			r++;
		return (uint16_t)(s | r);
	}
	{
		uint32_t r = (uint32_t)e << 10 | m >> 13;

		if ((m & 0x1000) && ((m & 0xfff) || (r & 1)))
			r++;
		return (uint16_t)(s | r);
	}
}

/* n elements of dtype dt, N(0, sigma^2) for floats, into dst. */
static inline void td_gauss_fill(uint8_t *dst, size_t n, int dt, double sigma,
				 struct td_rng *r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		double g = td_gauss(r) * sigma;
		float f = (float)g;

		switch (dt) {
		case HZ_DT_F64:
			memcpy(dst + 8 * i, &g, 8);
			break;
		case HZ_DT_F32:
			hz_store32(dst + 4 * i, td_f32_bits(f));
			break;
		case HZ_DT_F16:
			hz_store16(dst + 2 * i, td_f16(f));
			break;
		case HZ_DT_BF16:
			hz_store16(dst + 2 * i, td_bf16(f));
			break;
		default:
			/* 1-byte floats and others: a plausible skewed byte */
			dst[i] = (uint8_t)(td_bf16(f) >> 8);
			break;
		}
	}
}

static inline void td_random_fill(uint8_t *dst, size_t len, struct td_rng *r)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (uint8_t)(td_next(r) >> 56);
}

/* Bytes from a small skewed alphabet: a geometric-like law on k symbols. */
static inline uint8_t td_skewed(struct td_rng *r, unsigned k)
{
	unsigned s = 0;

	while (s + 1 < k && (td_next(r) >> 62) != 0)
		s++;
	return (uint8_t)s;
}

#endif
