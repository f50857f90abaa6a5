/*-------------------------------------------------------------------------
 *
 * bgbb.c
 *	  The BG/BB model of Fader, Hardie & Shang (2010), "Customer-Base
 *	  Analysis in a Discrete-Time Noncontractual Setting", Marketing Science
 *	  29(6): customers who can transact once per discrete opportunity
 *	  (a yearly gala, a weekly issue).  Maximum-likelihood fit, P(alive) and
 *	  expected transactions in the next opportunities.
 *
 * While alive a customer transacts at each opportunity with probability
 * p ~ Beta(alpha, beta), and dies before each opportunity with probability
 * theta ~ Beta(gamma, delta).  A customer with x transactions, the last at
 * opportunity t_x, out of n (FHS 2010 eq. 5):
 *	 L = B(alpha+x, beta+n-x)/B(alpha,beta) B(gamma, delta+n)/B(gamma,delta)
 *	   + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha,beta)
 *							 B(gamma+1, delta+t_x+i)/B(gamma,delta)
 * evaluated as a log-sum-exp of its n - t_x + 1 terms; the gradient is the
 * softmax-weighted sum of the terms' digamma gradients.  Customers sharing
 * (x, t_x, n) form one group, so the fit costs one evaluation per pattern
 * (at most (n+1)(n+2)/2 patterns per n), whatever the number of customers.
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

#define BGBB_NPARAMS 4

/* opportunities a customer may have: bounds the terms of one likelihood */
#define BGBB_MAX_OPPORTUNITIES 1000000

typedef struct BgbbData
{
	int			npoints;
	const double *rows;			/* (x, t_x, n, count) per group */
	double		total;
} BgbbData;

/*
 * Log of one customer's likelihood without the constant -log B(alpha, beta)
 * - log B(gamma, delta), with its gradient in (alpha, beta, gamma, delta)
 * likewise without the constants' part.
 */
static double
BgbbPatternLogLikelihood(const double *p, double x, double t_x, double n, double *grad)
{
	double		alpha = p[0];
	double		beta = p[1];
	double		gamma = p[2];
	double		delta = p[3];
	int			nterms = (int) (n - t_x);
	double		max;
	double		sum = 0.0;
	double		lse;
	double		psi_ax = Digamma(alpha + x);
	double		psi_g = Digamma(gamma);
	double		psi_g1 = Digamma(gamma + 1.0);

	/* the term of a customer alive through n first, then those who died after t_x + i */
	max = LogBeta(alpha + x, beta + n - x) + LogBeta(gamma, delta + n);
	for (int i = 0; i < nterms; i++)
	{
		double		l = LogBeta(alpha + x, beta + t_x - x + i) + LogBeta(gamma + 1.0, delta + t_x + i);

		if (l > max)
			max = l;
	}

	for (int k = 0; k < 4; k++)
		grad[k] = 0.0;
	for (int i = -1; i < nterms; i++)
	{
		double		m = (i < 0) ? n - x : t_x - x + i;	/* beta's increment */
		double		l;
		double		w;
		double		psi_abm = Digamma(alpha + beta + x + m);

		if (i < 0)
		{
			double		psi_gdn = Digamma(gamma + delta + n);

			l = LogBeta(alpha + x, beta + m) + LogBeta(gamma, delta + n);
			w = exp(l - max);
			grad[2] += w * (psi_g - psi_gdn);
			grad[3] += w * (Digamma(delta + n) - psi_gdn);
		}
		else
		{
			double		psi_gd = Digamma(gamma + delta + t_x + i + 1.0);

			l = LogBeta(alpha + x, beta + m) + LogBeta(gamma + 1.0, delta + t_x + i);
			w = exp(l - max);
			grad[2] += w * (psi_g1 - psi_gd);
			grad[3] += w * (Digamma(delta + t_x + i) - psi_gd);
		}
		grad[0] += w * (psi_ax - psi_abm);
		grad[1] += w * (Digamma(beta + m) - psi_abm);
		sum += w;
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	for (int k = 0; k < 4; k++)
		grad[k] /= sum;
	lse = max + log(sum);
	return lse;
}

/* Negative mean log-likelihood and its gradient in log-parameters. */
static double
BgbbObjective(const double *theta, double *gradient, void *arg)
{
	const BgbbData *d = arg;
	double		p[BGBB_NPARAMS];
	double		g[BGBB_NPARAMS] = {0.0, 0.0, 0.0, 0.0};
	double		ll;
	double		c_ab;
	double		c_gd;

	for (int k = 0; k < BGBB_NPARAMS; k++)
		p[k] = exp(theta[k]);
	c_ab = Digamma(p[0] + p[1]);
	c_gd = Digamma(p[2] + p[3]);
	ll = -d->total * (LogBeta(p[0], p[1]) + LogBeta(p[2], p[3]));
	/* d/d of -log B(a, b): psi(a+b) - psi(a), psi(a+b) - psi(b) */
	g[0] = d->total * (c_ab - Digamma(p[0]));
	g[1] = d->total * (c_ab - Digamma(p[1]));
	g[2] = d->total * (c_gd - Digamma(p[2]));
	g[3] = d->total * (c_gd - Digamma(p[3]));

	CHECK_FOR_INTERRUPTS();
	for (int i = 0; i < d->npoints; i++)
	{
		const double *row = d->rows + 4 * i;
		double		gi[BGBB_NPARAMS];

		ll += row[3] * BgbbPatternLogLikelihood(p, row[0], row[1], row[2], gi);
		for (int k = 0; k < BGBB_NPARAMS; k++)
			g[k] += row[3] * gi[k];
	}
	return BtydObjectiveValue(ll, g, theta, BGBB_NPARAMS, d->total, gradient);
}

/* Class-22 error unless (x, t_x, n) is a pattern a customer can have */
static void
CheckPattern(int64 x, int64 t_x, int64 n)
{
	if (n < 0 || n > BGBB_MAX_OPPORTUNITIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("opportunities must be between 0 and %d, not " INT64_FORMAT,
						BGBB_MAX_OPPORTUNITIES, n)));
	if (x < 0 || x > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be between 0 and the opportunities " INT64_FORMAT ", not " INT64_FORMAT,
						n, x)));
	if (x == 0 ? t_x != 0 : (t_x < x || t_x > n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency " INT64_FORMAT " is impossible with frequency " INT64_FORMAT " out of " INT64_FORMAT " opportunities",
						t_x, x, n),
				 errdetail("Recency is the last opportunity with a transaction: 0 without any, otherwise between the frequency and the opportunities.")));
}

