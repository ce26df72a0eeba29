/*
 * Unit tests of the XOR codec (codec 3, delta/xor.c) and of the sparse
 * plane coder it may use: round trips of every supported dtype pair on
 * fine-tune-like data, identical blocks and exact casts (which must cost
 * almost nothing), the rounding of an F32 base to BF16/F16 on every class
 * of value, bases shorter and longer than the block, mismatched bases,
 * unsupported pairs, damaged blocks and hand-made sparse planes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/hash.h"
#include "delta/delta.h"
#include "delta/delta_int.h"
#include "unit/delta/testdata.h"

/* The codec-3 payload: base dtype, nb, transform, plane count, records. */
#define XOR_HDR 7
#define NMAX (DELTA_BLOCK_MAX / 2)

struct bufs {
	struct delta_ctx *ctx;
	uint8_t *src, *base, *enc, *enc2, *dec;
};

static const int pairs[][2] = {
	{ HZ_DT_F64, HZ_DT_F64 },     { HZ_DT_F32, HZ_DT_F32 },
	{ HZ_DT_F16, HZ_DT_F16 },     { HZ_DT_BF16, HZ_DT_BF16 },
	{ HZ_DT_F8_E4M3, HZ_DT_F8_E4M3 }, { HZ_DT_F8_E5M2, HZ_DT_F8_E5M2 },
	{ HZ_DT_BF16, HZ_DT_F32 },    { HZ_DT_F16, HZ_DT_F32 },
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

static int setup(void **state)
{
	struct bufs *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	b->ctx = delta_ctx_new(0);
	b->src = malloc(DELTA_BLOCK_MAX + 64);
	b->base = malloc(2 * DELTA_BLOCK_MAX + 64);
	b->enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	b->enc2 = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	b->dec = malloc(DELTA_BLOCK_MAX + 64);
	if (!b->ctx || !b->src || !b->base || !b->enc || !b->enc2 || !b->dec)
		return -1;
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	struct bufs *b = *state;

	delta_rans_simd(true);
	delta_ctx_free(b->ctx);
	free(b->src);
	free(b->base);
	free(b->enc);
	free(b->enc2);
	free(b->dec);
	free(b);
	return 0;
}

/* F8 E4M3 (bias 7, no Inf, max 448), round to nearest. */
static uint8_t f8e4m3(double v)
{
	uint8_t s = v < 0 ? 0x80 : 0;
	double a = fabs(v), q;
	int e;

	if (a >= 448)
		return s | 0x7e;
	frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
	if (a == 0 || e - 1 + 7 <= 0) {
		q = nearbyint(a * 512); /* subnormals: units of 2^-9 */
		return (uint8_t)(s | (uint8_t)q);
	}
	q = nearbyint((ldexp(a, 1 - e) - 1) * 8);
	if (q == 8) {
		q = 0;
		e++;
	}
	if (e - 1 + 7 > 15)
		return s | 0x7e;
	return (uint8_t)(s | (e - 1 + 7) << 3 | (int)q);
}

/* F8 E5M2: the F16 value rounded to its top byte, to nearest even. */
static uint8_t f8e5m2(double v)
{
	uint16_t h = td_f16((float)v);

	if ((h & 0x7fff) > 0x7c00)
		return (uint8_t)(h >> 8 | 2);
	return (uint8_t)((h + 0x7f + (h >> 8 & 1)) >> 8);
}

/* Element i of p, of dtype dt, set to v rounded. */
static void put(uint8_t *p, size_t i, int dt, double v)
{
	switch (dt) {
	case HZ_DT_F64:
		memcpy(p + 8 * i, &v, 8);
		break;
	case HZ_DT_F32:
		hz_store32(p + 4 * i, td_f32_bits((float)v));
		break;
	case HZ_DT_F16:
		hz_store16(p + 2 * i, td_f16((float)v));
		break;
	case HZ_DT_BF16:
		hz_store16(p + 2 * i, td_bf16((float)v));
		break;
	case HZ_DT_F8_E4M3:
		p[i] = f8e4m3(v);
		break;
	default:
		p[i] = f8e5m2(v);
		break;
	}
}

/*
 * n base elements of bdt, N(0, 0.02^2), and n fine-tuned elements of dt:
 * each base value times (1 + rel * N(0, 1)), rounded.
 */
static void make_pair(uint8_t *src, uint8_t *base, size_t n, int dt, int bdt,
		      double rel, struct td_rng *r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		double w = td_gauss(r) * 0.02, v = w * (1 + rel * td_gauss(r));

		if (bdt == HZ_DT_F32)
			w = (float)w;
		put(base, i, bdt, w);
		put(src, i, dt, v);
	}
}

/* 1-byte floats change only with larger steps. */
static double rel_for(int dt)
{
	return hz_dtype_size(dt) == 1 ? 0.1 : 1e-3;
}

/*
 * Encodes src (len bytes of dt) against base (blen bytes of bdt), checks
 * the header and plain_len, decodes with both rANS decoders, compares,
 * checks that nothing is written past the output and that a second
 * encode is identical, and that a codec-3 block does not decode without
 * its base.  Returns the encoded size; *used and *plain as the encoder
 * said.
 */
