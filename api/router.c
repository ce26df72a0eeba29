/*
 * api/router.c - the route table: a method and a pattern of path segments
 * per handler.  Pattern tokens: a literal segment; ":ns" and ":name" (the
 * repo id, validated); ":name.git" (a name segment ending in ".git", as
 * git-lfs sends it); ":x" (any one segment, into req->arg[] in order);
 * "*" (one or more segments: a file path, validated) and "*?" (zero or
 * more); the empty pattern is the root, "/", only.  "GET" routes answer
 * HEAD too.  The first route whose pattern matches wins; a path that
 * matches only with another method is 405.
 *
 * The hub's upload side (api/repos/create, validate-yaml, preupload, the
 * NDJSON commit, {repo}.git/info/lfs/objects/batch) slots in as more rows.
 */
#include "api/api_int.h"
#include "api/maint_int.h"
#include "api/stats_int.h"
#include "api/ui_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define ANY_TYPE (-1)

struct api_route {
	const char *method;
	const char *pattern;
	int style;
	int repo_type;		/* STORE_REPO_*, or ANY_TYPE */
	int (*fn)(struct api_req *req);
};

#define M STORE_REPO_MODEL
#define D STORE_REPO_DATASET

static const struct api_route routes[] = {
	/* the native API, docs/api.md */
	{ "GET", "api/v1/health", STYLE_NATIVE, ANY_TYPE, native_health },
	{ "GET", "metrics", STYLE_NATIVE, ANY_TYPE, metrics_get },
	{ "GET", "api/v1/stats", STYLE_NATIVE, ANY_TYPE, native_stats },
	{ "GET", "api/stats", STYLE_NATIVE, ANY_TYPE, native_stats },
	{ "GET", "api/stats/history", STYLE_NATIVE, ANY_TYPE, stats_history },
	{ "GET", "api/stats/repos/:ns/:name", STYLE_NATIVE, ANY_TYPE, stats_repo },
	{ "GET", "api/stats/families/:x", STYLE_NATIVE, ANY_TYPE, stats_family },
	{ "GET", "api/v1/repos", STYLE_NATIVE, ANY_TYPE, native_repos_list },
	{ "POST", "api/v1/repos", STYLE_NATIVE, ANY_TYPE, native_repo_create },
	{ "GET", "api/v1/repos/:ns/:name", STYLE_NATIVE, ANY_TYPE, native_repo_get },
	{ "PATCH", "api/v1/repos/:ns/:name", STYLE_NATIVE, ANY_TYPE, native_repo_patch },
	{ "DELETE", "api/v1/repos/:ns/:name", STYLE_NATIVE, ANY_TYPE, native_repo_delete },
	{ "GET", "api/v1/repos/:ns/:name/revisions", STYLE_NATIVE, ANY_TYPE, native_revisions },
	{ "GET", "api/v1/repos/:ns/:name/files/:rev", STYLE_NATIVE, ANY_TYPE, native_files_list },
	{ "GET", "api/v1/repos/:ns/:name/files/:rev/*", STYLE_NATIVE, ANY_TYPE, native_file_get },
	{ "PUT", "api/v1/repos/:ns/:name/files/:rev/*", STYLE_NATIVE, ANY_TYPE, native_file_put },
	{ "POST", "api/v1/repos/:ns/:name/commit/:rev", STYLE_NATIVE, ANY_TYPE, native_commit },

	/* maintenance, admin tokens only (api/maint.c) */
	{ "POST", "api/admin/fsck", STYLE_NATIVE, ANY_TYPE, admin_fsck_post },
	{ "GET", "api/admin/fsck", STYLE_NATIVE, ANY_TYPE, admin_fsck_get },
	{ "GET", "api/admin/scrub", STYLE_NATIVE, ANY_TYPE, admin_scrub_get },
	{ "POST", "api/admin/gc", STYLE_NATIVE, ANY_TYPE, admin_gc_post },
	{ "GET", "api/admin/gc", STYLE_NATIVE, ANY_TYPE, admin_gc_get },

	/* the hub's API, ../shared/docs/HUB-PROTOCOL.md sections 1-2 */
	{ "GET", "api/whoami-v2", STYLE_HUB, ANY_TYPE, hub_whoami },
	{ "POST", "api/repos/create", STYLE_HUB, ANY_TYPE, hub_repo_create },
	{ "POST", "api/validate-yaml", STYLE_HUB, ANY_TYPE, hub_validate_yaml },
	{ "POST", "api/models/:ns/:name/preupload/:rev", STYLE_HUB, M, hub_preupload },
	{ "POST", "api/datasets/:ns/:name/preupload/:rev", STYLE_HUB, D, hub_preupload },
	{ "POST", "api/models/:ns/:name/commit/:rev", STYLE_HUB, M, hub_commit },
	{ "POST", "api/datasets/:ns/:name/commit/:rev", STYLE_HUB, D, hub_commit },
	{ "GET", "api/models/:ns/:name", STYLE_HUB, M, hub_repo_info },
	{ "GET", "api/models/:ns/:name/revision/:rev", STYLE_HUB, M, hub_repo_info },
	{ "GET", "api/models/:ns/:name/tree/:rev/*?", STYLE_HUB, M, hub_tree },
	{ "POST", "api/models/:ns/:name/paths-info/:rev", STYLE_HUB, M, hub_paths_info },
	{ "GET", "api/datasets/:ns/:name", STYLE_HUB, D, hub_repo_info },
	{ "GET", "api/datasets/:ns/:name/revision/:rev", STYLE_HUB, D, hub_repo_info },
	{ "GET", "api/datasets/:ns/:name/tree/:rev/*?", STYLE_HUB, D, hub_tree },
	{ "POST", "api/datasets/:ns/:name/paths-info/:rev", STYLE_HUB, D, hub_paths_info },
	{ "POST", "datasets/:ns/:name.git/info/lfs/objects/batch", STYLE_HUB, D, lfs_batch },
	{ "POST", "datasets/:ns/:name.git/info/lfs/verify", STYLE_HUB, D, lfs_verify },
	{ "POST", "datasets/:ns/:name.git/info/lfs/locks/verify", STYLE_HUB, D, lfs_locks_verify },
	{ "POST", ":ns/:name.git/info/lfs/objects/batch", STYLE_HUB, M, lfs_batch },
	{ "POST", ":ns/:name.git/info/lfs/verify", STYLE_HUB, M, lfs_verify },
	{ "POST", ":ns/:name.git/info/lfs/locks/verify", STYLE_HUB, M, lfs_locks_verify },
	{ "PUT", "api/lfs/objects/:x/:x", STYLE_HUB, ANY_TYPE, lfs_put },
	{ "GET", "api/lfs/objects/:x/:x", STYLE_HUB, ANY_TYPE, lfs_get },
	{ "GET", "datasets/:ns/:name/resolve/:rev/*", STYLE_HUB, D, hub_resolve },
	{ "GET", "datasets/:ns/:name/raw/:rev/*", STYLE_HUB, D, hub_resolve },
	{ "GET", ":ns/:name/resolve/:rev/*", STYLE_HUB, M, hub_resolve },
	{ "GET", ":ns/:name/raw/:rev/*", STYLE_HUB, M, hub_resolve },

	/* the dashboard, last: a hub route of a namespace "ui" wins */
	{ "GET", "", STYLE_NATIVE, ANY_TYPE, ui_get },
	{ "GET", "ui/*?", STYLE_NATIVE, ANY_TYPE, ui_get },
};

