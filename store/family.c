/*
 * store/family.c - which stored model a new one derives from.
 *
 * Candidates share tensor names and compatible shapes (equal, or equal but
 * for the first axis, as after a vocabulary resize) with the new model's
 * largest float tensors; they are ranked by the bytes they hold identical
 * (a reshard, a re-upload, a partial fine-tune), then by the bytes they
 * match, then newest first.  The best
 * few are then measured: the correlation of the values of the first block
 * of up to SAMPLE_TENSORS matched tensors (of those with SAMPLE_ELEMS
 * elements, the cheapest to decode): about 0 for a separately trained
 * model of the same architecture, 0.5 and more for siblings fine-tuned from
 * one base, nearly 1 for a fine-tune, a LoRA merge or a dtype cast.  The
 * delta coder then keeps, block by block, the smaller of XOR and plain
 * coding, so joining a family never costs bytes.  A hint from config.json
 * (base_model, _name_or_path) or the README's front matter (base_model)
 * adds its repo to the candidates and wins a near tie, but never stands in
 * for the measurement.  Below MIN_SCORE the model founds a new family.
 *
 * Deltas are one level deep: a candidate tensor that is itself stored as a
 * delta stands for its base, so every delta block names a block stored
 * without delta.
 */
#include "store/ingest_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "delta/delta.h"
#include "store/safetensors.h"

#define CANDIDATE_TENSORS 64	/* largest tensors looked up by name */
#define CANDIDATE_REPOS 24	/* measured candidates */
#define SAMPLE_TENSORS 2	/* tensors sampled per candidate */
#define SAMPLE_ELEMS 16384	/* of each: sigma of the correlation ~0.008 */
#define MIN_TENSOR_BYTES 4096
#define HINT_MARGIN 0.05
/* Correlation of the sampled values: models trained apart measure within
 * 0.02 of 0 on the corpus, the most distant siblings 0.22. */
#define MIN_SCORE 0.1
#define MIN_SAMPLE 2048		/* elements, for a score to count */

/* The shape of t as stored in the index ("[a,b]"), compared with a stored
 * shape: equal, or equal but for the first axis. */
static bool shape_compatible(const char *a, const char *b)
{
	const char *ca, *cb;

	if (!strcmp(a, b))
		return true;
	ca = strchr(a, ',');
	cb = strchr(b, ',');
	if (!ca && !cb) /* both one-dimensional */
		return a[0] == '[' && b[0] == '[' && a[1] != ']' && b[1] != ']';
	return ca && cb && !strcmp(ca, cb);
}

static int cmp_tensor_size(const void *x, const void *y)
{
	const struct st_tensor *a = *(const struct st_tensor *const *)x;
	const struct st_tensor *b = *(const struct st_tensor *const *)y;
	uint64_t na = a->end - a->begin, nb = b->end - b->begin;

	return na < nb ? 1 : na > nb ? -1 : strcmp(a->name, b->name);
}

static int shape_str(char *out, size_t n, const struct st_tensor *t)
{
	size_t len = 0;

	len += (size_t)snprintf(out + len, n - len, "[");
	for (unsigned i = 0; i < t->ndim && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%llu", i ? "," : "",
					(unsigned long long)t->shape[i]);
	if (len + 2 > n)
		return -1;
	snprintf(out + len, n - len, "]");
	return 0;
}

/* The stored tensor of repo `repo` (any of its revisions) named like t with
 * a compatible shape whose base (itself, or its delta base) can be a base
 * for t; the largest such.  out->obj = 0 if none. */
static int tensor_base_in(struct store_ingest *in, int64_t repo, const struct st_tensor *t,
			  struct base_tensor *out, bool coding)
{
	struct store *s = in->s;
	char shape[ST_MAX_DIMS * 21 + 3];
	int rc = 0, step;

