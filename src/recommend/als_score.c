/*-------------------------------------------------------------------------
 *
 * als_score.c
 *	  Scoring with a retention.als_model: recommend_als (the k best unseen
 *	  items by x_u . y_i, a user the model does not know folded in from the
 *	  items seen), the user and item factors as rows, and one user's vector.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "als.h"
#include "int8_array.h"
#include "topk.h"

/*
 * Fold-in: the user vector the training would give a user who bought the
 * given known items (weight 1 each, so confidence 1 + alpha), with the item
 * factors fixed: the exact solution of
 * (Y'Y + alpha Y_s'Y_s + regularization I) x = (1 + alpha) Y_s' 1,
 * by Cholesky.  The same least-squares step as training, solved exactly,
 * as the implicit library's recalculate_user does.
 */
static void
FoldIn(FunctionCallInfo fcinfo, const AlsModel *m, const int32 *known, int n_known, float8 *x)
{
	int			f = m->factors;
	const float4 *y = AlsItemFactors(m);
	const float8 *g = AlsItemGram(fcinfo, m);
	float8	   *a = palloc(sizeof(float8) * f * f);

	memcpy(a, g, sizeof(float8) * f * f);
	memset(x, 0, sizeof(float8) * f);
	for (int r = 0; r < f; r++)
		a[r * f + r] += m->regularization;
	for (int s = 0; s < n_known; s++)
	{
		const float4 *row = y + (Size) known[s] * f;

		/* factors^2 a seen item, factors^3 below: a large model must stay cancellable */
		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < f; r++)
		{
			for (int c = 0; c < f; c++)
				a[r * f + c] += m->alpha * row[r] * row[c];
			x[r] += (1.0 + m->alpha) * row[r];
		}
	}
	/* Cholesky a = L L' in place (lower triangle); a is positive definite */
	for (int j = 0; j < f; j++)
	{
		float8		d = a[j * f + j];

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < j; k++)
			d -= a[j * f + k] * a[j * f + k];
		if (!(d > 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("fold-in failed: the normal equations are not positive definite")));
		d = sqrt(d);
		a[j * f + j] = d;
		for (int i = j + 1; i < f; i++)
		{
			float8		s = a[i * f + j];

			for (int k = 0; k < j; k++)
				s -= a[i * f + k] * a[j * f + k];
			a[i * f + j] = s / d;
		}
	}
	for (int i = 0; i < f; i++)
	{
		for (int k = 0; k < i; k++)
			x[i] -= a[i * f + k] * x[k];
		x[i] /= a[i * f + i];
	}
	for (int i = f - 1; i >= 0; i--)
	{
		for (int k = i + 1; k < f; k++)
			x[i] -= a[k * f + i] * x[k];
		x[i] /= a[i * f + i];
	}
	pfree(a);
}

/*
 * The user's vector: the model's own when the user is in it, else folded
 * in from the known seen items.  Returns false when there is neither.
 * known[] receives the model indexes of the seen items (ascending).
 */
static bool
UserVector(FunctionCallInfo fcinfo, const AlsModel *m, bool has_user, int64 user_id,
		   const int64 *seen, int n_seen, int32 *known, int *n_known, float8 *x)
{
	int			u = has_user ? AlsFindId(AlsUsers(m), m->n_users, user_id) : -1;

	*n_known = 0;
	for (int s = 0; s < n_seen; s++)
	{
		int			i = AlsFindId(AlsItems(m), m->n_items, seen[s]);

		if (i >= 0)
			known[(*n_known)++] = i;
	}
	if (u >= 0)
	{
		const float4 *row = AlsUserFactors(m) + (Size) u * m->factors;

		for (int j = 0; j < m->factors; j++)
			x[j] = row[j];
		return true;
	}
	if (*n_known == 0)
		return false;
	FoldIn(fcinfo, m, known, *n_known, x);
	return true;
}

/*
 * Returns the k best items for a user by x_u . y_i, excluding seen items,
 * highest first, ties by item id.  A user the model does not know is folded
 * in from seen; without known seen items there are no rows.
 */
