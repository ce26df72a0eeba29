/*
 * store/gc.c - deleting repos and collecting what nothing references.
 *
 * Deleting a repo removes its revisions, branches and family row in one
 * transaction; its files and objects stay until `gc`.  gc marks, in one
 * write transaction: the files of every revision, the objects of those
 * files, and the base objects that their delta blocks name (deltas are one
 * level deep, so one step reaches them all).  Everything else is deleted
 * from the index; pack files left without a live block are removed after
 * the commit.  Packs that still hold some live blocks are kept whole (their
 * dead bytes are reported); an object a reader may be decoding is therefore
 * never moved or rewritten.
 *
 * gc runs while sessions ingest (store/pin_int.h, docs/format.md): it
 * holds the gc lock from reading the live sessions' pins (what they reuse:
 * stored objects and files, delta bases), which it marks live too, to the
 * end of its transaction and of its sweep of objects/tmp/.  A pack file
 * that no row names is a live session's if the session holds it locked,
 * else an orphan (its session died), removed at once, as are the pins of
 * dead sessions.  Pack files are only unlinked while no fsck runs (an
 * fsck reads one snapshot of the index for a long time); otherwise they
 * wait for the next gc.
 */
#include "store/pin_int.h"
#include "store/store_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#define LFS_PENDING_AGE (24 * 3600)

int store_repo_delete(struct store *s, const char *repo)
{
	struct db_stmt *st = NULL;
	int64_t id = 0;
	int rc = store_repo_name_check(repo);

	if (rc)
		return rc;
	rc = db_begin(s);
	if (rc)
		return rc;
	rc = db_prepare(s, &st, "SELECT id FROM repos WHERE name = ?");
	if (!rc) {
		db_bind_text(st, 1, repo, -1);
		if (db_step(st) == DB_ROW)
			id = db_column_int64(st, 0);
		db_finalize(st);
		if (!id)
			rc = hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);
	}
	if (!rc) {
		char sql[1024];

		snprintf(sql, sizeof(sql),
			 "DELETE FROM refs WHERE repo_id = %lld;"
			 "DELETE FROM revision_files WHERE revision_id IN"
			 " (SELECT id FROM revisions WHERE repo_id = %lld);"
			 "UPDATE repo_families SET base_repo_id = NULL WHERE base_repo_id = %lld;"
			 "DELETE FROM repo_families WHERE repo_id = %lld;"
			 "DELETE FROM revisions WHERE repo_id = %lld;"
			 "DELETE FROM repos WHERE id = %lld;"
			 "DELETE FROM families WHERE id NOT IN (SELECT family_id FROM repo_families);",
			 (long long)id, (long long)id, (long long)id, (long long)id, (long long)id,
			 (long long)id);
		rc = db_exec(s, sql);
	}
	if (!rc)
		rc = db_commit(s);
	if (rc)
		db_rollback(s);
	return rc;
}

static int count(struct store *s, const char *sql, uint64_t *out)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, sql);

	if (rc)
		return rc;
	*out = db_step(st) == DB_ROW ? (uint64_t)db_column_int64(st, 0) : 0;
	db_finalize(st);
	return 0;
}

/* The packs row of name exists (a fresh read: no transaction is open):
 * 1, 0, or an error. */
static int pack_known(struct store *s, struct db_stmt *st, const char *name)
{
	int step;

	db_bind_text(st, 1, name, -1);
	step = db_step(st);
	db_reset(st);
	if (step == DB_ROW)
		return 1;
	return step == DB_DONE ? 0 : db_error(s, "cannot look a pack up");
}

/* Removes the pack files in packs/XX/ that no row names and no session
 * holds locked: left by an ingest that died between moving its packs into
 * place and committing, or by a gc whose unlinking was deferred.  A locked
 * one belongs to a session about to commit; an unlocked one is checked
 * again once gc holds its lock (the session may have committed and let go
 * in between).  Needs the fsck lock. */
