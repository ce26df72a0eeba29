/*
 * api/dynlib.c - dlopen() of libmicrohttpd (see dynlib.h; libcurl is
 * common/dl_curl.c).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <microhttpd.h>
#include <pthread.h>

#include "api/dynlib.h"
#include "common/error.h"

/* the runtime name (SONAME) of the Debian package libmicrohttpd12; a
 * build against another version can override it */
#ifndef HZ_MHD_SONAME
#define HZ_MHD_SONAME "libmicrohttpd.so.12"
#endif

#define HZ_DL_DEFINE(f) __typeof__(f) *hz_dl_##f;
HZ_MHD_FUNCS(HZ_DL_DEFINE)
#undef HZ_DL_DEFINE

struct lib {
	const char *soname;
	pthread_once_t once;
	int loaded;
	char why[256];
};

static struct lib mhd = { HZ_MHD_SONAME, PTHREAD_ONCE_INIT, 0, "" };

/* dlsym() returns void *; ISO C has no conversion to a function pointer,
 * POSIX guarantees this one works */
#define HZ_DL_RESOLVE(f)                                                      \
	if (ok) {                                                             \
		void *p = dlsym(h, #f);                                       \
		if (p)                                                        \
			memcpy(&hz_dl_##f, &p, sizeof(p));                    \
		else                                                          \
			ok = 0, snprintf(l->why, sizeof(l->why),              \
					 "%s has no symbol %s", l->soname, #f); \
	}

static void *open_lib(struct lib *l)
{
	/* RTLD_NODELETE: the pointers stay valid for the life of the process */
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

	if (!h)
		snprintf(l->why, sizeof(l->why), "%s", dlerror());
	return h;
}

static void load_mhd(void)
{
	struct lib *l = &mhd;
	void *h = open_lib(l);
	int ok = h != NULL;

	HZ_MHD_FUNCS(HZ_DL_RESOLVE)
	l->loaded = ok;
}

static int result(const struct lib *l, const char *what)
{
	if (l->loaded)
		return 0;
	return hz_error_set(HZ_ERROR, "cannot load %s (%s; install the Debian package %s): %s",
			    l->soname, what, "libmicrohttpd12", l->why);
}

int dynlib_mhd(void)
{
	pthread_once(&mhd.once, load_mhd);
	return result(&mhd, "the HTTP server");
}
