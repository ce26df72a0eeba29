/*
 * store/blob.h - where pack files live: a small versioned vtable.
 *
 * A blob backend holds immutable objects under '/'-separated keys
 * ("packs/ab/ab12...ef.pack"): the local directory (blob_file.c, the
 * default: DIR/objects) or an S3 bucket (blob_s3.c).  Packs are written
 * complete to a local file first; put() makes the finished file durable in
 * the backend before the index transaction that names it, so a reader
 * never sees a key the index names but the backend lacks.  Objects are
 * never rewritten, so the read-after-write consistency every S3 service
 * gives for new keys is all a store needs.
 *
 * The backend returns bytes; the store verifies them (every block carries
 * its checksum, docs/format.md), and never trusts a backend for integrity.
 *
 * Backends embed struct blob_backend first (as libgit2's odb backends and
 * SQLite's sqlite3_vfs do); callers go through the blob_*() wrappers
 * below, which supply the defaults of the optional operations.
 *
 * Threads: a backend belongs to one struct store, used by one thread at a
 * time.  The request counters are process-wide (store_blob_counters).
 */
#ifndef HZ_STORE_BLOB_H
#define HZ_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BLOB_BACKEND_VERSION 1

struct blob_info {
	const char *key;	/* valid during the callback */
	uint64_t size;
	int64_t mtime;		/* unix seconds of the last write */
};

struct blob_stream;

struct blob_backend {
	unsigned version;	/* BLOB_BACKEND_VERSION */
	const char *scheme;	/* "file", "s3" */

	/* Stores the complete local file at path (size bytes) as key,
	 * durably, replacing nothing: keys name immutable content.  On
	 * success the local file is gone (moved or uploaded and removed);
	 * on failure it is left to the caller. */
	int (*put)(struct blob_backend *b, const char *key, const char *path, uint64_t size);
	/* Reads exactly len bytes at off of key into buf: HZ_ENOTFOUND if
	 * there is no such object, HZ_ECORRUPT if it ends before off+len,
	 * HZ_ERROR if the backend cannot be reached (after retries). */
	int (*read)(struct blob_backend *b, const char *key, uint64_t off, void *buf, size_t len);
	/* The object's size: HZ_ENOTFOUND if there is none. */
	int (*stat)(struct blob_backend *b, const char *key, uint64_t *out_size);
	/* Deletes key; an absent key is not an error. */
	int (*remove)(struct blob_backend *b, const char *key);
	/* Calls fn for every object whose key starts with prefix, in no
	 * particular order; stops early if fn returns non-zero (returned). */
	int (*list)(struct blob_backend *b, const char *prefix,
		    int (*fn)(void *payload, const struct blob_info *info), void *payload);
	/* Optional: uploads a file while it is being written (S3: a
	 * multipart upload whose parts go up from another thread as the
	 * file grows).  stream_begin is offered the file at each size it
	 * reaches and may decline (*out NULL: put() stores it at the end);
	 * stream_more says the first size bytes are final (it returns an
	 * upload's failure early); stream_finish, at the final size, sends
	 * the rest and makes the object durable as put() does (the local
	 * file is gone on success); stream_abort drops it.  Both free the
	 * stream. */
	int (*stream_begin)(struct blob_backend *b, const char *key, const char *path,
			    uint64_t size, struct blob_stream **out);
	int (*stream_more)(struct blob_stream *st, uint64_t size);
	int (*stream_finish)(struct blob_stream *st, uint64_t size);
	void (*stream_abort)(struct blob_stream *st);
	/* Optional: prepares the backend at `init` (a bucket is created if
	 * missing and must be writable).  NULL: nothing to do. */
	int (*init)(struct blob_backend *b);
	/* Optional: drops cached handles (before objects are deleted). */
	void (*drop_cache)(struct blob_backend *b);
	/* Optional: describes where objects live, for messages ("s3://b/p"). */
	const char *(*where)(struct blob_backend *b);
	void (*free)(struct blob_backend *b);
};

