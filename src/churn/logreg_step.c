/*-------------------------------------------------------------------------
 *
 * logreg_step.c
 *	  The multi-pass form of logistic regression: logreg_step and the
 *	  helpers that logreg_train_multipass (SQL) uses to iterate.
 *
 * logreg_step(label, features, coef, options) is one Newton pass as a plain
 * aggregate with a float8[] state of sums (objective, gradient, Hessian,
 * counts; layout in logreg_newton.h), combined by adding.  Constant memory,
 * and a state that Citus can ship between nodes as text, at the price of one
 * scan of the table per iteration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "float_array.h"
#include "linalg.h"
#include "logreg_model.h"
#include "logreg_newton.h"
#include "logreg_options.h"
#include "state_reader.h"

static ArrayType *
SumsToArray(const double *s)
{
	return Float8ArrayFromValues(s, (s[SUMS_K] < 0) ? SUMS_HEADER :
								 SumsLength((int) s[SUMS_K], (int) s[SUMS_P]));
}

/*
 * A logreg_step state, checked: 1-D float8 without NULLs, our magic, and a
 * length that matches its k and p.  Returns the data pointer.
 */
static double *
CheckedSums(ArrayType *a, int *k, int *p)
{
	double	   *s;
	int			n;

	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		goto bad;
	n = ARR_DIMS(a)[0];
	s = (double *) ARR_DATA_PTR(a);
	if (n < SUMS_HEADER || (s[0] != SUMS_MAGIC && s[0] != SUMS_MAGIC_0_1_0))
		goto bad;
	*k = (int) s[SUMS_K];
	*p = (int) s[SUMS_P];
	if (*k == -1 && n == SUMS_HEADER)
		return s;
	if (*k < 1 || *k > LOGREG_MAX_FEATURES || (*p != *k && *p != *k + 1) ||
		n != SumsLength(*k, *p))
		goto bad;
	return s;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid logreg_step state"),
			 errhint("Pass the float8[] returned by retention.logreg_step unchanged.")));
	return NULL;				/* keep the compiler quiet */
}

/* options and a scratch row, parsed once per query and call site */
typedef struct StepCache
{
	LogregOptions opts;
	double	   *xe;
} StepCache;

static StepCache *
GetStepCache(FunctionCallInfo fcinfo, int options_arg)
{
	StepCache  *cache = fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		cache = palloc0(sizeof(StepCache));
		LogregParseOptions(PG_ARGISNULL(options_arg) ? NULL : PG_GETARG_JSONB_P(options_arg),
						   &cache->opts);
		cache->xe = palloc(sizeof(double) * (LOGREG_MAX_FEATURES + 1));
		MemoryContextSwitchTo(old);
		if (cache->opts.class_weight == CLASS_WEIGHT_BALANCED)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("logreg_step does not take class_weight \"balanced\""),
					 errhint("Give the weights explicitly, or use retention.logreg_train_multipass, which computes them.")));
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/*
 * Returns the sums of one Newton pass with one more row: the transition of
 * logreg_step(label, features, coef, options).  The state is updated in place
 * when called as an aggregate, as core float8_accum does.
 */
PG_FUNCTION_INFO_V1(logreg_step_accum);
Datum
logreg_step_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	StepCache  *cache = GetStepCache(fcinfo, 4);
	ArrayType  *state_arr;
	ArrayType  *features;
	ArrayType  *coef_arr;
	double	   *s;
	int			k;
	int			p;
	int			n;
	bool		usable;
	const double *x;

	aggctx = AggContextOrError(fcinfo, "retention.logreg_step");

	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(aggctx);
		double		empty[SUMS_HEADER] = {SUMS_MAGIC, -1, -1};

		state_arr = SumsToArray(empty);
		MemoryContextSwitchTo(old);
	}
	else
		state_arr = PG_GETARG_ARRAYTYPE_P(0);
	s = CheckedSums(state_arr, &k, &p);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		s[SUMS_N_SKIPPED] += 1.0;
		PG_RETURN_ARRAYTYPE_P(state_arr);
	}
	features = PG_GETARG_ARRAYTYPE_P(2);
	n = LogregTrainingRow(features, k, &usable);
	if (!usable)
	{
		s[SUMS_N_SKIPPED] += 1.0;
		PG_RETURN_ARRAYTYPE_P(state_arr);
	}
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients of logreg_step must not be NULL")));
	coef_arr = PG_GETARG_ARRAYTYPE_P(3);

	if (k < 0)
	{
		/* the first usable row fixes k: grow the header-only state */
		MemoryContext old = MemoryContextSwitchTo(aggctx);
		double	   *full = LogregNewSums(n, n + (cache->opts.fit_intercept ? 1 : 0));

		full[SUMS_N_SKIPPED] = s[SUMS_N_SKIPPED];
		state_arr = SumsToArray(full);
		MemoryContextSwitchTo(old);
		s = CheckedSums(state_arr, &k, &p);
	}
	if (Float8ArrayLength(coef_arr) != p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("coefficient vector has %d elements but %d were expected",
						Float8ArrayLength(coef_arr), p),
				 errhint("Pass the intercept first (when fit_intercept is true), then one coefficient per feature.")));

	x = (const double *) ARR_DATA_PTR(features);
	if (cache->opts.fit_intercept)
	{
		cache->xe[0] = 1.0;
		memcpy(cache->xe + 1, x, sizeof(double) * k);
	}
	else
		memcpy(cache->xe, x, sizeof(double) * k);
	LogregAccumRow(s, k, p, (const double *) ARR_DATA_PTR(coef_arr), cache->xe, x,
			 PG_GETARG_BOOL(1),
			 PG_GETARG_BOOL(1) ? cache->opts.weight_pos : cache->opts.weight_neg);
	PG_RETURN_ARRAYTYPE_P(state_arr);
}

