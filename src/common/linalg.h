/*-------------------------------------------------------------------------
 *
 * linalg.h
 *	  Dense symmetric positive definite solves for the Newton steps of the
 *	  logistic model (small matrices: one row and column per coefficient),
 *	  and the vector sums everyone needs, summed left to right.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LINALG_H
#define RETENTION_LINALG_H

#include <math.h>

/* The dot product of a[n] and b[n]. */
static inline double
VecDot(const double *a, const double *b, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* The largest magnitude among v[n], 0 for none. */
static inline double
VecMaxAbs(const double *v, int n)
{
	double		m = 0.0;

	for (int i = 0; i < n; i++)
		m = Max(m, fabs(v[i]));
	return m;
}

/*
 * Cholesky factor of a symmetric positive definite p x p matrix, computed
 * after scaling it to unit diagonal (Jacobi equilibration): unscaled
 * features such as a total spend in the thousands next to 0/1 dummies
 * otherwise cost the factorisation most of its digits.
 */
typedef struct SpdFactor
{
	int			p;
	double	   *scale;			/* 1 / sqrt(a_jj) */
	double	   *lower;			/* p x p, row-major, lower triangle used */
} SpdFactor;

/*
 * Factor "a" (p x p, row-major; only the upper triangle is read).  Returns
 * -1 on success, or the 0-based index of the first column that is zero or,
 * to working precision, a linear combination of the columns before it.
 */
extern int	SpdFactorize(SpdFactor *f, const double *a, int p);

/* Solve a x = b for x (x and b may be the same array). */
extern void SpdSolve(const SpdFactor *f, const double *b, double *x);

/* The diagonal of a^-1, into diag[p]. */
extern void SpdInverseDiagonal(const SpdFactor *f, double *diag);

#endif							/* RETENTION_LINALG_H */
