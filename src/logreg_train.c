/*-------------------------------------------------------------------------
 *
 * logreg_train.c
 *	  Exact logistic regression: the logreg_train aggregates and the
 *	  multi-pass form (logreg_step and its helpers) for distributed tables.
 *
 * The objective is the negative log-likelihood plus (lambda / 2) ||coef||^2,
 * the intercept unpenalised, optionally with class weights.  It is minimised
 * by Newton's method (IRLS): at each iterate one pass over the rows gathers
 * the objective, the gradient and the full Hessian X'WX; the step solves the
 * Hessian by Cholesky (see linalg.c) and is halved until the objective does
 * not increase.  Newton converges quadratically, so the estimate is exact to
 * working precision a step after the step size falls below "tol".
 *
 * Two forms share the per-row arithmetic (AccumRow):
 *
 *  - logreg_train(label, features [, options]) keeps the valid rows in
 *    memory (8 * (k + 1) bytes each plus a label byte, capped by the
 *    max_memory_mb option, 1024 MB by default) and runs every Newton pass
 *    over that copy in the final function.  One scan of the table; parallel
 *    workers each gather a share of the rows, which the leader concatenates.
 *
 *  - logreg_step(label, features, coef, options) is one Newton pass as a
 *    plain aggregate with a float8[] state of sums (objective, gradient,
 *    Hessian, counts), combined by adding; logreg_train_multipass (SQL)
 *    drives it to convergence.  Constant memory and a state Citus can ship,
 *    at the price of one scan of the table per iteration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "float_array.h"
#include "linalg.h"
#include "logreg_model.h"
#include "logreg_train.h"

#define DEFAULT_MAX_ITER		100
#define DEFAULT_TOL				1e-8
#define DEFAULT_MAX_MEMORY_MB	1024.0

/*
 * |z| beyond which a fitted probability is 1 or 0 to double precision
 * (exp(-37) < DBL_EPSILON / 2): at an existing maximum-likelihood estimate
 * practically no row gets there, so such rows signal separation.
 */
#define SEPARATION_Z			37.0

/* an objective increase this small (relative) is rounding, not a bad step */
#define OBJECTIVE_SLACK			1e-13
#define MAX_HALVINGS			50

/* ---------- options ---------- */

static void
BadOption(const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for logreg_train option \"%s\"", key),
			 errdetail("%s", detail)));
}

static double
OptionNumber(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		BadOption(key, "The value must be a number.");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

static void
ParseClassWeight(JsonbValue *v, LogregOptions *opts)
{
	if (v->type == jbvString)
	{
		if (v->val.string.len == 8 && strncmp(v->val.string.val, "balanced", 8) == 0)
		{
			opts->class_weight = CLASS_WEIGHT_BALANCED;
			return;
		}
		BadOption("class_weight", "The value must be \"balanced\" or an object such as {\"0\": 1, \"1\": 3}.");
	}
	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		opts->class_weight = CLASS_WEIGHT_GIVEN;
		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			char	   *name;
			double		w;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(key.val.string.val, key.val.string.len);
			tok = JsonbIteratorNext(&it, &val, true);
			w = OptionNumber(&val, "class_weight");
			if (!(w > 0.0) || !isfinite(w))
				BadOption("class_weight", "Class weights must be positive and finite.");
			if (strcmp(name, "1") == 0 || strcmp(name, "true") == 0)
				opts->weight_pos = w;
			else if (strcmp(name, "0") == 0 || strcmp(name, "false") == 0)
				opts->weight_neg = w;
			else
				BadOption("class_weight", psprintf("The key \"%s\" is not a class; use \"0\" and \"1\" (or \"false\" and \"true\").", name));
		}
		return;
	}
	BadOption("class_weight", "The value must be \"balanced\" or an object such as {\"0\": 1, \"1\": 3}.");
}

