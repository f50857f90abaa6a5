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

int
Float8ArrayLength(ArrayType *array)
{
	if (ARR_ELEMTYPE(array) != FLOAT8OID || ARR_NDIM(array) != 1 ||
		(ARR_HASNULL(array) && array_contains_nulls(array)))
		return -1;
	return ARR_DIMS(array)[0];
}

ArrayType *
Float8ArrayFromValues(const double *values, int n)
{
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(double) * n;
	ArrayType  *result = palloc0(bytes);

	SET_VARSIZE(result, bytes);
	result->ndim = 1;
	result->dataoffset = 0;		/* no NULL bitmap */
	result->elemtype = FLOAT8OID;
	ARR_DIMS(result)[0] = n;
	ARR_LBOUND(result)[0] = 1;
	memcpy(ARR_DATA_PTR(result), values, sizeof(double) * n);
	return result;
}

void
PeekFloat8Array(Datum value, Float8ArrayPeek *peek)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(value);
	ArrayType  *array;

	if (VARATT_IS_SHORT(v))
	{
		/* the fields of ArrayType after its 4-byte header, read unaligned */
		const char *p = VARDATA_SHORT(v);
		Size		len = VARSIZE_SHORT(v) - VARHDRSZ_SHORT;
		int32		ndim;
		int32		dataoffset;
		Oid			elemtype;
		int32		n;
		Size		offset = ARR_OVERHEAD_NONULLS(1) - VARHDRSZ;

		if (len >= offset)
		{
			memcpy(&ndim, p, sizeof(int32));
			memcpy(&dataoffset, p + sizeof(int32), sizeof(int32));
			memcpy(&elemtype, p + 2 * sizeof(int32), sizeof(Oid));
			memcpy(&n, p + 2 * sizeof(int32) + sizeof(Oid), sizeof(int32));
			if (ndim == 1 && dataoffset == 0 && elemtype == FLOAT8OID && n >= 0 &&
				(Size) n <= (len - offset) / sizeof(float8))
			{
				peek->ndim = 1;
				peek->n = n;
				peek->hasnull = false;
				peek->data = p + offset;
				return;
			}
		}
	}
	array = DatumGetArrayTypeP(value);
	if (ARR_ELEMTYPE(array) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("array must be of type float8[]")));
	peek->ndim = ARR_NDIM(array);
	peek->n = peek->ndim == 1 ? ARR_DIMS(array)[0] : 0;
	peek->hasnull = ARR_HASNULL(array) && array_contains_nulls(array);
	peek->data = ARR_DATA_PTR(array);
}
