/*
 * store/index_pg.c - the PostgreSQL index backend (index_int.h) on libpq.
 *
 * libpq is dlopen()ed when a postgresql:// index is opened, as api/dynlib.c
 * does for libmicrohttpd: loaded at startup, it and what it pulls in
 * (GSSAPI, LDAP, OpenSSL's TLS) cost every CLI run ~2.7 ms of CPU, twice
 * what `hubzip ls` of a small SQLite store takes (perf stat, 2.7 -> 5.5 ms).
 *
 * SQL arrives in the common subset of index.h with ? / ?N placeholders;
 * they are rewritten to $N.  A statement is sent at its first db_step,
 * when the types of its parameters are known (int8, float8, text, bytea;
 * NULL is left to the server to infer), and prepared once per connection
 * for each SQL text and parameter types.  Results come as text (bytea in
 * hex) and are read whole, so that a caller may run other statements
 * between the rows of one, as on SQLite.
 *
 * Write transactions take a transaction-scoped advisory lock, one for the
 * whole database: writers in every process using the database serialise
 * as on SQLite with BEGIN IMMEDIATE, and what a writer checked holds until
 * it commits (statements see what committed before they start: READ
 * COMMITTED).  Read transactions are REPEATABLE READ: one snapshot.
 */
#include "store/index_int.h"

#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#ifndef HZ_PQ_SONAME
#define HZ_PQ_SONAME "libpq.so.5"
#endif

/* the one advisory lock of write transactions ("hubzip" in ASCII) */
#define WRITE_LOCK "114853372651888"

#define PQ_FUNCS(X)                                                           \
	X(PQconnectdb) X(PQfinish) X(PQreset) X(PQstatus)                     \
	X(PQtransactionStatus) X(PQerrorMessage) X(PQsetNoticeProcessor)      \
	X(PQexec) X(PQprepare) X(PQexecPrepared) X(PQresultStatus)            \
	X(PQresultErrorMessage) X(PQresultErrorField) X(PQntuples)            \
	X(PQnfields) X(PQftype) X(PQcmdStatus) X(PQcmdTuples) X(PQgetvalue)   \
	X(PQgetlength) X(PQgetisnull) X(PQclear)

#define PQ_DEFINE(f) static __typeof__(f) *pq_##f;
PQ_FUNCS(PQ_DEFINE)
#undef PQ_DEFINE

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static int pq_loaded;
static char pq_why[256];

