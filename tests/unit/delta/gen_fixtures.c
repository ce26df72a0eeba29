/*
 * tests/unit/delta/gen_fixtures.c - writes the golden blocks of
 * tests/fixtures/delta/: one or more frozen blocks of every codec id,
 * transform and plane coder, and MANIFEST (per block: file, codec id,
 * dtype id, raw length, SHA-256 of the raw bytes, plane coder ids, and
 * for a codec-3 block the file of its base's raw bytes and the base's
 * dtype id).  test_delta.c decodes every one of them with both rANS
 * decoders.
 *
 * Run when a codec, transform or plane coder id is added, and commit the
 * new outputs.  Existing fixtures never change (a reader must always
 * decode what was once written): a block file already there is kept and
 * only checked to decode to the data the generator makes for it, from
 * testdata.h's fixed PRNG.  From the repo root:
 *   make build/libhubzip.a
 *   cc -O2 -I. -Itests -o build/gen_delta_fixtures \
 *      tests/unit/delta/gen_fixtures.c build/libhubzip.a \
 *      -lzstd -lxxhash -lcrypto -lm
 *   build/gen_delta_fixtures tests/fixtures/delta
 */
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

static struct delta_ctx *ctx;
static uint8_t src[DELTA_BLOCK_MAX], blk[DELTA_BLOCK_HDR + DELTA_BLOCK_MAX];
static uint8_t dec[DELTA_BLOCK_MAX], base[2 * DELTA_BLOCK_MAX];
static const char *dir;
static FILE *manifest;

/* The base of the codec-3 fixtures being written: base[0..base_len). */
static const char *base_name;
static size_t base_len;
static int base_dt;

static void die(const char *what, const char *name)
{
	fprintf(stderr, "gen_fixtures: %s: %s (%s)\n", name, what,
		hz_error_msg());
	exit(1);
}

/* Plane coders of a PLANES or XOR block as digits, or "-". */
static void coders(char *out, const uint8_t *b)
{
	const uint8_t *p = b + DELTA_BLOCK_HDR;
	size_t pos = 2;
	int k;

	if (b[4] == DELTA_CODEC_XOR) {
		p += 5;
	} else if (b[4] != DELTA_CODEC_PLANES) {
		strcpy(out, "-");
		return;
	}
	for (k = 0; k < p[1]; k++) {
		out[k] = (char)('0' + p[pos]);
		pos += 5 + hz_load32(p + pos + 1);
	}
	out[k] = '\0';
}

/*
 * Writes blk as fixture name, after checking it decodes to src[0..len)
 * with codec and plane coders want ("-" for none), and its manifest line.
 * A committed fixture is kept as it is (the encoder may have learnt to
 * choose differently since): it must still decode to src, and its own
 * codec and coders go into the manifest.
 */
static void emit(const char *name, size_t blen, size_t len, int codec,
		 const char *want)
{
	static uint8_t old[DELTA_BLOCK_HDR + DELTA_BLOCK_MAX + 1];
	char path[4096], got[16], hex[HZ_SHA256_HEX];
	uint8_t sha[HZ_SHA256_LEN];
	const uint8_t *b = blk;
	size_t dlen;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f) {
		blen = fread(old, 1, sizeof(old), f);
		fclose(f);
		b = old;
	}
	if (delta_block_decode_base(ctx, dec, sizeof(dec), &dlen, b, blen,
				    base_name ? base : NULL, base_len,
				    base_dt) ||
	    dlen != len || memcmp(dec, src, len))
		die("does not decode to its data", name);
	coders(got, b);
	if (b == blk && (blk[4] != codec || strcmp(got, want))) {
		fprintf(stderr, "gen_fixtures: %s: codec %d coders %s\n", name,
			blk[4], got);
		die("not the intended codec or plane coders", name);
	}
	if (b == blk) {
		f = fopen(path, "wb");
		if (!f || fwrite(blk, 1, blen, f) != blen || fclose(f))
			die("cannot write", name);
	}
	hz_sha256(sha, src, len);
	hz_hex(hex, sha, sizeof(sha));
	fprintf(manifest, "%s %d %d %zu %s %s", name, b[4], b[5], len, hex,
		got);
	if (b[4] == DELTA_CODEC_XOR)
		fprintf(manifest, " %s %d", base_name, base_dt);
	fprintf(manifest, "\n");
}

