/*-------------------------------------------------------------------------
 *
 * als.c
 *	  The aggregate retention.als_train(user_id, item_id, weight [, options]):
 *	  implicit-feedback alternating least squares (Hu, Koren & Volinsky,
 *	  "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008),
 *	  each least-squares problem solved approximately by a few steps of
 *	  conjugate gradient started from the previous solution (Takács, Pilászy
 *	  & Tikk, "Applications of the conjugate gradient method for implicit
 *	  feedback collaborative filtering", RecSys 2011), as the `implicit`
 *	  library does by default.
 *
 * The model: preference p_ui = 1 for every (user, item) pair with a
 * positive weight (weights of a repeated pair add up), 0 otherwise;
 * confidence c_ui = 1 + alpha * weight.  Alternately, for every user with
 * the item factors Y fixed, and for every item with the user factors X
 * fixed, minimise
 *
 *	sum_i c_ui (p_ui - x_u . y_i)^2 + regularization * |x_u|^2,
 *
 * whose normal equations are (Y'Y + Y'(C_u - I)Y + regularization I) x_u
 * = Y' C_u p_u.  Y'Y is computed once per half-iteration; the rest involves
 * only the user's own items (section 4 of Hu et al.), so one iteration
 * costs O(nnz * factors * cg_steps + (n_users + n_items) * factors^2).
 *
 * Determinism: the triples are sorted before training, factors start from
 * a SplitMix64 stream seeded by the "seed" option (uniform in [0, 0.01),
 * users then items in id order), and every sum runs in a fixed order, so a
 * seed and a data set give the same model bit for bit, whatever the row
 * order or the number of parallel workers.
 *
 * Memory: 24 bytes per input row in the state; while training, 12 bytes
 * per distinct pair for each of the two sparse orientations, 8 * factors
 * bytes per user and per item (double working factors) and the model,
 * 8 + 4 * factors bytes per user and per item.  A model over 1 GB, the
 * limit of one value, is refused with SQLSTATE 54000 before training.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "agg_context.h"
#include "als.h"
#include "linalg.h"
#include "interactions.h"
#include "item_knn_model.h"

typedef struct AlsState
{
	AlsOptions	options;
	Interactions list;			/* the triples */
} AlsState;

#define STATE_HEADER_SIZE	(sizeof(uint32) + sizeof(AlsOptions) + sizeof(int64))
#define ALS_STATE_MAGIC		0x414C5353	/* "ALSS" */

static const AlsOptions default_options = {
	.factors = 32,
	.iterations = 15,
	.cg_steps = 3,
	.regularization = 0.01,
	.alpha = 1.0,
	.seed = 0
};

void
CheckAlsOptions(const AlsOptions *o)
{
	const char *bad = NULL;

	if (o->factors < 1 || o->factors > ALS_MAX_FACTORS)
		bad = psprintf("\"factors\" must be between 1 and %d.", ALS_MAX_FACTORS);
	else if (o->iterations < 1 || o->iterations > ALS_MAX_ITERATIONS)
		bad = psprintf("\"iterations\" must be between 1 and %d.", ALS_MAX_ITERATIONS);
	else if (o->cg_steps < 1 || o->cg_steps > ALS_MAX_CG_STEPS)
		bad = psprintf("\"cg_steps\" must be between 1 and %d.", ALS_MAX_CG_STEPS);
	/* written so that NaN fails */
	else if (!(o->regularization > 0.0 && o->regularization < 1e12))
		bad = pstrdup("\"regularization\" must be greater than 0 and less than 1e12.");
	else if (!(o->alpha >= 0.0 && o->alpha < 1e12))
		bad = pstrdup("\"alpha\" must be at least 0 and less than 1e12.");
	if (bad)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid als_train option"),
				 errdetail("%s", bad)));
}

/* the numeric value of an option, or an error naming it */
static float8
OptionNumber(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid als_train option"),
				 errdetail("\"%s\" must be a number.", key)));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

static int64
OptionInteger(JsonbValue *v, const char *key, int64 min, int64 max)
{
	float8		x = OptionNumber(v, key);

	if (!(x == floor(x) && x >= (float8) min && x <= (float8) max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid als_train option"),
				 errdetail("\"%s\" must be an integer between %lld and %lld.", key,
						   (long long) min, (long long) max)));
	return (int64) x;
}

