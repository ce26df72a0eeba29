/*
 * store/gc_blob.c - gc's side of the blob backends: deleting dead packs
 * through the backend, and sweeping a remote backend (S3) for packs no
 * row names.
 *
 * The local directory's pack files are swept by gc.c, which tells a live
 * session's pack (locked) from an orphan.  A bucket has no locks: an
 * object there that no row names is an orphan once it is BLOB_ORPHAN_AGE
 * old (an ingest that died between its upload and its commit, or a pack
 * whose deletion was deferred), while a younger one may belong to a
 * session about to commit.  Listing costs one request per 1000 packs.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

#define BLOB_ORPHAN_AGE 3600

int gc_pack_remove(struct store *s, const char *name, uint64_t *out_size)
{
	char key[BLOB_PACK_KEY_MAX];
	uint64_t size = 0;
	int rc;

	blob_pack_key(key, name);
	rc = blob_stat(s->blobs, key, &size);
	if (rc == HZ_ENOTFOUND)
		return 0;
	if (!rc)
		rc = blob_remove(s->blobs, key);
	if (rc)
		return rc;
	if (out_size)
		*out_size = size;
	return 1;
}

struct sweep {
	struct store *s;
	struct db_stmt *known;
	struct store_gc_result *out;
	int64_t now;
};

static int sweep_one(void *payload, const struct blob_info *info)
{
	struct sweep *w = payload;
	const char *base = strrchr(info->key, '/');
	char name[40];
	int step;

	/* packs/XX/<32 hex>.pack, nothing else */
	base = base ? base + 1 : info->key;
	if (strlen(base) != 37 || strcmp(base + 32, ".pack") ||
	    info->mtime + BLOB_ORPHAN_AGE > w->now)
		return 0;
	snprintf(name, sizeof(name), "%.32s", base);
	db_bind_text(w->known, 1, name, -1);
	step = db_step(w->known);
	db_reset(w->known);
	if (step == DB_ROW)
		return 0;
	if (step != DB_DONE)
		return db_error(w->s, "cannot look a pack up");
	if (blob_remove(w->s->blobs, info->key))
		return 0; /* the next gc tries again */
	w->out->orphan_packs++;
	w->out->bytes_freed += info->size;
	return 0;
}

int gc_sweep_blobs(struct store *s, struct store_gc_result *out)
{
	struct sweep w = { s, NULL, out, hz_now() };
	int rc;

	if (!strcmp(s->blobs->scheme, "file"))
		return 0;
	rc = db_prepare(s, &w.known, "SELECT 1 FROM packs WHERE name = ?");
	if (!rc)
		rc = blob_list(s->blobs, "packs/", sweep_one, &w);
	db_finalize(w.known);
	return rc;
}
