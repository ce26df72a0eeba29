/*
 * delta/planes.c - byte planes: transforms, the per-plane choice of a
 * coder, and the PLANES block codec (id 2).
 *
 * A block of n elements of esize bytes is transformed (see enum delta_xf)
 * and split into planes: plane k holds byte k (least significant first) of
 * every transformed element, so the exponent of a float lands in a plane
 * of its own and is entropy coded, while mantissa planes that are close to
 * random are stored as they are.  Each plane is coded alone by one of the
 * plane coders (enum delta_pc), chosen from its histogram: the coders that
 * cannot win are not run.
 *
 * delta_planes_encode/decode work on planes that are already split, so a
 * later codec (XOR against a base block) reuses them unchanged.
 */
#include "delta/delta_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"

/* A plane record: coder id (1), coded length (4), coded bytes. */
#define PREC_HDR 5
/*
 * A sparse record is kept if at most 1/SPARSE_SLACK larger than the best
 * other coder: it decodes some twenty times faster than rANS.
 */
#define SPARSE_SLACK 8
/* The largest gap token: gaps are below 2^20, the longest plane. */
#define SPARSE_TOKEN_MAX 20
/* Planes this long are first sampled, in runs of SAMPLE_RUN bytes. */
#define SAMPLE_MIN (1u << 16)
#define SAMPLE_RUN 1024

static int corrupt(const char *what)
{
	return hz_error_set(HZ_ECORRUPT, "corrupt block: %s", what);
}

static int plane_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			size_t *out_len, const uint8_t *p, size_t n,
			unsigned mask, int lz);

static inline uint16_t rotl16(uint16_t v)
{
	return (uint16_t)(v << 1 | v >> 15);
}

static inline uint16_t rotr16(uint16_t v)
{
	return (uint16_t)(v >> 1 | v << 15);
}

static inline uint32_t rotl32(uint32_t v)
{
	return v << 1 | v >> 31;
}

static inline uint32_t rotr32(uint32_t v)
{
	return v >> 1 | v << 31;
}

static inline uint64_t rotl64(uint64_t v)
{
	return v << 1 | v >> 63;
}

static inline uint64_t rotr64(uint64_t v)
{
	return v >> 1 | v << 63;
}

int delta_xf_nplanes(int xf, size_t esize)
{
	switch (xf) {
	case DELTA_XF_ROTL1:
		return esize == 2 || esize == 4 || esize == 8 ? (int)esize : -1;
	case DELTA_XF_F32_HI16:
		return esize == 4 ? 2 : -1;
	case DELTA_XF_SPLIT:
		return esize >= 1 && esize <= DELTA_PLANES_MAX ? (int)esize : -1;
	default:
		return -1;
	}
}

#ifdef __SSE2__
/* 16 elements of 2 bytes at src, rotated left 1 bit, split into p0, p1. */
static inline void split16x2(uint8_t *p0, uint8_t *p1, const uint8_t *src,
			     int rot)
{
	const __m128i lo = _mm_set1_epi16(0xff);
	__m128i a = _mm_loadu_si128((const __m128i *)src);
	__m128i b = _mm_loadu_si128((const __m128i *)(src + 16));

	if (rot) {
		a = _mm_or_si128(_mm_slli_epi16(a, 1), _mm_srli_epi16(a, 15));
		b = _mm_or_si128(_mm_slli_epi16(b, 1), _mm_srli_epi16(b, 15));
	}
	_mm_storeu_si128((__m128i *)p0,
			 _mm_packus_epi16(_mm_and_si128(a, lo),
					  _mm_and_si128(b, lo)));
	_mm_storeu_si128((__m128i *)p1, _mm_packus_epi16(_mm_srli_epi16(a, 8),
							 _mm_srli_epi16(b, 8)));
}

