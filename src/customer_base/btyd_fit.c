/*-------------------------------------------------------------------------
 *
 * btyd_fit.c
 *	  The maximum-likelihood fit shared by the customer-base models, and the
 *	  pieces every model's objective and predictions end with.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "btyd_model.h"
#include "customer_groups.h"
#include "optimize.h"

double
BtydObjectiveValue(double ll, const double *g, const double *theta, int nparams,
				   double total, double *gradient)
{
	/* chain rule to log-parameters; minimise the negative mean */
	for (int k = 0; k < nparams; k++)
		gradient[k] = -g[k] * exp(theta[k]) / total;
	if (isnan(ll))
		return INFINITY;
	return -ll / total;
}

bool
BtydEnoughCustomers(BtydKind kind, double total, const char *customers)
{
	const BtydKindInfo *info = BtydKindGetInfo(kind);

	if (total >= info->nparams)
		return true;
	ereport(NOTICE,
			(errmsg("%s_fit needs at least %d %s, got %.0f",
					info->name, info->nparams, customers, total),
			 errdetail("The model has %d parameters.", info->nparams)));
	return false;
}

int
BtydFitRows(FunctionCallInfo fcinfo, BtydKind kind, const char *customers, double **rows,
			double *total)
{
	CustomerGroups *groups = CustomerGroupsStateArg(fcinfo);

	*total = groups ? CustomerGroupsTotal(groups) : 0.0;
	if (!BtydEnoughCustomers(kind, *total, customers))
		return -1;
	return CustomerGroupsToRows(groups, rows);
}

double
BtydFiniteResult(double value, const char *what)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for these model parameters", what)));
	return value;
}

/* the optimiser's settings, shared by every customer-base fit */
#define FIT_MAX_ITERATIONS 500
#define FIT_GRADIENT_TOLERANCE 1e-9
#define FIT_MAX_STEP 2.0

BtydModel *
BtydFit(BtydKind kind, ObjectiveFunction f, void *data, double *theta, double total)
{
	const BtydKindInfo *info = BtydKindGetInfo(kind);
	int			nparams = info->nparams;
	double		diag[BTYD_MAX_PARAMS];
	OptimizeResult fit;
	BtydModel  *model;

	fit = BfgsMinimize(f, data, theta, nparams,
					   FIT_MAX_ITERATIONS, FIT_GRADIENT_TOLERANCE, FIT_MAX_STEP);

	/*
	 * A likelihood that is not finite even where the search ended (at its
	 * start, when it never moved) fits nothing: returning the starting
	 * parameters would pass them off as a model
	 */
	if (!isfinite(fit.value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s_fit cannot evaluate the likelihood of these data", info->name),
				 errdetail("The log-likelihood is not finite: the frequencies, values or counts are too large.")));

	model = BtydModelCreate(kind);
	for (int i = 0; i < nparams; i++)
		model->params[i] = exp(theta[i]);
	model->log_likelihood = -fit.value * total;
	model->n = total;
	model->iterations = fit.iterations;
	model->flags = BTYD_FITTED;

	/*
	 * A small gradient is not enough: at a maximum on the edge of the
	 * parameter space (say, r -> 0 when nobody buys again) the gradient
	 * vanishes too, but the curvature does not identify the parameters.
	 * Converged means a strict maximum, which is also what standard errors
	 * need; theta = log p, so se(p) = p se(theta).
	 */
	if (fit.converged && InverseHessianDiagonal(f, data, theta, nparams, total, diag))
	{
		model->flags |= BTYD_CONVERGED;
		for (int i = 0; i < nparams; i++)
			model->std_err[i] = model->params[i] * sqrt(diag[i]);
	}
	else if (fit.converged)
		ereport(WARNING,
				(errmsg("%s_fit found no strict maximum of the likelihood", info->name),
				 errdetail("The curvature of the log-likelihood is not negative definite at the solution, so the data do not identify all parameters."),
				 errhint("This happens when, for example, no customer made a repeat purchase.")));
	else
		ereport(WARNING,
				(errmsg("%s_fit did not converge after %d iterations", info->name, fit.iterations),
				 errdetail("The largest gradient component is %g.", fit.gradient_norm)));
	return model;
}
