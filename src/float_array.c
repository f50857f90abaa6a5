/*-------------------------------------------------------------------------
 *
 * float_array.c
 *	  Validated access to one-dimensional float4[] and float8[] arguments.
 *
 * Functions read ARR_DATA_PTR directly once these checks pass, instead of
 * deconstructing the array element by element.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "float_array.h"

int
CheckFloatArray(ArrayType *array, Oid elemtype, const char *argname)
{
	int			ndim = ARR_NDIM(array);
	int			n;

	if (ARR_ELEMTYPE(array) != elemtype)
		elog(ERROR, "argument \"%s\" has element type %u, expected %u",
			 argname, ARR_ELEMTYPE(array), elemtype);

	if (ndim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("array \"%s\" must not be empty", argname)));
	if (ndim != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array \"%s\" must be one-dimensional", argname),
				 errdetail("The array has %d dimensions.", ndim)));

	n = ARR_DIMS(array)[0];
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("array \"%s\" must not be empty", argname)));

	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array \"%s\" must not contain nulls", argname)));

	return n;
}

void
CheckFloat8ArrayFinite(const float8 *values, int n, const char *argname)
{
	for (int i = 0; i < n; i++)
	{
		if (!isfinite(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("array \"%s\" must not contain NaN or infinite values",
							argname),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(values[i]) ? "NaN" : "infinite")));
	}
}
