/*
 * store/safetensors.h - a strict parser for the safetensors header.
 *
 * A safetensors file is: 8 bytes little-endian N, then N bytes of UTF-8
 * JSON (an object mapping tensor names to {"dtype","shape","data_offsets"}
 * plus an optional "__metadata__" object of string values), then the data
 * section.  data_offsets are relative to the start of the data section
 * (byte 8 + N).
 *
 * The parser is given the header bytes and the file size; it reads nothing
 * itself.  Every check that fails names what failed: the byte offset in the
 * file and the tensor name.  docs/safetensors.md lists what is accepted.
 *
 * Decisions beyond the format's own text:
 *  - the header must start with '{' at byte 8 (no leading whitespace or
 *    BOM, as the reference plans for 0.4); JSON whitespace after the
 *    object is padding and allowed (the reference writer pads with spaces);
 *  - the header is well-formed UTF-8 without NUL bytes, and no string in it
 *    holds U+0000;
 *  - a header of fewer than 2 bytes ('{}') is refused; '{}' itself (no
 *    tensors) is a valid file;
 *  - an empty tensor name is refused;
 *  - a tensor with zero elements is allowed (begin == end), but not inside
 *    another tensor's bytes; a shape whose non-zero dims overflow 64 bits
 *    is refused even when another dim is 0;
 *  - gaps between tensors and bytes after the last one are allowed.
 */
#ifndef HZ_STORE_SAFETENSORS_H
#define HZ_STORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Default limit on N, the JSON header length (as the reference's 100 MB). */
#define ST_HEADER_MAX_DEFAULT (100u << 20)
#define ST_MAX_DIMS 64

struct st_tensor {
	char *name;		/* non-empty, NUL-terminated, st_file's */
	int dtype;		/* enum hz_dtype */
	unsigned ndim;		/* 0 (a scalar) .. ST_MAX_DIMS */
	uint64_t *shape;	/* ndim entries or NULL, st_file's */
	uint64_t begin, end;	/* absolute byte offsets in the file */
};

struct st_file {
	uint64_t header_len;	/* N */
	uint64_t data_start;	/* 8 + N */
	uint64_t file_size;
	size_t ntensors;
	/*
	 * Sorted by begin, then end, then name: at one offset the empty
	 * tensors come first.  tensors[i].end <= tensors[i + 1].begin.
	 */
	struct st_tensor *tensors;
	char *metadata_json;	/* compact JSON of "__metadata__" or NULL */
};

/*
 * Reads N from the first 8 bytes of a file of file_size bytes and checks
 * it against max_header (0 = ST_HEADER_MAX_DEFAULT) and the file size.
 * max_header is what bounds st_parse's cost: jansson decodes the whole
 * header into a tree first, and a hostile header of N bytes can make it
 * allocate about 80 x N bytes (measured: 8 GB and 16 s of CPU for 100 MiB
 * of "[{},{},...]"; real headers are a few MB at most).  A service
 * should pass the limit it can afford per concurrent upload.
 * Returns 0 with *out = N, or HZ_EINVAL with the reason as the error
 * message (hz_error_msg()) and *out = 0.  N < 2 is refused, and so is a
 * file_size below 8 (first8 is then not read).
 */
int st_header_len(uint64_t *out, const uint8_t first8[8], uint64_t file_size,
		  uint64_t max_header);

/*
 * Parses the N header bytes json[0..n) of a file of file_size bytes.
 * Checks: valid UTF-8 JSON object; every entry but "__metadata__" is a
 * tensor with a known dtype, a shape of non-negative integers, and
 * data_offsets [b, e] with b <= e, e within the data section, e - b equal
 * to product(shape) x element size (overflow-checked); no two tensors
 * overlap; no duplicate names; "__metadata__" maps strings to strings.
 * Gaps between tensors and bytes after the last one are allowed (they are
 * kept verbatim by the store).
 *
 * On success returns 0 and *out owns a new st_file (free with
 * st_file_free); json is not referenced after the call.  On failure
 * returns HZ_EINVAL or HZ_EUNSUPPORTED (an unknown dtype) or HZ_ENOMEM,
 * with a message naming the offset and tensor, and sets *out to NULL.
 * Reads exactly json[0..n); n must be at least 2 and 8 + n <= file_size
 * (as st_header_len checked), else HZ_EINVAL.  Thread-safe.  Needs about
 * 256 KiB of stack: jansson recurses up to 2048 levels before it refuses
 * deeper nesting (it crashed with 128 KiB).
 */
int st_parse(struct st_file **out, const uint8_t *json, size_t n,
	     uint64_t file_size);

/* Frees f; NULL is a no-op. */
void st_file_free(struct st_file *f);

#endif
