/*
 * common/dl_curl.h - libcurl, loaded when first needed.
 *
 * Both the push/pull client (api/client.c) and the S3 blob backend
 * (store/blob_s3.c) speak HTTP with libcurl, but `hubzip cat`, `restore`
 * or `ingest` on a local store need none of it.  Linking libcurl makes
 * every process map and relocate ~25 more shared objects (GnuTLS,
 * Kerberos, LDAP, nghttp2, ...): ~2.5 ms of CPU per invocation.  So the
 * callers reach libcurl through function pointers that hz_dl_curl() fills
 * with dlopen() on first use.
 *
 * Include this after <curl/curl.h>: it redirects the functions hubzip uses
 * to those pointers.  Using a function not listed here is a link error
 * (the binary is not linked with libcurl), so a new call cannot slip past
 * the loader unnoticed.
 */
#ifndef HZ_COMMON_DL_CURL_H
#define HZ_COMMON_DL_CURL_H

/* Loads libcurl once (thread-safe) and runs curl_global_init; 0, or an
 * error naming the shared object and dlerror()'s reason. */
int hz_dl_curl(void);

#ifdef CURLINC_CURL_H
#define HZ_CURL_FUNCS(X)                                                     \
	X(curl_easy_cleanup)                                                 \
	X(curl_easy_escape)                                                  \
	X(curl_easy_getinfo)                                                 \
	X(curl_easy_init)                                                    \
	X(curl_easy_perform)                                                 \
	X(curl_easy_reset)                                                   \
	X(curl_easy_setopt)                                                  \
	X(curl_easy_strerror)                                                \
	X(curl_free)                                                         \
	X(curl_global_cleanup)                                               \
	X(curl_global_init)                                                  \
	X(curl_slist_append)                                                 \
	X(curl_slist_free_all)
#define HZ_DL_DECLARE(f) extern __typeof__(f) *hz_dl_##f;
HZ_CURL_FUNCS(HZ_DL_DECLARE)
#undef HZ_DL_DECLARE
/* curl.h defines curl_easy_setopt/getinfo as type-checking macros under
 * GCC; the pointers take their place */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_cleanup (*hz_dl_curl_easy_cleanup)
#define curl_easy_escape (*hz_dl_curl_easy_escape)
#define curl_easy_getinfo (*hz_dl_curl_easy_getinfo)
#define curl_easy_init (*hz_dl_curl_easy_init)
#define curl_easy_perform (*hz_dl_curl_easy_perform)
#define curl_easy_reset (*hz_dl_curl_easy_reset)
#define curl_easy_setopt (*hz_dl_curl_easy_setopt)
#define curl_easy_strerror (*hz_dl_curl_easy_strerror)
#define curl_free (*hz_dl_curl_free)
#define curl_global_cleanup (*hz_dl_curl_global_cleanup)
#define curl_global_init (*hz_dl_curl_global_init)
#define curl_slist_append (*hz_dl_curl_slist_append)
#define curl_slist_free_all (*hz_dl_curl_slist_free_all)
#endif

#endif