/* Returns the sum of two logreg_step states. */
PG_FUNCTION_INFO_V1(logreg_step_combine);
Datum
logreg_step_combine(PG_FUNCTION_ARGS)
{
	int			ka,
				pa,
				kb,
				pb;
	double	   *a = CheckedSums(PG_GETARG_ARRAYTYPE_P(0), &ka, &pa);
	double	   *b = CheckedSums(PG_GETARG_ARRAYTYPE_P(1), &kb, &pb);
	double	   *r;
	int			len;

	if (ka < 0 || kb < 0)
	{
		/* a side that saw no usable row only brings its skipped count */
		r = (ka < 0) ? b : a;
		len = (ka < 0) ? ((kb < 0) ? SUMS_HEADER : SumsLength(kb, pb)) : SumsLength(ka, pa);
		r = memcpy(palloc(sizeof(double) * len), r, sizeof(double) * len);
		r[0] = SUMS_MAGIC;
		r[SUMS_N_SKIPPED] = a[SUMS_N_SKIPPED] + b[SUMS_N_SKIPPED];
		PG_RETURN_ARRAYTYPE_P(SumsToArray(r));
	}
	if (ka != kb || pa != pb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", kb, ka)));
	len = SumsLength(ka, pa);
	r = palloc(sizeof(double) * len);
	r[0] = SUMS_MAGIC;
	r[SUMS_K] = ka;
	r[SUMS_P] = pa;
	for (int i = SUMS_N_ROWS; i < len; i++)
		r[i] = a[i] + b[i];
	PG_RETURN_ARRAYTYPE_P(SumsToArray(r));
}

static double *
StepCoef(ArrayType *coef_arr, int p)
{
	if (Float8ArrayLength(coef_arr) != p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("coefficient vector has %d elements but %d were expected",
						ARR_NDIM(coef_arr) == 1 ? ARR_DIMS(coef_arr)[0] : 0, p)));
	return (double *) ARR_DATA_PTR(coef_arr);
}

/*
 * The arguments (state, coef, options) that the functions below share: the
 * checked sums and the options, or NULL when the state or coef is NULL (the
 * result is NULL then).  Not STRICT, so that options may be NULL.
 */
static double *
PassArgs(FunctionCallInfo fcinfo, int *k, int *p, LogregOptions *opts)
{
	double	   *s;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return NULL;
	s = CheckedSums(PG_GETARG_ARRAYTYPE_P(0), k, p);
	LogregParseOptions(PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), opts);
	return s;
}

/* Returns the penalised objective of a logreg_step state at its coefficients. */
PG_FUNCTION_INFO_V1(logreg_step_objective);
Datum
logreg_step_objective(PG_FUNCTION_ARGS)
{
	int			k,
				p;
	double	   *s;
	LogregOptions opts;

	s = PassArgs(fcinfo, &k, &p, &opts);
	if (s == NULL || k < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(LogregObjective(s, StepCoef(PG_GETARG_ARRAYTYPE_P(1), p), p, &opts));
}

/*
 * Returns the Newton step of a logreg_step state: {objective, criterion,
 * d_1 .. d_p}, the next iterate being coef - d; NULL when the Hessian is
 * singular away from the starting point (separation).
 */
PG_FUNCTION_INFO_V1(logreg_step_direction);
Datum
logreg_step_direction(PG_FUNCTION_ARGS)
{
	int			k,
				p;
	double	   *s;
	double	   *beta;
	double	   *out;
	double		crit;
	int			bad_col;
	LogregOptions opts;
	bool		at_start = true;

	s = PassArgs(fcinfo, &k, &p, &opts);
	if (s == NULL || k < 0)
		PG_RETURN_NULL();
	beta = StepCoef(PG_GETARG_ARRAYTYPE_P(1), p);
	out = palloc0(sizeof(double) * (p + 2));
	if (!LogregNewtonDirection(s, beta, k, p, &opts, out + 2, &crit, &bad_col))
	{
		for (int j = 0; j < p; j++)
			at_start &= (beta[j] == 0.0);
		if (at_start)
			LogregRaiseCollinear(bad_col, &opts);
		PG_RETURN_NULL();
	}
	out[0] = LogregObjective(s, beta, p, &opts);
	out[1] = crit;
	PG_RETURN_ARRAYTYPE_P(Float8ArrayFromValues(out, p + 2));
}

/*
 * Returns the model of a finished multi-pass fit from the state at its final
 * coefficients (NULL when no row was usable); warns like logreg_train, given
 * the last step relative to the coefficients.
 */
PG_FUNCTION_INFO_V1(logreg_step_model);
Datum
logreg_step_model(PG_FUNCTION_ARGS)
{
	int			k,
				p;
	double	   *s;
	LogregOptions opts;
	double	   *beta;
	bool		converged;

	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_NULL();
	s = PassArgs(fcinfo, &k, &p, &opts);
	if (s == NULL || k < 0 || s[SUMS_N_ROWS] == 0)
		PG_RETURN_NULL();
	LogregCheckNames(&opts, k);
	beta = StepCoef(PG_GETARG_ARRAYTYPE_P(1), p);
	/* without the last step, any row at +-37 counts as separation */
	converged = LogregCheckFit(s, &opts, PG_GETARG_BOOL(4), PG_GETARG_INT32(3),
						 (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ? PG_GETARG_FLOAT8(5) : INFINITY);
	PG_RETURN_POINTER(LogregBuildModel(s, beta, k, p, &opts, PG_GETARG_INT32(3), converged,
								 (int64) s[SUMS_N_SKIPPED]));
}