/* Parse the options object; unknown keys are an error (a typo would be silent). */
static AlsOptions
ParseOptions(Jsonb *jb)
{
	AlsOptions	o = default_options;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (jb == NULL)
		return o;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("als_train options must be a JSON object")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (strcmp(key, "factors") == 0)
			o.factors = (int32) OptionInteger(&v, key, 1, ALS_MAX_FACTORS);
		else if (strcmp(key, "iterations") == 0)
			o.iterations = (int32) OptionInteger(&v, key, 1, ALS_MAX_ITERATIONS);
		else if (strcmp(key, "cg_steps") == 0)
			o.cg_steps = (int32) OptionInteger(&v, key, 1, ALS_MAX_CG_STEPS);
		else if (strcmp(key, "regularization") == 0)
			o.regularization = OptionNumber(&v, key);
		else if (strcmp(key, "alpha") == 0)
			o.alpha = OptionNumber(&v, key);
		else if (strcmp(key, "seed") == 0)
			o.seed = OptionInteger(&v, key, -((int64) 1 << 53), (int64) 1 << 53);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown als_train option \"%s\"", key),
					 errhint("The options are factors, regularization, alpha, iterations, cg_steps and seed.")));
	}
	CheckAlsOptions(&o);
	return o;
}

static bool
SameOptions(const AlsOptions *a, const AlsOptions *b)
{
	return a->factors == b->factors && a->iterations == b->iterations &&
		a->cg_steps == b->cg_steps && a->regularization == b->regularization &&
		a->alpha == b->alpha && a->seed == b->seed;
}

static void
CheckSameOptions(const AlsOptions *a, const AlsOptions *b)
{
	if (!SameOptions(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("als_train options must be the same in every row")));
}

static AlsState *
NewState(MemoryContext context, const AlsOptions *options, int64 capacity)
{
	AlsState   *state = MemoryContextAlloc(context, sizeof(AlsState));

	state->options = *options;
	InteractionsInit(&state->list, context, "als_train", capacity);
	return state;
}

/*
 * The options of this row.  Rows almost always pass the same constant, so
 * the parsed options are kept with the raw bytes they came from.
 */
typedef struct OptionsCache
{
	Size		len;
	char	   *bytes;
	AlsOptions	options;
} OptionsCache;

static AlsOptions
RowOptions(FunctionCallInfo fcinfo)
{
	OptionsCache *cache = (OptionsCache *) fcinfo->flinfo->fn_extra;
	Jsonb	   *jb;
	Size		len;

	if (PG_NARGS() < 5 || PG_ARGISNULL(4))
		return default_options;
	jb = PG_GETARG_JSONB_P(4);
	len = VARSIZE(jb);
	if (cache != NULL && cache->len == len && memcmp(cache->bytes, jb, len) == 0)
		return cache->options;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(OptionsCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	cache->options = ParseOptions(jb);
	if (cache->bytes)
		pfree(cache->bytes);
	cache->bytes = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, len);
	memcpy(cache->bytes, jb, len);
	cache->len = len;
	return cache->options;
}

/* Collects one (user, item, weight) triple; rows with a NULL among them are skipped. */
PG_FUNCTION_INFO_V1(als_train_transfn);
Datum
als_train_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	AlsState   *state = PG_ARGISNULL(0) ? NULL : (AlsState *) PG_GETARG_POINTER(0);
	AlsOptions	options;
	float8		weight;

	aggcontext = AggregateContext(fcinfo, "als_train_transfn");

	options = RowOptions(fcinfo);
	if (state == NULL)
		state = NewState(aggcontext, &options, 0);
	else
		CheckSameOptions(&state->options, &options);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(state);

	weight = PG_GETARG_FLOAT8(3);
	/* bounded so that 1 + alpha * (sum of weights) stays finite */
	if (!(weight >= 0.0 && weight <= 1e12))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight must be between 0 and 1e12"),
				 errdetail("User %lld has weight %g for item %lld.",
						   (long long) PG_GETARG_INT64(1), weight,
						   (long long) PG_GETARG_INT64(2))));

	InteractionsAdd(&state->list, PG_GETARG_INT64(1), PG_GETARG_INT64(2), weight);
	PG_RETURN_POINTER(state);
}

