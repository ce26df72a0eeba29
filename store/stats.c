/*
 * store/stats.c - accounting: logical and physical bytes, and what each
 * stage of the pipeline saved.
 *
 * Definitions (docs/format.md, "Accounting"):
 *   logical   sum of file sizes over every (revision, path) in the store:
 *             what clients would download.
 *   physical  encoded bytes (block headers included) of every object that a
 *             live file references, each object once.
 *   stages    file dedup    = logical - bytes of distinct files
 *             tensor dedup  = distinct files - bytes of distinct objects
 *             delta         = what XOR-delta blocks saved over coding alone
 *             coding        = distinct objects - physical - delta
 *   per repo  logical as above over the repo's revisions; physical splits
 *             each object's encoded bytes evenly between the repos that
 *             reference it (the remainder to the repo with the lowest id),
 *             so the repos' physical bytes add up to the total.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"

static int query_u64(struct store *s, const char *sql, uint64_t *out, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc = db_prepare(s, &st, sql);

	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		for (size_t i = 0; i < n; i++)
			out[i] = (uint64_t)sqlite3_column_int64(st, (int)i);
	} else {
		rc = db_error(s, "cannot compute statistics");
	}
	sqlite3_finalize(st);
	return rc;
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

#define LIVE_FILES "SELECT DISTINCT file_id FROM revision_files"
#define LIVE_DIRECT                                                           \
	"SELECT object_id FROM segments WHERE file_id IN (" LIVE_FILES ")"    \
	" UNION SELECT object_id FROM tensors WHERE file_id IN (" LIVE_FILES ")"
/* and the bases of their delta blocks (one level) */
#define LIVE_OBJECTS                                                          \
	LIVE_DIRECT " UNION SELECT base_object_id FROM objects WHERE id IN ("   \
	LIVE_DIRECT ") AND base_object_id IS NOT NULL"

