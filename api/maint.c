/*
 * api/maint.c - the daemon's maintenance: gc on a schedule, a background
 * scrub, and the admin routes (docs/api.md, "Maintenance").
 *
 * Two threads, each with its own store handle (a store is used by one
 * thread at a time): the gc thread runs store_gc every gc_interval
 * seconds and on POST /api/admin/gc; the fsck thread, at the lowest CPU
 * and I/O priority, runs a full store_fsck every scrub_interval seconds
 * (the scrub) and on POST /api/admin/fsck.  Both are safe while uploads
 * and downloads run (store/pin_int.h): gc keeps what sessions in flight
 * reuse and does not unlink pack files while an fsck reads them.  A job
 * asked for while one of its kind is queued or running is that job; the
 * last result of each kind is kept in memory and served as JSON.  The
 * scrub logs what it finds (the first LOG_MAX problems, then a summary)
 * and its figures are metrics (hubzip_scrub_*, hubzip_gc_*).
 */
#include "api/api_int.h"
#include "api/maint_int.h"
#include "api/metrics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"

#define MESSAGES_MAX 1000	/* problem lines kept in a result */
#define LOG_MAX 50		/* problem lines a scrub logs */

enum { KIND_GC, KIND_FSCK, KIND_SCRUB, NKINDS };
enum { ST_IDLE, ST_QUEUED, ST_RUNNING, ST_DONE, ST_FAILED };

static const char *const kind_names[NKINDS] = { "gc", "fsck", "scrub" };
static const char *const state_names[] = { "idle", "queued", "running", "done", "failed" };

struct job {
	int state;
	int64_t id;		/* of the run queued, running or last done */
	json_t *last;		/* the last finished run's result, or NULL */
	uint64_t runs, failures;
	double last_time;	/* unix time the last run ended; 0: never */
	double last_seconds;
	uint64_t last_count;	/* problems found (fsck, scrub), bytes freed (gc) */
};

struct worker {
	struct api_maint *m;
	pthread_t thread;
	int started;
	int low_priority;	/* 1: lower it on the first run; 2: done */
	struct store *s;	/* its own, opened on the first run */
	unsigned interval;	/* of its scheduled kind; 0: on demand only */
	double next;		/* CLOCK_MONOTONIC of the next scheduled run */
	int want;		/* an on-demand run is queued */
};

struct api_maint {
	struct api_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* CLOCK_MONOTONIC */
	int stop;
	struct worker gc, fsck;
	struct job job[NKINDS];
	struct store *fsck_running; /* the store an fsck or scrub runs on */
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *iso(double t)
{
	char buf[40];

	api_iso_time(buf, sizeof(buf), (int64_t)t);
	return json_string(buf);
}

/* ---- fsck and scrub ------------------------------------------------------ */

struct collect {
	json_t *damaged, *repos, *messages;
	int truncated;
	int log;		/* a scrub: log the problems */
	unsigned logged;
};

/* store_fsck's report: "damaged: REPO@COMMIT:PATH (why)" names a damaged
 * file of a revision; every line is a problem. */
static void on_problem(void *payload, const char *line)
{
	struct collect *c = payload;

	if (!strncmp(line, "damaged: ", 9)) {
		const char *p = line + 9, *why = strrchr(p, '(');
		size_t n = why && why > p + 1 ? (size_t)(why - 1 - p) : strlen(p);
		const char *at = memchr(p, '@', n);

		json_array_append_new(c->damaged, json_stringn(p, n));
		if (at) {
			char repo[2 * (STORE_NS_MAX + 1) + 1];

			snprintf(repo, sizeof(repo), "%.*s", (int)(at - p), p);
			json_object_set_new(c->repos, repo, json_true());
		}
	}
	if (json_array_size(c->messages) < MESSAGES_MAX)
		json_array_append_new(c->messages, json_string(line));
	else
		c->truncated = 1;
	if (c->log && c->logged++ < LOG_MAX)
		api_log(API_LOG_WARN, "scrub: %s", line);
}

static int worker_store(struct worker *w)
{
	return w->s ? 0 : store_open(&w->s, w->m->srv->store_dir, 0);
}

/* The calling thread's CPU and I/O priority to the lowest (on Linux, 0
 * names the calling thread).  Failures leave the default: a systemd unit
 * that filters @resources answers EPERM. */
static void lower_priority(void)
{
	setpriority(PRIO_PROCESS, 0, 19);
#ifdef SYS_ioprio_set
	syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, 3 << 13 /* CLASS_IDLE */);
#endif
}

