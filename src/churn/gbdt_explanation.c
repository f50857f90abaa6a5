/*-------------------------------------------------------------------------
 *
 * gbdt_explanation.c
 *	  churn_explanation(gbdt_model, features, means, n): the n features
 *	  pushing one customer's churn risk up most under a tree ensemble, as
 *	  the jsonb the nightly loop stores and the report shows.
 *
 * It is what a SQL function over churn_explain would give (its TreeSHAP
 * values, the positive ones largest first, each with its direction against
 * the training means and a sentence), written in C so that the validated
 * model and its scorer, cached per call site, serve every customer of a
 * scoring query: a SQL function runs each call in an executor of its own,
 * where that cache does not outlive the call, and rebuilding it took two
 * thirds of the time.  Comparisons follow float8's SQL semantics (NaN above
 * everything) and the names sort in the database's default collation, as
 * the SQL would.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "gbdt_model.h"

/* a feature with a positive contribution */
typedef struct Reason
{
	int			feature;		/* 0-based */
	double		contribution;
	const char *name;			/* NULL for a model without names */
} Reason;

/*
 * contribution descending, then name ascending with NULLs last, then
 * position, so that ties between equal or missing names come out the same
 * every time
 */
static int
CompareReasons(const void *a, const void *b)
{
	const Reason *ra = (const Reason *) a;
	const Reason *rb = (const Reason *) b;
	int			c = float8_cmp_internal(rb->contribution, ra->contribution);

	if (c == 0 && (ra->name == NULL || rb->name == NULL))
		c = (ra->name == NULL) - (rb->name == NULL);
	if (c == 0 && ra->name != NULL && rb->name != NULL)
		c = varstr_cmp(ra->name, strlen(ra->name), rb->name, strlen(rb->name),
					   DEFAULT_COLLATION_OID);
	if (c == 0)
		c = (ra->feature > rb->feature) - (ra->feature < rb->feature);
	return c;
}

static void
PushString(JsonbParseState **state, JsonbIteratorToken token, const char *s)
{
	JsonbValue	v;

	if (s == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) s;
		v.val.string.len = strlen(s);
	}
	pushJsonbValue(state, token, &v);
}

/* round(contribution::numeric, 4), a string where jsonb has no number for it */
static void
PushContribution(JsonbParseState **state, double contribution)
{
	Numeric		rounded = DatumGetNumeric(
		DirectFunctionCall2(numeric_round,
							DirectFunctionCall1(float8_numeric, Float8GetDatum(contribution)),
							Int32GetDatum(4)));
	JsonbValue	v;

	if (numeric_is_nan(rounded) || numeric_is_inf(rounded))
	{
		PushString(state, WJB_VALUE,
				   DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(rounded))));
		return;
	}
	v.type = jbvNumeric;
	v.val.numeric = rounded;
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* the sentence: the name without a leading "log_", underscores as spaces */
static char *
Reads(const char *name, const char *direction)
{
	StringInfoData s;

	initStringInfo(&s);
	if (name != NULL)
	{
		if (strncmp(name, "log_", 4) == 0)
			name += 4;
		for (const char *p = name; *p; p++)
			appendStringInfoChar(&s, *p == '_' ? ' ' : *p);
	}
	if (strcmp(direction, "missing") == 0)
		appendStringInfoString(&s, " is missing, which raises the churn risk");
	else
		appendStringInfo(&s, " is %s than average, which raises the churn risk", direction);
	return s.data;
}

/* "missing", or "higher" or "lower" than means[feature + 1] as SQL reads it */
static const char *
Direction(ArrayType *means, int feature, double value)
{
	int			subscript = feature + 1;
	bool		isnull;
	Datum		mean;

	if (isnan(value))
		return "missing";
	mean = array_get_element(PointerGetDatum(means), 1, &subscript, -1,
							 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &isnull);
	return !isnull && float8_gt(value, DatumGetFloat8(mean)) ? "higher" : "lower";
}

PG_FUNCTION_INFO_V1(gbdt_churn_explanation);
Datum
gbdt_churn_explanation(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(3);
	GbdtModelCache *c;
	const double *x;
	ArrayType  *means;
	int			k;
	Reason	   *reasons;
	int			kept = 0;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	/* first, as the LIMIT of the SQL form was checked before its rows */
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE),
				 errmsg("n must not be negative")));
	c = GbdtCachedModel(fcinfo, 0);
	x = GbdtShapValues(c, fcinfo, 1);
	means = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_ELEMTYPE(means) != FLOAT8OID)
		elog(ERROR, "means must be float8[]");
	k = c->model->k;
	reasons = palloc(sizeof(Reason) * k);

	for (int j = 0; j < k; j++)
		if (float8_gt(c->phi[j], 0.0))
			reasons[kept++] = (Reason) {j, c->phi[j], c->names ? c->names[j] : NULL};
	qsort(reasons, kept, sizeof(Reason), CompareReasons);
	kept = Min(kept, n);
	/* like an aggregate over no rows */
	if (kept == 0)
		PG_RETURN_NULL();

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < kept; i++)
	{
		const char *direction = Direction(means, reasons[i].feature, x[reasons[i].feature]);

		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		PushString(&state, WJB_KEY, "feature");
		PushString(&state, WJB_VALUE, reasons[i].name);
		PushString(&state, WJB_KEY, "contribution");
		PushContribution(&state, reasons[i].contribution);
		PushString(&state, WJB_KEY, "direction");
		PushString(&state, WJB_VALUE, direction);
		PushString(&state, WJB_KEY, "reads");
		PushString(&state, WJB_VALUE, Reads(reasons[i].name, direction));
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	result = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	PG_RETURN_POINTER(JsonbValueToJsonb(result));
}