void
LogregParseOptions(Jsonb *options, LogregOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	v;
	JsonbIteratorToken tok;

	opts->lambda = 0.0;
	opts->max_iter = DEFAULT_MAX_ITER;
	opts->tol = DEFAULT_TOL;
	opts->fit_intercept = true;
	opts->class_weight = CLASS_WEIGHT_NONE;
	opts->weight_neg = 1.0;
	opts->weight_pos = 1.0;
	opts->max_memory_mb = DEFAULT_MAX_MEMORY_MB;
	opts->n_names = -1;
	opts->names = NULL;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("logreg_train options must be a JSON object"),
				 errhint("For example '{\"lambda\": 1, \"feature_names\": [\"tenure\", \"orders\"]}'.")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull)
			continue;			/* null means the default */

		if (strcmp(name, "lambda") == 0)
		{
			opts->lambda = OptionNumber(&v, name);
			if (!(opts->lambda >= 0.0) || !isfinite(opts->lambda))
				BadOption(name, "The L2 strength must be zero or positive.");
		}
		else if (strcmp(name, "max_iter") == 0)
		{
			double		m = OptionNumber(&v, name);

			if (!(m >= 1 && m <= 10000) || m != floor(m))
				BadOption(name, "The value must be an integer between 1 and 10000.");
			opts->max_iter = (int) m;
		}
		else if (strcmp(name, "tol") == 0)
		{
			opts->tol = OptionNumber(&v, name);
			if (!(opts->tol > 0.0) || !isfinite(opts->tol))
				BadOption(name, "The tolerance must be positive.");
		}
		else if (strcmp(name, "fit_intercept") == 0)
		{
			if (v.type != jbvBool)
				BadOption(name, "The value must be true or false.");
			opts->fit_intercept = v.val.boolean;
		}
		else if (strcmp(name, "max_memory_mb") == 0)
		{
			opts->max_memory_mb = OptionNumber(&v, name);
			if (!(opts->max_memory_mb > 0.0) || !isfinite(opts->max_memory_mb))
				BadOption(name, "The value must be a positive number of megabytes.");
		}
		else if (strcmp(name, "class_weight") == 0)
			ParseClassWeight(&v, opts);
		else if (strcmp(name, "feature_names") == 0)
		{
			JsonbIterator *ait;
			JsonbValue	e;
			int			cap = 16;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				BadOption(name, "The value must be an array of strings.");
			opts->names = palloc(sizeof(char *) * cap);
			opts->n_names = 0;
			ait = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&ait, &e, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM)
					continue;
				if (e.type != jbvString)
					BadOption(name, "The value must be an array of strings.");
				if (opts->n_names == cap)
				{
					cap *= 2;
					opts->names = repalloc(opts->names, sizeof(char *) * cap);
				}
				opts->names[opts->n_names++] = pnstrdup(e.val.string.val, e.val.string.len);
			}
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized logreg_train option \"%s\"", name),
					 errhint("Valid options are lambda, max_iter, tol, fit_intercept, class_weight, feature_names and max_memory_mb.")));
	}
}

/* ---------- the sums of one Newton pass ---------- */

/*
 * Everything one pass over the rows at a given coefficient vector gathers.
 * The same layout is the float8[] state of logreg_step, so that both forms
 * run the same arithmetic.
 */
#define SUMS_HEADER		10
#define SUMS_K			1
#define SUMS_P			2
#define SUMS_N_ROWS		3
#define SUMS_N_SKIPPED	4
#define SUMS_N_POS		5
#define SUMS_W_POS		6
#define SUMS_W_NEG		7
#define SUMS_NLL		8
#define SUMS_N_EXTREME	9
#define SUMS_MAGIC		7301.0	/* slot 0: marks a logreg_step state */

#define SumsLength(k, p)	(SUMS_HEADER + (k) + (p) + (p) * (p))
#define SumsX(s)			((s) + SUMS_HEADER)
#define SumsG(s, k)			((s) + SUMS_HEADER + (k))
#define SumsH(s, k, p)		((s) + SUMS_HEADER + (k) + (p))

static double *
NewSums(int k, int p)
{
	double	   *s = palloc0(sizeof(double) * SumsLength(k, p));

	s[0] = SUMS_MAGIC;
	s[SUMS_K] = k;
	s[SUMS_P] = p;
	return s;
}

/*
 * Add one row to the sums at coefficients beta (length p, intercept first
 * when there is one).  xe is the row extended with a leading 1 when the model
 * has an intercept, so that every term is a plain product.
 */
static inline void
AccumRow(double *s, int k, int p, const double *beta, const double *xe,
		 const double *x, bool label, double weight)
{
	double		z = 0.0;
	double		y = label ? 1.0 : 0.0;
	double		e;
	double		prob;
	double		r;
	double		h;
	double	   *g = SumsG(s, k);
	double	   *hess = SumsH(s, k, p);
	double	   *sx = SumsX(s);

	for (int j = 0; j < p; j++)
		z += beta[j] * xe[j];

	/*
	 * One exp serves both: with e = exp(-|z|), log(1 + e^z) - y z is
	 * max(z, 0) + log1p(e) - y z without overflow, and the probability is
	 * 1 / (1 + e) or e / (1 + e) by the sign of z.
	 */
	e = exp(-fabs(z));
	s[SUMS_NLL] += weight * (Max(z, 0.0) + log1p(e) - y * z);
	if (fabs(z) > SEPARATION_Z)
		s[SUMS_N_EXTREME] += 1.0;
	prob = (z >= 0.0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
	r = weight * (prob - y);
	h = weight * prob * (1.0 - prob);

	for (int j = 0; j < p; j++)
		g[j] += r * xe[j];
	/* upper triangle only; each entry its own accumulator */
	for (int a = 0; a < p; a++)
	{
		double		hx = h * xe[a];
		double	   *row = hess + a * p;

		for (int b = a; b < p; b++)
			row[b] += hx * xe[b];
	}
	for (int j = 0; j < k; j++)
		sx[j] += x[j];

	s[SUMS_N_ROWS] += 1.0;
	if (label)
	{
		s[SUMS_N_POS] += 1.0;
		s[SUMS_W_POS] += weight;
	}
	else
		s[SUMS_W_NEG] += weight;
}

/* the penalised objective of sums gathered at beta */
static double
PenalisedObjective(const double *s, const double *beta, int p, const LogregOptions *opts)
{
	double		pen = 0.0;

	for (int j = opts->fit_intercept ? 1 : 0; j < p; j++)
		pen += beta[j] * beta[j];
	return s[SUMS_NLL] + 0.5 * opts->lambda * pen;
}

/* gradient and Hessian of the penalised objective (full symmetric Hessian) */
static void
PenalisedDerivatives(const double *s, const double *beta, int k, int p,
					 const LogregOptions *opts, double *g, double *hess)
{
	const double *sg = SumsG(s, k);
	const double *sh = SumsH(s, k, p);

	for (int a = 0; a < p; a++)
	{
		g[a] = sg[a];
		for (int b = a; b < p; b++)
			hess[a * p + b] = hess[b * p + a] = sh[a * p + b];
	}
	for (int j = opts->fit_intercept ? 1 : 0; j < p; j++)
	{
		g[j] += opts->lambda * beta[j];
		hess[j * p + j] += opts->lambda;
	}
}

static void
RaiseCollinear(int col, const LogregOptions *opts)
{
	int			feature = col - (opts->fit_intercept ? 1 : 0);
	char	   *what;

	if (feature < 0)
		what = pstrdup("the intercept");
	else if (opts->n_names > feature)
		what = psprintf("feature %d (\"%s\")", feature + 1, opts->names[feature]);
	else
		what = psprintf("feature %d", feature + 1);

	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s is constant or a linear combination of the other features", what),
			 errdetail("The Hessian of the log-likelihood is singular, so the coefficients are not identifiable."),
			 errhint("Drop the feature, or set the lambda option for an L2 penalty.")));
}

