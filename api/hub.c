/*
 * api/hub.c - the hub's download side, as ../shared/docs/HUB-PROTOCOL.md
 * sections 1-2 describe it: resolve and raw (HEAD and GET), repo info
 * with siblings, tree with Link pagination, paths-info, whoami-v2.
 *
 * Every file is reported as an LFS file: its "oid" is the git blob id of
 * its LFS pointer and lfs.oid its SHA-256, which is also the ETag that
 * resolve sends, so a client's cache names agree across endpoints.
 */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"

#define TREE_LIMIT 1000
#define TREE_LIMIT_MAX 10000
#define PATHS_BODY_MAX (1u << 20)

int hub_resolve(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision rev;

	if (api_repo_read(req, req->repo, &info) || api_resolve(req, req->repo, req->arg[0], &rev))
		return 0;
	return api_send_file(req, req->repo, rev.commit, req->rest);
}

/* ---- a revision's files, in memory --------------------------------------- */

struct ent {
	char *path;
	uint64_t size;
	uint8_t sha[HZ_SHA256_LEN];
	int dir;
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static void ents_release(struct ents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].path);
	free(e->v);
}

static int ents_add(struct ents *e, const char *path, size_t len, uint64_t size,
		    const uint8_t *sha, int dir)
{
	struct ent *x;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64;
		struct ent *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		e->v = v;
		e->cap = cap;
	}
	x = &e->v[e->n];
	memset(x, 0, sizeof(*x));
	x->path = strndup(path, len);
	if (!x->path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	x->size = size;
	x->dir = dir;
	if (sha)
		memcpy(x->sha, sha, HZ_SHA256_LEN);
	e->n++;
	return 0;
}

static int collect_one(void *payload, const struct store_entry *e)
{
	return ents_add(payload, e->path, strlen(e->path), e->size, e->sha256, 0);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : x->dir - y->dir;
}

/* The JSON of one tree entry. */
static json_t *ent_json(const struct ent *e, const char *commit)
{
	char hex[HZ_SHA256_HEX], ptr[256], oid[2 * HZ_SHA1_LEN + 1], blob[300];
	uint8_t d[HZ_SHA1_LEN];
	int plen, blen;

	if (e->dir) {
		/* a stable id for the directory at this commit */
		uint8_t full[HZ_SHA256_LEN];

		hz_sha256(full, e->path, strlen(e->path));
		for (int i = 0; i < HZ_SHA1_LEN; i++)
			full[i] ^= (uint8_t)commit[i];
		hz_hex(oid, full, HZ_SHA1_LEN);
		return json_pack("{s:s, s:s, s:i, s:s}", "type", "directory", "oid", oid, "size", 0,
				 "path", e->path);
	}
	hz_hex(hex, e->sha, HZ_SHA256_LEN);
	plen = snprintf(ptr, sizeof(ptr),
			"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %llu\n",
			hex, (unsigned long long)e->size);
	blen = snprintf(blob, sizeof(blob), "blob %d", plen);
	memcpy(blob + blen + 1, ptr, (size_t)plen);
	hz_sha1(d, blob, (size_t)(blen + 1 + plen));
	hz_hex(oid, d, HZ_SHA1_LEN);
	return json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:i}}", "type", "file", "oid", oid,
			 "size", (json_int_t)e->size, "path", e->path, "lfs", "oid", hex, "size",
			 (json_int_t)e->size, "pointerSize", plen);
}

/* ---- repo info ------------------------------------------------------------ */

static int sibling_one(void *payload, const struct store_entry *e)
{
	return json_array_append_new(payload, json_pack("{s:s}", "rfilename", e->path));
}

int hub_repo_info(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision rev;
	char t[40], created[40], id[HZ_SHA256_HEX];
	uint8_t d[HZ_SHA256_LEN];
	const char *slash = strchr(req->repo, '/');
	json_t *o, *sib = json_array();
	int have = 0, rc;

	if (api_repo_read(req, req->repo, &info))
		goto out;
	if (req->arg[0]) {
		if (api_resolve(req, req->repo, req->arg[0], &rev))
			goto out;
		have = 1;
	} else {
		rc = store_resolve(req->s, &rev, req->repo, "main");
		if (rc && rc != HZ_ENOTFOUND) {
			api_reply_store_error(req, rc, "RevisionNotFound");
			goto out;
		}
		have = !rc;
		if (have)
			snprintf(req->commit_hdr, sizeof(req->commit_hdr), "%s", rev.commit);
	}
	if (have) {
		rc = store_files_each(req->s, req->repo, rev.commit, sibling_one, sib);
		if (rc) {
			api_reply_store_error(req, rc, "RevisionNotFound");
			goto out;
		}
	}
	api_iso_time(created, sizeof(created), info.created_at);
	api_iso_time(t, sizeof(t), have ? rev.created_at : info.created_at);
	hz_sha256(d, req->repo, strlen(req->repo));
	hz_hex(id, d, 12);
	o = json_pack("{s:s, s:s, s:s#, s:s?, s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:[], s:O,"
		      " s:I}",
		      "_id", id, "id", req->repo, "author", req->repo,
		      (int)(slash ? slash - req->repo : 0), "sha", have ? rev.commit : NULL,
		      "lastModified", t, "createdAt", created, "private", info.is_private,
		      "disabled", 0, "gated", 0, "downloads", 0, "likes", 0, "tags", "siblings",
		      sib, "usedStorage", (json_int_t)(have ? rev.size : 0));
	if (o && info.type == STORE_REPO_MODEL)
		json_object_set_new(o, "modelId", json_string(req->repo));
	api_reply_json(req, MHD_HTTP_OK, o);
out:
	json_decref(sib);
	return 0;
}

