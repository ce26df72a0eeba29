/*
 * api/lfs.c - the Git LFS batch API with basic transfer, as
 * ../shared/docs/HUB-PROTOCOL.md sections 3.4-3.6 and 4 describe it.
 *
 * POST [datasets/]{ns}/{name}.git/info/lfs/objects/batch answers, per
 * object, nothing (no "actions") when a repo the caller may read holds a
 * file with that SHA-256, or a pending LFS object of it exists, so
 * clients skip the upload;
 * otherwise a signed URL:
 *
 *   {base}/api/lfs/objects/{oid}/{size}?op=upload|download&expires=T&sig=S
 *
 * S is hex HMAC-SHA256, under the store's secret key (or the daemon's
 * secret_key_file, which daemons sharing an index share), of
 * "op\noid\nsize\nT".  The URL carries its own authority: the PUT (Python
 * sends it without Authorization) and the GET check the signature in
 * constant time, the expiry, and that the path's oid and size are the
 * signed ones.  A PUT streams into a spool file while hashing; a digest or
 * size mismatch keeps nothing, a match becomes a pending LFS object
 * (store_lfs_pending_keep) for the NDJSON commit to take.
 */
#include "api/api_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"

#define BATCH_MAX (4u << 20)
#define VERIFY_MAX (64u << 10)
#define LFS_EXPIRES 3600
#define LFS_TYPE "application/vnd.git-lfs+json"