/*
 * The Newton direction at beta from its sums: d = H^-1 g, so that the next
 * iterate is beta - d.  Returns false when the Hessian is singular.  *crit
 * gets the largest step in curvature units, |d_j| sqrt(H_jj): that is
 * invariant to rescaling a feature, unlike |d_j| itself.
 */
static bool
NewtonDirection(const double *s, const double *beta, int k, int p,
				const LogregOptions *opts, double *d, double *crit, int *bad_col)
{
	double	   *g = palloc(sizeof(double) * p);
	double	   *hess = palloc(sizeof(double) * p * p);
	SpdFactor	f;

	PenalisedDerivatives(s, beta, k, p, opts, g, hess);
	for (int j = 0; j < p; j++)
	{
		int			feature = j - (opts->fit_intercept ? 1 : 0);

		/* sums of squares of values near 1e154 overflow: say so, not "collinear" */
		if (!isfinite(hess[j * p + j]) || !isfinite(g[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature %d is too large to fit: its sums of squares overflow", feature + 1),
					 errhint("Rescale the feature, for example to thousands instead of units.")));
	}
	*bad_col = SpdFactorize(&f, hess, p);
	if (*bad_col >= 0)
		return false;
	SpdSolve(&f, g, d);
	*crit = 0.0;
	for (int j = 0; j < p; j++)
		*crit = Max(*crit, fabs(d[j]) * sqrt(hess[j * p + j]));
	return isfinite(*crit);
}

/*
 * The model from the sums gathered at the final beta: standard errors from
 * the inverse of the (penalised) Hessian there, likelihoods, means, counts.
 */
static LogregModel *
BuildModel(const double *s, const double *beta, int k, int p,
		   const LogregOptions *opts, int iterations, bool converged,
		   int64 n_skipped)
{
	LogregModel *model = LogregModelAlloc(k, opts->n_names == k ? opts->names : NULL);
	double	   *g = palloc(sizeof(double) * p);
	double	   *hess = palloc(sizeof(double) * p * p);
	double	   *diag = palloc(sizeof(double) * p);
	int			off = opts->fit_intercept ? 1 : 0;
	double		n = s[SUMS_N_ROWS];
	double		w1 = s[SUMS_W_POS];
	double		w0 = s[SUMS_W_NEG];
	SpdFactor	f;

	model->flags |= LOGREG_HAS_STATS | LOGREG_HAS_MEANS;
	if (opts->fit_intercept)
		model->flags |= LOGREG_FIT_INTERCEPT;
	if (converged)
		model->flags |= LOGREG_CONVERGED;
	model->intercept = opts->fit_intercept ? beta[0] : 0.0;
	memcpy(LogregCoef(model), beta + off, sizeof(double) * k);
	for (int j = 0; j < k; j++)
		LogregMean(model)[j] = SumsX(s)[j] / n;

	PenalisedDerivatives(s, beta, k, p, opts, g, hess);
	if (SpdFactorize(&f, hess, p) < 0)
	{
		SpdInverseDiagonal(&f, diag);
		for (int j = 0; j < p; j++)
			LogregStdErr(model)[j + 1 - off] = sqrt(diag[j]);
	}
	/* else: no curvature left (separation); the standard errors stay null */

	model->log_likelihood = -s[SUMS_NLL];
	/* the intercept-only model's maximum, in closed form; 0 log 0 = 0 */
	if (opts->fit_intercept)
		model->null_log_likelihood =
			(w1 > 0 ? w1 * log(w1 / (w1 + w0)) : 0.0) +
			(w0 > 0 ? w0 * log(w0 / (w1 + w0)) : 0.0);
	else
		model->null_log_likelihood = -(w1 + w0) * M_LN2;
	model->lambda = opts->lambda;
	model->iterations = iterations;
	model->n_rows = (int64) n;
	model->n_skipped = n_skipped;
	return model;
}

/*
 * Warnings for a fit whose optimum does not exist or was not reached; returns
 * the final "converged" flag.
 *
 * Separation shows as rows whose fitted log-odds are beyond +-37 while the
 * coefficients still move: on separable data each Newton step pushes the
 * separated rows about one unit further out, so the coefficients grow
 * linearly and the last step is a sizeable fraction of them (about
 * 1/iterations).  An existing optimum may also put an outlying row beyond
 * 37 (R's glm warns then too), but there the last step is ~1e-10 of the
 * coefficients.  last_step is ||last step|| / ||coefficients||, infinite when
 * the curvature vanished.
 */
#define SEPARATION_STEP 1e-6

static bool
CheckFit(const double *s, const LogregOptions *opts, bool converged, int iterations,
		 double last_step)
{
	double		n = s[SUMS_N_ROWS];
	double		n_pos = s[SUMS_N_POS];

	if (opts->fit_intercept && (n_pos == 0 || n_pos == n))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the training data has only one class: all %.0f labels are %s",
						n, n_pos == 0 ? "false" : "true"),
				 errdetail("The maximum-likelihood intercept is infinite; the model is not converged."),
				 errhint("Train on rows of both classes.")));
		return false;
	}
	if (s[SUMS_N_EXTREME] > 0 && opts->lambda == 0.0 && !(last_step < SEPARATION_STEP))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("fitted probabilities numerically 0 or 1 occurred for %.0f of %.0f rows",
						s[SUMS_N_EXTREME], n),
				 errdetail("The classes are (quasi-)separable by the features, so the maximum-likelihood estimate does not exist and the coefficients grow without bound; the model is not converged."),
				 errhint("Set the lambda option for an L2 penalty, or drop the feature that separates the classes.")));
		return false;
	}
	if (!converged)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("logistic regression did not converge in %d iterations", iterations),
				 errhint("Raise the max_iter option, or set the lambda option for an L2 penalty.")));
	return converged;
}

