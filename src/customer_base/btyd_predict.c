/*-------------------------------------------------------------------------
 *
 * btyd_predict.c
 *	  The SQL functions of the predictions that BG/NBD, MBG/NBD and
 *	  Pareto/NBD share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "btyd_model.h"
#include "btyd_predict.h"
#include "customer_args.h"

/* the summary (x, t_x, T) in arguments argno .. argno + 2, checked */
static void
SummaryArguments(FunctionCallInfo fcinfo, int argno, double *x, double *t_x, double *t)
{
	*x = PG_GETARG_FLOAT8(argno);
	*t_x = PG_GETARG_FLOAT8(argno + 1);
	*t = PG_GETARG_FLOAT8(argno + 2);
	CheckCustomerSummary(*x, *t_x, *t);
}

Datum
BtydPAliveCall(FunctionCallInfo fcinfo, BtydKind kind, BtydPAlive p_alive)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, kind);
	double		x,
				t_x,
				t;

	SummaryArguments(fcinfo, 1, &x, &t_x, &t);
	PG_RETURN_FLOAT8(BtydFiniteResult(p_alive(model, x, t_x, t), "P(alive)"));
}

Datum
BtydExpectedCall(FunctionCallInfo fcinfo, BtydKind kind, BtydExpected expected)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, kind);
	double		horizon = CheckHorizon(PG_GETARG_FLOAT8(1));
	double		x,
				t_x,
				t;

	SummaryArguments(fcinfo, 2, &x, &t_x, &t);
	PG_RETURN_FLOAT8(BtydFiniteResult(expected(model, horizon, x, t_x, t),
									  "expected purchases"));
}

Datum
BtydExpectedNewCall(FunctionCallInfo fcinfo, BtydKind kind, BtydExpected expected)
{
	BtydModel  *model = PG_GETARG_BTYD_MODEL(0, kind);
	double		horizon = CheckHorizon(PG_GETARG_FLOAT8(1));

	PG_RETURN_FLOAT8(BtydFiniteResult(expected(model, horizon, 0.0, 0.0, 0.0),
									  "expected purchases"));
}
