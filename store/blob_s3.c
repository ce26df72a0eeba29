/*
 * store/blob_s3.c - the S3 blob backend: objects in a bucket of any
 * S3-compatible store (AWS S3, Ceph RGW, MinIO, Swift's s3api), key K at
 * PREFIX/K, over libcurl (loaded by common/dl_curl) with SigV4 signatures
 * (s3_sign.c).
 *
 *   s3://BUCKET[/PREFIX][?endpoint=http://HOST:PORT&region=R&...]
 *
 * Parameters: endpoint (default https://s3.REGION.amazonaws.com, with
 * virtual-hosted bucket names unless the name has a dot; an explicit
 * endpoint is addressed path-style unless path_style=false), region
 * (AWS_REGION, AWS_DEFAULT_REGION, else us-east-1), part_size
 * (multipart part, default 64M), multipart_threshold (files from this
 * size go multipart, default 64M), retries (attempts after the first,
 * default 5).  Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and,
 * for temporary ones, AWS_SESSION_TOKEN.
 *
 * Every payload is signed with its SHA-256 (a file part is hashed in one
 * pass before it is sent), so the store rejects a body damaged on the
 * way.  put() uploads a file in one PUT or, from multipart_threshold on,
 * in parts read straight from the file (never whole in memory), then
 * checks the object's size with a HEAD; a failed multipart upload is
 * aborted.  A pack that grows past multipart_threshold while it is being
 * written is streamed instead: its parts go up from a worker thread as
 * the file holds them (the stream_* operations).  Reads are ranged GETs of exactly the bytes asked for.
 * Transient failures (connection errors, timeouts, 5xx, 429) are retried
 * with exponential backoff and jitter; other 4xx answers are not.
 */
#include "store/blob.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/dl_curl.h"
#include "common/fs.h"
#include "common/hash.h"
#include "store/s3_sign.h"

#define MiB (1024ull * 1024)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BACKOFF_MS 100		/* first retry after ~100 ms, doubling */
#define BACKOFF_MAX_MS 5000
#define MAX_PARTS 10000		/* S3's limit */

struct blob_s3 {
	struct blob_backend base;
	char *url;		/* as given, for messages (no secrets in it) */
	char *scheme_host;	/* "http://127.0.0.1:9000" */
	char *host;		/* the Host header: "127.0.0.1:9000" */
	char *bucket;
	char *prefix;		/* "" or ending in '/' */
	char *region;
	char *access_key, *secret_key, *token;
	bool path_style;
	uint64_t part_size, threshold;
	int retries;
	CURL *curl;
};

/* ---- strings ------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap : 1024;
		char *q;

		while (c < b->len + n + 1)
			c *= 2;
		q = realloc(b->p, c);
		if (!q)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		b->p = q;
		b->cap = c;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* The text of the first <tag>...</tag> in xml[0..n) after *from (moved
 * past it), malloc'd and unescaped; NULL if there is none. */
