/*
 * Unit tests of the store through its public API: ingest sessions, reads
 * and ranges, deduplication, aborts, names, migrations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"
#include "store/store.h"

#include "unit/store/store_fixture.h"

/* A growable byte buffer as a store_write_fn sink. */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static int buf_write(void *payload, const void *data, size_t n)
{
	struct buf *b = payload;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
	return 0;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Writes a safetensors file with the given header JSON and data. */
static int tmpfile_with(const char *dir, const char *name, const void *a, size_t na,
			const void *b, size_t nb)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, a, na), (ssize_t)na);
	if (nb)
		assert_int_equal(write(fd, b, nb), (ssize_t)nb);
	return fd;
}

/* Builds a safetensors image: header + data; returns its size. */
static size_t make_st(uint8_t **out, const char *json, size_t data_len, int gap_fill)
{
	size_t n = strlen(json), total = 8 + n + data_len;
	uint8_t *p = malloc(total);

	hz_store64(p, n);
	memcpy(p + 8, json, n);
	for (size_t i = 0; i < data_len; i++)
		p[8 + n + i] = gap_fill >= 0 ? (uint8_t)gap_fill : (uint8_t)next();
	*out = p;
	return total;
}

static void ingest_bytes(struct store *s, const char *dir, const char *repo,
			 const char *path, const uint8_t *p, size_t n, char *commit)
{
	struct store_ingest *in;
	int fd = tmpfile_with(dir, "in.tmp", p, n, NULL, 0);

	assert_int_equal(store_ingest_begin(&in, s, repo, "main"), 0);
	assert_int_equal(store_ingest_add_fd(in, path, fd, n), 0);
	assert_int_equal(store_ingest_commit(in, "test", commit), 0);
	store_ingest_free(in);
	close(fd);
}

static void read_range(struct store *s, const char *repo, const char *path,
		       uint64_t off, uint64_t len, struct buf *b)
{
	struct store_file *f;

	b->n = 0;
	assert_int_equal(store_file_open(&f, s, repo, NULL, path), 0);
	assert_int_equal(store_file_read(f, off, len, buf_write, b), 0);
	store_file_free(f);
}

/* A multi-dtype file with a tensor spanning several blocks, a repeated
 * tensor, an empty tensor, a gap and trailing bytes: restores exactly and
 * every range around block and tensor boundaries is right. */
static void test_roundtrip_ranges(void **state)
{
	struct fixture *fx = *state;
	const size_t big = 3u << 20; /* 3 MiB of F32: 3 blocks */
	char json[512], commit[STORE_COMMIT_HEX];
	uint8_t *img;
	size_t n, data, hdr;
	struct buf b = { 0 };

	snprintf(json, sizeof(json),
		 "{\"__metadata__\":{\"format\":\"pt\"},"
		 "\"big\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[0,%zu]},"
		 "\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[%zu,%zu]},"
		 "\"e\":{\"dtype\":\"F16\",\"shape\":[0,4],\"data_offsets\":[%zu,%zu]},"
		 "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}}    ",
		 big / 4, big, big, big + 6, big + 6, big + 6, big + 10, big + 26);
	data = big + 26 + 5; /* a 4-byte gap before "i", 5 trailing bytes */
	n = make_st(&img, json, data, -1);
	hdr = 8 + strlen(json);
	ingest_bytes(fx->s, fx->dir, "t/rt", "model.safetensors", img, n, commit);
	assert_int_equal(strlen(commit), 40);

	read_range(fx->s, "t/rt", "model.safetensors", 0, n, &b);
	assert_int_equal(b.n, n);
	assert_memory_equal(b.p, img, n);
	const uint64_t cuts[] = { 0, 1, 7, 8, hdr - 1, hdr, hdr + 1, hdr + (1u << 20) - 1,
				  hdr + (1u << 20), hdr + (2u << 20) + 3, hdr + big - 1,
				  hdr + big, hdr + big + 6, n - 5, n - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
		for (size_t j = i; j < sizeof(cuts) / sizeof(*cuts); j++) {
			uint64_t a = cuts[i], len = cuts[j] - cuts[i] + 1;

			read_range(fx->s, "t/rt", "model.safetensors", a, len, &b);
			assert_int_equal(b.n, len);
			assert_memory_equal(b.p, img + a, len);
		}
	}
	/* a zero-length read at the end is fine; past the end is not */
	read_range(fx->s, "t/rt", "model.safetensors", n, 0, &b);
	assert_int_equal(b.n, 0);
	{
		struct store_file *f;

		assert_int_equal(store_file_open(&f, fx->s, "t/rt", commit, "model.safetensors"), 0);
		assert_int_equal(store_file_read(f, n - 1, 2, buf_write, &b), HZ_EINVAL);
		store_file_free(f);
	}
	free(img);
	free(b.p);
}

