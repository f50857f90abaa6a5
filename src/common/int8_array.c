/*-------------------------------------------------------------------------
 *
 * int8_array.c
 *	  bigint[] arguments that hold ids (int8_array.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"

#include "int8_array.h"

int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* the element count of a bigint[] of at most one dimension */
static int
CheckedLength(ArrayType *array, const char *argname)
{
	if (ARR_ELEMTYPE(array) != INT8OID)
		elog(ERROR, "argument \"%s\" has element type %u, expected bigint",
			 argname, ARR_ELEMTYPE(array));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array \"%s\" must be one-dimensional", argname),
				 errdetail("The array has %d dimensions.", ARR_NDIM(array))));
	return ARR_NDIM(array) == 0 ? 0 : ARR_DIMS(array)[0];
}

const int64 *
Int8ArrayNoNulls(ArrayType *array, const char *argname, int *n)
{
	*n = CheckedLength(array, argname);
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array \"%s\" must not contain nulls", argname)));
	return (const int64 *) ARR_DATA_PTR(array);
}

int64 *
Int8ArrayNonNull(ArrayType *array, const char *argname, int *n)
{
	int			length = CheckedLength(array, argname);
	const int64 *data = (const int64 *) ARR_DATA_PTR(array);
	const bits8 *nulls = ARR_NULLBITMAP(array);
	int64	   *result = palloc(sizeof(int64) * Max(length, 1));
	int			m = 0;

	for (int i = 0, j = 0; i < length; i++)
	{
		/* data holds only the non-null elements, packed */
		if (nulls && !(nulls[i / 8] & (1 << (i % 8))))
			continue;
		result[m++] = data[j++];
	}
	*n = m;
	return result;
}

int64 *
Int8ArrayDistinct(ArrayType *array, const char *argname, int *n)
{
	int			m;
	int64	   *result = Int8ArrayNonNull(array, argname, &m);
	int			d = 0;

	qsort(result, m, sizeof(int64), CompareInt64);
	for (int i = 0; i < m; i++)
		if (d == 0 || result[d - 1] != result[i])
			result[d++] = result[i];
	*n = d;
	return result;
}
