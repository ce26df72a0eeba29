/*
 * Unit tests of delta/: round trips of every dtype and size class, the
 * choice of codecs and plane coders, both rANS decoders, corruption and
 * argument checks, and the golden fixtures in $HZ_FIXTURES/delta.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/hash.h"
#include "delta/delta.h"
#include "delta/delta_int.h"
#include "unit/delta/testdata.h"

struct bufs {
	struct delta_ctx *ctx;
	uint8_t *src, *enc, *dec, *enc2;
};

static int setup(void **state)
{
	struct bufs *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	b->ctx = delta_ctx_new(0);
	b->src = malloc(DELTA_BLOCK_MAX + 64);
	b->enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	b->enc2 = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	b->dec = malloc(DELTA_BLOCK_MAX + 64);
	if (!b->ctx || !b->src || !b->enc || !b->enc2 || !b->dec)
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
	free(b->enc);
	free(b->enc2);
	free(b->dec);
	free(b);
	return 0;
}

/*
 * Encodes src[0..len) as dt, checks the header, decodes with both rANS
 * decoders, compares, and checks that a second encode is identical.
 * Returns the encoded size.
 */
static size_t round_trip(struct bufs *b, const uint8_t *src, size_t len,
			 int dt)
{
	struct delta_block_info bi;
	size_t elen = 0, elen2 = 0, dlen = 0;
	int simd;

	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, src, len,
					    dt), 0);
	assert_true(elen >= DELTA_BLOCK_HDR);
	assert_true(elen <= delta_block_bound(len));
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen), 0);
	assert_int_equal(bi.raw_len, len);
	assert_int_equal(bi.payload_len + DELTA_BLOCK_HDR, elen);
	assert_int_equal(bi.dtype, dt);
	assert_int_equal(bi.flags, 0);
	assert_true(bi.checksum == hz_xxh3(src, len));
	for (simd = 0; simd < 2; simd++) {
		delta_rans_simd(simd);
		memset(b->dec, 0xa5, len + 64);
		assert_int_equal(delta_block_decode(b->ctx, b->dec, len + 64,
						    &dlen, b->enc, elen),
				 0);
		assert_int_equal(dlen, len);
		assert_memory_equal(b->dec, src, len);
		assert_int_equal(b->dec[len], 0xa5); /* nothing past raw_len */
	}
	delta_rans_simd(true);
	assert_int_equal(delta_block_encode(b->ctx, b->enc2, &elen2, src, len,
					    dt), 0);
	assert_int_equal(elen2, elen);
	assert_memory_equal(b->enc2, b->enc, elen);
	return elen;
}

/* The plane coder of plane k of a PLANES or XOR block, or -1. */
static int plane_coder(const uint8_t *blk, int k)
{
	const uint8_t *p = blk + DELTA_BLOCK_HDR;
	size_t len = hz_load32(blk + 12), pos = 2;
	int i;

	if (blk[4] == DELTA_CODEC_XOR) {
		/* base dtype and nb before the transform */
		p += 5;
		len -= 5;
	} else if (blk[4] != DELTA_CODEC_PLANES) {
		return -1;
	}
	if (k >= p[1])
		return -1;
	for (i = 0; i < k; i++)
		pos += 5 + hz_load32(p + pos + 1);
	return pos < len ? p[pos] : -1;
}

static void test_every_dtype(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 42 };
	static const size_t counts[] = { 1, 2, 3, 7, 31, 1000, 4097, 65537 };
	size_t c;
	int dt;

	for (dt = 0; dt < HZ_DT_COUNT; dt++) {
		size_t es = hz_dtype_size(dt);

		for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			size_t n = counts[c];

			td_gauss_fill(b->src, n, dt, 0.05, &r);
			round_trip(b, b->src, n * es, dt);
			td_random_fill(b->src, n * es, &r);
			round_trip(b, b->src, n * es, dt);
			memset(b->src, 0, n * es);
			round_trip(b, b->src, n * es, dt);
		}
	}
}

