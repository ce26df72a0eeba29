/*
 * Unit tests of store/auth.c and store/repo.c: tokens (format, hashing,
 * scopes, namespaces, revocation) and repos created empty, typed, private.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "store/store.h"

#include "unit/store/store_fixture.h"

static int count(void *payload, const struct store_token *t)
{
	(void)t;
	(*(int *)payload)++;
	return 0;
}

static void test_tokens(void **state)
{
	struct fixture *fx = *state;
	struct store_token t;
	char a[STORE_TOKEN_LEN + 1], b[STORE_TOKEN_LEN + 1];
	int n = 0;

	assert_int_equal(store_token_create(fx->s, a, "ci", STORE_SCOPE_WRITE, NULL), 0);
	assert_int_equal(strlen(a), STORE_TOKEN_LEN);
	assert_memory_equal(a, "hf_", 3);
	for (size_t i = 3; i < STORE_TOKEN_LEN; i++)
		assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", a[i]));
	assert_int_equal(store_token_create(fx->s, b, "reader", STORE_SCOPE_READ, "acme"), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(store_token_create(fx->s, b, "ci", STORE_SCOPE_READ, NULL), HZ_EEXISTS);
	assert_int_equal(store_token_create(fx->s, b, "bad name", STORE_SCOPE_READ, NULL), HZ_EINVAL);
	assert_int_equal(store_token_create(fx->s, b, "x", 7, NULL), HZ_EINVAL);
	assert_int_equal(store_token_create(fx->s, b, "y", STORE_SCOPE_READ, "a/b"), HZ_EINVAL);

	assert_int_equal(store_token_check(fx->s, &t, a), 0);
	assert_string_equal(t.name, "ci");
	assert_int_equal(t.scope, STORE_SCOPE_WRITE);
	assert_string_equal(t.ns, "");
	/* a token that differs in one character, or is cut, is unknown */
	memcpy(b, a, sizeof(a));
	b[10] = b[10] == 'x' ? 'y' : 'x';
	assert_int_equal(store_token_check(fx->s, &t, b), HZ_ENOTFOUND);
	b[10] = '\0';
	assert_int_equal(store_token_check(fx->s, &t, b), HZ_ENOTFOUND);
	assert_int_equal(store_token_check(fx->s, &t, ""), HZ_ENOTFOUND);

	assert_int_equal(store_tokens_each(fx->s, count, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_token_revoke(fx->s, "ci"), 0);
	assert_int_equal(store_token_check(fx->s, &t, a), HZ_ENOTFOUND);
	assert_int_equal(store_token_revoke(fx->s, "nobody"), HZ_ENOTFOUND);
}

static void test_repos(void **state)
{
	struct fixture *fx = *state;
	struct store_repo_info info;
	struct store_revision rev;
	int fd = -1;

	assert_int_equal(store_repo_create(fx->s, "acme/data", STORE_REPO_DATASET, 1), 0);
	assert_int_equal(store_repo_create(fx->s, "acme/data", STORE_REPO_MODEL, 0), HZ_EEXISTS);
	assert_int_equal(store_repo_create(fx->s, "../x", STORE_REPO_MODEL, 0), HZ_EINVAL);
	assert_int_equal(store_repo_info(fx->s, &info, "acme/data"), 0);
	assert_int_equal(info.type, STORE_REPO_DATASET);
	assert_int_equal(info.is_private, 1);
	assert_int_equal(store_repo_set_private(fx->s, "acme/data", 0), 0);
	assert_int_equal(store_repo_info(fx->s, &info, "acme/data"), 0);
	assert_int_equal(info.is_private, 0);
	assert_int_equal(store_repo_info(fx->s, &info, "acme/none"), HZ_ENOTFOUND);
	assert_int_equal(store_repo_set_private(fx->s, "acme/none", 1), HZ_ENOTFOUND);
	/* an empty repo has no revision */
	assert_int_equal(store_resolve(fx->s, &rev, "acme/data", "main"), HZ_ENOTFOUND);

	/* a spool file is anonymous: nothing shows in objects/tmp */
	assert_int_equal(store_spool_open(fx->s, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tokens, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_repos, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
