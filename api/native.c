/*
 * api/native.c - the native REST API under /api/v1 (docs/api.md):
 * repos, revisions, files (download, PUT, multipart commit).  The stats
 * routes are in api/stats.c.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"

#define JSON_BODY_MAX (64u << 10)

static const char *type_str(int type)
{
	return type == STORE_REPO_DATASET ? "dataset" : "model";
}

int api_resolve(struct api_req *req, const char *repo, const char *rev,
		struct store_revision *out)
{
	int rc;

	if (!rev || !strcmp(rev, "HEAD"))
		rev = "main";
	rc = store_resolve(req->s, out, repo, rev);
	if (rc == HZ_ENOTFOUND) {
		api_reply_error(req, MHD_HTTP_NOT_FOUND, "RevisionNotFound",
				"revision '%s' not found in '%s'", rev, repo);
		return -1;
	}
	if (rc == HZ_EINVAL) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRevision", "%s",
				hz_error_msg());
		return -1;
	}
	if (rc) {
		api_reply_store_error(req, rc, "RevisionNotFound");
		return -1;
	}
	snprintf(req->commit_hdr, sizeof(req->commit_hdr), "%s", out->commit);
	return 0;
}

int native_health(struct api_req *req)
{
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* ---- repos ------------------------------------------------------------- */

static json_t *repo_json(struct api_req *req, const char *repo,
			 const struct store_repo_info *info, const struct store_revision *head)
{
	char t[40];
	char *base = api_base_url(req);
	json_t *o;

	api_iso_time(t, sizeof(t), info->created_at);
	o = json_pack("{s:s, s:s, s:b, s:s, s:s?, s:I, s:I, s:s++}", "repo", repo, "type",
		      type_str(info->type), "private", info->is_private, "created_at", t,
		      "main", head ? head->commit : NULL,
		      "files", (json_int_t)(head ? head->nfiles : 0),
		      "bytes", (json_int_t)(head ? head->size : 0),
		      "url", base ? base : "", info->type == STORE_REPO_DATASET ? "/datasets/" : "/",
		      repo);
	free(base);
	return o;
}

struct list_ctx {
	struct api_req *req;
	json_t *arr;
};

static int list_one(void *payload, const char *repo, const struct store_revision *head)
{
	struct list_ctx *c = payload;
	struct store_repo_info info;
	int rc = store_repo_info(c->req->s, &info, repo);

	if (rc)
		return rc;
	if (api_can_read(c->req, repo, &info))
		json_array_append_new(c->arr, repo_json(c->req, repo, &info, head));
	return 0;
}

int native_repos_list(struct api_req *req)
{
	struct list_ctx c = { req, json_array() };
	int rc;

	if (req->bad_token) {
		json_decref(c.arr);
		return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       "invalid credentials: unknown or revoked token");
	}
	rc = store_repos_each(req->s, list_one, &c);
	if (rc) {
		json_decref(c.arr);
		return api_reply_store_error(req, rc, "NotFound");
	}
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "repos", c.arr));
}

static int parse_type(const char *s, int *type)
{
	if (!s || !strcmp(s, "model"))
		*type = STORE_REPO_MODEL;
	else if (!strcmp(s, "dataset"))
		*type = STORE_REPO_DATASET;
	else
		return -1;
	return 0;
}

static void repo_create_done(struct api_req *req)
{
	struct store_repo_info info;
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	const char *repo = NULL, *type_s = NULL;
	int priv = 0, type, rc;

	if (!body || json_unpack_ex(body, &jerr, 0, "{s:s, s?s, s?b}", "repo", &repo, "type",
				    &type_s, "private", &priv)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidJSON",
				"expected {\"repo\": \"ns/name\", \"type\"?, \"private\"?}: %s",
				jerr.text);
		goto out;
	}
	if (parse_type(type_s, &type)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"type must be \"model\" or \"dataset\"");
		goto out;
	}
	if (store_repo_name_check(repo) || !strchr(repo, '/')) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRepoName",
				"invalid repo id '%s' (namespace/name)", repo);
		goto out;
	}
	if (!api_can_write(req, repo)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "Forbidden",
				"token '%s' may not create repos in this namespace", req->tok.name);
		goto out;
	}
	rc = store_repo_create(req->s, repo, type, priv);
	if (rc == HZ_EEXISTS) {
		api_reply_error(req, MHD_HTTP_CONFLICT, "RepoExists", "repo '%s' exists", repo);
		goto out;
	}
	if (!rc)
		rc = store_repo_info(req->s, &info, repo);
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	api_reply_json(req, MHD_HTTP_CREATED, repo_json(req, repo, &info, NULL));
out:
	json_decref(body);
}

