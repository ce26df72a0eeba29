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
 * never moved or rewritten.  Pack files no row names, left by an ingest
 * that died before its commit, are removed once they are older than an
 * hour (a running ingest renames its packs just before committing).
 */
#include "store/store_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

#define ORPHAN_AGE 3600

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

/* Removes pack files in packs/XX/ that no row names and that are older
 * than ORPHAN_AGE, and stale temporaries in tmp/. */
static void remove_orphans(struct store *s, struct store_gc_result *out)
{
	struct db_stmt *st = NULL;
	time_t now = time(NULL);
	DIR *top, *sub;
	struct dirent *e, *f;

	if (db_prepare(s, &st, "SELECT 1 FROM packs WHERE name = ?"))
		return;
	top = opendir(s->packs_dir);
	while (top && (e = readdir(top))) {
		char *dir;

		if (e->d_name[0] == '.' || strlen(e->d_name) != 2)
			continue;
		dir = hz_path_join(s->packs_dir, e->d_name);
		sub = dir ? opendir(dir) : NULL;
		while (sub && (f = readdir(sub))) {
			size_t n = strlen(f->d_name);
			char name[64], *path;
			struct stat sb;
			bool known;

			if (n != 37 || strcmp(f->d_name + 32, ".pack"))
				continue;
			snprintf(name, sizeof(name), "%.32s", f->d_name);
			db_bind_text(st, 1, name, -1);
			known = db_step(st) == DB_ROW;
			db_reset(st);
			path = hz_path_join(dir, f->d_name);
			if (!known && path && !stat(path, &sb) && now - sb.st_mtime > ORPHAN_AGE &&
			    !unlink(path)) {
				out->orphan_packs++;
				out->bytes_freed += (uint64_t)sb.st_size;
			}
			free(path);
		}
		if (sub)
			closedir(sub);
		free(dir);
	}
	if (top)
		closedir(top);
	db_finalize(st);
	top = opendir(s->tmp_dir);
	while (top && (e = readdir(top))) {
		char *path;
		struct stat sb;

		if (e->d_name[0] == '.')
			continue;
		path = hz_path_join(s->tmp_dir, e->d_name);
		if (path && !stat(path, &sb) && now - sb.st_mtime > ORPHAN_AGE && !unlink(path)) {
			out->orphan_packs++;
			out->bytes_freed += (uint64_t)sb.st_size;
		}
		free(path);
	}
	if (top)
		closedir(top);
}

int store_gc(struct store *s, struct store_gc_result *out)
{
	struct db_stmt *st = NULL;
	char **dead = NULL;
	size_t ndead = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = db_begin(s);
	if (rc)
		return rc;
	rc = db_exec(s,
		"CREATE TEMP TABLE IF NOT EXISTS gc_files(id INTEGER PRIMARY KEY);"
		"CREATE TEMP TABLE IF NOT EXISTS gc_objects(id INTEGER PRIMARY KEY);"
		"DELETE FROM gc_files; DELETE FROM gc_objects;"
		"INSERT OR IGNORE INTO gc_files SELECT file_id FROM revision_files;"
		"INSERT OR IGNORE INTO gc_objects SELECT object_id FROM segments"
		" WHERE file_id IN (SELECT id FROM gc_files);"
		"INSERT OR IGNORE INTO gc_objects SELECT object_id FROM tensors"
		" WHERE file_id IN (SELECT id FROM gc_files);"
		"INSERT OR IGNORE INTO gc_objects SELECT DISTINCT base_object_id FROM blocks"
		" WHERE object_id IN (SELECT id FROM gc_objects) AND base_object_id IS NOT NULL;");
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
		rc = db_prepare(s, &st, "SELECT name, size FROM packs WHERE id NOT IN"
					" (SELECT DISTINCT pack_id FROM blocks)");
	while (!rc && db_step(st) == DB_ROW) {
		char **d = realloc(dead, (ndead + 1) * sizeof(*dead));

		if (!d || !(d[ndead] = hz_strdup((const char *)db_column_text(st, 0)))) {
			if (d)
				dead = d;
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		dead = d;
		ndead++;
		out->bytes_freed += (uint64_t)db_column_int64(st, 1);
	}
	db_finalize(st);
	if (!rc)
		rc = db_exec(s, "DELETE FROM packs WHERE id NOT IN (SELECT DISTINCT pack_id FROM blocks)");
	if (!rc)
		rc = count(s, "SELECT coalesce((SELECT sum(size) FROM packs), 0) -"
			      " coalesce((SELECT sum(enc_len) FROM blocks), 0) -"
			      " 32 * (SELECT count(*) FROM packs)", &out->dead_bytes_kept);
	if (!rc)
		rc = db_commit(s);
	if (rc) {
		db_rollback(s);
		goto out;
	}
	/* only now that no row names them */
	pack_fds_close(s);
	for (size_t i = 0; i < ndead; i++) {
		char *path = pack_path(s, dead[i]);

		if (path && !unlink(path))
			out->packs_deleted++;
		free(path);
	}
	remove_orphans(s, out);
	rc = store_lfs_pending_gc(s, 24 * 3600, &out->lfs_pending_deleted);
out:
	for (size_t i = 0; i < ndead; i++)
		free(dead[i]);
	free(dead);
	return rc;
}