/* 1 when s is 64 lowercase hex digits (an LFS sha256 oid). */
static int oid_ok(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The hex HMAC of op, oid, size and expiry into out (65 bytes). */
static int lfs_sign(struct api_req *req, char out[2 * 32 + 1], const char *op,
		    const char *oid, uint64_t size, int64_t expires)
{
	uint8_t key[STORE_KEY_LEN], mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	char msg[256];
	int n, rc;

	if (req->srv->cfg.have_secret_key) {
		memcpy(key, req->srv->cfg.secret_key, STORE_KEY_LEN);
		rc = 0;
	} else {
		rc = store_secret_key(req->s, key);
		if (rc)
			return rc;
	}
	n = snprintf(msg, sizeof(msg), "%s\n%s\n%llu\n%lld", op, oid, (unsigned long long)size,
		     (long long)expires);
	if (!HMAC(EVP_sha256(), key, STORE_KEY_LEN, (const uint8_t *)msg, (size_t)n, mac,
		  &maclen) || maclen != 32)
		rc = hz_error_set(HZ_ERROR, "cannot compute an HMAC");
	else
		hz_hex(out, mac, 32);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* The signed URL of an object into *out (malloc'd); 0 or an error (the
 * store's key cannot be read or made, out of memory). */
static int lfs_href(char **out, struct api_req *req, const char *op, const char *oid,
		    uint64_t size)
{
	int64_t exp = hz_now() + LFS_EXPIRES;
	char sig[65], *base, *s = NULL;
	size_t n;
	int rc;

	*out = NULL;
	rc = lfs_sign(req, sig, op, oid, size, exp);
	if (rc)
		return rc;
	base = api_base_url(req);
	if (!base)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	n = strlen(base) + 256;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s/api/lfs/objects/%s/%llu?op=%s&expires=%lld&sig=%s", base, oid,
			 (unsigned long long)size, op, (long long)exp, sig);
	free(base);
	*out = s;
	return s ? 0 : hz_error_set(HZ_ENOMEM, "out of memory");
}

/* The "error" of an object the server failed on: 507 for a full disk
 * (the store's key could not be made), else 500; the detail is logged. */
static json_t *object_failed(const char *oid, json_t *jsize, int rc)
{
	api_log(API_LOG_ERROR, "lfs batch %s: %s", oid, hz_error_msg());
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "oid", oid, "size", jsize, "error", "code",
			 rc == HZ_ENOSPC ? 507 : 500, "message",
			 rc == HZ_ENOSPC ? "the server's disk is full" : "internal error");
}

/* Replies with an LFS JSON body (status, stolen). */
static int lfs_reply(struct api_req *req, unsigned status, json_t *v)
{
	return api_reply_json_type(req, status, v, LFS_TYPE);
}

/* Whether the store has the object (a stored file or, with pending, a
 * pending LFS object) of that size: 1, 0, or < 0. */
static int object_have(struct api_req *req, const uint8_t sha[HZ_SHA256_LEN], uint64_t size,
		       int pending)
{
	uint64_t have = 0;
	int fd, rc = store_file_exists_by_sha256(req->s, sha, &have);

	if (rc < 0)
		return rc;
	if (rc == 1 && have == size) {
		rc = api_can_read_sha256(req, sha);
		if (rc)
			return rc;
	}
	if (!pending)
		return 0;
	rc = store_lfs_pending_open(req->s, sha, &fd, &have);
	if (rc == HZ_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (have == size)
		futimens(fd, NULL); /* the client now counts on it: not for gc yet */
	close(fd);
	return have == size;
}

/* One object of a batch: its reply entry (new reference), or NULL. */
static json_t *batch_object(struct api_req *req, int upload, json_t *o, const char *verify)
{
	const char *oid = json_string_value(json_object_get(o, "oid"));
	json_t *jsize = json_object_get(o, "size"), *r, *act;
	uint8_t sha[HZ_SHA256_LEN];
	char *href;
	int have, rc;

	if (!oid_ok(oid) || !json_is_integer(jsize) || json_integer_value(jsize) < 0)
		return json_pack("{s:s?, s:O?, s:{s:i, s:s}}", "oid", oid, "size", jsize, "error",
				 "code", 422, "message",
				 "oid must be 64 lowercase hex digits and size a count");
	if (upload && (uint64_t)json_integer_value(jsize) > req->srv->cfg.max_upload_bytes)
		return json_pack("{s:s, s:O, s:{s:i, s:s}}", "oid", oid, "size", jsize, "error",
				 "code", 413, "message",
				 "the object is larger than the server's max_upload_bytes");
	hz_unhex(sha, oid, HZ_SHA256_LEN);
	have = object_have(req, sha, (uint64_t)json_integer_value(jsize), upload);
	if (have < 0)
		return object_failed(oid, jsize, have);
	r = json_pack("{s:s, s:O, s:b}", "oid", oid, "size", jsize, "authenticated", 1);
	if (!r)
		return NULL;
	if (upload && have)
		return r; /* no actions: the client skips it */
	if (!upload && !have) {
		json_object_set_new(r, "error", json_pack("{s:i, s:s}", "code", 404, "message",
							  "object not found"));
		return r;
	}
	rc = lfs_href(&href, req, upload ? "upload" : "download", oid,
		      (uint64_t)json_integer_value(jsize));
	if (rc) {
		json_decref(r);
		return object_failed(oid, jsize, rc);
	}
	act = json_pack("{s:{s:s, s:i}}", upload ? "upload" : "download", "href", href,
			"expires_in", LFS_EXPIRES);
	free(href);
	if (upload && verify && act) {
		const char *auth = api_header(req, MHD_HTTP_HEADER_AUTHORIZATION);

		json_object_set_new(act, "verify",
				    json_pack("{s:s, s:{s:s?}, s:i}", "href", verify, "header",
					      "Authorization", auth, "expires_in", LFS_EXPIRES));
	}
	json_object_set_new(r, "actions", act);
	return r;
}

static void batch_done(struct api_req *req)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	const char *op = NULL, *algo = NULL;
	json_t *objs = NULL, *out = NULL, *o;
	struct store_repo_info info;
	char *base = NULL, *verify = NULL;
	int upload;
	size_t i;

	if (!body || json_unpack_ex(body, &jerr, 0, "{s:s, s:o, s?s}", "operation", &op,
				    "objects", &objs, "hash_algo", &algo) ||
	    !json_is_array(objs)) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"expected {\"operation\", \"objects\": [{\"oid\", \"size\"}]}");
		goto out;
	}
	if (algo && strcmp(algo, "sha256") && strcmp(algo, "sha_256")) {
		api_reply_error(req, MHD_HTTP_CONFLICT, "UnsupportedHashAlgo",
				"hash_algo '%s' is not supported (sha256)", algo);
		goto out;
	}
	if (!strcmp(op, "upload"))
		upload = 1;
	else if (!strcmp(op, "download"))
		upload = 0;
	else {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"operation must be upload or download");
		goto out;
	}
	if (upload ? api_repo_write(req, req->repo, &info) : api_repo_read(req, req->repo, &info))
		goto out;
	if (upload) {
		size_t n;

		base = api_base_url(req);
		n = base ? strlen(base) + strlen(req->repo) + 64 : 0;
		verify = base ? malloc(n) : NULL;
		if (verify)
			snprintf(verify, n, "%s/%s%s.git/info/lfs/verify",
				 base, info.type == STORE_REPO_DATASET ? "datasets/" : "",
				 req->repo);
	}
	out = json_array();
	json_array_foreach(objs, i, o) {
		json_t *r = batch_object(req, upload, o, verify);

		if (!r || json_array_append_new(out, r)) {
			api_reply_error(req, 500, "InternalError", "out of memory");
			goto out;
		}
	}
	lfs_reply(req, MHD_HTTP_OK, json_pack("{s:s, s:O, s:s}", "transfer", "basic", "objects",
					      out, "hash_algo", "sha256"));
