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
	DELTA_CODEC_XOR = 3,	/* byte planes of (element XOR base element) */
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
 * default level; more at high zstd levels) and 1.7 MiB for decoding, plus
 * 1.25 MiB for encoding against a base and 0.25 MiB for decoding a block
 * with sparse planes (codec 3); an allocation failure then makes that
 * call return HZ_ENOMEM.
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

/* ---- XOR-delta against a base block (codec 3) -------------------------
 *
 * A fine-tuned tensor is coded against the tensor it derives from: element
 * i of the block is XORed with element i of the base block, and the result
 * is coded in byte planes like codec 2 (for a fine-tune, the sign+exponent
 * plane is almost all zeros).  The base is the raw bytes of one block of a
 * tensor stored without delta; the store finds it again through the index
 * to decode.  A block that needs a base says so by its codec id.
 *
 * Supported (dt, base_dt) pairs: (X, X) for X in BF16, F16, F32, F8_E4M3,
 * F8_E5M2 (and F64: same machinery); (BF16, F32) and (F16, F32), where the
 * base is first rounded to dt to nearest even, as torch rounds (NaN stays
 * NaN, quieted; F16 overflow to +-Inf), so a plain cast of the base XORs
 * to all zeros.
 *
 * The base may hold fewer elements than src (a tensor grown along axis 0):
 * the elements past the base are coded alone (as if XORed with zero).  It
 * may hold more (shrunk): only the first elements are used.  The payload
 * records base_dt and how many base elements were used, min(src elements,
 * base elements), and decoding checks both against what it is given.
 */

/* True if blocks of dtype dt can be XOR-coded against blocks of base_dt. */
int delta_xor_supported(int dt, int base_dt);

/*
 * Encodes src[0..len) of dtype dt like delta_block_encode, but also tries
 * the XOR against base[0..base_len) (whole elements of base_dt, element 0
 * of base paired with element 0 of src) and keeps the smallest block.
 * *plain_len is set to the size delta_block_encode would have produced
 * (for accounting), *used_base to 1 if the block written is codec 3 (it
 * then needs the same base bytes, base_len and base_dt to decode), else
 * 0; either pointer may be NULL.  base may be NULL (plain coding; base_dt
 * is then ignored).  src and base must not overlap out.  Returns 0,
 * HZ_EINVAL (bad arguments, unsupported pair, base_len not whole
 * elements), HZ_ENOMEM or HZ_ERROR.
 */
int delta_block_encode_base(struct delta_ctx *ctx, uint8_t *out, size_t *out_len,
			    size_t *plain_len, int *used_base, const uint8_t *src,
			    size_t len, int dt, const uint8_t *base, size_t base_len,
			    int base_dt);

/*
 * Decodes a block like delta_block_decode; a codec-3 block needs the raw
 * bytes of its base block (base, base_len, of dtype base_dt), other codecs
 * ignore them (base may be NULL).  A codec-3 block without a base, or with
 * a base whose dtype or length does not match what the block recorded, is
 * HZ_ECORRUPT (as are other base bytes: the checksum).  base must not
 * overlap out.  Never reads outside blk or base, or writes outside out.
 */
int delta_block_decode_base(struct delta_ctx *ctx, uint8_t *out, size_t out_cap,
			    size_t *out_len, const uint8_t *blk, size_t blk_len,
			    const uint8_t *base, size_t base_len, int base_dt);

/* A short name for a codec id ("planes"), or "unknown". */
const char *delta_codec_name(int codec);

#endif