static int sweep_packs(struct store *s, struct store_gc_result *out)
{
	struct db_stmt *st = NULL;
	DIR *top, *sub;
	struct dirent *e, *f;
	int rc = db_prepare(s, &st, "SELECT 1 FROM packs WHERE name = ?");

	top = rc ? NULL : opendir(s->packs_dir);
	while (!rc && top && (e = readdir(top))) {
		char *dir;

		if (e->d_name[0] == '.' || strlen(e->d_name) != 2)
			continue;
		dir = hz_path_join(s->packs_dir, e->d_name);
		sub = dir ? opendir(dir) : NULL;
		while (!rc && sub && (f = readdir(sub))) {
			char name[40], *path;
			struct stat sb;
			int fd, known;

			if (strlen(f->d_name) != 37 || strcmp(f->d_name + 32, ".pack"))
				continue;
			snprintf(name, sizeof(name), "%.32s", f->d_name);
			known = pack_known(s, st, name);
			if (known)
				continue;
			path = hz_path_join(dir, f->d_name);
			if (path && pin_probe(path, &fd) == 0) {
				known = pack_known(s, st, name);
				if (!known && !fstat(fd, &sb) && !unlink(path)) {
					out->orphan_packs++;
					out->bytes_freed += (uint64_t)sb.st_size;
				}
				close(fd);
			}
			if (known < 0)
				rc = known;
			free(path);
		}
		if (sub)
			closedir(sub);
		free(dir);
	}
	if (top)
		closedir(top);
	db_finalize(st);
	return rc;
}

/* Removes from objects/tmp/ the packs of dead sessions (no lock on them)
 * and the spool files a crash left (named ones exist only where the file
 * system has no O_TMPFILE, and are unlinked by their creator at once).
 * Runs under the gc lock: sessions create their packs locked under it. */
static void sweep_tmp(struct store *s, struct store_gc_result *out)
{
	DIR *d = opendir(s->tmp_dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char *path;
		struct stat sb;
		int fd;

		if (n > 9 && !strcmp(e->d_name + n - 9, ".pack.tmp")) {
			path = hz_path_join(s->tmp_dir, e->d_name);
			if (path && pin_probe(path, &fd) == 0) {
				if (!fstat(fd, &sb) && !unlink(path)) {
					out->orphan_packs++;
					out->bytes_freed += (uint64_t)sb.st_size;
				}
				close(fd);
			}
			free(path);
		} else if (!strncmp(e->d_name, "spool.", 6)) {
			path = hz_path_join(s->tmp_dir, e->d_name);
			if (path && !unlink(path))
				out->tmp_removed++;
			free(path);
		}
	}
	if (d)
		closedir(d);
}

/* In gc's transaction: marks what is live (the files of every revision and
 * what live sessions pinned, their objects, the bases of their delta
 * blocks) and deletes every other row; lists the packs left without a live
 * block (*dead, *ndead) and deletes their rows. */
