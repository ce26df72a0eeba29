/*
 * store/pack.c - reading blocks out of pack files.
 *
 * A pack is PACK_HDR bytes of header (magic "HZPACK\0\1", the 16-byte pack
 * name, 8 reserved bytes) followed by blocks (delta/delta.h), each found
 * through the index, and read from the blob backend (store/blob.h): the
 * local one keeps descriptors open, a remote one is read ahead (below).
 */
#include "store/store_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "delta/delta.h"

char *pack_path(struct store *s, const char *name)
{
	size_t n = strlen(s->packs_dir) + strlen(name) + 16;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%.2s/%s.pack", s->packs_dir, name, name);
	return p;
}

void pack_fds_close(struct store *s)
{
	if (s->blobs)
		blob_drop_cache(s->blobs);
	for (int i = 0; i < PACK_RA_WINDOWS; i++) {
		free(s->ra[i].buf);
		memset(&s->ra[i], 0, sizeof(s->ra[i]));
	}
}

/* The blob key and size of pack pack_id, as the index names it (names
 * are never reused, so a backend may cache by key). */
static int pack_key(struct store *s, int64_t pack_id, char key[BLOB_PACK_KEY_MAX],
		    uint64_t *size)
{
	struct db_stmt *st;
	int rc = 0, step;

	if (!s->pack_name_stmt) {
		rc = db_prepare(s, &s->pack_name_stmt, "SELECT name, size FROM packs WHERE id = ?");
		if (rc)
			return rc;
	}
	st = s->pack_name_stmt;
	db_bind_int64(st, 1, pack_id);
	step = db_step(st);
	if (step == DB_ROW) {
		blob_pack_key(key, (const char *)db_column_text(st, 0));
		*size = (uint64_t)db_column_int64(st, 1);
	} else if (step == DB_DONE) {
		rc = hz_error_set(HZ_ECORRUPT, "index names pack %lld, which has no row",
				  (long long)pack_id);
	} else {
		rc = db_error(s, "cannot look a pack up");
	}
	db_reset(st);
	return rc;
}

/*
 * A remote backend answers each request after a round trip, and most
 * blocks are small (a bias, a norm: a few KB) and stored next to the
 * blocks read after them: one ranged GET can serve many block reads.  But
 * a read far from the last one (a cat of a range, a base block sampled at
 * ingest) would waste a large fetch, and a delta's blocks alternate with
 * their base's in another pack.  So each of PACK_RA_WINDOWS windows follows
 * one stream of reads: a read inside a window is served from it; one that
 * continues a window (starts inside it or where it ends) refills that
 * window with twice what it fetched last, up to PACK_READAHEAD; any other
 * starts a new stream in the least recently used window with PACK_RA_MIN.
 * docs/format.md ("Blob backends") has the measurements.  The local
 * directory reads exactly the block (the page cache reads ahead there).
 */
static int ra_read(struct store *s, const char *key, uint64_t size, uint64_t off, void *buf,
		   size_t len)
{
	struct pack_ra *w = NULL, *victim = &s->ra[0];
	size_t next = PACK_RA_MIN;
	uint64_t n;
	int rc;

	for (int i = 0; i < PACK_RA_WINDOWS; i++) {
		struct pack_ra *r = &s->ra[i];

		if (r->len && !strcmp(r->key, key) && off >= r->off &&
		    off <= r->off + r->len) {
			if (off + len <= r->off + r->len) { /* a hit */
				r->last_use = ++s->ra_clock;
				memcpy(buf, r->buf + (off - r->off), len);
				return 0;
			}
			w = r; /* continues this stream */
			next = r->next * 2 > PACK_READAHEAD ? PACK_READAHEAD : r->next * 2;
			break;
		}
		if (!r->len || r->last_use < victim->last_use)
			victim = r;
	}
	if (!w)
		w = victim;
	if (!w->buf && !(w->buf = malloc(PACK_READAHEAD)))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	n = size > off && size - off < next ? size - off : next;
	if (n < len)
		n = len; /* past the recorded size: the read says what is wrong */
	w->len = 0;
	rc = blob_read(s->blobs, key, off, w->buf, (size_t)n);
	if (rc)
		return rc;
	memcpy(w->key, key, BLOB_PACK_KEY_MAX);
	w->off = off;
	w->len = (size_t)n;
	w->next = next;
	w->last_use = ++s->ra_clock;
	memcpy(buf, w->buf, len);
	return 0;
}

