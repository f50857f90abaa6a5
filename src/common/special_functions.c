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

double
LogBeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/*
 * Q(a, x) = Gamma(a, x) / Gamma(a), the regularised upper incomplete gamma
 * function: by its power series for P = 1 - Q when x < a + 1, otherwise by
 * its continued fraction (modified Lentz), which keeps tiny tails such as
 * 1e-40 to full relative precision instead of computing 1 - (1 - tail).
 */
double
GammaQ(double a, double x)
{
	double		log_front;

	if (isnan(a) || isnan(x) || a <= 0.0)
		return NAN;
	if (x <= 0.0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	log_front = a * log(x) - x - lgamma(a);
	if (x < a + 1.0)
	{
		double		term = 1.0 / a;
		double		sum = term;

		for (int n = 1; n < 100000; n++)
		{
			term *= x / (a + n);
			sum += term;
			if (fabs(term) < fabs(sum) * 1e-17)
				break;
		}
		return 1.0 - sum * exp(log_front);
	}
	else
	{
		const double tiny = 1e-300;
		double		b = x + 1.0 - a;
		double		c = 1.0 / tiny;
		double		d = 1.0 / b;
		double		h = d;

		for (int i = 1; i < 100000; i++)
		{
			double		an = -i * (i - a);
			double		delta;

			b += 2.0;
			d = an * d + b;
			if (fabs(d) < tiny)
				d = tiny;
			c = b + an / c;
			if (fabs(c) < tiny)
				c = tiny;
			d = 1.0 / d;
			delta = d * c;
			h *= delta;
			if (fabs(delta - 1.0) < 1e-16)
				break;
		}
		return exp(log_front) * h;
	}
}

double
ChiSquareUpperTail(double x, double df)
{
	return GammaQ(0.5 * df, 0.5 * x);
}
