/*
 * store/fsck.c - re-read everything and verify every checksum and hash.
 *
 * Packs: each indexed pack exists with its recorded size and header.
 * Files: every distinct file referenced by a revision is streamed once:
 * its segments must tile [0, size) with objects of matching sizes; every
 * block is decoded and its checksum verified; the file's SHA-256 and, the
 * first time an object is seen, the object's SHA-256 are recomputed.
 * Objects no file references are verified on their own.  Damaged files
 * are reported as "repo@commit:path" for every revision that holds them.
 */
#include "store/pin_int.h"
#include "store/store_int.h"
#include "store/stats_int.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/error.h"
#include "delta/delta.h"

struct fsck {
	struct store *s;
	struct store_fsck_result *res;
	void (*report)(void *, const char *);
	void *payload;
	store_progress_fn progress;
	void *progress_payload;
	uint64_t total;
	struct db_stmt *blocks, *segs, *obj, *mark, *seen;
	struct hz_sha256 fsha, osha;
	XXH3_state_t *fxs;	/* the file's XXH3-128, next to fsha */
};

static void problem(struct fsck *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct fsck *k, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	k->res->problems++;
	if (k->report)
		k->report(k->payload, line);
}

static int check_packs(struct fsck *k)
{
	struct store *s = k->s;
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT name, size FROM packs ORDER BY id");

	while (!rc && db_step(st) == DB_ROW) {
		const char *name = (const char *)db_column_text(st, 0);
		uint64_t size = (uint64_t)db_column_int64(st, 1);
		char key[BLOB_PACK_KEY_MAX];
		uint8_t hdr[PACK_HDR];
		uint64_t got = 0;
		int r;

		blob_pack_key(key, name);
		r = blob_stat(s->blobs, key, &got);
		if (r == HZ_ENOTFOUND)
			problem(k, "pack %s: missing", name);
		else if (r)
			problem(k, "pack %s: cannot be checked: %s", name, hz_error_msg());
		else if (got != size)
			problem(k, "pack %s: %llu bytes stored, %llu in the index", name,
				(unsigned long long)got, (unsigned long long)size);
		else if (blob_read(s->blobs, key, 0, hdr, sizeof(hdr)) ||
			 memcmp(hdr, PACK_MAGIC, 8))
			problem(k, "pack %s: bad header", name);
	}
	db_finalize(st);
	return rc;
}

/* Every delta block names a base block that exists and is not a delta. */
static int check_bases(struct fsck *k)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(k->s, &st,
			    "SELECT b.object_id, b.raw_off, b.base_object_id, b.base_raw_off FROM blocks b"
			    " LEFT JOIN blocks bb ON bb.object_id = b.base_object_id AND"
			    " bb.raw_off = b.base_raw_off WHERE b.base_object_id IS NOT NULL AND"
			    " b.base_raw_off >= 0 AND (bb.object_id IS NULL OR bb.base_object_id IS NOT NULL)"
			    " UNION ALL SELECT b.object_id, b.raw_off, b.base_object_id, -1 FROM blocks b"
			    " LEFT JOIN objects o ON o.id = b.base_object_id WHERE b.base_raw_off = -1"
			    " AND (o.id IS NULL OR o.base_object_id IS NOT NULL)");

	while (!rc && db_step(st) == DB_ROW)
		problem(k, "object %lld: the delta block at %lld names base block %lld@%lld,"
			" which is missing or itself a delta",
			(long long)db_column_int64(st, 0), (long long)db_column_int64(st, 1),
			(long long)db_column_int64(st, 2), (long long)db_column_int64(st, 3));
	db_finalize(st);
	return rc;
}

/* Verifies object obj (size osize, sha expect), feeding its bytes to
 * fsha if non-NULL.  Returns 0 if sound, 1 if damaged, < 0 on error. */