	memset(out, 0, sizeof(*out));
	if (shape_str(shape, sizeof(shape), t))
		return 0;
	if (!in->base_stmt) {
		rc = db_prepare(s, &in->base_stmt,
				"SELECT DISTINCT r.id, r.dtype, r.size, tt.shape, o.id, o.dtype, o.size"
				" FROM tensors tt JOIN objects o ON o.id = tt.object_id"
				" JOIN objects r ON r.id = coalesce(o.base_object_id, o.id)"
				" JOIN revision_files rf ON rf.file_id = tt.file_id"
				" JOIN revisions v ON v.id = rf.revision_id"
				" WHERE tt.name = ?1 AND v.repo_id = ?2 AND r.size > 0");
		if (rc)
			return rc;
	}
	db_bind_text(in->base_stmt, 1, t->name, -1);
	db_bind_int64(in->base_stmt, 2, repo);
	while ((step = db_step(in->base_stmt)) == DB_ROW) {
		/* coding: the base stored without delta (one level); measuring:
		 * the candidate's own tensor */
		int c = coding ? 0 : 4;
		int dt = db_column_int(in->base_stmt, c + 1);
		uint64_t size = (uint64_t)db_column_int64(in->base_stmt, c + 2);
		const char *sh = (const char *)db_column_text(in->base_stmt, 3);

		if (!sh || !shape_compatible(shape, sh) ||
		    (coding ? !delta_xor_supported(t->dtype, dt) : !hz_dtype_is_float(dt) ||
					  dt == HZ_DT_F8_E4M3 || dt == HZ_DT_F8_E5M2))
			continue;
		if (size > out->size) {
			out->obj = db_column_int64(in->base_stmt, c);
			out->dtype = dt;
			out->size = size;
		}
	}
	if (step != DB_DONE)
		rc = db_error(s, "cannot look up base tensors");
	db_reset(in->base_stmt);
	return rc;
}

int family_tensor_base(struct store_ingest *in, const struct st_tensor *t,
		       struct base_tensor *out)
{
	memset(out, 0, sizeof(*out));
	if (!in->base_repo || !hz_dtype_is_float(t->dtype) || t->end == t->begin)
		return 0;
	return tensor_base_in(in, in->base_repo, t, out, true);
}

struct cand {
	int64_t repo;
	uint64_t same;		/* new bytes the repo holds identical */
	uint64_t bytes;		/* new bytes with a match in the repo */
	uint64_t own;		/* of those, matched by tensors stored without delta */
	double score;
};

static void cand_add(struct cand *c, size_t *n, size_t cap, int64_t repo, uint64_t bytes,
		     bool own, bool same)
{
	size_t i;

	for (i = 0; i < *n && c[i].repo != repo; i++)
		;
	if (i == *n) {
		if (*n == cap)
			return;
		memset(&c[i], 0, sizeof(c[i]));
		c[i].repo = repo;
		(*n)++;
	}
	c[i].bytes += bytes;
	if (own)
		c[i].own += bytes;
	if (same)
		c[i].same += bytes;
}

static int cmp_cand(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->same != b->same)
		return a->same < b->same ? 1 : -1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	return (a->repo < b->repo) - (a->repo > b->repo); /* newest first */
}

/* An F16 by its bits (ldexp() was a third of measuring); exact. */
static inline float f16_value(uint16_t h)
{
	uint32_t e = (h >> 10) & 31, m = h & 1023, u;
	float f;

	if (e == 31)
		return m ? NAN : h & 0x8000 ? -INFINITY : INFINITY;
	if (e == 0) {
		f = (float)m * 0x1p-24f;
		return h & 0x8000 ? -f : f;
	}
	u = (uint32_t)(h & 0x8000) << 16 | (e + 112) << 23 | m << 13;
	memcpy(&f, &u, 4);
	return f;
}

