/*
 * store/index.c - the index API of index.h: opening by name, and dispatch
 * to the backend's vtable (index_int.h).
 */
#include "store/store_int.h"
#include "store/index_int.h"

#include <string.h>

#include "common/error.h"

int db_spec_is_postgres(const char *spec)
{
	return !strncmp(spec, "postgresql://", 13) || !strncmp(spec, "postgres://", 11);
}

int db_open(struct store *s, const char *spec, int create)
{
	if (db_spec_is_postgres(spec))
		return db_pg_open(&s->db, spec);
	return db_sqlite_open(&s->db, spec, create);
}

void db_close(struct db *db)
{
	if (db)
		db->ops->close(db);
}

enum db_dialect db_dialect(struct store *s)
{
	return s->db->ops->dialect;
}

int db_error(struct store *s, const char *what)
{
	return s->db->ops->error(s->db, what);
}

int db_errcode(struct store *s)
{
	return s->db->ops->errcode(s->db);
}

int db_exec(struct store *s, const char *sql)
{
	if (s->db->ops->exec(s->db, sql))
		return db_error(s, "statement failed");
	return 0;
}

int db_prepare(struct store *s, struct db_stmt **out, const char *sql)
{
	*out = NULL;
	if (s->db->ops->prepare(s->db, out, sql))
		return db_error(s, "cannot prepare statement");
	return 0;
}

static int begin(struct store *s, enum db_tx tx)
{
	int rc = s->db->ops->begin(s->db, tx);

	if (rc == DB_TX_BUSY)
		return hz_error_set(HZ_ERROR, "index: busy");
	if (rc)
		return db_error(s, "cannot begin a transaction");
	return 0;
}

int db_begin(struct store *s)
{
	return begin(s, DB_TX_WRITE);
}

int db_try_begin(struct store *s)
{
	return begin(s, DB_TX_TRY_WRITE);
}

int db_begin_read(struct store *s)
{
	return begin(s, DB_TX_READ);
}

int db_commit(struct store *s)
{
	if (s->db->ops->exec(s->db, "COMMIT")) {
		int rc = db_error(s, "cannot commit");

		db_rollback(s);
		return rc;
	}
	return 0;
}

void db_rollback(struct store *s)
{
	if (s->db->ops->in_tx(s->db))
		s->db->ops->exec(s->db, "ROLLBACK");
}

int db_in_tx(struct store *s)
{
	return s->db->ops->in_tx(s->db);
}

int64_t db_changes(struct store *s)
{
	return s->db->ops->changes(s->db);
}

void db_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	st->ops->bind_int64(st, i, v);
}

void db_bind_int(struct db_stmt *st, int i, int v)
{
	st->ops->bind_int64(st, i, v);
}

void db_bind_double(struct db_stmt *st, int i, double v)
{
	st->ops->bind_double(st, i, v);
}

void db_bind_text(struct db_stmt *st, int i, const char *v, int n)
{
	st->ops->bind_text(st, i, v, n);
}

void db_bind_blob(struct db_stmt *st, int i, const void *v, int n)
{
	st->ops->bind_blob(st, i, v, n);
}

void db_bind_null(struct db_stmt *st, int i)
{
	st->ops->bind_null(st, i);
}

int db_step(struct db_stmt *st)
{
	return st->ops->step(st);
}

int64_t db_column_int64(struct db_stmt *st, int col)
{
	return st->ops->column_int64(st, col);
}

int db_column_int(struct db_stmt *st, int col)
{
	return (int)st->ops->column_int64(st, col);
}

double db_column_double(struct db_stmt *st, int col)
{
	return st->ops->column_double(st, col);
}

const unsigned char *db_column_text(struct db_stmt *st, int col)
{
	return st->ops->column_text(st, col);
}

const void *db_column_blob(struct db_stmt *st, int col)
{
	return st->ops->column_blob(st, col);
}

int db_column_bytes(struct db_stmt *st, int col)
{
	return st->ops->column_bytes(st, col);
}

int db_column_type(struct db_stmt *st, int col)
{
	return st->ops->column_type(st, col);
}

int db_step_id(struct store *s, struct db_stmt *st, const char *what, int64_t *out)
{
	int rc = db_step(st);

	*out = 0;
	if (rc == DB_ROW) {
		*out = db_column_int64(st, 0);
		rc = db_step(st);
	}
	rc = rc == DB_DONE ? 0 : db_error(s, what);
	db_reset(st);
	return rc;
}

void db_reset(struct db_stmt *st)
{
	st->ops->reset(st);
}

void db_finalize(struct db_stmt *st)
{
	if (st)
		st->ops->finalize(st);
}
