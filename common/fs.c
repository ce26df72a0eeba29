/*
 * common/fs.c - small file-system helpers with error messages.
 */
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

char *hz_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

char *hz_path_join(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *p = malloc(na + nb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, na);
	p[na] = '/';
	memcpy(p + na + 1, b, nb + 1);
	return p;
}

int hz_mkdir_p(const char *path)
{
	char *p = hz_strdup(path), *q;
	int rc = 0;

	if (!p)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	for (q = p + 1; ; q++) {
		char c = *q;

		if (c != '/' && c != '\0')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) && errno != EEXIST) {
			rc = hz_error_set_errno(HZ_ERROR, "cannot create directory '%s'", p);
			break;
		}
		*q = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

int hz_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return hz_error_set_errno(HZ_ERROR, "cannot open directory '%s'", path);
	if (fsync(fd))
		rc = hz_error_set_errno(HZ_ERROR, "cannot fsync directory '%s'", path);
	close(fd);
	return rc;
}

int hz_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return hz_error_set_errno(HZ_ERROR, "write failed");
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int hz_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return hz_error_set_errno(HZ_ERROR, "read failed at offset %llu",
						  (unsigned long long)off);
		}
		if (r == 0)
			return hz_error_set(HZ_ECORRUPT, "unexpected end of file at offset %llu",
					    (unsigned long long)off);
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int hz_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return hz_error_set_errno(HZ_ERROR, "getrandom failed");
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int64_t hz_now(void)
{
	return (int64_t)time(NULL);
}
