/*
 * store/read.c - resolving revisions, listing, and streaming file bytes.
 *
 * A read walks the file's segments that overlap the range, and for each
 * the object's blocks that overlap it; each block is read from its pack,
 * decoded and checked against its checksum before any of its bytes are
 * passed on.  A whole-file read also re-hashes the file and compares the
 * result after the last byte with the XXH3-128 recorded at ingest (or,
 * for files stored before schema 6 recorded it, with the SHA-256): that
 * catches a segment or block row pointing at the wrong, intact data.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/error.h"
#include "delta/delta.h"

struct store_file {
	struct store *s;
	int64_t file_id;
	uint64_t size;
	uint8_t sha[HZ_SHA256_LEN];
	uint8_t xxh[16];	/* files.xxh128, if has_xxh */
	int has_xxh;
	struct db_stmt *segs, *blocks;
};

/* Reads files.xxh128 from column col of st into f (NULL: not recorded). */
static int file_xxh(struct store_file *f, struct db_stmt *st, int col)
{
	int n = db_column_bytes(st, col);

	if (db_column_type(st, col) == DB_NULL)
		return 0;
	if (n != (int)sizeof(f->xxh))
		return hz_error_set(HZ_ECORRUPT, "index row of file %lld has a bad xxh128",
				    (long long)f->file_id);
	memcpy(f->xxh, db_column_blob(st, col), sizeof(f->xxh));
	f->has_xxh = 1;
	return 0;
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* Fills out from a revisions row id. */
static int revision_fill(struct store *s, struct store_revision *out, int64_t rev)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st,
			    "SELECT v.commit_id, v.created_at, count(f.path),"
			    " coalesce(sum(fl.size), 0) FROM revisions v"
			    " LEFT JOIN revision_files f ON f.revision_id = v.id"
			    " LEFT JOIN files fl ON fl.id = f.file_id WHERE v.id = ?"
			    " GROUP BY v.id, v.commit_id, v.created_at");

	if (rc)
		return rc;
	db_bind_int64(st, 1, rev);
	if (db_step(st) == DB_ROW) {
		snprintf(out->commit, sizeof(out->commit), "%s",
			 (const char *)db_column_text(st, 0));
		out->created_at = db_column_int64(st, 1);
		out->nfiles = (uint64_t)db_column_int64(st, 2);
		out->size = (uint64_t)db_column_int64(st, 3);
	} else {
		rc = db_error(s, "cannot read revision");
	}
	db_finalize(st);
	return rc;
}

/* Resolves repo@rev to a revisions row id. */
static int resolve_id(struct store *s, int64_t *out, const char *repo, const char *rev)
{
	struct db_stmt *st = NULL;
	int64_t repo_id = 0;
	size_t n;
	int rc;

	if (!rev)
		rev = "main";
	rc = store_repo_name_check(repo);
	if (rc)
		return rc;
	rc = db_prepare(s, &st, "SELECT id FROM repos WHERE name = ?");
	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	if (db_step(st) == DB_ROW)
		repo_id = db_column_int64(st, 0);
	db_finalize(st);
	if (!repo_id)
		return hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);

	/* a branch first, as git does */
	rc = db_prepare(s, &st, "SELECT revision_id FROM refs WHERE repo_id = ? AND name = ?");
	if (rc)
		return rc;
	db_bind_int64(st, 1, repo_id);
	db_bind_text(st, 2, rev, -1);
	if (db_step(st) == DB_ROW) {
		*out = db_column_int64(st, 0);
		db_finalize(st);
		return 0;
	}
	db_finalize(st);

	n = strlen(rev);
	if (n >= 7 && n <= 40 && is_hex(rev, n)) {
		char hi[48];
		int matches = 0;

		/* prefix range [rev, rev + "g") covers every id starting with rev */
		snprintf(hi, sizeof(hi), "%sg", rev);
		rc = db_prepare(s, &st, "SELECT id FROM revisions WHERE repo_id = ?"
					" AND commit_id >= ? AND commit_id < ? LIMIT 2");
		if (rc)
			return rc;
		db_bind_int64(st, 1, repo_id);
		db_bind_text(st, 2, rev, -1);
		db_bind_text(st, 3, hi, -1);
		while (db_step(st) == DB_ROW) {
			*out = db_column_int64(st, 0);
			matches++;
		}
		db_finalize(st);
		if (matches == 1)
			return 0;
		if (matches > 1)
			return hz_error_set(HZ_EINVAL, "revision '%s' is ambiguous in '%s'", rev, repo);
	}
	return hz_error_set(HZ_ENOTFOUND, "revision '%s' not found in '%s'", rev, repo);
}

