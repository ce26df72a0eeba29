/*
 * store/ingest.c - ingest sessions: parse, hash, deduplicate, encode, commit.
 *
 * Each file is read twice at most.  Pass 1 streams the whole file once,
 * computing the file's SHA-256 and the SHA-256 of every segment (the
 * safetensors header, each tensor's bytes, any gap or trailing bytes; a
 * non-safetensors file is one segment).  A file or segment whose hash is
 * already stored (or already added in this session) costs only metadata.
 * Pass 2 reads each new segment again, block by block, encodes it into the
 * session's pack and checks that the bytes did not change since pass 1.
 * Memory is bounded by one block plus per-segment bookkeeping.
 *
 * Nothing is visible until store_ingest_commit: it fsyncs the packs,
 * renames them into place, then inserts every row in one transaction.
 */
#include "store/ingest_int.h"
#include "store/pin_int.h"
#include "store/stats_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"
#include "store/safetensors.h"

int ingest_vec_grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*v, ncap * elem);
	if (!p)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	*v = p;
	*cap = ncap;
	return 0;
}

/* ---- the session's object map ------------------------------------------ */

static size_t map_slot(const uint8_t *sha, size_t cap)
{
	return (size_t)hz_load64(sha) & (cap - 1);
}

static long map_find(struct store_ingest *in, const uint8_t *sha)
{
	size_t i;

	if (!in->map_cap)
		return -1;
	for (i = map_slot(sha, in->map_cap);; i = (i + 1) & (in->map_cap - 1)) {
		size_t e = in->map[i];

		if (!e)
			return -1;
		if (!memcmp(in->objs.v[e - 1].sha, sha, HZ_SHA256_LEN))
			return (long)(e - 1);
	}
}

static int map_insert(struct store_ingest *in, size_t idx)
{
	size_t i;

	if ((in->objs.n + 1) * 2 > in->map_cap) {
		size_t ncap = in->map_cap ? in->map_cap * 2 : 1024;
		size_t *nmap = calloc(ncap, sizeof(*nmap));

		if (!nmap)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		for (i = 0; i < in->map_cap; i++) {
			size_t e = in->map[i], j;

			if (!e)
				continue;
			for (j = map_slot(in->objs.v[e - 1].sha, ncap); nmap[j];
			     j = (j + 1) & (ncap - 1))
				;
			nmap[j] = e;
		}
		free(in->map);
		in->map = nmap;
		in->map_cap = ncap;
	}
	for (i = map_slot(in->objs.v[idx].sha, in->map_cap); in->map[i];
	     i = (i + 1) & (in->map_cap - 1))
		;
	in->map[i] = idx + 1;
	return 0;
}

/* ---- session ----------------------------------------------------------- */

int store_ingest_begin(struct store_ingest **out, struct store *s,
		       const char *repo, const char *ref)
{
	struct store_ingest *in;
	int rc;

	*out = NULL;
	rc = store_repo_name_check(repo);
	if (!rc)
		rc = store_ref_name_check(ref);
	if (rc)
		return rc;
	in = calloc(1, sizeof(*in));
	if (!in)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	in->s = s;
	pin_set_init(&in->pins);
	in->started = stats_clock();
	in->repo = hz_strdup(repo);
	in->ref = hz_strdup(ref);
	in->buf = malloc(DELTA_BLOCK_MAX);
	in->enc = malloc(delta_block_bound(DELTA_BLOCK_MAX));
	if (!in->repo || !in->ref || !in->buf || !in->enc) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = hz_sha256_init(&in->file_sha);
	if (!rc)
		rc = hz_sha256_init(&in->seg_sha);
	if (!rc)
		rc = db_prepare(s, &in->find_obj, "SELECT id FROM objects WHERE sha256 = ?");
	if (!rc)
		rc = db_prepare(s, &in->find_file, "SELECT id FROM files WHERE sha256 = ?");
	if (rc)
		goto fail;
	*out = in;
	return 0;
fail:
	store_ingest_free(in);
	return rc;
}

void store_ingest_set_progress(struct store_ingest *in, store_progress_fn fn,
			       void *payload)
{
	in->progress = fn;
	in->progress_payload = payload;
}

