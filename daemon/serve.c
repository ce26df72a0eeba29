/*
 * daemon/serve.c - `hubzip serve`: configuration (defaults < config file <
 * environment < flags), signals, the first-start admin token, and the
 * HTTP server of api/ until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/hash.h"
#include "daemon/cmd.h"
#include "store/store.h"

static const char serve_usage[] =
	"usage: hubzip [--store DIR] serve [--listen HOST:PORT] [--config FILE]\n"
	"         [--public-url URL] [--threads N] [--max-upload-bytes N]\n"
	"         [--max-header-bytes N] [--max-uploads N] [--log-level LEVEL]\n"
	"         [--ingest-threads N] [--rate-limit R[/s|/m|/h]] [--rate-burst N]\n"
	"         [--metrics-token-required true|false] [--secret-key-file FILE]\n"
	"         [--index postgresql://USER@HOST:PORT/DB]\n"
	"         [--blobs s3://BUCKET[/PREFIX]?endpoint=URL&region=R | file:///PATH]\n"
	"         [--check-config]\n"
	"         [--gc-interval DURATION] [--scrub-interval DURATION]\n"
	"         [--header-timeout SECONDS] [--shutdown-grace DURATION]\n"
	"\n"
	"--check-config parses every setting, prints the effective configuration\n"
	"and exits: 0, or 1 with the first bad key or value (the store is not opened).\n"
	"\n"
	"Each option is also a config file key (key = value, '_' for '-') and an\n"
	"environment variable (HUBZIP_LISTEN, HUBZIP_PUBLIC_URL, HUBZIP_THREADS, ...;\n"
	"HUBZIP_CONFIG names the file).  Flags win over the environment, which wins\n"
	"over the file.  Sizes take K, M, G, T suffixes (powers of 1024); durations\n"
	"are seconds or take s, m, h, d (0 or off: never).\n";

#define MAX_KEYS 64

struct settings {
	char *ingest_threads, *rate_limit, *rate_burst;
	char *listen, *store, *public_url, *threads, *max_upload_bytes, *max_header_bytes,
		*max_uploads, *log_level, *metrics_token_required, *secret_key_file;
	char *index, *blobs;
	char *gc_interval, *scrub_interval, *header_timeout;
	char *shutdown_grace;
	/* where each key's value came from, for --check-config */
	const char *phase;		/* "file", the variable's name or "flag" */
	const char *from[MAX_KEYS];
};

