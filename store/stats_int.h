/*
 * store/stats_int.h - the accounting's hooks into the rest of the store:
 * the ingest history row written in an ingest's commit transaction.
 */
#ifndef HZ_STORE_STATS_INT_H
#define HZ_STORE_STATS_INT_H

#include <stdint.h>

struct store;
struct store_ingest;

/* Seconds on a monotonic clock, for the wall time of a session. */
double stats_clock(void);

/* In the commit transaction, before the session's objects are inserted:
 * the highest object id so far, into *out. */
int stats_history_mark(struct store *s, int64_t *out);

/* In the commit transaction, after the revision `commit` is inserted:
 * its ingest_history row (the objects above mark are what it added). */
int stats_history_add(struct store_ingest *in, int64_t mark, int64_t now,
		      const char *commit);

#endif
