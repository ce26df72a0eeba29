/*
 * store/migrate.c - applies the embedded migrations of the index's
 * dialect above its schema version, one transaction each; refuses a
 * database newer than the binary.  The version is PRAGMA user_version on
 * SQLite, the one row of hubzip_schema on PostgreSQL.
 */
#include "store/store_int.h"
#include "store/migrations.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

int migrate_version(struct store *s, int *out)
{
	struct db_stmt *st = NULL;
	int pg = db_dialect(s) == DB_POSTGRES, rc;

	*out = 0;
	if (pg) {
		/* no table yet: version 0 */
		rc = db_prepare(s, &st, "SELECT to_regclass('hubzip_schema') IS NOT NULL");
		if (rc)
			return rc;
		if (db_step(st) != DB_ROW)
			rc = db_error(s, "cannot read schema version");
		else if (!db_column_int(st, 0))
			rc = 1;
		db_finalize(st);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	rc = db_prepare(s, &st, pg ? "SELECT version FROM hubzip_schema" : "PRAGMA user_version");
	if (rc)
		return rc;
	if (db_step(st) == DB_ROW)
		*out = db_column_int(st, 0);
	else if (!pg)
		rc = db_error(s, "cannot read schema version");
	db_finalize(st);
	return rc;
}

static int set_version(struct store *s, int version)
{
	char sql[160];

	if (db_dialect(s) == DB_POSTGRES)
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS hubzip_schema (version INTEGER NOT NULL);"
			 " DELETE FROM hubzip_schema; INSERT INTO hubzip_schema VALUES (%d)",
			 version);
	else
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", version);
	return db_exec(s, sql);
}

int migrate_apply(struct store *s)
{
	const struct hz_migration *v = hz_migrations;
	int n = hz_migrations_count, have, latest = 0, i, rc;

	if (db_dialect(s) == DB_POSTGRES) {
		v = hz_migrations_pg;
		n = hz_migrations_pg_count;
	}
	for (i = 0; i < n; i++)
		latest = v[i].version;
	rc = migrate_version(s, &have);
	if (rc)
		return rc;
	if (have > latest)
		return hz_error_set(HZ_EUNSUPPORTED,
				    "index schema version %d is newer than this hubzip "
				    "(knows up to %d); upgrade hubzip",
				    have, latest);
	for (i = 0; i < n; i++) {
		const struct hz_migration *m = &v[i];

		if (m->version <= have)
			continue;
		rc = db_begin(s);
		if (rc)
			return rc;
		/* re-read under the write lock: another process may have
		 * migrated meanwhile */
		rc = migrate_version(s, &have);
		if (rc || m->version <= have) {
			db_rollback(s);
			if (rc)
				return rc;
			continue;
		}
		rc = db_exec(s, m->sql);
		if (!rc)
			rc = set_version(s, m->version);
		if (!rc)
			rc = db_commit(s);
		if (rc) {
			char why[512];

			snprintf(why, sizeof(why), "%s", hz_error_msg());
			db_rollback(s);
			return hz_error_set(rc, "migration %s failed: %s", m->name,
					    why);
		}
		have = m->version;
	}
	s->schema_version = have;
	return 0;
}
