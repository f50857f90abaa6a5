/*-------------------------------------------------------------------------
 *
 * feature_args.h
 *	  The arguments shared by the two feature aggregates, user_feature_values
 *	  (features.c) and user_feature_table (feature_table.c): the horizon and
 *	  session gap in microseconds, the churn definition, event names.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_FEATURE_ARGS_H
#define RETENTION_FEATURE_ARGS_H

#include "datatype/timestamp.h"
#include "fmgr.h"

/*
 * Both aggregates take, from argument "first" on: cutoff, horizon, session
 * gap, the view, click, cart and purchase event names and churn_on.
 */
#define FEATURE_SETTING_ARGS 8

/* 22004 unless every setting argument is given (checked on every row) */
extern void FeatureCheckSettings(FunctionCallInfo fcinfo, int first, const char *aggregate);

/* the cutoff (finite), horizon and session gap (microseconds) and churn definition */
extern void FeatureReadSettings(FunctionCallInfo fcinfo, int first, TimestampTz *cutoff,
								int64 *horizon, int64 *gap, bool *churn_on_purchase);

/* 22023 unless the row's cutoff, horizon, session gap and churn_on are the group's */
extern void FeatureCheckSameSettings(FunctionCallInfo fcinfo, int first, TimestampTz cutoff,
									 int64 horizon, int64 gap, bool churn_on_purchase,
									 const char *aggregate);

/* a positive interval of days and times in microseconds; 22023 otherwise */
extern int64 FeatureIntervalUsec(Interval *i, const char *what);

/* the churn_on argument: is churn no purchase (else no event) in the horizon? */
extern bool FeatureChurnOnPurchase(const char *churn_on);

static inline bool
FeatureTextEquals(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

static inline double
FeatureDays(int64 usec)
{
	return (double) usec / (double) USECS_PER_DAY;
}

#endif							/* RETENTION_FEATURE_ARGS_H */
