/*-------------------------------------------------------------------------
 *
 * logreg_newton.c
 *	  Newton's method (IRLS) for logistic regression, shared by the
 *	  in-memory aggregate (logreg_train.c) and the multi-pass form
 *	  (logreg_step.c).
 *
 * The objective is the negative log-likelihood plus (lambda / 2) ||coef||^2,
 * the intercept unpenalised, optionally with class weights.  One pass over
 * the rows at an iterate gathers the objective, the gradient and the full
 * Hessian X'WX into a "sums" array (see logreg_newton.h); the Newton step
 * solves the Hessian by Cholesky (linalg.c) and the callers halve it until
 * the objective does not increase.  Newton converges quadratically, so the
 * estimate is exact to working precision a step after the step falls below
 * "tol".  This file also builds the model from the sums at the final
 * estimate (standard errors, likelihoods) and decides whether the optimum
 * exists (one class, separation) or was reached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "float_array.h"
#include "linalg.h"
#include "logreg_model.h"
#include "logreg_newton.h"
#include "logreg_options.h"

double *
LogregNewSums(int k, int p)
{
	double	   *s = palloc0(sizeof(double) * SumsLength(k, p));

	s[0] = SUMS_MAGIC;
	s[SUMS_K] = k;
	s[SUMS_P] = p;
	return s;
}

/* the penalised objective of sums gathered at beta */
double
LogregObjective(const double *s, const double *beta, int p, const LogregOptions *opts)
{
	double		pen = 0.0;

	for (int j = opts->fit_intercept ? 1 : 0; j < p; j++)
		pen += beta[j] * beta[j];
	return s[SUMS_NLL] + 0.5 * opts->lambda * pen;
}

/* gradient and Hessian of the penalised objective (full symmetric Hessian) */
void
LogregDerivatives(const double *s, const double *beta, int k, int p,
					 const LogregOptions *opts, double *g, double *hess)
{
	const double *sg = SumsG(s, k);
	const double *sh = SumsH(s, k, p);

	for (int a = 0; a < p; a++)
	{
		g[a] = sg[a];
		for (int b = a; b < p; b++)
			hess[a * p + b] = hess[b * p + a] = sh[a * p + b];
	}
	for (int j = opts->fit_intercept ? 1 : 0; j < p; j++)
	{
		g[j] += opts->lambda * beta[j];
		hess[j * p + j] += opts->lambda;
	}
}

void
LogregRaiseCollinear(int col, const LogregOptions *opts)
{
	int			feature = col - (opts->fit_intercept ? 1 : 0);
	char	   *what;

	if (feature < 0)
		what = pstrdup("the intercept");
	else if (opts->n_names > feature)
		what = psprintf("feature %d (\"%s\")", feature + 1, opts->names[feature]);
	else
		what = psprintf("feature %d", feature + 1);

	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s is constant or a linear combination of the other features", what),
			 errdetail("The Hessian of the log-likelihood is singular, so the coefficients are not identifiable."),
			 errhint("Drop the feature, or set the lambda option for an L2 penalty.")));
}

/*
 * The Newton direction at beta from its sums: d = H^-1 g, so that the next
 * iterate is beta - d.  Returns false when the Hessian is singular.  *crit
 * gets the largest step in curvature units, |d_j| sqrt(H_jj): that is
 * invariant to rescaling a feature, unlike |d_j| itself.
 */
