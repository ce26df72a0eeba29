/*
 * daemon/hubzip.c - the hubzip command line.
 *
 *   hubzip [--store DIR] COMMAND [ARGS]
 *
 * Every command prints what it did on stdout, errors on stderr, and exits
 * non-zero on failure.  Progress goes to stderr when it is a terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"
#include "api/api.h"
#include "common/hash.h"
#include "daemon/cmd.h"
#include "store/store.h"

static const char usage[] =
	"usage: hubzip [--store DIR] [--index URL] [--blobs URL] COMMAND [ARGS]\n"
	"\n"
	"  init                               create the store (default ./data)\n"
	"  ingest REPO[@BRANCH] PATH... [-m MSG] [--replace]\n"
	"                                     store files or directories as a new revision\n"
	"  restore REPO[@REV] OUTDIR          write every file of a revision under OUTDIR\n"
	"  cat REPO[@REV] FILE [--range A-B]  write a file (or bytes A..B, inclusive) to stdout\n"
	"  ls [REPO[@REV]] [--json]           list repos, or the files of a revision\n"
	"  stats [REPO] [--json]              logical and physical bytes, savings per stage\n"
	"  fsck                               verify every object, block and file\n"
	"  families [--json]                  model families: members, bases, similarity\n"
	"  rm REPO                            delete a repo (its bytes go at the next gc)\n"
	"  gc [--lfs-pending-age SECONDS]     delete what nothing references, free packs\n"
	"  serve [--listen HOST:PORT] [--config FILE] ...\n"
	"                                     the HTTP daemon (hubzip serve --help)\n"
	"  token create NAME --scope read|write [--namespace NS]\n"
	"  token list | token revoke NAME     access tokens for the HTTP API\n"
	"  push URL REPO[@REV] DIR            upload DIR to a hubzip server ($HUBZIP_TOKEN)\n"
	"  pull URL REPO[@REV] DIR            download a revision from a hubzip server\n"
	"  version\n"
	"\n"
	"REV is a branch (default main), a commit id or a prefix of one (7+ hex digits).\n"
	"The store is --store DIR, else $HUBZIP_STORE, else ./data.\n"
	"The index is --index postgresql://USER@HOST:PORT/DB, else $HUBZIP_INDEX, else the\n"
	"SQLite file in the store; `init` with --index prepares the database.\n"
	"The packs are in --blobs s3://BUCKET[/PREFIX]?endpoint=URL&region=R (credentials\n"
	"from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or file:///PATH, else $HUBZIP_BLOBS,\n"
	"else where `init` put them (DIR/objects by default); `init` with --blobs prepares\n"
	"the bucket and records it in the store.\n";

static int die_usage(const char *msg)
{
	fprintf(stderr, "hubzip: %s\n\n%s", msg, usage);
	return 2;
}

static const char enospc_hint[] =
	"hubzip: the store's disk is full: nothing was stored; free some space and retry\n";

static int fail(const char *what)
{
	if (what)
		fprintf(stderr, "hubzip: %s: %s\n", what, hz_error_msg());
	else
		fprintf(stderr, "hubzip: %s\n", hz_error_msg());
	return 1;
}

/* ---- progress ---------------------------------------------------------- */

struct progress {
	const char *label;
	uint64_t total;
	struct timespec start, last;
	int active;
};

