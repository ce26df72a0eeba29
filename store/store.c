/*
 * store/store.c - opening a store directory, and the names it accepts.
 */
#include "store/pin_int.h"
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/utf8.h"
#include "delta/delta.h"

static char *index_spec;	/* store_index_set; NULL: DIR/hubzip.db */

int store_index_set(const char *spec)
{
	char *copy = NULL;

	if (spec && *spec && !db_spec_is_postgres(spec))
		return hz_error_set(HZ_EINVAL, "index '%s': not a postgresql:// or postgres:// URL",
				    spec);
	if (spec && *spec && !(copy = hz_strdup(spec)))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	free(index_spec);
	index_spec = copy;
	return 0;
}

const char *store_index_get(void)
{
	return index_spec;
}

int store_open(struct store **out, const char *dir, int create)
{
	struct store *s;
	struct stat st;
	char *dbpath = NULL;
	int rc;

	*out = NULL;
	if (stat(dir, &st)) {
		if (errno == ENOENT && !create)
			return hz_error_set(HZ_ENOTFOUND,
					    "no store at '%s' (run 'hubzip --store %s init')",
					    dir, dir);
		if (errno != ENOENT)
			return hz_error_set_errno(HZ_ERROR, "cannot open store '%s'", dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return hz_error_set(HZ_EINVAL, "store '%s' is not a directory", dir);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (int i = 0; i < LOCK_COUNT; i++)
		s->lock_fd[i] = -1;
	s->dir = hz_strdup(dir);
	s->packs_dir = hz_path_join(dir, "objects/packs");
	s->tmp_dir = hz_path_join(dir, "objects/tmp");
	dbpath = index_spec ? hz_strdup(index_spec) : hz_path_join(dir, DB_SQLITE_FILE);
	s->blk_buf = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	s->raw_buf = malloc(DELTA_BLOCK_MAX);
	s->base_buf = malloc(DELTA_BLOCK_MAX);
	s->dctx = delta_ctx_new(0);
	if (!s->dir || !s->packs_dir || !s->tmp_dir || !dbpath || !s->blk_buf ||
	    !s->raw_buf || !s->base_buf || !s->dctx) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto fail;
	}
	if (!create && !index_spec && access(dbpath, F_OK)) {
		rc = hz_error_set(HZ_ENOTFOUND,
				  "no store at '%s' (run 'hubzip --store %s init')",
				  dir, dir);
		goto fail;
	}
	if (create) {
		rc = hz_mkdir_p(s->packs_dir);
		if (!rc)
			rc = hz_mkdir_p(s->tmp_dir);
		if (rc)
			goto fail;
	}
	rc = blob_store_open(&s->blobs, dir, create);
	if (rc)
		goto fail;
	if (!strcmp(s->blobs->scheme, "file")) {
		/* file:///elsewhere: gc sweeps the packs where they are */
		char *packs = hz_path_join(blob_where(s->blobs), "packs");

		if (!packs) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			goto fail;
		}
		free(s->packs_dir);
		s->packs_dir = packs;
	}
	rc = db_open(s, dbpath, 1);
	if (!rc && !create && index_spec) {
		int version = 0;

		rc = migrate_version(s, &version);
		if (!rc && !version)
			rc = hz_error_set(HZ_ENOTFOUND,
					  "the index has no hubzip schema (run 'hubzip --index URL"
					  " --store %s init')", dir);
	}
	if (!rc)
		rc = migrate_apply(s);
	if (rc)
		goto fail;
	free(dbpath);
	*out = s;
	return 0;
fail:
	free(dbpath);
	store_free(s);
	return rc;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	pack_fds_close(s);
	pin_locks_close(s);
	db_finalize(s->base_stmt);
	db_finalize(s->pack_name_stmt);
	db_close(s->db);
	delta_ctx_free(s->dctx);
	free(s->blk_buf);
	free(s->raw_buf);
	free(s->base_buf);
	free(s->dir);
	free(s->packs_dir);
	free(s->tmp_dir);
	blob_free(s->blobs);
	free(s);
}

