/*
 * Unit tests for api/http.c: percent-decoding, path splitting (segment
 * boundaries survive encoded slashes), Range headers against a size, and
 * Basic credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/http_int.h"
#include "common/error.h"

static void test_pct_decode(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(http_pct_decode(&out, "a%2Fb%20c", 9, 0), 0);
	assert_string_equal(out, "a/b c");
	free(out);
	assert_int_equal(http_pct_decode(&out, "a+b%2B", 6, 1), 0);
	assert_string_equal(out, "a b+");
	free(out);
	assert_int_equal(http_pct_decode(&out, "a+b", 3, 0), 0);
	assert_string_equal(out, "a+b");
	free(out);
	assert_int_equal(http_pct_decode(&out, "%e2%82%ac", 9, 0), 0);
	assert_string_equal(out, "\xe2\x82\xac");
	free(out);
	/* bad escapes: short, not hex, at the very end, and a NUL */
	assert_int_equal(http_pct_decode(&out, "a%2", 3, 0), HZ_EINVAL);
	assert_null(out);
	assert_int_equal(http_pct_decode(&out, "a%", 2, 0), HZ_EINVAL);
	assert_int_equal(http_pct_decode(&out, "%zz", 3, 0), HZ_EINVAL);
	assert_int_equal(http_pct_decode(&out, "%g0", 3, 0), HZ_EINVAL);
	assert_int_equal(http_pct_decode(&out, "a%00b", 5, 0), HZ_EINVAL);
	/* only n bytes are read */
	assert_int_equal(http_pct_decode(&out, "ab%41", 2, 0), 0);
	assert_string_equal(out, "ab");
	free(out);
}

static void test_path_split(void **state)
{
	struct http_path p;
	char *j;

	(void)state;
	assert_int_equal(http_path_split(&p, "/"), 0);
	assert_int_equal(p.n, 0);
	http_path_release(&p);

	assert_int_equal(http_path_split(&p, "/ns/name/resolve/refs%2Fpr%2F1/a/b%20c.bin"), 0);
	assert_int_equal(p.n, 6);
	assert_string_equal(p.seg[0], "ns");
	assert_string_equal(p.seg[3], "refs/pr/1");
	assert_string_equal(p.seg[5], "b c.bin");
	j = http_path_join(&p, 4);
	assert_string_equal(j, "a/b c.bin");
	free(j);
	j = http_path_join(&p, 6);
	assert_string_equal(j, "");
	free(j);
	http_path_release(&p);

	/* empty segments are kept for the router to refuse */
	assert_int_equal(http_path_split(&p, "/a//b/"), 0);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.seg[1], "");
	assert_string_equal(p.seg[3], "");
	http_path_release(&p);

	assert_int_equal(http_path_split(&p, "no-slash"), HZ_EINVAL);
	assert_int_equal(http_path_split(&p, "/a/%zz/b"), HZ_EINVAL);
	assert_null(p.seg);
	assert_int_equal(http_path_split(&p, "/a/b%00"), HZ_EINVAL);
	{
		char *big = malloc(HTTP_PATH_MAX + 2);

		memset(big, 'a', HTTP_PATH_MAX + 1);
		big[0] = '/';
		big[HTTP_PATH_MAX + 1] = '\0';
		assert_int_equal(http_path_split(&p, big), HZ_EINVAL);
		for (size_t i = 1; i < HTTP_PATH_MAX + 1; i += 2)
			big[i] = '/';
		big[HTTP_SEGS_MAX * 2 + 2] = '\0';
		assert_int_equal(http_path_split(&p, big), HZ_EINVAL);
		free(big);
	}
}

static void range_ok(const char *h, uint64_t size, uint64_t off, uint64_t len)
{
	uint64_t o = 12345, l = 12345;

	assert_int_equal(http_range_parse(h, size, &o, &l), HTTP_RANGE_OK);
	assert_int_equal(o, off);
	assert_int_equal(l, len);
}