static int check_object(struct fsck *k, int64_t obj, uint64_t osize,
			const uint8_t *expect, struct hz_sha256 *fsha)
{
	struct store *s = k->s;
	struct db_stmt *st = k->blocks;
	uint64_t pos = 0;
	uint8_t d[HZ_SHA256_LEN], *vbase = NULL;
	size_t vlen = 0;
	int damaged = 0, step, vdt = 0, stopped = 0;

	db_reset(st);
	db_bind_int64(st, 1, obj);
	while ((step = db_step(st)) == DB_ROW) {
		uint64_t raw_off = (uint64_t)db_column_int64(st, 0);
		struct blk_ref ref;
		size_t got;

		if (atomic_load_explicit(&s->fsck_stop, memory_order_relaxed)) {
			stopped = 1;
			break;
		}
		k->res->blocks_checked++;
		if (raw_off != pos) {
			problem(k, "object %lld: blocks leave a hole at %llu", (long long)obj,
				(unsigned long long)pos);
			damaged = 1;
			break;
		}
		blk_ref_row(&ref, st);
		if (ref.base_obj && ref.base_off == BASE_OFF_TRANSFORM) {
			int r = 0;

			if (!vbase)
				r = transform_load(s, obj, &vbase, &vlen, &vdt);
			if (!r && raw_off > vlen)
				r = hz_error_set(HZ_ECORRUPT, "block past its transposed base");
			if (!r)
				r = pack_block_read_with(s, &ref, vbase + raw_off,
							 vlen - raw_off < ref.raw_len ? vlen - raw_off
										      : ref.raw_len,
							 vdt, &got);
			if (r) {
				problem(k, "object %lld: %s", (long long)obj, hz_error_msg());
				damaged = 1;
				break;
			}
		} else if (pack_block_read(s, &ref, &got)) {
			problem(k, "object %lld: %s", (long long)obj, hz_error_msg());
			damaged = 1;
			break;
		}
		hz_sha256_update(&k->osha, s->raw_buf, got);
		if (fsha) {
			hz_sha256_update(fsha, s->raw_buf, got);
			XXH3_128bits_update(k->fxs, s->raw_buf, got);
		}
		pos += got;
		k->res->bytes_checked += got;
		if (k->progress)
			k->progress(k->progress_payload, k->res->bytes_checked, k->total);
	}
	db_reset(st);
	free(vbase);
	hz_sha256_final(&k->osha, d);
	if (stopped)
		return hz_error_set(HZ_ERROR, "fsck interrupted");
	if (step != DB_ROW && step != DB_DONE)
		return db_error(s, "cannot read blocks");
	if (!damaged && pos != osize) {
		problem(k, "object %lld: blocks hold %llu bytes, the object %llu", (long long)obj,
			(unsigned long long)pos, (unsigned long long)osize);
		damaged = 1;
	}
	if (!damaged && memcmp(d, expect, HZ_SHA256_LEN)) {
		problem(k, "object %lld: sha256 mismatch", (long long)obj);
		damaged = 1;
	}
	k->res->objects_checked++;
	if (damaged)
		k->res->objects_damaged++;
	/* remember the verdict so that shared objects are decoded once */
	db_reset(k->mark);
	db_bind_int64(k->mark, 1, obj);
	db_bind_int(k->mark, 2, damaged);
	if (db_step(k->mark) != DB_DONE) {
		db_reset(k->mark);
		return db_error(s, "cannot record fsck state");
	}
	db_reset(k->mark);
	return damaged;
}

/* -1 unseen, 0 sound, 1 damaged */
static int seen(struct fsck *k, int64_t obj)
{
	int v = -1;

	db_reset(k->seen);
	db_bind_int64(k->seen, 1, obj);
	if (db_step(k->seen) == DB_ROW)
		v = db_column_int(k->seen, 0);
	db_reset(k->seen);
	return v;
}