static char *xml_get(const char *xml, size_t n, const char *tag, size_t *from)
{
	char open[64], close[64];
	const char *s, *e, *end = xml + n;
	char *out, *o;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	s = memmem(xml + (from ? *from : 0), n - (from ? *from : 0), open, strlen(open));
	if (!s)
		return NULL;
	s += strlen(open);
	e = memmem(s, (size_t)(end - s), close, strlen(close));
	if (!e)
		return NULL;
	if (from)
		*from = (size_t)(e - xml) + strlen(close);
	out = o = malloc((size_t)(e - s) + 1);
	if (!out)
		return NULL;
	while (s < e) {
		static const struct { const char *ent; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
			{ "&quot;", '"' }, { "&apos;", '\'' }, { "&#34;", '"' }, { "&#39;", '\'' },
		};
		size_t i;

		for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
			size_t l = strlen(ents[i].ent);

			if ((size_t)(e - s) >= l && !memcmp(s, ents[i].ent, l)) {
				*o++ = ents[i].c;
				s += l;
				break;
			}
		}
		if (i == sizeof(ents) / sizeof(ents[0]))
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

/* ---- one request, with retries --------------------------------------------- */

struct req {
	const char *method;
	enum blob_op op;
	const char *key;		/* NULL: the bucket itself */
	struct s3_pair query[4];
	size_t nquery;
	const char *range;		/* "bytes=A-B" or NULL */
	/* the body: memory, or len bytes of fd at off */
	const char *body;
	int fd;
	uint64_t off, len;
	const char *payload_hash;	/* 64 hex digits */
	/* the answer: a 2xx body goes to out (exactly out_cap bytes at most)
	 * or, without out, to resp, as does every error body */
	void *out;
	size_t out_cap;
	/* filled in */
	long status;
	size_t got;
	uint64_t sent;
	struct buf resp;
	char etag[256];
	uint64_t length;
	bool have_length, overflow;
};

static size_t on_header(char *p, size_t size, size_t n, void *payload)
{
	struct req *r = payload;
	size_t len = size * n;
	char line[512];

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if (!strncmp(line, "HTTP/", 5)) {
		const char *sp = strchr(line, ' ');

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
		r->have_length = false;
	} else if (!strncasecmp(line, "etag:", 5)) {
		const char *v = line + 5;

		while (*v == ' ')
			v++;
		snprintf(r->etag, sizeof(r->etag), "%.255s", v);
	} else if (!strncasecmp(line, "content-length:", 15)) {
		r->length = strtoull(line + 15, NULL, 10);
		r->have_length = true;
	}
	return size * n;
}

static size_t on_body(char *p, size_t size, size_t n, void *payload)
{
	struct req *r = payload;
	size_t len = size * n;

	if (r->out && r->status >= 200 && r->status < 300) {
		if (len > r->out_cap - r->got) {
			r->overflow = true;
			return 0;
		}
		memcpy((char *)r->out + r->got, p, len);
		r->got += len;
		return len;
	}
	if (r->resp.len + len > (16u << 20)) { /* no listing or error is this big */
		r->overflow = true;
		return 0;
	}
	return buf_add(&r->resp, p, len) ? 0 : len;
}

static size_t on_read(char *p, size_t size, size_t n, void *payload)
{
	struct req *r = payload;
	size_t want = size * n;
	uint64_t left = r->len - r->sent;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (r->body) {
		memcpy(p, r->body + r->sent, want);
	} else {
		ssize_t got = pread(r->fd, p, want, (off_t)(r->off + r->sent));

		if (got <= 0)
			return CURL_READFUNC_ABORT;
		want = (size_t)got;
	}
	r->sent += want;
	return want;
}

static int on_seek(void *payload, curl_off_t offset, int origin)
{
	struct req *r = payload;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->sent = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* The request's path, raw ("/bucket/prefix/key" or "/prefix/key"). */
static int req_path(struct blob_s3 *s, const struct req *r, struct buf *path)
{
	int rc = 0;

	if (s->path_style) {
		rc = buf_adds(path, "/");
		if (!rc)
			rc = buf_adds(path, s->bucket);
	}
	if (!rc && r->key) {
		rc = buf_adds(path, "/");
		if (!rc)
			rc = buf_adds(path, s->prefix);
		if (!rc)
			rc = buf_adds(path, r->key);
	}
	if (!rc && !path->len)
		rc = buf_adds(path, "/");
	return rc;
}

static bool transient_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static const char *op_verb(const struct req *r)
{
	return r->method;
}

/* Sets the message for a failed answer and returns its code. */
static int req_error(struct blob_s3 *s, struct req *r, const char *what)
{
	char *code = r->resp.p ? xml_get(r->resp.p, r->resp.len, "Code", NULL) : NULL;
	char *msg = r->resp.p ? xml_get(r->resp.p, r->resp.len, "Message", NULL) : NULL;
	int rc = r->status == 404 ? HZ_ENOTFOUND : HZ_ERROR;

	if (r->status == 416)
		rc = HZ_ECORRUPT; /* a range past the end: the object is short */
	hz_error_set(rc, "s3: %s%s%s s3://%s/%s%s: HTTP %ld%s%s%s%s%s", op_verb(r), *what ? " " : "",
		     what, s->bucket, s->prefix, r->key ? r->key : "", r->status, code ? " " : "",
		     code ? code : "", msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
	free(code);
	free(msg);
	return rc;
}

static void backoff(int attempt)
{
	uint64_t ms = BACKOFF_MS << (attempt < 10 ? attempt : 10);
	uint32_t rnd = 0;
	struct timespec ts;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	hz_random(&rnd, sizeof(rnd));
	ms = ms / 2 + (uint64_t)rnd % (ms / 2 + 1); /* jitter: [ms/2, ms] */
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* One attempt; *retry says whether a failure is worth another. */
static int attempt(struct blob_s3 *s, struct req *r, const char *path_raw, bool *retry)
{
	struct s3_pair hdrs[5];
	struct s3_sign_key key = { s->access_key, s->secret_key, s->region, "s3" };
	struct s3_sign_req sr;
	struct curl_slist *list = NULL;
	struct buf url = { 0 }, h = { 0 };
	char date[S3_AMZ_DATE_LEN], *auth = NULL, errbuf[CURL_ERROR_SIZE] = "";
	size_t nh = 0;
	CURLcode cc;
	CURL *c = s->curl;
	int rc;

	*retry = false;
	r->status = 0;
	r->got = 0;
	r->sent = 0;
	r->resp.len = 0;
	r->etag[0] = '\0';
	r->have_length = r->overflow = false;
	s3_amz_date(date, hz_now());
	hdrs[nh++] = (struct s3_pair){ "host", s->host };
	hdrs[nh++] = (struct s3_pair){ "x-amz-content-sha256", r->payload_hash };
	hdrs[nh++] = (struct s3_pair){ "x-amz-date", date };
	if (r->range)
		hdrs[nh++] = (struct s3_pair){ "range", r->range };
	if (s->token)
		hdrs[nh++] = (struct s3_pair){ "x-amz-security-token", s->token };
	sr = (struct s3_sign_req){ r->method, path_raw, r->query, r->nquery, hdrs, nh,
				   r->payload_hash };
	rc = s3_sign(&auth, &sr, &key, date);
	/* the URL: the same encoding as the canonical request */
	if (!rc)
		rc = buf_adds(&url, s->scheme_host);
	if (!rc)
		rc = s3_uri_encode(&url.p, &url.len, &url.cap, path_raw, strlen(path_raw), 1);
	for (size_t i = 0; !rc && i < r->nquery; i++) {
		rc = buf_adds(&url, i ? "&" : "?");
		if (!rc)
			rc = s3_uri_encode(&url.p, &url.len, &url.cap, r->query[i].name,
					   strlen(r->query[i].name), 0);
		if (!rc)
			rc = buf_adds(&url, "=");
		if (!rc)
			rc = s3_uri_encode(&url.p, &url.len, &url.cap, r->query[i].value,
					   strlen(r->query[i].value), 0);
	}
	for (size_t i = 0; !rc && i < nh; i++) {
		h.len = 0;
		rc = buf_adds(&h, hdrs[i].name);
		if (!rc)
			rc = buf_adds(&h, ": ");
		if (!rc)
			rc = buf_adds(&h, hdrs[i].value);
		if (!rc) {
			struct curl_slist *l = curl_slist_append(list, h.p);

			if (!l)
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
			else
				list = l;
		}
	}
	if (!rc) {
		h.len = 0;
		rc = buf_adds(&h, "Authorization: ");
		if (!rc)
			rc = buf_adds(&h, auth);
	}
	if (!rc) {
		struct curl_slist *l = curl_slist_append(list, h.p);

		/* no "Expect: 100-continue" wait, no form content type */
		l = l ? curl_slist_append(l, "Expect:") : NULL;
		l = l ? curl_slist_append(l, "Content-Type:") : NULL;
		if (!l)
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
		else
			list = l;
	}
	if (rc)
		goto out;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url.p);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
	}
	cc = curl_easy_perform(c);
	blob_count("s3", r->op, r->got + r->resp.len, r->sent);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->overflow)) {
		*retry = transient_curl(cc);
		rc = hz_error_set(HZ_ERROR, "s3: %s s3://%s/%s%s: %s", r->method, s->bucket,
				  s->prefix, r->key ? r->key : "",
				  *errbuf ? errbuf : curl_easy_strerror(cc));
	} else if (r->status >= 500 || r->status == 429) {
		*retry = true;
		rc = req_error(s, r, "(will retry)");
	} else if (r->overflow) {
		rc = hz_error_set(HZ_ECORRUPT, "s3: %s s3://%s/%s%s: the answer is longer than "
				  "asked for", r->method, s->bucket, s->prefix, r->key ? r->key : "");
	}
out:
	curl_slist_free_all(list);
	free(auth);
	free(url.p);
	free(h.p);
	return rc;
}