#undef M
#undef D

static int method_ok(const char *want, const char *have)
{
	return !strcmp(want, have) || (!strcmp(want, "GET") && !strcmp(have, "HEAD"));
}

/* Matches one pattern: 1 if it does (captures filled), 0 if not. */
static int match(struct api_req *req, const char *pattern, int *bad)
{
	const struct http_path *p = &req->path;
	const char *ns = NULL, *name = NULL, *tok = pattern;
	size_t i = 0, nargs = 0, name_len = 0;

	*bad = 0;
	while (*tok) {
		const char *end = strchr(tok, '/');
		size_t tl = end ? (size_t)(end - tok) : strlen(tok);

		if (tl == 1 && tok[0] == '*') {
			if (i >= p->n)
				return 0;
			break;
		}
		if (tl == 2 && tok[0] == '*' && tok[1] == '?')
			break;
		if (i >= p->n)
			return 0;
		if (tok[0] == ':') {
			const char *seg = p->seg[i];

			if (tl == 3 && !strncmp(tok, ":ns", 3)) {
				ns = seg;
			} else if (tl == 5 && !strncmp(tok, ":name", 5)) {
				name = seg;
				name_len = strlen(seg);
			} else if (tl == 9 && !strncmp(tok, ":name.git", 9)) {
				size_t l = strlen(seg);

				if (l <= 4 || strcmp(seg + l - 4, ".git"))
					return 0;
				name = seg;
				name_len = l - 4;
			} else {
				if (nargs == API_MAX_ARGS || !*seg)
					return 0;
				req->arg[nargs++] = seg;
			}
		} else if (strlen(p->seg[i]) != tl || strncmp(p->seg[i], tok, tl)) {
			return 0;
		}
		i++;
		tok += tl;
		if (*tok == '/')
			tok++;
		if (!*tok && i != p->n)
			return 0;
	}
	if (!*pattern && p->n) /* "" is the root only */
		return 0;
	if (ns && name) {
		if (strlen(ns) > STORE_NS_MAX || name_len > STORE_NS_MAX || !*ns || !name_len) {
			*bad = 1;
			return 1;
		}
		snprintf(req->repo, sizeof(req->repo), "%s/%.*s", ns, (int)name_len, name);
	}
	if (*tok == '*') {
		req->rest = http_path_join(p, i);
		if (!req->rest)
			*bad = 2;
	}
	return 1;
}

int api_route(struct api_req *req)
{
	const struct http_path *p = &req->path;
	int method_mismatch = 0, bad;

	req->style = p->n >= 2 && !strcmp(p->seg[0], "api") && !strcmp(p->seg[1], "v1")
			     ? STYLE_NATIVE
			     : STYLE_HUB;
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		const struct api_route *rt = &routes[r];

		memset(req->arg, 0, sizeof(req->arg));
		req->repo[0] = '\0';
		if (!match(req, rt->pattern, &bad))
			continue;
		if (!method_ok(rt->method, req->method)) {
			method_mismatch = 1;
			free(req->rest);
			req->rest = NULL;
			continue;
		}
		req->style = rt->style;
		req->repo_type = rt->repo_type;
		req->route = rt->pattern;
		if (bad == 1)
			return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRepoName",
					       "invalid repo id");
		if (bad == 2)
			return api_reply_error(req, 500, "InternalError", "out of memory");
		if (req->repo[0] && store_repo_name_check(req->repo))
			return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidRepoName",
					       "%s", hz_error_msg());
		if (req->rest && *req->rest && store_path_check(req->rest))
			return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidPath", "%s",
					       hz_error_msg());
		return rt->fn(req);
	}
	if (method_mismatch)
		return api_reply_error(req, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed",
				       "method %s is not allowed here", req->method);
	return api_reply_error(req, MHD_HTTP_NOT_FOUND, "NotFound", "no such endpoint");
}
