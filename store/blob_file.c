/*
 * store/blob_file.c - the local blob backend: objects are files under a
 * root directory (DIR/objects by default), key "packs/ab/ab..ef.pack" at
 * ROOT/packs/ab/ab..ef.pack.  put() fsyncs the finished file and renames
 * it into place, fsyncing the directories (a copy when the root is on
 * another file system); reads use pread on descriptors kept in a small
 * LRU cache.
 */
#include "store/blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"

#define FD_CACHE 32

struct cached_fd {
	char *key;
	int fd;
	uint64_t last_use;
};

struct blob_file {
	struct blob_backend base;
	char *root;
	struct cached_fd fds[FD_CACHE];
	uint64_t clock;
};

static char *key_path(struct blob_file *f, const char *key)
{
	return hz_path_join(f->root, key);
}

/* the directory part of path (malloc'd) */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? strndup(path, (size_t)(slash - path)) : hz_strdup(".");
}

/* Copies src to dst (created, fsynced): for a root on another file system. */
static int copy_file(const char *src, const char *dst)
{
	char buf[1 << 16];
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	ssize_t n;

	if (in < 0)
		return hz_error_set_errno(HZ_ERROR, "cannot open '%s'", src);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (out < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", dst);
		goto out;
	}
	while (!rc && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = hz_error_set_errno(HZ_ERROR, "cannot read '%s'", src);
		} else {
			rc = hz_write_all(out, buf, (size_t)n);
			if (rc)
				hz_error_set(rc, "cannot write '%s'", dst);
		}
	}
	if (!rc && fsync(out))
		rc = hz_error_set_errno(HZ_ERROR, "cannot fsync '%s'", dst);
out:
	if (out >= 0)
		close(out);
	close(in);
	if (rc && out >= 0)
		unlink(dst);
	return rc;
}

static int file_put(struct blob_backend *b, const char *key, const char *path, uint64_t size)
{
	struct blob_file *f = (struct blob_file *)b;
	char *dst = key_path(f, key), *dir = dst ? dir_of(dst) : NULL, *parent = NULL;
	int fd, rc = 0;

	if (!dst || !dir || !(parent = dir_of(dir))) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd)) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot fsync '%s'", path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	rc = hz_mkdir_p(dir);
	if (rc)
		goto out;
	if (rename(path, dst)) {
		char *tmp = NULL;

		if (errno != EXDEV) {
			rc = hz_error_set_errno(HZ_ERROR, "cannot move '%s' into place", key);
			goto out;
		}
		/* another file system: copy beside the target, then rename */
		if (asprintf(&tmp, "%s.tmp", dst) < 0) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			goto out;
		}
		rc = copy_file(path, tmp);
		if (!rc && rename(tmp, dst))
			rc = hz_error_set_errno(HZ_ERROR, "cannot move '%s' into place", key);
		if (rc)
			unlink(tmp);
		else
			unlink(path);
		free(tmp);
		if (rc)
			goto out;
	}
	rc = hz_fsync_dir(dir);
	if (!rc)
		rc = hz_fsync_dir(parent); /* the XX/ directory may be new */
	if (!rc)
		blob_count("file", BLOB_OP_PUT, 0, size);
out:
	free(parent);
	free(dir);
	free(dst);
	return rc;
}

static void fd_drop(struct cached_fd *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->key);
	c->key = NULL;
}

static int fd_get(struct blob_file *f, const char *key, int *out)
{
	struct cached_fd *victim = &f->fds[0];
	char *path;
	int fd;

	for (int i = 0; i < FD_CACHE; i++) {
		struct cached_fd *c = &f->fds[i];

		if (c->fd >= 0 && !strcmp(c->key, key)) {
			c->last_use = ++f->clock;
			*out = c->fd;
			return 0;
		}
		if (c->fd < 0 || (victim->fd >= 0 && c->last_use < victim->last_use))
			victim = c;
	}
	path = key_path(f, key);
	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = hz_error_set_errno(errno == ENOENT ? HZ_ENOTFOUND : HZ_ERROR,
					    "cannot open '%s'", path);

		free(path);
		return rc;
	}
	free(path);
	fd_drop(victim);
	victim->key = hz_strdup(key);
	if (!victim->key) {
		close(fd);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	victim->fd = fd;
	victim->last_use = ++f->clock;
	*out = fd;
	return 0;
}

static int file_read(struct blob_backend *b, const char *key, uint64_t off, void *buf,
		     size_t len)
{
	struct blob_file *f = (struct blob_file *)b;
	int fd = -1, rc = fd_get(f, key, &fd);

	if (rc)
		return rc;
	rc = hz_pread_all(fd, buf, len, off);
	if (rc)
		return hz_error_set(HZ_ECORRUPT, "'%s' is truncated or unreadable at %llu+%zu",
				    key, (unsigned long long)off, len);
	blob_count("file", BLOB_OP_GET, len, 0);
	return 0;
}

