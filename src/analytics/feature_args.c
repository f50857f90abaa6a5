/*-------------------------------------------------------------------------
 *
 * feature_args.c
 *	  The arguments shared by the two feature aggregates (feature_args.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "feature_args.h"
#include "name_table.h"

static const NamedValue churn_definitions[] = {{"activity", false}, {"purchase", true}};

int64
FeatureIntervalUsec(Interval *i, const char *what)
{
	int64		usec;

	if (i->month != 0 ||
		pg_mul_s64_overflow((int64) i->day, USECS_PER_DAY, &usec) ||
		pg_add_s64_overflow(usec, i->time, &usec) || usec <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" must be a positive number of days, hours or less", what,
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(i))))));
	return usec;
}

bool
FeatureChurnOnPurchase(const char *churn_on)
{
	return ParseName(churn_on, churn_definitions, lengthof(churn_definitions),
					 false, "churn definition",
					 "Use \"activity\" (no event in the horizon) or \"purchase\" (no purchase in the horizon).");
}

void
FeatureCheckSettings(FunctionCallInfo fcinfo, int first, const char *aggregate)
{
	for (int i = first; i < first + FEATURE_SETTING_ARGS; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s needs a cutoff, horizon, session gap, event names and churn definition",
							aggregate)));
}

void
FeatureCheckSameSettings(FunctionCallInfo fcinfo, int first, TimestampTz cutoff, int64 horizon,
						 int64 gap, bool churn_on_purchase, const char *aggregate)
{
	text	   *churn_on = PG_GETARG_TEXT_PP(first + FEATURE_SETTING_ARGS - 1);
	const char *name = churn_on_purchase ? "purchase" : "activity";
	bool		same_churn_on = VARSIZE_ANY_EXHDR(churn_on) == strlen(name) &&
		memcmp(VARDATA_ANY(churn_on), name, strlen(name)) == 0;

	if (PG_GETARG_TIMESTAMPTZ(first) != cutoff ||
		FeatureIntervalUsec(PG_GETARG_INTERVAL_P(first + 1), "churn horizon") != horizon ||
		FeatureIntervalUsec(PG_GETARG_INTERVAL_P(first + 2), "session gap") != gap ||
		(!same_churn_on && FeatureChurnOnPurchase(text_to_cstring(churn_on)) != churn_on_purchase))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the cutoff, horizon, session gap and churn definition changed within a group",
						aggregate),
				 errhint("Pass the same settings for every row of a group.")));
}

void
FeatureReadSettings(FunctionCallInfo fcinfo, int first, TimestampTz *cutoff,
					int64 *horizon, int64 *gap, bool *churn_on_purchase)
{
	*cutoff = PG_GETARG_TIMESTAMPTZ(first);
	if (TIMESTAMP_NOT_FINITE(*cutoff))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cutoff must be a finite time")));
	*horizon = FeatureIntervalUsec(PG_GETARG_INTERVAL_P(first + 1), "churn horizon");
	*gap = FeatureIntervalUsec(PG_GETARG_INTERVAL_P(first + 2), "session gap");
	*churn_on_purchase =
		FeatureChurnOnPurchase(text_to_cstring(PG_GETARG_TEXT_PP(first + FEATURE_SETTING_ARGS - 1)));
}
