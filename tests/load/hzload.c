/*
 * tests/load/hzload.c - a load generator for `hubzip serve`: N clients
 * (threads, each with one keep-alive libcurl handle) send a mix of
 * requests for a bounded time and check every answer; the summary is one
 * JSON object on stdout: requests/s, MB/s, and per request kind the
 * count, errors, p50/p90/p99/max latency.
 *
 *   hzload --url http://127.0.0.1:PORT --token hf_... --repo ns/name
 *          --file PATH:SIZE:SHA256 [--file ...] --upload-repo ns/name
 *          [--clients 64] [--seconds 10] [--big FILE] [--big-clients 1]
 *          [--downloads-only 1]
 *
 * The --file entries are files of --repo's main branch that downloads ask
 * for (whole files are checked against their SHA-256, ranges by length).
 * Uploads go to --upload-repo: new content (random, 16 KiB to 1 MiB) and
 * duplicate content (one fixed 256 KiB buffer under new paths).  With
 * --big, --big-clients more clients upload that file again and again
 * under new paths, a byte in every 4 KiB changed each time (the heavy
 * ingests that must not stall downloads); they are reported as
 * "big_upload".
 *
 * Mix (per 100 requests): 30 resolve (whole file), 20 resolve with a
 * random Range, 10 native GET, 15 listings (files, tree, repo info),
 * 10 upload of new content, 5 upload of duplicate content, 5 LFS batch,
 * 5 stats; with --downloads-only 1, only the three kinds of downloads
 * (50 resolve, 33 ranged, 17 native).  Every request is bounded by the
 * run's deadline.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum kind {
	K_RESOLVE, K_RANGE, K_NATIVE, K_LIST, K_UP_NEW, K_UP_DUP, K_LFS, K_STATS,
	K_BIG, NKINDS
};
static const char *kind_name[NKINDS] = {
	"resolve", "resolve_range", "native_get", "listing", "upload_new",
	"upload_dup", "lfs_batch", "stats", "big_upload",
};
static const int mix[][2] = {
	{ K_RESOLVE, 30 }, { K_RANGE, 20 }, { K_NATIVE, 10 }, { K_LIST, 15 },
	{ K_UP_NEW, 10 }, { K_UP_DUP, 5 }, { K_LFS, 5 }, { K_STATS, 5 },
};

struct file {
	char *path;
	uint64_t size;
	char sha[65];
};

static struct {
	const char *url, *token, *repo, *up_repo, *big;
	struct file files[16];
	int nfiles;
	int clients, big_clients;
	int downloads_only;
	double seconds;
	uint8_t *dup;		/* the duplicate upload's bytes */
	size_t dup_len;
	uint8_t *big_buf;
	size_t big_len;
} cfg = { .clients = 64, .seconds = 10, .big_clients = 1 };

struct lat {
	double *v;
	size_t n, cap;
};

struct client {
	int id;
	int big;
	pthread_t th;
	CURL *h;
	uint64_t rng;
	struct lat lat[NKINDS];
	uint64_t errors[NKINDS];
	uint64_t bytes_in, bytes_out;
	uint8_t *bigbuf;		/* this client's copy of the --big file */
	char first_error[512];
};

static double deadline;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(struct client *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static void lat_add(struct lat *l, double v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		double *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			return;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = v;
}

/* ---- one request ---------------------------------------------------------- */

struct sink {
	EVP_MD_CTX *sha;
	uint64_t n;
	int hash;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->hash)
		EVP_DigestUpdate(s->sha, p, n);
	s->n += n;
	return n;
}

struct src {
	const uint8_t *p;
	size_t n, off;
};

static size_t on_read(char *out, size_t size, size_t nmemb, void *arg)
{
	struct src *s = arg;
	size_t n = size * nmemb;

	if (n > s->n - s->off)
		n = s->n - s->off;
	memcpy(out, s->p + s->off, n);
	s->off += n;
	return n;
}