/* Byte k of 16 4-byte elements v[0..4) into 16 bytes at p. */
static inline void pick16x4(uint8_t *p, const __m128i *v, int k)
{
	const __m128i lo = _mm_set1_epi32(0xff);
	__m128i a = _mm_and_si128(_mm_srli_epi32(v[0], 8 * k), lo);
	__m128i b = _mm_and_si128(_mm_srli_epi32(v[1], 8 * k), lo);
	__m128i c = _mm_and_si128(_mm_srli_epi32(v[2], 8 * k), lo);
	__m128i d = _mm_and_si128(_mm_srli_epi32(v[3], 8 * k), lo);

	_mm_storeu_si128((__m128i *)p,
			 _mm_packus_epi16(_mm_packs_epi32(a, b),
					  _mm_packs_epi32(c, d)));
}
#endif

/* Splits n elements of src into planes: plane k at planes + k * n. */
void delta_split(uint8_t *planes, const uint8_t *src, size_t n, size_t esize,
		 int xf)
{
	uint8_t *p0 = planes, *p1 = planes + n, *p2 = planes + 2 * n,
		*p3 = planes + 3 * n;
	size_t i = 0, k;

	if (xf == DELTA_XF_ROTL1 && esize == 2) {
#ifdef __SSE2__
		for (; i + 16 <= n; i += 16)
			split16x2(p0 + i, p1 + i, src + 2 * i, 1);
#endif
		for (; i < n; i++) {
			uint16_t v = rotl16(hz_load16(src + 2 * i));

			p0[i] = (uint8_t)v;
			p1[i] = (uint8_t)(v >> 8);
		}
	} else if ((xf == DELTA_XF_ROTL1 || xf == DELTA_XF_SPLIT) &&
		   esize == 4) {
		int rot = xf == DELTA_XF_ROTL1;

#ifdef __SSE2__
		for (; i + 16 <= n; i += 16) {
			__m128i v[4];

			for (k = 0; k < 4; k++) {
				v[k] = _mm_loadu_si128(
					(const __m128i *)(src + 4 * i + 16 * k));
				if (rot)
					v[k] = _mm_or_si128(_mm_slli_epi32(v[k], 1),
							    _mm_srli_epi32(v[k], 31));
			}
			pick16x4(p0 + i, v, 0);
			pick16x4(p1 + i, v, 1);
			pick16x4(p2 + i, v, 2);
			pick16x4(p3 + i, v, 3);
		}
#endif
		for (; i < n; i++) {
			uint32_t v = hz_load32(src + 4 * i);

			if (rot)
				v = rotl32(v);
			p0[i] = (uint8_t)v;
			p1[i] = (uint8_t)(v >> 8);
			p2[i] = (uint8_t)(v >> 16);
			p3[i] = (uint8_t)(v >> 24);
		}
	} else if (xf == DELTA_XF_ROTL1 && esize == 8) {
		for (; i < n; i++) {
			uint64_t v = rotl64(hz_load64(src + 8 * i));

			for (k = 0; k < 8; k++)
				planes[k * n + i] = (uint8_t)(v >> 8 * k);
		}
	} else if (xf == DELTA_XF_F32_HI16) {
		for (; i < n; i++) {
			uint16_t v = rotl16(hz_load16(src + 4 * i + 2));

			p0[i] = (uint8_t)v;
			p1[i] = (uint8_t)(v >> 8);
		}
	} else if (esize == 1) {
		memcpy(planes, src, n);
	} else if (esize == 2) {
#ifdef __SSE2__
		for (; i + 16 <= n; i += 16)
			split16x2(p0 + i, p1 + i, src + 2 * i, 0);
#endif
		for (; i < n; i++) {
			p0[i] = src[2 * i];
			p1[i] = src[2 * i + 1];
		}
	} else {
		for (; i < n; i++)
			for (k = 0; k < esize; k++)
				planes[k * n + i] = src[i * esize + k];
	}
}

