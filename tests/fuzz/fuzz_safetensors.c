/*
 * Fuzz target for store/safetensors.c.  The input is a whole file: the
 * first 8 bytes are the header length, then the header, then data.  It is
 * parsed as the store does (st_header_len, then st_parse on exactly N
 * header bytes in their own allocation, so that ASan sees any read past
 * them), once with the input's own size as the file size and once with a
 * larger one (the data section is never read, so only the header has to
 * be present).  A successful parse must keep every promise of
 * store/safetensors.h; a failure must leave a message with a byte offset.
 *
 * Built by `make fuzz` (libFuzzer) and by `make test-fuzz` with
 * tests/fuzz/replay.c, which replays tests/fuzz/corpus/safetensors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "store/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_safetensors: %s ('%s')\n", what,
		hz_error_msg());
	abort();
}

static void check_file(const struct st_file *f, uint64_t n,
		       uint64_t file_size)
{
	size_t i;
	unsigned d;

	if (f->header_len != n || f->data_start != 8 + n ||
	    f->file_size != file_size || f->data_start > file_size)
		fail("wrong sizes");
	if (f->metadata_json && f->metadata_json[0] != '{')
		fail("metadata is not an object");
	for (i = 0; i < f->ntensors; i++) {
		const struct st_tensor *t = &f->tensors[i];
		uint64_t bytes = hz_dtype_size(t->dtype);

		if (!t->name || !t->name[0])
			fail("empty name");
		if (t->dtype <= HZ_DT_NONE || t->dtype >= HZ_DT_COUNT)
			fail("bad dtype");
		if (t->ndim > ST_MAX_DIMS || (t->ndim && !t->shape))
			fail("bad ndim");
		for (d = 0; d < t->ndim; d++)
			if (hz_mul_overflow(&bytes, bytes, t->shape[d]))
				fail("shape overflows");
		if (t->begin < f->data_start || t->begin > t->end ||
		    t->end > file_size || t->end - t->begin != bytes)
			fail("bad offsets");
		if (i && (f->tensors[i - 1].end > t->begin ||
			  f->tensors[i - 1].begin > t->begin))
			fail("overlap or unsorted");
		if (i && !strcmp(f->tensors[i - 1].name, t->name))
			fail("duplicate name");
	}
}

static void run(const uint8_t *data, size_t size, uint64_t file_size)
{
	uint8_t first8[8] = { 0 };
	struct st_file *f = NULL;
	uint8_t *json;
	uint64_t n;
	int rc;

	memcpy(first8, data, size < 8 ? size : 8);
	hz_error_clear();
	rc = st_header_len(&n, first8, file_size, 0);
	if (rc) {
		if (rc != HZ_EINVAL || !strstr(hz_error_msg(), "byte "))
			fail("st_header_len failed without a message");
		return;
	}
	if (size < 8 || n > size - 8)
		return;		/* the header is not all in the input */
	json = malloc(n ? (size_t)n : 1);
	if (!json)
		return;
	memcpy(json, data + 8, (size_t)n);
	hz_error_clear();
	rc = st_parse(&f, json, (size_t)n, file_size);
	free(json);
	if (!rc) {
		if (!f)
			fail("success without a file");
		check_file(f, n, file_size);
	} else if (f || (rc != HZ_EINVAL && rc != HZ_EUNSUPPORTED &&
			 rc != HZ_ENOMEM) || !strstr(hz_error_msg(), "byte ")) {
		fail("failure without a clean message");
	}
	st_file_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, size);
	run(data, size, (uint64_t)size + 4096);
	run(data, size, UINT64_MAX);
	return 0;
}
