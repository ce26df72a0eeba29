/*
 * store/ingest_int.h - the state of an ingest session, shared by ingest.c
 * (reading, hashing, encoding) and ingest_commit.c (the transaction).
 */
#ifndef HZ_STORE_INGEST_INT_H
#define HZ_STORE_INGEST_INT_H

#include <string.h>

#include "store/pin_int.h"
#include "store/safetensors.h"
#include "store/store_int.h"

#define VEC(T) struct { T *v; size_t n, cap; }

struct pend_block {
	uint64_t raw_off;
	int64_t base_obj;	/* delta block: its base block is (base_obj, base_off) */
	uint64_t base_off;
	uint32_t plain_len;	/* what it would cost coded alone */
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
	int64_t base_obj;	/* set when some block is a delta against it */
	char *transform;	/* JSON when the base is transposed (transform.c) */
	char *shape;		/* of a plain float tensor indexed by its moments */
	double sum, sumsq;
};

/* A tensor stored without delta that a new tensor can be coded against. */
struct base_tensor {
	int64_t obj;		/* 0: none */
	int dtype;
	uint64_t size;
};

struct pend_seg {
	uint64_t file_off, length;
	size_t obj;		/* index into in->objs */
	int role, dtype;
	const struct st_tensor *t; /* tensor segments, during store_ingest_add_fd */
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
	uint8_t xxh[16];	/* XXH3-128 of the file, canonical (files.xxh128) */
	uint64_t size;
	int format;
	int64_t id;		/* row id if the file was stored before */
	long same_as;		/* index of an earlier file of the session, or -1 */
	size_t first_seg, nsegs;
	size_t first_tensor, ntensors;
};


/* A path (or, with folder, every path below it) the new tree leaves out. */
struct pend_del {
	char *path;
	int folder;
};

struct store_ingest {
	struct store *s;
	char *repo, *ref;
	char *expect_parent;	/* the branch must be at this commit, or NULL */
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
	VEC(struct pend_del) dels;
	struct pack_set packs;
	struct pin_set pins;	/* what it reuses, kept from gc (pin.c) */
	size_t *map;		/* open-addressed sha -> objs index + 1 */
	size_t map_cap;
	struct hz_sha256 file_sha, seg_sha;
	struct db_stmt *find_obj, *find_file;
	/* the stored model this one derives from (family.c) */
	int base_decided;
	int saw_model;		/* a safetensors file was added */
	int64_t base_repo;	/* 0: none, founds a family */
	double base_score;
	char *hint;		/* base_model named by config.json or README.md */
	int64_t layout_base;	/* an object a tensor was found transposed from */
	double layout_score;	/* the share of its elements found equal */
	struct db_stmt *base_stmt;
	double started;		/* stats_clock() at begin (the history row) */
	int source;		/* STORE_SOURCE_*, for the history row */
};

/* Grows a vector to hold n + 1 elements of elem bytes; 0 or HZ_ENOMEM. */
int ingest_vec_grow(void **v, size_t *cap, size_t n, size_t elem);

#define VEC_PUSH(vec, out_ptr)                                               \
	(ingest_vec_grow((void **)&(vec).v, &(vec).cap, (vec).n, sizeof(*(vec).v))    \
		 ? HZ_ENOMEM                                                   \
		 : ((out_ptr) = &(vec).v[(vec).n++], memset((out_ptr), 0, sizeof(*(out_ptr))), 0))

/* The row id of sha in the table st looks up (0 if absent); *rc is set on
 * a database error. */
int64_t ingest_lookup_id(struct store_ingest *in, struct db_stmt *st,
			 const uint8_t *sha, int *rc);

struct st_file;
struct st_tensor;

/* family.c: reads a base_model hint from config.json or README.md. */
int family_read_hint(struct store_ingest *in, const char *path, int fd, uint64_t size);
/* Decides, on the session's first safetensors file with float tensors,
 * which stored repo the model derives from (in->base_repo, base_score).
 * tsha[i] is the SHA-256 of tensor i's bytes (NULL for an empty one). */
int family_detect(struct store_ingest *in, int fd, const struct st_file *st,
		  const uint8_t *const *tsha);
/* The base (stored without delta) of tensor t in the chosen base repo. */
int family_tensor_base(struct store_ingest *in, const struct st_tensor *t,
		       struct base_tensor *out);
/* Records the repo's family, base and score, in the commit transaction. */
int family_assign(struct store_ingest *in, int64_t repo_id, int64_t rev_id, int64_t now);

/* Element i of a little-endian float array of dtype dt, as a double (NaN
 * for the F8 types). */
double family_value(const uint8_t *p, int dt, size_t i);

/* transform.c: the same weights in another layout */
#define TRANSFORM_MAX (16u << 20)	/* bytes of a tensor that can take part */
#define TRANSFORM_MIN_ELEMS 1024

struct transform {
	int64_t base;		/* object stored without delta; 0: none */
	double equal;		/* share of the elements equal after the transform */
	int ndim;
	unsigned perm[ST_MAX_DIMS];	/* new axis i is base axis perm[i] */
	uint64_t base_shape[ST_MAX_DIMS];
};

/* Whether a tensor of this dtype and size is indexed and looked up. */
bool transform_eligible(int dtype, uint64_t nbytes);
/* Adds the finite values' sum and sum of squares to *sum, *sumsq. */
void transform_moments(const uint8_t *p, int dtype, size_t n, double *sum, double *sumsq);
/* Looks for a stored tensor that data (all of tensor t) equals, in at
 * least half of its elements, after a permutation of axes; on success
 * out->base != 0 and *vbase is the transposed base (malloc'd).  Sets the
 * value moments of data either way. */
int transform_find(struct store_ingest *in, const uint8_t *data, const struct st_tensor *t,
		   struct transform *out, uint8_t **vbase, double *msum, double *msumsq);
/* The JSON stored in objects.transform (malloc'd). */
int transform_json(const struct transform *tr, char **out);

/* Inserts every row of the session and the new revision, in the caller's
 * transaction; writes the commit id. */
int ingest_insert_rows(struct store_ingest *in, const char *message, int64_t now,
		       char commit_out[STORE_COMMIT_HEX]);

#endif
