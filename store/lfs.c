/*
 * store/lfs.c - what the Git LFS side of the daemon needs from the store:
 * whether a file with a given SHA-256 is stored, the store's secret key
 * for signed URLs, and pending LFS objects.
 *
 * A pending LFS object is the verified bytes of one upload that no
 * revision holds yet: DIR/objects/lfs-pending/<sha256 hex>, written to an
 * O_TMPFILE spool, fsynced, then linked into place (an existing name is
 * the same bytes, since the name is their hash).  A later commit ingests
 * it and removes it; store_gc removes those older than a day.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#define KEY_FILE "secret.key"
#define PENDING_DIR "objects/lfs-pending"

int store_file_exists_by_sha256(struct store *s, const uint8_t sha[HZ_SHA256_LEN],
				uint64_t *out_size)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT size FROM files WHERE sha256 = ?");

	if (rc)
		return rc;
	db_bind_blob(st, 1, sha, HZ_SHA256_LEN);
	switch (db_step(st)) {
	case DB_ROW:
		if (out_size)
			*out_size = (uint64_t)db_column_int64(st, 0);
		rc = 1;
		break;
	case DB_DONE:
		rc = 0;
		break;
	default:
		rc = db_error(s, "cannot look a file up");
	}
	db_finalize(st);
	return rc;
}

int store_file_repos_each(struct store *s, const uint8_t sha[HZ_SHA256_LEN],
			  int (*fn)(void *payload, const char *repo, int is_private),
			  void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st,
			    "SELECT DISTINCT r.name, r.private FROM files f"
			    " JOIN revision_files rf ON rf.file_id = f.id"
			    " JOIN revisions v ON v.id = rf.revision_id"
			    " JOIN repos r ON r.id = v.repo_id WHERE f.sha256 = ?"
			    " ORDER BY r.name");
	int step;

	if (rc)
		return rc;
	db_bind_blob(st, 1, sha, HZ_SHA256_LEN);
	while ((step = db_step(st)) == DB_ROW) {
		rc = fn(payload, (const char *)db_column_text(st, 0),
			db_column_int(st, 1));
		if (rc)
			break;
	}
	if (!rc && step != DB_DONE)
		rc = db_error(s, "cannot list the repos of a file");
	db_finalize(st);
	return rc;
}

static int key_read(const char *path, uint8_t out[STORE_KEY_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat sb;

	if (fd < 0)
		return errno == ENOENT ? HZ_ENOTFOUND
				       : hz_error_set_errno(HZ_ERROR, "cannot open '%s'", path);
	if (fstat(fd, &sb) || sb.st_size != STORE_KEY_LEN)
		rc = hz_error_set(HZ_ECORRUPT, "'%s' is not a %d-byte key", path, STORE_KEY_LEN);
	else
		rc = hz_pread_all(fd, out, STORE_KEY_LEN, 0);
	close(fd);
	return rc;
}

/* Creates the key file: random bytes in a temporary file, fsynced, linked
 * into place; when another process won the race, its key is read. */
static int key_create(struct store *s, const char *path, uint8_t out[STORE_KEY_LEN])
{
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	int fd = -1, rc;

	if (!tmp)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	snprintf(tmp, n, "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", tmp);
		goto out_free;
	}
	rc = hz_random(out, STORE_KEY_LEN);
	if (!rc)
		rc = hz_write_all(fd, out, STORE_KEY_LEN);
	if (!rc && fsync(fd))
		rc = hz_error_set_errno(HZ_ERROR, "cannot fsync '%s'", tmp);
	if (!rc && link(tmp, path)) {
		if (errno == EEXIST)
			rc = key_read(path, out);
		else
			rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", path);
	}
	if (!rc)
		rc = hz_fsync_dir(s->dir);
	close(fd);
	unlink(tmp);
out_free:
	free(tmp);
	return rc;
}

int store_secret_key(struct store *s, uint8_t out[STORE_KEY_LEN])
{
	char *path;
	int rc;

	if (s->have_key) {
		memcpy(out, s->key, STORE_KEY_LEN);
		return 0;
	}
	path = hz_path_join(s->dir, KEY_FILE);
	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	rc = key_read(path, s->key);
	if (rc == HZ_ENOTFOUND)
		rc = key_create(s, path, s->key);
	free(path);
	if (rc)
		return rc;
	s->have_key = 1;
	memcpy(out, s->key, STORE_KEY_LEN);
	return 0;
}

