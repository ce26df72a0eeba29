/*
 * api/client.c - `hubzip push` and `hubzip pull` over the daemon's hub
 * routes, on libcurl.  Files move in parallel on a few threads, each
 * with its own curl handle; a progress thread draws the bar.
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "api/dynlib.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"

struct cfile {
	char *rel;		/* path in the repo */
	char *abs;		/* path on disk */
	uint64_t size;
	char oid[65];		/* hex SHA-256 */
	char *href;		/* push: the signed upload URL, when the server lacks it */
};

struct cfiles {
	struct cfile *v;
	size_t n, cap;
};

struct buf {
	char *p;
	size_t n;
};

/* ---- small helpers ----------------------------------------------------- */

static void cfiles_release(struct cfiles *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->v[i].rel);
		free(fs->v[i].abs);
		free(fs->v[i].href);
	}
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

static struct cfile *cfiles_add(struct cfiles *fs)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 16;
		struct cfile *v = realloc(fs->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		fs->v = v;
		fs->cap = cap;
	}
	memset(&fs->v[fs->n], 0, sizeof(fs->v[0]));
	return &fs->v[fs->n++];
}

static size_t buf_write(char *p, size_t sz, size_t n, void *payload)
{
	struct buf *b = payload;
	size_t len = sz * n;
	char *np;

	if (b->n + len > (64u << 20))
		return 0;
	np = realloc(b->p, b->n + len + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, p, len);
	b->p = np;
	b->n += len;
	b->p[b->n] = 0;
	return len;
}

