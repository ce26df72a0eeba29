/*
 * api/metrics.c - Prometheus metrics (api/metrics_int.h): the counters,
 * the latency histograms, the store's accounting and the text format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/); then the
 * glue the handlers use: GET /metrics and the timed ingest calls.
 *
 * Counters that every request or every download chunk touches are
 * atomics.  The (route, status) series live in a small table under a
 * mutex: a finished request scans it (a few dozen entries at most: the
 * statuses the server sends are a fixed set) and adds to one histogram.
 *
 * The store's numbers come from its accounting totals (store_acct_*),
 * which the index caches for the store generation: a scrape reads one
 * row unless something changed the store since the last reader, and then
 * recomputes it for everyone, so the page is never stale.
 */
#include "api/api_int.h"
#include "api/maint_int.h"
#include "api/metrics_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"

static const double bucket_le[METRICS_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

static const char *const route_names[METRICS_NROUTES] = {
	[METRICS_RESOLVE] = "resolve",	     [METRICS_RAW] = "raw",
	[METRICS_DOWNLOAD] = "download",     [METRICS_UPLOAD] = "upload",
	[METRICS_COMMIT] = "commit",	     [METRICS_LFS] = "lfs",
	[METRICS_API_NATIVE] = "api_native", [METRICS_API_HUB] = "api_hub",
	[METRICS_STATS] = "stats",	     [METRICS_UI] = "ui",
	[METRICS_METRICS] = "metrics",	     [METRICS_OTHER] = "other",
};

/* One (route, status) pair: its count and latency histogram. */
struct series {
	int route;
	unsigned status;
	uint64_t count;
	uint64_t bucket[METRICS_BUCKETS]; /* per bucket, not cumulative */
	double sum;
};

/* room for every status the server sends, on every route class */
#define MAX_SERIES (METRICS_NROUTES * 48)

struct metrics {
	char *version;
	double start_unix;
	pthread_mutex_t lock;	/* guards series, nseries */
	size_t nseries;
	struct series series[MAX_SERIES];
	atomic_uint_least64_t sent[METRICS_NROUTES], received[METRICS_NROUTES];
	atomic_long in_flight;
	atomic_uint_least64_t ingest_files, ingest_bytes, ingest_ns, commits;
	atomic_uint_least64_t restore_bytes, restore_ns;
	atomic_uint_least64_t stats_errors;
};

/* ---- recording ---------------------------------------------------------- */

int metrics_new(struct metrics **out, const char *version)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct timespec ts;

	*out = NULL;
	if (!m)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	m->version = hz_strdup(version ? version : "unknown");
	if (!m->version) {
		free(m);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_unix = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->version);
	free(m);
}

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * By the pattern's shape rather than by table row, so that routes added
 * to api/router.c fall into the right class without an edit here.
 */
int metrics_route_class(const char *method, const char *pattern)
{
	int put = method && !strcmp(method, "PUT");
	int post = method && !strcmp(method, "POST");

	if (!pattern)
		return METRICS_OTHER;
	if (!strcmp(pattern, "metrics"))
		return METRICS_METRICS;
	if (starts(pattern, "api/v1/stats") || starts(pattern, "api/stats"))
		return METRICS_STATS;
	if (!*pattern || !strcmp(pattern, "ui") || starts(pattern, "ui/"))
		return METRICS_UI;
	if (strstr(pattern, "/resolve/"))
		return METRICS_RESOLVE;
	if (strstr(pattern, "/raw/"))
		return METRICS_RAW;
	if (strstr(pattern, ".git/info/lfs"))
		return METRICS_LFS;
	if (starts(pattern, "api/lfs/objects/"))
		return put ? METRICS_UPLOAD : METRICS_DOWNLOAD;
	if (put && strstr(pattern, "/files/"))
		return METRICS_UPLOAD;
	if (post && strstr(pattern, "/commit/"))
		return METRICS_COMMIT;
	if (starts(pattern, "api/v1/repos/") && strstr(pattern, "/files/:rev/"))
		return METRICS_DOWNLOAD;
	if (starts(pattern, "api/v1/") || starts(pattern, "api/admin/"))
		return METRICS_API_NATIVE;
	if (starts(pattern, "api/"))
		return METRICS_API_HUB;
	return METRICS_OTHER;
}

