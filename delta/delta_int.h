/*
 * delta/delta_int.h - internals of the block format shared by the delta
 * sources: the context, the byte-plane machinery and the rANS coders.
 *
 * The plane functions take planes that are already split (and, later,
 * already XORed against a base), so a new block codec reuses them with its
 * own transform and its own codec id.  docs/format.md (Codecs) describes
 * every on-disk id used here.
 */
#ifndef HZ_DELTA_INT_H
#define HZ_DELTA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "delta/delta.h"

/* Returned (positive) by encoders whose output would not fit: not an error. */
#define DELTA_NOFIT 1

/* When the encoder runs zstd (on the block, or on a plane). */
enum delta_lz {
	DELTA_LZ_NEVER = 0,
	DELTA_LZ_PROBE = 1,	/* if the LZ probe of that data beats the best */
	DELTA_LZ_ALWAYS = 2,
};

/* Plane transforms: byte 0 of a PLANES payload.  Never renumber. */
enum delta_xf {
	DELTA_XF_ROTL1 = 0,	/* element (2, 4 or 8 bytes) rotated left 1 bit */
	DELTA_XF_F32_HI16 = 1,	/* 4-byte elements with low 16 bits zero:
				 * high halves, rotated left 1 bit */
	DELTA_XF_SPLIT = 2,	/* plain byte planes, no rotation */
	DELTA_XF_COUNT
};

/* Plane coders: the first byte of each plane record.  Never renumber. */
enum delta_pc {
	DELTA_PC_RAW = 0,
	DELTA_PC_CONST = 1,
	DELTA_PC_ZSTD = 2,
	DELTA_PC_RANS0 = 3,
	DELTA_PC_RANS1 = 4,
	DELTA_PC_SPARSE = 5,	/* mostly zeros: gaps and values, each coded
				 * by one of coders 0-4 */
	DELTA_PC_COUNT
};

/* Plane coders a codec-2 (PLANES) payload may use; frozen. */
#define DELTA_PC_MASK_V1                                                    \
	(1u << DELTA_PC_RAW | 1u << DELTA_PC_CONST | 1u << DELTA_PC_ZSTD |  \
	 1u << DELTA_PC_RANS0 | 1u << DELTA_PC_RANS1)
/* Plane coders a codec-3 (XOR) payload may use; frozen. */
#define DELTA_PC_MASK_XOR (DELTA_PC_MASK_V1 | 1u << DELTA_PC_SPARSE)
/*
 * Not a coder: in an encoder's mask, code rans0 planes of at least
 * DELTA_WIDE_MIN symbols with 16 states or more (some bytes of states
 * more, for the AVX2 decoder, some three times faster than the scalar
 * one that fewer states get).
 */
#define DELTA_PC_WIDE (1u << 31)
#define DELTA_WIDE_MIN 4096
/* A sparse plane of n bytes has 1 <= k <= n / 8 non-zero bytes. */
#define DELTA_SPARSE_DIV 8

#define DELTA_PLANES_MAX 8

/* rANS parameters (see rans.c). */
#define RANS_LW_MAX 5
#define RANS_WAYS_MAX (1 << RANS_LW_MAX)
#define RANS_SCALE_MAX 12
#define RANS_SCALE 12		/* what the encoder uses */
#define RANS1_MAX_TABLES 32
#define RANS_TAB_SIZE (1u << RANS_SCALE_MAX)

/* An order-1 model: context = previous symbol >> shift, mapped to a table. */
struct delta_rans1_model {
	uint8_t scale;
	uint8_t lw;		/* log2 of the number of states/segments */
	uint8_t shift;
	uint8_t ntab;
	uint8_t ctxmap[256];	/* context value -> table, 256 >> shift used */
	uint16_t freq[RANS1_MAX_TABLES][256];
};

/* An encoder's view of one symbol (rans.c). */
struct delta_rans_esym {
	uint32_t x_max;
	uint32_t rcp_freq;
	uint32_t bias;
	uint16_t cmpl_freq;
	uint16_t rcp_shift;
};

