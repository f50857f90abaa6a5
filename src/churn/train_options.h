/*-------------------------------------------------------------------------
 *
 * train_options.h
 *	  Reading the jsonb options of the training aggregates (logreg_train,
 *	  gbdt_train): the checks and messages they share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_TRAIN_OPTIONS_H
#define RETENTION_TRAIN_OPTIONS_H

#include "utils/jsonb.h"

/* an invalid value for option "key" of the aggregate named "aggregate" */
extern void TrainBadOption(const char *aggregate, const char *key, const char *detail) pg_attribute_noreturn();

/* the value of an option that must be a number */
extern double TrainOptionNumber(const char *aggregate, JsonbValue *v, const char *key);

/* the value of an option that must be an integer in [lo, hi] */
extern int	TrainOptionInt(const char *aggregate, JsonbValue *v, const char *key, int lo, int hi);

/* the strings of an option that must be an array of strings; *n gets their count */
extern char **TrainOptionStrings(const char *aggregate, JsonbValue *v, const char *key, int *n);

#endif							/* RETENTION_TRAIN_OPTIONS_H */
