/*
 * api/hub_commit.c - the hub's NDJSON commit,
 * POST api/{models|datasets}/{ns}/{name}/commit/{rev}, as
 * ../shared/docs/HUB-PROTOCOL.md section 3.7 describes it: one JSON object
 * per line,
 *
 *   {"key": "header", "value": {"summary", "description", "parentCommit"?}}
 *   {"key": "file", "value": {"path", "content": base64, "encoding": "base64"}}
 *   {"key": "lfsFile", "value": {"path", "algo": "sha256", "oid", "size"}}
 *   {"key": "deletedFile" | "deletedFolder", "value": {"path"}}
 *
 * Every operation goes into one ingest session, committed atomically, on
 * an ingest thread (api/pool.c) once the body is in:
 * inline files through a spool file and store_ingest_add_fd; an lfsFile
 * from its pending LFS object (api/lfs.c) the same way, or, when a repo
 * the caller may read holds a file with that SHA-256, with
 * store_ingest_add_stored
 * (metadata only); anything else is 422.  A parentCommit that is not the
 * branch's head, checked in the commit's transaction, is 409.  Pending
 * objects the commit took are removed after it.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"

#define COMMIT_BODY_MAX (16u << 20)

struct hc {
	struct store_ingest *in;
	char *message;
	uint8_t (*taken)[HZ_SHA256_LEN];	/* pending objects used */
	size_t ntaken;
	size_t nops;
};

static void hc_free(struct api_req *req)
{
	struct hc *c = req->state;

	if (!c)
		return;
	store_ingest_free(c->in);
	free(c->message);
	free(c->taken);
	free(c);
	req->state = NULL;
}

/* Replies for an error of adding `path` (the client's fault or ours). */
static void add_error(struct api_req *req, int rc, const char *path)
{
	if (rc == HZ_EINVAL || rc == HZ_EUNSUPPORTED)
		api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "InvalidFile", "'%s': %s",
				path, hz_error_msg());
	else
		api_reply_store_error(req, rc, "RepoNotFound");
}

static int op_header(struct api_req *req, struct hc *c, json_t *v)
{
	const char *summary = NULL, *desc = NULL, *parent = NULL;
	json_error_t jerr;
	size_t n;

	if (json_unpack_ex(v, &jerr, 0, "{s?s, s?s, s?s}", "summary", &summary, "description",
			   &desc, "parentCommit", &parent)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "header: %s", jerr.text);
		return -1;
	}
	if (parent && store_ingest_set_parent(c->in, parent)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "%s", hz_error_msg());
		return -1;
	}
	summary = summary ? summary : "";
	desc = desc ? desc : "";
	n = strlen(summary) + strlen(desc) + 3;
	free(c->message);
	c->message = malloc(n);
	if (!c->message) {
		api_reply_error(req, 500, "InternalError", "out of memory");
		return -1;
	}
	snprintf(c->message, n, "%s%s%s", summary, *desc ? "\n\n" : "", desc);
	return 0;
}

static int op_file(struct api_req *req, struct hc *c, const char *path, json_t *v)
{
	const char *content = json_string_value(json_object_get(v, "content"));
	const char *enc = json_string_value(json_object_get(v, "encoding"));
	uint8_t *bytes = NULL;
	size_t len = 0;
	int fd = -1, rc;

	if (!content || (enc && strcmp(enc, "base64"))) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"file '%s': expected base64 \"content\"", path);
		return -1;
	}
	rc = http_b64_decode(&bytes, &len, content, strlen(content));
	if (rc) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "file '%s': %s", path,
				hz_error_msg());
		return -1;
	}
	rc = store_spool_open(req->s, &fd);
	if (!rc)
		rc = hz_write_all(fd, bytes, len);
	if (!rc)
		rc = api_ingest_add_fd(req, c->in, path, fd, len, NULL);
	if (fd >= 0)
		close(fd);
	free(bytes);
	if (rc) {
		add_error(req, rc, path);
		return -1;
	}
	return 0;
}

static int op_lfs_file(struct api_req *req, struct hc *c, const char *path, json_t *v)
{
	const char *oid = json_string_value(json_object_get(v, "oid"));
	const char *algo = json_string_value(json_object_get(v, "algo"));
	json_t *jsize = json_object_get(v, "size");
	uint8_t sha[HZ_SHA256_LEN];
	uint64_t size, have = 0;
	int fd = -1, rc;

	/* "size" is optional (a copy may send only the oid) */
	if (!oid || strlen(oid) != 64 || strspn(oid, "0123456789abcdef") != 64 ||
	    (jsize && (!json_is_integer(jsize) || json_integer_value(jsize) < 0)) ||
	    (algo && strcmp(algo, "sha256"))) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"lfsFile '%s': expected a sha256 \"oid\" and a \"size\"", path);
		return -1;
	}
	size = jsize ? (uint64_t)json_integer_value(jsize) : UINT64_MAX;
	hz_unhex(sha, oid, HZ_SHA256_LEN);
	rc = store_lfs_pending_open(req->s, sha, &fd, &have);
	if (!rc) {
		void *t;

		if (size == UINT64_MAX)
			size = have;
		if (have != size) {
			close(fd);
			api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "InvalidFile",
					"lfsFile '%s': the object has %llu bytes, not %llu", path,
					(unsigned long long)have, (unsigned long long)size);
			return -1;
		}
		/* not the oid: the object rested on disk since its PUT */
		rc = api_ingest_add_fd(req, c->in, path, fd, size, NULL);
		close(fd);
		if (rc) {
			add_error(req, rc, path);
			return -1;
		}
		t = realloc(c->taken, (c->ntaken + 1) * sizeof(*c->taken));
		if (!t) {
			api_reply_error(req, 500, "InternalError", "out of memory");
			return -1;
		}
		c->taken = t;
		memcpy(c->taken[c->ntaken++], sha, HZ_SHA256_LEN);
		return 0;
	}
	if (rc != HZ_ENOTFOUND) {
		api_reply_store_error(req, rc, "NotFound");
		return -1;
	}
	rc = api_can_read_sha256(req, sha);
	if (rc < 0) {
		api_reply_store_error(req, rc, "NotFound");
		return -1;
	}
	/* a file only repos the caller cannot read hold is not "stored" */
	rc = rc ? store_ingest_add_stored(c->in, path, sha, size) : HZ_ENOTFOUND;
	if (rc == HZ_ENOTFOUND) {
		api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "LfsObjectNotFound",
				"lfsFile '%s': object %s was not uploaded", path, oid);
		return -1;
	}
	if (rc) {
		add_error(req, rc, path);
		return -1;
	}
	return 0;
}