/* The inverse of delta_split, from planes anywhere. */
void delta_merge(uint8_t *dst, const uint8_t *const *planes, size_t n,
		 size_t esize, int xf)
{
	const uint8_t *p0 = planes[0], *p1 = planes[esize > 1 ? 1 : 0];
	size_t i = 0, k;

	if ((xf == DELTA_XF_ROTL1 || xf == DELTA_XF_SPLIT) && esize == 2) {
		int rot = xf == DELTA_XF_ROTL1;

#ifdef __SSE2__
		for (; i + 16 <= n; i += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(p0 + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(p1 + i));
			__m128i l = _mm_unpacklo_epi8(a, b);
			__m128i h = _mm_unpackhi_epi8(a, b);

			if (rot) {
				l = _mm_or_si128(_mm_srli_epi16(l, 1),
						 _mm_slli_epi16(l, 15));
				h = _mm_or_si128(_mm_srli_epi16(h, 1),
						 _mm_slli_epi16(h, 15));
			}
			_mm_storeu_si128((__m128i *)(dst + 2 * i), l);
			_mm_storeu_si128((__m128i *)(dst + 2 * i + 16), h);
		}
#endif
		for (; i < n; i++) {
			uint16_t v = (uint16_t)(p0[i] | p1[i] << 8);

			hz_store16(dst + 2 * i, rot ? rotr16(v) : v);
		}
	} else if ((xf == DELTA_XF_ROTL1 || xf == DELTA_XF_SPLIT) &&
		   esize == 4) {
		const uint8_t *p2 = planes[2], *p3 = planes[3];
		int rot = xf == DELTA_XF_ROTL1;

#ifdef __SSE2__
		for (; i + 16 <= n; i += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(p0 + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(p1 + i));
			__m128i c = _mm_loadu_si128((const __m128i *)(p2 + i));
			__m128i d = _mm_loadu_si128((const __m128i *)(p3 + i));
			__m128i ab[2], cd[2], v[4];

			ab[0] = _mm_unpacklo_epi8(a, b);
			ab[1] = _mm_unpackhi_epi8(a, b);
			cd[0] = _mm_unpacklo_epi8(c, d);
			cd[1] = _mm_unpackhi_epi8(c, d);
			v[0] = _mm_unpacklo_epi16(ab[0], cd[0]);
			v[1] = _mm_unpackhi_epi16(ab[0], cd[0]);
			v[2] = _mm_unpacklo_epi16(ab[1], cd[1]);
			v[3] = _mm_unpackhi_epi16(ab[1], cd[1]);
			for (k = 0; k < 4; k++) {
				if (rot)
					v[k] = _mm_or_si128(_mm_srli_epi32(v[k], 1),
							    _mm_slli_epi32(v[k], 31));
				_mm_storeu_si128(
					(__m128i *)(dst + 4 * i + 16 * k), v[k]);
			}
		}
#endif
		for (; i < n; i++) {
			uint32_t v = (uint32_t)p0[i] | (uint32_t)p1[i] << 8 |
				     (uint32_t)p2[i] << 16 |
				     (uint32_t)p3[i] << 24;

			hz_store32(dst + 4 * i, rot ? rotr32(v) : v);
		}
	} else if (xf == DELTA_XF_ROTL1 && esize == 8) {
		for (; i < n; i++) {
			uint64_t v = 0;

			for (k = 0; k < 8; k++)
				v |= (uint64_t)planes[k][i] << 8 * k;
			hz_store64(dst + 8 * i, rotr64(v));
		}
	} else if (xf == DELTA_XF_F32_HI16) {
#ifdef __SSE2__
		for (; i + 16 <= n; i += 16) {
			__m128i a = _mm_loadu_si128((const __m128i *)(p0 + i));
			__m128i b = _mm_loadu_si128((const __m128i *)(p1 + i));
			__m128i l = _mm_unpacklo_epi8(a, b);
			__m128i h = _mm_unpackhi_epi8(a, b);
			__m128i z = _mm_setzero_si128();

			l = _mm_or_si128(_mm_srli_epi16(l, 1), _mm_slli_epi16(l, 15));
			h = _mm_or_si128(_mm_srli_epi16(h, 1), _mm_slli_epi16(h, 15));
			_mm_storeu_si128((__m128i *)(dst + 4 * i),
					 _mm_unpacklo_epi16(z, l));
			_mm_storeu_si128((__m128i *)(dst + 4 * i + 16),
					 _mm_unpackhi_epi16(z, l));
			_mm_storeu_si128((__m128i *)(dst + 4 * i + 32),
					 _mm_unpacklo_epi16(z, h));
			_mm_storeu_si128((__m128i *)(dst + 4 * i + 48),
					 _mm_unpackhi_epi16(z, h));
		}
#endif
		for (; i < n; i++)
			hz_store32(dst + 4 * i,
				   (uint32_t)rotr16((uint16_t)(p0[i] |
							       p1[i] << 8))
					   << 16);
	} else if (esize == 1) {
		if (dst != p0)
			memcpy(dst, p0, n);
	} else {
		for (; i < n; i++)
			for (k = 0; k < esize; k++)
				dst[i * esize + k] = planes[k][i];
	}
}