const char *metrics_route_name(int route)
{
	return route >= 0 && route < METRICS_NROUTES ? route_names[route] : "other";
}

uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_request_begin(struct metrics *m)
{
	atomic_fetch_add(&m->in_flight, 1);
}

void metrics_request_end(struct metrics *m, int route, unsigned status,
			 const struct timespec *t0, uint64_t sent, uint64_t received)
{
	struct timespec t1;
	struct series *s = NULL;
	double sec;

	if (route < 0 || route >= METRICS_NROUTES)
		route = METRICS_OTHER;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sec = (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
	if (sec < 0)
		sec = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nseries && !s; i++)
		if (m->series[i].route == route && m->series[i].status == status)
			s = &m->series[i];
	if (!s && m->nseries < MAX_SERIES) {
		s = &m->series[m->nseries++];
		s->route = route;
		s->status = status;
	}
	if (s) {
		s->count++;
		s->sum += sec;
		for (size_t b = 0; b < METRICS_BUCKETS; b++)
			if (sec <= bucket_le[b]) {
				s->bucket[b]++;
				break;
			}
	}
	pthread_mutex_unlock(&m->lock);
	atomic_fetch_add(&m->sent[route], sent);
	atomic_fetch_add(&m->received[route], received);
	atomic_fetch_sub(&m->in_flight, 1);
}

void metrics_ingest(struct metrics *m, uint64_t bytes, uint64_t ns, int ok)
{
	atomic_fetch_add(&m->ingest_ns, ns);
	if (!ok)
		return;
	atomic_fetch_add(&m->ingest_files, 1);
	atomic_fetch_add(&m->ingest_bytes, bytes);
}

void metrics_commit(struct metrics *m, uint64_t ns, int ok)
{
	atomic_fetch_add(&m->ingest_ns, ns);
	if (ok)
		atomic_fetch_add(&m->commits, 1);
}

void metrics_restore(struct metrics *m, uint64_t bytes, uint64_t ns)
{
	if (bytes)
		atomic_fetch_add(&m->restore_bytes, bytes);
	if (ns)
		atomic_fetch_add(&m->restore_ns, ns);
}

/* ---- the text format ---------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room, cap;
	char *p;
	int n;

	if (b->oom)
		return;
	for (;;) {
		room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap ? b->cap * 2 : 16384;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* The HELP and TYPE lines of a family; help holds no '\' or newline. */
static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one_u64(struct buf *b, const char *name, const char *type, const char *help,
		    uint64_t v)
{
	head(b, name, type, help);
	put(b, "%s %llu\n", name, (unsigned long long)v);
}

static void one_f(struct buf *b, const char *name, const char *type, const char *help,
		  double v)
{
	head(b, name, type, help);
	put(b, "%s %.15g\n", name, v);
}

int metrics_escape_label(char *out, size_t outsz, const char *v)
{
	size_t o = 0;

	for (; *v; v++) {
		const char *rep = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;

		if (o + n >= outsz)
			return hz_error_set(HZ_EINVAL, "label value too long");
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = *v;
		o += n;
	}
	if (o >= outsz)
		return hz_error_set(HZ_EINVAL, "label value too long");
	out[o] = '\0';
	return 0;
}

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;

	if (x->route != y->route)
		return x->route < y->route ? -1 : 1;
	return x->status < y->status ? -1 : x->status > y->status;
}

