/*-------------------------------------------------------------------------
 *
 * bgnbd.h
 *	  BG/NBD predictions for the other customer-base functions
 *	  (customer_value.c), and the check of (x, t_x, T) summaries that the
 *	  Pareto/NBD shares.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BGNBD_H
#define RETENTION_BGNBD_H

#include "btyd_model.h"
#include "customer_groups.h"

/* Class-22 errors for a summary no customer can have (see bgnbd.c) */
extern void CheckCustomerSummary(double x, double t_x, double t);

/* horizon, or a 22023 error when it is negative or not finite */
extern double CheckHorizon(double horizon);

/* Both validate the summary and raise class-22 errors for bad input. */
extern double BgnbdProbabilityAlive(const BtydModel *model, double x, double t_x, double t);
extern double BgnbdExpectedPurchases(const BtydModel *model, double horizon,
									 double x, double t_x, double t);

/* The fit shared with MBG/NBD (shift 1); NULL for too few customers */
extern BtydModel *BgnbdFitGroups(CustomerGroups *groups, BtydKind kind, double shift);

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