static void hex_of(char out[65], const uint8_t d[HZ_SHA256_LEN])
{
	for (int i = 0; i < HZ_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static char *strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* A path with each segment percent-encoded, slashes kept. */
static char *escape_path(CURL *c, const char *path)
{
	size_t cap = strlen(path) * 3 + 1, n = 0;
	char *out = malloc(cap);
	const char *p = path;

	if (!out)
		return NULL;
	while (1) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		char *e = curl_easy_escape(c, p, (int)len);

		if (!e) {
			free(out);
			return NULL;
		}
		memcpy(out + n, e, strlen(e));
		n += strlen(e);
		curl_free(e);
		if (!slash)
			break;
		out[n++] = '/';
		p = slash + 1;
	}
	out[n] = 0;
	return out;
}

/* Sets the error of an HTTP answer: status and the server's JSON message. */
static int http_error(const char *what, long status, const struct buf *body)
{
	json_t *j = body->p ? json_loads(body->p, 0, NULL) : NULL;
	const char *msg = NULL;
	int rc;

	if (j && json_is_object(j))
		msg = json_string_value(json_object_get(j, "error"));
	if (!msg && j && json_is_object(j))
		msg = json_string_value(json_object_get(j, "message"));
	rc = hz_error_set(status == 404 ? HZ_ENOTFOUND : HZ_ERROR, "%s: HTTP %ld%s%s", what,
			  status, msg ? ": " : "", msg ? msg : "");
	json_decref(j);
	return rc;
}

static struct curl_slist *auth_headers(const struct api_client_opts *o, const char *ctype)
{
	struct curl_slist *h = NULL;
	char line[512];

	if (o->token && *o->token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", o->token);
		h = curl_slist_append(h, line);
	}
	if (ctype) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Expect:");
	return h;
}

/* POSTs body (or GETs when body is NULL) to url; the answer in *out,
 * a Link rel=next URL in *next when next is given. */
static int http_call(long *status, struct buf *out, char **next,
		     const struct api_client_opts *o, const char *url, const char *ctype,
		     const char *body, size_t body_len);

struct hdrs {
	char *next;
};

static size_t hdr_cb(char *p, size_t sz, size_t n, void *payload)
{
	struct hdrs *h = payload;
	size_t len = sz * n;

	if (len > 5 && !strncasecmp(p, "Link:", 5) && strstr(p, "rel=\"next\"")) {
		const char *a = memchr(p, '<', len), *b = a ? memchr(a, '>', len - (a - p)) : NULL;

		if (a && b) {
			free(h->next);
			h->next = strndup(a + 1, b - a - 1);
		}
	}
	return len;
}

static int http_call(long *status, struct buf *out, char **next,
		     const struct api_client_opts *o, const char *url, const char *ctype,
		     const char *body, size_t body_len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = auth_headers(o, ctype);
	struct hdrs hd = { NULL };
	CURLcode cc;
	int rc = 0;

	if (!c || !h) {
		rc = hz_error_set(HZ_ENOMEM, "cannot set up a request");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = hz_error_set(HZ_ERROR, "%s: %s", url, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (next) {
		*next = hd.next;
		hd.next = NULL;
	}
out:
	free(hd.next);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

/* ---- progress ---------------------------------------------------------- */

struct prog {
	const char *label;
	_Atomic uint64_t done;
	uint64_t total;
	atomic_int stop;
	int on;
	pthread_t th;
	struct timespec start;
};

static double elapsed(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) + (now.tv_nsec - a->tv_nsec) / 1e9;
}

static void prog_draw(struct prog *p, int final)
{
	uint64_t d = atomic_load(&p->done);
	double t = elapsed(&p->start), rate = t > 0 ? d / t : 0;
	double eta = rate > 0 && p->total > d ? (p->total - d) / rate : 0;
	int pct = p->total ? (int)(100.0 * d / p->total) : 100;

	fprintf(stderr, "\r%s %3d%% %8.1f / %.1f MB  %7.1f MB/s  ETA %3.0fs%s", p->label, pct,
		d / 1e6, p->total / 1e6, rate / 1e6, eta, final ? "\n" : "");
}

static void *prog_run(void *arg)
{
	struct prog *p = arg;

	while (!atomic_load(&p->stop)) {
		prog_draw(p, 0);
		usleep(200000);
	}
	return NULL;
}

static void prog_start(struct prog *p, int on, const char *label, uint64_t total)
{
	p->label = label;
	atomic_store(&p->done, 0);
	atomic_store(&p->stop, 0);
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->on = on && pthread_create(&p->th, NULL, prog_run, p) == 0;
}

static void prog_end(struct prog *p)
{
	if (!p->on)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->th, NULL);
	prog_draw(p, 1);
	p->on = 0;
}

/* ---- parallel jobs ----------------------------------------------------- */

struct pool {
	struct cfiles *fs;
	const struct api_client_opts *o;
	const char *dir;
	struct prog *prog;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t mu;
	char err[1024];
	int rc;
	int (*fn)(struct pool *pl, CURL *c, struct cfile *f);
};

static void *pool_run(void *arg)
{
	struct pool *pl = arg;
	CURL *c = curl_easy_init();

	while (c && !atomic_load(&pl->failed)) {
		size_t i = atomic_fetch_add(&pl->next, 1);
		int rc;

		if (i >= pl->fs->n)
			break;
		curl_easy_reset(c);
		rc = pl->fn(pl, c, &pl->fs->v[i]);
		if (rc) {
			pthread_mutex_lock(&pl->mu);
			if (!atomic_load(&pl->failed)) {
				snprintf(pl->err, sizeof(pl->err), "%s", hz_error_msg());
				pl->rc = rc;
				atomic_store(&pl->failed, 1);
			}
			pthread_mutex_unlock(&pl->mu);
		}
	}
	if (!c) {
		pthread_mutex_lock(&pl->mu);
		snprintf(pl->err, sizeof(pl->err), "cannot set up a curl handle");
		pl->rc = HZ_ENOMEM;
		atomic_store(&pl->failed, 1);
		pthread_mutex_unlock(&pl->mu);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static int pool_go(struct pool *pl)
{
	unsigned n = pl->o->parallel ? pl->o->parallel : 4;
	pthread_t th[16];
	unsigned started = 0;

	if (n > 16)
		n = 16;
	pthread_mutex_init(&pl->mu, NULL);
	atomic_store(&pl->next, 0);
	atomic_store(&pl->failed, 0);
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, pool_run, pl) == 0)
			started++;
	if (!started)
		pool_run(pl);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pl->mu);
	if (atomic_load(&pl->failed))
		return hz_error_set(pl->rc, "%s", pl->err);
	return 0;
}

/* ---- push -------------------------------------------------------------- */

static int hash_file(struct cfile *f)
{
	struct hz_sha256 h;
	uint8_t d[HZ_SHA256_LEN];
	static const size_t bufsz = 1 << 20;
	char *buf = malloc(bufsz);
	int fd = -1, rc = 0;
	ssize_t r;

	if (!buf || hz_sha256_init(&h)) {
		free(buf);
		return hz_error_set(HZ_ENOMEM, "out of memory");
	}
	fd = open(f->abs, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot open '%s'", f->abs);
		goto out;
	}
	while ((r = read(fd, buf, bufsz)) > 0)
		hz_sha256_update(&h, buf, (size_t)r);
	if (r < 0) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot read '%s'", f->abs);
		goto out;
	}
	hz_sha256_final(&h, d);
	hex_of(f->oid, d);
out:
	if (fd >= 0)
		close(fd);
	hz_sha256_release(&h);
	free(buf);
	return rc;
}