static json_t *run_fsck(struct worker *w, int kind, int64_t id, uint64_t *problems)
{
	struct api_maint *m = w->m;
	struct collect c = { json_array(), json_object(), json_array(), 0, kind == KIND_SCRUB, 0 };
	struct store_fsck_result r;
	double t0 = real_now(), m0 = mono();
	json_t *o, *repos = json_array();
	const char *name;
	json_t *v;
	int rc;

	memset(&r, 0, sizeof(r));
	if (w->low_priority == 1) { /* on the first run: nothing else runs here */
		lower_priority();
		w->low_priority = 2;
	}
	rc = worker_store(w);
	if (!rc) {
		pthread_mutex_lock(&m->lock);
		m->fsck_running = w->s;
		pthread_mutex_unlock(&m->lock);
		rc = store_fsck(w->s, &r, on_problem, &c, NULL, NULL);
		pthread_mutex_lock(&m->lock);
		m->fsck_running = NULL;
		pthread_mutex_unlock(&m->lock);
	}
	json_object_foreach(c.repos, name, v)
		json_array_append_new(repos, json_string(name));
	json_decref(c.repos);
	o = json_pack("{s:s, s:I, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		      " s:o, s:o, s:o, s:b}",
		      "kind", kind_names[kind], "id", (json_int_t)id, "started_at", iso(t0),
		      "finished_at", iso(real_now()), "seconds", mono() - m0,
		      "files_checked", (json_int_t)r.files_checked,
		      "objects_checked", (json_int_t)r.objects_checked,
		      "blocks_checked", (json_int_t)r.blocks_checked,
		      "bytes_checked", (json_int_t)r.bytes_checked,
		      "problems", (json_int_t)r.problems,
		      "files_damaged", (json_int_t)r.files_damaged,
		      "objects_damaged", (json_int_t)r.objects_damaged,
		      "damaged", c.damaged, "repos", repos, "messages", c.messages,
		      "truncated", c.truncated);
	if (o && rc)
		json_object_set_new(o, "error", json_string(hz_error_msg()));
	*problems = r.problems;
	if (kind == KIND_SCRUB) {
		if (rc)
			api_log(API_LOG_ERROR, "scrub: stopped: %s", hz_error_msg());
		else
			api_log(r.problems ? API_LOG_WARN : API_LOG_INFO,
				"scrub: checked %llu files, %llu objects, %llu bytes in %.1f s:"
				" %llu problems, %llu damaged files",
				(unsigned long long)r.files_checked,
				(unsigned long long)r.objects_checked,
				(unsigned long long)r.bytes_checked, mono() - m0,
				(unsigned long long)r.problems,
				(unsigned long long)r.files_damaged);
	}
	return o;
}

/* ---- gc -------------------------------------------------------------------- */