/*
 * True if a sample of a long plane (every eighth run of SAMPLE_RUN bytes)
 * is too close to random for entropy coding to save 1/64: mantissa planes
 * then skip the full histogram.  A sample's entropy is biased low, so
 * this errs towards the full count.
 */
static bool near_random(uint32_t h[256], const uint8_t *p, size_t n)
{
	size_t i, k = 0;

	if (n < SAMPLE_MIN)
		return false;
	memset(h, 0, 256 * sizeof(*h));
	for (i = 0; i + SAMPLE_RUN <= n; i += 8 * SAMPLE_RUN) {
		uint32_t t[256];
		int s;

		delta_hist(t, p + i, SAMPLE_RUN);
		for (s = 0; s < 256; s++)
			h[s] += t[s];
		k += SAMPLE_RUN;
	}
	return delta_hist_cost(h, k) >= (double)(k - k / 64);
}

/*
 * The sparse coder's view of a plane with few non-zero bytes: for each,
 * the gap g (zeros since the previous one, or since the start) as a
 * token, its bit length (0 for g = 0, else floor(log2 g) + 1, at most
 * SPARSE_TOKEN_MAX), and the t - 1 bits of g below its top bit as extra
 * bits; and its value.  Tokens and values are entropy coded as plane
 * records; extra bits, close to random, are stored as they are.
 */
struct sparse_writer {
	uint8_t *tok, *val;	/* nz each */
	uint8_t *x;		/* extra bits, LSB first, xcap bytes */
	size_t k, next, xlen, xcap;
	uint64_t acc;
	unsigned nbits;
	bool full;
};

static inline void sparse_put(struct sparse_writer *w, size_t q, uint8_t v)
{
	uint32_t g = (uint32_t)(q - w->next);
	unsigned t = g ? 32 - (unsigned)__builtin_clz(g) : 0;

	w->tok[w->k] = (uint8_t)t;
	w->val[w->k++] = v;
	w->next = q + 1;
	if (t > 1) {
		w->acc |= (uint64_t)(g & ((1u << (t - 1)) - 1)) << w->nbits;
		w->nbits += t - 1;
		for (; w->nbits >= 8; w->nbits -= 8, w->acc >>= 8) {
			if (w->xlen == w->xcap) {
				w->full = true;
				w->xlen = 0;
			}
			w->x[w->xlen++] = (uint8_t)w->acc;
		}
	}
}

/*
 * The body of a sparse record for plane p (n bytes, 1 <= nz <= n / 8 of
 * them non-zero) into out[0..cap): nz (4), xlen (4), the xlen bytes of
 * extra bits, then the nz tokens and the nz values as two plane records
 * coded with mask.  0 with *out_len, DELTA_NOFIT or a negative code.
 */
static int sparse_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			 size_t *out_len, const uint8_t *p, size_t n,
			 size_t nz, unsigned mask)
{
	struct delta_enc *e = ctx->enc;
	struct sparse_writer w = { 0 };
	size_t i = 0, tlen, vlen, pos;
	int rc;

	if (cap < 8)
		return DELTA_NOFIT;
	if (!e->sparse) {
		e->sparse = malloc(DELTA_BLOCK_MAX / 4);
		if (!e->sparse)
			return hz_error_set(HZ_ENOMEM,
					    "cannot allocate the sparse plane coder");
	}
	w.tok = e->sparse;
	w.val = e->sparse + DELTA_BLOCK_MAX / 8;
	w.x = out + 8;
	w.xcap = cap - 8;
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		unsigned nzm = (unsigned)_mm_movemask_epi8(
				       _mm_cmpeq_epi8(v, _mm_setzero_si128())) ^
			       0xffffu;

		while (nzm) {
			size_t q = i + (size_t)__builtin_ctz(nzm);

			nzm &= nzm - 1;
			sparse_put(&w, q, p[q]);
		}
	}