/* DIR/objects/lfs-pending[/<hex>] (malloc'd), or NULL. */
static char *pending_path(struct store *s, const uint8_t *sha)
{
	char rel[sizeof(PENDING_DIR) + HZ_SHA256_HEX + 1];

	if (sha) {
		char hex[HZ_SHA256_HEX];

		hz_hex(hex, sha, HZ_SHA256_LEN);
		snprintf(rel, sizeof(rel), "%s/%s", PENDING_DIR, hex);
	} else {
		snprintf(rel, sizeof(rel), "%s", PENDING_DIR);
	}
	return hz_path_join(s->dir, rel);
}

/* Copies the bytes of fd to a temporary file beside path, fsyncs it and
 * renames it to path. */
static int pending_copy(int fd, const char *path)
{
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n), *buf = malloc(1u << 16);
	uint64_t off = 0;
	ssize_t got;
	int out = -1, rc = 0;

	if (!tmp || !buf) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out_free;
	}
	snprintf(tmp, n, "%s.XXXXXX", path);
	out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", tmp);
		goto out_free;
	}
	while ((got = pread(fd, buf, 1u << 16, (off_t)off)) > 0) {
		rc = hz_write_all(out, buf, (size_t)got);
		if (rc)
			break;
		off += (uint64_t)got;
	}
	if (!rc && got < 0)
		rc = hz_error_set_errno(HZ_ERROR, "cannot read a spool file");
	if (!rc && fsync(out))
		rc = hz_error_set_errno(errno == ENOSPC ? HZ_ENOSPC : HZ_ERROR,
					"cannot fsync '%s'", tmp);
	if (!rc && rename(tmp, path))
		rc = hz_error_set_errno(HZ_ERROR, "cannot rename '%s'", tmp);
	close(out);
	if (rc)
		unlink(tmp);
out_free:
	free(tmp);
	free(buf);
	return rc;
}

int store_lfs_pending_keep(struct store *s, int fd, const uint8_t sha[HZ_SHA256_LEN])
{
	char *dir = pending_path(s, NULL), *path = pending_path(s, sha);
	char proc[64];
	int rc = 0;

	if (!dir || !path) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	if (fsync(fd)) {
		rc = hz_error_set_errno(errno == ENOSPC ? HZ_ENOSPC : HZ_ERROR,
					"cannot fsync a pending LFS object");
		goto out;
	}
	rc = hz_mkdir_p(dir);
	if (rc)
		goto out;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) && errno != EEXIST) {
		/* no O_TMPFILE here (the spool was unlinked at once, or /proc
		 * is missing): copy it */
		rc = pending_copy(fd, path);
		if (rc)
			goto out;
	}
	rc = hz_fsync_dir(dir);
out:
	free(dir);
	free(path);
	return rc;
}

int store_lfs_pending_open(struct store *s, const uint8_t sha[HZ_SHA256_LEN], int *out_fd,
			   uint64_t *out_size)
{
	char *path = pending_path(s, sha);
	struct stat sb;
	int fd, rc = 0;

	*out_fd = -1;
	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? hz_error_set(HZ_ENOTFOUND, "no pending LFS object")
				     : hz_error_set_errno(HZ_ERROR, "cannot open '%s'", path);
	} else if (fstat(fd, &sb)) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot stat '%s'", path);
		close(fd);
	} else {
		*out_fd = fd;
		if (out_size)
			*out_size = (uint64_t)sb.st_size;
	}
	free(path);
	return rc;
}

int store_lfs_pending_remove(struct store *s, const uint8_t sha[HZ_SHA256_LEN])
{
	char *path = pending_path(s, sha);
	int rc = 0;

	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (unlink(path) && errno != ENOENT)
		rc = hz_error_set_errno(HZ_ERROR, "cannot remove '%s'", path);
	free(path);
	return rc;
}

int store_lfs_pending_gc(struct store *s, int64_t max_age, uint64_t *out_removed)
{
	char *dir = pending_path(s, NULL);
	int64_t now = hz_now();
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*out_removed = 0;
	if (!dir)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	d = opendir(dir);
	if (!d) {
		if (errno != ENOENT)
			rc = hz_error_set_errno(HZ_ERROR, "cannot open '%s'", dir);
		goto out;
	}
	while ((de = readdir(d))) {
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) || !S_ISREG(sb.st_mode))
			continue;
		if (now - (int64_t)sb.st_mtime < max_age)
			continue;
		if (!unlinkat(dirfd(d), de->d_name, 0))
			(*out_removed)++;
	}
	closedir(d);
out:
	free(dir);
	return rc;
}