static int file_stat(struct blob_backend *b, const char *key, uint64_t *out_size)
{
	struct blob_file *f = (struct blob_file *)b;
	char *path = key_path(f, key);
	struct stat sb;
	int rc = 0;

	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (stat(path, &sb))
		rc = hz_error_set_errno(errno == ENOENT ? HZ_ENOTFOUND : HZ_ERROR,
					"cannot stat '%s'", path);
	else
		*out_size = (uint64_t)sb.st_size;
	free(path);
	blob_count("file", BLOB_OP_HEAD, 0, 0);
	return rc;
}

static int file_remove(struct blob_backend *b, const char *key)
{
	struct blob_file *f = (struct blob_file *)b;
	char *path = key_path(f, key);
	int rc = 0;

	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (int i = 0; i < FD_CACHE; i++)
		if (f->fds[i].fd >= 0 && !strcmp(f->fds[i].key, key))
			fd_drop(&f->fds[i]);
	if (unlink(path) && errno != ENOENT)
		rc = hz_error_set_errno(HZ_ERROR, "cannot remove '%s'", path);
	free(path);
	blob_count("file", BLOB_OP_DELETE, 0, 0);
	return rc;
}

struct walk {
	struct blob_file *f;
	const char *prefix;
	int (*fn)(void *payload, const struct blob_info *info);
	void *payload;
};

/* Reports the files under ROOT/rel (rel "" or ending in '/') whose keys
 * start with the prefix. */
static int walk_dir(struct walk *w, const char *rel, int depth)
{
	char *dir = hz_path_join(w->f->root, rel);
	size_t plen = strlen(w->prefix), rlen = strlen(rel);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!dir) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	if (!d) {
		if (errno != ENOENT)
			rc = hz_error_set_errno(HZ_ERROR, "cannot list '%s'", dir);
		goto out;
	}
	while (!rc && (e = readdir(d))) {
		char *key = NULL, *path;
		struct stat sb;
		size_t n = rlen < plen ? rlen : plen;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&key, "%s%s", rel, e->d_name) < 0) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		path = hz_path_join(w->f->root, key);
		if (path && !lstat(path, &sb)) {
			size_t klen = strlen(key);

			n = klen < plen ? klen : plen;
			if (S_ISDIR(sb.st_mode) && depth < 8 && !strncmp(key, w->prefix, n)) {
				char *sub = NULL;

				if (asprintf(&sub, "%s/", key) < 0)
					rc = hz_error_set(HZ_ENOMEM, "out of memory");
				else
					rc = walk_dir(w, sub, depth + 1);
				free(sub);
			} else if (S_ISREG(sb.st_mode) && klen >= plen &&
				   !strncmp(key, w->prefix, plen)) {
				struct blob_info info = { key, (uint64_t)sb.st_size,
							  (int64_t)sb.st_mtime };

				rc = w->fn(w->payload, &info);
			}
		}
		free(path);
		free(key);
	}
out:
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

static int file_list(struct blob_backend *b, const char *prefix,
		     int (*fn)(void *payload, const struct blob_info *info), void *payload)
{
	struct walk w = { (struct blob_file *)b, prefix, fn, payload };

	blob_count("file", BLOB_OP_LIST, 0, 0);
	return walk_dir(&w, "", 0);
}

static int file_init(struct blob_backend *b)
{
	struct blob_file *f = (struct blob_file *)b;
	char *packs = hz_path_join(f->root, "packs");
	int rc = packs ? hz_mkdir_p(packs) : hz_error_set(HZ_ENOMEM, "out of memory");

	free(packs);
	return rc;
}

static void file_drop_cache(struct blob_backend *b)
{
	struct blob_file *f = (struct blob_file *)b;

	for (int i = 0; i < FD_CACHE; i++)
		fd_drop(&f->fds[i]);
}

static const char *file_where(struct blob_backend *b)
{
	return ((struct blob_file *)b)->root;
}

static void file_free(struct blob_backend *b)
{
	struct blob_file *f = (struct blob_file *)b;

	file_drop_cache(b);
	free(f->root);
	free(f);
}

int blob_file_open(struct blob_backend **out, const char *root)
{
	struct blob_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f || !(f->root = hz_strdup(root))) {
		free(f);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	/* "/srv/objects/" and "/srv/objects" name the same root */
	for (size_t n = strlen(f->root); n > 1 && f->root[n - 1] == '/'; n--)
		f->root[n - 1] = '\0';
	for (int i = 0; i < FD_CACHE; i++)
		f->fds[i].fd = -1;
	f->base.version = BLOB_BACKEND_VERSION;
	f->base.scheme = "file";
	f->base.put = file_put;
	f->base.read = file_read;
	f->base.stat = file_stat;
	f->base.remove = file_remove;
	f->base.list = file_list;
	f->base.init = file_init;
	f->base.drop_cache = file_drop_cache;
	f->base.where = file_where;
	f->base.free = file_free;
	*out = &f->base;
	return 0;
}
