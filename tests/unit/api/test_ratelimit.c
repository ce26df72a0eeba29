/*
 * Unit tests for api/ratelimit.c: a burst is allowed then refused, the
 * bucket refills at the rate, Retry-After is the time to the next token,
 * keys are independent, and more clients than the table holds keep the
 * limit of every client that is still active.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "api/ratelimit_int.h"

static void test_burst_then_refill(void **state)
{
	struct api_ratelimit *rl = api_ratelimit_new(2, 5);
	double t = 1000;

	(void)state;
	assert_non_null(rl);
	for (int i = 0; i < 5; i++)
		assert_int_equal(api_ratelimit_take(rl, "token:a", t), 0);
	assert_int_equal(api_ratelimit_take(rl, "token:a", t), 1);
	/* a refused request takes nothing: half a second later one is there */
	assert_int_equal(api_ratelimit_take(rl, "token:a", t + 0.25), 1);
	assert_int_equal(api_ratelimit_take(rl, "token:a", t + 0.5), 0);
	assert_int_equal(api_ratelimit_take(rl, "token:a", t + 0.5), 1);
	/* a long pause refills to the burst, not beyond */
	t += 100;
	for (int i = 0; i < 5; i++)
		assert_int_equal(api_ratelimit_take(rl, "token:a", t), 0);
	assert_int_not_equal(api_ratelimit_take(rl, "token:a", t), 0);
	api_ratelimit_free(rl);
}

static void test_retry_after(void **state)
{
	struct api_ratelimit *rl = api_ratelimit_new(0.1, 1); /* 6 a minute */

	(void)state;
	assert_int_equal(api_ratelimit_take(rl, "addr:127.0.0.1", 0), 0);
	assert_int_equal(api_ratelimit_take(rl, "addr:127.0.0.1", 0), 10);
	assert_int_equal(api_ratelimit_take(rl, "addr:127.0.0.1", 4), 6);
	assert_int_equal(api_ratelimit_take(rl, "addr:127.0.0.1", 10), 0);
	api_ratelimit_free(rl);
}

static void test_keys_apart(void **state)
{
	struct api_ratelimit *rl = api_ratelimit_new(1, 2);

	(void)state;
	assert_int_equal(api_ratelimit_take(rl, "token:a", 0), 0);
	assert_int_equal(api_ratelimit_take(rl, "token:a", 0), 0);
	assert_int_not_equal(api_ratelimit_take(rl, "token:a", 0), 0);
	assert_int_equal(api_ratelimit_take(rl, "token:b", 0), 0);
	assert_int_equal(api_ratelimit_take(rl, "addr:::1", 0), 0);
	assert_int_not_equal(api_ratelimit_take(rl, "token:a", 0.5), 0);
	api_ratelimit_free(rl);
}

/* Many clients that each come once fill the table; a client that keeps
 * coming is still limited (its bucket is not full, so it is not the one
 * given up), and the table never grows. */
static void test_many_clients(void **state)
{
	struct api_ratelimit *rl = api_ratelimit_new(1, 3);
	char key[32];
	int refused = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(api_ratelimit_take(rl, "token:busy", 0), 0);
	for (int i = 0; i < 4 * RL_SLOTS; i++) {
		snprintf(key, sizeof(key), "addr:10.0.%d.%d", i / 256, i % 256);
		api_ratelimit_take(rl, key, 0.001 * i / RL_SLOTS);
		if (i % 64 == 0 && api_ratelimit_take(rl, "token:busy", 0.001 * i / RL_SLOTS))
			refused++;
	}
	assert_true(refused >= 4 * RL_SLOTS / 64 - 1);
	api_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_keys_apart),
		cmocka_unit_test(test_many_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