void store_ingest_set_replace(struct store_ingest *in, int replace)
{
	in->replace = replace;
}

static void progress_add(struct store_ingest *in, uint64_t n)
{
	in->progress_done += n;
	if (in->progress)
		in->progress(in->progress_payload, in->progress_done, 0);
}

int64_t ingest_lookup_id(struct store_ingest *in, struct db_stmt *st,
			 const uint8_t *sha, int *rc)
{
	int64_t id = 0;
	int step;

	db_reset(st);
	db_bind_blob(st, 1, sha, HZ_SHA256_LEN);
	step = db_step(st);
	if (step == DB_ROW)
		id = db_column_int64(st, 0);
	else if (step != DB_DONE)
		*rc = db_error(in->s, "lookup failed");
	db_reset(st);
	return id;
}

/* Looks sha up with st (find_obj, find_file) and pins what it finds as
 * kind ('o', 'f'), under pin_lock, so that no gc collects it before the
 * session commits (store/pin_int.h).  Returns the row id or 0. */
static int64_t lookup_pinned(struct store_ingest *in, struct db_stmt *st, char kind,
			     const uint8_t *sha, int *rc)
{
	int64_t id;

	*rc = pin_lock(in->s);
	if (*rc)
		return 0;
	id = ingest_lookup_id(in, st, sha, rc);
	if (!*rc && id)
		*rc = pin_add(in->s, &in->pins, kind, id);
	pin_unlock(in->s);
	return *rc ? 0 : id;
}

/* Finds or creates the session's object for sha.  *is_new is set when its
 * bytes must be encoded. */
static int object_get(struct store_ingest *in, const uint8_t *sha, int kind,
		      int dtype, uint64_t size, size_t *out, bool *is_new)
{
	struct pend_object *o;
	long idx = map_find(in, sha);
	int rc = 0;
	int64_t id;

	*is_new = false;
	if (idx >= 0) {
		*out = (size_t)idx;
		return 0;
	}
	id = lookup_pinned(in, in->find_obj, 'o', sha, &rc);
	if (rc)
		return rc;
	rc = VEC_PUSH(in->objs, o);
	if (rc)
		return rc;
	memcpy(o->sha, sha, HZ_SHA256_LEN);
	o->kind = kind;
	o->dtype = dtype;
	o->size = size;
	o->id = id;
	o->first_block = in->blocks.n;
	*out = in->objs.n - 1;
	*is_new = id == 0 && size > 0;
	return map_insert(in, *out);
}

static int read_at(int fd, void *buf, size_t n, uint64_t off, const char *path)
{
	int rc = hz_pread_all(fd, buf, n, off);

	if (rc == HZ_ECORRUPT)
		return hz_error_set(HZ_EINVAL, "'%s' changed while it was being read (shorter than its size)", path);
	if (rc)
		return hz_error_set(rc, "cannot read '%s' at offset %llu", path,
				    (unsigned long long)off);
	return 0;
}

/* Pass 2: encodes bytes [seg->file_off, +length) into the pack as object
 * o; checks they still hash to what pass 1 saw. */
