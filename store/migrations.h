/*
 * store/migrations.h - the schema migrations embedded at build time.
 *
 * The tables are generated from migrations/NNNN_name.sql (SQLite) and
 * migrations/postgresql/NNNN_name.sql (PostgreSQL) by migrations/embed.sh,
 * in ascending order of NNNN; both have the same migrations.
 */
#ifndef HZ_STORE_MIGRATIONS_H
#define HZ_STORE_MIGRATIONS_H

struct hz_migration {
	int version;		/* NNNN */
	const char *name;	/* "NNNN_name" */
	const char *sql;
};

extern const struct hz_migration hz_migrations[];
extern const int hz_migrations_count;
extern const struct hz_migration hz_migrations_pg[];
extern const int hz_migrations_pg_count;

#endif
