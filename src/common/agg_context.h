/*-------------------------------------------------------------------------
 *
 * agg_context.h
 *	  The memory context of the aggregate that calls a support function.
 *
 * Every transition, combine and deserialise function over an internal
 * state allocates its state in the aggregate's context, and must not run
 * outside an aggregate.  A function that takes internal cannot be called
 * from SQL with a state of its own, so a call outside an aggregate is a
 * can't-happen internal error.  A support function over a concrete state
 * (bigint[], float8[]) can be called by name; it uses AggContextOrError
 * (state_reader.h), whose error is 0A000 and names the aggregate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RETENTION_AGG_CONTEXT_H
#define RETENTION_AGG_CONTEXT_H

#include "fmgr.h"

/* An internal state argument: NULL for SQL NULL (no state yet). */
#define STATE_ARG(type, argno) \
	(PG_ARGISNULL(argno) ? NULL : (type *) PG_GETARG_POINTER(argno))

/*
 * the aggregate's memory context; fname names the caller in the internal
 * error (inline: transition functions call it on every row)
 */
static inline MemoryContext
AggregateContext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext context;

	if (!AggCheckCallContext(fcinfo, &context))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return context;
}

/*
 * The result of a transition or combine function that leaves its state
 * alone (a row skipped, nothing to merge): argument 0 as it came, NULL or not.
 */
extern Datum KeepState(FunctionCallInfo fcinfo);

#endif							/* RETENTION_AGG_CONTEXT_H */