/* Runs r with retries; 0 with r->status set (any status but 5xx/429), or
 * the last failure. */
static int perform(struct blob_s3 *s, struct req *r)
{
	struct buf path = { 0 };
	bool retry = false;
	int rc;

	if (!s->curl) {
		rc = hz_dl_curl();
		if (rc)
			return rc;
		s->curl = curl_easy_init();
		if (!s->curl)
			return hz_error_set(HZ_ENOMEM, "s3: cannot make a curl handle");
	}
	rc = req_path(s, r, &path);
	for (int i = 0; !rc || retry; i++) {
		rc = attempt(s, r, path.p, &retry);
		if (!rc || !retry || i >= s->retries)
			break;
		blob_count_retry("s3");
		backoff(i);
	}
	if (rc)
		blob_count_failure("s3");
	free(path.p);
	return rc;
}

static bool ok(const struct req *r)
{
	return r->status >= 200 && r->status < 300;
}

static void req_release(struct req *r)
{
	free(r->resp.p);
	r->resp.p = NULL;
}

/* ---- operations ------------------------------------------------------------ */

/* SHA-256 (hex) of len bytes of fd at off */
static int hash_range(int fd, uint64_t off, uint64_t len, char out[HZ_SHA256_HEX])
{
	struct hz_sha256 ctx;
	uint8_t d[HZ_SHA256_LEN], *buf = malloc(1 << 20);
	int rc = buf ? hz_sha256_init(&ctx) : HZ_ENOMEM;

	if (rc) {
		free(buf);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	while (!rc && len) {
		size_t n = len < (1 << 20) ? (size_t)len : (1 << 20);

		rc = hz_pread_all(fd, buf, n, off);
		if (rc)
			rc = hz_error_set_errno(HZ_ERROR, "cannot read the file to upload");
		hz_sha256_update(&ctx, buf, n);
		off += n;
		len -= n;
	}
	hz_sha256_final(&ctx, d);
	hz_sha256_release(&ctx);
	hz_hex(out, d, sizeof(d));
	free(buf);
	return rc;
}

static int s3_stat(struct blob_backend *b, const char *key, uint64_t *out_size)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	struct req r = { .method = "HEAD", .op = BLOB_OP_HEAD, .key = key,
			 .payload_hash = EMPTY_SHA256, .fd = -1 };
	int rc = perform(s, &r);

	if (!rc && !ok(&r))
		rc = req_error(s, &r, "");
	else if (!rc && !r.have_length)
		rc = hz_error_set(HZ_ERROR, "s3: HEAD s3://%s/%s%s: no Content-Length", s->bucket,
				  s->prefix, key);
	if (!rc)
		*out_size = r.length;
	req_release(&r);
	return rc;
}

