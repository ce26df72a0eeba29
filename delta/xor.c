/*
 * delta/xor.c - the XOR codec (id 3): a block coded against a base block.
 *
 * Element i of the block is XORed with element i of the base (for an F32
 * base of a BF16 or F16 block, with the base element first rounded to the
 * block's dtype, so that a plain cast XORs to zero), and the result is
 * split into byte planes and coded by the plane coders of codec 2, plus
 * the sparse coder.  A fine-tune keeps most sign, exponent and high
 * mantissa bits of its base, so the high planes are nearly all zeros
 * (sparse: decoded without touching every byte through rANS), and only
 * the low mantissa planes stay close to random.
 *
 * Payload: base dtype (1), nb = base elements used (4, LE), transform
 * (1), plane count (1), plane records; docs/format.md (Codecs) has the
 * details and the measurements behind the choices.
 */
#include "delta/delta_int.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define XOR_AVX2 1
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"

static const char *dt_name(int dt)
{
	return hz_dtype_name(dt) ? hz_dtype_name(dt) : "an unknown dtype";
}

/* Bytes of the payload before the plane records. */
#define XOR_HDR 7
/*
 * What the encoder uses: plain byte planes of the XORed elements (on
 * fine-tunes of the corpus, 0.6% smaller than rotl1, which moves the
 * sign's XOR, nearly always 0, into the random low plane), and every
 * plane coder but rans1, which never paid on XORed planes and costs a
 * third of the encoding time; rans0 with 16 states from 4096 symbols on
 * (the AVX2 decoder: small tensors decode a fifth faster for 32 bytes
 * more).
 * Decoders accept rotl1 and rans1 too.
 */
#define XOR_XF DELTA_XF_SPLIT
#define XOR_PC_ENC                                                         \
	((DELTA_PC_MASK_XOR & ~(1u << DELTA_PC_RANS1)) | DELTA_PC_WIDE)

static int corrupt(const char *what)
{
	return hz_error_set(HZ_ECORRUPT, "corrupt block: %s", what);
}

int delta_xor_supported(int dt, int base_dt)
{
	switch (dt) {
	case HZ_DT_F64:
	case HZ_DT_F32:
	case HZ_DT_F8_E4M3:
	case HZ_DT_F8_E5M2:
		return base_dt == dt;
	case HZ_DT_F16:
	case HZ_DT_BF16:
		return base_dt == dt || base_dt == HZ_DT_F32;
	default:
		return 0;
	}
}

/*
 * F32 bits to BF16 bits, round to nearest even (overflow gives Inf by the
 * carry); a NaN is truncated and quieted, keeping its sign and the top
 * of its payload.
 */
static inline uint16_t f32_to_bf16(uint32_t x)
{
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(x >> 16 | 0x40);
	return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
}

/*
 * F32 bits to IEEE F16 bits, round to nearest even, with subnormals;
 * beyond the largest half (after rounding) Inf; a NaN becomes the quiet
 * NaN 0x7e00 with its sign.  Integers only, so it does not depend on the
 * floating-point environment.
 */
static inline uint16_t f32_to_f16(uint32_t x)
{
	uint32_t s = x >> 16 & 0x8000, a = x & 0x7fffffff;

	if (a >= 0x47800000) /* |x| >= 65536: Inf, or NaN */
		return (uint16_t)(s | (a > 0x7f800000 ? 0x7e00 : 0x7c00));
	if (a < 0x38800000) { /* |x| < 2^-14: a subnormal half, or 0 */
		uint32_t e = a >> 23, m, sh, r;

		if (e < 102) /* |x| < 2^-25: rounds to 0 */
			return (uint16_t)s;
		m = (a & 0x7fffff) | 0x800000;
		sh = 126 - e; /* 14 .. 24 */
		r = m >> sh;
		if ((m >> (sh - 1) & 1) &&
		    ((m & ((1u << (sh - 1)) - 1)) || (r & 1)))
			r++;
		return (uint16_t)(s | r);
	}
	/* rebias the exponent, round the 13 dropped bits to even */
	return (uint16_t)(s | (a + 0xc8000fff + (a >> 13 & 1)) >> 13);
}

