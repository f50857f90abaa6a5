/*-------------------------------------------------------------------------
 *
 * btyd_predict.h
 *	  The SQL functions of the predictions that BG/NBD, MBG/NBD and
 *	  Pareto/NBD share: P(alive) and expected purchases of a customer
 *	  (x, t_x, T), and of a new customer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BTYD_PREDICT_H
#define RETENTION_BTYD_PREDICT_H

#include "fmgr.h"

#include "btyd_model.h"

/* P(alive) of a customer with summary (x, t_x, T) */
typedef double (*BtydPAlive) (const BtydModel *model, double x, double t_x, double t);

/* The expected purchases in (T, T + horizon] of a customer (x, t_x, T) */
typedef double (*BtydExpected) (const BtydModel *model, double horizon,
								double x, double t_x, double t);

/*
 * The SQL functions over a model of the kind, the summary checked, the
 * result finite (22003 otherwise):
 *	 P(alive):			 (model, x, t_x, T)
 *	 expected purchases: (model, horizon, x, t_x, T)
 *	 of a new customer:	 (model, horizon), with x = t_x = T = 0
 */
extern Datum BtydPAliveCall(FunctionCallInfo fcinfo, BtydKind kind, BtydPAlive p_alive);
extern Datum BtydExpectedCall(FunctionCallInfo fcinfo, BtydKind kind, BtydExpected expected);
extern Datum BtydExpectedNewCall(FunctionCallInfo fcinfo, BtydKind kind, BtydExpected expected);

/* prefix_p_alive, prefix_expected_purchases and prefix_expected_purchases_new */
#define BTYD_PREDICTION_FUNCTIONS(prefix, kind, p_alive, expected, expected_new) \
BTYD_SQL_FUNCTION(prefix##_p_alive, BtydPAliveCall, kind, p_alive); \
BTYD_SQL_FUNCTION(prefix##_expected_purchases, BtydExpectedCall, kind, expected); \
BTYD_SQL_FUNCTION(prefix##_expected_purchases_new, BtydExpectedNewCall, kind, expected_new)

#endif							/* RETENTION_BTYD_PREDICT_H */
