/*
 * common/error.h - error codes and the per-thread error message.
 *
 * Functions return 0 on success or a negative HZ_E* code.  The message is
 * set once, where the error is detected, with hz_error_set(); callers that
 * merely propagate a failure leave it untouched.  The message lives in a
 * thread-local buffer and is valid until the next hz_error_set() on the
 * same thread.
 */
#ifndef HZ_COMMON_ERROR_H
#define HZ_COMMON_ERROR_H

enum {
	HZ_OK = 0,
	HZ_ERROR = -1,		/* anything not listed below */
	HZ_ENOTFOUND = -2,	/* no such repo, revision, file or object */
	HZ_EEXISTS = -3,	/* already exists */
	HZ_ECORRUPT = -4,	/* stored bytes fail a checksum or do not parse */
	HZ_EUNSUPPORTED = -5,	/* unknown codec id, dtype, format version */
	HZ_ENOSPC = -6,		/* out of disk space */
	HZ_EINVAL = -7,		/* invalid input from a user or a client */
	HZ_ENOMEM = -8,		/* allocation failed */
};

/* Sets the thread's error message (printf format) and returns code. */
int hz_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Same, with ": strerror(errno)" appended; returns code. */
int hz_error_set_errno(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message set on this thread ("" if none).  Never NULL. */
const char *hz_error_msg(void);

/* Clears the thread's message. */
void hz_error_clear(void);

/* A short name for a code ("corrupt", "not found", ...).  Static. */
const char *hz_error_name(int code);

#endif
