/*
 * store/db.c - the SQLite connection: pragmas, statements, transactions.
 * sqlite result codes are translated to HZ_E* codes here, at the edge.
 */
#include "store/store_int.h"

#include "common/error.h"

int db_error(struct store *s, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db);
	int code = HZ_ERROR;

	if (ext == SQLITE_FULL || (ext & 0xff) == SQLITE_FULL)
		code = HZ_ENOSPC;
	else if ((ext & 0xff) == SQLITE_CORRUPT || (ext & 0xff) == SQLITE_NOTADB)
		code = HZ_ECORRUPT;
	return hz_error_set(code, "index: %s: %s", what, sqlite3_errmsg(s->db));
}

int db_open(struct store *s, const char *path)
{
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_NOMUTEX,
				 NULL);

	if (rc != SQLITE_OK) {
		if (!s->db)
			return hz_error_set(HZ_ENOMEM, "cannot open index '%s'", path);
		return db_error(s, "cannot open index");
	}
	sqlite3_busy_timeout(s->db, DB_BUSY_TIMEOUT_MS);
	/* keep -wal and -shm between processes: otherwise every CLI run
	 * creates, zero-fills and at exit checkpoints and unlinks both (a
	 * fifth of `hubzip cat`'s system time on a small file).  The size
	 * limit below makes the last connection truncate the WAL to 0 bytes
	 * when it closes: a kept WAL full of checkpointed frames would be
	 * re-read whole by the next process to open the index. */
	sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &(int){ 1 });
	/* WAL for concurrent readers; FULL so that a commit is durable when
	 * acknowledged. */
	rc = db_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			" PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
			" PRAGMA journal_size_limit=16777216;");
	return rc;
}

int db_exec(struct store *s, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		int rc = db_error(s, "statement failed");

		sqlite3_free(err);
		return rc;
	}
	return 0;
}

int db_prepare(struct store *s, sqlite3_stmt **out, const char *sql)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
		return db_error(s, "cannot prepare statement");
	return 0;
}

int db_begin(struct store *s)
{
	return db_exec(s, "BEGIN IMMEDIATE");
}

int db_commit(struct store *s)
{
	return db_exec(s, "COMMIT");
}

void db_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