#endif
	for (; i < n; i++)
		if (p[i])
			sparse_put(&w, i, p[i]);
	if (w.k != nz)
		return hz_error_set(HZ_ERROR, "sparse plane: counted %zu, found %zu",
				    nz, w.k);
	if (w.nbits) {
		if (w.xlen == w.xcap)
			w.full = true;
		else
			w.x[w.xlen++] = (uint8_t)w.acc;
	}
	if (w.full)
		return DELTA_NOFIT;
	hz_store32(out, (uint32_t)nz);
	hz_store32(out + 4, (uint32_t)w.xlen);
	pos = 8 + w.xlen;
	rc = plane_encode(ctx, out + pos, cap - pos, &tlen, w.tok, nz, mask,
			  DELTA_LZ_NEVER);
	if (rc)
		return rc;
	pos += tlen;
	rc = plane_encode(ctx, out + pos, cap - pos, &vlen, w.val, nz, mask,
			  DELTA_LZ_NEVER);
	if (rc)
		return rc;
	*out_len = pos + vlen;
	return 0;
}

/*
 * Codes one plane as a record in out[0..cap).  From the histogram: one
 * symbol -> CONST; an order-0 estimate that saves less than 1/64 -> RAW
 * without running a coder (mantissa planes); otherwise the smaller of the
 * exact rANS0 size and the order-1 plan; if mask allows a sparse record
 * and at most 1/8 of the bytes are non-zero, the sparse record unless it
 * is more than 1/SPARSE_SLACK larger (it decodes far faster).  zstd is run only as lz says
 * (with DELTA_LZ_PROBE: if LZ matches alone beat the best so far), with
 * that size as its budget.
 */