int pack_read(struct store *s, int64_t pack_id, uint64_t off, void *buf, size_t len)
{
	char key[BLOB_PACK_KEY_MAX];
	uint64_t size = 0;
	int rc = pack_key(s, pack_id, key, &size);

	if (rc)
		return rc;
	if (strcmp(s->blobs->scheme, "file") && len <= PACK_READAHEAD)
		rc = ra_read(s, key, size, off, buf, len);
	else
		rc = blob_read(s->blobs, key, off, buf, len);
	if (rc == HZ_ENOTFOUND)
		rc = hz_error_set(HZ_ECORRUPT, "pack '%s' is missing from %s", key,
				  blob_where(s->blobs));
	return rc;
}

/* Reads the block at pack_off of pack_id and decodes it into out (at least
 * DELTA_BLOCK_MAX bytes), with base (NULL or the raw bytes of its base
 * block) for a delta block. */
static int block_load(struct store *s, const struct blk_ref *b, uint8_t *out,
		      const uint8_t *base, size_t base_len, int base_dt, size_t *out_len)
{
	struct delta_block_info info;
	int rc;

	if (b->enc_len < DELTA_BLOCK_HDR || b->enc_len > delta_block_bound(DELTA_BLOCK_MAX) ||
	    b->raw_len > DELTA_BLOCK_MAX)
		return hz_error_set(HZ_ECORRUPT, "index row for block at %llu of pack %lld is invalid",
				    (unsigned long long)b->pack_off, (long long)b->pack_id);
	rc = pack_read(s, b->pack_id, b->pack_off, s->blk_buf, b->enc_len);
	if (rc)
		return rc;
	rc = delta_block_header_parse(&info, s->blk_buf, b->enc_len);
	if (!rc && (info.raw_len != b->raw_len || info.checksum != b->checksum ||
		    (uint64_t)info.payload_len + DELTA_BLOCK_HDR != b->enc_len))
		rc = HZ_ECORRUPT;
	if (!rc)
		rc = delta_block_decode_base(s->dctx, out, DELTA_BLOCK_MAX, out_len, s->blk_buf,
					     b->enc_len, base, base_len, base_dt);
	if (rc)
		return hz_error_set(HZ_ECORRUPT,
				    "block at %llu of pack %lld is damaged (checksum or format mismatch)",
				    (unsigned long long)b->pack_off, (long long)b->pack_id);
	return 0;
}

/* Looks up block (obj, raw_off), which a delta block names as its base. */
static int base_ref(struct store *s, int64_t obj, uint64_t raw_off, struct blk_ref *out,
		    int *dtype)
{
	struct db_stmt *st;
	int rc;

	if (!s->base_stmt) {
		rc = db_prepare(s, &s->base_stmt,
				"SELECT b.raw_len, b.pack_id, b.pack_off, b.enc_len, b.checksum,"
				" o.dtype, b.base_object_id FROM blocks b JOIN objects o"
				" ON o.id = b.object_id WHERE b.object_id = ? AND b.raw_off = ?");
		if (rc)
			return rc;
	}
	st = s->base_stmt;
	db_bind_int64(st, 1, obj);
	db_bind_int64(st, 2, (int64_t)raw_off);
	if (db_step(st) == DB_ROW) {
		out->raw_len = (uint32_t)db_column_int64(st, 0);
		out->pack_id = db_column_int64(st, 1);
		out->pack_off = (uint64_t)db_column_int64(st, 2);
		out->enc_len = (uint32_t)db_column_int64(st, 3);
		out->checksum = (uint64_t)db_column_int64(st, 4);
		out->base_obj = db_column_int64(st, 6);
		out->base_off = 0;
		*dtype = db_column_int(st, 5);
		rc = out->base_obj ? hz_error_set(HZ_ECORRUPT, "base block of object %lld is "
						  "itself a delta", (long long)obj) : 0;
	} else {
		rc = hz_error_set(HZ_ECORRUPT, "the base block %lld@%llu of a delta block is missing",
				  (long long)obj, (unsigned long long)raw_off);
	}
	db_reset(st);
	return rc;
}