out:
	free(base);
	free(verify);
	json_decref(out);
	json_decref(body);
}

/* POST [datasets/]{ns}/{name}.git/info/lfs/objects/batch */
int lfs_batch(struct api_req *req)
{
	const char *ct = api_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (ct && strncasecmp(ct, LFS_TYPE, strlen(LFS_TYPE)) &&
	    strncasecmp(ct, "application/json", 16))
		return api_reply_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				       "UnsupportedMediaType",
				       "the body must be " LFS_TYPE);
	req->body_max = BATCH_MAX;
	req->done_fn = batch_done;
	return 0;
}

/* POST .../info/lfs/locks/verify: locking is not supported, which 404
 * tells git-lfs without failing the push. */
int lfs_locks_verify(struct api_req *req)
{
	return api_reply_error(req, MHD_HTTP_NOT_FOUND, "NotFound",
			       "file locking is not supported");
}

static void verify_done(struct api_req *req)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
	const char *oid = NULL;
	json_int_t size = -1;
	uint8_t sha[HZ_SHA256_LEN];
	int have;

	if (!body || json_unpack_ex(body, &jerr, 0, "{s:s, s:I}", "oid", &oid, "size", &size) ||
	    !oid_ok(oid) || size < 0) {
		api_reply_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "BadRequest",
				"expected {\"oid\": 64 hex digits, \"size\"}");
		goto out;
	}
	hz_unhex(sha, oid, HZ_SHA256_LEN);
	/* a pending object is nobody's yet: only those who may upload here
	 * learn that it exists */
	have = object_have(req, sha, (uint64_t)size, api_can_write(req, req->repo));
	if (have < 0)
		api_reply_store_error(req, have, "NotFound");
	else if (!have)
		api_reply_error(req, MHD_HTTP_NOT_FOUND, "NotFound",
				"object %s of %lld bytes was not uploaded", oid, (long long)size);
	else
		lfs_reply(req, MHD_HTTP_OK, json_pack("{s:s, s:I}", "oid", oid, "size", size));
out:
	json_decref(body);
}

/* POST [datasets/]{ns}/{name}.git/info/lfs/verify {"oid", "size"} */
int lfs_verify(struct api_req *req)
{
	struct store_repo_info info;

	if (api_repo_read(req, req->repo, &info))
		return 0;
	req->body_max = VERIFY_MAX;
	req->done_fn = verify_done;
	return 0;
}

/* ---- the signed URL ------------------------------------------------------ */

/* Checks the signed URL of the request for op: 0, or replies 403/400
 * and returns -1.  Sets *size from the path. */
static int check_signed(struct api_req *req, const char *op, uint64_t *size)
{
	const char *oid = req->arg[0], *ssize = req->arg[1];
	char *q_op = api_query(req, "op"), *q_exp = api_query(req, "expires");
	char *q_sig = api_query(req, "sig"), want[65], *end;
	long long exp;
	int rc = -1;

	if (!oid_ok(oid) || !*ssize || strspn(ssize, "0123456789") != strlen(ssize) ||
	    strlen(ssize) > 19) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"expected /api/lfs/objects/{sha256}/{size}");
		goto out;
	}
	*size = strtoull(ssize, NULL, 10);
	if (!q_op || !q_exp || !q_sig || strcmp(q_op, op)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "InvalidSignature",
				"this URL is not signed for %s", op);
		goto out;
	}
	exp = strtoll(q_exp, &end, 10);
	if (*end || end == q_exp || strlen(q_sig) != 64) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "InvalidSignature", "bad signature");
		goto out;
	}
	if (lfs_sign(req, want, op, oid, *size, exp)) {
		api_reply_store_error(req, HZ_ERROR, "NotFound");
		goto out;
	}
	if (CRYPTO_memcmp(want, q_sig, 64)) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "InvalidSignature", "bad signature");
		goto out;
	}
	if (exp < hz_now()) {
		api_reply_error(req, MHD_HTTP_FORBIDDEN, "ExpiredSignature",
				"this URL expired; ask the batch API for a new one");
		goto out;
	}
	rc = 0;
