/*-------------------------------------------------------------------------
 *
 * scaled_sum.h
 *	  Exact sums of numeric values as 128-bit integers of a decimal scale:
 *	  value = sum / 10^scale.  A numeric that does not fit (NaN, infinity,
 *	  more than 18 digits after the point, a mantissa beyond int64) and a sum
 *	  that would overflow are the caller's to add as numeric: the sum stays
 *	  exact either way.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_SCALED_SUM_H
#define RETENTION_SCALED_SUM_H

#include "utils/numeric.h"

/* the largest scale of a scaled sum (10^18 fits an int64) */
#define SCALED_MAX_SCALE 18

typedef struct ScaledSum
{
#ifdef HAVE_INT128
	int128		sum;
#else
	int64		sum;
#endif
	int32		scale;			/* 0 .. SCALED_MAX_SCALE */
} ScaledSum;

/*
 * Reads a numeric datum (packed or not) as mantissa / 10^scale; false when
 * it does not fit.
 */
extern bool NumericToScaled(Datum num, int64 *mantissa, int32 *scale);

/* sum += mantissa / 10^scale; false (sum unchanged) on overflow */
extern bool ScaledAdd(ScaledSum *sum, int64 mantissa, int32 scale);

/* a += b; false (a unchanged) on overflow */
extern bool ScaledAddSum(ScaledSum *a, const ScaledSum *b);

/* The sum as numeric_float8 would convert the same value as a numeric. */
extern double ScaledToDouble(const ScaledSum *sum);

/* The sum as a numeric (palloc'd in the current context). */
extern Numeric ScaledToNumeric(const ScaledSum *sum);

#endif							/* RETENTION_SCALED_SUM_H */