static double since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) + (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_init(struct progress *p, const char *label, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->total = total;
	p->active = isatty(2);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
}

static void progress_cb(void *payload, uint64_t done, uint64_t total)
{
	struct progress *p = payload;
	double t, rate;

	if (!p->active || since(&p->last) < 0.2)
		return;
	clock_gettime(CLOCK_MONOTONIC, &p->last);
	if (!total)
		total = p->total;
	t = since(&p->start);
	rate = t > 0 ? (double)done / t : 0;
	if (total && done <= total && rate > 0)
		fprintf(stderr, "\r%s: %.1f / %.1f MB  %.1f MB/s  ETA %.0fs   ", p->label,
			(double)done / 1e6, (double)total / 1e6, rate / 1e6,
			(double)(total - done) / rate);
	else
		fprintf(stderr, "\r%s: %.1f MB  %.1f MB/s   ", p->label, (double)done / 1e6,
			rate / 1e6);
}

static void progress_end(struct progress *p)
{
	if (p->active)
		fprintf(stderr, "\r\033[K");
}

/* ---- REPO[@REV] -------------------------------------------------------- */

/* Splits "repo@rev" in place; *rev is NULL when absent. */
static int split_spec(char *spec, char **repo, char **rev)
{
	char *at = strchr(spec, '@');

	*repo = spec;
	*rev = NULL;
	if (at) {
		*at = '\0';
		*rev = at + 1;
		if (!**rev) {
			hz_error_set(HZ_EINVAL, "empty revision after '@' in '%s'", spec);
			return HZ_EINVAL;
		}
	}
	return store_repo_name_check(*repo);
}

/* ---- init -------------------------------------------------------------- */

static int cmd_init(const char *dir, int argc, char **argv)
{
	struct store *s;

	(void)argv;
	if (argc != 1)
		return die_usage("init takes no arguments");
	if (store_open(&s, dir, 1))
		return fail("cannot initialise store");
	printf("initialised store '%s' (schema version %d)\n", dir, store_schema_version(s));
	store_free(s);
	return 0;
}

/* ---- ingest ------------------------------------------------------------ */

struct walk {
	char **fs;	/* file-system paths */
	char **rel;	/* paths in the repo */
	uint64_t *size;
	size_t n, cap;
	uint64_t total;
};

static int walk_add(struct walk *w, const char *fs, const char *rel, uint64_t size)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		char **a = realloc(w->fs, cap * sizeof(*a)), **b;
		uint64_t *c;

		if (!a)
			return HZ_ENOMEM;
		w->fs = a;
		b = realloc(w->rel, cap * sizeof(*b));
		if (!b)
			return HZ_ENOMEM;
		w->rel = b;
		c = realloc(w->size, cap * sizeof(*c));
		if (!c)
			return HZ_ENOMEM;
		w->size = c;
		w->cap = cap;
	}
	w->fs[w->n] = strdup(fs);
	w->rel[w->n] = strdup(rel);
	if (!w->fs[w->n] || !w->rel[w->n])
		return HZ_ENOMEM;
	w->size[w->n++] = size;
	w->total += size;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file under fs (relative names prefixed by rel). */
static int walk_dir(struct walk *w, const char *fs, const char *rel)
{
	DIR *d = opendir(fs);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d)
		return hz_error_set_errno(HZ_EINVAL, "cannot read directory '%s'", fs);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".git"))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof(*nn));

			if (!nn) {
				rc = HZ_ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n++]) {
			rc = HZ_ENOMEM;
			break;
		}
	}
	closedir(d);
	if (!rc)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; !rc && i < n; i++) {
		size_t lf = strlen(fs) + strlen(names[i]) + 2;
		size_t lr = strlen(rel) + strlen(names[i]) + 2;
		char *cf = malloc(lf), *cr = malloc(lr);
		struct stat st;

		if (!cf || !cr) {
			rc = HZ_ENOMEM;
		} else {
			snprintf(cf, lf, "%s/%s", fs, names[i]);
			snprintf(cr, lr, "%s%s%s", rel, *rel ? "/" : "", names[i]);
			if (stat(cf, &st))
				rc = hz_error_set_errno(HZ_EINVAL, "cannot stat '%s'", cf);
			else if (S_ISDIR(st.st_mode))
				rc = walk_dir(w, cf, cr);
			else if (S_ISREG(st.st_mode))
				rc = walk_add(w, cf, cr, (uint64_t)st.st_size);
			else
				fprintf(stderr, "hubzip: skipping '%s': not a regular file\n", cf);
		}
		free(cf);
		free(cr);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == HZ_ENOMEM)
		hz_error_set(rc, "out of memory");
	return rc;
}

