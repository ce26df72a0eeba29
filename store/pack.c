/*
 * store/pack.c - reading blocks out of pack files.
 *
 * A pack is PACK_HDR bytes of header (magic "HZPACK\0\1", the 16-byte pack
 * name, 8 reserved bytes) followed by blocks (delta/delta.h), each found
 * through the index.  Open descriptors are kept in a small LRU cache.
 */
#include "store/store_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "delta/delta.h"

char *pack_path(struct store *s, const char *name)
{
	size_t n = strlen(s->packs_dir) + strlen(name) + 16;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%.2s/%s.pack", s->packs_dir, name, name);
	return p;
}

void pack_fds_close(struct store *s)
{
	for (int i = 0; i < PACK_FD_CACHE; i++) {
		if (s->fds[i].fd >= 0)
			close(s->fds[i].fd);
		s->fds[i].fd = -1;
		s->fds[i].pack_id = 0;
	}
}

static int pack_name(struct store *s, int64_t pack_id, char *out, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT name FROM packs WHERE id = ?");

	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, pack_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
	else
		rc = hz_error_set(HZ_ECORRUPT, "index names pack %lld, which has no row",
				  (long long)pack_id);
	sqlite3_finalize(st);
	return rc;
}

int pack_fd_get(struct store *s, int64_t pack_id, int *out_fd)
{
	struct pack_fd *victim = &s->fds[0];
	char name[64], *path;
	int fd, rc;

	for (int i = 0; i < PACK_FD_CACHE; i++) {
		if (s->fds[i].fd >= 0 && s->fds[i].pack_id == pack_id) {
			s->fds[i].last_use = ++s->fd_clock;
			*out_fd = s->fds[i].fd;
			return 0;
		}
		if (s->fds[i].fd < 0 || s->fds[i].last_use < victim->last_use)
			victim = &s->fds[i];
	}
	rc = pack_name(s, pack_id, name, sizeof(name));
	if (rc)
		return rc;
	path = pack_path(s, name);
	if (!path)
		return hz_error_set(HZ_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = hz_error_set_errno(HZ_ECORRUPT, "cannot open pack '%s'", name);
		free(path);
		return rc;
	}
	free(path);
	if (victim->fd >= 0)
		close(victim->fd);
	victim->fd = fd;
	victim->pack_id = pack_id;
	victim->last_use = ++s->fd_clock;
	*out_fd = fd;
	return 0;
}

int pack_block_read(struct store *s, int64_t pack_id, uint64_t pack_off,
		    uint32_t enc_len, uint32_t raw_len, uint64_t checksum,
		    size_t *out_len)
{
	struct delta_block_info info;
	int fd, rc;

	if (enc_len < DELTA_BLOCK_HDR || enc_len > delta_block_bound(DELTA_BLOCK_MAX) ||
	    raw_len > DELTA_BLOCK_MAX)
		return hz_error_set(HZ_ECORRUPT, "index row for block at %llu of pack %lld is invalid",
				    (unsigned long long)pack_off, (long long)pack_id);
	rc = pack_fd_get(s, pack_id, &fd);
	if (rc)
		return rc;
	rc = hz_pread_all(fd, s->blk_buf, enc_len, pack_off);
	if (rc)
		return hz_error_set(HZ_ECORRUPT, "block at %llu of pack %lld: %s",
				    (unsigned long long)pack_off, (long long)pack_id,
				    "pack file is truncated or unreadable");
	rc = delta_block_header_parse(&info, s->blk_buf, enc_len);
	if (!rc && (info.raw_len != raw_len || info.checksum != checksum ||
		    (uint64_t)info.payload_len + DELTA_BLOCK_HDR != enc_len))
		rc = HZ_ECORRUPT;
	if (!rc)
		rc = delta_block_decode(s->dctx, s->raw_buf, DELTA_BLOCK_MAX, out_len,
					s->blk_buf, enc_len);
	if (rc)
		return hz_error_set(HZ_ECORRUPT,
				    "block at %llu of pack %lld is damaged (checksum or format mismatch)",
				    (unsigned long long)pack_off, (long long)pack_id);
	return 0;
}
