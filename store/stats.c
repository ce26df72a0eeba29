/*
 * store/stats.c - reading the accounting (docs/format.md, "Accounting"):
 * views over the cache of the current store generation, or over a fresh
 * computation (stats_compute.c) when the cache is stale, and the totals,
 * repos, revisions and families in them.
 *
 * A view is a read transaction on the store's connection: everything read
 * through it is of one generation.  The numbers come from main.stats_*
 * when the cache holds that generation, else from temp.sx_* (the same
 * columns), which the view computed and store_acct_end then caches.
 */
#include "store/store_int.h"
#include "store/stats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"

/* the columns of struct store_acct, in its order, of a row alias x */
#define ACCT_COLS                                                              \
	"x.logical_bytes, x.file_bytes, x.object_bytes, x.physical_bytes,"     \
	" x.delta_bytes, %s, x.files, x.unique_files, x.tensors, x.unique_tensors"
#define ACCT_NCOLS 10

static void acct_row(struct store_acct *a, struct db_stmt *st, int col)
{
	a->logical_bytes = (uint64_t)db_column_int64(st, col);
	a->file_bytes = (uint64_t)db_column_int64(st, col + 1);
	a->object_bytes = (uint64_t)db_column_int64(st, col + 2);
	a->physical_bytes = (uint64_t)db_column_int64(st, col + 3);
	a->delta_bytes = db_column_int64(st, col + 4);
	a->revisions = (uint64_t)db_column_int64(st, col + 5);
	a->files = (uint64_t)db_column_int64(st, col + 6);
	a->unique_files = (uint64_t)db_column_int64(st, col + 7);
	a->tensors = (uint64_t)db_column_int64(st, col + 8);
	a->unique_tensors = (uint64_t)db_column_int64(st, col + 9);
}

void store_acct_stages(struct store_stages *out, const struct store_acct *a)
{
	out->file_dedup = (int64_t)a->logical_bytes - (int64_t)a->file_bytes;
	out->tensor_dedup = (int64_t)a->file_bytes - (int64_t)a->object_bytes;
	out->delta = a->delta_bytes;
	out->coding = (int64_t)a->object_bytes - (int64_t)a->physical_bytes - a->delta_bytes;
}

/* The cache table `name` (revisions, repos, families, totals) the view
 * reads, as a schema-qualified name. */
static const char *tbl(const struct store_acct_view *v, const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", v->temp ? "sx_" : "stats_", name);
	return buf;
}

static void end_read(struct store *s)
{
	if (db_in_tx(s))
		db_commit(s);
}

int store_acct_begin(struct store_acct_view *out, struct store *s)
{
	int64_t cached = -1, at = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->s = s;
	rc = db_begin_read(s); /* one snapshot for the whole view */
	if (rc)
		return rc;
	rc = stats_state(s, &out->generation, &cached, &at);
	if (!rc && cached == out->generation) {
		out->computed_at = at;
		return 0;
	}
	if (!rc)
		rc = stats_compute(s);
	if (rc) {
		end_read(s);
		return rc;
	}
	out->temp = 1;
	out->computed_at = hz_now();
	return 0;
}

void store_acct_end(struct store_acct_view *v)
{
	if (!v->s)
		return;
	end_read(v->s);
	/* a failure to cache (busy, read-only) only costs the next reader a
	 * recomputation */
	if (v->temp)
		stats_persist(v->s, v->generation, v->computed_at);
	v->s = NULL;
}

static uint64_t file_size(const char *dir, const char *name)
{
	char *p = hz_path_join(dir, name);
	struct stat st;
	uint64_t n = 0;

	if (p && !stat(p, &st))
		n = (uint64_t)st.st_size;
	free(p);
	return n;
}