/* the key (x, t_x, n) of a row of bgbb_fit */
static bool
PatternRowKey(FunctionCallInfo fcinfo, double *key)
{
	CheckPattern(PG_GETARG_INT32(1), PG_GETARG_INT32(2), PG_GETARG_INT32(3));
	key[0] = PG_GETARG_INT32(1);
	key[1] = PG_GETARG_INT32(2);
	key[2] = PG_GETARG_INT32(3);
	return true;
}

/* Transition of bgbb_fit: counts one customer, or "customers" of them. */
BTYD_SQL_FUNCTION(bgbb_fit_transfn, CustomerGroupsTransition,
				  "bgbb_fit_transfn", 3, PatternRowKey);

/* a group (x, t_x, n, count) of a deserialised state, or an error */
static void
CheckStateRow(const double *row)
{
	for (int k = 0; k < 3; k++)
	{
		if (!(row[k] >= 0.0 && row[k] <= BGBB_MAX_OPPORTUNITIES && row[k] == floor(row[k])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid bgbb_fit state")));
	}
	if (!(row[3] > 0.0 && isfinite(row[3])))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid bgbb_fit state")));
	CheckPattern((int64) row[0], (int64) row[1], (int64) row[2]);
}

/* Deserialise of bgbb_fit: groups of (x, t_x, n), each checked. */
PG_FUNCTION_INFO_V1(bgbb_fit_deserialize);
Datum
bgbb_fit_deserialize(PG_FUNCTION_ARGS)
{
	return CustomerGroupsDeserializeChecked(fcinfo, "bgbb_fit_deserialize", 3, CheckStateRow);
}

/* Final of bgbb_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(bgbb_fit_finalfn);
Datum
bgbb_fit_finalfn(PG_FUNCTION_ARGS)
{
	double		theta[BGBB_NPARAMS] = {0.0, 0.0, 0.0, 0.0};
	double	   *rows;
	BgbbData	data;

	data.npoints = BtydFitRows(fcinfo, BTYD_BGBB, "customers", &rows, &data.total);
	if (data.npoints < 0)
		PG_RETURN_NULL();
	data.rows = rows;
	PG_RETURN_POINTER(BtydFit(BTYD_BGBB, BgbbObjective, &data, theta, data.total));
}

/* log L of a customer, constants included */
static double
BgbbLogLikelihood(const BtydModel *m, double x, double t_x, double n)
{
	double		grad[BGBB_NPARAMS];

	return BgbbPatternLogLikelihood(m->params, x, t_x, n, grad)
		- LogBeta(m->params[0], m->params[1]) - LogBeta(m->params[2], m->params[3]);
}

static void
GetPattern(FunctionCallInfo fcinfo, int argno, double *x, double *t_x, double *n)
{
	int32		xi = PG_GETARG_INT32(argno);
	int32		ti = PG_GETARG_INT32(argno + 1);
	int32		ni = PG_GETARG_INT32(argno + 2);

	CheckPattern(xi, ti, ni);
	*x = xi;
	*t_x = ti;
	*n = ni;
}

/*
 * log P(alive at opportunity n+1 | x, t_x, n) (FHS 2010 eq. 11):
 * B(alpha+x, beta+n-x)/B(alpha,beta) B(gamma, delta+n+1)/B(gamma,delta) / L
 */
static double
BgbbLogPAlive(const BtydModel *m, double x, double t_x, double n, double log_l)
{
	const double *p = m->params;

	return LogBeta(p[0] + x, p[1] + n - x) - LogBeta(p[0], p[1])
		+ LogBeta(p[2], p[3] + n + 1.0) - LogBeta(p[2], p[3]) - log_l;
}

/* Returns P(alive at the next opportunity) of a customer with pattern (x, t_x, n). */
PG_FUNCTION_INFO_V1(bgbb_p_alive);
Datum
bgbb_p_alive(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_BGBB);
	double		x,
				t_x,
				n;

	GetPattern(fcinfo, 1, &x, &t_x, &n);
	/* a probability, whatever the rounding of a difference of large logs */
	PG_RETURN_FLOAT8(BtydFiniteResult(exp(Min(0.0, BgbbLogPAlive(model, x, t_x, n,
																BgbbLogLikelihood(model, x, t_x, n)))),
									  "P(alive)"));
}

/*
 * Returns the expected transactions in opportunities n+1 .. n+n* of a
 * customer with pattern (x, t_x, n) (FHS 2010 eq. 13):
 *	 1/L B(alpha+x+1, beta+n-x)/B(alpha,beta) delta/(gamma-1)
 *	   G(gamma+delta)/G(1+delta)
 *	   [G(1+delta+n)/G(gamma+delta+n) - G(1+delta+n+n*)/G(gamma+delta+n+n*)]
 * The bracket over gamma - 1 is continuous through gamma = 1; it is computed
 * as e^A (-expm1(D)) / (gamma - 1) with D = B - A, and D/(gamma-1) from its
 * derivative when gamma is within 1e-6 of 1.  With x = t_x = n = 0 it is
 * E[X(n*)] of a new customer (eq. 8).
 */
PG_FUNCTION_INFO_V1(bgbb_expected_transactions);
Datum
bgbb_expected_transactions(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_BGBB);
	int32		horizon = PG_GETARG_INT32(1);
	double		x,
				t_x,
				n;
	const double *p = model->params;
	double		alpha = p[0],
				beta = p[1],
				gamma = p[2],
				delta = p[3];
	double		log_l;
	double		a;
	double		dg;
	double		d_over;
	double		log_front;

	if (horizon < 0 || horizon > BGBB_MAX_OPPORTUNITIES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be between 0 and %d opportunities, not %d",
						BGBB_MAX_OPPORTUNITIES, horizon)));
	GetPattern(fcinfo, 2, &x, &t_x, &n);
	if (horizon == 0)
		PG_RETURN_FLOAT8(0.0);

	log_l = BgbbLogLikelihood(model, x, t_x, n);
	a = lgamma(1.0 + delta + n) - lgamma(gamma + delta + n);
	dg = gamma - 1.0;
	if (fabs(dg) > 1e-6)
		d_over = ((lgamma(1.0 + delta + n + horizon) - lgamma(gamma + delta + n + horizon)) - a) / dg;
	else
	{
		double		mid = 0.5 * (1.0 + gamma);

		d_over = -(Digamma(mid + delta + n + horizon) - Digamma(mid + delta + n));
	}
	log_front = LogBeta(alpha + x + 1.0, beta + n - x) - LogBeta(alpha, beta) - log_l
		+ log(delta) + lgamma(gamma + delta) - lgamma(1.0 + delta) + a;
	PG_RETURN_FLOAT8(BtydFiniteResult(exp(log_front) * -d_over * Expm1Ratio(d_over * dg),
									  "expected transactions"));
}