static int encode_segment(struct store_ingest *in, int fd, const char *path,
			  const struct pend_seg *seg, struct pend_object *o,
			  XXH128_hash_t expect, const struct base_tensor *base,
			  const uint8_t *vbase)
{
	struct store *s = in->s;
	XXH3_state_t *xs = XXH3_createState();
	uint64_t done = 0, block = DELTA_BLOCK_MAX;
	size_t esz = hz_dtype_size(seg->dtype), besz = 0;
	int rc = 0;

	if (!xs)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	/* against a base, block k holds the elements of the base's block k
	 * (the base's blocks are DELTA_BLOCK_MAX bytes of its wider elements) */
	if (base && base->obj) {
		besz = hz_dtype_size(base->dtype);
		if (besz > esz)
			block = DELTA_BLOCK_MAX / besz * esz;
	}
	XXH3_128bits_reset(xs);
	o->first_block = in->blocks.n;
	while (done < seg->length) {
		size_t n = seg->length - done < block ? (size_t)(seg->length - done) : (size_t)block;
		uint64_t k = done / block, base_off = k * DELTA_BLOCK_MAX;
		struct pend_block *b;
		size_t enc_len, plain_len = 0, base_len = 0;
		int used = 0, base_dt = 0;

		rc = read_at(fd, in->buf, n, seg->file_off + done, path);
		if (rc)
			goto out;
		XXH3_128bits_update(xs, in->buf, n);
		if (vbase) { /* the transposed base, whole, in memory */
			base_len = n;
			base_dt = seg->dtype;
			base_off = BASE_OFF_TRANSFORM;
		} else if (besz && base_off < base->size) {
			rc = pack_object_block(s, base->obj, base_off, s->base_buf, &base_len,
					       &base_dt);
		}
		if (!rc && base_len)
			rc = delta_block_encode_base(s->dctx, in->enc, &enc_len, &plain_len,
						     &used, in->buf, n, seg->dtype,
						     vbase ? vbase + done : s->base_buf, base_len,
						     base_dt);
		else if (!rc)
			rc = delta_block_encode(s->dctx, in->enc, &enc_len, in->buf, n,
						seg->dtype);
		if (rc) {
			char why[512];

			snprintf(why, sizeof(why), "%s", hz_error_msg());
			rc = hz_error_set(rc, "cannot encode '%s' at offset %llu: %s", path,
					  (unsigned long long)(seg->file_off + done), why);
			goto out;
		}
		rc = VEC_PUSH(in->blocks, b);
		if (rc)
			goto out;
		b->raw_off = done;
		b->raw_len = (uint32_t)n;
		b->enc_len = (uint32_t)enc_len;
		b->plain_len = (uint32_t)(base_len ? plain_len : enc_len);
		if (used) {
			b->base_obj = base->obj;
			b->base_off = base_off;
			o->base_obj = base->obj;
		}
		b->codec = in->enc[4];
		b->checksum = hz_load64(in->enc + 16);
		rc = pack_set_append(in->s, &in->packs, in->enc, enc_len, &b->pack, &b->pack_off);
		if (rc)
			goto out;
		o->stored += enc_len;
		done += n;
		progress_add(in, n);
	}
	o->nblocks = in->blocks.n - o->first_block;
	if (!XXH128_isEqual(XXH3_128bits_digest(xs), expect))
		rc = hz_error_set(HZ_EINVAL, "'%s' changed while it was being ingested", path);
out:
	XXH3_freeState(xs);
	return rc;
}

static int shape_json(char **out, const struct st_tensor *t);

/* Pass 2 for one new segment: a tensor is coded against the base found
 * by name (family.c), else against a stored tensor it equals after a
 * permutation of axes (transform.c), else alone; a float tensor coded
 * alone is indexed by its value moments for later reconversions. */
static int encode_tensor(struct store_ingest *in, int fd, const char *path,
			 const struct pend_seg *sg, XXH128_hash_t expect)
{
	struct pend_object *o = &in->objs.v[sg->obj];
	struct base_tensor base = { 0 };
	struct transform tr = { 0 };
	uint8_t *data = NULL, *vbase = NULL;
	bool eligible;
	int rc = 0;

	if (!sg->t)
		return encode_segment(in, fd, path, sg, o, expect, &base, NULL);
	rc = family_tensor_base(in, sg->t, &base);
	if (!rc && base.obj) { /* kept from gc until the commit, if not gone */
		rc = pin_base(in->s, &in->pins, base.obj, base.size, base.dtype);
		if (rc == 0)
			memset(&base, 0, sizeof(base));
		rc = rc < 0 ? rc : 0;
	}
	if (rc)
		return rc;
	eligible = transform_eligible(sg->dtype, sg->length);
	if (!base.obj && eligible) {
		data = malloc((size_t)sg->length);
		if (!data)
			return hz_error_set(HZ_ENOMEM, "out of memory");
		rc = read_at(fd, data, (size_t)sg->length, sg->file_off, path);
		if (!rc)
			rc = transform_find(in, data, sg->t, &tr, &vbase, &o->sum, &o->sumsq);
		free(data);
		if (!rc && tr.base)
			rc = transform_json(&tr, &o->transform);
		if (rc) {
			free(vbase);
			return rc;
		}
	}
	if (tr.base) {
		base.obj = tr.base;
		base.dtype = sg->dtype;
		base.size = sg->length;
	}
	rc = encode_segment(in, fd, path, sg, o, expect, &base, vbase);
	free(vbase);
	if (!rc && tr.base && o->base_obj && tr.equal > in->layout_score) {
		in->layout_base = tr.base;
		in->layout_score = tr.equal;
	}
	if (!rc && tr.base && !o->base_obj) { /* no block gained from it */
		free(o->transform);
		o->transform = NULL;
	}
	if (!rc && eligible && !o->base_obj && !tr.base)
		rc = shape_json(&o->shape, sg->t);
	return rc;
}

