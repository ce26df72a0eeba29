/*
 * Unit tests of the index API (store/index.h) on the SQLite backend: the
 * behaviour store/ relies on and the PostgreSQL backend reproduces (the
 * latter is tested against a real server by tests/integration/92_postgres.sh,
 * and here too when HZ_TEST_PG_URL names an empty database).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/store_int.h"

#include "unit/store/store_fixture.h"

/* a scratch table, made in the test's own transaction-free session */
static void make_table(struct store *s)
{
	assert_int_equal(db_exec(s, "CREATE TEMP TABLE IF NOT EXISTS t_idx (id BIGINT PRIMARY KEY,"
				    " k BYTEA UNIQUE, name TEXT, x DOUBLE PRECISION);"
				    " DELETE FROM t_idx"),
			 0);
}

static void test_types(void **state)
{
	struct fixture *fx = *state;
	struct store *s = fx->s;
	struct db_stmt *st = NULL;
	const uint8_t blob[4] = { 0, 0xff, 0x10, 0x7f };

	make_table(s);
	assert_int_equal(db_prepare(s, &st, "INSERT INTO t_idx(id, k, name, x) VALUES (?1, ?2, ?3, ?4)"), 0);
	db_bind_int64(st, 1, INT64_MAX);
	db_bind_blob(st, 2, blob, sizeof(blob));
	db_bind_text(st, 3, "caf\xc3\xa9 'quoted' ?", -1);
	db_bind_double(st, 4, 0.1);
	assert_int_equal(db_step(st), DB_DONE);
	assert_int_equal(db_changes(s), 1);
	db_reset(st);
	db_bind_int64(st, 1, -5);
	db_bind_null(st, 2);
	db_bind_null(st, 3);
	db_bind_null(st, 4);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);

	assert_int_equal(db_prepare(s, &st, "SELECT id, k, name, x, id = ?, id > 0 FROM t_idx"
					    " ORDER BY id DESC"), 0);
	db_bind_int64(st, 1, -5);
	assert_int_equal(db_step(st), DB_ROW);
	assert_true(db_column_int64(st, 0) == INT64_MAX);
	assert_int_equal(db_column_type(st, 1), DB_BLOB);
	assert_int_equal(db_column_bytes(st, 1), sizeof(blob));
	assert_memory_equal(db_column_blob(st, 1), blob, sizeof(blob));
	assert_int_equal(db_column_type(st, 2), DB_TEXT);
	assert_string_equal((const char *)db_column_text(st, 2), "caf\xc3\xa9 'quoted' ?");
	assert_true(db_column_double(st, 3) == 0.1);
	/* comparisons read back as 0/1 */
	assert_int_equal(db_column_int(st, 4), 0);
	assert_int_equal(db_column_int(st, 5), 1);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int64(st, 0), -5);
	assert_int_equal(db_column_type(st, 1), DB_NULL);
	assert_null(db_column_text(st, 2));
	assert_int_equal(db_column_int64(st, 3), 0);
	assert_int_equal(db_column_int(st, 4), 1);
	assert_int_equal(db_step(st), DB_DONE);
	db_finalize(st);
	db_finalize(NULL);

	/* a ? inside a string literal is no parameter */
	assert_int_equal(db_prepare(s, &st, "SELECT 'a?b', ?1, ?1 + 1"), 0);
	db_bind_int64(st, 1, 7);
	assert_int_equal(db_step(st), DB_ROW);
	assert_string_equal((const char *)db_column_text(st, 0), "a?b");
	assert_int_equal(db_column_int64(st, 1), 7);
	assert_int_equal(db_column_int64(st, 2), 8);
	db_finalize(st);
}