/* Returns the union of two partial states (parallel and partial aggregation). */
PG_FUNCTION_INFO_V1(als_train_combinefn);
Datum
als_train_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	AlsState   *a = PG_ARGISNULL(0) ? NULL : (AlsState *) PG_GETARG_POINTER(0);
	AlsState   *b = PG_ARGISNULL(1) ? NULL : (AlsState *) PG_GETARG_POINTER(1);

	aggcontext = AggregateContext(fcinfo, "als_train_combinefn");

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = NewState(aggcontext, &b->options, b->list.n);	/* copy, never alias */
	else
		CheckSameOptions(&a->options, &b->options);

	InteractionsAppend(&a->list, &b->list);
	PG_RETURN_POINTER(a);
}

/* Returns the state as bytea: a magic number, the options, the count, the triples. */
PG_FUNCTION_INFO_V1(als_train_serialfn);
Datum
als_train_serialfn(PG_FUNCTION_ARGS)
{
	AlsState   *state = (AlsState *) PG_GETARG_POINTER(0);
	uint32		magic = ALS_STATE_MAGIC;
	AlsOptions	options;
	char		header[STATE_HEADER_SIZE];

	memcpy(header, &magic, sizeof(uint32));
	/* field by field into zeroed bytes: no uninitialised padding leaves the process */
	memset(&options, 0, sizeof(AlsOptions));
	options.factors = state->options.factors;
	options.iterations = state->options.iterations;
	options.cg_steps = state->options.cg_steps;
	options.regularization = state->options.regularization;
	options.alpha = state->options.alpha;
	options.seed = state->options.seed;
	memcpy(header + sizeof(uint32), &options, sizeof(AlsOptions));
	memcpy(header + sizeof(uint32) + sizeof(AlsOptions), &state->list.n, sizeof(int64));
	PG_RETURN_BYTEA_P(InteractionsSerialize(&state->list, header, STATE_HEADER_SIZE));
}

/* Returns the state read back from als_train_serialfn's bytea, after checking every field. */
PG_FUNCTION_INFO_V1(als_train_deserialfn);
Datum
als_train_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcontext;
	const char *p;
	uint32		magic;
	AlsOptions	options;
	int64		n;
	AlsState   *state;

	aggcontext = AggregateContext(fcinfo, "als_train_deserialfn");

	p = InteractionsStateHeader(data, "als_train", STATE_HEADER_SIZE);
	memcpy(&magic, p, sizeof(uint32));
	memcpy(&options, p + sizeof(uint32), sizeof(AlsOptions));
	memcpy(&n, p + sizeof(uint32) + sizeof(AlsOptions), sizeof(int64));
	if (magic != ALS_STATE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid als_train state: bad magic number")));
	InteractionsCheckCount(data, "als_train", STATE_HEADER_SIZE, n);
	CheckAlsOptions(&options);

	state = MemoryContextAlloc(aggcontext, sizeof(AlsState));
	state->options = options;
	InteractionsFromState(&state->list, aggcontext, "als_train", data, STATE_HEADER_SIZE, n, 1e12);
	PG_RETURN_POINTER(state);
}