int pack_object_block(struct store *s, int64_t obj, uint64_t raw_off, uint8_t *out,
		      size_t *out_len, int *dtype)
{
	struct blk_ref b;
	int rc = base_ref(s, obj, raw_off, &b, dtype);

	return rc ? rc : block_load(s, &b, out, NULL, 0, 0, out_len);
}

int pack_object_block_any(struct store *s, int64_t obj, uint64_t raw_off, size_t *out_len,
			  int *dtype)
{
	struct db_stmt *st = NULL;
	struct blk_ref b;
	int rc = db_prepare(s, &st, "SELECT " BLOCK_COLS ", (SELECT dtype FROM objects WHERE"
				    " id = ?1) FROM blocks WHERE object_id = ?1 AND raw_off = ?2");

	if (rc)
		return rc;
	db_bind_int64(st, 1, obj);
	db_bind_int64(st, 2, (int64_t)raw_off);
	if (db_step(st) != DB_ROW) {
		db_finalize(st);
		return hz_error_set(HZ_ECORRUPT, "object %lld has no block at %llu", (long long)obj,
				    (unsigned long long)raw_off);
	}
	blk_ref_row(&b, st);
	*dtype = db_column_int(st, 8);
	db_finalize(st);
	if (b.base_obj && b.base_off == BASE_OFF_TRANSFORM) {
		uint8_t *v = NULL;
		size_t vlen = 0;
		int vdt;

		rc = transform_load(s, obj, &v, &vlen, &vdt);
		if (!rc && raw_off > vlen)
			rc = hz_error_set(HZ_ECORRUPT, "object %lld: block past its base", (long long)obj);
		if (!rc)
			rc = block_load(s, &b, s->raw_buf, v + raw_off,
					vlen - raw_off < b.raw_len ? vlen - raw_off : b.raw_len, vdt,
					out_len);
		free(v);
		return rc;
	}
	return pack_block_read(s, &b, out_len);
}

int pack_block_read_with(struct store *s, const struct blk_ref *b, const uint8_t *base,
			 size_t base_len, int base_dt, size_t *out_len)
{
	return block_load(s, b, s->raw_buf, base, base_len, base_dt, out_len);
}

int pack_block_read(struct store *s, const struct blk_ref *b, size_t *out_len)
{
	struct blk_ref base;
	size_t base_len;
	int base_dt, rc;

	if (!b->base_obj)
		return block_load(s, b, s->raw_buf, NULL, 0, 0, out_len);
	if (b->base_off == BASE_OFF_TRANSFORM)
		return hz_error_set(HZ_ERROR, "a block of a transposed tensor needs its base "
				    "(pack_block_read_with)");
	rc = base_ref(s, b->base_obj, b->base_off, &base, &base_dt);
	if (!rc)
		rc = block_load(s, &base, s->base_buf, NULL, 0, 0, &base_len);
	if (!rc)
		rc = block_load(s, b, s->raw_buf, s->base_buf, base_len, base_dt, out_len);
	return rc;
}

void blk_ref_row(struct blk_ref *b, struct db_stmt *st)
{
	b->raw_len = (uint32_t)db_column_int64(st, 1);
	b->pack_id = db_column_int64(st, 2);
	b->pack_off = (uint64_t)db_column_int64(st, 3);
	b->enc_len = (uint32_t)db_column_int64(st, 4);
	b->checksum = (uint64_t)db_column_int64(st, 5);
	b->base_obj = db_column_int64(st, 6);
	b->base_off = (uint64_t)db_column_int64(st, 7);
}
