/*
 * api/download.c - a file of a revision as an HTTP response, streamed from
 * the store: ETag (the file's SHA-256), Range (206 / 416), HEAD, and the
 * hub's X-Linked-* headers.
 *
 * The reader decodes into a buffer of DL_BUF bytes and stops at a block
 * boundary once less than a block's worth of room is left, so no block is
 * decoded twice however MHD slices the body.  Each block is verified by
 * the store; a whole-file response is also checked on the way (the
 * store's whole-file checksum, store_file_check_*) and cut short (the
 * client sees a truncated body) if it does not match.  The first
 * bufferful is decoded before the reply is queued, so damage found there
 * (a missing pack, a bad first block, any damage to a file of up to 2
 * MiB) is answered 500 Corrupt with a JSON body before any byte.
 */
#include "api/api_int.h"
#include "api/metrics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"

#define DL_BUF (2u << 20)
#define DL_LOW (1u << 20)	/* a block of the store is at most this */
#define DL_FULL 1		/* the sink's "stop here" */
#define DL_CHUNK (256u << 10)	/* what MHD asks for at a time */

struct dl {
	struct api_req *req;	/* only touched from the reader */
	struct store_file *f;
	uint64_t pos, end;	/* next file byte to decode, end of the range */
	uint8_t *buf;
	size_t have, used;
	struct store_file_check *check;	/* a whole-file response */
};

static int dl_sink(void *payload, const void *p, size_t n)
{
	struct dl *d = payload;

	if (n > DL_BUF - d->have) {
		if (!d->have)
			return hz_error_set(HZ_ERROR, "a block larger than the read buffer");
		return DL_FULL; /* not taken: read again next time */
	}
	memcpy(d->buf + d->have, p, n);
	d->have += n;
	return DL_BUF - d->have < DL_LOW ? DL_FULL : 0;
}

/* Decodes the next bufferful of the range into d->buf (every block
 * verified by the store, and the whole-file checksum at the end of a
 * whole-file response): 0, or an HZ_E* code with the message set and
 * logged. */
static int dl_fill(struct dl *d, uint64_t *ns)
{
	uint64_t t0;
	int rc;

	if (!d->buf && !(d->buf = malloc(DL_BUF)))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	d->have = d->used = 0;
	t0 = metrics_now_ns();
	rc = store_file_read(d->f, d->pos, d->end - d->pos, dl_sink, d);
	*ns = metrics_now_ns() - t0;
	if (rc == DL_FULL)
		rc = 0;
	if (!rc && !d->have)
		rc = hz_error_set(HZ_ERROR, "no bytes");
	if (rc < 0) {
		api_log(API_LOG_ERROR, "cannot read '%s': %s", d->req->url, hz_error_msg());
		return rc;
	}
	d->pos += d->have;
	if (d->check) {
		store_file_check_update(d->check, d->buf, d->have);
		if (d->pos == d->end) {
			rc = store_file_check_end(d->check);
			d->check = NULL;
			if (rc)
				api_log(API_LOG_ERROR, "'%s': %s: response cut short", d->req->url,
					hz_error_msg());
		}
	}
	return rc;
}

static ssize_t dl_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct dl *d = cls;
	uint64_t ns = 0;
	size_t n;

	(void)pos;
	if (d->used == d->have) {
		if (d->pos >= d->end)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (dl_fill(d, &ns))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = d->have - d->used < max ? d->have - d->used : max;
	memcpy(out, d->buf + d->used, n);
	d->used += n;
	d->req->bytes += n;
	metrics_restore(d->req->srv->metrics, n, ns);
	return (ssize_t)n;
}

static void dl_free(void *cls)
{
	struct dl *d = cls;

	store_file_free(d->f);
	store_file_check_free(d->check);
	free(d->buf);
	free(d);
}