double family_value(const uint8_t *p, int dt, size_t i)
{
	uint32_t u;
	float f;

	switch (dt) {
	case HZ_DT_F32:
		u = hz_load32(p + 4 * i);
		memcpy(&f, &u, 4);
		return f;
	case HZ_DT_BF16:
		u = (uint32_t)hz_load16(p + 2 * i) << 16;
		memcpy(&f, &u, 4);
		return f;
	case HZ_DT_F16:
		return f16_value(hz_load16(p + 2 * i));
	case HZ_DT_F64: {
		uint64_t x = hz_load64(p + 8 * i);
		double d;

		memcpy(&d, &x, 8);
		return d;
	}
	default:
		return NAN; /* F8: not sampled */
	}
}

/* Values of n elements of dtype dt as floats (the switch outside the
 * loop: per element it was most of measuring); F8 and others: NaN. */
static void to_float(float *out, const uint8_t *p, int dt, size_t n)
{
	uint32_t u;

	switch (dt) {
	case HZ_DT_F32:
		memcpy(out, p, n * 4); /* little-endian host */
		break;
	case HZ_DT_BF16:
		for (size_t i = 0; i < n; i++) {
			u = (uint32_t)hz_load16(p + 2 * i) << 16;
			memcpy(&out[i], &u, 4);
		}
		break;
	case HZ_DT_F64:
		for (size_t i = 0; i < n; i++)
			out[i] = (float)family_value(p, dt, i);
		break;
	case HZ_DT_F16:
		for (size_t i = 0; i < n; i++)
			out[i] = f16_value(hz_load16(p + 2 * i));
		break;
	default: /* F8: not sampled */
		for (size_t i = 0; i < n; i++)
			out[i] = NAN;
		break;
	}
}

/* Pearson correlation of x[0..n) and y[0..n), over the pairs where both
 * are finite; 0 if undefined. */
static double correlation(const float *x, const float *y, size_t n, size_t *used)
{
	double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, vx, vy;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		double a = x[i], b = y[i];

		if (!isfinite(a) || !isfinite(b))
			continue;
		sx += a;
		sy += b;
		sxx += a * a;
		syy += b * b;
		sxy += a * b;
		k++;
	}
	*used = k;
	if (k < 16)
		return 0;
	vx = sxx - sx * sx / (double)k;
	vy = syy - sy * sy / (double)k;
	if (vx <= 0 || vy <= 0)
		return vx <= 0 && vy <= 0 && sx == sy ? 1 : 0; /* constant tensors */
	return (sxy - sx * sy / (double)k) / sqrt(vx * vy);
}

/* The new model's samples, read and converted once for all candidates. */
#define SAMPLE_CACHE 8
struct samples {
	struct {
		const struct st_tensor *t;
		float *v;	/* up to SAMPLE_ELEMS values */
		size_t n;
	} c[SAMPLE_CACHE];
	float *other;		/* a candidate's values */
};

static void samples_free(struct samples *sm)
{
	for (int i = 0; i < SAMPLE_CACHE; i++)
		free(sm->c[i].v);
	free(sm->other);
}

/* The first n (<= SAMPLE_ELEMS) values of t, from the cache or fd. */
static int sample_of(struct store_ingest *in, struct samples *sm, int fd,
		     const struct st_tensor *t, size_t n, const float **out)
{
	size_t esz = hz_dtype_size(t->dtype);
	int i, rc;

	for (i = 0; i < SAMPLE_CACHE && sm->c[i].t; i++) {
		if (sm->c[i].t == t && sm->c[i].n >= n) {
			*out = sm->c[i].v;
			return 0;
		}
	}
	if (i == SAMPLE_CACHE) /* full: reuse the last slot */
		i = SAMPLE_CACHE - 1;
	if (!sm->c[i].v && !(sm->c[i].v = malloc(SAMPLE_ELEMS * sizeof(float))))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	rc = hz_pread_all(fd, in->buf, n * esz, t->begin);
	if (rc)
		return rc;
	to_float(sm->c[i].v, in->buf, t->dtype, n);
	sm->c[i].t = t;
	sm->c[i].n = n;
	*out = sm->c[i].v;
	return 0;
}