/* Reads and parses the safetensors header of fd; fills *out. */
static int parse_safetensors(int fd, const char *path,
			     uint64_t size, struct st_file **out)
{
	uint8_t first8[8];
	uint64_t n;
	uint8_t *json = NULL;
	int rc;

	if (size < 8)
		return hz_error_set(HZ_EINVAL, "not a safetensors file: %llu bytes, "
				    "shorter than the 8-byte header length",
				    (unsigned long long)size);
	rc = read_at(fd, first8, 8, 0, path);
	if (rc)
		return rc;
	rc = st_header_len(&n, first8, size, STORE_HEADER_MAX);
	if (rc)
		return rc;
	json = malloc(n ? n : 1);
	if (!json)
		return hz_error_set(HZ_ENOMEM, "out of memory for a %llu-byte header",
				    (unsigned long long)n);
	rc = read_at(fd, json, n, 8, path);
	if (rc) {
		free(json);
		return rc;
	}
	rc = st_parse(out, json, n, size);
	free(json);
	return rc;
}

static int shape_json(char **out, const struct st_tensor *t)
{
	size_t cap = 3 + (size_t)t->ndim * 21, len = 0;
	char *p = malloc(cap);

	if (!p)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	p[len++] = '[';
	for (unsigned i = 0; i < t->ndim; i++)
		len += (size_t)snprintf(p + len, cap - len, "%s%llu", i ? "," : "",
					(unsigned long long)t->shape[i]);
	p[len++] = ']';
	p[len] = '\0';
	*out = p;
	return 0;
}

static int add_seg(struct store_ingest *in, uint64_t off, uint64_t len, int role,
		   int dtype, const struct st_tensor *t)
{
	struct pend_seg *sg;
	int rc;

	if (!len)
		return 0;
	rc = VEC_PUSH(in->segs, sg);
	if (rc)
		return rc;
	sg->file_off = off;
	sg->length = len;
	sg->role = role;
	sg->dtype = dtype;
	sg->t = t;
	return 0;
}

/* Lays out the segments of a file: header, tensors, gaps, trailing bytes. */
static int plan_segments(struct store_ingest *in, const struct st_file *st,
			 uint64_t size)
{
	uint64_t pos;
	int rc;

	if (!st)
		return add_seg(in, 0, size, SEG_FILE, HZ_DT_NONE, NULL);
	rc = add_seg(in, 0, st->data_start, SEG_HEADER, HZ_DT_NONE, NULL);
	pos = st->data_start;
	for (size_t i = 0; !rc && i < st->ntensors; i++) {
		const struct st_tensor *t = &st->tensors[i];

		if (t->begin > pos)
			rc = add_seg(in, pos, t->begin - pos, SEG_GAP, HZ_DT_NONE, NULL);
		if (!rc)
			rc = add_seg(in, t->begin, t->end - t->begin, SEG_TENSOR, t->dtype, t);
		if (t->end > pos)
			pos = t->end;
	}
	if (!rc && pos < size)
		rc = add_seg(in, pos, size - pos, SEG_GAP, HZ_DT_NONE, NULL);
	return rc;
}

static int add_fd(struct store_ingest *in, const char *path, int fd, uint64_t size,
		  const uint8_t *known_sha);

int store_ingest_add_fd(struct store_ingest *in, const char *path, int fd,
			uint64_t size)
{
	return add_fd(in, path, fd, size, NULL);
}

int store_ingest_add_fd_sha256(struct store_ingest *in, const char *path, int fd,
			       uint64_t size, const uint8_t sha[HZ_SHA256_LEN])
{
	return add_fd(in, path, fd, size, sha);
}