int store_acct_totals(struct store_acct_view *v, struct store_acct_totals *out)
{
	struct store *s = v->s;
	struct db_stmt *st = NULL;
	char sql[1024], t[32];
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(sql, sizeof(sql),
		 "SELECT " ACCT_COLS ", x.repos, x.families, x.objects,"
		 " (SELECT count(*) FROM packs), (SELECT coalesce(sum(size), 0) FROM packs)"
		 " FROM %s x WHERE x.id = 1", "x.revisions", tbl(v, "totals", t, sizeof(t)));
	rc = db_prepare(s, &st, sql);
	if (rc)
		return rc;
	if (db_step(st) == DB_ROW) {
		acct_row(&out->a, st, 0);
		out->repos = (uint64_t)db_column_int64(st, ACCT_NCOLS);
		out->families = (uint64_t)db_column_int64(st, ACCT_NCOLS + 1);
		out->objects = (uint64_t)db_column_int64(st, ACCT_NCOLS + 2);
		out->packs = (uint64_t)db_column_int64(st, ACCT_NCOLS + 3);
		out->pack_bytes = (uint64_t)db_column_int64(st, ACCT_NCOLS + 4);
		out->dead_bytes = (int64_t)out->pack_bytes - (int64_t)(PACK_HDR * out->packs) -
				  (int64_t)out->a.physical_bytes;
		out->index_bytes = file_size(s->dir, "hubzip.db") +
				   file_size(s->dir, "hubzip.db-wal");
	} else {
		rc = db_error(s, "cannot read the accounting totals");
	}
	db_finalize(st);
	return rc;
}

static int repo_exists(struct store *s, const char *repo)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT 1 FROM repos WHERE name = ?");

	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	if (db_step(st) != DB_ROW)
		rc = hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);
	db_finalize(st);
	return rc;
}

static const char *text_or_null(struct db_stmt *st, int col)
{
	return db_column_type(st, col) == DB_NULL
		       ? NULL : (const char *)db_column_text(st, col);
}

int store_acct_repos_each(struct store_acct_view *v, const char *repo, int64_t family,
			  int (*fn)(void *payload, const struct store_acct_repo *r),
			  void *payload)
{
	struct store *s = v->s;
	struct db_stmt *st = NULL;
	char sql[2048], t[32];
	size_t n = 0;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT r.id, r.name, r.type = 'dataset', r.private, r.created_at,"
		 " coalesce(m.family_id, 0), b.name, coalesce(b.private, 0),"
		 " CASE WHEN m.base_repo_id IS NULL THEN -1 ELSE coalesce(m.score, -1) END,"
		 " m.hint, x.exclusive_bytes, " ACCT_COLS
		 " FROM repos r JOIN %s x ON x.repo_id = r.id"
		 " LEFT JOIN repo_families m ON m.repo_id = r.id"
		 " LEFT JOIN repos b ON b.id = m.base_repo_id"
		 " WHERE (CAST(?1 AS TEXT) IS NULL OR r.name = ?1) AND (?2 = 0 OR m.family_id = ?2)"
		 " ORDER BY CASE WHEN ?2 = 0 THEN -x.logical_bytes"
		 "  WHEN m.base_repo_id IS NULL THEN 0 ELSE 1 END, r.name",
		 "x.revisions", tbl(v, "repos", t, sizeof(t)));
	rc = db_prepare(s, &st, sql);
	if (rc)
		return rc;
	if (repo)
		db_bind_text(st, 1, repo, -1);
	else
		db_bind_null(st, 1);
	db_bind_int64(st, 2, family);
	while (!rc) {
		struct store_acct_repo r;
		int step = db_step(st);

		if (step == DB_DONE)
			break;
		if (step != DB_ROW) {
			rc = db_error(s, "cannot read the accounting of repos");
			break;
		}
		r.id = db_column_int64(st, 0);
		r.repo = (const char *)db_column_text(st, 1);
		r.type = db_column_int(st, 2) ? STORE_REPO_DATASET : STORE_REPO_MODEL;
		r.is_private = db_column_int(st, 3);
		r.created_at = db_column_int64(st, 4);
		r.family = db_column_int64(st, 5);
		r.base = text_or_null(st, 6);
		r.base_private = db_column_int(st, 7);
		r.score = db_column_double(st, 8);
		r.hint = text_or_null(st, 9);
		r.exclusive_bytes = (uint64_t)db_column_int64(st, 10);
		acct_row(&r.a, st, 11);
		rc = fn(payload, &r);
		n++;
	}
	db_finalize(st);
	if (!rc && !n && repo)
		rc = hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);
	return rc;
}

