/*
 * delta/rans.c - static rANS coders for byte planes: order 0, and order 1
 * with the previous symbol (shifted right) as context.
 *
 * The coder is ryg's rans_byte/rans_word (Fabian Giesen, public domain)
 * reshaped for planes: up to 32 interleaved 31-bit states in [2^15, 2^31),
 * 16-bit renormalisation (at most one word per symbol, since the scale is
 * at most 12 bits), probabilities quantised to 2^scale, and Alverson
 * reciprocals so the encoder does not divide.  One word stream is shared
 * by the states: the encoder walks the symbols backwards and writes words
 * backwards, so the decoder reads both forwards.  With 32 states, eight
 * AVX2 lanes decode four independent groups per round (gathering table
 * entries), which is what makes restores fast; the scalar decoder is the
 * reference and the fallback.
 * The encoder likewise codes 16 and 32 states eight lanes at a time
 * with AVX-512 (VL, BW), compressing the words of the lanes that
 * renormalise, so it writes the same words in the same order as the
 * scalar encoder.
 *
 * Stream layout (after the model, see docs/format.md (Codecs)): the final
 * encoder states as u32, then the u16 words.  A decoder ends with every
 * state back at 2^15 (the encoder's initial state) and every word read;
 * anything else is corruption.
 *
 * The decoder never trusts the stream: tables are rebuilt only from
 * frequency lists that sum exactly to 2^scale, slot lookups are masked,
 * and input reads are bounds-checked (once per round of states on the
 * fast paths, once per read on the tail), so hostile input can produce
 * wrong bytes (caught by the block checksum) but never touch memory
 * outside its buffers.
 */
#include "delta/delta_int.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RANS_X86 1
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#define RANS_L (1u << 15)
/* Order 1 is planned only for planes at least this long. */
#define RANS1_MIN_N (1u << 14)
/* ... and only tried when its estimate beats order 0 by 1/64. */
#define RANS1_GAIN_SHIFT 6
/* Planes this long are planned on a quarter, in runs of RANS1_RUN. */
#define RANS1_SAMPLE_MIN (1u << 16)
#define RANS1_RUN 2048

static atomic_int simd_off;

void delta_rans_simd(bool on)
{
	atomic_store_explicit(&simd_off, !on, memory_order_relaxed);
}