/* known_sha: the file's SHA-256, computed by the caller, or NULL */
static int add_fd(struct store_ingest *in, const char *path, int fd, uint64_t size,
		  const uint8_t *known_sha)
{
	struct st_file *st = NULL;
	struct pend_file *f;
	XXH3_state_t *xs = NULL, *fxs = NULL;
	XXH128_hash_t *seg_xxh = NULL;
	uint8_t (*seg_sha)[HZ_SHA256_LEN] = NULL;
	size_t first_seg = in->segs.n, first_tensor = in->tensors.n, nsegs, i;
	size_t seg_i = 0;
	uint64_t off = 0, seg_done = 0;
	int rc;

	if (in->done)
		return hz_error_set(HZ_EINVAL, "ingest session already finished");
	rc = store_path_check(path);
	if (rc)
		return rc;
	if (strlen(path) >= 12 && !strcmp(path + strlen(path) - 12, ".safetensors")) {
		rc = parse_safetensors(fd, path, size, &st);
		if (rc)
			return rc;
	}
	if (!st) {
		rc = family_read_hint(in, path, fd, size);
		if (rc)
			return rc;
	} else {
		in->saw_model = 1;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = plan_segments(in, st, size);
	if (rc)
		goto out;
	nsegs = in->segs.n - first_seg;
	seg_xxh = calloc(nsegs ? nsegs : 1, sizeof(*seg_xxh));
	seg_sha = calloc(nsegs ? nsegs : 1, sizeof(*seg_sha));
	xs = XXH3_createState();
	fxs = XXH3_createState();
	if (!seg_xxh || !seg_sha || !xs || !fxs) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	XXH3_128bits_reset(xs);
	XXH3_128bits_reset(fxs);

	/* pass 1: the file's hash and every segment's */
	while (off < size) {
		size_t n = size - off < DELTA_BLOCK_MAX ? (size_t)(size - off) : DELTA_BLOCK_MAX;
		size_t p = 0;

		rc = read_at(fd, in->buf, n, off, path);
		if (rc)
			goto out;
		if (!known_sha)
			hz_sha256_update(&in->file_sha, in->buf, n);
		XXH3_128bits_update(fxs, in->buf, n);
		while (p < n && seg_i < nsegs) {
			struct pend_seg *sg = &in->segs.v[first_seg + seg_i];
			uint64_t left = sg->length - seg_done;
			size_t take = left < n - p ? (size_t)left : n - p;

			/* a whole-file segment shares the file's SHA-256 */
			if (sg->role != SEG_FILE)
				hz_sha256_update(&in->seg_sha, in->buf + p, take);
			XXH3_128bits_update(xs, in->buf + p, take);
			p += take;
			seg_done += take;
			if (seg_done == sg->length) {
				if (sg->role != SEG_FILE)
					hz_sha256_final(&in->seg_sha, seg_sha[seg_i]);
				seg_xxh[seg_i] = XXH3_128bits_digest(xs);
				XXH3_128bits_reset(xs);
				seg_done = 0;
				seg_i++;
			}
		}
		off += n;
	}
	rc = VEC_PUSH(in->files, f);
	if (rc)
		goto out;
	f->path = hz_strdup(path);
	if (!f->path) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	if (known_sha)
		memcpy(f->sha, known_sha, HZ_SHA256_LEN);
	else
		hz_sha256_final(&in->file_sha, f->sha);
	XXH128_canonicalFromHash((XXH128_canonical_t *)f->xxh, XXH3_128bits_digest(fxs));
	f->size = size;
	f->format = st ? FILE_SAFETENSORS : FILE_OPAQUE;
	f->same_as = -1;
	for (i = 0; i < nsegs; i++)
		if (in->segs.v[first_seg + i].role == SEG_FILE)
			memcpy(seg_sha[i], f->sha, HZ_SHA256_LEN);

	/* whole-file deduplication: against the session, then the store */
	for (i = 0; i + 1 < in->files.n; i++) {
		if (!memcmp(in->files.v[i].sha, f->sha, HZ_SHA256_LEN)) {
			f->same_as = (long)i;
			break;
		}
	}
	if (f->same_as < 0)
		f->id = lookup_pinned(in, in->find_file, 'f', f->sha, &rc);
	/* the family is measured even on a re-upload: its tensors then XOR
	 * to zeros against the stored copy */
	if (!rc && st && !in->base_decided) {
		const uint8_t **tsha = calloc(st->ntensors ? st->ntensors : 1, sizeof(*tsha));

		if (!tsha) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t t = 0, g = 0; t < st->ntensors; t++) {
			while (g < nsegs && in->segs.v[first_seg + g].file_off < st->tensors[t].begin)
				g++;
			if (g < nsegs && in->segs.v[first_seg + g].role == SEG_TENSOR &&
			    in->segs.v[first_seg + g].file_off == st->tensors[t].begin)
				tsha[t] = seg_sha[g];
		}
		rc = family_detect(in, fd, st, tsha);
		free(tsha);
	}
	if (rc)
		goto out;
	if (f->same_as >= 0 || f->id) {
		in->segs.n = first_seg; /* its rows exist already */
		progress_add(in, size);
		goto out;
	}

	/* pass 2: encode the segments not stored yet, against a base model
	 * when one is found */
	f->first_seg = first_seg;
	f->nsegs = nsegs;
	for (i = 0; i < nsegs; i++) {
		struct pend_seg *sg = &in->segs.v[first_seg + i];
		bool is_new;

		rc = object_get(in, seg_sha[i], sg->role == SEG_TENSOR ? OBJ_TENSOR : OBJ_BYTES,
				sg->dtype, sg->length, &sg->obj, &is_new);
		if (rc)
			goto out;
		if (is_new)
			rc = encode_tensor(in, fd, path, sg, seg_xxh[i]);
		else
			progress_add(in, sg->length);
		if (rc)
			goto out;
	}

	/* tensor metadata, for families and statistics */
	f->first_tensor = first_tensor;
	for (i = 0; st && i < st->ntensors; i++) {
		const struct st_tensor *t = &st->tensors[i];
		struct pend_tensor *pt;
		uint8_t empty[HZ_SHA256_LEN];
		bool is_new;
		size_t j;

		rc = VEC_PUSH(in->tensors, pt);
		if (rc)
			goto out;
		pt->dtype = t->dtype;
		pt->file_off = t->begin;
		pt->name = hz_strdup(t->name);
		if (!pt->name) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			goto out;
		}
		rc = shape_json(&pt->shape, t);
		if (rc)
			goto out;
		if (t->end == t->begin) {
			hz_sha256(empty, "", 0);
			rc = object_get(in, empty, OBJ_TENSOR, t->dtype, 0, &pt->obj, &is_new);
			if (rc)
				goto out;
			continue;
		}
		for (j = 0; j < nsegs; j++) {
			const struct pend_seg *sg = &in->segs.v[first_seg + j];

			if (sg->role == SEG_TENSOR && sg->file_off == t->begin) {
				pt->obj = sg->obj;
				break;
			}
		}
	}
	f->ntensors = in->tensors.n - first_tensor;