static const struct key {
	const char *name;	/* config key; the flag is --name with '-' */
	const char *env;
	size_t off;
} keys[] = {
	{ "listen", "HUBZIP_LISTEN", offsetof(struct settings, listen) },
	{ "store", NULL, offsetof(struct settings, store) },
	{ "public_url", "HUBZIP_PUBLIC_URL", offsetof(struct settings, public_url) },
	{ "threads", "HUBZIP_THREADS", offsetof(struct settings, threads) },
	{ "max_upload_bytes", "HUBZIP_MAX_UPLOAD_BYTES",
	  offsetof(struct settings, max_upload_bytes) },
	{ "max_header_bytes", "HUBZIP_MAX_HEADER_BYTES",
	  offsetof(struct settings, max_header_bytes) },
	{ "max_uploads", "HUBZIP_MAX_UPLOADS", offsetof(struct settings, max_uploads) },
	{ "log_level", "HUBZIP_LOG_LEVEL", offsetof(struct settings, log_level) },
	{ "ingest_threads", "HUBZIP_INGEST_THREADS", offsetof(struct settings, ingest_threads) },
	{ "rate_limit", "HUBZIP_RATE_LIMIT", offsetof(struct settings, rate_limit) },
	{ "rate_burst", "HUBZIP_RATE_BURST", offsetof(struct settings, rate_burst) },
	{ "metrics_token_required", "HUBZIP_METRICS_TOKEN_REQUIRED",
	  offsetof(struct settings, metrics_token_required) },
	{ "secret_key_file", "HUBZIP_SECRET_KEY_FILE", offsetof(struct settings, secret_key_file) },
	{ "index", "HUBZIP_INDEX", offsetof(struct settings, index) },
	{ "blobs", "HUBZIP_BLOBS", offsetof(struct settings, blobs) },
	{ "gc_interval", "HUBZIP_GC_INTERVAL", offsetof(struct settings, gc_interval) },
	{ "scrub_interval", "HUBZIP_SCRUB_INTERVAL", offsetof(struct settings, scrub_interval) },
	{ "shutdown_grace", "HUBZIP_SHUTDOWN_GRACE", offsetof(struct settings, shutdown_grace) },
	{ "header_timeout", "HUBZIP_HEADER_TIMEOUT", offsetof(struct settings, header_timeout) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= MAX_KEYS, "raise MAX_KEYS");

static char **slot(struct settings *s, const struct key *k)
{
	return (char **)(void *)((char *)s + k->off);
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int set(struct settings *s, const struct key *k, const char *v)
{
	char *c = hz_strdup(v);

	if (!c)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	free(*slot(s, k));
	*slot(s, k) = c;
	s->from[k - keys] = s->phase;
	return 0;
}

static void settings_release(struct settings *s)
{
	for (size_t i = 0; i < NKEYS; i++)
		free(*slot(s, &keys[i]));
}

static char *trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return p;
}

/* key = value lines; '#' starts a comment; values may be "quoted". */
static int read_config(struct settings *s, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0, rc = 0;

	if (!f)
		return hz_error_set_errno(HZ_EINVAL, "cannot open config file '%s'", path);
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = trim(line), *eq, *k, *v;
		const struct key *key;
		size_t n;

		lineno++;
		if (!*p || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			rc = hz_error_set(HZ_EINVAL, "%s:%d: expected key = value", path, lineno);
			break;
		}
		*eq = '\0';
		k = trim(p);
		v = trim(eq + 1);
		n = strlen(v);
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
			v[n - 1] = '\0';
			v++;
		}
		for (char *c = k; *c; c++)
			if (*c == '-')
				*c = '_';
		key = key_find(k);
		if (!key)
			rc = hz_error_set(HZ_EINVAL, "%s:%d: unknown key '%s'", path, lineno, k);
		else
			rc = set(s, key, v);
	}
	fclose(f);
	return rc;
}

static int parse_size(const char *name, const char *v, uint64_t *out)
{
	char *e;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &e, 10);
	if (errno || e == v)
		goto bad;
	switch (*e) {
	case 'k': case 'K': n <<= 10; e++; break;
	case 'm': case 'M': n <<= 20; e++; break;
	case 'g': case 'G': n <<= 30; e++; break;
	case 't': case 'T': n <<= 40; e++; break;
	default: break;
	}
	if (*e == 'i' || *e == 'B' || *e == 'b')
		e += (*e == 'i' && e[1] == 'B') ? 2 : 1;
	if (*e)
		goto bad;
	*out = n;
	return 0;
bad:
	return hz_error_set(HZ_EINVAL, "invalid %s '%s'", name, v);
}

/* Requests per second: "N" or "N/s", "N/m", "N/h" (N may have a
 * fraction); 0 turns the limit off. */
/* Seconds: "90", "90s", "15m", "1h", "7d"; "0" or "off" is 0 (never). */
static int parse_duration(const char *name, const char *v, unsigned *out)
{
	char *e;
	unsigned long long n, mul = 1;

	if (!strcasecmp(v, "off")) {
		*out = 0;
		return 0;
	}
	errno = 0;
	n = strtoull(v, &e, 10);
	if (errno || e == v || (e[0] && e[1]))
		goto bad;
	switch (*e) {
	case 'd': mul = 86400; break;
	case 'h': mul = 3600; break;
	case 'm': mul = 60; break;
	case 's': case '\0': break;
	default: goto bad;
	}
	if (n > 365ull * 86400 / mul)
		goto bad;
	*out = (unsigned)(n * mul);
	return 0;
bad:
	return hz_error_set(HZ_EINVAL, "invalid %s '%s' (seconds, or with s, m, h, d; 0 or off:"
			    " never)", name, v);
}

