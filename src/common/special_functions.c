/*-------------------------------------------------------------------------
 *
 * special_functions.c
 *	  Digamma and stable log-sum-exp forms (see the header).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "special_functions.h"

double
Digamma(double x)
{
	double		result = 0.0;
	double		inv2;

	/* poles at 0, -1, -2, ...; the loop below would take |x| steps */
	if (isnan(x) || (x <= 0.0 && x == floor(x)))
		return NAN;
	if (isinf(x))
		return INFINITY;
	/* reflection: psi(x) = psi(1 - x) - pi / tan(pi x) */
	if (x < 0.0)
		return Digamma(1.0 - x) - M_PI / tan(M_PI * x);
	/* psi(x) = psi(x + 1) - 1/x lifts x to where the asymptotic series is exact */
	while (x < 10.0)
	{
		result -= 1.0 / x;
		x += 1.0;
	}
	inv2 = 1.0 / (x * x);
	/* log x - 1/2x - sum B_2k / (2k x^2k), Bernoulli numbers up to B_12 */
	return result + log(x) - 0.5 / x
		- inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760))))));
}

double
LogAddExp(double a, double b)
{
	double		m = Max(a, b);

	if (m == -INFINITY)
		return -INFINITY;
	return m + log1p(exp(-fabs(a - b)));
}

double
Log1pExp(double u)
{
	return u > 0.0 ? u + log1p(exp(-u)) : log1p(exp(u));
}

double
Expm1Ratio(double y)
{
	if (fabs(y) < 1e-5)
		return 1.0 + y / 2.0 + y * y / 6.0;
	return expm1(y) / y;
}