static size_t xround_trip(struct bufs *b, const uint8_t *src, size_t len,
			  int dt, const uint8_t *base, size_t blen, int bdt,
			  int *used, size_t *plain)
{
	struct delta_block_info bi;
	size_t elen = 0, elen2 = 0, plen = 0, plen2 = 0, dlen = 0, pl = 0;
	int u = -1, u2 = -1, simd;

	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &u, src, len, dt, base, blen,
						 bdt),
			 0);
	assert_true(elen <= delta_block_bound(len));
	assert_true(elen <= plen);
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen), 0);
	assert_int_equal(bi.raw_len, len);
	assert_int_equal(bi.payload_len + DELTA_BLOCK_HDR, elen);
	assert_int_equal(bi.dtype, dt);
	assert_true(bi.checksum == hz_xxh3(src, len));
	assert_int_equal(u, bi.codec == DELTA_CODEC_XOR);
	if (u) {
		assert_int_equal(b->enc[DELTA_BLOCK_HDR], bdt);
		assert_true(elen < plen);
	} else {
		assert_int_equal(elen, plen);
	}
	/* plain_len is what delta_block_encode writes */
	assert_int_equal(delta_block_encode(b->ctx, b->enc2, &pl, src, len, dt),
			 0);
	assert_int_equal(pl, plen);
	for (simd = 0; simd < 2; simd++) {
		delta_rans_simd(simd);
		memset(b->dec, 0xa5, len + 64);
		if (delta_block_decode_base(b->ctx, b->dec, len + 64, &dlen,
					    b->enc, elen, base, blen, bdt))
			fail_msg("decode: %s", hz_error_msg());
		assert_int_equal(dlen, len);
		assert_memory_equal(b->dec, src, len);
		assert_int_equal(b->dec[len], 0xa5);
	}
	delta_rans_simd(true);
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc2, &elen2,
						 &plen2, &u2, src, len, dt,
						 base, blen, bdt),
			 0);
	assert_int_equal(elen2, elen);
	assert_int_equal(plen2, plen);
	assert_int_equal(u2, u);
	assert_memory_equal(b->enc2, b->enc, elen);
	if (u) {
		assert_int_equal(delta_block_decode(b->ctx, b->dec, len + 64,
						    &dlen, b->enc, elen),
				 HZ_ECORRUPT);
		assert_non_null(strstr(hz_error_msg(), "needs its base"));
	}
	if (used)
		*used = u;
	if (plain)
		*plain = plen;
	return elen;
}

/*
 * The plane coders of the codec-3 block in blk, as ids into pc (at most
 * DELTA_PLANES_MAX), and the first coded byte of each into c; returns the
 * plane count.
 */
static int xor_coders(const uint8_t *blk, int *pc, int *c)
{
	const uint8_t *p = blk + DELTA_BLOCK_HDR;
	size_t pos = XOR_HDR;
	int k, np = p[6];

	assert_int_equal(blk[4], DELTA_CODEC_XOR);
	for (k = 0; k < np; k++) {
		pc[k] = p[pos];
		c[k] = hz_load32(p + pos + 1) ? p[pos + 5] : -1;
		pos += 5 + hz_load32(p + pos + 1);
	}
	assert_int_equal(pos, hz_load32(blk + 12));
	return np;
}

/* True if every plane of the codec-3 block is const 0: an all-zero XOR. */
static bool all_zero_xor(const uint8_t *blk)
{
	int pc[DELTA_PLANES_MAX], c[DELTA_PLANES_MAX], np, k;

	if (blk[4] != DELTA_CODEC_XOR)
		return false;
	np = xor_coders(blk, pc, c);
	for (k = 0; k < np; k++)
		if (pc[k] != DELTA_PC_CONST || c[k] != 0)
			return false;
	return true;
}

static void test_supported(void **state)
{
	int dt, bdt, want;
	size_t k;

	(void)state;
	for (dt = -1; dt <= HZ_DT_COUNT; dt++) {
		for (bdt = -1; bdt <= HZ_DT_COUNT; bdt++) {
			want = 0;
			for (k = 0; k < NPAIRS; k++)
				want |= pairs[k][0] == dt && pairs[k][1] == bdt;
			assert_int_equal(!!delta_xor_supported(dt, bdt), want);
		}
	}
}

/* Fine-tune-like pairs of every supported kind and many lengths. */
static void test_finetune_pairs(void **state)
{
	static const size_t counts[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31,
					 1000, 4097, 65537 };
	struct bufs *b = *state;
	struct td_rng r = { 101 };
	size_t k, c;

	for (k = 0; k < NPAIRS; k++) {
		int dt = pairs[k][0], bdt = pairs[k][1];
		size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt);

		for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			size_t n = counts[c];

			make_pair(b->src, b->base, n, dt, bdt, rel_for(dt), &r);
			xround_trip(b, b->src, n * es, dt, b->base, n * bes,
				    bdt, NULL, NULL);
		}
	}
}

