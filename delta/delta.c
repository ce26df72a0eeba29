/*
 * delta/delta.c - the block format: header, codec table, the choice of a
 * codec per block, and the per-thread context.
 *
 * Encoding tries the codecs that can win and keeps the smallest: PLANES
 * always (its plane coders are chosen from histograms, so it is cheap),
 * plain zstd only when a fast LZ probe (zstd at a negative level, which
 * skips literal coding and runs at several GB/s on float data) finds
 * repeated strings, and RAW as the floor, so a block never grows by more
 * than its header.
 */
#include "delta/delta.h"

#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/hash.h"
#include "delta/delta_int.h"

#define BLOCK_MAGIC "HZB1"
/* zstd level of the LZ probe, and the share it must save to count. */
#define PROBE_LEVEL (-5)
#define PROBE_GAIN_SHIFT 5
/* A small hash table: the probe is run on every float block. */
#define PROBE_HASHLOG 12
/* The probe reads at most this much of a block. */
#define PROBE_MAX (128u << 10)
/* Float blocks smaller than this do not try zstd at all. */
#define PROBE_MIN 4096

static int corrupt(const char *what)
{
	return hz_error_set(HZ_ECORRUPT, "corrupt block: %s", what);
}

struct delta_ctx *delta_ctx_new(int level)
{
	struct delta_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	if (!level)
		level = ZSTD_CLEVEL_DEFAULT;
	if (level < ZSTD_minCLevel())
		level = ZSTD_minCLevel();
	if (level > ZSTD_maxCLevel())
		level = ZSTD_maxCLevel();
	ctx->level = level;
	return ctx;
}

static void enc_free(struct delta_enc *e)
{
	if (!e)
		return;
	ZSTD_freeCCtx(e->cctx);
	ZSTD_freeCCtx(e->probe);
	free(e->planes);
	free(e->scratch);
	free(e->w1);
	free(e->xbuf);
	free(e->sparse);
	free(e);
}

static void dec_free(struct delta_dec *d)
{
	if (!d)
		return;
	ZSTD_freeDCtx(d->dctx);
	free(d->planes);
	free(d->tab);
	free(d->sparse);
	free(d);
}

void delta_ctx_free(struct delta_ctx *ctx)
{
	if (!ctx)
		return;
	enc_free(ctx->enc);
	dec_free(ctx->dec);
	free(ctx);
}

static int cctx_init(ZSTD_CCtx **out, int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();

	*out = c;
	if (!c ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel,
						level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)))
		return -1;
	return 0;
}

/* Allocates the encoder's half of ctx on first use. */
int delta_ctx_enc(struct delta_ctx *ctx)
{
	struct delta_enc *e;

	if (ctx->enc)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	if (cctx_init(&e->cctx, ctx->level) ||
	    cctx_init(&e->probe, PROBE_LEVEL) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(e->probe, ZSTD_c_hashLog,
						PROBE_HASHLOG)))
		goto nomem;
	e->planes = malloc(DELTA_BLOCK_MAX);
	e->scratch = malloc(DELTA_SCRATCH);
	e->w1 = malloc(sizeof(*e->w1));
	if (!e->planes || !e->scratch || !e->w1)
		goto nomem;
	ctx->enc = e;
	return 0;
nomem:
	enc_free(e);
	return hz_error_set(HZ_ENOMEM, "cannot allocate the block encoder");
}

/* Allocates the decoder's half of ctx on first use. */
int delta_ctx_dec(struct delta_ctx *ctx)
{
	struct delta_dec *d;

	if (ctx->dec)
		return 0;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto nomem;
	d->dctx = ZSTD_createDCtx();
	d->planes = malloc(DELTA_BLOCK_MAX);
	d->tab = malloc((size_t)RANS1_MAX_TABLES * RANS_TAB_SIZE *
			sizeof(*d->tab));
	if (!d->dctx || !d->planes || !d->tab)
		goto nomem;
	ctx->dec = d;
	return 0;
nomem:
	dec_free(d);
	return hz_error_set(HZ_ENOMEM, "cannot allocate the block decoder");
}

/*
 * zstd refuses to write a frame that would fill its buffer to the last
 * few bytes, so it is given up to ZSTD_SLACK bytes of room past cap
 * (avail, the real size of out, permitting) and the result is checked
 * against cap.
 */