static void test_empty(void **state)
{
	struct bufs *b = *state;
	size_t elen, dlen = 7;
	int dt;

	for (dt = 0; dt < HZ_DT_COUNT; dt++) {
		assert_int_equal(round_trip(b, b->src, 0, dt), DELTA_BLOCK_HDR);
		assert_int_equal(b->enc[4], DELTA_CODEC_RAW);
	}
	/* NULL source and output are fine for 0 bytes */
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, NULL, 0,
					    HZ_DT_F32), 0);
	assert_int_equal(delta_block_decode(b->ctx, NULL, 0, &dlen, b->enc,
					    elen), 0);
	assert_int_equal(dlen, 0);
}

static void test_special_values(void **state)
{
	static const uint32_t f32[] = {
		0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
		0xffc00001, 0x7f800001, 0x00000001, 0x807fffff, 0x00800000,
		0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000,
	};
	static const uint16_t f16[] = {
		0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01, 0x0001,
		0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0xbc00,
	};
	static const uint64_t f64[] = {
		0, 0x8000000000000000ull, 0x7ff0000000000000ull,
		0xfff0000000000000ull, 0x7ff8000000000000ull,
		0x7ff0000000000001ull, 1, 0x800fffffffffffffull,
		0x7fefffffffffffffull, 0x3ff0000000000000ull,
	};
	struct bufs *b = *state;
	struct td_rng r = { 7 };
	size_t i, n = 5000;

	/* each special value alone, and mixed into gaussian data */
	for (i = 0; i < n; i++) {
		size_t k = td_next(&r) % 14;

		hz_store32(b->src + 4 * i, f32[k]);
	}
	round_trip(b, b->src, 4 * n, HZ_DT_F32);
	td_gauss_fill(b->src, n, HZ_DT_F32, 1, &r);
	for (i = 0; i < n; i += 7)
		hz_store32(b->src + 4 * i, f32[i % 14]);
	round_trip(b, b->src, 4 * n, HZ_DT_F32);
	for (i = 0; i < n; i++) {
		hz_store16(b->src + 2 * i, f16[td_next(&r) % 14]);
	}
	round_trip(b, b->src, 2 * n, HZ_DT_F16);
	round_trip(b, b->src, 2 * n, HZ_DT_BF16);
	for (i = 0; i < n; i++)
		hz_store64(b->src + 8 * i, f64[td_next(&r) % 10]);
	round_trip(b, b->src, 8 * n, HZ_DT_F64);
	/* all NaN with one payload, all -0 */
	for (i = 0; i < n; i++)
		hz_store32(b->src + 4 * i, 0x7fc01234);
	round_trip(b, b->src, 4 * n, HZ_DT_F32);
	for (i = 0; i < n; i++)
		hz_store16(b->src + 2 * i, 0x8000);
	round_trip(b, b->src, 2 * n, HZ_DT_BF16);
	assert_int_equal(plane_coder(b->enc, 0), DELTA_PC_CONST);
	assert_int_equal(plane_coder(b->enc, 1), DELTA_PC_CONST);
}

static void test_block_boundaries(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 99 };
	size_t elen;
	int dt;

	for (dt = 0; dt < HZ_DT_COUNT; dt++) {
		size_t es = hz_dtype_size(dt);

		td_gauss_fill(b->src, DELTA_BLOCK_MAX / es, dt, 0.02, &r);
		round_trip(b, b->src, DELTA_BLOCK_MAX, dt);
		round_trip(b, b->src, DELTA_BLOCK_MAX - es, dt);
		round_trip(b, b->src + es, DELTA_BLOCK_MAX - 2 * es, dt);
	}
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src,
					    DELTA_BLOCK_MAX + 1, HZ_DT_U8),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src,
					    DELTA_BLOCK_MAX + 4, HZ_DT_F32),
			 HZ_EINVAL);
}