/*
 * The similarity of the new model to repo's: the correlation of the
 * values of up to SAMPLE_TENSORS matched tensors, in big's order (the first
 * block of each), averaged with their element counts as weights.  Models
 * trained separately correlate at about 0 however alike their
 * architectures; siblings fine-tuned from one base at 0.5 and more; a
 * fine-tune, a LoRA merge or a cast at nearly 1.
 */
static int measure(struct store_ingest *in, struct samples *sm, int fd,
		   struct st_tensor *const *big, size_t nbig, int64_t repo, double *score)
{
	struct store *s = in->s;
	double sum = 0;
	size_t weight = 0, sampled = 0;
	int rc = 0;

	*score = 0;
	if (!sm->other && !(sm->other = malloc(SAMPLE_ELEMS * sizeof(float))))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (size_t i = 0; i < nbig && sampled < SAMPLE_TENSORS; i++) {
		const struct st_tensor *t = big[i];
		struct base_tensor b;
		size_t esz = hz_dtype_size(t->dtype), n, base_len, used;
		const float *mine = NULL;
		int base_dt;
		double r;

		rc = tensor_base_in(in, repo, t, &b, false);
		if (rc)
			return rc;
		if (!b.obj)
			continue;
		rc = pack_object_block_any(s, b.obj, 0, &base_len, &base_dt);
		if (rc)
			return rc;
		n = base_len / hz_dtype_size(base_dt);
		if (n > DELTA_BLOCK_MAX / esz)
			n = DELTA_BLOCK_MAX / esz;
		if (n > (t->end - t->begin) / esz)
			n = (size_t)((t->end - t->begin) / esz);
		if (n > SAMPLE_ELEMS)
			n = SAMPLE_ELEMS;
		to_float(sm->other, s->raw_buf, base_dt, n);
		rc = sample_of(in, sm, fd, t, n, &mine);
		if (rc)
			return rc;
		r = correlation(mine, sm->other, n, &used);
		sum += r * (double)used;
		weight += used;
		sampled++;
	}
	if (weight >= MIN_SAMPLE)
		*score = sum / (double)weight;
	return 0;
}

/* The bytes measure() decodes to sample t: its first block. */
static uint64_t sample_cost(const struct st_tensor *t)
{
	uint64_t n = t->end - t->begin;

	return n < DELTA_BLOCK_MAX ? n : DELTA_BLOCK_MAX;
}

/* Sampling order: the tensors that hold SAMPLE_ELEMS elements in their
 * first block, cheapest first block first (measuring decodes a whole
 * block of every candidate, up to CANDIDATE_REPOS of them: on a small
 * model that was most of the ingest), then the others, largest first. */
static int cmp_sample(const void *x, const void *y)
{
	const struct st_tensor *a = *(const struct st_tensor *const *)x;
	const struct st_tensor *b = *(const struct st_tensor *const *)y;
	bool fa = sample_cost(a) >= SAMPLE_ELEMS * hz_dtype_size(a->dtype);
	bool fb = sample_cost(b) >= SAMPLE_ELEMS * hz_dtype_size(b->dtype);

	if (fa != fb)
		return fa ? -1 : 1;
	if (fa && sample_cost(a) != sample_cost(b))
		return sample_cost(a) < sample_cost(b) ? -1 : 1;
	return cmp_tensor_size(x, y);
}

static int64_t repo_id_by_name(struct store *s, const char *name)
{
	struct db_stmt *st = NULL;
	int64_t id = 0;

	if (db_prepare(s, &st, "SELECT id FROM repos WHERE name = ?"))
		return 0;
	db_bind_text(st, 1, name, -1);
	if (db_step(st) == DB_ROW)
		id = db_column_int64(st, 0);
	db_finalize(st);
	return id;
}

