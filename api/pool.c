/*
 * api/pool.c - the ingest threads: the heavy end of an upload (hashing,
 * encoding and committing an uploaded file or commit, seconds for a large
 * model) runs here instead of on the libmicrohttpd worker thread that
 * received it, so the other connections of that worker keep being served.
 *
 * The pattern libmicrohttpd documents for it: the request's final access
 * handler call (done_fn) asks for it with api_defer; the server then
 * suspends the connection and queues the request here.  A pool thread
 * runs the work with its own store handle in req->s (a store is used by
 * one thread at a time: store/store.h) and with replies stashed in the
 * request instead of queued (api/reply.c), then resumes the connection;
 * libmicrohttpd calls the access handler again, which queues the stashed
 * reply.  Nothing else touches the request while it is suspended, and the
 * pool thread lets go of it when it resumes the connection.
 *
 * The same pool type runs the slow reads (srv->rpool: the storage
 * statistics, whose first read after a change recomputes them, and the
 * metrics scrape), which api_defer_read hands over the same way.
 *
 * On shutdown the running work finishes (the upload paths check
 * srv->stopping before they commit: an unfinished upload commits
 * nothing), queued requests are answered 503 ShuttingDown without
 * running, and every connection is resumed before MHD_stop_daemon (which
 * must not meet a suspended one).
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct api_pool {
	struct api_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct api_req *head, *tail;	/* queued requests */
	int stopping;
	size_t nthreads;
	pthread_t *threads;
};

/* Runs one request's work on this thread's store, or answers it 503 when
 * the pool is stopping, then hands the connection back. */
static void run_one(struct api_pool *p, struct api_req *req, struct store **s, int stopping)
{
	struct store *theirs = req->s;
	int rc;

	req->in_pool = 1;
	if (stopping) {
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ShuttingDown",
				"the server is shutting down; nothing was done");
	} else if (!*s && (rc = store_open(s, p->srv->store_dir, 0))) {
		api_log(API_LOG_ERROR, "ingest thread: cannot open the store: %s",
			hz_error_msg());
		*s = NULL;
		api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				"cannot open the store");
	} else {
		req->s = *s;
		req->work_fn(req);
		if (!req->stash)
			api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
					"no reply");
	}
	req->s = theirs;
	req->in_pool = 0;
	req->resumed = 1; /* api_server_stop waits for its reply to go out */
	atomic_fetch_add(&req->srv->resumed_open, 1);
	/* the last touch: the worker thread owns the request from here */
	MHD_resume_connection(req->conn);
}

static void *pool_main(void *arg)
{
	struct api_pool *p = arg;
	struct store *s = NULL;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct api_req *req;
		int stopping;

		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		req = p->head;
		if (!req)
			break;
		p->head = req->pool_next;
		if (!p->head)
			p->tail = NULL;
		req->pool_next = NULL;
		stopping = p->stopping;
		pthread_mutex_unlock(&p->lock);
		run_one(p, req, &s, stopping);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	store_free(s);
	return NULL;
}

int api_pool_new(struct api_pool **out, struct api_server *srv, unsigned nthreads)
{
	struct api_pool *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	p->srv = srv;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->threads = calloc(nthreads ? nthreads : 1, sizeof(*p->threads));
	if (!p->threads) {
		api_pool_free(p);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < (nthreads ? nthreads : 1); i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p)) {
			api_pool_free(p);
			return hz_error_set(HZ_ERROR, "cannot start an ingest thread");
		}
		p->nthreads++;
	}
	*out = p;
	return 0;
}

int api_pool_submit(struct api_pool *p, struct api_req *req)
{
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	/* suspended before a pool thread can see it (and resume it) */
	MHD_suspend_connection(req->conn);
	req->deferred = 1;
	req->pool_next = NULL;
	if (p->tail)
		p->tail->pool_next = req;
	else
		p->head = req;
	p->tail = req;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void api_pool_stop(struct api_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* each thread answers what is left in the queue before it exits */
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

void api_pool_free(struct api_pool *p)
{
	if (!p)
		return;
	api_pool_stop(p);
	free(p->threads);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int api_defer(struct api_req *req, api_done_fn work)
{
	req->work_fn = work;
	req->work_pool = req->srv->pool;
	return 0;
}

int api_defer_read(struct api_req *req, api_done_fn work)
{
	req->work_fn = work;
	req->work_pool = req->srv->rpool;
	return 0;
}
