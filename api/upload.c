/*
 * api/upload.c - uploads: the body is streamed into an anonymous spool
 * file in the store's objects/tmp/ while its SHA-256 is computed, then
 * ingested through the same pipeline as `hubzip ingest` (tensor dedup,
 * families, deltas) and committed as one revision.
 *
 * The bytes are only spooled while they arrive (a multipart commit spools
 * each file part to its own spool file); the ingest and the commit run on
 * an ingest thread (api/pool.c) once the body has ended, with that
 * thread's store handle, so the worker thread that received the upload
 * goes on serving its other connections.
 *
 * Nothing is visible before the commit.  An aborted request (client gone,
 * server shutting down) closes the spool files, which vanish; the ingest
 * session lives only inside the ingest thread's work and removes its
 * packs unless it committed.  A shutdown that arrives while a file is
 * being ingested lets that call finish and then does not commit.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"

#define FIELD_MAX 4096		/* a plain multipart field (message) */
#define PARTS_MAX 1000		/* file parts of one multipart commit */

/* A file received and spooled, waiting for the ingest. */
struct part {
	char *path;
	int fd;			/* its spool file */
	uint64_t size;
	uint8_t sha[HZ_SHA256_LEN];
};

struct up {
	char *repo, *branch;
	char *path;		/* the file being received */
	int fd;			/* its spool file, or -1 */
	uint64_t size;
	struct hz_sha256 sha;
	int sha_init;
	int want_sha;		/* X-Content-SHA256 was given */
	uint8_t want[HZ_SHA256_LEN];
	struct part *parts;	/* the files received, in order */
	size_t nparts;
	char *message;
	/* multipart */
	struct MHD_PostProcessor *pp;
	char *field;		/* the plain field being read */
	size_t field_len;
	int in_file;
};

static void up_free(struct api_req *req)
{
	struct up *u = req->state;

	if (!u)
		return;
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	if (u->fd >= 0)
		close(u->fd);
	if (u->sha_init)
		hz_sha256_release(&u->sha);
	for (size_t i = 0; i < u->nparts; i++) {
		if (u->parts[i].fd >= 0)
			close(u->parts[i].fd); /* an unkept spool file vanishes */
		free(u->parts[i].path);
	}
	free(u->parts);
	free(u->repo);
	free(u->branch);
	free(u->path);
	free(u->message);
	free(u->field);
	free(u);
	req->state = NULL;
}

static struct up *up_new(struct api_req *req, const char *repo, const char *branch)
{
	struct up *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->fd = -1;
	req->state = u;
	req->free_fn = up_free;
	u->repo = hz_strdup(repo);
	u->branch = hz_strdup(branch);
	if (!u->repo || !u->branch || hz_sha256_init(&u->sha))
		return NULL;
	u->sha_init = 1;
	return u;
}

/* Starts receiving a file at path into a new spool file. */
static int file_begin(struct api_req *req, struct up *u, const char *path)
{
	free(u->path);
	u->path = hz_strdup(path);
	u->size = 0;
	if (!u->path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	return store_spool_open(req->s, &u->fd);
}

static int file_write(struct up *u, const char *data, size_t n)
{
	int rc = hz_write_all(u->fd, data, n);

	if (rc)
		return hz_error_set(rc, "cannot write the spool file: %s",
				    rc == HZ_ENOSPC ? "no space left on device" : "write failed");
	hz_sha256_update(&u->sha, data, n);
	u->size += n;
	return 0;
}

/* Ends the current file: checks its digest and keeps it for the ingest;
 * 0, or replies and returns -1. */
static int file_end(struct api_req *req, struct up *u)
{
	uint8_t got[HZ_SHA256_LEN];
	struct part *v;

	hz_sha256_final(&u->sha, got);
	if (u->want_sha && memcmp(got, u->want, HZ_SHA256_LEN)) {
		char hex[HZ_SHA256_HEX], want[HZ_SHA256_HEX];

		hz_hex(hex, got, HZ_SHA256_LEN);
		hz_hex(want, u->want, HZ_SHA256_LEN);
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "DigestMismatch",
				"the body's sha256 is %s, X-Content-SHA256 says %s; nothing"
				" was stored", hex, want);
		return -1;
	}
	if (u->nparts == PARTS_MAX) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"a commit holds at most %d files", PARTS_MAX);
		return -1;
	}
	v = realloc(u->parts, (u->nparts + 1) * sizeof(*v));
	if (!v) {
		api_reply_error(req, 500, "InternalError", "out of memory");
		return -1;
	}
	u->parts = v;
	v[u->nparts].path = u->path;
	v[u->nparts].fd = u->fd;
	v[u->nparts].size = u->size;
	memcpy(v[u->nparts].sha, got, HZ_SHA256_LEN);
	u->nparts++;
	u->path = NULL;
	u->fd = -1;
	return 0;
}