/* dlsym() returns void *; POSIX guarantees the conversion works */
#define PQ_RESOLVE(f)                                                         \
	if (ok) {                                                             \
		void *p = dlsym(h, #f);                                       \
		if (p)                                                        \
			memcpy(&pq_##f, &p, sizeof(p));                       \
		else                                                          \
			ok = 0, snprintf(pq_why, sizeof(pq_why),              \
					 "%s has no symbol %s", HZ_PQ_SONAME, #f); \
	}

static void pq_load(void)
{
	void *h = dlopen(HZ_PQ_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	int ok = h != NULL;

	if (!h)
		snprintf(pq_why, sizeof(pq_why), "%s", dlerror());
	PQ_FUNCS(PQ_RESOLVE)
	pq_loaded = ok;
}

/* type OIDs (catalog/pg_type_d.h) */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23,
       OID_OID = 26, OID_TEXT = 25, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
       OID_NUMERIC = 1700 };

struct pg_prep {
	char *sql;		/* translated */
	char *sig;		/* parameter types, one letter each */
	char name[16];
};

struct pg_db {
	struct db base;
	PGconn *c;
	char err[1024];
	char state[6];		/* SQLSTATE of the last failure */
	int64_t changes;
	struct pg_prep *preps;
	size_t nprep, cap;
};

enum { ST_NEW, ST_ROWS, ST_DONE };

struct pg_stmt {
	struct db_stmt base;
	char *sql;		/* with $N placeholders */
	int n;			/* parameters */
	char **val;		/* n values, malloc'd; NULL for NULL */
	int *len;
	int *fmt;		/* 1 binary (bytea), 0 text */
	char *sig;		/* n + 1 type letters: i d t b n */
	PGresult *res;
	int state, row, nrows, ncol;
	unsigned char **blob;	/* ncol decoded bytea values of the row */
	int *bloblen;
};

static const struct db_ops pg_ops;

static struct pg_db *D(struct db *db)
{
	return (struct pg_db *)db;
}

static struct pg_stmt *S(struct db_stmt *st)
{
	return (struct pg_stmt *)st;
}

static void keep_error(struct pg_db *d, const PGresult *res)
{
	const char *msg = res ? pq_PQresultErrorMessage(res) : "";
	const char *state = res ? pq_PQresultErrorField(res, 'C') : NULL;
	size_t n;

	if (!msg || !*msg)
		msg = pq_PQerrorMessage(d->c);
	snprintf(d->err, sizeof(d->err), "%s", msg && *msg ? msg : "unknown error");
	n = strlen(d->err);
	while (n && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
		d->err[--n] = '\0';
	snprintf(d->state, sizeof(d->state), "%s", state ? state : "");
}

static int pg_error(struct db *db, const char *what)
{
	struct pg_db *d = D(db);
	int code = HZ_ERROR;

	if (!strcmp(d->state, "53100"))
		code = HZ_ENOSPC;
	else if (!strncmp(d->state, "XX001", 5) || !strncmp(d->state, "XX002", 5))
		code = HZ_ECORRUPT;
	return hz_error_set(code, "index: %s: %s", what, d->err);
}

static int pg_errcode(struct db *db)
{
	return !strncmp(D(db)->state, "23", 2) ? DB_CONSTRAINT : DB_ERROR;
}

/* Runs sql (no parameters); 0 or 1 with the failure kept.  *out, if
 * given, receives a result with rows. */
static int run(struct pg_db *d, const char *sql, PGresult **out)
{
	PGresult *res = pq_PQexec(d->c, sql);
	int st = res ? pq_PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		keep_error(d, res);
		pq_PQclear(res);
		return 1;
	}
	if (out)
		*out = res;
	else
		pq_PQclear(res);
	return 0;
}

/* A server restarted or a connection dropped between transactions: connect
 * again (its prepared statements are gone with it). */
static void reconnect_if_lost(struct pg_db *d)
{
	if (pq_PQstatus(d->c) != CONNECTION_BAD)
		return;
	pq_PQreset(d->c);
	for (size_t i = 0; i < d->nprep; i++) {
		free(d->preps[i].sql);
		free(d->preps[i].sig);
	}
	d->nprep = 0;
}

static int pg_exec(struct db *db, const char *sql)
{
	reconnect_if_lost(D(db));
	return run(D(db), sql, NULL);
}

static void pg_close(struct db *db)
{
	struct pg_db *d = D(db);

	for (size_t i = 0; i < d->nprep; i++) {
		free(d->preps[i].sql);
		free(d->preps[i].sig);
	}
	free(d->preps);
	if (d->c)
		pq_PQfinish(d->c);
	free(d);
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int db_pg_open(struct db **out, const char *uri)
{
	struct pg_db *d;

	*out = NULL;
	pthread_once(&pq_once, pq_load);
	if (!pq_loaded)
		return hz_error_set(HZ_EUNSUPPORTED,
				    "a PostgreSQL index needs libpq (Debian package libpq5): %s",
				    pq_why);
	d = calloc(1, sizeof(*d));
	if (!d)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	d->base.ops = &pg_ops;
	d->c = pq_PQconnectdb(uri);
	if (!d->c || pq_PQstatus(d->c) != CONNECTION_OK) {
		char why[512];
		size_t n;

		snprintf(why, sizeof(why), "%s", d->c ? pq_PQerrorMessage(d->c) : "out of memory");
		n = strlen(why);
		while (n && (why[n - 1] == '\n' || why[n - 1] == ' '))
			why[--n] = '\0';
		pg_close(&d->base);
		return hz_error_set(HZ_ERROR, "cannot connect to the index: %s", why);
	}
	/* NOTICEs (DROP TABLE IF EXISTS of a missing table...) are not ours
	 * to print */
	pq_PQsetNoticeProcessor(d->c, quiet, NULL);
	/* a writer waits for the write lock as long as SQLite's busy
	 * timeout (30 s), then fails */
	if (run(d, "SET client_min_messages = warning; SET TIME ZONE 'UTC';"
		   " SET lock_timeout = '30s'", NULL)) {
		int rc = pg_error(&d->base, "cannot set up the connection");

		pg_close(&d->base);
		return rc;
	}
	*out = &d->base;
	return 0;
}

/* ? and ?N to $N outside quotes and comments; *nparam is the largest. */
static char *translate(const char *sql, int *nparam)
{
	size_t n = strlen(sql);
	char *out = malloc(n * 4 + 1), *o = out;
	int max = 0;
	char q = 0;

	if (!out)
		return NULL;
	for (const char *p = sql; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
			*o++ = *p;
		} else if (*p == '\'' || *p == '"') {
			q = *p;
			*o++ = *p;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*o++ = *p++;
			if (!*p)
				break;
			*o++ = *p;
		} else if (*p == '?') {
			int k;

			if (p[1] >= '0' && p[1] <= '9') {
				char *end;

				k = (int)strtol(p + 1, &end, 10);
				p = end - 1;
			} else {
				k = max + 1;
			}
			if (k > max)
				max = k;
			o += sprintf(o, "$%d", k);
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	*nparam = max;
	return out;
}

static void clear_result(struct pg_stmt *st)
{
	for (int i = 0; st->blob && i < st->ncol; i++) {
		free(st->blob[i]);
		st->blob[i] = NULL;
	}
	free(st->blob);
	free(st->bloblen);
	st->blob = NULL;
	st->bloblen = NULL;
	pq_PQclear(st->res);
	st->res = NULL;
	st->ncol = 0;
}

static int pg_prepare(struct db *db, struct db_stmt **out, const char *sql)
{
	struct pg_stmt *st = calloc(1, sizeof(*st));

	if (!st)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	st->base.ops = &pg_ops;
	st->base.db = db;
	st->sql = translate(sql, &st->n);
	if (st->sql && st->n) {
		st->val = calloc((size_t)st->n, sizeof(*st->val));
		st->len = calloc((size_t)st->n, sizeof(*st->len));
		st->fmt = calloc((size_t)st->n, sizeof(*st->fmt));
	}
	st->sig = malloc((size_t)st->n + 1);
	if (!st->sql || !st->sig || (st->n && (!st->val || !st->len || !st->fmt))) {
		free(st->sql);
		free(st->val);
		free(st->len);
		free(st->fmt);
		free(st->sig);
		free(st);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	memset(st->sig, 'n', (size_t)st->n);
	st->sig[st->n] = '\0';
	*out = &st->base;
	return 0;
}

static void set_param(struct pg_stmt *st, int i, char type, const void *v, size_t n, int fmt)
{
	char *copy = NULL;

	if (i < 1 || i > st->n)
		return;
	if (v) {
		copy = malloc(n + 1);
		if (copy) {
			memcpy(copy, v, n);
			copy[n] = '\0';
		}
		/* out of memory: bound as NULL, which a NOT NULL column
		 * refuses */
	}
	free(st->val[i - 1]);
	st->val[i - 1] = copy;
	st->len[i - 1] = (int)n;
	st->fmt[i - 1] = fmt;
	st->sig[i - 1] = copy ? type : 'n';
}

static void pg_bind_int64(struct db_stmt *st, int i, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);

	set_param(S(st), i, 'i', buf, (size_t)n, 0);
}

static void pg_bind_double(struct db_stmt *st, int i, double v)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "%.17g", v);

	set_param(S(st), i, 'd', buf, (size_t)n, 0);
}

static void pg_bind_text(struct db_stmt *st, int i, const char *v, int n)
{
	set_param(S(st), i, 't', v, n < 0 ? strlen(v) : (size_t)n, 0);
}

static void pg_bind_blob(struct db_stmt *st, int i, const void *v, int n)
{
	set_param(S(st), i, 'b', v ? v : "", (size_t)n, 1);
}

static void pg_bind_null(struct db_stmt *st, int i)
{
	set_param(S(st), i, 'n', NULL, 0, 0);
}

static Oid type_oid(char t)
{
	switch (t) {
	case 'i':
		return OID_INT8;
	case 'd':
		return OID_FLOAT8;
	case 't':
		return OID_TEXT;
	case 'b':
		return OID_BYTEA;
	default:
		return 0;	/* the server infers it */
	}
}

/* The name of the statement prepared for st's SQL and parameter types,
 * preparing it on first use; NULL on failure (kept). */
static const char *prepared(struct pg_db *d, struct pg_stmt *st)
{
	struct pg_prep *p;
	PGresult *res;
	Oid *types;

	for (size_t i = 0; i < d->nprep; i++)
		if (!strcmp(d->preps[i].sig, st->sig) && !strcmp(d->preps[i].sql, st->sql))
			return d->preps[i].name;
	if (d->nprep == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct pg_prep *v = realloc(d->preps, cap * sizeof(*v));

		if (!v) {
			snprintf(d->err, sizeof(d->err), "out of memory");
			d->state[0] = '\0';
			return NULL;
		}
		d->preps = v;
		d->cap = cap;
	}
	p = &d->preps[d->nprep];
	snprintf(p->name, sizeof(p->name), "hz%zu", d->nprep);
	types = calloc((size_t)st->n + 1, sizeof(*types));
	if (!types) {
		snprintf(d->err, sizeof(d->err), "out of memory");
		d->state[0] = '\0';
		return NULL;
	}
	for (int i = 0; i < st->n; i++)
		types[i] = type_oid(st->sig[i]);
	res = pq_PQprepare(d->c, p->name, st->sql, st->n, types);
	free(types);
	if (!res || pq_PQresultStatus(res) != PGRES_COMMAND_OK) {
		keep_error(d, res);
		pq_PQclear(res);
		return NULL;
	}
	pq_PQclear(res);
	p->sql = strdup(st->sql);
	p->sig = strdup(st->sig);
	if (!p->sql || !p->sig) {
		free(p->sql);
		free(p->sig);
		snprintf(d->err, sizeof(d->err), "out of memory");
		d->state[0] = '\0';
		return NULL;
	}
	d->nprep++;
	return p->name;
}

static int execute(struct pg_stmt *st)
{
	struct pg_db *d = D(st->base.db);
	const char *name;
	const char *cmd;
	PGresult *res;
	int status;

	if (pq_PQtransactionStatus(d->c) == PQTRANS_IDLE)
		reconnect_if_lost(d);
	name = prepared(d, st);
	if (!name)
		return pg_errcode(&d->base);
	res = pq_PQexecPrepared(d->c, name, st->n, (const char *const *)st->val, st->len,
				st->fmt, 0);
	status = res ? pq_PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		keep_error(d, res);
		pq_PQclear(res);
		st->state = ST_DONE;
		return pg_errcode(&d->base);
	}
	cmd = pq_PQcmdStatus(res);
	if (!strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) ||
	    !strncmp(cmd, "DELETE", 6))
		d->changes = atoll(pq_PQcmdTuples(res));
	st->res = res;
	st->nrows = status == PGRES_TUPLES_OK ? pq_PQntuples(res) : 0;
	st->ncol = pq_PQnfields(res);
	if (st->ncol) {
		st->blob = calloc((size_t)st->ncol, sizeof(*st->blob));
		st->bloblen = calloc((size_t)st->ncol, sizeof(*st->bloblen));
		if (!st->blob || !st->bloblen) {
			clear_result(st);
			snprintf(d->err, sizeof(d->err), "out of memory");
			d->state[0] = '\0';
			st->state = ST_DONE;
			return DB_ERROR;
		}
	}
	st->row = -1;
	st->state = ST_ROWS;
	return 0;
}

static int pg_step(struct db_stmt *base)
{
	struct pg_stmt *st = S(base);
	int rc;

	if (st->state == ST_DONE) {	/* as sqlite3_step: runs it again */
		clear_result(st);
		st->state = ST_NEW;
	}
	if (st->state == ST_NEW) {
		rc = execute(st);
		if (rc)
			return rc;
	}
	for (int i = 0; i < st->ncol; i++) {
		free(st->blob[i]);
		st->blob[i] = NULL;
	}
	if (++st->row < st->nrows)
		return DB_ROW;
	st->state = ST_DONE;
	return DB_DONE;
}

static int valid(struct pg_stmt *st, int col)
{
	return st->res && st->state == ST_ROWS && st->row >= 0 && st->row < st->nrows &&
	       col >= 0 && col < st->ncol;
}

static const char *value(struct pg_stmt *st, int col)
{
	if (!valid(st, col) || pq_PQgetisnull(st->res, st->row, col))
		return NULL;
	return pq_PQgetvalue(st->res, st->row, col);
}

static int64_t pg_column_int64(struct db_stmt *base, int col)
{
	struct pg_stmt *st = S(base);
	const char *v = value(st, col);

	if (!v)
		return 0;
	if (pq_PQftype(st->res, col) == OID_BOOL)
		return v[0] == 't';
	if (pq_PQftype(st->res, col) == OID_FLOAT8 || pq_PQftype(st->res, col) == OID_FLOAT4 ||
	    pq_PQftype(st->res, col) == OID_NUMERIC)
		return (int64_t)strtod(v, NULL);
	return strtoll(v, NULL, 10);
}

static double pg_column_double(struct db_stmt *base, int col)
{
	struct pg_stmt *st = S(base);
	const char *v = value(st, col);

	if (!v)
		return 0;
	if (pq_PQftype(st->res, col) == OID_BOOL)
		return v[0] == 't';
	return strtod(v, NULL);
}

static const unsigned char *pg_column_text(struct db_stmt *base, int col)
{
	return (const unsigned char *)value(S(base), col);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* a bytea column's value, decoded from its hex text ("\x0a1b...") */
static const unsigned char *bytea(struct pg_stmt *st, int col, int *len)
{
	const char *v = value(st, col);
	size_t n;
	unsigned char *b;

	*len = 0;
	if (!v)
		return NULL;
	if (st->blob[col]) {
		*len = st->bloblen[col];
		return st->blob[col];
	}
	if (v[0] != '\\' || v[1] != 'x')
		return NULL;
	v += 2;
	n = strlen(v) / 2;
	b = malloc(n ? n : 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(b);
			return NULL;
		}
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	st->blob[col] = b;
	st->bloblen[col] = (int)n;
	*len = (int)n;
	return b;
}

static const void *pg_column_blob(struct db_stmt *base, int col)
{
	struct pg_stmt *st = S(base);
	int n;

	if (valid(st, col) && pq_PQftype(st->res, col) == OID_BYTEA)
		return bytea(st, col, &n);
	return value(st, col);
}

static int pg_column_bytes(struct db_stmt *base, int col)
{
	struct pg_stmt *st = S(base);
	int n;

	if (!value(st, col))
		return 0;
	if (pq_PQftype(st->res, col) == OID_BYTEA) {
		bytea(st, col, &n);
		return n;
	}
	return pq_PQgetlength(st->res, st->row, col);
}

static int pg_column_type(struct db_stmt *base, int col)
{
	struct pg_stmt *st = S(base);

	if (!value(st, col))
		return DB_NULL;
	switch (pq_PQftype(st->res, col)) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		return DB_INTEGER;
	case OID_FLOAT4:
	case OID_FLOAT8:
	case OID_NUMERIC:
		return DB_FLOAT;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

static void pg_reset(struct db_stmt *base)
{
	struct pg_stmt *st = S(base);

	clear_result(st);
	st->state = ST_NEW;
}

static void pg_finalize(struct db_stmt *base)
{
	struct pg_stmt *st = S(base);

	clear_result(st);
	for (int i = 0; i < st->n; i++)
		free(st->val[i]);
	free(st->val);
	free(st->len);
	free(st->fmt);
	free(st->sig);
	free(st->sql);
	free(st);
}

static int pg_begin(struct db *db, enum db_tx tx)
{
	struct pg_db *d = D(db);
	PGresult *res = NULL;
	int busy;

	reconnect_if_lost(d);
	if (tx == DB_TX_READ)
		return run(d, "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL);
	if (tx == DB_TX_WRITE)
		return run(d, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK ")", NULL);
	if (run(d, "BEGIN; SELECT pg_try_advisory_xact_lock(" WRITE_LOCK ")", &res))
		return 1;
	busy = pq_PQntuples(res) != 1 || pq_PQgetvalue(res, 0, 0)[0] != 't';
	pq_PQclear(res);
	if (busy) {
		run(d, "ROLLBACK", NULL);
		return DB_TX_BUSY;
	}
	return 0;
}

static int pg_in_tx(struct db *db)
{
	return pq_PQtransactionStatus(D(db)->c) != PQTRANS_IDLE;
}

static int64_t pg_changes(struct db *db)
{
	return D(db)->changes;
}

static const struct db_ops pg_ops = {
	.version = DB_OPS_VERSION,
	.dialect = DB_POSTGRES,
	.close = pg_close,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.begin = pg_begin,
	.in_tx = pg_in_tx,
	.changes = pg_changes,
	.error = pg_error,
	.errcode = pg_errcode,
	.bind_int64 = pg_bind_int64,
	.bind_double = pg_bind_double,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.column_int64 = pg_column_int64,
	.column_double = pg_column_double,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.column_bytes = pg_column_bytes,
	.column_type = pg_column_type,
	.reset = pg_reset,
	.finalize = pg_finalize,
};
