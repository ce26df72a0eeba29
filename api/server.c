/*
 * api/server.c - the libmicrohttpd daemon: a pool of worker threads (each
 * polls its own connections with epoll and owns one store handle, opened
 * on its first request), request bodies streamed to the handlers, one
 * JSON access-log line per request, and shutdown that aborts uploads.
 *
 * A request's callbacks (headers, body chunks, the response reader, the
 * completion) all run on the worker thread that owns its connection, so
 * the thread's store is never shared.  The one exception is the heavy end
 * of an upload, handed to an ingest thread (api/pool.c) with the
 * connection suspended: that thread uses its own store, and the worker
 * touches the request again only once it is resumed.
 */
#include "api/api_int.h"
#include "api/maint_int.h"
#include "api/metrics_int.h"
#include "api/ratelimit_int.h"
#include "api/watch_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/utf8.h"

static _Thread_local struct store *tl_store;
static _Thread_local const struct api_server *tl_srv;
static atomic_int log_level = API_LOG_INFO;

void api_config_init(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->store_dir = "./data";
	cfg->host = "127.0.0.1";
	cfg->port = 8080;
	cfg->max_upload_bytes = 64ull << 30;
	cfg->max_header_bytes = 64u << 10;
	cfg->max_uploads = 8;
	cfg->threads = 8;
	cfg->header_timeout = 30;
	cfg->log_level = API_LOG_INFO;
	cfg->gc_interval = 3600;
}

/* ---- logging ----------------------------------------------------------- */

void api_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

static void now_iso(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	size_t k;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void log_json(json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));

	if (line) {
		fprintf(stderr, "%s\n", line);
		free(line);
	}
}

void api_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char msg[1024], t[40];
	json_t *o;
	va_list ap;

	if (level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hz_utf8_sanitize(msg); /* a JSON line: what clients sent is quoted */
	now_iso(t, sizeof(t));
	o = json_pack("{s:s, s:s, s:s}", "time", t, "level",
		      names[level < 0 ? 0 : level > 3 ? 3 : level], "msg", msg);
	if (o)
		log_json(o);
	json_decref(o);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	api_log(API_LOG_WARN, "libmicrohttpd: %s", msg);
}

static void log_access(struct api_req *req, enum MHD_RequestTerminationCode toe)
{
	struct timespec t1;
	char t[40], method[32];
	double ms;
	json_t *o;

	if (API_LOG_INFO > atomic_load(&log_level))
		return;
	/* the method is the client's bytes (the path was made UTF-8) */
	snprintf(method, sizeof(method), "%s", req->method);
	hz_utf8_sanitize(method);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - req->t0.tv_sec) * 1e3 +
	     (double)(t1.tv_nsec - req->t0.tv_nsec) / 1e6;
	now_iso(t, sizeof(t));
	o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:f, s:s}", "time", t, "level",
		      "info", "method", method, "path", req->url ? req->url : "",
		      "status", (int)req->status, "bytes", (json_int_t)req->bytes,
		      "body_bytes", (json_int_t)req->body_total, "duration_ms", ms,
		      "remote", req->remote);
	if (!o)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(o, "aborted", json_true());
	if (req->has_token)
		json_object_set_new(o, "token", json_string(req->tok.name));
	log_json(o);
	json_decref(o);
}

/* ---- per-thread stores ------------------------------------------------- */

static int thread_store(struct api_server *srv, struct store **out)
{
	struct store *s;
	int rc;

	if (tl_store && tl_srv == srv) {
		*out = tl_store;
		return 0;
	}
	rc = store_open(&s, srv->store_dir, 0);
	if (rc)
		return rc;
	pthread_mutex_lock(&srv->lock);
	if (srv->nstores == srv->cap) {
		size_t cap = srv->cap ? srv->cap * 2 : 16;
		struct store **v = realloc(srv->stores, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&srv->lock);
			store_free(s);
			return hz_error_set(HZ_ENOMEM, "out of memory");
		}
		srv->stores = v;
		srv->cap = cap;
	}
	srv->stores[srv->nstores++] = s;
	pthread_mutex_unlock(&srv->lock);
	tl_store = s;
	tl_srv = srv;
	*out = s;
	return 0;
}

/* ---- request helpers --------------------------------------------------- */

