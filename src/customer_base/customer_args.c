/*-------------------------------------------------------------------------
 *
 * customer_args.c
 *	  Checks of the arguments the customer-base functions share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "customer_args.h"

double
CheckNonNegativeFinite(double value, const char *what)
{
	if (!isfinite(value) || value < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a non-negative finite number, not %g", what, value)));
	return value;
}

void
CheckFrequency(double x)
{
	if (!isfinite(x) || x < 0.0 || x != floor(x))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a non-negative integer, not %g", x),
				 errdetail("Frequency counts the repeat purchases of a customer.")));
}

/*
 * Check one customer's summary.  Bad values are errors rather than skipped
 * rows: a negative age or a fractional purchase count means the summary
 * query is wrong, and a fit that quietly drops such rows would hide that.
 */
void
CheckCustomerSummary(double x, double t_x, double t)
{
	CheckFrequency(x);
	CheckNonNegativeFinite(t_x, "recency");
	CheckNonNegativeFinite(t, "t");
	if (t_x > t)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency %g exceeds t %g", t_x, t),
				 errdetail("The last purchase cannot come after the end of the observation period.")));
}

/* the horizon of a prediction */
double
CheckHorizon(double horizon)
{
	return CheckNonNegativeFinite(horizon, "horizon");
}
