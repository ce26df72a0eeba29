/*
 * store/transform.c - the same weights in another layout.
 *
 * A reconversion (tflite to tfjs, say) stores the same trained weights
 * under other names, with kernels transposed (OHWI as HWIO) and some
 * values re-rounded.  Names cannot find the base, so new float tensors
 * that found none are looked up by what a permutation of axes keeps: the
 * element count, the dtype and the value moments (sum, sum of squares, to
 * a tolerance that re-rounding a few values stays within).  A candidate is
 * verified exactly: its decoded bytes are transposed by every permutation
 * of its axes that gives the new shape (and reshaped as they are), and the
 * permutation with the most identical elements wins if at least half are.
 * The tensor is then coded block by block as XOR-deltas against the
 * transposed base, whose residual is almost all zeros; blocks that do not
 * gain are coded alone as always.
 *
 * Only tensors of at most TRANSFORM_MAX bytes take part: decoding such a
 * tensor materialises its transposed base in memory.
 */
#include "store/ingest_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"
#include "store/safetensors.h"

#define TRANSFORM_CANDIDATES 8
#define TOLERANCE 1e-3

bool transform_eligible(int dtype, uint64_t nbytes)
{
	size_t esz = hz_dtype_size(dtype);

	return (dtype == HZ_DT_F32 || dtype == HZ_DT_F16 || dtype == HZ_DT_BF16 ||
		dtype == HZ_DT_F64) &&
	       nbytes <= TRANSFORM_MAX && nbytes / esz >= TRANSFORM_MIN_ELEMS;
}

/* F16 values by bit pattern, built once (read-only afterwards). */
static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void)
{
	for (uint32_t h = 0; h < 65536; h++) {
		uint8_t b[2] = { (uint8_t)h, (uint8_t)(h >> 8) };

		f16_table[h] = (float)family_value(b, HZ_DT_F16, 0);
	}
}

/* Sums in four lanes so that the loops vectorise; non-finite values are
 * skipped (v - v is NaN for them). */
#define MOMENTS_LOOP(load)                                                     \
	for (size_t i = 0; i < n; i++) {                                      \
		double v = (load);                                            \
		if (v - v == 0) {                                              \
			s[i & 3] += v;                                         \
			q[i & 3] += v * v;                                     \
		}                                                              \
	}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define MOMENTS_X86 1

/* clang 14 knows no "f16c" for __builtin_cpu_supports: ask cpuid (leaf 1,
 * ecx bit 29) as gcc and clang both can. */
static int cpu_has_f16c(void)
{
	unsigned a, b, c, d;

	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/*
 * The same sums eight elements at a time (AVX2, F16C): every new float
 * tensor without a base is summed, and the scalar loop, which does not
 * vectorise, was 7% of an upload's CPU.  Non-finite elements (exponent
 * all ones) are zeroed, which adds nothing, as the scalar loop skips
 * them; only the order of the additions differs, far inside TOLERANCE.
 * Returns the number of elements summed (a multiple of 8).
 */
__attribute__((target("avx2,f16c"))) static size_t
moments_avx2(const uint8_t *p, int dtype, size_t n, double *sum, double *sumsq)
{
	const __m256i expo = _mm256_set1_epi32(0x7f800000);
	__m256d s0 = _mm256_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		__m256 f;
		__m256i bad;
		__m256d a, b;

		if (dtype == HZ_DT_F32) {
			f = _mm256_loadu_ps((const float *)(const void *)(p + 4 * i));
		} else {
			__m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));

			f = dtype == HZ_DT_F16 ? _mm256_cvtph_ps(h)
					       : _mm256_castsi256_ps(_mm256_slli_epi32(
							 _mm256_cvtepu16_epi32(h), 16));
		}
		bad = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(f), expo), expo);
		f = _mm256_andnot_ps(_mm256_castsi256_ps(bad), f);
		a = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
		b = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
		s0 = _mm256_add_pd(s0, a);
		s1 = _mm256_add_pd(s1, b);
		q0 = _mm256_add_pd(q0, _mm256_mul_pd(a, a));
		q1 = _mm256_add_pd(q1, _mm256_mul_pd(b, b));
	}
	{
		double v[4], w[4];

		_mm256_storeu_pd(v, _mm256_add_pd(s0, s1));
		_mm256_storeu_pd(w, _mm256_add_pd(q0, q1));
		*sum += v[0] + v[1] + v[2] + v[3];
		*sumsq += w[0] + w[1] + w[2] + w[3];
	}
	return i;
}
#endif

