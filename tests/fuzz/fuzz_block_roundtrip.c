/*
 * Round-trip fuzz target for the block coder (as zstd's
 * tests/fuzz/simple_round_trip.c): the input, after a first byte that
 * picks a dtype, is encoded as that dtype and as F32, BF16 and NONE (cut
 * to a whole number of elements), decoded with both rANS decoders and
 * compared, and encoded again to check the encoder is deterministic.
 *
 * Then the XOR codec: the first byte also picks a supported (dtype, base
 * dtype) pair, the next two a split of the rest into src and base, and
 * src is coded against the base (as it is, and against the base with its
 * bits mostly cleared, so that the XOR is near the base as a fine-tune's
 * is) with delta_block_encode_base, decoded with delta_block_decode_base
 * and compared; plain_len must be what delta_block_encode writes, and a
 * codec-3 block must not decode without its base or with another.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/block_roundtrip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
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
static uint8_t *enc, *enc2, *dec;

static void fail(const char *what, int dt)
{
	fprintf(stderr, "fuzz_block_roundtrip: %s as %s ('%s')\n", what,
		hz_dtype_name(dt), hz_error_msg());
	abort();
}

static void round_trip(const uint8_t *src, size_t len, int dt)
{
	size_t es = hz_dtype_size(dt), elen, elen2, dlen;
	int simd;

	len -= len % es;
	if (delta_block_encode(ctx, enc, &elen, src, len, dt))
		fail("cannot encode", dt);
	if (elen > delta_block_bound(len))
		fail("block exceeds the bound", dt);
	for (simd = 0; simd < 2; simd++) {
		delta_rans_simd(simd);
		if (delta_block_decode(ctx, dec, len, &dlen, enc, elen))
			fail("cannot decode", dt);
		if (dlen != len || memcmp(dec, src, len))
			fail("round trip differs", dt);
	}
	delta_rans_simd(1);
	if (delta_block_encode(ctx, enc2, &elen2, src, len, dt))
		fail("cannot encode again", dt);
	if (elen2 != elen || memcmp(enc, enc2, elen))
		fail("encoder is not deterministic", dt);
}

/* src against base as pair p: encode, decode, compare, again. */
static void base_round_trip(const uint8_t *src, size_t len,
			    const uint8_t *base, size_t base_len, int p)
{
	int dt = pairs[p][0], bdt = pairs[p][1], used, used2, simd;
	size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt);
	size_t elen, elen2, plen, plen2, pl, dlen;

	len -= len % es;
	base_len -= base_len % bes;
	if (delta_block_encode_base(ctx, enc, &elen, &plen, &used, src, len, dt,
				    base, base_len, bdt))
		fail("cannot encode against a base", dt);
	if (elen > delta_block_bound(len) || elen > plen)
		fail("block exceeds the bound or plain_len", dt);
	if (used != (enc[4] == DELTA_CODEC_XOR) || (!used && elen != plen))
		fail("used_base or plain_len inconsistent", dt);
	if (delta_block_encode(ctx, enc2, &pl, src, len, dt) || pl != plen)
		fail("plain_len is not delta_block_encode's size", dt);
	for (simd = 0; simd < 2; simd++) {
		delta_rans_simd(simd);
		if (delta_block_decode_base(ctx, dec, len, &dlen, enc, elen,
					    base, base_len, bdt))
			fail("cannot decode against the base", dt);
		if (dlen != len || memcmp(dec, src, len))
			fail("round trip against a base differs", dt);
	}
	delta_rans_simd(1);
	if (used && (delta_block_decode(ctx, dec, len, &dlen, enc, elen) !=
			     HZ_ECORRUPT ||
		     delta_block_decode_base(ctx, dec, len, &dlen, enc, elen,
					     base, base_len, HZ_DT_U8) !=
			     HZ_ECORRUPT))
		fail("decoded without its base", dt);
	if (delta_block_encode_base(ctx, enc2, &elen2, &plen2, &used2, src, len,
				    dt, base, base_len, bdt))
		fail("cannot encode against a base again", dt);
	if (elen2 != elen || plen2 != plen || used2 != used ||
	    memcmp(enc, enc2, elen))
		fail("encoder against a base is not deterministic", dt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *src;
	int dt;

	if (!ctx) {
		ctx = delta_ctx_new(0);
		enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
		enc2 = malloc(delta_block_bound(DELTA_BLOCK_MAX));
		dec = malloc(DELTA_BLOCK_MAX);
		if (!ctx || !enc || !enc2 || !dec)
			abort();
	}
	if (size < 1)
		return 0;
	dt = data[0] % HZ_DT_COUNT;
	size--;
	if (size > DELTA_BLOCK_MAX)
		size = DELTA_BLOCK_MAX;
	/* in its own allocation, so ASan sees reads past the end */
	src = malloc(size ? size : 1);
	if (!src)
		abort();
	memcpy(src, data + 1, size);
	round_trip(src, size, dt);
	round_trip(src, size, HZ_DT_F32);
	round_trip(src, size, HZ_DT_BF16);
	round_trip(src, size, HZ_DT_NONE);
	free(src);
	if (size >= 2) {
		size_t split = hz_load16(data + 1), n = size - 2, i;
		uint8_t *s, *b;
		int p = data[0] % NPAIRS;

		if (split > n)
			split = n;
		s = malloc(split ? split : 1);
		b = malloc(n - split ? n - split : 1);
		if (!s || !b)
			abort();
		memcpy(s, data + 3, split);
		memcpy(b, data + 3 + split, n - split);
		base_round_trip(s, split, b, n - split, p);
		/* a base close to src: src with most of its bytes' bits kept */
		if (n - split >= split) {
			for (i = 0; i < split; i++)
				b[i] = s[i] ^ (b[i] & b[i] >> 1 & 0x11);
			base_round_trip(s, split, b, n - split,
					pairs[p][0] == pairs[p][1] ? p : 3);
		}
		free(s);
		free(b);
	}
	return 0;
}
