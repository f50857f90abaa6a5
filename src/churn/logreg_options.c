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

void
LogregParseOptions(Jsonb *options, LogregOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

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
	TrainOptionsCheckObject("logreg_train", options,
							"For example '{\"lambda\": 1, \"feature_names\": [\"tenure\", \"orders\"]}'.");

	it = JsonbIteratorInit(&options->root);
	while (TrainOptionNext(&it, &name, &v))
	{
		if (strcmp(name, "lambda") == 0)
			opts->lambda = TrainOptionNonNegative("logreg_train", &v, name,
												  "The penalty strength must be zero or positive.");
		else if (strcmp(name, "l1_ratio") == 0)
		{
			opts->l1_ratio = TrainOptionNumber("logreg_train", &v, name);
			if (!(opts->l1_ratio >= 0.0 && opts->l1_ratio <= 1.0))
				TrainBadOption("logreg_train", name, "The share of the L1 penalty must be between 0 and 1.");
		}
		else if (strcmp(name, "max_iter") == 0)
			opts->max_iter = TrainOptionInt("logreg_train", &v, name, 1, 10000);
		else if (strcmp(name, "tol") == 0)
			opts->tol = TrainOptionPositive("logreg_train", &v, name, "The tolerance must be positive.");
		else if (strcmp(name, "fit_intercept") == 0)
			opts->fit_intercept = TrainOptionBool("logreg_train", &v, name);
		else if (strcmp(name, "max_memory_mb") == 0)
			opts->max_memory_mb = TrainOptionPositive("logreg_train", &v, name,
													  "The value must be a positive number of megabytes.");
		else if (strcmp(name, "class_weight") == 0)
			opts->class_weight = TrainOptionClassWeight("logreg_train", &v, &opts->weight_neg,
														&opts->weight_pos);
		else if (strcmp(name, "feature_names") == 0)
			opts->names = TrainOptionStrings("logreg_train", &v, name, &opts->n_names);
		else
			TrainUnknownOption("logreg_train", name, "Valid options are lambda, l1_ratio, max_iter, tol, fit_intercept, class_weight, feature_names and max_memory_mb.");
	}
}