/* Full blocks: the XOR beats plain coding by a good margin. */
static void test_beats_plain(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 202 };
	size_t k;

	for (k = 0; k < NPAIRS; k++) {
		int dt = pairs[k][0], bdt = pairs[k][1], used;
		size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt);
		size_t n = (bes > es ? DELTA_BLOCK_MAX / bes : DELTA_BLOCK_MAX / es);
		size_t elen, plen;
		double ratio;

		make_pair(b->src, b->base, n, dt, bdt, rel_for(dt), &r);
		elen = xround_trip(b, b->src, n * es, dt, b->base, n * bes, bdt,
				   &used, &plen);
		ratio = (double)elen / (double)plen;
		print_message("  %-7s of %-7s xor %7zu plain %7zu raw %7zu: "
			      "xor/plain %.3f\n",
			      hz_dtype_name(dt), hz_dtype_name(bdt), elen, plen,
			      n * es, ratio);
		assert_true(used);
		assert_true(ratio < (es == 1 ? 0.9 : 0.8) + (es == 8) * 0.05);
	}
}

/* A fine-tune identical to its base costs less than 1% of raw. */
static void test_identical(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 303 };
	size_t k, n = 65536;

	for (k = 0; k < NPAIRS; k++) {
		int dt = pairs[k][0], used;
		size_t es = hz_dtype_size(dt), elen;

		if (pairs[k][1] != dt)
			continue;
		make_pair(b->src, b->base, n, dt, dt, 0, &r);
		elen = xround_trip(b, b->base, n * es, dt, b->base, n * es, dt,
				   &used, NULL);
		assert_true(used);
		assert_true(elen * 100 < n * es);
		assert_true(all_zero_xor(b->enc));
		/* random bytes too: the XOR does not care what they are */
		td_random_fill(b->base, n * es, &r);
		elen = xround_trip(b, b->base, 1001 * es, dt, b->base,
				   1001 * es, dt, &used, NULL);
		assert_true(used);
		assert_true(all_zero_xor(b->enc));
	}
}

/* F32 values with every rounding case of BF16 and F16. */
static const uint32_t specials[] = {
	0x00000000, 0x80000000,				/* +-0 */
	0x7f800000, 0xff800000,				/* +-Inf */
	0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345, /* NaNs, */
	0x7fffffff, 0xffffffff, 0x7fa00000, 0xffbfffff, /* some signalling */
	0x00000001, 0x80000001, 0x007fffff, 0x00800000, /* F32 subnormals */
	0x00008000, 0x00018000,				/* BF16 ties at 0 */
	0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, /* BF16 ties, near */
	0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, /* BF16 overflow */
	0x477fe000, 0x477fefff, 0x477ff000, 0xc77ff000, /* 65504, 65519.99, 65520 */
	0x47800000, 0x501502f9, 0xd01502f9,		/* 65536, +-1e10 */
	0x33800000, 0x33000000, 0x33000001, 0x33c00000, /* 2^-24, 2^-25, .. */
	0x38800000, 0x387fffff, 0x387fc000, 0x387fe000, /* F16 min normal */
	0x38000000, 0x37800000, 0x33400000, 0xb3400000, /* subnormal halves */
	0x3f800000, 0xbf800000, 0x3f801000, 0x3f803000, /* F16 ties at 1 */
	0x3f800fff, 0x3f801001, 0x40490fdb, 0xc0490fdb, /* near ties, pi */
};
#define NSPECIAL (sizeof(specials) / sizeof(specials[0]))

/* The reference rounding (testdata.h), checked against known results. */
static void test_reference_rounding(void **state)
{
	static const uint32_t in[] = { 0x477ff000, 0x477fefff, 0x33000000,
				       0x33000001, 0x33c00000, 0x387fe000,
				       0xff812345, 0x00000001, 0x80000001,
				       0x47800000, 0x3f801000, 0x3f803000 };
	static const uint16_t h[] = { 0x7c00, 0x7bff, 0x0000, 0x0001, 0x0002,
				      0x0400, 0xfe00, 0x0000, 0x8000, 0x7c00,
				      0x3c00, 0x3c02 };
	static const uint32_t bin[] = { 0x3f808000, 0x3f818000, 0x3f808001,
					0x7f7fffff, 0xff812345, 0x00018000,
					0x7fa00000 };
	static const uint16_t bf[] = { 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xffc1,
				       0x0002, 0x7fe0 };
	size_t i;
	float f;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		memcpy(&f, &in[i], 4);
		assert_int_equal(td_f16(f), h[i]);
	}
	for (i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
		memcpy(&f, &bin[i], 4);
		assert_int_equal(td_bf16(f), bf[i]);
	}
}

/* n F32 elements: gaussian with the specials spread over them. */
static void cast_base(uint8_t *base, size_t n, struct td_rng *r)
{
	size_t i;

	td_gauss_fill(base, n, HZ_DT_F32, 1, r);
	for (i = 0; i < n; i++) {
		if (td_next(r) % 4 == 0)
			hz_store32(base + 4 * i, specials[td_next(r) % NSPECIAL]);
		else if (td_next(r) % 4 == 0) /* F16 subnormal range */
			hz_store32(base + 4 * i, (uint32_t)(0x32000000 +
							    td_next(r) % 0x6800000));
	}
}