int family_detect(struct store_ingest *in, int fd, const struct st_file *st,
		  const uint8_t *const *tsha)
{
	struct store *s = in->s;
	struct st_tensor **big = NULL, **smp = NULL;
	struct samples sm = { 0 };
	const uint8_t **bsha = NULL;
	struct cand cands[64];
	size_t nbig = 0, ncand = 0;
	int64_t hint_repo = 0;
	uint64_t best_own = 0;
	int rc = 0;

	if (in->base_decided)
		return 0;
	big = malloc((st->ntensors ? st->ntensors : 1) * sizeof(*big));
	bsha = malloc((st->ntensors ? st->ntensors : 1) * sizeof(*bsha));
	smp = malloc((st->ntensors ? st->ntensors : 1) * sizeof(*smp));
	if (!big || !bsha || !smp) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < st->ntensors; i++)
		if (hz_dtype_is_float(st->tensors[i].dtype) &&
		    st->tensors[i].end - st->tensors[i].begin >= MIN_TENSOR_BYTES)
			big[nbig++] = &st->tensors[i];
	if (!nbig)
		goto out; /* nothing to compare: decide on a later file */
	qsort(big, nbig, sizeof(*big), cmp_tensor_size);
	for (size_t i = 0; i < nbig; i++)
		bsha[i] = tsha[big[i] - st->tensors];
	if (nbig > CANDIDATE_TENSORS)
		nbig = CANDIDATE_TENSORS;
	memcpy(smp, big, nbig * sizeof(*smp));
	qsort(smp, nbig, sizeof(*smp), cmp_sample);

	/* candidates: repos holding tensors of the same names and shapes */
	{
		struct db_stmt *q = NULL;
		char shape[ST_MAX_DIMS * 21 + 3];

		rc = db_prepare(s, &q,
				"SELECT DISTINCT v.repo_id, tt.shape, r.size, r.dtype,"
				" o.base_object_id IS NULL, o.sha256 FROM tensors tt"
				" JOIN objects o ON o.id = tt.object_id"
				" JOIN objects r ON r.id = coalesce(o.base_object_id, o.id)"
				" JOIN revision_files rf ON rf.file_id = tt.file_id"
				" JOIN revisions v ON v.id = rf.revision_id WHERE tt.name = ?");
		for (size_t i = 0; !rc && i < nbig; i++) {
			if (shape_str(shape, sizeof(shape), big[i]))
				continue;
			db_bind_text(q, 1, big[i]->name, -1);
			while (db_step(q) == DB_ROW) {
				const char *sh = (const char *)db_column_text(q, 1);

				if (sh && shape_compatible(shape, sh) &&
				    hz_dtype_is_float(db_column_int(q, 3)))
					cand_add(cands, &ncand, sizeof(cands) / sizeof(*cands),
						 db_column_int64(q, 0),
						 big[i]->end - big[i]->begin,
						 db_column_int(q, 4),
						 bsha[i] && db_column_bytes(q, 5) == HZ_SHA256_LEN &&
							 !memcmp(db_column_blob(q, 5), bsha[i],
								 HZ_SHA256_LEN));
			}
			db_reset(q);
		}
		db_finalize(q);
		if (rc)
			goto out;
	}
	in->base_decided = 1;
	if (!ncand)
		goto out;
	qsort(cands, ncand, sizeof(*cands), cmp_cand);
	if (in->hint)
		hint_repo = repo_id_by_name(s, in->hint);
	if (hint_repo) { /* the hint is measured too, wherever it ranks */
		size_t i;

		for (i = 0; i < ncand && cands[i].repo != hint_repo; i++)
			;
		if (i < ncand && i >= CANDIDATE_REPOS) {
			struct cand h = cands[i];

			cands[i] = cands[CANDIDATE_REPOS - 1];
			cands[CANDIDATE_REPOS - 1] = h;
		}
	}
	for (size_t i = 0; i < ncand && i < CANDIDATE_REPOS; i++) {
		rc = measure(in, &sm, fd, smp, nbig, cands[i].repo, &cands[i].score);
		if (rc)
			goto out;
		/* siblings coded against the same base measure the same: the
		 * repo that holds the base itself wins the tie */
		if (cands[i].score > in->base_score + 1e-9 ||
		    (cands[i].score > in->base_score - 1e-9 && cands[i].own > best_own)) {
			in->base_repo = cands[i].repo;
			in->base_score = cands[i].score;
			best_own = cands[i].own;
		}
	}
	/* the hint wins a near tie, never against the measurement */
	for (size_t i = 0; hint_repo && i < ncand && i < CANDIDATE_REPOS; i++) {
		if (cands[i].repo == hint_repo && cands[i].score >= MIN_SCORE &&
		    cands[i].score + HINT_MARGIN >= in->base_score) {
			in->base_repo = hint_repo;
			in->base_score = cands[i].score;
		}
	}
	if (in->base_score < MIN_SCORE) {
		in->base_repo = 0;
		in->base_score = 0;
	}