#ifdef __SSE2__
/*
 * f32_to_bf16 of 4 lanes, sign-extended from 16 bits (so that
 * _mm_packs_epi32 packs them exactly).  Rounding never carries into the
 * sign of a number (+-Inf plus 0x8000 stays below it), and NaN lanes are
 * replaced, so an arithmetic shift gives the sign-extended result.
 */
static inline __m128i bf16x4(__m128i x)
{
	__m128i lsb = _mm_and_si128(_mm_srli_epi32(x, 16), _mm_set1_epi32(1));
	__m128i r = _mm_srai_epi32(
		_mm_add_epi32(_mm_add_epi32(x, _mm_set1_epi32(0x7fff)), lsb),
		16);
	__m128i a = _mm_and_si128(x, _mm_set1_epi32(0x7fffffff));
	__m128i nan = _mm_cmpgt_epi32(a, _mm_set1_epi32(0x7f800000));
	__m128i q = _mm_or_si128(_mm_srai_epi32(x, 16), _mm_set1_epi32(0x40));

	return _mm_or_si128(_mm_and_si128(nan, q), _mm_andnot_si128(nan, r));
}

/*
 * f32_to_f16 of 4 lanes, sign-extended from 16 bits.  Subnormal results
 * come from an SSE add of 0.5f, which aligns the 10 bits of a subnormal
 * half at the bottom of the sum and rounds to nearest even (SSE arithmetic
 * is exact single precision in the default rounding mode; DAZ would not
 * change the result, as every F32 subnormal rounds to a zero half).
 * The unit tests compare it with the scalar version on every class.
 */
static inline __m128i f16x4(__m128i x)
{
	const __m128i half = _mm_set1_epi32(0x3f000000); /* 0.5f */
	__m128i sign = _mm_and_si128(x, _mm_set1_epi32((int)0x80000000u));
	__m128i a = _mm_xor_si128(x, sign);
	__m128i big = _mm_cmpgt_epi32(a, _mm_set1_epi32(0x477fffff));
	__m128i nan = _mm_cmpgt_epi32(a, _mm_set1_epi32(0x7f800000));
	__m128i bigv = _mm_or_si128(_mm_set1_epi32(0x7c00),
				    _mm_and_si128(nan, _mm_set1_epi32(0x200)));
	__m128i sub = _mm_cmpgt_epi32(_mm_set1_epi32(0x38800000), a);
	__m128i subv = _mm_sub_epi32(
		_mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(a),
					    _mm_castsi128_ps(half))),
		half);
	__m128i odd = _mm_and_si128(_mm_srli_epi32(a, 13), _mm_set1_epi32(1));
	__m128i norm = _mm_srli_epi32(
		_mm_add_epi32(_mm_add_epi32(a, _mm_set1_epi32((int)0xc8000fffu)),
			      odd),
		13);
	__m128i r = _mm_or_si128(_mm_and_si128(sub, subv),
				 _mm_andnot_si128(sub, norm));

	r = _mm_or_si128(_mm_and_si128(big, bigv), _mm_andnot_si128(big, r));
	return _mm_or_si128(r, _mm_srai_epi32(sign, 16));
}
#endif

