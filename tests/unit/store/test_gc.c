/*
 * Unit tests of gc while ingest sessions are in flight (store/pin_int.h,
 * docs/format.md "Garbage collection while writing"): gc runs between a
 * session's lookups and its commit, through another store handle as
 * another thread or process would, and collects nothing the session
 * reuses: a stored file, stored tensors, the base of its deltas.  Orphans
 * of sessions that died go at once, live sessions' packs stay, pack files
 * wait while an fsck runs, and a reader's cached pack descriptors follow
 * pack ids that gc freed and an ingest reused.
 *
 * Uses $HZ_CORPUS_MINI (the Makefile sets it): esrgan-slim-x4 (F32) and
 * its F16 cast, which is coded as XOR-deltas against it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "store/store.h"

#include "unit/store/store_fixture.h"

#define BASE "upscalerjs/esrgan-slim-x4/model.safetensors"
#define CAST "fp16-hub/esrgan-slim-x4-fp16/model.safetensors"

static const char *corpus(const char *rel)
{
	static char path[4][512];
	static int k;
	const char *root = getenv("HZ_CORPUS_MINI");

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", root ? root : "/var/tmp/mhub-corpus/mini",
		 rel);
	return path[k];
}

/* Adds the file at src as path to the session. */
static void add_file(struct store_ingest *in, const char *path, const char *src)
{
	struct stat sb;
	int fd = open(src, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(store_ingest_add_fd(in, path, fd, (uint64_t)sb.st_size), 0);
	close(fd);
}

static void ingest(struct store *s, const char *repo, const char *path, const char *src)
{
	struct store_ingest *in;
	char c[STORE_COMMIT_HEX];

	assert_int_equal(store_ingest_begin(&in, s, repo, "main"), 0);
	add_file(in, path, src);
	assert_int_equal(store_ingest_commit(in, "t", c), 0);
	store_ingest_free(in);
}

struct cmp {
	FILE *f;
	int differ;
};

static int cmp_write(void *payload, const void *p, size_t n)
{
	struct cmp *c = payload;
	uint8_t buf[65536];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		if (fread(buf, 1, k, c->f) != k || memcmp(buf, p, k))
			c->differ = 1;
		p = (const uint8_t *)p + k;
		n -= k;
	}
	return 0;
}

/* repo's path restores byte for byte as the file src */
static void expect_restores(struct store *s, const char *repo, const char *path, const char *src)
{
	struct store_file *f;
	struct cmp c = { fopen(src, "rb"), 0 };
	struct stat sb;

	assert_non_null(c.f);
	assert_int_equal(stat(src, &sb), 0);
	assert_int_equal(store_file_open(&f, s, repo, NULL, path), 0);
	assert_int_equal(store_file_size(f), (uint64_t)sb.st_size);
	assert_int_equal(store_file_read(f, 0, store_file_size(f), cmp_write, &c), 0);
	assert_int_equal(c.differ, 0);
	store_file_free(f);
	fclose(c.f);
}

static void expect_fsck_clean(struct store *s)
{
	struct store_fsck_result r;

	assert_int_equal(store_fsck(s, &r, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(r.problems, 0);
	assert_true(r.files_checked > 0);
}

/* Files in DIR/objects/SUB whose names end with suffix. */
static int count_files(const char *dir, const char *sub, const char *suffix)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s/objects/%s' -type f -name '*%s' | wc -l", dir, sub,
		 suffix);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* A session reuses a stored file and stored tensors whose repo is deleted
 * and collected by another handle's gc before the session commits: gc
 * keeps them, the commit succeeds and restores, and once the session is
 * over what the new revision holds still stays. */
static void test_reused_survive_gc(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	struct store_ingest *in;
	struct store_gc_result g;
	char c[STORE_COMMIT_HEX];

	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	ingest(fx->s, "t/src", "model.safetensors", corpus(BASE));
	ingest(fx->s, "t/other", "f.bin", corpus("MANIFEST.tsv"));
	assert_int_equal(store_ingest_begin(&in, fx->s, "t/dst", "main"), 0);
	add_file(in, "same.safetensors", corpus(BASE));	/* a whole-file hit */
	add_file(in, "notes.tsv", corpus("MANIFEST.tsv"));	/* held by t/other */
	assert_int_equal(store_repo_delete(s2, "t/src"), 0);
	assert_int_equal(store_repo_delete(s2, "t/other"), 0);
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 0);
	assert_int_equal(g.objects_deleted, 0);
	assert_int_equal(count_files(fx->dir, "tmp", ".pins"), 1);
	assert_int_equal(store_ingest_commit(in, "late", c), 0);
	store_ingest_free(in);
	assert_int_equal(count_files(fx->dir, "tmp", ""), 0);
	expect_restores(fx->s, "t/dst", "same.safetensors", corpus(BASE));
	expect_restores(s2, "t/dst", "notes.tsv", corpus("MANIFEST.tsv"));
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.files_deleted + g.objects_deleted, 0);
	expect_fsck_clean(s2);
	store_free(s2);
}

