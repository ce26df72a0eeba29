/*
 * Unit tests of store/lfs.c and the ingest additions the hub's NDJSON
 * commit uses: files by SHA-256, the secret key, pending LFS objects and
 * their gc, store_ingest_add_stored, _delete_path and _set_parent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"
#include "store/store.h"

#include "unit/store/store_fixture.h"

/* A spool file holding text. */
static int spool(struct store *s, const char *text)
{
	int fd = -1;

	assert_int_equal(store_spool_open(s, &fd), 0);
	assert_int_equal(hz_write_all(fd, text, strlen(text)), 0);
	return fd;
}

/* Commits one file of text at path to repo@main; the commit id to out. */
static void commit_text(struct store *s, const char *repo, const char *path, const char *text,
			char out[STORE_COMMIT_HEX])
{
	struct store_ingest *in;
	int fd = spool(s, text);

	assert_int_equal(store_ingest_begin(&in, s, repo, "main"), 0);
	assert_int_equal(store_ingest_add_fd(in, path, fd, strlen(text)), 0);
	assert_int_equal(store_ingest_commit(in, "m", out), 0);
	store_ingest_free(in);
	close(fd);
}

static int collect(void *payload, const struct store_entry *e)
{
	char *buf = payload;

	strcat(buf, e->path);
	strcat(buf, ",");
	return 0;
}

static int repo_names(void *payload, const char *repo, int is_private)
{
	char *buf = payload;

	strcat(buf, repo);
	strcat(buf, is_private ? "(p)," : ",");
	return 0;
}

static void test_by_sha(void **state)
{
	struct fixture *fx = *state;
	uint8_t sha[HZ_SHA256_LEN], none[HZ_SHA256_LEN] = { 0 };
	char c[STORE_COMMIT_HEX], names[256] = "";
	struct store_file *f;
	uint64_t size = 0;

	hz_sha256(sha, "hello\n", 6);
	assert_int_equal(store_file_exists_by_sha256(fx->s, sha, &size), 0);
	commit_text(fx->s, "a/one", "x.txt", "hello\n", c);
	assert_int_equal(store_repo_create(fx->s, "b/two", STORE_REPO_MODEL, 1), 0);
	commit_text(fx->s, "b/two", "y.txt", "hello\n", c);
	assert_int_equal(store_file_exists_by_sha256(fx->s, sha, &size), 1);
	assert_int_equal(size, 6);
	assert_int_equal(store_file_exists_by_sha256(fx->s, none, NULL), 0);
	assert_int_equal(store_file_repos_each(fx->s, sha, repo_names, names), 0);
	assert_string_equal(names, "a/one,b/two(p),");
	assert_int_equal(store_file_open_by_sha256(&f, fx->s, sha), 0);
	assert_int_equal(store_file_size(f), 6);
	store_file_free(f);
	assert_int_equal(store_file_open_by_sha256(&f, fx->s, none), HZ_ENOTFOUND);
}

static void test_key(void **state)
{
	struct fixture *fx = *state;
	uint8_t a[STORE_KEY_LEN], b[STORE_KEY_LEN], zero[STORE_KEY_LEN] = { 0 };
	struct store *s2;
	char path[128];
	struct stat sb;

	assert_int_equal(store_secret_key(fx->s, a), 0);
	assert_memory_not_equal(a, zero, STORE_KEY_LEN);
	snprintf(path, sizeof(path), "%s/secret.key", fx->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, STORE_KEY_LEN);
	assert_int_equal(sb.st_mode & 077, 0);
	/* another handle, and a reopened store, read the same key */
	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	assert_int_equal(store_secret_key(s2, b), 0);
	assert_memory_equal(a, b, STORE_KEY_LEN);
	store_free(s2);
}

