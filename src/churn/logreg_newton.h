/*-------------------------------------------------------------------------
 *
 * logreg_newton.h
 *	  Newton's method for logistic regression: the sums of one pass, the
 *	  per-row arithmetic, the step and the model built at the optimum.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LOGREG_NEWTON_H
#define RETENTION_LOGREG_NEWTON_H

#include <math.h>

#include "utils/array.h"

#include "logreg_model.h"
#include "logreg_options.h"
#include "state_reader.h"

/*
 * |z| beyond which a fitted probability is 1 or 0 to double precision
 * (exp(-37) < DBL_EPSILON / 2): rows beyond it signal separation (see
 * LogregCheckFit).
 */
#define SEPARATION_Z			37.0

/* an objective increase this small (relative) is rounding, not a bad step */
#define OBJECTIVE_SLACK			1e-13
#define MAX_HALVINGS			50

/*
 * Everything one pass over the rows at a given coefficient vector gathers.
 * The same layout is the float8[] state of logreg_step, so that both forms
 * run the same arithmetic.
 */
#define SUMS_HEADER		10
#define SUMS_K			1
#define SUMS_P			2
#define SUMS_N_ROWS		3
#define SUMS_N_SKIPPED	4
#define SUMS_N_POS		5
#define SUMS_W_POS		6
#define SUMS_W_NEG		7
#define SUMS_NLL		8
#define SUMS_N_EXTREME	9
/* slot 0: the tag of a logreg_step state (layout and version, state_reader.h) */
#define SUMS_MAGIC		FLOAT8_STATE_TAG(FLOAT8_LAYOUT_LOGREG_STEP, 1)
#define SUMS_MAGIC_0_1_0	7301.0	/* 0.1.0's untagged magic, same layout: still read */

#define SumsLength(k, p)	(SUMS_HEADER + (k) + (p) + (p) * (p))
#define SumsX(s)			((s) + SUMS_HEADER)
#define SumsG(s, k)			((s) + SUMS_HEADER + (k))
#define SumsH(s, k, p)		((s) + SUMS_HEADER + (k) + (p))

/*
 * In logreg_newton.c: a zeroed sums array; the penalised objective and its
 * derivatives from sums; the Newton step (false when the Hessian is
 * singular; LogregRaiseCollinear names the column then); the model at the
 * final estimate; the convergence verdict with its warnings; and the checks
 * of options and rows that both forms share.
 */
extern double *LogregNewSums(int k, int p);
extern double LogregObjective(const double *s, const double *beta, int p,
							  const LogregOptions *opts);
extern void LogregDerivatives(const double *s, const double *beta, int k, int p,
							  const LogregOptions *opts, double *g, double *hess);
extern void LogregRaiseCollinear(int col, const LogregOptions *opts) pg_attribute_noreturn();
extern bool LogregNewtonDirection(const double *s, const double *beta, int k, int p,
								  const LogregOptions *opts, double *d, double *crit,
								  int *bad_col);
extern LogregModel *LogregBuildModel(const double *s, const double *beta, int k, int p,
									 const LogregOptions *opts, int iterations,
									 bool converged, int64 n_skipped);
extern bool LogregCheckFit(const double *s, const LogregOptions *opts, bool converged,
						   int iterations, double last_step);
extern double LogregRelativeStep(const double *d, double t, const double *beta, int p);
extern void LogregResolveClassWeights(LogregOptions *opts, double n_pos, double n);
extern void LogregCheckNames(const LogregOptions *opts, int k);
extern int	LogregTrainingRow(ArrayType *features, int expected, bool *usable);
/* the same, for a peeked float8[] (float_array.h) */
struct Float8ArrayPeek;
extern int	LogregTrainingPeek(const struct Float8ArrayPeek *features, int expected, bool *usable);

/*
 * Add one row to the sums at coefficients beta (length p, intercept first
 * when there is one).  xe is the row extended with a leading 1 when the model
 * has an intercept, so that every term is a plain product.
 */
static inline void
LogregAccumRow(double *s, int k, int p, const double *beta, const double *xe,
		 const double *x, bool label, double weight)
{
	double		z = 0.0;
	double		y = label ? 1.0 : 0.0;
	double		e;
	double		prob;
	double		r;
	double		h;
	double	   *g = SumsG(s, k);
	double	   *hess = SumsH(s, k, p);
	double	   *sx = SumsX(s);

	for (int j = 0; j < p; j++)
		z += beta[j] * xe[j];

	/*
	 * One exp serves both: with e = exp(-|z|), log(1 + e^z) - y z is
	 * max(z, 0) + log1p(e) - y z without overflow, and the probability is
	 * 1 / (1 + e) or e / (1 + e) by the sign of z.
	 */
	e = exp(-fabs(z));
	s[SUMS_NLL] += weight * (Max(z, 0.0) + log1p(e) - y * z);
	if (fabs(z) > SEPARATION_Z)
		s[SUMS_N_EXTREME] += 1.0;
	prob = (z >= 0.0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
	r = weight * (prob - y);
	h = weight * prob * (1.0 - prob);

	for (int j = 0; j < p; j++)
		g[j] += r * xe[j];
	/* upper triangle only; each entry its own accumulator */
	for (int a = 0; a < p; a++)
	{
		double		hx = h * xe[a];
		double	   *row = hess + a * p;

		for (int b = a; b < p; b++)
			row[b] += hx * xe[b];
	}
	for (int j = 0; j < k; j++)
		sx[j] += x[j];

	s[SUMS_N_ROWS] += 1.0;
	if (label)
	{
		s[SUMS_N_POS] += 1.0;
		s[SUMS_W_POS] += weight;
	}
	else
		s[SUMS_W_NEG] += weight;
}

#endif							/* RETENTION_LOGREG_NEWTON_H */
