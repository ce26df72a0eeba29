/*
 * store/pin.c - the protocol between ingest sessions, gc and fsck: locks on
 * files of the store directory and each session's pins (store/pin_int.h
 * says which file does what; docs/format.md, "Garbage collection while
 * writing", says why it is enough).
 *
 * The argument in short: a session reuses a stored object (or file, or
 * delta base) only if it found it while holding LOCK_GC shared and
 * recorded it in its pins file before letting go; gc reads the pins of
 * live sessions, marks what they name live, and deletes, all while it
 * holds LOCK_GC exclusive.  So a session's lookup either ran before gc
 * took the lock (gc then sees its pin) or after gc committed (the lookup
 * then sees gc's deletions and the session stores its own copy).
 */
#include "store/pin_int.h"
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"

static const char *const lock_names[LOCK_COUNT] = { "gate", "gc", "fsck" };

/* s's descriptor of lock file i, opened (and created) on first use. */
static int lock_fd(struct store *s, int i, int *out)
{
	char rel[32], *dir, *path;
	int fd;

	if (s->lock_fd[i] >= 0) {
		*out = s->lock_fd[i];
		return 0;
	}
	dir = hz_path_join(s->dir, "objects/locks");
	snprintf(rel, sizeof(rel), "objects/locks/%s", lock_names[i]);
	path = hz_path_join(s->dir, rel);
	if (!dir || !path) {
		free(dir);
		free(path);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	fd = hz_mkdir_p(dir) ? -1 : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(dir);
	if (fd < 0) {
		int rc = hz_error_set_errno(HZ_ERROR, "cannot open lock '%s'", path);

		free(path);
		return rc;
	}
	free(path);
	s->lock_fd[i] = fd;
	*out = fd;
	return 0;
}

static int do_flock(int fd, int op, const char *what)
{
	while (flock(fd, op)) {
		if (errno == EINTR)
			continue;
		return hz_error_set_errno(HZ_ERROR, "cannot lock %s", what);
	}
	return 0;
}

static void unlock(struct store *s, int i)
{
	if (s->lock_fd[i] >= 0)
		flock(s->lock_fd[i], LOCK_UN);
}

void pin_locks_close(struct store *s)
{
	for (int i = 0; i < LOCK_COUNT; i++) {
		if (s->lock_fd[i] >= 0)
			close(s->lock_fd[i]);
		s->lock_fd[i] = -1;
	}
}

/* ---- sessions ----------------------------------------------------------- */

void pin_set_init(struct pin_set *p)
{
	p->fd = -1;
	p->path = NULL;
}

void pin_set_release(struct pin_set *p)
{
	/* unlinked while still locked: gc never mistakes it for a dead one */
	if (p->path)
		unlink(p->path);
	if (p->fd >= 0)
		close(p->fd);
	free(p->path);
	pin_set_init(p);
}

int pin_lock(struct store *s)
{
	int gate, gc, rc;

	rc = lock_fd(s, LOCK_GATE, &gate);
	if (!rc)
		rc = lock_fd(s, LOCK_GC, &gc);
	if (!rc)
		rc = do_flock(gate, LOCK_SH, "the gc gate");
	if (rc)
		return rc;
	rc = do_flock(gc, LOCK_SH, "the gc lock");
	flock(gate, LOCK_UN);
	return rc;
}

void pin_unlock(struct store *s)
{
	unlock(s, LOCK_GC);
}

int pin_lock_fd(int fd, const char *what)
{
	return do_flock(fd, LOCK_EX | LOCK_NB, what);
}

int pin_add(struct store *s, struct pin_set *p, char kind, int64_t id)
{
	char line[40];
	int n, rc;

	if (p->fd < 0) {
		uint8_t r[16];
		char name[48];

		rc = hz_random(r, sizeof(r));
		if (rc)
			return rc;
		hz_hex(name, r, sizeof(r));
		snprintf(name + 2 * sizeof(r), sizeof(name) - 2 * sizeof(r), ".pins");
		p->path = hz_path_join(s->tmp_dir, name);
		if (!p->path)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		p->fd = open(p->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
		if (p->fd < 0) {
			rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", p->path);
			free(p->path);
			p->path = NULL;
			return rc;
		}
		/* under pin_lock: gc cannot see it before it is locked */
		rc = pin_lock_fd(p->fd, "a pins file");
		if (rc) {
			pin_set_release(p);
			return rc;
		}
	}
	n = snprintf(line, sizeof(line), "%c %" PRId64 "\n", kind, id);
	/* not fsynced: a crash ends the session, and its pins with it */
	rc = hz_write_all(p->fd, line, (size_t)n);
	if (rc)
		return hz_error_set(rc, "cannot write the session's pins: %s",
				    rc == HZ_ENOSPC ? "no space left on device" : "write failed");
	return 0;
}

int pin_base(struct store *s, struct pin_set *p, int64_t id, uint64_t size, int dtype)
{
	struct db_stmt *st = NULL;
	int rc = pin_lock(s), found = 0;

	if (rc)
		return rc;
	rc = db_prepare(s, &st, "SELECT 1 FROM objects WHERE id = ? AND size = ? AND dtype = ?"
				" AND base_object_id IS NULL");
	if (!rc) {
		int step;

		db_bind_int64(st, 1, id);
		db_bind_int64(st, 2, (int64_t)size);
		db_bind_int(st, 3, dtype);
		step = db_step(st);
		if (step == DB_ROW)
			found = 1;
		else if (step != DB_DONE)
			rc = db_error(s, "cannot check a delta base");
		db_finalize(st);
	}
	if (!rc && found)
		rc = pin_add(s, p, 'o', id);
	pin_unlock(s);
	return rc ? rc : found;
}

/* ---- gc ------------------------------------------------------------------ */

int pin_gc_begin(struct store *s, int *out_fd)
{
	char *dir = hz_path_join(s->dir, "objects/locks");
	char *path = hz_path_join(s->dir, "objects/locks/gc-run");
	int fd = -1, rc = 0;

	*out_fd = -1;
	if (!dir || !path)
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	if (!rc)
		rc = hz_mkdir_p(dir);
	if (!rc && (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		rc = hz_error_set_errno(HZ_ERROR, "cannot open lock '%s'", path);
	free(dir);
	free(path);
	if (!rc)
		rc = do_flock(fd, LOCK_EX, "the gc run lock");
	if (rc) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*out_fd = fd;
	return 0;
}

void pin_gc_end(int fd)
{
	if (fd >= 0)
		close(fd);
}

int pin_gc_lock(struct store *s)
{
	int gate, gc, rc;

	rc = lock_fd(s, LOCK_GATE, &gate);
	if (!rc)
		rc = lock_fd(s, LOCK_GC, &gc);
	if (!rc)
		rc = do_flock(gate, LOCK_EX, "the gc gate");
	if (rc)
		return rc;
	rc = do_flock(gc, LOCK_EX, "the gc lock");
	if (rc)
		flock(gate, LOCK_UN);
	return rc;
}

void pin_gc_unlock(struct store *s)
{
	unlock(s, LOCK_GC);
	unlock(s, LOCK_GATE);
}

int pin_probe(const char *path, int *fd_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*fd_out = -1;
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return 1;
	}
	*fd_out = fd;
	return 0;
}

/* Adds the ids of one live session's pins file to the TEMP tables. */
static int load_one(struct store *s, int fd, struct db_stmt *obj, struct db_stmt *file)
{
	FILE *f = fdopen(fd, "r");
	char line[64];
	int rc = 0;

	if (!f) {
		close(fd);
		return hz_error_set_errno(HZ_ERROR, "cannot read a pins file");
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char kind;
		int64_t id;
		struct db_stmt *st;

		if (sscanf(line, "%c %" SCNd64, &kind, &id) != 2 || (kind != 'o' && kind != 'f'))
			continue; /* a line being written: its lookup is not over */
		st = kind == 'o' ? obj : file;
		db_bind_int64(st, 1, id);
		if (db_step(st) != DB_DONE)
			rc = db_error(s, "cannot record a pin");
		db_reset(st);
	}
	fclose(f);
	return rc;
}

int pin_gc_load(struct store *s, uint64_t *out_removed)
{
	struct db_stmt *obj = NULL, *file = NULL;
	struct dirent *e;
	DIR *d;
	int rc;

	*out_removed = 0;
	rc = db_prepare(s, &obj, "INSERT INTO gc_objects(id) VALUES (?) ON CONFLICT DO NOTHING");
	if (!rc)
		rc = db_prepare(s, &file, "INSERT INTO gc_files(id) VALUES (?) ON CONFLICT DO NOTHING");
	d = rc ? NULL : opendir(s->tmp_dir);
	while (!rc && d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char *path;
		int fd, live;

		if (n < 6 || strcmp(e->d_name + n - 5, ".pins"))
			continue;
		path = hz_path_join(s->tmp_dir, e->d_name);
		if (!path) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		live = pin_probe(path, &fd);
		if (live == 0) { /* its session died: nothing to keep */
			if (!unlink(path))
				(*out_removed)++;
			close(fd);
		} else if (live == 1) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				rc = load_one(s, fd, obj, file);
		}
		free(path);
	}
	if (d)
		closedir(d);
	db_finalize(obj);
	db_finalize(file);
	return rc;
}

/* ---- fsck ---------------------------------------------------------------- */

int pin_fsck_lock(struct store *s)
{
	int fd, rc = lock_fd(s, LOCK_FSCK, &fd);

	return rc ? rc : do_flock(fd, LOCK_SH, "the fsck lock");
}

void pin_fsck_unlock(struct store *s)
{
	unlock(s, LOCK_FSCK);
}

int pin_fsck_try_exclusive(struct store *s)
{
	int fd;

	if (lock_fd(s, LOCK_FSCK, &fd))
		return 0;
	return flock(fd, LOCK_EX | LOCK_NB) ? 0 : 1;
}
