/* Unit tests of store/s3_sign.c: AWS Signature Version 4 against AWS's
 * published values (the "aws-sig-v4-test-suite" cases get-vanilla,
 * get-vanilla-query-order-key-case, post-vanilla, get-header-value-trim,
 * and the worked S3 examples of the S3 API reference: GET Object with a
 * range, PUT Object, GET Bucket lifecycle, list objects). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/s3_sign.h"

#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct s3_sign_key suite_key = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"
};
static const struct s3_sign_key s3_key = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3"
};

static void check(const struct s3_sign_req *r, const struct s3_sign_key *k, const char *date,
		  const char *want)
{
	char *auth = NULL;

	assert_int_equal(s3_sign(&auth, r, k, date), 0);
	assert_string_equal(auth, want);
	free(auth);
}

static void test_get_vanilla(void **state)
{
	struct s3_pair h[] = { { "Host", "example.amazonaws.com" },
			       { "X-Amz-Date", "20150830T123600Z" } };
	struct s3_sign_req r = { "GET", "/", NULL, 0, h, 2, EMPTY };
	char *creq = NULL;

	(void)state;
	assert_int_equal(s3_sign_canonical(&creq, &r), 0);
	assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\n"
			    "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY);
	free(creq);
	check(&r, &suite_key, "20150830T123600Z",
	      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	      "SignedHeaders=host;x-amz-date, "
	      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	r.method = "POST";
	check(&r, &suite_key, "20150830T123600Z",
	      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	      "SignedHeaders=host;x-amz-date, "
	      "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

static void test_query_order(void **state)
{
	struct s3_pair h[] = { { "X-Amz-Date", "20150830T123600Z" },
			       { "Host", "example.amazonaws.com" } };
	struct s3_pair q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
	struct s3_sign_req r = { "GET", "/", q, 2, h, 2, EMPTY };
	char *creq = NULL;

	(void)state;
	assert_int_equal(s3_sign_canonical(&creq, &r), 0);
	assert_non_null(strstr(creq, "\n/\nParam1=value1&Param2=value2\nhost:"));
	free(creq);
	check(&r, &suite_key, "20150830T123600Z",
	      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	      "SignedHeaders=host;x-amz-date, "
	      "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_header_trim(void **state)
{
	struct s3_pair h[] = { { "Host", "example.amazonaws.com" },
			       { "My-Header1", " value1" },
			       { "My-Header2", "\"a   b   c\"" },
			       { "X-Amz-Date", "20150830T123600Z" } };
	struct s3_sign_req r = { "GET", "/", NULL, 0, h, 4, EMPTY };

	(void)state;
	check(&r, &suite_key, "20150830T123600Z",
	      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	      "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	      "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

static void test_s3_examples(void **state)
{
	struct s3_pair get[] = { { "Host", "examplebucket.s3.amazonaws.com" },
				 { "Range", "bytes=0-9" },
				 { "x-amz-content-sha256", EMPTY },
				 { "x-amz-date", "20130524T000000Z" } };
	struct s3_pair put[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "x-amz-content-sha256",
		  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" } };
	struct s3_pair lc[] = { { "lifecycle", "" } };
	struct s3_pair list[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct s3_sign_req r = { "GET", "/test.txt", NULL, 0, get, 4, EMPTY };
	char *creq = NULL;

	(void)state;
	check(&r, &s3_key, "20130524T000000Z",
	      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
	      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* a '$' in the key is escaped once in the canonical path */
	r = (struct s3_sign_req){ "PUT", "/test$file.text", NULL, 0, put, 5, put[4].value };
	assert_int_equal(s3_sign_canonical(&creq, &r), 0);
	assert_non_null(strstr(creq, "PUT\n/test%24file.text\n\n"));
	free(creq);
	check(&r, &s3_key, "20130524T000000Z",
	      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
	      "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
	      "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	/* a bare sub-resource is "lifecycle=" in the canonical query */
	r = (struct s3_sign_req){ "GET", "/", lc, 1, get, 4, EMPTY };
	get[1] = get[2];
	get[2] = get[3];
	r.nheaders = 3;
	check(&r, &s3_key, "20130524T000000Z",
	      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
	      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	      "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	r.query = list;
	r.nquery = 2;
	check(&r, &s3_key, "20130524T000000Z",
	      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
	      "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	      "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	/* a changed byte anywhere changes the signature */
	r.method = "HEAD";
	{
		char *auth = NULL;

		assert_int_equal(s3_sign(&auth, &r, &s3_key, "20130524T000000Z"), 0);
		assert_null(strstr(auth, "34b48302e7b5fa45"));
		free(auth);
	}
}

static void test_uri_encode(void **state)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	char date[S3_AMZ_DATE_LEN];

	(void)state;
	assert_int_equal(s3_uri_encode(&b, &len, &cap, "a b/c~d+e$\xc3\xa9", 12, 1), 0);
	assert_string_equal(b, "a%20b/c~d%2Be%24%C3%A9");
	len = 0;
	assert_int_equal(s3_uri_encode(&b, &len, &cap, "a/b=", 4, 0), 0);
	assert_string_equal(b, "a%2Fb%3D");
	free(b);
	s3_amz_date(date, 1440938160);
	assert_string_equal(date, "20150830T123600Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla), cmocka_unit_test(test_query_order),
		cmocka_unit_test(test_header_trim), cmocka_unit_test(test_s3_examples),
		cmocka_unit_test(test_uri_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
