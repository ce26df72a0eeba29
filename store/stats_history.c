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
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT coalesce(max(id), 0) FROM objects");

	if (rc)
		return rc;
	if (db_step(st) == DB_ROW)
		*out = db_column_int64(st, 0);
	else
		rc = db_error(s, "cannot read the highest object id");
	db_finalize(st);
	return rc;
}

int stats_history_add(struct store_ingest *in, int64_t mark, int64_t now, const char *commit)
{
	struct store *s = in->s;
	struct db_stmt *st = NULL;
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
	db_bind_int64(st, 1, now);
	db_bind_text(st, 2, in->repo, -1);
	db_bind_text(st, 3, commit, -1);
	db_bind_text(st, 4, in->source == STORE_SOURCE_HTTP ? "http" : "cli", -1);
	db_bind_int64(st, 5, mark);
	db_bind_double(st, 6, secs > 0 ? secs : 0.0);
	if (db_step(st) != DB_DONE)
		rc = db_error(s, "cannot record the ingest history");
	else if (db_changes(s) != 1)
		rc = hz_error_set(HZ_ERROR, "cannot record the ingest history: no revision %s",
				  commit);
	db_finalize(st);
	return rc;
}

int store_history_each(struct store *s, int64_t since, int64_t after, size_t limit,
		       int (*fn)(void *payload, const struct store_history_row *row),
		       void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st,
		"SELECT h.id, h.time, h.repo, h.commit_id, h.source, h.logical_bytes,"
		" h.physical_bytes, h.seconds, r.id IS NOT NULL, coalesce(r.private, 0)"
		" FROM ingest_history h LEFT JOIN repos r ON r.id = h.repo_id"
		" AND r.name = h.repo WHERE h.time >= ?1 AND h.id > ?2 ORDER BY h.id LIMIT ?3");

	if (rc)
		return rc;
	db_bind_int64(st, 1, since);
	db_bind_int64(st, 2, after);
	db_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	while (!rc) {
		struct store_history_row row;
		int step = db_step(st);

		if (step == DB_DONE)
			break;
		if (step != DB_ROW) {
			rc = db_error(s, "cannot read the ingest history");
			break;
		}
		row.id = db_column_int64(st, 0);
		row.time = db_column_int64(st, 1);
		row.repo = (const char *)db_column_text(st, 2);
		row.commit = (const char *)db_column_text(st, 3);
		row.source = !strcmp((const char *)db_column_text(st, 4), "http")
				     ? STORE_SOURCE_HTTP : STORE_SOURCE_CLI;
		row.logical_bytes = (uint64_t)db_column_int64(st, 5);
		row.physical_bytes = (uint64_t)db_column_int64(st, 6);
		row.seconds = db_column_double(st, 7);
		row.deleted = !db_column_int(st, 8);
		row.is_private = db_column_int(st, 9);
		rc = fn(payload, &row);
	}
	db_finalize(st);
	return rc;
}