/* Whether an If-None-Match header names etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag)
{
	return inm && (strstr(inm, etag) || !strcmp(inm, "*"));
}

static void file_headers(struct MHD_Response *r, const char *etag, uint64_t size)
{
	char n[32];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)size);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(r, "X-Linked-Etag", etag);
	MHD_add_response_header(r, "X-Linked-Size", n);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

int api_send_file(struct api_req *req, const char *repo, const char *commit,
		  const char *path)
{
	struct store_file *f = NULL;
	int rc = store_file_open(&f, req->s, repo, commit, path);

	if (rc)
		return api_reply_store_error(req, rc, "EntryNotFound");
	return api_send_opened(req, f);
}

int api_send_opened(struct api_req *req, struct store_file *f)
{
	struct MHD_Response *r;
	struct dl *d;
	char etag[HZ_SHA256_HEX + 2], hex[HZ_SHA256_HEX], cr[96];
	uint64_t size, off = 0, len;
	unsigned status = MHD_HTTP_OK;
	int range;

	size = store_file_size(f);
	hz_hex(hex, store_file_sha256(f), HZ_SHA256_LEN);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	if (etag_matches(api_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH), hex)) {
		store_file_free(f);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (r)
			file_headers(r, etag, size);
		return api_queue(req, MHD_HTTP_NOT_MODIFIED, r, 0);
	}
	len = size;
	range = http_range_parse(api_header(req, MHD_HTTP_HEADER_RANGE), size, &off, &len);
	if (range == HTTP_RANGE_UNSATISFIABLE && size == 0) {
		/* the JS client probes every file with bytes=0-0 and reads the
		 * size after the '/': an empty file is a 2xx with ".../0" */
		store_file_free(f);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (r) {
			file_headers(r, etag, size);
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, "bytes */0");
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
						"application/octet-stream");
		}
		return api_queue(req, MHD_HTTP_OK, r, 0);
	}
	if (range == HTTP_RANGE_UNSATISFIABLE || range == HTTP_RANGE_INVALID) {
		store_file_free(f);
		req->xhdr_name = MHD_HTTP_HEADER_CONTENT_RANGE;
		req->xhdr_value = malloc(48);
		if (req->xhdr_value)
			snprintf(req->xhdr_value, 48, "bytes */%llu", (unsigned long long)size);
		if (range == HTTP_RANGE_INVALID)
			return api_reply_error(req, MHD_HTTP_RANGE_NOT_SATISFIABLE,
					       "InvalidRange",
					       "the Range header is not bytes=A-B, A- or -N");
		return api_reply_error(req, MHD_HTTP_RANGE_NOT_SATISFIABLE,
				       "RangeNotSatisfiable",
				       "the range is outside the file (%llu bytes)",
				       (unsigned long long)size);
	}
	if (range == HTTP_RANGE_OK) {
		status = MHD_HTTP_PARTIAL_CONTENT;
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1), (unsigned long long)size);
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		store_file_free(f);
		return api_reply_error(req, 500, "InternalError", "out of memory");
	}
	d->req = req;
	d->f = f;
	d->pos = off;
	d->end = off + len;
	if (range == HTTP_RANGE_NONE && !req->head && size &&
	    store_file_check_begin(&d->check, f)) {
		dl_free(d);
		return api_reply_error(req, 500, "InternalError", "out of memory");
	}
	if (len && !req->head) {
		/* the first bufferful before the status line: what can be found
		 * damaged there (a missing or truncated pack, a bad first block,
		 * a small file's checksum) is a JSON 500, not a cut body */
		uint64_t ns = 0;
		int rc = dl_fill(d, &ns);

		if (rc) {
			dl_free(d);
			return api_reply_store_error(req, rc, "EntryNotFound");
		}
		metrics_restore(req->srv->metrics, 0, ns); /* the bytes count when sent */
	}
	if (len == 0) {
		dl_free(d);
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_callback(len, DL_CHUNK, dl_read, d, dl_free);
		if (!r)
			dl_free(d);
	}
	if (r) {
		file_headers(r, etag, size);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/octet-stream");
		if (status == MHD_HTTP_PARTIAL_CONTENT)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	/* the reader counts the bytes it hands over */
	return api_queue(req, status, r, 0);
}
