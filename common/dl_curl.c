/*
 * common/dl_curl.c - dlopen() of libcurl (see dl_curl.h).
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/dl_curl.h"
#include "common/error.h"

/* the runtime name (SONAME) of the Debian package libcurl4; a build
 * against another version can override it */
#ifndef HZ_CURL_SONAME
#define HZ_CURL_SONAME "libcurl.so.4"
#endif

#define HZ_DL_DEFINE(f) __typeof__(f) *hz_dl_##f;
HZ_CURL_FUNCS(HZ_DL_DEFINE)
#undef HZ_DL_DEFINE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char why[256];

/* dlsym() returns void *; ISO C has no conversion to a function pointer,
 * POSIX guarantees this one works */
#define HZ_DL_RESOLVE(f)                                                      \
	if (ok) {                                                             \
		void *p = dlsym(h, #f);                                       \
		if (p)                                                        \
			memcpy(&hz_dl_##f, &p, sizeof(p));                    \
		else                                                          \
			ok = 0, snprintf(why, sizeof(why), "%s has no symbol %s", \
					 HZ_CURL_SONAME, #f);                 \
	}

static void load(void)
{
	/* RTLD_NODELETE: the pointers stay valid for the life of the process */
	void *h = dlopen(HZ_CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	int ok = h != NULL;

	if (!h)
		snprintf(why, sizeof(why), "%s", dlerror());
	HZ_CURL_FUNCS(HZ_DL_RESOLVE)
	/* once, before any thread makes a handle: curl_easy_init would run it
	 * itself, and it is not thread-safe in every build of libcurl */
	if (ok && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ok = 0;
		snprintf(why, sizeof(why), "curl_global_init failed");
	}
	loaded = ok;
}

int hz_dl_curl(void)
{
	pthread_once(&once, load);
	if (loaded)
		return 0;
	return hz_error_set(HZ_ERROR, "cannot load %s (the HTTP client; install the Debian "
			    "package libcurl4): %s", HZ_CURL_SONAME, why);
}