int delta_zstd_compress(ZSTD_CCtx *cctx, uint8_t *out, size_t cap,
			size_t avail, size_t *out_len, const uint8_t *src,
			size_t len)
{
	size_t r;

	if (avail > cap + ZSTD_SLACK)
		avail = cap + ZSTD_SLACK;
	r = ZSTD_compress2(cctx, out, avail, src, len);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
			return DELTA_NOFIT;
		return hz_error_set(HZ_ERROR, "zstd: %s", ZSTD_getErrorName(r));
	}
	if (r > cap)
		return DELTA_NOFIT;
	*out_len = r;
	return 0;
}

int delta_zstd_decompress(ZSTD_DCtx *dctx, uint8_t *out, size_t n,
			  const uint8_t *src, size_t len)
{
	size_t r = ZSTD_findFrameCompressedSize(src, len);

	if (ZSTD_isError(r) || r != len)
		return corrupt("zstd payload is not exactly one frame");
	if (ZSTD_getFrameContentSize(src, len) != n)
		return corrupt("zstd frame has the wrong content size");
	r = ZSTD_decompressDCtx(dctx, out, n, src, len);
	if (ZSTD_isError(r) || r != n)
		return corrupt("zstd frame does not decode");
	return 0;
}

static int raw_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
		      size_t *out_len, const uint8_t *src, size_t len, int dt,
		      int lz)
{
	(void)ctx;
	(void)dt;
	(void)lz;
	if (len > cap)
		return DELTA_NOFIT;
	memcpy(out, src, len);
	*out_len = len;
	return 0;
}

static int raw_decode(struct delta_ctx *ctx, uint8_t *out, size_t raw_len,
		      int dt, const uint8_t *src, size_t len)
{
	(void)ctx;
	(void)dt;
	if (len != raw_len)
		return corrupt("raw payload has the wrong length");
	if (len)
		memcpy(out, src, len);
	return 0;
}

static int zstd_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
		       size_t *out_len, const uint8_t *src, size_t len, int dt,
		       int lz)
{
	(void)dt;
	(void)lz;
	return delta_zstd_compress(ctx->enc->cctx, out, cap, cap, out_len, src,
				   len);
}

static int zstd_decode(struct delta_ctx *ctx, uint8_t *out, size_t raw_len,
		       int dt, const uint8_t *src, size_t len)
{
	(void)dt;
	return delta_zstd_decompress(ctx->dec->dctx, out, raw_len, src, len);
}

/*
 * Codecs, indexed by their on-disk id.  encode writes a payload into
 * out[0..cap) (DELTA_NOFIT if it would not fit); decode writes exactly
 * raw_len bytes from a payload of exactly len bytes, or fails.  A codec
 * that needs a base block has decode_base instead of decode (and no
 * encode: delta_block_encode_base, in xor.c, runs it).
 */
static const struct delta_codec_ops {
	const char *name;
	int (*encode)(struct delta_ctx *ctx, uint8_t *out, size_t cap,
		      size_t *out_len, const uint8_t *src, size_t len, int dt,
		      int lz);
	int (*decode)(struct delta_ctx *ctx, uint8_t *out, size_t raw_len,
		      int dt, const uint8_t *src, size_t len);
	int (*decode_base)(struct delta_ctx *ctx, uint8_t *out, size_t raw_len,
			   int dt, const uint8_t *src, size_t len,
			   const struct delta_base *base);
} codecs[DELTA_CODEC_COUNT] = {
	[DELTA_CODEC_RAW] = { "raw", raw_encode, raw_decode, NULL },
	[DELTA_CODEC_ZSTD] = { "zstd", zstd_encode, zstd_decode, NULL },
	[DELTA_CODEC_PLANES] = { "planes", delta_planes_codec_encode,
				 delta_planes_codec_decode, NULL },
	[DELTA_CODEC_XOR] = { "xor", NULL, NULL, delta_xor_codec_decode },
};

const char *delta_codec_name(int codec)
{
	return codec >= 0 && codec < DELTA_CODEC_COUNT ? codecs[codec].name
						       : "unknown";
}