static void report_file(struct fsck *k, int64_t file_id, const char *why)
{
	struct db_stmt *st = NULL;

	if (db_prepare(k->s, &st, "SELECT r.name, v.commit_id, f.path FROM revision_files f"
				  " JOIN revisions v ON v.id = f.revision_id"
				  " JOIN repos r ON r.id = v.repo_id WHERE f.file_id = ?"
				  " ORDER BY r.name, v.id, f.path"))
		return;
	db_bind_int64(st, 1, file_id);
	while (db_step(st) == DB_ROW)
		problem(k, "damaged: %s@%s:%s (%s)", db_column_text(st, 0),
			db_column_text(st, 1), db_column_text(st, 2), why);
	db_finalize(st);
}

/* xxh: the file's XXH3-128 (16 bytes), or NULL if not recorded */
static int check_file(struct fsck *k, int64_t file_id, uint64_t size, const uint8_t *sha,
		      const uint8_t *xxh)
{
	struct db_stmt *st = k->segs;
	uint64_t pos = 0;
	const char *why = NULL;
	int rc = 0, step;
	bool hashed = true;

	XXH3_128bits_reset(k->fxs);
	db_reset(st);
	db_bind_int64(st, 1, file_id);
	while ((step = db_step(st)) == DB_ROW) {
		uint64_t off = (uint64_t)db_column_int64(st, 0);
		uint64_t len = (uint64_t)db_column_int64(st, 1);
		int64_t obj = db_column_int64(st, 2);
		uint64_t osize = (uint64_t)db_column_int64(st, 3);
		int v;

		if (off != pos || len != osize || db_column_bytes(st, 4) != HZ_SHA256_LEN) {
			why = "index segments do not tile the file";
			break;
		}
		v = seen(k, obj);
		if (v < 0) {
			v = check_object(k, obj, osize, db_column_blob(st, 4),
					 hashed ? &k->fsha : NULL);
			if (v < 0) {
				rc = v;
				break;
			}
		} else if (v == 0 && hashed) {
			/* sound and verified before: the file hash still needs
			 * its bytes */
			struct store_fsck_result save = *k->res;

			v = check_object(k, obj, osize, db_column_blob(st, 4), &k->fsha);
			k->res->objects_checked = save.objects_checked;
			k->res->objects_damaged = save.objects_damaged;
			if (v < 0) {
				rc = v;
				break;
			}
		}
		if (v == 1) {
			why = "a stored object is damaged";
			hashed = false;
		}
		pos = off + len;
	}
	db_reset(st);
	if (!rc && step != DB_ROW && step != DB_DONE)
		rc = db_error(k->s, "cannot read segments");
	if (!rc && !why && pos != size)
		why = "index segments do not cover the file";
	if (!rc && !why) {
		uint8_t d[HZ_SHA256_LEN];

		XXH128_canonical_t x;

		hz_sha256_final(&k->fsha, d);
		XXH128_canonicalFromHash(&x, XXH3_128bits_digest(k->fxs));
		if (memcmp(d, sha, HZ_SHA256_LEN))
			why = "sha256 mismatch";
		else if (xxh && memcmp(x.digest, xxh, sizeof(x.digest)))
			why = "xxh128 mismatch (the index's checksum of the file)";
	} else {
		uint8_t d[HZ_SHA256_LEN];

		hz_sha256_final(&k->fsha, d); /* reset */
	}
	k->res->files_checked++;
	if (!rc && why) {
		k->res->files_damaged++;
		report_file(k, file_id, why);
	}
	return rc;
}

void store_fsck_interrupt(struct store *s)
{
	atomic_store(&s->fsck_stop, 1);
}

