/*
 * store/store.h - the hubzip repository: ingest, read, list, stats, fsck.
 *
 * A store is a directory:
 *
 *   DIR/hubzip.db                  SQLite index (WAL), schema in migrations/
 *   DIR/objects/packs/XX/NAME.pack immutable pack files of encoded blocks
 *   DIR/objects/tmp/               packs being written (removed on abort)
 *
 * Files are added in ingest sessions: a session encodes new bytes into its
 * own pack files and, on commit, fsyncs them before one SQLite transaction
 * makes the new revision visible.  A session that is not committed leaves
 * nothing visible.
 *
 * Errors: functions return 0 or a negative HZ_E* code (common/error.h)
 * with the message in hz_error_msg().
 *
 * Threads: a struct store is used by one thread at a time.
 */
#ifndef HZ_STORE_H
#define HZ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"

#define STORE_COMMIT_HEX 41 /* 40 hex digits + NUL */

struct store;
struct store_ingest;
struct store_file;

/*
 * Opens the store at dir.  With create != 0 the directory, the database
 * and objects/ are created if missing; otherwise a missing store is
 * HZ_ENOTFOUND.  Applies pending migrations; refuses (HZ_EUNSUPPORTED) a
 * database newer than this binary.  *out is freed with store_free.
 */
int store_open(struct store **out, const char *dir, int create);

/*
 * The index every later store_open uses (docs/format.md, "Index"): a
 * postgresql:// or postgres:// URL (a libpq connection URI), or NULL or ""
 * for the default, the SQLite file DIR/hubzip.db.  The store directory
 * stays either way: it holds the packs, objects/tmp and the upload spool.
 * With a PostgreSQL index, store_open without create wants the database
 * prepared by `hubzip init` (HZ_ENOTFOUND otherwise).  The string is
 * copied.  0, HZ_EINVAL (not such a URL) or HZ_ENOMEM.
 */
int store_index_set(const char *spec);
/* The index store_open uses: the URL set, or NULL for the default. */
const char *store_index_get(void);
/*
 * Where every later store_open keeps the packs (docs/format.md, "Blob
 * backends"): "file:///PATH" or "s3://BUCKET[/PREFIX]?endpoint=URL&
 * region=R..." (credentials from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY), or NULL or "" for what the store recorded at
 * init (DIR/blobs.url), else DIR/objects.  A store created with a URL
 * records it; one opened with a URL naming another bucket, prefix or
 * directory than recorded fails with HZ_EINVAL.  The string is copied.
 * 0, HZ_EINVAL (not such a URL) or HZ_ENOMEM.
 */
int store_blobs_set(const char *url);
/* The URL set, or NULL. */
const char *store_blobs_get(void);
/* Closes the store; NULL is a no-op. */
void store_free(struct store *s);
/* The schema version of the open database. */
int store_schema_version(struct store *s);

/* Validates a repo id ("ns/name" or "name"): 0 or HZ_EINVAL with a message. */
int store_repo_name_check(const char *repo);
/* Validates a branch name: 0 or HZ_EINVAL with a message. */
int store_ref_name_check(const char *ref);
/* Validates a path inside a repo (relative, '/'-separated, no "." or ".."
 * segments, no empty segments, no control bytes or backslashes, UTF-8):
 * 0 or HZ_EINVAL. */
int store_path_check(const char *path);

/* ---- ingest ------------------------------------------------------------ */

/* Progress callback: bytes read so far of total bytes known so far. */
typedef void (*store_progress_fn)(void *payload, uint64_t done, uint64_t total);

/*
 * Starts an ingest session that will commit to branch `ref` of `repo`
 * (created if missing).  The new revision's tree is the branch's current
 * tree with the added paths replaced or added.  *out is freed with
 * store_ingest_free, which aborts an uncommitted session.
 */
int store_ingest_begin(struct store_ingest **out, struct store *s,
		       const char *repo, const char *ref);