static int put_single(struct blob_s3 *s, const char *key, int fd, uint64_t size)
{
	char hash[HZ_SHA256_HEX];
	struct req r = { .method = "PUT", .op = BLOB_OP_PUT, .key = key, .fd = fd, .len = size,
			 .payload_hash = hash };
	int rc = hash_range(fd, 0, size, hash);

	if (!rc)
		rc = perform(s, &r);
	if (!rc && !ok(&r))
		rc = req_error(s, &r, "");
	req_release(&r);
	return rc;
}

static int multipart_abort(struct blob_s3 *s, const char *key, const char *id)
{
	struct req r = { .method = "DELETE", .op = BLOB_OP_MULTIPART, .key = key, .fd = -1,
			 .payload_hash = EMPTY_SHA256, .query = { { "uploadId", id } },
			 .nquery = 1 };
	int rc = perform(s, &r);

	if (!rc && !ok(&r))
		rc = req_error(s, &r, "(abort multipart upload)");
	req_release(&r);
	return rc;
}

/* POST ?uploads: a new multipart upload of key, its id in *out_id. */
static int mp_create(struct blob_s3 *s, const char *key, char **out_id)
{
	struct req r = { .method = "POST", .op = BLOB_OP_MULTIPART, .key = key, .fd = -1,
			 .payload_hash = EMPTY_SHA256, .query = { { "uploads", "" } },
			 .nquery = 1, .body = "" };
	int rc = perform(s, &r);

	*out_id = NULL;
	if (!rc && !ok(&r))
		rc = req_error(s, &r, "(create multipart upload)");
	if (!rc && !(*out_id = xml_get(r.resp.p, r.resp.len, "UploadId", NULL)))
		rc = hz_error_set(HZ_ERROR, "s3: create multipart upload of s3://%s/%s%s: no "
				  "UploadId in the answer", s->bucket, s->prefix, key);
	req_release(&r);
	return rc;
}

/* PUT of part num (len bytes of fd at off), its entry appended to xml. */
static int mp_part(struct blob_s3 *s, const char *key, const char *id, int fd, uint64_t off,
		   uint64_t len, uint64_t num, struct buf *xml)
{
	char hash[HZ_SHA256_HEX], n[24];
	struct req r = { .method = "PUT", .op = BLOB_OP_PUT, .key = key, .fd = fd,
			 .off = off, .len = len, .payload_hash = hash,
			 .query = { { "partNumber", n }, { "uploadId", id } }, .nquery = 2 };
	int rc;

	snprintf(n, sizeof(n), "%llu", (unsigned long long)num);
	rc = hash_range(fd, off, len, hash);
	if (!rc)
		rc = perform(s, &r);
	if (!rc && !ok(&r))
		rc = req_error(s, &r, "(upload part)");
	if (!rc && !r.etag[0])
		rc = hz_error_set(HZ_ERROR, "s3: upload part %s of s3://%s/%s%s: no ETag", n,
				  s->bucket, s->prefix, key);
	if (!rc)
		rc = buf_adds(xml, "<Part><PartNumber>");
	if (!rc)
		rc = buf_adds(xml, n);
	if (!rc)
		rc = buf_adds(xml, "</PartNumber><ETag>");
	if (!rc)
		rc = buf_adds(xml, r.etag);
	if (!rc)
		rc = buf_adds(xml, "</ETag></Part>");
	req_release(&r);
	return rc;
}

/* POST ?uploadId: the parts listed in xml (<Part> entries) make the object. */
static int mp_complete(struct blob_s3 *s, const char *key, const char *id, const struct buf *parts)
{
	struct buf xml = { 0 };
	char hash[HZ_SHA256_HEX];
	uint8_t d[HZ_SHA256_LEN];
	struct req r;
	int rc = buf_adds(&xml, "<CompleteMultipartUpload>");

	if (!rc && parts->len)
		rc = buf_add(&xml, parts->p, parts->len);
	if (!rc)
		rc = buf_adds(&xml, "</CompleteMultipartUpload>");
	if (rc) {
		free(xml.p);
		return rc;
	}
	hz_sha256(d, xml.p, xml.len);
	hz_hex(hash, d, sizeof(d));
	r = (struct req){ .method = "POST", .op = BLOB_OP_MULTIPART, .key = key, .fd = -1,
			  .body = xml.p, .len = xml.len, .payload_hash = hash,
			  .query = { { "uploadId", id } }, .nquery = 1 };
	rc = perform(s, &r);
	/* a 200 may still carry an <Error> (S3 answers before it is done) */
	if (!rc && (!ok(&r) || (r.resp.p && strstr(r.resp.p, "<Error>"))))
		rc = req_error(s, &r, "(complete multipart upload)");
	req_release(&r);
	free(xml.p);
	return rc;
}