static int walk(struct cfiles *fs, const char *root, const char *rel)
{
	char *path = rel[0] ? strfmt("%s/%s", root, rel) : strdup(root);
	DIR *d = path ? opendir(path) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	if (!d) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot open directory '%s'", path);
		goto out;
	}
	while (!rc && (e = readdir(d))) {
		struct stat st;
		char *r, *a;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
			continue;
		r = rel[0] ? strfmt("%s/%s", rel, e->d_name) : strdup(e->d_name);
		a = r ? strfmt("%s/%s", root, r) : NULL;
		if (!a) {
			free(r);
			rc = hz_error_set(HZ_ENOMEM, "out of memory");
			break;
		}
		if (stat(a, &st)) {
			rc = hz_error_set_errno(HZ_ERROR, "cannot stat '%s'", a);
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(fs, root, r);
		} else if (S_ISREG(st.st_mode)) {
			struct cfile *f = cfiles_add(fs);

			if (!f) {
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
			} else {
				f->rel = r;
				f->abs = a;
				f->size = (uint64_t)st.st_size;
				r = a = NULL;
			}
		}
		free(r);
		free(a);
	}
out:
	if (d)
		closedir(d);
	free(path);
	return rc;
}

struct upload {
	FILE *in;
	struct prog *prog;
};

static size_t up_read(char *p, size_t sz, size_t n, void *payload)
{
	struct upload *u = payload;
	size_t got = fread(p, sz, n, u->in);

	if (!got && ferror(u->in))
		return CURL_READFUNC_ABORT;
	atomic_fetch_add(&u->prog->done, got * sz);
	return got * sz;
}

static int put_file(struct pool *pl, CURL *c, struct cfile *f)
{
	struct upload up;
	FILE *in = NULL;
	struct curl_slist *h = NULL;
	struct buf body = { NULL, 0 };
	long status = 0;
	CURLcode cc;
	int rc = 0;

	if (!f->href)
		return 0;
	in = fopen(f->abs, "rb");
	if (!in)
		return hz_error_set_errno(HZ_ERROR, "cannot open '%s'", f->abs);
	h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, f->href);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	up.in = in;
	up.prog = pl->prog;
	curl_easy_setopt(c, CURLOPT_READFUNCTION, up_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)f->size);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = hz_error_set(HZ_ERROR, "upload of '%s': %s", f->rel, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		char what[600];

		snprintf(what, sizeof(what), "upload of '%s'", f->rel);
		rc = http_error(what, status, &body);
		goto out;
	}
out:
	curl_slist_free_all(h);
	free(body.p);
	fclose(in);
	return rc;
}

static int create_repo(const struct api_client_opts *o)
{
	const char *slash = strchr(o->repo, '/');
	struct buf out = { NULL, 0 };
	char *url = strfmt("%s/api/repos/create", o->url), *body = NULL;
	json_t *j = NULL;
	long status = 0;
	int rc = 0;

	if (!slash || !url) {
		rc = hz_error_set(url ? HZ_EINVAL : HZ_ENOMEM, "'%s' is not namespace/name", o->repo);
		goto out;
	}
	j = json_pack("{s:s%, s:s}", "organization", o->repo, (size_t)(slash - o->repo), "name",
		      slash + 1);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!body) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = http_call(&status, &out, NULL, o, url, "application/json", body, strlen(body));
	if (!rc && status != 200 && status != 409)
		rc = http_error("create the repo", status, &out);