out:
	free(q_op);
	free(q_exp);
	free(q_sig);
	return rc;
}

struct lfs_put {
	int fd;
	uint64_t want_size, size;
	uint8_t want[HZ_SHA256_LEN];
	struct hz_sha256 sha;
	int sha_init;
};

static void put_free(struct api_req *req)
{
	struct lfs_put *p = req->state;

	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd); /* an unkept spool file vanishes */
	if (p->sha_init)
		hz_sha256_release(&p->sha);
	free(p);
	req->state = NULL;
}

static int put_body(struct api_req *req, const char *data, size_t n)
{
	struct lfs_put *p = req->state;
	int rc;

	if (p->size + n > p->want_size)
		return api_body_fail(req, MHD_HTTP_BAD_REQUEST, "SizeMismatch",
				     "the body is longer than the signed %llu bytes; nothing"
				     " was stored", (unsigned long long)p->want_size);
	rc = hz_write_all(p->fd, data, n);
	if (rc)
		return api_body_fail(req, rc == HZ_ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE : 500,
				     rc == HZ_ENOSPC ? "InsufficientStorage" : "InternalError",
				     "cannot write the spool file%s",
				     rc == HZ_ENOSPC ? ": no space left on device" : "");
	hz_sha256_update(&p->sha, data, n);
	p->size += n;
	return 0;
}

/* On an ingest thread (api/pool.c): fsyncing a large object takes a
 * while. */
static void put_keep(struct api_req *req)
{
	struct lfs_put *p = req->state;
	int rc = store_lfs_pending_keep(req->s, p->fd, p->want);

	if (rc) {
		api_reply_store_error(req, rc, "NotFound");
		return;
	}
	api_log(API_LOG_INFO, "lfs object %s (%llu bytes) pending", req->arg[0],
		(unsigned long long)p->size);
	api_reply_json(req, MHD_HTTP_OK, json_object());
}

static void put_done(struct api_req *req)
{
	struct lfs_put *p = req->state;
	uint8_t got[HZ_SHA256_LEN];
	char hex[HZ_SHA256_HEX];

	if (p->size != p->want_size) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "SizeMismatch",
				"the body has %llu bytes, the URL %llu; nothing was stored",
				(unsigned long long)p->size, (unsigned long long)p->want_size);
		return;
	}
	hz_sha256_final(&p->sha, got);
	if (memcmp(got, p->want, HZ_SHA256_LEN)) {
		hz_hex(hex, got, HZ_SHA256_LEN);
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "DigestMismatch",
				"the body's sha256 is %s, not the oid; nothing was stored", hex);
		return;
	}
	api_defer(req, put_keep);
}

/* PUT api/lfs/objects/{oid}/{size}?op=upload&expires=&sig= (no token) */
int lfs_put(struct api_req *req)
{
	struct lfs_put *p;
	uint64_t size;
	int rc;

	if (check_signed(req, "upload", &size))
		return 0;
	if (api_upload_slot(req))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	p->fd = -1;
	req->state = p;
	req->free_fn = put_free;
	p->want_size = size;
	hz_unhex(p->want, req->arg[0], HZ_SHA256_LEN);
	if (hz_sha256_init(&p->sha))
		return api_reply_error(req, 500, "InternalError", "out of memory");
	p->sha_init = 1;
	rc = store_spool_open(req->s, &p->fd);
	if (rc)
		return api_reply_store_error(req, rc, "NotFound");
	req->body_fn = put_body;
	req->done_fn = put_done;
	return 0;
}

/* GET api/lfs/objects/{oid}/{size}?op=download&expires=&sig= (no token) */
int lfs_get(struct api_req *req)
{
	struct store_file *f = NULL;
	uint8_t sha[HZ_SHA256_LEN];
	uint64_t size;
	int rc;

	if (check_signed(req, "download", &size))
		return 0;
	hz_unhex(sha, req->arg[0], HZ_SHA256_LEN);
	rc = store_file_open_by_sha256(&f, req->s, sha);
	if (rc)
		return api_reply_store_error(req, rc, "NotFound");
	if (store_file_size(f) != size) {
		store_file_free(f);
		return api_reply_error(req, MHD_HTTP_NOT_FOUND, "NotFound",
				       "no object of that oid and size");
	}
	return api_send_opened(req, f);
}
