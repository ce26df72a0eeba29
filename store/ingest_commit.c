/*
 * store/ingest_commit.c - the rows an ingest session commits: packs,
 * objects and their blocks, files with their segments and tensors, and the
 * new revision with its tree and branch, all in the caller's transaction.
 * An object or file that a concurrent session committed first (the unique
 * sha256 says so) is used instead of the session's copy.
 */
#include "store/ingest_int.h"
#include "store/stats_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/dtype.h"
#include "common/error.h"

static int step_done(struct store *s, struct db_stmt *st, const char *what)
{
	int rc = db_step(st) == DB_DONE ? 0 : db_error(s, what);

	db_reset(st);
	return rc;
}

static int insert_objects(struct store_ingest *in, int64_t now)
{
	struct store *s = in->s;
	struct db_stmt *ins = NULL, *blk = NULL, *chk = NULL, *mom = NULL, *bchk = NULL;
	int rc;

	rc = db_prepare(s, &ins,
			"INSERT INTO objects(sha256, kind, dtype, size, stored_size, nblocks,"
			" created_at, base_object_id, transform) VALUES (?,?,?,?,?,?,?,?,?)"
			" ON CONFLICT(sha256) DO NOTHING RETURNING id");
	if (!rc)
		rc = db_prepare(s, &mom, "INSERT INTO tensor_moments(object_id, nelem,"
					 " dtype, shape, sum, sumsq) VALUES (?,?,?,?,?,?)"
					 " ON CONFLICT(object_id) DO UPDATE SET nelem = excluded.nelem,"
					 " dtype = excluded.dtype, shape = excluded.shape, sum = excluded.sum,"
					 " sumsq = excluded.sumsq");
	if (!rc)
		rc = db_prepare(s, &blk,
				"INSERT INTO blocks(object_id, raw_off, raw_len, pack_id, pack_off,"
				" enc_len, codec, checksum, base_object_id, base_raw_off, plain_len)"
				" VALUES (?,?,?,?,?,?,?,?,?,?,?)");
	/* what the session reuses is pinned against gc (pin.c); checked again
	 * here, by id and content (ids of deleted rows are reused), so that a
	 * flaw there fails the commit instead of storing a damaged revision */
	if (!rc)
		rc = db_prepare(s, &chk, "SELECT 1 FROM objects WHERE id = ? AND sha256 = ?");
	if (!rc)
		rc = db_prepare(s, &bchk, "SELECT 1 FROM objects WHERE id = ?"
					  " AND base_object_id IS NULL");
	for (size_t i = 0; !rc && i < in->objs.n; i++) {
		struct pend_object *o = &in->objs.v[i];

		if (o->id) { /* stored before: still there? */
			db_bind_int64(chk, 1, o->id);
			db_bind_blob(chk, 2, o->sha, HZ_SHA256_LEN);
			if (db_step(chk) != DB_ROW)
				rc = hz_error_set(HZ_ERROR, "a stored object was removed during the ingest; retry");
			db_reset(chk);
			continue;
		}
		if (o->base_obj) { /* the base of its delta blocks */
			db_bind_int64(bchk, 1, o->base_obj);
			if (db_step(bchk) != DB_ROW)
				rc = hz_error_set(HZ_ERROR, "the base of a delta was removed during the"
						  " ingest; retry");
			db_reset(bchk);
			if (rc)
				break;
		}
		db_bind_blob(ins, 1, o->sha, HZ_SHA256_LEN);
		db_bind_int(ins, 2, o->kind);
		db_bind_int(ins, 3, o->dtype);
		db_bind_int64(ins, 4, (int64_t)o->size);
		db_bind_int64(ins, 5, (int64_t)o->stored);
		db_bind_int64(ins, 6, (int64_t)o->nblocks);
		db_bind_int64(ins, 7, now);
		if (o->base_obj)
			db_bind_int64(ins, 8, o->base_obj);
		else
			db_bind_null(ins, 8);
		if (o->transform)
			db_bind_text(ins, 9, o->transform, -1);
		else
			db_bind_null(ins, 9);
		rc = db_step_id(s, ins, "cannot insert object", &o->id);
		if (rc)
			break;
		if (!o->id) {
			/* stored concurrently by another session: use theirs */
			o->id = ingest_lookup_id(in, in->find_obj, o->sha, &rc);
			continue;
		}
		if (o->shape) { /* a plain float tensor: index its moments */
			db_bind_int64(mom, 1, o->id);
			db_bind_int64(mom, 2, (int64_t)(o->size / hz_dtype_size(o->dtype)));
			db_bind_int(mom, 3, o->dtype);
			db_bind_text(mom, 4, o->shape, -1);
			db_bind_double(mom, 5, o->sum);
			db_bind_double(mom, 6, o->sumsq);
			rc = step_done(s, mom, "cannot index tensor moments");
		}
		for (size_t j = 0; !rc && j < o->nblocks; j++) {
			const struct pend_block *b = &in->blocks.v[o->first_block + j];

			db_bind_int64(blk, 1, o->id);
			db_bind_int64(blk, 2, (int64_t)b->raw_off);
			db_bind_int64(blk, 3, b->raw_len);
			db_bind_int64(blk, 4, in->packs.v[b->pack].id);
			db_bind_int64(blk, 5, (int64_t)b->pack_off);
			db_bind_int64(blk, 6, b->enc_len);
			db_bind_int(blk, 7, b->codec);
			db_bind_int64(blk, 8, (int64_t)b->checksum);
			if (b->base_obj) {
				db_bind_int64(blk, 9, b->base_obj);
				db_bind_int64(blk, 10, b->base_off == BASE_OFF_TRANSFORM
							       ? -1 : (int64_t)b->base_off);
			} else {
				db_bind_null(blk, 9);
				db_bind_null(blk, 10);
			}
			db_bind_int64(blk, 11, b->plain_len);
			rc = step_done(s, blk, "cannot insert block");
		}
	}
	db_finalize(ins);
	db_finalize(blk);
	db_finalize(chk);
	db_finalize(bchk);
	db_finalize(mom);
	return rc;
}