static void render_http(struct metrics *m, struct buf *b)
{
	struct series *v;
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->nseries;
	v = malloc((n ? n : 1) * sizeof(*v));
	if (v)
		memcpy(v, m->series, n * sizeof(*v));
	pthread_mutex_unlock(&m->lock);
	if (!v) {
		b->oom = 1;
		return;
	}
	qsort(v, n, sizeof(*v), series_cmp);

	head(b, "hubzip_http_requests_total", "counter",
	     "HTTP requests finished, by route class and status code (499: closed before a"
	     " reply).");
	for (size_t i = 0; i < n; i++)
		put(b, "hubzip_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n",
		    route_names[v[i].route], v[i].status, (unsigned long long)v[i].count);
	head(b, "hubzip_http_request_duration_seconds", "histogram",
	     "Time from a request's headers to the end of its response, by route class and"
	     " status code.");
	for (size_t i = 0; i < n; i++) {
		const char *r = route_names[v[i].route];
		uint64_t cum = 0;

		for (size_t k = 0; k < METRICS_BUCKETS; k++) {
			cum += v[i].bucket[k];
			put(b, "hubzip_http_request_duration_seconds_bucket{route=\"%s\",code=\"%u\","
			    "le=\"%g\"} %llu\n", r, v[i].status, bucket_le[k],
			    (unsigned long long)cum);
		}
		put(b, "hubzip_http_request_duration_seconds_bucket{route=\"%s\",code=\"%u\","
		    "le=\"+Inf\"} %llu\n", r, v[i].status, (unsigned long long)v[i].count);
		put(b, "hubzip_http_request_duration_seconds_sum{route=\"%s\",code=\"%u\"} %.9g\n",
		    r, v[i].status, v[i].sum);
		put(b, "hubzip_http_request_duration_seconds_count{route=\"%s\",code=\"%u\"} %llu\n",
		    r, v[i].status, (unsigned long long)v[i].count);
	}
	free(v);

	head(b, "hubzip_http_response_bytes_total", "counter",
	     "Body bytes sent in responses, by route class.");
	for (int r = 0; r < METRICS_NROUTES; r++)
		put(b, "hubzip_http_response_bytes_total{route=\"%s\"} %llu\n", route_names[r],
		    (unsigned long long)atomic_load(&m->sent[r]));
	head(b, "hubzip_http_request_bytes_total", "counter",
	     "Body bytes received in requests, by route class.");
	for (int r = 0; r < METRICS_NROUTES; r++)
		put(b, "hubzip_http_request_bytes_total{route=\"%s\"} %llu\n", route_names[r],
		    (unsigned long long)atomic_load(&m->received[r]));
}

/* The store's numbers, or nothing (logged and counted) when they cannot
 * be read. */
