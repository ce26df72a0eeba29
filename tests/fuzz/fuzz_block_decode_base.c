/*
 * Fuzz target for delta_block_decode_base: arbitrary blocks and bases must
 * never make the decoder read outside the block or the base or write
 * outside its output, and a success must return exactly raw_len bytes
 * whose XXH3-64 is the header's.
 *
 * The input is [sel][split (2, LE)][block: split bytes][base: the rest];
 * sel picks the base dtype for the base bytes and, for the two derived
 * passes, a supported (dtype, base dtype) pair.  It is decoded three
 * times: the block as it is, against the base; behind a made-up codec-3
 * header and payload prefix that match the base (dtype from the pair,
 * raw_len from the block's first 3 bytes, base dtype, element count,
 * a transform and plane count right), so the fuzzer reaches the plane
 * records and the XOR without guessing them (the checksum then fails,
 * after the decode); and as a valid codec-3
 * block made by encoding the block bytes against the base, damaged at one
 * or two places the input chooses, decoded against the base and against
 * a base one element shorter or of another dtype.  Outputs and bases are
 * heap buffers of their exact sizes, so ASan sees any access past them;
 * both rANS decoders run.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/block_decode_base.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/hash.h"
#include "delta/delta.h"
#include "delta/delta_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int pairs[][2] = {
	{ HZ_DT_F64, HZ_DT_F64 },	  { HZ_DT_F32, HZ_DT_F32 },
	{ HZ_DT_F16, HZ_DT_F16 },	  { HZ_DT_BF16, HZ_DT_BF16 },
	{ HZ_DT_F8_E4M3, HZ_DT_F8_E4M3 }, { HZ_DT_F8_E5M2, HZ_DT_F8_E5M2 },
	{ HZ_DT_BF16, HZ_DT_F32 },	  { HZ_DT_F16, HZ_DT_F32 },
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

static struct delta_ctx *ctx;
static uint8_t *enc;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_block_decode_base: %s ('%s')\n", what,
		hz_error_msg());
	abort();
}

static uint8_t *dup(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);

	if (!q)
		abort();
	if (len)
		memcpy(q, p, len);
	return q;
}

/*
 * Decodes blk against base (NULL for none); returns 0 if it decoded (to
 * bytes of the right checksum).
 */
static int decode(const uint8_t *blk, size_t len, const uint8_t *base,
		  size_t base_len, int base_dt)
{
	struct delta_block_info bi;
	uint8_t *out;
	size_t out_len = 0;
	int simd, rc = 0;

	if (delta_block_header_parse(&bi, blk, len))
		bi.raw_len = 64;
	for (simd = 0; simd < 2; simd++) {
		out = malloc(bi.raw_len ? bi.raw_len : 1);
		if (!out)
			abort();
		delta_rans_simd(simd);
		rc = delta_block_decode_base(ctx, out, bi.raw_len, &out_len,
					     blk, len, base, base_len, base_dt);
		if (rc && rc != HZ_ECORRUPT && rc != HZ_EUNSUPPORTED &&
		    rc != HZ_EINVAL)
			fail("unexpected error code");
		if (!rc && (out_len != bi.raw_len ||
			    hz_xxh3(out, out_len) != bi.checksum))
			fail("success with the wrong bytes");
		free(out);
	}
	delta_rans_simd(1);
	return rc;
}