/* Sets a progress callback for the bytes read by store_ingest_add_*. */
void store_ingest_set_progress(struct store_ingest *in, store_progress_fn fn,
			       void *payload);

/* With replace != 0 the new tree holds only the paths added in the session. */
void store_ingest_set_replace(struct store_ingest *in, int replace);

enum { STORE_SOURCE_CLI = 0, STORE_SOURCE_HTTP = 1 };
/* Where the session's files come from, for the ingest history
 * (STORE_SOURCE_CLI unless set). */
void store_ingest_set_source(struct store_ingest *in, int source);

/*
 * Adds the regular file open on fd (size bytes, read with pread) at `path`
 * in the repo.  A path ending in ".safetensors" must be a valid safetensors
 * file (HZ_EINVAL or HZ_EUNSUPPORTED otherwise, with the reason); its
 * tensors are deduplicated and coded one by one.  Any other file is stored
 * as one object.  The fd is not closed; it must not change during the call
 * (a change is detected and refused).
 */
int store_ingest_add_fd(struct store_ingest *in, const char *path, int fd,
			uint64_t size);
/*
 * The same for a file whose SHA-256 the caller has just computed from the
 * very bytes it wrote to fd (an upload spooled and digested in one go):
 * ingest does not hash the whole file a second time.  Not for bytes that
 * rested on disk since they were hashed.
 */
int store_ingest_add_fd_sha256(struct store_ingest *in, const char *path, int fd,
			       uint64_t size, const uint8_t sha[HZ_SHA256_LEN]);

/*
 * Makes the session's files durable and visible as one new revision.
 * Writes the revision's commit id (40 hex) to commit_out.  After this (or
 * a failure) the session can only be freed.
 */
int store_ingest_commit(struct store_ingest *in, const char *message,
			char commit_out[STORE_COMMIT_HEX]);

/*
 * Adds the stored file whose SHA-256 is sha at `path`, without reading
 * its bytes (the new revision names the stored file; no tensor dedup,
 * family or delta work is redone).  When size is not UINT64_MAX it must
 * match.  HZ_ENOTFOUND if no file with that SHA-256 is stored, HZ_EINVAL
 * for a bad path or a size mismatch.
 */
int store_ingest_add_stored(struct store_ingest *in, const char *path,
			    const uint8_t sha[HZ_SHA256_LEN], uint64_t size);

/*
 * Removes `path` from the new revision's tree (with folder != 0, every
 * path below the folder `path`).  Deletions apply to the branch's tree
 * before the session's added files, so a path both deleted and added is
 * kept with its new content.  A path that is not there is not an error.
 */
int store_ingest_delete_path(struct store_ingest *in, const char *path, int folder);

/*
 * Makes the commit fail with HZ_EEXISTS ("the branch moved") unless the
 * branch points at `commit` (40 hex digits) when the session commits; the
 * check runs in the commit's transaction.  NULL removes the condition.
 */
int store_ingest_set_parent(struct store_ingest *in, const char *commit);

/* Frees the session, removing uncommitted pack files.  NULL is a no-op. */
void store_ingest_free(struct store_ingest *in);

/* ---- reading ----------------------------------------------------------- */

struct store_entry {
	const char *path;
	uint64_t size;
	uint8_t sha256[HZ_SHA256_LEN];
	int format; /* 0 opaque, 1 safetensors */
};

struct store_revision {
	char commit[STORE_COMMIT_HEX];
	int64_t created_at;
	uint64_t nfiles;
	uint64_t size;
};

/*
 * Resolves rev (a branch name, a full 40-hex commit id, or an unambiguous
 * hex prefix of at least 7 digits; NULL means "main") in repo.  Fills *out.
 * Returns 0, HZ_ENOTFOUND (no such repo or revision) or HZ_EINVAL.
 */
int store_resolve(struct store *s, struct store_revision *out,
		  const char *repo, const char *rev);

