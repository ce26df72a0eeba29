/*
 * api/client.h - the HTTP client of `hubzip push` and `hubzip pull`: it
 * speaks the daemon's hub routes (docs/api.md) with libcurl.
 *
 * Errors: 0, or HZ_ERROR (or another negative HZ_E* code) with
 * hz_error_msg() saying what failed; an HTTP error carries the status and
 * the server's JSON error message.
 */
#ifndef HZ_API_CLIENT_H
#define HZ_API_CLIENT_H

struct api_client_opts {
	const char *url;	/* the daemon's base URL, e.g. http://127.0.0.1:8080 */
	const char *token;	/* bearer token; NULL: none */
	const char *repo;	/* "ns/name" (a model repo) */
	const char *rev;	/* branch (push) or revision (pull); NULL: main */
	unsigned parallel;	/* files in flight at once; 0: 4 */
	int progress;		/* non-zero: a progress bar on stderr */
};

/*
 * Uploads every file under dir (skipping .git) to opts->rev: creates the
 * repo if missing, asks the LFS batch API which objects the server lacks,
 * PUTs only those, then commits all files in one NDJSON commit.  On
 * success writes the commit id (40 hex + NUL) to out_commit.
 */
int api_client_push(char out_commit[41], const struct api_client_opts *opts, const char *dir);

/*
 * Downloads every file of opts->rev into dir, each through "<path>.part"
 * (resumed with Range when one is left over), verified against its
 * SHA-256 and renamed into place.  A file already in place with the
 * right SHA-256 is kept.
 */
int api_client_pull(const struct api_client_opts *opts, const char *dir);

#endif
