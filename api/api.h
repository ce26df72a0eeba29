/*
 * api/api.h - the HTTP daemon: the native REST API (/api/v1, docs/api.md)
 * and the hub-compatible endpoints real clients use
 * (../shared/docs/HUB-PROTOCOL.md), on libmicrohttpd.
 *
 * The server runs its own threads (a pool of MHD workers and a pool of
 * ingest threads, each with its own store handle, opened lazily);
 * api_server_start returns once it listens.  Errors: 0 or a negative HZ_E* code with hz_error_msg().
 */
#ifndef HZ_API_H
#define HZ_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum { API_LOG_ERROR = 0, API_LOG_WARN = 1, API_LOG_INFO = 2, API_LOG_DEBUG = 3 };

struct api_config {
	const char *store_dir;		/* an initialised store */
	const char *host;		/* numeric IPv4 or IPv6 address to bind */
	unsigned port;			/* 0: any free port (see api_server_port) */
	const char *public_url;		/* base of absolute URLs; NULL: from Host */
	uint64_t max_upload_bytes;	/* one request body */
	size_t max_header_bytes;	/* request line and headers */
	unsigned max_uploads;		/* concurrent uploads; more get 503 */
	unsigned threads;		/* MHD worker threads */
	unsigned ingest_threads;	/* threads that ingest uploads; 0: CPUs */
	double rate_limit;		/* requests/s per token or address; 0: off */
	unsigned rate_burst;		/* bucket size; 0: 2 s worth (at least 10) */
	unsigned header_timeout;	/* s to send a request's headers; 0: off */
	int log_level;			/* API_LOG_*; access lines are INFO */
	int metrics_token_required;	/* GET /metrics needs a valid token */
	unsigned gc_interval;		/* seconds between gc runs; 0: off */
	unsigned scrub_interval;	/* seconds between scrubs (fsck); 0: off */
	const char *version;		/* hubzip_build_info's; NULL: unknown */
	/* the key that signs LFS URLs, when have_secret_key (daemons sharing
	 * an index share it); otherwise the store's (store_secret_key) */
	uint8_t secret_key[STORE_KEY_LEN];
	int have_secret_key;
};

struct api_server;

/* Fills cfg with the defaults (127.0.0.1:8080, ./data, 8 threads, ...). */
void api_config_init(struct api_config *cfg);

/*
 * Starts serving cfg->store_dir (which must exist: HZ_ENOTFOUND otherwise)
 * on cfg->host:cfg->port.  The strings of cfg are copied.  *out is
 * stopped and freed with api_server_stop.
 */
int api_server_start(struct api_server **out, const struct api_config *cfg);

/* The port the server listens on (the kernel's choice for port 0). */
unsigned api_server_port(const struct api_server *srv);

/*
 * Starts a graceful shutdown: from now on every new request (the health
 * check included, so that a load balancer takes the server out) is
 * answered 503 ShuttingDown, while requests in flight go on and uploads
 * commit.  api_server_uploads then says how many uploads are left; the
 * caller waits as long as it likes and calls api_server_stop.
 */
void api_server_drain(struct api_server *srv);
/* The uploads in flight (holding one of the max_uploads slots). */
unsigned api_server_uploads(struct api_server *srv);

/*
 * Stops accepting, aborts requests in flight (an upload that has not
 * committed leaves nothing: its spool file and session packs are
 * removed), waits for the worker threads and frees everything.  NULL is
 * a no-op.
 */
void api_server_stop(struct api_server *srv);

/* Writes one log line (a JSON object: time, level, msg and the extra
 * key/values of the printf-formatted message) to stderr if level is at
 * or below the configured level.  Thread-safe. */
void api_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void api_log_set_level(int level);

/*
 * The JSON of GET /api/stats (repo NULL) or of GET /api/stats/repos/{repo},
 * as a reader who may read every repo (`hubzip stats --json`), listing at
 * most limit repos and families, or revisions (0: all), into *out (a new
 * reference).  0, HZ_ENOTFOUND for an unknown repo, or another error.
 */
int api_stats_json(struct store *s, const char *repo, size_t limit, json_t **out);

#endif
