#include "common/dtype.h"

#include <string.h>

static const struct {
	const char *name;
	size_t size;
	bool is_float;
} dtypes[HZ_DT_COUNT] = {
	[HZ_DT_NONE] = { "NONE", 1, false },
	[HZ_DT_F64] = { "F64", 8, true },
	[HZ_DT_F32] = { "F32", 4, true },
	[HZ_DT_F16] = { "F16", 2, true },
	[HZ_DT_BF16] = { "BF16", 2, true },
	[HZ_DT_F8_E4M3] = { "F8_E4M3", 1, true },
	[HZ_DT_F8_E5M2] = { "F8_E5M2", 1, true },
	[HZ_DT_I64] = { "I64", 8, false },
	[HZ_DT_I32] = { "I32", 4, false },
	[HZ_DT_I16] = { "I16", 2, false },
	[HZ_DT_I8] = { "I8", 1, false },
	[HZ_DT_U64] = { "U64", 8, false },
	[HZ_DT_U32] = { "U32", 4, false },
	[HZ_DT_U16] = { "U16", 2, false },
	[HZ_DT_U8] = { "U8", 1, false },
	[HZ_DT_BOOL] = { "BOOL", 1, false },
};

size_t hz_dtype_size(int dt)
{
	return dt >= 0 && dt < HZ_DT_COUNT ? dtypes[dt].size : 0;
}

const char *hz_dtype_name(int dt)
{
	return dt >= 0 && dt < HZ_DT_COUNT ? dtypes[dt].name : NULL;
}

int hz_dtype_from_name(const char *name)
{
	int dt;

	for (dt = 1; dt < HZ_DT_COUNT; dt++)
		if (!strcmp(dtypes[dt].name, name))
			return dt;
	return -1;
}

bool hz_dtype_is_float(int dt)
{
	return dt >= 0 && dt < HZ_DT_COUNT && dtypes[dt].is_float;
}
