/*-------------------------------------------------------------------------
 *
 * logreg_newton.c
 *	  Newton's method (IRLS) for logistic regression, shared by the
 *	  in-memory aggregate (logreg_train.c) and the multi-pass form
 *	  (logreg_step.c).
 *
 * The objective is the negative log-likelihood plus the elastic-net penalty
 * lambda ((1 - rho)/2 ||coef||^2 + rho ||coef||_1) (rho = l1_ratio, 0 by
 * default: ridge), the intercept unpenalised, optionally with class
 * weights.  One pass over
 * the rows at an iterate gathers the objective, the gradient and the full
 * Hessian X'WX into a "sums" array (see logreg_newton.h); the Newton step
 * solves the Hessian by Cholesky (linalg.c) and the callers halve it until
 * the objective does not increase.  Newton converges quadratically, so the
 * estimate is exact to working precision a step after the step falls below
 * "tol".  With an L1 part (rho > 0) the step is a proximal Newton step:
 * the penalised quadratic model of the objective is minimised exactly
 * (ElasticNetSubproblem), so coefficients that the lasso sets to zero are
 * exactly zero and the optimum satisfies the elastic-net KKT conditions to
 * working precision.  This file also builds the model from the sums at the final
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
#include "train_rows.h"

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
	double		sq = 0.0;
	double		abs = 0.0;

	for (int j = opts->fit_intercept ? 1 : 0; j < p; j++)
	{
		sq += beta[j] * beta[j];
		abs += fabs(beta[j]);
	}
	return s[SUMS_NLL] + 0.5 * LogregL2(opts) * sq + LogregL1(opts) * abs;
}

/*
 * gradient and Hessian of the smooth part of the objective, the likelihood
 * and the L2 penalty (full symmetric Hessian)
 */
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
		g[j] += LogregL2(opts) * beta[j];
		hess[j * p + j] += LogregL2(opts);
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
 * The proximal Newton subproblem of the elastic net: the b minimising
 *
 *   q(b) = g'(b - beta) + 1/2 (b - beta)' A (b - beta) + l1 sum_pen |b_j|
 *
 * where g and A are the gradient and Hessian of the smooth part (likelihood
 * and L2 penalty) at beta, and the intercept (column 0 with fit_intercept)
 * carries no L1 penalty.  Cyclic coordinate descent finds the support and the
 * signs; once a sweep leaves the support unchanged, the stationarity
 * equations on the support, A_SS (b_S - beta_S) = -(g_S + l1 sign(b_S)) with
 * b = 0 off S, are solved by Cholesky and the solution is accepted when its
 * signs agree and every coordinate off S has |q'_j(b)| <= l1.  That makes the
 * solution exact (to rounding), not merely close, and its zeros exact zeros;
 * coordinate descent alone converges only linearly on the badly scaled
 * Hessians of unscaled features.  Coordinate descent carries on when the
 * check fails or A_SS is singular (collinear features inside the support).
 *
 * r holds the gradient of the smooth part of q at the current b: r = g +
 * A (b - beta), updated with a column of A at every coordinate change.
 */
#define SUBPROBLEM_MAX_SWEEPS	100000
#define SUBPROBLEM_TIE			1e-12