static int parse_rate(const char *v, double *out)
{
	char *e;
	double n;

	errno = 0;
	n = strtod(v, &e);
	if (errno || e == v || n < 0 || n > 1e6)
		goto bad;
	if (!strcmp(e, "/m") || !strcmp(e, "/min"))
		n /= 60;
	else if (!strcmp(e, "/h"))
		n /= 3600;
	else if (*e && strcmp(e, "/s"))
		goto bad;
	*out = n;
	return 0;
bad:
	return hz_error_set(HZ_EINVAL, "invalid rate_limit '%s' (requests per second, or"
			    " N/m, N/h; 0: off)", v);
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT". */
static int parse_listen(const char *v, char **host, unsigned *port)
{
	const char *colon = strrchr(v, ':');
	const char *h = v, *p = colon ? colon + 1 : v;
	size_t hl = colon ? (size_t)(colon - v) : 0;
	char *end;
	unsigned long n;

	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	n = strtoul(p, &end, 10);
	if (!*p || *end || n > 65535)
		return hz_error_set(HZ_EINVAL, "invalid listen address '%s' (HOST:PORT)", v);
	*port = (unsigned)n;
	*host = hl ? strndup(h, hl) : hz_strdup("127.0.0.1");
	return *host ? 0 : hz_error_set(HZ_ENOMEM, "out of memory");
}

static int parse_level(const char *v, int *out)
{
	static const char *names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (!strcasecmp(v, names[i])) {
			*out = i;
			return 0;
		}
	return hz_error_set(HZ_EINVAL, "invalid log level '%s' (error, warn, info, debug)", v);
}

static int parse_bool(const char *name, const char *v, int *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" }, *no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*out = !strcasecmp(v, yes[i]);
			return 0;
		}
	}
	return hz_error_set(HZ_EINVAL, "invalid %s '%s' (true or false)", name, v);
}

/*
 * The key that signs LFS URLs, from path: STORE_KEY_LEN raw bytes (a copy
 * of a store's secret.key, or `head -c 32 /dev/urandom`) or their hex
 * (`openssl rand -hex 32`, a newline allowed).  Daemons that share an
 * index share it, so that a URL one signs verifies on another.
 */
