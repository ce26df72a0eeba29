/*
 * store/blob.c - opening a blob backend from its URL, pack keys, and the
 * process-wide request counters (store/blob.h).
 */
#include "store/blob.h"

#include <stdio.h>
#include <string.h>

#include "store/store.h"

int blob_open(struct blob_backend **out, const char *url, const char *objects_dir)
{
	*out = NULL;
	if (!url || !*url)
		return blob_file_open(out, objects_dir);
	if (!strncmp(url, "file://", 7)) {
		if (url[7] != '/')
			return hz_error_set(HZ_EINVAL, "invalid blobs URL '%s': file:// takes an "
					    "absolute path (file:///srv/hubzip/objects)", url);
		return blob_file_open(out, url + 7);
	}
	if (!strncmp(url, "s3://", 5))
		return blob_s3_open(out, url);
	return hz_error_set(HZ_EINVAL, "invalid blobs URL '%s': file:///PATH or "
			    "s3://BUCKET[/PREFIX]?endpoint=...&region=...", url);
}

void blob_pack_key(char out[BLOB_PACK_KEY_MAX], const char *name)
{
	snprintf(out, BLOB_PACK_KEY_MAX, "packs/%.2s/%.32s.pack", name, name);
}

/* ---- counters ----------------------------------------------------------- */

enum { SCHEME_FILE, SCHEME_S3, NSCHEMES };

static struct {
	uint64_t ops[BLOB_OP_NOPS];
	uint64_t retries, failures, bytes_in, bytes_out;
} counters[NSCHEMES];

static int scheme_index(const char *scheme)
{
	return strcmp(scheme, "s3") ? SCHEME_FILE : SCHEME_S3;
}

void blob_count(const char *scheme, enum blob_op op, uint64_t bytes_in, uint64_t bytes_out)
{
	int i = scheme_index(scheme);

	__atomic_fetch_add(&counters[i].ops[op], 1, __ATOMIC_RELAXED);
	if (bytes_in)
		__atomic_fetch_add(&counters[i].bytes_in, bytes_in, __ATOMIC_RELAXED);
	if (bytes_out)
		__atomic_fetch_add(&counters[i].bytes_out, bytes_out, __ATOMIC_RELAXED);
}

void blob_count_retry(const char *scheme)
{
	__atomic_fetch_add(&counters[scheme_index(scheme)].retries, 1, __ATOMIC_RELAXED);
}

void blob_count_failure(const char *scheme)
{
	__atomic_fetch_add(&counters[scheme_index(scheme)].failures, 1, __ATOMIC_RELAXED);
}

void store_blob_counters(struct store_blob_counters *out, const char *scheme)
{
	int i = scheme_index(scheme);
	uint64_t *o = counters[i].ops;

	out->gets = __atomic_load_n(&o[BLOB_OP_GET], __ATOMIC_RELAXED);
	out->puts = __atomic_load_n(&o[BLOB_OP_PUT], __ATOMIC_RELAXED);
	out->heads = __atomic_load_n(&o[BLOB_OP_HEAD], __ATOMIC_RELAXED);
	out->lists = __atomic_load_n(&o[BLOB_OP_LIST], __ATOMIC_RELAXED);
	out->deletes = __atomic_load_n(&o[BLOB_OP_DELETE], __ATOMIC_RELAXED);
	out->multipart = __atomic_load_n(&o[BLOB_OP_MULTIPART], __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&counters[i].retries, __ATOMIC_RELAXED);
	out->failures = __atomic_load_n(&counters[i].failures, __ATOMIC_RELAXED);
	out->bytes_received = __atomic_load_n(&counters[i].bytes_in, __ATOMIC_RELAXED);
	out->bytes_sent = __atomic_load_n(&counters[i].bytes_out, __ATOMIC_RELAXED);
}