out:
	json_decref(j);
	free(body);
	free(url);
	free(out.p);
	return rc;
}

/* Asks the batch API which objects to send; sets f->href for those. */
static int lfs_batch(struct cfiles *fs, const struct api_client_opts *o)
{
	json_t *req = json_object(), *objs = json_array(), *ans = NULL;
	struct buf out = { NULL, 0 };
	char *url = strfmt("%s/%s.git/info/lfs/objects/batch", o->url, o->repo), *body = NULL;
	long status = 0;
	size_t i, n = 0;
	json_t *v;
	int rc = 0;

	if (!req || !objs || !url) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < fs->n; i++) {
		if (!fs->v[i].size)
			continue;
		json_array_append_new(objs, json_pack("{s:s, s:I}", "oid", fs->v[i].oid, "size",
						      (json_int_t)fs->v[i].size));
		n++;
	}
	if (!n)
		goto out;
	json_object_set_new(req, "operation", json_string("upload"));
	json_object_set_new(req, "transfers", json_pack("[s]", "basic"));
	json_object_set(req, "objects", objs);
	json_object_set_new(req, "hash_algo", json_string("sha256"));
	body = json_dumps(req, JSON_COMPACT);
	if (!body) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	rc = http_call(&status, &out, NULL, o, url, "application/vnd.git-lfs+json", body,
		       strlen(body));
	if (rc)
		goto out;
	if (status != 200) {
		rc = http_error("LFS batch", status, &out);
		goto out;
	}
	ans = json_loads(out.p ? out.p : "", 0, NULL);
	if (!ans || !json_is_array(json_object_get(ans, "objects"))) {
		rc = hz_error_set(HZ_ERROR, "LFS batch: the answer is not a batch reply");
		goto out;
	}
	json_array_foreach(json_object_get(ans, "objects"), i, v) {
		const char *oid = json_string_value(json_object_get(v, "oid"));
		json_t *err = json_object_get(v, "error");
		const char *href = json_string_value(
			json_object_get(json_object_get(json_object_get(v, "actions"), "upload"), "href"));

		if (!oid)
			continue;
		if (err) {
			rc = hz_error_set(HZ_ERROR, "LFS batch: object %s: %" JSON_INTEGER_FORMAT " %s",
					  oid, json_integer_value(json_object_get(err, "code")),
					  json_string_value(json_object_get(err, "message")) ?: "");
			goto out;
		}
		if (!href)
			continue;
		/* the first file of this oid carries the upload */
		for (size_t k = 0; k < fs->n; k++)
			if (fs->v[k].size && !strcmp(fs->v[k].oid, oid)) {
				if (!fs->v[k].href && !(fs->v[k].href = strdup(href)))
					rc = hz_error_set(HZ_ENOMEM, "out of memory");
				break;
			}
	}
out:
	json_decref(ans);
	json_decref(objs);
	json_decref(req);
	free(body);
	free(url);
	free(out.p);
	return rc;
}

static int append_line(struct buf *b, json_t *line)
{
	char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
	int rc = 0;

	json_decref(line);
	if (!s || buf_write(s, 1, strlen(s), b) != strlen(s) || buf_write("\n", 1, 1, b) != 1)
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
	free(s);
	return rc;
}