int store_resolve(struct store *s, struct store_revision *out, const char *repo,
		  const char *rev)
{
	int64_t id;
	int rc = resolve_id(s, &id, repo, rev);

	return rc ? rc : revision_fill(s, out, id);
}

int store_repos_each(struct store *s,
		     int (*fn)(void *payload, const char *repo,
			       const struct store_revision *head),
		     void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st,
			    "SELECT r.name, f.revision_id FROM repos r LEFT JOIN refs f"
			    " ON f.repo_id = r.id AND f.name = 'main' ORDER BY r.name");

	while (!rc && db_step(st) == DB_ROW) {
		struct store_revision head;
		struct store_revision *hp = NULL;

		memset(&head, 0, sizeof(head));
		if (db_column_type(st, 1) != DB_NULL) {
			rc = revision_fill(s, &head, db_column_int64(st, 1));
			hp = &head;
		}
		if (!rc)
			rc = fn(payload, (const char *)db_column_text(st, 0), hp);
	}
	db_finalize(st);
	return rc;
}

int store_files_each(struct store *s, const char *repo, const char *rev,
		     int (*fn)(void *payload, const struct store_entry *e),
		     void *payload)
{
	struct db_stmt *st = NULL;
	int64_t id;
	int rc = resolve_id(s, &id, repo, rev);

	if (!rc)
		rc = db_prepare(s, &st,
				"SELECT f.path, fl.size, fl.sha256, fl.format FROM revision_files f"
				" JOIN files fl ON fl.id = f.file_id WHERE f.revision_id = ?"
				" ORDER BY f.path");
	if (rc)
		return rc;
	db_bind_int64(st, 1, id);
	while (!rc && db_step(st) == DB_ROW) {
		struct store_entry e;

		e.path = (const char *)db_column_text(st, 0);
		e.size = (uint64_t)db_column_int64(st, 1);
		if (db_column_bytes(st, 2) != HZ_SHA256_LEN) {
			rc = hz_error_set(HZ_ECORRUPT, "index row of '%s' has a bad sha256", e.path);
			break;
		}
		memcpy(e.sha256, db_column_blob(st, 2), HZ_SHA256_LEN);
		e.format = db_column_int(st, 3);
		rc = fn(payload, &e);
	}
	db_finalize(st);
	return rc;
}

static int file_prepare(struct store_file **out, struct store_file *f, int rc);

int store_file_open_by_sha256(struct store_file **out, struct store *s,
			      const uint8_t sha[HZ_SHA256_LEN])
{
	struct store_file *f;
	struct db_stmt *st = NULL;
	int rc;

	*out = NULL;
	rc = db_prepare(s, &st, "SELECT id, size, xxh128 FROM files WHERE sha256 = ?");
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f) {
		db_finalize(st);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	f->s = s;
	db_bind_blob(st, 1, sha, HZ_SHA256_LEN);
	if (db_step(st) != DB_ROW) {
		rc = hz_error_set(HZ_ENOTFOUND, "no stored file has that sha256");
	} else {
		f->file_id = db_column_int64(st, 0);
		f->size = (uint64_t)db_column_int64(st, 1);
		memcpy(f->sha, sha, HZ_SHA256_LEN);
		rc = file_xxh(f, st, 2);
	}
	db_finalize(st);
	return file_prepare(out, f, rc);
}

int store_file_open(struct store_file **out, struct store *s, const char *repo,
		    const char *rev, const char *path)
{
	struct store_file *f;
	struct db_stmt *st = NULL;
	int64_t id;
	int rc;

	*out = NULL;
	rc = resolve_id(s, &id, repo, rev);
	if (rc)
		return rc;
	rc = db_prepare(s, &st, "SELECT fl.id, fl.size, fl.sha256, fl.xxh128 FROM revision_files f"
				" JOIN files fl ON fl.id = f.file_id"
				" WHERE f.revision_id = ? AND f.path = ?");
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f) {
		db_finalize(st);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	f->s = s;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, path, -1);
	if (db_step(st) != DB_ROW) {
		rc = hz_error_set(HZ_ENOTFOUND, "no file '%s' in '%s@%s'", path, repo,
				  rev ? rev : "main");
	} else if (db_column_bytes(st, 2) != HZ_SHA256_LEN) {
		rc = hz_error_set(HZ_ECORRUPT, "index row of '%s' has a bad sha256", path);
	} else {
		f->file_id = db_column_int64(st, 0);
		f->size = (uint64_t)db_column_int64(st, 1);
		memcpy(f->sha, db_column_blob(st, 2), HZ_SHA256_LEN);
		rc = file_xxh(f, st, 3);
	}
	db_finalize(st);
	return file_prepare(out, f, rc);
}