static bool have_avx2(void)
{
#ifdef RANS_X86
	return !atomic_load_explicit(&simd_off, memory_order_relaxed) &&
	       __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

bool delta_have_avx2(void)
{
	return have_avx2();
}

/* The AVX-512 (VL, BW) encoder: the CPU has it, and SIMD is enabled. */
static bool have_avx512(void)
{
#ifdef RANS_X86
	return !atomic_load_explicit(&simd_off, memory_order_relaxed) &&
	       __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512bw");
#else
	return false;
#endif
}

/*
 * log2 of the number of states the encoder uses for n symbols: 4 bytes of
 * final state per 1024 symbols or more, at most 32 (16 and 32 states use
 * the AVX2 decoder).
 */
int delta_rans_lways(size_t n, bool wide)
{
	int lw = 0;

	while (lw < RANS_LW_MAX && (size_t)1024 << (lw + 1) <= n)
		lw++;
	if (wide && n >= DELTA_WIDE_MIN && lw < 4)
		lw = 4;
	return lw;
}

/* The scale the encoder uses for n symbols: smaller tables for short planes. */
int delta_rans_scale(size_t n)
{
	int scale = 8;

	while (scale < RANS_SCALE && (size_t)1 << scale < n)
		scale++;
	return scale;
}

static int corrupt(const char *what)
{
	return hz_error_set(HZ_ECORRUPT, "corrupt block: %s", what);
}

/*
 * Byte histograms.  Increments of one counter are chained through memory
 * (store to load forwarding), so consecutive bytes count into four
 * sub-histograms, merged at the end, and a chunk of 32 zero bytes (most
 * of an XORed high plane) counts at once.  Adds to h.
 */
static inline void hist_word4(uint32_t t[4][256], uint64_t v)
{
	t[0][v & 0xff]++;
	t[1][v >> 8 & 0xff]++;
	t[2][v >> 16 & 0xff]++;
	t[3][v >> 24 & 0xff]++;
	t[0][v >> 32 & 0xff]++;
	t[1][v >> 40 & 0xff]++;
	t[2][v >> 48 & 0xff]++;
	t[3][v >> 56]++;
}

static inline void hist_word8(uint32_t t[8][256], uint64_t v)
{
	t[0][v & 0xff]++;
	t[1][v >> 8 & 0xff]++;
	t[2][v >> 16 & 0xff]++;
	t[3][v >> 24 & 0xff]++;
	t[4][v >> 32 & 0xff]++;
	t[5][v >> 40 & 0xff]++;
	t[6][v >> 48 & 0xff]++;
	t[7][v >> 56]++;
}

static void hist_add(uint32_t h[256], const uint8_t *p, size_t n)
{
	uint32_t t[4][256], zeros = 0;
	size_t i = 0;
	int s;

	memset(t, 0, sizeof(t));
	for (; i + 32 <= n; i += 32) {
		uint64_t v[4];

		v[0] = hz_load64(p + i);
		v[1] = hz_load64(p + i + 8);
		v[2] = hz_load64(p + i + 16);
		v[3] = hz_load64(p + i + 24);
		if (!(v[0] | v[1] | v[2] | v[3])) {
			zeros += 32;
			continue;
		}
		hist_word4(t, v[0]);
		hist_word4(t, v[1]);
		hist_word4(t, v[2]);
		hist_word4(t, v[3]);
	}
	for (; i < n; i++)
		t[0][p[i]]++;
	t[1][0] += zeros;
	for (s = 0; s < 256; s++)
		h[s] += t[0][s] + t[1][s] + t[2][s] + t[3][s];
}

/*
 * The same with eight sub-histograms, for planes where one symbol is
 * most of the bytes (four chains of its counter would be the bound).
 */
static void hist_add8(uint32_t h[256], const uint8_t *p, size_t n)
{
	uint32_t t[8][256], zeros = 0;
	size_t i = 0;
	int s, k;

	memset(t, 0, sizeof(t));
	for (; i + 32 <= n; i += 32) {
		uint64_t v[4];

		v[0] = hz_load64(p + i);
		v[1] = hz_load64(p + i + 8);
		v[2] = hz_load64(p + i + 16);
		v[3] = hz_load64(p + i + 24);
		if (!(v[0] | v[1] | v[2] | v[3])) {
			zeros += 32;
			continue;
		}
		hist_word8(t, v[0]);
		hist_word8(t, v[1]);
		hist_word8(t, v[2]);
		hist_word8(t, v[3]);
	}
	for (; i < n; i++)
		t[0][p[i]]++;
	t[1][0] += zeros;
	for (s = 0; s < 256; s++) {
		uint32_t v = 0;

		for (k = 0; k < 8; k++)
			v += t[k][s];
		h[s] += v;
	}
}

/*
 * Planes of at least HIST_FEW_MIN bytes whose first HIST_PROBE bytes hold
 * at most HIST_FEW symbols (exponent planes, XORed planes) are counted
 * 64 bytes at a time by comparing with each of those symbols (AVX-512);
 * bytes outside the set are counted one by one, and the scalar counter
 * takes over if they are more than 1/16 of a stretch.
 */
#define HIST_FEW_MIN (1u << 15)
#define HIST_PROBE 4096
#define HIST_FEW 16
/* Chunks of 64 bytes per stretch: byte counters hold 255. */
#define HIST_STRETCH 255

#ifdef RANS_X86
#define RANS_T512                                                           \
	__attribute__((target("avx2,avx512f,avx512vl,avx512bw,popcnt")))

/*
 * Adds the counts of p[0..n) to h while they stay mostly in sym[0..k)
 * (k <= HIST_FEW; sym padded to HIST_FEW with sym[0]).  Returns how many
 * bytes it counted (a multiple of 64 bytes).
 */
RANS_T512 static size_t hist_few_avx512(uint32_t h[256], const uint8_t *p,
					size_t n, const uint8_t *sym, int k)
{
	const __m512i one = _mm512_set1_epi8(1), z = _mm512_setzero_si512();
	__m512i sv[HIST_FEW], acc[HIST_FEW];
	size_t i = 0;
	int j;

	for (j = 0; j < HIST_FEW; j++)
		sv[j] = _mm512_set1_epi8((char)sym[j]);
	while (n - i >= 64) {
		size_t c, nc = (n - i) / 64, other = 0;

		if (nc > HIST_STRETCH)
			nc = HIST_STRETCH;
		for (j = 0; j < HIST_FEW; j++)
			acc[j] = z;
		for (c = 0; c < nc; c++, i += 64) {
			__m512i v = _mm512_loadu_si512((const void *)(p + i));
			__mmask64 any = 0, m;

#pragma GCC unroll 16
			for (j = 0; j < HIST_FEW; j++) {
				m = _mm512_cmpeq_epi8_mask(v, sv[j]);
				acc[j] = _mm512_mask_add_epi8(acc[j], m, acc[j],
							      one);
				any |= m;
			}
			for (m = ~any; m; m &= m - 1) {
				h[p[i + (size_t)__builtin_ctzll(m)]]++;
				other++;
			}
		}
		for (j = 0; j < k; j++)
			h[sym[j]] += (uint32_t)_mm512_reduce_add_epi64(
				_mm512_sad_epu8(acc[j], z));
		if (other > nc * 64 / 16)
			break;
	}
	return i;
}
#endif

void delta_hist(uint32_t h[256], const uint8_t *p, size_t n)
{
	uint32_t top = 0;
	int k = 0, s;

	memset(h, 0, 256 * sizeof(*h));
	if (n < HIST_FEW_MIN) {
		hist_add(h, p, n);
		return;
	}
	hist_add(h, p, HIST_PROBE);
	p += HIST_PROBE;
	n -= HIST_PROBE;
	for (s = 0; s < 256; s++) {
		if (h[s])
			k++;
		if (h[s] > top)
			top = h[s];
	}
#ifdef RANS_X86
	if (k <= HIST_FEW && have_avx512()) {
		uint8_t sym[HIST_FEW];
		size_t done;
		int j = 0;

		for (s = 0; s < 256; s++)
			if (h[s])
				sym[j++] = (uint8_t)s;
		for (; j < HIST_FEW; j++)
			sym[j] = sym[0];
		done = hist_few_avx512(h, p, n, sym, k);
		p += done;
		n -= done;
	}
#endif
	if (top > HIST_PROBE / 4)
		hist_add8(h, p, n);
	else
		hist_add(h, p, n);
}

double delta_hist_cost(const uint32_t h[256], size_t n)
{
	double bits = 0, ln;
	int s;

	if (!n)
		return 0;
	ln = log2((double)n);
	for (s = 0; s < 256; s++)
		if (h[s])
			bits += h[s] * (ln - log2((double)h[s]));
	return bits / 8;
}

/*
 * Quantises counts c to frequencies f summing to 2^scale, every present
 * symbol at least 1: rounds to nearest, then moves units where they cost
 * least (first-order estimate c / f of the bits per unit), a sixteenth of
 * the difference at a time and single units when close.  Returns 0, or -1
 * if there is nothing to code or too many symbols.
 */
int delta_rans_normalize(uint16_t f[256], const uint32_t c[256], int scale)
{
	uint32_t m = 1u << scale;
	uint64_t total = 0;
	int64_t sum = 0;
	int s, nsym = 0;

	for (s = 0; s < 256; s++) {
		total += c[s];
		nsym += c[s] != 0;
	}
	if (!total || (uint32_t)nsym > m)
		return -1;
	for (s = 0; s < 256; s++) {
		uint64_t v;

		if (!c[s]) {
			f[s] = 0;
			continue;
		}
		v = ((uint64_t)c[s] * m * 2 + total) / (2 * total);
		f[s] = (uint16_t)(v ? v : 1);
		sum += f[s];
	}
	while (sum != m) {
		int64_t diff = sum < m ? m - sum : sum - m, step;
		int best = -1;
		double bv = 0;

		for (s = 0; s < 256; s++) {
			double v;

			if (!f[s] || (sum > m && f[s] == 1))
				continue;
			if (sum < m)
				v = -(double)c[s] / (f[s] + 0.5);
			else
				v = (double)c[s] / (f[s] - 0.5);
			if (best < 0 || v < bv) {
				best = s;
				bv = v;
			}
		}
		step = diff / 16 + 1;
		if (sum < m) {
			if (step > f[best] / 16 + 1)
				step = f[best] / 16 + 1;
			f[best] = (uint16_t)(f[best] + step);
			sum += step;
		} else {
			if (step > (f[best] - 1) / 16 + 1)
				step = (f[best] - 1) / 16 + 1;
			f[best] = (uint16_t)(f[best] - step);
			sum -= step;
		}
	}
	return 0;
}

double delta_rans_cost(const uint32_t c[256], const uint16_t f[256], int scale)
{
	double bits = 0;
	int s;

	for (s = 0; s < 256; s++)
		if (c[s])
			bits += c[s] * (scale - log2((double)f[s]));
	return bits;
}

/*
 * Frequency list: for each symbol from 0, a value v (1 byte if < 0x80,
 * else 2 bytes big-endian with the top bit set); v > 0 is the symbol's
 * frequency, v = 0 is followed by a byte r and means r + 1 symbols of
 * frequency 0.  The list ends when the frequencies reach 2^scale.
 * out == NULL: returns the size only.
 */
static size_t table_put(uint8_t *out, const uint16_t f[256])
{
	int s = 0, last = 255;
	size_t k = 0;

	while (last > 0 && !f[last])
		last--;
	while (s <= last) {
		if (f[s]) {
			if (f[s] < 0x80) {
				if (out)
					out[k] = (uint8_t)f[s];
				k++;
			} else {
				if (out) {
					out[k] = (uint8_t)(0x80 | f[s] >> 8);
					out[k + 1] = (uint8_t)f[s];
				}
				k += 2;
			}
			s++;
		} else {
			int r = 0;

			while (s + r + 1 <= last && !f[s + r + 1])
				r++;
			if (out) {
				out[k] = 0;
				out[k + 1] = (uint8_t)r;
			}
			k += 2;
			s += r + 1;
		}
	}
	return k;
}

size_t delta_rans_table_size(const uint16_t f[256])
{
	return table_put(NULL, f);
}

static int table_get(uint16_t f[256], int scale, const uint8_t *p, size_t len,
		     size_t *used)
{
	uint32_t m = 1u << scale, sum = 0;
	size_t k = 0;
	unsigned s = 0;

	memset(f, 0, 256 * sizeof(*f));
	while (sum < m) {
		uint32_t v;

		if (s >= 256 || k >= len)
			return corrupt("rans frequency list overruns");
		v = p[k++];
		if (v & 0x80) {
			if (k >= len)
				return corrupt("rans frequency list overruns");
			v = (v & 0x7f) << 8 | p[k++];
		}
		if (!v) {
			if (k >= len)
				return corrupt("rans frequency list overruns");
			s += p[k++] + 1u;
			continue;
		}
		if (v > m - sum)
			return corrupt("rans frequencies exceed the scale");
		f[s++] = (uint16_t)v;
		sum += v;
	}
	*used = k;
	return 0;
}

/* Slot -> symbol (bits 0-7), slot - start (8-19), freq - 1 (20-31). */
static void dtab_build(uint32_t *tab, const uint16_t f[256])
{
	uint32_t start = 0, j;
	int s;

	for (s = 0; s < 256; s++) {
		uint32_t e = (uint32_t)s | (uint32_t)(f[s] - 1) << 20;

		j = 0;
#ifdef __SSE2__
		if (f[s] >= 4) {
			__m128i v = _mm_add_epi32(_mm_set1_epi32((int)e),
						  _mm_setr_epi32(0, 1 << 8, 2 << 8,
								 3 << 8));
			const __m128i step = _mm_set1_epi32(4 << 8);

			for (; j + 4 <= f[s]; j += 4) {
				_mm_storeu_si128((__m128i *)(tab + start + j), v);
				v = _mm_add_epi32(v, step);
			}
		}
#endif
		for (; j < f[s]; j++)
			tab[start + j] = e + (j << 8);
		start += f[s];
	}
}

static void esym_build(struct delta_rans_esym *es, const uint16_t f[256], int scale)
{
	uint32_t start = 0;
	int s;

	for (s = 0; s < 256; s++) {
		struct delta_rans_esym *e = &es[s];
		uint32_t freq = f[s];

		if (!freq)
			continue;
		e->x_max = ((RANS_L >> scale) << 16) * freq;
		e->cmpl_freq = (uint16_t)((1u << scale) - freq);
		if (freq < 2) {
			e->rcp_freq = ~0u;
			e->rcp_shift = 0;
			e->bias = start + (1u << scale) - 1;
		} else {
			uint32_t shift = 0;

			while (freq > (1u << shift))
				shift++;
			e->rcp_freq = (uint32_t)(((1ull << (shift + 31)) +
						  freq - 1) / freq);
			e->rcp_shift = (uint16_t)(shift - 1);
			e->bias = start;
		}
		start += freq;
	}
}

static inline uint32_t enc_put(uint32_t x, uint8_t **pp,
			       const struct delta_rans_esym *e)
{
	uint32_t q;

	if (x >= e->x_max) {
		*pp -= 2;
		hz_store16(*pp, (uint16_t)x);
		x >>= 16;
	}
	q = (uint32_t)(((uint64_t)x * e->rcp_freq) >> 32) >> e->rcp_shift;
	return x + e->bias + q * e->cmpl_freq;
}

/*
 * The same without a branch, for the rounds that checked room for 8
 * words: the word is stored either way and kept only if needed.
 */
static inline uint32_t enc_put_fast(uint32_t x, uint8_t **pp,
				    const struct delta_rans_esym *e)
{
	uint32_t q, out = x >= e->x_max;

	hz_store16(*pp - 2, (uint16_t)x);
	*pp -= out << 1;
	x >>= out << 4;
	q = (uint32_t)(((uint64_t)x * e->rcp_freq) >> 32) >> e->rcp_shift;
	return x + e->bias + q * e->cmpl_freq;
}

/* One symbol, for the rounds that checked 16 bytes of input: no branch. */
static inline uint32_t dec_get(uint32_t x, uint8_t *sym, const uint32_t *tab,
			       int scale, const uint8_t **pp)
{
	uint32_t e = tab[x & ((1u << scale) - 1)], w, in;

	*sym = (uint8_t)e;
	x = ((e >> 20) + 1) * (x >> scale) + (e >> 8 & 0xfff);
	w = hz_load16(*pp);
	in = x < RANS_L;
	x = x << (in << 4) | (w & -in);
	*pp += in << 1;
	return x;
}

/* The tail: one symbol with a checked read. */
static inline int dec_get_checked(uint32_t *x, uint8_t *sym,
				  const uint32_t *tab, int scale,
				  const uint8_t **pp, const uint8_t *end)
{
	uint32_t e = tab[*x & ((1u << scale) - 1)], v;

	*sym = (uint8_t)e;
	v = ((e >> 20) + 1) * (*x >> scale) + (e >> 8 & 0xfff);
	if (v < RANS_L) {
		if (end - *pp < 2)
			return corrupt("rans stream is truncated");
		v = v << 16 | hz_load16(*pp);
		*pp += 2;
	}
	*x = v;
	return 0;
}

static void states_put(uint8_t *p, const uint32_t *x, int ways)
{
	int j;

	for (j = 0; j < ways; j++)
		hz_store32(p + 4 * j, x[j]);
}

static int states_get(uint32_t *x, int ways, const uint8_t **pp,
		      const uint8_t *end)
{
	int j;

	if (end - *pp < 4 * ways)
		return corrupt("rans states are truncated");
	for (j = 0; j < ways; j++) {
		x[j] = hz_load32(*pp + 4 * j);
		if (x[j] < RANS_L || x[j] >= 1u << 31)
			return corrupt("rans state out of range");
	}
	*pp += 4 * ways;
	return 0;
}

static int states_end(const uint32_t *x, int ways, const uint8_t *p,
		      const uint8_t *end)
{
	int j;

	if (p != end)
		return corrupt("rans stream has trailing words");
	for (j = 0; j < ways; j++)
		if (x[j] != RANS_L)
			return corrupt("rans final state mismatch");
	return 0;
}

/*
 * The encoders write the model at the head of out, build the stream
 * backwards at the end of tmp and copy it after the model; the stream may
 * use only what is left of cap, so a plane that would not fit stops early.
 */
static int emit(uint8_t *out, size_t cap, size_t *out_len, size_t hlen,
		const uint8_t *p, const uint8_t *end)
{
	size_t body = (size_t)(end - p);

	if (hlen + body > cap)
		return DELTA_NOFIT;
	memcpy(out + hlen, p, body);
	*out_len = hlen + body;
	return 0;
}

size_t delta_rans0_size(const uint32_t h[256], const uint16_t f[256],
			int scale, int lw)
{
	return 2 + table_put(NULL, f) + ((size_t)4 << lw) + 2 +
	       (size_t)(delta_rans_cost(h, f, scale) / 8);
}

#ifdef RANS_X86
/* Lanes 0-3 from a, 4-7 from b. */
RANS_T512 static inline __m256i load_pair(const struct delta_rans_esym *a,
					  const struct delta_rans_esym *b)
{
	return _mm256_inserti128_si256(
		_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
		_mm_loadu_si128((const __m128i *)b), 1);
}

/*
 * enc_put for eight states x (lanes 0-7) and their symbols s[0..7]: the
 * symbols' esym entries transposed into lanes, the words of the states
 * that renormalise stored in lane order below *pp (as the scalar coder,
 * walking the lanes down, stores them), and the division replaced by
 * the same multiply-high and shift.
 */
RANS_T512 static inline __m256i enc8_avx512(__m256i x, const uint8_t *s,
					    const struct delta_rans_esym *es,
					    uint8_t **pp)
{
	const __m256i lo16 = _mm256_set1_epi32(0xffff);
	uint64_t v = hz_load64(s);
	__m256i r0, r1, r2, r3, t0, t1, t2, t3, xmax, rcp, bias, cs, ev, od, q;
	__mmask8 k;
	unsigned cnt;

	r0 = load_pair(&es[v & 0xff], &es[v >> 32 & 0xff]);
	r1 = load_pair(&es[v >> 8 & 0xff], &es[v >> 40 & 0xff]);
	r2 = load_pair(&es[v >> 16 & 0xff], &es[v >> 48 & 0xff]);
	r3 = load_pair(&es[v >> 24 & 0xff], &es[v >> 56]);
	t0 = _mm256_unpacklo_epi32(r0, r1);
	t1 = _mm256_unpackhi_epi32(r0, r1);
	t2 = _mm256_unpacklo_epi32(r2, r3);
	t3 = _mm256_unpackhi_epi32(r2, r3);
	xmax = _mm256_unpacklo_epi64(t0, t2);
	rcp = _mm256_unpackhi_epi64(t0, t2);
	bias = _mm256_unpacklo_epi64(t1, t3);
	cs = _mm256_unpackhi_epi64(t1, t3);	/* cmpl_freq | rcp_shift << 16 */

	k = _mm256_cmpge_epu32_mask(x, xmax);
	cnt = (unsigned)__builtin_popcount(k);
	*pp -= 2 * cnt;
	_mm_mask_storeu_epi16(*pp, (__mmask8)((1u << cnt) - 1),
			      _mm256_cvtepi32_epi16(
				      _mm256_maskz_compress_epi32(k, x)));
	x = _mm256_mask_srli_epi32(x, k, x, 16);

	ev = _mm256_srli_epi64(_mm256_mul_epu32(x, rcp), 32);
	od = _mm256_mul_epu32(_mm256_srli_epi64(x, 32),
			      _mm256_srli_epi64(rcp, 32));
	q = _mm256_blend_epi32(ev, od, 0xaa);
	q = _mm256_srlv_epi32(q, _mm256_srli_epi32(cs, 16));
	x = _mm256_add_epi32(x, bias);
	return _mm256_add_epi32(x, _mm256_mullo_epi32(q, _mm256_and_si256(cs,
								       lo16)));
}

/*
 * The rounds of delta_rans0_encode for 16 or 32 states, from symbol *ip
 * (a multiple of ways) down to 0, with the same room check per round.
 * Returns 0 or DELTA_NOFIT.
 */
RANS_T512 static int rans0_enc_avx512(uint32_t *x, int ways, const uint8_t *src,
				      size_t *ip,
				      const struct delta_rans_esym *es,
				      uint8_t **pp, const uint8_t *tmp,
				      size_t slen)
{
	const __m256i z = _mm256_setzero_si256();
	__m256i x0, x1, x2 = z, x3 = z;
	uint8_t *p = *pp;
	size_t i = *ip;
	int rc = 0;

	x0 = _mm256_loadu_si256((const __m256i *)x);
	x1 = _mm256_loadu_si256((const __m256i *)(x + 8));
	if (ways == 32) {
		x2 = _mm256_loadu_si256((const __m256i *)(x + 16));
		x3 = _mm256_loadu_si256((const __m256i *)(x + 24));
	}
	while (i) {
		if ((size_t)(p - tmp) < 2 * (size_t)ways + slen) {
			rc = DELTA_NOFIT;
			break;
		}
		i -= (size_t)ways;
		if (ways == 32) {
			x3 = enc8_avx512(x3, src + i + 24, es, &p);
			x2 = enc8_avx512(x2, src + i + 16, es, &p);
		}
		x1 = enc8_avx512(x1, src + i + 8, es, &p);
		x0 = enc8_avx512(x0, src + i, es, &p);
	}
	_mm256_storeu_si256((__m256i *)x, x0);
	_mm256_storeu_si256((__m256i *)(x + 8), x1);
	if (ways == 32) {
		_mm256_storeu_si256((__m256i *)(x + 16), x2);
		_mm256_storeu_si256((__m256i *)(x + 24), x3);
	}
	*ip = i;
	*pp = p;
	return rc;
}
#endif

/*
 * Order 0: [scale][log2 ways][frequency list][states][words]; symbol i
 * uses state i % ways.
 */
int delta_rans0_encode(uint8_t *out, size_t cap, size_t *out_len,
		       const uint8_t *src, size_t n, const uint16_t f[256],
		       int scale, int lw, uint8_t *tmp, size_t tmp_cap)
{
	struct delta_rans_esym es[256];
	uint32_t x[RANS_WAYS_MAX];
	uint8_t *end, *p;
	size_t i = n, hlen, slen;
	int ways = 1 << lw, j;

	slen = (size_t)4 * ways;
	hlen = 2 + table_put(NULL, f);
	if (hlen + slen > cap)
		return DELTA_NOFIT;
	out[0] = (uint8_t)scale;
	out[1] = (uint8_t)lw;
	table_put(out + 2, f);
	if (tmp_cap > cap - hlen)
		tmp_cap = cap - hlen;
	end = tmp + tmp_cap;
	p = end;
	esym_build(es, f, scale);
	for (j = 0; j < ways; j++)
		x[j] = RANS_L;
	while (i & (ways - 1)) {
		i--;
		if ((size_t)(p - tmp) < 2 + slen)
			return DELTA_NOFIT;
		x[i & (ways - 1)] = enc_put(x[i & (ways - 1)], &p, &es[src[i]]);
	}
#ifdef RANS_X86
	if (ways >= 16 && have_avx512() &&
	    rans0_enc_avx512(x, ways, src, &i, es, &p, tmp, slen))
		return DELTA_NOFIT;
#endif
	while (i) {
		if ((size_t)(p - tmp) < 2 * (size_t)ways + slen)
			return DELTA_NOFIT;
		i -= ways;
		for (j = ways; j-- > 0;)
			x[j] = enc_put_fast(x[j], &p, &es[src[i + j]]);
	}
	p -= slen;
	states_put(p, x, ways);
	return emit(out, cap, out_len, hlen, p, end);
}

#ifdef RANS_X86
/*
 * lane_rank[m] holds, in 4 bits per lane j, the number of lanes below j
 * set in the 8-bit mask m: the word a renormalising lane takes.
 */
static const uint32_t lane_rank[256] = {
	0x00000000, 0x11111110, 0x11111100, 0x22222210, 0x11111000, 0x22222110,
	0x22222100, 0x33333210, 0x11110000, 0x22221110, 0x22221100, 0x33332210,
	0x22221000, 0x33332110, 0x33332100, 0x44443210, 0x11100000, 0x22211110,
	0x22211100, 0x33322210, 0x22211000, 0x33322110, 0x33322100, 0x44433210,
	0x22210000, 0x33321110, 0x33321100, 0x44432210, 0x33321000, 0x44432110,
	0x44432100, 0x55543210, 0x11000000, 0x22111110, 0x22111100, 0x33222210,
	0x22111000, 0x33222110, 0x33222100, 0x44333210, 0x22110000, 0x33221110,
	0x33221100, 0x44332210, 0x33221000, 0x44332110, 0x44332100, 0x55443210,
	0x22100000, 0x33211110, 0x33211100, 0x44322210, 0x33211000, 0x44322110,
	0x44322100, 0x55433210, 0x33210000, 0x44321110, 0x44321100, 0x55432210,
	0x44321000, 0x55432110, 0x55432100, 0x66543210, 0x10000000, 0x21111110,
	0x21111100, 0x32222210, 0x21111000, 0x32222110, 0x32222100, 0x43333210,
	0x21110000, 0x32221110, 0x32221100, 0x43332210, 0x32221000, 0x43332110,
	0x43332100, 0x54443210, 0x21100000, 0x32211110, 0x32211100, 0x43322210,
	0x32211000, 0x43322110, 0x43322100, 0x54433210, 0x32210000, 0x43321110,
	0x43321100, 0x54432210, 0x43321000, 0x54432110, 0x54432100, 0x65543210,
	0x21000000, 0x32111110, 0x32111100, 0x43222210, 0x32111000, 0x43222110,
	0x43222100, 0x54333210, 0x32110000, 0x43221110, 0x43221100, 0x54332210,
	0x43221000, 0x54332110, 0x54332100, 0x65443210, 0x32100000, 0x43211110,
	0x43211100, 0x54322210, 0x43211000, 0x54322110, 0x54322100, 0x65433210,
	0x43210000, 0x54321110, 0x54321100, 0x65432210, 0x54321000, 0x65432110,
	0x65432100, 0x76543210, 0x00000000, 0x11111110, 0x11111100, 0x22222210,
	0x11111000, 0x22222110, 0x22222100, 0x33333210, 0x11110000, 0x22221110,
	0x22221100, 0x33332210, 0x22221000, 0x33332110, 0x33332100, 0x44443210,
	0x11100000, 0x22211110, 0x22211100, 0x33322210, 0x22211000, 0x33322110,
	0x33322100, 0x44433210, 0x22210000, 0x33321110, 0x33321100, 0x44432210,
	0x33321000, 0x44432110, 0x44432100, 0x55543210, 0x11000000, 0x22111110,
	0x22111100, 0x33222210, 0x22111000, 0x33222110, 0x33222100, 0x44333210,
	0x22110000, 0x33221110, 0x33221100, 0x44332210, 0x33221000, 0x44332110,
	0x44332100, 0x55443210, 0x22100000, 0x33211110, 0x33211100, 0x44322210,
	0x33211000, 0x44322110, 0x44322100, 0x55433210, 0x33210000, 0x44321110,
	0x44321100, 0x55432210, 0x44321000, 0x55432110, 0x55432100, 0x66543210,
	0x10000000, 0x21111110, 0x21111100, 0x32222210, 0x21111000, 0x32222110,
	0x32222100, 0x43333210, 0x21110000, 0x32221110, 0x32221100, 0x43332210,
	0x32221000, 0x43332110, 0x43332100, 0x54443210, 0x21100000, 0x32211110,
	0x32211100, 0x43322210, 0x32211000, 0x43322110, 0x43322100, 0x54433210,
	0x32210000, 0x43321110, 0x43321100, 0x54432210, 0x43321000, 0x54432110,
	0x54432100, 0x65543210, 0x21000000, 0x32111110, 0x32111100, 0x43222210,
	0x32111000, 0x43222110, 0x43222100, 0x54333210, 0x32110000, 0x43221110,
	0x43221100, 0x54332210, 0x43221000, 0x54332110, 0x54332100, 0x65443210,
	0x32100000, 0x43211110, 0x43211100, 0x54322210, 0x43211000, 0x54322110,
	0x54322100, 0x65433210, 0x43210000, 0x54321110, 0x54321100, 0x65432210,
	0x54321000, 0x65432110, 0x65432100, 0x76543210,
};

/*
 * One AVX2 step: decodes 8 symbols (one per lane) of state vector *xv
 * with the tables at tab + off (off per lane, in entries), returns them
 * one per 32-bit lane, and renormalises from *pp, which must have 16
 * readable bytes.  The scale is RANS_SCALE (the encoder's); other scales
 * use the scalar decoder.
 */
__attribute__((target("avx2,popcnt"), always_inline)) static inline __m256i
avx2_step(__m256i *xv, __m256i off, const uint32_t *tab, const uint8_t **pp)
{
	const __m256i mask = _mm256_set1_epi32((1 << RANS_SCALE) - 1);
	const __m256i lo8 = _mm256_set1_epi32(0xff);
	const __m256i lo12 = _mm256_set1_epi32(0xfff);
	const __m256i one = _mm256_set1_epi32(1);
	const __m256i lim = _mm256_set1_epi32(RANS_L);
	const __m256i seven = _mm256_set1_epi32(7);
	const __m256i nib = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
	__m256i x = *xv, e, f, b, need, w, idx;
	int m;

	e = _mm256_i32gather_epi32(
		(const int *)tab,
		_mm256_add_epi32(_mm256_and_si256(x, mask), off), 4);
	f = _mm256_add_epi32(_mm256_srli_epi32(e, 20), one);
	b = _mm256_and_si256(_mm256_srli_epi32(e, 8), lo12);
	x = _mm256_add_epi32(
		_mm256_mullo_epi32(f, _mm256_srli_epi32(x, RANS_SCALE)), b);
	need = _mm256_cmpgt_epi32(lim, x);
	m = _mm256_movemask_ps(_mm256_castsi256_ps(need));
	w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)*pp));
	idx = _mm256_and_si256(
		_mm256_srlv_epi32(_mm256_set1_epi32((int)lane_rank[m]), nib),
		seven);
	w = _mm256_permutevar8x32_epi32(w, idx);
	*xv = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), w),
				 need);
	*pp += 2 * __builtin_popcount((unsigned)m);
	return _mm256_and_si256(e, lo8);
}

