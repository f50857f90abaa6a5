/*-------------------------------------------------------------------------
 *
 * similarity.c
 *	  Cosine similarity of float4[] and float8[] vectors.
 *
 * The common case is one fused pass that gathers the dot product and both
 * squared norms in double precision; the compiler vectorises it (this file
 * alone is built with reassociation allowed, see the Makefile).  Sums that
 * came out non-finite or too small to be trusted send us to a careful path
 * that reports NaN and infinite elements, returns NULL for zero vectors and
 * rescales vectors whose magnitudes would overflow or underflow, so that
 * (1e300, 1e300) is as similar to (1, 1) as it should be.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "float_array.h"

/*
 * Runtime dispatch to AVX and FMA versions of the kernels where glibc's
 * ifunc support makes that possible; never -march=native, which would crash
 * other machines with "Illegal instruction".
 */
#if defined(__x86_64__) && defined(__gnu_linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define RETENTION_TARGET_CLONES __attribute__((target_clones("default", "avx", "fma")))
#endif
#endif
#ifndef RETENTION_TARGET_CLONES
#define RETENTION_TARGET_CLONES
#endif

/*
 * Below this a squared norm has lost digits to gradual underflow (or is a
 * sum of squares that underflowed to zero); rescale instead of trusting it.
 */
#define SAFE_SQUARED_NORM 1e-280

typedef struct CosineSums
{
	double		dot;
	double		norm_a;			/* sum of squares of a */
	double		norm_b;			/* sum of squares of b */
} CosineSums;

RETENTION_TARGET_CLONES
static CosineSums
Float8CosineSums(const float8 *a, const float8 *b, int n)
{
	double		dot = 0.0;
	double		norm_a = 0.0;
	double		norm_b = 0.0;

	for (int i = 0; i < n; i++)
	{
		dot += a[i] * b[i];
		norm_a += a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	return (CosineSums) {dot, norm_a, norm_b};
}

RETENTION_TARGET_CLONES
static CosineSums
Float4CosineSums(const float4 *a, const float4 *b, int n)
{
	double		dot = 0.0;
	double		norm_a = 0.0;
	double		norm_b = 0.0;

	/* widen before multiplying: float4 products lose digits the sums keep */
	for (int i = 0; i < n; i++)
	{
		double		x = a[i];
		double		y = b[i];

		dot += x * y;
		norm_a += x * x;
		norm_b += y * y;
	}
	return (CosineSums) {dot, norm_a, norm_b};
}

static bool
SumsAreTrustworthy(const CosineSums *s)
{
	/* written so that NaN sums compare false and fall through */
	return isfinite(s->dot) &&
		s->norm_a >= SAFE_SQUARED_NORM && s->norm_b >= SAFE_SQUARED_NORM &&
		isfinite(s->norm_a * s->norm_b);
}

static double
CosineFromSums(const CosineSums *s)
{
	/* one sqrt of the product; rounding may step just outside [-1, 1] */
	double		cosine = s->dot / sqrt(s->norm_a * s->norm_b);

	return Max(-1.0, Min(1.0, cosine));
}

static double
MaxAbs(const float8 *values, int n)
{
	double		max = 0.0;

	for (int i = 0; i < n; i++)
		max = Max(max, fabs(values[i]));
	return max;
}

/*
 * The slow path: validate elements, recognise zero vectors, and divide each
 * vector by its largest magnitude so that no product can overflow or vanish.
 * Sets *isnull for a zero vector, whose direction (and so cosine) is undefined.
 */
static double
CosineCareful(const float8 *a, const float8 *b, int n, bool *isnull)
{
	double		scale_a;
	double		scale_b;
	CosineSums	s = {0.0, 0.0, 0.0};

	CheckFloat8ArrayFinite(a, n, "a");
	CheckFloat8ArrayFinite(b, n, "b");

	scale_a = MaxAbs(a, n);
	scale_b = MaxAbs(b, n);
	if (scale_a == 0.0 || scale_b == 0.0)
	{
		*isnull = true;
		return 0.0;
	}

	/* divide rather than multiply by 1/scale, which overflows for tiny scales */
	for (int i = 0; i < n; i++)
	{
		double		x = a[i] / scale_a;
		double		y = b[i] / scale_b;

		s.dot += x * y;
		s.norm_a += x * x;
		s.norm_b += y * y;
	}
	*isnull = false;
	return CosineFromSums(&s);
}

static float8 *
WidenFloat4(const float4 *values, int n)
{
	float8	   *result = palloc(sizeof(float8) * n);

	for (int i = 0; i < n; i++)
		result[i] = values[i];
	return result;
}

static void
CheckSameLength(int n_a, int n_b)
{
	if (n_a != n_b)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot compare arrays of different lengths %d and %d",
						n_a, n_b),
				 errhint("Both vectors must have one element per dimension.")));
}

/*
 * The cosine of two float8[] or float4[] vectors (elemtype), or NULL for a
 * zero vector.  float4 vectors are summed in double as they are; only the
 * rare careful path (NaN, infinity, a zero vector or subnormal magnitudes)
 * widens them first.
 */
static Datum
CosineSim(FunctionCallInfo fcinfo, Oid elemtype)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			n = CheckFloatArray(a, elemtype, "a");
	const void *x = ARR_DATA_PTR(a);
	const void *y = ARR_DATA_PTR(b);
	CosineSums	s;
	double		result;
	bool		isnull;

	CheckSameLength(n, CheckFloatArray(b, elemtype, "b"));

	if (elemtype == FLOAT8OID)
		s = Float8CosineSums(x, y, n);
	else
		s = Float4CosineSums(x, y, n);
	if (SumsAreTrustworthy(&s))
		PG_RETURN_FLOAT8(CosineFromSums(&s));

	if (elemtype == FLOAT8OID)
		result = CosineCareful(x, y, n, &isnull);
	else
		result = CosineCareful(WidenFloat4(x, n), WidenFloat4(y, n), n, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(result);
}

/* Returns the cosine similarity of two float8[] vectors, NULL for a zero vector. */
PG_FUNCTION_INFO_V1(cosine_sim_float8);
Datum
cosine_sim_float8(PG_FUNCTION_ARGS)
{
	return CosineSim(fcinfo, FLOAT8OID);
}

/* Returns the cosine similarity of two float4[] vectors, NULL for a zero vector. */
PG_FUNCTION_INFO_V1(cosine_sim_float4);
Datum
cosine_sim_float4(PG_FUNCTION_ARGS)
{
	return CosineSim(fcinfo, FLOAT4OID);
}