static int commit(char out_commit[41], struct cfiles *fs, const struct api_client_opts *o,
		  const char *rev)
{
	struct buf nd = { NULL, 0 }, out = { NULL, 0 };
	char *url = strfmt("%s/api/models/%s/commit/%s", o->url, o->repo, rev);
	json_t *ans = NULL;
	const char *oid;
	long status = 0;
	int rc;

	if (!url)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	rc = append_line(&nd, json_pack("{s:s, s:{s:s, s:s}}", "key", "header", "value", "summary",
					"hubzip push", "description", ""));
	for (size_t i = 0; !rc && i < fs->n; i++) {
		struct cfile *f = &fs->v[i];

		if (f->size)
			rc = append_line(&nd, json_pack("{s:s, s:{s:s, s:s, s:s, s:I}}", "key",
							"lfsFile", "value", "path", f->rel, "algo",
							"sha256", "oid", f->oid, "size",
							(json_int_t)f->size));
		else
			rc = append_line(&nd, json_pack("{s:s, s:{s:s, s:s, s:s}}", "key", "file",
							"value", "path", f->rel, "content", "",
							"encoding", "base64"));
	}
	if (rc)
		goto out;
	rc = http_call(&status, &out, NULL, o, url, "application/x-ndjson", nd.p, nd.n);
	if (rc)
		goto out;
	if (status != 200) {
		rc = http_error("commit", status, &out);
		goto out;
	}
	ans = json_loads(out.p ? out.p : "", 0, NULL);
	oid = json_string_value(json_object_get(ans, "commitOid"));
	if (!oid || strlen(oid) != 40) {
		rc = hz_error_set(HZ_ERROR, "commit: the answer has no commitOid");
		goto out;
	}
	memcpy(out_commit, oid, 41);
out:
	json_decref(ans);
	free(nd.p);
	free(out.p);
	free(url);
	return rc;
}

static int cmp_rel(const void *a, const void *b)
{
	return strcmp(((const struct cfile *)a)->rel, ((const struct cfile *)b)->rel);
}

int api_client_push(char out_commit[41], const struct api_client_opts *o, const char *dir)
{
	struct cfiles fs = { 0 };
	struct prog prog = { 0 };
	struct pool pl = { 0 };
	const char *rev = o->rev ? o->rev : "main";
	uint64_t total = 0;
	int rc;

	rc = hz_dl_curl();
	if (rc)
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = walk(&fs, dir, "");
	if (rc)
		goto out;
	if (!fs.n) {
		rc = hz_error_set(HZ_EINVAL, "no files under '%s'", dir);
		goto out;
	}
	qsort(fs.v, fs.n, sizeof(fs.v[0]), cmp_rel);
	for (size_t i = 0; !rc && i < fs.n; i++)
		rc = hash_file(&fs.v[i]);
	if (rc)
		goto out;
	rc = create_repo(o);
	if (rc)
		goto out;
	rc = lfs_batch(&fs, o);
	if (rc)
		goto out;
	for (size_t i = 0; i < fs.n; i++)
		if (fs.v[i].href)
			total += fs.v[i].size;
	prog_start(&prog, o->progress, "push", total);
	pl.fs = &fs;
	pl.o = o;
	pl.dir = dir;
	pl.prog = &prog;
	pl.fn = put_file;
	rc = pool_go(&pl);
	prog_end(&prog);
	if (rc)
		goto out;
	rc = commit(out_commit, &fs, o, rev);
out:
	cfiles_release(&fs);
	curl_global_cleanup();
	return rc;
}

/* ---- pull -------------------------------------------------------------- */

/* The commit id of o->rev, so that listing and downloads see one tree. */
static int resolve_rev(char out[41], const struct api_client_opts *o)
{
	struct buf body = { NULL, 0 };
	char *url = strfmt("%s/api/models/%s/revision/%s", o->url, o->repo,
			   o->rev ? o->rev : "main");
	json_t *j = NULL;
	const char *sha;
	long status = 0;
	int rc;

	if (!url)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	rc = http_call(&status, &body, NULL, o, url, NULL, NULL, 0);
	if (rc)
		goto out;
	if (status != 200) {
		rc = http_error("find the revision", status, &body);
		goto out;
	}
	j = json_loads(body.p ? body.p : "", 0, NULL);
	sha = json_string_value(json_object_get(j, "sha"));
	if (!sha || strlen(sha) != 40) {
		rc = hz_error_set(HZ_ENOTFOUND, "'%s@%s' has no commit", o->repo,
				  o->rev ? o->rev : "main");
		goto out;
	}
	memcpy(out, sha, 41);
out:
	json_decref(j);
	free(body.p);
	free(url);
	return rc;
}

