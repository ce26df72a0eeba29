/*
 * tests/bench/hash_bench.c - SHA-256 (OpenSSL) vs XXH3 throughput in memory.
 *
 *   hash_bench [MIB [REPS]]     default 1024 MiB, best of 3
 *
 * Prints one JSON object: {"bytes", "reps", "sha256_gbps", "xxh3_128_gbps",
 * "xxh3_64_gbps"} (GB = 10^9 bytes).  Built and run by tests/bench/bench.py:
 *   cc -O2 -o build/bench/hash_bench tests/bench/hash_bench.c -lcrypto -lxxhash
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t sink;

static void h_sha256(const uint8_t *p, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL)) {
		fprintf(stderr, "hash_bench: EVP_Digest failed\n");
		exit(1);
	}
	sink ^= md[0] | (uint64_t)md[31] << 8;
}

static void h_xxh3_128(const uint8_t *p, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(p, n);

	sink ^= h.low64 ^ h.high64;
}

static void h_xxh3_64(const uint8_t *p, size_t n)
{
	sink ^= XXH3_64bits(p, n);
}

static double best_gbps(void (*fn)(const uint8_t *, size_t), const uint8_t *p, size_t n, int reps)
{
	double best = 0;

	for (int i = 0; i < reps; i++) {
		double t0 = now(), dt;

		fn(p, n);
		dt = now() - t0;
		if (dt > 0 && (double)n / dt / 1e9 > best)
			best = (double)n / dt / 1e9;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	int reps = argc > 2 ? atoi(argv[2]) : 3;
	size_t n = mib << 20;
	uint8_t *buf;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	double sha, x128, x64;

	if (!mib || reps < 1) {
		fprintf(stderr, "usage: hash_bench [MIB [REPS]]\n");
		return 2;
	}
	buf = malloc(n);
	if (!buf) {
		fprintf(stderr, "hash_bench: cannot allocate %zu MiB\n", mib);
		return 1;
	}
	for (size_t i = 0; i + 8 <= n; i += 8) { /* xorshift64: every page touched, not compressible */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	sha = best_gbps(h_sha256, buf, n, reps);
	x128 = best_gbps(h_xxh3_128, buf, n, reps);
	x64 = best_gbps(h_xxh3_64, buf, n, reps);
	printf("{\"bytes\": %zu, \"reps\": %d, \"sha256_gbps\": %.3f, \"xxh3_128_gbps\": %.3f,"
	       " \"xxh3_64_gbps\": %.3f, \"sink\": %llu}\n",
	       n, reps, sha, x128, x64, (unsigned long long)(sink & 0xffff));
	free(buf);
	return 0;
}
