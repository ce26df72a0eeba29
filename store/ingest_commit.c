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

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, what);

	sqlite3_reset(st);
	return rc;
}

static int insert_objects(struct store_ingest *in, int64_t now)
{
	struct store *s = in->s;
	sqlite3_stmt *ins = NULL, *blk = NULL, *chk = NULL, *mom = NULL;
	int rc;

	rc = db_prepare(s, &ins,
			"INSERT INTO objects(sha256, kind, dtype, size, stored_size, nblocks,"
			" created_at, base_object_id, transform) VALUES (?,?,?,?,?,?,?,?,?)"
			" ON CONFLICT(sha256) DO NOTHING");
	if (!rc)
		rc = db_prepare(s, &mom, "INSERT OR REPLACE INTO tensor_moments(object_id, nelem,"
					 " dtype, shape, sum, sumsq) VALUES (?,?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &blk,
				"INSERT INTO blocks(object_id, raw_off, raw_len, pack_id, pack_off,"
				" enc_len, codec, checksum, base_object_id, base_raw_off, plain_len)"
				" VALUES (?,?,?,?,?,?,?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &chk, "SELECT 1 FROM objects WHERE id = ?");
	for (size_t i = 0; !rc && i < in->objs.n; i++) {
		struct pend_object *o = &in->objs.v[i];

		if (o->id) { /* stored before: still there? */
			sqlite3_bind_int64(chk, 1, o->id);
			if (sqlite3_step(chk) != SQLITE_ROW)
				rc = hz_error_set(HZ_ERROR, "a stored object was removed during the ingest; retry");
			sqlite3_reset(chk);
			continue;
		}
		sqlite3_bind_blob(ins, 1, o->sha, HZ_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_int(ins, 2, o->kind);
		sqlite3_bind_int(ins, 3, o->dtype);
		sqlite3_bind_int64(ins, 4, (int64_t)o->size);
		sqlite3_bind_int64(ins, 5, (int64_t)o->stored);
		sqlite3_bind_int64(ins, 6, (int64_t)o->nblocks);
		sqlite3_bind_int64(ins, 7, now);
		if (o->base_obj)
			sqlite3_bind_int64(ins, 8, o->base_obj);
		else
			sqlite3_bind_null(ins, 8);
		if (o->transform)
			sqlite3_bind_text(ins, 9, o->transform, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 9);
		rc = step_done(s, ins, "cannot insert object");
		if (rc)
			break;
		if (!sqlite3_changes(s->db)) {
			/* stored concurrently by another session: use theirs */
			o->id = ingest_lookup_id(in, in->find_obj, o->sha, &rc);
			continue;
		}
		o->id = sqlite3_last_insert_rowid(s->db);
		if (o->shape) { /* a plain float tensor: index its moments */
			sqlite3_bind_int64(mom, 1, o->id);
			sqlite3_bind_int64(mom, 2, (int64_t)(o->size / hz_dtype_size(o->dtype)));
			sqlite3_bind_int(mom, 3, o->dtype);
			sqlite3_bind_text(mom, 4, o->shape, -1, SQLITE_STATIC);
			sqlite3_bind_double(mom, 5, o->sum);
			sqlite3_bind_double(mom, 6, o->sumsq);
			rc = step_done(s, mom, "cannot index tensor moments");
		}
		for (size_t j = 0; !rc && j < o->nblocks; j++) {
			const struct pend_block *b = &in->blocks.v[o->first_block + j];

			sqlite3_bind_int64(blk, 1, o->id);
			sqlite3_bind_int64(blk, 2, (int64_t)b->raw_off);
			sqlite3_bind_int64(blk, 3, b->raw_len);
			sqlite3_bind_int64(blk, 4, in->packs.v[b->pack].id);
			sqlite3_bind_int64(blk, 5, (int64_t)b->pack_off);
			sqlite3_bind_int64(blk, 6, b->enc_len);
			sqlite3_bind_int(blk, 7, b->codec);
			sqlite3_bind_int64(blk, 8, (int64_t)b->checksum);
			if (b->base_obj) {
				sqlite3_bind_int64(blk, 9, b->base_obj);
				sqlite3_bind_int64(blk, 10, b->base_off == BASE_OFF_TRANSFORM
							       ? -1 : (int64_t)b->base_off);
			} else {
				sqlite3_bind_null(blk, 9);
				sqlite3_bind_null(blk, 10);
			}
			sqlite3_bind_int64(blk, 11, b->plain_len);
			rc = step_done(s, blk, "cannot insert block");
		}
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(blk);
	sqlite3_finalize(chk);
	sqlite3_finalize(mom);
	return rc;
}

static int insert_files(struct store_ingest *in, int64_t now)
{
	struct store *s = in->s;
	sqlite3_stmt *ins = NULL, *seg = NULL, *ten = NULL, *chk = NULL;
	int rc;

	rc = db_prepare(s, &ins,
			"INSERT INTO files(sha256, size, format, created_at, xxh128)"
			" VALUES (?,?,?,?,?)"
			" ON CONFLICT(sha256) DO NOTHING");
	if (!rc)
		rc = db_prepare(s, &seg,
				"INSERT INTO segments(file_id, file_off, object_id, length, role)"
				" VALUES (?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &ten,
				"INSERT INTO tensors(file_id, name, dtype, shape, file_off, object_id)"
				" VALUES (?,?,?,?,?,?)");
	if (!rc)
		rc = db_prepare(s, &chk, "SELECT 1 FROM files WHERE id = ?");
	for (size_t i = 0; !rc && i < in->files.n; i++) {
		struct pend_file *f = &in->files.v[i];

		if (f->same_as >= 0)
			continue;
		if (f->id) { /* stored before (gc may have run since): still there? */
			sqlite3_bind_int64(chk, 1, f->id);
			if (sqlite3_step(chk) != SQLITE_ROW)
				rc = hz_error_set(HZ_ERROR, "a stored file was removed during the"
						  " ingest; retry");
			sqlite3_reset(chk);
			continue;
		}
		sqlite3_bind_blob(ins, 1, f->sha, HZ_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (int64_t)f->size);
		sqlite3_bind_int(ins, 3, f->format);
		sqlite3_bind_int64(ins, 4, now);
		sqlite3_bind_blob(ins, 5, f->xxh, sizeof(f->xxh), SQLITE_STATIC);
		rc = step_done(s, ins, "cannot insert file");
		if (rc)
			break;
		if (!sqlite3_changes(s->db)) {
			f->id = ingest_lookup_id(in, in->find_file, f->sha, &rc);
			continue;
		}
		f->id = sqlite3_last_insert_rowid(s->db);
		for (size_t j = 0; !rc && j < f->nsegs; j++) {
			const struct pend_seg *sg = &in->segs.v[f->first_seg + j];

			sqlite3_bind_int64(seg, 1, f->id);
			sqlite3_bind_int64(seg, 2, (int64_t)sg->file_off);
			sqlite3_bind_int64(seg, 3, in->objs.v[sg->obj].id);
			sqlite3_bind_int64(seg, 4, (int64_t)sg->length);
			sqlite3_bind_int(seg, 5, sg->role);
			rc = step_done(s, seg, "cannot insert segment");
		}
		for (size_t j = 0; !rc && j < f->ntensors; j++) {
			const struct pend_tensor *t = &in->tensors.v[f->first_tensor + j];

			sqlite3_bind_int64(ten, 1, f->id);
			sqlite3_bind_text(ten, 2, t->name, -1, SQLITE_STATIC);
			sqlite3_bind_int(ten, 3, t->dtype);
			sqlite3_bind_text(ten, 4, t->shape, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ten, 5, (int64_t)t->file_off);
			sqlite3_bind_int64(ten, 6, in->objs.v[t->obj].id);
			rc = step_done(s, ten, "cannot insert tensor");
		}
	}
	for (size_t i = 0; !rc && i < in->files.n; i++)
		if (in->files.v[i].same_as >= 0)
			in->files.v[i].id = in->files.v[in->files.v[i].same_as].id;
	sqlite3_finalize(ins);
	sqlite3_finalize(seg);
	sqlite3_finalize(ten);
	sqlite3_finalize(chk);
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
	sqlite3_stmt *st = NULL;
	int64_t repo_id = 0, parent = 0, rev;
	char parent_commit[STORE_COMMIT_HEX] = "";
	int rc;

	rc = db_prepare(s, &st, "INSERT INTO repos(name, created_at) VALUES (?, ?)"
				" ON CONFLICT(name) DO NOTHING");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, in->repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = step_done(s, st, "cannot create repo");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	rc = db_prepare(s, &st,
			"SELECT r.id, v.id, v.commit_id FROM repos r LEFT JOIN refs f"
			" ON f.repo_id = r.id AND f.name = ?2 LEFT JOIN revisions v"
			" ON v.id = f.revision_id WHERE r.name = ?1");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, in->repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		repo_id = sqlite3_column_int64(st, 0);
		parent = sqlite3_column_int64(st, 1);
		if (sqlite3_column_type(st, 2) == SQLITE_TEXT)
			snprintf(parent_commit, sizeof(parent_commit), "%s",
				 (const char *)sqlite3_column_text(st, 2));
	} else {
		rc = db_error(s, "cannot find repo");
	}
	sqlite3_finalize(st);
	if (!rc && in->expect_parent && strcmp(in->expect_parent, parent_commit))
		rc = hz_error_set(HZ_EEXISTS, "branch '%s' is at %s, not at the parent commit %s",
				  in->ref, parent_commit[0] ? parent_commit : "(none)",
				  in->expect_parent);
	if (!rc)
		rc = make_commit_id(in, parent_commit, now, commit_out);
	if (!rc)
		rc = db_prepare(s, &st, "INSERT INTO revisions(repo_id, commit_id, parent_id,"
					" message, created_at) VALUES (?,?,?,?,?)");
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, commit_out, -1, SQLITE_STATIC);
	if (parent)
		sqlite3_bind_int64(st, 3, parent);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, message ? message : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	rc = step_done(s, st, "cannot insert revision");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	rev = sqlite3_last_insert_rowid(s->db);
	if (parent && !in->replace) {
		rc = db_prepare(s, &st, "INSERT INTO revision_files(revision_id, path, file_id)"
					" SELECT ?, path, file_id FROM revision_files"
					" WHERE revision_id = ?");
		if (rc)
			return rc;
		sqlite3_bind_int64(st, 1, rev);
		sqlite3_bind_int64(st, 2, parent);
		rc = step_done(s, st, "cannot copy the parent tree");
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	if (in->dels.n) {
		rc = db_prepare(s, &st, "DELETE FROM revision_files WHERE revision_id = ?1 AND"
					" (path = ?2 OR (?3 AND substr(path, 1, length(?2) + 1)"
					" = ?2 || '/'))");
		for (size_t i = 0; !rc && i < in->dels.n; i++) {
			sqlite3_bind_int64(st, 1, rev);
			sqlite3_bind_text(st, 2, in->dels.v[i].path, -1, SQLITE_STATIC);
			sqlite3_bind_int(st, 3, in->dels.v[i].folder);
			rc = step_done(s, st, "cannot delete a tree entry");
		}
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	rc = db_prepare(s, &st, "INSERT OR REPLACE INTO revision_files(revision_id, path,"
				" file_id) VALUES (?,?,?)");
	for (size_t i = 0; !rc && i < in->files.n; i++) {
		sqlite3_bind_int64(st, 1, rev);
		sqlite3_bind_text(st, 2, in->files.v[i].path, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, in->files.v[i].id);
		rc = step_done(s, st, "cannot insert a tree entry");
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = db_prepare(s, &st, "INSERT OR REPLACE INTO refs(repo_id, name, revision_id)"
					" VALUES (?,?,?)");
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, repo_id);
	sqlite3_bind_text(st, 2, in->ref, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, rev);
	rc = step_done(s, st, "cannot update the branch");
	sqlite3_finalize(st);
	if (!rc)
		rc = family_assign(in, repo_id, rev, now);
	return rc;
}

int ingest_insert_rows(struct store_ingest *in, const char *message, int64_t now,
		       char commit_out[STORE_COMMIT_HEX])
{
	struct store *s = in->s;
	sqlite3_stmt *st = NULL;
	int64_t mark = 0;
	int rc = db_prepare(s, &st, "INSERT INTO packs(name, size, created_at) VALUES (?,?,?)");

	for (size_t i = 0; !rc && i < in->packs.n; i++) {
		sqlite3_bind_text(st, 1, in->packs.v[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)in->packs.v[i].size);
		sqlite3_bind_int64(st, 3, now);
		rc = step_done(s, st, "cannot insert pack");
		in->packs.v[i].id = sqlite3_last_insert_rowid(s->db);
	}
	sqlite3_finalize(st);
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
