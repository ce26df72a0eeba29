/*
 * tests/bench/delta_bench.c - the block coder on real safetensors files.
 *
 * Build (from the repo root, after `make build/libhubzip.a`):
 *   cc -O2 -I. -Ibuild/gen -o build/delta_bench tests/bench/delta_bench.c \
 *      build/libhubzip.a -ljansson -lzstd -lxxhash -lsqlite3 -lcrypto -lm
 * Run:
 *   build/delta_bench [-e] [-l LEVEL] [-s] [-v] FILE.safetensors...
 *   find /var/tmp/mhub-corpus/mini -name '*.safetensors' | \
 *      xargs build/delta_bench
 *
 * Every tensor is cut into DELTA_BLOCK_MAX blocks and encoded with
 * delta_block_encode, then decoded and compared.  Per dtype it prints:
 * raw bytes; encoded bytes (block headers included); the order-0 bound,
 * the sum over tensors and over the tensor's plain (un-rotated) byte
 * planes of n * H0(plane) / 8; zstd -3 of each whole tensor; encode and
 * decode speed of delta_block_encode/decode alone, single thread (thread
 * CPU time, so other load on the machine counts less).  -v adds which
 * codecs and plane coders were chosen; -e only encodes (for profiling);
 * -s decodes rANS with the scalar decoder (as on CPUs without AVX2).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zstd.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"
#include "delta/delta_int.h"

struct stat_row {
	uint64_t tensors, blocks, raw, enc, zstd;
	double bound, enc_s, dec_s;
	uint64_t codec[DELTA_CODEC_COUNT];
	uint64_t pc[8][8];	/* [plane][coder] */
};

static struct stat_row rows[HZ_DT_COUNT];
static int verbose, enc_only;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sum over the plain byte planes of n * H0 / 8. */
static double plane_bound(const uint8_t *p, size_t len, size_t esize)
{
	size_t n = len / esize, i, k;
	double bits = 0;

	for (k = 0; k < esize; k++) {
		static uint64_t h[256];
		int s;

		memset(h, 0, sizeof(h));
		for (i = 0; i < n; i++)
			h[p[i * esize + k]]++;
		for (s = 0; s < 256; s++)
			if (h[s])
				bits += h[s] * log2((double)n / h[s]);
	}
	return bits / 8;
}

static void note_planes(struct stat_row *r, const uint8_t *blk)
{
	const uint8_t *p = blk + DELTA_BLOCK_HDR + 2;
	int np = blk[DELTA_BLOCK_HDR + 1], k;

	for (k = 0; k < np && k < 8; k++) {
		uint32_t clen = hz_load32(p + 1);

		if (p[0] < 8)
			r->pc[k][p[0]]++;
		p += 5 + clen;
	}
}

static int bench_tensor(struct delta_ctx *ctx, ZSTD_CCtx *zc, int dt,
			const uint8_t *data, size_t len, uint8_t *enc,
			uint8_t *dec)
{
	struct stat_row *r = &rows[dt];
	size_t esize = hz_dtype_size(dt), off, zb;
	void *zbuf;

	r->tensors++;
	r->raw += len;
	if (enc_only)
		goto blocks;
	r->bound += plane_bound(data, len, esize);
	zb = ZSTD_compressBound(len);
	zbuf = malloc(zb ? zb : 1);
	if (!zbuf)
		return -1;
	zb = ZSTD_compressCCtx(zc, zbuf, zb, data, len, 3);
	free(zbuf);
	if (ZSTD_isError(zb))
		return -1;
	r->zstd += zb;
blocks:
	for (off = 0; off < len; off += DELTA_BLOCK_MAX) {
		size_t n = len - off < DELTA_BLOCK_MAX ? len - off : DELTA_BLOCK_MAX;
		size_t elen, dlen;
		double t0, t1, t2;
		int rc;

		t0 = now();
		rc = delta_block_encode(ctx, enc, &elen, data + off, n, dt);
		t1 = now();
		if (rc) {
			fprintf(stderr, "encode failed: %s\n", hz_error_msg());
			return -1;
		}
		if (enc_only) {
			r->enc_s += t1 - t0;
			r->enc += elen;
			continue;
		}
		rc = delta_block_decode(ctx, dec, DELTA_BLOCK_MAX, &dlen, enc,
					elen);
		t2 = now();
		if (rc || dlen != n || memcmp(dec, data + off, n)) {
			fprintf(stderr, "round trip failed (%d): %s\n", rc,
				hz_error_msg());
			return -1;
		}
		r->enc_s += t1 - t0;
		r->dec_s += t2 - t1;
		r->blocks++;
		r->enc += elen;
		r->codec[enc[4]]++;
		if (enc[4] == DELTA_CODEC_PLANES)
			note_planes(r, enc);
	}
	return 0;
}