PG_FUNCTION_INFO_V1(recommend_als);
Datum
recommend_als(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlsModel   *m;
	int32		k;
	int64	   *seen;
	int			n_seen = 0;
	int32	   *known;
	int			n_known;
	float8	   *x;
	TopK		best;
	int			f;
	const float4 *y;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(3);
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero"),
				 errdetail("k is %d.", k)));
	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;

	m = GetAlsModelCached(fcinfo, 0);
	f = m->factors;
	seen = PG_ARGISNULL(2) ? palloc(sizeof(int64)) : Int8ArrayDistinct(PG_GETARG_ARRAYTYPE_P(2), "seen", &n_seen);
	known = palloc(sizeof(int32) * Max(n_seen, 1));
	x = palloc(sizeof(float8) * f);
	if (!UserVector(fcinfo, m, !PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
					seen, n_seen, known, &n_known, x))
		return (Datum) 0;

	TopKInit(&best, Min(k, m->n_items));
	y = AlsItemFactors(m);
	for (int32 i = 0, s = 0; i < m->n_items; i++)
	{
		const float4 *row = y + (Size) i * f;
		float8		score = 0.0;

		/* known[] is ascending: skip seen items in one merge pass */
		if (s < n_known && known[s] == i)
		{
			s++;
			continue;
		}
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < f; j++)
			score += x[j] * row[j];
		TopKOffer(&best, score, i);
	}
	TopKSort(&best);
	for (int r = 0; r < best.n; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(AlsItems(m)[best.entries[r].index]);
		values[1] = Float8GetDatum(best.entries[r].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static ArrayType *
Float4Array(const float4 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	ArrayType  *a;

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(values[i]);
	a = construct_array(d, n, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
	pfree(d);
	return a;
}

/* Returns one row (id, factors float4[]) per user or item of the model. */
static Datum
FactorRows(FunctionCallInfo fcinfo, bool items)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlsModel   *m = GetAlsModelCached(fcinfo, 0);
	int32		n = items ? m->n_items : m->n_users;
	const int64 *ids = items ? AlsItems(m) : AlsUsers(m);
	const float4 *fac = items ? AlsItemFactors(m) : AlsUserFactors(m);

	InitMaterializedSRF(fcinfo, 0);
	for (int32 i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(ids[i]);
		values[1] = PointerGetDatum(Float4Array(fac + (Size) i * m->factors, m->factors));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Returns the item factors as rows (item_id, factors). */
PG_FUNCTION_INFO_V1(als_item_factors);
Datum
als_item_factors(PG_FUNCTION_ARGS)
{
	return FactorRows(fcinfo, true);
}

/* Returns the user factors as rows (user_id, factors). */
PG_FUNCTION_INFO_V1(als_user_factors);
Datum
als_user_factors(PG_FUNCTION_ARGS)
{
	return FactorRows(fcinfo, false);
}

/*
 * Returns one user's vector as float4[]: the model's own, or folded in from
 * seen for a user it does not know; NULL when there is neither.
 */
PG_FUNCTION_INFO_V1(als_user_vector);
Datum
als_user_vector(PG_FUNCTION_ARGS)
{
	AlsModel   *m;
	int64	   *seen;
	int			n_seen = 0;
	int32	   *known;
	int			n_known;
	float8	   *x;
	float4	   *x4;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = GetAlsModelCached(fcinfo, 0);
	seen = PG_ARGISNULL(2) ? palloc(sizeof(int64)) : Int8ArrayDistinct(PG_GETARG_ARRAYTYPE_P(2), "seen", &n_seen);
	known = palloc(sizeof(int32) * Max(n_seen, 1));
	x = palloc(sizeof(float8) * m->factors);
	if (!UserVector(fcinfo, m, !PG_ARGISNULL(1), PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
					seen, n_seen, known, &n_known, x))
		PG_RETURN_NULL();
	x4 = palloc(sizeof(float4) * m->factors);
	for (int j = 0; j < m->factors; j++)
		x4[j] = (float4) x[j];
	PG_RETURN_ARRAYTYPE_P(Float4Array(x4, m->factors));
}