int store_acct_revisions_each(struct store_acct_view *v, const char *repo,
			      int (*fn)(void *payload, const struct store_acct_revision *r),
			      void *payload)
{
	struct store *s = v->s;
	struct db_stmt *st = NULL;
	char sql[1024], t[32];
	int rc = repo_exists(s, repo);

	if (rc)
		return rc;
	snprintf(sql, sizeof(sql),
		 "SELECT v.commit_id, v.created_at, v.message, " ACCT_COLS
		 " FROM revisions v JOIN repos r ON r.id = v.repo_id"
		 " JOIN %s x ON x.revision_id = v.id WHERE r.name = ?1 ORDER BY v.id DESC",
		 "1", tbl(v, "revisions", t, sizeof(t)));
	rc = db_prepare(s, &st, sql);
	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	while (!rc) {
		struct store_acct_revision r;
		int step = db_step(st);

		if (step == DB_DONE)
			break;
		if (step != DB_ROW) {
			rc = db_error(s, "cannot read the accounting of revisions");
			break;
		}
		r.commit = (const char *)db_column_text(st, 0);
		r.created_at = db_column_int64(st, 1);
		r.message = (const char *)db_column_text(st, 2);
		acct_row(&r.a, st, 3);
		rc = fn(payload, &r);
	}
	db_finalize(st);
	return rc;
}

int store_acct_families_each(struct store_acct_view *v, int64_t family,
			     int (*fn)(void *payload, const struct store_acct_family *f),
			     void *payload)
{
	struct store *s = v->s;
	struct db_stmt *st = NULL;
	char sql[2048], tf[32], tr[32];
	size_t n = 0;
	int rc;

	snprintf(sql, sizeof(sql),
		 "SELECT f.family_id, rr.name, coalesce(rr.private, 0), m.members, m.l, m.fb,"
		 " m.ob, m.pb, m.db, m.revs, m.files, f.unique_files, f.tensors, f.unique_tensors"
		 " FROM %s f JOIN (SELECT rf.family_id AS fid, count(*) AS members,"
		 "  sum(x.logical_bytes) AS l, sum(x.file_bytes) AS fb, sum(x.object_bytes) AS ob,"
		 "  sum(x.physical_bytes) AS pb, sum(x.delta_bytes) AS db, sum(x.revisions) AS revs,"
		 "  sum(x.files) AS files FROM repo_families rf JOIN %s x"
		 "  ON x.repo_id = rf.repo_id GROUP BY rf.family_id) m ON m.fid = f.family_id"
		 " LEFT JOIN repos rr ON rr.id = (SELECT rf.repo_id FROM repo_families rf"
		 "  JOIN repos r ON r.id = rf.repo_id WHERE rf.family_id = f.family_id"
		 "  ORDER BY rf.base_repo_id IS NOT NULL, r.name LIMIT 1)"
		 " WHERE ?1 = 0 OR f.family_id = ?1 ORDER BY m.l DESC, f.family_id",
		 tbl(v, "families", tf, sizeof(tf)), tbl(v, "repos", tr, sizeof(tr)));
	rc = db_prepare(s, &st, sql);
	if (rc)
		return rc;
	db_bind_int64(st, 1, family);
	while (!rc) {
		struct store_acct_family f;
		int step = db_step(st);

		if (step == DB_DONE)
			break;
		if (step != DB_ROW) {
			rc = db_error(s, "cannot read the accounting of families");
			break;
		}
		f.id = db_column_int64(st, 0);
		f.root = text_or_null(st, 1);
		f.root_private = db_column_int(st, 2);
		f.members = (uint64_t)db_column_int64(st, 3);
		acct_row(&f.a, st, 4);
		rc = fn(payload, &f);
		n++;
	}
	db_finalize(st);
	if (!rc && !n && family)
		rc = hz_error_set(HZ_ENOTFOUND, "family %lld not found", (long long)family);
	return rc;
}