/* A fine-tune (here a cast) coded as deltas against a base whose repo is
 * deleted and collected before the session commits: gc keeps the base
 * (pinned), the commit succeeds, and afterwards gc keeps the base for
 * the deltas that need it although no repo holds it any more. */
static void test_delta_base_survives_gc(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	struct store_ingest *in;
	struct store_gc_result g;
	char c[STORE_COMMIT_HEX];

	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	ingest(fx->s, "t/base", "model.safetensors", corpus(BASE));
	assert_int_equal(store_ingest_begin(&in, fx->s, "t/cast", "main"), 0);
	add_file(in, "model.safetensors", corpus(CAST));
	assert_int_equal(store_repo_delete(s2, "t/base"), 0);
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 1);	/* the base's file */
	assert_int_equal(g.objects_deleted, 1); /* its header; its tensors are bases */
	assert_int_equal(store_ingest_commit(in, "cast", c), 0);
	store_ingest_free(in);
	/* the session is over: the base tensors its deltas name stay (fsck
	 * checks every delta's base), the others go */
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 0);
	assert_true(g.objects_deleted < 24);
	expect_restores(s2, "t/cast", "model.safetensors", corpus(CAST));
	expect_fsck_clean(s2);
	store_free(s2);
}

/* The repo a session chose as its base is deleted before the commit (no
 * gc): the deltas' base tensors are pinned, the family row cannot name the
 * repo; the commit succeeds and the new repo founds its own family. */
static void test_base_repo_deleted(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	struct store_ingest *in;
	char c[STORE_COMMIT_HEX];

	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	ingest(fx->s, "t/base", "model.safetensors", corpus(BASE));
	ingest(fx->s, "t/other", "f.tsv", corpus("MANIFEST.tsv")); /* ids are not reused */
	assert_int_equal(store_ingest_begin(&in, fx->s, "t/cast", "main"), 0);
	add_file(in, "model.safetensors", corpus(CAST));
	assert_int_equal(store_repo_delete(s2, "t/base"), 0);
	assert_int_equal(store_ingest_commit(in, "cast", c), 0);
	store_ingest_free(in);
	expect_restores(s2, "t/cast", "model.safetensors", corpus(CAST));
	expect_fsck_clean(s2);
	store_free(s2);
}

/* What a session that died leaves (its pack in tmp/, its pins, a pack
 * moved into packs/ that no row names) goes at the next gc, at once; a
 * live session's pack stays. */