/* Order-1 planning and encoding workspace (~400 KiB). */
struct delta_rans1_work {
	uint32_t rows[256 * 256];	/* counts[prev][sym] */
	uint32_t cnt[RANS1_MAX_TABLES][256];
	struct delta_rans_esym es[RANS1_MAX_TABLES][256];
	struct delta_rans1_model m;
};

/* Encoder-only scratch, allocated on the first encode. */
struct delta_enc {
	ZSTD_CCtx *cctx;	/* zstd at ctx->level */
	ZSTD_CCtx *probe;	/* zstd at a negative level: LZ match probe */
	uint8_t *planes;	/* DELTA_BLOCK_MAX: the split planes */
	uint8_t *scratch;	/* DELTA_SCRATCH: candidate outputs */
	struct delta_rans1_work *w1;
	uint8_t *xbuf;		/* DELTA_SCRATCH, on the first XOR encode:
				 * the XORed elements, then the payload */
	uint8_t *sparse;	/* DELTA_BLOCK_MAX / 4, on the first sparse
				 * plane: its token and value streams */
};

/* Decoder-only scratch, allocated on the first decode. */
struct delta_dec {
	ZSTD_DCtx *dctx;
	uint8_t *planes;	/* DELTA_BLOCK_MAX: decoded planes */
	uint32_t *tab;		/* RANS1_MAX_TABLES * RANS_TAB_SIZE */
	uint8_t *sparse;	/* DELTA_BLOCK_MAX / 4, on the first sparse
				 * plane: its token and value streams */
};

#define DELTA_SCRATCH (DELTA_BLOCK_MAX + 4096)

struct delta_ctx {
	int level;
	struct delta_enc *enc;
	struct delta_dec *dec;
};

/* The base block a codec-3 block is decoded against. */
struct delta_base {
	const uint8_t *p;
	size_t len;
	int dt;
};

/* delta.c */
int delta_ctx_enc(struct delta_ctx *ctx);
int delta_ctx_dec(struct delta_ctx *ctx);
/*
 * When zstd may pay on src (enum delta_lz into *out), for a block of
 * dtype dt; *est is the LZ probe's size of src when it ran, else 0.
 * 0 or HZ_ERROR.
 */
int delta_lz_gate(struct delta_ctx *ctx, int *out, size_t *est,
		  const uint8_t *src, size_t len, int dt);
/*
 * One zstd frame of src, at most cap bytes, into out (avail >= cap bytes
 * of room): 0, DELTA_NOFIT or HZ_ERROR.
 */
#define ZSTD_SLACK 64
int delta_zstd_compress(ZSTD_CCtx *cctx, uint8_t *out, size_t cap,
			size_t avail, size_t *out_len, const uint8_t *src,
			size_t len);
/*
 * The size of src with LZ matches but raw literals (zstd at a negative
 * level on a prefix, scaled), or len if that saves little: a cheap bound
 * on what zstd could gain.  0 or HZ_ERROR.
 */
int delta_lz_probe(struct delta_ctx *ctx, size_t *out, const uint8_t *src,
		   size_t len);
/* Exactly one zstd frame of exactly n bytes: 0 or HZ_ECORRUPT. */
int delta_zstd_decompress(ZSTD_DCtx *dctx, uint8_t *out, size_t n,
			  const uint8_t *src, size_t len);

/* planes.c: transforms. */
int delta_xf_nplanes(int xf, size_t esize);
void delta_split(uint8_t *planes, const uint8_t *src, size_t n, size_t esize,
		 int xf);
void delta_merge(uint8_t *dst, const uint8_t *const *planes, size_t n,
		 size_t esize, int xf);

/*
 * planes.c: codes np planes of n bytes each (plane k at planes[k]) as
 * plane records into out[0..cap), choosing per plane the smallest coder
 * in mask; lz (enum delta_lz) says when to try zstd.  Returns 0 with
 * *out_len, DELTA_NOFIT, or a negative HZ_E* code.
 */
