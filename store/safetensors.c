/*
 * store/safetensors.c - a strict parser for the safetensors header.
 *
 * The JSON is decoded by jansson (with JSON_REJECT_DUPLICATES); this file
 * only checks bytes jansson would accept too loosely or report poorly
 * (UTF-8, NUL, the first byte) and then walks the decoded tree.  Nothing
 * here trusts a number from the header before checking it: every size is
 * computed with the overflow-checked helpers of common/bytes.h and
 * compared against the data section before anything is allocated for it.
 *
 * Messages name the byte offset in the file (the header starts at byte 8)
 * and the tensor; untrusted strings are escaped and truncated before they
 * go into a message.  See docs/safetensors.md for what is accepted.
 */
#include "store/safetensors.h"

#include "common/bytes.h"
#include "common/dtype.h"
#include "common/error.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_HDR_AT 8		/* file offset of the JSON header */
#define ST_SHOW_MAX 96		/* bytes of an untrusted string in a message */
#define ST_SHOW_BUF (ST_SHOW_MAX * 4 + 4)
#define ST_SHAPE_BUF 192		/* "[" 8 x ", 2^64-1" ", ...]" */

/*
 * Copies the NUL-terminated untrusted string s into buf for a message:
 * valid UTF-8 and printable ASCII as they are, anything else as \xNN, and
 * if quoted (s goes between '') also ' and \ escaped; after ST_SHOW_MAX
 * input bytes, "...".  Returns buf.
 */