static void test_pending(void **state)
{
	struct fixture *fx = *state;
	const char *text = "pending bytes\n";
	uint8_t sha[HZ_SHA256_LEN];
	char hex[HZ_SHA256_HEX], path[256], buf[64];
	struct timespec old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	uint64_t size = 0, removed = 0;
	int fd = spool(fx->s, text), rfd;

	hz_sha256(sha, text, strlen(text));
	assert_int_equal(store_lfs_pending_open(fx->s, sha, &rfd, NULL), HZ_ENOTFOUND);
	assert_int_equal(store_lfs_pending_keep(fx->s, fd, sha), 0);
	assert_int_equal(store_lfs_pending_keep(fx->s, fd, sha), 0); /* again: fine */
	close(fd);
	assert_int_equal(store_lfs_pending_open(fx->s, sha, &rfd, &size), 0);
	assert_int_equal(size, strlen(text));
	assert_int_equal(hz_pread_all(rfd, buf, size, 0), 0);
	assert_memory_equal(buf, text, size);
	close(rfd);
	/* a fresh one stays at gc; one a day old goes */
	assert_int_equal(store_lfs_pending_gc(fx->s, 86400, &removed), 0);
	assert_int_equal(removed, 0);
	hz_hex(hex, sha, HZ_SHA256_LEN);
	snprintf(path, sizeof(path), "%s/objects/lfs-pending/%s", fx->dir, hex);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(store_lfs_pending_gc(fx->s, 86400, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_lfs_pending_open(fx->s, sha, &rfd, NULL), HZ_ENOTFOUND);
	assert_int_equal(store_lfs_pending_remove(fx->s, sha), 0); /* absent: fine */
}

/* A spool file that cannot be linked (created and unlinked, as where the
 * file system lacks O_TMPFILE) is copied into place. */
static void test_pending_copy(void **state)
{
	struct fixture *fx = *state;
	const char *text = "copied bytes\n";
	uint8_t sha[HZ_SHA256_LEN];
	char path[128], buf[64];
	uint64_t size = 0;
	int fd, rfd;

	snprintf(path, sizeof(path), "%s/spool.XXXXXX", fx->dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(hz_write_all(fd, text, strlen(text)), 0);
	hz_sha256(sha, text, strlen(text));
	assert_int_equal(store_lfs_pending_keep(fx->s, fd, sha), 0);
	close(fd);
	assert_int_equal(store_lfs_pending_open(fx->s, sha, &rfd, &size), 0);
	assert_int_equal(size, strlen(text));
	assert_int_equal(hz_pread_all(rfd, buf, size, 0), 0);
	assert_memory_equal(buf, text, size);
	close(rfd);
}

static void test_ingest_edits(void **state)
{
	struct fixture *fx = *state;
	char c1[STORE_COMMIT_HEX], c2[STORE_COMMIT_HEX], c3[STORE_COMMIT_HEX];
	char tree[512] = "";
	uint8_t sha[HZ_SHA256_LEN], none[HZ_SHA256_LEN] = { 0 };
	struct store_ingest *in;
	struct store_file *f;
	int fd;

	commit_text(fx->s, "a/r", "keep.txt", "keep\n", c1);
	fd = spool(fx->s, "dir file\n");
	assert_int_equal(store_ingest_begin(&in, fx->s, "a/r", "main"), 0);
	assert_int_equal(store_ingest_add_fd(in, "d/one.txt", fd, 9), 0);
	assert_int_equal(store_ingest_add_fd(in, "d/sub/two.txt", fd, 9), 0);
	assert_int_equal(store_ingest_add_fd(in, "dd.txt", fd, 9), 0);
	assert_int_equal(store_ingest_commit(in, "dir", c2), 0);
	store_ingest_free(in);
	close(fd);

	/* a stale parent refuses the commit, leaving the branch */
	assert_int_equal(store_ingest_begin(&in, fx->s, "a/r", "main"), 0);
	assert_int_equal(store_ingest_set_parent(in, "xyz"), HZ_EINVAL);
	assert_int_equal(store_ingest_set_parent(in, c1), 0);
	assert_int_equal(store_ingest_delete_path(in, "keep.txt", 0), 0);
	assert_int_equal(store_ingest_commit(in, "stale", c3), HZ_EEXISTS);
	store_ingest_free(in);

	/* the right parent: a folder and a file deleted, a stored file named
	 * again by its hash */
	hz_sha256(sha, "keep\n", 5);
	assert_int_equal(store_ingest_begin(&in, fx->s, "a/r", "main"), 0);
	assert_int_equal(store_ingest_set_parent(in, c2), 0);
	assert_int_equal(store_ingest_delete_path(in, "d", 1), 0);
	assert_int_equal(store_ingest_delete_path(in, "keep.txt", 0), 0);
	assert_int_equal(store_ingest_delete_path(in, "../x", 0), HZ_EINVAL);
	assert_int_equal(store_ingest_add_stored(in, "copy.txt", none, UINT64_MAX),
			 HZ_ENOTFOUND);
	assert_int_equal(store_ingest_add_stored(in, "copy.txt", sha, 4), HZ_EINVAL);
	assert_int_equal(store_ingest_add_stored(in, "copy.txt", sha, 5), 0);
	assert_int_equal(store_ingest_commit(in, "edit", c3), 0);
	store_ingest_free(in);
	assert_int_equal(store_files_each(fx->s, "a/r", "main", collect, tree), 0);
	assert_string_equal(tree, "copy.txt,dd.txt,");
	assert_int_equal(store_file_open(&f, fx->s, "a/r", "main", "copy.txt"), 0);
	assert_memory_equal(store_file_sha256(f), sha, HZ_SHA256_LEN);
	store_file_free(f);
	/* the older revisions are untouched */
	tree[0] = '\0';
	assert_int_equal(store_files_each(fx->s, "a/r", c2, collect, tree), 0);
	assert_string_equal(tree, "d/one.txt,d/sub/two.txt,dd.txt,keep.txt,");
}

/* A stored file that a session names is kept by a gc that runs before the
 * commit (the session pinned it), even though no revision holds it any
 * more; the commit then names it and it restores. */
static void test_stored_then_gc(void **state)
{
	struct fixture *fx = *state;
	char c[STORE_COMMIT_HEX];
	uint8_t sha[HZ_SHA256_LEN];
	struct store_gc_result g;
	struct store_ingest *in;
	struct store_revision rev;
	struct store_file *f;

	commit_text(fx->s, "a/src", "f.txt", "soon gone\n", c);
	hz_sha256(sha, "soon gone\n", 10);
	assert_int_equal(store_ingest_begin(&in, fx->s, "a/dst", "main"), 0);
	assert_int_equal(store_ingest_add_stored(in, "f.txt", sha, 10), 0);
	assert_int_equal(store_repo_delete(fx->s, "a/src"), 0);
	assert_int_equal(store_gc(fx->s, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 0);
	assert_int_equal(store_ingest_commit(in, "late", c), 0);
	store_ingest_free(in);
	assert_int_equal(store_resolve(fx->s, &rev, "a/dst", "main"), 0);
	assert_int_equal(store_file_open(&f, fx->s, "a/dst", "main", "f.txt"), 0);
	assert_memory_equal(store_file_sha256(f), sha, HZ_SHA256_LEN);
	store_file_free(f);
	/* once the session is over, gc keeps it for the revision alone */
	assert_int_equal(store_gc(fx->s, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_by_sha, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_key, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_pending, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_pending_copy, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_ingest_edits, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_stored_then_gc, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
