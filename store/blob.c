/*
 * store/blob.c - opening a blob backend from its URL (and a store's
 * backend: the URL set, the one its `init` recorded, or DIR/objects), pack
 * keys, and the process-wide request counters (store/blob.h).
 */
#include "store/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "store/store.h"

static char *blobs_url;	/* store_blobs_set; NULL: what the store recorded */

int store_blobs_set(const char *url)
{
	char *copy = NULL;

	if (url && *url && strncmp(url, "file:///", 8) && strncmp(url, "s3://", 5))
		return hz_error_set(HZ_EINVAL, "blobs '%s': not a file:///PATH or "
				    "s3://BUCKET[/PREFIX]?... URL", url);
	if (url && *url && !(copy = hz_strdup(url)))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	free(blobs_url);
	blobs_url = copy;
	return 0;
}

const char *store_blobs_get(void)
{
	return blobs_url;
}

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

/* Where url keeps objects, as a comparable string: "s3://BUCKET/PREFIX/"
 * without the parameters, or "file:///PATH/" (url NULL: DIR/objects). */
static char *location(const char *url, const char *dir)
{
	char *out = NULL, *p, *q;
	int n;

	if (!url) {
		char *abs = realpath(dir, NULL);

		n = asprintf(&out, "file://%s/objects/", abs ? abs : dir);
		free(abs);
	} else {
		n = asprintf(&out, "%.*s/", (int)strcspn(url, "?"), url);
	}
	if (n < 0)
		return NULL;
	/* no "//" after the scheme's, so that one trailing slash remains */
	p = q = strstr(out, "://") + 3;
	for (; *q; q++)
		if (*q != '/' || p[-1] != '/')
			*p++ = *q;
	*p = '\0';
	return out;
}

/* The URL `init` recorded in DIR/blobs.url (malloc'd in *out, NULL if
 * none). */
static int recorded(const char *dir, char **out)
{
	char *path = hz_path_join(dir, BLOB_RECORD), buf[4096];
	FILE *f = path ? fopen(path, "r") : NULL;
	int rc = 0;

	*out = NULL;
	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (!f) {
		if (errno != ENOENT)
			rc = hz_error_set_errno(HZ_ERROR, "cannot read '%s'", path);
	} else {
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\r\n")] = '\0';
			if (*buf && !(*out = hz_strdup(buf)))
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
		}
		fclose(f);
	}
	free(path);
	return rc;
}

/* Writes url to DIR/blobs.url durably (temporary file, fsync, rename). */
static int record(const char *dir, const char *url)
{
	char *path = hz_path_join(dir, BLOB_RECORD), *tmp = NULL;
	int fd = -1, rc = 0;

	if (!path || asprintf(&tmp, "%s.tmp", path) < 0) {
		free(path);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", tmp);
	if (!rc)
		rc = hz_write_all(fd, url, strlen(url));
	if (!rc)
		rc = hz_write_all(fd, "\n", 1);
	if (!rc && fsync(fd))
		rc = hz_error_set_errno(HZ_ERROR, "cannot fsync '%s'", tmp);
	if (fd >= 0)
		close(fd);
	if (!rc && rename(tmp, path))
		rc = hz_error_set_errno(HZ_ERROR, "cannot write '%s'", path);
	if (!rc)
		rc = hz_fsync_dir(dir);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

/* Whether objects/packs/ holds anything (a store that has written packs). */
static int has_packs(const char *objects)
{
	char *packs = hz_path_join(objects, "packs");
	DIR *d = packs ? opendir(packs) : NULL;
	struct dirent *e;
	int found = 0;

	while (d && !found && (e = readdir(d)))
		found = e->d_name[0] != '.';
	if (d)
		closedir(d);
	free(packs);
	return found;
}

int blob_store_open(struct blob_backend **out, const char *dir, int create)
{
	char *rec = NULL, *objects = hz_path_join(dir, "objects"), *a = NULL, *b = NULL;
	const char *url = blobs_url;
	int rc = recorded(dir, &rec);

	*out = NULL;
	if (!objects) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	if (rc)
		goto out;
	if (url && rec) {
		/* the endpoint or the region may change; the place may not */
		a = location(url, dir);
		b = location(rec, dir);
		if (!a || !b) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			goto out;
		}
		if (strcmp(a, b)) {
			rc = hz_error_set(HZ_EINVAL, "store '%s' keeps its packs in '%s' (%s/%s), "
					  "not in '%s'", dir, rec, dir, BLOB_RECORD, url);
			goto out;
		}
	}
	rc = blob_open(out, url ? url : rec, objects);
	if (rc)
		goto out;
	/* the first `init` (or ingest) with a backend prepares it and records
	 * it: later commands find it without --blobs */
	if (create && !rec) {
		if (url) {
			a = a ? a : location(url, dir);
			b = b ? b : location(NULL, dir);
			if (!a || !b)
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
			else if (strcmp(a, b) && has_packs(objects))
				rc = hz_error_set(HZ_EINVAL, "store '%s' keeps its packs in %s/packs: move "
						  "them to '%s' first (docs/format.md, \"Blob backends\")",
						  dir, objects, url);
		}
		if (!rc)
			rc = blob_init(*out);
		if (!rc && url && strcmp(a, b))
			rc = record(dir, url);
	}
	if (rc) {
		blob_free(*out);
		*out = NULL;
	}
out:
	free(a);
	free(b);
	free(rec);
	free(objects);
	return rc;
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
