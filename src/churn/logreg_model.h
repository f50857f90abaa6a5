/*-------------------------------------------------------------------------
 *
 * logreg_model.h
 *	  The retention.logreg_model type: a fitted (or hand-written) logistic
 *	  regression model in a compact binary form.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_LOGREG_MODEL_H
#define RETENTION_LOGREG_MODEL_H

#include <math.h>

#include "fmgr.h"
#include "utils/jsonb.h"

/*
 * Version 2 added l1_ratio and the "extra" area; version 1 values (0.1.0)
 * are still read: CheckedModel converts them in memory.
 */
#define LOGREG_MODEL_VERSION 2

/*
 * most coefficients a model may have (a hand-written one: training stops at
 * LOGREG_MAX_FEATURES); keeps every size computation far from overflow
 */
#define LOGREG_MODEL_MAX_FEATURES	(1 << 24)

/* flags */
#define LOGREG_FIT_INTERCEPT	0x0001
#define LOGREG_CONVERGED		0x0002
#define LOGREG_HAS_STATS		0x0004	/* std_err, likelihoods, counts */
#define LOGREG_HAS_MEANS		0x0008	/* training means of the features */
#define LOGREG_HAS_NAMES		0x0010
#define LOGREG_FLAGS_KNOWN		0x001F

/*
 * Layout: the fixed header, then 3k + 1 doubles (coef[k], mean[k],
 * std_err[k + 1] with the intercept's first), then extra_len bytes of
 * "extra" (empty, or a jsonb value: the encoder and the calibration of the
 * model), then, with HAS_NAMES, k NUL-terminated feature names.  Absent
 * statistics are stored as NaN and written as JSON null; a model with an L1
 * penalty (l1_ratio > 0) has no standard errors.  Scoring reads coef[] in
 * place: no parsing per row.
 */
typedef struct LogregModel
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		version;
	int16		flags;
	int32		k;				/* number of features */
	int32		iterations;
	int32		names_len;		/* bytes of the names area */
	int64		n_rows;
	int64		n_skipped;
	double		intercept;
	double		lambda;
	double		log_likelihood;
	double		null_log_likelihood;
	double		l1_ratio;		/* the L1 share of the penalty lambda */
	int32		extra_len;		/* bytes of the extra area (a multiple of 8) */
	int32		reserved;		/* zero */
	double		values[FLEXIBLE_ARRAY_MEMBER];
} LogregModel;

#define LogregCoef(m)		((m)->values)
#define LogregMean(m)		((m)->values + (m)->k)
#define LogregStdErr(m)		((m)->values + 2 * (m)->k)
#define LogregExtra(m)		((char *) ((m)->values + 3 * (m)->k + 1))
#define LogregNames(m)		(LogregExtra(m) + (m)->extra_len)

/* what a model with an L1 part says instead of standard errors */
#define LOGREG_NO_STD_ERR_NOTE \
	"not reported: with l1_ratio > 0 the coefficients are lasso estimates, which have no standard large-sample theory for standard errors"

#define DatumGetLogregModelP(d)	((LogregModel *) PG_DETOAST_DATUM(d))
#define PG_GETARG_LOGREG_MODEL_P(n) DatumGetLogregModelP(PG_GETARG_DATUM(n))

/*
 * Allocate a model for k features with every statistic absent (NaN) and no
 * names; names (k strings) may be NULL.
 */
extern LogregModel *LogregModelAlloc(int k, char **names);
extern LogregModel *LogregModelAllocExtra(int k, char **names, Jsonb *extra);

/* The extra jsonb object of a model, and the encoder in it; NULL when absent. */
extern Jsonb *LogregModelExtra(const LogregModel *model);
extern Jsonb *LogregModelEncoder(const LogregModel *model);
extern Jsonb *LogregModelCalibration(const LogregModel *model);

/* The extra object with key set to value (extra NULL: a new object). */
extern Jsonb *LogregExtraWith(Jsonb *extra, const char *key, Jsonb *value);

/* The feature names of a model as a palloc'd array of k pointers, or NULL. */
extern char **LogregModelNames(const LogregModel *model);

/*
 * A stored model, checked before use (a corrupt value is an XX001 error,
 * never a read past its end); a version 1 value comes back as version 2.
 */
extern LogregModel *LogregModelFromDatum(Datum d);

/* The JSON form of a model (logreg_model_json.c), and a model read from it. */
extern char *LogregModelToJson(const LogregModel *model);
extern LogregModel *LogregModelFromJsonb(Jsonb *jb);

/* The linear predictor intercept + coef . x of a model for one vector. */
extern double LogregLinearPredictor(const LogregModel *model, const double *x);

/* 1 / (1 + exp(-z)) without overflow for either sign of z. */
static inline double
LogisticSigmoid(double z)
{
	if (z >= 0.0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

#endif							/* RETENTION_LOGREG_MODEL_H */
