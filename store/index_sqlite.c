/*
 * store/index_sqlite.c - the SQLite index backend (index_int.h): a file
 * in WAL mode, write transactions as BEGIN IMMEDIATE.  sqlite result codes
 * are translated to HZ_E* codes here, at the edge.
 */
#include "store/index_int.h"

#include <sqlite3.h>
#include <stdlib.h>

#include "common/error.h"

#define BUSY_TIMEOUT_MS 30000	/* how long a statement waits for a lock */

struct sq_db {
	struct db base;
	sqlite3 *h;
};

struct sq_stmt {
	struct db_stmt base;
	sqlite3_stmt *st;
};

static const struct db_ops sq_ops;

static sqlite3 *H(struct db *db)
{
	return ((struct sq_db *)db)->h;
}

static sqlite3_stmt *ST(struct db_stmt *st)
{
	return ((struct sq_stmt *)st)->st;
}

static int sq_error(struct db *db, const char *what)
{
	int ext = sqlite3_extended_errcode(H(db));
	int code = HZ_ERROR;

	if ((ext & 0xff) == SQLITE_FULL)
		code = HZ_ENOSPC;
	else if ((ext & 0xff) == SQLITE_CORRUPT || (ext & 0xff) == SQLITE_NOTADB)
		code = HZ_ECORRUPT;
	return hz_error_set(code, "index: %s: %s", what, sqlite3_errmsg(H(db)));
}

static int sq_errcode(struct db *db)
{
	return (sqlite3_extended_errcode(H(db)) & 0xff) == SQLITE_CONSTRAINT ? DB_CONSTRAINT
									     : DB_ERROR;
}

static int sq_exec(struct db *db, const char *sql)
{
	return sqlite3_exec(H(db), sql, NULL, NULL, NULL) != SQLITE_OK;
}

static void sq_close(struct db *db)
{
	sqlite3_close(H(db));
	free(db);
}

int db_sqlite_open(struct db **out, const char *path, int create)
{
	struct sq_db *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	d->base.ops = &sq_ops;
	rc = sqlite3_open_v2(path, &d->h,
			     SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		if (!d->h) {
			free(d);
			return hz_error_set(HZ_ENOMEM, "cannot open index '%s'", path);
		}
		rc = sq_error(&d->base, "cannot open index");
		goto fail;
	}
	sqlite3_busy_timeout(d->h, BUSY_TIMEOUT_MS);
	/* keep -wal and -shm between processes: otherwise every CLI run
	 * creates, zero-fills and at exit checkpoints and unlinks both (a
	 * fifth of `hubzip cat`'s system time on a small file).  The size
	 * limit below makes the last connection truncate the WAL to 0 bytes
	 * when it closes: a kept WAL full of checkpointed frames would be
	 * re-read whole by the next process to open the index. */
	sqlite3_file_control(d->h, "main", SQLITE_FCNTL_PERSIST_WAL, &(int){ 1 });
	/* WAL for concurrent readers; FULL so that a commit is durable when
	 * acknowledged. */
	if (sq_exec(&d->base, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			      " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
			      " PRAGMA journal_size_limit=16777216;")) {
		rc = sq_error(&d->base, "statement failed");
		goto fail;
	}
	*out = &d->base;
	return 0;
fail:
	sq_close(&d->base);
	return rc;
}

static int sq_prepare(struct db *db, struct db_stmt **out, const char *sql)
{
	struct sq_stmt *st = calloc(1, sizeof(*st));

	if (!st)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(H(db), sql, -1, &st->st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st->st);
		free(st);
		return 1;
	}
	st->base.ops = &sq_ops;
	st->base.db = db;
	*out = &st->base;
	return 0;
}

static int sq_begin(struct db *db, enum db_tx tx)
{
	int rc;

	if (tx == DB_TX_READ)
		return sq_exec(db, "BEGIN");
	if (tx == DB_TX_WRITE)
		return sq_exec(db, "BEGIN IMMEDIATE");
	sqlite3_busy_timeout(H(db), 0);
	rc = sqlite3_exec(H(db), "BEGIN IMMEDIATE", NULL, NULL, NULL);
	sqlite3_busy_timeout(H(db), BUSY_TIMEOUT_MS);
	if ((rc & 0xff) == SQLITE_BUSY)
		return DB_TX_BUSY;
	return rc != SQLITE_OK;
}

static int sq_in_tx(struct db *db)
{
	return !sqlite3_get_autocommit(H(db));
}

static int64_t sq_changes(struct db *db)
{
	return sqlite3_changes(H(db));
}

static void sq_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	sqlite3_bind_int64(ST(st), i, v);
}

static void sq_bind_double(struct db_stmt *st, int i, double v)
{
	sqlite3_bind_double(ST(st), i, v);
}

static void sq_bind_text(struct db_stmt *st, int i, const char *v, int n)
{
	sqlite3_bind_text(ST(st), i, v, n, SQLITE_STATIC);
}

static void sq_bind_blob(struct db_stmt *st, int i, const void *v, int n)
{
	sqlite3_bind_blob(ST(st), i, v, n, SQLITE_STATIC);
}

static void sq_bind_null(struct db_stmt *st, int i)
{
	sqlite3_bind_null(ST(st), i);
}

static int sq_step(struct db_stmt *st)
{
	int rc = sqlite3_step(ST(st));

	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE)
		return DB_DONE;
	return (rc & 0xff) == SQLITE_CONSTRAINT ? DB_CONSTRAINT : DB_ERROR;
}

static int64_t sq_column_int64(struct db_stmt *st, int col)
{
	return sqlite3_column_int64(ST(st), col);
}

static double sq_column_double(struct db_stmt *st, int col)
{
	return sqlite3_column_double(ST(st), col);
}

static const unsigned char *sq_column_text(struct db_stmt *st, int col)
{
	return sqlite3_column_text(ST(st), col);
}

static const void *sq_column_blob(struct db_stmt *st, int col)
{
	return sqlite3_column_blob(ST(st), col);
}

static int sq_column_bytes(struct db_stmt *st, int col)
{
	return sqlite3_column_bytes(ST(st), col);
}

static int sq_column_type(struct db_stmt *st, int col)
{
	switch (sqlite3_column_type(ST(st), col)) {
	case SQLITE_INTEGER:
		return DB_INTEGER;
	case SQLITE_FLOAT:
		return DB_FLOAT;
	case SQLITE_TEXT:
		return DB_TEXT;
	case SQLITE_BLOB:
		return DB_BLOB;
	default:
		return DB_NULL;
	}
}

static void sq_reset(struct db_stmt *st)
{
	sqlite3_reset(ST(st));
}

static void sq_finalize(struct db_stmt *st)
{
	sqlite3_finalize(ST(st));
	free(st);
}

static const struct db_ops sq_ops = {
	.version = DB_OPS_VERSION,
	.dialect = DB_SQLITE,
	.close = sq_close,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.begin = sq_begin,
	.in_tx = sq_in_tx,
	.changes = sq_changes,
	.error = sq_error,
	.errcode = sq_errcode,
	.bind_int64 = sq_bind_int64,
	.bind_double = sq_bind_double,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.column_int64 = sq_column_int64,
	.column_double = sq_column_double,
	.column_text = sq_column_text,
	.column_blob = sq_column_blob,
	.column_bytes = sq_column_bytes,
	.column_type = sq_column_type,
	.reset = sq_reset,
	.finalize = sq_finalize,
};
