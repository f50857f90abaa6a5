/*-------------------------------------------------------------------------
 *
 * bgnbd.c
 *	  The BG/NBD customer-base model of Fader, Hardie & Lee (2005),
 *	  "Counting Your Customers the Easy Way": maximum-likelihood fit,
 *	  P(alive) and expected purchases.
 *
 * A customer buys at Poisson rate lambda ~ Gamma(r, alpha) while alive and
 * drops out after each repeat purchase with probability p ~ Beta(a, b).
 * The data of a customer is (x, t_x, T): repeat purchases, time of the last
 * one and age, all measured from the first purchase.
 *
 * Likelihood (FHL 2005, eq. 6), in log space:
 *	 log L = log G(r+x) - log G(r) + r log alpha
 *		   + log B(a, b+x) - log B(a, b)
 *		   + log( (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) )
 * with the last term a log-sum-exp.  The gamma-function terms depend on x
 * alone and are evaluated once per distinct x; the gradient is analytic.
 *
 * The conditional expectation (FHL 2005, eq. 10) contains
 * 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)), whose series converges slowly and
 * whose product with ((alpha+T)/(alpha+T+t))^(r+x) cancels badly for large
 * x.  Euler's transformation turns it into
 *	 ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...) = (1+s)^(1-a) 2F1(a+b-1-r, a-1; a+b+x-1; z)
 * with s = t/(alpha+T) and z = s/(1+s): the third parameter grows with x, so
 * heavy buyers need fewer terms, not more, and the factor a-1 of the series
 * cancels the 1/(a-1) in front, so a = 1 is no singularity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "bgnbd.h"
#include "btyd_model.h"
#include "btyd_predict.h"
#include "customer_args.h"
#include "customer_groups.h"
#include "optimize.h"
#include "special_functions.h"

#define BGNBD_NPARAMS 4

/*
 * The hypergeometric series.  Its length is predictable (BgnbdSeriesTerms):
 * a horizon whose series would need more than SERIES_FAST_TERMS terms (about
 * 0.2 s) is refused at once; SERIES_MAX_TERMS (2 s) is the backstop, and the
 * room that extreme a needs (a = 5e7 takes 5e7 terms).
 */
#define SERIES_FAST_TERMS 1e7
#define SERIES_MAX_TERMS 100000000L
#define SERIES_RESCALE 1e200

/* Customers grouped by x, for the likelihood */
typedef struct BgnbdData
{
	int			npoints;
	const double *x;
	const double *t_x;
	const double *t;
	const double *count;
	int			nx;				/* distinct values of x */
	double	   *x_value;
	double	   *x_count;		/* customers with that x */
	double		total;			/* customers */
	double		shift;			/* 0 for BG/NBD, 1 for MBG/NBD (see mbgnbd.c) */
} BgnbdData;

/*
 * Negative mean log-likelihood and its gradient in log-parameters.  With
 * shift = 1 it is the MBG/NBD likelihood (Batislam, Denizel & Filiztekin
 * 2007), where a customer may also drop out right after the first purchase:
 * b + x becomes b + x + 1 in the beta functions and the dead-customer term
 * a/(b+x) applies to x = 0 as well.
 */
