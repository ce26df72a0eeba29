/*
 * store/index.h - the index: one SQL API over SQLite and PostgreSQL.
 *
 * Every SQL statement of store/ goes through these functions; nothing in
 * store/ calls sqlite3_* or libpq directly except the two backends
 * (index_sqlite.c, index_pg.c, behind the vtable of index_int.h).
 *
 * SQL is written once, in the subset both dialects accept:
 *   - placeholders `?` or `?N` (the PostgreSQL backend rewrites them to $N);
 *   - upserts as INSERT ... ON CONFLICT (cols) DO UPDATE SET c = excluded.c
 *     or ON CONFLICT DO NOTHING (never INSERT OR REPLACE / OR IGNORE);
 *   - new row ids with INSERT ... RETURNING id, read as a row;
 *   - no schema prefixes (main., temp.): TEMP tables are made with
 *     CREATE TEMP TABLE and named unqualified;
 *   - conditions are boolean expressions (x <> 0, not a bare integer column),
 *     a constant false is 1 = 0; comparisons read back as integers 0/1;
 *   - scalar greatest/least, group_concat, x'..' literals, PRAGMAs and
 *     other one-dialect features go behind db_dialect(s) with one string
 *     per dialect.
 * Integers are 64-bit (BIGINT on PostgreSQL), reals doubles, text UTF-8,
 * blobs bytes (BYTEA).
 *
 * Transactions: db_begin() starts a write transaction and waits for the
 * store's single write lock (BEGIN IMMEDIATE; on PostgreSQL BEGIN and a
 * transaction-scoped advisory lock shared by every process using the
 * database), so that what a writer checks stays true until it commits.
 * db_begin_read() starts a read transaction: one snapshot for all its
 * statements.  Outside a transaction each statement commits on its own.
 *
 * Errors: functions returning int return 0 or a negative HZ_E* code with
 * the message set (common/error.h); db_step returns DB_ROW or DB_DONE, or
 * DB_CONSTRAINT / DB_ERROR with the backend's message kept for db_error().
 */
#ifndef HZ_STORE_INDEX_H
#define HZ_STORE_INDEX_H

#include <stdint.h>

struct store;
struct db;		/* a connection (struct store holds one) */
struct db_stmt;		/* a prepared statement of one connection */

enum db_dialect { DB_SQLITE = 1, DB_POSTGRES = 2 };

/* db_step results (the values are SQLite's) */
enum { DB_ERROR = 1, DB_CONSTRAINT = 19, DB_ROW = 100, DB_DONE = 101 };
/* db_column_type results */
enum { DB_INTEGER = 1, DB_FLOAT = 2, DB_TEXT = 3, DB_BLOB = 4, DB_NULL = 5 };

/* The default index of a store directory: the SQLite file in it. */
#define DB_SQLITE_FILE "hubzip.db"

/* Opens the index named by spec into s->db: a postgresql:// or
 * postgres:// URL (a libpq connection URI), or else the path of a SQLite
 * file, created if create is set.  0 or an HZ_E* code. */
int db_open(struct store *s, const char *spec, int create);
/* Closes s->db (NULL: nothing), finalizing nothing: statements must be
 * finalized first. */
void db_close(struct db *db);
/* 1 if spec names a PostgreSQL database. */
int db_spec_is_postgres(const char *spec);

enum db_dialect db_dialect(struct store *s);

/* Runs one or more ;-separated statements without parameters or rows. */
int db_exec(struct store *s, const char *sql);
/* Prepares one statement; *out is owned by the caller (db_finalize). */
int db_prepare(struct store *s, struct db_stmt **out, const char *sql);
/* Sets the error message "index: WHAT: <backend message>" from the last
 * failure on the connection and returns its HZ_E* code. */
int db_error(struct store *s, const char *what);
/* DB_CONSTRAINT if the last failure violated a constraint, else DB_ERROR */
int db_errcode(struct store *s);

/* Write transaction, waiting for the write lock (see above). */
int db_begin(struct store *s);
/* Write transaction only if the write lock is free now: else HZ_ERROR,
 * "index: busy" (a caller that can do without the write goes on). */
int db_try_begin(struct store *s);
/* Read transaction: one snapshot. */
int db_begin_read(struct store *s);
int db_commit(struct store *s);
/* Rolls back the open transaction, if any; never fails. */
void db_rollback(struct store *s);
/* 1 inside a transaction */
int db_in_tx(struct store *s);
/* Rows changed by the last INSERT, UPDATE or DELETE statement. */
int64_t db_changes(struct store *s);

/* Parameters are numbered from 1; values are copied or must stay valid
 * until the next db_step.  Bindings persist across db_reset. */
void db_bind_int64(struct db_stmt *st, int i, int64_t v);
void db_bind_int(struct db_stmt *st, int i, int v);
void db_bind_double(struct db_stmt *st, int i, double v);
/* n < 0: up to the NUL */
void db_bind_text(struct db_stmt *st, int i, const char *v, int n);
void db_bind_blob(struct db_stmt *st, int i, const void *v, int n);
void db_bind_null(struct db_stmt *st, int i);

/* Runs the statement (first call) or moves to its next row: DB_ROW,
 * DB_DONE, DB_CONSTRAINT or DB_ERROR. */
int db_step(struct db_stmt *st);
/* Columns of the current row, numbered from 0.  A pointer returned stays
 * valid until the next db_step, db_reset or db_finalize.  NULL reads as 0
 * or a NULL pointer. */
int64_t db_column_int64(struct db_stmt *st, int col);
int db_column_int(struct db_stmt *st, int col);
double db_column_double(struct db_stmt *st, int col);
const unsigned char *db_column_text(struct db_stmt *st, int col);
const void *db_column_blob(struct db_stmt *st, int col);
/* bytes of the text or blob value */
int db_column_bytes(struct db_stmt *st, int col);
int db_column_type(struct db_stmt *st, int col);
/* Runs an INSERT ... RETURNING id (at most one row) to completion and
 * resets it: *out is the id, or 0 if no row was inserted (ON CONFLICT DO
 * NOTHING).  0 or the HZ_E* code of db_error(s, what). */
int db_step_id(struct store *s, struct db_stmt *st, const char *what, int64_t *out);
/* Ready to run again (with the same or new bindings). */
void db_reset(struct db_stmt *st);
/* NULL is a no-op. */
void db_finalize(struct db_stmt *st);

#endif