int store_fsck(struct store *s, struct store_fsck_result *out,
	       void (*report)(void *payload, const char *line), void *payload,
	       store_progress_fn progress, void *progress_payload)
{
	struct fsck k = { .s = s, .res = out, .report = report, .payload = payload,
			  .progress = progress, .progress_payload = progress_payload };
	struct db_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	/* no gc unlinks a pack file while this runs (store/pin_int.h) */
	rc = pin_fsck_lock(s);
	if (rc)
		return rc;
	/* what is stored now, not what descriptors earlier reads cached */
	pack_fds_close(s);
	rc = hz_sha256_init(&k.fsha);
	if (!rc)
		rc = hz_sha256_init(&k.osha);
	if (!rc && !(k.fxs = XXH3_createState()))
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	if (!rc)
		rc = db_exec(s, "CREATE TEMP TABLE IF NOT EXISTS fsck_seen(object_id INTEGER"
				" PRIMARY KEY, damaged INTEGER NOT NULL); DELETE FROM fsck_seen;");
	if (!rc)
		rc = db_prepare(s, &k.blocks,
				"SELECT " BLOCK_COLS " FROM blocks WHERE object_id = ? ORDER BY raw_off");
	if (!rc)
		rc = db_prepare(s, &k.segs,
				"SELECT sg.file_off, sg.length, sg.object_id, o.size, o.sha256"
				" FROM segments sg JOIN objects o ON o.id = sg.object_id"
				" WHERE sg.file_id = ? ORDER BY sg.file_off");
	if (!rc)
		rc = db_prepare(s, &k.mark, "INSERT INTO fsck_seen VALUES (?, ?)"
					 " ON CONFLICT(object_id) DO UPDATE SET damaged = excluded.damaged");
	if (!rc)
		rc = db_prepare(s, &k.seen, "SELECT damaged FROM fsck_seen WHERE object_id = ?");
	if (!rc) {
		struct db_stmt *q = NULL;

		rc = db_prepare(s, &q, "SELECT coalesce(sum(size), 0) FROM files");
		if (!rc && db_step(q) == DB_ROW)
			k.total = (uint64_t)db_column_int64(q, 0);
		db_finalize(q);
	}
	if (!rc)
		rc = check_packs(&k);
	if (!rc)
		rc = check_bases(&k);
	if (!rc)
		rc = db_prepare(s, &st, "SELECT id, size, sha256, xxh128 FROM files ORDER BY id");
	while (!rc && db_step(st) == DB_ROW) {
		int xnull = db_column_type(st, 3) == DB_NULL;

		if (db_column_bytes(st, 2) != HZ_SHA256_LEN) {
			problem(&k, "file %lld: bad sha256 in the index",
				(long long)db_column_int64(st, 0));
			continue;
		}
		if (!xnull && db_column_bytes(st, 3) != 16) {
			problem(&k, "file %lld: bad xxh128 in the index",
				(long long)db_column_int64(st, 0));
			continue;
		}
		rc = check_file(&k, db_column_int64(st, 0),
				(uint64_t)db_column_int64(st, 1), db_column_blob(st, 2),
				xnull ? NULL : db_column_blob(st, 3));
	}
	db_finalize(st);
	st = NULL;
	/* objects no file holds (tensor rows only, e.g. empty tensors) */
	if (!rc)
		rc = db_prepare(s, &st, "SELECT id, size, sha256 FROM objects WHERE id NOT IN"
					" (SELECT object_id FROM fsck_seen)");
	while (!rc && db_step(st) == DB_ROW) {
		int v;

		if (db_column_bytes(st, 2) != HZ_SHA256_LEN) {
			problem(&k, "object %lld: bad sha256 in the index",
				(long long)db_column_int64(st, 0));
			continue;
		}
		v = check_object(&k, db_column_int64(st, 0),
				 (uint64_t)db_column_int64(st, 1), db_column_blob(st, 2),
				 NULL);
		if (v < 0)
			rc = v;
	}
	db_finalize(st);
	/* the accounting: its cache, and its sums against the index */
	if (!rc)
		rc = stats_check(s, report, payload, &out->problems);
	db_finalize(k.blocks);
	db_finalize(k.segs);
	db_finalize(k.mark);
	db_finalize(k.seen);
	hz_sha256_release(&k.fsha);
	XXH3_freeState(k.fxs);
	hz_sha256_release(&k.osha);
	db_exec(s, "DELETE FROM fsck_seen");
	pin_fsck_unlock(s);
	return rc;
}