/* src = base (F32) cast to dt (BF16 or F16), as torch/numpy round. */
static void cast(uint8_t *src, const uint8_t *base, size_t n, int dt)
{
	size_t i;

	for (i = 0; i < n; i++) {
		float f;
		uint32_t x = hz_load32(base + 4 * i);

		memcpy(&f, &x, 4);
		hz_store16(src + 2 * i, dt == HZ_DT_F16 ? td_f16(f) : td_bf16(f));
	}
}

/*
 * An exact cast costs its headers: a codec-3 block whose planes are all
 * const 0, unless the cast is so regular (or short) that plain coding is
 * no larger.
 */
static bool cheap_cast(const uint8_t *blk)
{
	if (blk[4] == DELTA_CODEC_XOR)
		return all_zero_xor(blk);
	return hz_load32(blk + 12) <= XOR_HDR + 2 * 6;
}

/* Exact casts of an F32 base XOR to zero: all planes const 0. */
static void test_casts(void **state)
{
	static const size_t counts[] = { 1, 7, 8, 9, 23, NSPECIAL, 1001, 65536,
					 NMAX / 2 - 3 };
	static const int dts[] = { HZ_DT_BF16, HZ_DT_F16 };
	struct bufs *b = *state;
	struct td_rng r = { 404 };
	size_t c, d, i;

	for (d = 0; d < 2; d++) {
		for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			size_t n = counts[c], elen;
			int used;

			cast_base(b->base, n, &r);
			if (n == NSPECIAL)
				memcpy(b->base, specials, sizeof(specials));
			cast(b->src, b->base, n, dts[d]);
			elen = xround_trip(b, b->src, 2 * n, dts[d], b->base,
					   4 * n, HZ_DT_F32, &used, NULL);
			assert_true(cheap_cast(b->enc) || 2 * n <= XOR_HDR + 12);
			if (n >= 65536) {
				assert_true(used);
				assert_true(elen * 100 < 2 * n);
				print_message("  %-4s cast of %6zu F32: %zu bytes\n",
					      hz_dtype_name(dts[d]), n, elen);
			}
		}
		/* every special value at every position of an 8-lane group */
		for (i = 0; i < NSPECIAL * 9; i++)
			hz_store32(b->base + 4 * i, specials[i % NSPECIAL]);
		cast(b->src, b->base, NSPECIAL * 9, dts[d]);
		xround_trip(b, b->src, 2 * NSPECIAL * 9, dts[d], b->base,
			    4 * NSPECIAL * 9, HZ_DT_F32, NULL, NULL);
		assert_true(all_zero_xor(b->enc));
	}
}

/* A strided sweep of all 2^32 F32 patterns: casts XOR to zero. */
static void test_cast_sweep(void **state)
{
	struct bufs *b = *state;
	size_t n = NMAX / 2 - 5, i, d;
	uint64_t x = 0;

	for (d = 0; d < 2; d++) {
		int dt = d ? HZ_DT_F16 : HZ_DT_BF16;

		for (x = d; x < (1ull << 32);) {
			for (i = 0; i < n && x < (1ull << 32); i++, x += 4093)
				hz_store32(b->base + 4 * i, (uint32_t)x);
			cast(b->src, b->base, i, dt);
			xround_trip(b, b->src, 2 * i, dt, b->base, 4 * i,
				    HZ_DT_F32, NULL, NULL);
			assert_true(cheap_cast(b->enc));
		}
	}
}

/* A cast with a few elements changed: small, and exact. */
static void test_cast_few_differ(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 505 };
	size_t n = 100000, i, elen;
	int used, d;

	for (d = 0; d < 2; d++) {
		int dt = d ? HZ_DT_F16 : HZ_DT_BF16;

		cast_base(b->base, n, &r);
		cast(b->src, b->base, n, dt);
		for (i = 0; i < 20; i++)
			b->src[2 * (td_next(&r) % n)] ^= 1 << (td_next(&r) % 8);
		b->src[2 * (n - 1) + 1] ^= 0x80;
		elen = xround_trip(b, b->src, 2 * n, dt, b->base, 4 * n,
				   HZ_DT_F32, &used, NULL);
		assert_true(used);
		assert_true(elen * 100 < 2 * n);
	}
}

/* The nb field of a codec-3 block. */
static size_t block_nb(const uint8_t *blk)
{
	return hz_load32(blk + DELTA_BLOCK_HDR + 1);
}