/* ||t d|| / ||beta||: how far the last step moved the coefficients */
static double
RelativeStep(const double *d, double t, const double *beta, int p)
{
	double		step = 0.0;
	double		norm = 0.0;

	for (int j = 0; j < p; j++)
	{
		step += (t * d[j]) * (t * d[j]);
		norm += beta[j] * beta[j];
	}
	if (norm == 0.0)
		return step == 0.0 ? 0.0 : INFINITY;
	return sqrt(step / norm);
}

/* class weights once the class counts are known */
static void
ResolveClassWeights(LogregOptions *opts, double n_pos, double n)
{
	if (opts->class_weight == CLASS_WEIGHT_BALANCED && n_pos > 0 && n_pos < n)
	{
		/* scikit-learn's "balanced": n / (2 n_class) */
		opts->weight_pos = n / (2.0 * n_pos);
		opts->weight_neg = n / (2.0 * (n - n_pos));
	}
}

/* ---------- the in-memory aggregate: logreg_train ---------- */

typedef struct LogregState
{
	int			k;				/* -1 until the first valid row */
	int64		n;				/* valid rows kept */
	int64		n_skipped;
	int64		capacity;		/* rows */
	double	   *rows;			/* n x (k + 1): a leading 1, then the features */
	bool	   *labels;
	Jsonb	   *options;		/* NULL for the defaults */
	double		max_bytes;
} LogregState;

static Size
RowBytes(int k)
{
	return sizeof(double) * (k + 1) + sizeof(bool);
}

static LogregState *
NewState(MemoryContext ctx, Jsonb *options)
{
	LogregState *state = MemoryContextAllocZero(ctx, sizeof(LogregState));
	LogregOptions opts;

	state->k = -1;
	if (options != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx);

		state->options = (Jsonb *) PG_DETOAST_DATUM_COPY(PointerGetDatum(options));
		MemoryContextSwitchTo(old);
	}
	/* reject bad options at the first row, not after a long scan */
	LogregParseOptions(state->options, &opts);
	state->max_bytes = opts.max_memory_mb * 1024.0 * 1024.0;
	return state;
}

