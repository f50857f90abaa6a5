/*-------------------------------------------------------------------------
 *
 * linalg.c
 *	  Cholesky factorisation, solve and inverse diagonal of small dense
 *	  symmetric positive definite matrices (Hessians of the logistic model).
 *
 * The matrix is first scaled to unit diagonal, A = S H S with
 * S = diag(1 / sqrt(h_jj)).  That equilibration is what keeps the Telco
 * Hessian (condition number 2.6e10 raw, 7e4 scaled) solvable to nearly full
 * precision, and it makes the pivot test scale-free: after scaling, a pivot
 * below RANK_TOLERANCE means the column is, to working precision, a linear
 * combination of the columns before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "linalg.h"

/*
 * The squared sine of the angle between a column and the span of the ones
 * before it, below which the column counts as dependent.  R's glm uses 1e-7
 * on the (unsquared) diagonal of its QR factor, the same threshold.
 */
#define RANK_TOLERANCE 1e-14

int
SpdFactorize(SpdFactor *f, const double *a, int p)
{
	double	   *l;

	f->p = p;
	f->scale = palloc(sizeof(double) * p);
	f->lower = l = palloc0(sizeof(double) * p * p);

	for (int j = 0; j < p; j++)
	{
		double		d = a[j * p + j];

		/* written so that NaN fails too */
		if (!(d > 0.0) || !isfinite(d))
			return j;
		f->scale[j] = 1.0 / sqrt(d);
	}

	for (int j = 0; j < p; j++)
	{
		double		d = a[j * p + j] * f->scale[j] * f->scale[j];

		/* p^3 / 3 operations in all: a 1000-feature model takes a while */
		CHECK_FOR_INTERRUPTS();

		for (int m = 0; m < j; m++)
			d -= l[j * p + m] * l[j * p + m];
		if (!(d > RANK_TOLERANCE))
			return j;
		d = sqrt(d);
		l[j * p + j] = d;

		for (int i = j + 1; i < p; i++)
		{
			/* a is read from its upper triangle: a[j][i] for i > j */
			double		s = a[j * p + i] * f->scale[i] * f->scale[j];

			for (int m = 0; m < j; m++)
				s -= l[i * p + m] * l[j * p + m];
			l[i * p + j] = s / d;
		}
	}
	return -1;
}

void
SpdSolve(const SpdFactor *f, const double *b, double *x)
{
	int			p = f->p;
	const double *l = f->lower;

	/* H x = b  <=>  A (S^-1 x) = S b, and A = L L' */
	for (int i = 0; i < p; i++)
	{
		double		s = b[i] * f->scale[i];

		for (int m = 0; m < i; m++)
			s -= l[i * p + m] * x[m];
		x[i] = s / l[i * p + i];
	}
	for (int i = p - 1; i >= 0; i--)
	{
		double		s = x[i];

		for (int m = i + 1; m < p; m++)
			s -= l[m * p + i] * x[m];
		x[i] = s / l[i * p + i];
	}
	for (int i = 0; i < p; i++)
		x[i] *= f->scale[i];
}

void
SpdInverseDiagonal(const SpdFactor *f, double *diag)
{
	int			p = f->p;
	const double *l = f->lower;
	double	   *inv = palloc0(sizeof(double) * p * p);

	/* columns of L^-1 by forward substitution; (A^-1)_jj = sum_i (L^-1)_ij^2 */
	for (int j = 0; j < p; j++)
	{
		CHECK_FOR_INTERRUPTS();
		inv[j * p + j] = 1.0 / l[j * p + j];
		for (int i = j + 1; i < p; i++)
		{
			double		s = 0.0;

			for (int m = j; m < i; m++)
				s -= l[i * p + m] * inv[m * p + j];
			inv[i * p + j] = s / l[i * p + i];
		}
	}
	for (int j = 0; j < p; j++)
	{
		double		s = 0.0;

		for (int i = j; i < p; i++)
			s += inv[i * p + j] * inv[i * p + j];
		diag[j] = s * f->scale[j] * f->scale[j];
	}
	pfree(inv);
}