/*
 * Makes base[0..len) of dtype dt the base of the next fixtures, written
 * as file name; a committed base file must hold exactly these bytes.
 */
static void set_base(const char *name, size_t len, int dt)
{
	static uint8_t old[2 * DELTA_BLOCK_MAX + 1];
	char path[4096];
	size_t olen;
	FILE *f;

	base_name = name;
	base_len = len;
	base_dt = dt;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f) {
		olen = fread(old, 1, sizeof(old), f);
		fclose(f);
		if (olen != len || memcmp(old, base, len))
			die("a committed base changed", name);
		return;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(base, 1, len, f) != len || fclose(f))
		die("cannot write", name);
}

/* A block coded by delta_block_encode_base against the current base. */
static void base_block(const char *name, size_t len, int dt, int codec,
		       const char *want)
{
	size_t blen, plen;
	int used;

	if (delta_block_encode_base(ctx, blk, &blen, &plen, &used, src, len,
				    dt, base, base_len, base_dt))
		die("cannot encode", name);
	emit(name, blen, len, codec, want);
}

/*
 * An XOR block of src[0..len) (dt) against the current base with
 * transform xf and plane coders limited to mask: the XOR is made here
 * from testdata.h's rounding, which the codec's must match.
 */
static void forced_xor_block(const char *name, size_t len, int dt, int xf,
			     unsigned mask, int lz, const char *want)
{
	static uint8_t x[DELTA_BLOCK_MAX], split[DELTA_BLOCK_MAX];
	const uint8_t *planes[DELTA_PLANES_MAX];
	size_t es = hz_dtype_size(dt), bes = hz_dtype_size(base_dt);
	size_t n = len / es, nb = base_len / bes, plen, i;
	uint8_t *p = blk + DELTA_BLOCK_HDR;
	int np = delta_xf_nplanes(xf, es), k;

	if (np < 0)
		die("bad transform", name);
	if (nb > n)
		nb = n;
	memcpy(x, src, len);
	for (i = 0; i < nb; i++) {
		if (dt == base_dt) {
			for (k = 0; k < (int)es; k++)
				x[i * es + k] ^= base[i * es + k];
		} else {
			uint32_t v = hz_load32(base + 4 * i);
			float f;

			memcpy(&f, &v, 4);
			hz_store16(x + 2 * i,
				   hz_load16(x + 2 * i) ^
					   (dt == HZ_DT_F16 ? td_f16(f) : td_bf16(f)));
		}
	}
	delta_split(split, x, n, es, xf);
	for (k = 0; k < np; k++)
		planes[k] = split + (size_t)k * n;
	p[0] = (uint8_t)base_dt;
	hz_store32(p + 1, (uint32_t)nb);
	p[5] = (uint8_t)xf;
	p[6] = (uint8_t)np;
	if (delta_planes_encode(ctx, p + 7, DELTA_BLOCK_MAX - 7, &plen, planes,
				np, n, mask, lz))
		die("cannot encode planes", name);
	memcpy(blk, "HZB1", 4);
	blk[4] = DELTA_CODEC_XOR;
	blk[5] = (uint8_t)dt;
	hz_store16(blk + 6, 0);
	hz_store32(blk + 8, (uint32_t)len);
	hz_store32(blk + 12, (uint32_t)(plen + 7));
	hz_store64(blk + 16, hz_xxh3(src, len));
	emit(name, DELTA_BLOCK_HDR + plen + 7, len, DELTA_CODEC_XOR, want);
}

