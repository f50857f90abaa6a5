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

bool
TrainOptionBool(const char *aggregate, JsonbValue *v, const char *key)
{
	if (v->type != jbvBool)
		TrainBadOption(aggregate, key, "The value must be true or false.");
	return v->val.boolean;
}

double
TrainOptionPositive(const char *aggregate, JsonbValue *v, const char *key, const char *detail)
{
	double		d = TrainOptionNumber(aggregate, v, key);

	if (!(d > 0.0) || !isfinite(d))
		TrainBadOption(aggregate, key, detail);
	return d;
}

double
TrainOptionNonNegative(const char *aggregate, JsonbValue *v, const char *key, const char *detail)
{
	double		d = TrainOptionNumber(aggregate, v, key);

	if (!(d >= 0.0) || !isfinite(d))
		TrainBadOption(aggregate, key, detail);
	return d;
}

ClassWeightMode
TrainOptionClassWeight(const char *aggregate, JsonbValue *v, double *weight_neg, double *weight_pos)
{
	if (v->type == jbvString && v->val.string.len == 8 &&
		strncmp(v->val.string.val, "balanced", 8) == 0)
		return CLASS_WEIGHT_BALANCED;
	if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			char	   *name;
			double		w;

			if (tok != WJB_KEY)
				continue;
			name = pnstrdup(key.val.string.val, key.val.string.len);
			(void) JsonbIteratorNext(&it, &val, true);
			w = TrainOptionNumber(aggregate, &val, "class_weight");
			if (!(w > 0.0) || !isfinite(w))
				TrainBadOption(aggregate, "class_weight", "Class weights must be positive and finite.");
			if (strcmp(name, "1") == 0 || strcmp(name, "true") == 0)
				*weight_pos = w;
			else if (strcmp(name, "0") == 0 || strcmp(name, "false") == 0)
				*weight_neg = w;
			else
				TrainBadOption(aggregate, "class_weight",
							   psprintf("The key \"%s\" is not a class; use \"0\" and \"1\" (or \"false\" and \"true\").", name));
		}
		return CLASS_WEIGHT_GIVEN;
	}
	TrainBadOption(aggregate, "class_weight", "The value must be \"balanced\" or an object such as {\"0\": 1, \"1\": 3}.");
}

void
TrainOptionsCheckObject(const char *aggregate, Jsonb *options, const char *hint)
{
	if (options != NULL && !JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s options must be a JSON object", aggregate),
				 errhint("%s", hint)));
}

bool
TrainOptionNext(JsonbIterator **it, char **name, JsonbValue *v)
{
	JsonbValue	key;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, &key, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		*name = pnstrdup(key.val.string.val, key.val.string.len);
		(void) JsonbIteratorNext(it, v, true);
		if (v->type != jbvNull)
			return true;		/* null means the default */
	}
	return false;
}

void
TrainUnknownOption(const char *aggregate, const char *name, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized %s option \"%s\"", aggregate, name),
			 errhint("%s", hint)));
}
