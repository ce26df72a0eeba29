/* Unit tests of common/: hashes, hex, dtypes, byte order, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/utf8.h"

static void test_sha256(void **state)
{
	uint8_t d[HZ_SHA256_LEN];
	char hex[HZ_SHA256_HEX];
	struct hz_sha256 h;

	(void)state;
	hz_sha256(d, "abc", 3);
	hz_hex(hex, d, sizeof(d));
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* streaming in pieces, and the context is reusable after final */
	assert_int_equal(hz_sha256_init(&h), 0);
	hz_sha256_update(&h, "a", 1);
	hz_sha256_update(&h, "", 0);
	hz_sha256_update(&h, "bc", 2);
	hz_sha256_final(&h, d);
	hz_hex(hex, d, sizeof(d));
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hz_sha256_final(&h, d);
	hz_hex(hex, d, sizeof(d));
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hz_sha256_release(&h);
}

static void test_hex(void **state)
{
	uint8_t b[4];

	(void)state;
	assert_int_equal(hz_unhex(b, "00fFa9", 3), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(b[2], 0xa9);
	assert_int_equal(hz_unhex(b, "0g", 1), HZ_EINVAL);
	assert_int_equal(hz_unhex(b, "001", 1), HZ_EINVAL); /* trailing digit */
	assert_int_equal(hz_unhex(b, "0", 1), HZ_EINVAL);	/* too short */
}

static void test_dtypes(void **state)
{
	static const char *names[] = { "F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2",
				       "I64", "I32", "I16", "I8", "U64", "U32", "U16",
				       "U8", "BOOL" };
	static const size_t sizes[] = { 8, 4, 2, 2, 1, 1, 8, 4, 2, 1, 8, 4, 2, 1, 1 };

	(void)state;
	for (int i = 0; i < 15; i++) {
		int dt = hz_dtype_from_name(names[i]);

		assert_int_equal(dt, i + 1); /* on-disk ids never change */
		assert_int_equal(hz_dtype_size(dt), sizes[i]);
		assert_string_equal(hz_dtype_name(dt), names[i]);
		assert_int_equal(hz_dtype_is_float(dt), i < 6);
	}
	assert_int_equal(hz_dtype_from_name("F12"), -1);
	assert_int_equal(hz_dtype_from_name("f32"), -1);
	assert_int_equal(hz_dtype_from_name("NONE"), -1);
	assert_int_equal(hz_dtype_size(99), 0);
	assert_null(hz_dtype_name(-1));
}

static void test_bytes(void **state)
{
	uint8_t b[8];
	uint64_t r;

	(void)state;
	hz_store64(b, 0x0102030405060708ull);
	assert_int_equal(b[0], 8);
	assert_int_equal(b[7], 1);
	assert_true(hz_load64(b) == 0x0102030405060708ull);
	assert_int_equal(hz_load32(b), 0x05060708);
	assert_int_equal(hz_load16(b), 0x0708);
	assert_true(hz_mul_overflow(&r, 1ull << 40, 1ull << 40));
	assert_false(hz_mul_overflow(&r, 1ull << 20, 1ull << 20));
	assert_true(hz_add_overflow(&r, UINT64_MAX, 1));
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(hz_error_set(HZ_ECORRUPT, "block '%s' at %d", "x", 7), HZ_ECORRUPT);
	assert_string_equal(hz_error_msg(), "block 'x' at 7");
	errno = ENOSPC;
	assert_int_equal(hz_error_set_errno(HZ_ERROR, "cannot write '%s'", "p"), HZ_ENOSPC);
	assert_non_null(strstr(hz_error_msg(), "cannot write 'p': "));
	hz_error_clear();
	assert_string_equal(hz_error_msg(), "");
	assert_string_equal(hz_error_name(HZ_ENOTFOUND), "not found");
}

static void test_utf8(void **state)
{
	char s[] = "a\xff\xc3\xa9\xed\xa0\x80\xe2\x82";

	(void)state;
	assert_true(hz_utf8_valid("", 0));
	assert_true(hz_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
	assert_false(hz_utf8_valid("\xff", 1));
	assert_false(hz_utf8_valid("\xc0\xaf", 2));		/* overlong '/' */
	assert_false(hz_utf8_valid("\xed\xa0\x80", 3));	/* a surrogate */
	assert_false(hz_utf8_valid("\xf4\x90\x80\x80", 4));	/* past U+10FFFF */
	assert_false(hz_utf8_valid("\xe2\x82", 2));		/* cut short */
	/* only the bad bytes become '?': each byte of a bad sequence */
	assert_string_equal(hz_utf8_sanitize(s), "a?\xc3\xa9?????");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256), cmocka_unit_test(test_hex),
		cmocka_unit_test(test_dtypes), cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_errors), cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