static void
ElasticNetSubproblem(const double *g, const double *a, const double *beta, int p,
					 int first_pen, double l1, double *b)
{
	double	   *r = palloc(sizeof(double) * p);
	double	   *rs = palloc(sizeof(double) * p);
	double	   *as = palloc(sizeof(double) * p * p);
	double	   *delta = palloc(sizeof(double) * p);
	int		   *support = palloc(sizeof(int) * p);
	bool	   *was_in = palloc0(sizeof(bool) * p);

	memcpy(b, beta, sizeof(double) * p);
	memcpy(r, g, sizeof(double) * p);

	for (int sweep = 0; sweep < SUBPROBLEM_MAX_SWEEPS; sweep++)
	{
		double		change = 0.0;
		double		size = 1.0;
		bool		same_support = true;
		int			m = 0;
		bool		exact = true;

		if ((sweep & 63) == 63)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < p; j++)
		{
			double		ajj = a[j * p + j];
			double		u;
			double		next;
			double		step;

			/* a column without curvature is zero on every weighted row */
			if (!(ajj > 0.0))
			{
				if (j >= first_pen)
					b[j] = 0.0;
				continue;
			}
			u = ajj * b[j] - r[j];
			/*
			 * |u| within rounding of l1 is a tie, and a tie is a zero: at the
			 * first penalty of a path (lambda_max, where every coefficient is
			 * zero by construction) the gradient equals l1 only to rounding.
			 */
			if (j < first_pen)
				next = u / ajj;
			else if (u > l1 * (1.0 + SUBPROBLEM_TIE))
				next = (u - l1) / ajj;
			else if (u < -l1 * (1.0 + SUBPROBLEM_TIE))
				next = (u + l1) / ajj;
			else
				next = 0.0;
			step = next - b[j];
			if (step == 0.0)
				continue;
			b[j] = next;
			for (int i = 0; i < p; i++)
				r[i] += a[i * p + j] * step;
			change = Max(change, fabs(step) * sqrt(ajj));
			size = Max(size, fabs(next) * sqrt(ajj));
		}

		for (int j = 0; j < p; j++)
		{
			bool		in = (j < first_pen || b[j] != 0.0);

			same_support &= (in == was_in[j]);
			was_in[j] = in;
			if (in)
				support[m++] = j;
		}
		/* coordinate descent has converged to rounding: nothing to polish */
		if (change <= 1e-15 * size)
			break;
		if (!same_support || m == 0)
			continue;

		/* the exact solution on this support, if it is the right support */
		{
			SpdFactor	f;

			for (int x = 0; x < m; x++)
			{
				int			i = support[x];

				rs[x] = -(r[i] + (i >= first_pen ? (b[i] > 0 ? l1 : -l1) : 0.0));
				for (int y = x; y < m; y++)
					as[x * m + y] = a[i * p + support[y]];
			}
			if (SpdFactorize(&f, as, m) >= 0)
				continue;
			SpdSolve(&f, rs, delta);
			for (int x = 0; x < m && exact; x++)
			{
				int			i = support[x];
				double		next = b[i] + delta[x];

				if (i >= first_pen && (next == 0.0 || (next > 0) != (b[i] > 0)))
					exact = false;
			}
			for (int j = 0; j < p && exact; j++)
			{
				double		rj = r[j];

				if (j < first_pen || b[j] != 0.0)
					continue;
				for (int x = 0; x < m; x++)
					rj += a[j * p + support[x]] * delta[x];
				/* a tie at the boundary, to rounding, is still a zero */
				if (fabs(rj) > l1 * (1.0 + SUBPROBLEM_TIE))
					exact = false;
			}
			if (exact)
			{
				for (int x = 0; x < m; x++)
					b[support[x]] += delta[x];
				break;
			}
		}
	}
	pfree(r);
	pfree(rs);
	pfree(as);
	pfree(delta);
	pfree(support);
	pfree(was_in);
}

/*
 * The Newton direction at beta from its sums: d = H^-1 g, so that the next
 * iterate is beta - d; with an L1 part, the proximal Newton direction d =
 * beta - b, b the minimiser of the penalised quadratic model.  Returns false
 * when the Hessian is singular.  *crit gets the largest step in curvature
 * units, |d_j| sqrt(H_jj): that is invariant to rescaling a feature, unlike
 * |d_j| itself.
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
	if (LogregL1(opts) > 0.0)
	{
		/*
		 * The lasso tolerates collinear features (it keeps one of them), so
		 * only the intercept's curvature is required.
		 */
		if (opts->fit_intercept && !(hess[0] > 0.0))
		{
			*bad_col = 0;
			return false;
		}
		ElasticNetSubproblem(g, hess, beta, p, opts->fit_intercept ? 1 : 0,
							 LogregL1(opts), d);
		for (int j = 0; j < p; j++)
			d[j] = beta[j] - d[j];
	}
	else
	{
		*bad_col = SpdFactorize(&f, hess, p);
		if (*bad_col >= 0)
			return false;
		SpdSolve(&f, g, d);
	}
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
	/*
	 * With an L1 part there are none: the lasso's estimator is not smooth
	 * at zero, and the inverse Hessian of the selected model understates
	 * its variability (no standard large-sample theory; the model says so).
	 */
	if (LogregL1(opts) > 0.0)
		;
	else if (SpdFactorize(&f, hess, p) < 0)
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
	model->l1_ratio = opts->l1_ratio;
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
LogregTrainingPeek(const Float8ArrayPeek *features, int expected, bool *usable)
{
	int			n;

	if (features->ndim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector must not be empty")));
	if (features->ndim != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector must be one-dimensional"),
				 errdetail("The array has %d dimensions.", features->ndim)));
	n = features->n;
	TrainRowsCheckWidth(expected, n);
	if (n > LOGREG_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature vector has %d elements, more than the %d a model may have",
						n, LOGREG_MAX_FEATURES)));

	*usable = !features->hasnull;
	for (int j = 0; j < n && *usable; j++)
	{
		double		x;

		memcpy(&x, features->data + j * sizeof(double), sizeof(double));
		*usable = isfinite(x);
	}
	return n;
}

int
LogregTrainingRow(ArrayType *features, int expected, bool *usable)
{
	Float8ArrayPeek peek;

	PeekFloat8Array(PointerGetDatum(features), &peek);
	return LogregTrainingPeek(&peek, expected, usable);
}
