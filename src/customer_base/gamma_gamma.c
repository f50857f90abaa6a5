/*-------------------------------------------------------------------------
 *
 * gamma_gamma.c
 *	  The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee
 *	  2005, "RFM and CLV"; Fader & Hardie, "The Gamma-Gamma Model of
 *	  Monetary Value", 2013): maximum-likelihood fit and expected spend.
 *
 * A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, v)
 * across customers.  The data of a customer is (x, m): repeat purchases and
 * their mean value.  Log-likelihood of one customer:
 *	 log G(px+q) - log G(px) - log G(q) + q log v + (px-1) log m
 *	 + px log x - (px+q) log(v + m x)
 * Customers without repeat purchases carry no information on spend and are
 * left out of the fit (not counted in n), as in the paper.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "btyd_model.h"
#include "customer_args.h"
#include "customer_groups.h"
#include "gamma_gamma.h"
#include "optimize.h"
#include "special_functions.h"

#define GG_NPARAMS 3

typedef struct GammaGammaData
{
	int			npoints;
	double	   *x;
	double	   *log_m;
	double	   *m;
	double	   *count;
	int			nx;
	double	   *x_value;
	double	   *x_count;
	double		total;
} GammaGammaData;

/*
 * The fit takes logs of the mean spend, so repeat buyers must have spent
 * something; predictions are defined for any spend >= 0.
 */
static void
CheckSpend(double x, double m, bool for_fit)
{
	CheckFrequency(x);
	if (!isfinite(m) || m < 0.0 || (for_fit && x > 0.0 && m == 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(for_fit ? "monetary must be a positive finite number for a customer with repeat purchases, not %g" : "monetary must be a non-negative finite number, not %g", m),
				 errhint("The Gamma-Gamma model describes positive spend; leave out customers whose purchases are free or refunded.")));
}

/* Negative mean log-likelihood and its gradient in log-parameters. */
static double
GammaGammaObjective(const double *theta, double *gradient, void *arg)
{
	const GammaGammaData *d = arg;
	double		p = exp(theta[0]);
	double		q = exp(theta[1]);
	double		v = exp(theta[2]);
	double		ll = 0.0;
	double		g[GG_NPARAMS] = {0.0, 0.0, 0.0};
	double		lgamma_q = lgamma(q);
	double		psi_q = Digamma(q);
	double		log_v = log(v);

	CHECK_FOR_INTERRUPTS();

	for (int k = 0; k < d->nx; k++)
	{
		double		x = d->x_value[k];
		double		w = d->x_count[k];
		double		px = p * x;
		double		psi_pxq = Digamma(px + q);

		ll += w * (lgamma(px + q) - lgamma(px) - lgamma_q + q * log_v + px * log(x));
		g[0] += w * x * (psi_pxq - Digamma(px) + log(x));
		g[1] += w * (psi_pxq - psi_q + log_v);
		g[2] += w * q / v;
	}

	for (int i = 0; i < d->npoints; i++)
	{
		double		x = d->x[i];
		double		w = d->count[i];
		double		vmx = v + d->m[i] * x;
		double		log_vmx = log(vmx);

		ll += w * ((p * x - 1.0) * d->log_m[i] - (p * x + q) * log_vmx);
		g[0] += w * x * (d->log_m[i] - log_vmx);
		g[1] -= w * log_vmx;
		g[2] -= w * (p * x + q) / vmx;
	}

	return BtydObjectiveValue(ll, g, theta, GG_NPARAMS, d->total, gradient);
}

/* the key (x, m) of a row of gamma_gamma_fit */
static bool
SpendRowKey(FunctionCallInfo fcinfo, double *key)
{
	key[0] = PG_GETARG_FLOAT8(1);
	key[1] = PG_GETARG_FLOAT8(2);
	CheckSpend(key[0], key[1], true);
	/* without repeat purchases a customer says nothing about spend */
	return key[0] > 0.0;
}

/* Transition of gamma_gamma_fit: counts a customer with repeat purchases. */
BTYD_SQL_FUNCTION(gamma_gamma_fit_transfn, CustomerGroupsTransition,
				  "gamma_gamma_fit_transfn", 2, SpendRowKey);

/* Deserialise of gamma_gamma_fit: groups of (x, m). */
PG_FUNCTION_INFO_V1(gamma_gamma_fit_deserialize);
Datum
gamma_gamma_fit_deserialize(PG_FUNCTION_ARGS)
{
	return CustomerGroupsDeserializeChecked(fcinfo, "gamma_gamma_fit_deserialize", 2, NULL);
}

/* Final of gamma_gamma_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(gamma_gamma_fit_finalfn);
Datum
gamma_gamma_fit_finalfn(PG_FUNCTION_ARGS)
{
	double	   *rows;
	double		total;
	int			npoints = BtydFitRows(fcinfo, BTYD_GAMMA_GAMMA, "customers with repeat purchases",
									  &rows, &total);
	GammaGammaData data;
	double		theta[GG_NPARAMS] = {0.0, 0.0, 0.0};

	if (npoints < 0)
		PG_RETURN_NULL();
	data.npoints = npoints;
	data.x = palloc(sizeof(double) * npoints);
	data.m = palloc(sizeof(double) * npoints);
	data.log_m = palloc(sizeof(double) * npoints);
	data.count = palloc(sizeof(double) * npoints);
	data.total = total;
	for (int i = 0; i < npoints; i++)
	{
		data.x[i] = rows[3 * i];
		data.m[i] = rows[3 * i + 1];
		data.log_m[i] = log(data.m[i]);
		data.count[i] = rows[3 * i + 2];
	}
	/* rows come sorted by x, so each x is one run */
	data.nx = CustomerRowsFirstKeyRuns(rows, npoints, 3, &data.x_value, &data.x_count);
	PG_RETURN_POINTER(BtydFit(BTYD_GAMMA_GAMMA, GammaGammaObjective, &data, theta, total));
}

double
GammaGammaExpectedSpend(const BtydModel *model, double x, double m)
{
	double		p = model->params[0];
	double		q = model->params[1];
	double		v = model->params[2];
	double		denominator;
	double		value;

	CheckSpend(x, m, false);
	denominator = p * x + q - 1.0;
	if (!(denominator > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected spend is infinite for this model"),
				 errdetail("The posterior mean needs p * frequency + q > 1, but it is %g.",
						   denominator + 1.0)));
	/* a weighted mean of the population mean p v / (q - 1) and the customer's m */
	value = p * (v + x * m) / denominator;
	/* x m overflowed for a huge m: the same mean, without the product */
	if (!isfinite(value))
		value = p * v / denominator + (p * x / denominator) * m;
	return BtydFiniteResult(value, "expected spend");
}

/* Returns the expected spend per transaction of a customer (x, m). */
PG_FUNCTION_INFO_V1(gamma_gamma_expected_spend);
Datum
gamma_gamma_expected_spend(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_GAMMA_GAMMA);

	PG_RETURN_FLOAT8(GammaGammaExpectedSpend(model, PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)));
}