size_t delta_block_bound(size_t raw_len)
{
	return DELTA_BLOCK_HDR + raw_len;
}

/*
 * The LZ probe: zstd at a negative level, which finds repeated strings
 * but does not entropy-code literals, over src's first PROBE_MAX bytes.
 * Sets *out to its size scaled to the whole of src, or to len if it did
 * not save 1/32 (zstd is then not worth running).
 */
int delta_lz_probe(struct delta_ctx *ctx, size_t *out, const uint8_t *src,
		   size_t len)
{
	size_t n = len < PROBE_MAX ? len : PROBE_MAX, got;
	int rc;

	*out = len;
	if (!n)
		return 0;
	rc = delta_zstd_compress(ctx->enc->probe, ctx->enc->scratch,
				 n - (n >> PROBE_GAIN_SHIFT), DELTA_SCRATCH, &got,
				 src, n);
	if (rc < 0)
		return rc;
	if (!rc)
		*out = (size_t)((double)got * len / n);
	return 0;
}

/*
 * When zstd may pay on a block (enum delta_lz): always for non-float
 * blocks (headers, JSON, ints: small, and often text-like), never for
 * float blocks under PROBE_MIN bytes, else if the probe finds repeats;
 * the block and each plane then run zstd only if their own LZ-only size
 * (*est for the block) beats what they have.
 */
int delta_lz_gate(struct delta_ctx *ctx, int *out, size_t *est,
		  const uint8_t *src, size_t len, int dt)
{
	int rc;

	*est = 0;
	*out = DELTA_LZ_ALWAYS;
	if (!hz_dtype_is_float(dt))
		return 0;
	*out = DELTA_LZ_NEVER;
	if (len < PROBE_MIN)
		return 0;
	rc = delta_lz_probe(ctx, est, src, len);
	if (rc)
		return rc;
	if (*est < len)
		*out = DELTA_LZ_PROBE;
	return 0;
}

int delta_block_encode(struct delta_ctx *ctx, uint8_t *out, size_t *out_len,
		       const uint8_t *src, size_t len, int dt)
{
	uint8_t *payload = out + DELTA_BLOCK_HDR;
	size_t esize = hz_dtype_size(dt), best_len = len, plen;
	int best = DELTA_CODEC_RAW, rc;
	size_t lz_est = 0;
	int lz = DELTA_LZ_NEVER;

	if (!ctx || !out || !out_len || (!src && len))
		return hz_error_set(HZ_EINVAL, "delta_block_encode: NULL argument");
	if (len > DELTA_BLOCK_MAX)
		return hz_error_set(HZ_EINVAL, "block of %zu bytes exceeds %u",
				    len, DELTA_BLOCK_MAX);
	if (!esize)
		return hz_error_set(HZ_EINVAL, "unknown dtype id %d", dt);
	if (len % esize)
		return hz_error_set(HZ_EINVAL,
				    "block of %zu bytes is not a whole number of %s elements",
				    len, hz_dtype_name(dt));
	rc = delta_ctx_enc(ctx);
	if (rc)
		return rc;
	if (len) {
		rc = delta_lz_gate(ctx, &lz, &lz_est, src, len, dt);
		if (rc)
			return rc;
		rc = codecs[DELTA_CODEC_PLANES].encode(ctx, payload, len, &plen,
							src, len, dt, lz);
		if (rc < 0)
			return rc;
		if (!rc && plen < best_len) {
			best = DELTA_CODEC_PLANES;
			best_len = plen;
		}
	}
	if (lz != DELTA_LZ_NEVER && best_len > 0 && lz_est < best_len) {
		rc = delta_zstd_compress(ctx->enc->cctx, ctx->enc->scratch,
					 best_len - 1, DELTA_SCRATCH, &plen, src,
					 len);
		if (rc < 0)
			return rc;
		if (!rc) {
			best = DELTA_CODEC_ZSTD;
			best_len = plen;
			memcpy(payload, ctx->enc->scratch, plen);
		}
	}
	if (best == DELTA_CODEC_RAW && len)
		memcpy(payload, src, len);
	memcpy(out, BLOCK_MAGIC, 4);
	out[4] = (uint8_t)best;
	out[5] = (uint8_t)dt;
	hz_store16(out + 6, 0);
	hz_store32(out + 8, (uint32_t)len);
	hz_store32(out + 12, (uint32_t)best_len);
	hz_store64(out + 16, hz_xxh3(src, len));
	*out_len = DELTA_BLOCK_HDR + best_len;
	return 0;
}