static int insert_files(struct store_ingest *in, int64_t now)
{
	struct store *s = in->s;
	struct db_stmt *ins = NULL, *seg = NULL, *ten = NULL, *chk = NULL;
	int rc;

	rc = db_prepare(s, &ins,
			"INSERT INTO files(sha256, size, format, created_at, xxh128)"
			" VALUES (?,?,?,?,?)"
			" ON CONFLICT(sha256) DO NOTHING RETURNING id");
	if (!rc)
		rc = db_prepare(s, &seg,
				"INSERT INTO segments(file_id, file_off, object_id, length, role)"
				" VALUES (?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &ten,
				"INSERT INTO tensors(file_id, name, dtype, shape, file_off, object_id)"
				" VALUES (?,?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &chk, "SELECT 1 FROM files WHERE id = ? AND sha256 = ?");
	for (size_t i = 0; !rc && i < in->files.n; i++) {
		struct pend_file *f = &in->files.v[i];

		if (f->same_as >= 0)
			continue;
		if (f->id) { /* stored before (gc may have run since): still there? */
			db_bind_int64(chk, 1, f->id);
			db_bind_blob(chk, 2, f->sha, HZ_SHA256_LEN);
			if (db_step(chk) != DB_ROW)
				rc = hz_error_set(HZ_ERROR, "a stored file was removed during the"
						  " ingest; retry");
			db_reset(chk);
			continue;
		}
		db_bind_blob(ins, 1, f->sha, HZ_SHA256_LEN);
		db_bind_int64(ins, 2, (int64_t)f->size);
		db_bind_int(ins, 3, f->format);
		db_bind_int64(ins, 4, now);
		db_bind_blob(ins, 5, f->xxh, sizeof(f->xxh));
		rc = db_step_id(s, ins, "cannot insert file", &f->id);
		if (rc)
			break;
		if (!f->id) {
			f->id = ingest_lookup_id(in, in->find_file, f->sha, &rc);
			continue;
		}
		for (size_t j = 0; !rc && j < f->nsegs; j++) {
			const struct pend_seg *sg = &in->segs.v[f->first_seg + j];

			db_bind_int64(seg, 1, f->id);
			db_bind_int64(seg, 2, (int64_t)sg->file_off);
			db_bind_int64(seg, 3, in->objs.v[sg->obj].id);
			db_bind_int64(seg, 4, (int64_t)sg->length);
			db_bind_int(seg, 5, sg->role);
			rc = step_done(s, seg, "cannot insert segment");
		}
		for (size_t j = 0; !rc && j < f->ntensors; j++) {
			const struct pend_tensor *t = &in->tensors.v[f->first_tensor + j];

			db_bind_int64(ten, 1, f->id);
			db_bind_text(ten, 2, t->name, -1);
			db_bind_int(ten, 3, t->dtype);
			db_bind_text(ten, 4, t->shape, -1);
			db_bind_int64(ten, 5, (int64_t)t->file_off);
			db_bind_int64(ten, 6, in->objs.v[t->obj].id);
			rc = step_done(s, ten, "cannot insert tensor");
		}
	}
	for (size_t i = 0; !rc && i < in->files.n; i++)
		if (in->files.v[i].same_as >= 0)
			in->files.v[i].id = in->files.v[in->files.v[i].same_as].id;
	db_finalize(ins);
	db_finalize(seg);
	db_finalize(ten);
	db_finalize(chk);
	return rc;
}

/* A commit id: 40 hex digits of SHA-256 over the parent, the time, a nonce
 * and the session's (path, file sha) list. */
static int make_commit_id(struct store_ingest *in, const char *parent, int64_t now,
			  char out[STORE_COMMIT_HEX])
{
	struct hz_sha256 h;
	uint8_t nonce[16], d[HZ_SHA256_LEN];
	char t[32];
	int rc = hz_random(nonce, sizeof(nonce));

	if (!rc)
		rc = hz_sha256_init(&h);
	if (rc)
		return rc;
	hz_sha256_update(&h, in->repo, strlen(in->repo) + 1);
	hz_sha256_update(&h, parent, strlen(parent) + 1);
	snprintf(t, sizeof(t), "%lld", (long long)now);
	hz_sha256_update(&h, t, strlen(t) + 1);
	hz_sha256_update(&h, nonce, sizeof(nonce));
	for (size_t i = 0; i < in->files.n; i++) {
		hz_sha256_update(&h, in->files.v[i].path, strlen(in->files.v[i].path) + 1);
		hz_sha256_update(&h, in->files.v[i].sha, HZ_SHA256_LEN);
	}
	hz_sha256_final(&h, d);
	hz_sha256_release(&h);
	hz_hex(out, d, 20);
	return 0;
}

static int insert_revision(struct store_ingest *in, const char *message, int64_t now,
			   char commit_out[STORE_COMMIT_HEX])
{
	struct store *s = in->s;
	struct db_stmt *st = NULL;
	int64_t repo_id = 0, parent = 0, rev;
	char parent_commit[STORE_COMMIT_HEX] = "";
	int rc;

	rc = db_prepare(s, &st, "INSERT INTO repos(name, created_at) VALUES (?, ?)"
				" ON CONFLICT(name) DO NOTHING");
	if (rc)
		return rc;
	db_bind_text(st, 1, in->repo, -1);
	db_bind_int64(st, 2, now);
	rc = step_done(s, st, "cannot create repo");
	db_finalize(st);
	if (rc)
		return rc;
	rc = db_prepare(s, &st,
			"SELECT r.id, v.id, v.commit_id FROM repos r LEFT JOIN refs f"
			" ON f.repo_id = r.id AND f.name = ?2 LEFT JOIN revisions v"
			" ON v.id = f.revision_id WHERE r.name = ?1");
	if (rc)
		return rc;
	db_bind_text(st, 1, in->repo, -1);
	db_bind_text(st, 2, in->ref, -1);
	if (db_step(st) == DB_ROW) {
		repo_id = db_column_int64(st, 0);
		parent = db_column_int64(st, 1);
		if (db_column_type(st, 2) == DB_TEXT)
			snprintf(parent_commit, sizeof(parent_commit), "%s",
				 (const char *)db_column_text(st, 2));
	} else {
		rc = db_error(s, "cannot find repo");
	}
	db_finalize(st);
	if (!rc && in->expect_parent && strcmp(in->expect_parent, parent_commit))
		rc = hz_error_set(HZ_EEXISTS, "branch '%s' is at %s, not at the parent commit %s",
				  in->ref, parent_commit[0] ? parent_commit : "(none)",
				  in->expect_parent);
	if (!rc)
		rc = make_commit_id(in, parent_commit, now, commit_out);
	if (!rc)
		rc = db_prepare(s, &st, "INSERT INTO revisions(repo_id, commit_id, parent_id,"
					" message, created_at) VALUES (?,?,?,?,?) RETURNING id");
	if (rc)
		return rc;
	db_bind_int64(st, 1, repo_id);
	db_bind_text(st, 2, commit_out, -1);
	if (parent)
		db_bind_int64(st, 3, parent);
	else
		db_bind_null(st, 3);
	db_bind_text(st, 4, message ? message : "", -1);
	db_bind_int64(st, 5, now);
	rc = db_step_id(s, st, "cannot insert revision", &rev);
	db_finalize(st);
	if (rc)
		return rc;
	if (parent && !in->replace) {
		rc = db_prepare(s, &st, "INSERT INTO revision_files(revision_id, path, file_id)"
					" SELECT ?, path, file_id FROM revision_files"
					" WHERE revision_id = ?");
		if (rc)
			return rc;
		db_bind_int64(st, 1, rev);
		db_bind_int64(st, 2, parent);
		rc = step_done(s, st, "cannot copy the parent tree");
		db_finalize(st);
		if (rc)
			return rc;
	}
	if (in->dels.n) {
		rc = db_prepare(s, &st, "DELETE FROM revision_files WHERE revision_id = ?1 AND"
					" (path = ?2 OR (?3 <> 0 AND substr(path, 1, length(?2) + 1)"
					" = ?2 || '/'))");
		for (size_t i = 0; !rc && i < in->dels.n; i++) {
			db_bind_int64(st, 1, rev);
			db_bind_text(st, 2, in->dels.v[i].path, -1);
			db_bind_int(st, 3, in->dels.v[i].folder);
			rc = step_done(s, st, "cannot delete a tree entry");
		}
		db_finalize(st);
		if (rc)
			return rc;
	}
	rc = db_prepare(s, &st, "INSERT INTO revision_files(revision_id, path,"
				" file_id) VALUES (?,?,?) ON CONFLICT(revision_id, path)"
				" DO UPDATE SET file_id = excluded.file_id");
	for (size_t i = 0; !rc && i < in->files.n; i++) {
		db_bind_int64(st, 1, rev);
		db_bind_text(st, 2, in->files.v[i].path, -1);
		db_bind_int64(st, 3, in->files.v[i].id);
		rc = step_done(s, st, "cannot insert a tree entry");
	}
	db_finalize(st);
	if (!rc)
		rc = db_prepare(s, &st, "INSERT INTO refs(repo_id, name, revision_id)"
					" VALUES (?,?,?) ON CONFLICT(repo_id, name)"
					" DO UPDATE SET revision_id = excluded.revision_id");
	if (rc)
		return rc;
	db_bind_int64(st, 1, repo_id);
	db_bind_text(st, 2, in->ref, -1);
	db_bind_int64(st, 3, rev);
	rc = step_done(s, st, "cannot update the branch");
	db_finalize(st);
	if (!rc)
		rc = family_assign(in, repo_id, rev, now);
	return rc;
}

int ingest_insert_rows(struct store_ingest *in, const char *message, int64_t now,
		       char commit_out[STORE_COMMIT_HEX])
{
	struct store *s = in->s;
	struct db_stmt *st = NULL;
	int64_t mark = 0;
	int rc = db_prepare(s, &st, "INSERT INTO packs(name, size, created_at) VALUES (?,?,?)"
				" RETURNING id");

	for (size_t i = 0; !rc && i < in->packs.n; i++) {
		db_bind_text(st, 1, in->packs.v[i].name, -1);
		db_bind_int64(st, 2, (int64_t)in->packs.v[i].size);
		db_bind_int64(st, 3, now);
		rc = db_step_id(s, st, "cannot insert pack", &in->packs.v[i].id);
	}
	db_finalize(st);
	if (!rc)
		rc = stats_history_mark(s, &mark);
	if (!rc)
		rc = insert_objects(in, now);
	if (!rc)
		rc = insert_files(in, now);
	if (!rc)
		rc = insert_revision(in, message, now, commit_out);
	if (!rc)
		rc = stats_history_add(in, mark, now, commit_out);
	return rc;
}