/* The 8 bytes of 8 symbols (one per 32-bit lane of s), in lane order. */
__attribute__((target("avx2"), always_inline)) static inline __m256i
avx2_pack4(__m256i s0, __m256i s1, __m256i s2, __m256i s3)
{
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);

	return _mm256_permutevar8x32_epi32(
		_mm256_packus_epi16(_mm256_packus_epi32(s0, s1),
				    _mm256_packus_epi32(s2, s3)),
		order);
}

/*
 * Order 0, 16 or 32 states, scale RANS_SCALE, AVX2: two or four vectors of
 * 8 states per round, and one store of the round's symbols (narrow stores
 * between gathers are slow).  Decodes whole rounds while 2 * ways bytes of
 * input remain (each vector reads 16 bytes and consumes at most 16),
 * returns the symbols decoded and leaves the states in x and the input
 * position in *pp.
 */
__attribute__((target("avx2,popcnt"))) static size_t
rans0_dec_avx2(uint8_t *dst, size_t n, uint32_t *x, int ways,
	       const uint32_t *tab, const uint8_t **pp, const uint8_t *end)
{
	const __m256i z = _mm256_setzero_si256();
	const uint8_t *p = *pp;
	__m256i x0, x1, x2, x3;
	size_t i = 0;

	x0 = _mm256_loadu_si256((const __m256i *)x);
	x1 = _mm256_loadu_si256((const __m256i *)(x + 8));
	if (ways == 16) {
		for (; n - i >= 16 && end - p >= 32; i += 16) {
			__m256i s0 = avx2_step(&x0, z, tab, &p);
			__m256i s1 = avx2_step(&x1, z, tab, &p);

			_mm_storeu_si128((__m128i *)(dst + i),
					 _mm256_castsi256_si128(
						 avx2_pack4(s0, s1, z, z)));
		}
		goto out;
	}
	x2 = _mm256_loadu_si256((const __m256i *)(x + 16));
	x3 = _mm256_loadu_si256((const __m256i *)(x + 24));
	for (; n - i >= 32 && end - p >= 64; i += 32) {
		__m256i s0 = avx2_step(&x0, z, tab, &p);
		__m256i s1 = avx2_step(&x1, z, tab, &p);
		__m256i s2 = avx2_step(&x2, z, tab, &p);
		__m256i s3 = avx2_step(&x3, z, tab, &p);

		_mm256_storeu_si256((__m256i *)(dst + i),
				    avx2_pack4(s0, s1, s2, s3));
	}
	_mm256_storeu_si256((__m256i *)(x + 16), x2);
	_mm256_storeu_si256((__m256i *)(x + 24), x3);
out:
	_mm256_storeu_si256((__m256i *)x, x0);
	_mm256_storeu_si256((__m256i *)(x + 8), x1);
	*pp = p;
	return i;
}