/* Prepares the statements of f, whose row was read with rc: *out = f,
 * or f freed and rc (or the preparation's error) returned. */
static int file_prepare(struct store_file **out, struct store_file *f, int rc)
{
	struct store *s = f->s;

	/* segments and blocks overlapping [a, b): the last one starting at or
	 * before a, and every one starting before b */
	if (!rc)
		rc = db_prepare(s, &f->segs,
				"SELECT file_off, length, object_id FROM segments WHERE file_id = ?1"
				" AND file_off < ?3 AND file_off >= coalesce((SELECT max(file_off)"
				" FROM segments WHERE file_id = ?1 AND file_off <= ?2), 0)"
				" ORDER BY file_off");
	if (!rc)
		rc = db_prepare(s, &f->blocks,
				"SELECT " BLOCK_COLS " FROM blocks WHERE object_id = ?1 AND raw_off < ?3 AND raw_off >="
				" coalesce((SELECT max(raw_off) FROM blocks WHERE object_id = ?1"
				" AND raw_off <= ?2), 0) ORDER BY raw_off");
	if (rc) {
		store_file_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

uint64_t store_file_size(const struct store_file *f)
{
	return f->size;
}

const uint8_t *store_file_sha256(const struct store_file *f)
{
	return f->sha;
}

/* The whole-file check of a full read: XXH3-128, or SHA-256 for files
 * stored without one. */
struct store_file_check {
	XXH3_state_t *xs;
	struct hz_sha256 sha;
	uint8_t want[HZ_SHA256_LEN];	/* xxh128 (16 bytes) or sha256 */
};

int store_file_check_begin(struct store_file_check **out, const struct store_file *f)
{
	struct store_file_check *c = calloc(1, sizeof(*c));
	int rc = 0;

	*out = NULL;
	if (!c)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (f->has_xxh) {
		memcpy(c->want, f->xxh, sizeof(f->xxh));
		c->xs = XXH3_createState();
		if (c->xs)
			XXH3_128bits_reset(c->xs);
		else
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
	} else {
		memcpy(c->want, f->sha, HZ_SHA256_LEN);
		rc = hz_sha256_init(&c->sha);
	}
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void store_file_check_update(struct store_file_check *c, const void *p, size_t n)
{
	if (c->xs)
		XXH3_128bits_update(c->xs, p, n);
	else
		hz_sha256_update(&c->sha, p, n);
}

void store_file_check_free(struct store_file_check *c)
{
	if (!c)
		return;
	if (c->xs)
		XXH3_freeState(c->xs);
	else
		hz_sha256_release(&c->sha);
	free(c);
}

int store_file_check_end(struct store_file_check *c)
{
	int rc = 0;

	if (c->xs) {
		XXH128_canonical_t d;

		XXH128_canonicalFromHash(&d, XXH3_128bits_digest(c->xs));
		if (memcmp(d.digest, c->want, sizeof(d.digest)))
			rc = hz_error_set(HZ_ECORRUPT, "restored bytes do not match the file's"
					  " checksum");
	} else {
		uint8_t d[HZ_SHA256_LEN];

		hz_sha256_final(&c->sha, d);
		if (memcmp(d, c->want, HZ_SHA256_LEN))
			rc = hz_error_set(HZ_ECORRUPT, "restored bytes do not match the file's"
					  " sha256");
	}
	store_file_check_free(c);
	return rc;
}

/* Streams [off, off + len) of object obj (whose size is osize) to fn. */
static int object_read(struct store_file *f, int64_t obj, uint64_t osize, uint64_t off,
		       uint64_t len, struct store_file_check *chk, store_write_fn fn,
		       void *payload)
{
	struct store *s = f->s;
	struct db_stmt *st = f->blocks;
	uint64_t pos = off, end = off + len;
	uint8_t *vbase = NULL; /* a transposed base, materialised once */
	size_t vlen = 0;
	int rc = 0, step, vdt = 0;

	db_reset(st);
	db_bind_int64(st, 1, obj);
	db_bind_int64(st, 2, (int64_t)off);
	db_bind_int64(st, 3, (int64_t)end);
	while ((step = db_step(st)) == DB_ROW) {
		uint64_t raw_off = (uint64_t)db_column_int64(st, 0);
		uint32_t raw_len = (uint32_t)db_column_int64(st, 1);
		struct blk_ref ref;
		size_t got, a, b;

		if (raw_off > pos || raw_off + raw_len <= pos) {
			rc = hz_error_set(HZ_ECORRUPT, "object %lld: blocks do not cover offset %llu",
					  (long long)obj, (unsigned long long)pos);
			break;
		}
		blk_ref_row(&ref, st);
		if (ref.base_obj && ref.base_off == BASE_OFF_TRANSFORM) {
			if (!vbase)
				rc = transform_load(s, obj, &vbase, &vlen, &vdt);
			if (!rc && raw_off > vlen)
				rc = hz_error_set(HZ_ECORRUPT, "object %lld: block past its base",
						  (long long)obj);
			if (!rc)
				rc = pack_block_read_with(s, &ref, vbase + raw_off,
							  vlen - raw_off < raw_len ? vlen - raw_off
										   : raw_len,
							  vdt, &got);
		} else {
			rc = pack_block_read(s, &ref, &got);
		}
		if (rc)
			break;
		a = (size_t)(pos - raw_off);
		b = end - raw_off < got ? (size_t)(end - raw_off) : got;
		if (chk)
			store_file_check_update(chk, s->raw_buf + a, b - a);
		rc = fn(payload, s->raw_buf + a, b - a);
		if (rc)
			break;
		pos = raw_off + b;
		if (pos >= end)
			break;
	}
	if (!rc && step != DB_ROW && step != DB_DONE)
		rc = db_error(s, "cannot read blocks");
	if (!rc && pos < end)
		rc = hz_error_set(HZ_ECORRUPT, "object %lld (%llu bytes): blocks missing from offset %llu",
				  (long long)obj, (unsigned long long)osize,
				  (unsigned long long)pos);
	db_reset(st);
	free(vbase);
	return rc;
}

int store_file_read(struct store_file *f, uint64_t off, uint64_t len,
		    store_write_fn fn, void *payload)
{
	struct store_file_check *chkp = NULL;
	struct db_stmt *st = f->segs;
	uint64_t pos = off, end;
	int rc = 0, step;

	if (off > f->size || len > f->size - off)
		return hz_error_set(HZ_EINVAL, "range %llu+%llu outside the file (%llu bytes)",
				    (unsigned long long)off, (unsigned long long)len,
				    (unsigned long long)f->size);
	end = off + len;
	if (off == 0 && len == f->size) {
		rc = store_file_check_begin(&chkp, f);
		if (rc)
			return rc;
	}
	db_reset(st);
	db_bind_int64(st, 1, f->file_id);
	db_bind_int64(st, 2, (int64_t)off);
	db_bind_int64(st, 3, (int64_t)end);
	while (pos < end && (step = db_step(st)) == DB_ROW) {
		uint64_t seg_off = (uint64_t)db_column_int64(st, 0);
		uint64_t seg_len = (uint64_t)db_column_int64(st, 1);
		uint64_t a, b;

		if (seg_off > pos || seg_off + seg_len <= pos) {
			rc = hz_error_set(HZ_ECORRUPT, "file %lld: segments do not cover offset %llu",
					  (long long)f->file_id, (unsigned long long)pos);
			break;
		}
		a = pos - seg_off;
		b = end - seg_off < seg_len ? end - seg_off : seg_len;
		rc = object_read(f, db_column_int64(st, 2), seg_len, a, b - a, chkp, fn,
				 payload);
		if (rc)
			break;
		pos = seg_off + b;
	}
	db_reset(st);
	if (!rc && pos < end)
		rc = hz_error_set(HZ_ECORRUPT, "file %lld: no segment covers offset %llu",
				  (long long)f->file_id, (unsigned long long)pos);
	if (chkp && rc)
		store_file_check_free(chkp);
	else if (chkp)
		rc = store_file_check_end(chkp);
	return rc;
}

void store_file_free(struct store_file *f)
{
	if (!f)
		return;
	db_finalize(f->segs);
	db_finalize(f->blocks);
	free(f);
}