/* Bases shorter and longer than the block (a tensor grown or shrunk). */
static void test_base_lengths(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 606 };
	size_t k;

	for (k = 0; k < NPAIRS; k++) {
		int dt = pairs[k][0], bdt = pairs[k][1], used;
		size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt);
		size_t n = 20001, dlen, elen;

		/* shorter: the last elements are coded alone */
		make_pair(b->src, b->base, n, dt, bdt, rel_for(dt), &r);
		elen = xround_trip(b, b->src, n * es, dt, b->base, 12000 * bes,
				   bdt, &used, NULL);
		assert_true(used);
		assert_int_equal(block_nb(b->enc), 12000);
		assert_int_equal(delta_block_decode_base(b->ctx, b->dec, n * es,
							 &dlen, b->enc, elen,
							 b->base, 11999 * bes,
							 bdt),
				 HZ_ECORRUPT);
		assert_int_equal(delta_block_decode_base(b->ctx, b->dec, n * es,
							 &dlen, b->enc, elen,
							 b->base, 12001 * bes,
							 bdt),
				 HZ_ECORRUPT);
		/* longer: only the first n are used */
		make_pair(b->src, b->base, 30000, dt, bdt, rel_for(dt), &r);
		elen = xround_trip(b, b->src, n * es, dt, b->base, 30000 * bes,
				   bdt, &used, NULL);
		assert_true(used);
		assert_int_equal(block_nb(b->enc), n);
		assert_int_equal(delta_block_decode_base(b->ctx, b->dec, n * es,
							 &dlen, b->enc, elen,
							 b->base, n * bes, bdt),
				 0);
		assert_memory_equal(b->dec, b->src, n * es);
		assert_int_equal(delta_block_decode_base(b->ctx, b->dec, n * es,
							 &dlen, b->enc, elen,
							 b->base, (n - 1) * bes,
							 bdt),
				 HZ_ECORRUPT);
		/* one element against a long base, many against one */
		xround_trip(b, b->src, es, dt, b->base, 30000 * bes, bdt, NULL,
			    NULL);
		xround_trip(b, b->src, n * es, dt, b->base, bes, bdt, NULL,
			    NULL);
	}
}

/* Empty blocks, no base, an empty base: plain coding. */
static void test_empty_and_no_base(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 707 };
	size_t elen, plen, dlen = 7;
	int used = -1;

	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, NULL, 0, HZ_DT_BF16,
						 b->base, 400, HZ_DT_F32),
			 0);
	assert_int_equal(used, 0);
	assert_int_equal(elen, DELTA_BLOCK_HDR);
	assert_int_equal(plen, elen);
	assert_int_equal(delta_block_decode_base(b->ctx, NULL, 0, &dlen, b->enc,
						 elen, NULL, 0, 0),
			 0);
	assert_int_equal(dlen, 0);
	make_pair(b->src, b->base, 5000, HZ_DT_F32, HZ_DT_F32, 1e-3, &r);
	xround_trip(b, b->src, 20000, HZ_DT_F32, NULL, 0, HZ_DT_F32, &used,
		    NULL);
	assert_int_equal(used, 0);
	xround_trip(b, b->src, 20000, HZ_DT_F32, b->base, 0, HZ_DT_F32, &used,
		    NULL);
	assert_int_equal(used, 0);
	/* NULL base: not even the pair is checked (plain coding) */
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, b->src, 20000,
						 HZ_DT_I32, NULL, 0, -1),
			 0);
	assert_int_equal(used, 0);
	/* plain_len and used_base may be NULL */
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, NULL,
						 NULL, b->src, 20000, HZ_DT_F32,
						 b->base, 20000, HZ_DT_F32),
			 0);
	assert_int_equal(b->enc[4], DELTA_CODEC_XOR);
}

/* A codec-3 block given no base, or the wrong one: corrupt. */
static void test_mismatched_base(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 808 };
	size_t n = 30000, elen, dlen;
	int used;

	make_pair(b->src, b->base, n, HZ_DT_BF16, HZ_DT_F32, 1e-3, &r);
	elen = xround_trip(b, b->src, 2 * n, HZ_DT_BF16, b->base, 4 * n,
			   HZ_DT_F32, &used, NULL);
	assert_true(used);
	/* no base */
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, NULL, 4 * n,
						 HZ_DT_F32),
			 HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(),
			    "corrupt block: codec 3 (xor) needs its base block");
	assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n, &dlen,
					    b->enc, elen),
			 HZ_ECORRUPT);
	/* wrong dtype, same bytes */
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 4 * n,
						 HZ_DT_BF16),
			 HZ_ECORRUPT);
	assert_non_null(strstr(hz_error_msg(), "F32 base"));
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 4 * n,
						 HZ_DT_COUNT + 3),
			 HZ_ECORRUPT);
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 4 * n,
						 -1),
			 HZ_ECORRUPT);
	/* wrong length: not whole elements, fewer elements */
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base,
						 4 * n - 2, HZ_DT_F32),
			 HZ_ECORRUPT);
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base,
						 4 * n - 4, HZ_DT_F32),
			 HZ_ECORRUPT);
	assert_non_null(strstr(hz_error_msg(), "base elements"));
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 0,
						 HZ_DT_F32),
			 HZ_ECORRUPT);
	/* the right shape, other bytes: the checksum */
	b->base[4 * 1234 + 2] ^= 0x40;
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 4 * n,
						 HZ_DT_F32),
			 HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(), "corrupt block: checksum mismatch");
	b->base[4 * 1234 + 2] ^= 0x40;
	/* output too small */
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n - 1,
						 &dlen, b->enc, elen, b->base,
						 4 * n, HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 4 * n,
						 HZ_DT_F32),
			 0);
	/* other codecs ignore the base, whatever it is */
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src,
					    2 * n, HZ_DT_BF16),
			 0);
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, b->base, 3,
						 HZ_DT_COUNT),
			 0);
	assert_int_equal(delta_block_decode_base(b->ctx, b->dec, 2 * n, &dlen,
						 b->enc, elen, NULL, 0, 0),
			 0);
	assert_memory_equal(b->dec, b->src, 2 * n);
}

