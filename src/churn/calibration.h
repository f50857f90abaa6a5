/*-------------------------------------------------------------------------
 *
 * calibration.h
 *	  Probability calibration stored with a churn model: Platt scaling,
 *	  isotonic regression, or a shift of the log-odds (the prior correction
 *	  of a model trained with class weights).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_CALIBRATION_H
#define RETENTION_CALIBRATION_H

#include "fmgr.h"
#include "utils/jsonb.h"

typedef enum CalibrationMethod
{
	CALIBRATION_PLATT,			/* p = 1 / (1 + exp(-(a logit(p0) + b))) */
	CALIBRATION_ISOTONIC,		/* piecewise linear through (x_i, y_i), clipped */
	CALIBRATION_SHIFT			/* p = 1 / (1 + exp(-(logit + shift))) */
} CalibrationMethod;

typedef struct Calibration
{
	CalibrationMethod method;
	double		a;
	double		b;				/* Platt; b is also the shift */
	int			n;				/* isotonic points */
	double	   *x;				/* increasing */
	double	   *y;				/* non-decreasing, in [0, 1] */
} Calibration;

/* Parse and check a calibration object (22023 on anything malformed). */
extern Calibration *CalibrationParse(Jsonb *jb);

/* The parsed calibration of a call site, cached in fn_extra across rows. */
extern Calibration *CalibrationCached(FunctionCallInfo fcinfo, Jsonb *jb);

/* The calibrated probability of a model's log-odds z. */
extern double CalibrationApply(const Calibration *cal, double z);

#endif							/* RETENTION_CALIBRATION_H */
