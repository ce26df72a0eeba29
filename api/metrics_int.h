/*
 * api/metrics_int.h - the daemon's Prometheus metrics, served as text by
 * GET /metrics (docs/api.md, "Metrics"): requests by route class and
 * status with latency histograms, requests and uploads in flight, bytes
 * and seconds of ingests and restores, and the store's accounting
 * (store_acct_totals).
 *
 * Recording is thread-safe and cheap: atomic adds, and one mutex held for
 * a short scan per finished request.  No label names a repo, so private
 * repos never show.
 */
#ifndef HZ_API_METRICS_INT_H
#define HZ_API_METRICS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"

/* Route classes: the `route` label.  A small fixed set, derived from the
 * matched route's pattern (metrics_route_class). */
enum metrics_route {
	METRICS_RESOLVE,	/* hub resolve: file downloads */
	METRICS_RAW,		/* hub raw */
	METRICS_DOWNLOAD,	/* native file GET, signed LFS GET */
	METRICS_UPLOAD,		/* native file PUT, signed LFS PUT */
	METRICS_COMMIT,		/* native multipart and hub NDJSON commits */
	METRICS_LFS,		/* the LFS batch, verify and locks APIs */
	METRICS_API_NATIVE,	/* the rest of /api/v1 */
	METRICS_API_HUB,	/* the rest of the hub's /api */
	METRICS_STATS,		/* /api/v1/stats, /api/stats... */
	METRICS_UI,		/* the dashboard: /, /ui/... */
	METRICS_METRICS,	/* /metrics */
	METRICS_OTHER,		/* no route matched, or refused before routing */
	METRICS_NROUTES
};

/* Histogram bucket upper bounds in seconds (+Inf is implied). */
#define METRICS_BUCKETS 15

struct metrics;

/*
 * A new, zeroed set of metrics in *out (free with metrics_free); version
 * is copied into hubzip_build_info (NULL: "unknown").  0, or HZ_ENOMEM.
 */
int metrics_new(struct metrics **out, const char *version);
/* Frees m; NULL is a no-op. */
void metrics_free(struct metrics *m);

/* The class of a request that matched the route (method, pattern) of
 * api/router.c; pattern NULL (nothing matched) is METRICS_OTHER. */
int metrics_route_class(const char *method, const char *pattern);
/* The label value of a class ("resolve", ...). */
const char *metrics_route_name(int route);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t metrics_now_ns(void);

/* A request arrives / has ended (status 499: closed before a reply):
 * counts it, its latency since t0 (CLOCK_MONOTONIC), the body bytes
 * sent and received. */
void metrics_request_begin(struct metrics *m);
void metrics_request_end(struct metrics *m, int route, unsigned status,
			 const struct timespec *t0, uint64_t sent, uint64_t received);

/* A file of `bytes` went through store_ingest_add_fd / a session
 * through store_ingest_commit, taking ns; ok is 0 when it failed (only
 * the time counts then). */
void metrics_ingest(struct metrics *m, uint64_t bytes, uint64_t ns, int ok);
void metrics_commit(struct metrics *m, uint64_t ns, int ok);
/* bytes of a file were decoded and handed to a response; ns spent
 * decoding them. */
void metrics_restore(struct metrics *m, uint64_t bytes, uint64_t ns);

struct metrics_gauges {
	unsigned uploads;	/* uploads in flight */
	unsigned uploads_max;	/* the max_uploads limit */
	/* maintenance (api/maint.c): runs so far, the last one's end (unix
	 * time, 0: none yet), duration, problems found / bytes freed */
	int scrub_enabled;
	uint64_t scrub_runs, scrub_failures, scrub_last_problems;
	double scrub_last_time, scrub_last_seconds;
	uint64_t gc_runs, gc_failures, gc_last_freed_bytes;
	double gc_last_time, gc_last_seconds;
};

/*
 * The exposition text (Prometheus text format 0.0.4) of every metric into
 * *out (malloc'd, NUL-terminated; *len bytes), with the store's accounting
 * from s (the caller's handle, which must not be in a transaction; NULL
 * leaves the store gauges out).  A store whose accounting cannot be read
 * is logged and counted in hubzip_store_stats_errors_total, and its gauges
 * are left out.  0, or HZ_ENOMEM.
 */
int metrics_render(struct metrics *m, struct store *s, const struct metrics_gauges *g,
		   char **out, size_t *len);

/*
 * Escapes a label value (backslash, double quote, newline) into out
 * (outsz bytes, NUL-terminated).  0, or HZ_EINVAL when it does not fit.
 */
int metrics_escape_label(char *out, size_t outsz, const char *v);

#endif
