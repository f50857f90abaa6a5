/*-------------------------------------------------------------------------
 *
 * optimize.c
 *	  BFGS minimisation with an Armijo backtracking line search, and the
 *	  inverse Hessian for standard errors.
 *
 * The fits work in log-parameters, so every point is feasible and the
 * search is unconstrained.  The line search treats NaN and infinite values
 * as "too far", halves the step, and when even a steepest-descent step makes
 * no progress the search stops and says so: convergence is only ever
 * reported when the gradient really is small.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "linalg.h"
#include "optimize.h"

#define ARMIJO_SLOPE 1e-4
#define MAX_HALVINGS 60		/* backtracking steps, each at least halving */
#define HESSIAN_STEP 1e-4

static void
SetIdentity(double h[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS], int n, double scale)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			h[i][j] = i == j ? scale : 0.0;
}

/* Hessian of f at theta by central differences of the analytic gradient */
static bool
NumericHessian(ObjectiveFunction f, void *arg, const double *theta, int n,
			   double hess[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS])
{
	double		point[OPTIMIZE_MAX_PARAMS];
	double		gp[OPTIMIZE_MAX_PARAMS];
	double		gm[OPTIMIZE_MAX_PARAMS];

	for (int j = 0; j < n; j++)
	{
		memcpy(point, theta, sizeof(double) * n);
		point[j] = theta[j] + HESSIAN_STEP;
		if (!isfinite(f(point, gp, arg)))
			return false;
		point[j] = theta[j] - HESSIAN_STEP;
		if (!isfinite(f(point, gm, arg)))
			return false;
		for (int i = 0; i < n; i++)
			hess[i][j] = (gp[i] - gm[i]) / (2.0 * HESSIAN_STEP);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			hess[i][j] = hess[j][i] = 0.5 * (hess[i][j] + hess[j][i]);
	return true;
}

/* Cholesky factor L of hess: false unless hess is positive definite */
static bool
Cholesky(double hess[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS], int n,
		 double l[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS])
{
	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j <= i; j++)
		{
			double		sum = hess[i][j];

			for (int k = 0; k < j; k++)
				sum -= l[i][k] * l[j][k];
			if (i == j)
			{
				if (!(sum > 0.0) || !isfinite(sum))
					return false;
				l[i][i] = sqrt(sum);
			}
			else
				l[i][j] = sum / l[j][j];
		}
	}
	return true;
}

/* Solve L z = b by forward substitution */
static void
ForwardSolve(double l[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS], int n,
			 const double *b, double *z)
{
	for (int i = 0; i < n; i++)
	{
		double		sum = b[i];

		for (int k = 0; k < i; k++)
			sum -= l[i][k] * z[k];
		z[i] = sum / l[i][i];
	}
}

/*
 * Newton steps with the Hessian from gradient differences.  Near the optimum
 * the log-likelihood changes by less than its rounding error, so BFGS's line
 * search, which compares values of f, can stall with the gradient still
 * above the tolerance; these steps need only gradients, and one is kept only
 * when it shrinks the gradient.  The Hessian is computed once (a chord
 * method): at this distance from the optimum it hardly changes, and each
 * Hessian costs 2n gradient evaluations.
 */
static void
NewtonPolish(ObjectiveFunction f, void *arg, double *theta, int n,
			 double *g, OptimizeResult *result, double gradient_tolerance)
{
	double		hess[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];
	double		l[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];

	if (VecMaxAbs(g, n) <= gradient_tolerance)
		return;
	if (!NumericHessian(f, arg, theta, n, hess) || !Cholesky(hess, n, l))
		return;

	for (int iteration = 0; iteration < 20; iteration++)
	{
		double		z[OPTIMIZE_MAX_PARAMS];
		double		step[OPTIMIZE_MAX_PARAMS];
		double		trial[OPTIMIZE_MAX_PARAMS];
		double		trial_g[OPTIMIZE_MAX_PARAMS];
		double		value;

		if (VecMaxAbs(g, n) <= gradient_tolerance)
			return;
		/* step = H^-1 g = L^-T L^-1 g */
		ForwardSolve(l, n, g, z);
		for (int i = n - 1; i >= 0; i--)
		{
			double		sum = z[i];

			for (int k = i + 1; k < n; k++)
				sum -= l[k][i] * step[k];
			step[i] = sum / l[i][i];
		}
		if (VecMaxAbs(step, n) > 0.1)
			return;				/* not near the optimum: no business here */
		for (int i = 0; i < n; i++)
			trial[i] = theta[i] - step[i];
		value = f(trial, trial_g, arg);
		if (!isfinite(value) || VecMaxAbs(trial_g, n) >= VecMaxAbs(g, n) ||
			value > result->value + 1e-12 * fabs(result->value))
			return;
		memcpy(theta, trial, sizeof(double) * n);
		memcpy(g, trial_g, sizeof(double) * n);
		result->value = value;
		result->iterations++;
	}
}