static void walk_release(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->fs[i]);
		free(w->rel[i]);
	}
	free(w->fs);
	free(w->rel);
	free(w->size);
}

static int cmd_ingest(const char *dir, int argc, char **argv)
{
	struct walk w = { 0 };
	struct store *s = NULL;
	struct store_ingest *in = NULL;
	struct progress prog;
	const char *message = "";
	char *repo, *rev, commit[STORE_COMMIT_HEX];
	int replace = 0, i, rc = 1, npaths = 0;

	if (argc < 3)
		return die_usage("ingest needs REPO[@BRANCH] and at least one PATH");
	if (split_spec(argv[1], &repo, &rev))
		return fail(NULL);
	if (!rev)
		rev = "main";
	if (store_ref_name_check(rev))
		return fail(NULL);
	for (i = 2; i < argc; i++) {
		struct stat st;
		const char *base;

		if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			message = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--replace")) {
			replace = 1;
			continue;
		}
		npaths++;
		if (stat(argv[i], &st)) {
			hz_error_set_errno(HZ_EINVAL, "cannot stat '%s'", argv[i]);
			goto out_fail;
		}
		if (S_ISDIR(st.st_mode)) {
			if (walk_dir(&w, argv[i], ""))
				goto out_fail;
			continue;
		}
		base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		if (walk_add(&w, argv[i], base, (uint64_t)st.st_size)) {
			hz_error_set(HZ_ENOMEM, "out of memory");
			goto out_fail;
		}
	}
	if (!npaths) {
		rc = die_usage("ingest needs at least one PATH");
		goto out;
	}
	if (!w.n) {
		hz_error_set(HZ_EINVAL, "no files found to ingest");
		goto out_fail;
	}
	if (store_open(&s, dir, 1) || store_ingest_begin(&in, s, repo, rev))
		goto out_fail;
	store_ingest_set_replace(in, replace);
	progress_init(&prog, "ingest", w.total);
	store_ingest_set_progress(in, progress_cb, &prog);
	for (size_t k = 0; k < w.n; k++) {
		int fd = open(w.fs[k], O_RDONLY | O_CLOEXEC);
		struct stat st;
		int r;

		if (fd < 0) {
			hz_error_set_errno(HZ_EINVAL, "cannot open '%s'", w.fs[k]);
			progress_end(&prog);
			goto out_fail;
		}
		r = fstat(fd, &st) ? hz_error_set_errno(HZ_ERROR, "cannot stat '%s'", w.fs[k])
				   : store_ingest_add_fd(in, w.rel[k], fd, (uint64_t)st.st_size);
		close(fd);
		if (r) {
			progress_end(&prog);
			fprintf(stderr, "hubzip: ingest failed: '%s': %s\n", w.fs[k], hz_error_msg());
			if (r == HZ_ENOSPC)
				fputs(enospc_hint, stderr);
			rc = 1;
			goto out;
		}
	}
	rc = store_ingest_commit(in, message, commit);
	progress_end(&prog);
	if (rc) {
		fail("ingest failed");
		if (rc == HZ_ENOSPC)
			fputs(enospc_hint, stderr);
		rc = 1;
		goto out;
	}
	printf("%s\n", commit);
	fprintf(stderr, "hubzip: %s@%s: %zu files, %.1f MB in %.2fs\n", repo, rev, w.n,
		(double)w.total / 1e6, since(&prog.start));
	rc = 0;
	goto out;
out_fail:
	rc = fail("ingest failed");
out:
	store_ingest_free(in);
	store_free(s);
	walk_release(&w);
	return rc;
}

/* ---- restore / cat ----------------------------------------------------- */

static int write_fd(void *payload, const void *buf, size_t n)
{
	return hz_write_all(*(int *)payload, buf, n);
}

struct restore {
	struct store *s;
	const char *repo, *rev, *outdir;
	struct progress prog;
	uint64_t done;
	size_t nfiles;
	int failed;
};

