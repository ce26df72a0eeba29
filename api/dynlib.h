/*
 * api/dynlib.h - libmicrohttpd (and libcurl), loaded when first needed.
 *
 * The server and the client live in the same binary as the CLI, but
 * `hubzip cat`, `restore` or `ingest` need neither library.  Linking them
 * makes every process map and relocate ~25 more shared objects (GnuTLS,
 * Kerberos, LDAP, nghttp2, ...): ~2.5 ms of CPU per invocation, as much as
 * decoding a 2 MB model.  So the api/ sources call both libraries through
 * function pointers that dynlib_mhd() / hz_dl_curl() (common/dl_curl.h,
 * shared with the S3 blob backend) fill with dlopen() on first use.
 *
 * Include this after <microhttpd.h> or <curl/curl.h>: it redirects the
 * functions hubzip uses to those pointers.  Using a function not listed
 * here is a link error (the binary is not linked with the libraries), so
 * a new call cannot slip past the loader unnoticed.
 */
#ifndef HZ_API_DYNLIB_H
#define HZ_API_DYNLIB_H

/* Loads the library once (thread-safe); 0, or an error naming the
 * shared object and dlerror()'s reason. */
int dynlib_mhd(void);

#ifdef MHD_VERSION
#define HZ_MHD_FUNCS(X)                                                      \
	X(MHD_add_response_header)                                           \
	X(MHD_create_post_processor)                                         \
	X(MHD_create_response_from_buffer)                                   \
	X(MHD_create_response_from_callback)                                 \
	X(MHD_del_response_header)                                           \
	X(MHD_destroy_post_processor)                                        \
	X(MHD_destroy_response)                                              \
	X(MHD_get_connection_info)                                           \
	X(MHD_get_connection_values)                                         \
	X(MHD_get_daemon_info)                                               \
	X(MHD_lookup_connection_value)                                       \
	X(MHD_post_process)                                                  \
	X(MHD_queue_response)                                                \
	X(MHD_resume_connection)                                             \
	X(MHD_start_daemon)                                                  \
	X(MHD_stop_daemon)                                                   \
	X(MHD_suspend_connection)
#define HZ_DL_DECLARE(f) extern __typeof__(f) *hz_dl_##f;
HZ_MHD_FUNCS(HZ_DL_DECLARE)
#undef HZ_DL_DECLARE
#define MHD_add_response_header (*hz_dl_MHD_add_response_header)
#define MHD_create_post_processor (*hz_dl_MHD_create_post_processor)
#define MHD_create_response_from_buffer (*hz_dl_MHD_create_response_from_buffer)
#define MHD_create_response_from_callback (*hz_dl_MHD_create_response_from_callback)
#define MHD_del_response_header (*hz_dl_MHD_del_response_header)
#define MHD_destroy_post_processor (*hz_dl_MHD_destroy_post_processor)
#define MHD_destroy_response (*hz_dl_MHD_destroy_response)
#define MHD_get_connection_info (*hz_dl_MHD_get_connection_info)
#define MHD_get_connection_values (*hz_dl_MHD_get_connection_values)
#define MHD_get_daemon_info (*hz_dl_MHD_get_daemon_info)
#define MHD_lookup_connection_value (*hz_dl_MHD_lookup_connection_value)
#define MHD_post_process (*hz_dl_MHD_post_process)
#define MHD_queue_response (*hz_dl_MHD_queue_response)
#define MHD_resume_connection (*hz_dl_MHD_resume_connection)
#define MHD_start_daemon (*hz_dl_MHD_start_daemon)
#define MHD_stop_daemon (*hz_dl_MHD_stop_daemon)
#define MHD_suspend_connection (*hz_dl_MHD_suspend_connection)
#endif

/* libcurl: common/dl_curl.h (the S3 blob backend in store/ uses it too) */
#include "common/dl_curl.h"

#endif
