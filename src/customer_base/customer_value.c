/*-------------------------------------------------------------------------
 *
 * customer_value.c
 *	  Customer lifetime value: BG/NBD purchases times Gamma-Gamma spend,
 *	  discounted per period.
 *
 * The residual value of a customer over the next n periods of length L is
 *	 E[spend] * sum_{i=1..n} (E[Y(i L)] - E[Y((i-1) L)]) / (1 + d)^i
 * where E[Y(h)] are the BG/NBD conditional expected purchases within h and
 * d the discount rate per period: purchases of period i are discounted as if
 * made at its end.  This is the discrete form used by lifetimes and by
 * Fader, Hardie & Lee (2005, "RFM and CLV"), whose DERT is its limit for
 * short periods.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"

#include "bgnbd.h"
#include "btyd_model.h"
#include "customer_args.h"
#include "gamma_gamma.h"

#define MAX_PERIODS 100000
/* BG/NBD series terms over all periods (about 20 ns each) */
#define MAX_SERIES_TERMS 1e8

static double
DiscountedPurchases(const BtydModel *bgnbd, double x, double t_x, double t,
					int32 periods, double period, double discount_rate)
{
	double		previous = 0.0;
	double		total = 0.0;
	double		log_discount = log1p(discount_rate);

	if (periods < 1 || periods > MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("periods must be between 1 and %d, not %d", MAX_PERIODS, periods)));
	if (!isfinite(period) || !(period > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period must be a positive finite number, not %g", period)));
	CheckNonNegativeFinite(discount_rate, "discount_rate");

	CheckCustomerSummary(x, t_x, t);

	/*
	 * Each period sums a series whose length grows with its horizon: refuse
	 * at once what would take more than about two seconds in all, and the
	 * last horizon (which fails fast when it is too long) first.
	 */
	if ((double) periods / 2.0 *
		BgnbdSeriesTerms(bgnbd->params[0], bgnbd->params[1], bgnbd->params[2],
						 periods * period, x, t) > MAX_SERIES_TERMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d periods of length %g are too many for this model and customer",
						periods, period),
				 errdetail("The expected purchases of every period need about %g series terms in all, more than %g.",
						   (double) periods / 2.0 *
						   BgnbdSeriesTerms(bgnbd->params[0], bgnbd->params[1], bgnbd->params[2],
											periods * period, x, t),
						   MAX_SERIES_TERMS),
				 errhint("Use fewer or shorter periods.")));
	(void) BgnbdExpectedPurchases(bgnbd, periods * period, x, t_x, t);

	for (int32 i = 1; i <= periods; i++)
	{
		double		cumulative = BgnbdExpectedPurchases(bgnbd, i * period, x, t_x, t);

		CHECK_FOR_INTERRUPTS();
		total += (cumulative - previous) * exp(-i * log_discount);
		previous = cumulative;
	}
	return total;
}

/* Returns the discounted expected spend of a customer over the next periods. */
PG_FUNCTION_INFO_V1(customer_lifetime_value);
Datum
customer_lifetime_value(PG_FUNCTION_ARGS)
{
	BtydModel  *bgnbd = PG_GETARG_BTYD_MODEL(0, BTYD_BGNBD);
	BtydModel  *spend = PG_GETARG_BTYD_MODEL(1, BTYD_GAMMA_GAMMA);
	double		x = PG_GETARG_FLOAT8(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		t = PG_GETARG_FLOAT8(4);
	double		m = PG_GETARG_FLOAT8(5);
	int32		periods = PG_GETARG_INT32(6);
	double		period = PG_GETARG_FLOAT8(7);
	double		discount_rate = PG_GETARG_FLOAT8(8);
	double		value = GammaGammaExpectedSpend(spend, x, m);

	PG_RETURN_FLOAT8(BtydFiniteResult(value * DiscountedPurchases(bgnbd, x, t_x, t, periods,
																   period, discount_rate),
									  "lifetime value"));
}
