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

#include "fmgr.h"

#include "bgnbd.h"
#include "btyd_model.h"
#include "btyd_predict.h"

/* Final of mbgnbd_fit: the maximum-likelihood model, NULL for too few customers. */
PG_FUNCTION_INFO_V1(mbgnbd_fit_finalfn);
Datum
mbgnbd_fit_finalfn(PG_FUNCTION_ARGS)
{
	return BgnbdFitFinal(fcinfo, BTYD_MBGNBD, 1.0);
}

static double
MbgnbdPAlive(const BtydModel *m, double x, double t_x, double t)
{
	/* t_x means nothing without repeat purchases (the fit takes it as 0) */
	if (x == 0.0)
		t_x = 0.0;
	return BgnbdPAliveOdds(m, m->params[3] + x, x, t_x, t);
}

static double
MbgnbdExpected(const BtydModel *m, double horizon, double x, double t_x, double t)
{
	return BgnbdExpectedIfAlive(m->params[0], m->params[1], m->params[2], m->params[3] + 1.0,
								horizon, x, t) * MbgnbdPAlive(m, x, t_x, t);
}

/* the SQL functions of P(alive) and expected purchases under MBG/NBD */
BTYD_PREDICTION_FUNCTIONS(mbgnbd, BTYD_MBGNBD, MbgnbdPAlive, MbgnbdExpected, MbgnbdExpected);
