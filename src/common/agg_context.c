/*-------------------------------------------------------------------------
 *
 * agg_context.c
 *	  The memory context of the aggregate that calls a support function
 *	  (agg_context.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "agg_context.h"

MemoryContext
AggregateContext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext context;

	if (!AggCheckCallContext(fcinfo, &context))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return context;
}

Datum
KeepState(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}
