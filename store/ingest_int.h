/*
 * store/ingest_int.h - the state of an ingest session, shared by ingest.c
 * (reading, hashing, encoding) and ingest_commit.c (the transaction).
 */
#ifndef HZ_STORE_INGEST_INT_H
#define HZ_STORE_INGEST_INT_H

#include <string.h>

#include "store/store_int.h"

#define VEC(T) struct { T *v; size_t n, cap; }

struct pend_block {
	uint64_t raw_off;
	uint64_t pack_off;
	uint64_t checksum;
	uint32_t raw_len, enc_len;
	uint32_t pack;		/* index into in->packs */
	uint8_t codec;
};

struct pend_object {
	uint8_t sha[HZ_SHA256_LEN];
	int kind, dtype;
	uint64_t size, stored;
	size_t first_block, nblocks;
	int64_t id;		/* row id: known when stored before the session */
};

struct pend_seg {
	uint64_t file_off, length;
	size_t obj;		/* index into in->objs */
	int role, dtype;
};

struct pend_tensor {
	char *name;
	char *shape;		/* JSON array */
	int dtype;
	uint64_t file_off;
	size_t obj;
};

struct pend_file {
	char *path;
	uint8_t sha[HZ_SHA256_LEN];
	uint64_t size;
	int format;
	int64_t id;		/* row id if the file was stored before */
	long same_as;		/* index of an earlier file of the session, or -1 */
	size_t first_seg, nsegs;
	size_t first_tensor, ntensors;
};


struct store_ingest {
	struct store *s;
	char *repo, *ref;
	int replace;
	int done;		/* committed or failed: only free is allowed */
	store_progress_fn progress;
	void *progress_payload;
	uint64_t progress_done;
	uint8_t *buf;		/* DELTA_BLOCK_MAX read buffer */
	uint8_t *enc;		/* delta_block_bound(DELTA_BLOCK_MAX) */
	VEC(struct pend_block) blocks;
	VEC(struct pend_object) objs;
	VEC(struct pend_seg) segs;
	VEC(struct pend_tensor) tensors;
	VEC(struct pend_file) files;
	struct pack_set packs;
	size_t *map;		/* open-addressed sha -> objs index + 1 */
	size_t map_cap;
	struct hz_sha256 file_sha, seg_sha;
	sqlite3_stmt *find_obj, *find_file;
};

/* Grows a vector to hold n + 1 elements of elem bytes; 0 or HZ_ENOMEM. */
int ingest_vec_grow(void **v, size_t *cap, size_t n, size_t elem);

#define VEC_PUSH(vec, out_ptr)                                               \
	(ingest_vec_grow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof(*(vec).v))    \
		 ? HZ_ENOMEM                                                   \
		 : ((out_ptr) = &(vec).v[(vec).n++], memset((out_ptr), 0, sizeof(*(out_ptr))), 0))

/* The row id of sha in the table st looks up (0 if absent); *rc is set on
 * a database error. */
int64_t ingest_lookup_id(struct store_ingest *in, sqlite3_stmt *st,
			 const uint8_t *sha, int *rc);

/* Inserts every row of the session and the new revision, in the caller's
 * transaction; writes the commit id. */
int ingest_insert_rows(struct store_ingest *in, const char *message, int64_t now,
		       char commit_out[STORE_COMMIT_HEX]);

#endif