static void test_range(void **state)
{
	uint64_t o, l;

	(void)state;
	range_ok("bytes=0-0", 100, 0, 1);
	range_ok("bytes=10-19", 100, 10, 10);
	range_ok("bytes=10-", 100, 10, 90);
	range_ok("bytes=90-1000", 100, 90, 10);	/* end clamped */
	range_ok("bytes=-10", 100, 90, 10);
	range_ok("bytes=-1000", 100, 0, 100);	/* all of it */
	range_ok("bytes=99-99", 100, 99, 1);
	range_ok(" bytes=5-6 ", 100, 5, 2);
	/* past the end */
	assert_int_equal(http_range_parse("bytes=100-", 100, &o, &l), HTTP_RANGE_UNSATISFIABLE);
	assert_int_equal(http_range_parse("bytes=100-200", 100, &o, &l), HTTP_RANGE_UNSATISFIABLE);
	assert_int_equal(http_range_parse("bytes=-0", 100, &o, &l), HTTP_RANGE_UNSATISFIABLE);
	/* a 0-byte file: nothing is satisfiable (the server answers 200 with "bytes STAR/0") */
	assert_int_equal(http_range_parse("bytes=0-0", 0, &o, &l), HTTP_RANGE_UNSATISFIABLE);
	assert_int_equal(http_range_parse("bytes=-5", 0, &o, &l), HTTP_RANGE_UNSATISFIABLE);
	/* ignored (the whole file): absent, other units, several ranges */
	assert_int_equal(http_range_parse(NULL, 100, &o, &l), HTTP_RANGE_NONE);
	assert_int_equal(http_range_parse("items=0-1", 100, &o, &l), HTTP_RANGE_NONE);
	assert_int_equal(http_range_parse("bytes=0-1,5-6", 100, &o, &l), HTTP_RANGE_NONE);
	assert_int_equal(http_range_parse("bytes=0-1,", 100, &o, &l), HTTP_RANGE_NONE);
	/* the unit is case-insensitive (RFC 9110 14.1) */
	range_ok("Bytes=5-6", 100, 5, 2);
	/* refused: a bytes range that does not parse, b < a */
	assert_int_equal(http_range_parse("bytes=", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=-", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=5-1", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=a-b", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=1-2x", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=--5", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=1", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=-5x", 100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=99999999999999999999-5", 100, &o, &l),
			 HTTP_RANGE_INVALID);
	/* numbers past 2^64 - 1 saturate: a start past the end, an end or a
	 * suffix that covers everything */
	assert_int_equal(http_range_parse("bytes=99999999999999999999-", 100, &o, &l),
			 HTTP_RANGE_UNSATISFIABLE);
	range_ok("bytes=10-99999999999999999999", 100, 10, 90);
	range_ok("bytes=-99999999999999999999", 100, 0, 100);
	/* 2^64 - 2 is itself, not saturated (found by fuzz_http_range) */
	assert_int_equal(http_range_parse("bytes=99999999999999999999-18446744073709551614",
					  100, &o, &l), HTTP_RANGE_INVALID);
	assert_int_equal(http_range_parse("bytes=18446744073709551614-18446744073709551615",
					  UINT64_MAX, &o, &l), HTTP_RANGE_OK);
	assert_true(o == UINT64_MAX - 1 && l == 1);
}

static void b64_ok(const char *s, const char *want, size_t want_len)
{
	uint8_t *out = NULL;
	size_t n = 99;

	assert_int_equal(http_b64_decode(&out, &n, s, strlen(s)), 0);
	assert_int_equal(n, want_len);
	if (want_len)
		assert_memory_equal(out, want, want_len);
	free(out);
}

static void b64_bad(const char *s)
{
	uint8_t *out = (uint8_t *)"x";
	size_t n = 99;

	assert_int_equal(http_b64_decode(&out, &n, s, strlen(s)), HZ_EINVAL);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void test_b64(void **state)
{
	(void)state;
	b64_ok("", "", 0);
	b64_ok("aGk=", "hi", 2);
	b64_ok("aGk/", "hi?", 3);
	b64_ok("aA==", "h", 1);
	b64_ok("AP8+", "\0\xff\x3e", 3);
	b64_ok("aGVsbG8gd29ybGQ=", "hello world", 11);
	/* lengths, alphabets, '=' out of place, line breaks, NUL */
	b64_bad("aGk");
	b64_bad("aGk==");
	b64_bad("aG-_");	/* the URL alphabet */
	b64_bad("a===");
	b64_bad("====");
	b64_bad("=aGk");
	b64_bad("aG=k");
	b64_bad("aA==aGk=");
	b64_bad("aGk=\n");
	b64_bad("aGVs\nbG8=");
	b64_bad("aG k");
	{
		uint8_t *out;
		size_t n;

		assert_int_equal(http_b64_decode(&out, &n, "aG\0k", 4), HZ_EINVAL);
	}
}

static void test_basic(void **state)
{
	char out[64];

	(void)state;
	/* "git:hf_abc" */
	assert_int_equal(http_basic_password(out, sizeof(out), "Z2l0OmhmX2FiYw=="), 0);
	assert_string_equal(out, "hf_abc");
	/* "user:" -> empty password */
	assert_int_equal(http_basic_password(out, sizeof(out), "dXNlcjo="), 0);
	assert_string_equal(out, "");
	/* no colon, bad characters, too long */
	assert_int_equal(http_basic_password(out, sizeof(out), "dXNlcg=="), HZ_EINVAL);
	assert_int_equal(http_basic_password(out, sizeof(out), "!!!!"), HZ_EINVAL);
	assert_int_equal(http_basic_password(out, 4, "Z2l0OmhmX2FiYw=="), HZ_EINVAL);
}

static void test_encode_bool(void **state)
{
	char *e;

	(void)state;
	e = http_pct_encode("refs/pr/1 a~b", 0);
	assert_string_equal(e, "refs%2Fpr%2F1%20a~b");
	free(e);
	e = http_pct_encode("dir/f+g.bin", 1);
	assert_string_equal(e, "dir/f%2Bg.bin");
	free(e);
	assert_true(http_bool("true"));
	assert_true(http_bool("True"));
	assert_true(http_bool("1"));
	assert_false(http_bool("false"));
	assert_false(http_bool("False"));
	assert_false(http_bool(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_encode_bool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