static void hexs(char *out, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Sends one request; 0 when the answer is what was expected. */
static int do_req(struct client *c, const char *method, const char *url, const char *range,
		  const uint8_t *body, size_t body_len, const char *ctype, long want,
		  int64_t want_len, const char *want_sha, char *err, size_t errsz)
{
	struct curl_slist *hdrs = NULL;
	struct sink s = { .hash = want_sha != NULL };
	unsigned dlen = 0;
	struct src in = { body, body_len, 0 };
	char auth[128], ct[128], got[65];
	uint8_t d[32];
	long code = 0;
	CURLcode rc;

	if (s.hash) {
		s.sha = EVP_MD_CTX_new();
		if (!s.sha || !EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL)) {
			EVP_MD_CTX_free(s.sha);
			snprintf(err, errsz, "cannot hash");
			return -1;
		}
	}
	curl_easy_reset(c->h);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 120000L);
	if (cfg.token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg.token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs = curl_slist_append(hdrs, ct);
	}
	if (range)
		curl_easy_setopt(c->h, CURLOPT_RANGE, range);
	if (!strcmp(method, "PUT")) {
		curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->h, CURLOPT_READDATA, &in);
		curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_len);
		hdrs = curl_slist_append(hdrs, "Expect:");
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, (const char *)body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
	rc = curl_easy_perform(c->h);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	c->bytes_in += s.n;
	c->bytes_out += in.off;
	if (s.hash) {
		EVP_DigestFinal_ex(s.sha, d, &dlen);
		EVP_MD_CTX_free(s.sha);
	}
	if (rc != CURLE_OK) {
		snprintf(err, errsz, "%s %s: %s", method, url, curl_easy_strerror(rc));
		return -1;
	}
	if (code != want) {
		snprintf(err, errsz, "%s %s: status %ld, expected %ld", method, url, code, want);
		return -1;
	}
	if (want_len >= 0 && s.n != (uint64_t)want_len) {
		snprintf(err, errsz, "%s %s: %llu bytes, expected %lld", method, url,
			 (unsigned long long)s.n, (long long)want_len);
		return -1;
	}
	if (want_sha) {
		hexs(got, d, 32);
		if (strcmp(got, want_sha)) {
			snprintf(err, errsz, "%s %s: sha256 %s, expected %s", method, url, got,
				 want_sha);
			return -1;
		}
	}
	return 0;
}

static int pick(struct client *c)
{
	int r = (int)(rnd(c) % (cfg.downloads_only ? 60 : 100)), acc = 0;

	for (size_t i = 0; i < sizeof(mix) / sizeof(mix[0]); i++) {
		acc += mix[i][1];
		if (r < acc)
			return mix[i][0];
	}
	return K_RESOLVE;
}

