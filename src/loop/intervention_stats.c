/*-------------------------------------------------------------------------
 *
 * intervention_stats.c
 *	  Confidence intervals for retention rates and their differences, as
 *	  intervention_effect reports them.
 *
 *	wilson_interval(x, n, confidence): the score interval of Wilson (1927)
 *	  for a proportion x / n, the interval Newcombe (1998) builds on; it
 *	  stays inside [0, 1] and behaves at x = 0 and x = n, where the Wald
 *	  interval collapses.
 *
 *	newcombe_interval(x1, n1, x0, n0, confidence): the difference
 *	  p1 - p0 of two independent proportions with Newcombe's hybrid score
 *	  interval (Newcombe, "Interval estimation for the difference between
 *	  independent proportions: comparison of eleven methods", Statistics in
 *	  Medicine 17, 1998, method 10):
 *
 *		L = d - sqrt((p1 - l1)^2 + (u0 - p0)^2)
 *		U = d + sqrt((u1 - p1)^2 + (p0 - l0)^2)
 *
 *	  where (l, u) are the Wilson limits of each proportion; and the
 *	  two-sided p-value of the pooled z test of p1 = p0 (the Pearson
 *	  chi-square test without continuity correction, R's
 *	  prop.test(correct = FALSE)).
 *
 * z = Phi^-1(1 - (1 - confidence) / 2) is found by Newton's method on
 * erfc, which the C library computes to full precision, so no polynomial
 * approximation of the normal quantile is needed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

/* the two-sided normal critical value for a confidence level in (0, 1) */
static float8
NormalCritical(float8 confidence)
{
	float8		alpha = 1.0 - confidence;
	float8		z = 0.0;

	/* written so that NaN fails */
	if (!(confidence > 0.0 && confidence < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confidence must be between 0 and 1"),
				 errdetail("confidence is %g.", confidence)));
	/*
	 * Solve erfc(z / sqrt 2) = alpha.  The function is convex and
	 * decreasing for z > 0, so Newton from below the root converges
	 * monotonically; start low and cap the number of steps.
	 */
	for (int i = 0; i < 200; i++)
	{
		float8		f = erfc(z / M_SQRT2) - alpha;
		float8		df = -sqrt(2.0 / M_PI) * exp(-0.5 * z * z);
		float8		step = f / df;

		z -= step;
		if (fabs(step) <= 1e-15 * Max(1.0, fabs(z)))
			break;
	}
	return z;
}

static void
CheckCounts(int64 x, int64 n, const char *what)
{
	if (n <= 0 || x < 0 || x > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must satisfy 0 <= successes <= trials and trials > 0", what),
				 errdetail("successes is %lld and trials is %lld.", (long long) x, (long long) n)));
}

/* Wilson score limits of x / n for critical value z */
static void
Wilson(int64 x, int64 n, float8 z, float8 *lower, float8 *upper)
{
	float8		nn = (float8) n;
	float8		p = (float8) x / nn;
	float8		z2 = z * z;
	float8		centre = (p + z2 / (2.0 * nn)) / (1.0 + z2 / nn);
	float8		half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / (1.0 + z2 / nn);

	/* exact at the ends: the limits are 0 and 1 there, not 1e-17 off */
	*lower = x == 0 ? 0.0 : Max(0.0, centre - half);
	*upper = x == n ? 1.0 : Min(1.0, centre + half);
}

static Datum
ReturnRow(FunctionCallInfo fcinfo, Datum *values, int n)
{
	TupleDesc	tupdesc;
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	Assert(n <= 4);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Returns (estimate, lower, upper): a proportion and its Wilson score interval. */
PG_FUNCTION_INFO_V1(wilson_interval);
Datum
wilson_interval(PG_FUNCTION_ARGS)
{
	int64		x = PG_GETARG_INT64(0);
	int64		n = PG_GETARG_INT64(1);
	float8		z = NormalCritical(PG_GETARG_FLOAT8(2));
	float8		lower;
	float8		upper;
	Datum		values[3];

	CheckCounts(x, n, "counts");
	Wilson(x, n, z, &lower, &upper);
	values[0] = Float8GetDatum((float8) x / (float8) n);
	values[1] = Float8GetDatum(lower);
	values[2] = Float8GetDatum(upper);
	PG_RETURN_DATUM(ReturnRow(fcinfo, values, 3));
}

/*
 * Returns (difference, lower, upper, p_value): p1 - p0, Newcombe's hybrid
 * score interval, and the two-sided p-value of the pooled z test.
 */
PG_FUNCTION_INFO_V1(newcombe_interval);
Datum
newcombe_interval(PG_FUNCTION_ARGS)
{
	int64		x1 = PG_GETARG_INT64(0);
	int64		n1 = PG_GETARG_INT64(1);
	int64		x0 = PG_GETARG_INT64(2);
	int64		n0 = PG_GETARG_INT64(3);
	float8		z = NormalCritical(PG_GETARG_FLOAT8(4));
	float8		p1;
	float8		p0;
	float8		l1,
				u1,
				l0,
				u0;
	float8		d;
	float8		pooled;
	float8		p_value;
	Datum		values[4];

	CheckCounts(x1, n1, "the first group's counts");
	CheckCounts(x0, n0, "the second group's counts");
	p1 = (float8) x1 / (float8) n1;
	p0 = (float8) x0 / (float8) n0;
	Wilson(x1, n1, z, &l1, &u1);
	Wilson(x0, n0, z, &l0, &u0);
	d = p1 - p0;

	/* pooled z test; all successes or none in both groups: no evidence */
	pooled = (float8) (x1 + x0) / (float8) (n1 + n0);
	if (pooled <= 0.0 || pooled >= 1.0)
		p_value = 1.0;
	else
	{
		float8		se = sqrt(pooled * (1.0 - pooled) * (1.0 / (float8) n1 + 1.0 / (float8) n0));

		p_value = erfc(fabs(d) / se / M_SQRT2);
	}

	values[0] = Float8GetDatum(d);
	values[1] = Float8GetDatum(d - sqrt((p1 - l1) * (p1 - l1) + (u0 - p0) * (u0 - p0)));
	values[2] = Float8GetDatum(d + sqrt((u1 - p1) * (u1 - p1) + (p0 - l0) * (p0 - l0)));
	values[3] = Float8GetDatum(p_value);
	PG_RETURN_DATUM(ReturnRow(fcinfo, values, 4));
}