static void test_step_id_and_constraints(void **state)
{
	struct fixture *fx = *state;
	struct store *s = fx->s;
	struct db_stmt *st = NULL;
	int64_t id = -1;

	assert_int_equal(db_prepare(s, &st, "INSERT INTO repos(name, created_at) VALUES (?, 1)"
					    " ON CONFLICT(name) DO NOTHING RETURNING id"), 0);
	db_bind_text(st, 1, "a/b", -1);
	assert_int_equal(db_step_id(s, st, "insert", &id), 0);
	assert_true(id > 0);
	/* the same name again: no row, id 0, no error */
	assert_int_equal(db_step_id(s, st, "insert", &id), 0);
	assert_int_equal(id, 0);
	db_finalize(st);

	assert_int_equal(db_prepare(s, &st, "INSERT INTO repos(name, created_at) VALUES (?, 1)"), 0);
	db_bind_text(st, 1, "a/b", -1);
	assert_int_equal(db_step(st), DB_CONSTRAINT);
	assert_int_equal(db_errcode(s), DB_CONSTRAINT);
	assert_int_equal(db_error(s, "insert"), HZ_ERROR);
	assert_non_null(strstr(hz_error_msg(), "index: insert: "));
	db_finalize(st);

	/* a bad statement fails at prepare or at its first step */
	if (db_prepare(s, &st, "SELEC nonsense") == 0) {
		assert_int_equal(db_step(st), DB_ERROR);
		db_finalize(st);
	}
}

static void test_transactions(void **state)
{
	struct fixture *fx = *state;
	struct store *s = fx->s, *other = NULL;
	struct db_stmt *st = NULL;

	assert_int_equal(store_open(&other, fx->dir, 0), 0);
	assert_int_equal(db_in_tx(s), 0);
	assert_int_equal(db_begin(s), 0);
	assert_int_equal(db_in_tx(s), 1);
	assert_int_equal(db_exec(s, "INSERT INTO repos(name, created_at) VALUES ('x/y', 1)"), 0);
	/* the write lock is taken: another connection does not get it now */
	assert_int_not_equal(db_try_begin(other), 0);
	assert_int_equal(db_in_tx(other), 0);
	/* and does not see the uncommitted row */
	assert_int_equal(db_prepare(other, &st, "SELECT count(*) FROM repos WHERE name = 'x/y'"), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int(st, 0), 0);
	db_reset(st);
	db_rollback(s);
	assert_int_equal(db_in_tx(s), 0);
	db_rollback(s); /* nothing open: a no-op */
	assert_int_equal(db_try_begin(other), 0);
	db_rollback(other);

	/* a read transaction keeps its snapshot */
	assert_int_equal(db_begin_read(other), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int(st, 0), 0);
	db_reset(st);
	assert_int_equal(db_exec(s, "INSERT INTO repos(name, created_at) VALUES ('x/y', 1)"), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int(st, 0), 0);
	db_reset(st);
	assert_int_equal(db_commit(other), 0);
	assert_int_equal(db_step(st), DB_ROW);
	assert_int_equal(db_column_int(st, 0), 1);
	db_finalize(st);
	store_free(other);
}

/* The same on PostgreSQL when HZ_TEST_PG_URL names a database (emptied
 * here: its tables are dropped). */
static int pg_setup(void **state)
{
	const char *url = getenv("HZ_TEST_PG_URL");
	struct fixture *fx;
	struct store *s = NULL;

	if (!url || !*url)
		return 0;
	assert_int_equal(store_index_set(url), 0);
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/hz-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_int_equal(store_open(&s, fx->dir, 1), 0);
	assert_int_equal(db_exec(s, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);
	store_free(s);
	assert_int_equal(store_open(&fx->s, fx->dir, 1), 0);
	*state = fx;
	return 0;
}

static int pg_teardown(void **state)
{
	if (*state)
		store_teardown(state);
	store_index_set(NULL);
	return 0;
}

#define PG_TEST(fn)                                                            \
	static void fn##_pg(void **state)                                     \
	{                                                                      \
		if (!*state)                                                   \
			skip();                                                \
		fn(state);                                                     \
	}
PG_TEST(test_types)
PG_TEST(test_step_id_and_constraints)
PG_TEST(test_transactions)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_types, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_step_id_and_constraints, store_setup,
						store_teardown),
		cmocka_unit_test_setup_teardown(test_transactions, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_types_pg, pg_setup, pg_teardown),
		cmocka_unit_test_setup_teardown(test_step_id_and_constraints_pg, pg_setup,
						pg_teardown),
		cmocka_unit_test_setup_teardown(test_transactions_pg, pg_setup, pg_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
