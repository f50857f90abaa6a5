/*-------------------------------------------------------------------------
 *
 * sbg.c
 *	  The shifted-beta-geometric (sBG) model of contractual retention,
 *	  Fader & Hardie (2007), "How to Project Customer Retention", Journal of
 *	  Interactive Marketing 21(1): maximum-likelihood fit, survival,
 *	  retention rates and discounted expected residual lifetime (Fader &
 *	  Hardie 2010, "Customer-Base Valuation in a Contractual Setting",
 *	  Marketing Science 29(1)).
 *
 * Each customer renews at the end of every period with probability 1 - theta,
 * theta ~ Beta(alpha, beta) across customers.  Then
 *	 P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta)	 (lost in period t)
 *	 S(t)	  = B(alpha, beta+t) / B(alpha, beta)		 (still active after t)
 *	 r_t	  = S(t)/S(t-1) = (beta+t-1) / (alpha+beta+t-1)
 * A customer lost in period t contributes (t, churned) and log P(T = t); one
 * observed active through t periods contributes (t, not churned) and
 * log S(t).  The gradient is analytic (digamma differences).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "btyd_model.h"
#include "customer_groups.h"
#include "special_functions.h"

#define SBG_NPARAMS 2

/* terms allowed in the DERL series before the discount is called too small */
#define DERL_MAX_TERMS 10000000L

typedef struct SbgData
{
	int			npoints;
	const double *rows;			/* (t, churned, count) per group */
	double		total;
} SbgData;

/* Negative mean log-likelihood and its gradient in log(alpha), log(beta). */
static double
SbgObjective(const double *theta, double *gradient, void *arg)
{
	const SbgData *d = arg;
	double		alpha = exp(theta[0]);
	double		beta = exp(theta[1]);
	double		lbeta0 = LogBeta(alpha, beta);
	double		psi_ab = Digamma(alpha + beta);
	double		psi_b = Digamma(beta);
	double		ll = 0.0;
	double		g[SBG_NPARAMS] = {0.0, 0.0};

	for (int i = 0; i < d->npoints; i++)
	{
		double		t = d->rows[3 * i];
		bool		churned = d->rows[3 * i + 1] != 0.0;
		double		w = d->rows[3 * i + 2];
		double		psi_abt = Digamma(alpha + beta + t);

		if (churned)
		{
			ll += w * (LogBeta(alpha + 1.0, beta + t - 1.0) - lbeta0);
			/* psi(alpha+1) - psi(alpha) = 1/alpha */
			g[0] += w * (1.0 / alpha - psi_abt + psi_ab);
			g[1] += w * (Digamma(beta + t - 1.0) - psi_abt - psi_b + psi_ab);
		}
		else
		{
			ll += w * (LogBeta(alpha, beta + t) - lbeta0);
			g[0] += w * (psi_ab - psi_abt);
			g[1] += w * (Digamma(beta + t) - psi_abt - psi_b + psi_ab);
		}
	}
	return BtydObjectiveValue(ll, g, theta, SBG_NPARAMS, d->total, gradient);
}

/* a count of periods, or a 22023 error naming it when negative */
static int32
CheckNotNegative(int32 value, const char *name)
{
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative, not %d", name, value)));
	return value;
}

/* the key (periods, churned) of a row of sbg_fit */
static bool
PeriodsRowKey(FunctionCallInfo fcinfo, double *key)
{
	int32		periods = PG_GETARG_INT32(1);
	bool		churned = PG_GETARG_BOOL(2);

	if (churned && periods < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a churned customer must have periods of at least 1, not %d", periods),
				 errdetail("A customer lost during period t renewed t - 1 times; the first period is 1.")));
	key[0] = CheckNotNegative(periods, "periods");
	key[1] = churned ? 1.0 : 0.0;
	return true;
}

/* Transition of sbg_fit: counts one customer, or "customers" of them. */
BTYD_SQL_FUNCTION(sbg_fit_transfn, CustomerGroupsTransition,
				  "sbg_fit_transfn", 2, PeriodsRowKey);

/* a group (periods, churned, count) of a deserialised state, or an error */
static void
CheckStateRow(const double *row)
{
	double		t = row[0];
	double		c = row[1];
	double		w = row[2];

	if (!(w > 0.0 && isfinite(w)) || !(t >= 0.0 && t <= PG_INT32_MAX && t == floor(t)) ||
		!(c == 0.0 || c == 1.0) || (c == 1.0 && t < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid sbg_fit state"),
				 errdetail("A group has periods %g, churned %g and count %g.", t, c, w)));
}

/* Deserialise of sbg_fit: groups of (periods, churned). */
PG_FUNCTION_INFO_V1(sbg_fit_deserialize);
Datum
sbg_fit_deserialize(PG_FUNCTION_ARGS)
{
	return CustomerGroupsDeserializeChecked(fcinfo, "sbg_fit_deserialize", 2, CheckStateRow);
}

