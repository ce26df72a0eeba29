/*
 * delta/delta.h - the block format: float-aware coding of bounded blocks.
 *
 * A block holds at most DELTA_BLOCK_MAX bytes of original data ("raw"
 * bytes) of one dtype, encoded by one codec.  Every block is independently
 * decodable and carries an XXH3-64 checksum of its raw bytes, so a reader
 * can decode any block alone and never return wrong bytes.  No I/O here:
 * buffers in, buffers out.
 *
 * On-disk block layout (all integers little-endian), DELTA_BLOCK_HDR bytes
 * of header then the payload:
 *
 *   0  4  magic "HZB1"
 *   4  1  codec id (DELTA_CODEC_*; ids are never reused)
 *   5  1  dtype id (common/dtype.h)
 *   6  2  flags (0; reserved)
 *   8  4  raw_len     original bytes, <= DELTA_BLOCK_MAX
 *  12  4  payload_len bytes that follow the header
 *  16  8  XXH3-64 of the raw bytes
 *  24     payload (codec-specific; see docs/format.md (Codecs))
 *
 * Thread safety: a delta_ctx is used by one thread at a time; use one per
 * thread.  Different contexts are independent.
 */
#ifndef HZ_DELTA_H
#define HZ_DELTA_H

#include <stddef.h>
#include <stdint.h>

#define DELTA_BLOCK_MAX (1u << 20)
#define DELTA_BLOCK_HDR 24

/* Codec ids, as stored on disk.  Never renumber or reuse. */
enum delta_codec {
	DELTA_CODEC_RAW = 0,	/* payload = raw bytes */
	DELTA_CODEC_ZSTD = 1,	/* payload = one zstd frame of the raw bytes */
	DELTA_CODEC_PLANES = 2,	/* byte planes of a float dtype, each coded */
	/* 3: reserved for XOR-delta planes against a base block */
	DELTA_CODEC_COUNT
};

struct delta_block_info {
	uint8_t codec;
	uint8_t dtype;
	uint16_t flags;
	uint32_t raw_len;
	uint32_t payload_len;
	uint64_t checksum; /* XXH3-64 of the raw bytes */
};

/* Encoder/decoder state (compression contexts, scratch buffers). */
struct delta_ctx;

/*
 * Returns a new context or NULL (out of memory).  level is the zstd level
 * used for zstd-coded data (0 = default).  Free with delta_ctx_free.
 * Buffers are allocated on first use: about 4.5 MiB for encoding (at the
 * default level; more at high zstd levels) and 1.7 MiB for decoding; an
 * allocation failure then makes that call return HZ_ENOMEM.
 */
struct delta_ctx *delta_ctx_new(int level);
/* Frees ctx; NULL is a no-op. */
void delta_ctx_free(struct delta_ctx *ctx);

/* Upper bound of the encoded size (header included) of raw_len raw bytes. */
size_t delta_block_bound(size_t raw_len);

/*
 * Encodes src[0..len) (len <= DELTA_BLOCK_MAX) of dtype dt into out as one
 * complete block (header + payload), choosing the smallest of the codecs
 * that apply to dt.  out must hold delta_block_bound(len) bytes.  For a
 * multi-byte dtype, len is a multiple of the element size.  Sets *out_len
 * to the block's size.  Returns 0, HZ_EINVAL (bad arguments) or HZ_ERROR.
 */
int delta_block_encode(struct delta_ctx *ctx, uint8_t *out, size_t *out_len,
		       const uint8_t *src, size_t len, int dt);

/*
 * Parses and sanity-checks a block header (magic, codec id known, raw_len
 * bound).  buf holds at least DELTA_BLOCK_HDR bytes.  Returns 0,
 * HZ_ECORRUPT or HZ_EUNSUPPORTED (unknown codec id).
 */
int delta_block_header_parse(struct delta_block_info *out, const uint8_t *buf,
			     size_t len);

/*
 * Decodes the complete block blk[0..blk_len) into out (capacity out_cap,
 * at least the block's raw_len) and verifies the checksum.  Sets *out_len
 * to raw_len.  Returns 0, HZ_ECORRUPT (any inconsistency, including a
 * checksum mismatch: the output must then not be used), HZ_EUNSUPPORTED
 * or HZ_EINVAL (out too small).  Never reads outside blk or writes outside
 * out, whatever the input.
 */
int delta_block_decode(struct delta_ctx *ctx, uint8_t *out, size_t out_cap,
		       size_t *out_len, const uint8_t *blk, size_t blk_len);

/* A short name for a codec id ("planes"), or "unknown". */
const char *delta_codec_name(int codec);

#endif
