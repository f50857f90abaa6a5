/*-------------------------------------------------------------------------
 *
 * optimize.h
 *	  Unconstrained minimisation (BFGS with a backtracking line search) and
 *	  standard errors from the curvature at the optimum, for the small
 *	  maximum-likelihood fits of the customer-base models.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_OPTIMIZE_H
#define RETENTION_OPTIMIZE_H

#define OPTIMIZE_MAX_PARAMS 4

/*
 * The objective: returns f(theta) and stores its gradient.  A point where f
 * is not defined returns NaN or +Infinity; the line search then steps back.
 */
typedef double (*ObjectiveFunction) (const double *theta, double *gradient, void *arg);

typedef struct OptimizeResult
{
	double		value;			/* f at the returned theta */
	double		gradient_norm;	/* largest absolute gradient component there */
	int			iterations;
	bool		converged;		/* gradient_norm <= the tolerance asked for */
} OptimizeResult;

/*
 * Minimise f from theta (updated in place).  Every step is capped at
 * max_step in each coordinate, so a poor start cannot throw the search into
 * a region where f overflows.
 */
extern OptimizeResult BfgsMinimize(ObjectiveFunction f, void *arg, double *theta, int n,
								   int max_iterations, double gradient_tolerance,
								   double max_step);

/*
 * The diagonal of the inverse of scale times the Hessian of f at theta, by
 * central differences of the gradient.  False when the Hessian is not
 * positive definite (theta is no strict minimum), leaving diag untouched.
 */
extern bool InverseHessianDiagonal(ObjectiveFunction f, void *arg, const double *theta,
								   int n, double scale, double *diag);

#endif							/* RETENTION_OPTIMIZE_H */
