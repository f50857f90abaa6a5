/*-------------------------------------------------------------------------
 *
 * special_functions.h
 *	  Numerics that libm lacks: digamma, log-beta, the incomplete gamma
 *	  function and stable log-sum-exp forms.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_SPECIAL_FUNCTIONS_H
#define RETENTION_SPECIAL_FUNCTIONS_H

/* psi(x) = d/dx log Gamma(x), for x > 0 */
extern double Digamma(double x);

/* log(exp(a) + exp(b)) without overflow */
extern double LogAddExp(double a, double b);

/* log(1 + exp(u)) without overflow */
extern double Log1pExp(double u);

/* expm1(y) / y, continuous through y = 0 */
extern double Expm1Ratio(double y);

/* log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a+b), for a, b > 0 */
extern double LogBeta(double a, double b);

/* Q(a, x) = Gamma(a, x)/Gamma(a), the regularised upper incomplete gamma function */
extern double GammaQ(double a, double x);

/* P(X > x) for X chi-square with df degrees of freedom */
extern double ChiSquareUpperTail(double x, double df);

#endif							/* RETENTION_SPECIAL_FUNCTIONS_H */
