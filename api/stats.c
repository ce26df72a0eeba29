/*
 * api/stats.c - the storage statistics (docs/api.md, "Storage
 * statistics"): GET /api/stats (and /api/v1/stats), /api/stats/repos/
 * {ns}/{name}, /api/stats/families/{id} and /api/stats/history, and the
 * same JSON for `hubzip stats --json`.
 *
 * Totals cover every repo; repos the caller may not read are never named:
 * they are summed into "rest", left out of a family's member list, and
 * their history rows carry no repo or commit.  With no request (the CLI)
 * every repo is readable.
 */
#include "api/api_int.h"
#include "api/stats_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define STATS_LIMIT_DEFAULT 1000
#define STATS_LIMIT_MAX 100000
#define COMMITS_LIMIT_DEFAULT 100
#define HISTORY_LIMIT_DEFAULT 1000
#define HISTORY_LIMIT_MAX 10000
#define FAMILY_MEMBERS_LISTED 50

/* Who is asking: req NULL is the CLI, which may read everything. */
struct who {
	struct api_req *req;
};

static int who_reads(const struct who *w, const char *repo, int is_private)
{
	struct store_repo_info info = { .is_private = is_private };

	return !w->req || api_can_read(w->req, repo, &info);
}

/* A token that may read every namespace (or the CLI). */
static int who_reads_all(const struct who *w)
{
	return !w->req || (w->req->has_token && !w->req->tok.ns[0]);
}

static json_t *ratio(uint64_t logical, uint64_t physical)
{
	return json_real(physical ? (double)logical / (double)physical : 0.0);
}

static json_t *iso(int64_t t)
{
	char buf[40];

	api_iso_time(buf, sizeof(buf), t);
	return json_string(buf);
}

static json_t *stages_json(const struct store_acct *a)
{
	struct store_stages sg;

	store_acct_stages(&sg, a);
	return json_pack("{s:I, s:I, s:I, s:I}", "file_dedup", (json_int_t)sg.file_dedup,
			 "tensor_dedup", (json_int_t)sg.tensor_dedup, "delta",
			 (json_int_t)sg.delta, "coding", (json_int_t)sg.coding);
}

/* logical_bytes, physical_bytes, ratio, stages and the counts of a into o */
static int acct_into(json_t *o, const struct store_acct *a, int with_revisions)
{
	int rc = json_object_set_new(o, "logical_bytes", json_integer((json_int_t)a->logical_bytes));

	rc |= json_object_set_new(o, "physical_bytes", json_integer((json_int_t)a->physical_bytes));
	rc |= json_object_set_new(o, "ratio", ratio(a->logical_bytes, a->physical_bytes));
	rc |= json_object_set_new(o, "stages", stages_json(a));
	if (with_revisions)
		rc |= json_object_set_new(o, "revisions", json_integer((json_int_t)a->revisions));
	rc |= json_object_set_new(o, "files", json_integer((json_int_t)a->files));
	rc |= json_object_set_new(o, "unique_files", json_integer((json_int_t)a->unique_files));
	rc |= json_object_set_new(o, "tensors", json_integer((json_int_t)a->tensors));
	rc |= json_object_set_new(o, "unique_tensors", json_integer((json_int_t)a->unique_tensors));
	return rc ? hz_error_set(HZ_ENOMEM, "out of memory") : 0;
}

static void acct_add(struct store_acct *sum, const struct store_acct *a)
{
	sum->logical_bytes += a->logical_bytes;
	sum->file_bytes += a->file_bytes;
	sum->object_bytes += a->object_bytes;
	sum->physical_bytes += a->physical_bytes;
	sum->delta_bytes += a->delta_bytes;
}