static int plane_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			size_t *out_len, const uint8_t *p, size_t n,
			unsigned mask, int lz)
{
	struct delta_enc *e = ctx->enc;
	uint32_t h[256];
	uint16_t f[256];
	size_t best_size = n, thresh = n - n / 64, clen = 0, room;
	int best = DELTA_PC_RAW, nsym = 0, s, rc, scale = RANS_SCALE;
	int lw = delta_rans_lways(n, mask & DELTA_PC_WIDE);

	if (cap < PREC_HDR)
		return DELTA_NOFIT;
	room = cap - PREC_HDR;
	if (near_random(h, p, n)) {
		nsym = 256;
		goto chosen;
	}
	delta_hist(h, p, n);
	for (s = 0; s < 256; s++)
		nsym += h[s] != 0;
	if (nsym == 1 && (mask & 1u << DELTA_PC_CONST)) {
		best = DELTA_PC_CONST;
		best_size = 1;
	} else if (nsym > 1 && (mask & 1u << DELTA_PC_RANS0) &&
		   delta_hist_cost(h, n) < (double)thresh) {
		size_t r0;

		scale = delta_rans_scale(n);
		if (delta_rans_normalize(f, h, scale))
			return hz_error_set(HZ_ERROR, "rans: cannot normalise");
		r0 = delta_rans0_size(h, f, scale, lw);
		if (r0 < thresh) {
			best = DELTA_PC_RANS0;
			best_size = r0;
		}
		if (mask & 1u << DELTA_PC_RANS1) {
			size_t r1 = delta_rans1_plan(e->w1, p, n, h);

			if (r1 && r1 < best_size && r1 < thresh) {
				best = DELTA_PC_RANS1;
				best_size = r1;
			}
		}
	}
	if (nsym > 1 && (mask & 1u << DELTA_PC_SPARSE) &&
	    n - h[0] <= n / DELTA_SPARSE_DIV) {
		/* not rans1: its plan would overwrite this plane's in w1 */
		rc = sparse_encode(ctx, out + PREC_HDR, room, &clen, p, n,
				   n - h[0],
				   mask & ~(1u << DELTA_PC_SPARSE |
					    1u << DELTA_PC_RANS1));
		if (rc < 0)
			return rc;
		if (!rc && clen <= best_size + best_size / SPARSE_SLACK) {
			best = DELTA_PC_SPARSE;
			goto done;
		}
	}
chosen:
	if (lz != DELTA_LZ_NEVER && best != DELTA_PC_CONST && n &&
	    (mask & 1u << DELTA_PC_ZSTD)) {
		size_t zcap = best == DELTA_PC_RAW ? thresh : best_size, est = 0;

		if (lz == DELTA_LZ_PROBE) {
			rc = delta_lz_probe(ctx, &est, p, n);
			if (rc)
				return rc;
		}
		if (est >= zcap)
			goto encode;

		rc = delta_zstd_compress(e->cctx, out + PREC_HDR,
					 zcap < room ? zcap : room, room, &clen,
					 p, n);
		if (rc < 0)
			return rc;
		if (!rc) {
			best = DELTA_PC_ZSTD;
			goto done;
		}
	}
encode:
	rc = DELTA_NOFIT;
	if (best == DELTA_PC_CONST && room >= 1) {
		out[PREC_HDR] = p[0];
		clen = 1;
		rc = 0;
	} else if (best == DELTA_PC_RANS0) {
		rc = delta_rans0_encode(out + PREC_HDR, room < n ? room : n,
					&clen, p, n, f, scale, lw, e->scratch,
					DELTA_SCRATCH);
	} else if (best == DELTA_PC_RANS1) {
		rc = delta_rans1_encode(out + PREC_HDR, room < n ? room : n,
					&clen, p, n, e->w1, e->scratch,
					DELTA_SCRATCH);
	}
	if (rc < 0)
		return rc;
	if (rc) {
		if (n > room)
			return DELTA_NOFIT;
		best = DELTA_PC_RAW;
		memcpy(out + PREC_HDR, p, n);
		clen = n;
	}
done:
	out[0] = (uint8_t)best;
	hz_store32(out + 1, (uint32_t)clen);
	*out_len = PREC_HDR + clen;
	return 0;
}

int delta_planes_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			size_t *out_len, const uint8_t *const *planes, int np,
			size_t n, unsigned mask, int lz)
{
	size_t pos = 0, len;
	int k, rc;

	for (k = 0; k < np; k++) {
		rc = plane_encode(ctx, out + pos, cap - pos, &len, planes[k], n,
				  mask, lz);
		if (rc)
			return rc;
		pos += len;
	}
	*out_len = pos;
	return 0;
}

typedef int (*pc_decode_fn)(struct delta_ctx *ctx, const uint8_t **plane,
			    uint8_t *buf, size_t n, const uint8_t *src,
			    size_t len);

static int pc_raw_decode(struct delta_ctx *ctx, const uint8_t **plane,
			 uint8_t *buf, size_t n, const uint8_t *src, size_t len)
{
	(void)ctx;
	(void)buf;
	if (len != n)
		return corrupt("raw plane has the wrong length");
	*plane = src;
	return 0;
}

static int pc_const_decode(struct delta_ctx *ctx, const uint8_t **plane,
			   uint8_t *buf, size_t n, const uint8_t *src,
			   size_t len)
{
	(void)ctx;
	if (len != 1)
		return corrupt("const plane has the wrong length");
	memset(buf, src[0], n);
	*plane = buf;
	return 0;
}

static int pc_zstd_decode(struct delta_ctx *ctx, const uint8_t **plane,
			  uint8_t *buf, size_t n, const uint8_t *src,
			  size_t len)
{
	*plane = buf;
	return delta_zstd_decompress(ctx->dec->dctx, buf, n, src, len);
}

static int pc_rans0_decode(struct delta_ctx *ctx, const uint8_t **plane,
			   uint8_t *buf, size_t n, const uint8_t *src,
			   size_t len)
{
	*plane = buf;
	return delta_rans0_decode(buf, n, src, len, ctx->dec->tab);
}

