/*
 * store/migrate.c - applies the embedded migrations above PRAGMA
 * user_version, one transaction each; refuses a database newer than the
 * binary.
 */
#include "store/store_int.h"
#include "store/migrations.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

static int user_version(struct store *s, int *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "PRAGMA user_version");

	if (rc)
		return rc;
	if (db_step(st) != DB_ROW)
		rc = db_error(s, "cannot read schema version");
	else
		*out = db_column_int(st, 0);
	db_finalize(st);
	return rc;
}

int migrate_apply(struct store *s)
{
	int have, latest = 0, i, rc;

	for (i = 0; i < hz_migrations_count; i++)
		latest = hz_migrations[i].version;
	rc = user_version(s, &have);
	if (rc)
		return rc;
	if (have > latest)
		return hz_error_set(HZ_EUNSUPPORTED,
				    "index schema version %d is newer than this hubzip "
				    "(knows up to %d); upgrade hubzip",
				    have, latest);
	for (i = 0; i < hz_migrations_count; i++) {
		const struct hz_migration *m = &hz_migrations[i];
		char pragma[64];

		if (m->version <= have)
			continue;
		rc = db_begin(s);
		if (rc)
			return rc;
		/* re-read under the write lock: another process may have
		 * migrated meanwhile */
		rc = user_version(s, &have);
		if (rc || m->version <= have) {
			db_rollback(s);
			if (rc)
				return rc;
			continue;
		}
		rc = db_exec(s, m->sql);
		if (!rc) {
			snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d",
				 m->version);
			rc = db_exec(s, pragma);
		}
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