/* ---- tree ----------------------------------------------------------------- */

/* Adds every directory above rel (the part of a path under the listed
 * directory; prefix is that directory, "" for the root). */
static int add_dirs(struct ents *out, const char *full, size_t prefix_len, int recursive)
{
	const char *rel = full + prefix_len, *p;

	for (p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		int rc = ents_add(out, full, (size_t)(p - full), 0, NULL, 1);

		if (rc || !recursive)
			return rc;
	}
	return 0;
}

/* The entries under dir ("" for the root), sorted, duplicates removed. */
static int tree_list(struct ents *out, const struct ents *files, const char *dir, int recursive)
{
	size_t dl = strlen(dir), skip = dl ? dl + 1 : 0, k = 0;
	int rc = 0;

	for (size_t i = 0; !rc && i < files->n; i++) {
		const struct ent *f = &files->v[i];

		if (dl && (strncmp(f->path, dir, dl) || f->path[dl] != '/'))
			continue;
		if (recursive || !strchr(f->path + skip, '/'))
			rc = ents_add(out, f->path, strlen(f->path), f->size, f->sha, 0);
		if (!rc)
			rc = add_dirs(out, f->path, skip, recursive);
	}
	if (rc)
		return rc;
	qsort(out->v, out->n, sizeof(*out->v), cmp_ent);
	for (size_t i = 0; i < out->n; i++) {
		if (k && out->v[k - 1].dir == out->v[i].dir &&
		    !strcmp(out->v[k - 1].path, out->v[i].path)) {
			free(out->v[i].path);
			continue;
		}
		out->v[k++] = out->v[i];
	}
	out->n = k;
	return 0;
}

static char *next_link(struct api_req *req, const char *rev, const char *dir, int recursive,
		       int expand, size_t limit, size_t cursor)
{
	char *base = api_base_url(req), *erev = http_pct_encode(rev, 0),
	     *edir = http_pct_encode(dir, 1), *out = NULL;
	size_t n;

	if (base && erev && edir) {
		n = strlen(base) + strlen(req->repo) + strlen(erev) + strlen(edir) + 160;
		out = malloc(n);
		if (out)
			snprintf(out, n, "<%s/api/%s/%s/tree/%s%s%s?recursive=%s&expand=%s&limit=%zu"
				 "&cursor=%zu>; rel=\"next\"", base,
				 req->repo_type == STORE_REPO_DATASET ? "datasets" : "models",
				 req->repo, erev, *dir ? "/" : "", edir,
				 recursive ? "true" : "false", expand ? "true" : "false", limit,
				 cursor);
	}
	free(base);
	free(erev);
	free(edir);
	return out;
}

int hub_tree(struct api_req *req)
{
	struct store_repo_info info;
	struct store_revision rev;
	struct ents files = { 0 }, list = { 0 };
	char *q_rec = api_query(req, "recursive"), *q_exp = api_query(req, "expand"),
	     *q_lim = api_query(req, "limit"), *q_cur = api_query(req, "cursor");
	const char *dir = req->rest ? req->rest : "";
	size_t limit = TREE_LIMIT, cursor = 0, end;
	int recursive = http_bool(q_rec), rc;
	json_t *arr;

	if (api_repo_read(req, req->repo, &info) || api_resolve(req, req->repo, req->arg[0], &rev))
		goto out;
	if (q_lim) {
		char *e;
		unsigned long long v = strtoull(q_lim, &e, 10);

		if (*e || !v) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "invalid limit");
			goto out;
		}
		limit = v > TREE_LIMIT_MAX ? TREE_LIMIT_MAX : (size_t)v;
	}
	if (q_cur) {
		char *e;
		unsigned long long v = strtoull(q_cur, &e, 10);

		if (*e) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest", "invalid cursor");
			goto out;
		}
		cursor = (size_t)v;
	}
	rc = store_files_each(req->s, req->repo, rev.commit, collect_one, &files);
	if (!rc)
		rc = tree_list(&list, &files, dir, recursive);
	if (rc) {
		api_reply_store_error(req, rc, "RevisionNotFound");
		goto out;
	}
	if (*dir && !list.n) {
		api_reply_error(req, MHD_HTTP_NOT_FOUND, "EntryNotFound",
				"no directory '%s' in '%s@%s'", dir, req->repo, rev.commit);
		goto out;
	}
	arr = json_array();
	end = cursor + limit < list.n ? cursor + limit : list.n;
	for (size_t i = cursor; i < end; i++)
		json_array_append_new(arr, ent_json(&list.v[i], rev.commit));
	if (end < list.n) {
		req->xhdr_name = "Link";
		req->xhdr_value = next_link(req, req->arg[0], dir, recursive, http_bool(q_exp),
					    limit, end);
	}
	api_reply_json(req, MHD_HTTP_OK, arr);
