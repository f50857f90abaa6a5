/*-------------------------------------------------------------------------
 *
 * bgnbd.h
 *	  BG/NBD predictions for the other customer-base functions
 *	  (customer_value.c), and the fit and the series that MBG/NBD shares.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BGNBD_H
#define RETENTION_BGNBD_H

#include "fmgr.h"

#include "btyd_model.h"

/* Validates the summary and raises class-22 errors for bad input. */
extern double BgnbdExpectedPurchases(const BtydModel *model, double horizon,
									 double x, double t_x, double t);

/*
 * The final function of the fit shared with MBG/NBD (shift 1): the model of
 * the state argument, NULL for too few customers.
 */
extern Datum BgnbdFitFinal(FunctionCallInfo fcinfo, BtydKind kind, double shift);

/*
 * P(alive) = 1 / (1 + a/b_x ((alpha+T)/(alpha+t_x))^(r+x)) of a customer
 * (x, t_x, T), with b_x = b + x - 1 for BG/NBD (x > 0), b + x for MBG/NBD
 */
extern double BgnbdPAliveOdds(const BtydModel *m, double b_x, double x, double t_x, double t);

/* Expected purchases in (T, T + horizon] of a customer alive at T (bgnbd.c) */
extern double BgnbdExpectedIfAlive(double r, double alpha, double a, double b,
								   double horizon, double x, double t);

/*
 * An estimate of the series terms BgnbdExpectedIfAlive takes for a horizon
 * where they fall slowest, 0 where they fall fast anyway (for budgets of
 * callers that sum many horizons)
 */
extern double BgnbdSeriesTerms(double r, double alpha, double a,
							   double horizon, double x, double t);

#endif							/* RETENTION_BGNBD_H */
