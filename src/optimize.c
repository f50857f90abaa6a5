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

#include <math.h>

#include "miscadmin.h"

#include "optimize.h"

#define ARMIJO_SLOPE 1e-4
#define MAX_HALVINGS 60
#define HESSIAN_STEP 1e-4

static double
MaxAbs(const double *v, int n)
{
	double		m = 0.0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

static double
Dot(const double *a, const double *b, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static void
SetIdentity(double h[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS], int n, double scale)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			h[i][j] = i == j ? scale : 0.0;
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
		if (MaxAbs(g, n) <= gradient_tolerance)
			break;

		for (int i = 0; i < n; i++)
			d[i] = -Dot(h[i], g, n);
		slope = Dot(g, d, n);
		if (!(slope < 0.0))
		{
			/* the curvature estimate went bad: start again from steepest descent */
			SetIdentity(h, n, 1.0);
			fresh = true;
			for (int i = 0; i < n; i++)
				d[i] = -g[i];
			slope = Dot(g, d, n);
		}
		dmax = MaxAbs(d, n);
		if (dmax > max_step)
		{
			for (int i = 0; i < n; i++)
				d[i] *= max_step / dmax;
			slope *= max_step / dmax;
		}

		for (int k = 0; k < MAX_HALVINGS; k++, step *= 0.5)
		{
			for (int i = 0; i < n; i++)
				trial[i] = theta[i] + step * d[i];
			value = f(trial, trial_g, arg);
			if (isfinite(value) && value <= result.value + ARMIJO_SLOPE * step * slope)
			{
				accepted = true;
				break;
			}
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
		result.value = value;

		/* BFGS update of the inverse Hessian, skipped without positive curvature */
		sy = Dot(s, y, n);
		if (sy > 1e-12 * sqrt(Dot(s, s, n) * Dot(y, y, n)))
		{
			double		hy[OPTIMIZE_MAX_PARAMS];
			double		yhy;
			double		rho = 1.0 / sy;

			if (fresh)
				SetIdentity(h, n, sy / Dot(y, y, n));	/* Shanno-Phua scaling */
			for (int i = 0; i < n; i++)
				hy[i] = Dot(h[i], y, n);
			yhy = Dot(y, hy, n);
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					h[i][j] += (1.0 + rho * yhy) * rho * s[i] * s[j]
						- rho * (hy[i] * s[j] + s[i] * hy[j]);
			fresh = false;
		}
	}

	result.gradient_norm = MaxAbs(g, n);
	result.converged = result.gradient_norm <= gradient_tolerance;
	return result;
}

bool
InverseHessianDiagonal(ObjectiveFunction f, void *arg, const double *theta,
					   int n, double scale, double *diag)
{
	double		hess[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];
	double		l[OPTIMIZE_MAX_PARAMS][OPTIMIZE_MAX_PARAMS];
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
			hess[i][j] = scale * (gp[i] - gm[i]) / (2.0 * HESSIAN_STEP);
	}

	/* Cholesky factor of the symmetrised Hessian: fails unless positive definite */
	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j <= i; j++)
		{
			double		sum = 0.5 * (hess[i][j] + hess[j][i]);

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

	/* (H^-1)_jj = |L^-1 e_j|^2: one forward substitution per parameter */
	for (int j = 0; j < n; j++)
	{
		double		z[OPTIMIZE_MAX_PARAMS];

		diag[j] = 0.0;
		for (int i = 0; i < n; i++)
		{
			double		sum = i == j ? 1.0 : 0.0;

			for (int k = 0; k < i; k++)
				sum -= l[i][k] * z[k];
			z[i] = sum / l[i][i];
			diag[j] += z[i] * z[i];
		}
	}
	return true;
}