/* Aborts upload id of key, keeping the message of the failure rc. */
static int mp_fail(struct blob_s3 *s, const char *key, const char *id, int rc)
{
	char keep[1024];

	snprintf(keep, sizeof(keep), "%s", hz_error_msg());
	multipart_abort(s, key, id);
	return hz_error_set(rc, "%s", keep);
}

static int put_multipart(struct blob_s3 *s, const char *key, int fd, uint64_t size)
{
	uint64_t nparts = (size + s->part_size - 1) / s->part_size;
	struct buf parts = { 0 };
	char *id = NULL;
	int rc;

	if (nparts > MAX_PARTS)
		return hz_error_set(HZ_EINVAL, "s3: %llu bytes need more than %d parts of "
				    "part_size %llu", (unsigned long long)size, MAX_PARTS,
				    (unsigned long long)s->part_size);
	rc = mp_create(s, key, &id);
	for (uint64_t i = 0; !rc && i < nparts; i++) {
		uint64_t off = i * s->part_size;
		uint64_t len = size - off < s->part_size ? size - off : s->part_size;

		rc = mp_part(s, key, id, fd, off, len, i + 1, &parts);
	}
	if (!rc)
		rc = mp_complete(s, key, id, &parts);
	if (rc && id)
		rc = mp_fail(s, key, id, rc);
	free(id);
	free(parts.p);
	return rc;
}

/* Checks that key holds size bytes, then removes the local file. */
static int put_done(struct blob_s3 *s, const char *key, const char *path, uint64_t size);

static int s3_put(struct blob_backend *b, const char *key, const char *path, uint64_t size)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return hz_error_set_errno(HZ_ERROR, "cannot open '%s'", path);
	if (size >= s->threshold && size > s->part_size)
		rc = put_multipart(s, key, fd, size);
	else
		rc = put_single(s, key, fd, size);
	close(fd);
	return rc ? rc : put_done(s, key, path, size);
}

static int put_done(struct blob_s3 *s, const char *key, const char *path, uint64_t size)
{
	uint64_t got = 0;
	/* the object is there, whole, before the index names it */
	int rc = s3_stat(&s->base, key, &got);

	if (!rc && got != size)
		rc = hz_error_set(HZ_ERROR, "s3: s3://%s/%s%s holds %llu bytes after the upload "
				  "of %llu", s->bucket, s->prefix, key, (unsigned long long)got,
				  (unsigned long long)size);
	if (!rc)
		unlink(path);
	return rc;
}

/* ---- uploads while the file is written ------------------------------------ */

/*
 * A pack past multipart_threshold is uploaded while the session still
 * writes it: a worker thread, with its own connection, sends each part as
 * soon as the file holds it, so that encoding and uploading overlap.  The
 * last part goes, and the upload is completed, in stream_finish.
 */
struct blob_stream {
	struct blob_s3 *s;	/* the backend (its handle is the caller's) */
	struct blob_s3 w;	/* the worker's copy: the same settings, its own handle */
	char *key, *path, *id;
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t avail;		/* bytes of the file that are final */
	uint64_t sent;		/* bytes the worker has uploaded */
	uint64_t nparts;
	bool closing, stop, done;
	struct buf parts;	/* <Part> entries, in order */
	int rc;			/* the worker's failure, with its message: */
	char err[1024];
};

static void *stream_worker(void *arg)
{
	struct blob_stream *st = arg;
	int rc = 0;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		uint64_t len;

		while (!st->stop && !st->closing && st->avail - st->sent < st->w.part_size)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->stop)
			break;
		len = st->avail - st->sent;
		if (len > st->w.part_size)
			len = st->w.part_size;
		if (!len && st->closing)
			break;
		if (st->nparts + 1 > MAX_PARTS) {
			rc = hz_error_set(HZ_EINVAL, "s3: more than %d parts of part_size %llu",
					  MAX_PARTS, (unsigned long long)st->w.part_size);
			break;
		}
		pthread_mutex_unlock(&st->mu);
		rc = mp_part(&st->w, st->key, st->id, st->fd, st->sent, len, st->nparts + 1,
			     &st->parts);
		pthread_mutex_lock(&st->mu);
		if (rc)
			break;
		st->sent += len;
		st->nparts++;
	}
	if (rc) {
		st->rc = rc;
		snprintf(st->err, sizeof(st->err), "%s", hz_error_msg());
	}
	st->done = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	if (st->w.curl)
		curl_easy_cleanup(st->w.curl);
	st->w.curl = NULL;
	return NULL;
}

static void stream_free(struct blob_stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st->key);
	free(st->path);
	free(st->id);
	free(st->parts.p);
	free(st);
}

/* Stops the worker (at once with stop, else once it has sent everything)
 * and waits for it; its failure, with the message set, or 0. */
static int stream_join(struct blob_stream *st, bool stop)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	if (stop)
		st->stop = true;
	else
		st->closing = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	pthread_join(st->thread, NULL);
	rc = st->rc;
	if (rc)
		hz_error_set(rc, "%s", st->err);
	return rc;
}