/* Calls fn for every repo name, in name order; stops early if fn returns
 * non-zero (that value is returned). */
int store_repos_each(struct store *s,
		     int (*fn)(void *payload, const char *repo,
			       const struct store_revision *head),
		     void *payload);

/* Calls fn for every file of a revision, in path order; stops early if fn
 * returns non-zero (that value is returned).  The entry is valid only
 * during the call. */
int store_files_each(struct store *s, const char *repo, const char *rev,
		     int (*fn)(void *payload, const struct store_entry *e),
		     void *payload);

/*
 * Opens the file `path` of repo@rev for reading.  HZ_ENOTFOUND if the
 * repo, revision or path does not exist.  *out is freed with
 * store_file_free.
 */
int store_file_open(struct store_file **out, struct store *s, const char *repo,
		    const char *rev, const char *path);
/* Opens the stored file whose SHA-256 is sha, whatever repo holds it;
 * HZ_ENOTFOUND if none.  *out is freed with store_file_free. */
int store_file_open_by_sha256(struct store_file **out, struct store *s,
			      const uint8_t sha[HZ_SHA256_LEN]);
/* The file's size, SHA-256 and the commit it was opened at. */
uint64_t store_file_size(const struct store_file *f);
const uint8_t *store_file_sha256(const struct store_file *f);

/* Sink for file bytes; returns 0 to go on, non-zero to stop (returned). */
typedef int (*store_write_fn)(void *payload, const void *buf, size_t n);

/*
 * Streams bytes [off, off+len) of the file to fn, decoding only the blocks
 * that cover the range and verifying each block's checksum before its
 * bytes are passed on.  When the range is the whole file, the file's
 * checksum (XXH3-128 recorded at ingest; SHA-256 for files stored before
 * schema 6) is verified too, after the last byte (HZ_ECORRUPT on
 * mismatch: the caller must discard what it received).  Memory is bounded by one
 * block.  Returns 0, HZ_EINVAL (range outside the file), HZ_ECORRUPT, or
 * what fn returned.
 */
int store_file_read(struct store_file *f, uint64_t off, uint64_t len,
		    store_write_fn fn, void *payload);

/*
 * The whole-file check of store_file_read for a reader that reads a file
 * in several calls (an HTTP response): feed it every byte of the file in
 * order; store_file_check_end returns 0 if they match the checksum
 * recorded at ingest (XXH3-128, or SHA-256 for files stored before it
 * was), else HZ_ECORRUPT, and frees c.  begin: 0 or HZ_ENOMEM.
 */
struct store_file_check;
int store_file_check_begin(struct store_file_check **out, const struct store_file *f);
void store_file_check_update(struct store_file_check *c, const void *p, size_t n);
int store_file_check_end(struct store_file_check *c);
/* Frees c without a verdict (a response abandoned); NULL is a no-op. */
void store_file_check_free(struct store_file_check *c);

/* Frees f; NULL is a no-op. */
void store_file_free(struct store_file *f);

/* ---- deleting ---------------------------------------------------------- */

/*
 * Deletes repo: its revisions, branches and family membership, in one
 * transaction.  Stored bytes stay until store_gc (other repos, or deltas,
 * may share them).  HZ_ENOTFOUND if there is no such repo.
 */
int store_repo_delete(struct store *s, const char *repo);

struct store_gc_result {
	uint64_t files_deleted, objects_deleted, packs_deleted;
	uint64_t orphan_packs;	  /* pack files of ingests that died before committing */
	uint64_t bytes_freed;	  /* pack bytes removed from disk */
	uint64_t dead_bytes_kept; /* dead blocks inside packs that stay */
	uint64_t packs_deferred;  /* dead packs left for the next gc (an fsck ran) */
	uint64_t tmp_removed;	  /* pins of dead sessions, stray spool files */
	uint64_t lfs_pending_deleted; /* pending LFS objects old enough */
};

struct store_gc_options {
	int64_t lfs_pending_age; /* seconds since a pending LFS object's last write */
};