static void
Reserve(MemoryContext ctx, LogregState *state, int64 rows)
{
	int64		cap;

	if (rows <= state->capacity)
		return;
	/* start small: with GROUP BY there is one state per group */
	cap = Max(rows, Max(state->capacity * 2, 16));
	if ((double) cap * RowBytes(state->k) > state->max_bytes)
	{
		/* grow to the limit, not row by row (each step copies everything) */
		cap = (int64) (state->max_bytes / RowBytes(state->k));
		if (rows > cap)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("logreg_train needs more than its memory limit of %g MB",
							state->max_bytes / (1024.0 * 1024.0)),
					 errdetail("Keeping " INT64_FORMAT " rows of %d features takes %zu bytes per row.",
							   rows, state->k, RowBytes(state->k)),
					 errhint("Raise the max_memory_mb option, or train with retention.logreg_train_multipass, which reads the table once per iteration in constant memory.")));
	}
	if (state->rows == NULL)
	{
		state->rows = MemoryContextAllocHuge(ctx, sizeof(double) * (state->k + 1) * cap);
		state->labels = MemoryContextAllocHuge(ctx, sizeof(bool) * cap);
	}
	else
	{
		state->rows = repalloc_huge(state->rows, sizeof(double) * (state->k + 1) * cap);
		state->labels = repalloc_huge(state->labels, sizeof(bool) * cap);
	}
	state->capacity = cap;
}

static LogregState *
CopyState(MemoryContext ctx, const LogregState *src)
{
	LogregState *dst = MemoryContextAllocZero(ctx, sizeof(LogregState));

	dst->k = src->k;
	dst->n_skipped = src->n_skipped;
	dst->max_bytes = src->max_bytes;
	if (src->options != NULL)
	{
		dst->options = MemoryContextAlloc(ctx, VARSIZE(src->options));
		memcpy(dst->options, src->options, VARSIZE(src->options));
	}
	if (src->n > 0)
	{
		Reserve(ctx, dst, src->n);
		memcpy(dst->rows, src->rows, sizeof(double) * (src->k + 1) * src->n);
		memcpy(dst->labels, src->labels, sizeof(bool) * src->n);
		dst->n = src->n;
	}
	return dst;
}

/*
 * Validate a training row's feature array.  Returns its length and sets
 * *usable to false for a row to skip (NULL or non-finite elements); a row
 * of the wrong shape or length is an error, not a skip: it means the
 * feature query is wrong.
 */
static int
TrainingRow(ArrayType *features, int expected, bool *usable)
{
	int			n;
	const double *x;

	if (ARR_NDIM(features) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature vector must not be empty")));
	if (ARR_NDIM(features) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector must be one-dimensional"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(features))));
	n = ARR_DIMS(features)[0];
	if (expected >= 0 && n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", n, expected),
				 errhint("Every row must have the same features in the same order.")));
	if (n > LOGREG_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("feature vector has %d elements, more than the %d a model may have",
						n, LOGREG_MAX_FEATURES)));

	*usable = true;
	if (ARR_HASNULL(features) && array_contains_nulls(features))
	{
		*usable = false;
		return n;
	}
	x = (const double *) ARR_DATA_PTR(features);
	for (int j = 0; j < n; j++)
		if (!isfinite(x[j]))
		{
			*usable = false;
			break;
		}
	return n;
}

/* Returns the training state with one more row (or one more skipped row). */
PG_FUNCTION_INFO_V1(logreg_train_accum);
Datum
logreg_train_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	LogregState *state;
	ArrayType  *features;
	int			n;
	bool		usable;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "logreg_train_accum called in non-aggregate context");

	if (PG_ARGISNULL(0))
		state = NewState(aggctx, (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_JSONB_P(3) : NULL);
	else
		state = (LogregState *) PG_GETARG_POINTER(0);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		state->n_skipped++;
		PG_RETURN_POINTER(state);
	}
	features = PG_GETARG_ARRAYTYPE_P(2);
	n = TrainingRow(features, state->k, &usable);
	if (!usable)
	{
		state->n_skipped++;
		PG_RETURN_POINTER(state);
	}
	if (state->k < 0)
		state->k = n;
	Reserve(aggctx, state, state->n + 1);
	{
		double	   *row = state->rows + (state->k + 1) * state->n;

		row[0] = 1.0;
		memcpy(row + 1, ARR_DATA_PTR(features), sizeof(double) * n);
	}
	state->labels[state->n] = PG_GETARG_BOOL(1);
	state->n++;
	PG_RETURN_POINTER(state);
}

/* Returns the union of two training states (parallel aggregation). */
PG_FUNCTION_INFO_V1(logreg_train_combine);
Datum
logreg_train_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	LogregState *a = PG_ARGISNULL(0) ? NULL : (LogregState *) PG_GETARG_POINTER(0);
	LogregState *b = PG_ARGISNULL(1) ? NULL : (LogregState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "logreg_train_combine called in non-aggregate context");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		PG_RETURN_POINTER(CopyState(aggctx, b));

	a->n_skipped += b->n_skipped;
	if (a->options == NULL && b->options != NULL)
	{
		a->options = MemoryContextAlloc(aggctx, VARSIZE(b->options));
		memcpy(a->options, b->options, VARSIZE(b->options));
	}
	if (b->n == 0)
		PG_RETURN_POINTER(a);
	if (a->k < 0)
		a->k = b->k;
	else if (a->k != b->k)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature vector has %d elements but earlier rows have %d", b->k, a->k),
				 errhint("Every row must have the same features in the same order.")));
	Reserve(aggctx, a, a->n + b->n);
	memcpy(a->rows + (a->k + 1) * a->n, b->rows, sizeof(double) * (b->k + 1) * b->n);
	memcpy(a->labels + a->n, b->labels, sizeof(bool) * b->n);
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

