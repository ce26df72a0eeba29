/*
 * api/api_int.h - what the api/ sources share: the server, one request's
 * state, routing, replies, authorisation.
 */
#ifndef HZ_API_INT_H
#define HZ_API_INT_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "api/api.h"
#include "api/dynlib.h"
#include "api/http_int.h"

struct api_server {
	struct api_config cfg;		/* strings below are owned copies */
	char *store_dir, *host, *public_url;
	char *store_real;		/* store_dir's absolute path, or NULL */
	struct MHD_Daemon *mhd;
	unsigned port;
	pthread_mutex_t lock;		/* guards stores */
	struct store **stores;		/* one per worker thread */
	size_t nstores, cap;
	atomic_uint uploads;
	atomic_int stopping;
	atomic_int resumed_open;	/* resumed by a pool, reply not yet sent */
	atomic_int draining;		/* api_server_drain: refuse new requests */
	struct metrics *metrics;	/* api/metrics_int.h */
	struct api_pool *pool;		/* the ingest threads (api/pool.c) */
	struct api_pool *rpool;		/* threads for slow reads: stats, metrics */
	struct api_ratelimit *rl;	/* per-client request rate, or NULL */
	struct api_maint *maint;	/* gc, scrub, admin fsck (api/maint.c) */
	struct api_watch *watch;	/* the header deadline (api/watch.c) */
};

/* The style of error bodies: the native API nests {"code","message"}, the
 * hub endpoints answer {"error": "message"}; both set X-Error-Code. */
enum { STYLE_NATIVE = 0, STYLE_HUB = 1 };

struct api_req;
typedef int (*api_body_fn)(struct api_req *req, const char *data, size_t n);
typedef void (*api_done_fn)(struct api_req *req);
typedef void (*api_free_fn)(struct api_req *req);

#define API_MAX_ARGS 4

struct api_req {
	struct api_server *srv;
	struct MHD_Connection *conn;
	struct store *s;		/* the worker thread's store */
	const char *method;
	int head;			/* a HEAD request */
	char *url;			/* raw path, for the log */
	struct http_path path;
	struct timespec t0;
	char remote[INET6_ADDRSTRLEN + 8];
	int style;
	int routed;			/* api_route has run */

	/* who is asking (api/auth.c) */
	int has_token;			/* a valid token was presented */
	int bad_token;			/* credentials were presented and refused */
	struct store_token tok;

	/* routing: captures of the matched route */
	const char *route;		/* its pattern (metrics), or NULL */
	const char *arg[API_MAX_ARGS];	/* point into path.seg */
	char *rest;			/* the "*" tail, joined (malloc'd) */
	int repo_type;			/* STORE_REPO_* of the route */
	char repo[2 * (STORE_NS_MAX + 1) + 1];	/* "ns/name" when captured */

	/* body: a handler that wants one sets body_fn (streamed) or body_max
	 * (buffered into body), and done_fn, called after the last byte */
	api_body_fn body_fn;
	size_t body_max;
	char *body;
	size_t body_len;
	api_done_fn done_fn;
	api_free_fn free_fn;		/* releases state; runs on abort too */
	void *state;
	int body_failed;		/* body_fn refused: drop the rest, then
					 * reply fail_status / fail_code */
	unsigned fail_status;
	const char *fail_code;
	char fail_msg[512];
	uint64_t body_total;		/* bytes received */
	int in_body;			/* inside body_fn: replies are deferred */
	int upload_slot;		/* counts against max_uploads */
	int resumed;			/* counted in srv->resumed_open */

	/* work handed to an ingest thread (api/pool.c): done_fn calls
	 * api_defer; the connection is suspended meanwhile */
	api_done_fn work_fn;
	struct api_pool *work_pool;	/* where it runs; NULL: srv->pool */
	int deferred;			/* suspended, queued or running */
	int in_pool;			/* on a pool thread: replies are stashed */
	struct MHD_Response *stash;	/* the reply made there */
	unsigned stash_status;
	uint64_t stash_len;
	struct api_req *pool_next;