bool
InverseHessianDiagonal(ObjectiveFunction f, void *arg, const double *theta,
					   int n, double scale, double *diag)
{
	double		hess[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];
	double		l[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];

	if (!NumericHessian(f, arg, theta, n, hess))
		return false;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			hess[i][j] *= scale;
	if (!Cholesky(hess, n, l))
		return false;

	/* (H^-1)_jj = |L^-1 e_j|^2 */
	for (int j = 0; j < n; j++)
	{
		double		e[OPTIMIZE_MAX_PARAMS] = {0.0, 0.0, 0.0, 0.0};
		double		z[OPTIMIZE_MAX_PARAMS];

		e[j] = 1.0;
		ForwardSolve(l, n, e, z);
		diag[j] = 0.0;
		for (int i = 0; i < n; i++)
			diag[j] += z[i] * z[i];
	}
	return true;
}

OptimizeResult
BfgsMinimize(ObjectiveFunction f, void *arg, double *theta, int n,
			 int max_iterations, double gradient_tolerance, double max_step)
{
	double		h[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];
	double		g[OPTIMIZE_MAX_PARAMS];
	double		d[OPTIMIZE_MAX_PARAMS];
	double		trial[OPTIMIZE_MAX_PARAMS];
	double		trial_g[OPTIMIZE_MAX_PARAMS];
	double		s[OPTIMIZE_MAX_PARAMS];
	double		y[OPTIMIZE_MAX_PARAMS];
	OptimizeResult result = {0};
	bool		fresh = true;	/* h is (a multiple of) the identity */
	int			stalls = 0;		/* steps in a row that gained nothing measurable */

	Assert(n > 0 && n <= OPTIMIZE_MAX_PARAMS);
	result.value = f(theta, g, arg);
	if (!isfinite(result.value))
	{
		result.gradient_norm = NAN;
		return result;
	}
	SetIdentity(h, n, 1.0);

	while (result.iterations < max_iterations)
	{
		double		slope;
		double		step = 1.0;
		double		value = NAN;
		double		dmax;
		double		sy;
		bool		accepted = false;

		CHECK_FOR_INTERRUPTS();
		if (VecMaxAbs(g, n) <= gradient_tolerance)
			break;

		for (int i = 0; i < n; i++)
			d[i] = -VecDot(h[i], g, n);
		slope = VecDot(g, d, n);
		if (!(slope < 0.0))
		{
			/* the curvature estimate went bad: start again from steepest descent */
			SetIdentity(h, n, 1.0);
			fresh = true;
			for (int i = 0; i < n; i++)
				d[i] = -g[i];
			slope = VecDot(g, d, n);
		}
		dmax = VecMaxAbs(d, n);
		if (dmax > max_step)
		{
			for (int i = 0; i < n; i++)
				d[i] *= max_step / dmax;
			slope *= max_step / dmax;
		}

		for (int k = 0; k < MAX_HALVINGS; k++)
		{
			double		next;

			for (int i = 0; i < n; i++)
				trial[i] = theta[i] + step * d[i];
			value = f(trial, trial_g, arg);
			if (isfinite(value) && value <= result.value + ARMIJO_SLOPE * step * slope)
			{
				accepted = true;
				break;
			}

			/*
			 * Backtrack to the minimum of the quadratic through f(0), f'(0)
			 * and f(step), kept within [step/10, step/2]; halve where f is
			 * not finite.
			 */
			next = 0.5 * step;
			if (isfinite(value))
			{
				double		curvature = value - result.value - slope * step;

				if (curvature > 0.0)
					next = -slope * step * step / (2.0 * curvature);
				next = Max(0.1 * step, Min(0.5 * step, next));
			}
			step = next;
		}
		result.iterations++;
		if (!accepted)
		{
			if (fresh)
				break;			/* not even steepest descent helps: stop, honestly */
			SetIdentity(h, n, 1.0);
			fresh = true;
			continue;
		}

		for (int i = 0; i < n; i++)
		{
			s[i] = trial[i] - theta[i];
			y[i] = trial_g[i] - g[i];
			theta[i] = trial[i];
			g[i] = trial_g[i];
		}
		/* f no longer resolves the progress: leave the rest to NewtonPolish */
		if (result.value - value <= 8.0 * DBL_EPSILON * fabs(value))
			stalls++;
		else
			stalls = 0;
		result.value = value;
		if (stalls >= 3)
			break;

		/* BFGS update of the inverse Hessian, skipped without positive curvature */
		sy = VecDot(s, y, n);
		if (sy > 1e-12 * sqrt(VecDot(s, s, n) * VecDot(y, y, n)))
		{
			double		hy[OPTIMIZE_MAX_PARAMS];
			double		yhy;
			double		rho = 1.0 / sy;

			if (fresh)
				SetIdentity(h, n, sy / VecDot(y, y, n));	/* Shanno-Phua scaling */
			for (int i = 0; i < n; i++)
				hy[i] = VecDot(h[i], y, n);
			yhy = VecDot(y, hy, n);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					h[i][j] += (1.0 + rho * yhy) * rho * s[i] * s[j]
						- rho * (hy[i] * s[j] + s[i] * hy[j]);
			fresh = false;
		}
	}

	NewtonPolish(f, arg, theta, n, g, &result, gradient_tolerance);
	result.gradient_norm = VecMaxAbs(g, n);
	result.converged = result.gradient_norm <= gradient_tolerance;
	return result;
}