int native_repo_create(struct api_req *req)
{
	if (req->bad_token || !req->has_token)
		return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       "creating a repo needs a write token");
	req->body_max = JSON_BODY_MAX;
	req->done_fn = repo_create_done;
	return 0;
}

struct branches_ctx {
	json_t *obj;
};

static int branch_one(void *payload, const char *name, const char *commit)
{
	return json_object_set_new(((struct branches_ctx *)payload)->obj, name,
				   json_string(commit));
}

int native_repo_get(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision head, *hp = NULL;
	struct branches_ctx b;
	json_t *o;
	int rc;

	if (api_repo_read(req, req->repo, &info))
		return 0;
	rc = store_resolve(req->s, &head, req->repo, "main");
	if (!rc)
		hp = &head;
	else if (rc != HZ_ENOTFOUND)
		return api_reply_store_error(req, rc, "RepoNotFound");
	o = repo_json(req, req->repo, &info, hp);
	b.obj = json_object();
	rc = store_refs_each(req->s, req->repo, branch_one, &b);
	if (rc) {
		json_decref(o);
		json_decref(b.obj);
		return api_reply_store_error(req, rc, "RepoNotFound");
	}
	json_object_set_new(o, "branches", b.obj);
	return api_reply_json(req, MHD_HTTP_OK, o);
}

static void repo_patch_done(struct api_req *req)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	int priv, rc;

	if (!body || json_unpack_ex(body, &jerr, 0, "{s:b}", "private", &priv)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidJSON",
				"expected {\"private\": true|false}: %s", jerr.text);
	} else {
		rc = store_repo_set_private(req->s, req->repo, priv);
		if (rc)
			api_reply_store_error(req, rc, "RepoNotFound");
		else
			api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s, s:b}", "repo",
								   req->repo, "private", priv));
	}
	json_decref(body);
}

int native_repo_patch(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	req->body_max = JSON_BODY_MAX;
	req->done_fn = repo_patch_done;
	return 0;
}

int native_repo_delete(struct api_req *req)
{
	struct store_repo_info info;
	int rc;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	rc = store_repo_delete(req->s, req->repo);
	if (rc)
		return api_reply_store_error(req, rc, "RepoNotFound");
	api_log(API_LOG_INFO, "deleted repo %s (token %s)", req->repo, req->tok.name);
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s}", "deleted", req->repo));
}

/* ---- revisions and files ----------------------------------------------- */

static int revision_one(void *payload, const struct store_revision *r, const char *message)
{
	char t[40];

	api_iso_time(t, sizeof(t), r->created_at);
	return json_array_append_new(payload, json_pack("{s:s, s:s, s:s, s:I, s:I}", "commit",
							r->commit, "created_at", t, "message",
							message ? message : "", "files",
							(json_int_t)r->nfiles, "bytes",
							(json_int_t)r->size));
}

int native_revisions(struct api_req *req)
{
	struct store_repo_info info;
	struct branches_ctx b;
	json_t *revs;
	int rc;

	if (api_repo_read(req, req->repo, &info))
		return 0;
	revs = json_array();
	b.obj = json_object();
	rc = store_revisions_each(req->s, req->repo, revision_one, revs);
	if (!rc)
		rc = store_refs_each(req->s, req->repo, branch_one, &b);
	if (rc) {
		json_decref(revs);
		json_decref(b.obj);
		return api_reply_store_error(req, rc, "RepoNotFound");
	}
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s, s:o, s:o}", "repo", req->repo,
							  "branches", b.obj, "revisions", revs));
}

static int file_one(void *payload, const struct store_entry *e)
{
	char hex[HZ_SHA256_HEX];

	hz_hex(hex, e->sha256, HZ_SHA256_LEN);
	return json_array_append_new(payload, json_pack("{s:s, s:I, s:s, s:s}", "path", e->path,
							"size", (json_int_t)e->size, "sha256", hex,
							"format", e->format ? "safetensors"
									    : "file"));
}

int native_files_list(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision rev;
	json_t *files;
	int rc;

	if (api_repo_read(req, req->repo, &info) || api_resolve(req, req->repo, req->arg[0], &rev))
		return 0;
	files = json_array();
	rc = store_files_each(req->s, req->repo, rev.commit, file_one, files);
	if (rc) {
		json_decref(files);
		return api_reply_store_error(req, rc, "RevisionNotFound");
	}
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s, s:s, s:o}", "repo", req->repo,
							  "commit", rev.commit, "files", files));
}

int native_file_get(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision rev;

	if (api_repo_read(req, req->repo, &info) || api_resolve(req, req->repo, req->arg[0], &rev))
		return 0;
	return api_send_file(req, req->repo, rev.commit, req->rest);
}

int native_file_put(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	return api_upload_file(req, req->repo, req->arg[0], req->rest);
}

int native_commit(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	return api_upload_multipart(req, req->repo, req->arg[0]);
}