const char *api_header(struct api_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

char *api_query(struct api_req *req, const char *name)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
	char *out = NULL;

	if (!v)
		return NULL;
	if (http_pct_decode(&out, v, strlen(v), 1))
		return NULL;
	return out;
}

char *api_base_url(struct api_req *req)
{
	const char *host;
	size_t n;
	char *s;

	if (req->srv->public_url)
		return hz_strdup(req->srv->public_url);
	host = api_header(req, MHD_HTTP_HEADER_HOST);
	if (host && *host && strlen(host) < 256 && !strpbrk(host, "/\\ <>\"")) {
		n = strlen(host) + 8;
		s = malloc(n);
		if (s)
			snprintf(s, n, "http://%s", host);
		return s;
	}
	n = strlen(req->srv->host) + 32;
	s = malloc(n);
	if (s)
		snprintf(s, n, strchr(req->srv->host, ':') ? "http://[%s]:%u" : "http://%s:%u",
			 req->srv->host, req->srv->port);
	return s;
}

int api_upload_slot(struct api_req *req)
{
	unsigned n = atomic_fetch_add(&req->srv->uploads, 1) + 1;

	if (n > req->srv->cfg.max_uploads) {
		atomic_fetch_sub(&req->srv->uploads, 1);
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "TooManyUploads",
				"%u uploads are in progress; retry later",
				req->srv->cfg.max_uploads);
		return -1;
	}
	req->upload_slot = 1;
	return 0;
}

int api_body_fail(struct api_req *req, unsigned status, const char *code,
		  const char *fmt, ...)
{
	va_list ap;

	if (req->body_failed)
		return -1;
	req->body_failed = 1;
	req->fail_status = status;
	req->fail_code = code;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(req->fail_msg, sizeof(req->fail_msg), fmt, ap);
		va_end(ap);
	} else {
		snprintf(req->fail_msg, sizeof(req->fail_msg), "%s", hz_error_msg());
	}
	return -1;
}

struct hdr_sum {
	size_t bytes;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct hdr_sum *h = cls;

	(void)kind;
	h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

static void remote_addr(struct api_req *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(req->remote, sizeof(req->remote), "-");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  req->remote, sizeof(req->remote));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  req->remote, sizeof(req->remote));
}

/* The per-client request rate (rate_limit): 0, or replies 429 with
 * Retry-After and returns -1.  A valid token is limited by its name, the
 * rest by the client's address; the health check is never limited. */
static int rate_check(struct api_req *req)
{
	const struct http_path *p = &req->path;
	char key[RL_KEY_MAX + 1];
	struct timespec ts;
	unsigned wait;

	if (!req->srv->rl || (p->n == 3 && !strcmp(p->seg[0], "api") &&
			      !strcmp(p->seg[1], "v1") && !strcmp(p->seg[2], "health")))
		return 0;
	if (req->has_token)
		snprintf(key, sizeof(key), "token:%s", req->tok.name);
	else
		snprintf(key, sizeof(key), "addr:%s", req->remote);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wait = api_ratelimit_take(req->srv->rl, key, (double)ts.tv_sec + ts.tv_nsec / 1e9);
	if (!wait)
		return 0;
	req->style = p->n >= 2 && !strcmp(p->seg[0], "api") && !strcmp(p->seg[1], "v1")
			     ? STYLE_NATIVE
			     : STYLE_HUB;
	req->xhdr_name = "Retry-After";
	req->xhdr_value = malloc(16);
	if (req->xhdr_value)
		snprintf(req->xhdr_value, 16, "%u", wait);
	api_reply_error(req, MHD_HTTP_TOO_MANY_REQUESTS, "TooManyRequests",
			"more than %g requests per second from this %s; retry in %u s",
			req->srv->cfg.rate_limit, req->has_token ? "token" : "address", wait);
	return -1;
}

/* Counts the Content-Length headers and whether their values differ. */
struct cl_count {
	const char *first;
	unsigned n, differ;
};

static enum MHD_Result count_cl(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct cl_count *c = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		return MHD_YES;
	if (c->n++ && strcmp(c->first, value ? value : ""))
		c->differ = 1;
	else if (!c->first)
		c->first = value ? value : "";
	return MHD_YES;
}

/*
 * Whether the body's length is unambiguous (RFC 9112 6.1, 6.3): at most
 * one Content-Length value, and a Transfer-Encoding only alone and only
 * "chunked" (the one coding libmicrohttpd decodes).  Two lengths, or both
 * headers, are how requests are smuggled past a proxy that reads them
 * otherwise; an unknown coding leaves the end of the body unknown.
 */