static int count_rows(struct fixture *fx, const char *table)
{
	char path[128], sql[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/hubzip.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The same tensors resharded and re-uploaded cost no new objects. */
static void test_dedup(void **state)
{
	struct fixture *fx = *state;
	char json[256], commit[STORE_COMMIT_HEX];
	uint8_t *a, *b2;
	size_t na, nb;
	int objs, blocks;

	snprintf(json, sizeof(json),
		 "{\"x\":{\"dtype\":\"BF16\",\"shape\":[4096],\"data_offsets\":[0,8192]},"
		 "\"y\":{\"dtype\":\"BF16\",\"shape\":[4096],\"data_offsets\":[8192,16384]}}");
	na = make_st(&a, json, 16384, -1);
	ingest_bytes(fx->s, fx->dir, "t/a", "model.safetensors", a, na, commit);
	objs = count_rows(fx, "objects");
	blocks = count_rows(fx, "blocks");
	/* the same file again, in another repo: nothing new but metadata */
	ingest_bytes(fx->s, fx->dir, "t/b", "model.safetensors", a, na, commit);
	assert_int_equal(count_rows(fx, "objects"), objs);
	assert_int_equal(count_rows(fx, "files"), 1);
	/* a reshard: y alone in a new file; only its header is new */
	snprintf(json, sizeof(json),
		 "{\"y\":{\"dtype\":\"BF16\",\"shape\":[4096],\"data_offsets\":[0,8192]}}");
	nb = make_st(&b2, json, 0, 0);
	b2 = realloc(b2, nb + 8192);
	memcpy(b2 + nb, a + 8 + strlen("{\"x\":{\"dtype\":\"BF16\",\"shape\":[4096],\"data_offsets\":[0,8192]},"
					"\"y\":{\"dtype\":\"BF16\",\"shape\":[4096],\"data_offsets\":[8192,16384]}}") + 8192,
	       8192);
	nb += 8192;
	ingest_bytes(fx->s, fx->dir, "t/c", "model-00002-of-00002.safetensors", b2, nb, commit);
	assert_int_equal(count_rows(fx, "objects"), objs + 1); /* the header */
	assert_int_equal(count_rows(fx, "blocks"), blocks + 1);
	free(a);
	free(b2);
}

/* A session freed before commit leaves no rows and no pack files. */
static void test_abort(void **state)
{
	struct fixture *fx = *state;
	struct store_ingest *in;
	struct store_revision rev;
	uint8_t *img;
	size_t n = make_st(&img, "{\"w\":{\"dtype\":\"F32\",\"shape\":[300000],"
				 "\"data_offsets\":[0,1200000]}}", 1200000, -1);
	int fd = tmpfile_with(fx->dir, "x.tmp", img, n, NULL, 0);
	char cmd[256];

	assert_int_equal(store_ingest_begin(&in, fx->s, "t/abort", "main"), 0);
	assert_int_equal(store_ingest_add_fd(in, "model.safetensors", fd, n), 0);
	store_ingest_free(in);
	close(fd);
	assert_int_equal(count_rows(fx, "objects"), 0);
	assert_int_equal(count_rows(fx, "repos"), 0);
	assert_int_equal(store_resolve(fx->s, &rev, "t/abort", NULL), HZ_ENOTFOUND);
	snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s/objects' -type f -not -path '*/locks/*')\"",
		 fx->dir);
	assert_int_equal(system(cmd), 0);
	free(img);
}

/* A malformed safetensors file is refused with the reason; a short file
 * claiming the extension too. */
static void test_refuse(void **state)
{
	struct fixture *fx = *state;
	struct store_ingest *in;
	uint8_t *img;
	size_t n = make_st(&img, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
				 "\"data_offsets\":[0,8]}}", 8, 0);
	int fd = tmpfile_with(fx->dir, "bad.tmp", img, n, NULL, 0);

	assert_int_equal(store_ingest_begin(&in, fx->s, "t/bad", "main"), 0);
	assert_int_equal(store_ingest_add_fd(in, "model.safetensors", fd, n), HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "'w'"));
	assert_int_equal(store_ingest_add_fd(in, "tiny.safetensors", fd, 3), HZ_EINVAL);
	store_ingest_free(in);
	close(fd);
	/* the same bytes under another name are an opaque file: stored */
	{
		char commit[STORE_COMMIT_HEX];
		struct buf b = { 0 };

		ingest_bytes(fx->s, fx->dir, "t/opaque", "model.bin", img, n, commit);
		read_range(fx->s, "t/opaque", "model.bin", 0, n, &b);
		assert_memory_equal(b.p, img, n);
		free(b.p);
	}
	free(img);
}

/* Empty files and directories of paths; the tree keeps earlier files. */
static void test_tree(void **state)
{
	struct fixture *fx = *state;
	struct store_revision r1, r2;
	char c1[STORE_COMMIT_HEX], c2[STORE_COMMIT_HEX];
	struct buf b = { 0 };

	ingest_bytes(fx->s, fx->dir, "t/tree", "a/empty.txt", (const uint8_t *)"", 0, c1);
	ingest_bytes(fx->s, fx->dir, "t/tree", "b.json", (const uint8_t *)"{}", 2, c2);
	assert_int_equal(store_resolve(fx->s, &r1, "t/tree", c1), 0);
	assert_int_equal(store_resolve(fx->s, &r2, "t/tree", "main"), 0);
	assert_string_equal(r2.commit, c2);
	assert_int_equal(r1.nfiles, 1);
	assert_int_equal(r2.nfiles, 2);
	read_range(fx->s, "t/tree", "a/empty.txt", 0, 0, &b);
	assert_int_equal(b.n, 0);
	free(b.p);
	assert_int_equal(store_resolve(fx->s, &r1, "t/tree", "0000000"), HZ_ENOTFOUND);
	assert_int_equal(store_resolve(fx->s, &r1, "t/tree", "dev"), HZ_ENOTFOUND);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(store_repo_name_check("org/model-1.5_b"), 0);
	assert_int_equal(store_repo_name_check("gpt2"), 0);
	assert_int_equal(store_repo_name_check("a/b/c"), HZ_EINVAL);
	assert_int_equal(store_repo_name_check("../x"), HZ_EINVAL);
	assert_int_equal(store_repo_name_check("a/"), HZ_EINVAL);
	assert_int_equal(store_repo_name_check("a/b c"), HZ_EINVAL);
	assert_int_equal(store_repo_name_check("a/-b"), HZ_EINVAL);
	assert_int_equal(store_ref_name_check("main"), 0);
	assert_int_equal(store_ref_name_check("refs/pr/1"), 0);
	assert_int_equal(store_ref_name_check("a..b"), HZ_EINVAL);
	assert_int_equal(store_ref_name_check(""), HZ_EINVAL);
	assert_int_equal(store_path_check("a/b/model.safetensors"), 0);
	assert_int_equal(store_path_check("../etc/passwd"), HZ_EINVAL);
	assert_int_equal(store_path_check("/abs"), HZ_EINVAL);
	assert_int_equal(store_path_check("a//b"), HZ_EINVAL);
	assert_int_equal(store_path_check("a/./b"), HZ_EINVAL);
	assert_int_equal(store_path_check("a\nb"), HZ_EINVAL);
	assert_int_equal(store_path_check(""), HZ_EINVAL);
}

/* Reopening applies nothing twice; a newer schema is refused. */
static void test_migrations(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	char path[128];
	sqlite3 *db;
	int v = store_schema_version(fx->s);

	assert_true(v >= 1);
	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	assert_int_equal(store_schema_version(s2), v);
	store_free(s2);
	snprintf(path, sizeof(path), "%s/hubzip.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=9999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&s2, fx->dir, 0), HZ_EUNSUPPORTED);
	assert_non_null(strstr(hz_error_msg(), "newer"));
	assert_int_equal(store_open(&s2, "/nonexistent/hz", 0), HZ_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip_ranges, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_dedup, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_abort, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_refuse, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_tree, store_setup, store_teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_migrations, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