/*
 * Deletes what no revision references, directly or as the base of a live
 * delta, and what no ingest session in flight reuses: files, objects,
 * blocks, and pack files left without a live block (after the index
 * commit, and only if no fsck is running; else the next gc does).  Also
 * removes what ingests that died left (their pack files, which no row
 * names and no live session holds), and pending LFS objects no commit
 * took whose last write is opt->lfs_pending_age seconds old (opt NULL: a
 * day).  Safe while other threads and processes ingest, read and fsck:
 * docs/format.md, "Garbage collection while writing".
 */
int store_gc(struct store *s, const struct store_gc_options *opt, struct store_gc_result *out);

/* ---- repos: creation, type, visibility, history ----------------------- */

enum { STORE_REPO_MODEL = 0, STORE_REPO_DATASET = 1 };

struct store_repo_info {
	int type;		/* STORE_REPO_MODEL or STORE_REPO_DATASET */
	int is_private;		/* visible only to tokens that may read it */
	int64_t created_at;
};

/*
 * Creates an empty repo (no branch yet) of the given type.  HZ_EEXISTS if
 * a repo of that name exists (of either type), HZ_EINVAL for a bad name.
 * Repos are also created by the first ingest into them (public models).
 */
int store_repo_create(struct store *s, const char *repo, int type, int is_private);

/* Fills *out for repo; HZ_ENOTFOUND if there is no such repo. */
int store_repo_info(struct store *s, struct store_repo_info *out, const char *repo);

/* Makes repo private (1) or public (0); HZ_ENOTFOUND if there is none. */
int store_repo_set_private(struct store *s, const char *repo, int is_private);

/* Calls fn for every revision of repo, newest first, with its commit
 * message (valid during the call); stops early if fn returns non-zero
 * (returned).  HZ_ENOTFOUND if there is no such repo. */
int store_revisions_each(struct store *s, const char *repo,
			 int (*fn)(void *payload, const struct store_revision *rev,
				   const char *message),
			 void *payload);

/* Calls fn for every branch of repo in name order with the commit it
 * points at; stops early if fn returns non-zero (returned). */
int store_refs_each(struct store *s, const char *repo,
		    int (*fn)(void *payload, const char *name, const char *commit),
		    void *payload);

/*
 * Opens an anonymous temporary file (read/write, already unlinked) in the
 * store's objects/tmp/, on the same file system as the packs, to spool
 * bytes that will be ingested with store_ingest_add_fd.  It vanishes when
 * *out_fd is closed, even if the process dies.  The caller closes it.
 */
int store_spool_open(struct store *s, int *out_fd);

/* ---- Git LFS support (store/lfs.c) ------------------------------------- */

/* Whether a file with this SHA-256 is stored (in any repo, or left for
 * gc): 1 and *out_size (if not NULL) when it is, 0 when not, or a
 * negative error. */
int store_file_exists_by_sha256(struct store *s, const uint8_t sha[HZ_SHA256_LEN],
				uint64_t *out_size);

/* Calls fn for every repo (in name order) with a revision that holds the
 * file whose SHA-256 is sha; stops early if fn returns non-zero (that
 * value is returned).  The repo name is valid during the call. */
int store_file_repos_each(struct store *s, const uint8_t sha[HZ_SHA256_LEN],
			  int (*fn)(void *payload, const char *repo, int is_private),
			  void *payload);

#define STORE_KEY_LEN 32
/*
 * The store's secret key (for signing URLs), DIR/secret.key: random bytes
 * created (0600, fsynced) on first use and the same for every process
 * that opens the store afterwards.
 */
int store_secret_key(struct store *s, uint8_t out[STORE_KEY_LEN]);