static int read_secret_key(const char *path, uint8_t out[STORE_KEY_LEN])
{
	char buf[2 * STORE_KEY_LEN + 3];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	struct stat sb;
	size_t n;

	if (fd < 0)
		return hz_error_set_errno(HZ_EINVAL, "cannot open secret_key_file '%s'", path);
	if (fstat(fd, &sb) || sb.st_size < STORE_KEY_LEN || sb.st_size >= (off_t)sizeof(buf)) {
		rc = -1;
		goto out;
	}
	n = (size_t)sb.st_size;
	rc = hz_pread_all(fd, buf, n, 0);
	if (rc)
		goto out;
	if (n == STORE_KEY_LEN) {
		memcpy(out, buf, STORE_KEY_LEN);
		goto out;
	}
	while (n > 2 * STORE_KEY_LEN && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	rc = n == 2 * STORE_KEY_LEN ? hz_unhex(out, buf, STORE_KEY_LEN) : -1;
out:
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	if (rc)
		return hz_error_set(HZ_EINVAL, "secret_key_file '%s' must hold %d bytes or"
				    " their %d hex digits", path, STORE_KEY_LEN, 2 * STORE_KEY_LEN);
	return 0;
}

/* A size as a config file would say it: 64G rather than 68719476736. */
static void fmt_size(char *out, size_t n, uint64_t v)
{
	static const char suffix[] = "KMGT";
	int i = 0;

	while (v && !(v & 1023) && i < 4) {
		v >>= 10;
		i++;
	}
	if (i)
		snprintf(out, n, "%llu%c", (unsigned long long)v, suffix[i - 1]);
	else
		snprintf(out, n, "%llu", (unsigned long long)v);
}

/* What a key is when nothing sets it, or NULL with a note in out. */
static const char *default_value(char *out, size_t n, const char *name,
				 const struct api_config *cfg)
{
	static const char *levels[] = { "error", "warn", "info", "debug" };

	if (!strcmp(name, "listen"))
		snprintf(out, n, strchr(cfg->host, ':') ? "[%s]:%u" : "%s:%u", cfg->host,
			 cfg->port);
	else if (!strcmp(name, "store"))
		snprintf(out, n, "%s", cfg->store_dir);
	else if (!strcmp(name, "threads"))
		snprintf(out, n, "%u", cfg->threads);
	else if (!strcmp(name, "max_upload_bytes"))
		fmt_size(out, n, cfg->max_upload_bytes);
	else if (!strcmp(name, "max_header_bytes"))
		fmt_size(out, n, cfg->max_header_bytes);
	else if (!strcmp(name, "max_uploads"))
		snprintf(out, n, "%u", cfg->max_uploads);
	else if (!strcmp(name, "header_timeout"))
		snprintf(out, n, "%u", cfg->header_timeout);
	else if (!strcmp(name, "log_level") && cfg->log_level >= 0 && cfg->log_level < 4)
		snprintf(out, n, "%s", levels[cfg->log_level]);
	else if (!strcmp(name, "metrics_token_required"))
		snprintf(out, n, "%s", cfg->metrics_token_required ? "true" : "false");
	else if (!strcmp(name, "gc_interval") && cfg->gc_interval)
		snprintf(out, n, "%us", cfg->gc_interval);
	else if (!strcmp(name, "shutdown_grace"))
		snprintf(out, n, "off");
	else if (!strcmp(name, "scrub_interval") && cfg->scrub_interval)
		snprintf(out, n, "%us", cfg->scrub_interval);
	else if (!strcmp(name, "gc_interval") || !strcmp(name, "scrub_interval"))
		snprintf(out, n, "off");
	else if (!strcmp(name, "rate_limit"))
		snprintf(out, n, "%g", cfg->rate_limit);
	else if (!strcmp(name, "ingest_threads"))
		return snprintf(out, n, "one per CPU"), NULL;
	else if (!strcmp(name, "rate_burst"))
		return snprintf(out, n, "2 s of rate_limit, at least 10"), NULL;
	else if (!strcmp(name, "public_url"))
		return snprintf(out, n, "from each request's Host header"), NULL;
	else if (!strcmp(name, "secret_key_file"))
		return snprintf(out, n, "the store's secret.key"), NULL;
	else if (!strcmp(name, "index"))
		return snprintf(out, n, "the SQLite file in the store"), NULL;
	else if (!strcmp(name, "blobs"))
		return snprintf(out, n, "where init put the packs (DIR/blobs.url, else DIR/objects)"),
		       NULL;
	else
		return snprintf(out, n, "built-in default"), NULL;
	return out;
}

/* --check-config: every key, its effective value and where it came from,
 * in the config file's syntax. */
static void print_config(struct settings *st, const char *config, int store_explicit,
			 const struct api_config *cfg)
{
	printf("# hubzip serve: effective configuration (config file: %s)\n",
	       config && *config ? config : "none");
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = *slot(st, &keys[i]), *from = st->from[i];
		char def[512];

		if (!strcmp(keys[i].name, "store") && store_explicit) {
			v = cfg->store_dir;
			from = "hubzip --store or HUBZIP_STORE";
		}
		if (!strcmp(keys[i].name, "index") && store_index_get() &&
		    (!v || strcmp(v, store_index_get()))) {
			v = store_index_get();
			from = "hubzip --index or HUBZIP_INDEX";
		}
		if (!strcmp(keys[i].name, "blobs") && store_blobs_get() &&
		    (!v || strcmp(v, store_blobs_get()))) {
			v = store_blobs_get();
			from = "hubzip --blobs or HUBZIP_BLOBS";
		}
		if (v)
			printf("%s = %s\t# %s\n", keys[i].name, v, from ? from : "?");
		else if (default_value(def, sizeof(def), keys[i].name, cfg))
			printf("%s = %s\t# default\n", keys[i].name, def);
		else
			printf("# %s (not set: %s)\n", keys[i].name, def);
	}
}

/* Creates an admin token the first time a store is served, and prints it
 * once: only its hash is kept. */
static int count_token(void *payload, const struct store_token *t)
{
	(void)t;
	(*(int *)payload)++;
	return 0;
}

static int first_start(const char *dir)
{
	struct store *s = NULL;
	char tok[STORE_TOKEN_LEN + 1];
	int n = 0, rc = store_open(&s, dir, 0);

	if (!rc)
		rc = store_tokens_each(s, count_token, &n);
	if (!rc && n == 0) {
		rc = store_token_create(s, tok, "admin", STORE_SCOPE_WRITE, NULL);
		if (!rc)
			printf("admin token (shown once, stored hashed; keep it): %s\n", tok);
	}
	store_free(s);
	return rc;
}