/* Gaussian weights: PLANES, smaller than zstd -3 and near the bound. */
static void test_gaussian_beats_zstd(void **state)
{
	static const int dts[] = { HZ_DT_BF16, HZ_DT_F16, HZ_DT_F32,
				   HZ_DT_F64 };
	struct bufs *b = *state;
	struct td_rng r = { 1234 };
	size_t i, zcap = ZSTD_compressBound(DELTA_BLOCK_MAX);
	uint8_t *z = malloc(zcap);

	assert_non_null(z);
	for (i = 0; i < sizeof(dts) / sizeof(dts[0]); i++) {
		size_t es = hz_dtype_size(dts[i]), n = DELTA_BLOCK_MAX / es;
		size_t elen, zlen;

		td_gauss_fill(b->src, n, dts[i], 0.02, &r);
		elen = round_trip(b, b->src, DELTA_BLOCK_MAX, dts[i]);
		zlen = ZSTD_compress(z, zcap, b->src, DELTA_BLOCK_MAX, 3);
		assert_false(ZSTD_isError(zlen));
		assert_int_equal(b->enc[4], DELTA_CODEC_PLANES);
		assert_int_equal(b->enc[DELTA_BLOCK_HDR], DELTA_XF_ROTL1);
		/* the exponent plane is entropy coded */
		assert_int_equal(plane_coder(b->enc, (int)es - 1),
				 DELTA_PC_RANS0);
		assert_true(elen < zlen);
		print_message("  %-4s planes %zu, zstd -3 %zu (%.3f)\n",
			      hz_dtype_name(dts[i]), elen, zlen,
			      (double)elen / zlen);
	}
	free(z);
}

/* F32 holding BF16 values: only the high halves are stored. */
static void test_f32_low_halves_zero(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 5 };
	size_t i, n = 100000, e16, e32;

	td_gauss_fill(b->src, n, HZ_DT_BF16, 0.02, &r);
	e16 = round_trip(b, b->src, 2 * n, HZ_DT_BF16);
	for (i = n; i-- > 0;)
		hz_store32(b->src + 4 * i, (uint32_t)hz_load16(b->src + 2 * i)
						   << 16);
	e32 = round_trip(b, b->src, 4 * n, HZ_DT_F32);
	assert_int_equal(b->enc[4], DELTA_CODEC_PLANES);
	assert_int_equal(b->enc[DELTA_BLOCK_HDR], DELTA_XF_F32_HI16);
	assert_int_equal(b->enc[DELTA_BLOCK_HDR + 1], 2);
	assert_true(e32 <= e16 + 8);
	/* one element with a low bit set: the plain transform */
	hz_store32(b->src + 4 * 500, hz_load32(b->src + 4 * 500) | 1);
	round_trip(b, b->src, 4 * n, HZ_DT_F32);
	assert_int_equal(b->enc[DELTA_BLOCK_HDR], DELTA_XF_ROTL1);
}

/* A Markov chain of exponents: order 1 beats order 0. */
static void test_order1(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 77 };
	size_t i, n = 200000;
	unsigned e = 120;

	for (i = 0; i < n; i++) {
		/* the exponent mostly follows a cycle of 8 values */
		if (td_next(&r) % 8)
			e = 112 + (e - 112 + 1) % 8;
		else
			e = 112 + (unsigned)(td_next(&r) % 16);
		hz_store16(b->src + 2 * i,
			   (uint16_t)(e << 7 | (td_next(&r) >> 57)));
	}
	round_trip(b, b->src, 2 * n, HZ_DT_BF16);
	assert_int_equal(plane_coder(b->enc, 1), DELTA_PC_RANS1);
	/* and on a short plane (fewer ways, scalar decoder only) */
	round_trip(b, b->src, 2 * 20000, HZ_DT_BF16);
	assert_int_equal(plane_coder(b->enc, 1), DELTA_PC_RANS1);
}

/* Repeats: zstd for the block, or per plane. */
static void test_zstd_choices(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 3 };
	size_t i, n = 65536, elen;
	char *t = (char *)b->src;
	size_t len = 0;

	td_gauss_fill(b->src, 1024, HZ_DT_F32, 1, &r);
	for (i = 1; i < 64; i++)
		memcpy(b->src + 4096 * i, b->src, 4096);
	elen = round_trip(b, b->src, 4 * n, HZ_DT_F32);
	/* zstd, of the block or of the planes */
	assert_true(elen < 4 * n / 20);
	assert_true(b->enc[4] == DELTA_CODEC_ZSTD ||
		    plane_coder(b->enc, 3) == DELTA_PC_ZSTD);
	/* JSON-like text */
	while (len < 50000)
		len += (size_t)snprintf(t + len, 100,
					"{\"name\":\"layer.%zu.weight\",\"dtype\":\"F16\"},",
					len % 977);
	round_trip(b, b->src, len, HZ_DT_NONE);
	assert_int_equal(b->enc[4], DELTA_CODEC_ZSTD);
	/* random bytes stay raw */
	td_random_fill(b->src, 100000, &r);
	round_trip(b, b->src, 100000, HZ_DT_NONE);
	assert_int_equal(b->enc[4], DELTA_CODEC_RAW);
	/* a mantissa plane with repeats, an exponent plane without */
	for (i = 0; i < n; i++)
		hz_store16(b->src + 2 * i,
			   (uint16_t)(td_skewed(&r, 20) << 8 | (i % 97) * 2));
	round_trip(b, b->src, 2 * n, HZ_DT_I16);
	assert_int_equal(b->enc[4], DELTA_CODEC_PLANES);
	assert_int_equal(plane_coder(b->enc, 0), DELTA_PC_ZSTD);
	assert_int_equal(plane_coder(b->enc, 1), DELTA_PC_RANS0);
}

