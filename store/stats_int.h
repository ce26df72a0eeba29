/*
 * store/stats_int.h - the accounting's internals: the ingest history row
 * written in an ingest's commit transaction, and the computation, cache and
 * checks of docs/format.md "Accounting".
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

/* ---- the accounting (stats_compute.c) ---------------------------------- */

/* The store generation, the generation the cache holds (-1: none) and
 * when it was computed (either may be NULL). */
int stats_state(struct store *s, int64_t *generation, int64_t *cached, int64_t *at);

/* Computes the accounting into temp.sx_revisions, sx_repos, sx_families
 * and sx_totals (shaped as main.stats_*), inside the caller's read
 * transaction. */
int stats_compute(struct store *s);

/* Copies temp.sx_* into the cache for generation, in a write transaction,
 * unless the store has moved past it or the cache already holds it, or
 * the index is busy (it does not wait for the write lock). */
int stats_persist(struct store *s, int64_t generation, int64_t now);

/* fsck: recomputes and compares with the cache of the current generation
 * and with direct sums; reports each problem and adds them to *problems. */
int stats_check(struct store *s, void (*report)(void *payload, const char *line),
		void *payload, uint64_t *problems);

#endif