static void render_store(struct metrics *m, struct store *s, struct buf *b)
{
	struct store_acct_view v;
	struct store_acct_totals t;
	struct store_stages sg;
	uint64_t t0 = metrics_now_ns();
	double sec;
	int rc;

	rc = store_acct_begin(&v, s);
	if (!rc) {
		rc = store_acct_totals(&v, &t);
		store_acct_end(&v);
	}
	sec = (double)(metrics_now_ns() - t0) / 1e9;
	one_u64(b, "hubzip_store_stats_errors_total", "counter",
		"Scrapes that could not read the store numbers (they are left out then).",
		atomic_load(&m->stats_errors) + (rc != 0));
	if (rc) {
		api_log(API_LOG_ERROR, "metrics: cannot read the store's accounting: %s",
			hz_error_msg());
		atomic_fetch_add(&m->stats_errors, 1);
		return;
	}
	store_acct_stages(&sg, &t.a);
	one_u64(b, "hubzip_store_logical_bytes", "gauge",
		"Sum of file sizes over every revision: what clients would download.",
		t.a.logical_bytes);
	one_u64(b, "hubzip_store_physical_bytes", "gauge",
		"Encoded bytes of the objects live files need, each object once.",
		t.a.physical_bytes);
	head(b, "hubzip_store_saved_bytes", "gauge",
	     "Bytes saved by each stage in pipeline order; they sum to logical minus physical.");
	put(b, "hubzip_store_saved_bytes{stage=\"file_dedup\"} %lld\n", (long long)sg.file_dedup);
	put(b, "hubzip_store_saved_bytes{stage=\"tensor_dedup\"} %lld\n",
	    (long long)sg.tensor_dedup);
	put(b, "hubzip_store_saved_bytes{stage=\"delta\"} %lld\n", (long long)sg.delta);
	put(b, "hubzip_store_saved_bytes{stage=\"coding\"} %lld\n", (long long)sg.coding);
	one_u64(b, "hubzip_store_pack_bytes", "gauge",
		"Bytes of pack files on disk.", t.pack_bytes);
	head(b, "hubzip_store_dead_bytes", "gauge",
	     "Pack bytes that no live object needs (freed by gc once a whole pack is dead).");
	put(b, "hubzip_store_dead_bytes %lld\n", (long long)t.dead_bytes);
	one_u64(b, "hubzip_store_index_bytes", "gauge",
		"Bytes of the SQLite index and its WAL.", t.index_bytes);
	one_u64(b, "hubzip_store_objects", "gauge",
		"Distinct stored objects that live files need.", t.objects);
	one_u64(b, "hubzip_store_files", "gauge",
		"(revision, path) entries: a file in two revisions counts twice.", t.a.files);
	one_u64(b, "hubzip_store_unique_files", "gauge",
		"Distinct file contents that revisions reference.", t.a.unique_files);
	one_u64(b, "hubzip_store_tensors", "gauge",
		"Tensors of the distinct files.", t.a.tensors);
	one_u64(b, "hubzip_store_unique_tensors", "gauge",
		"Distinct tensor contents.", t.a.unique_tensors);
	one_u64(b, "hubzip_store_repos", "gauge", "Repos.", t.repos);
	one_u64(b, "hubzip_store_revisions", "gauge", "Revisions over every repo.",
		t.a.revisions);
	one_u64(b, "hubzip_store_families", "gauge", "Model families found.", t.families);
	one_u64(b, "hubzip_store_packs", "gauge", "Pack files.", t.packs);
	one_u64(b, "hubzip_store_generation", "gauge",
		"The store generation these numbers are for: it moves with every change.",
		(uint64_t)(v.generation > 0 ? v.generation : 0));
	one_u64(b, "hubzip_store_stats_computed_timestamp_seconds", "gauge",
		"When the accounting of this generation was computed (unix time).",
		(uint64_t)(v.computed_at > 0 ? v.computed_at : 0));
	one_f(b, "hubzip_store_stats_duration_seconds", "gauge",
	      "How long this scrape took to read the store numbers (and to recompute them"
	      " if the store had changed).", sec);
}

/* What this process asked of the blob backends (store_blob_counters):
 * requests by kind, retries, failures and bytes, per backend. */
static void render_blobs(struct buf *b)
{
	static const char *const backends[] = { "file", "s3" };
	struct store_blob_counters c[2];

	for (int i = 0; i < 2; i++)
		store_blob_counters(&c[i], backends[i]);
	head(b, "hubzip_blob_requests_total", "counter",
	     "Requests to the blob backend (file: reads, writes, stats, lists and deletes of pack"
	     " files; s3: HTTP requests, each attempt of a retried one).");
	for (int i = 0; i < 2; i++) {
		const struct { const char *op; uint64_t v; } ops[] = {
			{ "get", c[i].gets }, { "put", c[i].puts }, { "head", c[i].heads },
			{ "list", c[i].lists }, { "delete", c[i].deletes },
			{ "multipart", c[i].multipart },
		};

		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			put(b, "hubzip_blob_requests_total{backend=\"%s\",op=\"%s\"} %llu\n",
			    backends[i], ops[k].op, (unsigned long long)ops[k].v);
	}
	head(b, "hubzip_blob_retries_total", "counter",
	     "Blob backend requests retried after a transient failure.");
	for (int i = 0; i < 2; i++)
		put(b, "hubzip_blob_retries_total{backend=\"%s\"} %llu\n", backends[i],
		    (unsigned long long)c[i].retries);
	head(b, "hubzip_blob_failures_total", "counter",
	     "Blob backend requests that failed after their retries.");
	for (int i = 0; i < 2; i++)
		put(b, "hubzip_blob_failures_total{backend=\"%s\"} %llu\n", backends[i],
		    (unsigned long long)c[i].failures);
	head(b, "hubzip_blob_bytes_total", "counter",
	     "Bytes read from (received) and written to (sent) the blob backend.");
	for (int i = 0; i < 2; i++) {
		put(b, "hubzip_blob_bytes_total{backend=\"%s\",direction=\"received\"} %llu\n",
		    backends[i], (unsigned long long)c[i].bytes_received);
		put(b, "hubzip_blob_bytes_total{backend=\"%s\",direction=\"sent\"} %llu\n",
		    backends[i], (unsigned long long)c[i].bytes_sent);
	}
}

