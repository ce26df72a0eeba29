/*
 * tests/bench/xor_bench.c - the XOR codec (id 3) on real pairs of a
 * fine-tune (or cast) and its base.
 *
 * Build (from the repo root, after `make build/libhubzip.a`):
 *   cc -O2 -I. -Ibuild/gen -o build/xor_bench tests/bench/xor_bench.c \
 *      build/libhubzip.a -ljansson -lzstd -lxxhash -lsqlite3 -lcrypto -lm
 * Run:
 *   build/xor_bench [-e] [-v] FT.safetensors BASE.safetensors [FT BASE]...
 *
 * Every tensor of FT that BASE has under the same name, with a dtype
 * pair delta_xor_supported accepts, is cut into DELTA_BLOCK_MAX blocks;
 * each block is paired with the base elements at the same element
 * offsets (fewer at the end of a shorter base; for an F32 base of a
 * 2-byte fine-tune that is 2 MiB of base per block), coded with
 * delta_block_encode_base, decoded with delta_block_decode_base and
 * compared.  It prints, per pair and dtype pair: raw bytes, plain size
 * (delta_block_encode alone), the size with the XOR codec, the share of
 * blocks that chose codec 3, and single-thread encode and decode speed
 * (thread CPU time; decode includes the XOR with the base and the block
 * checksum).  Tensors without a partner are counted apart ("alone").
 * -v prints every tensor; -e only encodes (for profiling).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"

struct st_file {
	uint8_t *map;
	size_t size;
	json_t *root;
	const uint8_t *data;
};

struct row {
	uint64_t tensors, blocks, xblocks, raw, plain, xor;
	double enc_s, dec_s, penc_s, pdec_s;
};

static int verbose, enc_only;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int st_open(struct st_file *f, const char *path)
{
	struct stat st;
	json_error_t jerr;
	uint64_t hlen;
	int fd = open(path, O_RDONLY);

	memset(f, 0, sizeof(*f));
	if (fd < 0 || fstat(fd, &st) || st.st_size < 8) {
		fprintf(stderr, "cannot open '%s'\n", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	f->size = (size_t)st.st_size;
	f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f->map == MAP_FAILED)
		return -1;
	hlen = hz_load64(f->map);
	if (hlen > f->size - 8)
		return -1;
	f->root = json_loadb((const char *)f->map + 8, hlen, 0, &jerr);
	if (!f->root) {
		fprintf(stderr, "'%s': %s\n", path, jerr.text);
		return -1;
	}
	f->data = f->map + 8 + hlen;
	return 0;
}

static void st_close(struct st_file *f)
{
	json_decref(f->root);
	if (f->map && f->map != MAP_FAILED)
		munmap(f->map, f->size);
}

/* The dtype and bytes of tensor name, or -1. */
static int st_tensor(const struct st_file *f, const char *name,
		     const uint8_t **p, size_t *len)
{
	json_t *v = json_object_get(f->root, name);
	json_t *offs = json_object_get(v, "data_offsets");
	const char *dts = json_string_value(json_object_get(v, "dtype"));
	uint64_t b, e;

	if (!v || !offs || !dts)
		return -1;
	b = json_integer_value(json_array_get(offs, 0));
	e = json_integer_value(json_array_get(offs, 1));
	if (e < b || e > f->size - (size_t)(f->data - f->map))
		return -1;
	*p = f->data + b;
	*len = e - b;
	return hz_dtype_from_name(dts);
}

static void print_row(const char *name, const struct row *r)
{
	printf("%-34s %5llu %11llu %11llu %11llu %6.4f %6.4f %6.3f %5.1f%% %7.0f %7.0f %7.0f %7.0f\n",
	       name, (unsigned long long)r->tensors,
	       (unsigned long long)r->raw, (unsigned long long)r->plain,
	       (unsigned long long)r->xor,
	       r->raw ? (double)r->plain / r->raw : 0,
	       r->raw ? (double)r->xor / r->raw : 0,
	       r->plain ? (double)r->xor / r->plain : 0,
	       r->blocks ? 100.0 * r->xblocks / r->blocks : 0,
	       r->enc_s > 0 ? r->raw / r->enc_s / 1e6 : 0,
	       r->dec_s > 0 ? r->raw / r->dec_s / 1e6 : 0,
	       r->penc_s > 0 ? r->raw / r->penc_s / 1e6 : 0,
	       r->pdec_s > 0 ? r->raw / r->pdec_s / 1e6 : 0);
}

static void add(struct row *t, const struct row *r)
{
	t->tensors += r->tensors;
	t->blocks += r->blocks;
	t->xblocks += r->xblocks;
	t->raw += r->raw;
	t->plain += r->plain;
	t->xor += r->xor;
	t->enc_s += r->enc_s;
	t->dec_s += r->dec_s;
	t->penc_s += r->penc_s;
	t->pdec_s += r->pdec_s;
}