out:
	free(big);
	free(bsha);
	free(smp);
	samples_free(&sm);
	return rc;
}

/* base_model from a config.json (a string, or the first of a list), else
 * _name_or_path when it looks like a repo id. */
static char *hint_from_config(const char *text, size_t n)
{
	json_error_t err;
	json_t *root = json_loadb(text, n, 0, &err), *v;
	char *out = NULL;

	if (!json_is_object(root))
		goto out;
	v = json_object_get(root, "base_model");
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (!json_is_string(v))
		v = json_object_get(root, "_name_or_path");
	if (json_is_string(v) && !store_repo_name_check(json_string_value(v)))
		out = hz_strdup(json_string_value(v));
out:
	json_decref(root);
	hz_error_clear();
	return out;
}

/* base_model: from a README's YAML front matter ("base_model: x" or a
 * list "base_model:\n- x"). */
static char *hint_from_readme(const char *text, size_t n)
{
	const char *p = text, *end = text + n, *key;
	char val[256];
	size_t k = 0;

	if (n < 4 || strncmp(text, "---", 3))
		return NULL;
	key = memmem(p, n, "\nbase_model:", 12);
	if (!key)
		return NULL;
	p = key + 12;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && (*p == '\n' || *p == '\r')) { /* a list: the first item */
		while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '-'))
			p++;
	}
	if (p < end && (*p == '"' || *p == '\''))
		p++;
	while (p < end && k + 1 < sizeof(val) && *p != '\n' && *p != '\r' && *p != '"' &&
	       *p != '\'' && *p != ' ')
		val[k++] = *p++;
	val[k] = '\0';
	hz_error_clear();
	return k && !store_repo_name_check(val) ? hz_strdup(val) : NULL;
}

int family_read_hint(struct store_ingest *in, const char *path, int fd, uint64_t size)
{
	char *text, *hint = NULL;
	bool config = !strcmp(path, "config.json"), readme = !strcmp(path, "README.md");

	if ((!config && !readme) || !size || size > (1u << 20) || (in->hint && config))
		return 0;
	text = malloc((size_t)size);
	if (!text)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (!hz_pread_all(fd, text, (size_t)size, 0))
		hint = config ? hint_from_config(text, (size_t)size)
			      : hint_from_readme(text, (size_t)size);
	hz_error_clear();
	free(text);
	if (hint) {
		free(in->hint);
		in->hint = hint;
	}
	return 0;
}