/* Seconds of CPU and bytes resident of this process. */
static void process_usage(double *cpu, uint64_t *rss)
{
	struct timespec ts;
	unsigned long long pages_total, pages_rss;
	FILE *f;

	*cpu = 0;
	*rss = 0;
	if (!clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		*cpu = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%llu %llu", &pages_total, &pages_rss) == 2)
			*rss = (uint64_t)pages_rss * (uint64_t)sysconf(_SC_PAGESIZE);
		fclose(f);
	}
}

/* The background maintenance's figures (api/maint.c). */
static void render_maint(const struct metrics_gauges *g, struct buf *b)
{
	one_u64(b, "hubzip_scrub_enabled", "gauge",
		"1 if the background scrub (scrub_interval) is on.", (uint64_t)g->scrub_enabled);
	one_u64(b, "hubzip_scrub_runs_total", "counter", "Scrubs (full fscks) finished.",
		g->scrub_runs);
	one_u64(b, "hubzip_scrub_failures_total", "counter",
		"Scrubs that stopped on an error before checking everything.",
		g->scrub_failures);
	one_u64(b, "hubzip_scrub_last_problems", "gauge",
		"Problems the last scrub found (0: clean, or none ran yet).",
		g->scrub_last_problems);
	one_f(b, "hubzip_scrub_last_run_timestamp_seconds", "gauge",
	      "When the last scrub ended (unix time; 0: none yet).", g->scrub_last_time);
	one_f(b, "hubzip_scrub_last_duration_seconds", "gauge",
	      "How long the last scrub took.", g->scrub_last_seconds);
	one_u64(b, "hubzip_gc_runs_total", "counter",
		"Garbage collections the daemon finished (gc_interval, POST /api/admin/gc).",
		g->gc_runs);
	one_u64(b, "hubzip_gc_failures_total", "counter",
		"Garbage collections that failed.", g->gc_failures);
	one_u64(b, "hubzip_gc_last_freed_bytes", "gauge",
		"Pack bytes the last garbage collection removed from disk.",
		g->gc_last_freed_bytes);
	one_f(b, "hubzip_gc_last_run_timestamp_seconds", "gauge",
	      "When the last garbage collection ended (unix time; 0: none yet).",
	      g->gc_last_time);
	one_f(b, "hubzip_gc_last_duration_seconds", "gauge",
	      "How long the last garbage collection took.", g->gc_last_seconds);
}