static int body_framing_ok(struct api_req *req, const char *cl)
{
	const char *te = api_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	struct cl_count c = { 0 };

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_cl, &c);
	if (c.differ) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"conflicting Content-Length headers");
		return 0;
	}
	if (te && (cl || strcasecmp(te, "chunked"))) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "%s",
				cl ? "Content-Length and Transfer-Encoding together"
				   : "Transfer-Encoding must be chunked");
		return 0;
	}
	return 1;
}

static void req_route(struct api_req *req)
{
	req->routed = 1;
	api_auth_identify(req);
	if (rate_check(req))
		return;
	api_route(req);
}

/* The first call, with the headers: check, parse, and maybe route. */
static void req_begin(struct api_req *req, const char *url)
{
	struct hdr_sum hs = { strlen(url) + strlen(req->method) + 16 };
	const char *cl;
	int rc;

	/* the query string too: MHD hands it over apart from the path */
	MHD_get_connection_values(req->conn,
				  (enum MHD_ValueKind)(MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND),
				  sum_header, &hs);
	if (hs.bytes > req->srv->cfg.max_header_bytes) {
		api_reply_error(req, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				"HeadersTooLarge", "request headers exceed %zu bytes",
				req->srv->cfg.max_header_bytes);
		return;
	}
	if (atomic_load(&req->srv->stopping) || atomic_load(&req->srv->draining)) {
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ShuttingDown",
				"the server is shutting down");
		return;
	}
	cl = api_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!body_framing_ok(req, cl))
		return;
	if (cl && strtoull(cl, NULL, 10) > req->srv->cfg.max_upload_bytes) {
		api_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, "PayloadTooLarge",
				"the body exceeds the limit of %llu bytes",
				(unsigned long long)req->srv->cfg.max_upload_bytes);
		return;
	}
	rc = http_path_split(&req->path, url);
	if (rc) {
		api_reply_error(req, rc == HZ_ENOMEM ? 500 : MHD_HTTP_BAD_REQUEST,
				rc == HZ_ENOMEM ? "InternalError" : "InvalidPath", "%s",
				hz_error_msg());
		return;
	}
	rc = thread_store(req->srv, &req->s);
	if (rc) {
		api_log(API_LOG_ERROR, "cannot open store '%s': %s", req->srv->store_dir,
			hz_error_msg());
		api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				"cannot open the store");
		return;
	}
	/* a reply queued now (before the body) makes MHD close the
	 * connection: requests without a body are routed on the last call,
	 * keeping the connection alive; uploads now, so that they can be
	 * refused before their bytes are read */
	if (api_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) || (cl && strcmp(cl, "0")))
		req_route(req);
}

#define BODY_DISCARD_MAX (64u << 20)