int store_schema_version(struct store *s)
{
	return s->schema_version;
}

/* An untrusted name in a message: its first SHOW_MAX bytes, and "..." if
 * there is more (so that the reason after it is not cut off). */
#define SHOW_MAX 100
#define SHOW(s) SHOW_MAX, (s), strlen(s) > SHOW_MAX ? "..." : ""

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* One repo-name part: 1..96 of [A-Za-z0-9._-], not starting or ending with
 * '.' or '-', no "--" or "..", as the hub requires. */
static int name_part_check(const char *p, size_t n, const char *whole)
{
	size_t i;

	if (n == 0 || n > 96)
		return hz_error_set(HZ_EINVAL, "invalid repo id '%.*s%s': each part must be 1 to 96 characters", SHOW(whole));
	for (i = 0; i < n; i++)
		if (!name_char(p[i]))
			return hz_error_set(HZ_EINVAL, "invalid repo id '%.*s%s': only letters, digits, '-', '_' and '.' are allowed", SHOW(whole));
	if (p[0] == '.' || p[0] == '-' || p[n - 1] == '.' || p[n - 1] == '-')
		return hz_error_set(HZ_EINVAL, "invalid repo id '%.*s%s': a part cannot start or end with '.' or '-'", SHOW(whole));
	for (i = 0; i + 1 < n; i++)
		if ((p[i] == '.' && p[i + 1] == '.') || (p[i] == '-' && p[i + 1] == '-'))
			return hz_error_set(HZ_EINVAL, "invalid repo id '%.*s%s': '..' and '--' are not allowed", SHOW(whole));
	return 0;
}

int store_repo_name_check(const char *repo)
{
	const char *slash = strchr(repo, '/');

	if (!slash)
		return name_part_check(repo, strlen(repo), repo);
	if (strchr(slash + 1, '/'))
		return hz_error_set(HZ_EINVAL, "invalid repo id '%.*s%s': at most one '/'", SHOW(repo));
	if (name_part_check(repo, (size_t)(slash - repo), repo))
		return HZ_EINVAL;
	return name_part_check(slash + 1, strlen(slash + 1), repo);
}

int store_ref_name_check(const char *ref)
{
	size_t n = strlen(ref), i;

	if (n == 0 || n > 255)
		return hz_error_set(HZ_EINVAL, "invalid branch name '%.*s%s': 1 to 255 characters", SHOW(ref));
	for (i = 0; i < n; i++) {
		char c = ref[i];

		if (!name_char(c) && c != '/')
			return hz_error_set(HZ_EINVAL, "invalid branch name '%.*s%s': only letters, digits, '-', '_', '.' and '/'", SHOW(ref));
	}
	if (ref[0] == '/' || ref[n - 1] == '/' || ref[0] == '.' || strstr(ref, "//") ||
	    strstr(ref, ".."))
		return hz_error_set(HZ_EINVAL, "invalid branch name '%.*s%s'", SHOW(ref));
	return 0;
}

int store_path_check(const char *path)
{
	size_t n = strlen(path);
	const char *seg = path, *p;

	if (n == 0 || n > 4096)
		return hz_error_set(HZ_EINVAL, "invalid path '%.*s%s': 1 to 4096 bytes", SHOW(path));
	for (p = path;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t len = (size_t)(p - seg);

			if (len == 0)
				return hz_error_set(HZ_EINVAL, "invalid path '%.*s%s': empty segment", SHOW(path));
			if ((len == 1 && seg[0] == '.') ||
			    (len == 2 && seg[0] == '.' && seg[1] == '.'))
				return hz_error_set(HZ_EINVAL, "invalid path '%.*s%s': '.' and '..' segments are not allowed", SHOW(path));
			if (!*p)
				break;
			seg = p + 1;
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
			return hz_error_set(HZ_EINVAL, "invalid path: control character or backslash");
		}
	}
	/* paths are JSON strings in every listing: a byte that is not
	 * UTF-8 would make them unlistable */
	if (!hz_utf8_valid(path, n))
		return hz_error_set(HZ_EINVAL, "invalid path: not UTF-8");
	return 0;
}