static void one(struct client *c, int kind, uint64_t seq)
{
	const struct file *f = &cfg.files[rnd(c) % (uint64_t)cfg.nfiles];
	char url[1024], range[64], err[512] = "", body[512];
	uint8_t *buf = NULL;
	double t0 = now();
	int rc = 0;

	switch (kind) {
	case K_RESOLVE:
		snprintf(url, sizeof(url), "%s/%s/resolve/main/%s", cfg.url, cfg.repo, f->path);
		rc = do_req(c, "GET", url, NULL, NULL, 0, NULL, 200, (int64_t)f->size, f->sha,
			    err, sizeof(err));
		break;
	case K_RANGE: {
		uint64_t a = f->size ? rnd(c) % f->size : 0;
		uint64_t len = 1 + rnd(c) % (1u << 20);

		if (!f->size) { /* nothing to range over */
			kind = K_RESOLVE;
			snprintf(url, sizeof(url), "%s/%s/resolve/main/%s", cfg.url, cfg.repo,
				 f->path);
			rc = do_req(c, "GET", url, NULL, NULL, 0, NULL, 200, 0, NULL, err,
				    sizeof(err));
			break;
		}
		if (a + len > f->size)
			len = f->size - a;
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)a,
			 (unsigned long long)(a + len - 1));
		snprintf(url, sizeof(url), "%s/%s/resolve/main/%s", cfg.url, cfg.repo, f->path);
		rc = do_req(c, "GET", url, range, NULL, 0, NULL, 206, (int64_t)len, NULL, err,
			    sizeof(err));
		break;
	}
	case K_NATIVE:
		snprintf(url, sizeof(url), "%s/api/v1/repos/%s/files/main/%s", cfg.url, cfg.repo,
			 f->path);
		rc = do_req(c, "GET", url, NULL, NULL, 0, NULL, 200, (int64_t)f->size, f->sha,
			    err, sizeof(err));
		break;
	case K_LIST:
		switch (rnd(c) % 3) {
		case 0:
			snprintf(url, sizeof(url), "%s/api/v1/repos/%s/files/main", cfg.url,
				 cfg.repo);
			break;
		case 1:
			snprintf(url, sizeof(url), "%s/api/models/%s/tree/main?recursive=true",
				 cfg.url, cfg.repo);
			break;
		default:
			snprintf(url, sizeof(url), "%s/api/models/%s", cfg.url, cfg.repo);
		}
		rc = do_req(c, "GET", url, NULL, NULL, 0, NULL, 200, -1, NULL, err, sizeof(err));
		break;
	case K_UP_NEW: {
		size_t n = (16u << 10) + rnd(c) % (1u << 20);

		buf = malloc(n);
		if (!buf)
			break;
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t v = rnd(c);

			memcpy(buf + i, &v, 8);
		}
		snprintf(url, sizeof(url), "%s/api/v1/repos/%s/files/main/c%d/new%llu.bin",
			 cfg.url, cfg.up_repo, c->id, (unsigned long long)seq);
		rc = do_req(c, "PUT", url, NULL, buf, n, NULL, 201, -1, NULL, err, sizeof(err));
		break;
	}
	case K_UP_DUP:
		snprintf(url, sizeof(url), "%s/api/v1/repos/%s/files/main/c%d/dup%llu.bin",
			 cfg.url, cfg.up_repo, c->id, (unsigned long long)seq);
		rc = do_req(c, "PUT", url, NULL, cfg.dup, cfg.dup_len, NULL, 201, -1, NULL, err,
			    sizeof(err));
		break;
	case K_LFS:
		snprintf(url, sizeof(url), "%s/%s.git/info/lfs/objects/batch", cfg.url, cfg.repo);
		snprintf(body, sizeof(body),
			 "{\"operation\":\"download\",\"objects\":[{\"oid\":\"%s\",\"size\":%llu}]}",
			 f->sha, (unsigned long long)f->size);
		rc = do_req(c, "POST", url, NULL, (const uint8_t *)body, strlen(body),
			    "application/vnd.git-lfs+json", 200, -1, NULL, err, sizeof(err));
		break;
	case K_STATS:
		snprintf(url, sizeof(url), "%s/api/stats?limit=10", cfg.url);
		rc = do_req(c, "GET", url, NULL, NULL, 0, NULL, 200, -1, NULL, err, sizeof(err));
		break;
	case K_BIG:
		/* other bytes each time (one byte in every 4 KiB past the
		 * header), so that every upload is ingested in full */
		if (!c->bigbuf && !(c->bigbuf = malloc(cfg.big_len)))
			break;
		if (!seq)
			memcpy(c->bigbuf, cfg.big_buf, cfg.big_len);
		for (size_t i = 1u << 16; i < cfg.big_len; i += 4096)
			c->bigbuf[i] ^= (uint8_t)(seq + 1);
		snprintf(url, sizeof(url), "%s/api/v1/repos/%s/files/big%d/big%llu.safetensors",
			 cfg.url, cfg.up_repo, c->id, (unsigned long long)seq);
		rc = do_req(c, "PUT", url, NULL, c->bigbuf, cfg.big_len, NULL, 201, -1, NULL, err,
			    sizeof(err));
		break;
	}
	free(buf);
	lat_add(&c->lat[kind], now() - t0);
	if (rc) {
		c->errors[kind]++;
		if (!c->first_error[0])
			snprintf(c->first_error, sizeof(c->first_error), "%s", err);
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	uint64_t seq = 0;

	c->h = curl_easy_init();
	if (!c->h)
		return NULL;
	while (now() < deadline)
		one(c, c->big ? K_BIG : pick(c), seq++);
	curl_easy_cleanup(c->h);
	free(c->bigbuf);
	return NULL;
}