void transform_moments(const uint8_t *p, int dtype, size_t n, double *sum, double *sumsq)
{
	double s[4] = { 0 }, q[4] = { 0 };

#ifdef MOMENTS_X86
	if ((dtype == HZ_DT_F32 || dtype == HZ_DT_BF16 || dtype == HZ_DT_F16) &&
	    __builtin_cpu_supports("avx2") && cpu_has_f16c()) {
		size_t done = moments_avx2(p, dtype, n, sum, sumsq);

		p += done * hz_dtype_size(dtype);
		n -= done;
	}
#endif
	switch (dtype) {
	case HZ_DT_F32: {
		const float *f = (const float *)(const void *)p; /* little-endian host */

		MOMENTS_LOOP(f[i])
		break;
	}
	case HZ_DT_BF16: {
		uint32_t u;
		float f;

		MOMENTS_LOOP((u = (uint32_t)hz_load16(p + 2 * i) << 16, memcpy(&f, &u, 4), f))
		break;
	}
	case HZ_DT_F16:
		pthread_once(&f16_once, f16_table_init);
		MOMENTS_LOOP(f16_table[hz_load16(p + 2 * i)])
		break;
	default:
		MOMENTS_LOOP(family_value(p, dtype, i))
		break;
	}
	*sum += s[0] + s[1] + s[2] + s[3];
	*sumsq += q[0] + q[1] + q[2] + q[3];
}

/* Parses "[a,b,...]" into shape; returns ndim or -1. */
static int parse_shape(const char *s, uint64_t *shape)
{
	int n = 0;

	if (*s++ != '[')
		return -1;
	while (*s && *s != ']') {
		char *end;

		if (n == ST_MAX_DIMS)
			return -1;
		shape[n++] = strtoull(s, &end, 10);
		if (end == s)
			return -1;
		s = *end == ',' ? end + 1 : end;
	}
	return *s == ']' ? n : -1;
}

/* out = base (shape bshape, ndim dims, elements of esz bytes) with its
 * axes permuted: out's axis i is base's axis perm[i]. */
static void transform_apply(uint8_t *out, const uint8_t *base, const uint64_t *bshape, int ndim,
		     const unsigned *perm, size_t esz)
{
	uint64_t stride[ST_MAX_DIMS], oshape[ST_MAX_DIMS], idx[ST_MAX_DIMS] = { 0 };
	uint64_t total = 1, s = 1;

	for (int i = ndim - 1; i >= 0; i--) {
		stride[i] = s;
		s *= bshape[i];
	}
	for (int i = 0; i < ndim; i++) {
		oshape[i] = bshape[perm[i]];
		total *= oshape[i];
	}
	for (uint64_t o = 0; o < total; o++) {
		uint64_t off = 0;

		for (int i = 0; i < ndim; i++)
			off += idx[i] * stride[perm[i]];
		memcpy(out + o * esz, base + off * esz, esz);
		for (int i = ndim - 1; i >= 0; i--) {
			if (++idx[i] < oshape[i])
				break;
			idx[i] = 0;
		}
	}
}

/* Decodes every block of obj (stored without delta, size bytes) into out. */
static int load_object(struct store *s, int64_t obj, uint64_t size, uint8_t *out)
{
	uint64_t off = 0;

	while (off < size) {
		size_t got;
		int dt, rc = pack_object_block(s, obj, off, out + off, &got, &dt);

		if (rc)
			return rc;
		if (!got || got > size - off)
			return hz_error_set(HZ_ECORRUPT, "object %lld: blocks do not match its size",
					    (long long)obj);
		off += got;
	}
	return 0;
}

static size_t count_equal(const uint8_t *a, const uint8_t *b, size_t n, size_t esz)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += !memcmp(a + i * esz, b + i * esz, esz);
	return k;
}