/*
 * Pending LFS objects: verified uploads no revision holds yet, kept in
 * DIR/objects/lfs-pending/<sha256 hex> until a commit ingests them.
 *
 * store_lfs_pending_keep makes the spool file fd (from store_spool_open,
 * whose bytes' SHA-256 the caller has verified to be sha) durable under
 * that name; the caller still closes fd.  store_lfs_pending_open opens
 * one for reading (*out_fd, the caller closes it; its size in *out_size
 * if not NULL), HZ_ENOTFOUND if there is none.  store_lfs_pending_remove
 * deletes one (absent is fine).  store_lfs_pending_gc deletes those whose
 * last write is max_age seconds old or older (store_gc does, with a day).
 */
int store_lfs_pending_keep(struct store *s, int fd, const uint8_t sha[HZ_SHA256_LEN]);
int store_lfs_pending_open(struct store *s, const uint8_t sha[HZ_SHA256_LEN], int *out_fd,
			   uint64_t *out_size);
int store_lfs_pending_remove(struct store *s, const uint8_t sha[HZ_SHA256_LEN]);
int store_lfs_pending_gc(struct store *s, int64_t max_age, uint64_t *out_removed);

/* ---- access tokens (store/auth.c) -------------------------------------- */

#define STORE_TOKEN_PREFIX "hf_"
#define STORE_TOKEN_LEN 37	/* "hf_" + 34 base62 characters */
#define STORE_TOKEN_NAME_MAX 64
#define STORE_NS_MAX 96

enum { STORE_SCOPE_READ = 1, STORE_SCOPE_WRITE = 2 };

struct store_token {
	char name[STORE_TOKEN_NAME_MAX + 1];
	char ns[STORE_NS_MAX + 1];	/* "" : every namespace */
	int scope;			/* STORE_SCOPE_*; write implies read */
	int64_t created_at;
	int revoked;
};

/*
 * Creates a token named `name` (1..64 of [A-Za-z0-9._-]) with scope
 * STORE_SCOPE_READ or STORE_SCOPE_WRITE, limited to namespace ns (NULL or
 * "" for all).  Writes the token (STORE_TOKEN_LEN characters and a NUL) to
 * out: it is returned only here; the store keeps its SHA-256.  HZ_EEXISTS
 * if the name is taken (revoked tokens keep their names), HZ_EINVAL.
 */
int store_token_create(struct store *s, char out[STORE_TOKEN_LEN + 1],
		       const char *name, int scope, const char *ns);

/* Calls fn for every token (revoked ones too) in name order; the struct
 * is valid during the call.  Stops early if fn returns non-zero. */
int store_tokens_each(struct store *s,
		      int (*fn)(void *payload, const struct store_token *t),
		      void *payload);

/* Revokes the token `name`: HZ_ENOTFOUND if there is none. */
int store_token_revoke(struct store *s, const char *name);

/*
 * Looks a presented token up: fills *out and returns 0 if it is a live
 * token, HZ_ENOTFOUND if it is unknown, malformed or revoked.  The stored
 * hash is compared in constant time.
 */
int store_token_check(struct store *s, struct store_token *out, const char *token);

/* ---- families ---------------------------------------------------------- */

struct store_family_member {
	const char *repo;
	const char *base;	/* repo it was found to derive from, or NULL */
	double score;		/* share of bytes the delta saved on samples */
	const char *hint;	/* base_model hint seen, or NULL */
};

/* Calls fn for every member of every family, ordered by family then by
 * repo; stops early if fn returns non-zero (returned). */
int store_families_each(struct store *s,
			int (*fn)(void *payload, int64_t family,
				  const struct store_family_member *m),
			void *payload);

/* ---- accounting and checks --------------------------------------------- */

struct store_repo_stats {
	char *repo;
	uint64_t logical_bytes;
	uint64_t physical_bytes; /* shared objects split evenly (docs/format.md) */
	uint64_t files, revisions;
	int64_t family;		 /* 0 if none */
};

struct store_family_stats {
	int64_t id;
	char *root;		/* the member that founded it */
	uint64_t members;
	uint64_t logical_bytes, physical_bytes; /* sums over its repos */
};

