/*
 * store/repo.c - repos as the daemon sees them: created empty, of a type,
 * public or private; their revisions and branches; spool files for uploads.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

static const char *type_name(int type)
{
	return type == STORE_REPO_DATASET ? "dataset" : "model";
}

int store_repo_create(struct store *s, const char *repo, int type, int is_private)
{
	struct db_stmt *st = NULL;
	int rc = store_repo_name_check(repo);

	if (rc)
		return rc;
	if (type != STORE_REPO_MODEL && type != STORE_REPO_DATASET)
		return hz_error_set(HZ_EINVAL, "invalid repo type");
	rc = db_prepare(s, &st, "INSERT INTO repos(name, created_at, private, type)"
				" VALUES (?,?,?,?)");
	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	db_bind_int64(st, 2, hz_now());
	db_bind_int(st, 3, !!is_private);
	db_bind_text(st, 4, type_name(type), -1);
	if (db_step(st) != DB_DONE) {
		if (db_errcode(s) == DB_CONSTRAINT)
			rc = hz_error_set(HZ_EEXISTS, "repo '%s' exists", repo);
		else
			rc = db_error(s, "cannot create repo");
	}
	db_finalize(st);
	return rc;
}

int store_repo_info(struct store *s, struct store_repo_info *out, const char *repo)
{
	struct db_stmt *st = NULL;
	int rc = store_repo_name_check(repo);

	if (rc)
		return rc;
	rc = db_prepare(s, &st, "SELECT type, private, created_at FROM repos WHERE name = ?");
	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	if (db_step(st) == DB_ROW) {
		const char *t = (const char *)db_column_text(st, 0);

		out->type = t && !strcmp(t, "dataset") ? STORE_REPO_DATASET : STORE_REPO_MODEL;
		out->is_private = db_column_int(st, 1);
		out->created_at = db_column_int64(st, 2);
	} else {
		rc = hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);
	}
	db_finalize(st);
	return rc;
}

int store_repo_set_private(struct store *s, const char *repo, int is_private)
{
	struct db_stmt *st = NULL;
	int rc = store_repo_name_check(repo);

	if (!rc)
		rc = db_prepare(s, &st, "UPDATE repos SET private = ? WHERE name = ?");
	if (rc)
		return rc;
	db_bind_int(st, 1, !!is_private);
	db_bind_text(st, 2, repo, -1);
	if (db_step(st) != DB_DONE)
		rc = db_error(s, "cannot update repo");
	else if (!db_changes(s))
		rc = hz_error_set(HZ_ENOTFOUND, "repo '%s' not found", repo);
	db_finalize(st);
	return rc;
}

int store_revisions_each(struct store *s, const char *repo,
			 int (*fn)(void *payload, const struct store_revision *rev,
				   const char *message),
			 void *payload)
{
	struct store_repo_info info;
	struct db_stmt *st = NULL;
	int rc = store_repo_info(s, &info, repo), step = DB_DONE;

	if (!rc)
		rc = db_prepare(s, &st,
				"SELECT v.commit_id, v.created_at, v.message,"
				" (SELECT count(*) FROM revision_files f WHERE f.revision_id = v.id),"
				" (SELECT coalesce(sum(fl.size), 0) FROM revision_files f"
				"  JOIN files fl ON fl.id = f.file_id WHERE f.revision_id = v.id)"
				" FROM revisions v JOIN repos r ON r.id = v.repo_id"
				" WHERE r.name = ? ORDER BY v.id DESC");
	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	while (!rc && (step = db_step(st)) == DB_ROW) {
		struct store_revision r;

		memset(&r, 0, sizeof(r));
		snprintf(r.commit, sizeof(r.commit), "%s", (const char *)db_column_text(st, 0));
		r.created_at = db_column_int64(st, 1);
		r.nfiles = (uint64_t)db_column_int64(st, 3);
		r.size = (uint64_t)db_column_int64(st, 4);
		rc = fn(payload, &r, (const char *)db_column_text(st, 2));
	}
	if (!rc && step != DB_DONE)
		rc = db_error(s, "cannot list revisions");
	db_finalize(st);
	return rc;
}

int store_refs_each(struct store *s, const char *repo,
		    int (*fn)(void *payload, const char *name, const char *commit),
		    void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT f.name, v.commit_id FROM refs f"
				    " JOIN repos r ON r.id = f.repo_id"
				    " JOIN revisions v ON v.id = f.revision_id"
				    " WHERE r.name = ? ORDER BY f.name");
	int step = DB_DONE;

	if (rc)
		return rc;
	db_bind_text(st, 1, repo, -1);
	while (!rc && (step = db_step(st)) == DB_ROW)
		rc = fn(payload, (const char *)db_column_text(st, 0),
			(const char *)db_column_text(st, 1));
	if (!rc && step != DB_DONE)
		rc = db_error(s, "cannot list branches");
	db_finalize(st);
	return rc;
}

int store_spool_open(struct store *s, int *out_fd)
{
	int fd = open(s->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* no O_TMPFILE on this file system: a named file, unlinked */
		size_t n = strlen(s->tmp_dir) + 32;
		char *path = malloc(n);

		if (!path)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		snprintf(path, n, "%s/spool.XXXXXX", s->tmp_dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
		free(path);
	}
	if (fd < 0)
		return hz_error_set_errno(HZ_ERROR, "cannot create a spool file in '%s'",
					  s->tmp_dir);
	*out_fd = fd;
	return 0;
}