/* A codec-3 header and payload prefix for the pair p that fit the base. */
static void made_up(int p, const uint8_t *body, size_t blen,
		    const uint8_t *base, size_t base_len, uint32_t raw_len)
{
	int dt = pairs[p][0], bdt = pairs[p][1];
	size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt), n, nb;
	uint8_t *blk = malloc(DELTA_BLOCK_HDR + 7 + blen);
	int xf;

	if (!blk || !blen)
		abort();
	raw_len -= raw_len % es;
	n = raw_len / es;
	nb = base_len / bes < n ? base_len / bes : n;
	memcpy(blk, "HZB1", 4);
	blk[4] = DELTA_CODEC_XOR;
	blk[5] = (uint8_t)dt;
	hz_store16(blk + 6, 0);
	hz_store32(blk + 8, raw_len);
	hz_store32(blk + 12, (uint32_t)(6 + blen));
	hz_store64(blk + 16, 0);
	blk[DELTA_BLOCK_HDR] = (uint8_t)bdt;
	hz_store32(blk + DELTA_BLOCK_HDR + 1, (uint32_t)nb);
	/* a valid transform and plane count (one the first body byte picks) */
	xf = body[0] & 1 && es > 1 ? DELTA_XF_ROTL1 : DELTA_XF_SPLIT;
	if (body[0] & 2)
		xf = body[0] >> 2; /* or any */
	blk[DELTA_BLOCK_HDR + 5] = (uint8_t)xf;
	blk[DELTA_BLOCK_HDR + 6] = (uint8_t)es;
	memcpy(blk + DELTA_BLOCK_HDR + 7, body + 1, blen - 1);
	decode(blk, DELTA_BLOCK_HDR + 6 + blen, base, base_len - base_len % bes,
	       bdt);
	free(blk);
}

/*
 * Encodes src against base as pair p, damages the block at one or two
 * places from d[0..6), decodes against the base and against wrong ones.
 */
static void damaged(int p, const uint8_t *d, const uint8_t *src, size_t len,
		    const uint8_t *base, size_t base_len)
{
	int dt = pairs[p][0], bdt = pairs[p][1], used, k, rc;
	size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt), elen, plen;

	len -= len % es;
	base_len -= base_len % bes;
	if (len > DELTA_BLOCK_MAX)
		len = DELTA_BLOCK_MAX;
	if (delta_block_encode_base(ctx, enc, &elen, &plen, &used, src, len, dt,
				    base, base_len, bdt))
		fail("cannot encode");
	if (decode(enc, elen, base, base_len, bdt))
		fail("a valid block does not decode");
	if (used) {
		/* a base one element short, of another dtype, none */
		if (base_len / bes <= len / es &&
		    !decode(enc, elen, base, base_len - bes, bdt))
			fail("decoded against a shorter base");
		if (!decode(enc, elen, base, base_len,
			    bdt == HZ_DT_F32 ? HZ_DT_I32 : HZ_DT_U8))
			fail("decoded against a base of another dtype");
		if (!decode(enc, elen, NULL, 0, bdt))
			fail("decoded without its base");
	}
	for (k = 0; k <= (d[0] & 1); k++) {
		size_t pos = DELTA_BLOCK_HDR + hz_load16(d + 1 + 2 * k) %
			     (elen - DELTA_BLOCK_HDR + 1);

		if (pos < elen)
			enc[pos] = d[4 + k];
	}
	rc = decode(enc, elen, base, base_len, bdt);
	(void)rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body;
	uint8_t *blk, *base;
	size_t split, blen, base_len;
	int p, bdt;

	if (!ctx) {
		ctx = delta_ctx_new(0);
		enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
		if (!ctx || !enc)
			abort();
	}
	if (size < 3)
		return 0;
	p = data[0] % NPAIRS;
	bdt = data[0] & 0x80 ? pairs[p][1] : data[0] % (HZ_DT_COUNT + 1);
	split = hz_load16(data + 1);
	body = data + 3;
	size -= 3;
	blen = split < size ? split : size;
	base_len = size - blen;
	/* the block as it is, against the base as it is */
	blk = dup(body, blen);
	base = dup(body + blen, base_len);
	decode(blk, blen, base, base_len, bdt);
	free(blk);
	/* behind a made-up codec-3 header that fits the base */
	if (blen >= 4)
		made_up(p, body + 3, blen - 3, base, base_len,
			(hz_load16(body) | (uint32_t)body[2] << 16) %
				(DELTA_BLOCK_MAX + 1));
	/* a valid block of the block bytes against the base, damaged */
	if (blen >= 6)
		damaged(p, body, body + 6, blen - 6, base, base_len);
	free(base);
	return 0;
}
