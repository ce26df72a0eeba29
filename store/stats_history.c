/*
 * store/stats_history.c - the ingest history (migration 0005): one row
 * per committed ingest session, written in its commit transaction, and
 * read back oldest first.
 */
#include "store/ingest_int.h"
#include "store/stats_int.h"

#include <time.h>

#include "common/error.h"

double stats_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void store_ingest_set_source(struct store_ingest *in, int source)
{
	in->source = source == STORE_SOURCE_HTTP ? STORE_SOURCE_HTTP : STORE_SOURCE_CLI;
}

int stats_history_mark(struct store *s, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT coalesce(max(id), 0) FROM objects");

	if (rc)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		rc = db_error(s, "cannot read the highest object id");
	sqlite3_finalize(st);
	return rc;
}

int stats_history_add(struct store_ingest *in, int64_t mark, int64_t now, const char *commit)
{
	struct store *s = in->s;
	sqlite3_stmt *st = NULL;
	double secs = stats_clock() - in->started;
	int rc = db_prepare(s, &st,
		"INSERT INTO ingest_history(time, repo_id, repo, commit_id, source,"
		" logical_bytes, physical_bytes, seconds)"
		" SELECT ?1, v.repo_id, ?2, ?3, ?4,"
		"  (SELECT coalesce(sum(f.size), 0) FROM revision_files rf"
		"   JOIN files f ON f.id = rf.file_id WHERE rf.revision_id = v.id),"
		"  (SELECT coalesce(sum(stored_size), 0) FROM objects WHERE id > ?5), ?6"
		" FROM revisions v WHERE v.commit_id = ?3");

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, in->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, in->source == STORE_SOURCE_HTTP ? "http" : "cli", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, mark);
	sqlite3_bind_double(st, 6, secs > 0 ? secs : 0.0);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s, "cannot record the ingest history");
	else if (sqlite3_changes(s->db) != 1)
		rc = hz_error_set(HZ_ERROR, "cannot record the ingest history: no revision %s",
				  commit);
	sqlite3_finalize(st);
	return rc;
}

int store_history_each(struct store *s, int64_t since, int64_t after, size_t limit,
		       int (*fn)(void *payload, const struct store_history_row *row),
		       void *payload)
{
	sqlite3_stmt *st = NULL;
	int rc = db_prepare(s, &st,
		"SELECT h.id, h.time, h.repo, h.commit_id, h.source, h.logical_bytes,"
		" h.physical_bytes, h.seconds, r.id IS NOT NULL, coalesce(r.private, 0)"
		" FROM ingest_history h LEFT JOIN repos r ON r.id = h.repo_id"
		" AND r.name = h.repo WHERE h.time >= ?1 AND h.id > ?2 ORDER BY h.id LIMIT ?3");

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	while (!rc) {
		struct store_history_row row;
		int step = sqlite3_step(st);

		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = db_error(s, "cannot read the ingest history");
			break;
		}
		row.id = sqlite3_column_int64(st, 0);
		row.time = sqlite3_column_int64(st, 1);
		row.repo = (const char *)sqlite3_column_text(st, 2);
		row.commit = (const char *)sqlite3_column_text(st, 3);
		row.source = !strcmp((const char *)sqlite3_column_text(st, 4), "http")
				     ? STORE_SOURCE_HTTP : STORE_SOURCE_CLI;
		row.logical_bytes = (uint64_t)sqlite3_column_int64(st, 5);
		row.physical_bytes = (uint64_t)sqlite3_column_int64(st, 6);
		row.seconds = sqlite3_column_double(st, 7);
		row.deleted = !sqlite3_column_int(st, 8);
		row.is_private = sqlite3_column_int(st, 9);
		rc = fn(payload, &row);
	}
	sqlite3_finalize(st);
	return rc;
}
