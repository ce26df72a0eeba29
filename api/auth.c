/*
 * api/auth.c - who is asking, and what they may do.
 *
 * A token comes as "Authorization: Bearer hf_..." or as the password of
 * HTTP Basic (git-lfs).  Read access: public repos for anyone; a private
 * repo for a token of either scope whose namespace is the repo's (or
 * all).  Write access: a write token for the repo's namespace.  A private
 * repo the caller may not read does not exist for it (404 RepoNotFound).
 */
#include "api/api_int.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"

void api_auth_identify(struct api_req *req)
{
	const char *h = api_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	char tok[256];

	if (!h)
		return;
	while (*h == ' ')
		h++;
	if (!strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		if (strlen(h) >= sizeof(tok)) {
			req->bad_token = 1;
			return;
		}
		memcpy(tok, h, strlen(h) + 1);
	} else if (!strncasecmp(h, "Basic ", 6)) {
		if (http_basic_password(tok, sizeof(tok), h + 6)) {
			req->bad_token = 1;
			return;
		}
	} else {
		req->bad_token = 1;
		return;
	}
	for (size_t n = strlen(tok); n && tok[n - 1] == ' ';)
		tok[--n] = '\0';
	if (store_token_check(req->s, &req->tok, tok))
		req->bad_token = 1;
	else
		req->has_token = 1;
	OPENSSL_cleanse(tok, sizeof(tok));
}

/* Whether the token's namespace covers repo ("ns/name"). */
static int ns_covers(const struct store_token *t, const char *repo)
{
	size_t n = strlen(t->ns);

	return !n || (!strncmp(repo, t->ns, n) && repo[n] == '/');
}

int api_can_read(struct api_req *req, const char *repo, const struct store_repo_info *info)
{
	if (!info->is_private)
		return 1;
	return req->has_token && ns_covers(&req->tok, repo);
}

int api_can_write(struct api_req *req, const char *repo)
{
	return req->has_token && req->tok.scope == STORE_SCOPE_WRITE &&
	       ns_covers(&req->tok, repo);
}

struct sha_read {
	struct api_req *req;
};

static int sha_repo_one(void *payload, const char *repo, int is_private)
{
	struct store_repo_info info = { .is_private = is_private };

	return api_can_read(((struct sha_read *)payload)->req, repo, &info);
}

int api_can_read_sha256(struct api_req *req, const uint8_t sha[HZ_SHA256_LEN])
{
	struct sha_read r = { req };

	return store_file_repos_each(req->s, sha, sha_repo_one, &r);
}

static int bad_token(struct api_req *req)
{
	api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
			"invalid credentials: unknown or revoked token");
	return -1;
}

int api_repo_read(struct api_req *req, const char *repo, struct store_repo_info *info)
{
	int rc;

	if (req->bad_token)
		return bad_token(req);
	rc = store_repo_info(req->s, info, repo);
	if (rc && rc != HZ_ENOTFOUND) {
		api_reply_store_error(req, rc, "RepoNotFound");
		return -1;
	}
	if (rc || (req->repo_type >= 0 && info->type != req->repo_type) ||
	    !api_can_read(req, repo, info)) {
		api_reply_error(req, MHD_HTTP_NOT_FOUND, "RepoNotFound",
				"repository '%s' not found", repo);
		return -1;
	}
	return 0;
}

int api_repo_write(struct api_req *req, const char *repo, struct store_repo_info *info)
{
	if (req->bad_token)
		return bad_token(req);
	if (!req->has_token) {
		api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				"writing needs a token (Authorization: Bearer hf_...)");
		return -1;
	}
	if (api_repo_read(req, repo, info))
		return -1;
	if (!api_can_write(req, repo)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "Forbidden",
				"token '%s' may not write to '%s'", req->tok.name, repo);
		return -1;
	}
	return 0;
}

int api_require_global(struct api_req *req, int scope)
{
	if (req->bad_token)
		return bad_token(req);
	if (!req->has_token) {
		api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
				"this needs a token (Authorization: Bearer hf_...)");
		return -1;
	}
	if (req->tok.ns[0] || (scope == STORE_SCOPE_WRITE && req->tok.scope != scope)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "Forbidden",
				"this needs a %s token for every namespace",
				scope == STORE_SCOPE_WRITE ? "write" : "read");
		return -1;
	}
	return 0;
}