static const char *st_escape(char buf[ST_SHOW_BUF], const char *s,
			     bool quoted)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t avail = strlen(s), i = 0, o = 0, k;

	while (i < avail) {
		k = hz_utf8_len(p + i, avail - i);
		if (i + (k ? k : 1) > ST_SHOW_MAX)
			break;
		if (k > 1) {
			memcpy(buf + o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		if (quoted && (p[i] == '\'' || p[i] == '\\')) {
			buf[o++] = '\\';
			buf[o++] = (char)p[i];
		} else if (p[i] >= 0x20 && p[i] < 0x7f) {
			buf[o++] = (char)p[i];
		} else {
			snprintf(buf + o, 5, "\\x%02x", p[i]);
			o += 4;
		}
		i++;
	}
	if (i < avail) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* An untrusted name or value, to be shown between ''. */
static const char *st_show(char buf[ST_SHOW_BUF], const char *s)
{
	return st_escape(buf, s, true);
}

/* "an integer", "a string", ... for messages about a JSON value's type. */
static const char *st_jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real";
	case JSON_TRUE: return "a boolean";
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Appends to buf[*o..cap), cutting rather than overrunning. */
__attribute__((format(printf, 4, 5)))
static void st_append(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*o + 1 >= cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (k > 0)
		*o = (size_t)k < cap - *o ? *o + (size_t)k : cap - 1;
}

/* "[3, 3, 64, 64]", at most the first 8 dims. */
static const char *st_show_shape(char buf[ST_SHAPE_BUF], const uint64_t *d,
				 unsigned ndim)
{
	size_t o = 0;
	unsigned i;

	buf[0] = '\0';
	st_append(buf, ST_SHAPE_BUF, &o, "[");
	for (i = 0; i < ndim && i < 8; i++)
		st_append(buf, ST_SHAPE_BUF, &o, "%s%" PRIu64, i ? ", " : "",
			  d[i]);
	st_append(buf, ST_SHAPE_BUF, &o, "%s]", i < ndim ? ", ..." : "");
	return buf;
}

/*
 * Sets the message "tensor 'name': <fmt> (header at byte 8)" and returns
 * code.  The header is the only position we can name for a semantic
 * error: jansson keeps no offsets for decoded values.
 */
__attribute__((format(printf, 3, 4)))
static int st_fail(int code, const char *name, const char *fmt, ...)
{
	char what[512], shown[ST_SHOW_BUF];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (name)
		return hz_error_set(code, "tensor '%s': %s (header at byte %d)",
				    st_show(shown, name), what, ST_HDR_AT);
	return hz_error_set(code, "%s (header at byte %d)", what, ST_HDR_AT);
}

int st_header_len(uint64_t *out, const uint8_t first8[8], uint64_t file_size,
		  uint64_t max_header)
{
	uint64_t n, end;

	*out = 0;
	if (!max_header)
		max_header = ST_HEADER_MAX_DEFAULT;
	if (file_size < ST_HDR_AT)
		return hz_error_set(HZ_EINVAL,
				    "file of %" PRIu64 " bytes is too short "
				    "for the 8-byte header length at byte 0",
				    file_size);
	n = hz_load64(first8);
	if (n < 2)
		return hz_error_set(HZ_EINVAL,
				    "header length %" PRIu64 " at byte 0 is "
				    "less than 2, the size of '{}'", n);
	if (n > max_header)
		return hz_error_set(HZ_EINVAL,
				    "header length %" PRIu64 " at byte 0 "
				    "exceeds the limit of %" PRIu64 " bytes",
				    n, max_header);
	if (hz_add_overflow(&end, n, ST_HDR_AT) || end > file_size)
		return hz_error_set(HZ_EINVAL,
				    "header length %" PRIu64 " at byte 0 runs "
				    "past the end of the file of %" PRIu64
				    " bytes", n, file_size);
#if SIZE_MAX < UINT64_MAX
	if (n > SIZE_MAX)
		return hz_error_set(HZ_EINVAL,
				    "header length %" PRIu64 " at byte 0 does "
				    "not fit in memory", n);
#endif
	*out = n;
	return 0;
}

/*
 * Checks the raw header bytes before jansson sees them: it must start with
 * '{' and be NUL-free, well-formed UTF-8 (jansson also rejects bad UTF-8,
 * but says less precisely where, and stops a NUL with a confusing "end of
 * file expected").
 */
static int st_check_bytes(const uint8_t *json, size_t n)
{
	size_t i, k;

	if (json[0] != '{')
		return hz_error_set(HZ_EINVAL,
				    "header at byte %d does not start with '{' "
				    "(found 0x%02x): it must be a json object",
				    ST_HDR_AT, json[0]);
	for (i = 0; i < n; i += k) {
		if (!json[i])
			return hz_error_set(HZ_EINVAL,
					    "nul byte in the header at "
					    "byte %" PRIu64,
					    (uint64_t)i + ST_HDR_AT);
		k = hz_utf8_len(json + i, n - i);
		if (!k)
			return hz_error_set(HZ_EINVAL,
					    "invalid utf-8 in the header at "
					    "byte %" PRIu64 " (0x%02x)",
					    (uint64_t)i + ST_HDR_AT, json[i]);
	}
	return 0;
}

/* Translates a jansson decoding error; its position counts bytes read. */
static int st_json_fail(const json_error_t *e)
{
	char shown[ST_SHOW_BUF], text[JSON_ERROR_TEXT_LENGTH];
	const char *near;
	uint64_t at = ST_HDR_AT;
	size_t len;

	if (e->position > 0)
		at += (uint64_t)e->position;
	switch (json_error_code(e)) {
	case json_error_out_of_memory:
		return hz_error_set(HZ_ENOMEM, "out of memory decoding the "
				    "header near byte %" PRIu64, at);
	case json_error_duplicate_key:
		/* jansson's text ends in: near '"the key"' */
		snprintf(text, sizeof(text), "%s", e->text);
		near = strstr(text, "near '\"");
		near = near ? near + 7 : "";
		len = strlen(near);
		if (len >= 2 && !strcmp(near + len - 2, "\"'"))
			text[near - text + len - 2] = '\0';
		return hz_error_set(HZ_EINVAL, "duplicate name '%s' near byte "
				    "%" PRIu64 ": a tensor, a field or a "
				    "metadata key appears twice",
				    st_show(shown, near), at);
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return hz_error_set(HZ_EINVAL, "nul character (\\u0000) in a "
				    "string near byte %" PRIu64 ": names and "
				    "strings must not contain nul", at);
	case json_error_stack_overflow:
		return hz_error_set(HZ_EINVAL, "header nested too deeply near "
				    "byte %" PRIu64, at);
	default:
		return hz_error_set(HZ_EINVAL, "invalid json near byte %" PRIu64
				    ": %s", at,
				    st_escape(shown, e->text, false));
	}
}

/* Reads a non-negative JSON integer for messages naming what[i]. */
static int st_uint(uint64_t *out, const json_t *v, const char *name,
		   const char *what, size_t i)
{
	json_int_t x;

	if (!json_is_integer(v))
		return st_fail(HZ_EINVAL, name, "%s[%zu] is %s, not a "
			       "non-negative integer", what, i, st_jtype(v));
	x = json_integer_value(v);
	if (x < 0)
		return st_fail(HZ_EINVAL, name, "%s[%zu] is negative (%"
			       JSON_INTEGER_FORMAT ")", what, i, x);
	*out = (uint64_t)x;
	return 0;
}

/*
 * Fills t from the header entry v of tensor name.  On failure t may hold
 * some allocations; the caller frees them with the st_file.
 */
static int st_tensor_parse(struct st_tensor *t, const char *name,
			   json_t *v, const struct st_file *f)
{
	static const char *const fields[] = { "dtype", "shape",
					      "data_offsets" };
	char shape_s[ST_SHAPE_BUF], shown[ST_SHOW_BUF];
	json_t *jv[3], *fv;
	const char *key;
	uint64_t elems = 1, nbytes, b, e, data_len;
	size_t i, len, ndim;
	bool zero = false;
	int rc;

	if (!name[0])
		return st_fail(HZ_EINVAL, name, "empty tensor name");
	if (!json_is_object(v))
		return st_fail(HZ_EINVAL, name, "entry is %s, not an object",
			       st_jtype(v));
	json_object_foreach(v, key, fv) {
		for (i = 0; i < 3; i++)
			if (!strcmp(key, fields[i]))
				break;
		if (i == 3)
			return st_fail(HZ_EINVAL, name, "unexpected field '%s'",
				       st_show(shown, key));
	}
	for (i = 0; i < 3; i++) {
		jv[i] = json_object_get(v, fields[i]);
		if (!jv[i])
			return st_fail(HZ_EINVAL, name, "missing field '%s'",
				       fields[i]);
	}

	if (!json_is_string(jv[0]))
		return st_fail(HZ_EINVAL, name, "'dtype' is %s, not a string",
			       st_jtype(jv[0]));
	t->dtype = hz_dtype_from_name(json_string_value(jv[0]));
	if (t->dtype < 0)
		return st_fail(HZ_EUNSUPPORTED, name, "unsupported dtype '%s'",
			       st_show(shown, json_string_value(jv[0])));

	if (!json_is_array(jv[1]))
		return st_fail(HZ_EINVAL, name, "'shape' is %s, not an array",
			       st_jtype(jv[1]));
	ndim = json_array_size(jv[1]);
	if (ndim > ST_MAX_DIMS)
		return st_fail(HZ_EINVAL, name, "'shape' has %zu dims, more "
			       "than the limit of %d", ndim, ST_MAX_DIMS);
	if (ndim) {
		t->shape = calloc(ndim, sizeof(*t->shape));
		if (!t->shape)
			return hz_error_set(HZ_ENOMEM, "out of memory for the "
					    "shape of a tensor");
	}
	t->ndim = (unsigned)ndim;
	for (i = 0; i < ndim; i++) {
		rc = st_uint(&t->shape[i], json_array_get(jv[1], i), name,
			     "shape", i);
		if (rc)
			return rc;
	}
	/*
	 * Zero dims are skipped in the product, not short-cut: a shape whose
	 * non-zero dims overflow is refused even if it holds no element, so
	 * that every stride a reader computes from it fits in 64 bits.
	 */
	for (i = 0; i < ndim; i++) {
		if (!t->shape[i])
			zero = true;
		else if (hz_mul_overflow(&elems, elems, t->shape[i]))
			break;
	}
	if (i < ndim || hz_mul_overflow(&nbytes, elems,
					hz_dtype_size(t->dtype)))
		return st_fail(HZ_EINVAL, name, "shape %s x %zu bytes "
			       "overflows 64 bits",
			       st_show_shape(shape_s, t->shape, t->ndim),
			       hz_dtype_size(t->dtype));
	if (zero)
		nbytes = 0;

	if (!json_is_array(jv[2]))
		return st_fail(HZ_EINVAL, name, "'data_offsets' is %s, not an "
			       "array of 2 integers", st_jtype(jv[2]));
	len = json_array_size(jv[2]);
	if (len != 2)
		return st_fail(HZ_EINVAL, name, "'data_offsets' has %zu "
			       "entr%s, not 2", len, len == 1 ? "y" : "ies");
	rc = st_uint(&b, json_array_get(jv[2], 0), name, "data_offsets", 0);
	if (rc)
		return rc;
	rc = st_uint(&e, json_array_get(jv[2], 1), name, "data_offsets", 1);
	if (rc)
		return rc;
	if (e < b)
		return st_fail(HZ_EINVAL, name, "data_offsets [%" PRIu64 ", %"
			       PRIu64 "] end before begin", b, e);
	data_len = f->file_size - f->data_start;
	if (e > data_len)
		return st_fail(HZ_EINVAL, name, "data_offsets [%" PRIu64 ", %"
			       PRIu64 "] end past the data section of %"
			       PRIu64 " bytes (bytes %" PRIu64 "..%" PRIu64
			       " of the file)", b, e, data_len, f->data_start,
			       f->file_size);
	if (e - b != nbytes)
		return st_fail(HZ_EINVAL, name, "data_offsets [%" PRIu64 ", %"
			       PRIu64 "] hold %" PRIu64 " bytes but shape %s "
			       "of %s needs %" PRIu64, b, e, e - b,
			       st_show_shape(shape_s, t->shape, t->ndim),
			       hz_dtype_name(t->dtype), nbytes);
	t->begin = f->data_start + b;
	t->end = f->data_start + e;

	len = strlen(name);
	t->name = malloc(len + 1);
	if (!t->name)
		return hz_error_set(HZ_ENOMEM, "out of memory for a tensor "
				    "name");
	memcpy(t->name, name, len + 1);
	return 0;
}

/* Checks "__metadata__" (strings to strings) and keeps it as compact JSON. */
static int st_metadata_parse(struct st_file *f, json_t *v)
{
	char shown[ST_SHOW_BUF];
	const char *key;
	json_t *mv;
	size_t len;

	if (!json_is_object(v))
		return st_fail(HZ_EINVAL, NULL, "'__metadata__' is %s, not an "
			       "object", st_jtype(v));
	json_object_foreach(v, key, mv) {
		if (!json_is_string(mv))
			return st_fail(HZ_EINVAL, NULL, "'__metadata__' value "
				       "of '%s' is %s, not a string",
				       st_show(shown, key), st_jtype(mv));
	}
	/*
	 * json_dumpb, not json_dumps: the result is ours to free() whatever
	 * allocator jansson was given.
	 */
	len = json_dumpb(v, NULL, 0, JSON_COMPACT);
	f->metadata_json = len ? malloc(len + 1) : NULL;
	if (!f->metadata_json ||
	    json_dumpb(v, f->metadata_json, len, JSON_COMPACT) != len)
		return hz_error_set(HZ_ENOMEM, "out of memory for "
				    "'__metadata__'");
	f->metadata_json[len] = '\0';
	return 0;
}

/* Order of st_file.tensors: begin, then end (empty first), then name. */
static int st_tensor_cmp(const void *pa, const void *pb)
{
	const struct st_tensor *a = pa, *b = pb;

	if (a->begin != b->begin)
		return a->begin < b->begin ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return strcmp(a->name, b->name);
}

int st_parse(struct st_file **out, const uint8_t *json, size_t n,
	     uint64_t file_size)
{
	char shown[ST_SHOW_BUF];
	struct st_file *f = NULL;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *key;
	uint64_t data_start;
	size_t i;
	int rc;

	*out = NULL;
	if (n < 2 || hz_add_overflow(&data_start, n, ST_HDR_AT) ||
	    data_start > file_size) {
		rc = hz_error_set(HZ_EINVAL, "header of %zu bytes at byte %d "
				  "does not fit a file of %" PRIu64 " bytes "
				  "or is shorter than '{}'", n, ST_HDR_AT,
				  file_size);
		goto out;
	}
	rc = st_check_bytes(json, n);
	if (rc)
		goto out;
	root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = st_json_fail(&jerr);
		goto out;
	}
	if (!json_is_object(root)) {	/* cannot happen after '{' */
		rc = hz_error_set(HZ_EINVAL, "header at byte %d is not a json "
				  "object", ST_HDR_AT);
		goto out;
	}

	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = hz_error_set(HZ_ENOMEM, "out of memory for a safetensors "
				  "header");
		goto out;
	}
	f->header_len = n;
	f->data_start = data_start;
	f->file_size = file_size;
	if (json_object_size(root)) {
		f->tensors = calloc(json_object_size(root),
				    sizeof(*f->tensors));
		if (!f->tensors) {
			rc = hz_error_set(HZ_ENOMEM, "out of memory for %zu "
					  "tensors", json_object_size(root));
			goto out;
		}
	}

	json_object_foreach(root, key, v) {
		if (!strcmp(key, "__metadata__")) {
			rc = st_metadata_parse(f, v);
		} else {
			/* counted first so that st_file_free frees a half */
			rc = st_tensor_parse(&f->tensors[f->ntensors++], key,
					     v, f);
		}
		if (rc)
			goto out;
	}

	if (f->ntensors > 1)
		qsort(f->tensors, f->ntensors, sizeof(*f->tensors),
		      st_tensor_cmp);
	for (i = 1; i < f->ntensors; i++) {
		const struct st_tensor *a = &f->tensors[i - 1];
		const struct st_tensor *b = &f->tensors[i];

		/* sorted: if any two overlap, two neighbours do */
		if (b->begin < a->end) {
			rc = st_fail(HZ_EINVAL, b->name, "data_offsets [%"
				     PRIu64 ", %" PRIu64 "] overlap tensor "
				     "'%s' [%" PRIu64 ", %" PRIu64 "]",
				     b->begin - data_start,
				     b->end - data_start,
				     st_show(shown, a->name),
				     a->begin - data_start,
				     a->end - data_start);
			goto out;
		}
	}
	*out = f;
	f = NULL;
	rc = 0;
out:
	json_decref(root);
	st_file_free(f);
	return rc;
}

void st_file_free(struct st_file *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->ntensors; i++) {
		free(f->tensors[i].name);
		free(f->tensors[i].shape);
	}
	free(f->tensors);
	free(f->metadata_json);
	free(f);
}