/*
 * n base elements of bdt, N(0, 0.02^2) (with every rounding case of
 * BF16/F16 among the first for an F32 base), and src: n elements of dt,
 * each base value times (1 + rel * N(0, 1)), rounded as testdata.h does.
 */
static void ft_pair(size_t n, int dt, int bdt, double rel, struct td_rng *r)
{
	static const uint32_t specials[] = {
		0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
		0xff812345, 0x7fa00000, 0x00000001, 0x00018000, 0x3f808000,
		0x3f818000, 0x7f7fffff, 0x477ff000, 0x477fefff, 0x33000000,
		0x33000001, 0x33c00000, 0x387fe000, 0x3f801000, 0x3f803000,
	};
	size_t i, es = hz_dtype_size(dt);

	for (i = 0; i < n; i++) {
		double w = td_gauss(r) * 0.02, v = w * (1 + rel * td_gauss(r));
		float f = (float)w;

		switch (bdt) {
		case HZ_DT_F64:
			memcpy(base + 8 * i, &w, 8);
			memcpy(src + 8 * i, &v, 8);
			continue;
		case HZ_DT_F32:
			if (i < sizeof(specials) / sizeof(specials[0]))
				memcpy(&f, &specials[i], 4);
			hz_store32(base + 4 * i, td_f32_bits(f));
			if (i < sizeof(specials) / sizeof(specials[0]))
				v = f;
			break;
		case HZ_DT_F16:
			hz_store16(base + 2 * i, td_f16(f));
			break;
		case HZ_DT_BF16:
			hz_store16(base + 2 * i, td_bf16(f));
			break;
		default:
			base[i] = (uint8_t)(td_bf16(f) >> 8);
			break;
		}
		if (es == 4)
			hz_store32(src + 4 * i, td_f32_bits((float)v));
		else if (dt == HZ_DT_F16)
			hz_store16(src + 2 * i, td_f16((float)v));
		else if (dt == HZ_DT_BF16)
			hz_store16(src + 2 * i, td_bf16((float)v));
		else /* 1-byte floats: a step of one in some elements */
			src[i] = (uint8_t)(base[i] ^ (td_next(r) % 4 == 0));
	}
}

static void auto_block(const char *name, size_t len, int dt, int codec,
		       const char *want)
{
	size_t blen;

	if (delta_block_encode(ctx, blk, &blen, src, len, dt))
		die("cannot encode", name);
	emit(name, blen, len, codec, want);
}

/* A PLANES block whose plane coders are limited to mask. */
static void forced_block(const char *name, size_t len, int dt, int xf,
			 unsigned mask, const char *want)
{
	const uint8_t *planes[DELTA_PLANES_MAX];
	size_t es = hz_dtype_size(dt), n = len / es, plen;
	static uint8_t split[DELTA_BLOCK_MAX];
	int np = delta_xf_nplanes(xf, es), k;

	if (np < 0)
		die("bad transform", name);
	delta_split(split, src, n, es, xf);
	for (k = 0; k < np; k++)
		planes[k] = split + (size_t)k * n;
	blk[DELTA_BLOCK_HDR] = (uint8_t)xf;
	blk[DELTA_BLOCK_HDR + 1] = (uint8_t)np;
	if (delta_planes_encode(ctx, blk + DELTA_BLOCK_HDR + 2,
				DELTA_BLOCK_MAX - 2, &plen, planes, np, n, mask,
				DELTA_LZ_ALWAYS))
		die("cannot encode planes", name);
	memcpy(blk, "HZB1", 4);
	blk[4] = DELTA_CODEC_PLANES;
	blk[5] = (uint8_t)dt;
	hz_store16(blk + 6, 0);
	hz_store32(blk + 8, (uint32_t)len);
	hz_store32(blk + 12, (uint32_t)(plen + 2));
	hz_store64(blk + 16, hz_xxh3(src, len));
	emit(name, DELTA_BLOCK_HDR + plen + 2, len, DELTA_CODEC_PLANES, want);
}