	/* the reply */
	int queued;
	unsigned status;
	uint64_t bytes;			/* body bytes sent */
	char commit_hdr[STORE_COMMIT_HEX]; /* X-Repo-Commit on every reply */
	const char *xhdr_name;		/* one more header on the reply */
	char *xhdr_value;		/* malloc'd */
};

/* ---- server.c ---------------------------------------------------------- */

/* The base URL for absolute links (no trailing '/'), malloc'd. */
char *api_base_url(struct api_req *req);
/* A request header (case-insensitive name) or NULL. */
const char *api_header(struct api_req *req, const char *name);
/* A query argument, percent-decoded (malloc'd), or NULL. */
char *api_query(struct api_req *req, const char *name);
/* Takes an upload slot; 0, or replies 503 and returns -1. */
int api_upload_slot(struct api_req *req);
/* Records a failure found while the body streams in (a reply cannot be
 * queued then): the rest of the body is dropped and the error sent after
 * it.  The message is hz_error_msg() when fmt is NULL.  Returns -1. */
int api_body_fail(struct api_req *req, unsigned status, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- pool.c ------------------------------------------------------------ */

struct api_pool;
/* Starts nthreads ingest threads (each opens its own store handle). */
int api_pool_new(struct api_pool **out, struct api_server *srv, unsigned nthreads);
/* Suspends req's connection and queues req for req->work_fn; -1 when the
 * pool is stopping (nothing done: the caller replies). */
int api_pool_submit(struct api_pool *p, struct api_req *req);
/* Lets running work finish, answers queued requests 503, resumes every
 * connection and joins the threads; submitting fails from then on.
 * api_pool_free stops the pool if needed and frees it.  NULL: no-op. */
void api_pool_stop(struct api_pool *p);
void api_pool_free(struct api_pool *p);
/* From a done_fn: the rest of the request (work) runs on an ingest thread
 * with its own store in req->s; its replies are sent when it ends.
 * Returns 0. */
int api_defer(struct api_req *req, api_done_fn work);
/* The same on the threads for slow reads (srv->rpool): a handler whose
 * answer can take a while (the storage statistics recomputed after a
 * change, a metrics scrape) runs there, so that the connections of its
 * worker thread are not held up meanwhile.  Returns 0. */
int api_defer_read(struct api_req *req, api_done_fn work);

/* ---- reply.c ----------------------------------------------------------- */

/* Queues r with status (adding the common headers), destroys our
 * reference; records status and, for a buffer, its length.  On an ingest
 * thread (req->in_pool) r is stashed instead, for api_queue_stash.
 * Returns 0. */
int api_queue(struct api_req *req, unsigned status, struct MHD_Response *r, uint64_t len);
/* Queues the stashed reply (on the connection's own thread). */
void api_queue_stash(struct api_req *req);
/* Replies with the JSON value (stolen) and status.  Returns 0. */
int api_reply_json(struct api_req *req, unsigned status, json_t *v);
/* The same with another Content-Type (e.g. application/vnd.git-lfs+json). */
int api_reply_json_type(struct api_req *req, unsigned status, json_t *v, const char *type);
/* Replies with an error in the request's style.  Returns 0. */
int api_reply_error(struct api_req *req, unsigned status, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Replies for a store error rc (hz_error_msg() as the message):
 * HZ_ENOTFOUND -> 404 with notfound_code, HZ_EINVAL -> 400, ... */
int api_reply_store_error(struct api_req *req, int rc, const char *notfound_code);
/* ISO 8601 UTC of a unix time into out (at least 32 bytes). */
void api_iso_time(char *out, size_t n, int64_t t);

/* ---- router.c ---------------------------------------------------------- */

/* Finds the handler for the request and runs it: it replies, or asks for
 * the body (req->body_fn / body_max and done_fn).  Returns 0. */
int api_route(struct api_req *req);

/* ---- auth.c ------------------------------------------------------------ */

/* Reads Authorization (Bearer, or Basic with the token as password). */
void api_auth_identify(struct api_req *req);
/* Whether the caller may read repo (given its info) / write namespace ns. */
int api_can_read(struct api_req *req, const char *repo, const struct store_repo_info *info);
int api_can_write(struct api_req *req, const char *repo);
/* Whether a revision of a repo the caller may read holds the file whose
 * SHA-256 is sha: 1, 0, or a negative error.  Content the caller cannot
 * read is never "already stored" for it (no existence oracle, and no
 * naming another repo's private file by its hash in a commit). */
int api_can_read_sha256(struct api_req *req, const uint8_t sha[HZ_SHA256_LEN]);
/*
 * Checks that repo exists, has the route's type and may be read: fills
 * *info and returns 0, or replies (401 bad token, 404 RepoNotFound, also
 * for a private repo the caller may not read) and returns -1.
 */
int api_repo_read(struct api_req *req, const char *repo, struct store_repo_info *info);
/* Same for writing (401 without a token, 403 without rights). */
int api_repo_write(struct api_req *req, const char *repo, struct store_repo_info *info);
/* Replies 401 (no or bad token) or 403 unless the caller has a token of
 * the given scope for every namespace; returns 0 when it does. */
int api_require_global(struct api_req *req, int scope);

/* ---- download.c -------------------------------------------------------- */

/* Replies with file `path` of repo at commit: ETag, Range, HEAD; with
 * hub != 0 the hub headers (X-Linked-*) too.  404 EntryNotFound when
 * missing (X-Repo-Commit set). */
int api_send_file(struct api_req *req, const char *repo, const char *commit,
		  const char *path);

/* The same for a file already open (taken over: freed here). */
int api_send_opened(struct api_req *req, struct store_file *f);

/* ---- upload.c ---------------------------------------------------------- */

/* PUT .../files/{rev}/{path}: one file, streamed, one new revision. */
int api_upload_file(struct api_req *req, const char *repo, const char *branch,
		    const char *path);
/* POST .../commit/{rev} with multipart/form-data: several files, one
 * revision. */
int api_upload_multipart(struct api_req *req, const char *repo, const char *branch);

/* ---- metrics.c -------------------------------------------------------- */

/* GET /metrics (docs/api.md, "Metrics"). */
int metrics_get(struct api_req *req);
/* store_ingest_add_fd (store_ingest_add_fd_sha256 when sha is not NULL:
 * the digest of the bytes just spooled to fd) and store_ingest_commit,
 * timed and counted in the metrics; same returns. */
int api_ingest_add_fd(struct api_req *req, struct store_ingest *in, const char *path, int fd,
		      uint64_t size, const uint8_t *sha);
int api_ingest_commit(struct api_req *req, struct store_ingest *in, const char *message,
		      char commit_out[STORE_COMMIT_HEX]);

/* ---- native.c, hub.c: route handlers ------------------------------------ */

int native_health(struct api_req *req);
int native_repos_list(struct api_req *req);
int native_repo_create(struct api_req *req);
int native_repo_get(struct api_req *req);
int native_repo_delete(struct api_req *req);
int native_repo_patch(struct api_req *req);
int native_revisions(struct api_req *req);
int native_files_list(struct api_req *req);
int native_file_get(struct api_req *req);
int native_file_put(struct api_req *req);
int native_commit(struct api_req *req);
int native_stats(struct api_req *req);

int hub_resolve(struct api_req *req);
int hub_repo_info(struct api_req *req);
int hub_tree(struct api_req *req);
int hub_paths_info(struct api_req *req);
int hub_whoami(struct api_req *req);

/* hub_upload.c */
int hub_repo_create(struct api_req *req);
int hub_validate_yaml(struct api_req *req);
int hub_preupload(struct api_req *req);
/* hub_commit.c */
int hub_commit(struct api_req *req);
/* lfs.c */
int lfs_batch(struct api_req *req);
int lfs_verify(struct api_req *req);
int lfs_locks_verify(struct api_req *req);
int lfs_put(struct api_req *req);
int lfs_get(struct api_req *req);
/* E/[datasets/]ns/name (malloc'd), or NULL when out of memory. */
char *hub_repo_url(struct api_req *req, const char *repo, int type);

/* Resolves rev ("HEAD" is main) of repo to *out; replies 404
 * RevisionNotFound (or 400) and returns -1 when it cannot. */
int api_resolve(struct api_req *req, const char *repo, const char *rev,
		struct store_revision *out);

#endif
