/*-------------------------------------------------------------------------
 *
 * logreg_options.h
 *	  Options of the logistic-regression trainers (logreg_train and the
 *	  multi-pass logreg_step form).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LOGREG_OPTIONS_H
#define RETENTION_LOGREG_OPTIONS_H

#include "utils/jsonb.h"

#include "train_options.h"

/* most features a model may have: the Hessian is (k + 1)^2 doubles */
#define LOGREG_MAX_FEATURES 1000

typedef struct LogregOptions
{
	double		lambda;			/* penalty strength; the intercept is not penalised */
	double		l1_ratio;		/* rho: penalty lambda ((1 - rho)/2 ||b||^2 + rho ||b||_1) */
	int			max_iter;
	double		tol;
	bool		fit_intercept;
	ClassWeightMode class_weight;
	double		weight_neg;		/* weight of a row with label false */
	double		weight_pos;		/* weight of a row with label true */
	double		max_memory_mb;
	int			n_names;		/* -1 when no feature_names were given */
	char	  **names;
} LogregOptions;

/* the L2 and L1 parts of the elastic-net penalty */
#define LogregL2(opts)	((opts)->lambda * (1.0 - (opts)->l1_ratio))
#define LogregL1(opts)	((opts)->lambda * (opts)->l1_ratio)

/* Parse an options object (NULL means all defaults); class-22 errors. */
extern void LogregParseOptions(Jsonb *options, LogregOptions *opts);

#endif							/* RETENTION_LOGREG_OPTIONS_H */
