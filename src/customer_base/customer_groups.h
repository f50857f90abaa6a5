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
/*
 * How many customers a row stands for: 1, or the optional bigint argument
 * argno of the counted form of a fit (a 22023 error when negative).
 */
extern double CustomerCountArgument(FunctionCallInfo fcinfo, int argno);

extern int	CustomerGroupsToRows(const CustomerGroups *groups, double **rows);

#endif							/* RETENTION_CUSTOMER_GROUPS_H */