/* One line of the body: 0, or replies and returns -1. */
static int commit_line(struct api_req *req, struct hc *c, const char *line, size_t n,
		       size_t lineno)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, n, 0, &jerr), *v;
	const char *key, *path;
	char *p = NULL;
	int rc = -1;

	key = o ? json_string_value(json_object_get(o, "key")) : NULL;
	v = o ? json_object_get(o, "value") : NULL;
	if (!key || !json_is_object(v)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"line %zu: expected {\"key\", \"value\": {...}}%s%s", lineno,
				o ? "" : ": ", o ? "" : jerr.text);
		goto out;
	}
	if (!strcmp(key, "header")) {
		rc = op_header(req, c, v);
		goto out;
	}
	path = json_string_value(json_object_get(v, "path"));
	p = path ? hz_strdup(path) : NULL;
	if (p && !strcmp(key, "deletedFolder"))
		for (size_t l = strlen(p); l > 1 && p[l - 1] == '/';)
			p[--l] = '\0';
	if (!p || store_path_check(p)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidPath", "line %zu: %s", lineno,
				p ? hz_error_msg() : "no \"path\"");
		goto out;
	}
	c->nops++;
	if (!strcmp(key, "file")) {
		rc = op_file(req, c, p, v);
	} else if (!strcmp(key, "lfsFile")) {
		rc = op_lfs_file(req, c, p, v);
	} else if (!strcmp(key, "deletedFile") || !strcmp(key, "deletedFolder")) {
		rc = store_ingest_delete_path(c->in, p, key[7] == 'F');
		if (rc)
			api_reply_store_error(req, rc, "NotFound");
	} else {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"line %zu: unknown key '%s'", lineno, key);
	}
out:
	free(p);
	json_decref(o);
	return rc;
}

/* On an ingest thread (api/pool.c), with its store in req->s: every line
 * into one session, committed.  The session is freed here, on the
 * thread whose store it uses. */
static void commit_work(struct api_req *req)
{
	struct hc *c = req->state;
	const char *body = req->body ? req->body : "", *end = body + req->body_len;
	char commit[STORE_COMMIT_HEX], *base, *url;
	struct store_repo_info info;
	size_t lineno = 0, n;
	int rc;

	rc = store_ingest_begin(&c->in, req->s, req->repo, req->arg[0]);
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	store_ingest_set_source(c->in, STORE_SOURCE_HTTP);
	for (const char *p = body; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		lineno++;
		if (e > p && e[-1] == '\r')
			e--;
		if (atomic_load(&req->srv->stopping))
			break;
		if (strspn(p, " \t") < (size_t)(e - p) &&
		    commit_line(req, c, p, (size_t)(e - p), lineno))
			goto out;
		p = nl ? nl + 1 : end;
	}
	if (atomic_load(&req->srv->stopping)) {
		api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ShuttingDown",
				"the server is shutting down; nothing was committed");
		goto out;
	}
	if (!c->nops) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"the commit has no operations");
		goto out;
	}
	rc = api_ingest_commit(req, c->in, c->message ? c->message : "", commit);
	if (rc == HZ_EEXISTS) {
		api_reply_error(req, MHD_HTTP_CONFLICT, "ParentCommitMismatch", "%s",
				hz_error_msg());
		goto out;
	}
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	for (size_t i = 0; i < c->ntaken; i++)
		store_lfs_pending_remove(req->s, c->taken[i]);
	snprintf(req->commit_hdr, sizeof(req->commit_hdr), "%s", commit);
	api_log(API_LOG_INFO, "%s@%s: committed %s (%zu operations)", req->repo, req->arg[0],
		commit, c->nops);
	if (store_repo_info(req->s, &info, req->repo))
		info.type = req->repo_type;
	base = hub_repo_url(req, req->repo, info.type);
	n = base ? strlen(base) + 64 : 0;
	url = base ? malloc(n) : NULL;
	if (url)
		snprintf(url, n, "%s/commit/%s", base, commit);
	api_reply_json(req, MHD_HTTP_OK,
		       json_pack("{s:s, s:s?, s:n}", "commitOid", commit, "commitUrl", url,
				 "pullRequestUrl"));
	free(base);
	free(url);
out:
	store_ingest_free(c->in);
	c->in = NULL;
}

static void commit_done(struct api_req *req)
{
	api_defer(req, commit_work);
}

/* POST api/{models|datasets}/{ns}/{name}/commit/{rev}, application/x-ndjson */
int hub_commit(struct api_req *req)
{
	struct store_repo_info info;
	struct hc *c;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	if (store_ref_name_check(req->arg[0]))
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRevision", "%s",
				       hz_error_msg());
	if (api_upload_slot(req))
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	req->state = c;
	req->free_fn = hc_free;
	req->body_max = COMMIT_BODY_MAX;
	req->done_fn = commit_done;
	return 0;
}
