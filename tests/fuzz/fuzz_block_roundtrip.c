/*
 * Round-trip fuzz target for the block coder (as zstd's
 * tests/fuzz/simple_round_trip.c): the input, after a first byte that
 * picks a dtype, is encoded as that dtype and as F32, BF16 and NONE (cut
 * to a whole number of elements), decoded with both rANS decoders and
 * compared, and encoded again to check the encoder is deterministic.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/block_roundtrip.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"
#include "delta/delta_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