static json_t *repo_summary(const struct store_acct_repo *r)
{
	json_t *o = json_pack("{s:s, s:s, s:b, s:o}", "repo", r->repo, "type",
			      r->type == STORE_REPO_DATASET ? "dataset" : "model", "private",
			      r->is_private, "family",
			      r->family ? json_integer((json_int_t)r->family) : json_null());

	if (o && acct_into(o, &r->a, 1)) {
		json_decref(o);
		return NULL;
	}
	if (o && json_object_set_new(o, "exclusive_bytes",
				     json_integer((json_int_t)r->exclusive_bytes))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *base_json(const struct who *w, const struct store_acct_repo *r)
{
	return r->base && who_reads(w, r->base, r->base_private) ? json_string(r->base)
								  : json_null();
}

static json_t *score_json(double score)
{
	return score >= 0 ? json_real(score) : json_null();
}

/* ---- GET /api/stats -------------------------------------------------------- */

struct listing {
	const struct who *w;
	struct store_acct_view *v;
	size_t limit;
	json_t *arr;
	size_t n;
	struct store_acct listed;	/* sums of what was listed */
	int full;			/* family members: full RepoSummary */
	uint64_t hidden;		/* members not listed */
};

static int list_repo(void *payload, const struct store_acct_repo *r)
{
	struct listing *l = payload;
	json_t *o;

	if (!who_reads(l->w, r->repo, r->is_private) || l->n >= l->limit)
		return 0;
	o = repo_summary(r);
	if (!o || json_array_append_new(l->arr, o))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	acct_add(&l->listed, &r->a);
	l->n++;
	return 0;
}

static int list_member(void *payload, const struct store_acct_repo *r)
{
	struct listing *l = payload;
	json_t *o;

	if (!who_reads(l->w, r->repo, r->is_private) || l->n >= l->limit) {
		l->hidden++;
		return 0;
	}
	if (l->full) {
		o = repo_summary(r);
		if (o && (json_object_set_new(o, "base", base_json(l->w, r)) ||
			  json_object_set_new(o, "score", score_json(r->score)) ||
			  json_object_set_new(o, "hint", r->hint ? json_string(r->hint)
								 : json_null()))) {
			json_decref(o);
			o = NULL;
		}
	} else {
		o = json_pack("{s:s, s:o, s:o, s:I, s:I}", "repo", r->repo, "base",
			      base_json(l->w, r), "score", score_json(r->score), "logical_bytes",
			      (json_int_t)r->a.logical_bytes, "physical_bytes",
			      (json_int_t)r->a.physical_bytes);
	}
	if (!o || json_array_append_new(l->arr, o))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

/* A family as FamilySummary (full: FamilyStats), or NULL in *out when the
 * caller may read none of its members. */
static int family_json(const struct who *w, struct store_acct_view *v,
		       const struct store_acct_family *f, int full, json_t **out)
{
	struct listing m = { .w = w, .v = v, .limit = full ? SIZE_MAX : FAMILY_MEMBERS_LISTED,
			     .arr = json_array(), .full = full };
	json_t *o = NULL;
	int rc;

	*out = NULL;
	if (!m.arr)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	rc = store_acct_repos_each(v, NULL, f->id, list_member, &m);
	if (rc || !m.n) {
		json_decref(m.arr);
		return rc;
	}
	o = json_pack("{s:I, s:o, s:I, s:o, s:I}", "family", (json_int_t)f->id, "root",
		      f->root && who_reads(w, f->root, f->root_private) ? json_string(f->root)
									  : json_null(),
		      "members", (json_int_t)f->members, "repos", m.arr, "hidden_members",
		      (json_int_t)m.hidden);
	if (!o || acct_into(o, &f->a, 1)) {
		json_decref(o);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

static int list_family(void *payload, const struct store_acct_family *f)
{
	struct listing *l = payload;
	json_t *o;
	int rc;

	if (l->n >= l->limit)
		return 0;
	rc = family_json(l->w, l->v, f, 0, &o);
	if (rc || !o)
		return rc;
	if (json_array_append_new(l->arr, o))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	l->n++;
	return 0;
}

static int stats_build(const struct who *w, struct store *s, size_t limit, json_t **out)
{
	struct store_acct_view v;
	struct store_acct_totals t;
	struct listing repos = { .w = w, .limit = limit }, fams = { .w = w, .limit = limit };
	struct store_acct rest;
	json_t *o = NULL;
	int rc;

	*out = NULL;
	rc = store_acct_begin(&v, s);
	if (rc)
		return rc;
	repos.v = fams.v = &v;
	repos.arr = json_array();
	fams.arr = json_array();
	rc = store_acct_totals(&v, &t);
	if (!rc && (!repos.arr || !fams.arr))
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	if (!rc)
		rc = store_acct_repos_each(&v, NULL, 0, list_repo, &repos);
	if (!rc)
		rc = store_acct_families_each(&v, 0, list_family, &fams);
	if (rc)
		goto out;
	memset(&rest, 0, sizeof(rest));
	rest.logical_bytes = t.a.logical_bytes - repos.listed.logical_bytes;
	rest.file_bytes = t.a.file_bytes - repos.listed.file_bytes;
	rest.object_bytes = t.a.object_bytes - repos.listed.object_bytes;
	rest.physical_bytes = t.a.physical_bytes - repos.listed.physical_bytes;
	rest.delta_bytes = t.a.delta_bytes - repos.listed.delta_bytes;
	o = json_pack("{s:I, s:o, s:I, s:I, s:o, s:o,"
		      " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
		      " s:{s:I, s:I, s:I, s:I}, s:o, s:{s:I, s:I, s:I, s:o}, s:o}",
		"generation", (json_int_t)v.generation, "computed_at", iso(v.computed_at),
		"logical_bytes", (json_int_t)t.a.logical_bytes,
		"physical_bytes", (json_int_t)t.a.physical_bytes,
		"ratio", ratio(t.a.logical_bytes, t.a.physical_bytes),
		"stages", stages_json(&t.a),
		"counts",
		"repos", (json_int_t)t.repos, "revisions", (json_int_t)t.a.revisions,
		"files", (json_int_t)t.a.files, "unique_files", (json_int_t)t.a.unique_files,
		"tensors", (json_int_t)t.a.tensors, "unique_tensors", (json_int_t)t.a.unique_tensors,
		"objects", (json_int_t)t.objects, "families", (json_int_t)t.families,
		"packs", (json_int_t)t.packs, "unique_file_bytes", (json_int_t)t.a.file_bytes,
		"unique_object_bytes", (json_int_t)t.a.object_bytes,
		"pack_bytes", (json_int_t)t.pack_bytes, "index_bytes", (json_int_t)t.index_bytes,
		"disk",
		"pack_bytes", (json_int_t)t.pack_bytes,
		"pack_header_bytes", (json_int_t)(t.packs * 32),
		"dead_bytes", (json_int_t)t.dead_bytes,
		"index_bytes", (json_int_t)t.index_bytes,
		"repos", repos.arr,
		"rest",
		"repos", (json_int_t)(t.repos - repos.n),
		"logical_bytes", (json_int_t)rest.logical_bytes,
		"physical_bytes", (json_int_t)rest.physical_bytes,
		"stages", stages_json(&rest),
		"families", fams.arr);
	repos.arr = fams.arr = NULL; /* taken by json_pack, even when it fails */
	if (!o)
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
out:
	json_decref(repos.arr);
	json_decref(fams.arr);
	store_acct_end(&v);
	*out = o;
	return rc;
}

/* ---- GET /api/stats/repos/{ns}/{name} --------------------------------------- */

struct repo_ctx {
	const struct who *w;
	struct store_acct_view *v;
	json_t *o;		/* the RepoSummary */
	json_t *refs;		/* {branch: commit} */
	json_t *commits;
	size_t limit, total;
	struct store_acct_repo r; /* valid during the repo callback */
};

static int family_info_one(void *payload, const struct store_acct_family *f)
{
	struct repo_ctx *c = payload;
	json_t *fi = json_pack("{s:I, s:o, s:o, s:o, s:o}", "family", (json_int_t)f->id, "root",
			       f->root && who_reads(c->w, f->root, f->root_private)
				       ? json_string(f->root) : json_null(),
			       "base", base_json(c->w, &c->r), "score", score_json(c->r.score),
			       "hint", c->r.hint ? json_string(c->r.hint) : json_null());

	if (!fi || json_object_set_new(c->o, "family_info", fi))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	return 0;
}

static int repo_one(void *payload, const struct store_acct_repo *r)
{
	struct repo_ctx *c = payload;
	int rc;

	c->o = repo_summary(r);
	if (!c->o || json_object_set_new(c->o, "created_at", iso(r->created_at)))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (!r->family)
		return json_object_set_new(c->o, "family_info", json_null())
			       ? hz_error_set(HZ_ENOMEM, "out of memory") : 0;
	c->r = *r;
	rc = store_acct_families_each(c->v, r->family, family_info_one, c);
	memset(&c->r, 0, sizeof(c->r));
	return rc;
}

static int ref_one(void *payload, const char *name, const char *commit)
{
	return json_object_set_new(payload, name, json_string(commit))
		       ? hz_error_set(HZ_ENOMEM, "out of memory") : 0;
}

static int commit_one(void *payload, const struct store_acct_revision *r)
{
	struct repo_ctx *c = payload;
	json_t *o, *branches;
	const char *name;
	json_t *val;

	if (c->total++ >= c->limit)
		return 0;
	branches = json_array();
	json_object_foreach(c->refs, name, val)
		if (!strcmp(json_string_value(val), r->commit))
			json_array_append_new(branches, json_string(name));
	o = json_pack("{s:s, s:o, s:s, s:o}", "commit", r->commit, "created_at",
		      iso(r->created_at), "message", r->message ? r->message : "", "branches",
		      branches);
	if (!o || acct_into(o, &r->a, 0) || json_array_append_new(c->commits, o)) {
		json_decref(o);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	return 0;
}

static int repo_build(const struct who *w, struct store *s, const char *repo, size_t limit,
		      json_t **out)
{
	struct store_acct_view v;
	struct repo_ctx c = { .w = w, .v = &v, .limit = limit };
	int rc;

	*out = NULL;
	rc = store_acct_begin(&v, s);
	if (rc)
		return rc;
	c.refs = json_object();
	c.commits = json_array();
	if (!c.refs || !c.commits)
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	if (!rc)
		rc = store_acct_repos_each(&v, repo, 0, repo_one, &c);
	if (!rc)
		rc = store_refs_each(s, repo, ref_one, c.refs);
	if (!rc)
		rc = store_acct_revisions_each(&v, repo, commit_one, &c);
	if (!rc && (json_object_set_new(c.o, "generation", json_integer((json_int_t)v.generation)) ||
		    json_object_set_new(c.o, "computed_at", iso(v.computed_at)) ||
		    json_object_set(c.o, "branches", c.refs) ||
		    json_object_set(c.o, "commits", c.commits) ||
		    json_object_set_new(c.o, "commits_total", json_integer((json_int_t)c.total))))
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	store_acct_end(&v);
	json_decref(c.refs);
	json_decref(c.commits);
	if (rc)
		json_decref(c.o);
	else
		*out = c.o;
	return rc;
}

/* ---- GET /api/stats/families/{id} -------------------------------------------- */

struct family_ctx {
	const struct who *w;
	struct store_acct_view *v;
	json_t *o;
};

static int family_one(void *payload, const struct store_acct_family *f)
{
	struct family_ctx *c = payload;

	return family_json(c->w, c->v, f, 1, &c->o);
}

static int family_build(const struct who *w, struct store *s, int64_t id, json_t **out)
{
	struct store_acct_view v;
	struct family_ctx c = { .w = w, .v = &v };
	int rc = store_acct_begin(&v, s);

	*out = NULL;
	if (rc)
		return rc;
	rc = store_acct_families_each(&v, id, family_one, &c);
	if (!rc && !c.o) /* no member the caller may read: no such family for it */
		rc = hz_error_set(HZ_ENOTFOUND, "family %lld not found", (long long)id);
	if (!rc && (json_object_set_new(c.o, "generation", json_integer((json_int_t)v.generation)) ||
		    json_object_set_new(c.o, "computed_at", iso(v.computed_at))))
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	store_acct_end(&v);
	if (rc)
		json_decref(c.o);
	else
		*out = c.o;
	return rc;
}

/* ---- the CLI ---------------------------------------------------------------- */

int api_stats_json(struct store *s, const char *repo, size_t limit, json_t **out)
{
	struct who w = { NULL };

	if (repo)
		return repo_build(&w, s, repo, limit ? limit : SIZE_MAX, out);
	return stats_build(&w, s, limit ? limit : SIZE_MAX, out);
}

/* ---- HTTP handlers ---------------------------------------------------------- */

/* ?name= as an integer in [min, max], def when absent; replies 400 and
 * returns -1 when it is not. */
static int query_int(struct api_req *req, const char *name, long long def, long long min,
		     long long max, long long *out)
{
	char *v = api_query(req, name), *end = NULL;
	long long n;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n < min || n > max) {
		api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				"%s must be an integer from %lld to %lld", name, min, max);
		free(v);
		return -1;
	}
	free(v);
	*out = n;
	return 0;
}

static int bad_token(struct api_req *req)
{
	return api_reply_error(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
			       "invalid credentials: unknown or revoked token");
}

/*
 * The accounting is recomputed by the first reader after a change (a scan
 * of the index): the handlers check their arguments on the worker thread
 * and build the answer on a thread for slow reads (api_defer_read), with
 * the arguments in req->state.
 */
struct stats_args {
	long long limit;
	long long id;
};

static void args_free(struct api_req *req)
{
	free(req->state);
	req->state = NULL;
}

static struct stats_args *args_new(struct api_req *req)
{
	struct stats_args *a = calloc(1, sizeof(*a));

	req->state = a;
	req->free_fn = args_free;
	return a;
}

static void stats_work(struct api_req *req)
{
	const struct stats_args *a = req->state;
	struct who w = { req };
	json_t *o;
	int rc = stats_build(&w, req->s, (size_t)a->limit, &o);

	if (rc)
		api_reply_store_error(req, rc, "NotFound");
	else
		api_reply_json(req, MHD_HTTP_OK, o);
}

int native_stats(struct api_req *req)
{
	struct stats_args *a;

	if (req->bad_token)
		return bad_token(req);
	a = args_new(req);
	if (!a)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	if (query_int(req, "limit", STATS_LIMIT_DEFAULT, 1, STATS_LIMIT_MAX, &a->limit))
		return 0;
	return api_defer_read(req, stats_work);
}

static void repo_work(struct api_req *req)
{
	const struct stats_args *a = req->state;
	struct who w = { req };
	json_t *o;
	int rc = repo_build(&w, req->s, req->repo, (size_t)a->limit, &o);

	if (rc)
		api_reply_store_error(req, rc, "RepoNotFound");
	else
		api_reply_json(req, MHD_HTTP_OK, o);
}

int stats_repo(struct api_req *req)
{
	struct store_repo_info info;
	struct stats_args *a;

	if (api_repo_read(req, req->repo, &info))
		return 0;
	a = args_new(req);
	if (!a)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	if (query_int(req, "limit", COMMITS_LIMIT_DEFAULT, 1, STATS_LIMIT_MAX, &a->limit))
		return 0;
	return api_defer_read(req, repo_work);
}

static void family_work(struct api_req *req)
{
	const struct stats_args *a = req->state;
	struct who w = { req };
	json_t *o;
	int rc = family_build(&w, req->s, (int64_t)a->id, &o);

	if (rc == HZ_ENOTFOUND)
		api_reply_error(req, MHD_HTTP_NOT_FOUND, "FamilyNotFound",
				"family %lld not found", a->id);
	else if (rc)
		api_reply_store_error(req, rc, "FamilyNotFound");
	else
		api_reply_json(req, MHD_HTTP_OK, o);
}

int stats_family(struct api_req *req)
{
	const char *arg = req->arg[0];
	struct stats_args *a;
	char *end = NULL;
	long long id;

	if (req->bad_token)
		return bad_token(req);
	errno = 0;
	id = strtoll(arg, &end, 10);
	if (*end || errno || id < 1)
		return api_reply_error(req, MHD_HTTP_BAD_REQUEST, "BadRequest",
				       "a family id is a positive integer");
	a = args_new(req);
	if (!a)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	a->id = id;
	return api_defer_read(req, family_work);
}

struct history_ctx {
	const struct who *w;
	json_t *arr;
	size_t n, limit;
	int truncated;
};

static int history_one(void *payload, const struct store_history_row *h)
{
	struct history_ctx *c = payload;
	int named;
	json_t *o;

	if (c->n == c->limit) { /* the one row asked for beyond the limit */
		c->truncated = 1;
		return 0;
	}
	named = h->deleted ? who_reads_all(c->w) : who_reads(c->w, h->repo, h->is_private);
	o = json_pack("{s:I, s:o, s:I, s:o, s:o, s:s, s:I, s:I, s:f}", "id", (json_int_t)h->id,
		      "time", iso(h->time), "unix", (json_int_t)h->time, "repo",
		      named ? json_string(h->repo) : json_null(), "commit",
		      named ? json_string(h->commit) : json_null(), "source",
		      h->source == STORE_SOURCE_HTTP ? "http" : "cli", "logical_bytes",
		      (json_int_t)h->logical_bytes, "physical_bytes",
		      (json_int_t)h->physical_bytes, "seconds", h->seconds);
	if (!o || json_array_append_new(c->arr, o))
		return hz_error_set(HZ_ENOMEM, "out of memory");
	c->n++;
	return 0;
}

int stats_history(struct api_req *req)
{
	struct who w = { req };
	struct history_ctx c = { .w = &w };
	long long since, after, limit;
	int rc;

	if (req->bad_token)
		return bad_token(req);
	if (query_int(req, "since", 0, 0, INT64_MAX, &since) ||
	    query_int(req, "after", 0, 0, INT64_MAX, &after) ||
	    query_int(req, "limit", HISTORY_LIMIT_DEFAULT, 1, HISTORY_LIMIT_MAX, &limit))
		return 0;
	c.limit = (size_t)limit;
	c.arr = json_array();
	if (!c.arr)
		return api_reply_error(req, 500, "InternalError", "out of memory");
	rc = store_history_each(req->s, since, after, c.limit + 1, history_one, &c);
	if (rc) {
		json_decref(c.arr);
		return api_reply_store_error(req, rc, "NotFound");
	}
	return api_reply_json(req, MHD_HTTP_OK, json_pack("{s:o, s:b}", "history", c.arr,
							  "truncated", c.truncated));
}