/*
 * Order 1, 16 or 32 states, scale RANS_SCALE, AVX2.  Lane k decodes
 * segment k; off[k] is the offset (in entries) of the table of its
 * context, and ctxoff[sym] that of the context a symbol makes.  A round's
 * symbols go to one row of a chunk of RANS1_CHUNK rounds, which is then
 * transposed into the segments.  Returns the rounds decoded (while 2 *
 * ways bytes of input remain) and leaves states, offsets and *pp.
 */
#define RANS1_CHUNK 64
__attribute__((target("avx2,popcnt"))) static size_t
rans1_dec_avx2(uint8_t *dst, size_t seg, uint32_t *x, uint32_t *off,
	       int ways, const uint32_t *tab, const uint32_t *ctxoff,
	       const uint8_t **pp, const uint8_t *end)
{
	uint8_t chunk[RANS1_CHUNK * RANS_WAYS_MAX];
	const __m256i z = _mm256_setzero_si256();
	const uint8_t *p = *pp;
	__m256i x0, x1, x2 = z, x3 = z, o0, o1, o2 = z, o3 = z;
	size_t r = 0, r0, rr;
	int k;

	x0 = _mm256_loadu_si256((const __m256i *)x);
	x1 = _mm256_loadu_si256((const __m256i *)(x + 8));
	o0 = _mm256_loadu_si256((const __m256i *)off);
	o1 = _mm256_loadu_si256((const __m256i *)(off + 8));
	if (ways == 32) {
		x2 = _mm256_loadu_si256((const __m256i *)(x + 16));
		x3 = _mm256_loadu_si256((const __m256i *)(x + 24));
		o2 = _mm256_loadu_si256((const __m256i *)(off + 16));
		o3 = _mm256_loadu_si256((const __m256i *)(off + 24));
	}
	while (r < seg && end - p >= 2 * ways) {
		for (r0 = r; r < seg && r - r0 < RANS1_CHUNK &&
			     end - p >= 2 * ways;
		     r++) {
			uint8_t *row = chunk + (r - r0) * ways;
			__m256i s0, s1, s2 = z, s3 = z;

			s0 = avx2_step(&x0, o0, tab, &p);
			o0 = _mm256_i32gather_epi32((const int *)ctxoff, s0, 4);
			s1 = avx2_step(&x1, o1, tab, &p);
			o1 = _mm256_i32gather_epi32((const int *)ctxoff, s1, 4);
			if (ways == 32) {
				s2 = avx2_step(&x2, o2, tab, &p);
				o2 = _mm256_i32gather_epi32(
					(const int *)ctxoff, s2, 4);
				s3 = avx2_step(&x3, o3, tab, &p);
				o3 = _mm256_i32gather_epi32(
					(const int *)ctxoff, s3, 4);
				_mm256_storeu_si256((__m256i *)row,
						    avx2_pack4(s0, s1, s2, s3));
			} else {
				_mm_storeu_si128((__m128i *)row,
						 _mm256_castsi256_si128(
							 avx2_pack4(s0, s1, z, z)));
			}
		}
		for (k = 0; k < ways; k++) {
			uint8_t *d = dst + (size_t)k * seg + r0;

			for (rr = 0; rr < r - r0; rr++)
				d[rr] = chunk[rr * ways + k];
		}
	}
	_mm256_storeu_si256((__m256i *)x, x0);
	_mm256_storeu_si256((__m256i *)(x + 8), x1);
	_mm256_storeu_si256((__m256i *)off, o0);
	_mm256_storeu_si256((__m256i *)(off + 8), o1);
	if (ways == 32) {
		_mm256_storeu_si256((__m256i *)(x + 16), x2);
		_mm256_storeu_si256((__m256i *)(x + 24), x3);
		_mm256_storeu_si256((__m256i *)(off + 16), o2);
		_mm256_storeu_si256((__m256i *)(off + 24), o3);
	}
	*pp = p;
	return r;
}
#endif