/*
 * Codec 3 (xor): every supported dtype pair, bases shorter and longer
 * than the block, casts, and forced transforms and plane coders.  From
 * their own PRNG, so that the fixtures above keep their data.
 */
static void xor_fixtures(void)
{
	struct td_rng r = { 20261128 };
	unsigned e = 120;
	size_t i;

	/* BF16/F16 fine-tunes and casts of an F32 base */
	ft_pair(12000, HZ_DT_BF16, HZ_DT_F32, 2e-3, &r);
	set_base("xor-f32-12000.base", 4 * 12000, HZ_DT_F32);
	base_block("xor-bf16-of-f32.blk", 2 * 12000, HZ_DT_BF16,
		   DELTA_CODEC_XOR, "35");
	for (i = 0; i < 12000; i++) {
		uint32_t v = hz_load32(base + 4 * i);
		float f;

		memcpy(&f, &v, 4);
		hz_store16(src + 2 * i, td_bf16(f));
	}
	base_block("xor-bf16-of-f32-cast.blk", 2 * 12000, HZ_DT_BF16,
		   DELTA_CODEC_XOR, "11");
	/* a cast to F16, every seventh element off by one bit */
	for (i = 0; i < 12000; i++) {
		uint32_t v = hz_load32(base + 4 * i);
		float f;

		memcpy(&f, &v, 4);
		hz_store16(src + 2 * i, td_f16(f) ^ (uint16_t)(i % 7 == 0));
	}
	base_block("xor-f16-of-f32.blk", 2 * 12000, HZ_DT_F16,
		   DELTA_CODEC_XOR, "31");
	/* the same dtype: F32 (shorter and longer bases), F64, 2-byte, F8 */
	ft_pair(8000, HZ_DT_F32, HZ_DT_F32, 1e-3, &r);
	set_base("xor-f32-8000.base", 4 * 8000, HZ_DT_F32);
	base_block("xor-f32-longer-base.blk", 4 * 5000, HZ_DT_F32,
		   DELTA_CODEC_XOR, "0035");
	set_base("xor-f32-3000.base", 4 * 3000, HZ_DT_F32);
	base_block("xor-f32-shorter-base.blk", 4 * 5000, HZ_DT_F32,
		   DELTA_CODEC_XOR, "0033");
	ft_pair(3000, HZ_DT_F64, HZ_DT_F64, 1e-3, &r);
	set_base("xor-f64-3000.base", 8 * 3000, HZ_DT_F64);
	base_block("xor-f64.blk", 8 * 3000, HZ_DT_F64, DELTA_CODEC_XOR,
		   "00000331");
	ft_pair(20000, HZ_DT_F16, HZ_DT_F16, 1e-3, &r);
	set_base("xor-f16-20000.base", 2 * 20000, HZ_DT_F16);
	base_block("xor-f16.blk", 2 * 20000, HZ_DT_F16, DELTA_CODEC_XOR,
		   "35");
	ft_pair(6000, HZ_DT_F8_E4M3, HZ_DT_F8_E4M3, 0, &r);
	set_base("xor-f8e4m3-6000.base", 6000, HZ_DT_F8_E4M3);
	base_block("xor-f8e4m3.blk", 6000, HZ_DT_F8_E4M3, DELTA_CODEC_XOR,
		   "3");
	ft_pair(6000, HZ_DT_F8_E5M2, HZ_DT_F8_E5M2, 0, &r);
	set_base("xor-f8e5m2-6000.base", 6000, HZ_DT_F8_E5M2);
	base_block("xor-f8e5m2.blk", 6000, HZ_DT_F8_E5M2, DELTA_CODEC_XOR,
		   "3");
	/* BF16, and the same data with forced rotl1, zstd and raw */
	ft_pair(20000, HZ_DT_BF16, HZ_DT_BF16, 1e-2, &r);
	set_base("xor-bf16-20000.base", 2 * 20000, HZ_DT_BF16);
	base_block("xor-bf16.blk", 2 * 20000, HZ_DT_BF16, DELTA_CODEC_XOR,
		   "35");
	forced_xor_block("xor-bf16-rotl1-forced.blk", 2 * 20000, HZ_DT_BF16,
			 DELTA_XF_ROTL1, DELTA_PC_MASK_XOR, DELTA_LZ_NEVER,
			 "35");
	forced_xor_block("xor-bf16-zstd-forced.blk", 2 * 20000, HZ_DT_BF16,
			 DELTA_XF_SPLIT, 1u << DELTA_PC_RAW | 1u << DELTA_PC_ZSTD,
			 DELTA_LZ_ALWAYS, "22");
	forced_xor_block("xor-bf16-raw-forced.blk", 2 * 20000, HZ_DT_BF16,
			 DELTA_XF_SPLIT, 1u << DELTA_PC_RAW, DELTA_LZ_NEVER,
			 "00");
	/* an XOR that is a Markov chain of exponents: rans1 */
	for (i = 0; i < 20000; i++) {
		if (td_next(&r) % 8)
			e = 112 + (e - 112 + 1) % 8;
		else
			e = 112 + (unsigned)(td_next(&r) % 16);
		hz_store16(src + 2 * i, (uint16_t)(hz_load16(base + 2 * i) ^
						   (e << 8 | (td_next(&r) >> 60))));
	}
	forced_xor_block("xor-bf16-rans1-forced.blk", 2 * 20000, HZ_DT_BF16,
			 DELTA_XF_SPLIT, DELTA_PC_MASK_XOR, DELTA_LZ_NEVER,
			 "34");
	set_base("xor-empty.base", 0, HZ_DT_F32);
	forced_xor_block("xor-empty-bf16.blk", 0, HZ_DT_BF16, DELTA_XF_SPLIT,
			 DELTA_PC_MASK_XOR, DELTA_LZ_NEVER, "00");
	base_name = NULL;
}