/* Pairs the codec does not support, and bad arguments: HZ_EINVAL. */
static void test_bad_arguments(void **state)
{
	static const int bad[][2] = {
		{ HZ_DT_I32, HZ_DT_I32 },   { HZ_DT_F32, HZ_DT_BF16 },
		{ HZ_DT_BF16, HZ_DT_F16 },  { HZ_DT_F16, HZ_DT_BF16 },
		{ HZ_DT_F32, HZ_DT_F64 },   { HZ_DT_F64, HZ_DT_F32 },
		{ HZ_DT_NONE, HZ_DT_NONE }, { HZ_DT_U8, HZ_DT_U8 },
		{ HZ_DT_F8_E4M3, HZ_DT_F8_E5M2 }, { HZ_DT_BF16, HZ_DT_F64 },
		{ HZ_DT_COUNT, HZ_DT_COUNT }, { -1, HZ_DT_F32 },
		{ HZ_DT_BF16, -1 },
	};
	struct bufs *b = *state;
	size_t i, elen, plen;
	int used = 7;

	memset(b->src, 0, 4096);
	memset(b->base, 0, 8192);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		used = 7;
		assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen,
							 &plen, &used, b->src,
							 4096, bad[i][0],
							 b->base, 8192,
							 bad[i][1]),
				 HZ_EINVAL);
		assert_int_equal(used, 0);
	}
	/* a base of partial elements; src of partial elements */
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, b->src, 4096,
						 HZ_DT_BF16, b->base, 8190,
						 HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, b->src, 4095, HZ_DT_F16,
						 b->base, 8192, HZ_DT_F16),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, b->src,
						 DELTA_BLOCK_MAX + 4, HZ_DT_F32,
						 b->base, 8192, HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(NULL, b->enc, &elen, &plen,
						 &used, b->src, 4096, HZ_DT_F32,
						 b->base, 8192, HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(b->ctx, NULL, &elen, &plen,
						 &used, b->src, 4096, HZ_DT_F32,
						 b->base, 8192, HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, NULL, &plen,
						 &used, b->src, 4096, HZ_DT_F32,
						 b->base, 8192, HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode_base(b->ctx, b->enc, &elen, &plen,
						 &used, NULL, 4096, HZ_DT_F32,
						 b->base, 8192, HZ_DT_F32),
			 HZ_EINVAL);
}

/*
 * Every byte of small codec-3 blocks flipped, and random damage: a
 * fine-tune (rANS and raw planes) and a block with a few changed
 * elements (sparse planes).
 */
static void test_damage(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 909 };
	size_t n = 3000, elen, dlen, i;
	int used, bit, t, kind, pc[DELTA_PLANES_MAX], c[DELTA_PLANES_MAX];
	int k, np, seen = 0;

	for (kind = 0; kind < 2; kind++) {
		make_pair(b->src, b->base, n, HZ_DT_F32, HZ_DT_F32, 1e-3, &r);
		if (kind) {
			memcpy(b->src, b->base, 4 * n);
			for (i = 0; i < 40; i++)
				b->src[4 * (td_next(&r) % n) + i % 4] ^=
					(uint8_t)(1 + td_next(&r) % 255);
		}
		elen = xround_trip(b, b->src, 4 * n, HZ_DT_F32, b->base, 4 * n,
				   HZ_DT_F32, &used, NULL);
		assert_true(used);
		np = xor_coders(b->enc, pc, c);
		for (k = 0; k < np; k++)
			seen |= 1 << pc[k];
		for (i = 0; i < elen; i++) {
			for (bit = 0; bit < 8; bit += 3) {
				int rc;

				b->enc[i] ^= (uint8_t)(1 << bit);
				rc = delta_block_decode_base(b->ctx, b->dec,
							     DELTA_BLOCK_MAX,
							     &dlen, b->enc,
							     elen, b->base,
							     4 * n, HZ_DT_F32);
				assert_true(rc == HZ_ECORRUPT ||
					    rc == HZ_EUNSUPPORTED);
				b->enc[i] ^= (uint8_t)(1 << bit);
			}
		}
		for (t = 0; t < 3000; t++) {
			int rc;

			memcpy(b->enc2, b->enc, elen);
			for (i = 0; i < (size_t)(1 + t % 5); i++)
				b->enc2[DELTA_BLOCK_HDR +
					td_next(&r) % (elen - DELTA_BLOCK_HDR)] =
					(uint8_t)td_next(&r);
			rc = delta_block_decode_base(b->ctx, b->dec, 4 * n,
						     &dlen, b->enc2, elen,
						     b->base, 4 * n, HZ_DT_F32);
			if (!rc)
				assert_memory_equal(b->dec, b->src, 4 * n);
			else
				assert_int_equal(rc, HZ_ECORRUPT);
		}
	}
	assert_true(seen & 1 << DELTA_PC_SPARSE);
	assert_true(seen & 1 << DELTA_PC_RANS0);
	assert_true(seen & 1 << DELTA_PC_RAW);
}

