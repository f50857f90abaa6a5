/*-------------------------------------------------------------------------
 *
 * int8_array.h
 *	  bigint[] arguments that hold ids (items seen, relevant, recommended,
 *	  a fallback list): checked once, then read in place or copied.
 *
 * Each function checks that the array has at most one dimension (2202E
 * naming the argument otherwise); an empty array has no elements.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_INT8_ARRAY_H
#define RETENTION_INT8_ARRAY_H

#include "utils/array.h"

/* qsort and bsearch order of int64 values */
extern int	CompareInt64(const void *a, const void *b);

/* The elements, read in place; NULLs are an error (22004 naming the argument). */
extern const int64 *Int8ArrayNoNulls(ArrayType *array, const char *argname, int *n);

/* A copy of the non-NULL elements, in array order. */
extern int64 *Int8ArrayNonNull(ArrayType *array, const char *argname, int *n);

/* The non-NULL elements as a set: sorted ascending, without repeats. */
extern int64 *Int8ArrayDistinct(ArrayType *array, const char *argname, int *n);

#endif							/* RETENTION_INT8_ARRAY_H */