/* Creates the directories above path. */
static int mkdirs_for(const char *path)
{
	char *p = strdup(path), *slash;
	int rc = 0;

	if (!p)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	slash = strrchr(p, '/');
	if (slash && slash != p) {
		*slash = '\0';
		rc = hz_mkdir_p(p);
	}
	free(p);
	return rc;
}

static int restore_one(void *payload, const struct store_entry *e)
{
	struct restore *r = payload;
	struct store_file *f = NULL;
	size_t n = strlen(r->outdir) + strlen(e->path) + 16;
	char *dst = malloc(n), *tmp = malloc(n);
	int fd = -1, rc;

	if (!dst || !tmp) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(dst, n, "%s/%s", r->outdir, e->path);
	snprintf(tmp, n, "%s.hztmp", dst);
	rc = mkdirs_for(dst);
	if (rc)
		goto out;
	rc = store_file_open(&f, r->s, r->repo, r->rev, e->path);
	if (rc)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", tmp);
		goto out;
	}
	rc = store_file_read(f, 0, store_file_size(f), write_fd, &fd);
	if (!rc && close(fd))
		rc = hz_error_set_errno(HZ_ERROR, "cannot write '%s'", tmp);
	fd = -1;
	if (!rc && rename(tmp, dst))
		rc = hz_error_set_errno(HZ_ERROR, "cannot rename '%s'", tmp);
	if (rc)
		unlink(tmp);
	r->done += e->size;
	progress_cb(&r->prog, r->done, 0);
out:
	if (fd >= 0)
		close(fd);
	if (rc) {
		char why[1024];

		snprintf(why, sizeof(why), "%s", hz_error_msg());
		hz_error_set(rc, "'%s': %s", e->path, why);
		r->failed = 1;
	} else {
		r->nfiles++;
	}
	store_file_free(f);
	free(dst);
	free(tmp);
	return rc;
}

static int cmd_restore(const char *dir, int argc, char **argv)
{
	struct restore r = { 0 };
	struct store_revision head;
	char *repo, *rev;
	int rc;

	if (argc != 3)
		return die_usage("restore needs REPO[@REV] OUTDIR");
	if (split_spec(argv[1], &repo, &rev))
		return fail(NULL);
	if (store_open(&r.s, dir, 0))
		return fail(NULL);
	rc = store_resolve(r.s, &head, repo, rev);
	if (!rc)
		rc = mkdirs_for(argv[2]);
	if (!rc && mkdir(argv[2], 0755) && errno != EEXIST)
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", argv[2]);
	if (rc) {
		store_free(r.s);
		return fail("restore failed");
	}
	r.repo = repo;
	r.rev = head.commit; /* pin the revision for the whole restore */
	r.outdir = argv[2];
	progress_init(&r.prog, "restore", head.size);
	rc = store_files_each(r.s, repo, head.commit, restore_one, &r);
	progress_end(&r.prog);
	store_free(r.s);
	if (rc)
		return fail("restore failed");
	fprintf(stderr, "hubzip: restored %zu files (%.1f MB) of %s@%s in %.2fs\n", r.nfiles,
		(double)r.done / 1e6, repo, head.commit, since(&r.prog.start));
	return 0;
}