/*
 * A codec-3 F8_E4M3 block by hand: n bytes, a zero base of n elements,
 * one plane of transform split whose record is rec[0..rlen); the header
 * checksum is that of want.
 */
static size_t hand_block(uint8_t *blk, const uint8_t *want, size_t n,
			 const uint8_t *rec, size_t rlen)
{
	uint8_t *p = blk + DELTA_BLOCK_HDR;

	memcpy(blk, "HZB1", 4);
	blk[4] = DELTA_CODEC_XOR;
	blk[5] = HZ_DT_F8_E4M3;
	hz_store16(blk + 6, 0);
	hz_store32(blk + 8, (uint32_t)n);
	hz_store32(blk + 12, (uint32_t)(XOR_HDR + rlen));
	hz_store64(blk + 16, hz_xxh3(want, n));
	p[0] = HZ_DT_F8_E4M3;
	hz_store32(p + 1, (uint32_t)n);
	p[5] = DELTA_XF_SPLIT;
	p[6] = 1;
	memcpy(p + XOR_HDR, rec, rlen);
	return DELTA_BLOCK_HDR + XOR_HDR + rlen;
}

/*
 * A sparse record (coder 5) with raw sub-records: nz tokens t, the xlen
 * bytes of extra bits x, values v.
 */
static size_t sparse_rec(uint8_t *rec, size_t nz, const uint8_t *t,
			 const uint8_t *x, size_t xlen, const uint8_t *v)
{
	size_t len = 8 + xlen + 5 + nz + 5 + nz, pos = 13 + xlen;

	rec[0] = DELTA_PC_SPARSE;
	hz_store32(rec + 1, (uint32_t)len);
	hz_store32(rec + 5, (uint32_t)nz);
	hz_store32(rec + 9, (uint32_t)xlen);
	memcpy(rec + 13, x, xlen);
	rec[pos] = DELTA_PC_RAW;
	hz_store32(rec + pos + 1, (uint32_t)nz);
	memcpy(rec + pos + 5, t, nz);
	pos += 5 + nz;
	rec[pos] = DELTA_PC_RAW;
	hz_store32(rec + pos + 1, (uint32_t)nz);
	memcpy(rec + pos + 5, v, nz);
	return 5 + len;
}

static int hand_decode(struct bufs *b, size_t blen, size_t n)
{
	size_t dlen;

	memset(b->base, 0, n);
	return delta_block_decode_base(b->ctx, b->dec, n, &dlen, b->enc, blen,
				       b->base, n, HZ_DT_F8_E4M3);
}