out:
	st_file_free(st);
	XXH3_freeState(xs);
	XXH3_freeState(fxs);
	free(seg_xxh);
	free(seg_sha);
	if (rc)
		in->done = 1;
	return rc;
}

int store_ingest_commit(struct store_ingest *in, const char *message,
			char commit_out[STORE_COMMIT_HEX])
{
	struct store *s = in->s;
	int rc;

	if (in->done)
		return hz_error_set(HZ_EINVAL, "ingest session already finished");
	in->done = 1;
	if (!in->files.n && !in->dels.n)
		return hz_error_set(HZ_EINVAL, "nothing to commit: no files were added or deleted");
	rc = pack_set_finish(s, &in->packs);
	if (rc)
		return rc;
	rc = db_begin(s);
	if (!rc)
		rc = ingest_insert_rows(in, message, hz_now(), commit_out);
	if (!rc)
		rc = db_commit(s);
	if (rc) {
		db_rollback(s);
		return rc;
	}
	pack_set_committed(&in->packs); /* the packs now belong to the store */
	pin_set_release(&in->pins);	  /* and the revision holds what it reuses */
	return 0;
}

void store_ingest_free(struct store_ingest *in)
{
	if (!in)
		return;
	pack_set_release(&in->packs);
	pin_set_release(&in->pins);
	for (size_t i = 0; i < in->tensors.n; i++) {
		free(in->tensors.v[i].name);
		free(in->tensors.v[i].shape);
	}
	for (size_t i = 0; i < in->files.n; i++)
		free(in->files.v[i].path);
	for (size_t i = 0; i < in->dels.n; i++)
		free(in->dels.v[i].path);
	free(in->dels.v);
	free(in->expect_parent);
	for (size_t i = 0; i < in->objs.n; i++) {
		free(in->objs.v[i].transform);
		free(in->objs.v[i].shape);
	}
	db_finalize(in->find_obj);
	db_finalize(in->base_stmt);
	free(in->hint);
	db_finalize(in->find_file);
	hz_sha256_release(&in->file_sha);
	hz_sha256_release(&in->seg_sha);
	free(in->tensors.v);
	free(in->files.v);
	free(in->segs.v);
	free(in->objs.v);
	free(in->blocks.v);
	free(in->map);
	free(in->buf);
	free(in->enc);
	free(in->repo);
	free(in->ref);
	free(in);
}