static int bench_file(struct delta_ctx *ctx, ZSTD_CCtx *zc, const char *path,
		      uint8_t *enc, uint8_t *dec)
{
	struct stat st;
	uint8_t *map = MAP_FAILED;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *name;
	uint64_t hlen;
	int fd, rc = -1;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 8) {
		fprintf(stderr, "cannot open '%s'\n", path);
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out;
	hlen = hz_load64(map);
	if (hlen > (uint64_t)st.st_size - 8)
		goto out;
	root = json_loadb((const char *)map + 8, hlen, 0, &jerr);
	if (!root) {
		fprintf(stderr, "'%s': %s\n", path, jerr.text);
		goto out;
	}
	json_object_foreach(root, name, v) {
		json_t *offs = json_object_get(v, "data_offsets");
		const char *dts = json_string_value(json_object_get(v, "dtype"));
		uint64_t b, e;
		int dt;

		if (!strcmp(name, "__metadata__"))
			continue;
		dt = dts ? hz_dtype_from_name(dts) : -1;
		if (dt < 0 || !offs)
			goto out;
		b = json_integer_value(json_array_get(offs, 0));
		e = json_integer_value(json_array_get(offs, 1));
		if (e < b || 8 + hlen + e > (uint64_t)st.st_size)
			goto out;
		if (bench_tensor(ctx, zc, dt, map + 8 + hlen + b, e - b, enc,
				 dec))
			goto out;
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "'%s' failed\n", path);
	json_decref(root);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void add(struct stat_row *t, const struct stat_row *r)
{
	int i, j;

	t->tensors += r->tensors;
	t->blocks += r->blocks;
	t->raw += r->raw;
	t->enc += r->enc;
	t->zstd += r->zstd;
	t->bound += r->bound;
	t->enc_s += r->enc_s;
	t->dec_s += r->dec_s;
	for (i = 0; i < DELTA_CODEC_COUNT; i++)
		t->codec[i] += r->codec[i];
	for (i = 0; i < 8; i++)
		for (j = 0; j < 8; j++)
			t->pc[i][j] += r->pc[i][j];
}

static void print_row(const char *name, const struct stat_row *r)
{
	static const char *pcn[] = { "raw", "const", "zstd", "rans0", "rans1" };
	int i, j;

	printf("%-8s %7llu %12llu %12llu %14.0f %12llu  %6.4f  %6.4f  %6.4f %8.0f %8.0f\n",
	       name, (unsigned long long)r->tensors,
	       (unsigned long long)r->raw, (unsigned long long)r->enc,
	       r->bound, (unsigned long long)r->zstd,
	       r->raw ? (double)r->enc / r->raw : 0,
	       r->bound > 0 ? r->enc / r->bound : 0,
	       r->zstd ? (double)r->enc / r->zstd : 0,
	       r->enc_s > 0 ? r->raw / r->enc_s / 1e6 : 0,
	       r->dec_s > 0 ? r->raw / r->dec_s / 1e6 : 0);
	if (!verbose)
		return;
	printf("         blocks %llu:", (unsigned long long)r->blocks);
	for (i = 0; i < DELTA_CODEC_COUNT; i++)
		printf(" %s %llu", delta_codec_name(i),
		       (unsigned long long)r->codec[i]);
	printf("\n");
	for (i = 0; i < 8; i++) {
		uint64_t any = 0;

		for (j = 0; j < 5; j++)
			any += r->pc[i][j];
		if (!any)
			continue;
		printf("         plane %d:", i);
		for (j = 0; j < 5; j++)
			if (r->pc[i][j])
				printf(" %s %llu", pcn[j],
				       (unsigned long long)r->pc[i][j]);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	struct stat_row fl = { 0 }, all = { 0 };
	struct delta_ctx *ctx;
	ZSTD_CCtx *zc = ZSTD_createCCtx();
	uint8_t *enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	uint8_t *dec = malloc(DELTA_BLOCK_MAX);
	int i, level = 0, dt, opt;

	while ((opt = getopt(argc, argv, "el:sv")) != -1) {
		if (opt == 'e') {
			enc_only = 1;
		} else if (opt == 's') {
			delta_rans_simd(false);
		} else if (opt == 'l') {
			level = atoi(optarg);
		} else if (opt == 'v') {
			verbose = 1;
		} else {
			fprintf(stderr, "usage: delta_bench [-e] [-l level] [-s] [-v] file...\n");
			return 2;
		}
	}
	ctx = delta_ctx_new(level);
	if (!ctx || !zc || !enc || !dec)
		return 1;
	for (i = optind; i < argc; i++)
		if (bench_file(ctx, zc, argv[i], enc, dec))
			return 1;
	printf("%-8s %7s %12s %12s %14s %12s  %6s  %6s  %6s %8s %8s\n", "dtype",
	       "tensors", "raw", "encoded", "H0 bound", "zstd-3", "ratio",
	       "/bound", "/zstd", "enc MB/s", "dec MB/s");
	for (dt = 0; dt < HZ_DT_COUNT; dt++) {
		if (!rows[dt].tensors)
			continue;
		print_row(hz_dtype_name(dt), &rows[dt]);
		if (hz_dtype_is_float(dt))
			add(&fl, &rows[dt]);
		add(&all, &rows[dt]);
	}
	print_row("floats", &fl);
	print_row("all", &all);
	delta_ctx_free(ctx);
	ZSTD_freeCCtx(zc);
	free(enc);
	free(dec);
	return 0;
}