#ifdef XOR_AVX2
/* bf16x4 and f16x4 on 8 lanes. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
bf16x8(__m256i x)
{
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16),
				       _mm256_set1_epi32(1));
	__m256i r = _mm256_srai_epi32(
		_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)),
				 lsb),
		16);
	__m256i a = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
	__m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
	__m256i q = _mm256_or_si256(_mm256_srai_epi32(x, 16),
				    _mm256_set1_epi32(0x40));

	return _mm256_blendv_epi8(r, q, nan);
}

__attribute__((target("avx2"), always_inline)) static inline __m256i
f16x8(__m256i x)
{
	const __m256i half = _mm256_set1_epi32(0x3f000000);
	__m256i sign = _mm256_and_si256(x, _mm256_set1_epi32((int)0x80000000u));
	__m256i a = _mm256_xor_si256(x, sign);
	__m256i big = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x477fffff));
	__m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
	__m256i bigv = _mm256_or_si256(_mm256_set1_epi32(0x7c00),
				       _mm256_and_si256(nan,
							_mm256_set1_epi32(0x200)));
	__m256i sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x38800000), a);
	__m256i subv = _mm256_sub_epi32(
		_mm256_castps_si256(_mm256_add_ps(_mm256_castsi256_ps(a),
						  _mm256_castsi256_ps(half))),
		half);
	__m256i odd = _mm256_and_si256(_mm256_srli_epi32(a, 13),
				       _mm256_set1_epi32(1));
	__m256i norm = _mm256_srli_epi32(
		_mm256_add_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(
							     (int)0xc8000fffu)),
				 odd),
		13);
	__m256i r = _mm256_blendv_epi8(norm, subv, sub);

	r = _mm256_blendv_epi8(r, bigv, big);
	return _mm256_or_si256(r, _mm256_srai_epi32(sign, 16));
}

/* The AVX2 body of xor_narrow: 16 elements a round; returns the count. */
__attribute__((target("avx2"))) static size_t
xor_narrow_avx2(uint8_t *dst, const uint8_t *a, const uint8_t *base, size_t n,
		bool f16)
{
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m256i b0 = _mm256_loadu_si256((const __m256i *)(base + 4 * i));
		__m256i b1 = _mm256_loadu_si256(
			(const __m256i *)(base + 4 * i + 32));
		__m256i v = _mm256_loadu_si256((const __m256i *)(a + 2 * i));

		if (f16)
			b0 = _mm256_packs_epi32(f16x8(b0), f16x8(b1));
		else
			b0 = _mm256_packs_epi32(bf16x8(b0), bf16x8(b1));
		/* packs works within 128-bit lanes: put the quarters back */
		b0 = _mm256_permute4x64_epi64(b0, 0xd8);
		_mm256_storeu_si256((__m256i *)(dst + 2 * i),
				    _mm256_xor_si256(v, b0));
	}
	return i;
}
#endif

/* dst[0..len) = a ^ b, bytewise; dst may be a. */
static void xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b,
		      size_t len)
{
	size_t i = 0;

#ifdef __SSE2__
	for (; i + 32 <= len; i += 32) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)(a + i));
		__m128i x1 = _mm_loadu_si128((const __m128i *)(a + i + 16));
		__m128i y0 = _mm_loadu_si128((const __m128i *)(b + i));
		__m128i y1 = _mm_loadu_si128((const __m128i *)(b + i + 16));

		_mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(x0, y0));
		_mm_storeu_si128((__m128i *)(dst + i + 16),
				 _mm_xor_si128(x1, y1));
	}
#endif
	for (; i + 8 <= len; i += 8) {
		uint64_t x, y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		x ^= y;
		memcpy(dst + i, &x, 8);
	}
	for (; i < len; i++)
		dst[i] = a[i] ^ b[i];
}

/*
 * dst[i] = a[i] ^ narrow(base[i]) for n 2-byte elements a, dst (dst may
 * be a) and n F32 elements base; narrow is f32_to_f16 if f16, else
 * f32_to_bf16.
 */
static inline __attribute__((always_inline)) void
xor_narrow(uint8_t *dst, const uint8_t *a, const uint8_t *base, size_t n,
	   bool f16)
{
	size_t i = 0;

#ifdef XOR_AVX2
	if (delta_have_avx2())
		i = f16 ? xor_narrow_avx2(dst, a, base, n, true)
			: xor_narrow_avx2(dst, a, base, n, false);
#endif
#ifdef __SSE2__
	for (; i + 8 <= n; i += 8) {
		__m128i b0 = _mm_loadu_si128((const __m128i *)(base + 4 * i));
		__m128i b1 = _mm_loadu_si128(
			(const __m128i *)(base + 4 * i + 16));
		__m128i v = _mm_loadu_si128((const __m128i *)(a + 2 * i));

		if (f16)
			b0 = _mm_packs_epi32(f16x4(b0), f16x4(b1));
		else
			b0 = _mm_packs_epi32(bf16x4(b0), bf16x4(b1));
		_mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_xor_si128(v, b0));
	}
