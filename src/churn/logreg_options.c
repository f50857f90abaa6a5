/*-------------------------------------------------------------------------
 *
 * logreg_options.c
 *	  The options object of logreg_train, logreg_step and
 *	  logreg_train_multipass: lambda, l1_ratio, max_iter, tol, fit_intercept,
 *	  class_weight, feature_names, max_memory_mb.  Unknown keys are errors,
 *	  so that a misspelt option cannot be silently ignored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "logreg_options.h"
#include "train_options.h"

#define DEFAULT_MAX_ITER		100
#define DEFAULT_TOL				1e-8
#define DEFAULT_MAX_MEMORY_MB	1024.0

static void
BadOption(const char *key, const char *detail)
{
	TrainBadOption("logreg_train", key, detail);
}

static double
OptionNumber(JsonbValue *v, const char *key)
{
	return TrainOptionNumber("logreg_train", v, key);
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
	opts->l1_ratio = 0.0;
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
				BadOption(name, "The penalty strength must be zero or positive.");
		}
		else if (strcmp(name, "l1_ratio") == 0)
		{
			opts->l1_ratio = OptionNumber(&v, name);
			if (!(opts->l1_ratio >= 0.0 && opts->l1_ratio <= 1.0))
				BadOption(name, "The share of the L1 penalty must be between 0 and 1.");
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
			opts->names = TrainOptionStrings("logreg_train", &v, name, &opts->n_names);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized logreg_train option \"%s\"", name),
					 errhint("Valid options are lambda, l1_ratio, max_iter, tol, fit_intercept, class_weight, feature_names and max_memory_mb.")));
	}
}