/* A relative path with no empty, "." or ".." segment: safe under DIR. */
static int path_ok(const char *path)
{
	const char *p = path;

	if (!*p || *p == '/')
		return 0;
	while (1) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (!len || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static int list_tree(struct cfiles *fs, const struct api_client_opts *o, const char *dir)
{
	char *url = strfmt("%s/api/models/%s/tree/%s?recursive=true", o->url, o->repo,
			   o->rev ? o->rev : "main");
	int rc = 0;

	if (!url)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	while (url && !rc) {
		struct buf out = { NULL, 0 };
		char *next = NULL;
		json_t *arr = NULL, *v;
		long status = 0;
		size_t i;

		rc = http_call(&status, &out, &next, o, url, NULL, NULL, 0);
		if (!rc && status != 200)
			rc = http_error("list the files", status, &out);
		if (!rc && !(arr = json_loads(out.p ? out.p : "", 0, NULL), json_is_array(arr)))
			rc = hz_error_set(HZ_ERROR, "list the files: the answer is not a list");
		json_array_foreach(rc ? NULL : arr, i, v) {
			const char *path = json_string_value(json_object_get(v, "path"));
			const char *type = json_string_value(json_object_get(v, "type"));
			const char *oid = json_string_value(
				json_object_get(json_object_get(v, "lfs"), "oid"));
			struct cfile *f;

			if (!type || strcmp(type, "file"))
				continue;
			if (!path || !oid || strlen(oid) != 64 || !path_ok(path)) {
				rc = hz_error_set(HZ_ERROR, "list the files: a bad entry '%s'",
						  path ? path : "");
				break;
			}
			f = cfiles_add(fs);
			if (!f || !(f->rel = strdup(path)) ||
			    !(f->abs = strfmt("%s/%s", dir, path))) {
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
				break;
			}
			memcpy(f->oid, oid, 65);
			f->size = (uint64_t)json_integer_value(json_object_get(v, "size"));
		}
		json_decref(arr);
		free(out.p);
		free(url);
		url = NULL;
		if (next && !rc) {
			/* a relative Link goes under the base URL */
			url = next[0] == '/' ? strfmt("%s%s", o->url, next) : strdup(next);
			if (!url)
				rc = hz_error_set(HZ_ENOMEM, "out of memory");
		}
		free(next);
	}
	free(url);
	return rc;
}

struct dl {
	FILE *fp;
	struct hz_sha256 h;
	struct prog *prog;
	long status;
	struct buf err;
	CURL *c;
	uint64_t have;		/* bytes of a .part asked for with Range */
	int checked;
};

static size_t dl_write(char *p, size_t sz, size_t n, void *payload)
{
	struct dl *d = payload;
	size_t len = sz * n;

	if (!d->checked) {
		curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &d->status);
		d->checked = 1;
		if (d->have && d->status == 200) {
			/* the range was ignored: the whole file comes, start over */
			if (ftruncate(fileno(d->fp), 0) || fseeko(d->fp, 0, SEEK_SET))
				return 0;
			hz_sha256_release(&d->h);
			if (hz_sha256_init(&d->h))
				return 0;
			atomic_fetch_sub(&d->prog->done, d->have);
			d->have = 0;
		}
	}
	if (d->status != 200 && d->status != 206)
		return buf_write(p, sz, n, &d->err);
	if (fwrite(p, 1, len, d->fp) != len)
		return 0;
	hz_sha256_update(&d->h, p, len);
	atomic_fetch_add(&d->prog->done, len);
	return len;
}

/* Hashes the first n bytes of fp into h. */
static int hash_prefix(struct hz_sha256 *h, FILE *fp, uint64_t n)
{
	char buf[65536];

	rewind(fp);
	while (n) {
		size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		if (fread(buf, 1, want, fp) != want)
			return hz_error_set(HZ_ERROR, "cannot read a partial download");
		hz_sha256_update(h, buf, want);
		n -= want;
	}
	return fseeko(fp, 0, SEEK_END) ? hz_error_set_errno(HZ_ERROR, "cannot seek") : 0;
}

static int file_matches(const struct cfile *f)
{
	struct cfile tmp = *f;
	struct stat st;

	if (stat(f->abs, &st) || (uint64_t)st.st_size != f->size)
		return 0;
	if (hash_file(&tmp))
		return 0;
	return !strcmp(tmp.oid, f->oid);
}

static int get_file(struct pool *pl, CURL *c, struct cfile *f)
{
	const struct api_client_opts *o = pl->o;
	char *part = strfmt("%s.part", f->abs), *esc = NULL, *url = NULL, *slash;
	struct curl_slist *h = NULL;
	struct dl d = { 0 };
	uint64_t have = 0;
	struct stat st;
	uint8_t dig[HZ_SHA256_LEN];
	char hex[65];
	CURLcode cc;
	int rc = 0, hinit = 0;

	if (!part)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	slash = strrchr(part, '/');
	if (slash) {
		*slash = 0;
		rc = hz_mkdir_p(part);
		*slash = '/';
		if (rc)
			goto out;
	}
	if (file_matches(f)) {
		atomic_fetch_add(&pl->prog->done, f->size);
		goto out;
	}
	if (hz_sha256_init(&d.h)) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	hinit = 1;
	if (!stat(part, &st) && (uint64_t)st.st_size < f->size)
		have = (uint64_t)st.st_size;
	d.fp = fopen(part, have ? "a+b" : "w+b");
	if (!d.fp) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot create '%s'", part);
		goto out;
	}
	if (have && hash_prefix(&d.h, d.fp, have)) {
		rc = HZ_ERROR;
		goto out;
	}
	esc = escape_path(c, f->rel);
	url = esc ? strfmt("%s/%s/resolve/%s/%s", o->url, o->repo, o->rev ? o->rev : "main", esc)
		  : NULL;
	if (!url) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory");
		goto out;
	}
	h = auth_headers(o, NULL);
	if (have) {
		char range[64];

		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)have);
		h = curl_slist_append(h, range);
		atomic_fetch_add(&pl->prog->done, have);
	}
	d.prog = pl->prog;
	d.c = c;
	d.have = have;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &d.status);
	if (d.status >= 300 || (d.status && d.status != 200 && d.status != 206)) {
		char what[600];

		snprintf(what, sizeof(what), "download of '%s'", f->rel);
		rc = http_error(what, d.status, &d.err);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = hz_error_set(HZ_ERROR, "download of '%s': %s", f->rel, curl_easy_strerror(cc));
		goto out;
	}
	if (fflush(d.fp) || fsync(fileno(d.fp))) {
		rc = hz_error_set_errno(HZ_ERROR, "cannot write '%s'", part);
		goto out;
	}
	hz_sha256_final(&d.h, dig);
	hex_of(hex, dig);
	if (strcmp(hex, f->oid)) {
		unlink(part);
		rc = hz_error_set(HZ_ECORRUPT, "download of '%s': SHA-256 %s, expected %s", f->rel,
				  hex, f->oid);
		goto out;
	}
	if (rename(part, f->abs))
		rc = hz_error_set_errno(HZ_ERROR, "cannot rename '%s'", part);