#endif
	for (; i < n; i++) {
		uint32_t x = hz_load32(base + 4 * i);

		hz_store16(dst + 2 * i,
			   hz_load16(a + 2 * i) ^
				   (f16 ? f32_to_f16(x) : f32_to_bf16(x)));
	}
}

/*
 * dst[0..nb) = a[0..nb) ^ base[0..nb), elements of dt against elements
 * of base_dt (a supported pair); dst may be a.
 */
static void xor_base(uint8_t *dst, const uint8_t *a, const uint8_t *base,
		     size_t nb, int dt, int base_dt)
{
	if (dt == base_dt)
		xor_bytes(dst, a, base, nb * hz_dtype_size(dt));
	else if (dt == HZ_DT_F16)
		xor_narrow(dst, a, base, nb, true);
	else
		xor_narrow(dst, a, base, nb, false);
}

/*
 * True if at least 1/16 of the 16-byte chunks of x[0..len) are zero:
 * runs of unchanged elements, which zstd may code better than rANS.
 * Scattered zeros (a fine-tune that left some elements alone) rarely
 * fill a chunk, and rANS codes them well.
 */
static bool zero_runs(const uint8_t *x, size_t len)
{
	size_t i, zero = 0, chunks = len / 16;

	for (i = 0; i + 16 <= len; i += 16) {
		uint64_t a, b;

		memcpy(&a, x + i, 8);
		memcpy(&b, x + i + 8, 8);
		zero += !(a | b);
	}
	return chunks && zero >= chunks / 16;
}

/*
 * The codec-3 payload of src (n elements of dt) against base (nb <= n
 * elements of base_dt) into ctx->enc->xbuf, at most cap bytes: the
 * XORed elements are made in xbuf, split into the encoder's planes, and
 * the payload then written over them.  0 with *out_len, DELTA_NOFIT, or
 * a negative HZ_E* code.
 */
static int xor_encode(struct delta_ctx *ctx, size_t *out_len, size_t cap,
		      const uint8_t *src, size_t n, int dt,
		      const uint8_t *base, size_t nb, int base_dt)
{
	const uint8_t *planes[DELTA_PLANES_MAX];
	struct delta_enc *e = ctx->enc;
	size_t es = hz_dtype_size(dt), plen;
	int np = delta_xf_nplanes(XOR_XF, es), k, lz, rc;
	uint8_t *x;

	if (cap < XOR_HDR)
		return DELTA_NOFIT;
	if (!e->xbuf) {
		e->xbuf = malloc(DELTA_SCRATCH);
		if (!e->xbuf)
			return hz_error_set(HZ_ENOMEM,
					    "cannot allocate the XOR encoder");
	}
	x = e->xbuf;
	xor_base(x, src, base, nb, dt, base_dt);
	if (nb < n)
		memcpy(x + nb * es, src + nb * es, (n - nb) * es);
	lz = zero_runs(x, n * es) ? DELTA_LZ_PROBE : DELTA_LZ_NEVER;
	delta_split(e->planes, x, n, es, XOR_XF);
	for (k = 0; k < np; k++)
		planes[k] = e->planes + (size_t)k * n;
	rc = delta_planes_encode(ctx, x + XOR_HDR, cap - XOR_HDR, &plen, planes,
				 np, n, XOR_PC_ENC, lz);
	if (rc)
		return rc;
	x[0] = (uint8_t)base_dt;
	hz_store32(x + 1, (uint32_t)nb);
	x[5] = (uint8_t)XOR_XF;
	x[6] = (uint8_t)np;
	*out_len = XOR_HDR + plen;
	return 0;
}