/* SplitMix64 (Steele, Lea & Flood 2014): a small, well-mixed, seedable stream */
static inline uint64
SplitMix64(uint64 *s)
{
	uint64		z = (*s += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* a sparse matrix in compressed rows: row r has entries start[r] .. start[r+1]-1 */
typedef struct Csr
{
	int64	   *start;
	int32	   *col;
	float8	   *conf;			/* confidence c = 1 + alpha * weight */
} Csr;

/* out = G v for the symmetric f x f matrix G */
static inline void
SymMul(const float8 *g, const float8 *v, float8 *out, int f)
{
	for (int r = 0; r < f; r++)
		out[r] = VecDot(g + (Size) r * f, v, f);
}

/* G = Y'Y + regularization I over n rows of Y */
static void
Gram(const float8 *y, int64 n, int f, float8 regularization, float8 *g)
{
	memset(g, 0, sizeof(float8) * f * f);
	for (int64 i = 0; i < n; i++)
	{
		const float8 *row = y + i * f;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < f; r++)
		{
			float8		a = row[r];

			for (int c = 0; c < f; c++)
				g[(Size) r * f + c] += a * row[c];
		}
	}
	for (int r = 0; r < f; r++)
		g[(Size) r * f + r] += regularization;
}

/*
 * One half-iteration: update every row x of X (n_rows of them) given the
 * other side's factors Y, by cg_steps steps of conjugate gradient on
 * (G + Y'(C - I)Y) x = Y' C p, starting from the current x.
 */
static void
SolveSide(float8 *x, int64 n_rows, const float8 *y, const Csr *m, const float8 *g,
		  int f, int cg_steps, float8 *work)
{
	float8	   *r = work;
	float8	   *p = work + f;
	float8	   *ap = work + 2 * f;

	for (int64 u = 0; u < n_rows; u++)
	{
		float8	   *xu = x + u * f;
		float8		rsold;

		if ((u & 255) == 0)
			CHECK_FOR_INTERRUPTS();

		/* r = b - A x = -G x + sum_i (c - (c - 1) y.x) y */
		SymMul(g, xu, r, f);
		for (int j = 0; j < f; j++)
			r[j] = -r[j];
		for (int64 t = m->start[u]; t < m->start[u + 1]; t++)
		{
			const float8 *yi = y + (Size) m->col[t] * f;
			float8		c = m->conf[t];
			float8		coef = c - (c - 1.0) * VecDot(yi, xu, f);

			for (int j = 0; j < f; j++)
				r[j] += coef * yi[j];
		}
		memcpy(p, r, sizeof(float8) * f);
		rsold = VecDot(r, r, f);

		for (int step = 0; step < cg_steps; step++)
		{
			float8		pap;
			float8		a;
			float8		rsnew;

			if (rsold < 1e-20)
				break;
			/* ap = A p = G p + sum_i (c - 1) (y.p) y */
			SymMul(g, p, ap, f);
			for (int64 t = m->start[u]; t < m->start[u + 1]; t++)
			{
				const float8 *yi = y + (Size) m->col[t] * f;
				float8		coef = (m->conf[t] - 1.0) * VecDot(yi, p, f);

				for (int j = 0; j < f; j++)
					ap[j] += coef * yi[j];
			}
			pap = VecDot(p, ap, f);
			/* A is positive definite; a non-positive p'Ap means p is ~0 */
			if (!(pap > 0.0))
				break;
			a = rsold / pap;
			for (int j = 0; j < f; j++)
			{
				xu[j] += a * p[j];
				r[j] -= a * ap[j];
			}
			rsnew = VecDot(r, r, f);
			if (rsnew < 1e-20)
				break;
			for (int j = 0; j < f; j++)
				p[j] = r[j] + (rsnew / rsold) * p[j];
			rsold = rsnew;
		}
	}
}

/* Returns the model trained on all collected triples, NULL when there were no rows. */
PG_FUNCTION_INFO_V1(als_train_finalfn);
Datum
als_train_finalfn(PG_FUNCTION_ARGS)
{
	AlsState   *state = PG_ARGISNULL(0) ? NULL : (AlsState *) PG_GETARG_POINTER(0);
	AlsOptions *o;
	Interaction *rows;
	int64		n_pairs;
	int64	   *users;
	int64	   *items;
	int64		n_users = 0;
	int64		n_items = 0;
	int64		n_pos = 0;
	Csr			by_user;
	Csr			by_item;
	float8	   *xf;
	float8	   *yf;
	float8	   *g;
	float8	   *work;
	int			f;
	AlsModel   *model;
	uint64		rng;

	if (state == NULL || state->list.n == 0)
		PG_RETURN_NULL();
	o = &state->options;
	f = o->factors;

	/*
	 * Sort and merge repeated pairs in place; the final function may run
	 * again on the same state, and the merged state is equivalent.
	 */
	n_pairs = InteractionsMergePairs(&state->list);
	rows = state->list.rows;

	/* distinct ids; rows are sorted by user already */
	users = palloc_extended(sizeof(int64) * n_pairs, MCXT_ALLOC_HUGE);
	items = palloc_extended(sizeof(int64) * n_pairs, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < n_pairs; i++)
	{
		if (n_users == 0 || users[n_users - 1] != rows[i].user_id)
			users[n_users++] = rows[i].user_id;
		items[i] = rows[i].item_id;
	}
	qsort(items, n_pairs, sizeof(int64), CompareInt64);
	for (int64 i = 0; i < n_pairs; i++)
		if (n_items == 0 || items[n_items - 1] != items[i])
			items[n_items++] = items[i];

	/* refuse a model that cannot be one value before the costly part */
	model = AllocAlsModel(o, n_users, n_items);

	/*
	 * Both orientations of the sparse matrix, positive weights only (a zero
	 * weight is a preference of 0 with confidence 1, the same as no row).
	 */
	for (int64 i = 0; i < n_pairs; i++)
		if (rows[i].weight > 0.0)
			n_pos++;
	by_user.start = palloc_extended(sizeof(int64) * (n_users + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	by_user.col = palloc_extended(sizeof(int32) * Max(n_pos, 1), MCXT_ALLOC_HUGE);
	by_user.conf = palloc_extended(sizeof(float8) * Max(n_pos, 1), MCXT_ALLOC_HUGE);
	by_item.start = palloc_extended(sizeof(int64) * (n_items + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	by_item.col = palloc_extended(sizeof(int32) * Max(n_pos, 1), MCXT_ALLOC_HUGE);
	by_item.conf = palloc_extended(sizeof(float8) * Max(n_pos, 1), MCXT_ALLOC_HUGE);
	{
		int64		u = -1;
		int64		t = 0;
		int64	   *fill;

		for (int64 i = 0; i < n_pairs; i++)
		{
			int64	   *found;
			int32		item;

			if (u < 0 || users[u] != rows[i].user_id)
				by_user.start[++u] = t;
			if (!(rows[i].weight > 0.0))
				continue;
			found = bsearch(&rows[i].item_id, items, n_items, sizeof(int64), CompareInt64);
			item = (int32) (found - items);
			by_user.col[t] = item;
			by_user.conf[t] = 1.0 + o->alpha * rows[i].weight;
			by_item.start[item + 1]++;
			t++;
		}
		by_user.start[n_users] = t;
		for (int64 i = 0; i < n_items; i++)
			by_item.start[i + 1] += by_item.start[i];
		fill = palloc_extended(sizeof(int64) * n_items, MCXT_ALLOC_HUGE);
		memcpy(fill, by_item.start, sizeof(int64) * n_items);
		for (int64 uu = 0; uu < n_users; uu++)
			for (int64 k = by_user.start[uu]; k < by_user.start[uu + 1]; k++)
			{
				int64		at = fill[by_user.col[k]]++;

				by_item.col[at] = (int32) uu;
				by_item.conf[at] = by_user.conf[k];
			}
		pfree(fill);
	}

	/* factors start uniform in [0, 0.01), users then items, from the seed */
	xf = palloc_extended(sizeof(float8) * n_users * f, MCXT_ALLOC_HUGE);
	yf = palloc_extended(sizeof(float8) * n_items * f, MCXT_ALLOC_HUGE);
	rng = (uint64) o->seed;
	for (int64 i = 0; i < n_users * f; i++)
		xf[i] = (float8) (SplitMix64(&rng) >> 11) * 0x1.0p-53 * 0.01;
	for (int64 i = 0; i < n_items * f; i++)
		yf[i] = (float8) (SplitMix64(&rng) >> 11) * 0x1.0p-53 * 0.01;

	g = palloc(sizeof(float8) * f * f);
	work = palloc(sizeof(float8) * 3 * f);
	for (int it = 0; it < o->iterations; it++)
	{
		Gram(yf, n_items, f, o->regularization, g);
		SolveSide(xf, n_users, yf, &by_user, g, f, o->cg_steps, work);
		Gram(xf, n_users, f, o->regularization, g);
		SolveSide(yf, n_items, xf, &by_item, g, f, o->cg_steps, work);
	}

	memcpy(AlsUsers(model), users, sizeof(int64) * n_users);
	memcpy(AlsItems(model), items, sizeof(int64) * n_items);
	{
		float4	   *mu = AlsUserFactors(model);
		float4	   *mi = AlsItemFactors(model);

		for (int64 i = 0; i < n_users * f; i++)
			mu[i] = (float4) xf[i];
		for (int64 i = 0; i < n_items * f; i++)
			mi[i] = (float4) yf[i];
		/* a diverged fit must not produce a model the reader would refuse */
		for (int64 i = 0; i < n_users * f; i++)
			if (!isfinite(mu[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("als_train diverged"),
						 errhint("Use a larger regularization or smaller weights.")));
		for (int64 i = 0; i < n_items * f; i++)
			if (!isfinite(mi[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("als_train diverged"),
						 errhint("Use a larger regularization or smaller weights.")));
	}

	pfree(xf);
	pfree(yf);
	pfree(by_user.start);
	pfree(by_user.col);
	pfree(by_user.conf);
	pfree(by_item.start);
	pfree(by_item.col);
	pfree(by_item.conf);
	pfree(users);
	pfree(items);
	AlsModelSeal(model);
	PG_RETURN_POINTER(model);
}
