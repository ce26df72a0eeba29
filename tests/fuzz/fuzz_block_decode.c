/*
 * Fuzz target for delta_block_decode: arbitrary bytes must never make the
 * decoder read or write outside its buffers, and a success must return
 * exactly raw_len bytes whose XXH3-64 is the header's.
 *
 * The input is decoded three times: as it is (a whole block); behind a
 * header built from its first 5 bytes (codec, dtype, raw_len) with the
 * rest as the payload, so the fuzzer reaches the codecs without having to
 * guess the magic and lengths (the checksum then fails, after the payload
 * has been decoded); and as a valid block made by encoding the input,
 * with one or two bytes at positions the input chooses replaced, so that
 * near-valid rANS tables and streams are explored.  The output buffer is
 * exactly raw_len bytes on the heap, so ASan sees any write past it, and
 * both rANS decoders run.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/block_decode.
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

static struct delta_ctx *ctx;
static uint8_t *enc;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_block_decode: %s ('%s')\n", what,
		hz_error_msg());
	abort();
}

/* Decodes blk; returns 0 if it decoded (to bytes of the right checksum). */
static int decode(const uint8_t *blk, size_t len)
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
		rc = delta_block_decode(ctx, out, bi.raw_len, &out_len, blk,
					len);
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

/* Encodes data[8..) as a block, damages it as data[0..8) says, decodes. */
static void damaged(const uint8_t *data, size_t size)
{
	const uint8_t *src = data + 8;
	int dt = data[0] % HZ_DT_COUNT, k;
	size_t len = size - 8, elen;

	len -= len % hz_dtype_size(dt);
	if (len > DELTA_BLOCK_MAX)
		len = DELTA_BLOCK_MAX;
	if (delta_block_encode(ctx, enc, &elen, src, len, dt))
		fail("cannot encode");
	/* one or two bytes: positions from data[2..6), values data[6..8) */
	for (k = 0; k <= (data[1] & 1); k++) {
		size_t pos = DELTA_BLOCK_HDR + hz_load16(data + 2 + 2 * k) %
			     (elen - DELTA_BLOCK_HDR + 1);

		if (pos < elen)
			enc[pos] = data[6 + k];
	}
	decode(enc, elen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *blk;

	if (!ctx) {
		ctx = delta_ctx_new(0);
		enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
		if (!ctx || !enc)
			abort();
	}
	/* as a whole block, in its own allocation */
	blk = malloc(size ? size : 1);
	if (!blk)
		abort();
	memcpy(blk, data, size);
	decode(blk, size);
	free(blk);
	if (size < 5)
		return 0;
	/* behind a made-up header */
	blk = malloc(DELTA_BLOCK_HDR + size - 5);
	if (!blk)
		abort();
	memcpy(blk, "HZB1", 4);
	blk[4] = data[0] % DELTA_CODEC_COUNT;
	blk[5] = data[1] % HZ_DT_COUNT;
	hz_store16(blk + 6, 0);
	hz_store32(blk + 8, (hz_load16(data + 2) | (uint32_t)data[4] << 16) %
				    (DELTA_BLOCK_MAX + 1));
	hz_store32(blk + 12, (uint32_t)(size - 5));
	hz_store64(blk + 16, 0);
	memcpy(blk + DELTA_BLOCK_HDR, data + 5, size - 5);
	decode(blk, DELTA_BLOCK_HDR + size - 5);
	free(blk);
	if (size >= 8)
		damaged(data, size);
	return 0;
}
