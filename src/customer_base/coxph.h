/*-------------------------------------------------------------------------
 *
 * coxph.h
 *	  Cox proportional hazards, shared by its three files: the coxph_model
 *	  value with its scoring and text/binary forms (coxph.c), the
 *	  coxph_train aggregate and the Newton-Raphson fit (coxph_train.c), and
 *	  the partial likelihood and concordance (coxph_likelihood.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_COXPH_H
#define RETENTION_COXPH_H

#include "fmgr.h"

#define COXPH_MAGIC 0x52435850	/* "RCXP" */
#define COXPH_VERSION 1
#define COXPH_MAX_FEATURES 1000
#define COXPH_DEFAULT_MAX_ITERATIONS 50

typedef enum CoxTies
{
	COX_TIES_EFRON = 0,
	COX_TIES_BRESLOW = 1
} CoxTies;

#define COXPH_FITTED	0x01
#define COXPH_CONVERGED 0x02

/* the coxph_model value */
typedef struct CoxModel
{
	int32		vl_len_;
	uint32		magic;
	int32		version;
	int32		nfeatures;
	int32		ntimes;			/* baseline hazard steps */
	int32		ties;			/* CoxTies */
	int32		flags;
	int32		iterations;
	double		n;
	double		events;
	double		log_likelihood;
	double		log_likelihood_null;
	double		concordance;
	double		data[FLEXIBLE_ARRAY_MEMBER];	/* coef, std_err, means (nfeatures
												 * each), time, cumhaz (ntimes each) */
} CoxModel;

/* send and recv walk n .. data[] as one run of doubles */
StaticAssertDecl(offsetof(CoxModel, data) == offsetof(CoxModel, n) + 5 * sizeof(double),
				 "the statistics of a CoxModel must precede its arrays without padding");

#define COX_COEF(m) ((m)->data)
#define COX_SE(m) ((m)->data + (m)->nfeatures)
#define COX_MEANS(m) ((m)->data + 2 * (Size) (m)->nfeatures)
#define COX_TIME(m) ((m)->data + 3 * (Size) (m)->nfeatures)
#define COX_CUMHAZ(m) (COX_TIME(m) + (m)->ntimes)

/* the aggregate state: rows of (time, event, features) */
typedef struct CoxState
{
	int32		nfeatures;		/* -1 until the first row */
	int32		ties;
	int32		max_iterations;
	int64		nrows;
	int64		capacity;		/* rows */
	double	   *rows;			/* nrows x (2 + nfeatures) */
} CoxState;

#define COX_ROW_WIDTH(s) (2 + (s)->nfeatures)

typedef struct CoxData
{
	int64		n;
	int			p;
	const double *time;			/* descending */
	const double *event;
	const double *z;			/* centred features, n x p */
	CoxTies		ties;
} CoxData;

/* an empty model of that shape, zeroed, magic and version set */
extern CoxModel *CoxModelCreate(int nfeatures, int ntimes);

/* every field checked against the others and the limits; errors with sqlstate */
extern void CoxModelCheck(const CoxModel *m, int sqlstate);

/* the state's fit: the model, or NULL when no row has an event */
extern CoxModel *CoxFit(CoxState *s);

/*
 * Log partial likelihood at beta, with its score u[p] and information
 * info[p x p] when asked (NULL skips them); with hazard != NULL, also the
 * baseline cumulative hazard increments at the event times.
 */
extern double CoxLogLik(const CoxData *d, const double *beta, double *u, double *info,
						double *event_time, double *hazard, int *nhazard);

/* Harrell's concordance of the linear predictors lp[n] */
extern double CoxConcordance(const CoxData *d, const double *lp);

#endif							/* RETENTION_COXPH_H */