static double
BgnbdObjective(const double *theta, double *gradient, void *arg)
{
	const BgnbdData *d = arg;
	double		r = exp(theta[0]);
	double		alpha = exp(theta[1]);
	double		a = exp(theta[2]);
	double		b = exp(theta[3]);
	double		ll = 0.0;
	double		g[BGNBD_NPARAMS] = {0.0, 0.0, 0.0, 0.0};
	double		log_alpha = log(alpha);
	double		lgamma_r = lgamma(r);
	double		lgamma_ab_b = lgamma(a + b) - lgamma(b);
	double		psi_r = Digamma(r);
	double		psi_ab = Digamma(a + b);
	double		psi_b = Digamma(b);
	double		log_a = log(a);
	double		shift = d->shift;

	CHECK_FOR_INTERRUPTS();

	/* terms that depend on x only */
	for (int k = 0; k < d->nx; k++)
	{
		double		x = d->x_value[k] + shift;
		double		w = d->x_count[k];

		ll += w * (lgamma(r + x - shift) - lgamma_r + r * log_alpha
				   + lgamma_ab_b + lgamma(b + x) - lgamma(a + b + x));
		g[0] += w * (Digamma(r + x - shift) - psi_r + log_alpha);
		g[1] += w * r / alpha;
		g[2] += w * (psi_ab - Digamma(a + b + x));
		g[3] += w * (psi_ab + Digamma(b + x) - psi_b - Digamma(a + b + x));
	}

	/* the log-sum-exp term of each group */
	for (int i = 0; i < d->npoints; i++)
	{
		double		x = d->x[i];
		double		w = d->count[i];
		double		log_at = log(alpha + d->t[i]);
		double		l3 = -(r + x) * log_at;

		if (x > 0.0 || shift > 0.0)
		{
			double		log_atx = log(alpha + d->t_x[i]);
			double		l4 = log_a - log(b + x - 1.0 + shift) - (r + x) * log_atx;
			double		lse = LogAddExp(l3, l4);
			double		p3 = exp(l3 - lse);
			double		p4 = exp(l4 - lse);

			ll += w * lse;
			g[0] -= w * (p3 * log_at + p4 * log_atx);
			g[1] -= w * (r + x) * (p3 / (alpha + d->t[i]) + p4 / (alpha + d->t_x[i]));
			g[2] += w * p4 / a;
			g[3] -= w * p4 / (b + x - 1.0 + shift);
		}
		else
		{
			ll += w * l3;
			g[0] -= w * log_at;
			g[1] -= w * (r + x) / (alpha + d->t[i]);
		}
	}

	return BtydObjectiveValue(ll, g, theta, BGNBD_NPARAMS, d->total, gradient);
}

/* the key (x, t_x, T) of a row of bgnbd_fit, mbgnbd_fit or pareto_nbd_fit */
static bool
SummaryRowKey(FunctionCallInfo fcinfo, double *key)
{
	key[0] = PG_GETARG_FLOAT8(1);
	key[1] = PG_GETARG_FLOAT8(2);
	key[2] = PG_GETARG_FLOAT8(3);
	CheckCustomerSummary(key[0], key[1], key[2]);
	if (key[0] == 0.0)
		key[1] = 0.0;			/* t_x means nothing without repeat purchases */
	return true;
}

/* Transition of bgnbd_fit: counts one customer, or "customers" of them. */
BTYD_SQL_FUNCTION(bgnbd_fit_transfn, CustomerGroupsTransition,
				  "bgnbd_fit_transfn", 3, SummaryRowKey);

/* Combine of the model fits: adds the counts of the other state's groups. */
PG_FUNCTION_INFO_V1(customer_groups_combine);
Datum
customer_groups_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = AggregateContext(fcinfo, "customer_groups_combine");
	CustomerGroups *a = PG_ARGISNULL(0) ? NULL : (CustomerGroups *) PG_GETARG_POINTER(0);
	CustomerGroups *b = PG_ARGISNULL(1) ? NULL : (CustomerGroups *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* copy, never alias: b belongs to another state */
		PG_RETURN_POINTER(CustomerGroupsCopy(context, b));
	}
	CustomerGroupsMerge(a, b);
	PG_RETURN_POINTER(a);
}

/* Serialise of the model fits: the groups as bytea. */
PG_FUNCTION_INFO_V1(customer_groups_serialize);
Datum
customer_groups_serialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(CustomerGroupsSerialize((CustomerGroups *) PG_GETARG_POINTER(0)));
}

/* Deserialise of bgnbd_fit: groups of (x, t_x, T). */
PG_FUNCTION_INFO_V1(bgnbd_fit_deserialize);
Datum
bgnbd_fit_deserialize(PG_FUNCTION_ARGS)
{
	return CustomerGroupsDeserializeChecked(fcinfo, "bgnbd_fit_deserialize", 3, NULL);
}

/*
 * The maximum-likelihood BG/NBD (shift 0) or MBG/NBD (shift 1) model of the
 * groups, or NULL with a notice for fewer customers than parameters.
 */
