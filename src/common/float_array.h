/*-------------------------------------------------------------------------
 *
 * float_array.h
 *	  Validated access to one-dimensional float4[] and float8[] arguments.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FLOAT_ARRAY_H
#define RETENTION_FLOAT_ARRAY_H

#include "utils/array.h"

/*
 * Check that an array argument is a non-empty, one-dimensional array of the
 * given element type without NULLs, and return its length.  "argname" names
 * the argument in error messages.  Raises class-22 errors otherwise.
 */
extern int	CheckFloatArray(ArrayType *array, Oid elemtype, const char *argname);

/* Raise an error naming the first NaN or infinite element, if there is one. */
extern void CheckFloat8ArrayFinite(const float8 *values, int n, const char *argname);

/*
 * The length of a one-dimensional float8[] without NULLs, or -1 for any
 * other array (so that callers can report a length mismatch themselves).
 */
extern int	Float8ArrayLength(ArrayType *array);

/*
 * A float8[] argument as it is, without the copy that detoasting makes of a
 * short (1-byte header) value, the form a table stores a small array in:
 * an aggregate reading one per row would otherwise copy every one.  Values
 * that are compressed, out of line or hold NULLs are detoasted as usual.
 * The elements may be unaligned: read them with memcpy.
 */
typedef struct Float8ArrayPeek
{
	int			ndim;
	int			n;				/* elements, for one dimension (else 0) */
	bool		hasnull;		/* holds at least one NULL */
	const char *data;			/* the n elements (no NULLs) */
} Float8ArrayPeek;

extern void PeekFloat8Array(Datum value, Float8ArrayPeek *peek);

/* A new one-dimensional float8[] holding n values. */
extern ArrayType *Float8ArrayFromValues(const double *values, int n);

#endif							/* RETENTION_FLOAT_ARRAY_H */