static int s3_stream_begin(struct blob_backend *b, const char *key, const char *path,
			   uint64_t size, struct blob_stream **out)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	struct blob_stream *st;
	int rc;

	*out = NULL;
	if (size < s->threshold || size <= s->part_size)
		return 0; /* small so far: put() at the end, if it stays small */
	st = calloc(1, sizeof(*st));
	if (!st)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	st->s = s;
	st->w = *s;
	st->w.curl = NULL;
	st->fd = open(path, O_RDONLY | O_CLOEXEC);
	st->key = hz_strdup(key);
	st->path = hz_strdup(path);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if (st->fd < 0)
		rc = hz_error_set_errno(HZ_ERROR, "cannot open '%s'", path);
	else if (!st->key || !st->path)
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	else
		rc = mp_create(s, key, &st->id);
	st->avail = size;
	if (!rc && pthread_create(&st->thread, NULL, stream_worker, st)) {
		rc = mp_fail(s, key, st->id,
			     hz_error_set(HZ_ERROR, "cannot start an upload thread"));
	}
	if (rc) {
		stream_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

static int s3_stream_more(struct blob_stream *st, uint64_t size)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = st->rc;
	if (!rc && size > st->avail) {
		st->avail = size;
		pthread_cond_signal(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	if (rc)
		hz_error_set(rc, "%s", st->err);
	return rc;
}

static int s3_stream_finish(struct blob_stream *st, uint64_t size)
{
	struct blob_s3 *s = st->s;
	int rc = s3_stream_more(st, size);

	if (!rc)
		rc = stream_join(st, false);
	else
		stream_join(st, true);
	if (!rc && st->sent != size)
		rc = hz_error_set(HZ_ERROR, "s3: the upload of s3://%s/%s%s stopped at %llu of %llu "
				  "bytes", s->bucket, s->prefix, st->key,
				  (unsigned long long)st->sent, (unsigned long long)size);
	if (!rc)
		rc = mp_complete(s, st->key, st->id, &st->parts);
	if (rc)
		rc = mp_fail(s, st->key, st->id, rc);
	else
		rc = put_done(s, st->key, st->path, size);
	stream_free(st);
	return rc;
}

static void s3_stream_abort(struct blob_stream *st)
{
	stream_join(st, true);
	multipart_abort(st->s, st->key, st->id);
	stream_free(st);
}

static int s3_read(struct blob_backend *b, const char *key, uint64_t off, void *buf, size_t len)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	char range[64];
	struct req r = { .method = "GET", .op = BLOB_OP_GET, .key = key, .fd = -1,
			 .payload_hash = EMPTY_SHA256, .range = range, .out = buf, .out_cap = len };
	int rc;

	if (!len)
		return 0;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	rc = perform(s, &r);
	if (!rc && !ok(&r))
		rc = req_error(s, &r, "");
	else if (!rc && (r.got != len || (r.status == 200 && off)))
		rc = hz_error_set(HZ_ECORRUPT, "s3: s3://%s/%s%s ends before byte %llu",
				  s->bucket, s->prefix, key, (unsigned long long)(off + len));
	req_release(&r);
	return rc;
}

static int s3_remove(struct blob_backend *b, const char *key)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	struct req r = { .method = "DELETE", .op = BLOB_OP_DELETE, .key = key, .fd = -1,
			 .payload_hash = EMPTY_SHA256 };
	int rc = perform(s, &r);

	if (!rc && !ok(&r) && r.status != 404)
		rc = req_error(s, &r, "");
	req_release(&r);
	return rc;
}