/* Next permutation of p[0..n) in lexicographic order; false after the last. */
static bool next_perm(unsigned *p, int n)
{
	int i = n - 2, j = n - 1;

	while (i >= 0 && p[i] >= p[i + 1])
		i--;
	if (i < 0)
		return false;
	while (p[j] <= p[i])
		j--;
	unsigned t = p[i];
	p[i] = p[j];
	p[j] = t;
	for (int a = i + 1, b = n - 1; a < b; a++, b--) {
		t = p[a];
		p[a] = p[b];
		p[b] = t;
	}
	return true;
}

int transform_find(struct store_ingest *in, const uint8_t *data, const struct st_tensor *t,
		   struct transform *out, uint8_t **vbase, double *msum, double *msumsq)
{
	struct store *s = in->s;
	size_t esz = hz_dtype_size(t->dtype), n = (size_t)((t->end - t->begin) / esz);
	double sum = 0, sumsq = 0;
	uint8_t *base = NULL, *tmp = NULL;
	size_t best = 0;
	struct db_stmt *st = NULL;
	int rc, tried = 0;

	memset(out, 0, sizeof(*out));
	*vbase = NULL;
	transform_moments(data, t->dtype, n, &sum, &sumsq);
	*msum = sum;
	*msumsq = sumsq;
	rc = db_prepare(s, &st, "SELECT object_id, shape, sum, sumsq FROM tensor_moments"
				" WHERE nelem = ? AND dtype = ?");
	if (rc)
		return rc;
	db_bind_int64(st, 1, (int64_t)n);
	db_bind_int(st, 2, t->dtype);
	base = malloc(n * esz);
	tmp = malloc(n * esz);
	if (!base || !tmp) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	while (tried < TRANSFORM_CANDIDATES && db_step(st) == DB_ROW) {
		uint64_t bshape[ST_MAX_DIMS];
		const char *sh = (const char *)db_column_text(st, 1);
		double bsum = db_column_double(st, 2), bsq = db_column_double(st, 3);
		int ndim = sh ? parse_shape(sh, bshape) : -1;
		unsigned perm[ST_MAX_DIMS];
		int64_t obj = db_column_int64(st, 0);

		if (ndim < 0 || fabs(bsq - sumsq) > TOLERANCE * fmax(bsq, sumsq) + 1e-30 ||
		    fabs(bsum - sum) > TOLERANCE * sqrt(fmax(bsq, sumsq) * (double)n) + 1e-30)
			continue;
		tried++;
		rc = load_object(s, obj, n * esz, base);
		if (rc)
			goto out;
		for (int i = 0; i < ndim; i++)
			perm[i] = (unsigned)i;
		do {
			bool ident = true, fits = ndim == (int)t->ndim;
			size_t eq;

			for (int i = 0; i < ndim; i++) {
				ident &= perm[i] == (unsigned)i;
				if (fits)
					fits &= bshape[perm[i]] == t->shape[i];
			}
			/* a permutation that gives the new shape, or the identity:
			 * the same element order under another shape */
			if (!fits && !ident)
				continue;
			transform_apply(tmp, base, bshape, ndim, perm, esz);
			eq = count_equal(tmp, data, n, esz);
			if (eq > best) {
				best = eq;
				out->base = obj;
				out->ndim = ndim;
				memcpy(out->perm, perm, sizeof(perm[0]) * (size_t)ndim);
				memcpy(out->base_shape, bshape, sizeof(bshape[0]) * (size_t)ndim);
			}
		} while (ndim <= 4 && next_perm(perm, ndim));
	}
	if (best * 2 < n) {
		memset(out, 0, sizeof(*out));
		goto out;
	}
	/* pinned with a fresh snapshot (the candidates' statement ends
	 * first), then read again: the bytes coded against are the pinned
	 * object's, which no gc takes before the commit (store/pin_int.h) */
	db_reset(st);
	rc = pin_base(s, &in->pins, out->base, n * esz, t->dtype);
	if (rc <= 0) {
		memset(out, 0, sizeof(*out));
		goto out;
	}
	rc = 0;
	out->equal = (double)best / (double)n;
	rc = load_object(s, out->base, n * esz, base);
	if (!rc) {
		transform_apply(tmp, base, out->base_shape, out->ndim, out->perm, esz);
		*vbase = tmp;
		tmp = NULL;
	}
out:
	db_finalize(st);
	free(base);
	free(tmp);
	return rc;
}