static int pc_rans1_decode(struct delta_ctx *ctx, const uint8_t **plane,
			   uint8_t *buf, size_t n, const uint8_t *src,
			   size_t len)
{
	*plane = buf;
	return delta_rans1_decode(buf, n, src, len, ctx->dec->tab);
}

static int pc_sparse_decode(struct delta_ctx *ctx, const uint8_t **plane,
			    uint8_t *buf, size_t n, const uint8_t *src,
			    size_t len);

/* Plane coders, indexed by their on-disk id. */
static const struct {
	const char *name;
	pc_decode_fn decode;
} plane_coders[DELTA_PC_COUNT] = {
	[DELTA_PC_RAW] = { "raw", pc_raw_decode },
	[DELTA_PC_CONST] = { "const", pc_const_decode },
	[DELTA_PC_ZSTD] = { "zstd", pc_zstd_decode },
	[DELTA_PC_RANS0] = { "rans0", pc_rans0_decode },
	[DELTA_PC_RANS1] = { "rans1", pc_rans1_decode },
	[DELTA_PC_SPARSE] = { "sparse", pc_sparse_decode },
};

/*
 * Decodes the plane record at src[0..len) (n bytes, a coder in mask,
 * into buf unless it points into src) and sets *rec_len to its size.
 */
static int record_decode(struct delta_ctx *ctx, const uint8_t **plane,
			 uint8_t *buf, size_t n, const uint8_t *src,
			 size_t len, unsigned mask, size_t *rec_len)
{
	unsigned pc;
	uint32_t clen;

	if (len < PREC_HDR)
		return corrupt("plane record is truncated");
	pc = src[0];
	clen = hz_load32(src + 1);
	if (pc >= DELTA_PC_COUNT || !(mask & 1u << pc))
		return corrupt("unknown plane coder");
	if (clen > len - PREC_HDR)
		return corrupt("plane overruns the payload");
	*rec_len = PREC_HDR + clen;
	return plane_coders[pc].decode(ctx, plane, buf, n, src + PREC_HDR,
				       clen);
}

/*
 * A sparse plane: nz (4), xlen (4), extra bits, the token and value
 * records (coders 0-4; see sparse_encode), decoded into the decoder's
 * sparse scratch and scattered into buf.  Every count, token and
 * position is checked: 1 <= nz <= n / 8 values, none zero, every
 * position inside the plane, and the extra bits used exactly, with zero
 * padding.
 */
static int pc_sparse_decode(struct delta_ctx *ctx, const uint8_t **plane,
			    uint8_t *buf, size_t n, const uint8_t *src,
			    size_t len)
{
	struct delta_dec *d = ctx->dec;
	const uint8_t *tok, *val, *x;
	size_t nz, xlen, tlen, vlen, pos = 0, xi = 0, k;
	uint64_t acc = 0;
	unsigned nbits = 0;
	int rc;

	if (len < 8)
		return corrupt("sparse plane is truncated");
	nz = hz_load32(src);
	xlen = hz_load32(src + 4);
	if (!nz || nz > n / DELTA_SPARSE_DIV)
		return corrupt("sparse plane has a bad count");
	if (xlen > len - 8)
		return corrupt("sparse extra bits overrun the plane");
	if (!d->sparse) {
		d->sparse = malloc(DELTA_BLOCK_MAX / 4);
		if (!d->sparse)
			return hz_error_set(HZ_ENOMEM,
					    "cannot allocate the sparse plane decoder");
	}
	x = src + 8;
	rc = record_decode(ctx, &tok, d->sparse, nz, x + xlen, len - 8 - xlen,
			   DELTA_PC_MASK_V1, &tlen);
	if (rc)
		return rc;
	rc = record_decode(ctx, &val, d->sparse + DELTA_BLOCK_MAX / 8, nz,
			   x + xlen + tlen, len - 8 - xlen - tlen,
			   DELTA_PC_MASK_V1, &vlen);
	if (rc)
		return rc;
	if (8 + xlen + tlen + vlen != len)
		return corrupt("bytes after the sparse values");
	memset(buf, 0, n);
	for (k = 0; k < nz; k++) {
		unsigned t = tok[k];
		size_t g = t > 0;

		if (t > SPARSE_TOKEN_MAX)
			return corrupt("sparse gap token out of range");
		if (t > 1) {
			while (nbits < t - 1) {
				if (xi == xlen)
					return corrupt("sparse extra bits are truncated");
				acc |= (uint64_t)x[xi++] << nbits;
				nbits += 8;
			}
			g = ((size_t)1 << (t - 1)) | (acc & ((1u << (t - 1)) - 1));
			acc >>= t - 1;
			nbits -= t - 1;
		}
		if (g >= n - pos)
			return corrupt("sparse value outside the plane");
		if (!val[k])
			return corrupt("sparse value is zero");
		buf[pos + g] = val[k];
		pos += g + 1;
	}
	if (xi != xlen || acc)
		return corrupt("sparse extra bits left over");
	*plane = buf;
	return 0;
}