/*
 * Serialised state: a fixed header, the options jsonb, the labels and the
 * rows, each copied as bytes (parallel workers run on the same machine).
 */
typedef struct SerialHeader
{
	int32		k;
	int32		options_len;
	int64		n;
	int64		n_skipped;
	double		max_bytes;
} SerialHeader;

/* Returns a training state as bytea, for parallel workers. */
PG_FUNCTION_INFO_V1(logreg_train_serialize);
Datum
logreg_train_serialize(PG_FUNCTION_ARGS)
{
	LogregState *state = (LogregState *) PG_GETARG_POINTER(0);
	SerialHeader hdr;
	double		total;
	bytea	   *result;
	char	   *p;

	hdr.k = state->k;
	hdr.options_len = state->options ? VARSIZE(state->options) : 0;
	hdr.n = state->n;
	hdr.n_skipped = state->n_skipped;
	hdr.max_bytes = state->max_bytes;

	total = (double) VARHDRSZ + sizeof(hdr) + hdr.options_len +
		(double) state->n * (sizeof(bool) + sizeof(double) * (state->k + 1));
	if (total > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("logreg_train state of a parallel worker exceeds 1 GB"),
				 errhint("Set max_parallel_workers_per_gather = 0 for this query, or train with retention.logreg_train_multipass.")));

	result = palloc((Size) total);
	SET_VARSIZE(result, (Size) total);
	p = VARDATA(result);
	memcpy(p, &hdr, sizeof(hdr));
	p += sizeof(hdr);
	if (hdr.options_len > 0)
	{
		memcpy(p, state->options, hdr.options_len);
		p += hdr.options_len;
	}
	if (state->n > 0)
	{
		memcpy(p, state->labels, sizeof(bool) * state->n);
		p += sizeof(bool) * state->n;
		memcpy(p, state->rows, sizeof(double) * (state->k + 1) * state->n);
	}
	PG_RETURN_BYTEA_P(result);
}

/* Returns a training state from its bytea form, checking every length. */
PG_FUNCTION_INFO_V1(logreg_train_deserialize);
Datum
logreg_train_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(data);
	const char *p = VARDATA_ANY(data);
	SerialHeader hdr;
	LogregState *state;
	double		expected;

	if (len < sizeof(hdr))
		elog(ERROR, "invalid logreg_train state: %zu bytes", len);
	memcpy(&hdr, p, sizeof(hdr));
	p += sizeof(hdr);
	if (hdr.k < -1 || hdr.k > LOGREG_MAX_FEATURES || hdr.n < 0 || hdr.n_skipped < 0 ||
		hdr.options_len < 0 || (hdr.n > 0 && hdr.k < 1))
		elog(ERROR, "invalid logreg_train state header");
	expected = (double) sizeof(hdr) + hdr.options_len +
		(double) hdr.n * (sizeof(bool) + sizeof(double) * (hdr.k + 1));
	if (expected != (double) len)
		elog(ERROR, "invalid logreg_train state: %zu bytes, expected %.0f", len, expected);

	state = palloc0(sizeof(LogregState));
	state->k = hdr.k;
	state->n_skipped = hdr.n_skipped;
	state->max_bytes = hdr.max_bytes;
	if (hdr.options_len > 0)
	{
		state->options = palloc(hdr.options_len);
		memcpy(state->options, p, hdr.options_len);
		if (VARSIZE(state->options) != hdr.options_len)
			elog(ERROR, "invalid logreg_train state: bad options length");
		p += hdr.options_len;
	}
	if (hdr.n > 0)
	{
		Reserve(CurrentMemoryContext, state, hdr.n);
		memcpy(state->labels, p, sizeof(bool) * hdr.n);
		p += sizeof(bool) * hdr.n;
		memcpy(state->rows, p, sizeof(double) * (hdr.k + 1) * hdr.n);
		state->n = hdr.n;
	}
	PG_RETURN_POINTER(state);
}

/*
 * The in-memory passes work on blocks of rows: the per-row part (log-odds,
 * likelihood, weights) row by row, then the gradient and the Hessian as dot
 * products over the block's columns.  Same sums as AccumRow per row, but the
 * Hessian, two thirds of the work, becomes contiguous dot products that the
 * compiler keeps in vector registers (about 1.6x faster per pass).
 */
#define BLOCK_ROWS 64