/* Parses "A-B" (inclusive), "A-" or "-N" against size into [*off, +*len). */
static int parse_range(const char *spec, uint64_t size, uint64_t *off, uint64_t *len)
{
	unsigned long long a = 0, b = 0;
	char *end;
	const char *dash = strchr(spec, '-');

	if (!dash || (dash == spec && !dash[1]))
		goto bad;
	errno = 0;
	if (dash == spec) { /* suffix: the last N bytes */
		b = strtoull(dash + 1, &end, 10);
		if (errno || *end || dash[1] < '0' || dash[1] > '9' || b == 0)
			goto bad;
		*len = b < size ? b : size;
		*off = size - *len;
		return 0;
	}
	if (spec[0] < '0' || spec[0] > '9')
		goto bad;
	a = strtoull(spec, &end, 10);
	if (errno || end != dash)
		goto bad;
	if (!dash[1]) {
		b = size ? size - 1 : 0;
	} else {
		if (dash[1] < '0' || dash[1] > '9')
			goto bad;
		b = strtoull(dash + 1, &end, 10);
		if (errno || *end)
			goto bad;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size || b < a)
		return hz_error_set(HZ_EINVAL, "range '%s' is outside the file (%llu bytes)", spec,
				    (unsigned long long)size);
	*off = a;
	*len = b - a + 1;
	return 0;
bad:
	return hz_error_set(HZ_EINVAL, "invalid range '%s' (expected A-B, A- or -N)", spec);
}

static int cmd_cat(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	struct store_file *f = NULL;
	const char *range = NULL, *path = NULL;
	char *repo, *rev, *spec = NULL;
	uint64_t off = 0, len;
	int fd = 1, rc, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--range") && i + 1 < argc)
			range = argv[++i];
		else if (!strncmp(argv[i], "--range=", 8))
			range = argv[i] + 8;
		else if (!spec)
			spec = argv[i];
		else if (!path)
			path = argv[i];
		else
			return die_usage("cat takes REPO[@REV] FILE [--range A-B]");
	}
	if (!spec || !path)
		return die_usage("cat needs REPO[@REV] FILE");
	if (split_spec(spec, &repo, &rev))
		return fail(NULL);
	if (store_open(&s, dir, 0))
		return fail(NULL);
	rc = store_file_open(&f, s, repo, rev, path);
	if (!rc) {
		len = store_file_size(f);
		if (range)
			rc = parse_range(range, store_file_size(f), &off, &len);
		if (!rc)
			rc = store_file_read(f, off, len, write_fd, &fd);
	}
	store_file_free(f);
	store_free(s);
	return rc ? fail("cat failed") : 0;
}

/* ---- ls ---------------------------------------------------------------- */

static int ls_repo(void *payload, const char *repo, const struct store_revision *head)
{
	json_t *arr = payload;

	if (arr)
		return json_array_append_new(arr, json_pack("{s:s, s:s?, s:I, s:I}", "repo", repo,
							     "main", head ? head->commit : NULL,
							     "files", (json_int_t)(head ? head->nfiles : 0),
							     "bytes", (json_int_t)(head ? head->size : 0)));
	if (head)
		printf("%-50s %s %6llu files %14llu bytes\n", repo, head->commit,
		       (unsigned long long)head->nfiles, (unsigned long long)head->size);
	else
		printf("%-50s (no main branch)\n", repo);
	return 0;
}

static int ls_file(void *payload, const struct store_entry *e)
{
	json_t *arr = payload;
	char hex[HZ_SHA256_HEX];

	hz_hex(hex, e->sha256, HZ_SHA256_LEN);
	if (arr)
		return json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:s}", "path", e->path,
							     "size", (json_int_t)e->size, "sha256", hex,
							     "format", e->format ? "safetensors" : "file"));
	printf("%s %14llu %s\n", hex, (unsigned long long)e->size, e->path);
	return 0;
}

static int cmd_ls(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	json_t *arr = NULL;
	char *spec = NULL, *repo, *rev;
	int rc, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			arr = arr ? arr : json_array();
		else if (!spec)
			spec = argv[i];
		else
			return die_usage("ls takes at most one REPO[@REV]");
	}
	if (spec && split_spec(spec, &repo, &rev))
		return fail(NULL);
	if (store_open(&s, dir, 0))
		return fail(NULL);
	if (spec)
		rc = store_files_each(s, repo, rev, ls_file, arr);
	else
		rc = store_repos_each(s, ls_repo, arr);
	store_free(s);
	if (!rc && arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return rc ? fail("ls failed") : 0;
}

/* ---- fsck -------------------------------------------------------------- */

