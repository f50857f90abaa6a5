/*-------------------------------------------------------------------------
 *
 * special_functions.h
 *	  Numerics that libm lacks: digamma and stable log-sum-exp forms.
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

#endif							/* RETENTION_SPECIAL_FUNCTIONS_H */