out:
	ents_release(&files);
	ents_release(&list);
	free(q_rec);
	free(q_exp);
	free(q_lim);
	free(q_cur);
	return 0;
}

/* ---- paths-info ------------------------------------------------------------ */

/* Appends the paths of a form body (paths=a&paths=b&expand=false). */
static int form_paths(json_t *out, const char *body, size_t n)
{
	const char *p = body, *end = body + n;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
		char *v;

		eq = memchr(p, '=', len);
		if (eq && eq - p == 5 && !strncmp(p, "paths", 5)) {
			if (http_pct_decode(&v, eq + 1, len - 6, 1))
				return -1;
			json_array_append_new(out, json_string(v));
			free(v);
		}
		p += len + 1;
	}
	return 0;
}

static void paths_info_done(struct api_req *req)
{
	const char *ct = api_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *body = req->body ? req->body : "";
	struct store_revision rev;
	struct ents files = { 0 };
	json_t *paths = NULL, *arr = NULL, *v;
	json_error_t jerr;
	size_t i;
	int rc;

	if ((ct && !strncasecmp(ct, "application/json", 16)) ||
	    (!ct && req->body_len && body[0] == '{')) {
		json_t *o = json_loadb(body, req->body_len, 0, &jerr);

		paths = json_incref(json_object_get(o, "paths"));
		json_decref(o);
		if (!json_is_array(paths)) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "InvalidJSON",
					"expected {\"paths\": [...]}");
			goto out;
		}
	} else {
		paths = json_array();
		if (form_paths(paths, body, req->body_len)) {
			api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
					"bad percent-encoding in the form body");
			goto out;
		}
	}
	if (api_resolve(req, req->repo, req->arg[0], &rev))
		goto out;
	rc = store_files_each(req->s, req->repo, rev.commit, collect_one, &files);
	if (rc) {
		api_reply_store_error(req, rc, "RevisionNotFound");
		goto out;
	}
	arr = json_array();
	json_array_foreach(paths, i, v) {
		const char *p = json_string_value(v);
		size_t pl;

		if (!p)
			continue;
		pl = strlen(p);
		while (pl && p[pl - 1] == '/')
			pl--;
		for (size_t k = 0; k < files.n; k++) {
			const struct ent *f = &files.v[k];

			if (strlen(f->path) == pl && !strncmp(f->path, p, pl)) {
				json_array_append_new(arr, ent_json(f, rev.commit));
				break;
			}
			if (pl && !strncmp(f->path, p, pl) && f->path[pl] == '/') {
				struct ent d = { .path = strndup(p, pl), .dir = 1 };

				if (d.path)
					json_array_append_new(arr, ent_json(&d, rev.commit));
				free(d.path);
				break;
			}
		}
	}
	api_reply_json(req, MHD_HTTP_OK, arr);
	arr = NULL;
out:
	json_decref(paths);
	json_decref(arr);
	ents_release(&files);
}

int hub_paths_info(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_read(req, req->repo, &info))
		return 0;
	req->body_max = PATHS_BODY_MAX;
	req->done_fn = paths_info_done;
	return 0;
}

/* ---- whoami ----------------------------------------------------------------- */

int hub_whoami(struct api_req *req)
{
	char t[40];

	if (req->bad_token || !req->has_token)
		return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				       req->bad_token ? "invalid credentials"
						      : "this needs a token");
	api_iso_time(t, sizeof(t), req->tok.created_at);
	return api_reply_json(
		req, MHD_HTTP_OK,
		json_pack("{s:s, s:s, s:s, s:s, s:n, s:b, s:b, s:[], s:{s:s, s:{s:s, s:s, s:s}}}",
			  "type", "user", "id", req->tok.name, "name", req->tok.name, "fullname",
			  req->tok.name, "email", "emailVerified", 0, "isPro", 0, "orgs", "auth",
			  "type", "access_token", "accessToken", "displayName", req->tok.name,
			  "role", req->tok.scope == STORE_SCOPE_WRITE ? "write" : "read",
			  "createdAt", t));
}