int transform_json(const struct transform *tr, char **out)
{
	json_t *perm = json_array(), *shape = json_array(), *o;

	for (int i = 0; i < tr->ndim; i++) {
		json_array_append_new(perm, json_integer(tr->perm[i]));
		json_array_append_new(shape, json_integer((json_int_t)tr->base_shape[i]));
	}
	o = json_pack("{s:o, s:o}", "perm", perm, "base_shape", shape);
	*out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return *out ? 0 : hz_error_set(HZ_ENOMEM, "out of memory");
}

int transform_load(struct store *s, int64_t obj, uint8_t **out, size_t *out_len, int *dtype)
{
	struct db_stmt *st = NULL;
	struct transform tr = { 0 };
	uint8_t *base = NULL, *v = NULL;
	uint64_t size = 0;
	size_t esz = 0;
	json_t *j = NULL;
	int rc;

	*out = NULL;
	rc = db_prepare(s, &st, "SELECT o.transform, o.base_object_id, o.size, o.dtype, b.size"
				" FROM objects o JOIN objects b ON b.id = o.base_object_id"
				" WHERE o.id = ?");
	if (rc)
		return rc;
	db_bind_int64(st, 1, obj);
	if (db_step(st) != DB_ROW || db_column_type(st, 0) != DB_TEXT) {
		rc = hz_error_set(HZ_ECORRUPT, "object %lld: its transformed base is missing",
				  (long long)obj);
		goto out;
	}
	j = json_loads((const char *)db_column_text(st, 0), 0, NULL);
	tr.base = db_column_int64(st, 1);
	size = (uint64_t)db_column_int64(st, 2);
	*dtype = db_column_int(st, 3);
	esz = hz_dtype_size(*dtype);
	if (!json_is_object(j) || !esz || size > TRANSFORM_MAX ||
	    (uint64_t)db_column_int64(st, 4) != size) {
		rc = hz_error_set(HZ_ECORRUPT, "object %lld: invalid transform", (long long)obj);
		goto out;
	}
	{
		json_t *perm = json_object_get(j, "perm"), *shape = json_object_get(j, "base_shape");
		uint64_t total = 1;
		bool seen[ST_MAX_DIMS] = { false };

		tr.ndim = (int)json_array_size(perm);
		if (tr.ndim < 1 || tr.ndim > ST_MAX_DIMS || json_array_size(shape) != (size_t)tr.ndim) {
			rc = hz_error_set(HZ_ECORRUPT, "object %lld: invalid transform", (long long)obj);
			goto out;
		}
		for (int i = 0; i < tr.ndim; i++) {
			json_int_t p = json_integer_value(json_array_get(perm, (size_t)i));
			json_int_t d = json_integer_value(json_array_get(shape, (size_t)i));

			if (p < 0 || p >= tr.ndim || seen[p] || d <= 0) {
				rc = hz_error_set(HZ_ECORRUPT, "object %lld: invalid transform",
						  (long long)obj);
				goto out;
			}
			seen[p] = true;
			tr.perm[i] = (unsigned)p;
			tr.base_shape[i] = (uint64_t)d;
			total *= (uint64_t)d;
		}
		if (total * esz != size) {
			rc = hz_error_set(HZ_ECORRUPT, "object %lld: invalid transform", (long long)obj);
			goto out;
		}
	}
	base = malloc(size ? size : 1);
	v = malloc(size ? size : 1);
	if (!base || !v) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = load_object(s, tr.base, size, base);
	if (rc)
		goto out;
	transform_apply(v, base, tr.base_shape, tr.ndim, tr.perm, esz);
	*out = v;
	*out_len = (size_t)size;
	v = NULL;
out:
	db_finalize(st);
	json_decref(j);
	free(base);
	free(v);
	return rc;
}
