/*-------------------------------------------------------------------------
 *
 * encoder.h
 *	  The feature encoder learned with a churn model: raw rows (jsonb, e.g.
 *	  to_jsonb(row)) to the model's feature vector.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ENCODER_H
#define RETENTION_ENCODER_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum EncoderKind
{
	ENCODER_NUMERIC,
	ENCODER_CATEGORICAL
} EncoderKind;

typedef struct EncoderColumn
{
	char	   *name;
	EncoderKind kind;
	int			first;			/* index of its first feature */
	int			n_features;
	/* numeric */
	double		mean;			/* training mean: the value of a missing entry */
	bool		standardize;	/* (value - mean) / scale */
	double		scale;			/* the training standard deviation, or 1 when 0 */
	bool		missing_indicator;
	/* categorical */
	char	   *reference;
	int			n_levels;		/* levels with a feature of their own */
	char	  **levels;			/* in feature order */
	int		   *level_order;	/* indexes into levels, sorted by byte order */
	int			n_rare;
	char	  **rare;			/* grouped into "(other)", sorted by byte order */
	bool		has_other;
	bool		has_missing;	/* "(missing)" has a feature */
} EncoderColumn;

typedef struct ChurnEncoder
{
	int			n_columns;
	EncoderColumn *columns;
	int			n_features;
	char	  **names;			/* n_features readable names */
} ChurnEncoder;

/* Parse and check an encoder (22023 on anything malformed). */
extern ChurnEncoder *EncoderParse(Jsonb *jb);

/*
 * Encode one row into x (n_features doubles); returns how many columns of the
 * row held a level or value the encoder has not seen (scored as the
 * reference level, or for a numeric column without a missing indicator, as
 * the training mean).  unseen_names, if not NULL, gets a palloc'd list
 * "column=value" of them.
 */
extern int	EncoderEncode(const ChurnEncoder *enc, Jsonb *row, double *x,
						  List **unseen);

/*
 * What the scoring functions of a call site keep in fn_extra across rows:
 * the parsed encoder and calibration of the model, each with a copy of the
 * jsonb it was parsed from (a new model value is parsed anew).
 */
typedef struct CacheSlot
{
	Jsonb	   *key;
	void	   *value;
} CacheSlot;

typedef enum ChurnCacheKind
{
	CHURN_CACHE_ENCODER,		/* a ChurnEncoder (EncoderParse) */
	CHURN_CACHE_CALIBRATION		/* a Calibration (CalibrationParse) */
} ChurnCacheKind;

typedef struct ChurnCallCache
{
	CacheSlot	slots[2];		/* by ChurnCacheKind */
} ChurnCallCache;

/*
 * The parse of jb as a "kind": the call site's when it parsed the same bytes
 * last, else parsed anew in fn_mcxt and remembered with a copy of jb.
 */
extern void *ChurnCached(FunctionCallInfo fcinfo, ChurnCacheKind kind, Jsonb *jb);

/* The parsed encoder of a call site, cached in fn_extra across rows. */
extern ChurnEncoder *EncoderCached(FunctionCallInfo fcinfo, Jsonb *jb);

#endif							/* RETENTION_ENCODER_H */
