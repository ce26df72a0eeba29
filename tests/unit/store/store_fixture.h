/*
 * A fresh store in a temporary directory for each cmocka test of store/:
 * cmocka_unit_test_setup_teardown(test, store_setup, store_teardown), then
 * `struct fixture *fx = *state;`.  Include after <cmocka.h>.
 */
#ifndef HZ_TESTS_STORE_FIXTURE_H
#define HZ_TESTS_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

struct fixture {
	char dir[64];
	struct store *s;
};

static int store_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/hz-unit-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_int_equal(store_open(&fx->s, fx->dir, 1), 0);
	*state = fx;
	return 0;
}

static int store_teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	store_free(fx->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

#endif