/* Replies for an error of the ingest (the file's fault or ours). */
static void ingest_error(struct api_req *req, int rc, const char *path)
{
	if (rc == HZ_EINVAL || rc == HZ_EUNSUPPORTED)
		api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "InvalidFile", "'%s': %s",
				path, hz_error_msg());
	else
		api_reply_store_error(req, rc, "RepoNotFound");
}

/* On an ingest thread (api/pool.c): ingests the spooled files in one
 * session, commits it and replies 201 with the new revision. */
static void up_work(struct api_req *req)
{
	struct up *u = req->state;
	struct store_ingest *in = NULL;
	char commit[STORE_COMMIT_HEX], hex[HZ_SHA256_HEX];
	json_t *files = NULL;
	int rc;

	rc = store_ingest_begin(&in, req->s, u->repo, u->branch);
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	store_ingest_set_source(in, STORE_SOURCE_HTTP);
	files = json_array();
	for (size_t i = 0; i < u->nparts; i++) {
		struct part *p = &u->parts[i];

		if (atomic_load(&req->srv->stopping))
			break;
		rc = api_ingest_add_fd(req, in, p->path, p->fd, p->size, p->sha);
		close(p->fd);
		p->fd = -1;
		if (rc) {
			ingest_error(req, rc, p->path);
			goto out;
		}
		hz_hex(hex, p->sha, HZ_SHA256_LEN);
		json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "path", p->path, "size",
						       (json_int_t)p->size, "sha256", hex));
	}
	if (atomic_load(&req->srv->stopping)) {
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ShuttingDown",
				"the server is shutting down; nothing was committed");
		goto out;
	}
	rc = api_ingest_commit(req, in, u->message ? u->message : "", commit);
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	snprintf(req->commit_hdr, sizeof(req->commit_hdr), "%s", commit);
	api_log(API_LOG_INFO, "%s@%s: committed %s (%zu files)", u->repo, u->branch, commit,
		u->nparts);
	api_reply_json(req, MHD_HTTP_CREATED,
		       json_pack("{s:s, s:s, s:s, s:O}", "repo", u->repo, "branch", u->branch,
				 "commit", commit, "files", files));
out:
	json_decref(files);
	store_ingest_free(in); /* on this thread: the session uses its store */
}

/* ---- PUT: one file ----------------------------------------------------- */

static int put_body(struct api_req *req, const char *data, size_t n)
{
	struct up *u = req->state;
	int rc = file_write(u, data, n);

	if (rc) /* recorded (req->in_body), sent after the body */
		api_reply_store_error(req, rc, "NotFound");
	return rc ? -1 : 0;
}

static void put_done(struct api_req *req)
{
	struct up *u = req->state;

	if (file_end(req, u))
		return;
	api_defer(req, up_work);
}