/* Final of sbg_fit: the maximum-likelihood model, NULL without any churn information. */
PG_FUNCTION_INFO_V1(sbg_fit_finalfn);
Datum
sbg_fit_finalfn(PG_FUNCTION_ARGS)
{
	CustomerGroups *groups = CustomerGroupsStateArg(fcinfo);
	double		total = groups ? CustomerGroupsTotal(groups) : 0.0;
	double		theta[SBG_NPARAMS] = {0.0, 0.0};
	double		churned = 0.0;
	double		renewals = 0.0;
	double	   *rows;
	SbgData		data;

	if (total == 0.0)
		PG_RETURN_NULL();
	data.npoints = CustomerGroupsToRows(groups, &rows);
	data.rows = rows;
	data.total = total;
	for (int i = 0; i < data.npoints; i++)
	{
		double		t = rows[3 * i];
		double		w = rows[3 * i + 2];

		if (rows[3 * i + 1] != 0.0)
		{
			churned += w;
			renewals += w * (t - 1.0);
		}
		else
			renewals += w * t;
	}

	/*
	 * Without a churn the likelihood grows as alpha -> 0, without a renewal
	 * as beta -> 0: no maximum, so no model, and the reason said plainly.
	 */
	if (churned == 0.0 || renewals == 0.0)
	{
		ereport(NOTICE,
				(errmsg("sbg_fit has no maximum-likelihood estimate: %s",
						churned == 0.0 ? "no customer churned" : "no customer ever renewed"),
				 errdetail("The likelihood grows without bound towards the edge of the parameter space.")));
		PG_RETURN_NULL();
	}
	PG_RETURN_POINTER(BtydFit(BTYD_SBG, SbgObjective, &data, theta, total));
}

static int32
CheckPeriod(int32 t, int32 min)
{
	if (t < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period must be at least %d, not %d", min, t)));
	return t;
}

/*
 * S(t) = B(alpha, beta+t) / B(alpha, beta) = prod_{i<t} (beta+i)/(alpha+beta+i):
 * as that product's logs while t is small, since the two log-Betas of a
 * large beta are large and their difference keeps few digits (S(1) came
 * out at 1.00000024 for beta = 1e8); never above 1
 */
static double
SbgSurvival(const BtydModel *m, double t)
{
	double		alpha = m->params[0];
	double		beta = m->params[1];
	double		log_s = 0.0;

	if (t > 10000)
		return Min(1.0, exp(LogBeta(alpha, beta + t) - LogBeta(alpha, beta)));
	for (int i = 0; i < t; i++)
		log_s -= log1p(alpha / (beta + i));
	return exp(log_s);
}

/* Returns S(t), the share of a cohort still active after t periods. */
PG_FUNCTION_INFO_V1(sbg_survival);
Datum
sbg_survival(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_SBG);
	int32		t = CheckPeriod(PG_GETARG_INT32(1), 0);

	PG_RETURN_FLOAT8(BtydFiniteResult(SbgSurvival(model, t), "survival"));
}

/* Returns r_t = S(t)/S(t-1), the retention rate of period t. */
PG_FUNCTION_INFO_V1(sbg_retention_rate);
Datum
sbg_retention_rate(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_SBG);
	int32		t = CheckPeriod(PG_GETARG_INT32(1), 1);
	double		alpha = model->params[0];
	double		beta = model->params[1];

	/* t - 1 first: a tiny beta must not be absorbed by it */
	PG_RETURN_FLOAT8(BtydFiniteResult((beta + (t - 1.0)) / (alpha + beta + (t - 1.0)), "retention rate"));
}

/* a 22003 error: the residual lifetime at this rate needs too many terms */
static void
DiscountTooSmall(double d)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("discount rate %g is too small for this model", d),
			 errdetail("The residual lifetime does not converge within %ld series terms.", DERL_MAX_TERMS),
			 errhint("Use a larger discount rate.")));
}

/*
 * Returns DERL(d | n-1 renewals) = sum_{t>=n} S(t)/S(n-1) / (1+d)^(t-n), the
 * discounted expected residual lifetime, in periods, of a customer who has
 * renewed n-1 times and is about to decide on the next renewal (Fader &
 * Hardie 2010, eq. 6): (beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n;
 * alpha+beta+n; 1/(1+d)).  The series' terms shrink by at most 1/(1+d) each.
 */
PG_FUNCTION_INFO_V1(sbg_residual_lifetime);
Datum
sbg_residual_lifetime(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_SBG);
	double		d = PG_GETARG_FLOAT8(1);
	int32		renewals = PG_GETARG_INT32(2);
	double		alpha = model->params[0];
	double		beta = model->params[1];
	double		n;
	double		z;
	double		term = 1.0;
	double		sum = 0.0;

	if (!(d > 0.0) || !isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("discount rate must be positive and finite, not %g", d),
				 errhint("Without discounting the residual lifetime is infinite when alpha <= 1.")));
	n = (double) CheckNotNegative(renewals, "renewals") + 1.0;
	z = 1.0 / (1.0 + d);

	/*
	 * The terms fall like k^-alpha z^k: where the power alone does not make
	 * them negligible, z^k must, which takes about 40 / log1p(d) terms.
	 * Refuse such a rate at once rather than after DERL_MAX_TERMS of them.
	 */
	if (alpha <= 1.0 && log1p(d) * DERL_MAX_TERMS < 40.0)
		DiscountTooSmall(d);
	/* 2F1(1, b; c; z) = sum_k (b)_k / (c)_k z^k */
	for (long k = 0;; k++)
	{
		sum += term;
		term *= (beta + n + k) / (alpha + beta + n + k) * z;
		if (term <= 1e-17 * sum)
			break;
		if (k % 100000 == 0)
			CHECK_FOR_INTERRUPTS();
		if (k == DERL_MAX_TERMS)
			DiscountTooSmall(d);
	}
	PG_RETURN_FLOAT8(BtydFiniteResult((beta + n - 1.0) / (alpha + beta + n - 1.0) * sum,
									  "residual lifetime"));
}