/* a dot product with four accumulators: fixed order, so deterministic */
static inline double
Dot(const double *x, const double *y, int n)
{
	double		s0 = 0.0,
				s1 = 0.0,
				s2 = 0.0,
				s3 = 0.0;
	int			i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += x[i] * y[i];
		s1 += x[i + 1] * y[i + 1];
		s2 += x[i + 2] * y[i + 2];
		s3 += x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

/*
 * Add nb (at most BLOCK_ROWS) kept rows to the sums.  xc and wxc are
 * p x BLOCK_ROWS scratch columns, r BLOCK_ROWS scratch residuals.
 */
static void
AccumBlock(double *s, int k, int p, const double *beta, const double *rows,
		   const bool *labels, int nb, const LogregOptions *opts,
		   double *xc, double *wxc, double *r)
{
	int			off = opts->fit_intercept ? 0 : 1;
	double	   *g = SumsG(s, k);
	double	   *hess = SumsH(s, k, p);
	double	   *sx = SumsX(s);

	for (int i = 0; i < nb; i++)
	{
		const double *row = rows + (Size) (k + 1) * i;
		const double *xe = row + off;
		bool		label = labels[i];
		double		weight = label ? opts->weight_pos : opts->weight_neg;
		double		y = label ? 1.0 : 0.0;
		double		z = 0.0;
		double		e;
		double		prob;
		double		h;

		for (int j = 0; j < p; j++)
			z += beta[j] * xe[j];
		/* as in AccumRow: one exp for the likelihood and the probability */
		e = exp(-fabs(z));
		s[SUMS_NLL] += weight * (Max(z, 0.0) + log1p(e) - y * z);
		if (fabs(z) > SEPARATION_Z)
			s[SUMS_N_EXTREME] += 1.0;
		prob = (z >= 0.0) ? 1.0 / (1.0 + e) : e / (1.0 + e);
		r[i] = weight * (prob - y);
		h = weight * prob * (1.0 - prob);
		for (int j = 0; j < p; j++)
		{
			xc[j * BLOCK_ROWS + i] = xe[j];
			wxc[j * BLOCK_ROWS + i] = h * xe[j];
		}
		for (int j = 0; j < k; j++)
			sx[j] += row[1 + j];
		if (label)
		{
			s[SUMS_N_POS] += 1.0;
			s[SUMS_W_POS] += weight;
		}
		else
			s[SUMS_W_NEG] += weight;
	}
	s[SUMS_N_ROWS] += nb;

	for (int a = 0; a < p; a++)
		g[a] += Dot(r, xc + a * BLOCK_ROWS, nb);
	/* upper triangle only */
	for (int a = 0; a < p; a++)
		for (int b = a; b < p; b++)
			hess[a * p + b] += Dot(wxc + a * BLOCK_ROWS, xc + b * BLOCK_ROWS, nb);
}

/* one Newton pass over the kept rows: the sums at beta, into s */
static void
EvaluateRows(const LogregState *state, const LogregOptions *opts,
			 const double *beta, int p, double *s)
{
	int			k = state->k;
	double	   *xc = palloc(sizeof(double) * p * BLOCK_ROWS);
	double	   *wxc = palloc(sizeof(double) * p * BLOCK_ROWS);
	double		r[BLOCK_ROWS];

	/* a row costs ~p^2 / 2 multiply-adds: check for cancel every ~10^6 */
	int64		check_every = Max(1, (1 << 21) / ((int64) p * p));
	int64		countdown = 0;

	memset(s + 1, 0, sizeof(double) * (SumsLength(k, p) - 1));
	s[SUMS_K] = k;
	s[SUMS_P] = p;
	for (int64 i = 0; i < state->n; i += BLOCK_ROWS)
	{
		int			nb = (int) Min(BLOCK_ROWS, state->n - i);

		countdown -= nb;
		if (countdown <= 0)
		{
			CHECK_FOR_INTERRUPTS();
			countdown = check_every;
		}
		AccumBlock(s, k, p, beta, state->rows + (k + 1) * i, state->labels + i, nb,
				   opts, xc, wxc, r);
	}
	s[SUMS_N_SKIPPED] = (double) state->n_skipped;
	pfree(xc);
	pfree(wxc);
}

static void
CheckNames(const LogregOptions *opts, int k)
{
	if (opts->n_names >= 0 && opts->n_names != k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature_names has %d names but the feature vectors have %d elements",
						opts->n_names, k)));
}

