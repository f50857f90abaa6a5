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

/* the value of an option that must be true or false */
extern bool TrainOptionBool(const char *aggregate, JsonbValue *v, const char *key);

/* a finite number above zero, or at or above zero; else "detail" */
extern double TrainOptionPositive(const char *aggregate, JsonbValue *v, const char *key,
								  const char *detail);
extern double TrainOptionNonNegative(const char *aggregate, JsonbValue *v, const char *key,
									 const char *detail);

typedef enum ClassWeightMode
{
	CLASS_WEIGHT_NONE,
	CLASS_WEIGHT_GIVEN,
	CLASS_WEIGHT_BALANCED
} ClassWeightMode;

/*
 * The class_weight option: "balanced", or an object of weights that sets
 * *weight_neg (key "0" or "false") and *weight_pos ("1" or "true").
 */
extern ClassWeightMode TrainOptionClassWeight(const char *aggregate, JsonbValue *v,
											  double *weight_neg, double *weight_pos);

/* raises the error of options that are not a JSON object (NULL is fine) */
extern void TrainOptionsCheckObject(const char *aggregate, Jsonb *options, const char *hint);

/*
 * The next option of an object being iterated: its name and value, skipping
 * those set to null (null means the default); false after the last.
 */
extern bool TrainOptionNext(JsonbIterator **it, char **name, JsonbValue *v);

/* raises the error of an option the aggregate does not have */
extern void TrainUnknownOption(const char *aggregate, const char *name, const char *hint) pg_attribute_noreturn();

#endif							/* RETENTION_TRAIN_OPTIONS_H */