int family_assign(struct store_ingest *in, int64_t repo_id, int64_t rev_id, int64_t now)
{
	struct store *s = in->s;
	struct db_stmt *st = NULL;
	int64_t family = 0;
	int rc;

	if (!in->base_decided && !in->saw_model)
		return 0; /* no model in this revision: its family does not change */
	if (!in->base_repo && in->layout_base) {
		/* no base by name, but tensors found transposed from a stored
		 * model's: a reconversion joins that model's family */
		rc = db_prepare(s, &st, "SELECT v.repo_id FROM tensors tt JOIN revision_files rf"
					" ON rf.file_id = tt.file_id JOIN revisions v ON v.id ="
					" rf.revision_id WHERE tt.object_id = ? AND v.repo_id != ?"
					" ORDER BY v.id LIMIT 1");
		if (rc)
			return rc;
		db_bind_int64(st, 1, in->layout_base);
		db_bind_int64(st, 2, repo_id);
		if (db_step(st) == DB_ROW) {
			in->base_repo = db_column_int64(st, 0);
			in->base_score = in->layout_score;
		}
		db_finalize(st);
		st = NULL;
	}
	if (in->base_repo && in->base_repo != repo_id) {
		/* the base repo may have been deleted since the session chose
		 * it (its tensors the deltas need are pinned, not the repo):
		 * then this one founds a family of its own */
		rc = db_prepare(s, &st, "SELECT (SELECT family_id FROM repo_families WHERE"
					" repo_id = ?1) FROM repos WHERE id = ?1");
		if (rc)
			return rc;
		db_bind_int64(st, 1, in->base_repo);
		if (db_step(st) == DB_ROW)
			family = db_column_int64(st, 0);
		else
			in->base_repo = 0;
		db_finalize(st);
	}
	if (!in->base_repo || in->base_repo == repo_id) {
		/* keep the family the repo had, if any */
		rc = db_prepare(s, &st, "SELECT family_id FROM repo_families WHERE repo_id = ?");
		if (rc)
			return rc;
		db_bind_int64(st, 1, repo_id);
		if (db_step(st) == DB_ROW)
			family = db_column_int64(st, 0);
		db_finalize(st);
	}
	if (!family) {
		rc = db_prepare(s, &st, "INSERT INTO families(created_at) VALUES (?) RETURNING id");
		if (rc)
			return rc;
		db_bind_int64(st, 1, now);
		rc = db_step_id(s, st, "cannot create a family", &family);
		db_finalize(st);
		if (rc)
			return rc;
	}
	rc = db_prepare(s, &st, "INSERT INTO repo_families(repo_id, family_id,"
				" base_repo_id, score, hint, revision_id) VALUES (?,?,?,?,?,?)"
				" ON CONFLICT(repo_id) DO UPDATE SET family_id = excluded.family_id,"
				" base_repo_id = excluded.base_repo_id, score = excluded.score,"
				" hint = excluded.hint, revision_id = excluded.revision_id");
	if (rc)
		return rc;
	db_bind_int64(st, 1, repo_id);
	db_bind_int64(st, 2, family);
	if (in->base_repo && in->base_repo != repo_id)
		db_bind_int64(st, 3, in->base_repo);
	else
		db_bind_null(st, 3);
	db_bind_double(st, 4, in->base_score);
	if (in->hint)
		db_bind_text(st, 5, in->hint, -1);
	else
		db_bind_null(st, 5);
	db_bind_int64(st, 6, rev_id);
	rc = db_step(st) == DB_DONE ? 0 : db_error(s, "cannot record the family");
	db_finalize(st);
	/* families left without members */
	if (!rc)
		rc = db_exec(s, "DELETE FROM families WHERE id NOT IN"
				" (SELECT family_id FROM repo_families)");
	return rc;
}

int store_families_each(struct store *s,
			int (*fn)(void *payload, int64_t family,
				  const struct store_family_member *m),
			void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st,
			    "SELECT f.family_id, r.name, b.name, f.score, f.hint FROM repo_families f"
			    " JOIN repos r ON r.id = f.repo_id LEFT JOIN repos b ON b.id = f.base_repo_id"
			    " ORDER BY f.family_id, f.base_repo_id IS NOT NULL, r.name");

	while (!rc && db_step(st) == DB_ROW) {
		struct store_family_member m = {
			.repo = (const char *)db_column_text(st, 1),
			.base = (const char *)db_column_text(st, 2),
			.score = db_column_double(st, 3),
			.hint = (const char *)db_column_text(st, 4),
		};

		rc = fn(payload, db_column_int64(st, 0), &m);
	}
	db_finalize(st);
	return rc;
}