bool
LogregNewtonDirection(const double *s, const double *beta, int k, int p,
				const LogregOptions *opts, double *d, double *crit, int *bad_col)
{
	double	   *g = palloc(sizeof(double) * p);
	double	   *hess = palloc(sizeof(double) * p * p);
	SpdFactor	f;

	LogregDerivatives(s, beta, k, p, opts, g, hess);
	for (int j = 0; j < p; j++)
	{
		int			feature = j - (opts->fit_intercept ? 1 : 0);

		/* sums of squares of values near 1e154 overflow: say so, not "collinear" */
		if (!isfinite(hess[j * p + j]) || !isfinite(g[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature %d is too large to fit: its sums of squares overflow", feature + 1),
					 errhint("Rescale the feature, for example to thousands instead of units.")));
	}
	*bad_col = SpdFactorize(&f, hess, p);
	if (*bad_col >= 0)
		return false;
	SpdSolve(&f, g, d);
	*crit = 0.0;
	for (int j = 0; j < p; j++)
		*crit = Max(*crit, fabs(d[j]) * sqrt(hess[j * p + j]));
	return isfinite(*crit);
}

/*
 * The model from the sums gathered at the final beta: standard errors from
 * the inverse of the (penalised) Hessian there, likelihoods, means, counts.
 */
LogregModel *
LogregBuildModel(const double *s, const double *beta, int k, int p,
		   const LogregOptions *opts, int iterations, bool converged,
		   int64 n_skipped)
{
	LogregModel *model = LogregModelAlloc(k, opts->n_names == k ? opts->names : NULL);
	double	   *g = palloc(sizeof(double) * p);
	double	   *hess = palloc(sizeof(double) * p * p);
	double	   *diag = palloc(sizeof(double) * p);
	int			off = opts->fit_intercept ? 1 : 0;
	double		n = s[SUMS_N_ROWS];
	double		w1 = s[SUMS_W_POS];
	double		w0 = s[SUMS_W_NEG];
	SpdFactor	f;

	model->flags |= LOGREG_HAS_STATS | LOGREG_HAS_MEANS;
	if (opts->fit_intercept)
		model->flags |= LOGREG_FIT_INTERCEPT;
	if (converged)
		model->flags |= LOGREG_CONVERGED;
	model->intercept = opts->fit_intercept ? beta[0] : 0.0;
	memcpy(LogregCoef(model), beta + off, sizeof(double) * k);
	for (int j = 0; j < k; j++)
		LogregMean(model)[j] = SumsX(s)[j] / n;

	LogregDerivatives(s, beta, k, p, opts, g, hess);
	if (SpdFactorize(&f, hess, p) < 0)
	{
		SpdInverseDiagonal(&f, diag);
		for (int j = 0; j < p; j++)
			LogregStdErr(model)[j + 1 - off] = sqrt(diag[j]);
	}
	/* else: no curvature left (separation); the standard errors stay null */

	model->log_likelihood = -s[SUMS_NLL];
	/* the intercept-only model's maximum, in closed form; 0 log 0 = 0 */
	if (opts->fit_intercept)
		model->null_log_likelihood =
			(w1 > 0 ? w1 * log(w1 / (w1 + w0)) : 0.0) +
			(w0 > 0 ? w0 * log(w0 / (w1 + w0)) : 0.0);
	else
		model->null_log_likelihood = -(w1 + w0) * M_LN2;
	model->lambda = opts->lambda;
	model->iterations = iterations;
	model->n_rows = (int64) n;
	model->n_skipped = n_skipped;
	return model;
}

/*
 * Warnings for a fit whose optimum does not exist or was not reached; returns
 * the final "converged" flag.
 *
 * Separation shows as rows whose fitted log-odds are beyond +-37 while the
 * coefficients still move: on separable data each Newton step pushes the
 * separated rows about one unit further out, so the coefficients grow
 * linearly and the last step is a sizeable fraction of them (about
 * 1/iterations).  An existing optimum may also put an outlying row beyond
 * 37 (R's glm warns then too), but there the last step is ~1e-10 of the
 * coefficients.  last_step is ||last step|| / ||coefficients||, infinite when
 * the curvature vanished.
 */
#define SEPARATION_STEP 1e-6

bool
LogregCheckFit(const double *s, const LogregOptions *opts, bool converged, int iterations,
		 double last_step)
{
	double		n = s[SUMS_N_ROWS];
	double		n_pos = s[SUMS_N_POS];

	if (opts->fit_intercept && (n_pos == 0 || n_pos == n))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the training data has only one class: all %.0f labels are %s",
						n, n_pos == 0 ? "false" : "true"),
				 errdetail("The maximum-likelihood intercept is infinite; the model is not converged."),
				 errhint("Train on rows of both classes.")));
		return false;
	}
	if (s[SUMS_N_EXTREME] > 0 && opts->lambda == 0.0 && !(last_step < SEPARATION_STEP))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("fitted probabilities numerically 0 or 1 occurred for %.0f of %.0f rows",
						s[SUMS_N_EXTREME], n),
				 errdetail("The classes are (quasi-)separable by the features, so the maximum-likelihood estimate does not exist and the coefficients grow without bound; the model is not converged."),
				 errhint("Set the lambda option for an L2 penalty, or drop the feature that separates the classes.")));
		return false;
	}
	if (!converged)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("logistic regression did not converge in %d iterations", iterations),
				 errhint("Raise the max_iter option, or set the lambda option for an L2 penalty.")));
	return converged;
}

/* ||t d|| / ||beta||: how far the last step moved the coefficients */
double
LogregRelativeStep(const double *d, double t, const double *beta, int p)
{
	double		step = 0.0;
	double		norm = 0.0;

	for (int j = 0; j < p; j++)
	{
		step += (t * d[j]) * (t * d[j]);
		norm += beta[j] * beta[j];
	}
	if (norm == 0.0)
		return step == 0.0 ? 0.0 : INFINITY;
	return sqrt(step / norm);
}

/* class weights once the class counts are known */
void
LogregResolveClassWeights(LogregOptions *opts, double n_pos, double n)
{
	if (opts->class_weight == CLASS_WEIGHT_BALANCED && n_pos > 0 && n_pos < n)
	{
		/* scikit-learn's "balanced": n / (2 n_class) */
		opts->weight_pos = n / (2.0 * n_pos);
		opts->weight_neg = n / (2.0 * (n - n_pos));
	}
}

void
LogregCheckNames(const LogregOptions *opts, int k)
{
	if (opts->n_names >= 0 && opts->n_names != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature_names has %d names but the feature vectors have %d elements",
						opts->n_names, k)));
}

/*
 * Validate a training row's feature array.  Returns its length and sets
 * *usable to false for a row to skip (NULL or non-finite elements); a row
 * of the wrong shape or length is an error, not a skip: it means the
 * feature query is wrong.
 */
int
LogregTrainingRow(ArrayType *features, int expected, bool *usable)
{
	int			n;
	const double *x;

	if (ARR_NDIM(features) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector must not be empty")));
	if (ARR_NDIM(features) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector must be one-dimensional"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(features))));
	n = ARR_DIMS(features)[0];
	if (expected >= 0 && n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", n, expected),
				 errhint("Every row must have the same features in the same order.")));
	if (n > LOGREG_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature vector has %d elements, more than the %d a model may have",
						n, LOGREG_MAX_FEATURES)));

	*usable = true;
	if (ARR_HASNULL(features) && array_contains_nulls(features))
	{
		*usable = false;
		return n;
	}
	x = (const double *) ARR_DATA_PTR(features);
	for (int j = 0; j < n; j++)
		if (!isfinite(x[j]))
		{
			*usable = false;
			break;
		}
	return n;
}
