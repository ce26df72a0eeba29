/*
 * daemon/token.c - `hubzip token create|list|revoke`: access tokens for
 * the HTTP API.  `create` prints only the token, so scripts can capture it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "daemon/cmd.h"
#include "store/store.h"

static const char token_usage[] =
	"usage: hubzip token create NAME --scope read|write [--namespace NS]\n"
	"       hubzip token list\n"
	"       hubzip token revoke NAME\n";

static int usage_fail(const char *msg)
{
	fprintf(stderr, "hubzip: token: %s\n\n%s", msg, token_usage);
	return 2;
}

static int print_token(void *payload, const struct store_token *t)
{
	char when[32];
	time_t tt = (time_t)t->created_at;
	struct tm tm;

	(void)payload;
	gmtime_r(&tt, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-24s %-5s %-24s %s %s\n", t->name,
	       t->scope == STORE_SCOPE_WRITE ? "write" : "read", t->ns[0] ? t->ns : "*", when,
	       t->revoked ? "revoked" : "active");
	return 0;
}

int cmd_token(const char *dir, int argc, char **argv)
{
	struct store *s = NULL;
	int rc;

	if (argc < 2)
		return usage_fail("missing subcommand");
	if (!strcmp(argv[1], "create")) {
		const char *name = NULL, *scope = NULL, *ns = NULL;
		char tok[STORE_TOKEN_LEN + 1];

		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--scope") && i + 1 < argc)
				scope = argv[++i];
			else if (!strcmp(argv[i], "--namespace") && i + 1 < argc)
				ns = argv[++i];
			else if (!name && argv[i][0] != '-')
				name = argv[i];
			else
				return usage_fail("unexpected argument");
		}
		if (!name || !scope)
			return usage_fail("create needs NAME and --scope");
		if (strcmp(scope, "read") && strcmp(scope, "write"))
			return usage_fail("--scope is read or write");
		if (store_open(&s, dir, 0))
			goto fail;
		rc = store_token_create(s, tok, name,
					!strcmp(scope, "write") ? STORE_SCOPE_WRITE
								: STORE_SCOPE_READ, ns);
		store_free(s);
		if (rc)
			goto fail;
		printf("%s\n", tok);
		return 0;
	}
	if (!strcmp(argv[1], "list")) {
		if (argc != 2)
			return usage_fail("list takes no arguments");
		if (store_open(&s, dir, 0))
			goto fail;
		rc = store_tokens_each(s, print_token, NULL);
		store_free(s);
		return rc ? (fprintf(stderr, "hubzip: token list: %s\n", hz_error_msg()), 1) : 0;
	}
	if (!strcmp(argv[1], "revoke")) {
		if (argc != 3)
			return usage_fail("revoke takes one NAME");
		if (store_open(&s, dir, 0))
			goto fail;
		rc = store_token_revoke(s, argv[2]);
		store_free(s);
		if (rc)
			goto fail;
		printf("revoked %s\n", argv[2]);
		return 0;
	}
	return usage_fail("unknown subcommand");
fail:
	fprintf(stderr, "hubzip: token: %s\n", hz_error_msg());
	return 1;
}