int delta_rans0_decode(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
		       uint32_t *tab)
{
	const uint8_t *p, *end = src + len;
	uint16_t f[256];
	uint32_t x[RANS_WAYS_MAX];
	size_t i = 0, used;
	int scale, lw, ways, j, rc;

	if (len < 2)
		return corrupt("rans plane is truncated");
	scale = src[0];
	lw = src[1];
	if (scale < 1 || scale > RANS_SCALE_MAX || lw > RANS_LW_MAX)
		return corrupt("rans parameters out of range");
	ways = 1 << lw;
	rc = table_get(f, scale, src + 2, len - 2, &used);
	if (rc)
		return rc;
	p = src + 2 + used;
	rc = states_get(x, ways, &p, end);
	if (rc)
		return rc;
	dtab_build(tab, f);
#ifdef RANS_X86
	if (ways >= 16 && scale == RANS_SCALE && have_avx2())
		i = rans0_dec_avx2(dst, n, x, ways, tab, &p, end);
#endif
	while (n - i >= (size_t)ways && end - p >= 2 * ways) {
		for (j = 0; j < ways; j++)
			x[j] = dec_get(x[j], &dst[i + j], tab, scale, &p);
		i += ways;
	}
	for (; i < n; i++) {
		rc = dec_get_checked(&x[i & (ways - 1)], &dst[i], tab, scale,
				     &p, end);
		if (rc)
			return rc;
	}
	return states_end(x, ways, p, end);
}