Datum
BgnbdFitFinal(FunctionCallInfo fcinfo, BtydKind kind, double shift)
{
	double	   *rows;
	double		total;
	int			npoints = BtydFitRows(fcinfo, kind, "customers", &rows, &total);
	BgnbdData	data;
	double	   *x;
	double	   *t_x;
	double	   *t;
	double	   *count;
	double		theta[BGNBD_NPARAMS] = {0.0, 0.0, 0.0, 0.0};

	if (npoints < 0)
		PG_RETURN_NULL();

	/* rows come sorted by x, so each x is one run */
	x = palloc(sizeof(double) * npoints);
	t_x = palloc(sizeof(double) * npoints);
	t = palloc(sizeof(double) * npoints);
	count = palloc(sizeof(double) * npoints);
	for (int i = 0; i < npoints; i++)
	{
		x[i] = rows[4 * i];
		t_x[i] = rows[4 * i + 1];
		t[i] = rows[4 * i + 2];
		count[i] = rows[4 * i + 3];
	}
	data.nx = CustomerRowsFirstKeyRuns(rows, npoints, 4, &data.x_value, &data.x_count);
	data.npoints = npoints;
	data.x = x;
	data.t_x = t_x;
	data.t = t;
	data.count = count;
	data.total = total;
	data.shift = shift;

	/* start from r = alpha = a = b = 1 */
	PG_RETURN_POINTER(BtydFit(kind, BgnbdObjective, &data, theta, total));
}

/* Final of bgnbd_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(bgnbd_fit_finalfn);
Datum
bgnbd_fit_finalfn(PG_FUNCTION_ARGS)
{
	return BgnbdFitFinal(fcinfo, BTYD_BGNBD, 0.0);
}

double
BgnbdPAliveOdds(const BtydModel *m, double b_x, double x, double t_x, double t)
{
	double		r = m->params[0];
	double		alpha = m->params[1];
	double		a = m->params[2];
	double		log_dead_odds = log(a) - log(b_x) + (r + x) * log1p((t - t_x) / (alpha + t_x));

	return exp(-Log1pExp(log_dead_odds));
}

static double
BgnbdPAlive(const BtydModel *m, double x, double t_x, double t)
{
	if (x == 0.0)
		return 1.0;
	return BgnbdPAliveOdds(m, m->params[3] + x - 1.0, x, t_x, t);
}

double
BgnbdSeriesTerms(double r, double alpha, double a, double horizon, double x, double t)
{
	double		s = horizon / (alpha + t);

	if (!(horizon > 0.0))
		return 0.0;

	/*
	 * For large a the terms grow like (a z)^k / k! until k is about (a-1) s
	 * (see BgnbdExpectedIfAlive).  After that they fall like
	 * k^(a-r-x-1) z^k; where the power alone does not make them negligible,
	 * z^k must, which takes about 40 / -log z terms, -log z = log1p(1/s).
	 */
	if (a - r - x < 0.0)
		return Max(a - 1.0, 0.0) * s;
	return Max(Max(a - 1.0, 0.0) * s, 40.0 / log1p(1.0 / s));
}

/* a 22003 error: the series for this horizon needs too many terms */
static void
HorizonTooLong(double horizon, double alpha_t)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("horizon %g is too long for this model and customer", horizon),
			 errdetail("The series of the expected purchases over a horizon %g times alpha + t would take too many terms.",
					   horizon / alpha_t)));
}

/*
 * c [1 - ((alpha+T)/(alpha+T+horizon))^(r+x) 2F1(r+x, b+x; c; z)] / (a-1)
 * with c = a+b+x-1 and z = horizon/(alpha+T+horizon): the expected purchases
 * in (T, T + horizon] of a customer known to be alive at T (FHL 2005 eq. 10
 * without its P(alive) factor), after Euler's transformation (see the top
 * of the file).  MBG/NBD's is the same with b + 1 for b.
 */