static void test_orphans(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	struct store_ingest *in;
	struct store_gc_result g;
	char c[STORE_COMMIT_HEX], path[512];
	pid_t pid;
	int st, fd;

	ingest(fx->s, "t/base", "model.safetensors", corpus(BASE));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* ingests, pins, writes a pack, and dies before its commit */
		struct store *cs;

		if (store_open(&cs, fx->dir, 0) || store_ingest_begin(&in, cs, "t/dead", "main"))
			_exit(2);
		add_file(in, "a.safetensors", corpus(CAST));
		add_file(in, "b.safetensors", corpus(BASE));
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(count_files(fx->dir, "tmp", ".pack.tmp"), 1);
	assert_int_equal(count_files(fx->dir, "tmp", ".pins"), 1);
	/* a pack moved into place by a session that died before committing */
	snprintf(path, sizeof(path), "%s/objects/packs/ab", fx->dir);
	assert_int_equal(hz_mkdir_p(path), 0);
	snprintf(path, sizeof(path), "%s/objects/packs/ab/ab000000000000000000000000000000.pack",
		 fx->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "HZPACK", 6), 6);
	/* a live session's pack, moved into place, not committed yet: locked */
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	assert_int_equal(store_ingest_begin(&in, fx->s, "t/live", "main"), 0);
	add_file(in, "a.safetensors", corpus(CAST));
	assert_int_equal(count_files(fx->dir, "tmp", ".pack.tmp"), 2);
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.orphan_packs, 1);	/* the dead session's; not the live ones */
	assert_int_equal(g.tmp_removed, 1);	/* its pins */
	assert_int_equal(count_files(fx->dir, "tmp", ".pack.tmp"), 1);
	assert_int_equal(access(path, F_OK), 0);
	close(fd);				/* its session died */
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.orphan_packs, 1);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_ingest_commit(in, "live", c), 0);
	store_ingest_free(in);
	assert_int_equal(count_files(fx->dir, "tmp", ""), 0);
	expect_restores(s2, "t/live", "a.safetensors", corpus(CAST));
	expect_fsck_clean(s2);
	store_free(s2);
}

/* gc does not unlink pack files while an fsck holds its lock (the fsck
 * may read an older snapshot that names them); the next gc does. */
static void test_fsck_defers_unlink(void **state)
{
	struct fixture *fx = *state;
	struct store_gc_result g;
	char path[512];
	int fd;

	ingest(fx->s, "t/a", "f.tsv", corpus("MANIFEST.tsv"));
	assert_int_equal(store_repo_delete(fx->s, "t/a"), 0);
	snprintf(path, sizeof(path), "%s/objects/locks/fsck", fx->dir);
	fd = open(path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_SH), 0); /* an fsck runs */
	assert_int_equal(store_gc(fx->s, NULL, &g), 0);
	assert_int_equal(g.files_deleted, 1);
	assert_int_equal(g.packs_deleted, 0);
	assert_int_equal(g.packs_deferred, 1);
	assert_int_equal(count_files(fx->dir, "packs", ".pack"), 1);
	close(fd);
	assert_int_equal(store_gc(fx->s, NULL, &g), 0);
	assert_int_equal(g.orphan_packs, 1);
	assert_int_equal(count_files(fx->dir, "packs", ".pack"), 0);
}

/* A handle that read a pack keeps its descriptor cached; gc (elsewhere)
 * deletes that pack, and the next ingest's pack takes the same id: the
 * handle reads the new pack, not the old file. */
static void test_pack_id_reuse(void **state)
{
	struct fixture *fx = *state;
	struct store *s2;
	struct store_gc_result g;

	assert_int_equal(store_open(&s2, fx->dir, 0), 0);
	ingest(s2, "t/keep", "m.safetensors", corpus(BASE));
	ingest(s2, "t/gone", "f.tsv", corpus("MANIFEST.tsv"));
	expect_restores(fx->s, "t/gone", "f.tsv", corpus("MANIFEST.tsv")); /* cached */
	assert_int_equal(store_repo_delete(s2, "t/gone"), 0);
	assert_int_equal(store_gc(s2, NULL, &g), 0);
	assert_int_equal(g.packs_deleted, 1);
	ingest(s2, "t/new", "m.safetensors", corpus("waifu2x/cunet-noise0-scale2x/model.safetensors"));
	expect_restores(fx->s, "t/new", "m.safetensors",
			corpus("waifu2x/cunet-noise0-scale2x/model.safetensors"));
	store_free(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reused_survive_gc, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_delta_base_survives_gc, store_setup,
						store_teardown),
		cmocka_unit_test_setup_teardown(test_base_repo_deleted, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_orphans, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_defers_unlink, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_pack_id_reuse, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