static void fsck_report(void *payload, const char *line)
{
	(void)payload;
	printf("%s\n", line);
}

static int cmd_fsck(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	struct store_fsck_result r;
	struct progress prog;
	int rc;

	(void)argv;
	if (argc != 1)
		return die_usage("fsck takes no arguments");
	if (store_open(&s, dir, 0))
		return fail(NULL);
	progress_init(&prog, "fsck", 0);
	rc = store_fsck(s, &r, fsck_report, NULL, progress_cb, &prog);
	progress_end(&prog);
	store_free(s);
	if (rc)
		return fail("fsck failed");
	printf("checked %llu files, %llu objects, %llu blocks, %llu bytes: %llu problems"
	       " (%llu damaged files, %llu damaged objects)\n",
	       (unsigned long long)r.files_checked, (unsigned long long)r.objects_checked,
	       (unsigned long long)r.blocks_checked, (unsigned long long)r.bytes_checked,
	       (unsigned long long)r.problems, (unsigned long long)r.files_damaged,
	       (unsigned long long)r.objects_damaged);
	return r.problems ? 1 : 0;
}

/* ---- families, rm, gc -------------------------------------------------- */

struct fam_print {
	json_t *arr, *cur;
	int64_t last;
};

static int fam_member(void *payload, int64_t family, const struct store_family_member *m)
{
	struct fam_print *p = payload;

	if (p->arr) {
		if (!p->cur || family != p->last) {
			p->cur = json_pack("{s:I, s:s, s:[]}", "family", (json_int_t)family,
					   "root", m->repo, "members");
			json_array_append_new(p->arr, p->cur);
		}
		json_array_append_new(json_object_get(p->cur, "members"),
				      json_pack("{s:s, s:s?, s:f, s:s?}", "repo", m->repo,
						"base", m->base, "score", m->score, "hint", m->hint));
	} else {
		if (family != p->last)
			printf("%sfamily %lld\n", p->last ? "\n" : "", (long long)family);
		if (m->base)
			printf("  %-48s base %s (score %.3f)%s%s\n", m->repo, m->base, m->score,
			       m->hint ? " hint " : "", m->hint ? m->hint : "");
		else
			printf("  %-48s founder%s%s\n", m->repo, m->hint ? ", hint " : "",
			       m->hint ? m->hint : "");
	}
	p->last = family;
	return 0;
}