/* Per family: members, and the sums of their repos' bytes. */
static int family_totals(struct store *s, struct store_stats *out)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = db_prepare(s, &st,
			    "SELECT f.family_id, r.name, f.base_repo_id IS NULL FROM repo_families f"
			    " JOIN repos r ON r.id = f.repo_id ORDER BY f.family_id,"
			    " f.base_repo_id IS NOT NULL, r.name");

	while (!rc && sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		struct store_family_stats *f;

		if (!out->nfamilies || out->family[out->nfamilies - 1].id != id) {
			if (out->nfamilies == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct store_family_stats *v =
					realloc(out->family, ncap * sizeof(*v));

				if (!v) {
					rc = hz_error_set(HZ_ENOMEM, "out of memory");
					break;
				}
				out->family = v;
				cap = ncap;
			}
			f = &out->family[out->nfamilies++];
			memset(f, 0, sizeof(*f));
			f->id = id;
			f->root = hz_strdup(name);
			if (!f->root) {
				out->nfamilies--;
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
				break;
			}
		}
		f = &out->family[out->nfamilies - 1];
		f->members++;
		for (size_t i = 0; i < out->nrepos; i++) {
			if (!strcmp(out->repo[i].repo, name)) {
				f->logical_bytes += out->repo[i].logical_bytes;
				f->physical_bytes += out->repo[i].physical_bytes;
				out->repo[i].family = id;
			}
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int store_stats(struct store *s, struct store_stats *out)
{
	uint64_t v[8] = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_exec(s, "BEGIN"); /* one consistent snapshot */
	if (rc)
		return rc;
	rc = query_u64(s, "SELECT coalesce(sum(f.size), 0), count(*) FROM revision_files r"
			  " JOIN files f ON f.id = r.file_id", v, 2);
	if (rc)
		goto out;
	out->logical_bytes = v[0];
	out->files = v[1];
	rc = query_u64(s, "SELECT coalesce(sum(size), 0), count(*) FROM files WHERE id IN ("
			  LIVE_FILES ")", v, 2);
	if (rc)
		goto out;
	out->unique_file_bytes = v[0];
	out->unique_files = v[1];
	rc = query_u64(s, "SELECT coalesce(sum(size), 0), coalesce(sum(stored_size), 0),"
			  " count(*) FROM objects WHERE id IN (" LIVE_OBJECTS ")", v, 3);
	if (rc)
		goto out;
	out->unique_object_bytes = v[0];
	out->physical_bytes = v[1];
	out->objects = v[2];
	rc = query_u64(s, "SELECT count(*), (SELECT count(DISTINCT object_id) FROM tensors"
			  " WHERE file_id IN (" LIVE_FILES ")) FROM tensors WHERE file_id IN"
			  " (SELECT file_id FROM revision_files)", v, 2);
	if (rc)
		goto out;
	/* tensors counted per (revision, path) occurrence would double count
	 * unchanged files; count tensors of distinct live files */
	out->tensors = v[0];
	out->unique_tensors = v[1];
	rc = query_u64(s, "SELECT (SELECT count(*) FROM repos), (SELECT count(*) FROM revisions),"
			  " (SELECT count(*) FROM packs), (SELECT coalesce(sum(size), 0) FROM packs)",
		       v, 4);
	if (rc)
		goto out;
	out->repos = v[0];
	out->revisions = v[1];
	out->packs = v[2];
	out->pack_bytes = v[3];
	out->index_bytes = file_size(s->dir, "hubzip.db") + file_size(s->dir, "hubzip.db-wal");
	out->saved_file_dedup = (int64_t)(out->logical_bytes - out->unique_file_bytes);
	out->saved_tensor_dedup = (int64_t)out->unique_file_bytes - (int64_t)out->unique_object_bytes;
	rc = query_u64(s, "SELECT coalesce(sum(plain_len - enc_len), 0) FROM blocks WHERE"
			  " base_object_id IS NOT NULL AND object_id IN (" LIVE_OBJECTS ")", v, 1);
	if (rc)
		goto out;
	out->saved_delta = (int64_t)v[0];
	out->saved_coding = (int64_t)out->unique_object_bytes - (int64_t)out->physical_bytes -
			    out->saved_delta;

	out->repo = calloc(out->repos ? out->repos : 1, sizeof(*out->repo));
	if (!out->repo) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = db_prepare(s, &st,
		"WITH rd AS (SELECT DISTINCT v.repo_id, sg.object_id FROM revisions v"
		"  JOIN revision_files rf ON rf.revision_id = v.id"
		"  JOIN segments sg ON sg.file_id = rf.file_id),"
		/* a delta's base is shared with the repos whose deltas need it */
		" ro AS (SELECT repo_id, object_id FROM rd UNION SELECT rd.repo_id,"
		"  o.base_object_id FROM rd JOIN objects o ON o.id = rd.object_id"
		"  WHERE o.base_object_id IS NOT NULL),"
		" oc AS (SELECT object_id, count(*) AS n, min(repo_id) AS first FROM ro"
		"  GROUP BY object_id),"
		" phys AS (SELECT ro.repo_id, sum(o.stored_size / oc.n + CASE WHEN"
		"  ro.repo_id = oc.first THEN o.stored_size % oc.n ELSE 0 END) AS bytes"
		"  FROM ro JOIN oc ON oc.object_id = ro.object_id"
		"  JOIN objects o ON o.id = ro.object_id GROUP BY ro.repo_id),"
		" logi AS (SELECT v.repo_id, sum(f.size) AS bytes, count(*) AS files"
		"  FROM revisions v JOIN revision_files rf ON rf.revision_id = v.id"
		"  JOIN files f ON f.id = rf.file_id GROUP BY v.repo_id)"
		" SELECT r.name, coalesce(logi.bytes, 0), coalesce(phys.bytes, 0),"
		"  coalesce(logi.files, 0), (SELECT count(*) FROM revisions v WHERE"
		"  v.repo_id = r.id) FROM repos r LEFT JOIN logi ON logi.repo_id = r.id"
		"  LEFT JOIN phys ON phys.repo_id = r.id ORDER BY r.name");
	while (!rc && sqlite3_step(st) == SQLITE_ROW && out->nrepos < out->repos) {
		struct store_repo_stats *r = &out->repo[out->nrepos];

		r->repo = hz_strdup((const char *)sqlite3_column_text(st, 0));
		if (!r->repo) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		r->logical_bytes = (uint64_t)sqlite3_column_int64(st, 1);
		r->physical_bytes = (uint64_t)sqlite3_column_int64(st, 2);
		r->files = (uint64_t)sqlite3_column_int64(st, 3);
		r->revisions = (uint64_t)sqlite3_column_int64(st, 4);
		out->nrepos++;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!rc)
		rc = family_totals(s, out);
out:
	db_exec(s, "COMMIT");
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
