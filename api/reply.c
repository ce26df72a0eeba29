/*
 * api/reply.c - queuing responses: common headers, JSON bodies, errors
 * with stable codes, and the translation of store errors to HTTP.
 */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/utf8.h"

static void queue_now(struct api_req *req, unsigned status, struct MHD_Response *r,
		      uint64_t len)
{
	if (MHD_queue_response(req->conn, status, r) == MHD_YES) {
		req->queued = 1;
		req->status = status;
		if (!req->head)
			req->bytes = len;
	} else {
		api_log(API_LOG_ERROR, "cannot queue a response for %s %s", req->method,
			req->url);
	}
	MHD_destroy_response(r);
}

int api_queue(struct api_req *req, unsigned status, struct MHD_Response *r, uint64_t len)
{
	if (!r) {
		api_log(API_LOG_ERROR, "cannot create a response for %s %s", req->method,
			req->url);
		return 0;
	}
	MHD_add_response_header(r, "Server", "hubzip");
	if (req->commit_hdr[0])
		MHD_add_response_header(r, "X-Repo-Commit", req->commit_hdr);
	if (req->xhdr_name && req->xhdr_value)
		MHD_add_response_header(r, req->xhdr_name, req->xhdr_value);
	if (req->in_pool) { /* the connection is suspended: keep it for later */
		if (req->stash)
			MHD_destroy_response(req->stash);
		req->stash = r;
		req->stash_status = status;
		req->stash_len = len;
		return 0;
	}
	queue_now(req, status, r, len);
	return 0;
}

void api_queue_stash(struct api_req *req)
{
	struct MHD_Response *r = req->stash;

	req->stash = NULL;
	if (r)
		queue_now(req, req->stash_status, r, req->stash_len);
}

static struct MHD_Response *json_response(json_t *v, size_t *len)
{
	char *text = json_dumps(v, JSON_COMPACT);
	struct MHD_Response *r;

	*len = 0;
	if (!text)
		return NULL;
	*len = strlen(text);
	r = MHD_create_response_from_buffer(*len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return r;
}

int api_reply_json(struct api_req *req, unsigned status, json_t *v)
{
	return api_reply_json_type(req, status, v, NULL);
}

int api_reply_json_type(struct api_req *req, unsigned status, json_t *v, const char *type)
{
	struct MHD_Response *r;
	size_t len;

	if (!v)
		return api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				       "out of memory");
	r = json_response(v, &len);
	json_decref(v);
	if (r && type) {
		MHD_del_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	}
	return api_queue(req, status, r, len);
}

/* A header value cannot hold control characters. */
static void header_safe(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* Replaces the store's location in msg (n bytes) by "<store>": no error
 * body tells where the store lives, whatever message reached it. */
static void scrub_store_path(char *msg, size_t n, const char *dir)
{
	static const char tag[] = "<store>";
	size_t dl = dir ? strlen(dir) : 0, tl = sizeof(tag) - 1;
	char *p;

	if (dl < 2 || dir[0] != '/')
		return;
	while ((p = strstr(msg, dir))) {
		size_t rest = strlen(p + dl) + 1;

		if (tl > dl && (size_t)(p - msg) + tl + rest > n)
			break;
		memmove(p + tl, p + dl, rest);
		memcpy(p, tag, tl);
	}
}

int api_reply_error(struct api_req *req, unsigned status, const char *code,
		    const char *fmt, ...)
{
	struct MHD_Response *r;
	char msg[1024];
	json_t *v;
	size_t len = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	scrub_store_path(msg, sizeof(msg), req->srv->store_real);
	scrub_store_path(msg, sizeof(msg), req->srv->store_dir);
	/* messages quote what the client sent: a JSON body needs UTF-8 */
	hz_utf8_sanitize(msg);
	if (req->in_body) /* MHD cannot queue a reply before the body ends */
		return api_body_fail(req, status, code, "%s", msg), 0;
	if (status >= 500)
		api_log(API_LOG_ERROR, "%s %s: %s: %s", req->method, req->url, code, msg);
	if (req->style == STYLE_HUB)
		v = json_pack("{s:s}", "error", msg);
	else
		v = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	r = v ? json_response(v, &len) : NULL;
	json_decref(v);
	if (r) {
		header_safe(msg);
		MHD_add_response_header(r, "X-Error-Code", code);
		MHD_add_response_header(r, "X-Error-Message", msg);
		if (status == MHD_HTTP_UNAUTHORIZED) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
						"Bearer realm=\"hubzip\"");
			/* makes git-lfs ask its credential helper */
			MHD_add_response_header(r, "LFS-Authenticate",
						"Basic realm=\"hubzip\"");
		}
	}
	return api_queue(req, status, r, len);
}

/*
 * A store error's message is for the client when the client caused it (a
 * bad name, a missing repo, an invalid file).  Anything else (a full
 * disk, damaged data, an I/O error) may name files of the store: the
 * client gets a fixed message and the detail goes to the log.
 */
int api_reply_store_error(struct api_req *req, int rc, const char *notfound_code)
{
	const char *msg = hz_error_msg();

	switch (rc) {
	case HZ_ENOTFOUND:
		return api_reply_error(req, MHD_HTTP_NOT_FOUND, notfound_code, "%s", msg);
	case HZ_EINVAL:
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "%s", msg);
	case HZ_EEXISTS:
		return api_reply_error(req, MHD_HTTP_CONFLICT, "Conflict", "%s", msg);
	case HZ_EUNSUPPORTED:
		return api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "Unsupported",
				       "%s", msg);
	default:
		break;
	}
	api_log(API_LOG_ERROR, "%s %s: %s", req->method, req->url, msg);
	switch (rc) {
	case HZ_ENOSPC:
		return api_reply_error(req, MHD_HTTP_INSUFFICIENT_STORAGE, "InsufficientStorage",
				       "the server's disk is full; nothing was changed");
	case HZ_ECORRUPT:
		return api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "Corrupt",
				       "stored data failed its integrity check (details are in"
				       " the server's log)");
	default:
		return api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError",
				       "internal error (details are in the server's log)");
	}
}

void api_iso_time(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}