/* ---- summary ---------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i];
}

static int load_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	*len = (size_t)st.st_size;
	*out = malloc(*len ? *len : 1);
	while (*out && off < *len) {
		ssize_t r = read(fd, *out + off, *len - off);

		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	return *out && off == *len ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: hzload --url URL --token T --repo NS/NAME --file PATH:SIZE:SHA256"
			" ... --upload-repo NS/NAME [--clients N] [--seconds S] [--big FILE]"
			" [--big-clients N] [--downloads-only 1]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct client *cl;
	struct lat all[NKINDS] = { { 0 } };
	uint64_t errs[NKINDS] = { 0 }, total = 0, nerr = 0, bin = 0, bout = 0;
	const char *first = "";
	double t0, el;
	int n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--url"))
			cfg.url = v;
		else if (!strcmp(a, "--token"))
			cfg.token = v;
		else if (!strcmp(a, "--repo"))
			cfg.repo = v;
		else if (!strcmp(a, "--upload-repo"))
			cfg.up_repo = v;
		else if (!strcmp(a, "--clients"))
			cfg.clients = atoi(v);
		else if (!strcmp(a, "--seconds"))
			cfg.seconds = atof(v);
		else if (!strcmp(a, "--big"))
			cfg.big = v;
		else if (!strcmp(a, "--big-clients"))
			cfg.big_clients = atoi(v);
		else if (!strcmp(a, "--downloads-only"))
			cfg.downloads_only = atoi(v);
		else if (!strcmp(a, "--file") && cfg.nfiles < 16) {
			struct file *f = &cfg.files[cfg.nfiles++];
			char *p = strdup(v), *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

			if (!c2 || strlen(c2 + 1) != 64)
				usage();
			*c1 = *c2 = '\0';
			f->path = p;
			f->size = strtoull(c1 + 1, NULL, 10);
			memcpy(f->sha, c2 + 1, 65);
		} else {
			usage();
		}
	}
	if (!cfg.url || !cfg.repo || !cfg.up_repo || !cfg.nfiles || cfg.clients < 1 ||
	    cfg.seconds <= 0)
		usage();
	if (cfg.big && load_file(cfg.big, &cfg.big_buf, &cfg.big_len)) {
		fprintf(stderr, "hzload: cannot read %s: %s\n", cfg.big, strerror(errno));
		return 2;
	}
	cfg.dup_len = 256u << 10;
	cfg.dup = malloc(cfg.dup_len);
	for (size_t i = 0; i < cfg.dup_len; i++)
		cfg.dup[i] = (uint8_t)(i * 2654435761u >> 13);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	n = cfg.clients + (cfg.big ? cfg.big_clients : 0);
	cl = calloc((size_t)n, sizeof(*cl));
	t0 = now();
	deadline = t0 + cfg.seconds;
	for (int i = 0; i < n; i++) {
		cl[i].id = i;
		cl[i].big = i >= cfg.clients;
		cl[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ (uint64_t)time(NULL);
		pthread_create(&cl[i].th, NULL, client_main, &cl[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(cl[i].th, NULL);
	el = now() - t0;
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < NKINDS; k++) {
			for (size_t j = 0; j < cl[i].lat[k].n; j++)
				lat_add(&all[k], cl[i].lat[k].v[j]);
			errs[k] += cl[i].errors[k];
		}
		bin += cl[i].bytes_in;
		bout += cl[i].bytes_out;
		if (!*first && cl[i].first_error[0])
			first = cl[i].first_error;
	}
	printf("{\"clients\": %d, \"big_clients\": %d, \"seconds\": %.2f", cfg.clients,
	       cfg.big ? cfg.big_clients : 0, el);
	printf(", \"kinds\": {");
	for (int k = 0, sep = 0; k < NKINDS; k++) {
		if (!all[k].n)
			continue;
		qsort(all[k].v, all[k].n, sizeof(double), cmp_d);
		printf("%s\"%s\": {\"requests\": %zu, \"errors\": %llu, \"p50_ms\": %.2f,"
		       " \"p90_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}",
		       sep++ ? ", " : "", kind_name[k], all[k].n, (unsigned long long)errs[k],
		       1e3 * pct(&all[k], 0.5), 1e3 * pct(&all[k], 0.9), 1e3 * pct(&all[k], 0.99),
		       1e3 * all[k].v[all[k].n - 1]);
		total += all[k].n;
		nerr += errs[k];
	}
	printf("}, \"requests\": %llu, \"errors\": %llu, \"requests_per_s\": %.1f,"
	       " \"mb_per_s_down\": %.1f, \"mb_per_s_up\": %.1f, \"first_error\": \"",
	       (unsigned long long)total, (unsigned long long)nerr, (double)total / el,
	       (double)bin / el / 1e6, (double)bout / el / 1e6);
	for (const char *p = first; *p; p++)
		if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\"}\n");
	curl_global_cleanup();
	return nerr ? 1 : 0;
}