static int cmd_families(const char *dir, int argc, char **argv)
{
	struct fam_print p = { 0 };
	struct store *s = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			p.arr = p.arr ? p.arr : json_array();
		else
			return die_usage("families takes only --json");
	}
	if (store_open(&s, dir, 0)) {
		json_decref(p.arr);
		return fail(NULL);
	}
	rc = store_families_each(s, fam_member, &p);
	store_free(s);
	if (!rc && p.arr) {
		json_dumpf(p.arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(p.arr);
	return rc ? fail("families failed") : 0;
}

static int cmd_rm(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	int rc;

	if (argc != 2 || strchr(argv[1], '@'))
		return die_usage("rm takes one REPO");
	if (store_open(&s, dir, 0))
		return fail(NULL);
	rc = store_repo_delete(s, argv[1]);
	store_free(s);
	if (rc)
		return fail("rm failed");
	printf("deleted %s (run 'hubzip gc' to free its bytes)\n", argv[1]);
	return 0;
}

static int cmd_gc(const char *dir, int argc, char **argv)
{
	struct store_gc_options opt = { .lfs_pending_age = 24 * 3600 };
	struct store *s = NULL;
	struct store_gc_result r;
	int rc;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--lfs-pending-age") || i + 1 >= argc)
			return die_usage("gc takes only --lfs-pending-age SECONDS");
		opt.lfs_pending_age = strtoll(argv[++i], &end, 10);
		if (*end || end == argv[i] || opt.lfs_pending_age < 0)
			return die_usage("--lfs-pending-age takes seconds (0: every pending object)");
	}
	if (store_open(&s, dir, 0))
		return fail(NULL);
	rc = store_gc(s, &opt, &r);
	store_free(s);
	if (rc)
		return fail("gc failed");
	printf("deleted %llu files, %llu objects, %llu packs; %llu orphaned packs and %llu"
	       " temporaries of interrupted ingests; %llu pending LFS objects; freed %llu bytes;"
	       " %llu dead bytes remain inside live packs\n",
	       (unsigned long long)r.files_deleted, (unsigned long long)r.objects_deleted,
	       (unsigned long long)r.packs_deleted, (unsigned long long)r.orphan_packs,
	       (unsigned long long)r.tmp_removed, (unsigned long long)r.lfs_pending_deleted,
	       (unsigned long long)r.bytes_freed, (unsigned long long)r.dead_bytes_kept);
	if (r.packs_deferred)
		printf("%llu packs left without a live block wait for the next gc (an fsck is"
		       " running)\n", (unsigned long long)r.packs_deferred);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("HUBZIP_STORE");
	const char *index = getenv("HUBZIP_INDEX");
	const char *blobs = getenv("HUBZIP_BLOBS");
	int i = 1, dir_explicit = dir && *dir;

	if (!dir || !*dir)
		dir = "./data";
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--store") && i + 1 < argc) {
			dir = argv[i + 1];
			dir_explicit = 1;
			i += 2;
		} else if (!strncmp(argv[i], "--store=", 8)) {
			dir = argv[i] + 8;
			dir_explicit = 1;
			i++;
		} else if (!strcmp(argv[i], "--index") && i + 1 < argc) {
			index = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--index=", 8)) {
			index = argv[i] + 8;
			i++;
		} else if (!strcmp(argv[i], "--blobs") && i + 1 < argc) {
			blobs = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--blobs=", 8)) {
			blobs = argv[i] + 8;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("hubzip %s\n", HUBZIP_VERSION);
			return 0;
		} else {
			fprintf(stderr, "hubzip: unknown option '%s'\n\n%s", argv[i], usage);
			return 2;
		}
	}
	if (i >= argc)
		return die_usage("no command given");
	if (store_index_set(index) || store_blobs_set(blobs)) {
		fprintf(stderr, "hubzip: %s\n\n%s", hz_error_msg(), usage);
		return 2;
	}
	argc -= i;
	argv += i;
	if (!strcmp(argv[0], "init"))
		return cmd_init(dir, argc, argv);
	if (!strcmp(argv[0], "ingest"))
		return cmd_ingest(dir, argc, argv);
	if (!strcmp(argv[0], "restore"))
		return cmd_restore(dir, argc, argv);
	if (!strcmp(argv[0], "cat"))
		return cmd_cat(dir, argc, argv);
	if (!strcmp(argv[0], "ls"))
		return cmd_ls(dir, argc, argv);
	if (!strcmp(argv[0], "stats"))
		return cmd_stats(dir, argc, argv);
	if (!strcmp(argv[0], "fsck"))
		return cmd_fsck(dir, argc, argv);
	if (!strcmp(argv[0], "families"))
		return cmd_families(dir, argc, argv);
	if (!strcmp(argv[0], "rm"))
		return cmd_rm(dir, argc, argv);
	if (!strcmp(argv[0], "gc"))
		return cmd_gc(dir, argc, argv);
	if (!strcmp(argv[0], "serve"))
		return cmd_serve(dir, dir_explicit, argc, argv);
	if (!strcmp(argv[0], "token"))
		return cmd_token(dir, argc, argv);
	if (!strcmp(argv[0], "push") || !strcmp(argv[0], "pull"))
		return cmd_push_pull(argc, argv);
	if (!strcmp(argv[0], "version")) {
		printf("hubzip %s\n", HUBZIP_VERSION);
		return 0;
	}
	if (!strcmp(argv[0], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "hubzip: unknown command '%s'\n\n%s", argv[0], usage);
	return 2;
}