/* "2026-11-27T08:06:34.000Z" -> unix seconds (0 if unreadable) */
static int64_t parse_time(const char *v)
{
	struct tm tm = { 0 };

	if (!v || sscanf(v, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static int s3_list(struct blob_backend *b, const char *prefix,
		   int (*fn)(void *payload, const struct blob_info *info), void *payload)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	char *token = NULL, *full = NULL;
	size_t plen = strlen(s->prefix);
	int rc = 0;

	if (asprintf(&full, "%s%s", s->prefix, prefix) < 0)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	do {
		struct req r = { .method = "GET", .op = BLOB_OP_LIST, .fd = -1,
				 .payload_hash = EMPTY_SHA256,
				 .query = { { "list-type", "2" }, { "prefix", full } }, .nquery = 2 };
		size_t at = 0;
		char *more, *c;

		if (token)
			r.query[r.nquery++] = (struct s3_pair){ "continuation-token", token };
		rc = perform(s, &r);
		if (!rc && !ok(&r))
			rc = req_error(s, &r, "(list)");
		free(token);
		token = NULL;
		while (!rc && (c = xml_get(r.resp.p, r.resp.len, "Contents", &at))) {
			char *k = xml_get(c, strlen(c), "Key", NULL);
			char *sz = xml_get(c, strlen(c), "Size", NULL);
			char *lm = xml_get(c, strlen(c), "LastModified", NULL);

			if (k && strlen(k) >= plen && !strncmp(k, s->prefix, plen)) {
				struct blob_info info = { k + plen, sz ? strtoull(sz, NULL, 10) : 0,
							  parse_time(lm) };

				rc = fn(payload, &info);
			}
			free(k);
			free(sz);
			free(lm);
			free(c);
		}
		more = rc ? NULL : xml_get(r.resp.p, r.resp.len, "IsTruncated", NULL);
		if (more && !strcmp(more, "true"))
			token = xml_get(r.resp.p, r.resp.len, "NextContinuationToken", NULL);
		free(more);
		req_release(&r);
	} while (!rc && token);
	free(token);
	free(full);
	return rc;
}

/* Creates the bucket if it is missing, then writes and deletes a probe
 * object: `hubzip init` fails now rather than at the first upload. */
static int s3_init(struct blob_backend *b)
{
	struct blob_s3 *s = (struct blob_s3 *)b;
	struct req r = { .method = "HEAD", .op = BLOB_OP_HEAD, .fd = -1,
			 .payload_hash = EMPTY_SHA256 };
	char *tmp = NULL;
	int rc = perform(s, &r), fd;

	if (!rc && r.status == 404) {
		char body[256], hash[HZ_SHA256_HEX];
		uint8_t d[HZ_SHA256_LEN];

		req_release(&r);
		/* us-east-1 takes no location constraint */
		if (strcmp(s->region, "us-east-1"))
			snprintf(body, sizeof(body), "<CreateBucketConfiguration><LocationConstraint>"
				 "%s</LocationConstraint></CreateBucketConfiguration>", s->region);
		else
			body[0] = '\0';
		hz_sha256(d, body, strlen(body));
		hz_hex(hash, d, sizeof(d));
		r = (struct req){ .method = "PUT", .op = BLOB_OP_PUT, .fd = -1, .body = body,
				  .len = strlen(body), .payload_hash = hash };
		rc = perform(s, &r);
		if (!rc && !ok(&r)) {
			char *code = xml_get(r.resp.p ? r.resp.p : "", r.resp.len, "Code", NULL);

			if (!code || strcmp(code, "BucketAlreadyOwnedByYou"))
				rc = req_error(s, &r, "(create bucket)");
			free(code);
		}
	} else if (!rc && !ok(&r)) {
		rc = req_error(s, &r, "(bucket)");
	}
	req_release(&r);
	if (rc)
		return rc;
	/* a probe: the credentials may write and delete */
	if (asprintf(&tmp, "%s/hubzip-s3-probe.XXXXXX",
		     getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") < 0)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", tmp);
	} else {
		rc = hz_write_all(fd, "hubzip\n", 7);
		close(fd);
		if (!rc)
			rc = s3_put(b, ".hubzip-probe", tmp, 7);
		if (!rc)
			rc = s3_remove(b, ".hubzip-probe");
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

static const char *s3_where(struct blob_backend *b)
{
	return ((struct blob_s3 *)b)->url;
}

static void s3_free(struct blob_backend *b)
{
	struct blob_s3 *s = (struct blob_s3 *)b;

	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->url);
	free(s->scheme_host);
	free(s->host);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->access_key);
	if (s->secret_key)
		memset(s->secret_key, 0, strlen(s->secret_key));
	free(s->secret_key);
	free(s->token);
	free(s);
}

/* ---- the URL ---------------------------------------------------------------- */

/* %XX-decodes a query value in place */
static void url_decode(char *v)
{
	char *o = v;

	for (; *v; v++) {
		if (*v == '%' && hz_hexval(v[1]) >= 0 && hz_hexval(v[2]) >= 0) {
			*o++ = (char)(hz_hexval(v[1]) * 16 + hz_hexval(v[2]));
			v += 2;
		} else {
			*o++ = *v == '+' ? ' ' : *v;
		}
	}
	*o = '\0';
}

static int parse_bytes(const char *name, const char *v, uint64_t min, uint64_t *out)
{
	char *e;
	unsigned long long n = strtoull(v, &e, 10);

	switch (*e) {
	case 'k': case 'K': n <<= 10; e++; break;
	case 'm': case 'M': n <<= 20; e++; break;
	case 'g': case 'G': n <<= 30; e++; break;
	default: break;
	}
	if (e == v || *e || n < min || n > (5ull << 30))
		return hz_error_set(HZ_EINVAL, "invalid blobs URL: %s '%s' (%llu to 5G)", name, v,
				    (unsigned long long)min);
	*out = n;
	return 0;
}

/* Sets scheme_host and host from an endpoint "http[s]://HOST[:PORT][/]". */
static int set_endpoint(struct blob_s3 *s, const char *ep)
{
	const char *h = strstr(ep, "://");
	size_t n;

	if (!h || (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)))
		return hz_error_set(HZ_EINVAL, "invalid blobs URL: endpoint '%s' is not "
				    "http://HOST[:PORT] or https://...", ep);
	h += 3;
	n = strcspn(h, "/");
	if (!n || h[n + (h[n] == '/')])
		return hz_error_set(HZ_EINVAL, "invalid blobs URL: endpoint '%s' has a path", ep);
	s->host = strndup(h, n);
	s->scheme_host = strndup(ep, (size_t)(h - ep) + n);
	return s->host && s->scheme_host ? 0 : hz_error_set(HZ_ENOMEM, "out of memory");
}

int blob_s3_open(struct blob_backend **out, const char *url)
{
	struct blob_s3 *s = calloc(1, sizeof(*s));
	char *copy = hz_strdup(url), *q, *p, *endpoint = NULL, *path_style = NULL;
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	int rc = 0;

	*out = NULL;
	if (!s || !copy) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto fail;
	}
	s->part_size = 64 * MiB;
	s->threshold = 64 * MiB;
	s->retries = 5;
	q = strchr(copy, '?');
	if (q)
		*q++ = '\0';
	/* s3://BUCKET[/PREFIX] */
	p = copy + 5;
	{
		size_t bl = strcspn(p, "/");
		const char *prefix = p[bl] ? p + bl + 1 : "";
		size_t pl = strlen(prefix);

		while (pl && prefix[pl - 1] == '/')
			pl--;
		if (bl < 3 || bl > 63 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789.-") < bl) {
			rc = hz_error_set(HZ_EINVAL, "invalid blobs URL '%s': the bucket name must be "
					  "3 to 63 of a-z 0-9 . -", url);
			goto fail;
		}
		s->bucket = strndup(p, bl);
		if (pl && asprintf(&s->prefix, "%.*s/", (int)pl, prefix) < 0)
			s->prefix = NULL;
		else if (!pl)
			s->prefix = hz_strdup("");
	}
	for (char *kv = q ? strtok(q, "&") : NULL; !rc && kv; kv = strtok(NULL, "&")) {
		char *v = strchr(kv, '=');

		if (!v) {
			rc = hz_error_set(HZ_EINVAL, "invalid blobs URL: '%s' is not KEY=VALUE", kv);
			break;
		}
		*v++ = '\0';
		url_decode(v);
		if (!strcmp(kv, "endpoint"))
			endpoint = v;
		else if (!strcmp(kv, "region"))
			rc = (free(s->region), s->region = hz_strdup(v)) ? 0 : HZ_ENOMEM;
		else if (!strcmp(kv, "path_style"))
			path_style = v;
		else if (!strcmp(kv, "part_size"))
			rc = parse_bytes("part_size", v, 64 << 10, &s->part_size);
		else if (!strcmp(kv, "multipart_threshold"))
			rc = parse_bytes("multipart_threshold", v, 0, &s->threshold);
		else if (!strcmp(kv, "retries"))
			s->retries = atoi(v) < 0 ? 0 : atoi(v) > 20 ? 20 : atoi(v);
		else
			rc = hz_error_set(HZ_EINVAL, "invalid blobs URL: unknown parameter '%s' "
					  "(endpoint, region, path_style, part_size, "
					  "multipart_threshold, retries)", kv);
	}
	if (rc == HZ_ENOMEM)
		hz_error_set(HZ_ENOMEM, "out of memory");
	if (rc)
		goto fail;
	if (!s->region) {
		const char *env = getenv("AWS_REGION");

		if (!env || !*env)
			env = getenv("AWS_DEFAULT_REGION");
		s->region = hz_strdup(env && *env ? env : "us-east-1");
	}
	if (!s->region) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto fail;
	}
	if (endpoint) {
		s->path_style = !path_style || strcmp(path_style, "false");
		rc = set_endpoint(s, endpoint);
	} else {
		char *ep = NULL;

		/* a dotted bucket name would not match the wildcard certificate
		 * of virtual-hosted names */
		s->path_style = (path_style && !strcmp(path_style, "true")) ||
				(!path_style && strchr(s->bucket, '.'));
		if (s->path_style)
			rc = asprintf(&ep, "https://s3.%s.amazonaws.com", s->region) < 0;
		else
			rc = asprintf(&ep, "https://%s.s3.%s.amazonaws.com", s->bucket,
				      s->region) < 0;
		rc = rc ? hz_error_set(HZ_ENOMEM, "out of memory") : set_endpoint(s, ep);
		free(ep);
	}
	if (rc)
		goto fail;
	if (!ak || !*ak || !sk || !*sk) {
		rc = hz_error_set(HZ_EINVAL, "blobs '%s': set AWS_ACCESS_KEY_ID and "
				  "AWS_SECRET_ACCESS_KEY", url);
		goto fail;
	}
	s->access_key = hz_strdup(ak);
	s->secret_key = hz_strdup(sk);
	s->token = tok && *tok ? hz_strdup(tok) : NULL;
	s->url = hz_strdup(url);
	if (!s->bucket || !s->prefix || !s->access_key || !s->secret_key || !s->url ||
	    (tok && *tok && !s->token)) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto fail;
	}
	s->base.version = BLOB_BACKEND_VERSION;
	s->base.scheme = "s3";
	s->base.put = s3_put;
	s->base.read = s3_read;
	s->base.stat = s3_stat;
	s->base.remove = s3_remove;
	s->base.list = s3_list;
	s->base.stream_begin = s3_stream_begin;
	s->base.stream_more = s3_stream_more;
	s->base.stream_finish = s3_stream_finish;
	s->base.stream_abort = s3_stream_abort;
	s->base.init = s3_init;
	s->base.where = s3_where;
	s->base.free = s3_free;
	free(copy);
	*out = &s->base;
	return 0;
fail:
	free(copy);
	if (s)
		s3_free(&s->base);
	return rc;
}