/* Skewed bytes, bools and ints: byte planes with rANS. */
static void test_ints(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 11 };
	size_t i, n = 300000;

	for (i = 0; i < n; i++)
		b->src[i] = td_skewed(&r, 2);
	round_trip(b, b->src, n, HZ_DT_BOOL);
	assert_int_equal(plane_coder(b->enc, 0), DELTA_PC_RANS0);
	for (i = 0; i < n / 8; i++)
		hz_store64(b->src + 8 * i, td_skewed(&r, 40));
	round_trip(b, b->src, n / 8 * 8, HZ_DT_I64);
	assert_int_equal(b->enc[DELTA_BLOCK_HDR], DELTA_XF_SPLIT);
	assert_int_equal(plane_coder(b->enc, 7), DELTA_PC_CONST);
}

static void test_corruption(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 8 };
	size_t elen, dlen, i, n = 50000;
	int kind;

	for (kind = 0; kind < 3; kind++) {
		if (kind == 0) {
			td_gauss_fill(b->src, n, HZ_DT_BF16, 0.1, &r);
			elen = round_trip(b, b->src, 2 * n, HZ_DT_BF16);
			assert_int_equal(b->enc[4], DELTA_CODEC_PLANES);
		} else if (kind == 1) {
			td_random_fill(b->src, 2 * n, &r);
			elen = round_trip(b, b->src, 2 * n, HZ_DT_NONE);
			assert_int_equal(b->enc[4], DELTA_CODEC_RAW);
		} else {
			for (i = 0; i < 2 * n; i++)
				b->src[i] = "abcdefgh"[i % 8];
			elen = round_trip(b, b->src, 2 * n, HZ_DT_NONE);
			assert_int_equal(b->enc[4], DELTA_CODEC_ZSTD);
		}
		/* a flipped payload byte */
		b->enc[elen - 3] ^= 0x10;
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, elen),
				 HZ_ECORRUPT);
		b->enc[elen - 3] ^= 0x10;
		/* a flipped checksum byte */
		b->enc[20] ^= 1;
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, elen),
				 HZ_ECORRUPT);
		assert_string_equal(hz_error_msg(),
				    "corrupt block: checksum mismatch");
		b->enc[20] ^= 1;
		/* truncated, or with a byte more */
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, elen - 1),
				 HZ_ECORRUPT);
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, elen + 1),
				 HZ_ECORRUPT);
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, 10),
				 HZ_ECORRUPT);
		/* output too small */
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n - 1,
						    &dlen, b->enc, elen),
				 HZ_EINVAL);
		/* still fine afterwards */
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 2 * n,
						    &dlen, b->enc, elen),
				 0);
	}
}

