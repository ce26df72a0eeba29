/*
 * store/auth.c - access tokens: created from the kernel's random source,
 * stored as their SHA-256 only, checked in constant time, revoked by name.
 */
#include "store/store_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"

#define TOKEN_RANDOM (STORE_TOKEN_LEN - 3)

static const char base62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int token_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > STORE_TOKEN_NAME_MAX)
		return hz_error_set(HZ_EINVAL, "invalid token name '%s': 1 to %d characters",
				    name, STORE_TOKEN_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return hz_error_set(HZ_EINVAL, "invalid token name '%s': only letters,"
					    " digits, '-', '_' and '.'", name);
	}
	return 0;
}

/* TOKEN_RANDOM base62 characters, each uniform (rejection sampling). */
static int token_random(char *out)
{
	uint8_t buf[64];
	size_t have = 0, used = sizeof(buf);
	int rc;

	while (have < TOKEN_RANDOM) {
		if (used == sizeof(buf)) {
			rc = hz_random(buf, sizeof(buf));
			if (rc)
				return rc;
			used = 0;
		}
		if (buf[used] < 248) /* 248 = 4 * 62 */
			out[have++] = base62[buf[used] % 62];
		used++;
	}
	return 0;
}

int store_token_create(struct store *s, char out[STORE_TOKEN_LEN + 1],
		       const char *name, int scope, const char *ns)
{
	struct db_stmt *st = NULL;
	uint8_t hash[HZ_SHA256_LEN];
	char tok[STORE_TOKEN_LEN + 1];
	int rc;

	rc = token_name_check(name);
	if (rc)
		return rc;
	if (scope != STORE_SCOPE_READ && scope != STORE_SCOPE_WRITE)
		return hz_error_set(HZ_EINVAL, "invalid token scope (read or write)");
	if (ns && !*ns)
		ns = NULL;
	if (ns && (strchr(ns, '/') || store_repo_name_check(ns)))
		return hz_error_set(HZ_EINVAL, "invalid namespace '%s'", ns);
	memcpy(tok, STORE_TOKEN_PREFIX, 3);
	rc = token_random(tok + 3);
	if (rc)
		return rc;
	tok[STORE_TOKEN_LEN] = '\0';
	hz_sha256(hash, tok, STORE_TOKEN_LEN);
	rc = db_prepare(s, &st, "INSERT INTO tokens(name, hash, scope, namespace, created_at)"
				" VALUES (?,?,?,?,?)");
	if (rc)
		return rc;
	db_bind_text(st, 1, name, -1);
	db_bind_blob(st, 2, hash, HZ_SHA256_LEN);
	db_bind_text(st, 3, scope == STORE_SCOPE_WRITE ? "write" : "read", -1);
	if (ns)
		db_bind_text(st, 4, ns, -1);
	else
		db_bind_null(st, 4);
	db_bind_int64(st, 5, hz_now());
	if (db_step(st) != DB_DONE) {
		if (db_errcode(s) == DB_CONSTRAINT)
			rc = hz_error_set(HZ_EEXISTS, "a token named '%s' exists", name);
		else
			rc = db_error(s, "cannot insert token");
	}
	db_finalize(st);
	if (!rc)
		memcpy(out, tok, sizeof(tok));
	OPENSSL_cleanse(tok, sizeof(tok));
	return rc;
}

#define TOKEN_COLS "name, scope, coalesce(namespace, ''), created_at, revoked"

static void token_row(struct store_token *t, struct db_stmt *st, int first)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", (const char *)db_column_text(st, first));
	t->scope = !strcmp((const char *)db_column_text(st, first + 1), "write")
			   ? STORE_SCOPE_WRITE
			   : STORE_SCOPE_READ;
	snprintf(t->ns, sizeof(t->ns), "%s", (const char *)db_column_text(st, first + 2));
	t->created_at = db_column_int64(st, first + 3);
	t->revoked = db_column_int(st, first + 4);
}

int store_tokens_each(struct store *s,
		      int (*fn)(void *payload, const struct store_token *t),
		      void *payload)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "SELECT " TOKEN_COLS " FROM tokens ORDER BY name");
	int step;

	while (!rc && (step = db_step(st)) == DB_ROW) {
		struct store_token t;

		token_row(&t, st, 0);
		rc = fn(payload, &t);
	}
	if (!rc && step != DB_DONE)
		rc = db_error(s, "cannot list tokens");
	db_finalize(st);
	return rc;
}

int store_token_revoke(struct store *s, const char *name)
{
	struct db_stmt *st = NULL;
	int rc = db_prepare(s, &st, "UPDATE tokens SET revoked = 1 WHERE name = ?");

	if (rc)
		return rc;
	db_bind_text(st, 1, name, -1);
	if (db_step(st) != DB_DONE)
		rc = db_error(s, "cannot revoke token");
	else if (!db_changes(s))
		rc = hz_error_set(HZ_ENOTFOUND, "no token named '%s'", name);
	db_finalize(st);
	return rc;
}

int store_token_check(struct store *s, struct store_token *out, const char *token)
{
	struct db_stmt *st = NULL;
	uint8_t hash[HZ_SHA256_LEN];
	size_t n = strnlen(token, STORE_TOKEN_LEN + 1);
	int rc, found = 0;

	if (n != STORE_TOKEN_LEN || memcmp(token, STORE_TOKEN_PREFIX, 3))
		return hz_error_set(HZ_ENOTFOUND, "invalid token");
	hz_sha256(hash, token, n);
	/* the index finds the row by hash; the hash (not the token) is what
	 * the lookup's timing can tell, and the match is then confirmed in
	 * constant time */
	rc = db_prepare(s, &st, "SELECT hash, " TOKEN_COLS " FROM tokens WHERE hash = ?");
	if (rc)
		return rc;
	db_bind_blob(st, 1, hash, HZ_SHA256_LEN);
	if (db_step(st) == DB_ROW && db_column_bytes(st, 0) == HZ_SHA256_LEN &&
	    !CRYPTO_memcmp(db_column_blob(st, 0), hash, HZ_SHA256_LEN)) {
		token_row(out, st, 1);
		found = !out->revoked;
	}
	db_finalize(st);
	return found ? 0 : hz_error_set(HZ_ENOTFOUND, "invalid or revoked token");
}