/* A chunk of the body. */
static enum MHD_Result req_body(struct api_req *req, const char *data, size_t n)
{
	req->body_total += n;
	/* MHD cannot send a reply before the body ends: a body over the
	 * limit (chunked: its length was not announced) is read and dropped
	 * for another BODY_DISCARD_MAX bytes, so that the client gets its
	 * JSON 413; past that the connection is closed */
	if (req->body_total > req->srv->cfg.max_upload_bytes &&
	    req->body_total - req->srv->cfg.max_upload_bytes > BODY_DISCARD_MAX) {
		api_log(API_LOG_WARN, "body of %s %s far over the limit: closing", req->method,
			req->url);
		return MHD_NO;
	}
	if (req->body_failed)
		return MHD_YES;
	if (req->body_total > req->srv->cfg.max_upload_bytes) {
		api_body_fail(req, MHD_HTTP_CONTENT_TOO_LARGE, "PayloadTooLarge",
			      "the body exceeds the limit of %llu bytes",
			      (unsigned long long)req->srv->cfg.max_upload_bytes);
		return MHD_YES;
	}
	if (req->body_fn) {
		req->in_body = 1;
		req->body_fn(req, data, n);
		req->in_body = 0;
		return MHD_YES;
	}
	if (req->body_max) {
		if (req->body_len + n > req->body_max) {
			api_body_fail(req, MHD_HTTP_CONTENT_TOO_LARGE, "PayloadTooLarge",
				      "the body exceeds %zu bytes", req->body_max);
			return MHD_YES;
		}
		if (!req->body) {
			req->body = malloc(req->body_max + 1);
			if (!req->body) {
				api_body_fail(req, 500, "InternalError", "out of memory");
				return MHD_YES;
			}
		}
		memcpy(req->body + req->body_len, data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
	}
	/* a body nobody asked for is ignored */
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api_server *srv = cls;
	struct api_req *req = *con_cls;

	(void)version;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		clock_gettime(CLOCK_MONOTONIC, &req->t0);
		req->srv = srv;
		metrics_request_begin(srv->metrics);
		req->conn = conn;
		req->method = method;
		req->head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
		req->url = hz_strdup(url);
		if (req->url) /* for the log, a JSON string */
			hz_utf8_sanitize(req->url);
		remote_addr(req);
		api_watch_busy(conn, 1); /* the headers are in: no deadline */
		if (!req->url)
			return MHD_NO;
		req_begin(req, url);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		return req->queued ? MHD_YES : req_body(req, upload_data, n);
	}
	if (req->queued)
		return MHD_YES;
	if (req->deferred) {
		/* resumed: the ingest thread left its reply in the request */
		if (!req->stash)
			return MHD_NO;
		api_queue_stash(req);
		return MHD_YES;
	}
	if (!req->routed)
		req_route(req);
	if (req->queued)
		return MHD_YES;
	if (req->body_failed)
		api_reply_error(req, req->fail_status, req->fail_code, "%s", req->fail_msg);
	else if (req->done_fn)
		req->done_fn(req);
	if (!req->queued && req->work_fn) {
		if (!api_pool_submit(req->work_pool ? req->work_pool : srv->pool, req))
			return MHD_YES; /* suspended until the work is done */
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ShuttingDown",
				"the server is shutting down; nothing was committed");
	}
	if (!req->queued)
		api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				"no reply");
	return MHD_YES;
}