int api_upload_file(struct api_req *req, const char *repo, const char *branch,
		    const char *path)
{
	const char *want = api_header(req, "X-Content-SHA256");
	struct up *u;
	char *msg;
	int rc;

	if (store_ref_name_check(branch))
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRevision", "%s",
				       hz_error_msg());
	if (api_upload_slot(req))
		return 0;
	u = up_new(req, repo, branch);
	if (!u)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	if (want) {
		if (strlen(want) != 64 || hz_unhex(u->want, want, HZ_SHA256_LEN))
			return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
					       "X-Content-SHA256 must be 64 hex digits");
		u->want_sha = 1;
	}
	msg = api_query(req, "message");
	if (msg) {
		u->message = msg;
	} else {
		size_t n = strlen(path) + 16;

		u->message = malloc(n);
		if (u->message)
			snprintf(u->message, n, "upload %s", path);
	}
	rc = file_begin(req, u, path);
	if (rc)
		return api_reply_store_error(req, rc, "NotFound");
	req->body_fn = put_body;
	req->done_fn = put_done;
	return 0;
}

/* ---- POST commit: multipart/form-data ---------------------------------- */

static enum MHD_Result mp_iter(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *filename, const char *content_type,
			       const char *transfer_encoding, const char *data,
			       uint64_t off, size_t size)
{
	struct api_req *req = cls;
	struct up *u = req->state;
	int rc;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	if (req->body_failed || req->queued)
		return MHD_NO;
	if (off == 0) { /* a new part: finish the previous one */
		if (u->in_file && file_end(req, u))
			return MHD_NO;
		u->in_file = 0;
		u->field_len = 0;
		if (filename) {
			if (store_path_check(key)) {
				api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidPath", "%s",
						hz_error_msg());
				return MHD_NO;
			}
			rc = file_begin(req, u, key);
			if (rc) {
				api_reply_store_error(req, rc, "NotFound");
				return MHD_NO;
			}
			u->in_file = 1;
		} else if (strcmp(key, "message")) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
					"unknown field '%s' (a file part needs a filename)", key);
			return MHD_NO;
		}
	}
	if (u->in_file) {
		rc = size ? file_write(u, data, size) : 0;
		if (rc) {
			api_reply_store_error(req, rc, "NotFound");
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (u->field_len + size > FIELD_MAX) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "field '%s' too long", key);
		return MHD_NO;
	}
	if (!u->field && !(u->field = malloc(FIELD_MAX + 1)))
		return MHD_NO;
	memcpy(u->field + u->field_len, data, size);
	u->field_len += size;
	u->field[u->field_len] = '\0';
	free(u->message);
	u->message = hz_strdup(u->field);
	return MHD_YES;
}

/* Errors the iterator replies with while the body streams in are
 * recorded (req->in_body) and sent after the body. */
static int mp_body(struct api_req *req, const char *data, size_t n)
{
	struct up *u = req->state;

	if (MHD_post_process(u->pp, data, n) != MHD_YES && !req->queued)
		return api_body_fail(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				     "malformed multipart body");
	return 0;
}

static void mp_done(struct api_req *req)
{
	struct up *u = req->state;
	enum MHD_Result ok = MHD_destroy_post_processor(u->pp);

	u->pp = NULL;
	if (req->queued)
		return;
	if (ok != MHD_YES)
		goto bad;
	if (u->in_file && file_end(req, u))
		return;
	u->in_file = 0;
	if (!u->nparts) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"the commit has no file parts");
		return;
	}
	api_defer(req, up_work);
	return;
bad:
	api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "malformed multipart body");
}

int api_upload_multipart(struct api_req *req, const char *repo, const char *branch)
{
	const char *ct = api_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct up *u;

	if (store_ref_name_check(branch))
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRevision", "%s",
				       hz_error_msg());
	if (!ct || strncasecmp(ct, "multipart/form-data", 19))
		return api_reply_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				       "UnsupportedMediaType",
				       "the body must be multipart/form-data");
	if (api_upload_slot(req))
		return 0;
	u = up_new(req, repo, branch);
	if (!u)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	u->pp = MHD_create_post_processor(req->conn, 64u << 10, mp_iter, req);
	if (!u->pp)
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				       "malformed multipart Content-Type");
	req->body_fn = mp_body;
	req->done_fn = mp_done;
	return 0;
}
