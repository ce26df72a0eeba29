#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char hz_errbuf[1024];

int hz_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hz_errbuf, sizeof(hz_errbuf), fmt, ap);
	va_end(ap);
	return code;
}

int hz_error_set_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hz_errbuf, sizeof(hz_errbuf), fmt, ap);
	va_end(ap);
	n = strlen(hz_errbuf);
	snprintf(hz_errbuf + n, sizeof(hz_errbuf) - n, ": %s", strerror(saved));
	if (code == HZ_ERROR && saved == ENOSPC)
		code = HZ_ENOSPC;
	return code;
}

const char *hz_error_msg(void)
{
	return hz_errbuf;
}

void hz_error_clear(void)
{
	hz_errbuf[0] = '\0';
}

const char *hz_error_name(int code)
{
	switch (code) {
	case HZ_OK: return "ok";
	case HZ_ENOTFOUND: return "not found";
	case HZ_EEXISTS: return "exists";
	case HZ_ECORRUPT: return "corrupt";
	case HZ_EUNSUPPORTED: return "unsupported";
	case HZ_ENOSPC: return "no space";
	case HZ_EINVAL: return "invalid input";
	case HZ_ENOMEM: return "out of memory";
	default: return "error";
	}
}