static json_t *run_gc(struct worker *w, int64_t id, uint64_t *freed)
{
	struct store_gc_result r;
	double t0 = real_now(), m0 = mono();
	json_t *o;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = worker_store(w);
	if (!rc)
		rc = store_gc(w->s, NULL, &r);
	o = json_pack("{s:s, s:I, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "kind", "gc", "id", (json_int_t)id, "started_at", iso(t0),
		      "finished_at", iso(real_now()), "seconds", mono() - m0,
		      "files_deleted", (json_int_t)r.files_deleted,
		      "objects_deleted", (json_int_t)r.objects_deleted,
		      "packs_deleted", (json_int_t)r.packs_deleted,
		      "orphan_packs", (json_int_t)r.orphan_packs,
		      "tmp_removed", (json_int_t)r.tmp_removed,
		      "packs_deferred", (json_int_t)r.packs_deferred,
		      "lfs_pending_deleted", (json_int_t)r.lfs_pending_deleted,
		      "bytes_freed", (json_int_t)r.bytes_freed,
		      "dead_bytes_kept", (json_int_t)r.dead_bytes_kept);
	if (rc) {
		if (o)
			json_object_set_new(o, "error", json_string(hz_error_msg()));
		api_log(API_LOG_ERROR, "gc: %s", hz_error_msg());
	} else if (r.files_deleted || r.objects_deleted || r.orphan_packs || r.tmp_removed ||
		   r.lfs_pending_deleted) {
		api_log(API_LOG_INFO, "gc: deleted %llu files, %llu objects, %llu packs, %llu"
			" orphaned packs, %llu pending LFS objects; freed %llu bytes",
			(unsigned long long)r.files_deleted, (unsigned long long)r.objects_deleted,
			(unsigned long long)r.packs_deleted, (unsigned long long)r.orphan_packs,
			(unsigned long long)r.lfs_pending_deleted,
			(unsigned long long)r.bytes_freed);
	}
	*freed = r.bytes_freed;
	return o;
}

/* ---- the threads ------------------------------------------------------------ */

/* Under m->lock: the kind w should run now, or -1 (then *wait_until is
 * when to look again, 0 for "when signalled"). */
