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

/* Class-22 errors for a summary no customer can have (see bgnbd.c) */
extern void CheckCustomerSummary(double x, double t_x, double t);

/* Both validate the summary and raise class-22 errors for bad input. */
extern double BgnbdProbabilityAlive(const BtydModel *model, double x, double t_x, double t);
extern double BgnbdExpectedPurchases(const BtydModel *model, double horizon,
									 double x, double t_x, double t);

#endif							/* RETENTION_BGNBD_H */