/* Every byte of a small PLANES block flipped, and random damage. */
static void test_damage_everywhere(void **state)
{
	struct bufs *b = *state;
	struct td_rng r = { 31 };
	size_t elen, dlen, i, n = 3000;
	int bit, t;

	td_gauss_fill(b->src, n, HZ_DT_F32, 0.3, &r);
	elen = round_trip(b, b->src, 4 * n, HZ_DT_F32);
	assert_int_equal(b->enc[4], DELTA_CODEC_PLANES);
	for (i = 0; i < elen; i++) {
		for (bit = 0; bit < 8; bit += 3) {
			int rc;

			b->enc[i] ^= (uint8_t)(1 << bit);
			rc = delta_block_decode(b->ctx, b->dec, DELTA_BLOCK_MAX,
						&dlen, b->enc, elen);
			assert_true(rc == HZ_ECORRUPT || rc == HZ_EUNSUPPORTED);
			b->enc[i] ^= (uint8_t)(1 << bit);
		}
	}
	for (t = 0; t < 2000; t++) {
		int rc;

		memcpy(b->enc2, b->enc, elen);
		for (i = 0; i < (size_t)(1 + t % 5); i++)
			b->enc2[DELTA_BLOCK_HDR + td_next(&r) % (elen - DELTA_BLOCK_HDR)] =
				(uint8_t)td_next(&r);
		rc = delta_block_decode(b->ctx, b->dec, 4 * n, &dlen, b->enc2,
					elen);
		if (!rc)
			assert_memory_equal(b->dec, b->src, 4 * n);
	}
}

static void test_header(void **state)
{
	struct bufs *b = *state;
	struct delta_block_info bi;
	size_t elen, dlen;

	memset(b->src, 1, 1000);
	round_trip(b, b->src, 1000, HZ_DT_U8);
	elen = hz_load32(b->enc + 12) + DELTA_BLOCK_HDR;
	/* unknown codec ids */
	b->enc[4] = DELTA_CODEC_COUNT;
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen),
			 HZ_EUNSUPPORTED);
	assert_int_equal(delta_block_decode(b->ctx, b->dec, 1000, &dlen, b->enc,
					    elen),
			 HZ_EUNSUPPORTED);
	b->enc[4] = 255;
	assert_int_equal(delta_block_decode(b->ctx, b->dec, 1000, &dlen, b->enc,
					    elen),
			 HZ_EUNSUPPORTED);
	b->enc[4] = DELTA_CODEC_PLANES;
	/* unknown dtype, flags */
	b->enc[5] = HZ_DT_COUNT;
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen),
			 HZ_EUNSUPPORTED);
	b->enc[5] = HZ_DT_U8;
	b->enc[7] = 0x80;
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen),
			 HZ_EUNSUPPORTED);
	b->enc[7] = 0;
	/* magic, raw_len over the maximum, short header */
	b->enc[0] = 'h';
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen),
			 HZ_ECORRUPT);
	b->enc[0] = 'H';
	hz_store32(b->enc + 8, DELTA_BLOCK_MAX + 1);
	assert_int_equal(delta_block_header_parse(&bi, b->enc, elen),
			 HZ_ECORRUPT);
	hz_store32(b->enc + 8, 1000);
	assert_int_equal(delta_block_header_parse(&bi, b->enc, 23),
			 HZ_ECORRUPT);
	/* the header alone parses: payload_len is for the caller to read */
	assert_int_equal(delta_block_header_parse(&bi, b->enc, DELTA_BLOCK_HDR),
			 0);
	assert_int_equal(bi.payload_len + DELTA_BLOCK_HDR, elen);
	assert_int_equal(delta_block_decode(b->ctx, b->dec, 1000, &dlen, b->enc,
					    elen),
			 0);
	assert_string_equal(delta_codec_name(DELTA_CODEC_PLANES), "planes");
	assert_string_equal(delta_codec_name(DELTA_CODEC_COUNT), "unknown");
	assert_string_equal(delta_codec_name(-1), "unknown");
}

static void test_bad_arguments(void **state)
{
	struct bufs *b = *state;
	size_t elen;

	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src, 6,
					    HZ_DT_F32),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src, 3,
					    HZ_DT_BF16),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src, 8,
					    HZ_DT_COUNT),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, b->src, 8,
					    -1),
			 HZ_EINVAL);
	assert_int_equal(delta_block_encode(b->ctx, b->enc, &elen, NULL, 8,
					    HZ_DT_U8),
			 HZ_EINVAL);
	delta_ctx_free(NULL);
}

/* Contexts at other zstd levels produce blocks any context decodes. */
static void test_levels(void **state)
{
	struct bufs *b = *state;
	static const int levels[] = { -5, 1, 19, 100 };
	size_t i, elen, dlen;

	for (i = 0; i < 100000; i++)
		b->src[i] = "abcdefgh"[i % 8];
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct delta_ctx *c = delta_ctx_new(levels[i]);

		assert_non_null(c);
		assert_int_equal(delta_block_encode(c, b->enc, &elen, b->src,
						    100000, HZ_DT_NONE),
				 0);
		assert_int_equal(b->enc[4], DELTA_CODEC_ZSTD);
		assert_int_equal(delta_block_decode(b->ctx, b->dec, 100000,
						    &dlen, b->enc, elen),
				 0);
		assert_memory_equal(b->dec, b->src, 100000);
		delta_ctx_free(c);
	}
}

