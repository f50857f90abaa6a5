/*-------------------------------------------------------------------------
 *
 * bgnbd.h
 *	  BG/NBD predictions for the other customer-base functions (clv.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_BGNBD_H
#define RETENTION_BGNBD_H

#include "btyd_model.h"

/* Both validate the summary and raise class-22 errors for bad input. */
extern double BgnbdProbabilityAlive(const BtydModel *model, double x, double t_x, double t);
extern double BgnbdExpectedPurchases(const BtydModel *model, double horizon,
									 double x, double t_x, double t);

#endif							/* RETENTION_BGNBD_H */