int delta_block_header_parse(struct delta_block_info *out, const uint8_t *buf,
			     size_t len)
{
	struct delta_block_info bi;

	if (!out || !buf)
		return hz_error_set(HZ_EINVAL, "delta_block_header_parse: NULL argument");
	if (len < DELTA_BLOCK_HDR)
		return corrupt("header is truncated");
	if (memcmp(buf, BLOCK_MAGIC, 4))
		return corrupt("bad magic");
	bi.codec = buf[4];
	bi.dtype = buf[5];
	bi.flags = hz_load16(buf + 6);
	bi.raw_len = hz_load32(buf + 8);
	bi.payload_len = hz_load32(buf + 12);
	bi.checksum = hz_load64(buf + 16);
	if (bi.codec >= DELTA_CODEC_COUNT)
		return hz_error_set(HZ_EUNSUPPORTED, "unknown block codec id %u",
				    bi.codec);
	if (bi.dtype >= HZ_DT_COUNT)
		return hz_error_set(HZ_EUNSUPPORTED, "unknown block dtype id %u",
				    bi.dtype);
	if (bi.flags)
		return hz_error_set(HZ_EUNSUPPORTED, "unknown block flags 0x%x",
				    bi.flags);
	if (bi.raw_len > DELTA_BLOCK_MAX)
		return corrupt("raw length exceeds the block maximum");
	*out = bi;
	return 0;
}

/*
 * Decodes a block, against base (NULL if the caller has none).  Codecs
 * without a base ignore it; a codec that needs one fails without it.
 */
static int block_decode(struct delta_ctx *ctx, uint8_t *out, size_t out_cap,
			size_t *out_len, const uint8_t *blk, size_t blk_len,
			const struct delta_base *base)
{
	const struct delta_codec_ops *ops;
	struct delta_block_info bi;
	int rc;

	if (!ctx || !out_len || !blk || (!out && out_cap))
		return hz_error_set(HZ_EINVAL, "delta_block_decode: NULL argument");
	rc = delta_block_header_parse(&bi, blk, blk_len);
	if (rc)
		return rc;
	if ((uint64_t)DELTA_BLOCK_HDR + bi.payload_len != blk_len)
		return corrupt("payload length does not match the block length");
	if (out_cap < bi.raw_len)
		return hz_error_set(HZ_EINVAL,
				    "output buffer of %zu bytes is smaller than the block's %u",
				    out_cap, bi.raw_len);
	rc = delta_ctx_dec(ctx);
	if (rc)
		return rc;
	ops = &codecs[bi.codec];
	if (ops->decode_base && !base)
		return hz_error_set(HZ_ECORRUPT,
				    "corrupt block: codec %u (%s) needs its base block",
				    bi.codec, ops->name);
	if (ops->decode_base)
		rc = ops->decode_base(ctx, out, bi.raw_len, bi.dtype,
				      blk + DELTA_BLOCK_HDR, bi.payload_len,
				      base);
	else
		rc = ops->decode(ctx, out, bi.raw_len, bi.dtype,
				 blk + DELTA_BLOCK_HDR, bi.payload_len);
	if (rc)
		return rc;
	if (hz_xxh3(out, bi.raw_len) != bi.checksum)
		return corrupt("checksum mismatch");
	*out_len = bi.raw_len;
	return 0;
}

int delta_block_decode(struct delta_ctx *ctx, uint8_t *out, size_t out_cap,
		       size_t *out_len, const uint8_t *blk, size_t blk_len)
{
	return block_decode(ctx, out, out_cap, out_len, blk, blk_len, NULL);
}

int delta_block_decode_base(struct delta_ctx *ctx, uint8_t *out, size_t out_cap,
			    size_t *out_len, const uint8_t *blk, size_t blk_len,
			    const uint8_t *base, size_t base_len, int base_dt)
{
	struct delta_base b = { base, base_len, base_dt };

	return block_decode(ctx, out, out_cap, out_len, blk, blk_len,
			    base ? &b : NULL);
}