int store_ingest_add_stored(struct store_ingest *in, const char *path,
			    const uint8_t sha[HZ_SHA256_LEN], uint64_t size)
{
	struct db_stmt *st = NULL;
	struct pend_file *f;
	uint64_t have = 0;
	int64_t id = 0;
	int format = 0, rc;

	if (in->done)
		return hz_error_set(HZ_EINVAL, "ingest session already finished");
	rc = store_path_check(path);
	if (!rc)
		rc = db_prepare(in->s, &st, "SELECT id, size, format FROM files WHERE sha256 = ?");
	if (!rc)
		rc = pin_lock(in->s); /* what it finds, it pins (store/pin_int.h) */
	if (rc) {
		db_finalize(st);
		return rc;
	}
	db_bind_blob(st, 1, sha, HZ_SHA256_LEN);
	switch (db_step(st)) {
	case DB_ROW:
		id = db_column_int64(st, 0);
		have = (uint64_t)db_column_int64(st, 1);
		format = db_column_int(st, 2);
		break;
	case DB_DONE:
		rc = hz_error_set(HZ_ENOTFOUND, "no stored file has the sha256 of '%s'", path);
		break;
	default:
		rc = db_error(in->s, "cannot look a file up");
	}
	db_finalize(st);
	if (!rc)
		rc = pin_add(in->s, &in->pins, 'f', id);
	pin_unlock(in->s);
	if (!rc && size != UINT64_MAX && size != have)
		rc = hz_error_set(HZ_EINVAL, "'%s': the stored file of that sha256 has %llu bytes,"
				  " not %llu", path, (unsigned long long)have,
				  (unsigned long long)size);
	if (!rc)
		rc = VEC_PUSH(in->files, f);
	if (rc)
		return rc;
	f->path = hz_strdup(path);
	if (!f->path) {
		in->files.n--;
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	memcpy(f->sha, sha, HZ_SHA256_LEN);
	f->size = have;
	f->format = format;
	f->id = id;
	f->same_as = -1;
	progress_add(in, have);
	return 0;
}

int store_ingest_delete_path(struct store_ingest *in, const char *path, int folder)
{
	struct pend_del *d;
	int rc;

	if (in->done)
		return hz_error_set(HZ_EINVAL, "ingest session already finished");
	rc = store_path_check(path);
	if (!rc)
		rc = VEC_PUSH(in->dels, d);
	if (rc)
		return rc;
	d->path = hz_strdup(path);
	d->folder = folder;
	if (!d->path) {
		in->dels.n--;
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	return 0;
}

int store_ingest_set_parent(struct store_ingest *in, const char *commit)
{
	char *c = NULL;

	if (commit) {
		size_t n = strlen(commit);

		if (n != STORE_COMMIT_HEX - 1 || strspn(commit, "0123456789abcdef") != n)
			return hz_error_set(HZ_EINVAL, "parent commit '%s' is not 40 hex digits",
					    commit);
		c = hz_strdup(commit);
		if (!c)
			return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	free(in->expect_parent);
	in->expect_parent = c;
	return 0;
}
