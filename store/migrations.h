/*
 * store/migrations.h - the schema migrations embedded at build time.
 *
 * The table is generated from migrations/NNNN_name.sql by
 * migrations/embed.sh, in ascending order of NNNN.
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

#endif