struct store_stats {
	uint64_t logical_bytes;	  /* sum of file sizes over every revision */
	uint64_t unique_file_bytes;	/* distinct files */
	uint64_t unique_object_bytes;	/* distinct objects (tensors, headers, files) */
	uint64_t physical_bytes;  /* encoded blocks of live objects */
	uint64_t pack_bytes;	  /* pack files on disk (incl. dead blocks) */
	uint64_t index_bytes;	  /* hubzip.db + WAL */
	/* bytes saved by each stage, in pipeline order; they sum to
	 * logical_bytes - physical_bytes */
	int64_t saved_file_dedup, saved_tensor_dedup, saved_delta, saved_coding;
	uint64_t repos, revisions, files, unique_files, tensors,
		unique_tensors, objects, packs, families;
	int64_t generation;	/* the store generation the numbers are for */
	size_t nrepos;
	struct store_repo_stats *repo; /* nrepos entries, largest logical first */
	size_t nfamilies, cap_families;
	struct store_family_stats *family; /* largest logical first */
};

/* The store's accounting into *out (release with store_stats_release):
 * the totals, every repo (largest logical first) and every family, from
 * the cache (computed when stale, as store_acct_begin does). */
int store_stats(struct store *s, struct store_stats *out);
void store_stats_release(struct store_stats *st);

/*
 * The accounting in detail (store/stats.c; docs/format.md "Accounting"):
 * per revision, repo, family and the store.  Read inside a view: a read
 * transaction on the store's connection, so every call between
 * store_acct_begin and store_acct_end sees one generation of the store.
 * Other reads of s may run inside the view; writes may not.
 */

/* The figures of one scope.  The bytes are the scope's shares, which add
 * up over revisions, repos and families; the counts are within the scope. */
struct store_acct {
	uint64_t logical_bytes;	/* file sizes over the (revision, path) entries */
	uint64_t file_bytes;	/* share of the distinct files' bytes */
	uint64_t object_bytes;	/* share of the distinct live objects' bytes */
	uint64_t physical_bytes; /* share of their encoded bytes */
	int64_t delta_bytes;	/* share of what their delta blocks saved */
	uint64_t revisions, files, unique_files, tensors, unique_tensors;
};

/* The bytes saved by each stage, in pipeline order; they add up to
 * logical_bytes - physical_bytes. */
struct store_stages {
	int64_t file_dedup, tensor_dedup, delta, coding;
};
void store_acct_stages(struct store_stages *out, const struct store_acct *a);

struct store_acct_view {
	struct store *s;
	int64_t generation;	/* the store generation the numbers are for */
	int64_t computed_at;	/* unix seconds */
	int temp;		/* (internal) computed by this view, not cached */
};

/*
 * Opens a view of the accounting of s: uses the cache when it holds the
 * current generation, else computes it (one scan of the index).  Close it
 * with store_acct_end, which also stores a computed result in the cache.
 */
int store_acct_begin(struct store_acct_view *out, struct store *s);
void store_acct_end(struct store_acct_view *v);

struct store_acct_totals {
	struct store_acct a;
	uint64_t repos, families, objects;
	uint64_t packs, pack_bytes;	/* read live */
	int64_t dead_bytes;	/* pack_bytes - 32 x packs - physical_bytes */
	uint64_t index_bytes;	/* hubzip.db and its WAL */
};
int store_acct_totals(struct store_acct_view *v, struct store_acct_totals *out);

struct store_acct_repo {
	int64_t id;
	const char *repo;
	int type, is_private;
	int64_t created_at;
	int64_t family;		/* 0: in none */
	const char *base;	/* the member it derives from, or NULL */
	int base_private;
	double score;		/* similarity to the base; < 0 when none */
	const char *hint;	/* base_model hint seen, or NULL */
	uint64_t exclusive_bytes; /* encoded bytes of objects only it needs */
	struct store_acct a;
};