/*
 * Opens the backend named by url: NULL or "" for the local directory
 * objects_dir, "file://PATH" for another directory, or
 * "s3://BUCKET[/PREFIX][?endpoint=URL&region=R&...]" (blob_s3.c) with
 * credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.  HZ_EINVAL
 * for a URL it cannot parse.  *out is freed with blob_free.
 */
int blob_open(struct blob_backend **out, const char *url, const char *objects_dir);
int blob_file_open(struct blob_backend **out, const char *root);
int blob_s3_open(struct blob_backend **out, const char *url);

/*
 * Opens the backend of the store at dir: the URL store_blobs_set named,
 * else the one DIR/blobs.url records, else the directory DIR/objects.
 * HZ_EINVAL if the URL set names another place (bucket and prefix, or
 * path) than the one recorded.  With create, a store without a record
 * prepares the backend (blob_init) and records a URL set other than the
 * default, so that later commands need no --blobs.
 */
#define BLOB_RECORD "blobs.url"
int blob_store_open(struct blob_backend **out, const char *dir, int create);

/* The key of pack NAME (32 hex digits): "packs/XX/NAME.pack". */
#define BLOB_PACK_KEY_MAX 64
void blob_pack_key(char out[BLOB_PACK_KEY_MAX], const char *name);

/* Process-wide request counters (store_blob_counters reads them). */
enum blob_op {
	BLOB_OP_GET, BLOB_OP_PUT, BLOB_OP_HEAD, BLOB_OP_LIST, BLOB_OP_DELETE,
	BLOB_OP_MULTIPART,	/* create, complete or abort of a multipart upload */
	BLOB_OP_NOPS
};
void blob_count(const char *scheme, enum blob_op op, uint64_t bytes_in, uint64_t bytes_out);
void blob_count_retry(const char *scheme);
void blob_count_failure(const char *scheme);

static inline int blob_put(struct blob_backend *b, const char *key, const char *path,
			   uint64_t size)
{
	return b->put(b, key, path, size);
}

static inline int blob_read(struct blob_backend *b, const char *key, uint64_t off, void *buf,
			    size_t len)
{
	return b->read(b, key, off, buf, len);
}

static inline int blob_stat(struct blob_backend *b, const char *key, uint64_t *out_size)
{
	return b->stat(b, key, out_size);
}

static inline int blob_remove(struct blob_backend *b, const char *key)
{
	return b->remove(b, key);
}

static inline int blob_list(struct blob_backend *b, const char *prefix,
			    int (*fn)(void *payload, const struct blob_info *info), void *payload)
{
	return b->list(b, prefix, fn, payload);
}

/* A stream of key from path, once the backend takes it (*out stays NULL
 * while it declines, and always without stream support). */
static inline int blob_stream_offer(struct blob_backend *b, const char *key, const char *path,
				    uint64_t size, struct blob_stream **out)
{
	return b->stream_begin && !*out ? b->stream_begin(b, key, path, size, out) : 0;
}

static inline int blob_stream_more(struct blob_backend *b, struct blob_stream *st, uint64_t size)
{
	return st ? b->stream_more(st, size) : 0;
}

static inline int blob_stream_finish(struct blob_backend *b, struct blob_stream *st,
				     uint64_t size)
{
	return b->stream_finish(st, size);
}

/* NULL is a no-op. */
static inline void blob_stream_abort(struct blob_backend *b, struct blob_stream *st)
{
	if (st)
		b->stream_abort(st);
}

static inline int blob_init(struct blob_backend *b)
{
	return b->init ? b->init(b) : 0;
}

static inline void blob_drop_cache(struct blob_backend *b)
{
	if (b->drop_cache)
		b->drop_cache(b);
}

static inline const char *blob_where(struct blob_backend *b)
{
	return b->where ? b->where(b) : b->scheme;
}

/* NULL is a no-op. */
static inline void blob_free(struct blob_backend *b)
{
	if (b)
		b->free(b);
}

#endif
