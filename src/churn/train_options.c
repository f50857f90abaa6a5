/*-------------------------------------------------------------------------
 *
 * train_options.c
 *	  Reading the jsonb options of the training aggregates (logreg_train,
 *	  gbdt_train): the checks and messages they share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "train_options.h"

void
TrainBadOption(const char *aggregate, const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for %s option \"%s\"", aggregate, key),
			 errdetail("%s", detail)));
}

double
TrainOptionNumber(const char *aggregate, JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		TrainBadOption(aggregate, key, "The value must be a number.");
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

int
TrainOptionInt(const char *aggregate, JsonbValue *v, const char *key, int lo, int hi)
{
	double		d = TrainOptionNumber(aggregate, v, key);

	if (!(d >= lo && d <= hi) || d != floor(d))
		TrainBadOption(aggregate, key,
					   psprintf("The value must be an integer between %d and %d.", lo, hi));
	return (int) d;
}

char	  **
TrainOptionStrings(const char *aggregate, JsonbValue *v, const char *key, int *n)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	e;
	int			cap = 16;
	char	  **out;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		TrainBadOption(aggregate, key, "The value must be an array of strings.");
	out = palloc(sizeof(char *) * cap);
	*n = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			TrainBadOption(aggregate, key, "The value must be an array of strings.");
		if (*n == cap)
		{
			cap *= 2;
			out = repalloc(out, sizeof(char *) * cap);
		}
		out[(*n)++] = pnstrdup(e.val.string.val, e.val.string.len);
	}
	return out;
}
