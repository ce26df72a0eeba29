/*
 * store/index_int.h - the vtable an index backend implements (index.h is
 * the API over it).  A backend embeds struct db first in its connection
 * and struct db_stmt first in its statements; index.c dispatches.
 */
#ifndef HZ_STORE_INDEX_INT_H
#define HZ_STORE_INDEX_INT_H

#include <stdint.h>

#include "store/index.h"

enum db_tx { DB_TX_WRITE, DB_TX_TRY_WRITE, DB_TX_READ };

#define DB_OPS_VERSION 1
#define DB_TX_BUSY 2

struct db_ops {
	int version;		/* DB_OPS_VERSION */
	enum db_dialect dialect;
	void (*close)(struct db *db);
	/* 0, or non-zero with the failure kept for error() */
	int (*exec)(struct db *db, const char *sql);
	int (*prepare)(struct db *db, struct db_stmt **out, const char *sql);
	/* 0; DB_TX_BUSY for DB_TX_TRY_WRITE when the lock is taken; other
	 * non-zero with the failure kept for error() */
	int (*begin)(struct db *db, enum db_tx tx);
	int (*in_tx)(struct db *db);
	int64_t (*changes)(struct db *db);
	/* sets the message "index: WHAT: <backend message>", returns HZ_E* */
	int (*error)(struct db *db, const char *what);
	int (*errcode)(struct db *db);	/* DB_CONSTRAINT or DB_ERROR */

	void (*bind_int64)(struct db_stmt *st, int i, int64_t v);
	void (*bind_double)(struct db_stmt *st, int i, double v);
	void (*bind_text)(struct db_stmt *st, int i, const char *v, int n);
	void (*bind_blob)(struct db_stmt *st, int i, const void *v, int n);
	void (*bind_null)(struct db_stmt *st, int i);
	int (*step)(struct db_stmt *st);
	int64_t (*column_int64)(struct db_stmt *st, int col);
	double (*column_double)(struct db_stmt *st, int col);
	const unsigned char *(*column_text)(struct db_stmt *st, int col);
	const void *(*column_blob)(struct db_stmt *st, int col);
	int (*column_bytes)(struct db_stmt *st, int col);
	int (*column_type)(struct db_stmt *st, int col);
	void (*reset)(struct db_stmt *st);
	void (*finalize)(struct db_stmt *st);
};

struct db {
	const struct db_ops *ops;
};

struct db_stmt {
	const struct db_ops *ops;
	struct db *db;
};

/* index_sqlite.c: opens (creating if asked) the SQLite file path */
int db_sqlite_open(struct db **out, const char *path, int create);
/* index_pg.c: connects to the libpq connection URI */
int db_pg_open(struct db **out, const char *uri);

#endif