int delta_block_encode_base(struct delta_ctx *ctx, uint8_t *out, size_t *out_len,
			    size_t *plain_len, int *used_base, const uint8_t *src,
			    size_t len, int dt, const uint8_t *base, size_t base_len,
			    int base_dt)
{
	size_t blen, xlen = 0, es, nb = 0;
	int rc;

	if (used_base)
		*used_base = 0;
	if (!ctx || !out || !out_len)
		return hz_error_set(HZ_EINVAL,
				    "delta_block_encode_base: NULL argument");
	if (base) {
		if (!delta_xor_supported(dt, base_dt))
			return hz_error_set(HZ_EINVAL,
					    "cannot XOR-code %s against a base of %s",
					    dt_name(dt), dt_name(base_dt));
		if (base_len % hz_dtype_size(base_dt))
			return hz_error_set(HZ_EINVAL,
					    "base of %zu bytes is not a whole number of %s elements",
					    base_len, hz_dtype_name(base_dt));
		nb = base_len / hz_dtype_size(base_dt);
	}
	rc = delta_block_encode(ctx, out, &blen, src, len, dt);
	if (rc)
		return rc;
	*out_len = blen;
	if (plain_len)
		*plain_len = blen;
	es = hz_dtype_size(dt);
	if (nb > len / es)
		nb = len / es;
	/* nothing to XOR with, or no payload it could beat */
	if (!nb || blen - DELTA_BLOCK_HDR <= XOR_HDR)
		return 0;
	rc = xor_encode(ctx, &xlen, blen - DELTA_BLOCK_HDR - 1, src, len / es,
			dt, base, nb, base_dt);
	if (rc < 0)
		return rc;
	if (rc)
		return 0;
	/* the plain block's header holds the same dtype, lengths, checksum */
	memcpy(out + DELTA_BLOCK_HDR, ctx->enc->xbuf, xlen);
	out[4] = DELTA_CODEC_XOR;
	hz_store32(out + 12, (uint32_t)xlen);
	*out_len = DELTA_BLOCK_HDR + xlen;
	if (used_base)
		*used_base = 1;
	return 0;
}

int delta_xor_codec_decode(struct delta_ctx *ctx, uint8_t *out,
			   size_t raw_len, int dt, const uint8_t *src,
			   size_t len, const struct delta_base *base)
{
	const uint8_t *planes[DELTA_PLANES_MAX];
	size_t es = hz_dtype_size(dt), n, nb, base_n;
	int xf, np, rc;

	if (!es || raw_len % es)
		return corrupt("raw length is not a multiple of the element size");
	n = raw_len / es;
	if (len < XOR_HDR)
		return corrupt("xor payload is truncated");
	if (!delta_xor_supported(dt, src[0]))
		return corrupt("xor block of an unsupported dtype pair");
	if (src[0] != base->dt)
		return hz_error_set(HZ_ECORRUPT,
				    "corrupt block: coded against a %s base, given %s",
				    dt_name(src[0]), dt_name(base->dt));
	if (base->len % hz_dtype_size(base->dt))
		return corrupt("base is not a whole number of elements");
	base_n = base->len / hz_dtype_size(base->dt);
	nb = hz_load32(src + 1);
	if (nb != (n < base_n ? n : base_n))
		return hz_error_set(HZ_ECORRUPT,
				    "corrupt block: coded against %zu base elements, given %zu",
				    nb, base_n);
	xf = src[5];
	np = delta_xf_nplanes(xf, es);
	if ((xf != DELTA_XF_ROTL1 && xf != DELTA_XF_SPLIT) || np < 0 ||
	    src[6] != np)
		return corrupt("unknown transform or wrong plane count");
	rc = delta_planes_decode(ctx, planes, np, n, src + XOR_HDR,
				 len - XOR_HDR, DELTA_PC_MASK_XOR);
	if (rc)
		return rc;
	delta_merge(out, planes, n, es, xf);
	xor_base(out, out, base->p, nb, dt, base->dt);
	return 0;
}