static int pick(struct worker *w, double now, double *wait_until)
{
	struct api_maint *m = w->m;
	int demand = w == &m->gc ? KIND_GC : KIND_FSCK;
	int sched = w == &m->gc ? KIND_GC : KIND_SCRUB;

	if (w->want)
		return demand;
	if (w->interval && now >= w->next) {
		m->job[sched].id++;
		return sched;
	}
	*wait_until = w->interval ? w->next : 0;
	return -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct api_maint *m = w->m;

	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		double until = 0, now = mono();
		int kind = pick(w, now, &until);
		struct job *j;
		uint64_t count = 0;
		json_t *res;
		int64_t id;

		if (kind < 0) {
			if (until > 0) {
				struct timespec ts;

				ts.tv_sec = (time_t)until;
				ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
				pthread_cond_timedwait(&m->cond, &m->lock, &ts);
			} else {
				pthread_cond_wait(&m->cond, &m->lock);
			}
			continue;
		}
		j = &m->job[kind];
		if (kind == KIND_GC || kind == KIND_FSCK)
			w->want = 0;
		if (w->interval && (kind == KIND_GC || kind == KIND_SCRUB))
			w->next = now + w->interval;
		j->state = ST_RUNNING;
		id = j->id;
		pthread_mutex_unlock(&m->lock);
		res = kind == KIND_GC ? run_gc(w, id, &count) : run_fsck(w, kind, id, &count);
		pthread_mutex_lock(&m->lock);
		json_decref(j->last);
		j->last = res;
		j->runs++;
		j->last_time = real_now();
		j->last_seconds = res ? json_real_value(json_object_get(res, "seconds")) : 0;
		j->last_count = count;
		if (!res || json_object_get(res, "error")) {
			j->failures++;
			j->state = ST_FAILED;
		} else {
			j->state = ST_DONE;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static int worker_start(struct api_maint *m, struct worker *w, unsigned interval, int low)
{
	w->m = m;
	w->interval = interval;
	w->low_priority = low;
	w->next = mono() + interval;
	if (pthread_create(&w->thread, NULL, worker_main, w))
		return hz_error_set(HZ_ERROR, "cannot start a maintenance thread");
	w->started = 1;
	return 0;
}

int maint_start(struct api_maint **out, struct api_server *srv)
{
	struct api_maint *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!m)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	m->srv = srv;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = worker_start(m, &m->gc, srv->cfg.gc_interval, 0);
	if (!rc)
		rc = worker_start(m, &m->fsck, srv->cfg.scrub_interval, 1);
	if (rc) {
		maint_stop(m);
		return rc;
	}
	*out = m;
	return 0;
}

void maint_stop(struct api_maint *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = 1;
	if (m->fsck_running)
		store_fsck_interrupt(m->fsck_running);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->gc.started)
		pthread_join(m->gc.thread, NULL);
	if (m->fsck.started)
		pthread_join(m->fsck.thread, NULL);
	store_free(m->gc.s);
	store_free(m->fsck.s);
	for (int k = 0; k < NKINDS; k++)
		json_decref(m->job[k].last);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void maint_gauges(struct api_maint *m, struct metrics_gauges *g)
{
	struct job *sc, *gc;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	sc = &m->job[KIND_SCRUB];
	gc = &m->job[KIND_GC];
	g->scrub_enabled = m->fsck.interval > 0;
	g->scrub_runs = sc->runs;
	g->scrub_failures = sc->failures;
	g->scrub_last_time = sc->last_time;
	g->scrub_last_seconds = sc->last_seconds;
	g->scrub_last_problems = sc->last_count;
	g->gc_runs = gc->runs;
	g->gc_failures = gc->failures;
	g->gc_last_time = gc->last_time;
	g->gc_last_seconds = gc->last_seconds;
	g->gc_last_freed_bytes = gc->last_count;
	pthread_mutex_unlock(&m->lock);
}

/* ---- the admin routes ------------------------------------------------------- */

/* Under m->lock: the status of a kind of job, run by w. */
static json_t *status(struct api_maint *m, int kind, struct worker *w)
{
	struct job *j = &m->job[kind];
	json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "state", state_names[j->state], "id",
			      (json_int_t)j->id, "runs", (json_int_t)j->runs, "failures",
			      (json_int_t)j->failures);

	if (!o)
		return NULL;
	if (kind != KIND_FSCK) {
		json_object_set_new(o, "interval", json_integer(w->interval));
		json_object_set_new(o, "next_at", w->interval ? iso(real_now() + w->next - mono())
							       : json_null());
	}
	json_object_set_new(o, "last", j->last ? json_deep_copy(j->last) : json_null());
	return o;
}

static int reply_status(struct api_req *req, int kind, int start)
{
	struct api_maint *m = req->srv->maint;
	struct worker *w = kind == KIND_GC ? &m->gc : &m->fsck;
	int demand = kind == KIND_GC ? KIND_GC : KIND_FSCK;
	json_t *o;

	if (api_require_global(req, STORE_SCOPE_WRITE))
		return 0;
	pthread_mutex_lock(&m->lock);
	if (start && m->job[demand].state != ST_QUEUED && m->job[demand].state != ST_RUNNING) {
		m->job[demand].id++;
		m->job[demand].state = ST_QUEUED;
		w->want = 1;
		pthread_cond_broadcast(&m->cond);
	}
	o = status(m, kind, w);
	pthread_mutex_unlock(&m->lock);
	if (!o)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	return api_reply_json(req, start ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, o);
}

int admin_fsck_post(struct api_req *req)
{
	return reply_status(req, KIND_FSCK, 1);
}

int admin_fsck_get(struct api_req *req)
{
	return reply_status(req, KIND_FSCK, 0);
}

int admin_scrub_get(struct api_req *req)
{
	return reply_status(req, KIND_SCRUB, 0);
}

int admin_gc_post(struct api_req *req)
{
	return reply_status(req, KIND_GC, 1);
}

int admin_gc_get(struct api_req *req)
{
	return reply_status(req, KIND_GC, 0);
}