/*
 * Order 1.  The plane is cut into ways segments of n / ways symbols (the
 * last takes the remainder); state k codes segment k, and a symbol's
 * context is the previous symbol of its segment (0 at the segment's
 * start), shifted right by the model's shift and mapped to one of ntab
 * tables.
 */

/* Sums of counts over the contexts of one candidate shift. */
struct plan {
	int shift;
	int ntab;
	uint8_t ctxmap[256];
	double bytes;
};

/* log2 for estimates only: ~1e-4 relative error, no libm call. */
static inline float fast_log2(float v)
{
	union {
		float f;
		uint32_t i;
	} u = { v };
	float m, e = (float)(int)((u.i >> 23) & 0xff) - 128.0f;

	u.i = (u.i & 0x007fffff) | 0x3f800000;
	m = u.f;
	return e + (-0.34484843f * m + 2.02466578f) * m - 0.67487759f;
}

/* Entropy (bits) of the counts row c over the alphabet alpha[0..na). */
static double row_bits(const uint32_t *c, const uint8_t *alpha, int na)
{
	double tot = 0, acc = 0;
	int k;

	for (k = 0; k < na; k++) {
		uint32_t v = c[alpha[k]];

		if (v) {
			tot += v;
			acc += v * (double)fast_log2((float)v);
		}
	}
	return tot ? tot * (double)fast_log2((float)tot) - acc : 0;
}

