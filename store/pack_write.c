/*
 * store/pack_write.c - writing a session's pack files.
 *
 * A session appends encoded blocks to packs under objects/tmp/; a pack is
 * closed past PACK_TARGET_SIZE and a new one started.  pack_set_finish
 * stores each pack in the blob backend (store/blob.h: fsynced and renamed
 * into objects/packs/XX/, fsyncing the directories, or uploaded to S3,
 * where a large pack's parts go up while it is still written) before the
 * index transaction that references it; until
 * pack_set_committed, pack_set_release removes them again.  Each pack is
 * flock'ed by the session from its creation until the commit (or its
 * removal), which is how gc tells a live session's pack from an orphan
 * (store/pin_int.h).
 */
#include "store/pin_int.h"
#include "store/store_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"

static int pack_start(struct store *s, struct pack_set *ps)
{
	struct pack_out *p;
	uint8_t name[16], hdr[PACK_HDR];
	char file[64];
	int rc;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 4;
		struct pack_out *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		ps->v = v;
		ps->cap = cap;
	}
	p = &ps->v[ps->n++];
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	rc = hz_random(name, sizeof(name));
	if (rc)
		return rc;
	hz_hex(p->name, name, sizeof(name));
	snprintf(file, sizeof(file), "%s.pack.tmp", p->name);
	p->tmp_path = hz_path_join(s->tmp_dir, file);
	if (!p->tmp_path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	/* created and locked under pin_lock: gc, which sweeps tmp/ holding
	 * the gc lock, never sees it unlocked while the session lives */
	rc = pin_lock(s);
	if (rc)
		return rc;
	p->fd = open(p->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (p->fd < 0)
		rc = hz_error_set_errno(HZ_ERROR, "cannot create pack '%s'", p->tmp_path);
	else
		rc = pin_lock_fd(p->fd, "a new pack");
	pin_unlock(s);
	if (rc)
		return rc;
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, PACK_MAGIC, 8);
	memcpy(hdr + 8, name, sizeof(name));
	rc = hz_write_all(p->fd, hdr, sizeof(hdr));
	if (rc)
		return hz_error_set(rc, "cannot write pack '%s': %s", p->name,
				    rc == HZ_ENOSPC ? "no space left on device" : "write failed");
	p->size = PACK_HDR;
	return 0;
}

int pack_set_append(struct store *s, struct pack_set *ps, const uint8_t *blk,
		    size_t n, uint32_t *pack, uint64_t *off)
{
	struct pack_out *p;
	int rc;

	if (!ps->n || ps->v[ps->n - 1].size >= PACK_TARGET_SIZE) {
		rc = pack_start(s, ps);
		if (rc)
			return rc;
	}
	p = &ps->v[ps->n - 1];
	rc = hz_write_all(p->fd, blk, n);
	if (rc)
		return hz_error_set(rc, "cannot write pack '%s': %s", p->name,
				    rc == HZ_ENOSPC ? "no space left on device" : "write failed");
	*pack = (uint32_t)(ps->n - 1);
	*off = p->size;
	p->size += n;
	ps->blobs = s->blobs;
	/* a backend that uploads while the pack grows (S3, past its
	 * multipart threshold) is told what is final */
	if (s->blobs->stream_begin) {
		char key[BLOB_PACK_KEY_MAX];

		if (p->stream) {
			rc = blob_stream_more(s->blobs, p->stream, p->size);
		} else {
			blob_pack_key(key, p->name);
			rc = blob_stream_offer(s->blobs, key, p->tmp_path, p->size, &p->stream);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int pack_set_finish(struct store *s, struct pack_set *ps)
{
	int rc;

	for (size_t i = 0; i < ps->n; i++) {
		struct pack_out *p = &ps->v[i];
		char key[BLOB_PACK_KEY_MAX];

		/* the descriptor stays open, and the pack locked, until the
		 * commit: gc leaves a locked pack that no row names alone */
		if (fsync(p->fd))
			return hz_error_set_errno(HZ_ERROR, "cannot fsync pack '%s'", p->name);
		/* the file backend renames it into objects/packs/XX/ (fsyncing
		 * the directories), S3 uploads it and removes the local file */
		blob_pack_key(key, p->name);
		if (p->stream) { /* the rest of an upload under way */
			rc = blob_stream_finish(s->blobs, p->stream, p->size);
			p->stream = NULL;
		} else {
			rc = blob_put(s->blobs, key, p->tmp_path, p->size);
		}
		if (rc)
			return rc;
		free(p->tmp_path);
		p->tmp_path = NULL;
		p->stored = 1; /* now only removed if the commit fails */
		ps->blobs = s->blobs;
	}
	return 0;
}

void pack_set_committed(struct pack_set *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].tmp_path);
		ps->v[i].tmp_path = NULL;
		ps->v[i].stored = 0;
		if (ps->v[i].fd >= 0)
			close(ps->v[i].fd); /* rows name it now: the lock can go */
		ps->v[i].fd = -1;
	}
}

void pack_set_release(struct pack_set *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct pack_out *p = &ps->v[i];

		if (p->stream) /* an upload under way: stopped, aborted */
			blob_stream_abort(ps->blobs, p->stream);
		if (p->tmp_path) /* not committed: remove (still locked) */
			unlink(p->tmp_path);
		if (p->fd >= 0)
			close(p->fd);
		free(p->tmp_path);
		if (p->stored && ps->blobs) { /* stored, not committed: remove */
			char key[BLOB_PACK_KEY_MAX];

			blob_pack_key(key, p->name);
			blob_remove(ps->blobs, key);
		}
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = ps->cap = 0;
}