int main(int argc, char **argv)
{
	char path[4096];
	struct td_rng r = { 20261127 };
	size_t i, len;
	unsigned e = 120;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_fixtures DIR\n");
		return 2;
	}
	dir = argv[1];
	ctx = delta_ctx_new(0);
	if (!ctx || delta_ctx_enc(ctx))
		die("no context", "-");
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	manifest = fopen(path, "w");
	if (!manifest)
		die("cannot write", path);
	fprintf(manifest, "# file codec dtype raw_len sha256(raw) plane-coders; "
			  "written by tests/unit/delta/gen_fixtures.c\n");

	/* codec 0 (raw) */
	td_random_fill(src, 300, &r);
	auto_block("raw-none.blk", 300, HZ_DT_NONE, DELTA_CODEC_RAW, "-");
	auto_block("raw-empty-f32.blk", 0, HZ_DT_F32, DELTA_CODEC_RAW, "-");

	/* codec 1 (zstd) */
	for (len = 0; len < 3000;)
		len += (size_t)snprintf((char *)src + len, 100,
					"{\"name\":\"blocks.%zu.attn.weight\",\"dtype\":\"BF16\"},",
					len % 31);
	auto_block("zstd-json.blk", len, HZ_DT_NONE, DELTA_CODEC_ZSTD, "-");

	/* codec 2 (planes), transform 0 (rotl1) */
	td_gauss_fill(src, 20000, HZ_DT_BF16, 0.02, &r);
	auto_block("planes-bf16-rans0-16ways.blk", 40000, HZ_DT_BF16,
		   DELTA_CODEC_PLANES, "03");
	for (i = 0; i < 40000; i++)
		hz_store16(src + 2 * i,
			   (uint16_t)((0x2c + td_skewed(&r, 12)) << 8 |
				      td_skewed(&r, 40) * 5));
	auto_block("planes-f16-rans0-32ways.blk", 80000, HZ_DT_F16,
		   DELTA_CODEC_PLANES, "33");
	for (i = 0; i < 20000; i++) {
		if (td_next(&r) % 8)
			e = 112 + (e - 112 + 1) % 8;
		else
			e = 112 + (unsigned)(td_next(&r) % 16);
		hz_store16(src + 2 * i,
			   (uint16_t)(e << 7 | (td_next(&r) >> 57)));
	}
	auto_block("planes-bf16-rans1.blk", 40000, HZ_DT_BF16,
		   DELTA_CODEC_PLANES, "34");
	td_gauss_fill(src, 3000, HZ_DT_F32, 0.5, &r);
	auto_block("planes-f32-rotl1.blk", 12000, HZ_DT_F32,
		   DELTA_CODEC_PLANES, "0003");
	td_gauss_fill(src, 1000, HZ_DT_F64, 3, &r);
	auto_block("planes-f64-rotl1.blk", 8000, HZ_DT_F64, DELTA_CODEC_PLANES,
		   "00000003");
	/* transform 1 (F32 high halves), const planes */
	for (i = 0; i < 1000; i++)
		hz_store32(src + 4 * i, 0x3f800000);
	auto_block("planes-f32-hi16-const.blk", 4000, HZ_DT_F32,
		   DELTA_CODEC_PLANES, "11");
	td_gauss_fill(src, 5000, HZ_DT_BF16, 1, &r);
	for (i = 5000; i-- > 0;)
		hz_store32(src + 4 * i, (uint32_t)hz_load16(src + 2 * i) << 16);
	auto_block("planes-f32-hi16.blk", 20000, HZ_DT_F32, DELTA_CODEC_PLANES,
		   "03");
	/* transform 2 (split): ints, bools, 1-byte floats; a zstd plane */
	for (i = 0; i < 20000; i++)
		hz_store16(src + 2 * i,
			   (uint16_t)(td_skewed(&r, 20) << 8 | (i % 97) * 2));
	auto_block("planes-i16-zstd.blk", 40000, HZ_DT_I16, DELTA_CODEC_PLANES,
		   "23");
	for (i = 0; i < 500; i++)
		src[i] = td_skewed(&r, 10);
	auto_block("planes-u8-rans0-small.blk", 500, HZ_DT_U8,
		   DELTA_CODEC_PLANES, "3");
	for (i = 0; i < 3000; i++)
		src[i] = td_skewed(&r, 2);
	auto_block("planes-bool.blk", 3000, HZ_DT_BOOL, DELTA_CODEC_PLANES,
		   "3");
	for (i = 0; i < 2000; i++)
		hz_store64(src + 8 * i, td_skewed(&r, 40));
	auto_block("planes-i64-split.blk", 16000, HZ_DT_I64, DELTA_CODEC_PLANES,
		   "31111111");
	for (i = 0; i < 4000; i++)
		src[i] = (uint8_t)(0x30 + td_skewed(&r, 30));
	auto_block("planes-f8e4m3.blk", 4000, HZ_DT_F8_E4M3, DELTA_CODEC_PLANES,
		   "3");
	/* every coder forced where the encoder would pick another */
	td_gauss_fill(src, 3000, HZ_DT_F16, 0.02, &r);
	forced_block("planes-f16-forced-zstd.blk", 6000, HZ_DT_F16,
		     DELTA_XF_ROTL1, 1u << DELTA_PC_RAW | 1u << DELTA_PC_ZSTD,
		     "02");
	forced_block("planes-f16-forced-raw.blk", 6000, HZ_DT_F16,
		     DELTA_XF_ROTL1, 1u << DELTA_PC_RAW, "00");
	forced_block("planes-f16-split.blk", 6000, HZ_DT_F16, DELTA_XF_SPLIT,
		     DELTA_PC_MASK_V1, "02");
	forced_block("planes-empty-bf16.blk", 0, HZ_DT_BF16, DELTA_XF_ROTL1,
		     DELTA_PC_MASK_V1, "00");
	xor_fixtures();
	if (fclose(manifest))
		die("cannot write", "MANIFEST");
	delta_ctx_free(ctx);
	return 0;
}