/*
 * Calls fn for repos: with repo, that one (HZ_ENOTFOUND if there is
 * none); with family != 0, its members, the founder first, then by name;
 * otherwise every repo, largest logical_bytes first, then by name.  The
 * struct is valid during the call; stops early if fn returns non-zero
 * (returned).
 */
int store_acct_repos_each(struct store_acct_view *v, const char *repo, int64_t family,
			  int (*fn)(void *payload, const struct store_acct_repo *r),
			  void *payload);

struct store_acct_revision {
	const char *commit;
	int64_t created_at;
	const char *message;
	struct store_acct a;	/* revisions = 1 */
};

/* Calls fn for every revision of repo, newest first (HZ_ENOTFOUND if there
 * is no such repo); as store_acct_repos_each otherwise. */
int store_acct_revisions_each(struct store_acct_view *v, const char *repo,
			      int (*fn)(void *payload, const struct store_acct_revision *r),
			      void *payload);

struct store_acct_family {
	int64_t id;
	const char *root;	/* the founder (first member if it left) */
	int root_private;
	uint64_t members;
	struct store_acct a;	/* bytes, revisions, files: sums over members */
};

/* Calls fn for every family, largest logical_bytes first (family 0), or
 * for one (HZ_ENOTFOUND if there is none). */
int store_acct_families_each(struct store_acct_view *v, int64_t family,
			     int (*fn)(void *payload, const struct store_acct_family *f),
			     void *payload);

/* ---- ingest history (store/stats_history.c) ----------------------------- */

struct store_history_row {
	int64_t id;
	int64_t time;		/* unix seconds of the commit */
	const char *repo;	/* the repo's name at the time */
	const char *commit;	/* 40 hex digits */
	int source;		/* STORE_SOURCE_* */
	uint64_t logical_bytes;	/* the new revision's tree */
	uint64_t physical_bytes; /* encoded bytes of the objects it added */
	double seconds;		/* the session's wall time */
	int deleted;		/* the repo has been deleted since */
	int is_private;		/* the repo is private now (0 when deleted) */
};

/*
 * Calls fn for each ingest history row with time >= since and id > after,
 * oldest first, at most limit rows; the row is valid during the call.
 * Stops early if fn returns non-zero (returned).
 */
int store_history_each(struct store *s, int64_t since, int64_t after, size_t limit,
		       int (*fn)(void *payload, const struct store_history_row *row),
		       void *payload);

struct store_fsck_result {
	uint64_t objects_checked, objects_damaged;
	uint64_t files_checked, files_damaged;
	uint64_t blocks_checked, bytes_checked;
	uint64_t problems; /* every problem reported */
};

/*
 * Re-reads every pack, block and object, verifies every block checksum,
 * every object's and file's SHA-256, and the index's structure; calls
 * report(payload, line) once per problem, naming the damaged files as
 * "repo@commit:path".  Returns 0 when the check ran (even if it found
 * damage: see out->problems), or an error that stopped it.
 */
int store_fsck(struct store *s, struct store_fsck_result *out,
	       void (*report)(void *payload, const char *line), void *payload,
	       store_progress_fn progress, void *progress_payload);
/* Makes a store_fsck running on s (in another thread: the one call on s
 * another thread may make) stop soon with HZ_ERROR "fsck interrupted", and
 * every later one on s at once. */
void store_fsck_interrupt(struct store *s);

/* ---- blob backends (store/blob.h) --------------------------------------- */

/* What this process asked of a blob backend ("file" or "s3"), counted in
 * the backend: requests by kind (a retried request counts each attempt),
 * the retries and the requests that failed after them, and the bytes. */
struct store_blob_counters {
	uint64_t gets, puts, heads, lists, deletes;
	uint64_t multipart;	/* create, complete and abort of multipart uploads */
	uint64_t retries, failures;
	uint64_t bytes_received, bytes_sent;
};
void store_blob_counters(struct store_blob_counters *out, const char *scheme);

#endif