/* Maps every context of shift s to a table: the (at most 32) most
 * frequent contexts keep their own, the others use their nearest. */
static int plan_map(struct plan *pl, int s, const uint64_t ctot[256])
{
	int nctx = 256 >> s, c, k, nkept = 0, kept[RANS1_MAX_TABLES];
	int tabof[256];

	for (c = 0; c < nctx; c++)
		tabof[c] = -1;
	for (k = 0; k < RANS1_MAX_TABLES; k++) {
		int best = -1;

		for (c = 0; c < nctx; c++)
			if (ctot[c] && tabof[c] < 0 &&
			    (best < 0 || ctot[c] > ctot[best]))
				best = c;
		if (best < 0)
			break;
		tabof[best] = nkept;
		kept[nkept++] = best;
	}
	if (!nkept)
		return -1;
	for (c = 0; c < nctx; c++) {
		int bd = 1 << 30, bt = 0;

		if (tabof[c] >= 0) {
			pl->ctxmap[c] = (uint8_t)tabof[c];
			continue;
		}
		for (k = 0; k < nkept; k++) {
			int d = abs(kept[k] - c);

			if (d < bd || (d == bd && kept[k] < kept[bt])) {
				bd = d;
				bt = k;
			}
		}
		pl->ctxmap[c] = (uint8_t)bt;
	}
	pl->shift = s;
	pl->ntab = nkept;
	return 0;
}

static size_t ctxmap_put(uint8_t *out, const uint8_t *map, int nctx)
{
	size_t k = 0;
	int c = 0;

	while (c < nctx) {
		int r = 1;

		while (c + r < nctx && r < 256 && map[c + r] == map[c])
			r++;
		if (out) {
			out[k] = map[c];
			out[k + 1] = (uint8_t)(r - 1);
		}
		k += 2;
		c += r;
	}
	return k;
}

/* Counts per table of plan pl into cnt, from the rows of prevs in rows. */
static void plan_counts(uint32_t cnt[][256], const struct plan *pl,
			const uint32_t *rows, const uint8_t *prevs, int nprev,
			const uint8_t *alpha, int na)
{
	int t, k, a;

	for (t = 0; t < pl->ntab; t++)
		memset(cnt[t], 0, sizeof(cnt[t]));
	for (a = 0; a < nprev; a++) {
		const uint32_t *r = rows + (size_t)prevs[a] * 256;
		uint32_t *d = cnt[pl->ctxmap[prevs[a] >> pl->shift]];

		for (k = 0; k < na; k++)
			d[alpha[k]] += r[alpha[k]];
	}
}

/*
 * Counts (previous, symbol) pairs into the rows of prevs: over the whole
 * plane as the coder sees it, or (sample) over a quarter of it, in runs
 * of RANS1_RUN symbols.  Returns the number of pairs counted.
 */
static size_t count_pairs(uint32_t *rows, const uint8_t *prevs, int nprev,
			  const uint8_t *src, size_t n, int lw, bool sample)
{
	size_t ways = (size_t)1 << lw, seg = n >> lw, k, counted = 0;
	int a;

	for (a = 0; a < nprev; a++)
		memset(rows + (size_t)prevs[a] * 256, 0, 256 * sizeof(*rows));
	for (k = 0; k < ways; k++) {
		size_t start = k * seg, stop = k == ways - 1 ? n : start + seg;
		size_t run, step = sample ? 4 * RANS1_RUN : stop - start;

		for (run = start; run < stop; run += step) {
			uint32_t prev = run > start ? src[run - 1] : 0;
			size_t i, e = stop;

			if (sample && stop - run > RANS1_RUN)
				e = run + RANS1_RUN;
			counted += e - run;
			for (i = run; i < e; i++) {
				rows[prev << 8 | src[i]]++;
				prev = src[i];
			}
		}
	}
	return counted;
}

/*
 * Plans an order-1 model: counts pairs (on a sample of long planes),
 * tries the smallest context shift with at most 64 contexts and the next
 * two, each with the 32 most frequent contexts as tables, and keeps the
 * best if its estimate saves 1/2^RANS1_GAIN_SHIFT over order 0 (order 1
 * decodes slower).  Then builds the tables from full counts.
 */
size_t delta_rans1_plan(struct delta_rans1_work *w, const uint8_t *src,
			size_t n, const uint32_t h[256])
{
	struct delta_rans1_model *m = &w->m;
	uint32_t *rows = w->rows;
	uint32_t(*cnt)[256] = w->cnt;
	uint8_t alpha[256], prevs[257];
	uint64_t rowtot[256], col[256];
	struct plan pl, best;
	int lw = delta_rans_lways(n, false);
	size_t counted, bytes;
	double o0, up, bits;
	int na = 0, nprev = 0, s, s0 = -1, t, a;
	bool sample = n >= RANS1_SAMPLE_MIN;

	if (n < RANS1_MIN_N)
		return 0;
	for (s = 0; s < 256; s++)
		if (h[s])
			alpha[na++] = (uint8_t)s;
	if (na < 2)
		return 0;
	/* Rows that can occur as a context: the alphabet and 0. */
	if (!h[0])
		prevs[nprev++] = 0;
	for (a = 0; a < na; a++)
		prevs[nprev++] = alpha[a];
	counted = count_pairs(rows, prevs, nprev, src, n, lw, sample);
	up = (double)n / (double)counted;
	memset(rowtot, 0, sizeof(rowtot));
	memset(col, 0, sizeof(col));
	for (a = 0; a < nprev; a++) {
		const uint32_t *r = rows + (size_t)prevs[a] * 256;
		uint64_t tot = 0;

		for (t = 0; t < na; t++) {
			tot += r[alpha[t]];
			col[alpha[t]] += r[alpha[t]];
		}
		rowtot[prevs[a]] = tot;
	}
	o0 = 0;
	for (t = 0; t < na; t++)
		if (col[alpha[t]])
			o0 += col[alpha[t]] *
			      log2((double)counted / (double)col[alpha[t]]);
	o0 = o0 * up / 8;
	for (s = 0; s < 8 && s0 < 0; s++) {
		uint8_t seen[256] = { 0 };
		int kctx = 0;

		for (a = 0; a < nprev; a++)
			if (!seen[prevs[a] >> s]++)
				kctx++;
		if (kctx <= 64)
			s0 = s;
	}
	best.bytes = -1;
	for (s = s0; s < s0 + 3 && s < 8; s++) {
		uint64_t ctot[256] = { 0 };

		for (a = 0; a < nprev; a++)
			ctot[prevs[a] >> s] += rowtot[prevs[a]];
		if (plan_map(&pl, s, ctot))
			continue;
		plan_counts(cnt, &pl, rows, prevs, nprev, alpha, na);
		pl.bytes = (double)ctxmap_put(NULL, pl.ctxmap, 256 >> s);
		for (t = 0; t < pl.ntab; t++) {
			int nz = 0;

			pl.bytes += row_bits(cnt[t], alpha, na) * up / 8;
			for (a = 0; a < na; a++)
				nz += cnt[t][alpha[a]] != 0;
			pl.bytes += nz * 1.5 + 2;
		}
		if (best.bytes < 0 || pl.bytes < best.bytes)
			best = pl;
	}
	if (best.bytes < 0 || best.bytes > o0 - o0 / (1 << RANS1_GAIN_SHIFT))
		return 0;
	/* Build the real model from full counts, and its exact size. */
	if (sample)
		count_pairs(rows, prevs, nprev, src, n, lw, false);
	plan_counts(cnt, &best, rows, prevs, nprev, alpha, na);
	m->scale = RANS_SCALE;
	m->lw = (uint8_t)lw;
	m->shift = (uint8_t)best.shift;
	m->ntab = (uint8_t)best.ntab;
	memcpy(m->ctxmap, best.ctxmap, 256 >> best.shift);
	bytes = 4 + ctxmap_put(NULL, m->ctxmap, 256 >> m->shift) +
		((size_t)4 << lw) + 2;
	bits = 0;
	for (t = 0; t < m->ntab; t++) {
		if (delta_rans_normalize(m->freq[t], cnt[t], m->scale)) {
			/* A table no context reaches: any valid list. */
			memset(m->freq[t], 0, sizeof(m->freq[t]));
			m->freq[t][0] = (uint16_t)(1u << m->scale);
		} else {
			bits += delta_rans_cost(cnt[t], m->freq[t], m->scale);
		}
		bytes += delta_rans_table_size(m->freq[t]);
	}
	return bytes + (size_t)(bits / 8);
}