double
BgnbdExpectedIfAlive(double r, double alpha, double a, double b,
					 double horizon, double x, double t)
{
	double		s = horizon / (alpha + t);
	double		z = horizon / (alpha + t + horizon);
	double		log1ps = log1p(s);
	double		y = (1.0 - a) * log1ps;
	double		c = a + b + x - 1.0;
	double		a1 = a + b - 1.0 - r;
	double		term;
	double		sum = 0.0;
	long		rescales = 0;
	double		q;

	/*
	 * The result is c times a difference whose terms cancel: c grows with
	 * b, and past 1e10 so does the rounding error (1e-6 relative at 1e10,
	 * 2% at 1e14, negative beyond); such a fit has drifted towards no
	 * dropout and is not identified anyway
	 */
	if (b > 1e10)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("expected purchases cannot be computed accurately for b = %g", b),
				 errdetail("Above b = 1e10 the series cancels beyond double precision."),
				 errhint("Such a fit has drifted towards no dropout: check that it converged and is identified.")));

	if (horizon == 0.0)
		return 0.0;

	/*
	 * Refuse at once a horizon whose series would be long (1e308 gives
	 * z = 1, where a new customer's terms never become negligible), rather
	 * than after SERIES_MAX_TERMS of them; a large a may take up to those.
	 */
	if ((a - 1.0) * s > SERIES_MAX_TERMS ||
		(a - r - x >= 0.0 && 40.0 / log1p(1.0 / s) > SERIES_FAST_TERMS))
		HorizonTooLong(horizon, alpha + t);

	/*
	 * sum_{k>=1} (a1)_k (a)_{k-1} z^k / ((c)_k k!), kept as sum * SERIES_RESCALE^rescales:
	 * for large a the terms grow like (a z)^k / k! past the double range
	 * before they fall, while the factor e^y they are multiplied by is just
	 * as small.
	 */
	term = a1 * z / c;
	for (long k = 1;; k++)
	{
		double		next;

		sum += term;
		next = term * (a1 + k) * (a + k - 1.0) * z / ((c + k) * (k + 1.0));
		if (!isfinite(next))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("expected purchases are out of range for these model parameters"),
					 errdetail("A term of the hypergeometric series overflowed.")));
		if (next == 0.0 ||
			(fabs(next) <= 1e-17 * fabs(sum) && fabs(next) <= fabs(term)))
			break;
		term = next;
		if (fabs(term) > SERIES_RESCALE)
		{
			term /= SERIES_RESCALE;
			sum /= SERIES_RESCALE;
			rescales++;
		}
		if (k % 100000 == 0)
			CHECK_FOR_INTERRUPTS();
		if (k == SERIES_MAX_TERMS)
			HorizonTooLong(horizon, alpha + t);
	}

	/* [1 - (1+s)^(1-a) (1 + (a-1) sum)] / (a-1), without dividing by a-1 */
	/* one product, not a running sum, so the exponent carries no drift */
	q = log1ps * Expm1Ratio(y) - exp(y + rescales * log(SERIES_RESCALE)) * sum;
	return c * q;
}

/*
 * Expected purchases in (T, T + horizon] of a customer with summary
 * (x, t_x, T).  x = t_x = T = 0 gives E[X(horizon)] of a new customer (eq. 7).
 */
static double
BgnbdExpected(const BtydModel *m, double horizon, double x, double t_x, double t)
{
	return BgnbdExpectedIfAlive(m->params[0], m->params[1], m->params[2], m->params[3],
								horizon, x, t) * BgnbdPAlive(m, x, t_x, t);
}

/* the SQL functions of P(alive) and expected purchases under BG/NBD */
BTYD_PREDICTION_FUNCTIONS(bgnbd, BTYD_BGNBD, BgnbdPAlive, BgnbdExpected, BgnbdExpected);

/*
 * For customer_value (clv.c): expected purchases of a customer at several
 * horizons, sharing the validation.
 */
double
BgnbdExpectedPurchases(const BtydModel *model, double horizon, double x, double t_x, double t)
{
	CheckCustomerSummary(x, t_x, t);
	return BtydFiniteResult(BgnbdExpected(model, CheckHorizon(horizon), x, t_x, t),
							"expected purchases");
}