/* The contents of file root/delta/name into buf (cap bytes); its size. */
static size_t read_fixture(uint8_t *buf, size_t cap, const char *root,
			   const char *name)
{
	char path[4096];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/delta/%s", root, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open '%s'", path);
	len = fread(buf, 1, cap, f);
	fclose(f);
	return len;
}

/*
 * Golden fixtures: $HZ_FIXTURES/delta/MANIFEST lists, per line, a block
 * file, its codec id, dtype id, raw length, the SHA-256 of its raw bytes
 * and its plane coders ('-' for none), and for a codec-3 block the file
 * of its base's raw bytes and the base's dtype id; see gen_fixtures.c.
 */
static void test_fixtures(void **state)
{
	struct bufs *b = *state;
	const char *root = getenv("HZ_FIXTURES");
	char path[4096], line[1024];
	uint8_t *base = malloc(2 * DELTA_BLOCK_MAX);
	FILE *m;
	int count = 0, xor_count = 0;

	if (!root || !*root)
		root = "tests/fixtures";
	snprintf(path, sizeof(path), "%s/delta/MANIFEST", root);
	m = fopen(path, "r");
	if (!m)
		fail_msg("cannot open '%s'", path);
	assert_non_null(base);
	while (fgets(line, sizeof(line), m)) {
		char name[256], hex[HZ_SHA256_HEX], pcs[64], bname[256];
		unsigned codec, dt, raw_len, bdt = 0;
		uint8_t sha[HZ_SHA256_LEN], got[HZ_SHA256_LEN];
		size_t len, dlen, blen = 0;
		int simd, k, fields;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		fields = sscanf(line, "%255s %u %u %u %64s %63s %255s %u", name,
				&codec, &dt, &raw_len, hex, pcs, bname, &bdt);
		assert_int_equal(fields, codec == DELTA_CODEC_XOR ? 8 : 6);
		assert_int_equal(hz_unhex(sha, hex, HZ_SHA256_LEN), 0);
		len = read_fixture(b->enc, delta_block_bound(DELTA_BLOCK_MAX) + 1,
				   root, name);
		if (codec == DELTA_CODEC_XOR) {
			blen = read_fixture(base, 2 * DELTA_BLOCK_MAX, root,
					    bname);
			/* without its base, the block does not decode */
			assert_int_equal(delta_block_decode(b->ctx, b->dec,
							    DELTA_BLOCK_MAX,
							    &dlen, b->enc, len),
					 HZ_ECORRUPT);
			xor_count++;
		}
		assert_int_equal(b->enc[4], codec);
		assert_int_equal(b->enc[5], dt);
		for (k = 0; pcs[0] != '-' && pcs[k]; k++)
			assert_int_equal(plane_coder(b->enc, k), pcs[k] - '0');
		for (simd = 0; simd < 2; simd++) {
			delta_rans_simd(simd);
			if (delta_block_decode_base(b->ctx, b->dec,
						    DELTA_BLOCK_MAX, &dlen,
						    b->enc, len,
						    fields == 8 ? base : NULL,
						    blen, (int)bdt))
				fail_msg("fixture '%s': %s", name,
					 hz_error_msg());
			assert_int_equal(dlen, raw_len);
			hz_sha256(got, b->dec, dlen);
			assert_memory_equal(got, sha, HZ_SHA256_LEN);
		}
		delta_rans_simd(true);
		count++;
	}
	fclose(m);
	free(base);
	assert_true(count >= 10);
	assert_true(xor_count >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_dtype),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_special_values),
		cmocka_unit_test(test_block_boundaries),
		cmocka_unit_test(test_gaussian_beats_zstd),
		cmocka_unit_test(test_f32_low_halves_zero),
		cmocka_unit_test(test_order1),
		cmocka_unit_test(test_zstd_choices),
		cmocka_unit_test(test_ints),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_damage_everywhere),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_fixtures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
