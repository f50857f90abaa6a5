/*-------------------------------------------------------------------------
 *
 * gamma_gamma.h
 *	  Gamma-Gamma expected spend for the other customer-base functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_GAMMA_GAMMA_H
#define RETENTION_GAMMA_GAMMA_H

#include "btyd_model.h"

/* E[spend per transaction | x, m]; validates (x, m), class-22 errors */
extern double GammaGammaExpectedSpend(const BtydModel *model, double x, double m);

#endif							/* RETENTION_GAMMA_GAMMA_H */