int delta_planes_decode(struct delta_ctx *ctx, const uint8_t **planes,
			int np, size_t n, const uint8_t *src, size_t len,
			unsigned mask)
{
	size_t pos = 0, rlen;
	int k, rc;

	for (k = 0; k < np; k++) {
		rc = record_decode(ctx, &planes[k],
				   ctx->dec->planes + (size_t)k * n, n,
				   src + pos, len - pos, mask, &rlen);
		if (rc)
			return rc;
		pos += rlen;
	}
	if (pos != len)
		return corrupt("bytes after the last plane");
	return 0;
}

/* True if every 4-byte element of src has its low 16 bits zero. */
static bool low16_zero(const uint8_t *src, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t e = n - i < 256 ? n : i + 256;
		uint32_t acc = 0;

		for (; i < e; i++)
			acc |= hz_load16(src + 4 * i);
		if (acc)
			return false;
	}
	return true;
}

/*
 * The PLANES codec: [transform][plane count][plane records].  Floats of 2,
 * 4 or 8 bytes are rotated left one bit so the whole exponent is one byte
 * (F32 whose low halves are all zero keep only the high halves); other
 * dtypes are split as they are.
 */
int delta_planes_codec_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			      size_t *out_len, const uint8_t *src, size_t len,
			      int dt, int lz)
{
	const uint8_t *planes[DELTA_PLANES_MAX];
	size_t esize = hz_dtype_size(dt), n = len / esize, plen;
	int xf = DELTA_XF_SPLIT, np, k, rc;

	if (hz_dtype_is_float(dt) && esize > 1)
		xf = esize == 4 && n && low16_zero(src, n) ? DELTA_XF_F32_HI16
							   : DELTA_XF_ROTL1;
	np = delta_xf_nplanes(xf, esize);
	if (cap < 2)
		return DELTA_NOFIT;
	delta_split(ctx->enc->planes, src, n, esize, xf);
	for (k = 0; k < np; k++)
		planes[k] = ctx->enc->planes + (size_t)k * n;
	out[0] = (uint8_t)xf;
	out[1] = (uint8_t)np;
	rc = delta_planes_encode(ctx, out + 2, cap - 2, &plen, planes, np, n,
				 DELTA_PC_MASK_V1, lz);
	if (rc)
		return rc;
	*out_len = 2 + plen;
	return 0;
}

int delta_planes_codec_decode(struct delta_ctx *ctx, uint8_t *out,
			      size_t raw_len, int dt, const uint8_t *src,
			      size_t len)
{
	const uint8_t *planes[DELTA_PLANES_MAX];
	size_t esize = hz_dtype_size(dt), n;
	int np, rc;

	if (!esize || raw_len % esize)
		return corrupt("raw length is not a multiple of the element size");
	n = raw_len / esize;
	if (len < 2)
		return corrupt("planes payload is truncated");
	np = delta_xf_nplanes(src[0], esize);
	if (np < 0 || src[1] != np)
		return corrupt("unknown transform or wrong plane count");
	rc = delta_planes_decode(ctx, planes, np, n, src + 2, len - 2,
				 DELTA_PC_MASK_V1);
	if (rc)
		return rc;
	delta_merge(out, planes, n, esize, src[0]);
	return 0;
}