out:
	if (d.fp)
		fclose(d.fp);
	if (hinit)
		hz_sha256_release(&d.h);
	curl_slist_free_all(h);
	free(d.err.p);
	free(esc);
	free(url);
	free(part);
	return rc;
}

int api_client_pull(const struct api_client_opts *opts, const char *dir)
{
	struct api_client_opts pinned = *opts, *o = &pinned;
	char sha[41];
	struct cfiles fs = { 0 };
	struct prog prog = { 0 };
	struct pool pl = { 0 };
	uint64_t total = 0;
	int rc;

	rc = hz_dl_curl();
	if (rc)
		return rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = resolve_rev(sha, o);
	if (rc)
		goto out;
	pinned.rev = sha;
	rc = hz_mkdir_p(dir);
	if (rc)
		goto out;
	rc = list_tree(&fs, o, dir);
	if (rc)
		goto out;
	for (size_t i = 0; i < fs.n; i++)
		total += fs.v[i].size;
	prog_start(&prog, o->progress, "pull", total);
	pl.fs = &fs;
	pl.o = o;
	pl.dir = dir;
	pl.prog = &prog;
	pl.fn = get_file;
	rc = pool_go(&pl);
	prog_end(&prog);
out:
	cfiles_release(&fs);
	curl_global_cleanup();
	return rc;
}
