/*
 * common/dtype.h - the element types of tensors, with stable on-disk ids.
 *
 * Ids are written into block headers and the index: never renumber, never
 * reuse.  HZ_DT_NONE marks bytes that are not a tensor (headers, whole
 * files).
 */
#ifndef HZ_COMMON_DTYPE_H
#define HZ_COMMON_DTYPE_H

#include <stdbool.h>
#include <stddef.h>

enum hz_dtype {
	HZ_DT_NONE = 0,
	HZ_DT_F64 = 1,
	HZ_DT_F32 = 2,
	HZ_DT_F16 = 3,
	HZ_DT_BF16 = 4,
	HZ_DT_F8_E4M3 = 5,
	HZ_DT_F8_E5M2 = 6,
	HZ_DT_I64 = 7,
	HZ_DT_I32 = 8,
	HZ_DT_I16 = 9,
	HZ_DT_I8 = 10,
	HZ_DT_U64 = 11,
	HZ_DT_U32 = 12,
	HZ_DT_U16 = 13,
	HZ_DT_U8 = 14,
	HZ_DT_BOOL = 15,
	HZ_DT_COUNT
};

/* Bytes per element (1 for HZ_DT_NONE), 0 for an id out of range. */
size_t hz_dtype_size(int dt);
/* The safetensors name ("BF16"), or NULL for an id out of range. */
const char *hz_dtype_name(int dt);
/* The id for a safetensors dtype name (exact, case-sensitive); -1 if unknown. */
int hz_dtype_from_name(const char *name);
/* True for the floating-point types. */
bool hz_dtype_is_float(int dt);

#endif