/* Codes src against base block by block into r; -1 on a failure. */
static int bench_tensor(struct delta_ctx *ctx, struct row *r, int dt,
			const uint8_t *src, size_t len, int bdt,
			const uint8_t *base, size_t blen, uint8_t *enc,
			uint8_t *penc, uint8_t *dec)
{
	size_t es = hz_dtype_size(dt), bes = hz_dtype_size(bdt), off;
	size_t bn = blen / bes;

	r->tensors++;
	r->raw += len;
	for (off = 0; off < len; off += DELTA_BLOCK_MAX) {
		size_t n = len - off < DELTA_BLOCK_MAX ? len - off : DELTA_BLOCK_MAX;
		size_t e0 = off / es, bl = 0, elen, plen, dlen, pl2;
		int used, rc;
		double t0, t1, t2, t3;

		if (e0 < bn)
			bl = (bn - e0 < n / es ? bn - e0 : n / es) * bes;
		t0 = now();
		rc = delta_block_encode_base(ctx, enc, &elen, &plen, &used,
					     src + off, n, dt, base + e0 * bes,
					     bl, bdt);
		t1 = now();
		if (rc) {
			fprintf(stderr, "encode failed: %s\n", hz_error_msg());
			return -1;
		}
		if (enc_only) {
			t2 = now();
			if (delta_block_encode(ctx, penc, &pl2, src + off, n,
					       dt))
				return -1;
			r->penc_s += now() - t2;
			r->enc_s += t1 - t0;
			r->blocks++;
			r->xblocks += used;
			r->plain += plen;
			r->xor += elen;
			continue;
		}
		rc = delta_block_decode_base(ctx, dec, DELTA_BLOCK_MAX, &dlen,
					     enc, elen, base + e0 * bes, bl,
					     bdt);
		t2 = now();
		if (rc || dlen != n || memcmp(dec, src + off, n)) {
			fprintf(stderr, "round trip failed (%d): %s\n", rc,
				hz_error_msg());
			return -1;
		}
		/* the plain block, coded and decoded, for comparison */
		if (delta_block_encode(ctx, penc, &pl2, src + off, n, dt))
			return -1;
		t3 = now();
		r->penc_s += t3 - t2;
		if (delta_block_decode(ctx, dec, DELTA_BLOCK_MAX, &dlen, penc,
				       pl2))
			return -1;
		r->pdec_s += now() - t3;
		r->enc_s += t1 - t0;
		r->dec_s += t2 - t1;
		r->blocks++;
		r->xblocks += used;
		r->plain += plen;
		r->xor += elen;
	}
	return 0;
}

static int bench_pair(struct delta_ctx *ctx, const char *ft, const char *bp,
		      struct row *total, uint8_t *enc, uint8_t *penc,
		      uint8_t *dec)
{
	struct st_file f, b;
	struct row rows[HZ_DT_COUNT][HZ_DT_COUNT], alone = { 0 };
	const char *name;
	json_t *v;
	int rc = -1, i, j;
	char label[64];

	memset(rows, 0, sizeof(rows));
	if (st_open(&f, ft) || st_open(&b, bp))
		goto out;
	json_object_foreach(f.root, name, v) {
		const uint8_t *p, *q;
		size_t len, blen;
		int dt, bdt;

		if (!strcmp(name, "__metadata__"))
			continue;
		dt = st_tensor(&f, name, &p, &len);
		if (dt < 0)
			goto out;
		bdt = st_tensor(&b, name, &q, &blen);
		if (bdt < 0 || !delta_xor_supported(dt, bdt)) {
			alone.tensors++;
			alone.raw += len;
			continue;
		}
		if (bench_tensor(ctx, &rows[dt][bdt], dt, p, len, bdt, q, blen,
				 enc, penc, dec))
			goto out;
		if (verbose) {
			struct row t = { 0 };

			bench_tensor(ctx, &t, dt, p, len, bdt, q, blen, enc,
				     penc, dec);
			print_row(name, &t);
		}
	}
	printf("%s vs %s\n", ft, bp);
	for (i = 0; i < HZ_DT_COUNT; i++)
		for (j = 0; j < HZ_DT_COUNT; j++) {
			if (!rows[i][j].tensors)
				continue;
			snprintf(label, sizeof(label), "  %s of %s",
				 hz_dtype_name(i), hz_dtype_name(j));
			print_row(label, &rows[i][j]);
			add(total, &rows[i][j]);
		}
	if (alone.tensors)
		printf("  alone: %llu tensors, %llu bytes\n",
		       (unsigned long long)alone.tensors,
		       (unsigned long long)alone.raw);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "'%s' vs '%s' failed\n", ft, bp);
	st_close(&f);
	st_close(&b);
	return rc;
}

int main(int argc, char **argv)
{
	struct row total = { 0 };
	struct delta_ctx *ctx = delta_ctx_new(0);
	uint8_t *enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	uint8_t *penc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	uint8_t *dec = malloc(DELTA_BLOCK_MAX);
	int i, opt;

	while ((opt = getopt(argc, argv, "ev")) != -1) {
		if (opt == 'e') {
			enc_only = 1;
		} else if (opt == 'v') {
			verbose = 1;
		} else {
			fprintf(stderr, "usage: xor_bench [-e] [-v] FT BASE [FT BASE]...\n");
			return 2;
		}
	}
	if (!ctx || !enc || !penc || !dec || (argc - optind) % 2 ||
	    argc == optind)
		return 2;
	printf("%-34s %5s %11s %11s %11s %6s %6s %6s %6s %7s %7s %7s %7s\n", "",
	       "tens", "raw", "plain", "xor", "plain%", "xor%", "x/pl",
	       "xorblk", "enc", "dec", "pl.enc", "pl.dec");
	for (i = optind; i < argc; i += 2)
		if (bench_pair(ctx, argv[i], argv[i + 1], &total, enc, penc,
			       dec))
			return 1;
	print_row("total", &total);
	printf("(enc = delta_block_encode_base, dec = delta_block_decode_base, "
	       "pl.enc/pl.dec = delta_block_encode/decode alone; MB/s of raw, one thread)\n");
	delta_ctx_free(ctx);
	free(enc);
	free(penc);
	free(dec);
	return 0;
}
