/*
 * Unit tests of the accounting (store/stats.c, stats_compute.c,
 * stats_history.c): shares that add up exactly over revisions, repos and
 * the store, with sizes that do not divide evenly; the cache and the store
 * generation; the ingest history; fsck's cross-check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "store/store.h"

#include "unit/store/store_fixture.h"

/* Commits files (path, text pairs, NULL-terminated) to repo@main. */
static void commit(struct store *s, const char *repo, ...)
{
	struct store_ingest *in;
	char c[STORE_COMMIT_HEX];
	const char *path;
	va_list ap;

	assert_int_equal(store_ingest_begin(&in, s, repo, "main"), 0);
	va_start(ap, repo);
	while ((path = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		int fd = -1;

		assert_int_equal(store_spool_open(s, &fd), 0);
		assert_int_equal(hz_write_all(fd, text, strlen(text)), 0);
		assert_int_equal(store_ingest_add_fd(in, path, fd, strlen(text)), 0);
		close(fd);
	}
	va_end(ap);
	assert_int_equal(store_ingest_commit(in, "m", c), 0);
	store_ingest_free(in);
}

struct sums {
	struct store_acct a;
	uint64_t n;
};

static void add(struct sums *t, const struct store_acct *a)
{
	t->a.logical_bytes += a->logical_bytes;
	t->a.file_bytes += a->file_bytes;
	t->a.object_bytes += a->object_bytes;
	t->a.physical_bytes += a->physical_bytes;
	t->a.delta_bytes += a->delta_bytes;
	t->a.files += a->files;
	t->n++;
}

static int sum_repo(void *payload, const struct store_acct_repo *r)
{
	add(payload, &r->a);
	return 0;
}

static int sum_revision(void *payload, const struct store_acct_revision *r)
{
	add(payload, &r->a);
	return 0;
}

struct one_repo {
	struct store_acct_repo r;
	char name[64];
};

static int get_repo(void *payload, const struct store_acct_repo *r)
{
	struct one_repo *o = payload;

	o->r = *r;
	snprintf(o->name, sizeof(o->name), "%s", r->repo);
	o->r.repo = o->name;
	o->r.base = o->r.hint = NULL;
	return 0;
}

static void assert_same_bytes(const struct store_acct *a, const struct store_acct *b)
{
	assert_int_equal(a->logical_bytes, b->logical_bytes);
	assert_int_equal(a->file_bytes, b->file_bytes);
	assert_int_equal(a->object_bytes, b->object_bytes);
	assert_int_equal(a->physical_bytes, b->physical_bytes);
	assert_int_equal(a->delta_bytes, b->delta_bytes);
	assert_int_equal(a->files, b->files);
}

static void assert_stages_add_up(const struct store_acct *a)
{
	struct store_stages sg;

	store_acct_stages(&sg, a);
	assert_int_equal(sg.file_dedup + sg.tensor_dedup + sg.delta + sg.coding,
			 (int64_t)a->logical_bytes - (int64_t)a->physical_bytes);
}

/* Three repos share a 7-byte file: floor(7/3) each, the remainder to the
 * first; repos add up to the store, revisions to their repo. */
static void test_shares_add_up(void **state)
{
	struct fixture *fx = *state;
	struct store_acct_view v;
	struct store_acct_totals t;
	struct sums repos = { 0 }, revs = { 0 };
	struct one_repo a, b;

	commit(fx->s, "ns/a", "shared.txt", "1234567", "a.txt", "only in a, eleven", NULL);
	commit(fx->s, "ns/b", "shared.txt", "1234567", NULL);
	commit(fx->s, "ns/c", "copy.txt", "1234567", "c.txt", "c", NULL);
	commit(fx->s, "ns/a", "more.txt", "a second revision", NULL);

	assert_int_equal(store_acct_begin(&v, fx->s), 0);
	assert_int_equal(store_acct_totals(&v, &t), 0);
	assert_int_equal(t.repos, 3);
	assert_int_equal(t.a.revisions, 4);
	/* a@1: 2 files, b: 1, c: 2, a@2: 3 (the first tree and one more) */
	assert_int_equal(t.a.files, 8);
	assert_int_equal(t.a.unique_files, 4);
	assert_int_equal(t.a.logical_bytes, (7 + 17) + 7 + (7 + 1) + (7 + 17 + 17));
	assert_int_equal(t.a.file_bytes, 7 + 17 + 1 + 17);
	assert_int_equal(store_acct_repos_each(&v, NULL, 0, sum_repo, &repos), 0);
	assert_int_equal(repos.n, 3);
	assert_same_bytes(&repos.a, &t.a);
	assert_stages_add_up(&t.a);
	assert_int_equal(store_acct_repos_each(&v, "ns/a", 0, get_repo, &a), 0);
	assert_int_equal(store_acct_repos_each(&v, "ns/b", 0, get_repo, &b), 0);
	/* the shared file: a (lowest id) gets 7/3 + 7%3 = 3, b gets 2 */
	assert_int_equal(b.r.a.file_bytes, 2);
	assert_int_equal(a.r.a.file_bytes, 3 + 17 + 17);
	assert_int_equal(a.r.a.revisions, 2);
	assert_stages_add_up(&a.r.a);
	assert_stages_add_up(&b.r.a);
	assert_int_equal(b.r.exclusive_bytes, 0); /* everything b needs, a needs too */
	assert_true(a.r.exclusive_bytes > 0);
	assert_int_equal(store_acct_revisions_each(&v, "ns/a", sum_revision, &revs), 0);
	assert_int_equal(revs.n, 2);
	assert_same_bytes(&revs.a, &a.r.a);
	assert_int_equal(store_acct_repos_each(&v, "no/such", 0, get_repo, &a), HZ_ENOTFOUND);
	assert_int_equal(store_acct_revisions_each(&v, "no/such", sum_revision, &revs),
			 HZ_ENOTFOUND);
	store_acct_end(&v);
}

/* The first view computes and caches; the next reads the cache; any
 * change moves the generation and the next view computes again. */
static void test_cache_generation(void **state)
{
	struct fixture *fx = *state;
	struct store_acct_view v;
	struct store_acct_totals t;
	int64_t g0, g1;

	commit(fx->s, "ns/a", "x.txt", "hello", NULL);
	assert_int_equal(store_acct_begin(&v, fx->s), 0);
	assert_int_equal(v.temp, 1);
	g0 = v.generation;
	store_acct_end(&v);
	assert_int_equal(store_acct_begin(&v, fx->s), 0);
	assert_int_equal(v.temp, 0);
	assert_int_equal(v.generation, g0);
	assert_int_equal(store_acct_totals(&v, &t), 0);
	assert_int_equal(t.a.logical_bytes, 5);
	store_acct_end(&v);

	assert_int_equal(store_repo_create(fx->s, "ns/empty", STORE_REPO_MODEL, 0), 0);
	assert_int_equal(store_acct_begin(&v, fx->s), 0);
	assert_true(v.generation > g0);
	assert_int_equal(v.temp, 1);
	assert_int_equal(store_acct_totals(&v, &t), 0);
	assert_int_equal(t.repos, 2);
	g1 = v.generation;
	store_acct_end(&v);

	assert_int_equal(store_repo_set_private(fx->s, "ns/empty", 1), 0);
	assert_int_equal(store_repo_delete(fx->s, "ns/a"), 0);
	assert_int_equal(store_acct_begin(&v, fx->s), 0);
	assert_true(v.generation > g1);
	assert_int_equal(store_acct_totals(&v, &t), 0);
	assert_int_equal(t.repos, 1);
	assert_int_equal(t.a.logical_bytes, 0);
	assert_int_equal(t.a.physical_bytes, 0);
	assert_true(t.dead_bytes > 0); /* ns/a's bytes, until gc */
	store_acct_end(&v);
}

struct hist {
	int n;
	uint64_t logical[8], physical[8];
	char repo[8][32];
};

static int hist_one(void *payload, const struct store_history_row *h)
{
	struct hist *c = payload;

	assert_true(c->n < 8);
	c->logical[c->n] = h->logical_bytes;
	c->physical[c->n] = h->physical_bytes;
	snprintf(c->repo[c->n], sizeof(c->repo[0]), "%s%s", h->repo, h->deleted ? "(d)" : "");
	assert_int_equal(strlen(h->commit), 40);
	assert_int_equal(h->source, STORE_SOURCE_CLI);
	assert_true(h->seconds >= 0);
	c->n++;
	return 0;
}

static void test_history(void **state)
{
	struct fixture *fx = *state;
	struct hist h = { 0 };
	struct store_stats st;

	commit(fx->s, "ns/a", "x.txt", "some bytes", NULL);
	commit(fx->s, "ns/b", "y.txt", "some bytes", NULL); /* stored already */
	commit(fx->s, "ns/a", "z.txt", "more", NULL);
	assert_int_equal(store_repo_delete(fx->s, "ns/b"), 0);
	assert_int_equal(store_history_each(fx->s, 0, 0, 100, hist_one, &h), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.logical[0], 10);
	assert_int_equal(h.logical[1], 10);
	assert_int_equal(h.logical[2], 14); /* the whole new tree */
	assert_true(h.physical[0] > 0);
	assert_int_equal(h.physical[1], 0);
	assert_true(h.physical[2] > 0);
	assert_string_equal(h.repo[1], "ns/b(d)");
	/* nothing was deleted that a holds: the physical bytes added are the store's */
	assert_int_equal(store_stats(fx->s, &st), 0);
	assert_int_equal(st.physical_bytes, h.physical[0] + h.physical[2]);
	store_stats_release(&st);
	memset(&h, 0, sizeof(h));
	assert_int_equal(store_history_each(fx->s, 0, 1, 1, hist_one, &h), 0);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.repo[0], "ns/b(d)");
}

static void count_line(void *payload, const char *line)
{
	(void)line;
	(*(int *)payload)++;
}

/* fsck recomputes: a cache that disagrees with the index is a problem. */
static void test_fsck_cross_check(void **state)
{
	struct fixture *fx = *state;
	struct store_fsck_result r;
	struct store_stats st;
	sqlite3 *db;
	char path[128];
	int lines = 0;

	commit(fx->s, "ns/a", "x.txt", "hello, world", NULL);
	assert_int_equal(store_stats(fx->s, &st), 0); /* caches */
	store_stats_release(&st);
	assert_int_equal(store_fsck(fx->s, &r, count_line, &lines, NULL, NULL), 0);
	assert_int_equal(r.problems, 0);
	snprintf(path, sizeof(path), "%s/hubzip.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE stats_totals SET logical_bytes = 1", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_fsck(fx->s, &r, count_line, &lines, NULL, NULL), 0);
	assert_int_equal(r.problems, 1);
	assert_int_equal(lines, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shares_add_up, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_cache_generation, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_history, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_fsck_cross_check, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