static int collect(struct store *s, struct store_gc_result *out, char ***dead, size_t *ndead)
{
	struct db_stmt *st = NULL;
	uint64_t pins_removed = 0;
	int rc;

	rc = db_exec(s,
		"CREATE TEMP TABLE IF NOT EXISTS gc_files(id INTEGER PRIMARY KEY);"
		"CREATE TEMP TABLE IF NOT EXISTS gc_objects(id INTEGER PRIMARY KEY);"
		"DELETE FROM gc_files; DELETE FROM gc_objects;");
	if (!rc)
		rc = pin_gc_load(s, &pins_removed);
	out->tmp_removed += pins_removed;
	if (!rc)
		rc = db_exec(s,
			"INSERT INTO gc_files SELECT file_id FROM revision_files WHERE true"
			" ON CONFLICT DO NOTHING;"
			"INSERT INTO gc_objects SELECT object_id FROM segments"
			" WHERE file_id IN (SELECT id FROM gc_files) ON CONFLICT DO NOTHING;"
			"INSERT INTO gc_objects SELECT object_id FROM tensors"
			" WHERE file_id IN (SELECT id FROM gc_files) ON CONFLICT DO NOTHING;"
			"INSERT INTO gc_objects SELECT DISTINCT base_object_id FROM blocks"
			" WHERE object_id IN (SELECT id FROM gc_objects) AND base_object_id IS NOT NULL"
			" ON CONFLICT DO NOTHING;");
	if (!rc)
		rc = count(s, "SELECT count(*) FROM files WHERE id NOT IN (SELECT id FROM gc_files)",
			   &out->files_deleted);
	if (!rc)
		rc = count(s, "SELECT count(*) FROM objects WHERE id NOT IN"
			      " (SELECT id FROM gc_objects)", &out->objects_deleted);
	if (!rc)
		rc = db_exec(s,
			"DELETE FROM tensors WHERE file_id NOT IN (SELECT id FROM gc_files);"
			"DELETE FROM segments WHERE file_id NOT IN (SELECT id FROM gc_files);"
			"DELETE FROM files WHERE id NOT IN (SELECT id FROM gc_files);"
			"DELETE FROM tensor_moments WHERE object_id NOT IN (SELECT id FROM gc_objects);"
			"DELETE FROM blocks WHERE object_id NOT IN (SELECT id FROM gc_objects);"
			"DELETE FROM objects WHERE id NOT IN (SELECT id FROM gc_objects);");
	/* packs without a live block go; the others report their dead bytes */
	if (!rc)
		rc = db_prepare(s, &st, "SELECT name FROM packs WHERE id NOT IN"
					" (SELECT DISTINCT pack_id FROM blocks)");
	while (!rc && db_step(st) == DB_ROW) {
		char **d = realloc(*dead, (*ndead + 1) * sizeof(**dead));

		if (!d || !(d[*ndead] = hz_strdup((const char *)db_column_text(st, 0)))) {
			if (d)
				*dead = d;
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		*dead = d;
		(*ndead)++;
	}
	db_finalize(st);
	if (!rc)
		rc = db_exec(s, "DELETE FROM packs WHERE id NOT IN (SELECT DISTINCT pack_id FROM blocks)");
	if (!rc)
		rc = count(s, "SELECT coalesce((SELECT sum(size) FROM packs), 0) -"
			      " coalesce((SELECT sum(enc_len) FROM blocks), 0) -"
			      " 32 * (SELECT count(*) FROM packs)", &out->dead_bytes_kept);
	return rc;
}

int store_gc(struct store *s, const struct store_gc_options *opt, struct store_gc_result *out)
{
	int64_t age = opt ? opt->lfs_pending_age : LFS_PENDING_AGE;
	char **dead = NULL;
	size_t ndead = 0;
	int rc, run = -1;

	memset(out, 0, sizeof(*out));
	rc = pin_gc_begin(s, &run); /* one gc at a time */
	if (!rc)
		rc = pin_gc_lock(s);
	if (rc) {
		pin_gc_end(run);
		return rc;
	}
	rc = db_begin(s);
	if (!rc)
		rc = collect(s, out, &dead, &ndead);
	if (!rc)
		rc = db_commit(s);
	if (rc) {
		db_rollback(s);
		pin_gc_unlock(s);
		goto out;
	}
	sweep_tmp(s, out);
	pin_gc_unlock(s);
	/* only now that no row names them, and only while no fsck reads an
	 * older snapshot that does: else the next gc removes them */
	pack_fds_close(s);
	if (pin_fsck_try_exclusive(s)) {
		for (size_t i = 0; i < ndead; i++) {
			uint64_t size = 0;

			if (gc_pack_remove(s, dead[i], &size) == 1) {
				out->packs_deleted++;
				out->bytes_freed += size;
			}
		}
		rc = sweep_packs(s, out);
		if (!rc)
			rc = gc_sweep_blobs(s, out);
		pin_fsck_unlock(s);
	} else {
		out->packs_deferred = ndead;
	}
	if (!rc)
		rc = store_lfs_pending_gc(s, age, &out->lfs_pending_deleted);
out:
	pin_gc_end(run);
	for (size_t i = 0; i < ndead; i++)
		free(dead[i]);
	free(dead);
	return rc;
}
