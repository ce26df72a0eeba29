/*
 * Unit tests for store/safetensors.c: valid headers of every kind, a
 * data-driven catalogue of malformed ones (mirrored file by file in
 * tests/fixtures/safetensors/bad/ by gen.py and checked byte for byte
 * here), the good fixtures, and every *.safetensors of $HZ_CORPUS_MINI.
 *
 * HZ_FIXTURES (the Makefile sets tests/fixtures) and HZ_CORPUS_MINI are
 * optional: the tests that need them skip when they are unset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "store/safetensors.h"

/* ---- helpers ---------------------------------------------------------- */

/* A whole file in memory: the 8-byte length, the header, zero data. */
static uint8_t *mkfile(size_t *size, const void *json, size_t jlen,
		       uint64_t data_len)
{
	uint8_t *p;

	*size = 8 + jlen + (size_t)data_len;
	p = calloc(1, *size ? *size : 1);
	assert_non_null(p);
	hz_store64(p, jlen);
	memcpy(p + 8, json, jlen);
	return p;
}

/*
 * Parses a file held in memory as the store does: st_header_len on its
 * first 8 bytes (zero-padded if shorter), then st_parse on a copy of
 * exactly N header bytes so that ASan sees any read past them.
 */
static int parse_mem(struct st_file **out, const uint8_t *file, size_t size)
{
	uint8_t first8[8] = { 0 };
	uint8_t *json;
	uint64_t n;
	int rc;

	*out = NULL;
	memcpy(first8, file, size < 8 ? size : 8);
	rc = st_header_len(&n, first8, size, 0);
	if (rc)
		return rc;
	json = malloc((size_t)n);
	assert_non_null(json);
	memcpy(json, file + 8, (size_t)n);
	rc = st_parse(out, json, (size_t)n, size);
	free(json);
	return rc;
}

/* Parses header string s followed by data_len bytes; must succeed. */
static struct st_file *parse_ok(const char *s, uint64_t data_len)
{
	struct st_file *f;
	uint8_t *file;
	size_t size;
	int rc;

	file = mkfile(&size, s, strlen(s), data_len);
	rc = parse_mem(&f, file, size);
	free(file);
	if (rc)
		fail_msg("parse failed (%d): %s\nheader: %s", rc,
			 hz_error_msg(), s);
	assert_non_null(f);
	return f;
}

/*
 * What a successful parse promises, whatever the input: checked on every
 * valid file here (the fuzz target checks the same).
 */
static void check_invariants(const struct st_file *f)
{
	size_t i;
	unsigned d;

	assert_int_equal(f->data_start, 8 + f->header_len);
	assert_true(f->data_start <= f->file_size);
	for (i = 0; i < f->ntensors; i++) {
		const struct st_tensor *t = &f->tensors[i];
		uint64_t n = hz_dtype_size(t->dtype);

		assert_non_null(t->name);
		assert_true(t->name[0] != '\0');
		assert_true(t->dtype > HZ_DT_NONE && t->dtype < HZ_DT_COUNT);
		assert_true(t->ndim <= ST_MAX_DIMS);
		assert_true(t->begin >= f->data_start);
		assert_true(t->begin <= t->end);
		assert_true(t->end <= f->file_size);
		for (d = 0; d < t->ndim; d++)
			assert_false(hz_mul_overflow(&n, n, t->shape[d]));
		assert_int_equal(t->end - t->begin, n);
		if (i) {
			const struct st_tensor *p = &f->tensors[i - 1];

			assert_true(p->end <= t->begin);
			assert_true(p->begin < t->begin ||
				    (p->begin == t->begin &&
				     (p->end < t->end ||
				      strcmp(p->name, t->name) < 0)));
		}
	}
}

static const struct st_tensor *find(const struct st_file *f, const char *n)
{
	size_t i;

	for (i = 0; i < f->ntensors; i++)
		if (!strcmp(f->tensors[i].name, n))
			return &f->tensors[i];
	fail_msg("no tensor '%s'", n);
	return NULL;
}

/* ---- the catalogue of malformed files ----------------------------------- */

/*
 * One malformed file: its header is json (json_len bytes, or strlen), then
 * rep repeated nrep times, then tail; the first 8 bytes hold the header's
 * length unless set_len; data_len zero bytes follow; trunc cuts the whole
 * file.  gen.py writes the same bytes to bad/NN_<name>.safetensors (NN is
 * the 1-based index); keep the two lists in the same order.
 */
struct bad_case {
	const char *name;
	const char *json;
	size_t json_len;
	const char *rep;
	unsigned nrep;
	const char *tail;
	uint64_t data_len;
	int set_len;
	uint64_t len;
	size_t trunc;
	int rc;
	const char *msg;
};

#define T8 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
#define TF(dtype, shape, offs) \
	"{\"dtype\":" dtype ",\"shape\":" shape ",\"data_offsets\":" offs "}"
/* a header with NUL bytes in it */
#define BIN(s) .json = s, .json_len = sizeof(s) - 1
#define INV HZ_EINVAL
#define UNS HZ_EUNSUPPORTED