/* Returns the fitted model, or NULL when no row was usable. */
PG_FUNCTION_INFO_V1(logreg_train_final);
Datum
logreg_train_final(PG_FUNCTION_ARGS)
{
	LogregState *state = PG_ARGISNULL(0) ? NULL : (LogregState *) PG_GETARG_POINTER(0);
	LogregOptions opts;
	int			k;
	int			p;
	double	   *beta;
	double	   *cand;
	double	   *d;
	double	   *s;
	double	   *s_cand;
	double		f;
	int			iter = 0;
	bool		converged = false;
	double		last_step = 0.0;

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();

	LogregParseOptions(state->options, &opts);
	k = state->k;
	CheckNames(&opts, k);
	p = k + (opts.fit_intercept ? 1 : 0);
	{
		int64		n_pos = 0;

		for (int64 i = 0; i < state->n; i++)
			n_pos += state->labels[i];
		ResolveClassWeights(&opts, (double) n_pos, (double) state->n);
	}

	beta = palloc0(sizeof(double) * p);
	cand = palloc(sizeof(double) * p);

	/*
	 * Start at the intercept-only optimum, the log of the weighted odds: it
	 * saves a Newton step over starting at zero and changes nothing else.
	 */
	if (opts.fit_intercept)
	{
		double		w1 = 0.0;
		double		w0 = 0.0;

		for (int64 i = 0; i < state->n; i++)
		{
			if (state->labels[i])
				w1 += opts.weight_pos;
			else
				w0 += opts.weight_neg;
		}
		if (w1 > 0.0 && w0 > 0.0)
			beta[0] = log(w1 / w0);
	}
	d = palloc(sizeof(double) * p);
	s = NewSums(k, p);
	s_cand = NewSums(k, p);
	EvaluateRows(state, &opts, beta, p, s);
	f = PenalisedObjective(s, beta, p, &opts);

	while (iter < opts.max_iter)
	{
		double		crit;
		double		t = 1.0;
		double		fc = NAN;
		bool		accepted = false;
		int			bad_col;
		double	   *swap;

		if (!NewtonDirection(s, beta, k, p, &opts, d, &crit, &bad_col))
		{
			if (iter == 0)
				RaiseCollinear(bad_col, &opts);
			last_step = INFINITY;
			break;				/* the curvature vanished: separation */
		}
		for (int h = 0; h <= MAX_HALVINGS; h++)
		{
			for (int j = 0; j < p; j++)
				cand[j] = beta[j] - t * d[j];
			EvaluateRows(state, &opts, cand, p, s_cand);
			fc = PenalisedObjective(s_cand, cand, p, &opts);
			if (isfinite(fc) && fc <= f + OBJECTIVE_SLACK * (fabs(f) + 1.0))
			{
				accepted = true;
				break;
			}
			t *= 0.5;
		}
		if (!accepted)
		{
			/* no step lowers the objective: we are at it, or stuck */
			converged = crit < opts.tol;
			break;
		}
		last_step = RelativeStep(d, t, cand, p);
		swap = beta, beta = cand, cand = swap;
		swap = s, s = s_cand, s_cand = swap;
		f = fc;
		iter++;
		if (crit < opts.tol)
		{
			converged = true;
			break;
		}
	}

	converged = CheckFit(s, &opts, converged, iter, last_step);
	PG_RETURN_POINTER(BuildModel(s, beta, k, p, &opts, iter, converged, state->n_skipped));
}

/* ---------- the multi-pass form: logreg_step ---------- */

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
	if (n < SUMS_HEADER || s[0] != SUMS_MAGIC)
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

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "logreg_step_accum called in non-aggregate context");

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
	n = TrainingRow(features, k, &usable);
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
		double	   *full = NewSums(n, n + (cache->opts.fit_intercept ? 1 : 0));

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
	AccumRow(s, k, p, (const double *) ARR_DATA_PTR(coef_arr), cache->xe, x,
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

static Jsonb *
OptionalJsonb(FunctionCallInfo fcinfo, int arg)
{
	return PG_ARGISNULL(arg) ? NULL : PG_GETARG_JSONB_P(arg);
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

	/* not STRICT, so that options may be NULL; a NULL state or coef is NULL */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	s = CheckedSums(PG_GETARG_ARRAYTYPE_P(0), &k, &p);

	LogregParseOptions(OptionalJsonb(fcinfo, 2), &opts);
	if (k < 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(PenalisedObjective(s, StepCoef(PG_GETARG_ARRAYTYPE_P(1), p), p, &opts));
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

	/* not STRICT, so that options may be NULL; a NULL state or coef is NULL */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	s = CheckedSums(PG_GETARG_ARRAYTYPE_P(0), &k, &p);

	LogregParseOptions(OptionalJsonb(fcinfo, 2), &opts);
	if (k < 0)
		PG_RETURN_NULL();
	beta = StepCoef(PG_GETARG_ARRAYTYPE_P(1), p);
	out = palloc0(sizeof(double) * (p + 2));
	if (!NewtonDirection(s, beta, k, p, &opts, out + 2, &crit, &bad_col))
	{
		for (int j = 0; j < p; j++)
			at_start &= (beta[j] == 0.0);
		if (at_start)
			RaiseCollinear(bad_col, &opts);
		PG_RETURN_NULL();
	}
	out[0] = PenalisedObjective(s, beta, p, &opts);
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

	/* not STRICT, so that options may be NULL */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		PG_RETURN_NULL();
	s = CheckedSums(PG_GETARG_ARRAYTYPE_P(0), &k, &p);

	LogregParseOptions(OptionalJsonb(fcinfo, 2), &opts);
	if (k < 0 || s[SUMS_N_ROWS] == 0)
		PG_RETURN_NULL();
	CheckNames(&opts, k);
	beta = StepCoef(PG_GETARG_ARRAYTYPE_P(1), p);
	/* without the last step, any row at +-37 counts as separation */
	converged = CheckFit(s, &opts, PG_GETARG_BOOL(4), PG_GETARG_INT32(3),
						 (PG_NARGS() > 5 && !PG_ARGISNULL(5)) ? PG_GETARG_FLOAT8(5) : INFINITY);
	PG_RETURN_POINTER(BuildModel(s, beta, k, p, &opts, PG_GETARG_INT32(3), converged,
								 (int64) s[SUMS_N_SKIPPED]));
}