/* Hand-made sparse planes: the valid one decodes, every fault is caught. */
static void test_sparse_records(void **state)
{
	/*
	 * Values 9, 8, 7, 6 at 3, 4, 300, 599: gaps 3, 0, 295, 298, tokens
	 * (bit lengths) 2, 0, 9, 9, extra bits 1 (1 bit), 39, 42 (8 bits
	 * each), LSB first: 1 | 39 << 1 | 42 << 9 = 0x544f, in 3 bytes.
	 */
	static const uint8_t t[] = { 2, 0, 9, 9 }, t21[] = { 2, 0, 21, 9 };
	static const uint8_t x[] = { 0x4f, 0x54, 0x00, 0x00 };
	static const uint8_t x_out[] = { 0x4f, 0x56, 0x00 };	/* 42 -> 43 */
	static const uint8_t x_pad[] = { 0x4f, 0x54, 0x02 };
	static const uint8_t v[] = { 9, 8, 7, 6 }, v0[] = { 9, 0, 7, 6 };
	static const struct {
		const uint8_t *t, *x, *v;
		size_t xlen;
		uint32_t nz_set;	/* if not 0, stored instead */
		const char *msg;
	} bad[] = {
		{ t21, x, v, 3, 0, "sparse gap token out of range" },
		{ t, x, v, 2, 0, "sparse extra bits are truncated" },
		{ t, x, v, 4, 0, "sparse extra bits left over" },
		{ t, x_pad, v, 3, 0, "sparse extra bits left over" },
		{ t, x_out, v, 3, 0, "sparse value outside the plane" },
		{ t, x, v0, 3, 0, "sparse value is zero" },
		{ t, x, v, 3, 76, "sparse plane has a bad count" },
	};
	struct bufs *b = *state;
	uint8_t want[600] = { 0 }, rec[700];
	size_t n = 600, rl, blen, dlen, i;

	want[3] = 9;
	want[4] = 8;
	want[300] = 7;
	want[599] = 6;
	rl = sparse_rec(rec, 4, t, x, 3, v);
	blen = hand_block(b->enc, want, n, rec, rl);
	assert_int_equal(hand_decode(b, blen, n), 0);
	assert_memory_equal(b->dec, want, n);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rl = sparse_rec(rec, 4, bad[i].t, bad[i].x, bad[i].xlen,
				bad[i].v);
		if (bad[i].nz_set)
			hz_store32(rec + 5, bad[i].nz_set);
		blen = hand_block(b->enc, want, n, rec, rl);
		assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
		assert_string_equal(hz_error_msg() + strlen("corrupt block: "),
				    bad[i].msg);
	}
	/* no values; extra bits past the record */
	rl = sparse_rec(rec, 0, t, x, 0, v);
	blen = hand_block(b->enc, want, n, rec, rl);
	assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
	rl = sparse_rec(rec, 4, t, x, 3, v);
	hz_store32(rec + 9, (uint32_t)rl);
	blen = hand_block(b->enc, want, n, rec, rl);
	assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
	/* a sparse sub-record */
	rl = sparse_rec(rec, 4, t, x, 3, v);
	rec[5 + 8 + 3] = DELTA_PC_SPARSE;
	blen = hand_block(b->enc, want, n, rec, rl);
	assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(), "corrupt block: unknown plane coder");
	/* a byte after the values, or the record cut short anywhere */
	rl = sparse_rec(rec, 4, t, x, 3, v);
	rec[rl] = 0;
	hz_store32(rec + 1, hz_load32(rec + 1) + 1);
	blen = hand_block(b->enc, want, n, rec, rl + 1);
	assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(),
			    "corrupt block: bytes after the sparse values");
	for (i = 0; i < rl - 5; i++) {
		hz_store32(rec + 1, (uint32_t)i);
		blen = hand_block(b->enc, want, n, rec, 5 + i);
		assert_int_equal(hand_decode(b, blen, n), HZ_ECORRUPT);
	}
	/* the same record under codec 2 is not allowed */
	rl = sparse_rec(rec, 4, t, x, 3, v);
	blen = hand_block(b->enc, want, n, rec, rl);
	b->enc[4] = DELTA_CODEC_PLANES;
	memmove(b->enc + DELTA_BLOCK_HDR + 2, b->enc + DELTA_BLOCK_HDR + XOR_HDR,
		rl);
	b->enc[DELTA_BLOCK_HDR] = DELTA_XF_SPLIT;
	b->enc[DELTA_BLOCK_HDR + 1] = 1;
	hz_store32(b->enc + 12, (uint32_t)(2 + rl));
	assert_int_equal(delta_block_decode(b->ctx, b->dec, n, &dlen, b->enc,
					    DELTA_BLOCK_HDR + 2 + rl),
			 HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(), "corrupt block: unknown plane coder");
}

/* Sparse planes chosen by the encoder: exponent planes of fine-tunes. */
static void test_sparse_chosen(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 1010 };
	size_t n = 200000, i;
	int pc[DELTA_PLANES_MAX], c[DELTA_PLANES_MAX], np, used;

	make_pair(b->src, b->base, n, HZ_DT_BF16, HZ_DT_F32, 2e-3, &r);
	xround_trip(b, b->src, 2 * n, HZ_DT_BF16, b->base, 4 * n, HZ_DT_F32,
		    &used, NULL);
	np = xor_coders(b->enc, pc, c);
	assert_int_equal(np, 2);
	assert_int_equal(pc[1], DELTA_PC_SPARSE);
	/* a few changed elements in a long identical block */
	make_pair(b->src, b->base, n, HZ_DT_F32, HZ_DT_F32, 0, &r);
	memcpy(b->src, b->base, 4 * n);
	for (i = 0; i < 300; i++)
		b->src[4 * (td_next(&r) % n) + td_next(&r) % 4] ^=
			(uint8_t)(1 + td_next(&r) % 255);
	xround_trip(b, b->src, 4 * n, HZ_DT_F32, b->base, 4 * n, HZ_DT_F32,
		    &used, NULL);
	np = xor_coders(b->enc, pc, c);
	for (i = 0; i < (size_t)np; i++)
		assert_int_equal(pc[i], DELTA_PC_SPARSE);
	/* runs of unchanged elements: zstd may be tried, and must decode */
	make_pair(b->src, b->base, n, HZ_DT_F16, HZ_DT_F16, 1e-2, &r);
	for (i = 0; i < n; i += 4096)
		memcpy(b->src + 2 * i, b->base + 2 * i,
		       2 * (n - i < 2048 ? n - i : 2048));
	xround_trip(b, b->src, 2 * n, HZ_DT_F16, b->base, 2 * n, HZ_DT_F16,
		    &used, NULL);
	assert_true(used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_finetune_pairs),
		cmocka_unit_test(test_beats_plain),
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_reference_rounding),
		cmocka_unit_test(test_casts),
		cmocka_unit_test(test_cast_sweep),
		cmocka_unit_test(test_cast_few_differ),
		cmocka_unit_test(test_base_lengths),
		cmocka_unit_test(test_empty_and_no_base),
		cmocka_unit_test(test_mismatched_base),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_sparse_records),
		cmocka_unit_test(test_sparse_chosen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
