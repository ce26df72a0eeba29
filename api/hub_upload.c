/*
 * api/hub_upload.c - the first steps of the hub's upload side, as
 * ../shared/docs/HUB-PROTOCOL.md section 3 describes them: api/repos/create
 * (409 with "url", which exist_ok reads), validate-yaml, preupload.
 *
 * preupload answers "lfs" for every non-empty file, so all bytes come
 * through the LFS batch API and its signed PUT (api/lfs.c); empty files
 * are "regular" and arrive base64 in the NDJSON commit.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fs.h"

#define HUB_JSON_MAX (64u << 10)
#define PREUPLOAD_MAX (8u << 20)
#define YAML_MAX (1u << 20)

/* E/[datasets/]ns/name, malloc'd (NULL when out of memory). */
char *hub_repo_url(struct api_req *req, const char *repo, int type)
{
	char *base = api_base_url(req), *s;
	size_t n;

	if (!base)
		return NULL;
	n = strlen(base) + strlen(repo) + 16;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s%s", base, type == STORE_REPO_DATASET ? "datasets/" : "",
			 repo);
	free(base);
	return s;
}

static void repo_create_done(struct api_req *req)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	const char *name = NULL, *org = NULL, *type_s = NULL, *vis = NULL;
	char repo[2 * (STORE_NS_MAX + 1) + 1];
	struct store_repo_info info;
	int priv = 0, type = STORE_REPO_MODEL, rc;
	char *url = NULL;

	if (!body || json_unpack_ex(body, &jerr, 0, "{s:s, s?s, s?s, s?b, s?s}", "name", &name,
				    "organization", &org, "type", &type_s, "private", &priv,
				    "visibility", &vis)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"expected {\"name\", \"organization\"?, \"type\"?, \"private\"?}:"
				" %s", body ? jerr.text : "not JSON");
		goto out;
	}
	if (type_s && !strcmp(type_s, "dataset")) {
		type = STORE_REPO_DATASET;
	} else if (type_s && strcmp(type_s, "model")) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"type '%s' is not supported (model or dataset)", type_s);
		goto out;
	}
	if (vis)
		priv = !strcmp(vis, "private");
	if (!org || !*org)
		org = req->tok.ns;
	if (!*org || strchr(name, '/') ||
	    (size_t)snprintf(repo, sizeof(repo), "%s/%s", org, name) >= sizeof(repo) ||
	    store_repo_name_check(repo)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRepoName",
				"invalid repo id '%s/%s' (an organization is needed)", org, name);
		goto out;
	}
	if (!api_can_write(req, repo)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "Forbidden",
				"token '%s' may not create repos in '%s'", req->tok.name, org);
		goto out;
	}
	rc = store_repo_create(req->s, repo, type, priv);
	if (rc == HZ_EEXISTS) {
		if (store_repo_info(req->s, &info, repo) == 0)
			type = info.type;
		url = hub_repo_url(req, repo, type);
		req->xhdr_name = "X-Error-Code";
		req->xhdr_value = hz_strdup("RepoExists");
		api_reply_json(req, MHD_HTTP_CONFLICT,
			       json_pack("{s:s, s:s?}", "error", "You already created this repo",
					 "url", url));
		goto out;
	}
	if (rc) {
		api_reply_store_error(req, rc, "RepoNotFound");
		goto out;
	}
	url = hub_repo_url(req, repo, type);
	api_log(API_LOG_INFO, "created repo '%s' (%s)", repo, type ? "dataset" : "model");
	api_reply_json(req, MHD_HTTP_OK, json_pack("{s:s?, s:s}", "url", url, "id", repo));
out:
	free(url);
	json_decref(body);
}

/* POST api/repos/create: needs a write token for the namespace. */
int hub_repo_create(struct api_req *req)
{
	if (req->bad_token || !req->has_token)
		return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       "creating a repo needs a write token");
	req->body_max = HUB_JSON_MAX;
	req->done_fn = repo_create_done;
	return 0;
}

static void validate_yaml_done(struct api_req *req)
{
	api_reply_json(req, MHD_HTTP_OK, json_pack("{s:[], s:[]}", "errors", "warnings"));
}

/* POST api/validate-yaml: hubzip keeps README.md as it is, so every card
 * is valid. */
int hub_validate_yaml(struct api_req *req)
{
	req->body_max = YAML_MAX;
	req->done_fn = validate_yaml_done;
	return 0;
}

static void preupload_done(struct api_req *req)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	json_t *files, *f, *out = json_array();
	size_t i;

	files = body ? json_object_get(body, "files") : NULL;
	if (!json_is_array(files) || !out) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"expected {\"files\": [{\"path\", \"size\", \"sample\"}]}");
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		json_t *size = json_object_get(f, "size");

		if (!path || store_path_check(path)) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidPath",
					"files[%zu]: %s", i,
					path ? hz_error_msg() : "no \"path\"");
			goto out;
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:b}", "path", path,
						     "uploadMode",
						     json_integer_value(size) > 0 ? "lfs"
										  : "regular",
						     "shouldIgnore", 0));
	}
	api_reply_json(req, MHD_HTTP_OK, json_pack("{s:O}", "files", out));
out:
	json_decref(out);
	json_decref(body);
}

/* POST api/{models|datasets}/{ns}/{name}/preupload/{rev}: needs write. */
int hub_preupload(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_write(req, req->repo, &info))
		return 0;
	req->body_max = PREUPLOAD_MAX;
	req->done_fn = preupload_done;
	return 0;
}
