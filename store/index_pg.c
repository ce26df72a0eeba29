/*
 * store/index_pg.c - the PostgreSQL index backend (libpq), in progress.
 */
#include "store/index_int.h"

#include <stddef.h>

#include "common/error.h"

int db_pg_open(struct db **out, const char *uri)
{
	(void)uri;
	*out = NULL;
	return hz_error_set(HZ_EUNSUPPORTED, "a PostgreSQL index is not supported yet");
}
