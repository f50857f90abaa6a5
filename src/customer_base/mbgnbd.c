/*-------------------------------------------------------------------------
 *
 * mbgnbd.c
 *	  The MBG/NBD customer-base model of Batislam, Denizel & Filiztekin
 *	  (2007), "Empirical validation and comparison of models for customer
 *	  base analysis", IJRM 24(3): maximum-likelihood fit, P(alive) and
 *	  expected purchases.
 *
 * BG/NBD with one change: a customer may drop out right after any purchase,
 * the first one included, so one-time buyers are not all alive (BG/NBD
 * gives them P(alive) = 1 whatever its parameters).  Per customer (x, t_x, T)
 *	 L = G(r+x) alpha^r / G(r) B(a, b+x+1) / B(a, b)
 *		 [ (alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x) ]
 * which is BG/NBD's likelihood with b + 1 for b in the beta functions and the
 * second term for x = 0 as well; bgnbd.c evaluates both (BgnbdFitGroups).
 *
 * The predictions follow from mixing BG/NBD's over p ~ Beta(a, b) weighted
 * by (1 - p): B(a, b+1)/B(a, b) Beta(a, b+1), so the expectation is BG/NBD's
 * with b + 1 for b times P(alive):
 *	 P(alive) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))
 *	 E[Y(h) | x, t_x, T] = (a+b+x)/(a-1)
 *		 [1 - ((alpha+T)/(alpha+T+h))^(r+x) 2F1(r+x, b+x+1; a+b+x; h/(alpha+T+h))]
 *		 P(alive)
 * and for a new customer (x = t_x = T = 0) E[X(h)] = b/(a-1) [1 - ...], as
 * in Batislam et al. (2007), eq. 9.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "bgnbd.h"
#include "btyd_model.h"
#include "customer_groups.h"
#include "special_functions.h"

/* Final of mbgnbd_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(mbgnbd_fit_finalfn);
Datum
mbgnbd_fit_finalfn(PG_FUNCTION_ARGS)
{
	CustomerGroups *groups = PG_ARGISNULL(0) ? NULL : (CustomerGroups *) PG_GETARG_POINTER(0);
	BtydModel  *model = BgnbdFitGroups(groups, BTYD_MBGNBD, 1.0);

	if (model == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(model);
}

static double
MbgnbdPAlive(const BtydModel *m, double x, double t_x, double t)
{
	double		r = m->params[0];
	double		alpha = m->params[1];
	double		a = m->params[2];
	double		b = m->params[3];
	double		log_dead_odds = log(a) - log(b + x) + (r + x) * log1p((t - t_x) / (alpha + t_x));

	return exp(-Log1pExp(log_dead_odds));
}

static double
MbgnbdExpected(const BtydModel *m, double horizon, double x, double t_x, double t)
{
	return BgnbdExpectedIfAlive(m->params[0], m->params[1], m->params[2], m->params[3] + 1.0,
								horizon, x, t) * MbgnbdPAlive(m, x, t_x, t);
}

/* Input of mbgnbd_model: its JSON text form. */
PG_FUNCTION_INFO_V1(mbgnbd_model_in);
Datum
mbgnbd_model_in(PG_FUNCTION_ARGS)
{
	return BtydModelIn(fcinfo, BTYD_MBGNBD);
}

/* Output of mbgnbd_model: its JSON text form. */
PG_FUNCTION_INFO_V1(mbgnbd_model_out);
Datum
mbgnbd_model_out(PG_FUNCTION_ARGS)
{
	return BtydModelOut(fcinfo, BTYD_MBGNBD);
}

/* Binary input of mbgnbd_model. */
PG_FUNCTION_INFO_V1(mbgnbd_model_recv);
Datum
mbgnbd_model_recv(PG_FUNCTION_ARGS)
{
	return BtydModelRecv(fcinfo, BTYD_MBGNBD);
}

/* Binary output of mbgnbd_model. */
PG_FUNCTION_INFO_V1(mbgnbd_model_send);
Datum
mbgnbd_model_send(PG_FUNCTION_ARGS)
{
	return BtydModelSend(fcinfo, BTYD_MBGNBD);
}

/* Returns P(alive) of a customer with summary (x, t_x, T) under an MBG/NBD model. */
PG_FUNCTION_INFO_V1(mbgnbd_p_alive);
Datum
mbgnbd_p_alive(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_MBGNBD);
	double		x = PG_GETARG_FLOAT8(1);
	double		t_x = PG_GETARG_FLOAT8(2);
	double		t = PG_GETARG_FLOAT8(3);

	CheckCustomerSummary(x, t_x, t);
	if (x == 0.0)
		t_x = 0.0;
	PG_RETURN_FLOAT8(BtydFiniteResult(MbgnbdPAlive(model, x, t_x, t), "P(alive)"));
}

/* Returns the expected purchases in the next horizon time units of a customer. */
PG_FUNCTION_INFO_V1(mbgnbd_expected_purchases);
Datum
mbgnbd_expected_purchases(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_MBGNBD);
	double		horizon = CheckHorizon(PG_GETARG_FLOAT8(1));
	double		x = PG_GETARG_FLOAT8(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		t = PG_GETARG_FLOAT8(4);

	CheckCustomerSummary(x, t_x, t);
	if (x == 0.0)
		t_x = 0.0;
	PG_RETURN_FLOAT8(BtydFiniteResult(MbgnbdExpected(model, horizon, x, t_x, t),
									  "expected purchases"));
}

/* Returns E[X(horizon)], the expected repeat purchases of a new customer. */
PG_FUNCTION_INFO_V1(mbgnbd_expected_purchases_new);
Datum
mbgnbd_expected_purchases_new(PG_FUNCTION_ARGS)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, BTYD_MBGNBD);
	double		horizon = CheckHorizon(PG_GETARG_FLOAT8(1));

	PG_RETURN_FLOAT8(BtydFiniteResult(MbgnbdExpected(model, horizon, 0.0, 0.0, 0.0),
									  "expected purchases"));
}
