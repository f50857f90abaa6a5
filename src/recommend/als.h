/*-------------------------------------------------------------------------
 *
 * als.h
 *	  The binary layout of retention.als_model, an implicit-feedback matrix
 *	  factorisation (Hu, Koren & Volinsky 2008).
 *
 * A model is one varlena: a fixed header, then the ids and the factors,
 * 8-byte members first so that every array is aligned (the type is
 * declared with double alignment):
 *
 *	int64	users[n_users]					user ids, strictly ascending
 *	int64	items[n_items]					item ids, strictly ascending
 *	float4	user_factors[n_users * factors]	row u is the vector of users[u]
 *	float4	item_factors[n_items * factors]	row i is the vector of items[i]
 *
 * Size: 64 + (8 + 4 * factors) * (n_users + n_items) bytes; with 32 factors
 * that is 136 bytes per user and per item.  A model must fit in one
 * PostgreSQL value (1 GB): als_train refuses larger ones with SQLSTATE 54000.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_ALS_H
#define RETENTION_ALS_H

#include "fmgr.h"
#include "utils/memutils.h"

#define ALS_MAGIC			0x414C5331	/* "ALS1" */
#define ALS_FORMAT			1
#define ALS_MAX_FACTORS		1024
#define ALS_MAX_ITERATIONS	1000
#define ALS_MAX_CG_STEPS	100

typedef struct AlsModel
{
	int32		vl_len_;		/* varlena header, do not touch directly */
	uint32		magic;			/* ALS_MAGIC */
	int32		format;			/* ALS_FORMAT */
	int32		factors;
	int32		n_users;
	int32		n_items;
	int32		iterations;		/* training parameters, kept for reference */
	int32		cg_steps;
	float8		regularization;
	float8		alpha;
	int64		seed;
	uint64		hash;			/* of the whole value, set by AlsModelSeal; 0 in
								 * values made before it existed */
} AlsModel;

#define AlsUsers(m)			((int64 *) ((char *) (m) + sizeof(AlsModel)))
#define AlsItems(m)			(AlsUsers(m) + (m)->n_users)
#define AlsUserFactors(m)	((float4 *) (AlsItems(m) + (m)->n_items))
#define AlsItemFactors(m)	(AlsUserFactors(m) + (Size) (m)->n_users * (m)->factors)

/* training options, as parsed from the options jsonb */
typedef struct AlsOptions
{
	int32		factors;
	int32		iterations;
	int32		cg_steps;
	float8		regularization;
	float8		alpha;
	int64		seed;
} AlsOptions;

/*
 * Total size of a model, or 0 when it would not fit in one value (every
 * product and sum checked for overflow).
 */
extern Size AlsModelSize(int64 factors, int64 n_users, int64 n_items);

/* A zeroed model with its header filled in, or error 54000 when too large. */
extern AlsModel *AllocAlsModel(const AlsOptions *options, int64 n_users, int64 n_items);
/* records the hash of a model whose ids and factors are complete */
extern void AlsModelSeal(AlsModel *model);

/* Detoast a model argument and validate every field and value. */
extern AlsModel *GetAlsModel(Datum datum);

/* The same, cached for the rest of the query when the value is on disk. */
extern AlsModel *GetAlsModelCached(FunctionCallInfo fcinfo, int argno);

/*
 * Y'Y of the item factors (f x f, double) for fold-in, computed once per
 * model cached by GetAlsModelCached.
 */
extern const float8 *AlsItemGram(FunctionCallInfo fcinfo, const AlsModel *m);

/* Index of id in a strictly ascending int64 array, or -1. */
extern int	AlsFindId(const int64 *ids, int n, int64 id);

/* Validate option values (ranges), raising 22023 naming the option. */
extern void CheckAlsOptions(const AlsOptions *options);

#endif							/* RETENTION_ALS_H */
