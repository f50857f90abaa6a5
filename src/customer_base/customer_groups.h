/*-------------------------------------------------------------------------
 *
 * customer_groups.h
 *	  Aggregate state of the customer-base model fits: customers that share
 *	  the same summary (say x, t_x, T) collapse into one group with a count.
 *
 * A million customers observed in whole days have only tens of thousands of
 * distinct summaries, so the state stays small, the likelihood is evaluated
 * once per group, and states of parallel workers merge by adding counts.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_CUSTOMER_GROUPS_H
#define RETENTION_CUSTOMER_GROUPS_H

#include "fmgr.h"

#include "agg_context.h"

#define CUSTOMER_GROUPS_MAX_DIMS 3

typedef struct CustomerGroups CustomerGroups;

extern CustomerGroups *CustomerGroupsCreate(MemoryContext context, int ndims);
extern void CustomerGroupsAdd(CustomerGroups *groups, const double *key, double count);
extern CustomerGroups *CustomerGroupsCopy(MemoryContext context,
										  const CustomerGroups *from);
extern void CustomerGroupsMerge(CustomerGroups *into, const CustomerGroups *from);
extern double CustomerGroupsTotal(const CustomerGroups *groups);
extern bytea *CustomerGroupsSerialize(const CustomerGroups *groups);
extern CustomerGroups *CustomerGroupsDeserialize(MemoryContext context, bytea *bytes,
												 int ndims);

/*
 * The groups as rows of ndims keys followed by the count, sorted by key, so
 * that sums over them do not depend on the order rows or workers came in.
 * Returns the number of rows.
 */
extern int	CustomerGroupsToRows(const CustomerGroups *groups, double **rows);

/*
 * The runs of equal first keys among nrows sorted rows of width doubles:
 * each run's key into *value and the sum of its counts (the last column)
 * into *count, in row order.  Returns the number of runs.
 */
extern int	CustomerRowsFirstKeyRuns(const double *rows, int nrows, int width,
									 double **value, double **count);

/* The support functions of the model fits (aggregates over CustomerGroups) */

/* the state argument (0) of a transition or final function, NULL when absent */
extern CustomerGroups *CustomerGroupsStateArg(FunctionCallInfo fcinfo);

/*
 * The transition's state, created with ndims keys in the aggregate's context
 * on the first row (fname names the function in the error outside one).
 */
extern CustomerGroups *CustomerGroupsTransitionState(FunctionCallInfo fcinfo,
													 const char *fname, int ndims);

/*
 * Like a strict aggregate, a row with a NULL is not a customer: whether one
 * of the nkeys arguments after the state, or the optional count after
 * them, is NULL.
 */
extern bool CustomerRowHasNull(FunctionCallInfo fcinfo, int nkeys);

/*
 * How many customers a row stands for: 1, or the optional bigint argument
 * argno of the counted form of a fit (a 22023 error when negative).
 */
extern double CustomerCountArgument(FunctionCallInfo fcinfo, int argno);

/*
 * Reads the key of a row from the nkeys arguments after the state, with the
 * checks of the model (errors for bad values); false for a row that is no
 * customer of the model.
 */
typedef bool (*CustomerRowKey) (FunctionCallInfo fcinfo, double *key);

/*
 * Transition of a fit: adds the row's key (row_key) to the state once, or
 * as many times as the count argument after the keys says; a row with a
 * NULL adds nothing.
 */
extern Datum CustomerGroupsTransition(FunctionCallInfo fcinfo, const char *fname, int nkeys,
									  CustomerRowKey row_key);

/*
 * Deserialise of a fit: the groups of ndims keys, each row (keys, count)
 * passed to check_row (when not NULL), which raises an error for one the
 * transition could not have made.
 */
typedef void (*CustomerRowCheck) (const double *row);
extern Datum CustomerGroupsDeserializeChecked(FunctionCallInfo fcinfo, const char *fname,
											  int ndims, CustomerRowCheck check_row);

#endif							/* RETENTION_CUSTOMER_GROUPS_H */