/* ---- store_stats: the summary in one struct ----------------------------- */

static int stats_repo_one(void *payload, const struct store_acct_repo *r)
{
	struct store_stats *out = payload;
	struct store_repo_stats *e;

	if (out->nrepos == out->repos)
		return 0; /* cannot happen inside one view */
	e = &out->repo[out->nrepos];
	e->repo = hz_strdup(r->repo);
	if (!e->repo)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	e->logical_bytes = r->a.logical_bytes;
	e->physical_bytes = r->a.physical_bytes;
	e->files = r->a.files;
	e->revisions = r->a.revisions;
	e->family = r->family;
	out->nrepos++;
	return 0;
}

static int stats_family_one(void *payload, const struct store_acct_family *f)
{
	struct store_stats *out = payload;
	struct store_family_stats *e;

	if (out->nfamilies == out->cap_families)
		return 0;
	e = &out->family[out->nfamilies];
	memset(e, 0, sizeof(*e));
	e->root = hz_strdup(f->root ? f->root : "");
	if (!e->root)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	e->id = f->id;
	e->members = f->members;
	e->logical_bytes = f->a.logical_bytes;
	e->physical_bytes = f->a.physical_bytes;
	out->nfamilies++;
	return 0;
}

int store_stats(struct store *s, struct store_stats *out)
{
	struct store_acct_view v;
	struct store_acct_totals t;
	struct store_stages sg;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_acct_begin(&v, s);
	if (rc)
		return rc;
	rc = store_acct_totals(&v, &t);
	if (rc)
		goto out;
	out->logical_bytes = t.a.logical_bytes;
	out->unique_file_bytes = t.a.file_bytes;
	out->unique_object_bytes = t.a.object_bytes;
	out->physical_bytes = t.a.physical_bytes;
	out->pack_bytes = t.pack_bytes;
	out->index_bytes = t.index_bytes;
	store_acct_stages(&sg, &t.a);
	out->saved_file_dedup = sg.file_dedup;
	out->saved_tensor_dedup = sg.tensor_dedup;
	out->saved_delta = sg.delta;
	out->saved_coding = sg.coding;
	out->repos = t.repos;
	out->revisions = t.a.revisions;
	out->files = t.a.files;
	out->unique_files = t.a.unique_files;
	out->tensors = t.a.tensors;
	out->unique_tensors = t.a.unique_tensors;
	out->objects = t.objects;
	out->packs = t.packs;
	out->families = t.families;
	out->generation = v.generation;
	out->repo = calloc(t.repos ? t.repos : 1, sizeof(*out->repo));
	out->cap_families = t.families;
	out->family = calloc(t.families ? t.families : 1, sizeof(*out->family));
	if (!out->repo || !out->family) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = store_acct_repos_each(&v, NULL, 0, stats_repo_one, out);
	if (!rc)
		rc = store_acct_families_each(&v, 0, stats_family_one, out);
out:
	store_acct_end(&v);
	if (rc)
		store_stats_release(out);
	return rc;
}

void store_stats_release(struct store_stats *st)
{
	for (size_t i = 0; i < st->nrepos; i++)
		free(st->repo[i].repo);
	free(st->repo);
	for (size_t i = 0; i < st->nfamilies; i++)
		free(st->family[i].root);
	free(st->family);
	st->family = NULL;
	st->nfamilies = 0;
	st->repo = NULL;
	st->nrepos = 0;
}
