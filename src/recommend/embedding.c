/*-------------------------------------------------------------------------
 *
 * embedding.c
 *	  The aggregate retention.embedding_mean(float4[]): the mean of a set of
 *	  embeddings, e.g. a user's profile from the items they bought, to be
 *	  compared with item embeddings by cosine_sim.
 *
 * The state is a concrete float8[] {tag, count, sum_1 .. sum_d, err_1 .. err_d}
 * (the tag: layout and version, state_reader.h),
 * updated in place inside an aggregate (as core's float8_accum does), so the
 * aggregate combines by adding states, needs no serialisation, and Citus can
 * push it down to worker nodes.  Each sum is compensated (Neumaier): err_i
 * holds what rounding took from sum_i, so a sum carries about 106 bits.  The
 * order of the rows, and so the number of parallel workers, can then change
 * the float4 mean only if the exact mean lies within about 2^-80 of a float4
 * rounding boundary.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "float_array.h"
#include "state_reader.h"

#define EMBEDDING_TAG FLOAT8_STATE_TAG(FLOAT8_LAYOUT_EMBEDDING_MEAN, 1)

static ArrayType *
NewState(int dims)
{
	ArrayType  *state;
	Size		size = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * (2 * dims + 2);

	state = palloc0(size);
	SET_VARSIZE(state, size);
	state->ndim = 1;
	state->dataoffset = 0;
	state->elemtype = FLOAT8OID;
	ARR_DIMS(state)[0] = 2 * dims + 2;
	ARR_LBOUND(state)[0] = 1;
	((float8 *) ARR_DATA_PTR(state))[0] = EMBEDDING_TAG;
	return state;
}

/*
 * The reader of the state: the number of dimensions it holds, after checking
 * its shape, tag, length and count.  The sums may be anything finite or not:
 * they only enter the mean.
 */
static int
StateDims(ArrayType *state)
{
	int			n;
	const float8 *v = Float8StateRead(state, "embedding_mean", EMBEDDING_TAG, 0, &n);

	if (n < 4 || n % 2 != 0)
		Float8StateInvalid("embedding_mean", "%d elements; a state holds the tag, a count and two per dimension", n);
	if (!(v[1] >= 0) || v[1] != floor(v[1]))
		Float8StateInvalid("embedding_mean", "the count is %g, not a non-negative integer", v[1]);
	return (n - 2) / 2;
}

/* add x to the compensated sum (*sum, *err) */
static inline void
AddCompensated(float8 *sum, float8 *err, float8 x)
{
	float8		t = *sum + x;

	if (fabs(*sum) >= fabs(x))
		*err += (*sum - t) + x;
	else
		*err += (x - t) + *sum;
	*sum = t;
}

static void
CheckDims(int have, int want)
{
	if (have != want)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embedding has %d dimensions but the others have %d", have, want),
				 errhint("All embeddings of one mean must come from the same model.")));
}

/* Returns the state with one more embedding added; NULL embeddings are skipped. */
PG_FUNCTION_INFO_V1(embedding_mean_transfn);
Datum
embedding_mean_transfn(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *embedding;
	const float4 *x;
	float8	   *sums;
	int			dims;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embedding_mean_transfn can only be called by the aggregate retention.embedding_mean")));
	if (PG_ARGISNULL(1))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_ARRAYTYPE_P(state);
	}

	embedding = PG_GETARG_ARRAYTYPE_P(1);
	dims = CheckFloatArray(embedding, FLOAT4OID, "embedding");
	x = (const float4 *) ARR_DATA_PTR(embedding);
	for (int i = 0; i < dims; i++)
		if (!isfinite(x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("array \"embedding\" must not contain NaN or infinite values"),
					 errdetail("Element %d is %s.", i + 1, isnan(x[i]) ? "NaN" : "infinite")));

	/* the state is ours, in the aggregate's context: update it in place */
	if (state == NULL)
	{
		MemoryContext aggcontext;
		MemoryContext old;

		AggCheckCallContext(fcinfo, &aggcontext);
		old = MemoryContextSwitchTo(aggcontext);
		state = NewState(dims);
		MemoryContextSwitchTo(old);
	}
	else
		CheckDims(dims, StateDims(state));

	sums = (float8 *) ARR_DATA_PTR(state) + 1;
	sums[0] += 1;
	for (int i = 0; i < dims; i++)
		AddCompensated(&sums[1 + i], &sums[1 + dims + i], x[i]);
	PG_RETURN_ARRAYTYPE_P(state);
}

/* Returns the sum of two states. */
PG_FUNCTION_INFO_V1(embedding_mean_combinefn);
Datum
embedding_mean_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ArrayType  *a = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	float8	   *x;
	const float8 *y;
	int			dims;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("embedding_mean_combinefn can only be called by the aggregate retention.embedding_mean")));
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_ARRAYTYPE_P(a);
	}
	dims = StateDims(b);
	if (a == NULL)
	{
		/* copy, never alias: b belongs to the caller */
		MemoryContext old = MemoryContextSwitchTo(aggcontext);

		a = NewState(dims);
		MemoryContextSwitchTo(old);
	}
	else
		CheckDims(dims, StateDims(a));

	/* past the tags */
	x = (float8 *) ARR_DATA_PTR(a) + 1;
	y = (const float8 *) ARR_DATA_PTR(b) + 1;
	x[0] += y[0];
	for (int i = 0; i < dims; i++)
	{
		AddCompensated(&x[1 + i], &x[1 + dims + i], y[1 + i]);
		x[1 + dims + i] += y[1 + dims + i];
	}
	PG_RETURN_ARRAYTYPE_P(a);
}

/* Returns the mean embedding as float4[], NULL when no embedding was given. */
PG_FUNCTION_INFO_V1(embedding_mean_finalfn);
Datum
embedding_mean_finalfn(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	const float8 *sums;
	int			dims;
	Datum	   *values;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = PG_GETARG_ARRAYTYPE_P(0);
	dims = StateDims(state);
	sums = (const float8 *) ARR_DATA_PTR(state) + 1;
	if (sums[0] == 0)
		PG_RETURN_NULL();

	values = palloc(sizeof(Datum) * dims);
	for (int i = 0; i < dims; i++)
		values[i] = Float4GetDatum((float4) ((sums[1 + i] + sums[1 + dims + i]) / sums[0]));
	PG_RETURN_ARRAYTYPE_P(construct_array(values, dims, FLOAT4OID, sizeof(float4),
										  true, TYPALIGN_INT));
}