static void req_free(struct api_req *req)
{
	if (req->free_fn)
		req->free_fn(req);
	if (req->upload_slot)
		atomic_fetch_sub(&req->srv->uploads, 1);
	http_path_release(&req->path);
	free(req->rest);
	free(req->xhdr_value);
	if (req->stash)
		MHD_destroy_response(req->stash);
	free(req->body);
	free(req->url);
	free(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_req *req = *con_cls;

	(void)cls;
	api_watch_busy(conn, 0); /* the next request's deadline starts */
	if (!req)
		return;
	if (req->resumed)
		atomic_fetch_sub(&req->srv->resumed_open, 1);
	if (!req->queued && !req->status)
		req->status = 499; /* closed before a reply, as nginx logs it */
	log_access(req, toe);
	metrics_request_end(req->srv->metrics, metrics_route_class(req->method, req->route),
			    req->status, &req->t0, req->bytes, req->body_total);
	req_free(req);
	*con_cls = NULL;
}

/* The identity: segments are decoded one by one in http.c. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* ---- start / stop ------------------------------------------------------ */

/* The ingest threads: as configured, or one per CPU; never more than
 * max_uploads (no more uploads can be in flight). */
static unsigned ingest_threads(const struct api_config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cfg->ingest_threads ? cfg->ingest_threads
					 : ncpu > 0 && ncpu < 64 ? (unsigned)ncpu : 2;

	return n > cfg->max_uploads ? cfg->max_uploads : n;
}

/* The threads for slow reads: one.  While uploads commit, every read of
 * the statistics recomputes them (a scan of the index); one thread keeps
 * that to one core, and concurrent readers wait for it instead of each
 * taking a core from the downloads. */
static unsigned read_threads(void)
{
	return 1;
}

int api_server_start(struct api_server **out, const struct api_config *cfg)
{
	struct api_server *srv;
	struct sockaddr_storage ss;
	struct store *probe = NULL;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	const char *host = cfg->host;
	size_t mem;
	int rc;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	if (!strcmp(host, "localhost"))
		host = "127.0.0.1";
	if (cfg->port > 65535)
		return hz_error_set(HZ_EINVAL, "invalid port %u", cfg->port);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)cfg->port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		return hz_error_set(HZ_EINVAL, "invalid listen address '%s' (a numeric IPv4"
				    " or IPv6 address)", cfg->host);
	}
	/* open once here: a missing store or a failed migration is reported
	 * before the first request */
	rc = store_open(&probe, cfg->store_dir, 0);
	store_free(probe);
	if (rc)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	srv->cfg = *cfg;
	srv->store_dir = hz_strdup(cfg->store_dir);
	srv->store_real = realpath(cfg->store_dir, NULL);
	srv->host = hz_strdup(host);
	if (cfg->public_url && *cfg->public_url) {
		size_t n = strlen(cfg->public_url);

		srv->public_url = hz_strdup(cfg->public_url);
		while (srv->public_url && n && srv->public_url[n - 1] == '/')
			srv->public_url[--n] = '\0';
	}
	pthread_mutex_init(&srv->lock, NULL);
	if (!srv->store_dir || !srv->host || (cfg->public_url && *cfg->public_url &&
					      !srv->public_url) ||
	    metrics_new(&srv->metrics, cfg->version)) {
		api_server_stop(srv);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	srv->cfg.store_dir = srv->store_dir;
	srv->cfg.host = srv->host;
	srv->cfg.public_url = srv->public_url;
	srv->cfg.version = NULL; /* metrics holds its copy */
	if (!srv->cfg.threads)
		srv->cfg.threads = 1;
	if (!srv->cfg.max_uploads)
		srv->cfg.max_uploads = 1;
	if (srv->cfg.rate_limit > 0) {
		double b = 2 * srv->cfg.rate_limit; /* the default: 2 s worth */

		if (!srv->cfg.rate_burst)
			srv->cfg.rate_burst = b < 10 ? 10 : b > 1e6 ? 1000000 : (unsigned)b;
		srv->rl = api_ratelimit_new(srv->cfg.rate_limit, srv->cfg.rate_burst);
		if (!srv->rl) {
			api_server_stop(srv);
			return hz_error_set(HZ_ENOMEM, "out of memory");
		}
	}
	api_log_set_level(cfg->log_level);
	/* headers and the body chunks MHD hands over share this pool */
	mem = srv->cfg.max_header_bytes + (256u << 10);
	rc = dynlib_mhd();
	if (!rc)
		rc = api_pool_new(&srv->pool, srv, ingest_threads(&srv->cfg));
	if (!rc)
		rc = api_pool_new(&srv->rpool, srv, read_threads());
	if (!rc)
		rc = maint_start(&srv->maint, srv);
	if (!rc)
		rc = api_watch_new(&srv->watch, srv->cfg.header_timeout);
	if (rc) {
		api_server_stop(srv);
		return rc;
	}
	srv->mhd = MHD_start_daemon(
		flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.threads,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, api_watch_notify, srv->watch,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
		MHD_OPTION_END);
	if (!srv->mhd) {
		api_server_stop(srv);
		return hz_error_set(HZ_ERROR, "cannot listen on %s:%u (address in use?)",
				    cfg->host, cfg->port);
	}
	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di && di->port ? di->port : cfg->port;
	*out = srv;
	return 0;
}

unsigned api_server_port(const struct api_server *srv)
{
	return srv->port;
}

void api_server_drain(struct api_server *srv)
{
	atomic_store(&srv->draining, 1);
}

unsigned api_server_uploads(struct api_server *srv)
{
	return atomic_load(&srv->uploads);
}

void api_server_stop(struct api_server *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stopping, 1);
	/* ingests in progress end (uncommitted), queued ones are answered;
	 * MHD must not be stopped with a connection still suspended */
	api_pool_stop(srv->pool);
	api_pool_stop(srv->rpool);
	/* the connections the pools resumed (their 503 ShuttingDown or their
	 * result) are answered by MHD's threads: let the replies go out, for
	 * at most 3 s, before MHD_stop_daemon closes every connection */
	for (int i = 0; srv->mhd && i < 300 && atomic_load(&srv->resumed_open) > 0; i++)
		usleep(10000);
	/* closes the listening socket and every connection; each request's
	 * completion callback aborts what it had in flight */
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	api_pool_free(srv->pool);
	api_pool_free(srv->rpool);
	maint_stop(srv->maint);
	api_ratelimit_free(srv->rl);
	api_watch_free(srv->watch);
	for (size_t i = 0; i < srv->nstores; i++)
		store_free(srv->stores[i]);
	free(srv->stores);
	metrics_free(srv->metrics);
	pthread_mutex_destroy(&srv->lock);
	free(srv->store_dir);
	free(srv->store_real);
	free(srv->host);
	free(srv->public_url);
	free(srv);
}
