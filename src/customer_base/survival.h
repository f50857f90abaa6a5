/*-------------------------------------------------------------------------
 *
 * survival.h
 *	  Survival analysis: the Kaplan-Meier curve type (survival_km.c) and
 *	  Cox proportional hazards (coxph.c, coxph_train.c, coxph_likelihood.c).
 *
 * A survival_curve keeps, per distinct time, the weighted events and
 * censorings; everything else (at risk, survival, Greenwood variance) is
 * derived from them by SurvivalCurveBuild, the one reader every input path
 * (aggregate, text, binary) goes through, so no value can hold a curve whose
 * columns disagree.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_SURVIVAL_H
#define RETENTION_SURVIVAL_H

#include "fmgr.h"

#define SURVIVAL_CURVE_MAGIC 0x524b4d43	/* "RKMC" */
#define SURVIVAL_CURVE_VERSION 1

/* columns of a curve, each ntimes doubles, in this order */
enum
{
	KM_TIME,
	KM_N_RISK,
	KM_N_EVENT,
	KM_N_CENSOR,
	KM_SURVIVAL,
	KM_GREENWOOD,				/* sum of d / (n (n - d)): the variance of log S */
	KM_NCOLUMNS
};

typedef struct SurvivalCurve
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	uint32		magic;
	int32		version;
	int32		ntimes;
	int32		flags;			/* reserved, 0 */
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* KM_NCOLUMNS x ntimes */
} SurvivalCurve;

#define KM_COLUMN(curve, c) ((curve)->data + (Size) (c) * (curve)->ntimes)

/* the most distinct times a curve may hold */
#define KM_MAX_TIMES ((int) ((MaxAllocSize - offsetof(SurvivalCurve, data)) / (KM_NCOLUMNS * sizeof(double))))

/*
 * A curve from ntimes (time, events, censored) triples: times finite,
 * non-negative and strictly increasing, weights finite and non-negative,
 * each time with some weight.  Errors with SQLSTATE sqlstate otherwise.
 */
extern SurvivalCurve *SurvivalCurveBuild(const double *time, const double *events,
										 const double *censored, int ntimes, int sqlstate);

/* S(t): the curve's value at t (1 before the first time) */
extern double SurvivalCurveAt(const SurvivalCurve *curve, double t);

extern SurvivalCurve *SurvivalCurveFromDatum(Datum datum);

#define PG_GETARG_SURVIVAL_CURVE(n) SurvivalCurveFromDatum(PG_GETARG_DATUM(n))

#endif							/* RETENTION_SURVIVAL_H */
