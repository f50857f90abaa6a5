/*-------------------------------------------------------------------------
 *
 * customer_args.h
 *	  Checks of the arguments the customer-base functions share: a
 *	  customer's summary (x, t_x, T), a horizon, a non-negative quantity.
 *	  Each raises 22023 naming the argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_CUSTOMER_ARGS_H
#define RETENTION_CUSTOMER_ARGS_H

/* value, or an error "<what> must be a non-negative finite number" */
extern double CheckNonNegativeFinite(double value, const char *what);

/* an error unless x is a non-negative integer (repeat purchases) */
extern void CheckFrequency(double x);

/* errors for a summary no customer can have */
extern void CheckCustomerSummary(double x, double t_x, double t);

/* horizon, or an error when it is negative or not finite */
extern double CheckHorizon(double horizon);

#endif							/* RETENTION_CUSTOMER_ARGS_H */
