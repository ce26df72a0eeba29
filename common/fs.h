/*
 * common/fs.h - small file-system and system helpers that set the error
 * message (common/error.h) when they fail.
 */
#ifndef HZ_COMMON_FS_H
#define HZ_COMMON_FS_H

#include <stddef.h>
#include <stdint.h>

/* A malloc'd copy of s, or NULL. */
char *hz_strdup(const char *s);
/* A malloc'd "a/b", or NULL. */
char *hz_path_join(const char *a, const char *b);
/* Creates path and its missing parents (mode 0755); 0 or HZ_ERROR. */
int hz_mkdir_p(const char *path);
/* fsyncs a directory, making renames and creations in it durable. */
int hz_fsync_dir(const char *path);
/* Writes all n bytes (retrying short writes and EINTR); 0, HZ_ENOSPC or
 * HZ_ERROR. */
int hz_write_all(int fd, const void *buf, size_t n);
/* Reads exactly n bytes at off; HZ_ECORRUPT if the file ends first. */
int hz_pread_all(int fd, void *buf, size_t n, uint64_t off);
/* n bytes from the kernel's random source. */
int hz_random(void *buf, size_t n);
/* Unix time in seconds. */
int64_t hz_now(void);

#endif