/*
 * shutdown_grace: after SIGTERM, new requests are refused (503, the health
 * check too) while the uploads in flight go on, until none is left, grace
 * seconds have passed, or another SIGTERM or SIGINT comes.
 */
static void drain(struct api_server *srv, const sigset_t *sigs, unsigned grace)
{
	struct timespec now, end, tick = { 0, 100 * 1000 * 1000 };
	unsigned n = api_server_uploads(srv);

	if (!n)
		return;
	api_server_drain(srv);
	api_log(API_LOG_INFO, "SIGTERM: refusing new requests; waiting up to %u s for %u"
		" uploads in flight", grace, n);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += grace;
	for (;;) {
		n = api_server_uploads(srv);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!n || now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		if (sigtimedwait(sigs, NULL, &tick) >= 0) {
			api_log(API_LOG_INFO, "another signal: not waiting any longer");
			break;
		}
	}
	if (n)
		api_log(API_LOG_WARN, "shutdown_grace over: aborting %u uploads", n);
}

int cmd_serve(const char *store_dir, int store_explicit, int argc, char **argv)
{
	struct settings st = { 0 };
	struct api_config cfg;
	struct api_server *srv = NULL;
	const char *config = getenv("HUBZIP_CONFIG");
	char *host = NULL;
	sigset_t sigs;
	uint64_t v;
	unsigned grace = 0;
	int i, sig, check = 0, rc = 1;

	/* the config file first: flags and the environment override it */
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
	st.phase = "file";
	if (config && *config && read_config(&st, config))
		goto fail;
	for (size_t k = 0; k < NKEYS; k++) {
		const char *e = keys[k].env ? getenv(keys[k].env) : NULL;

		st.phase = keys[k].env;
		if (e && *e && set(&st, &keys[k], e))
			goto fail;
	}
	st.phase = "flag";
	for (i = 1; i < argc; i++) {
		char name[64];
		const struct key *k;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(serve_usage, stdout);
			rc = 0;
			goto out;
		}
		if (!strcmp(argv[i], "--check-config")) {
			check = 1;
			continue;
		}
		if (strncmp(argv[i], "--", 2) || i + 1 >= argc || strlen(argv[i]) >= sizeof(name)) {
			fprintf(stderr, "hubzip: serve: unexpected '%s'\n\n%s", argv[i], serve_usage);
			rc = 2;
			goto out;
		}
		snprintf(name, sizeof(name), "%s", argv[i] + 2);
		for (char *c = name; *c; c++)
			if (*c == '-')
				*c = '_';
		if (!strcmp(name, "config")) {
			i++;
			continue;
		}
		k = key_find(name);
		if (!k || !strcmp(name, "store")) {
			fprintf(stderr, "hubzip: serve: unknown option '%s'\n\n%s", argv[i],
				serve_usage);
			rc = 2;
			goto out;
		}
		if (set(&st, k, argv[++i]))
			goto fail;
	}

	/* the index: serve --index, else hubzip --index or HUBZIP_INDEX (set
	 * by main), else the file */
	for (size_t k = 0; k < NKEYS; k++)
		if (!strcmp(keys[k].name, "index") && st.index &&
		    ((st.from[k] && !strcmp(st.from[k], "flag")) || !store_index_get()) &&
		    store_index_set(st.index))
			goto fail;
	/* the packs' place, likewise (store_blobs_set) */
	for (size_t k = 0; k < NKEYS; k++)
		if (!strcmp(keys[k].name, "blobs") && st.blobs &&
		    ((st.from[k] && !strcmp(st.from[k], "flag")) || !store_blobs_get()) &&
		    store_blobs_set(st.blobs))
			goto fail;
	api_config_init(&cfg);
	cfg.store_dir = store_explicit || !st.store ? store_dir : st.store;
	if (st.listen && parse_listen(st.listen, &host, &cfg.port))
		goto fail;
	if (host)
		cfg.host = host;
	cfg.public_url = st.public_url;
	if (st.threads) {
		if (parse_size("threads", st.threads, &v) || !v || v > 1024)
			goto bad_threads;
		cfg.threads = (unsigned)v;
	}
	if (st.max_upload_bytes && parse_size("max_upload_bytes", st.max_upload_bytes,
					      &cfg.max_upload_bytes))
		goto fail;
	if (st.max_header_bytes) {
		if (parse_size("max_header_bytes", st.max_header_bytes, &v))
			goto fail;
		if (v < 1024 || v > (16u << 20)) {
			hz_error_set(HZ_EINVAL, "max_header_bytes must be 1K to 16M");
			goto fail;
		}
		cfg.max_header_bytes = (size_t)v;
	}
	if (st.max_uploads) {
		if (parse_size("max_uploads", st.max_uploads, &v) || !v || v > 65536) {
			hz_error_set(HZ_EINVAL, "invalid max_uploads '%s'", st.max_uploads);
			goto fail;
		}
		cfg.max_uploads = (unsigned)v;
	}
	if (st.ingest_threads) {
		if (parse_size("ingest_threads", st.ingest_threads, &v) || !v || v > 256) {
			hz_error_set(HZ_EINVAL, "invalid ingest_threads '%s' (1 to 256)",
				     st.ingest_threads);
			goto fail;
		}
		cfg.ingest_threads = (unsigned)v;
	}
	if (st.rate_limit && parse_rate(st.rate_limit, &cfg.rate_limit))
		goto fail;
	if (st.rate_burst) {
		if (parse_size("rate_burst", st.rate_burst, &v) || !v || v > 1000000) {
			hz_error_set(HZ_EINVAL, "invalid rate_burst '%s' (1 to 1000000)",
				     st.rate_burst);
			goto fail;
		}
		cfg.rate_burst = (unsigned)v;
	}
	if (st.log_level && parse_level(st.log_level, &cfg.log_level))
		goto fail;
	if (st.header_timeout) {
		if (parse_size("header_timeout", st.header_timeout, &v) || v > 3600) {
			hz_error_set(HZ_EINVAL, "invalid header_timeout '%s' (0 to 3600 s)",
				     st.header_timeout);
			goto fail;
		}
		cfg.header_timeout = (unsigned)v;
	}
	if (st.metrics_token_required &&
	    parse_bool("metrics_token_required", st.metrics_token_required,
		       &cfg.metrics_token_required))
		goto fail;
	if (st.gc_interval && parse_duration("gc_interval", st.gc_interval, &cfg.gc_interval))
		goto fail;
	if (st.scrub_interval &&
	    parse_duration("scrub_interval", st.scrub_interval, &cfg.scrub_interval))
		goto fail;
	if (st.shutdown_grace && parse_duration("shutdown_grace", st.shutdown_grace, &grace))
		goto fail;
	cfg.version = HUBZIP_VERSION;
	if (st.secret_key_file) {
		if (read_secret_key(st.secret_key_file, cfg.secret_key))
			goto fail;
		cfg.have_secret_key = 1;
	}
	/* every setting is parsed above this line */
	if (check) {
		print_config(&st, config, store_explicit, &cfg);
		rc = 0;
		goto out;
	}

	/* signals are taken by sigwait below, in this thread only; the
	 * server's threads inherit the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (first_start(cfg.store_dir))
		goto fail;
	if (api_server_start(&srv, &cfg))
		goto fail;
	printf("hubzip: serving store '%s' at http://%s%s%s:%u/\n", cfg.store_dir,
	       strchr(cfg.host, ':') ? "[" : "", cfg.host, strchr(cfg.host, ':') ? "]" : "",
	       api_server_port(srv));
	fflush(stdout);
	api_log(API_LOG_INFO, "listening on %s:%u (store '%s', %u threads)", cfg.host,
		api_server_port(srv), cfg.store_dir, cfg.threads);
	do {
		rc = sigwait(&sigs, &sig);
	} while (rc == EINTR);
	if (sig == SIGTERM && grace)
		drain(srv, &sigs, grace);
	api_log(API_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	api_server_stop(srv);
	api_log(API_LOG_INFO, "stopped");
	rc = 0;
	goto out;
bad_threads:
	hz_error_set(HZ_EINVAL, "invalid threads '%s' (1 to 1024)", st.threads);
fail:
	fprintf(stderr, "hubzip: serve: %s\n", hz_error_msg());
	rc = 1;
out:
	explicit_bzero(cfg.secret_key, sizeof(cfg.secret_key));
	free(host);
	settings_release(&st);
	return rc;
}