int metrics_render(struct metrics *m, struct store *s, const struct metrics_gauges *g,
		   char **out, size_t *len)
{
	struct buf b = { 0 };
	char version[256];
	double cpu;
	uint64_t rss;
	long inflight = atomic_load(&m->in_flight);

	*out = NULL;
	*len = 0;
	if (metrics_escape_label(version, sizeof(version), m->version))
		snprintf(version, sizeof(version), "unknown");
	process_usage(&cpu, &rss);

	head(&b, "hubzip_build_info", "gauge", "Always 1; the version of hubzip serving.");
	put(&b, "hubzip_build_info{version=\"%s\"} 1\n", version);
	one_f(&b, "hubzip_process_start_time_seconds", "gauge",
	      "When the server started (unix time).", m->start_unix);
	one_f(&b, "hubzip_process_cpu_seconds_total", "counter",
	      "CPU time of the process, user and system.", cpu);
	one_u64(&b, "hubzip_process_resident_memory_bytes", "gauge",
		"Resident memory of the process.", rss);

	render_http(m, &b);
	one_u64(&b, "hubzip_http_requests_in_flight", "gauge",
		"Requests received and not finished (this scrape included).",
		(uint64_t)(inflight > 0 ? inflight : 0));
	one_u64(&b, "hubzip_uploads_in_flight", "gauge",
		"Uploads holding one of the max_uploads slots (file PUTs, commits, LFS PUTs).",
		g ? g->uploads : 0);
	one_u64(&b, "hubzip_uploads_limit", "gauge",
		"The max_uploads setting: more concurrent uploads get 503.",
		g ? g->uploads_max : 0);
	if (g)
		render_maint(g, &b);
	render_blobs(&b);

	one_u64(&b, "hubzip_ingest_files_total", "counter",
		"Files ingested by uploads and commits (stored or deduplicated).",
		atomic_load(&m->ingest_files));
	one_u64(&b, "hubzip_ingest_bytes_total", "counter",
		"Bytes of the files ingested by uploads and commits.",
		atomic_load(&m->ingest_bytes));
	one_f(&b, "hubzip_ingest_seconds_total", "counter",
	      "Time spent ingesting files and committing revisions.",
	      (double)atomic_load(&m->ingest_ns) / 1e9);
	one_u64(&b, "hubzip_ingest_commits_total", "counter",
		"Revisions committed by uploads and commits.", atomic_load(&m->commits));
	one_u64(&b, "hubzip_restore_bytes_total", "counter",
		"File bytes read from the store and handed to download responses.",
		atomic_load(&m->restore_bytes));
	one_f(&b, "hubzip_restore_seconds_total", "counter",
	      "Time spent reading and decoding those bytes.",
	      (double)atomic_load(&m->restore_ns) / 1e9);

	if (s)
		render_store(m, s, &b);
	if (b.oom) {
		free(b.p);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- the glue the handlers use ------------------------------------------ */

int api_ingest_add_fd(struct api_req *req, struct store_ingest *in, const char *path, int fd,
		      uint64_t size, const uint8_t *sha)
{
	uint64_t t0 = metrics_now_ns();
	int rc = sha ? store_ingest_add_fd_sha256(in, path, fd, size, sha)
		     : store_ingest_add_fd(in, path, fd, size);

	metrics_ingest(req->srv->metrics, size, metrics_now_ns() - t0, rc == 0);
	return rc;
}

int api_ingest_commit(struct api_req *req, struct store_ingest *in, const char *message,
		      char commit_out[STORE_COMMIT_HEX])
{
	uint64_t t0 = metrics_now_ns();
	int rc = store_ingest_commit(in, message, commit_out);

	metrics_commit(req->srv->metrics, metrics_now_ns() - t0, rc == 0);
	return rc;
}

/* GET /metrics: public unless metrics_token_required; a presented token
 * that is not valid is refused either way, as on every route. */
/* On a thread for slow reads (api_defer_read): the store's gauges may need
 * the accounting recomputed. */
static void metrics_work(struct api_req *req)
{
	struct metrics_gauges g;
	struct MHD_Response *r;
	char *text;
	size_t len;

	memset(&g, 0, sizeof(g));
	g.uploads = atomic_load(&req->srv->uploads);
	g.uploads_max = req->srv->cfg.max_uploads;
	maint_gauges(req->srv->maint, &g);
	if (metrics_render(req->srv->metrics, req->s, &g, &text, &len)) {
		api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				"out of memory");
		return;
	}
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				"out of memory");
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	api_queue(req, MHD_HTTP_OK, r, len);
}

int metrics_get(struct api_req *req)
{
	if (req->bad_token || (req->srv->cfg.metrics_token_required && !req->has_token))
		return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       req->bad_token ? "the token is not valid"
						      : "metrics need a token (Authorization:"
							" Bearer hf_...)");
	return api_defer_read(req, metrics_work);
}