static const struct bad_case bad_cases[] = {
	/* the 8-byte length */
	{ .name = "len_past_eof", .json = "{}", .set_len = 1, .len = 1000,
	  .rc = INV, .msg = "header length 1000 at byte 0 runs past the end "
	  "of the file of 10 bytes" },
	{ .name = "len_huge", .json = "{}", .set_len = 1, .len = UINT64_MAX,
	  .rc = INV, .msg = "header length 18446744073709551615 at byte 0 "
	  "exceeds the limit of 104857600 bytes" },
	{ .name = "len_over_limit", .json = "{}", .set_len = 1,
	  .len = (100u << 20) + 1, .rc = INV, .msg = "exceeds the limit" },
	{ .name = "len_zero", .json = "{}", .set_len = 1, .len = 0,
	  .rc = INV, .msg = "header length 0 at byte 0 is less than 2" },
	{ .name = "len_one", .json = "{}", .set_len = 1, .len = 1,
	  .rc = INV, .msg = "header length 1 at byte 0 is less than 2" },
	{ .name = "file_too_short", .json = "{}", .trunc = 5, .rc = INV,
	  .msg = "file of 5 bytes is too short for the 8-byte header "
	  "length at byte 0" },
	/* bytes and json syntax */
	{ .name = "not_json", .json = "{hello}", .rc = INV,
	  .msg = "invalid json near byte " },
	{ .name = "truncated_json", .json = "{\"a\":{\"dtype\":\"F32\"",
	  .rc = INV, .msg = "invalid json near byte 27: '}' expected near end "
	  "of file" },
	{ .name = "trailing_garbage", .json = "{}  x", .rc = INV,
	  .msg = "invalid json near byte 13: end of file expected" },
	{ .name = "root_array", .json = "[]", .rc = INV,
	  .msg = "header at byte 8 does not start with '{' (found 0x5b)" },
	{ .name = "leading_space", .json = " {}", .rc = INV,
	  .msg = "does not start with '{' (found 0x20)" },
	{ .name = "utf8_bom", .json = "\xef\xbb\xbf{}", .rc = INV,
	  .msg = "does not start with '{' (found 0xef)" },
	{ .name = "invalid_utf8", .json = "{\"\xff\":" T8 "}", .data_len = 8,
	  .rc = INV, .msg = "invalid utf-8 in the header at byte 10 (0xff)" },
	{ .name = "utf8_overlong", .json = "{\"\xc0\xaf\":" T8 "}",
	  .data_len = 8, .rc = INV,
	  .msg = "invalid utf-8 in the header at byte 10 (0xc0)" },
	{ .name = "utf8_surrogate", .json = "{\"\xed\xa0\x80\":" T8 "}",
	  .data_len = 8, .rc = INV,
	  .msg = "invalid utf-8 in the header at byte 10 (0xed)" },
	{ .name = "utf8_cut_sequence", .json = "{\"a\xe6\x97\":" T8 "}",
	  .data_len = 8, .rc = INV,
	  .msg = "invalid utf-8 in the header at byte 11 (0xe6)" },
	{ .name = "nul_raw_in_name", BIN("{\"a\0b\":" T8 "}"),
	  .data_len = 8, .rc = INV,
	  .msg = "nul byte in the header at byte 11" },
	{ .name = "nul_escaped_in_name", .json = "{\"a\\u0000b\":" T8 "}",
	  .data_len = 8, .rc = INV, .msg = "nul character (\\u0000) in a "
	  "string near byte" },
	{ .name = "nul_padding", BIN("{}\0\0"), .rc = INV,
	  .msg = "nul byte in the header at byte 10" },
	{ .name = "control_char_in_name", .json = "{\"a\nb\":" T8 "}",
	  .data_len = 8, .rc = INV,
	  .msg = "invalid json near byte 11: unexpected newline" },
	{ .name = "lone_surrogate_escape", .json = "{\"\\ud800\":" T8 "}",
	  .data_len = 8, .rc = INV, .msg = "invalid Unicode" },
	{ .name = "too_big_integer",
	  .json = "{\"a\":" TF("\"U8\"", "[99999999999999999999]", "[0,8]")
	  "}", .data_len = 8, .rc = INV, .msg = "too big integer" },
	{ .name = "deep_nesting", .json = "{\"__metadata__\":{\"k\":",
	  .rep = "[", .nrep = 3000, .tail = "}}", .rc = INV,
	  .msg = "header nested too deeply near byte" },
	/* duplicates */
	{ .name = "duplicate_tensor", .json = "{\"a\":" T8 ",\"a\":" T8 "}",
	  .data_len = 8, .rc = INV, .msg = "duplicate name 'a' near byte" },
	{ .name = "duplicate_escaped_name",
	  .json = "{\"a\":" T8 ",\"\\u0061\":" T8 "}", .data_len = 8,
	  .rc = INV, .msg = "duplicate name '\\\\u0061'" },
	{ .name = "duplicate_field", .json = "{\"a\":{\"dtype\":\"F32\","
	  "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
	  .data_len = 8, .rc = INV, .msg = "duplicate name 'dtype'" },
	{ .name = "duplicate_metadata_key",
	  .json = "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", .rc = INV,
	  .msg = "duplicate name 'k'" },
	{ .name = "duplicate_metadata",
	  .json = "{\"__metadata__\":{},\"__metadata__\":{}}", .rc = INV,
	  .msg = "duplicate name '__metadata__'" },
	/* entries */
	{ .name = "empty_name", .json = "{\"\":" T8 "}", .data_len = 8,
	  .rc = INV, .msg = "tensor '': empty tensor name (header at byte 8)" },
	{ .name = "entry_not_object", .json = "{\"a\":[1]}", .rc = INV,
	  .msg = "tensor 'a': entry is an array, not an object" },
	{ .name = "entry_null", .json = "{\"a\":null}", .rc = INV,
	  .msg = "tensor 'a': entry is null, not an object" },
	{ .name = "missing_dtype",
	  .json = "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}",
	  .data_len = 8, .rc = INV,
	  .msg = "tensor 'a': missing field 'dtype'" },
	{ .name = "missing_shape",
	  .json = "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}",
	  .data_len = 8, .rc = INV,
	  .msg = "tensor 'a': missing field 'shape'" },
	{ .name = "missing_data_offsets",
	  .json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", .rc = INV,
	  .msg = "tensor 'a': missing field 'data_offsets'" },
	{ .name = "extra_field", .json = "{\"a\":{\"dtype\":\"F32\",\"shape\":"
	  "[2],\"data_offsets\":[0,8],\"extra\":1}}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': unexpected field 'extra'" },
	{ .name = "dtype_not_string",
	  .json = "{\"a\":" TF("4", "[2]", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': 'dtype' is an integer, not a string" },
	{ .name = "dtype_unknown",
	  .json = "{\"w\":" TF("\"F4\"", "[2]", "[0,1]") "}", .data_len = 1,
	  .rc = UNS, .msg = "tensor 'w': unsupported dtype 'F4' (header at "
	  "byte 8)" },
	{ .name = "dtype_lowercase",
	  .json = "{\"a\":" TF("\"f32\"", "[2]", "[0,8]") "}", .data_len = 8,
	  .rc = UNS, .msg = "tensor 'a': unsupported dtype 'f32'" },
	/* shapes */
	{ .name = "shape_not_array",
	  .json = "{\"a\":" TF("\"F32\"", "2", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': 'shape' is an integer, not an array" },
	{ .name = "shape_negative",
	  .json = "{\"a\":" TF("\"F32\"", "[-1]", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': shape[0] is negative (-1)" },
	{ .name = "shape_real",
	  .json = "{\"a\":" TF("\"F32\"", "[2.0]", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': shape[0] is a real, not a "
	  "non-negative integer" },
	{ .name = "shape_exponent",
	  .json = "{\"a\":" TF("\"F32\"", "[2e0]", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "shape[0] is a real" },
	{ .name = "shape_string",
	  .json = "{\"a\":" TF("\"F32\"", "[\"2\"]", "[0,8]") "}",
	  .data_len = 8, .rc = INV, .msg = "shape[0] is a string" },
	{ .name = "shape_bool",
	  .json = "{\"a\":" TF("\"F32\"", "[1,true]", "[0,8]") "}",
	  .data_len = 8, .rc = INV, .msg = "shape[1] is a boolean" },
	{ .name = "shape_too_many_dims",
	  .json = "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1],\"shape\":[",
	  .rep = "1,", .nrep = 64, .tail = "1]}}", .data_len = 1, .rc = INV,
	  .msg = "tensor 'a': 'shape' has 65 dims, more than the limit of 64" },
	{ .name = "shape_overflow", .json = "{\"a\":" TF("\"F32\"",
	  "[1099511627776,1099511627776]", "[0,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': shape [1099511627776, 1099511627776] "
	  "x 4 bytes overflows 64 bits" },
	{ .name = "shape_overflow_elem_size", .json = "{\"a\":" TF("\"F32\"",
	  "[4611686018427387904]", "[0,8]") "}", .data_len = 8, .rc = INV,
	  .msg = "shape [4611686018427387904] x 4 bytes overflows" },
	{ .name = "shape_overflow_with_zero", .json = "{\"a\":" TF("\"F32\"",
	  "[1099511627776,1099511627776,0]", "[0,0]") "}", .rc = INV,
	  .msg = "overflows 64 bits" },
	/* data_offsets */
	{ .name = "offsets_not_array",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "\"0,8\"") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': 'data_offsets' is a string, not an "
	  "array of 2 integers" },
	{ .name = "offsets_one",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[0]") "}", .data_len = 8,
	  .rc = INV, .msg = "'data_offsets' has 1 entry, not 2" },
	{ .name = "offsets_three",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[0,8,8]") "}", .data_len = 8,
	  .rc = INV, .msg = "'data_offsets' has 3 entries, not 2" },
	{ .name = "offsets_negative",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[-8,0]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': data_offsets[0] is negative (-8)" },
	{ .name = "offsets_real",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[0,8.0]") "}", .data_len = 8,
	  .rc = INV, .msg = "data_offsets[1] is a real" },
	{ .name = "end_before_begin", .json = "{\"model.layers.0.weight\":"
	  TF("\"U8\"", "[10]", "[100,90]") "}", .data_len = 200, .rc = INV,
	  .msg = "tensor 'model.layers.0.weight': data_offsets [100, 90] end "
	  "before begin (header at byte 8)" },
	{ .name = "end_past_data",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[0,8]") "}", .data_len = 4,
	  .rc = INV, .msg = "tensor 'a': data_offsets [0, 8] end past the "
	  "data section of 4 bytes (bytes 62..66 of the file)" },
	{ .name = "empty_past_data",
	  .json = "{\"a\":" TF("\"F32\"", "[0]", "[16,16]") "}", .data_len = 8,
	  .rc = INV, .msg = "data_offsets [16, 16] end past the data section" },
	{ .name = "offsets_huge", .json = "{\"a\":" TF("\"U8\"",
	  "[1]", "[9223372036854775806,9223372036854775807]") "}",
	  .data_len = 8, .rc = INV, .msg = "end past the data section" },
	{ .name = "size_mismatch",
	  .json = "{\"a\":" TF("\"F32\"", "[2]", "[0,4]") "}", .data_len = 8,
	  .rc = INV, .msg = "tensor 'a': data_offsets [0, 4] hold 4 bytes but "
	  "shape [2] of F32 needs 8" },
	{ .name = "size_mismatch_scalar",
	  .json = "{\"a\":" TF("\"F64\"", "[]", "[0,4]") "}", .data_len = 8,
	  .rc = INV, .msg = "hold 4 bytes but shape [] of F64 needs 8" },
	{ .name = "overlap", .json = "{\"a\":" T8 ",\"b\":"
	  TF("\"F32\"", "[2]", "[4,12]") "}", .data_len = 16, .rc = INV,
	  .msg = "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]" },
	{ .name = "overlap_same_range", .json = "{\"b\":" T8 ",\"a\":" T8 "}",
	  .data_len = 8, .rc = INV,
	  .msg = "tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]" },
	{ .name = "overlap_far", .json = "{\"a\":" TF("\"U8\"", "[100]",
	  "[0,100]") ",\"b\":" TF("\"U8\"", "[10]", "[10,20]") ",\"c\":"
	  TF("\"U8\"", "[10]", "[50,60]") "}", .data_len = 100, .rc = INV,
	  .msg = "tensor 'b': data_offsets [10, 20] overlap tensor 'a'" },
	{ .name = "empty_inside_tensor", .json = "{\"a\":" T8 ",\"e\":"
	  TF("\"F32\"", "[0]", "[4,4]") "}", .data_len = 8, .rc = INV,
	  .msg = "tensor 'e': data_offsets [4, 4] overlap tensor 'a' [0, 8]" },
	/* __metadata__ */
	{ .name = "metadata_not_object", .json = "{\"__metadata__\":\"pt\"}",
	  .rc = INV, .msg = "'__metadata__' is a string, not an object "
	  "(header at byte 8)" },
	{ .name = "metadata_int_value",
	  .json = "{\"__metadata__\":{\"format\":1}}", .rc = INV,
	  .msg = "'__metadata__' value of 'format' is an integer, not a "
	  "string" },
	{ .name = "metadata_nested",
	  .json = "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", .rc = INV,
	  .msg = "value of 'k' is an object, not a string" },
	{ .name = "metadata_null", .json = "{\"__metadata__\":{\"k\":null}}",
	  .rc = INV, .msg = "value of 'k' is null, not a string" },
	{ .name = "metadata_array",
	  .json = "{\"__metadata__\":{\"k\":[\"a\"]}}", .rc = INV,
	  .msg = "value of 'k' is an array, not a string" },
	/* appended (numbers stay stable): a stack overflow found in review */
	{ .name = "shape_overflow_long_dims", .json = "{\"a\":{\"dtype\":"
	  "\"F32\",\"data_offsets\":[0,8],\"shape\":[", .rep =
	  "9223372036854775807,", .nrep = 8, .tail = "9223372036854775807]}}",
	  .data_len = 8, .rc = INV, .msg = "tensor 'a': shape ["
	  "9223372036854775807, 9223372036854775807, 9223372036854775807, "
	  "9223372036854775807, 9223372036854775807, 9223372036854775807, "
	  "9223372036854775807, 9223372036854775807, ...] x 4 bytes "
	  "overflows 64 bits" },
};

#define NBAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

/* The bytes of case c, as gen.py writes them. */
static uint8_t *bad_file(size_t *size, const struct bad_case *c)
{
	size_t head = c->json_len ? c->json_len : strlen(c->json);
	size_t rl = c->rep ? strlen(c->rep) : 0;
	size_t tl = c->tail ? strlen(c->tail) : 0;
	size_t jlen = head + rl * c->nrep + tl, o = head, i;
	uint8_t *json = malloc(jlen), *file;

	assert_non_null(json);
	memcpy(json, c->json, head);
	for (i = 0; i < c->nrep; i++, o += rl)
		memcpy(json + o, c->rep, rl);
	if (tl)
		memcpy(json + o, c->tail, tl);
	file = mkfile(size, json, jlen, c->data_len);
	free(json);
	if (c->set_len)
		hz_store64(file, c->len);
	if (c->trunc && c->trunc < *size)
		*size = c->trunc;
	return file;
}

static void check_bad(const struct bad_case *c, const uint8_t *file,
		      size_t size, const char *where)
{
	struct st_file *f = (struct st_file *)1;
	const char *msg;
	int rc;

	hz_error_clear();
	rc = parse_mem(&f, file, size);
	msg = hz_error_msg();
	if (rc != c->rc || !strstr(msg, c->msg) || !strstr(msg, "byte "))
		fail_msg("%s '%s': got %d '%s', want %d '%s'", where, c->name,
			 rc, msg, c->rc, c->msg);
	assert_null(f);
	assert_true(strlen(msg) < 1000);
	/* a tensor's message names it first, then the header's offset */
	if (!strncmp(msg, "tensor '", 8))
		assert_non_null(strstr(msg, "(header at byte 8)"));
}

static void test_bad_catalogue(void **state)
{
	size_t i, size;
	uint8_t *file;

	(void)state;
	assert_true(NBAD >= 25);
	for (i = 0; i < NBAD; i++) {
		file = bad_file(&size, &bad_cases[i]);
		check_bad(&bad_cases[i], file, size, "case");
		free(file);
	}
}

static int read_whole(uint8_t **out, size_t *size, const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	uint8_t *p;

	if (!fp)
		return -1;
	if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode)) {
		fclose(fp);
		return -1;
	}
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	assert_non_null(p);
	if (fread(p, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		free(p);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	*out = p;
	*size = (size_t)st.st_size;
	return 0;
}

static size_t count_files(const char *dir, const char *suffix)
{
	size_t n = 0, sl = strlen(suffix), l;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		l = strlen(e->d_name);
		if (l > sl && !strcmp(e->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

/*
 * bad/NN_<name>.safetensors must be exactly the table's bytes, and the
 * README's row must show the table's code and message.
 */
static void test_bad_fixtures(void **state)
{
	const char *root = getenv("HZ_FIXTURES");
	char dir[1024], path[1200], row[512];
	size_t i, size, fsize, rsize;
	uint8_t *want, *got, *readme;
	char *text;

	(void)state;
	if (!root) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "%s/safetensors/README.md", root);
	if (read_whole(&readme, &rsize, path))
		fail_msg("cannot read '%s' (run gen.py)", path);
	text = realloc(readme, rsize + 1);
	assert_non_null(text);
	text[rsize] = '\0';
	snprintf(dir, sizeof(dir), "%s/safetensors/bad", root);
	for (i = 0; i < NBAD; i++) {
		snprintf(row, sizeof(row), "| %02zu_%s.safetensors | %s | `%s` |",
			 i + 1, bad_cases[i].name,
			 bad_cases[i].rc == HZ_EINVAL ? "HZ_EINVAL" :
			 "HZ_EUNSUPPORTED", bad_cases[i].msg);
		if (!strstr(text, row))
			fail_msg("README.md lacks the row %s (run gen.py)", row);
		snprintf(path, sizeof(path), "%s/%02zu_%s.safetensors", dir,
			 i + 1, bad_cases[i].name);
		if (read_whole(&got, &fsize, path))
			fail_msg("cannot read '%s' (run gen.py)", path);
		want = bad_file(&size, &bad_cases[i]);
		if (fsize != size || memcmp(want, got, size))
			fail_msg("'%s' differs from the test's table", path);
		check_bad(&bad_cases[i], got, fsize, path);
		free(want);
		free(got);
	}
	free(text);
	assert_int_equal(count_files(dir, ".safetensors"), NBAD);
}

/* ---- valid files -------------------------------------------------------- */

static void test_every_dtype(void **state)
{
	char json[4096];
	size_t o, off = 0;
	struct st_file *f;
	int dt;

	(void)state;
	o = (size_t)snprintf(json, sizeof(json),
			     "{\"__metadata__\":{\"format\":\"pt\"}");
	for (dt = HZ_DT_F64; dt < HZ_DT_COUNT; dt++) {
		size_t n = 6 * hz_dtype_size(dt);

		o += (size_t)snprintf(json + o, sizeof(json) - o,
				      ",\"t_%s\":{\"dtype\":\"%s\",\"shape\":"
				      "[2,3],\"data_offsets\":[%zu,%zu]}",
				      hz_dtype_name(dt), hz_dtype_name(dt),
				      off, off + n);
		off += n;
	}
	snprintf(json + o, sizeof(json) - o, "}");
	f = parse_ok(json, off);
	check_invariants(f);
	assert_int_equal(f->ntensors, HZ_DT_COUNT - 1);
	assert_string_equal(f->metadata_json, "{\"format\":\"pt\"}");
	off = 0;
	for (dt = HZ_DT_F64; dt < HZ_DT_COUNT; dt++) {
		const struct st_tensor *t = &f->tensors[dt - HZ_DT_F64];

		assert_string_equal(t->name + 2, hz_dtype_name(dt));
		assert_int_equal(t->dtype, dt);
		assert_int_equal(t->ndim, 2);
		assert_int_equal(t->shape[0], 2);
		assert_int_equal(t->shape[1], 3);
		assert_int_equal(t->begin, f->data_start + off);
		off += 6 * hz_dtype_size(dt);
		assert_int_equal(t->end, f->data_start + off);
	}
	assert_int_equal(f->header_len, strlen(json));
	assert_int_equal(f->file_size, 8 + strlen(json) + off);
	st_file_free(f);
}

static void test_metadata(void **state)
{
	struct st_file *f;

	(void)state;
	f = parse_ok("{\"a\":" T8 ",\"__metadata__\": { \"format\" : \"pt\","
		     " \"note\":\"\xc3\xbc \\u00fc \\\"q\\\"\", \"\":\"\"}}",
		     8);
	assert_string_equal(f->metadata_json, "{\"format\":\"pt\",\"note\":"
			    "\"\xc3\xbc \xc3\xbc \\\"q\\\"\",\"\":\"\"}");
	assert_int_equal(f->ntensors, 1);
	st_file_free(f);

	f = parse_ok("{\"a\":" T8 "}", 8);
	assert_null(f->metadata_json);
	st_file_free(f);

	f = parse_ok("{\"__metadata__\":{}}", 0);
	assert_string_equal(f->metadata_json, "{}");
	assert_int_equal(f->ntensors, 0);
	st_file_free(f);
}

static void test_no_tensors(void **state)
{
	struct st_file *f;

	(void)state;
	f = parse_ok("{}", 0);
	assert_int_equal(f->ntensors, 0);
	assert_int_equal(f->header_len, 2);
	assert_int_equal(f->data_start, 10);
	assert_int_equal(f->file_size, 10);
	st_file_free(f);
	/* the whole file is trailing bytes */
	f = parse_ok("{}", 100);
	assert_int_equal(f->ntensors, 0);
	st_file_free(f);
}

static void test_scalar_and_empty(void **state)
{
	struct st_file *f;
	const struct st_tensor *t;

	(void)state;
	f = parse_ok("{\"s\":" TF("\"F32\"", "[]", "[0,4]")
		     ",\"e\":" TF("\"F16\"", "[0,5]", "[4,4]")
		     ",\"z\":" TF("\"BF16\"", "[3,0]", "[4,4]")
		     ",\"last\":" TF("\"U8\"", "[0]", "[4,4]") "}", 4);
	check_invariants(f);
	assert_int_equal(f->ntensors, 4);
	t = find(f, "s");
	assert_int_equal(t->ndim, 0);
	assert_int_equal(t->end - t->begin, 4);
	t = find(f, "e");
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 0);
	assert_int_equal(t->shape[1], 5);
	assert_int_equal(t->begin, t->end);
	/* empties at the end of the data section, sorted by name */
	assert_string_equal(f->tensors[0].name, "s");
	assert_string_equal(f->tensors[1].name, "e");
	assert_string_equal(f->tensors[2].name, "last");
	assert_string_equal(f->tensors[3].name, "z");
	st_file_free(f);

	/* the zero dim makes the product 0 whatever the other dims */
	f = parse_ok("{\"h\":" TF("\"F64\"", "[0,1099511627776]", "[0,0]")
		     "}", 0);
	assert_int_equal(f->tensors[0].shape[1], 1099511627776ull);
	st_file_free(f);
}

static void test_gaps_and_trailing(void **state)
{
	struct st_file *f;

	(void)state;
	f = parse_ok("{\"b\":" TF("\"U8\"", "[4]", "[16,20]")
		     ",\"a\":" TF("\"I16\"", "[2]", "[0,4]") "}", 64);
	check_invariants(f);
	assert_string_equal(f->tensors[0].name, "a");
	assert_int_equal(f->tensors[0].begin - f->data_start, 0);
	assert_int_equal(f->tensors[1].begin - f->data_start, 16);
	assert_int_equal(f->file_size - f->tensors[1].end, 44);
	st_file_free(f);
}

static void test_order(void **state)
{
	struct st_file *f;

	(void)state;
	/* ties on begin: the empty ones first (by name), then the rest */
	f = parse_ok("{\"c\":" TF("\"F32\"", "[2]", "[8,16]")
		     ",\"b\":" TF("\"F32\"", "[0]", "[8,8]")
		     ",\"d\":" TF("\"F64\"", "[1]", "[0,8]")
		     ",\"a\":" TF("\"F32\"", "[0]", "[8,8]")
		     ",\"z\":" TF("\"F32\"", "[0]", "[0,0]") "}", 16);
	check_invariants(f);
	assert_string_equal(f->tensors[0].name, "z");
	assert_string_equal(f->tensors[1].name, "d");
	assert_string_equal(f->tensors[2].name, "a");
	assert_string_equal(f->tensors[3].name, "b");
	assert_string_equal(f->tensors[4].name, "c");
	st_file_free(f);
}

static void test_padding(void **state)
{
	struct st_file *f;

	(void)state;
	/* the reference writer pads to 8 with spaces */
	f = parse_ok("{\"a\":" T8 "}  ", 8);
	assert_int_equal(f->header_len, 56);
	st_file_free(f);
	/* any json whitespace after the object is kept as padding */
	f = parse_ok("{\"a\":" T8 "} \n\t\r ", 8);
	check_invariants(f);
	st_file_free(f);
	/* whitespace inside the object */
	f = parse_ok("{ \"a\" : { \"dtype\" : \"F32\" , \"shape\" : [ 2 ] ,"
		     " \"data_offsets\" : [ 0 , 8 ] } }", 8);
	assert_int_equal(f->ntensors, 1);
	st_file_free(f);
}

static void test_names(void **state)
{
	struct st_file *f;

	(void)state;
	f = parse_ok("{\"\xe6\xa8\xa1\xe5\x9e\x8b.w\":" T8
		     ",\"a\\\"b\\\\c\\n\":" TF("\"U8\"", "[1]", "[8,9]")
		     ",\"\\u00e9\\ud83d\\ude00\":" TF("\"U8\"", "[1]", "[9,10]")
		     ",\"__metadata__x\":" TF("\"U8\"", "[]", "[10,11]") "}",
		     11);
	check_invariants(f);
	assert_string_equal(f->tensors[0].name, "\xe6\xa8\xa1\xe5\x9e\x8b.w");
	assert_string_equal(f->tensors[1].name, "a\"b\\c\n");
	assert_string_equal(f->tensors[2].name, "\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(f->tensors[3].name, "__metadata__x");
	st_file_free(f);
}

static void test_max_dims(void **state)
{
	char json[1024];
	size_t o;
	struct st_file *f;
	int i;

	(void)state;
	o = (size_t)snprintf(json, sizeof(json),
			     "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":"
			     "[0,2],\"shape\":[2");
	for (i = 1; i < ST_MAX_DIMS; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, ",1");
	snprintf(json + o, sizeof(json) - o, "]}}");
	f = parse_ok(json, 2);
	assert_int_equal(f->tensors[0].ndim, ST_MAX_DIMS);
	st_file_free(f);
}

/* Offsets near 2^63 with a file that large (never read, never allocated). */
static void test_huge_offsets(void **state)
{
	const char *json = "{\"a\":" TF("\"U8\"", "[4611686018427387904]",
		"[4611686018427387904,9223372036854775807]") "}";
	const char *json2 = "{\"a\":" TF("\"U64\"", "[1152921504606846975]",
		"[8,9223372036854775808]") "}";
	const char *json3 = "{\"a\":" TF("\"U64\"", "[1152921504606846975]",
		"[7,9223372036854775807]") "}";
	size_t n = strlen(json);
	struct st_file *f;
	int rc;

	(void)state;
	/* 2^62 elements end one byte short of 2^63 - 1 */
	rc = st_parse(&f, (const uint8_t *)json, n, UINT64_MAX);
	assert_int_equal(rc, HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "hold 4611686018427387903 "
			       "bytes but shape [4611686018427387904] of U8 "
			       "needs 4611686018427387904"));
	/* 2^63 does not fit jansson's integers: a json error */
	rc = st_parse(&f, (const uint8_t *)json2, strlen(json2), UINT64_MAX);
	assert_int_equal(rc, HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "too big integer"));
	rc = st_parse(&f, (const uint8_t *)json3, strlen(json3),
		      8 + strlen(json3) + 9223372036854775807ull);
	assert_int_equal(rc, 0);
	check_invariants(f);
	assert_int_equal(f->tensors[0].end, f->file_size);
	st_file_free(f);
}

/* ---- the two entry points on their own ---------------------------------- */

static void test_header_len(void **state)
{
	uint8_t b[8];
	uint64_t n = 7;

	(void)state;
	hz_store64(b, 100);
	assert_int_equal(st_header_len(&n, b, 108, 0), 0);
	assert_int_equal(n, 100);
	assert_int_equal(st_header_len(&n, b, 1 << 20, 100), 0);
	assert_int_equal(st_header_len(&n, b, 1 << 20, 99), HZ_EINVAL);
	assert_int_equal(n, 0);
	assert_non_null(strstr(hz_error_msg(), "exceeds the limit of 99"));
	assert_int_equal(st_header_len(&n, b, 107, 0), HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "runs past the end"));
	assert_int_equal(st_header_len(&n, b, 7, 0), HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "too short"));
	/* no limit: the addition 8 + N must not wrap */
	hz_store64(b, UINT64_MAX - 3);
	assert_int_equal(st_header_len(&n, b, UINT64_MAX, UINT64_MAX),
			 HZ_EINVAL);
	assert_non_null(strstr(hz_error_msg(), "runs past the end"));
	hz_store64(b, 2);
	assert_int_equal(st_header_len(&n, b, 10, 0), 0);
	assert_int_equal(n, 2);
}

static void test_parse_args(void **state)
{
	struct st_file *f = (struct st_file *)1;

	(void)state;
	assert_int_equal(st_parse(&f, (const uint8_t *)"{}", 2, 9), HZ_EINVAL);
	assert_null(f);
	assert_non_null(strstr(hz_error_msg(), "does not fit a file of 9"));
	assert_int_equal(st_parse(&f, (const uint8_t *)"{", 1, 9), HZ_EINVAL);
	assert_int_equal(st_parse(&f, (const uint8_t *)"{}", 2, 10), 0);
	st_file_free(f);
	st_file_free(NULL);
}

/* Untrusted names are escaped and cut in messages. */
static void test_message_escaping(void **state)
{
	char json[2048], want[512];
	struct st_file *f;
	uint8_t *file;
	size_t size;
	int rc;

	(void)state;
	snprintf(json, sizeof(json), "{\"x'\\n\\u001b\\\\\":"
		 TF("\"F9\"", "[]", "[0,0]") "}");
	file = mkfile(&size, json, strlen(json), 0);
	rc = parse_mem(&f, file, size);
	free(file);
	assert_int_equal(rc, HZ_EUNSUPPORTED);
	assert_string_equal(hz_error_msg(), "tensor 'x\\'\\x0a\\x1b\\\\': "
			    "unsupported dtype 'F9' (header at byte 8)");

	memset(want, 'n', 300);
	snprintf(json, sizeof(json), "{\"%.300s\":"
		 TF("\"F9\"", "[]", "[0,0]") "}", want);
	file = mkfile(&size, json, strlen(json), 0);
	rc = parse_mem(&f, file, size);
	free(file);
	assert_int_equal(rc, HZ_EUNSUPPORTED);
	assert_true(strlen(hz_error_msg()) < 200);
	assert_non_null(strstr(hz_error_msg(), "nnn...': unsupported"));
}

/* ---- fixtures and real files ------------------------------------------- */

static void parse_path(const char *path, size_t want_tensors)
{
	struct st_file *f;
	uint8_t *file;
	size_t size;
	int rc;

	if (read_whole(&file, &size, path))
		fail_msg("cannot read '%s'", path);
	rc = parse_mem(&f, file, size);
	free(file);
	if (rc)
		fail_msg("'%s': %s", path, hz_error_msg());
	check_invariants(f);
	if (want_tensors != (size_t)-1 && f->ntensors != want_tensors)
		fail_msg("'%s': %zu tensors, want %zu", path, f->ntensors,
			 want_tensors);
	st_file_free(f);
}

static void test_good_fixtures(void **state)
{
	static const struct {
		const char *name;
		size_t ntensors;
	} good[] = {
		{ "01_all_dtypes", 15 },
		{ "02_scalar_and_empty", 4 },
		{ "03_gaps_and_trailing", 2 },
		{ "04_no_tensors", 0 },
		{ "05_metadata_only", 0 },
		{ "06_names_and_padding", 3 },
		{ "07_max_dims", 1 },
	};
	const char *root = getenv("HZ_FIXTURES");
	char dir[1024], path[1200];
	size_t i;

	(void)state;
	if (!root) {
		skip();
		return;
	}
	snprintf(dir, sizeof(dir), "%s/safetensors/good", root);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.safetensors", dir,
			 good[i].name);
		parse_path(path, good[i].ntensors);
	}
	assert_int_equal(count_files(dir, ".safetensors"), i);
}

/* MANIFEST.tsv of the corpus, if any: path -> n_tensors. */
static char *manifest;
static const char *corpus_root;
static size_t corpus_files;

static size_t manifest_tensors(const char *rel)
{
	const char *p = manifest;
	size_t rl = strlen(rel);
	unsigned long n;
	int col;

	while (p && *p) {
		if (!strncmp(p, rel, rl) && p[rl] == '\t') {
			/* n_tensors is the 10th column */
			for (col = 0; col < 9 && p; col++) {
				p = strchr(p, '\t');
				if (p)
					p++;
			}
			if (p && sscanf(p, "%lu", &n) == 1)
				return n;
			return (size_t)-1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return (size_t)-1;
}

static int corpus_visit(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	const char *rel = path + strlen(corpus_root);
	size_t l = strlen(path);

	(void)st;
	(void)ftw;
	if (type != FTW_F || l < 12 || strcmp(path + l - 12, ".safetensors"))
		return 0;
	while (*rel == '/')
		rel++;
	parse_path(path, manifest_tensors(rel));
	corpus_files++;
	return 0;
}

static void test_corpus_mini(void **state)
{
	char mpath[1200];
	size_t msize;
	uint8_t *m;

	(void)state;
	corpus_root = getenv("HZ_CORPUS_MINI");
	if (!corpus_root || !*corpus_root) {
		skip();
		return;
	}
	snprintf(mpath, sizeof(mpath), "%s/MANIFEST.tsv", corpus_root);
	manifest = NULL;
	if (!read_whole(&m, &msize, mpath)) {
		manifest = realloc(m, msize + 1);
		assert_non_null(manifest);
		manifest[msize] = '\0';
		/* the header row must name the column we read */
		assert_non_null(strstr(manifest, "\tn_tensors\t"));
	}
	corpus_files = 0;
	assert_int_equal(nftw(corpus_root, corpus_visit, 16, FTW_PHYS), 0);
	free(manifest);
	manifest = NULL;
	if (!corpus_files)
		fail_msg("no *.safetensors under '%s'", corpus_root);
	print_message("parsed %zu files of '%s'\n", corpus_files, corpus_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_catalogue),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_every_dtype),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_no_tensors),
		cmocka_unit_test(test_scalar_and_empty),
		cmocka_unit_test(test_gaps_and_trailing),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_max_dims),
		cmocka_unit_test(test_huge_offsets),
		cmocka_unit_test(test_header_len),
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_message_escaping),
		cmocka_unit_test(test_good_fixtures),
		cmocka_unit_test(test_corpus_mini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
