/*
 * store/store_int.h - internals shared by the store's source files.
 */
#ifndef HZ_STORE_INT_H
#define HZ_STORE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/fs.h"
#include "store/blob.h"
#include "store/index.h"
#include "store/store.h"

struct delta_ctx;

#define PACK_MAGIC "HZPACK\0\1"	/* 8 bytes: name, format version 1 */
#define PACK_HDR 32		/* magic, 16-byte pack name, 8 reserved */
#define PACK_TARGET_SIZE (512ull << 20) /* a session starts a new pack past this */
#define PACK_READAHEAD (2u << 20)	/* the largest read-ahead (pack.c) */
#define PACK_RA_MIN (128u << 10)	/* the first read of a stream */
#define PACK_RA_WINDOWS 4		/* streams followed at once: a delta and its base, ... */
/* Largest safetensors JSON header accepted: real ones are at most a few
 * MB, and the JSON tree costs many times its size in memory. */
#define STORE_HEADER_MAX (16u << 20)

enum { OBJ_TENSOR = 1, OBJ_BYTES = 2 };
enum { SEG_TENSOR = 1, SEG_HEADER = 2, SEG_GAP = 3, SEG_FILE = 4 };
enum { FILE_OPAQUE = 0, FILE_SAFETENSORS = 1 };

struct store {
	char *dir;
	char *packs_dir;	/* DIR/objects/packs */
	char *tmp_dir;		/* DIR/objects/tmp */
	struct blob_backend *blobs; /* where the packs are (blob.h) */
	struct db_stmt *pack_name_stmt;
	/* a remote backend's read-ahead windows (pack.c; unused locally) */
	struct pack_ra {
		char key[BLOB_PACK_KEY_MAX];
		uint64_t off;	/* bytes [off, off + len) of pack key */
		size_t len;
		size_t next;	/* how much the next read of this stream fetches */
		uint64_t last_use;
		uint8_t *buf;	/* PACK_READAHEAD bytes, or NULL */
	} ra[PACK_RA_WINDOWS];
	uint64_t ra_clock;
	struct db *db;		/* the index (index.h) */
	int schema_version;
	struct delta_ctx *dctx;
	uint8_t *blk_buf;	/* one encoded block */
	uint8_t *raw_buf;	/* one decoded block */
	uint8_t *base_buf;	/* the decoded base of a delta block */
	struct db_stmt *base_stmt;
	uint8_t key[STORE_KEY_LEN];	/* the secret key, once read (lfs.c) */
	int have_key;
	atomic_int fsck_stop;	/* store_fsck_interrupt was called */
	int lock_fd[3];		/* pin.c: LOCK_* files, -1 until used */
};

/* migrate.c: the schema version of the index (0: none yet), and bringing
 * it to the latest */
int migrate_version(struct store *s, int *out);
int migrate_apply(struct store *s);

/* pack.c: reading blocks from packs */
char *pack_path(struct store *s, const char *name);
/* Drops cached pack handles (the blob backend's too) and the read-ahead. */
void pack_fds_close(struct store *s);
/* gc_blob.c: gc_pack_remove deletes pack name from the blob backend: 1
 * (its size in *out_size if not NULL), 0 if it was not there, or an error.
 * gc_sweep_blobs deletes the packs no row names from a remote backend
 * (nothing for the local directory, which gc.c sweeps). */
int gc_pack_remove(struct store *s, const char *name, uint64_t *out_size);
int gc_sweep_blobs(struct store *s, struct store_gc_result *out);
/* Reads len bytes at off of pack pack_id from the blob backend:
 * HZ_ECORRUPT if the pack is missing or short.  From a remote backend it
 * reads ahead, as a kernel does for files: a read that continues a window
 * fetches twice as much as that window did (PACK_RA_MIN, then up to
 * PACK_READAHEAD), and reads inside a window come from memory. */
int pack_read(struct store *s, int64_t pack_id, uint64_t off, void *buf, size_t len);
/* Where a block is, as the index says; base_obj != 0 for a delta block,
 * whose base is block (base_obj, base_off). */
struct blk_ref {
	int64_t pack_id;
	uint64_t pack_off;
	uint32_t enc_len, raw_len;
	uint64_t checksum;
	int64_t base_obj;
	uint64_t base_off;
};

/* Reads and decodes a block (and its base block first, for a delta) into
 * s->raw_buf, checking both against the index (raw length, checksum).
 * *out_len is its raw length. */
int pack_block_read(struct store *s, const struct blk_ref *b, size_t *out_len);

/* Reads the block at raw_off of object obj, however it is stored, into
 * s->raw_buf; sets its length and the object's dtype. */
int pack_object_block_any(struct store *s, int64_t obj, uint64_t raw_off, size_t *out_len,
			  int *dtype);
/* Decodes the block b against a base given in memory (a transposed base,
 * transform.c) into s->raw_buf. */
int pack_block_read_with(struct store *s, const struct blk_ref *b, const uint8_t *base,
			 size_t base_len, int base_dt, size_t *out_len);
/* transform.c: the transposed base of object obj, materialised (malloc'd). */
int transform_load(struct store *s, int64_t obj, uint8_t **out, size_t *out_len, int *dtype);
/* base_raw_off of a block whose base is the object's transposed base */
#define BASE_OFF_TRANSFORM UINT64_MAX

/* Reads the block at raw_off of object obj, which must be stored without
 * delta, into out (DELTA_BLOCK_MAX bytes); sets its length and the
 * object's dtype. */
int pack_object_block(struct store *s, int64_t obj, uint64_t raw_off, uint8_t *out,
		      size_t *out_len, int *dtype);

/* The columns of a blocks row that blk_ref_row reads (raw_off first). */
#define BLOCK_COLS                                                        \
	"raw_off, raw_len, pack_id, pack_off, enc_len, checksum,"          \
	" coalesce(base_object_id, 0), coalesce(base_raw_off, 0)"
/* Fills b from a row selected with BLOCK_COLS. */
void blk_ref_row(struct blk_ref *b, struct db_stmt *st);

/* pack_write.c: a session's pack files */
struct pack_out {
	char name[33];		/* 32 hex digits */
	char *tmp_path;		/* the local file until it is stored, then NULL */
	int stored;		/* in the blob backend, not yet committed */
	struct blob_stream *stream; /* its upload while it is written, or NULL */
	int fd;
	uint64_t size;
	int64_t id;		/* packs row, once inserted */
};

struct pack_set {
	struct pack_out *v;
	struct blob_backend *blobs; /* where they go (set by pack_set_append) */
	size_t n, cap;
};

/* Appends one encoded block to the set's current pack (starting a new one
 * past PACK_TARGET_SIZE); sets *pack to its index in the set and *off to
 * the block's offset in it. */
int pack_set_append(struct store *s, struct pack_set *ps, const uint8_t *blk,
		    size_t n, uint32_t *pack, uint64_t *off);
/* Stores every pack in the blob backend (fsynced and renamed into
 * objects/packs/XX/, or uploaded): before the index names them. */
int pack_set_finish(struct store *s, struct pack_set *ps);
/* After the index commit: the packs belong to the store. */
void pack_set_committed(struct pack_set *ps);
/* Closes the packs and removes those not committed (local or stored). */
void pack_set_release(struct pack_set *ps);


#endif
