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