int delta_planes_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			size_t *out_len, const uint8_t *const *planes, int np,
			size_t n, unsigned mask, int lz);
/*
 * Decodes np plane records of n bytes each from src[0..len) (exactly);
 * sets planes[k] to plane k, which points into src (raw planes) or into
 * the decoder's scratch.  Returns 0 or HZ_ECORRUPT.
 */
int delta_planes_decode(struct delta_ctx *ctx, const uint8_t **planes,
			int np, size_t n, const uint8_t *src, size_t len,
			unsigned mask);

/* planes.c: the PLANES codec (id 2). */
int delta_planes_codec_encode(struct delta_ctx *ctx, uint8_t *out, size_t cap,
			      size_t *out_len, const uint8_t *src, size_t len,
			      int dt, int lz);
int delta_planes_codec_decode(struct delta_ctx *ctx, uint8_t *out,
			      size_t raw_len, int dt, const uint8_t *src,
			      size_t len);

/*
 * xor.c: the XOR codec (id 3).  decode writes exactly raw_len bytes from
 * a payload of exactly len bytes, XORed against base (never NULL here),
 * or fails with HZ_ECORRUPT.
 */
int delta_xor_codec_decode(struct delta_ctx *ctx, uint8_t *out,
			   size_t raw_len, int dt, const uint8_t *src,
			   size_t len, const struct delta_base *base);

/* rans.c */
void delta_hist(uint32_t h[256], const uint8_t *p, size_t n);
/* n * H0 / 8 of a histogram of n symbols, in bytes. */
double delta_hist_cost(const uint32_t h[256], size_t n);
int delta_rans_normalize(uint16_t f[256], const uint32_t c[256], int scale);
/*
 * log2 of the number of interleaved states the encoder uses for n symbols
 * (with wide, at least 4 from DELTA_WIDE_MIN symbols on).
 */
int delta_rans_lways(size_t n, bool wide);
/*
 * Enables (default where the CPU has it) or disables the SIMD paths: the
 * AVX2 rANS decoders and XOR of a block with a rounded F32 base, and the
 * AVX-512 order-0 rANS encoder and histogram (same output as scalar).
 */
void delta_rans_simd(bool on);
/* True if the AVX2 paths may run: the CPU has AVX2, and they are enabled. */
bool delta_have_avx2(void);
/* The scale (log2 of the table size) the encoder uses for n symbols. */
int delta_rans_scale(size_t n);
/*
 * The size delta_rans0_encode will produce, +-2, for counts h, table f
 * and 2^lw states.
 */
size_t delta_rans0_size(const uint32_t h[256], const uint16_t f[256],
			int scale, int lw);
/* Bits to code counts c with table f (of 2^scale). */
double delta_rans_cost(const uint32_t c[256], const uint16_t f[256], int scale);
size_t delta_rans_table_size(const uint16_t f[256]);

int delta_rans0_encode(uint8_t *out, size_t cap, size_t *out_len,
		       const uint8_t *src, size_t n, const uint16_t f[256],
		       int scale, int lw, uint8_t *tmp, size_t tmp_cap);
int delta_rans0_decode(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
		       uint32_t *tab);

/*
 * Plans an order-1 model for src[0..n) (h = its order-0 histogram) and
 * returns its estimated size in bytes, or 0 if none is worth trying.
 */
size_t delta_rans1_plan(struct delta_rans1_work *w, const uint8_t *src,
			size_t n, const uint32_t h[256]);
/* Codes src with the model w->m planned by delta_rans1_plan. */
int delta_rans1_encode(uint8_t *out, size_t cap, size_t *out_len,
		       const uint8_t *src, size_t n, struct delta_rans1_work *w,
		       uint8_t *tmp, size_t tmp_cap);
int delta_rans1_decode(uint8_t *dst, size_t n, const uint8_t *src, size_t len,
		       uint32_t *tab);

#endif