/*
 * Order 1: [scale][log2 ways][shift][ntab][context map][ntab frequency
 * lists][states][words].
 */
int delta_rans1_encode(uint8_t *out, size_t cap, size_t *out_len,
		       const uint8_t *src, size_t n, struct delta_rans1_work *w,
		       uint8_t *tmp, size_t tmp_cap)
{
	const struct delta_rans1_model *m = &w->m;
	const struct delta_rans_esym *tabof[256];
	uint32_t x[RANS_WAYS_MAX];
	uint8_t *end, *p;
	int ways = 1 << m->lw, j, t, k;
	size_t seg = n >> m->lw, i = n, r, hlen, slen = (size_t)4 * ways;

	hlen = 4 + ctxmap_put(NULL, m->ctxmap, 256 >> m->shift);
	for (t = 0; t < m->ntab; t++)
		hlen += table_put(NULL, m->freq[t]);
	if (hlen + slen > cap)
		return DELTA_NOFIT;
	out[0] = m->scale;
	out[1] = m->lw;
	out[2] = m->shift;
	out[3] = m->ntab;
	k = 4 + (int)ctxmap_put(out + 4, m->ctxmap, 256 >> m->shift);
	for (t = 0; t < m->ntab; t++) {
		k += (int)table_put(out + k, m->freq[t]);
		esym_build(w->es[t], m->freq[t], m->scale);
	}
	for (j = 0; j < 256; j++)
		tabof[j] = w->es[m->ctxmap[j >> m->shift]];
	if (tmp_cap > cap - hlen)
		tmp_cap = cap - hlen;
	end = tmp + tmp_cap;
	p = end;
	for (j = 0; j < ways; j++)
		x[j] = RANS_L;
	/* The tail of the last segment, then rounds backwards. */
	while (i > (size_t)ways * seg) {
		const struct delta_rans_esym *e;

		i--;
		e = i > (size_t)(ways - 1) * seg ? tabof[src[i - 1]] : tabof[0];
		if ((size_t)(p - tmp) < 2 + slen)
			return DELTA_NOFIT;
		x[ways - 1] = enc_put(x[ways - 1], &p, &e[src[i]]);
	}
	for (r = seg; r-- > 0;) {
		if ((size_t)(p - tmp) < 2 * (size_t)ways + slen)
			return DELTA_NOFIT;
		for (k = ways - 1; k >= 0; k--) {
			size_t pos = (size_t)k * seg + r;
			const struct delta_rans_esym *e =
				r ? tabof[src[pos - 1]] : tabof[0];

			x[k] = enc_put_fast(x[k], &p, &e[src[pos]]);
		}
	}
	p -= slen;
	states_put(p, x, ways);
	return emit(out, cap, out_len, hlen, p, end);
}

int delta_rans1_decode(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
		       uint32_t *tab)
{
	const uint8_t *p, *end = src + len;
	const uint32_t *tabof[256], *cur[RANS_WAYS_MAX];
	uint8_t ctxmap[256];
	uint16_t f[256];
	uint32_t x[RANS_WAYS_MAX];
	size_t seg, r, i, used;
	int scale, lw, ways, shift, ntab, nctx, c, t, k, rc;

	if (len < 4)
		return corrupt("rans1 plane is truncated");
	scale = src[0];
	lw = src[1];
	shift = src[2];
	ntab = src[3];
	if (scale < 1 || scale > RANS_SCALE_MAX || lw > RANS_LW_MAX ||
	    shift > 7 || ntab < 1 || ntab > RANS1_MAX_TABLES)
		return corrupt("rans1 parameters out of range");
	ways = 1 << lw;
	seg = n >> lw;
	p = src + 4;
	nctx = 256 >> shift;
	for (c = 0; c < nctx;) {
		int run;

		if (end - p < 2)
			return corrupt("rans1 context map is truncated");
		run = p[1] + 1;
		if (p[0] >= ntab || run > nctx - c)
			return corrupt("rans1 context map is malformed");
		memset(ctxmap + c, p[0], (size_t)run);
		c += run;
		p += 2;
	}
	for (t = 0; t < ntab; t++) {
		rc = table_get(f, scale, p, (size_t)(end - p), &used);
		if (rc)
			return rc;
		p += used;
		dtab_build(tab + (size_t)t * RANS_TAB_SIZE, f);
	}
	for (c = 0; c < 256; c++)
		tabof[c] = tab + (size_t)ctxmap[c >> shift] * RANS_TAB_SIZE;
	rc = states_get(x, ways, &p, end);
	if (rc)
		return rc;
	for (k = 0; k < ways; k++)
		cur[k] = tabof[0];
	r = 0;
#ifdef RANS_X86
	if (ways >= 16 && scale == RANS_SCALE && have_avx2()) {
		uint32_t ctxoff[256], off[RANS_WAYS_MAX];

		for (c = 0; c < 256; c++)
			ctxoff[c] = (uint32_t)(tabof[c] - tab);
		for (k = 0; k < ways; k++)
			off[k] = ctxoff[0];
		r = rans1_dec_avx2(dst, seg, x, off, ways, tab, ctxoff, &p, end);
		for (k = 0; k < ways; k++)
			cur[k] = tab + off[k];
	}
#endif
	while (r < seg && end - p >= 2 * ways) {
		for (k = 0; k < ways; k++) {
			uint8_t *d = &dst[(size_t)k * seg + r];

			x[k] = dec_get(x[k], d, cur[k], scale, &p);
			cur[k] = tabof[*d];
		}
		r++;
	}
	for (; r < seg; r++) {
		for (k = 0; k < ways; k++) {
			uint8_t *d = &dst[(size_t)k * seg + r];

			rc = dec_get_checked(&x[k], d, cur[k], scale, &p, end);
			if (rc)
				return rc;
			cur[k] = tabof[*d];
		}
	}
	for (i = (size_t)ways * seg; i < n; i++) {
		rc = dec_get_checked(&x[ways - 1], &dst[i], cur[ways - 1],
				     scale, &p, end);
		if (rc)
			return rc;
		cur[ways - 1] = tabof[dst[i]];
	}
	return states_end(x, ways, p, end);
}
